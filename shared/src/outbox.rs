//! Delivery policy for queued messages: what a provider's answer means and when to try again.

/// How long a message that keeps failing (5xx, no answer, 429) is tried, from its first try,
/// before it is dead-lettered: a provider's outage of a day loses nothing. Tries are not counted:
/// a 429 costs nothing but time.
pub const RETRY_HORIZON_MS: i64 = 24 * 60 * 60 * 1000;
/// First retry delay; doubles each try.
pub const BASE_DELAY_MS: i64 = 2_000;
/// Longest wait between two tries.
pub const MAX_DELAY_MS: i64 = 60 * 60 * 1000;
/// Longest `Retry-After` we accept from a provider before capping it.
pub const MAX_RETRY_AFTER_MS: i64 = 60 * 60 * 1000;

/// The order due messages go out in: offers and the end of holds first (a restock's first offer
/// never waits behind routine mail), then the rest. Lower goes first.
pub fn priority(kind: &str) -> u8 {
    use crate::wire::MessageKind as K;
    match K::parse(kind) {
        Some(k) if k.is_offer() || matches!(k, K::HoldReminder | K::HoldExpired) => 0,
        _ => 1,
    }
}

/// Where an outbox row goes. Every outbound call shares the outbox's guarantees: written with the
/// state change that caused it, one stable idempotency key, retried with backoff, dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// An email through the configured email provider.
    Email,
    /// A text message through the SMS provider (only with a phone and SMS consent).
    Sms,
    /// An outgoing event to one of the merchant's endpoints, signed with Standard Webhooks.
    Hook,
    /// A call to the merchant's Klaviyo account (profile, subscription, event).
    Klaviyo,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Email, Channel::Sms, Channel::Hook, Channel::Klaviyo];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Hook => "hook",
            Channel::Klaviyo => "klaviyo",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What happened when the provider was called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 2xx: the provider took the message.
    Accepted { provider_id: Option<String> },
    /// An HTTP status other than 2xx, with the `Retry-After` seconds if given.
    Status { status: u16, retry_after_secs: Option<i64>, body: String },
    /// No answer (connection refused, timeout).
    Network(String),
}

/// What to do with the message next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Sent {
        provider_id: Option<String>,
    },
    /// Try again at this Unix ms time.
    Retry {
        at: i64,
        reason: String,
    },
    /// Never try again: the address or the request is bad, or the tries ran out.
    Failed {
        reason: String,
    },
}

/// Decides after an attempt. `attempts` counts this one; `first_try_at`: when the first try was
/// made (this one's `now` for a first try); `jitter` in `[0, 1)` spreads retries.
pub fn decide(attempt: Attempt, attempts: u32, now: i64, first_try_at: i64, jitter: f64) -> Decision {
    let (reason, retry_after) = match attempt {
        Attempt::Accepted { provider_id } => return Decision::Sent { provider_id },
        Attempt::Status { status, retry_after_secs, body } => {
            let reason = format!("{status} {}", body.chars().take(200).collect::<String>());
            let retriable = status == 408 || status == 409 || status == 429 || status >= 500;
            if !retriable {
                return Decision::Failed { reason };
            }
            (reason, retry_after_secs.map(|s| (s.max(0) * 1000).min(MAX_RETRY_AFTER_MS)))
        }
        Attempt::Network(e) => (format!("network: {e}"), None),
    };
    let tried_for = now - first_try_at.min(now);
    if tried_for >= RETRY_HORIZON_MS {
        let hours = tried_for / (60 * 60 * 1000);
        return Decision::Failed { reason: format!("gave up after {attempts} tries over {hours} h: {reason}") };
    }
    Decision::Retry { at: now + retry_delay(attempts, jitter).max(retry_after.unwrap_or(0)), reason }
}

/// Exponential backoff with "equal jitter": half fixed, half random.
pub fn retry_delay(attempts: u32, jitter: f64) -> i64 {
    let exp = BASE_DELAY_MS.saturating_mul(1 << attempts.saturating_sub(1).min(20)).min(MAX_DELAY_MS);
    let jitter = jitter.clamp(0.0, 1.0);
    exp / 2 + ((exp / 2) as f64 * jitter) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decide_table() {
        let now = 1_000_000;
        let st = |status, ra| Attempt::Status { status, retry_after_secs: ra, body: "x".into() };
        assert_eq!(
            decide(Attempt::Accepted { provider_id: Some("p".into()) }, 1, now, now, 0.0),
            Decision::Sent { provider_id: Some("p".into()) }
        );
        assert!(matches!(decide(st(422, None), 1, now, now, 0.0), Decision::Failed { .. }));
        assert!(matches!(decide(st(400, None), 1, now, now, 0.0), Decision::Failed { .. }));
        assert_eq!(
            decide(st(500, None), 1, now, now, 0.0),
            Decision::Retry { at: now + 1_000, reason: "500 x".into() }
        );
        assert_eq!(
            decide(st(429, Some(30)), 1, now, now, 0.0),
            Decision::Retry { at: now + 30_000, reason: "429 x".into() }
        );
        assert!(matches!(decide(Attempt::Network("refused".into()), 2, now, now, 0.5), Decision::Retry { .. }));
        // Many tries within the horizon still retry; the first try a day back gives up.
        assert!(matches!(decide(st(503, None), 200, now, now - RETRY_HORIZON_MS + 1, 0.0), Decision::Retry { .. }));
        assert!(matches!(decide(st(503, None), 9, now, now - RETRY_HORIZON_MS, 0.0), Decision::Failed { .. }));
    }

    /// A message failing from its first try is retried for at least the horizon, whatever the
    /// jitter, and never waits more than an hour between tries.
    #[test]
    fn a_failing_message_is_tried_for_a_day_at_least_hourly() {
        for jitter in [0.0, 0.5, 0.999] {
            let first = 0;
            let (mut now, mut attempts) = (first, 1);
            loop {
                match decide(
                    Attempt::Status { status: 503, retry_after_secs: None, body: String::new() },
                    attempts,
                    now,
                    first,
                    jitter,
                ) {
                    Decision::Retry { at, .. } => {
                        assert!(at - now <= MAX_DELAY_MS, "waits at most an hour");
                        now = at;
                        attempts += 1;
                    }
                    Decision::Failed { .. } => break,
                    Decision::Sent { .. } => unreachable!(),
                }
            }
            assert!(now - first >= RETRY_HORIZON_MS, "jitter {jitter}: gave up after {} h", (now - first) / 3_600_000);
            assert!(now - first < RETRY_HORIZON_MS + MAX_DELAY_MS);
        }
    }

    #[test]
    fn delays_grow_and_cap() {
        let mut last = 0;
        for a in 1..=40 {
            let d = retry_delay(a, 0.0);
            assert!(d >= last);
            last = d;
        }
        assert!(retry_delay(40, 0.999) <= MAX_DELAY_MS);
        assert!(retry_delay(1, 0.999) < BASE_DELAY_MS);
    }
}
