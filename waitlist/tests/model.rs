//! Random command sequences against a small reference model of the line: who is in it, in which
//! order. After every command: places in line are dense and in order (backorders first by order
//! time, then signup order), an offer never skips someone still waiting ahead, units promised never
//! exceed the stock when an offer is made, every message is recorded once on its entry, and a
//! failed command (a store failure at a random call) keeps nothing and its retry does it whole.
//!
//! A restock reads only the slices of the line it can reach: what it decides is checked against
//! the same step over the whole line. Once its fan-out has run, everyone it covered who is still
//! waiting or told has heard `sold_out_again` for it, and nobody both that and its offer.

mod support;

use proptest::prelude::*;
use serde_json::json;
use shared::outbox::Channel;
use shared::queue::{Counters, Entry, FanOut, Queue};
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
    /// Hours to move the clock forward with the alarm late: the next command finds lapsed holds.
    Idle(u8),
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
        1 => (1u8..30).prop_map(Op::Idle),
        1 => Just(Op::Replay),
    ]
}

/// The reference model: entries by id with their place in signup order and rank.
#[derive(Default)]
struct Model {
    /// id → (rank key), for everyone who ever joined.
    rank: HashMap<String, (u8, i64, u32)>,
    next_seq: u32,
    /// The newest restock: its number and the entries its fan-out is to tell.
    restock: Option<(u32, BTreeSet<(String, u32)>)>,
}

fn meta(sim: &Sim, key: &str) -> Option<String> {
    waitlist::Store::meta(&sim.store, key).unwrap()
}

fn stored_fanout(sim: &Sim) -> Option<FanOut> {
    meta(sim, "fanout").and_then(|v| serde_json::from_str::<Option<FanOut>>(&v).unwrap())
}

/// The restock step to `available` over the whole live line as stored now: the entries it
/// leaves live and its cursor.
fn whole_line_restock(sim: &Sim, available: i64) -> (Vec<Entry>, Option<FanOut>) {
    use waitlist::Store;
    let previous: i64 = sim.store.levels().unwrap().iter().map(|l| l.available.max(0)).sum();
    let int = |k: &str| meta(sim, k).and_then(|v| v.parse().ok()).unwrap_or(0);
    let counters = Counters {
        available: previous,
        restock_seq: int("restock_seq"),
        next_seq: sim.store.next_seq().unwrap(),
        eta_version: int("eta_version"),
        fanout: stored_fanout(sim),
    };
    let policy = sim.shop.policy(&sku_config(Mode::Restock));
    let mut q = Queue::new(sim.store.live_entries().unwrap(), counters, None, policy);
    q.restock(available, sim.now);
    let mut live = q.entries().to_vec();
    live.sort_by_key(|e| e.seq);
    (live, q.counters().fanout)
}

/// After a command: a restock's step matches the whole line's, and a finished fan-out told
/// everyone it covered.
fn check_restock(sim: &Sim, model: &mut Model, reference: Option<(Vec<Entry>, Option<FanOut>)>, label: &str) {
    let restock_seq: u32 = meta(sim, "restock_seq").and_then(|v| v.parse().ok()).unwrap_or(0);
    if let Some((live, fanout)) = reference {
        let mut stored = waitlist::Store::live_entries(&sim.store).unwrap();
        stored.sort_by_key(|e| e.seq);
        assert_eq!(stored, live, "{label}: the restock decided otherwise than over the whole line");
        assert_eq!(stored_fanout(sim), fanout, "{label}: cursor");
    }
    if model.restock.as_ref().is_none_or(|(r, _)| *r != restock_seq) && restock_seq > 0 {
        let covered = match stored_fanout(sim) {
            Some(f) if f.restock == restock_seq => sim
                .store
                .entries()
                .into_iter()
                .filter(|e| e.seq > f.after && e.seq <= f.through && e.kind != EntryKind::Backorder)
                .filter(|e| matches!(e.status, EntryStatus::Waiting | EntryStatus::Notified))
                .filter(|e| !(e.offer_seq == f.restock && e.offered_at.is_some()))
                .map(|e| (e.id, e.seq))
                .collect(),
            _ => BTreeSet::new(),
        };
        model.restock = Some((restock_seq, covered));
    }
    let Some((r, covered)) = &model.restock else {
        return;
    };
    let sold_out = format!("sold_out_again:{r}");
    // Told it sold out, a shopper may later be offered a unit that opened up; never the reverse.
    let mut offered = BTreeSet::new();
    for row in sim.rows(Channel::Email) {
        let key = format!("{}:{}", row.kind, row.key.rsplit(':').next().unwrap_or_default());
        if key == format!("restock_offer:{r}") {
            offered.insert(row.entry_id);
        } else if key == sold_out {
            assert!(
                !offered.contains(&row.entry_id),
                "{label}: {} told restock {r} sold out after its offer",
                row.entry_id
            );
        }
    }
    for e in sim.store.entries() {
        let still = e.kind != EntryKind::Backorder && matches!(e.status, EntryStatus::Waiting | EntryStatus::Notified);
        if stored_fanout(sim).is_none() && covered.contains(&(e.id.clone(), e.seq)) && still && e.offer_seq != *r {
            assert!(e.sent.contains(&sold_out), "{label}: {} was never told restock {r} sold out", e.id);
        }
    }
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
        Op::Idle(h) => {
            sim.advance_hours(i64::from(*h));
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

fn run(ops: Vec<(Op, Option<u8>)>, double_opt_in: bool, holds: bool) {
    // Without holds a restock tells the first shoppers up to the notify multiplier.
    let hold_hours = if holds { 12 } else { 0 };
    let shop = json!({"double_opt_in": double_opt_in, "hold_hours": hold_hours, "notify_multiplier": 1.5});
    let mut sim = Sim::new(Mode::Restock, shop);
    let mut model = Model::default();
    let mut last_level = None;
    for (step, (op, fail)) in ops.iter().enumerate() {
        let label = format!("step {step} {op:?}");
        let before = sim.store.entries();
        let Some(cmd) = command(&mut sim, &mut model, op, &mut last_level) else {
            if matches!(op, Op::Idle(_)) {
                continue;
            }
            sim.tick().expect("due work");
            learn(&sim, &mut model, &label);
            check(&mut sim, &model, &before, &label);
            check_restock(&sim, &mut model, None, &label);
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
        let reference = match (op, &cmd) {
            (Op::Level(n), Command::Level { event_id, .. })
                if !waitlist::Store::event_seen(&sim.store, event_id).unwrap() =>
            {
                Some(whole_line_restock(&sim, i64::from(*n)))
            }
            _ => None,
        };
        let _ = sim.run(cmd);
        learn(&sim, &mut model, &label);
        check(&mut sim, &model, &before, &label);
        check_restock(&sim, &mut model, reference, &label);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_keep_the_line_fair_and_every_message_once(
        ops in prop::collection::vec((op(), prop::option::weighted(0.15, 0u8..40)), 1..40),
        double_opt_in in any::<bool>(),
        holds in prop::bool::weighted(0.75),
    ) {
        run(ops, double_opt_in, holds);
    }
}
