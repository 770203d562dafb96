//! Abuse limits: a fixed-window rate limiter as a pure state machine. The edge keeps one [`Window`]
//! per key (an [`crate::Email::rate_key`], an IP, a shop) wherever it likes, passes `now` in, and
//! stores the window back; nothing here reads a clock.
//!
//! Fixed windows are two integers per key and need no log of past requests. The price: a caller
//! that times its bursts around a window boundary gets up to `2 × max` through in one `window_ms`.
//! For "at most one confirmation mail per address per hour" that is acceptable; where it is not,
//! halve the window.

use serde::{Deserialize, Serialize};

/// How many requests a key may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limiter {
    /// Window length in milliseconds. `<= 0` means every check opens a fresh window.
    pub window_ms: i64,
    /// Requests allowed per window. `0` refuses everything (with `retry_after_ms = window_ms`).
    pub max: u32,
}

/// One key's state: when its current window opened and how many requests it let through since.
/// Small and serializable so the edge can store it per key. `Window::default()` is a key never seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Unix ms when the current window opened.
    pub start_ms: i64,
    /// Requests allowed in the current window (denied ones are not counted).
    pub count: u32,
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; the window reopens in `retry_after_ms` (always `>= 1`, at most `window_ms`).
    Deny {
        retry_after_ms: i64,
    },
}

impl Limiter {
    /// Decides one request made at `now_ms` and updates `state`.
    ///
    /// A window that has run out, or let nothing through yet, (re)opens at `now_ms`. A denied request does
    /// not count, so a flood cannot lengthen its own ban. If `now_ms` is before the window's start
    /// (a clock stepped back, or state written by a host whose clock ran ahead), the window is
    /// re-anchored at `now_ms` with its count kept: never more allowed than the limit, and the
    /// wait never exceeds one window.
    pub fn check(&self, state: &mut Window, now_ms: i64) -> Decision {
        if now_ms < state.start_ms {
            state.start_ms = now_ms;
        }
        let ends_at = state.start_ms.saturating_add(self.window_ms);
        if state.count == 0 || self.window_ms <= 0 || now_ms >= ends_at {
            *state = Window { start_ms: now_ms, count: 0 };
        }
        if state.count < self.max {
            state.count += 1;
            Decision::Allow
        } else {
            let ends_at = state.start_ms.saturating_add(self.window_ms);
            Decision::Deny { retry_after_ms: ends_at.saturating_sub(now_ms).max(1) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;

    /// Runs `(now_ms, expected)` steps against one window, from a key never seen.
    fn check(limiter: Limiter, steps: &[(i64, Decision)]) {
        let mut state = Window::default();
        for (i, (now, want)) in steps.iter().enumerate() {
            assert_eq!(limiter.check(&mut state, *now), *want, "step {i} at {now}: state {state:?}");
        }
    }

    fn deny(retry_after_ms: i64) -> Decision {
        Decision::Deny { retry_after_ms }
    }

    const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn burst_up_to_max_then_deny() {
        let three_per_hour = Limiter { window_ms: HOUR, max: 3 };
        check(
            three_per_hour,
            &[
                (T0, Decision::Allow),
                (T0 + 1, Decision::Allow),
                (T0 + 2, Decision::Allow),
                (T0 + 3, deny(HOUR - 3)),
                (T0 + 1_000, deny(HOUR - 1_000)),
                (T0 + HOUR - 1, deny(1)),
            ],
        );
    }

    #[test]
    fn window_rolls_over() {
        let one_per_hour = Limiter { window_ms: HOUR, max: 1 };
        check(
            one_per_hour,
            &[
                (T0, Decision::Allow),
                (T0 + 10, deny(HOUR - 10)),
                // Exactly at the end the window reopens.
                (T0 + HOUR, Decision::Allow),
                (T0 + HOUR + 5, deny(HOUR - 5)),
                // Long idle: a fresh window from that moment, not aligned to the old one.
                (T0 + 10 * HOUR + 7, Decision::Allow),
                (T0 + 11 * HOUR + 6, deny(1)),
                (T0 + 11 * HOUR + 7, Decision::Allow),
            ],
        );
    }

    #[test]
    fn denied_requests_do_not_count() {
        let two = Limiter { window_ms: 1_000, max: 2 };
        let mut state = Window::default();
        for now in [T0, T0 + 1] {
            assert_eq!(two.check(&mut state, now), Decision::Allow);
        }
        for now in T0 + 2..T0 + 500 {
            assert!(matches!(two.check(&mut state, now), Decision::Deny { .. }));
        }
        assert_eq!(state, Window { start_ms: T0, count: 2 });
        assert_eq!(two.check(&mut state, T0 + 1_000), Decision::Allow);
    }

    #[test]
    fn edge_cases() {
        // max 0 refuses everything, with a sensible wait.
        check(Limiter { window_ms: HOUR, max: 0 }, &[(T0, deny(HOUR)), (T0 + 1, deny(HOUR))]);
        // A zero window: every check is its own window, so nothing is limited.
        check(Limiter { window_ms: 0, max: 1 }, &[(T0, Decision::Allow), (T0, Decision::Allow)]);
        // Clock stepped back: re-anchored, count kept, wait bounded by one window.
        check(
            Limiter { window_ms: HOUR, max: 1 },
            &[(T0, Decision::Allow), (T0 - 5 * HOUR, deny(HOUR)), (T0 - 4 * HOUR, Decision::Allow)],
        );
        // Extremes do not overflow.
        check(
            Limiter { window_ms: i64::MAX, max: 1 },
            &[(i64::MAX - 1, Decision::Allow), (i64::MIN, deny(i64::MAX)), (i64::MAX, Decision::Allow)],
        );
    }

    #[test]
    fn window_is_small_on_the_wire() {
        let json = serde_json::to_string(&Window { start_ms: T0, count: 2 }).unwrap();
        assert_eq!(json, r#"{"start_ms":1767225600000,"count":2}"#);
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), Window { start_ms: T0, count: 2 });
    }

    proptest! {
        /// However requests are spaced, no window of `window_ms` starting at an allowed request
        /// lets more than `2 × max` through, no single fixed window more than `max`, and every
        /// denial's wait is within one window and ends when a request would be allowed again.
        #[test]
        fn never_more_than_max_per_window(
            window_ms in 1i64..10_000,
            max in 0u32..6,
            gaps in proptest::collection::vec(0i64..3_000, 1..200),
        ) {
            let limiter = Limiter { window_ms, max };
            let mut state = Window::default();
            let mut now = T0;
            let mut allowed: Vec<i64> = Vec::new();
            for gap in gaps {
                now += gap;
                match limiter.check(&mut state, now) {
                    Decision::Allow => allowed.push(now),
                    Decision::Deny { retry_after_ms } => {
                        prop_assert!((1..=window_ms).contains(&retry_after_ms));
                        if max == 0 {
                            continue;
                        }
                        let mut probe = state;
                        prop_assert_eq!(limiter.check(&mut probe, now + retry_after_ms), Decision::Allow);
                        if retry_after_ms > 1 {
                            let mut probe = state;
                            let denied = matches!(limiter.check(&mut probe, now + retry_after_ms - 1), Decision::Deny { .. });
                            prop_assert!(denied);
                        }
                    }
                }
                prop_assert!(state.count <= max);
            }
            for (i, &t) in allowed.iter().enumerate() {
                let in_window = allowed[i..].iter().take_while(|&&u| u < t + window_ms).count();
                prop_assert!(in_window as u64 <= 2 * u64::from(max), "{} allowed within {}ms of {}", in_window, window_ms, t);
            }
        }
    }
}
