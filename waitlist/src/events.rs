//! Outgoing events for the merchant's automation (Zapier, Make, their own endpoints): what
//! happened to an entry, as `hook` outbox rows — one per endpoint that wants the event — written in
//! the same step as the change. The Worker delivers them signed (Standard Webhooks).

use crate::command::ShopContext;
use crate::store::NewMessage;
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
            inputs: None,
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
