//! `Pacer` Durable Object: one per provider key (a Resend, Postmark or SendGrid key, a Twilio
//! account, a shop's Klaviyo key), named by a SHA-256 of the key so the object never holds it.
//! Every SKU object that sends through the key asks it for a lease before each provider call;
//! the fair share and the window are `shared::pacer`'s, this file only decodes and answers.
//!
//! The window lives in memory: it is one second long, and an object evicted after its senders
//! went quiet has nothing left in it to forget. A provider's block (`Retry-After`) can outlast
//! that, so it is also written to storage and read back when the object starts.
//!
//! Concurrency assumption: a Durable Object runs one event at a time and the handler does not
//! await between reading the pacer and writing it back, so two senders' leases never interleave.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::pacer::{Lease, LeaseAsk, Pacer as Core};
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The binding of the class (wrangler.toml).
pub const PACER: &str = "PACER";

/// What a pacer is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PacerCall {
    /// Answers a [`Lease`]. The lease is counted at the pacer's own clock (plus the sender's dev
    /// clock offset), not the `now` the sender wrote before its call: a call that waited in a busy
    /// moment would otherwise be counted early, and the window would let the next one through
    /// less than a second after it.
    Lease { ask: LeaseAsk, offset_ms: i64 },
    /// The provider answered 429 with `Retry-After`: nobody on the key sends before `until`.
    Block { until: i64 },
}

/// The object of a provider key: `channel` and a SHA-256 of what identifies the key.
pub fn pacer_name(channel: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{channel}\n{key}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("pace {channel} {hex}")
}

#[durable_object]
pub struct Pacer {
    state: State,
    pacer: RefCell<Core>,
}

impl DurableObject for Pacer {
    fn new(state: State, _env: Env) -> Self {
        let db = state.storage().sql();
        let _ = db.exec("CREATE TABLE IF NOT EXISTS blocked (id INTEGER PRIMARY KEY, until INTEGER NOT NULL)", None);
        #[derive(Deserialize)]
        struct Until {
            until: i64,
        }
        let until = db
            .exec("SELECT until FROM blocked WHERE id = 1", None)
            .and_then(|c| c.to_array::<Until>())
            .ok()
            .and_then(|rows| rows.first().map(|r| r.until))
            .unwrap_or(0);
        Pacer { state, pacer: RefCell::new(Core::blocked(until)) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: PacerCall =
            serde_json::from_str(&req.text().await?).map_err(|e| worker::Error::RustError(e.to_string()))?;
        match call {
            PacerCall::Lease { mut ask, offset_ms } => {
                ask.now = crate::clock::real_now() + offset_ms;
                let lease: Lease = self.pacer.borrow_mut().lease(&ask);
                Response::from_json(&lease)
            }
            PacerCall::Block { until } => {
                let mut pacer = self.pacer.borrow_mut();
                pacer.block_until(until);
                self.state.storage().sql().exec(
                    "INSERT OR REPLACE INTO blocked (id, until) VALUES (1, ?)",
                    vec![pacer.blocked_until().into()],
                )?;
                Response::from_json(&pacer.blocked_until())
            }
        }
    }
}
