//! When each timed message of an entry is due: a pure function of the entry, the SKU's ETA, the
//! shop's policy and `now`. The Durable Object turns the earliest time into its alarm.

use crate::queue::Entry;
use crate::wire::{EntryKind, EntryStatus, MessageKind};
use crate::Eta;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The shop's lifecycle settings. Defaults follow common practice for waitlist messaging.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// How long an offer holds its units. 0 = no holds: notify, first come first served.
    pub hold_ms: i64,
    /// Without holds: how many people to tell per unit (1.5 tells 15 people about 10 units).
    pub notify_multiplier: f64,
    /// `hold_reminder` this long before a hold ends.
    pub reminder_before_ms: i64,
    /// `midwait_checkin` only when signup → earliest ship date is at least this long.
    pub midwait_min_wait_ms: i64,
    /// `shipping_imminent` this long before the earliest ship date.
    pub imminent_before_ms: i64,
    /// `nonopener_followup` this long after an offer nobody opened or clicked.
    pub nonopener_after_ms: i64,
    /// `urgency_followup` this long after a no-hold notification.
    pub urgency_after_ms: i64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            hold_ms: 24 * HOUR_MS,
            notify_multiplier: 1.0,
            reminder_before_ms: 4 * HOUR_MS,
            midwait_min_wait_ms: 7 * DAY_MS,
            imminent_before_ms: 4 * DAY_MS,
            nonopener_after_ms: 8 * HOUR_MS,
            urgency_after_ms: 24 * HOUR_MS,
        }
    }
}

/// A timed message: what, which occurrence, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timed {
    pub kind: MessageKind,
    pub occurrence: u32,
    pub at: i64,
}

/// The timed messages this entry has not been sent yet, in any order. Conditions that depend on the
/// SKU's stock (urgency) are checked by the caller when the time comes.
pub fn pending(entry: &Entry, eta: Option<&Eta>, policy: &Policy) -> Vec<Timed> {
    let mut out = Vec::new();
    let mut push = |kind: MessageKind, occurrence: u32, at: i64| {
        if !entry.was_sent(kind, occurrence) {
            out.push(Timed { kind, occurrence, at });
        }
    };
    match entry.status {
        EntryStatus::Offered => {
            if let (Some(until), Some(offered)) = (entry.hold_until, entry.offered_at) {
                let remind = until - policy.reminder_before_ms;
                if remind > offered {
                    push(MessageKind::HoldReminder, entry.offer_seq, remind);
                }
                let nudge = offered + policy.nonopener_after_ms;
                if !entry.engaged && nudge < until {
                    push(MessageKind::NonopenerFollowup, entry.offer_seq, nudge);
                }
            }
        }
        EntryStatus::Notified => {
            if let Some(told) = entry.offered_at {
                push(MessageKind::UrgencyFollowup, entry.offer_seq, told + policy.urgency_after_ms);
            }
        }
        EntryStatus::Waiting => {
            if let Some(eta) = eta {
                let ship = eta.earliest().unix_ms();
                let wait = ship - entry.created_at;
                if wait >= policy.midwait_min_wait_ms {
                    push(MessageKind::MidwaitCheckin, 0, entry.created_at + wait / 2);
                }
                let imminent = ship - policy.imminent_before_ms;
                if entry.kind != EntryKind::Notify && imminent > entry.created_at {
                    push(MessageKind::ShippingImminent, 0, imminent);
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::Entry;
    use crate::Date;

    fn entry(kind: EntryKind, status: EntryStatus, created_at: i64) -> Entry {
        Entry { kind, status, created_at, ..Entry::test("e1", 1) }
    }

    fn kinds(t: &[Timed]) -> Vec<(MessageKind, i64)> {
        let mut v: Vec<_> = t.iter().map(|t| (t.kind, t.at)).collect();
        v.sort_by_key(|x| x.1);
        v
    }

    #[test]
    fn waiting_table() {
        let signup = Date::parse("2026-11-29").unwrap().unix_ms();
        let far = Eta::new(Date::parse("2026-12-29").unwrap(), Date::parse("2027-01-05").unwrap()).unwrap();
        let near = Eta::new(Date::parse("2026-12-02").unwrap(), Date::parse("2026-12-02").unwrap()).unwrap();
        let p = Policy::default();
        // 30 days out: mid-wait at day 15; pre-orders also get the heads-up 4 days before.
        let e = entry(EntryKind::Notify, EntryStatus::Waiting, signup);
        assert_eq!(kinds(&pending(&e, Some(&far), &p)), [(MessageKind::MidwaitCheckin, signup + 15 * DAY_MS)]);
        let e = entry(EntryKind::Preorder, EntryStatus::Waiting, signup);
        assert_eq!(
            kinds(&pending(&e, Some(&far), &p)),
            [
                (MessageKind::MidwaitCheckin, signup + 15 * DAY_MS),
                (MessageKind::ShippingImminent, signup + 26 * DAY_MS)
            ]
        );
        // 3 days out: too short for a check-in, and already inside the heads-up window.
        assert!(pending(&e, Some(&near), &p).is_empty());
        // No ETA: nothing timed.
        assert!(pending(&e, None, &p).is_empty());
    }

    #[test]
    fn offered_table() {
        let p = Policy::default();
        let mut e = entry(EntryKind::Notify, EntryStatus::Offered, 0);
        e.offered_at = Some(1_000);
        e.hold_until = Some(1_000 + p.hold_ms);
        e.offer_seq = 2;
        assert_eq!(
            kinds(&pending(&e, None, &p)),
            [(MessageKind::NonopenerFollowup, 1_000 + 8 * HOUR_MS), (MessageKind::HoldReminder, 1_000 + 20 * HOUR_MS)]
        );
        e.engaged = true;
        e.mark_sent(MessageKind::HoldReminder, 2);
        assert!(pending(&e, None, &p).is_empty());
        // A hold shorter than the nudge delay gets no nudge.
        let short = Policy { hold_ms: 6 * HOUR_MS, ..p };
        e.engaged = false;
        e.hold_until = Some(1_000 + short.hold_ms);
        assert!(kinds(&pending(&e, None, &short)).iter().all(|(k, _)| *k != MessageKind::NonopenerFollowup));
    }
}
