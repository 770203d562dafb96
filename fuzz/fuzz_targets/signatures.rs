//! Every signature check that faces the internet, on attacker-chosen parts: none may panic, and
//! each accepts what its own signer produced from the same parts.
//!
//! Input layout (lines split at `\n`, lossy UTF-8): secret, signature header, webhook id, webhook
//! timestamp, URL, then the body (the rest, newlines included), which is also read as a form body
//! (`a=b&c=d`) for Twilio.
#![no_main]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use shared::consent::{sign_twilio, verify_twilio};
use shared::link::{self, LinkClaims, Purpose};
use shared::signature::{self, StandardHeaders};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(6, |&b| b == b'\n');
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (secret, header, id, timestamp, url) = (next(), next(), next(), next(), next());
    let body = parts.next().unwrap_or_default();
    let secrets = vec![secret.clone(), "other-secret".to_owned()];

    // Shopify.
    let _ = signature::verify_shopify(body, Some(&header), &secrets);
    let _ = signature::verify_shopify(body, None, &secrets);
    if !secret.is_empty() {
        let good = signature::sign_shopify(body, &secret);
        assert_eq!(signature::verify_shopify(body, Some(&good), &secrets), Ok(()));
    }

    // Standard Webhooks, with a clock near the claimed timestamp so the MAC path is reached.
    let skew = i64::from(data.first().copied().unwrap_or(0)) * 4 - 512;
    let now_secs = timestamp.parse::<i64>().unwrap_or(1_767_225_600).saturating_add(skew);
    let headers = StandardHeaders { id: Some(&id), timestamp: Some(&timestamp), signature: Some(&header) };
    let _ = signature::verify_standard(headers, body, &secrets, now_secs);
    let whsec = format!("whsec_{}", B64.encode(secret.as_bytes()));
    let _ = signature::verify_standard(headers, body, std::slice::from_ref(&whsec), now_secs);
    if !secret.is_empty() && !id.is_empty() {
        let ts = now_secs.rem_euclid(10_000_000_000);
        if let Some(good) = signature::sign_standard(&id, ts, body, &whsec) {
            let ts_text = ts.to_string();
            let headers = StandardHeaders { id: Some(&id), timestamp: Some(&ts_text), signature: Some(&good) };
            assert_eq!(signature::verify_standard(headers, body, &[whsec.clone()], ts), Ok(()));
        }
    }

    // Signed links: the header is read as a token, then a token signed from the parts must verify.
    let now_ms = now_secs.saturating_mul(1000);
    let _ = link::verify(secret.as_bytes(), &header, now_ms);
    let _ = link::verify(secret.as_bytes(), &url, now_ms);
    let claims = LinkClaims {
        purpose: Purpose::Unsubscribe,
        shop: id.clone(),
        sku: timestamp.clone(),
        entry_id: url.clone(),
        target: None,
        expires_at: now_ms.saturating_add(1),
    };
    let token = link::sign(secret.as_bytes(), &claims);
    if token.len() <= link::MAX_TOKEN_LEN && now_ms < i64::MAX {
        assert_eq!(link::verify(secret.as_bytes(), &token, now_ms), Ok(claims));
    }

    // Twilio: the body as a decoded form.
    let form = String::from_utf8_lossy(body);
    let params: Vec<(String, String)> = form
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let _ = verify_twilio(&secret, &url, &params, &header);
    if !secret.is_empty() {
        let good = sign_twilio(&secret, &url, &params);
        assert!(verify_twilio(&secret, &url, &params, &good));
        let mut reversed = params.clone();
        reversed.reverse();
        assert!(verify_twilio(&secret, &url, &reversed, &good));
    }
});
