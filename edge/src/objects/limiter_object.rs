//! `Limiter` Durable Object: the signup limits of one subject of one shop — a client IP, or an
//! address (`Email::rate_key`) with its confirmation window — so that no signup waits behind the
//! shop's other signups in one object. Named, and keyed inside, by a SHA-256 of (shop, subject):
//! it stores hashes and counts, never an address or an IP.
//!
//! Concurrency assumption: a Durable Object runs one event at a time and the handler does not
//! await between reading a window and writing it back, so checks and counts never interleave.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shared::abuse::{Decision, Limiter as Limit, Window};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// Signups per client IP: generous, since shoppers behind one carrier NAT share an address during a drop.
pub const PER_IP: Limit = Limit { window_ms: 10 * 60 * 1000, max: 100 };
/// Signups per address across the shop's SKUs: one address cannot be used to flood its owner.
pub const PER_ADDRESS: Limit = Limit { window_ms: 60 * 60 * 1000, max: 10 };
/// Confirmation emails per address across the shop's SKUs: one per window.
pub const CONFIRMATIONS: Limit = Limit { window_ms: 15 * 60 * 1000, max: 1 };

/// Which limit a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Ip,
    Address,
    Confirmation,
}

impl Kind {
    fn limit(self) -> Limit {
        match self {
            Kind::Ip => PER_IP,
            Kind::Address => PER_ADDRESS,
            Kind::Confirmation => CONFIRMATIONS,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::Address => "address",
            Kind::Confirmation => "confirmation",
        }
    }
}

/// One signup's check against one subject's limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hit {
    /// Counted all or nothing; any refusal refuses the signup.
    pub gate: Vec<Kind>,
    /// Counted only when the gate lets the signup through; a refusal here is answered, not enforced.
    pub then: Vec<Kind>,
}

/// The wait before the gate opens (0: let through) and, when let through, the wait of each `then`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HitAnswer {
    pub gate_wait_ms: i64,
    pub then_wait_ms: Vec<i64>,
}

/// The object's name for a subject (`ip:…`, `addr:…`) of a shop.
pub fn object_name(shop: &str, subject: &str) -> String {
    let digest = Sha256::digest(format!("{shop}\n{subject}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[durable_object]
pub struct Limiter {
    state: State,
}

impl DurableObject for Limiter {
    fn new(state: State, _env: Env) -> Self {
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS windows (kind TEXT PRIMARY KEY, start_ms INTEGER NOT NULL, count INTEGER NOT NULL)",
            None,
        );
        Limiter { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let hit: Hit = serde_json::from_str(&req.text().await?).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let db = self.state.storage().sql();
        let now = crate::clock::real_now();
        let read = |kind: Kind| -> Result<Window> {
            let rows: Vec<Window> = db
                .exec("SELECT start_ms, count FROM windows WHERE kind = ?", vec![kind.as_str().into()])?
                .to_array()?;
            Ok(rows.into_iter().next().unwrap_or_default())
        };
        let write = |kind: Kind, w: &Window| -> Result<()> {
            db.exec(
                "INSERT OR REPLACE INTO windows (kind, start_ms, count) VALUES (?, ?, ?)",
                vec![kind.as_str().into(), w.start_ms.into(), i64::from(w.count).into()],
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
        // All or nothing: a refused signup uses up no allowance.
        if gate_wait_ms == 0 {
            for (kind, w) in &gate {
                write(*kind, w)?;
            }
            for kind in &hit.then {
                let mut w = read(*kind)?;
                match kind.limit().check(&mut w, now) {
                    Decision::Allow => {
                        write(*kind, &w)?;
                        then_wait_ms.push(0);
                    }
                    Decision::Deny { retry_after_ms } => then_wait_ms.push(retry_after_ms),
                }
            }
        }
        Response::from_json(&HitAnswer { gate_wait_ms, then_wait_ms })
    }
}
