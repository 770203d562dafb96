//! Outgoing events for the merchant's automation (Zapier, Make, their own endpoints): what
//! happened to an entry, written to the outbox as `hook` rows — one per endpoint that wants the
//! event — in the same step as the change, then delivered signed (Standard Webhooks) with the
//! outbox's retries. The outbox rows are the delivery log.

use crate::protocol::ShopContext;
use crate::store::{NewMessage, OutboxRow, Store};
use serde_json::{json, Value};
use shared::date::format_timestamp_ms;
use shared::outbox::Channel;
use shared::queue::Entry;

/// The event's body: `{"type", "timestamp", "data"}` as Standard Webhooks recommend.
pub fn rows(
    shop: &ShopContext,
    event: &str,
    occurrence: &str,
    entry_id: &str,
    data: Value,
    now: i64,
) -> Vec<NewMessage> {
    let body = json!({"type": event, "timestamp": format_timestamp_ms(now), "data": data}).to_string();
    shop.event_endpoints
        .iter()
        .filter(|ep| ep.events.is_empty() || ep.events.iter().any(|e| e == event))
        .map(|ep| NewMessage {
            key: format!("{}:{event}:{occurrence}:{}", shop.shop, ep.id),
            entry_id: entry_id.to_owned(),
            channel: Channel::Hook,
            kind: event.to_owned(),
            to: ep.url.clone(),
            from: ep.id.clone(),
            subject: String::new(),
            html: String::new(),
            text: body.clone(),
            unsubscribe_url: None,
        })
        .collect()
}

/// What an event says about an entry.
pub fn entry_data(shop: &ShopContext, sku: &str, e: &Entry, position: Option<u32>) -> Value {
    json!({
        "shop": shop.shop,
        "sku": sku,
        "entry_id": e.id,
        "email": e.email,
        "phone": e.phone,
        "kind": e.kind,
        "status": e.status,
        "quantity": e.quantity,
        "units": e.units,
        "position": position,
        "order_id": e.order_id,
        "hold_until": e.hold_until.map(format_timestamp_ms),
        "created_at": format_timestamp_ms(e.created_at),
    })
}

/// A message (email, SMS, Klaviyo call) that will never go out: `message.failed`.
pub fn message_failed(
    store: &Store,
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
    store.enqueue(&rows(shop, "message.failed", &row.key, &row.entry_id, data, now), now)
}

/// `GET /v1/shops/{shop}/events` (admin): the delivery log of outgoing events across the shop's
/// SKUs, newest first (`?sku=` narrows it to one SKU).
pub async fn log(
    req: worker::Request,
    env: &worker::Env,
    cfg: &crate::config::Config,
    shop: &str,
) -> crate::error::AppResult<worker::Response> {
    use crate::api::{call_sku, check_id, require_admin, shop_record, SHOP};
    require_admin(&req, cfg)?;
    shop_record(env, shop).await?;
    let url = req.url()?;
    let only = url.query_pairs().find(|(k, _)| k == "sku").map(|(_, v)| v.into_owned());
    let skus: Vec<String> = match only {
        Some(sku) => {
            check_id("sku", &sku)?;
            vec![sku]
        }
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
