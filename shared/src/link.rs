//! Signed links in emails (claim a hold, cancel a backorder, unsubscribe, tracked click): tokens the
//! edge verifies with the shop's link secret alone, no storage.
//!
//! A token is `base64url(json claims) "." base64url(HMAC-SHA256(secret, DOMAIN || payload))`, both
//! parts without padding, so it can sit in a URL path or query unescaped. The MAC is checked (in
//! constant time) before the payload is parsed; the purpose is the caller's to check.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use thiserror::Error;

/// Longest token accepted, in bytes: claims are a few ids and at most one URL; anything longer is
/// junk, and refusing it early bounds the work done for an unauthenticated request.
pub const MAX_TOKEN_LEN: usize = 2048;

/// Mixed into every MAC so a link token can never be mistaken for another use of the same secret.
const DOMAIN: &[u8] = b"restock-link/v1\n";

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Buy the unit held for an entry (or manage the order).
    Claim,
    /// Cancel and refund a backorder.
    Cancel,
    /// Leave the list.
    Unsubscribe,
    /// A tracked click: record it, then redirect to `target`.
    Click,
    /// Confirm a signup (double opt-in).
    Confirm,
}

/// What a token says. Short field names keep the token (and the URL) short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkClaims {
    #[serde(rename = "p")]
    pub purpose: Purpose,
    #[serde(rename = "s")]
    pub shop: String,
    #[serde(rename = "k")]
    pub sku: String,
    #[serde(rename = "e")]
    pub entry_id: String,
    /// For [`Purpose::Click`]: the `http(s)` URL to redirect to.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Unix ms after which the link is refused.
    #[serde(rename = "x")]
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LinkError {
    #[error("the link is too long")]
    TooLong,
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
}

impl LinkError {
    /// The stable machine-readable code sent as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            LinkError::Expired => "link_expired",
            LinkError::TooLong | LinkError::Malformed | LinkError::BadSignature => "invalid_link",
        }
    }
}

/// Signs `claims` into a URL-safe token.
pub fn sign(secret: &[u8], claims: &LinkClaims) -> String {
    // Serializing plain strings, an enum and an integer cannot fail.
    let json = serde_json::to_vec(claims).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD.encode(json);
    let tag = mac(secret, &payload).finalize().into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks a token's signature and expiry and returns its claims. Never panics, whatever `token` is.
pub fn verify(secret: &[u8], token: &str, now_ms: i64) -> Result<LinkClaims, LinkError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(LinkError::TooLong);
    }
    let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| LinkError::Malformed)?;
    mac(secret, payload).verify_slice(&tag).map_err(|_| LinkError::BadSignature)?;
    let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Malformed)?;
    let claims: LinkClaims = serde_json::from_slice(&json).map_err(|_| LinkError::Malformed)?;
    if claims.purpose == Purpose::Click {
        let target = claims.target.as_deref().unwrap_or_default();
        if !(target.starts_with("https://") || target.starts_with("http://")) {
            return Err(LinkError::Malformed);
        }
    }
    if now_ms >= claims.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

fn mac(secret: &[u8], payload: &str) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(DOMAIN);
    m.update(payload.as_bytes());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"link-secret-0123456789";
    const NOW: i64 = 1_796_140_800_000;

    fn claims(purpose: Purpose) -> LinkClaims {
        LinkClaims {
            purpose,
            shop: "acme".into(),
            sku: "tee-black-m".into(),
            entry_id: "01JDEF".into(),
            target: (purpose == Purpose::Click).then(|| "https://acme.test/products/tee?variant=1".into()),
            expires_at: NOW + 3_600_000,
        }
    }

    #[test]
    fn round_trip_every_purpose() {
        for p in [Purpose::Claim, Purpose::Cancel, Purpose::Unsubscribe, Purpose::Click, Purpose::Confirm] {
            let token = sign(SECRET, &claims(p));
            assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'), "{token}");
            assert_eq!(verify(SECRET, &token, NOW), Ok(claims(p)));
        }
    }

    #[test]
    fn rejections() {
        let token = sign(SECRET, &claims(Purpose::Claim));
        let (payload, tag) = token.split_once('.').unwrap();
        let mut forged = claims(Purpose::Claim);
        forged.entry_id = "someone-else".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let flip = |s: &str| {
            let mut b = s.as_bytes().to_vec();
            b[1] = if b[1] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).unwrap()
        };
        let unsigned_click = {
            let mut c = claims(Purpose::Click);
            c.target = Some("javascript:alert(1)".into());
            sign(SECRET, &c)
        };
        let cases = [
            (format!("{forged_payload}.{tag}"), LinkError::BadSignature),
            (format!("{}.{tag}", flip(payload)), LinkError::BadSignature),
            (format!("{payload}.{}", flip(tag)), LinkError::BadSignature),
            (format!("{payload}.{}", &tag[..tag.len() - 2]), LinkError::Malformed),
            (format!("{payload}.{tag}="), LinkError::Malformed),
            (payload.to_owned(), LinkError::Malformed),
            (String::new(), LinkError::Malformed),
            (".".into(), LinkError::BadSignature),
            ("a.b.c".into(), LinkError::Malformed),
            (unsigned_click, LinkError::Malformed),
            ("x".repeat(MAX_TOKEN_LEN + 1), LinkError::TooLong),
        ];
        for (token, want) in cases {
            assert_eq!(verify(SECRET, &token, NOW), Err(want), "{token}");
        }
        assert_eq!(verify(b"another-secret", &token, NOW), Err(LinkError::BadSignature));
    }

    #[test]
    fn expiry() {
        let token = sign(SECRET, &claims(Purpose::Unsubscribe));
        let at = claims(Purpose::Unsubscribe).expires_at;
        assert!(verify(SECRET, &token, at - 1).is_ok());
        assert_eq!(verify(SECRET, &token, at), Err(LinkError::Expired));
        assert_eq!(verify(SECRET, &token, i64::MAX), Err(LinkError::Expired));
    }

    proptest! {
        #[test]
        fn junk_never_panics_nor_verifies(token in ".{0,300}", a in "[A-Za-z0-9_-]{0,200}", b in "[A-Za-z0-9_-]{0,60}") {
            prop_assert!(verify(SECRET, &token, NOW).is_err());
            let joined = format!("{a}.{b}");
            prop_assert!(verify(SECRET, &joined, NOW).is_err());
        }

        #[test]
        fn any_claims_round_trip(shop in "\\PC{0,40}", entry in "\\PC{0,40}", exp in NOW + 1..i64::MAX) {
            let c = LinkClaims { purpose: Purpose::Cancel, shop, sku: "s".into(), entry_id: entry, target: None, expires_at: exp };
            prop_assert_eq!(verify(SECRET, &sign(SECRET, &c), NOW), Ok(c));
        }
    }
}
