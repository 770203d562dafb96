//! The pacer of one provider key: hands out leases of messages per second to the senders (SKU
//! objects) that share the key, so that every SKU and shop sending through one Resend, Postmark,
//! SendGrid, Twilio or Klaviyo key stays inside that key's one limit together, and so that ten SKUs
//! restocking at once share it evenly instead of the first one taking it all.
//!
//! A lease is `granted` messages that may go *now*. It counts for one window ([`WINDOW_MS`]) from
//! its grant, or from when its calls returned once the sender says so with its next ask
//! (`LeaseAsk::done`): a sender that takes a lease and crashes costs the others at most one window,
//! and nothing is handed back. The share is max-min fair: while several senders want more than
//! they got, each may take about `rate / contenders` in any window, less while it is ahead of the
//! others' mean and more while it is behind; a sender alone (or the only one still wanting) may
//! take all the window has left, so no capacity idles.
//!
//! A provider's 429 with `Retry-After` blocks the whole key ([`Pacer::block_until`]): the provider
//! counts the key, not the sender.

use serde::{Deserialize, Serialize};

/// The window a rate counts over and a lease lives in: providers publish per-second limits.
pub const WINDOW_MS: i64 = 1000;
/// A sender counts as contending while its last lease, asked within this long, left it wanting:
/// a sender that stopped asking no longer shrinks the others' shares.
pub const CONTENDING_MS: i64 = 2 * WINDOW_MS;

/// What a sender asks: up to `want` messages now, at `rate` per second for the key (0: unpaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseAsk {
    pub sender: String,
    pub want: u32,
    pub rate: u32,
    pub now: i64,
    /// All `want` or nothing: a batch fixed before an earlier try goes again whole, under its key.
    /// It may exceed the fair share (it is a retry, and rare); while it waits for room, the window
    /// keeps that room for it ([`CONTENDING_MS`] at most), so smaller asks cannot starve it.
    #[serde(default)]
    pub whole: bool,
    /// The calls of the sender's previous lease (granted at `.0`) returned at `.1`: that lease
    /// counts from then on, so at the provider, which counts arrivals, no window holds more than
    /// the rate however long the calls took.
    #[serde(default)]
    pub done: Option<(i64, i64)>,
}

/// What the pacer grants: `granted` messages may go now (counted against the key); when fewer
/// than asked, `retry_at` is the earliest time more may be granted to this sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub granted: u32,
    pub retry_at: Option<i64>,
    /// The time the lease was counted at (the pacer's clock): the sender names it in `done`.
    #[serde(default)]
    pub at: i64,
}

/// One lease counted in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    at: i64,
    sender: String,
    n: u32,
}

/// A sender's last ask: when, and whether it was left wanting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Asked {
    sender: String,
    at: i64,
    wanting: bool,
    /// Its place in the rotation: the pacer's count at its last grant (or at its first ask).
    turn: u64,
    /// Messages granted while it kept asking, from the contenders' mean a window before it came:
    /// who got less than the others goes first and may catch up, who got more gives its lead back.
    served: u64,
}

/// The key's window of grants, who is contending for it, and the provider's block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pacer {
    /// In grant order; only those inside the window are kept (a grant told `done` counts from its
    /// calls' return, so the order is not always by time).
    grants: Vec<Grant>,
    asked: Vec<Asked>,
    blocked_until: i64,
    /// Grants and first asks so far: orders the senders by who was served longest ago.
    turns: u64,
    /// A whole ask waiting for room: its sender, size and when the room stops being kept.
    reserved: Option<(String, u32, i64)>,
}

impl Pacer {
    /// A pacer that remembers a provider block (kept in storage: a 429's `Retry-After` may be
    /// longer than the object stays in memory).
    pub fn blocked(until: i64) -> Pacer {
        Pacer { blocked_until: until, ..Pacer::default() }
    }

    pub fn blocked_until(&self) -> i64 {
        self.blocked_until
    }

    /// The provider said "not before `until`": nobody on the key sends before then.
    pub fn block_until(&mut self, until: i64) {
        self.blocked_until = self.blocked_until.max(until);
    }

    /// Grants what the key's window and the sender's fair share allow, and counts it.
    pub fn lease(&mut self, ask: &LeaseAsk) -> Lease {
        let now = ask.now;
        if let Some((granted_at, returned_at)) = ask.done {
            if let Some(g) = self.grants.iter_mut().find(|g| g.sender == ask.sender && g.at == granted_at) {
                g.at = g.at.max(returned_at);
            }
        }
        self.grants.retain(|g| g.at > now - WINDOW_MS);
        self.asked.retain(|a| a.at > now - CONTENDING_MS);
        if ask.want == 0 {
            return Lease { granted: 0, retry_at: None, at: now };
        }
        let prior = self.asked.iter().position(|a| a.sender == ask.sender).map(|i| self.asked.remove(i));
        let (turn, mut served) = match prior {
            Some(a) => (a.turn, a.served),
            // A newcomer starts level with the others as they stood a window ago: senders that
            // come within one window count as having come at once.
            None => {
                let n = self.asked.len() as u64;
                let before = |a: &Asked| {
                    let recent: u64 = self.grants.iter().filter(|g| g.sender == a.sender).map(|g| u64::from(g.n)).sum();
                    a.served.saturating_sub(recent)
                };
                let mean = self.asked.iter().map(before).sum::<u64>().checked_div(n).unwrap_or(0);
                (self.next_turn(), mean)
            }
        };
        if now < self.blocked_until {
            self.asked.push(Asked { sender: ask.sender.clone(), at: now, wanting: true, turn, served });
            return Lease { granted: 0, retry_at: Some(self.blocked_until), at: now };
        }
        if ask.rate == 0 {
            self.asked.push(Asked { sender: ask.sender.clone(), at: now, wanting: false, turn, served });
            return Lease { granted: ask.want, retry_at: None, at: now };
        }
        let used: u32 = self.grants.iter().map(|g| g.n).sum();
        let mine: u32 = self.grants.iter().filter(|g| g.sender == ask.sender).map(|g| g.n).sum();
        let free = ask.rate.saturating_sub(used);
        if self.reserved.as_ref().is_some_and(|(_, _, until)| *until <= now) {
            self.reserved = None;
        }
        let (granted, cap) = if ask.whole {
            // Never more than the rate in one window, even for a batch fixed larger than it.
            let need = ask.want.min(ask.rate);
            if free >= need {
                self.reserved = self.reserved.take().filter(|(s, _, _)| *s != ask.sender);
                (ask.want, free)
            } else {
                if self.reserved.is_none() {
                    self.reserved = Some((ask.sender.clone(), need, now + CONTENDING_MS));
                }
                (0, free)
            }
        } else {
            // The room kept for another's whole batch is its share already.
            let keeper = self.reserved.as_ref().filter(|(s, _, _)| *s != ask.sender);
            let free = free.saturating_sub(keeper.map_or(0, |(_, n, _)| *n));
            let others: Vec<&Asked> =
                self.asked.iter().filter(|a| a.wanting && keeper.is_none_or(|(s, _, _)| *s != a.sender)).collect();
            let cap = if others.is_empty() {
                free
            } else {
                // Rounded up, so every contender gets at least one per window the rate allows.
                let share = ask.rate.div_ceil(others.len() as u32 + 1);
                // Who got more than the contenders' mean (the first asker, alone in its first
                // window, took it whole) gives that lead back before it takes more; who got less
                // may take the difference on top of its share.
                let total: u64 = served + others.iter().map(|a| a.served).sum::<u64>();
                let mean = total / (others.len() as u64 + 1);
                let allowance = i64::from(share) - i64::from(mine) - (served as i64 - mean as i64);
                let allowance = u32::try_from(allowance.max(0)).unwrap_or(u32::MAX);
                // Room is kept for the contenders ahead (served less, or as much but longer ago):
                // each at least one, or what it is behind the mean.
                let ahead: u64 = others
                    .iter()
                    .filter(|a| (a.served, a.turn) < (served, turn))
                    .map(|a| mean.saturating_sub(a.served).max(1))
                    .sum();
                let ahead = u32::try_from(ahead).unwrap_or(u32::MAX);
                free.saturating_sub(ahead).min(allowance)
            };
            (ask.want.min(cap), cap)
        };
        if granted > 0 {
            self.grants.push(Grant { at: now, sender: ask.sender.clone(), n: granted });
        }
        let wanting = granted < ask.want;
        let turn = if granted > 0 { self.next_turn() } else { turn };
        served += u64::from(granted);
        self.asked.push(Asked { sender: ask.sender.clone(), at: now, wanting, turn, served });
        let retry_at = wanting.then(|| self.frees_at(&ask.sender, ask.whole || cap == free, now));
        Lease { granted, retry_at, at: now }
    }

    fn next_turn(&mut self) -> u64 {
        self.turns += 1;
        self.turns
    }

    /// When capacity frees for the sender: the oldest grant leaving the window (the key's, when
    /// the window is full; the sender's own, when its share is what held it).
    fn frees_at(&self, sender: &str, window_full: bool, now: i64) -> i64 {
        self.grants
            .iter()
            .filter(|g| window_full || g.sender == sender)
            .map(|g| g.at + WINDOW_MS)
            .min()
            .unwrap_or(now + 1)
            .max(now + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(sender: &str, want: u32, rate: u32, now: i64) -> LeaseAsk {
        LeaseAsk { sender: sender.into(), want, rate, now, whole: false, done: None }
    }

    #[test]
    fn a_sender_alone_takes_the_whole_rate_and_waits_for_the_window() {
        let mut p = Pacer::default();
        assert_eq!(p.lease(&ask("a", 60, 100, 0)), Lease { granted: 60, retry_at: None, at: 0 });
        assert_eq!(p.lease(&ask("a", 60, 100, 10)), Lease { granted: 40, retry_at: Some(1000), at: 10 });
        assert_eq!(p.lease(&ask("a", 60, 100, 500)), Lease { granted: 0, retry_at: Some(1000), at: 500 });
        // The first lease expired: its 60 are free again, the second's 40 not yet.
        assert_eq!(p.lease(&ask("a", 100, 100, 1000)).granted, 60);
    }

    #[test]
    fn a_lease_counts_from_when_its_calls_returned() {
        let mut p = Pacer::default();
        assert_eq!(p.lease(&ask("a", 10, 10, 0)).granted, 10);
        // Its ten calls took 400 ms: the next ten may go a second after the last returned.
        let next = LeaseAsk { done: Some((0, 400)), ..ask("a", 10, 10, 1000) };
        assert_eq!(p.lease(&next), Lease { granted: 0, retry_at: Some(1400), at: 1000 });
        assert_eq!(p.lease(&ask("a", 10, 10, 1400)).granted, 10);
    }

    #[test]
    fn unpaced_keys_grant_everything() {
        let mut p = Pacer::default();
        assert_eq!(p.lease(&ask("a", 5000, 0, 0)), Lease { granted: 5000, retry_at: None, at: 0 });
        assert_eq!(p.lease(&ask("a", 0, 100, 0)), Lease { granted: 0, retry_at: None, at: 0 });
    }

    #[test]
    fn a_block_holds_every_sender_of_the_key() {
        let mut p = Pacer::default();
        p.block_until(5000);
        p.block_until(3000);
        assert_eq!(p.blocked_until(), 5000);
        assert_eq!(p.lease(&ask("b", 10, 0, 100)), Lease { granted: 0, retry_at: Some(5000), at: 100 });
        assert_eq!(p.lease(&ask("a", 10, 100, 4999)), Lease { granted: 0, retry_at: Some(5000), at: 4999 });
        assert_eq!(p.lease(&ask("a", 10, 100, 5000)).granted, 10);
    }

    /// Ten senders that always want more, asking in turn every 10 ms for 30 s: the key never
    /// exceeds the rate in any window, and each gets a tenth of the rate (the first asker, alone
    /// in the first window, took it whole, and gives that lead back).
    #[test]
    fn contending_senders_share_evenly_and_the_key_stays_inside_its_rate() {
        for rate in [1, 7, 100, 200] {
            let mut p = Pacer::default();
            let mut got = [0u64; 10];
            // Granted per 10 ms tick: any 100 consecutive ticks are one window.
            let mut ticks: Vec<u32> = Vec::new();
            for tick in 0..3000 {
                let mut n = 0;
                for (i, g) in got.iter_mut().enumerate() {
                    let l = p.lease(&ask(&format!("sku-{i}"), 100, rate, tick * 10));
                    *g += u64::from(l.granted);
                    n += l.granted;
                }
                ticks.push(n);
            }
            for w in ticks.windows(100) {
                assert!(w.iter().sum::<u32>() <= rate, "rate {rate}: more than the rate in one window");
            }
            let total: u64 = got.iter().sum();
            assert!(total >= u64::from(rate) * 29, "rate {rate}: only {total} granted in 30 s");
            let (min, max) = (got.iter().min().unwrap(), got.iter().max().unwrap());
            assert!(max - min <= u64::from(rate).div_ceil(10) + 1, "rate {rate}: shares {got:?}");
        }
    }

    #[test]
    fn a_whole_batch_waits_for_room_and_the_window_keeps_it() {
        let mut p = Pacer::default();
        assert_eq!(p.lease(&ask("a", 80, 100, 0)).granted, 80);
        let batch = LeaseAsk { whole: true, ..ask("b", 50, 100, 10) };
        assert_eq!(p.lease(&batch), Lease { granted: 0, retry_at: Some(1000), at: 10 });
        // The room it waits for is kept: a may take only what exceeds it.
        assert_eq!(p.lease(&ask("a", 100, 100, 1000)).granted, 50);
        assert_eq!(p.lease(&LeaseAsk { now: 1001, ..batch.clone() }).granted, 50);
        // Kept no longer once granted.
        assert_eq!(p.lease(&ask("a", 100, 100, 2000)).granted, 50);
        // A batch larger than the rate goes when the window is empty.
        let big = LeaseAsk { want: 150, now: 3001, ..batch };
        assert_eq!(p.lease(&big).granted, 150);
    }

    /// Senders asking at their own irregular times for leases of different sizes (a batch of 100,
    /// chunks of 20, single sends), each coming back when its lease says: the key never exceeds
    /// its rate, and none gets less than half of an even share.
    #[test]
    fn irregular_senders_stay_inside_the_rate_and_none_starves() {
        let mut seed: u64 = 7;
        let mut rand = move |n: i64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as i64) % n
        };
        let rate = 200;
        let wants = [100u32, 20, 1];
        let mut p = Pacer::default();
        let mut next = [0i64, 3, 5];
        let mut got = [0u32; 3];
        let mut log: Vec<(i64, u32)> = Vec::new();
        while let Some((i, &at)) = next.iter().enumerate().min_by_key(|(_, t)| **t) {
            if at >= 30_000 {
                break;
            }
            let l = p.lease(&ask(&format!("s{i}"), wants[i], rate, at));
            got[i] += l.granted;
            log.push((at, l.granted));
            next[i] = l.retry_at.unwrap_or(at + 1 + rand(40));
        }
        let mut sum = 0;
        let mut lo = 0;
        for hi in 0..log.len() {
            sum += log[hi].1;
            while log[hi].0 - log[lo].0 >= WINDOW_MS {
                sum -= log[lo].1;
                lo += 1;
            }
            assert!(sum <= rate, "{sum} granted within one window");
        }
        // Single sends come back after each: they want far less than a third.
        let even = rate * 30 / 3;
        assert!(got[0] >= even / 2 && got[1] >= even / 2, "shares {got:?}");
        assert!(got.iter().sum::<u32>() >= rate * 29, "shares {got:?}");
    }

    #[test]
    fn a_sender_that_stops_wanting_leaves_its_share_to_the_others() {
        let mut p = Pacer::default();
        assert_eq!(p.lease(&ask("a", 100, 100, 0)).granted, 100);
        // b comes while the window is full: it waits, wanting.
        assert_eq!(p.lease(&ask("b", 100, 100, 10)), Lease { granted: 0, retry_at: Some(1000), at: 10 });
        // Both contend in the next window: a, 100 ahead, gives its lead back first.
        assert_eq!(p.lease(&ask("a", 100, 100, 1000)), Lease { granted: 0, retry_at: Some(1001), at: 1000 });
        assert_eq!(p.lease(&ask("b", 200, 100, 1001)).granted, 100);
        // Even again: half each.
        assert_eq!(p.lease(&ask("a", 100, 100, 2001)).granted, 50);
        assert_eq!(p.lease(&ask("b", 100, 100, 2002)).granted, 50);
        // b needed only a few more; a is then alone in wanting and takes the rest.
        assert_eq!(p.lease(&ask("b", 5, 100, 3002)).granted, 5);
        assert_eq!(p.lease(&ask("a", 100, 100, 3003)).granted, 95);
    }
}
