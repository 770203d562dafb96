//! Delivery: hands due outbox rows to their channel (email, SMS, outgoing events, Klaviyo) and
//! records each answer (sent, retry at, failed). Runs in the `SkuQueue` alarm; the only part of
//! the object that awaits, so it re-reads what it needs after each await.

use crate::config::Config;
use crate::mailer;
use crate::store::Store;
use shared::outbox::{decide, Decision};
use shared::Email;
use worker::{Env, Result};

/// Rows handed to providers per alarm run; the alarm re-arms at once while more are due.
const DELIVERY_BATCH: u32 = 50;

fn real_now() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Delivers what is due. Answers the time before which pacing allows no more sends, if any.
pub async fn deliver_due(env: &Env, cfg: &Config, store: &Store, offset: i64) -> Result<Option<i64>> {
    let now = real_now() + offset;
    let provider = cfg.email.clone();
    let shop = store.shop()?.map(|s| s.shop).unwrap_or_default();
    let sku = store.sku()?;
    let due = store.due_messages(now, DELIVERY_BATCH)?;
    // Suppression is checked right before sending, not when the message was queued: an
    // unsubscribe that arrives meanwhile wins. If the list cannot be read, nothing is sent.
    let address = |to: &str| Email::parse(to).map(|e| e.key()).unwrap_or_else(|_| to.to_lowercase());
    let keys: Vec<String> = due.iter().map(|m| address(&m.to_addr)).collect();
    let suppressed = crate::suppression::suppressed(env, cfg, &shop, &keys)
        .await
        .map_err(|e| worker::Error::RustError(format!("suppression list unavailable: {e:?}")))?;
    for msg in due {
        if suppressed.contains(&address(&msg.to_addr)) {
            store.mark_skipped(&msg.key, "skipped: unsubscribed")?;
            continue;
        }
        let attempts = msg.attempts + 1;
        let attempt = mailer::send(&provider, &msg, &shop, &sku).await;
        let after = real_now() + offset;
        match decide(attempt, attempts as u32, after, js_sys::Math::random()) {
            Decision::Sent { provider_id } => store.mark_sent(&msg.key, attempts, after, provider_id)?,
            Decision::Retry { at, reason } => store.mark_retry(&msg.key, attempts, at, &reason)?,
            Decision::Failed { reason } => {
                worker::console_warn!("message {} failed for good: {reason}", msg.key);
                store.mark_failed(&msg.key, attempts, &reason)?
            }
        }
    }
    Ok(None)
}
