//! Benchmark (not a test): allocating 10 000 units over a 1 000 000-entry queue, natively: the
//! restock's own step (offers and the fan-out cursor) over the slice of the line it reads, then the
//! same step over the whole line, then every message at once (`set_level`, the old way).
//! Run: `cargo run --release -p restock-shared --example bench_allocation [entries] [units]`.
//! Prints wall-clock figures; nothing here asserts a time.

use shared::queue::{Counters, Entry, Queue};
use shared::schedule::Policy;
use shared::wire::MessageKind;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let entries: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let units: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);

    let t = Instant::now();
    let live: Vec<Entry> = (1..=entries).map(|i| Entry::test(&format!("e{i}"), i)).collect();
    let mut q = Queue::new(live, Counters::default(), None, Policy::default());
    let build = t.elapsed();

    // The step as the SKU object runs it: only the first `units` entries are loaded.
    let slice: Vec<Entry> = q.entries().iter().take(units.clamp(0, i64::from(entries)) as usize).cloned().collect();
    let counters = Counters { next_seq: entries + 1, ..Counters::default() };
    let t = Instant::now();
    let mut partial = Queue::partial(slice, counters, None, Policy::default(), 0, 1_000);
    let effects = partial.restock(units, 1_000);
    println!(
        "restock over the slice it reads ({units} entries): {:.1} ms, {} effects, cursor {:?}",
        t.elapsed().as_secs_f64() * 1e3,
        effects.len(),
        partial.counters().fanout
    );
    let mut whole = q.clone();
    let t = Instant::now();
    let effects = whole.restock(units, 1_000);
    println!("restock over the whole line: {:.1} ms, {} effects", t.elapsed().as_secs_f64() * 1e3, effects.len());

    let t = Instant::now();
    let effects = q.set_level(units, 1_000);
    let alloc = t.elapsed();

    let offers = effects
        .iter()
        .filter(|e| matches!(e, shared::queue::Effect::Send(o) if o.kind == MessageKind::RestockOffer))
        .count();
    let sold_out = effects
        .iter()
        .filter(|e| matches!(e, shared::queue::Effect::Send(o) if o.kind == MessageKind::SoldOutAgain))
        .count();
    println!("queue of {entries} entries built in {:.1} ms", build.as_secs_f64() * 1e3);
    println!(
        "allocated {units} units in {:.1} ms: {offers} offers, {sold_out} sold_out_again, {} effects",
        alloc.as_secs_f64() * 1e3,
        effects.len()
    );
    let t = Instant::now();
    let due = q.due(2_000);
    println!(
        "due() over the whole queue after the restock: {:.1} ms ({} effects)",
        t.elapsed().as_secs_f64() * 1e3,
        due.len()
    );
}
