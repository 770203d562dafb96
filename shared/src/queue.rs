//! One SKU's waitlist as a pure state machine: signups join at the back, inventory updates allocate
//! units to the front, holds expire. Every method returns the [`Effect`]s the caller must persist
//! (entries to save, messages to enqueue) in one atomic step.

use crate::allocation::allocate;
use crate::wire::{EntryStatus, MessageKind};
use crate::Email;

/// A shopper in line. `seq` is signup order and never changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub seq: u32,
    /// As typed (trimmed).
    pub email: String,
    /// What two signups are compared by.
    pub email_key: String,
    pub phone: Option<String>,
    pub sms_consent: bool,
    pub locale: Option<String>,
    pub status: EntryStatus,
    pub created_at: i64,
    /// While `Offered`: when the held unit goes to the next in line.
    pub hold_until: Option<i64>,
}

impl Entry {
    fn is_live(&self) -> bool {
        matches!(self.status, EntryStatus::Waiting | EntryStatus::Offered)
    }
}

/// A message to enqueue. `(entry, kind, occurrence)` is its identity: enqueuing the same one twice
/// is a no-op, and it is the provider idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub entry_id: String,
    pub kind: MessageKind,
    /// Which restock (or 0 for one-off messages) the message belongs to.
    pub occurrence: u32,
}

impl Outgoing {
    pub fn key(&self) -> String {
        format!("{}:{}:{}", self.entry_id, self.kind.as_str(), self.occurrence)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Insert or update this entry.
    Save(Entry),
    Send(Outgoing),
}

/// The answer to a signup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signup {
    /// The address was already on this SKU's list: nothing changes.
    Existing(Entry),
    Created(Entry, Vec<Effect>),
}

/// The live part of one SKU's waitlist (entries waiting or holding an offer) plus its stock level.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Queue {
    live: Vec<Entry>,
    available: i64,
    restock_seq: u32,
    next_seq: u32,
}

/// Input to [`Queue::signup`]: the checked signup fields.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub id: String,
    pub email: Email,
    pub phone: Option<String>,
    pub sms_consent: bool,
    pub locale: Option<String>,
}

impl Queue {
    /// Rebuilds the queue from storage. `live` may come in any order; non-live entries are dropped.
    pub fn new(mut live: Vec<Entry>, available: i64, restock_seq: u32, next_seq: u32) -> Queue {
        live.retain(Entry::is_live);
        live.sort_by_key(|e| e.seq);
        let next_seq = next_seq.max(live.last().map_or(1, |e| e.seq + 1));
        Queue { live, available, restock_seq, next_seq }
    }

    pub fn available(&self) -> i64 {
        self.available
    }
    pub fn restock_seq(&self) -> u32 {
        self.restock_seq
    }
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }
    pub fn entries(&self) -> &[Entry] {
        &self.live
    }

    /// Shoppers in line (waiting or holding a unit).
    pub fn waiting(&self) -> u32 {
        self.live.len() as u32
    }

    /// 1-based place in line, `None` when the entry is no longer in line.
    pub fn position(&self, entry_id: &str) -> Option<u32> {
        self.live.iter().position(|e| e.id == entry_id).map(|i| i as u32 + 1)
    }

    /// Units promised to holders whose hold is still running at `now`.
    pub fn held(&self, now: i64) -> i64 {
        self.live.iter().filter(|e| is_holding(e, now)).count() as i64
    }

    /// When the last running hold ends.
    pub fn reserved_until(&self, now: i64) -> Option<i64> {
        self.live.iter().filter(|e| is_holding(e, now)).filter_map(|e| e.hold_until).max()
    }

    /// Joins the back of the line, or returns the entry this address already has.
    /// `existing` is the stored entry with the same `email_key`, if any.
    pub fn signup(&mut self, existing: Option<Entry>, new: NewEntry, now: i64) -> Signup {
        if let Some(e) = existing {
            return Signup::Existing(e);
        }
        let entry = Entry {
            id: new.id,
            seq: self.next_seq,
            email_key: new.email.key(),
            email: new.email.as_str().to_owned(),
            phone: new.phone,
            sms_consent: new.sms_consent,
            locale: new.locale,
            status: EntryStatus::Waiting,
            created_at: now,
            hold_until: None,
        };
        self.next_seq += 1;
        self.live.push(entry.clone());
        let send = Outgoing { entry_id: entry.id.clone(), kind: MessageKind::SignupConfirmation, occurrence: 0 };
        Signup::Created(entry.clone(), vec![Effect::Save(entry), Effect::Send(send)])
    }

    /// Applies a new absolute stock level. When more units are available than are held, a new
    /// restock starts: the first waiting entries get a held unit and a `restock_offer` each, every
    /// other waiting entry one `sold_out_again`.
    pub fn set_level(&mut self, available: i64, now: i64, hold_ms: i64) -> Vec<Effect> {
        self.available = available.max(0);
        let mut effects = self.expire_holds(now, hold_ms);
        let free = self.available - self.held(now);
        let waiting: Vec<usize> = self.waiting_indexes();
        if free <= 0 || waiting.is_empty() {
            return effects;
        }
        self.restock_seq += 1;
        let (offered, rest) = allocate(&waiting, free);
        effects.extend(self.offer(&offered, now, hold_ms));
        for i in rest {
            effects.push(Effect::Send(Outgoing {
                entry_id: self.live[i].id.clone(),
                kind: MessageKind::SoldOutAgain,
                occurrence: self.restock_seq,
            }));
        }
        effects
    }

    /// Ends the holds that ran out by `now` and passes their units on, in line order, to those
    /// still waiting (they get a `restock_offer` for the current restock).
    pub fn expire_holds(&mut self, now: i64, hold_ms: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut expired = 0;
        for e in self.live.iter_mut().filter(|e| e.status == EntryStatus::Offered && !is_holding(e, now)) {
            e.status = EntryStatus::Expired;
            effects.push(Effect::Save(e.clone()));
            expired += 1;
        }
        if expired == 0 {
            return effects;
        }
        self.live.retain(Entry::is_live);
        let free = self.available - self.held(now);
        let waiting = self.waiting_indexes();
        let (offered, _) = allocate(&waiting, free);
        effects.extend(self.offer(&offered, now, hold_ms));
        effects
    }

    /// The next time something happens without outside input: the earliest hold end.
    pub fn next_wake(&self) -> Option<i64> {
        self.live.iter().filter(|e| e.status == EntryStatus::Offered).filter_map(|e| e.hold_until).min()
    }

    fn waiting_indexes(&self) -> Vec<usize> {
        (0..self.live.len()).filter(|&i| self.live[i].status == EntryStatus::Waiting).collect()
    }

    fn offer(&mut self, indexes: &[usize], now: i64, hold_ms: i64) -> Vec<Effect> {
        let mut effects = Vec::with_capacity(indexes.len() * 2);
        for &i in indexes {
            let e = &mut self.live[i];
            e.status = EntryStatus::Offered;
            e.hold_until = Some(now + hold_ms);
            effects.push(Effect::Save(e.clone()));
            effects.push(Effect::Send(Outgoing {
                entry_id: e.id.clone(),
                kind: MessageKind::RestockOffer,
                occurrence: self.restock_seq,
            }));
        }
        effects
    }
}

fn is_holding(e: &Entry, now: i64) -> bool {
    e.status == EntryStatus::Offered && e.hold_until.is_some_and(|t| t > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    const HOLD: i64 = 24 * 3_600_000;

    fn join(q: &mut Queue, n: usize) {
        for i in 0..n {
            let new = NewEntry {
                id: format!("e{i}"),
                email: Email::parse(&format!("s{i}@example.com")).unwrap(),
                phone: None,
                sms_consent: false,
                locale: None,
            };
            assert!(matches!(q.signup(None, new, 1_000 + i as i64), Signup::Created(..)));
        }
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

    #[test]
    fn restock_offers_front_and_tells_the_rest() {
        let mut q = Queue::default();
        join(&mut q, 5);
        assert_eq!(q.position("e3"), Some(4));
        let fx = q.set_level(3, 10_000, HOLD);
        assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e0", "e1", "e2"]);
        assert_eq!(sends(&fx, MessageKind::SoldOutAgain), ["e3", "e4"]);
        assert_eq!(q.held(10_000), 3);
        assert_eq!(q.next_wake(), Some(10_000 + HOLD));
        // The same level again: nothing new.
        assert!(q.set_level(3, 11_000, HOLD).is_empty());
        // Two more units: the next two in line.
        let fx = q.set_level(5, 12_000, HOLD);
        assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e3", "e4"]);
    }

    #[test]
    fn expired_holds_pass_to_the_next_in_line() {
        let mut q = Queue::default();
        join(&mut q, 4);
        q.set_level(2, 0, HOLD);
        let fx = q.expire_holds(HOLD, HOLD);
        assert_eq!(sends(&fx, MessageKind::RestockOffer), ["e2", "e3"]);
        assert_eq!(q.position("e0"), None);
        assert_eq!(q.position("e2"), Some(1));
    }

    #[test]
    fn level_below_holds_starts_nothing() {
        let mut q = Queue::default();
        join(&mut q, 3);
        q.set_level(2, 0, HOLD);
        assert!(q.set_level(0, 5, HOLD).is_empty());
        assert!(q.set_level(2, 6, HOLD).is_empty());
        assert_eq!(q.available(), 2);
    }

    #[test]
    fn signup_again_returns_existing() {
        let mut q = Queue::default();
        join(&mut q, 1);
        let existing = q.entries()[0].clone();
        let new = NewEntry { id: "x".into(), email: Email::parse("S0@example.com").unwrap(), phone: None, sms_consent: false, locale: None };
        assert_eq!(q.signup(Some(existing.clone()), new, 5), Signup::Existing(existing));
        assert_eq!(q.waiting(), 1);
    }

    proptest! {
        /// FIFO, no over-allocation, at most one message of a kind per entry and restock, whatever
        /// the sequence of levels and clock ticks.
        #[test]
        fn invariants_hold(n in 0usize..30, steps in proptest::collection::vec((0i64..12, 0i64..3), 1..20)) {
            let mut q = Queue::default();
            join(&mut q, n);
            let mut now = 10_000;
            let mut keys = HashSet::new();
            let mut first_offer_seq: Vec<u32> = Vec::new();
            for (level, hours) in steps {
                now += hours * 12 * 3_600_000;
                let fx = q.set_level(level, now, HOLD);
                let offered = fx.iter().any(|e| matches!(e, Effect::Send(o) if o.kind == MessageKind::RestockOffer));
                if offered {
                    // No more units are promised than the level that caused the offers.
                    prop_assert!(q.held(now) <= q.available());
                }
                for e in &fx {
                    if let Effect::Send(o) = e {
                        prop_assert!(keys.insert(o.key()), "duplicate message {}", o.key());
                        if o.kind == MessageKind::RestockOffer {
                            first_offer_seq.push(o.entry_id[1..].parse().unwrap());
                        }
                    }
                }
                // Holders always come before those still waiting.
                let statuses: Vec<_> = q.entries().iter().map(|e| e.status).collect();
                let first_waiting = statuses.iter().position(|s| *s == EntryStatus::Waiting).unwrap_or(statuses.len());
                prop_assert!(statuses[first_waiting..].iter().all(|s| *s == EntryStatus::Waiting));
            }
            // Offers went out in signup order.
            prop_assert!(first_offer_seq.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
