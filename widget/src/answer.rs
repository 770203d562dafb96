//! The edge's answers, read field by field. The JSON is parsed by the browser (`JSON.parse`) and read
//! through the small [`Fields`] trait, so the widget carries no JSON library (serde_json and its float
//! formatting cost ~35 KB of wasm). Tested natively with `serde_json::Value` standing in for the
//! browser's objects.

use shared::wire::{EntryStatus, Mode, SignupResponse, SkuState};
use shared::{Date, Eta};

/// Read access to one parsed JSON object.
pub trait Fields: Sized {
    fn text(&self, key: &str) -> Option<String>;
    fn number(&self, key: &str) -> Option<f64>;
    fn flag(&self, key: &str) -> Option<bool>;
    fn object(&self, key: &str) -> Option<Self>;
}

/// Why a request to the edge did not give the answer we wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No answer at all (offline, DNS, CORS refused, aborted).
    Network,
    /// The edge failed (5xx) or answered something we cannot read.
    Server,
    /// The edge said no (4xx), with its stable `error.code` (empty when the body had none); also a 503
    /// whose code the widget explains (`turnstile_unavailable`).
    Rejected { status: u16, code: String },
}

impl ApiError {
    /// Whether trying the same request again may work.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Network | ApiError::Server => true,
            ApiError::Rejected { status, .. } => *status >= 500,
        }
    }
}

/// The 5xx codes the widget has its own sentence for; other 5xx answers are [`ApiError::Server`].
const EXPLAINED_5XX: [&str; 1] = ["turnstile_unavailable"];

/// An edge answer: 2xx bodies read by `read`, 4xx bodies as [`ApiError::Rejected`], the rest as
/// [`ApiError::Server`]. `body` is `None` when it was not JSON. `status` 0 means no answer at all
/// (what the loader passes for a request of its plain form that failed to reach the edge).
pub fn answer<F: Fields, T>(status: u16, body: Option<F>, read: fn(&F) -> Option<T>) -> Result<T, ApiError> {
    let code = |body: Option<F>| body.and_then(|b| b.object("error")).and_then(|e| e.text("code")).unwrap_or_default();
    match status {
        0 => Err(ApiError::Network),
        200..=299 => body.as_ref().and_then(read).ok_or(ApiError::Server),
        400..=499 => Err(ApiError::Rejected { status, code: code(body) }),
        _ => match code(body) {
            code if EXPLAINED_5XX.contains(&code.as_str()) => Err(ApiError::Rejected { status, code }),
            _ => Err(ApiError::Server),
        },
    }
}

fn count<F: Fields>(f: &F, key: &str) -> Option<i64> {
    f.number(key).map(|n| n as i64)
}

fn mode(s: &str) -> Mode {
    match s {
        "preorder" => Mode::Preorder,
        "backorder" => Mode::Backorder,
        _ => Mode::Restock,
    }
}

fn eta<F: Fields>(f: &F) -> Option<Eta> {
    let e = f.object("eta")?;
    let day = |k| e.text(k).and_then(|s| Date::parse(&s).ok());
    Eta::new(day("earliest")?, day("latest")?).ok()
}

/// `GET …/skus/{sku}`.
pub fn sku_state<F: Fields>(f: &F) -> Option<SkuState> {
    Some(SkuState {
        sku: f.text("sku")?,
        title: f.text("title").unwrap_or_default(),
        mode: mode(&f.text("mode").unwrap_or_default()),
        available: count(f, "available").unwrap_or(0),
        reserved: count(f, "reserved").unwrap_or(0),
        reserved_until: count(f, "reserved_until"),
        eta: eta(f),
        eta_text: f.text("eta_text").unwrap_or_default(),
        waiting: count(f, "waiting").unwrap_or(0).max(0) as u32,
        marketing: f.flag("marketing").unwrap_or(false),
    })
}

/// A signup's answer and a position look-up.
pub fn entry<F: Fields>(f: &F) -> Option<SignupResponse> {
    Some(SignupResponse {
        entry_id: f.text("entry_id")?,
        position: count(f, "position").map(|n| n.max(0) as u32),
        status: EntryStatus::parse(&f.text("status")?)?,
        eta: eta(f),
        eta_text: f.text("eta_text").unwrap_or_default(),
    })
}

/// `GET …/skus/{sku}/claims/{token}`: what a claim link in an email holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Whether the shopper can buy now (a running hold, or stock left for a no-hold notification).
    pub live: bool,
    /// When the hold ends (Unix ms), if the claim has one.
    pub hold_until: Option<i64>,
    /// The product page to buy on.
    pub url: Option<String>,
}

pub fn claim<F: Fields>(f: &F) -> Option<Claim> {
    Some(Claim { live: f.flag("live")?, hold_until: count(f, "hold_until"), url: f.text("url") })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Value};

    impl Fields for Value {
        fn text(&self, key: &str) -> Option<String> {
            self.get(key)?.as_str().map(String::from)
        }
        fn number(&self, key: &str) -> Option<f64> {
            self.get(key)?.as_f64()
        }
        fn flag(&self, key: &str) -> Option<bool> {
            self.get(key)?.as_bool()
        }
        fn object(&self, key: &str) -> Option<Value> {
            self.get(key).filter(|v| v.is_object()).cloned()
        }
    }

    fn check<T: PartialEq + std::fmt::Debug>(
        status: u16,
        body: &str,
        read: fn(&Value) -> Option<T>,
        want: Result<T, ApiError>,
    ) {
        let parsed = serde_json::from_str::<Value>(body).ok();
        assert_eq!(answer(status, parsed, read), want, "{status} {body}");
    }

    #[test]
    fn statuses_and_error_bodies() {
        let ok = r#"{"entry_id":"e1","position":2,"status":"waiting","eta":null,"eta_text":""}"#;
        let e1 = SignupResponse {
            entry_id: "e1".into(),
            position: Some(2),
            status: EntryStatus::Waiting,
            eta: None,
            eta_text: String::new(),
        };
        check(201, ok, entry, Ok(e1));
        check(200, "not json", entry, Err(ApiError::Server));
        check(200, r#"{"entry_id":"e1","status":"nonsense"}"#, entry, Err(ApiError::Server));
        check(503, ok, entry, Err(ApiError::Server));
        let rejected = |status, code: &str| Err(ApiError::Rejected { status, code: code.into() });
        check(422, r#"{"error":{"code":"invalid_email","message":"bad"}}"#, entry, rejected(422, "invalid_email"));
        check(400, "<html>", entry, rejected(400, ""));
        check(
            503,
            r#"{"error":{"code":"turnstile_unavailable","message":"later"}}"#,
            entry,
            rejected(503, "turnstile_unavailable"),
        );
        check(500, r#"{"error":{"code":"internal","message":"oops"}}"#, entry, Err(ApiError::Server));
        check(0, "", entry, Err(ApiError::Network));
        assert!(ApiError::Rejected { status: 503, code: "turnstile_unavailable".into() }.is_retryable());
        assert!(!ApiError::Rejected { status: 403, code: "turnstile_failed".into() }.is_retryable());
    }

    #[test]
    fn sku_state_fields() {
        let body = json!({"sku":"TEE","title":"Tee","mode":"preorder","available":3,"reserved":3,
            "reserved_until":1767225600000i64,"eta":{"earliest":"2026-12-07","latest":"2026-12-09"},
            "eta_text":"we expect…","waiting":4});
        let s = sku_state(&body).unwrap();
        assert_eq!(
            (s.mode, s.available, s.reserved, s.reserved_until, s.waiting),
            (Mode::Preorder, 3, 3, Some(1767225600000), 4)
        );
        assert_eq!(s.eta.unwrap().latest(), Date::parse("2026-12-09").unwrap());
        // Unknown modes read as restock; a bad ETA is no ETA; missing counts are zero.
        let s = sku_state(&json!({"sku":"X","mode":"rental","eta":{"earliest":"2026-12-09","latest":"2026-12-01"}}))
            .unwrap();
        assert_eq!((s.mode, s.eta, s.available, s.reserved_until), (Mode::Restock, None, 0, None));
        assert_eq!(sku_state(&json!({"title":"no sku"})), None);
    }

    #[test]
    fn claim_fields() {
        let c = claim(
            &json!({"entry_id":"e","status":"offered","units":1,"hold_until":5,"live":true,"title":"T","url":"https://x/p"}),
        );
        assert_eq!(c, Some(Claim { live: true, hold_until: Some(5), url: Some("https://x/p".into()) }));
        let c = claim(&json!({"live":false,"hold_until":null,"url":null}));
        assert_eq!(c, Some(Claim { live: false, hold_until: None, url: None }));
        assert_eq!(claim(&json!({})), None);
    }
}
