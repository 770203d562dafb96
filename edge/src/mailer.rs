//! Email providers behind one call: hand a stored message to the provider and report what it said.
//! The provider's idempotency key is the message's outbox key, so a retry after a crash between
//! "provider accepted" and "marked sent" cannot send twice.

use crate::config::EmailProvider;
use crate::store::OutboxRow;
use serde::Deserialize;
use shared::outbox::Attempt;
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit};

/// A provider that does not answer within this time is treated as down for this try.
const PROVIDER_TIMEOUT_MS: u32 = 10_000;

pub async fn send(provider: &EmailProvider, msg: &OutboxRow, shop: &str, sku: &str) -> Attempt {
    match provider {
        // The local outbox "delivers" by keeping the message for the mailbox page.
        EmailProvider::Outbox => Attempt::Accepted { provider_id: Some(format!("outbox:{}", msg.key)) },
        EmailProvider::Resend { api_base, api_key } => match resend(api_base, api_key, msg, shop, sku).await {
            Ok(a) => a,
            Err(e) => Attempt::Network(e.to_string()),
        },
    }
}

#[derive(Deserialize)]
struct ResendAccepted {
    id: Option<String>,
}

async fn resend(base: &str, key: &str, msg: &OutboxRow, shop: &str, sku: &str) -> worker::Result<Attempt> {
    let mut body = serde_json::json!({
        "from": msg.from_addr,
        "to": [msg.to_addr],
        "subject": msg.subject,
        "html": msg.html,
        "text": msg.text,
        "tags": [
            {"name": "kind", "value": msg.kind},
            {"name": "shop", "value": tag_value(shop)},
            {"name": "sku", "value": tag_value(sku)},
            {"name": "entry", "value": tag_value(&msg.entry_id)},
        ],
    });
    if let Some(url) = &msg.unsubscribe_url {
        // RFC 8058 one-click unsubscribe, which mailbox providers require of bulk senders.
        body["headers"] = serde_json::json!({
            "List-Unsubscribe": format!("<{url}>"),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        });
    }
    let headers = Headers::new();
    headers.set("Authorization", &format!("Bearer {key}"))?;
    headers.set("Content-Type", "application/json")?;
    headers.set("Idempotency-Key", &msg.key)?;
    headers.set("User-Agent", "restock-edge/0.1")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.to_string().into()));
    let req = Request::new_with_init(&format!("{base}/emails"), &init)?;
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(PROVIDER_TIMEOUT_MS));
    let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
    let status = resp.status_code();
    let text = resp.text().await.unwrap_or_default();
    if (200..300).contains(&status) {
        let id = serde_json::from_str::<ResendAccepted>(&text).ok().and_then(|a| a.id);
        return Ok(Attempt::Accepted { provider_id: id });
    }
    let retry_after_secs = resp.headers().get("Retry-After").ok().flatten().and_then(|v| v.trim().parse::<i64>().ok());
    Ok(Attempt::Status { status, retry_after_secs, body: text })
}

/// Resend tag values allow ASCII letters, digits, `_` and `-` only.
fn tag_value(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(256).collect()
}
