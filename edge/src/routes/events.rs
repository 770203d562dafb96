//! Outgoing events for the merchant's automation (Zapier, Make, their own endpoints): what
//! happened to an entry, written to the outbox as `hook` rows — one per endpoint that wants the
//! event — in the same step as the change, then delivered signed (Standard Webhooks) with the
//! outbox's retries. The outbox rows are the delivery log.

use crate::protocol::ShopContext;
use crate::store::{OutboxRow, SqlStore};
use serde_json::{json, Value};
use shared::outbox::Channel;
use waitlist::events::rows;

/// A message (email, SMS, Klaviyo call) that will never go out: `message.failed`.
pub fn message_failed(
    store: &SqlStore,
    shop: &ShopContext,
    row: &OutboxRow,
    reason: &str,
    now: i64,
) -> worker::Result<()> {
    if row.channel == Channel::Hook.as_str() {
        return Ok(());
    }
    let data = json!({
        "shop": shop.shop,
        "sku": store.sku()?,
        "entry_id": row.entry_id,
        "channel": row.channel,
        "kind": row.kind,
        "to": row.to_addr,
        "idempotency_key": row.key,
        "attempts": row.attempts + 1,
        "reason": reason,
    });
    let messages = rows(shop, "message.failed", &row.key, &row.entry_id, data, now);
    waitlist::enqueue(store, &messages, "delivery", now).map_err(|e| worker::Error::RustError(e.to_string()))
}

/// `GET /v1/shops/{shop}/events` (admin): the delivery log of outgoing events across the shop's
/// SKUs, newest first (`?sku=` narrows it to one SKU).
pub async fn log(
    req: worker::Request,
    env: &worker::Env,
    cfg: &crate::config::Config,
    shop: &str,
) -> crate::error::AppResult<worker::Response> {
    use crate::api::{call_sku, shop_record, SHOP};
    crate::keys::authorize(&req, env, cfg, shop, shared::api_key::Scope::Read).await?;
    shop_record(env, shop).await?;
    let url = req.url()?;
    let only = url.query_pairs().find(|(k, _)| k == "sku").map(|(_, v)| v.into_owned());
    let skus: Vec<String> = match only {
        Some(sku) => vec![crate::api::sku_of(&sku)?],
        None => crate::http::call_ok(env, SHOP, shop, &crate::protocol::ShopCommand::Skus).await?,
    };
    let mut all: Vec<Value> = Vec::new();
    for sku in skus {
        let (status, body) = call_sku(env, cfg, shop, &sku, crate::protocol::SkuCommand::Deliveries).await?;
        if let (200, Value::Array(rows)) = (status, body) {
            all.extend(rows.into_iter().map(|mut r| {
                r["sku"] = sku.clone().into();
                r
            }));
        }
    }
    all.sort_by(|a, b| b["created_at"].as_i64().cmp(&a["created_at"].as_i64()));
    crate::http::json(200, &json!({"deliveries": all}))
}
