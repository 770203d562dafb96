//! Benchmark (not a test): allocating 10 000 units over a 1 000 000-entry queue, natively.
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
