//! Webhook signature checks: Shopify's `X-Shopify-Hmac-Sha256` and Standard Webhooks
//! (`webhook-id` / `webhook-timestamp` / `webhook-signature`, secrets `whsec_…`).
//!
//! Every comparison is constant-time (`Mac::verify_slice`). Several secrets may be live at once
//! (rotation): a body signed with any of them is accepted. There is no "empty secret means skip".

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Standard Webhooks' replay window: a timestamp further than this from now, either way, is refused.
pub const TOLERANCE_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature is malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
    #[error("webhook timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("webhook timestamp is outside the 5 minute tolerance")]
    Expired,
    #[error("no webhook secret is configured for this shop")]
    NoSecret,
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

/// Shopify: base64 HMAC-SHA256 of the raw body, keyed by the app's client secret.
pub fn verify_shopify(body: &[u8], header: Option<&str>, secrets: &[String]) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let sig = B64.decode(header).map_err(|_| SignatureError::Malformed)?;
    if sig.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    let secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    for secret in secrets {
        let mut m = mac(secret.as_bytes());
        m.update(body);
        if m.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// Signs like Shopify does (used by tests and the demo's inventory simulator).
pub fn sign_shopify(body: &[u8], secret: &str) -> String {
    let mut m = mac(secret.as_bytes());
    m.update(body);
    B64.encode(m.finalize().into_bytes())
}

/// The headers of a Standard Webhooks request.
#[derive(Debug, Clone, Copy)]
pub struct StandardHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, space-separated list,
/// key = base64 part of `whsec_…`. `now_secs` is the receiver's clock.
pub fn verify_standard(
    headers: StandardHeaders<'_>,
    body: &[u8],
    secrets: &[String],
    now_secs: i64,
) -> Result<(), SignatureError> {
    let id = headers.id.filter(|s| !s.is_empty()).ok_or(SignatureError::Missing)?;
    let ts_raw = headers.timestamp.filter(|s| !s.is_empty()).ok_or(SignatureError::Missing)?;
    let sig_header = headers.signature.map(str::trim).filter(|s| !s.is_empty()).ok_or(SignatureError::Missing)?;
    if ts_raw.len() > 12 || !ts_raw.bytes().all(|c| c.is_ascii_digit()) {
        return Err(SignatureError::BadTimestamp);
    }
    let ts: i64 = ts_raw.parse().map_err(|_| SignatureError::BadTimestamp)?;
    if (now_secs - ts).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Expired);
    }
    let keys: Vec<Vec<u8>> = secrets.iter().filter_map(|s| standard_key(s)).collect();
    if keys.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let candidates: Vec<Vec<u8>> = sig_header
        .split(' ')
        .filter_map(|part| part.strip_prefix("v1,"))
        .filter_map(|b64| B64.decode(b64).ok())
        .filter(|sig| sig.len() == 32)
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    for key in &keys {
        let mut m = mac(key);
        m.update(id.as_bytes());
        m.update(b".");
        m.update(ts_raw.as_bytes());
        m.update(b".");
        m.update(body);
        for sig in &candidates {
            if m.clone().verify_slice(sig).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// Signs like a Standard Webhooks sender.
pub fn sign_standard(id: &str, timestamp: i64, body: &[u8], secret: &str) -> Option<String> {
    let key = standard_key(secret)?;
    let mut m = mac(&key);
    m.update(format!("{id}.{timestamp}.").as_bytes());
    m.update(body);
    Some(format!("v1,{}", B64.encode(m.finalize().into_bytes())))
}

/// Whether a string is a usable Standard Webhooks secret (`whsec_` + base64 of at least 16 bytes).
pub fn is_standard_secret(secret: &str) -> bool {
    standard_key(secret).is_some_and(|k| k.len() >= 16)
}

fn standard_key(secret: &str) -> Option<Vec<u8>> {
    B64.decode(secret.strip_prefix("whsec_")?).ok().filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// What a check answers.
    type Verdict = Result<(), SignatureError>;
    /// A Standard Webhooks case: the `webhook-id`, `webhook-timestamp` and `webhook-signature`
    /// headers (each may be missing), and what the check answers.
    type StandardCase<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, Verdict);

    #[test]
    fn shopify_table() {
        let body = br#"{"inventory_item_id":1,"available":3}"#;
        let good = sign_shopify(body, "s1");
        let secrets = vec!["old".to_owned(), "s1".to_owned()];
        let cases: &[(&[u8], Option<&str>, Verdict)] = &[
            (body, Some(&good), Ok(())),
            (br#"{"inventory_item_id": 1,"available":3}"#, Some(&good), Err(SignatureError::Mismatch)),
            (body, None, Err(SignatureError::Missing)),
            (body, Some(""), Err(SignatureError::Missing)),
            (body, Some("not base64!"), Err(SignatureError::Malformed)),
            (body, Some(&good[..20]), Err(SignatureError::Malformed)),
        ];
        for (b, h, want) in cases {
            assert_eq!(verify_shopify(b, *h, &secrets), *want, "{h:?}");
        }
        assert_eq!(verify_shopify(body, Some(&good), &[]), Err(SignatureError::NoSecret));
        assert_eq!(verify_shopify(body, Some(&good), &["".to_owned()]), Err(SignatureError::NoSecret));
    }

    #[test]
    fn standard_webhooks_reference_vector() {
        // The reference vector published with the Standard Webhooks specification.
        let body = br#"{"test": 2432232314}"#;
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let h = StandardHeaders {
            id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            timestamp: Some("1614265330"),
            signature: Some(sig),
        };
        assert_eq!(verify_standard(h, body, &[WHSEC.to_owned()], 1_614_265_330), Ok(()));
        assert_eq!(sign_standard("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body, WHSEC).as_deref(), Some(sig));
    }

    #[test]
    fn standard_table() {
        let body = br#"{"sku":"A","available":5}"#;
        let now = 1_800_000_000;
        let good = sign_standard("wh_1", now, body, WHSEC).unwrap();
        let other = sign_standard("wh_1", now, body, "whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldA==").unwrap();
        let ts = now.to_string();
        let several = format!("{other} {good}");
        let cases: Vec<StandardCase> = vec![
            (Some("wh_1"), Some(&ts), Some(&good), Ok(())),
            (Some("wh_1"), Some(&ts), Some(&several), Ok(())),
            (Some("wh_2"), Some(&ts), Some(&good), Err(SignatureError::Mismatch)),
            (None, Some(&ts), Some(&good), Err(SignatureError::Missing)),
            (Some("wh_1"), Some(&ts), None, Err(SignatureError::Missing)),
            (Some("wh_1"), Some(&ts), Some(""), Err(SignatureError::Missing)),
            (Some("wh_1"), Some(&ts), Some("v1,"), Err(SignatureError::Malformed)),
            (Some("wh_1"), Some(&ts), Some("v2,abc"), Err(SignatureError::Malformed)),
            (Some("wh_1"), Some(&ts), Some("v1,***"), Err(SignatureError::Malformed)),
            (Some("wh_1"), Some(&ts), Some(&good[..good.len() - 8]), Err(SignatureError::Malformed)),
            (Some("wh_1"), Some("1799999600"), Some(&good), Err(SignatureError::Expired)),
            (Some("wh_1"), Some("1800000400"), Some(&good), Err(SignatureError::Expired)),
            (Some("wh_1"), Some("-5"), Some(&good), Err(SignatureError::BadTimestamp)),
            (Some("wh_1"), Some("abc"), Some(&good), Err(SignatureError::BadTimestamp)),
            (Some("wh_1"), Some("99999999999999999999999"), Some(&good), Err(SignatureError::BadTimestamp)),
        ];
        for (id, t, s, want) in cases {
            let h = StandardHeaders { id, timestamp: t, signature: s };
            assert_eq!(verify_standard(h, body, &[WHSEC.to_owned()], now), want, "{id:?} {t:?} {s:?}");
        }
        // Rotation: old and new secret both accepted.
        let h = StandardHeaders { id: Some("wh_1"), timestamp: Some(&ts), signature: Some(&good) };
        assert_eq!(
            verify_standard(h, body, &["whsec_b3RoZXJzZWNyZXRvdGhlcnNlY3JldA==".to_owned(), WHSEC.to_owned()], now),
            Ok(())
        );
        assert_eq!(verify_standard(h, body, &["nope".to_owned()], now), Err(SignatureError::NoSecret));
        // Changing the body after signing.
        assert_eq!(
            verify_standard(h, br#"{"sku":"A", "available":5}"#, &[WHSEC.to_owned()], now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn sign_standard_round_trips_through_verify_standard() {
        // What our outgoing events send is what a Standard Webhooks receiver accepts.
        let secret = format!("whsec_{}", B64.encode("restock-outgoing-events-key-0001"));
        let secrets = [secret.clone()];
        let body = br#"{"type":"offer.sent","timestamp":"2026-11-29T10:00:00.000Z","data":{}}"#;
        for (id, ts) in [("acme:offer.sent:o1:zap", 1_800_000_000), ("msg_1", 1_614_265_330)] {
            let sig = sign_standard(id, ts, body, &secret).unwrap();
            let t = ts.to_string();
            let h = StandardHeaders { id: Some(id), timestamp: Some(&t), signature: Some(&sig) };
            assert_eq!(verify_standard(h, body, &secrets, ts + 60), Ok(()));
            let other = StandardHeaders { id: Some("another-id"), ..h };
            assert_eq!(verify_standard(other, body, &secrets, ts), Err(SignatureError::Mismatch));
        }
        assert_eq!(sign_standard("id", 0, body, "not-a-whsec"), None);
    }

    proptest! {
        #[test]
        fn sign_then_verify(id in "[a-zA-Z0-9_:.-]{1,40}", ts in 1_000_000_000i64..4_000_000_000, body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let sig = sign_standard(&id, ts, &body, WHSEC).unwrap();
            let t = ts.to_string();
            let h = StandardHeaders { id: Some(&id), timestamp: Some(&t), signature: Some(&sig) };
            prop_assert_eq!(verify_standard(h, &body, &[WHSEC.to_owned()], ts), Ok(()));
        }
    }

    proptest! {
        #[test]
        fn verifiers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..64), sig in "\\PC{0,80}", ts in "\\PC{0,24}") {
            let _ = verify_shopify(&body, Some(&sig), &["k".to_owned()]);
            let h = StandardHeaders { id: Some("x"), timestamp: Some(&ts), signature: Some(&sig) };
            let _ = verify_standard(h, &body, &[WHSEC.to_owned()], 0);
        }
    }
}
