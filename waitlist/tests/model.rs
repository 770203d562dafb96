//! Random command sequences against a small reference model of the line: who is in it, in which
//! order. After every command: places in line are dense and in order (backorders first by order
//! time, then signup order), an offer never skips someone still waiting ahead, units promised never
//! exceed the stock when an offer is made, every message is recorded once on its entry, and a
//! failed command (a store failure at a random call) keeps nothing and its retry does it whole.

mod support;

use proptest::prelude::*;
use serde_json::json;
use shared::outbox::Channel;
use shared::queue::Entry;
use shared::wire::{EntryKind, EntryStatus, Mode};
use std::collections::{BTreeSet, HashMap};
use support::*;
use waitlist::{Answer, Command};

#[derive(Debug, Clone)]
enum Op {
    Signup(u8),
    Backorder(u8, u8),
    Level(u8),
    Confirm(u8),
    Cancel(u8),
    Convert(u8),
    Unsubscribe(u8),
    /// Hours to move the clock forward, then the alarm's due work.
    Later(u8),
    /// The same inventory event again.
    Replay,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12).prop_map(Op::Signup),
        1 => (0u8..4, 1u8..3).prop_map(|(o, q)| Op::Backorder(o, q)),
        3 => (0u8..8).prop_map(Op::Level),
        1 => (0u8..12).prop_map(Op::Confirm),
        1 => (0u8..12).prop_map(Op::Cancel),
        1 => (0u8..12).prop_map(Op::Convert),
        1 => (0u8..12).prop_map(Op::Unsubscribe),
        2 => (1u8..30).prop_map(Op::Later),
        1 => Just(Op::Replay),
    ]
}

/// The reference model: entries by id with their place in signup order and rank.
#[derive(Default)]
struct Model {
    /// id → (rank key), for everyone who ever joined.
    rank: HashMap<String, (u8, i64, u32)>,
    next_seq: u32,
}

fn email(i: u8) -> String {
    format!("s{i}@example.com")
}

fn id(i: u8) -> String {
    format!("id-{}", email(i))
}

fn in_line(e: &Entry) -> bool {
    matches!(e.status, EntryStatus::Waiting | EntryStatus::Offered | EntryStatus::Notified)
}

fn promised(entries: &[Entry], now: i64) -> i64 {
    entries
        .iter()
        .filter(|e| {
            (e.status == EntryStatus::Offered && e.hold_until.is_some_and(|t| t > now))
                || (e.kind == EntryKind::Backorder && e.is_live())
        })
        .map(|e| i64::from(e.units))
        .sum()
}

fn check(sim: &mut Sim, model: &Model, before: &[Entry], label: &str) {
    let now = sim.now;
    let after = sim.store.entries();
    for e in &after {
        assert!(model.rank.contains_key(&e.id), "{label}: unknown entry {}", e.id);
    }
    // Places in line: dense, 1-based, by (backorders first by order time, then signup order).
    let mut line: Vec<&Entry> = after.iter().filter(|e| in_line(e)).collect();
    line.sort_by_key(|e| model.rank[&e.id]);
    for (i, e) in line.iter().enumerate() {
        assert_eq!(sim.position(&e.id), Some(i as u32 + 1), "{label}: place of {}", e.id);
    }
    for e in after.iter().filter(|e| !in_line(e)) {
        assert_eq!(sim.position(&e.id), None, "{label}: {} ({:?}) is not in line", e.id, e.status);
    }
    // The counters kept with each write say what the entries say.
    let Ok(Answer::State(state)) = sim.run(Command::State) else { panic!("{label}: state") };
    assert_eq!(state.waiting as usize, line.len(), "{label}: waiting");
    let held: i64 = after
        .iter()
        .filter(|e| e.status == EntryStatus::Offered && e.hold_until.is_some_and(|t| t > now))
        .map(|e| i64::from(e.units))
        .sum();
    assert_eq!(state.reserved, held, "{label}: reserved");
    // The first wake kept with the entries is the earliest timed work of any of them.
    let policy = sim.shop.policy(&sku_config(Mode::Restock));
    let first = after.iter().filter(|e| e.is_live()).filter_map(|e| waitlist::sku::wake_of(e, None, &policy)).min();
    assert_eq!(waitlist::Store::first_wake(&sim.store).unwrap(), first, "{label}: first wake");
    // Offers made by this command.
    let was: HashMap<&str, &Entry> = before.iter().map(|e| (e.id.as_str(), e)).collect();
    let new_offers: Vec<&Entry> = after
        .iter()
        .filter(|e| e.status == EntryStatus::Offered)
        .filter(|e| {
            was.get(e.id.as_str()).is_none_or(|b| b.status != EntryStatus::Offered || b.offered_at != e.offered_at)
        })
        .collect();
    if !new_offers.is_empty() {
        // FIFO: nobody still waiting (not a backorder, confirmed) is ahead of someone just offered.
        for o in &new_offers {
            let skipped = after.iter().find(|w| {
                w.kind != EntryKind::Backorder
                    && w.status == EntryStatus::Waiting
                    && model.rank[&w.id] < model.rank[&o.id]
            });
            assert!(skipped.is_none(), "{label}: {} was offered ahead of {:?}", o.id, skipped.map(|s| &s.id));
        }
        // Never more units promised than in stock.
        let Ok(Answer::State(state)) = sim.run(Command::State) else { panic!("{label}: state") };
        assert!(promised(&after, now) <= state.available, "{label}: promised more than {}", state.available);
    }
    // Every message is recorded on its entry, once.
    let mut keys = BTreeSet::new();
    for r in sim.store.outbox().into_iter().filter(|r| r.channel == Channel::Email.as_str()) {
        assert!(keys.insert(r.key.clone()), "{label}: {} twice", r.key);
        let e = after.iter().find(|e| e.id == r.entry_id).expect("message of a known entry");
        let occurrence = r.key.rsplit(':').next().unwrap_or_default();
        assert!(e.sent.contains(&format!("{}:{occurrence}", r.kind)), "{label}: {} not recorded on {}", r.key, e.id);
    }
}

fn command(sim: &mut Sim, model: &mut Model, op: &Op, last_level: &mut Option<Command>) -> Option<Command> {
    Some(match op {
        Op::Signup(i) => sim.signup_cmd(&email(*i)),
        Op::Backorder(o, q) => Command::Backorder {
            shop: sim.shop.clone(),
            entry_id: format!("b{o}"),
            order_id: format!("#{o}"),
            email: format!("buyer{o}@example.com"),
            quantity: u32::from(*q),
            ordered_at_ms: sim.now - i64::from(*o) * 1000,
        },
        Op::Level(n) => {
            let c = sim.level_cmd("default", Some(i64::from(*n)));
            *last_level = Some(c.clone());
            c
        }
        Op::Confirm(i) => Command::Confirm { entry_id: id(*i) },
        Op::Cancel(i) => Command::Cancel { entry_id: id(*i) },
        Op::Convert(i) => Command::Convert {
            event_id: None,
            entry_id: Some(id(*i)),
            email_key: None,
            order_id: format!("c{i}"),
            quantity: 1,
            revenue: 1.0,
        },
        Op::Unsubscribe(i) => Command::Unsubscribe { entry_id: id(*i) },
        Op::Later(h) => {
            sim.advance_hours(i64::from(*h));
            let _ = model;
            return None;
        }
        Op::Replay => last_level.clone()?,
    })
}

/// Learns the entries a command created or sent to the back of the line (a shopper whose
/// entry had ended signing up again): a new signup order is always after every earlier one, and
/// an entry never moves otherwise.
fn learn(sim: &Sim, model: &mut Model, label: &str) {
    let mut fresh: Vec<Entry> = Vec::new();
    for e in sim.store.entries() {
        let rank = match e.kind {
            EntryKind::Backorder => (0, e.created_at, e.seq),
            _ => (1, 0, e.seq),
        };
        match model.rank.get(&e.id) {
            Some(r) if *r == rank => {}
            _ => fresh.push(e),
        }
    }
    fresh.sort_by_key(|e| e.seq);
    for e in fresh {
        assert!(e.seq > model.next_seq, "{label}: {} got seq {} after {}", e.id, e.seq, model.next_seq);
        model.next_seq = e.seq;
        let rank = match e.kind {
            EntryKind::Backorder => (0, e.created_at, e.seq),
            _ => (1, 0, e.seq),
        };
        model.rank.insert(e.id.clone(), rank);
    }
}

fn run(ops: Vec<(Op, Option<u8>)>, double_opt_in: bool) {
    let mut sim = Sim::new(Mode::Restock, json!({"double_opt_in": double_opt_in, "hold_hours": 12}));
    let mut model = Model::default();
    let mut last_level = None;
    for (step, (op, fail)) in ops.iter().enumerate() {
        let label = format!("step {step} {op:?}");
        let before = sim.store.entries();
        let Some(cmd) = command(&mut sim, &mut model, op, &mut last_level) else {
            sim.tick().expect("due work");
            learn(&sim, &mut model, &label);
            check(&mut sim, &model, &before, &label);
            continue;
        };
        if let Some(n) = fail {
            let snapshot = (sim.store.entries(), sim.store.outbox());
            sim.store.fail_after(u64::from(*n) + 1);
            let failed = sim.run(cmd.clone());
            sim.store.heal();
            if failed.is_err() {
                assert_eq!(
                    (sim.store.entries(), sim.store.outbox()),
                    snapshot,
                    "{label}: a failed command kept writes"
                );
            } else {
                // It finished before the failing call: the retry below sees its effect.
                learn(&sim, &mut model, &label);
            }
        }
        let _ = sim.run(cmd);
        learn(&sim, &mut model, &label);
        check(&mut sim, &model, &before, &label);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_keep_the_line_fair_and_every_message_once(
        ops in prop::collection::vec((op(), prop::option::weighted(0.15, 0u8..40)), 1..40),
        double_opt_in in any::<bool>(),
    ) {
        run(ops, double_opt_in);
    }
}
