use super::*;
use crate::schedule::{DAY_MS, HOUR_MS};
use crate::Date;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

fn policy() -> Policy {
    Policy::default()
}

fn new_entry(i: usize, kind: EntryKind, quantity: u32, at: i64) -> NewEntry {
    NewEntry {
        id: format!("e{i}"),
        email: Email::parse(&format!("s{i}@example.com")).unwrap(),
        phone: None,
        sms_consent: false,
        locale: None,
        kind,
        quantity,
        order_id: (kind == EntryKind::Backorder).then(|| format!("#{i}")),
        at,
    }
}

fn queue_with(n: usize, policy: Policy) -> Queue {
    let mut q = Queue::new(Vec::new(), Counters::default(), None, policy);
    for i in 0..n {
        assert!(matches!(
            q.join(None, new_entry(i, EntryKind::Notify, 1, 1_000 + i as i64), 1_000 + i as i64),
            Joined::Created(..)
        ));
    }
    q
}

fn sends(effects: &[Effect], kind: MessageKind) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(o) if o.kind == kind => Some(o.entry_id.clone()),
            _ => None,
        })
        .collect()
}

const HOLD: i64 = 24 * HOUR_MS;

#[test]
fn restock_offers_front_and_tells_the_rest() {
    let mut q = queue_with(5, policy());
    assert_eq!(q.position("e3"), Some(4));
    let fx = q.set_level(3, 10_000);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e0", "e1", "e2"]);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e3", "e4"]);
    assert_eq!(q.held(10_000), 3);
    assert_eq!(q.reserved_until(10_000), Some(10_000 + HOLD));
    // The same level again: nothing new.
    assert!(q.set_level(3, 11_000).is_empty());
    // Two more units: the next two in line.
    let fx = q.set_level(5, 12_000);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e3", "e4"]);
}

#[test]
fn a_restock_leaves_a_cursor_and_its_fan_out_tells_each_once_in_chunks() {
    let mut q = queue_with(8, policy());
    let fx = q.restock(2, 10_000);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e0", "e1"]);
    assert!(sends(&fx, MessageKind::SoldOutAgain).is_empty(), "the step itself tells no one else");
    assert_eq!(q.counters().fanout, Some(FanOut { restock: 1, after: 2, through: 8 }));
    assert_eq!(q.next_wake(10_000), Some(10_000), "the fan-out is due at once");
    // One leaves the line before the cursor reaches them.
    assert!(q.cancel("e4").is_some());
    let fx = q.fan_out(5);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e2", "e3"]);
    assert_eq!(q.counters().fanout, Some(FanOut { restock: 1, after: 5, through: 8 }));
    // A chunk again over the same range tells no one twice; the rest end the fan-out.
    let fx = q.fan_out(u32::MAX);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e5", "e6", "e7"]);
    assert_eq!(q.counters().fanout, None);
    assert!(q.fan_out(u32::MAX).is_empty());
    // A signup after the restock is not covered by it.
    assert!(matches!(q.join(None, new_entry(8, EntryKind::Notify, 1, 20_000), 20_000), Joined::Created(..)));
    assert!(q.fan_out(u32::MAX).is_empty());
}

#[test]
fn a_newer_restock_replaces_an_unfinished_fan_out() {
    let mut q = queue_with(6, policy());
    q.restock(1, 10_000);
    let fx = q.fan_out(3);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e1", "e2"]);
    // Two more units: the front of the line (told or not), then everyone after them, of restock 2.
    let fx = q.restock(3, 11_000);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e1", "e2"]);
    assert_eq!(q.counters().fanout, Some(FanOut { restock: 2, after: 3, through: 6 }));
    let fx = q.fan_out(u32::MAX);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e3", "e4", "e5"]);
    assert!(fx.iter().all(|e| !matches!(e, Effect::Send(o) if o.occurrence != 2)));
}

#[test]
fn quantities_are_served_in_order_without_skipping() {
    let mut q = Queue::new(Vec::new(), Counters::default(), None, policy());
    q.join(None, new_entry(0, EntryKind::Notify, 2, 0), 0);
    q.join(None, new_entry(1, EntryKind::Notify, 3, 1), 1);
    q.join(None, new_entry(2, EntryKind::Notify, 1, 2), 2);
    let fx = q.set_level(4, 10);
    // e0 gets 2, e1 gets the 2 left (of 3 wanted); e2 is not served ahead of e1.
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e0", "e1"]);
    assert_eq!(q.entry("e1").unwrap().units, 2);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e2"]);
}

#[test]
fn backorders_come_first_and_ship() {
    let mut q = queue_with(2, policy());
    let Joined::Created(b, fx) = q.join(None, new_entry(9, EntryKind::Backorder, 2, 500), 5_000) else { panic!() };
    assert_eq!(sends(&fx, MessageKind::BackorderAck), ["e9"]);
    assert_eq!(q.position(&b.id), Some(1));
    let fx = q.set_level(3, 6_000);
    assert_eq!(sends(&fx, MessageKind::ShipNotice), ["e9"]);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e0"]);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e1"]);
    assert_eq!(q.promised(6_000), 3);
}

#[test]
fn a_backorder_is_served_at_once_from_free_stock() {
    let mut q = queue_with(0, policy());
    q.set_level(5, 0);
    let Joined::Created(_, fx) = q.join(None, new_entry(1, EntryKind::Backorder, 2, 10), 10) else { panic!() };
    assert_eq!(sends(&fx, MessageKind::BackorderAck), ["e1"]);
    assert_eq!(sends(&fx, MessageKind::ShipNotice), ["e1"]);
}

#[test]
fn expired_holds_pass_to_the_next_in_line() {
    let mut q = queue_with(4, policy());
    q.set_level(2, 0);
    let fx = q.due(HOLD);
    assert_eq!(sends(&fx, MessageKind::HoldExpired), ["e0", "e1"]);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e2", "e3"]);
    assert_eq!(q.position("e0"), None);
    assert_eq!(q.position("e2"), Some(1));
}

#[test]
fn an_opted_out_holder_passes_its_units_on_at_once() {
    let mut q = queue_with(4, policy());
    q.set_level(2, 0);
    // e1 holds a unit and unsubscribes: the next in line gets it now, not when the hold would end.
    let fx = q.opt_out("e1", 5_000).unwrap();
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e2"]);
    assert!(sends(&fx, MessageKind::HoldExpired).is_empty(), "a shopper who left is told nothing");
    assert_eq!((q.position("e1"), q.position("e2")), (None, Some(2)));
    assert_eq!(q.held(5_000), 2);
    // A waiting entry leaving frees nothing and offers nothing.
    let fx = q.opt_out("e3", 6_000).unwrap();
    assert!(sends(&fx, MessageKind::RestockOffer).is_empty());
    assert_eq!(q.opt_out("e3", 7_000), None, "already gone");
}

#[test]
fn reminders_and_nudges_fall_due_once() {
    let mut q = queue_with(1, policy());
    q.set_level(1, 0);
    assert_eq!(q.next_wake(0), Some(8 * HOUR_MS));
    let fx = q.due(8 * HOUR_MS);
    assert_eq!(sends(&fx, MessageKind::NonopenerFollowup), ["e0"]);
    assert!(q.due(9 * HOUR_MS).is_empty());
    assert_eq!(q.next_wake(9 * HOUR_MS), Some(20 * HOUR_MS));
    let fx = q.due(20 * HOUR_MS);
    assert_eq!(sends(&fx, MessageKind::HoldReminder), ["e0"]);
    assert_eq!(q.next_wake(20 * HOUR_MS), Some(HOLD));
}

#[test]
fn an_engaged_offer_gets_no_nudge() {
    let mut q = queue_with(1, policy());
    q.set_level(1, 0);
    assert_eq!(q.engage("e0").unwrap().len(), 1);
    assert!(sends(&q.due(10 * HOUR_MS), MessageKind::NonopenerFollowup).is_empty());
}

#[test]
fn conversion_consumes_the_hold() {
    let mut q = queue_with(2, policy());
    q.set_level(1, 0);
    let fx = q.convert("e0").unwrap();
    assert!(matches!(&fx[0], Effect::Save(e) if e.status == EntryStatus::Converted));
    assert_eq!(q.held(1), 0);
    assert_eq!(q.position("e1"), Some(1));
    // The inventory system then reports the sale: nothing more to hand out.
    assert!(sends(&q.set_level(0, 2), MessageKind::RestockOffer).is_empty());
}

#[test]
fn a_shipment_converts_a_backorder_and_tells_each_order_once() {
    let mut q = queue_with(1, policy());
    let Joined::Created(b, _) = q.join(None, new_entry(9, EntryKind::Backorder, 1, 500), 5_000) else { panic!() };
    q.set_level(1, 6_000);
    let fx = q.ship(q.entry(&b.id).unwrap().clone(), 7);
    assert_eq!(sends(&fx, MessageKind::ShipNotice), ["e9"]);
    assert!(matches!(fx.last(), Some(Effect::Save(e)) if e.status == EntryStatus::Converted));
    assert_eq!(q.entry(&b.id), None);
    // The same shipment again (a repeated webhook): nothing to send.
    let Some(Effect::Save(saved)) = fx.last().cloned() else { panic!() };
    assert!(sends(&q.ship(saved.clone(), 7), MessageKind::ShipNotice).is_empty());
    // A second parcel is news.
    assert_eq!(sends(&q.ship(saved, 8), MessageKind::ShipNotice), ["e9"]);
    // A waitlist purchase that converted earlier is told `order_shipped`.
    q.set_level(2, 8_000);
    let Some(Effect::Save(bought)) = q.convert("e0").unwrap().pop() else { panic!() };
    assert_eq!(sends(&q.ship(bought, 1), MessageKind::OrderShipped), ["e0"]);
}

#[test]
fn double_opt_in_keeps_the_place_but_not_in_line_until_confirmed() {
    let mut q = queue_with(1, policy());
    let Joined::Created(p, fx) = q.join_unconfirmed(None, new_entry(1, EntryKind::Notify, 1, 2_000), 2_000) else {
        panic!()
    };
    assert_eq!(p.status, EntryStatus::PendingConfirmation);
    assert_eq!(sends(&fx, MessageKind::ConfirmSignup), ["e1"]);
    assert!(sends(&fx, MessageKind::SignupConfirmation).is_empty());
    assert!(matches!(&fx[0], Effect::Save(e) if e.status == EntryStatus::PendingConfirmation));
    assert_eq!(q.position("e1"), None);
    // Signing up again while pending changes nothing.
    assert!(matches!(
        q.join_unconfirmed(Some(p.clone()), new_entry(1, EntryKind::Notify, 1, 2_500), 2_500),
        Joined::Existing(_)
    ));
    // A later signup, confirmed at once (no double opt-in for it), is behind e1 once e1 confirms.
    assert!(matches!(q.join(None, new_entry(2, EntryKind::Notify, 1, 3_000), 3_000), Joined::Created(..)));
    // Stock while e1 is unconfirmed goes to those in line.
    let fx = q.set_level(1, 4_000);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e0"]);
    assert!(!sends(&fx, MessageKind::SoldOutAgain).contains(&"e1".to_string()));
    let fx = q.confirm("e1").unwrap();
    assert_eq!(sends(&fx, MessageKind::SignupConfirmation), ["e1"]);
    assert_eq!(q.position("e1"), Some(2));
    assert_eq!(q.position("e2"), Some(3));
    assert!(q.confirm("e1").is_none(), "confirming twice does nothing");
}

#[test]
fn no_hold_policy_tells_a_multiple_and_follows_up() {
    let p = Policy { hold_ms: 0, notify_multiplier: 1.5, ..policy() };
    let mut q = queue_with(6, p);
    let fx = q.set_level(2, 0);
    assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e0", "e1", "e2"]);
    assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e3", "e4", "e5"]);
    assert_eq!(q.held(0), 0);
    // The same level again is no news.
    assert!(q.set_level(2, 1).is_empty());
    // A day later, stock is still there: urgency follow-up to those told.
    let fx = q.due(DAY_MS);
    assert_eq!(sends(&fx, MessageKind::UrgencyFollowup), ["e0", "e1", "e2"]);
}

#[test]
fn urgency_is_dropped_when_stock_is_gone() {
    let p = Policy { hold_ms: 0, ..policy() };
    let mut q = queue_with(1, p);
    q.set_level(1, 0);
    q.set_level(0, 1);
    assert!(q.due(DAY_MS).iter().all(|fx| !matches!(fx, Effect::Send(_))));
    assert_eq!(q.next_wake(DAY_MS), None);
}

#[test]
fn eta_change_tells_everyone_once_and_reschedules() {
    let d = |s: &str| Date::parse(s).unwrap();
    let signup = d("2026-11-01").unwrap_ms();
    let eta = Eta::new(d("2026-12-01"), d("2026-12-01")).unwrap();
    let mut q = Queue::new(Vec::new(), Counters::default(), Some(eta), policy());
    q.join(None, new_entry(0, EntryKind::Preorder, 1, signup), signup);
    q.join(None, new_entry(1, EntryKind::Preorder, 1, signup), signup);
    let midwait = signup + 15 * DAY_MS;
    assert_eq!(q.next_wake(signup), Some(midwait));
    let later = Eta::new(d("2026-12-31"), d("2027-01-02")).unwrap();
    let fx = q.set_eta(Some(later));
    assert_eq!(sends(&fx, MessageKind::EtaChanged), ["e0", "e1"]);
    assert!(q.set_eta(Some(later)).is_empty());
    // The check-in moves to halfway to the new date.
    assert_eq!(q.next_wake(signup), Some(signup + 30 * DAY_MS));
    let fx = q.due(signup + 30 * DAY_MS);
    assert_eq!(sends(&fx, MessageKind::MidwaitCheckin), ["e0", "e1"]);
    // Heads-up 4 days before the new date; the check-in is not sent again.
    let fx = q.due(d("2026-12-27").unwrap_ms());
    assert_eq!(sends(&fx, MessageKind::ShippingImminent), ["e0", "e1"]);
    assert!(sends(&fx, MessageKind::MidwaitCheckin).is_empty());
}

#[test]
fn joining_again_returns_the_live_entry_and_rejoins_after_leaving() {
    let mut q = queue_with(2, policy());
    let existing = q.entry("e0").unwrap().clone();
    let again = new_entry(7, EntryKind::Notify, 1, 50);
    assert_eq!(q.join(Some(existing.clone()), again.clone(), 50), Joined::Existing(existing.clone()));
    q.set_level(1, 100);
    q.due(100 + HOLD);
    let gone = Entry { status: EntryStatus::Expired, ..existing };
    let Joined::Created(e, fx) = q.join(Some(gone), again, 200_000_000) else { panic!() };
    assert_eq!(e.id, "e0");
    assert_eq!(q.position("e0"), Some(2));
    assert_eq!(sends(&fx, MessageKind::SignupConfirmation), ["e0"]);
}

trait UnixMs {
    fn unwrap_ms(self) -> i64;
}
impl UnixMs for Date {
    fn unwrap_ms(self) -> i64 {
        self.unix_ms()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Join { kind: u8, quantity: u32 },
    Level(i64),
    Tick(i64),
    Convert(usize),
    Engage(usize),
    OptOut(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..6, 1u32..4).prop_map(|(kind, quantity)| Op::Join { kind, quantity }),
        3 => (0i64..15).prop_map(Op::Level),
        2 => (0i64..30).prop_map(|h| Op::Tick(h * HOUR_MS)),
        1 => (0usize..40).prop_map(Op::Convert),
        1 => (0usize..40).prop_map(Op::Engage),
        1 => (0usize..40).prop_map(Op::OptOut),
    ]
}

/// What a reference observer checks after every step, from the effects alone and a few totals.
fn run(ops: Vec<Op>, p: Policy) -> Result<(), TestCaseError> {
    let mut q = Queue::new(Vec::new(), Counters::default(), None, p);
    let mut now = 0;
    let mut keys = HashSet::new();
    let mut received = 0i64;
    let mut level = 0i64;
    let mut converted = 0i64;
    let mut n = 0usize;
    for op in ops {
        let before: HashMap<String, Entry> = q.entries().iter().map(|e| (e.id.clone(), e.clone())).collect();
        let restock_before = q.counters().restock_seq;
        let mut freed = false;
        let fx = match op {
            Op::Join { kind, quantity } => {
                let kind = match kind {
                    0 => EntryKind::Backorder,
                    1 => EntryKind::Preorder,
                    _ => EntryKind::Notify,
                };
                n += 1;
                match q.join(None, new_entry(n, kind, quantity, now), now) {
                    Joined::Created(_, fx) => fx,
                    Joined::Existing(_) => Vec::new(),
                }
            }
            Op::Level(l) => {
                received += (l - level).max(0);
                level = l;
                q.set_level(l, now)
            }
            Op::Tick(dt) => {
                now += dt;
                q.due(now)
            }
            Op::Convert(i) => {
                let target = q
                    .entries()
                    .iter()
                    .filter(|e| matches!(e.status, EntryStatus::Offered | EntryStatus::Allocated))
                    .nth(i % 4)
                    .map(|e| (e.id.clone(), e.units));
                match target {
                    Some((id, units)) => {
                        converted += i64::from(units);
                        // The shop sold them: its inventory system reports the lower level.
                        let mut fx = q.convert(&id).unwrap();
                        level = (level - i64::from(units)).max(0);
                        fx.extend(q.set_level(level, now));
                        fx
                    }
                    None => Vec::new(),
                }
            }
            Op::Engage(i) => match q.entries().get(i % q.entries().len().max(1)).map(|e| e.id.clone()) {
                Some(id) => q.engage(&id).unwrap_or_default(),
                None => Vec::new(),
            },
            Op::OptOut(i) => {
                let target = q.entries().iter().filter(|e| e.kind != EntryKind::Backorder).nth(i % 4).cloned();
                match target {
                    Some(e) => {
                        freed = e.status == EntryStatus::Offered && e.units > 0;
                        q.opt_out(&e.id, now).unwrap_or_default()
                    }
                    None => Vec::new(),
                }
            }
        };
        // Each message key at most once.
        for e in &fx {
            if let Effect::Send(o) = e {
                prop_assert!(keys.insert(o.key()), "message {} sent twice", o.key());
            }
        }
        // Held and shipped-or-bought units never exceed the units received.
        prop_assert!(
            q.promised(now) + converted <= received,
            "promised {} + converted {converted} > received {received}",
            q.promised(now)
        );
        // Nobody waits ahead of a holder: in line order, offers form a prefix of the non-backorder line.
        let line: Vec<EntryStatus> =
            q.entries().iter().filter(|e| e.kind != EntryKind::Backorder && e.in_line()).map(|e| e.status).collect();
        if let Some(first_waiting) = line.iter().position(|s| *s == EntryStatus::Waiting) {
            prop_assert!(line[first_waiting..].iter().all(|s| *s == EntryStatus::Waiting), "{line:?}");
        }
        // A new restock gives every eligible entry exactly one of offer / sold_out_again.
        let restock = q.counters().restock_seq;
        if restock != restock_before {
            for e in before.values().filter(|e| {
                e.kind != EntryKind::Backorder && matches!(e.status, EntryStatus::Waiting | EntryStatus::Notified)
            }) {
                let mine: Vec<MessageKind> = fx
                    .iter()
                    .filter_map(|x| match x {
                        Effect::Send(o) if o.entry_id == e.id && o.occurrence == restock => Some(o.kind),
                        _ => None,
                    })
                    .filter(|k| {
                        matches!(k, MessageKind::RestockOffer | MessageKind::PreorderReady | MessageKind::SoldOutAgain)
                    })
                    .collect();
                prop_assert_eq!(mine.len(), 1, "entry {} got {:?} in restock {}", e.id, mine, restock);
            }
        }
        // Expired holds and holders who left move on: free units never sit beside waiting shoppers.
        if matches!(op, Op::Tick(_) | Op::OptOut(_)) && p.hold_ms > 0 {
            let expired =
                freed || fx.iter().any(|x| matches!(x, Effect::Send(o) if o.kind == MessageKind::HoldExpired));
            let waiting =
                q.entries().iter().any(|e| e.kind != EntryKind::Backorder && e.status == EntryStatus::Waiting);
            if expired && waiting {
                prop_assert!(
                    q.available() - q.promised(now) <= 0,
                    "free units left beside waiting entries after expiry"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_with_holds(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, policy())?;
    }

    #[test]
    fn invariants_without_holds(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops, Policy { hold_ms: 0, notify_multiplier: 1.5, ..policy() })?;
    }
}
