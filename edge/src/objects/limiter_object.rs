//! `Limiter` Durable Object: the signup limits of a shop's addresses (`Email::rate_key`) with their
//! confirmation windows, spread over [`SHARDS`] objects per shop, so that no signup waits behind the
//! shop's other signups in one object, and a drop's thousands of first-time shoppers land on a few
//! warm objects instead of each creating its own. An address's windows live in one shard, chosen
//! and keyed by a SHA-256 of (shop, address): a shard stores hashes and counts, never an address,
//! and drops windows once they have run out. (Client IPs are counted by Cloudflare's Rate Limiting
//! binding: `api::ip_limit`.)
//!
//! The shard also keeps a copy of the shop's unsubscribes of its addresses (`optouts`, under the
//! same keyed hashes as the shop's suppression list), so a signup learns in the same call whether the address opted out and must confirm
//! first. The shop's suppression list stays the authority for sending; this copy is written
//! before the shop's row on an unsubscribe and removed after it on a confirmed opt-in
//! (`suppression::suppress` / `lift`), so a failure in between can only ask for one confirmation
//! too many, never let a bare signup past an opt-out.
//!
//! Concurrency assumption: a Durable Object runs one event at a time and the handler does not
//! await between reading a window and writing it back, so checks and counts never interleave.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::abuse::{Decision, Limiter as Limit, Window};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// Signups per address across the shop's SKUs: one address cannot be used to flood its owner.
pub const PER_ADDRESS: Limit = Limit { window_ms: 60 * 60 * 1000, max: 10 };
/// Confirmation emails per address across the shop's SKUs: one per window.
pub const CONFIRMATIONS: Limit = Limit { window_ms: 15 * 60 * 1000, max: 1 };
/// Limiter objects per shop. Each takes its share of the shop's signups (one call per signup), far
/// below what one object serves.
pub const SHARDS: u32 = 16;
/// Run-out windows a call deletes at most (a call writes at most three): storage stays bounded by
/// the subjects seen in the last hour, and no call does more than a few rows of upkeep.
const PRUNE_PER_CALL: i64 = 8;

/// Which limit a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Address,
    Confirmation,
}

impl Kind {
    fn limit(self) -> Limit {
        match self {
            Kind::Address => PER_ADDRESS,
            Kind::Confirmation => CONFIRMATIONS,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Address => "address",
            Kind::Confirmation => "confirmation",
        }
    }
}

/// Where a subject (`addr:…`; `ip:…` for the IP binding's key) of a shop is counted: its shard's
/// object name, and its key inside the shard (hex SHA-256 of the pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub object: String,
    pub key: String,
}

impl Subject {
    pub fn of(shop: &str, subject: &str) -> Subject {
        let digest = Sha256::digest(format!("{shop}\n{subject}").as_bytes());
        let shard = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SHARDS;
        Subject { object: shard_object(shop, shard), key: digest.iter().map(|b| format!("{b:02x}")).collect() }
    }
}

/// The name of one of a shop's shards (`0..SHARDS`).
pub fn shard_object(shop: &str, shard: u32) -> String {
    format!("{shop}\nlimits {shard}")
}

/// One signup's check against one subject's limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    /// The subject's key in its shard ([`Subject::key`]).
    pub key: String,
    /// Counted all or nothing; any refusal refuses the signup.
    pub gate: Vec<Kind>,
    /// Counted only when the gate lets the signup through; a refusal here is answered, not enforced.
    pub then: Vec<Kind>,
    /// The address's suppression key (`suppression::key`): the answer says whether it unsubscribed.
    #[serde(default)]
    pub optout: Option<String>,
}

/// The wait before the gate opens (0: let through) and, when let through, the wait of each `then`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HitAnswer {
    pub gate_wait_ms: i64,
    pub then_wait_ms: Vec<i64>,
    /// What the hit counted, so that a signup refused by another check can give it back.
    pub counted: Vec<Counted>,
    /// The hit's `optout` key is on the shard's copy of the shop's unsubscribes.
    #[serde(default)]
    pub opted_out: bool,
}

/// One count a hit added: the window it went into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub kind: Kind,
    pub start_ms: i64,
}

/// Gives back what a hit counted, for a signup that another check refused. A count whose window
/// has since run out or reopened is not touched (nothing of it is left to give back).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Refund {
    pub key: String,
    pub counted: Vec<Counted>,
}

/// What a limiter object is asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LimitCall {
    Hit(Hit),
    Refund(Refund),
    /// Marks (`opted_out`) or clears an address's unsubscribe in the shard's copy.
    OptOut {
        key: String,
        opted_out: bool,
    },
    /// Forgets everything the shard holds (the shop is gone).
    Purge,
}

/// The shard of an address's limits (`addr:` + `Email::rate_key`), which also keeps its opt-out copy.
pub fn address_subject(shop: &str, email: &shared::Email) -> Subject {
    Subject::of(shop, &format!("addr:{}", email.rate_key()))
}

#[durable_object]
pub struct Limiter {
    state: State,
}

impl DurableObject for Limiter {
    fn new(state: State, _env: Env) -> Self {
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS limits (key TEXT NOT NULL, kind TEXT NOT NULL, start_ms INTEGER NOT NULL, \
             count INTEGER NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (key, kind)); \
             CREATE INDEX IF NOT EXISTS limits_by_expiry ON limits (expires_ms); \
             CREATE TABLE IF NOT EXISTS optouts (key TEXT PRIMARY KEY);",
            None,
        );
        Limiter { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: LimitCall =
            serde_json::from_str(&req.text().await?).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let db = self.state.storage().sql();
        let hit = match call {
            LimitCall::Hit(hit) => hit,
            LimitCall::Refund(refund) => {
                for c in &refund.counted {
                    db.exec(
                        "UPDATE limits SET count = count - 1 WHERE key = ? AND kind = ? AND start_ms = ? AND count > 0",
                        vec![refund.key.as_str().into(), c.kind.as_str().into(), c.start_ms.into()],
                    )?;
                }
                return Response::from_json(&serde_json::json!({"refunded": refund.counted.len()}));
            }
            LimitCall::OptOut { key, opted_out } => {
                let sql = if opted_out {
                    "INSERT OR IGNORE INTO optouts (key) VALUES (?)"
                } else {
                    "DELETE FROM optouts WHERE key = ?"
                };
                db.exec(sql, vec![key.into()])?;
                return Response::from_json(&opted_out);
            }
            LimitCall::Purge => {
                db.exec("DELETE FROM limits; DELETE FROM optouts;", None)?;
                return Response::from_json(&true);
            }
        };
        let now = crate::clock::real_now();
        // A run-out window counts nothing (`Limit::check` reopens it): dropping it changes no answer.
        db.exec(
            "DELETE FROM limits WHERE rowid IN (SELECT rowid FROM limits WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?)",
            vec![now.into(), PRUNE_PER_CALL.into()],
        )?;
        let read = |kind: Kind| -> Result<Window> {
            let rows: Vec<Window> = db
                .exec(
                    "SELECT start_ms, count FROM limits WHERE key = ? AND kind = ?",
                    vec![hit.key.as_str().into(), kind.as_str().into()],
                )?
                .to_array()?;
            Ok(rows.into_iter().next().unwrap_or_default())
        };
        let write = |kind: Kind, w: &Window| -> Result<()> {
            db.exec(
                "INSERT OR REPLACE INTO limits (key, kind, start_ms, count, expires_ms) VALUES (?, ?, ?, ?, ?)",
                vec![
                    hit.key.as_str().into(),
                    kind.as_str().into(),
                    w.start_ms.into(),
                    i64::from(w.count).into(),
                    w.start_ms.saturating_add(kind.limit().window_ms).into(),
                ],
            )?;
            Ok(())
        };
        let mut gate = Vec::with_capacity(hit.gate.len());
        let mut gate_wait_ms = 0i64;
        for kind in &hit.gate {
            let mut w = read(*kind)?;
            if let Decision::Deny { retry_after_ms } = kind.limit().check(&mut w, now) {
                gate_wait_ms = gate_wait_ms.max(retry_after_ms);
            }
            gate.push((*kind, w));
        }
        let mut then_wait_ms = Vec::new();
        let mut counted = Vec::new();
        // All or nothing: a refused signup uses up no allowance.
        if gate_wait_ms == 0 {
            for (kind, w) in &gate {
                write(*kind, w)?;
                counted.push(Counted { kind: *kind, start_ms: w.start_ms });
            }
            for kind in &hit.then {
                let mut w = read(*kind)?;
                match kind.limit().check(&mut w, now) {
                    Decision::Allow => {
                        write(*kind, &w)?;
                        counted.push(Counted { kind: *kind, start_ms: w.start_ms });
                        then_wait_ms.push(0);
                    }
                    Decision::Deny { retry_after_ms } => then_wait_ms.push(retry_after_ms),
                }
            }
        }
        let opted_out = match &hit.optout {
            Some(key) => !db
                .exec("SELECT 1 AS one FROM optouts WHERE key = ?", vec![key.as_str().into()])?
                .to_array::<serde_json::Value>()?
                .is_empty(),
            None => false,
        };
        Response::from_json(&HitAnswer { gate_wait_ms, then_wait_ms, counted, opted_out })
    }
}
