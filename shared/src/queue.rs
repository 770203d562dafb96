//! One SKU's waitlist as a pure state machine: signups and backorders join, inventory updates
//! allocate units strictly first in, first out, holds run out and pass on, timed messages fall due.
//! Every method returns the [`Effect`]s the caller must persist (entries to save, messages to
//! enqueue) in one atomic step. Time comes in as `now` (Unix ms); nothing here reads a clock.

use crate::schedule::{pending, Policy};
use crate::wire::{EntryKind, EntryStatus, MessageKind};
use crate::{Email, Eta};
use std::collections::{BTreeSet, HashMap};

/// A shopper in line (or who was). `seq` is the order of joining.
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
    pub kind: EntryKind,
    /// Units wanted.
    pub quantity: u32,
    /// The shop's order, for backorders.
    pub order_id: Option<String>,
    pub status: EntryStatus,
    /// When the shopper joined (for backorders: when the order was placed).
    pub created_at: i64,
    /// Units offered, held or allocated to this entry now.
    pub units: u32,
    /// The restock the current (or last) offer belongs to.
    pub offer_seq: u32,
    pub offered_at: Option<i64>,
    /// While `Offered`: when the held units go to the next in line.
    pub hold_until: Option<i64>,
    /// Opened or clicked the current offer.
    pub engaged: bool,
    /// Messages already enqueued, as `kind:occurrence`.
    pub sent: BTreeSet<String>,
}

impl Entry {
    /// Waiting, holding or told: has a place in line.
    pub fn in_line(&self) -> bool {
        matches!(self.status, EntryStatus::Waiting | EntryStatus::Offered | EntryStatus::Notified)
    }

    /// Still part of the SKU's working set (in line, waiting for its confirmation, or units
    /// allocated and not yet shipped).
    pub fn is_live(&self) -> bool {
        self.in_line() || matches!(self.status, EntryStatus::Allocated | EntryStatus::PendingConfirmation)
    }

    pub fn was_sent(&self, kind: MessageKind, occurrence: u32) -> bool {
        self.sent.contains(&sent_key(kind, occurrence))
    }

    pub fn mark_sent(&mut self, kind: MessageKind, occurrence: u32) {
        self.sent.insert(sent_key(kind, occurrence));
    }

    /// Priority in line: backorders (already paid) first by order time, then everyone by joining.
    fn rank(&self) -> (u8, i64, u32) {
        match self.kind {
            EntryKind::Backorder => (0, self.created_at, self.seq),
            _ => (1, 0, self.seq),
        }
    }

    /// A bare entry for tests.
    #[doc(hidden)]
    pub fn test(id: &str, seq: u32) -> Entry {
        Entry {
            id: id.to_owned(),
            seq,
            email: format!("{id}@example.com"),
            email_key: format!("{id}@example.com"),
            phone: None,
            sms_consent: false,
            locale: None,
            kind: EntryKind::Notify,
            quantity: 1,
            order_id: None,
            status: EntryStatus::Waiting,
            created_at: 0,
            units: 0,
            offer_seq: 0,
            offered_at: None,
            hold_until: None,
            engaged: false,
            sent: BTreeSet::new(),
        }
    }
}

fn sent_key(kind: MessageKind, occurrence: u32) -> String {
    format!("{}:{occurrence}", kind.as_str())
}

/// A message to enqueue. `(entry, kind, occurrence)` is its identity: enqueuing the same one twice
/// is a no-op, and it is the provider idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub entry_id: String,
    pub kind: MessageKind,
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

/// The answer to a signup or a new backorder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// Already on this SKU's list: nothing changes.
    Existing(Entry),
    Created(Entry, Vec<Effect>),
}

/// A checked signup.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub id: String,
    pub email: Email,
    pub phone: Option<String>,
    pub sms_consent: bool,
    pub locale: Option<String>,
    pub kind: EntryKind,
    pub quantity: u32,
    pub order_id: Option<String>,
    /// When it happened (order time for backorders; `now` for signups).
    pub at: i64,
}

/// A restock's sold-out messages still to be told: restock `restock` covers the entries with
/// `seq` in `(after, through]` (after the last one offered, up to the newest signup at the
/// restock) that are still waiting, or told of an earlier restock, when the fan-out reaches them.
/// `after` moves forward as chunks are told; a newer restock replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FanOut {
    pub restock: u32,
    pub after: u32,
    pub through: u32,
}

/// The SKU-level counters stored beside the entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Counters {
    /// Units in stock (newest absolute level, summed over locations).
    pub available: i64,
    /// Restocks so far: the occurrence of offer / sold-out messages.
    pub restock_seq: u32,
    /// Next `seq` to give.
    pub next_seq: u32,
    /// ETA changes so far: the occurrence of `eta_changed`.
    pub eta_version: u32,
    /// The newest restock's sold-out messages not yet all told.
    pub fanout: Option<FanOut>,
}

/// The live part of one SKU's waitlist plus its counters and ETA: all of it, or (see
/// [`Queue::partial`]) the entries one step concerns.
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    live: Vec<Entry>,
    counters: Counters,
    eta: Option<Eta>,
    policy: Policy,
    /// Units promised at load time by entries not loaded (0 for a whole queue).
    promised_elsewhere: i64,
}

impl Queue {
    /// Rebuilds the queue from storage: `live` may come in any order; entries no longer live are dropped.
    pub fn new(mut live: Vec<Entry>, counters: Counters, eta: Option<Eta>, policy: Policy) -> Queue {
        live.retain(Entry::is_live);
        live.sort_by_key(Entry::rank);
        let mut counters = counters;
        counters.next_seq = counters.next_seq.max(live.iter().map(|e| e.seq + 1).max().unwrap_or(1));
        Queue { live, counters, eta, policy, promised_elsewhere: 0 }
    }

    /// A queue of only some live entries, for a step that concerns no others. `promised` is what
    /// the whole line promises at `now` (running holds plus backorder units, from counters kept
    /// with each write); what the loaded entries do not account for stays promised elsewhere.
    ///
    /// The caller loads what the step can reach: for a restock, the lapsed holds, the waiting
    /// backorders in order until their need covers the free units, and the first waiting or
    /// told entries in line order until their quantities cover what can be offered. The step
    /// then decides for them exactly what the whole line would.
    pub fn partial(
        live: Vec<Entry>,
        counters: Counters,
        eta: Option<Eta>,
        policy: Policy,
        promised: i64,
        now: i64,
    ) -> Queue {
        let mut q = Queue::new(live, counters, eta, policy);
        q.promised_elsewhere = promised - q.promised(now);
        q
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn available(&self) -> i64 {
        self.counters.available
    }
    pub fn eta(&self) -> Option<&Eta> {
        self.eta.as_ref()
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn entries(&self) -> &[Entry] {
        &self.live
    }
    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.live.iter().find(|e| e.id == id)
    }

    /// Shoppers in line.
    pub fn waiting(&self) -> u32 {
        self.live.iter().filter(|e| e.in_line()).count() as u32
    }

    /// 1-based place in line, `None` when the entry is not in line.
    pub fn position(&self, entry_id: &str) -> Option<u32> {
        self.live.iter().filter(|e| e.in_line()).position(|e| e.id == entry_id).map(|i| i as u32 + 1)
    }

    /// Every place in line at once (for writing many messages without a scan per message).
    pub fn positions(&self) -> HashMap<&str, u32> {
        self.live.iter().filter(|e| e.in_line()).enumerate().map(|(i, e)| (e.id.as_str(), i as u32 + 1)).collect()
    }

    /// Units promised at `now`: running holds plus backorder units allocated (whole or partial)
    /// and not yet shipped.
    pub fn promised(&self, now: i64) -> i64 {
        let loaded: i64 = self
            .live
            .iter()
            .filter(|e| holds(e, now) || e.kind == EntryKind::Backorder)
            .map(|e| i64::from(e.units))
            .sum();
        loaded + self.promised_elsewhere
    }

    /// Units held for offers at `now` (what shoppers see as "reserved for the waitlist").
    pub fn held(&self, now: i64) -> i64 {
        self.live.iter().filter(|e| holds(e, now)).map(|e| i64::from(e.units)).sum()
    }

    /// When the last running hold ends.
    pub fn reserved_until(&self, now: i64) -> Option<i64> {
        self.live.iter().filter(|e| holds(e, now)).filter_map(|e| e.hold_until).max()
    }

    /// Joins the back of the line (backorders: among backorders by order time, ahead of the rest).
    /// `existing` is the stored entry with the same address (or order id), if any: one still live
    /// is returned unchanged; one that left (expired, converted, cancelled) rejoins at the back.
    pub fn join(&mut self, existing: Option<Entry>, new: NewEntry, now: i64) -> Joined {
        if let Some(e) = existing.as_ref().filter(|e| e.is_live()) {
            return Joined::Existing(e.clone());
        }
        let seq = self.counters.next_seq;
        self.counters.next_seq += 1;
        let mut entry = Entry {
            id: existing.as_ref().map_or(new.id, |e| e.id.clone()),
            seq,
            email_key: new.email.key(),
            email: new.email.as_str().to_owned(),
            phone: new.phone,
            sms_consent: new.sms_consent,
            locale: new.locale,
            kind: new.kind,
            quantity: new.quantity.max(1),
            order_id: new.order_id,
            status: EntryStatus::Waiting,
            created_at: new.at,
            units: 0,
            offer_seq: 0,
            offered_at: None,
            hold_until: None,
            engaged: false,
            sent: existing.map(|e| e.sent).unwrap_or_default(),
        };
        let first = if entry.kind == EntryKind::Backorder {
            MessageKind::BackorderAck
        } else {
            MessageKind::SignupConfirmation
        };
        let mut effects = Vec::new();
        send(&mut entry, first, seq, &mut effects);
        self.live.push(entry);
        self.live.sort_by_key(Entry::rank);
        // A paid backorder may be served from stock on hand at once.
        if self.live.iter().any(|e| e.seq == seq && e.kind == EntryKind::Backorder) {
            effects.extend(self.serve_backorders(now));
        }
        let id_entry = self.live.iter().find(|e| e.seq == seq).cloned().unwrap_or_else(|| unreachable!("just pushed"));
        effects.insert(0, Effect::Save(id_entry.clone()));
        Joined::Created(id_entry, dedupe_saves(effects))
    }

    /// Joins like [`Queue::join`], unconfirmed (double opt-in): the entry takes its place by signup
    /// order now, but is not in line — no offers, no place shown — until [`Queue::confirm`]. Its
    /// first message asks to confirm.
    pub fn join_unconfirmed(&mut self, existing: Option<Entry>, new: NewEntry, now: i64) -> Joined {
        if new.kind == EntryKind::Backorder {
            return self.join(existing, new, now);
        }
        match self.join(existing, new, now) {
            Joined::Created(_, effects) => {
                let mut entry = None;
                let mut out = Vec::new();
                for fx in effects {
                    match fx {
                        Effect::Send(o) if o.kind == MessageKind::SignupConfirmation => {
                            let e = self.live.iter_mut().find(|e| e.id == o.entry_id).unwrap_or_else(|| unreachable!());
                            e.sent.remove(&sent_key(MessageKind::SignupConfirmation, o.occurrence));
                            e.status = EntryStatus::PendingConfirmation;
                            send(e, MessageKind::ConfirmSignup, o.occurrence, &mut out);
                            entry = Some(e.clone());
                        }
                        other => out.push(other),
                    }
                }
                let entry = entry.unwrap_or_else(|| unreachable!("a signup is always confirmed"));
                let out = out
                    .into_iter()
                    .map(|fx| match fx {
                        Effect::Save(e) if e.id == entry.id => Effect::Save(entry.clone()),
                        other => other,
                    })
                    .collect();
                Joined::Created(entry, out)
            }
            existing => existing,
        }
    }

    /// The shopper confirmed their signup: in line at the place their signup time gives, and told
    /// so (`signup_confirmation`). `None` when the entry is not waiting for a confirmation.
    pub fn confirm(&mut self, entry_id: &str) -> Option<Vec<Effect>> {
        let e = self.live.iter_mut().find(|e| e.id == entry_id && e.status == EntryStatus::PendingConfirmation)?;
        e.status = EntryStatus::Waiting;
        let mut effects = Vec::new();
        send(e, MessageKind::SignupConfirmation, e.seq, &mut effects);
        effects.insert(0, Effect::Save(e.clone()));
        Some(effects)
    }

    /// Applies a new absolute stock level to a whole queue: [`Queue::restock`], then every
    /// sold-out message of the restock at once ([`Queue::fan_out`]).
    pub fn set_level(&mut self, available: i64, now: i64) -> Vec<Effect> {
        let mut effects = self.restock(available, now);
        effects.extend(self.fan_out(u32::MAX));
        dedupe_saves(effects)
    }

    /// Applies a new absolute stock level. Lapsed holds end first. When units are free (available
    /// minus promised) a restock starts: backorders are served first, then each waiting entry in
    /// line order is offered `min(wanted, left)` units (held for `hold_ms`, or, with no holds,
    /// told first come first served up to the notify multiplier). Everyone else in line is told
    /// `sold_out_again` later, by [`Queue::fan_out`]: the restock leaves its range in
    /// [`Counters::fanout`] (replacing an earlier one not yet all told). The work is in the units
    /// offered, not in the length of the line.
    pub fn restock(&mut self, available: i64, now: i64) -> Vec<Effect> {
        let previous = self.counters.available;
        self.counters.available = available.max(0);
        let mut effects = self.expire(now);
        let no_holds = self.policy.hold_ms <= 0;
        // Without holds nothing is promised to notified shoppers, so only a rise is news.
        if no_holds && self.counters.available <= previous {
            return effects;
        }
        effects.extend(self.serve_backorders(now));
        let free = self.counters.available - self.promised(now);
        if free <= 0 || !self.live.iter().any(eligible) {
            return dedupe_saves(effects);
        }
        self.counters.restock_seq += 1;
        let restock = self.counters.restock_seq;
        let mut left = if no_holds {
            let rise = (self.counters.available - previous.max(0)).min(free);
            (rise as f64 * self.policy.notify_multiplier.max(1.0)).ceil() as i64
        } else {
            free
        };
        let mut after = 0;
        for e in self.live.iter_mut().filter(|e| eligible(e)) {
            if left <= 0 {
                break;
            }
            let units = (i64::from(e.quantity)).min(left) as u32;
            left -= i64::from(units);
            e.units = units;
            e.offer_seq = restock;
            e.offered_at = Some(now);
            e.engaged = false;
            if no_holds {
                e.status = EntryStatus::Notified;
                e.hold_until = None;
            } else {
                e.status = EntryStatus::Offered;
                e.hold_until = Some(now + self.policy.hold_ms);
            }
            after = e.seq;
            send(e, offer_kind(e.kind), restock, &mut effects);
            effects.push(Effect::Save(e.clone()));
        }
        let through = self.counters.next_seq.saturating_sub(1);
        self.counters.fanout = (through > after).then_some(FanOut { restock, after, through });
        dedupe_saves(effects)
    }

    /// Tells the newest restock's `sold_out_again` to the loaded entries it covers with `seq` up
    /// to `upto`, in line order, once each (an entry offered in that restock, or already told, is
    /// skipped), and moves the cursor to `upto`; the fan-out ends when it passes its range. The
    /// caller loads the entries it covers in `(after, upto]` that are waiting or told.
    pub fn fan_out(&mut self, upto: u32) -> Vec<Effect> {
        let Some(f) = self.counters.fanout else {
            return Vec::new();
        };
        let upto = upto.min(f.through);
        let mut effects = Vec::new();
        for e in self.live.iter_mut().filter(|e| e.seq > f.after && e.seq <= upto && eligible(e)) {
            if e.offer_seq == f.restock && e.offered_at.is_some() {
                continue;
            }
            if !e.was_sent(MessageKind::SoldOutAgain, f.restock) {
                send(e, MessageKind::SoldOutAgain, f.restock, &mut effects);
                effects.push(Effect::Save(e.clone()));
            }
        }
        self.counters.fanout = (upto < f.through).then_some(FanOut { after: upto, ..f });
        effects
    }

    /// Everything due by `now` without outside input: lapsed holds end (`hold_expired`) and their
    /// units pass on in line order (`restock_offer` / `preorder_ready`, "a spot opened up"), and
    /// timed messages fall due (reminders, follow-ups, check-ins, heads-ups).
    pub fn due(&mut self, now: i64) -> Vec<Effect> {
        let mut effects = self.expire(now);
        let stock_left = self.counters.available - self.promised(now) > 0;
        let eta = self.eta;
        let policy = self.policy;
        for e in self.live.iter_mut().filter(|e| e.in_line()) {
            let mut changed = false;
            for t in pending(e, eta.as_ref(), &policy).into_iter().filter(|t| t.at <= now) {
                if t.kind == MessageKind::UrgencyFollowup && !stock_left {
                    // Nothing left to be urgent about: drop it for good rather than send it late.
                    e.mark_sent(t.kind, t.occurrence);
                } else {
                    send(e, t.kind, t.occurrence, &mut effects);
                }
                changed = true;
            }
            if changed {
                effects.push(Effect::Save(e.clone()));
            }
        }
        dedupe_saves(effects)
    }

    /// The next time [`Queue::due`] has work: the earliest hold end or timed message (now, while
    /// a restock's sold-out messages are not all told).
    pub fn next_wake(&self, now: i64) -> Option<i64> {
        if self.counters.fanout.is_some() {
            return Some(now);
        }
        let holds = self.live.iter().filter(|e| e.status == EntryStatus::Offered).filter_map(|e| e.hold_until);
        let timed = self
            .live
            .iter()
            .filter(|e| e.in_line())
            .flat_map(|e| pending(e, self.eta.as_ref(), &self.policy))
            .map(|t| t.at);
        holds.chain(timed).min().map(|t| t.max(now))
    }

    /// The ETA moved: everyone in line hears at once, with old and new dates; the later timed
    /// messages follow the new date (never sent twice: they are keyed per entry).
    pub fn set_eta(&mut self, eta: Option<Eta>) -> Vec<Effect> {
        if eta == self.eta {
            return Vec::new();
        }
        self.eta = eta;
        self.counters.eta_version += 1;
        let version = self.counters.eta_version;
        let mut effects = Vec::new();
        for e in self.live.iter_mut().filter(|e| e.in_line() || e.status == EntryStatus::Allocated) {
            send(e, MessageKind::EtaChanged, version, &mut effects);
            effects.push(Effect::Save(e.clone()));
        }
        effects
    }

    /// The shopper bought (or a backorder shipped): the hold or allocation is used up and the entry
    /// leaves the line. Stock is not changed here: the inventory system's next level says it.
    pub fn convert(&mut self, entry_id: &str) -> Option<Vec<Effect>> {
        let i = self.live.iter().position(|e| e.id == entry_id)?;
        let mut e = self.live.remove(i);
        e.status = EntryStatus::Converted;
        e.hold_until = None;
        Some(vec![Effect::Save(e)])
    }

    /// An order of this entry shipped (a fulfillment, `occurrence` naming that shipment). A live
    /// entry (a backorder being served) converts: the order is done. A backorder is told with
    /// `ship_notice`, a waitlist purchase with `order_shipped`; each shipment at most once.
    pub fn ship(&mut self, entry: Entry, occurrence: u32) -> Vec<Effect> {
        let mut e = match self.live.iter().position(|l| l.id == entry.id) {
            Some(i) => {
                let mut e = self.live.remove(i);
                e.status = EntryStatus::Converted;
                e.hold_until = None;
                e
            }
            None => entry,
        };
        let kind = if e.kind == EntryKind::Backorder { MessageKind::ShipNotice } else { MessageKind::OrderShipped };
        let mut effects = Vec::new();
        send(&mut e, kind, occurrence, &mut effects);
        effects.push(Effect::Save(e));
        effects
    }

    /// Leaves the line for good (a cancelled backorder): its units are free again.
    pub fn cancel(&mut self, entry_id: &str) -> Option<Vec<Effect>> {
        let i = self.live.iter().position(|e| e.id == entry_id)?;
        let mut e = self.live.remove(i);
        e.status = EntryStatus::Cancelled;
        e.units = 0;
        e.hold_until = None;
        Some(vec![Effect::Save(e)])
    }

    /// The address opted out (unsubscribed, bounced, complained): the entry leaves the line, and
    /// units it held go at once to the next in line, as when a hold ends.
    pub fn opt_out(&mut self, entry_id: &str, now: i64) -> Option<Vec<Effect>> {
        let held = self.live.iter().any(|e| e.id == entry_id && e.status == EntryStatus::Offered && e.units > 0);
        let mut effects = self.cancel(entry_id)?;
        if held {
            effects.extend(self.pass_on(now));
        }
        Some(effects)
    }

    /// The shopper opened or clicked the current offer: no non-opener nudge.
    pub fn engage(&mut self, entry_id: &str) -> Option<Vec<Effect>> {
        let e = self.live.iter_mut().find(|e| e.id == entry_id)?;
        if e.engaged {
            return Some(Vec::new());
        }
        e.engaged = true;
        Some(vec![Effect::Save(e.clone())])
    }

    /// Ends lapsed holds and passes their units on (offers only; no new sold-out messages).
    fn expire(&mut self, now: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut expired = Vec::new();
        for e in self.live.iter_mut().filter(|e| e.status == EntryStatus::Offered && !holds(e, now)) {
            e.status = EntryStatus::Expired;
            e.units = 0;
            send(e, MessageKind::HoldExpired, e.offer_seq, &mut effects);
            effects.push(Effect::Save(e.clone()));
            expired.push(e.id.clone());
        }
        if expired.is_empty() {
            return effects;
        }
        self.live.retain(Entry::is_live);
        effects.extend(self.pass_on(now));
        effects
    }

    /// Offers units no one holds to the next waiting entries, in line order (offers only: no
    /// sold-out messages).
    fn pass_on(&mut self, now: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut left = self.counters.available - self.promised(now);
        let restock = self.counters.restock_seq;
        for e in self.live.iter_mut().filter(|e| e.kind != EntryKind::Backorder && e.status == EntryStatus::Waiting) {
            if left <= 0 {
                break;
            }
            let units = i64::from(e.quantity).min(left) as u32;
            left -= i64::from(units);
            e.units = units;
            e.status = EntryStatus::Offered;
            e.offer_seq = restock;
            e.offered_at = Some(now);
            e.hold_until = Some(now + self.policy.hold_ms.max(0));
            e.engaged = false;
            send(e, offer_kind(e.kind), restock, &mut effects);
            effects.push(Effect::Save(e.clone()));
        }
        effects
    }

    /// Gives free units to waiting backorders in order (whole or partial), `ship_notice` when whole.
    fn serve_backorders(&mut self, now: i64) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut left = self.counters.available - self.promised(now);
        for e in self.live.iter_mut().filter(|e| e.kind == EntryKind::Backorder && e.status == EntryStatus::Waiting) {
            if left <= 0 {
                break;
            }
            let units = i64::from(e.quantity - e.units).min(left) as u32;
            left -= i64::from(units);
            e.units += units;
            if e.units >= e.quantity {
                e.status = EntryStatus::Allocated;
                send(e, MessageKind::ShipNotice, 0, &mut effects);
            }
            effects.push(Effect::Save(e.clone()));
        }
        effects
    }
}

/// Who a restock offers units to, or tells it sold out again: in line for the shelf (not a
/// backorder), waiting or told of an earlier restock.
fn eligible(e: &Entry) -> bool {
    e.kind != EntryKind::Backorder && matches!(e.status, EntryStatus::Waiting | EntryStatus::Notified)
}

fn holds(e: &Entry, now: i64) -> bool {
    e.status == EntryStatus::Offered && e.hold_until.is_some_and(|t| t > now)
}

fn offer_kind(kind: EntryKind) -> MessageKind {
    match kind {
        EntryKind::Preorder => MessageKind::PreorderReady,
        _ => MessageKind::RestockOffer,
    }
}

/// Enqueues a message unless this entry already had it.
fn send(e: &mut Entry, kind: MessageKind, occurrence: u32, effects: &mut Vec<Effect>) {
    if !e.was_sent(kind, occurrence) {
        e.mark_sent(kind, occurrence);
        effects.push(Effect::Send(Outgoing { entry_id: e.id.clone(), kind, occurrence }));
    }
}

/// Keeps only the last `Save` of each entry (the newest state), where it stands; linear time.
fn dedupe_saves(effects: Vec<Effect>) -> Vec<Effect> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(effects.len());
    for (i, fx) in effects.iter().enumerate() {
        if let Effect::Save(e) = fx {
            last.insert(e.id.as_str(), i);
        }
    }
    let keep: Vec<bool> = effects
        .iter()
        .enumerate()
        .map(|(i, fx)| match fx {
            Effect::Save(e) => last.get(e.id.as_str()) == Some(&i),
            Effect::Send(_) => true,
        })
        .collect();
    effects.into_iter().zip(keep).filter_map(|(fx, k)| k.then_some(fx)).collect()
}

#[cfg(test)]
mod tests;
