//! The generic signed inventory feed (`POST /v1/shops/{shop}/webhooks/inventory`) for ERPs,
//! warehouse systems, Ordoro, Zapier and Make: Standard Webhooks signature, then a batch of events
//! — absolute levels per SKU and location, ETA changes, backorders, conversions — each applied
//! once (its id is `id`, or the webhook id and its index), stale ones ignored, with a result per
//! event. A single level object (the first version of the feed) is still accepted. Senders that
//! cannot sign send one of the shop's `write` API keys as a Bearer token instead.

use crate::api::{call_sku, check_quantity, header, new_id, shop_record};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, decode, json};
use crate::protocol::{ShopRecord, SkuCommand};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::api_key::Scope;
use shared::date::parse_timestamp_ms;
use shared::signature::{verify_standard, StandardHeaders};
use shared::wire::InventoryLevel;
use shared::{Email, Eta};
use worker::{Env, Request, Response};

/// Events per request: enough for a warehouse's whole catalogue delta, small enough to answer
/// well within a webhook sender's timeout (each event is one call to its SKU's object).
pub const MAX_EVENTS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelEvent {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    sku: String,
    #[serde(default)]
    location: Option<String>,
    available: i64,
    updated_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EtaEvent {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    sku: String,
    eta: Option<Eta>,
    #[serde(default)]
    updated_at: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BackorderEvent {
    #[serde(rename = "type")]
    _type: String,
    /// Accepted for symmetry; a backorder is applied once per `order_id` whatever its event id.
    #[serde(default, rename = "id")]
    _id: Option<String>,
    sku: String,
    order_id: String,
    email: String,
    #[serde(default = "one")]
    quantity: u32,
    ordered_at: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConversionEvent {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    id: Option<String>,
    sku: String,
    order_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    entry_id: Option<String>,
    #[serde(default = "one")]
    quantity: u32,
    #[serde(default)]
    revenue: f64,
}

fn one() -> u32 {
    1
}

pub async fn inventory_webhook(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let record = shop_record(env, shop).await?;
    let body = body_bytes(&mut req).await?;
    let (id, ts, sig) =
        (header(&req, "webhook-id"), header(&req, "webhook-timestamp"), header(&req, "webhook-signature"));
    // Zapier's and Make's plain HTTP steps cannot sign: a `write` key as a Bearer token stands in
    // for the signature, and the request's id (which dedupes retries) comes from a header.
    let keyed = sig.is_none() && crate::keys::key_if_any(&req, env, shop, Scope::Write).await?.is_some();
    let webhook_id = if keyed {
        id.or_else(|| header(&req, "idempotency-key")).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            AppError::BadRequest(
                "missing_webhook_id",
                "a request authorized by an API key needs a webhook-id (or Idempotency-Key) header: it makes a retry apply once".into(),
            )
        })?
    } else {
        let headers = StandardHeaders { id: id.as_deref(), timestamp: ts.as_deref(), signature: sig.as_deref() };
        verify_standard(headers, &body, &record.config.inventory_webhook_secrets, crate::clock::real_now() / 1000)?;
        id.unwrap_or_default()
    };
    if webhook_id.len() > 200 {
        return Err(AppError::BadRequest("invalid_webhook_id", "webhook-id is longer than 200 characters".into()));
    }
    let value: Value = decode(&body)?;
    if value.get("events").is_none() {
        // The single-level form: the answer is that level's result.
        let level: InventoryLevel = decode(&body)?;
        let ev = json!({"type": "level", "id": webhook_id, "sku": level.sku, "available": level.available, "updated_at": level.updated_at});
        let (status, result) = apply(env, cfg, shop, &record, &webhook_id, &ev).await?;
        return json(status, &result);
    }
    let batch: Batch =
        serde_json::from_value(value).map_err(|e| AppError::Invalid("invalid_payload", e.to_string()))?;
    if batch.events.is_empty() || batch.events.len() > MAX_EVENTS {
        return Err(AppError::Invalid("invalid_batch", format!("a batch holds 1–{MAX_EVENTS} events")));
    }
    let mut results = Vec::with_capacity(batch.events.len());
    let mut totals = std::collections::BTreeMap::<String, u32>::new();
    let mut retry = false;
    for (i, ev) in batch.events.iter().enumerate() {
        let default_id = format!("{webhook_id}:{i}");
        let mut r = match apply(env, cfg, shop, &record, &default_id, ev).await {
            Ok((status, body)) if status >= 400 => {
                json!({"outcome": "rejected", "status": status, "error": body["error"]})
            }
            // Backorders answer 201 (new) or 200 (this order is already known).
            Ok((status, body)) if body.get("outcome").is_none() => {
                let outcome = if status == 201 || ev["type"] == "conversion" { "applied" } else { "duplicate" };
                json!({"outcome": outcome, "result": body})
            }
            Ok((_, body)) => body,
            Err(e) => {
                let error = serde_json::to_value(e.body()).unwrap_or_default();
                json!({"outcome": "rejected", "status": e.status(), "error": error["error"]})
            }
        };
        retry |= r["status"].as_u64().is_some_and(|s| s >= 500);
        r["index"] = i.into();
        r["type"] = ev.get("type").cloned().unwrap_or(Value::Null);
        r["sku"] = ev.get("sku").cloned().unwrap_or(Value::Null);
        r["id"] = ev.get("id").cloned().unwrap_or_else(|| default_id.clone().into());
        *totals.entry(r["outcome"].as_str().unwrap_or("rejected").to_owned()).or_default() += 1;
        results.push(r);
    }
    // A failure on our side asks the sender to retry the batch: what was applied is recognised by
    // its event id and not applied twice.
    json(if retry { 503 } else { 200 }, &json!({"results": results, "totals": totals}))
}

fn event_id(kind: &str, given: Option<&str>, default_id: &str) -> AppResult<String> {
    match given {
        Some(id) if id.is_empty() || id.len() > 200 => {
            Err(AppError::Invalid("invalid_event_id", "an event id is 1–200 characters".into()))
        }
        Some(id) => Ok(format!("{kind}:{id}")),
        None => Ok(format!("{kind}:{default_id}")),
    }
}

fn parse<T: serde::de::DeserializeOwned>(ev: &Value) -> AppResult<T> {
    serde_json::from_value(ev.clone()).map_err(|e| AppError::Invalid("invalid_event", e.to_string()))
}

/// Applies one event; answers the status and result of its SKU's object.
async fn apply(
    env: &Env,
    cfg: &Config,
    shop: &str,
    record: &ShopRecord,
    default_id: &str,
    ev: &Value,
) -> AppResult<(u16, Value)> {
    let ctx = record.context(shop);
    let kind = ev.get("type").and_then(Value::as_str).unwrap_or("");
    let (sku, cmd) = match kind {
        "level" => {
            let e: LevelEvent = parse(ev)?;
            if e.available < 0 {
                return Err(AppError::Invalid("invalid_available", "available must be zero or more".into()));
            }
            let location = e.location.unwrap_or_else(|| "default".to_owned());
            if location.is_empty() || location.len() > 100 {
                return Err(AppError::Invalid("invalid_location", "location is 1–100 characters".into()));
            }
            let cmd = SkuCommand::Level {
                shop: ctx,
                event_id: event_id("inventory", e.id.as_deref(), default_id)?,
                location,
                available: Some(e.available),
                updated_at_ms: parse_timestamp_ms(&e.updated_at)?,
            };
            (e.sku, cmd)
        }
        "eta" => {
            let e: EtaEvent = parse(ev)?;
            let updated_at_ms = match &e.updated_at {
                Some(t) => parse_timestamp_ms(t)?,
                None => crate::clock::real_now(),
            };
            let cmd = SkuCommand::SetEta {
                shop: ctx,
                event_id: event_id("eta", e.id.as_deref(), default_id)?,
                eta: e.eta,
                updated_at_ms,
            };
            (e.sku, cmd)
        }
        "backorder" => {
            let e: BackorderEvent = parse(ev)?;
            let email = Email::parse(&e.email)?;
            if e.order_id.trim().is_empty() || e.order_id.len() > 100 {
                return Err(AppError::Invalid("invalid_field", "order_id must be 1–100 characters".into()));
            }
            check_quantity(e.quantity)?;
            let cmd = SkuCommand::Backorder {
                shop: ctx,
                entry_id: new_id()?,
                order_id: e.order_id,
                email: email.as_str().to_owned(),
                quantity: e.quantity,
                ordered_at_ms: parse_timestamp_ms(&e.ordered_at)?,
            };
            (e.sku, cmd)
        }
        "conversion" => {
            let e: ConversionEvent = parse(ev)?;
            let email_key = match &e.email {
                Some(m) => Some(Email::parse(m)?.key()),
                None => None,
            };
            if e.entry_id.is_none() && email_key.is_none() {
                return Err(AppError::Invalid("invalid_field", "give entry_id or email".into()));
            }
            if !e.revenue.is_finite() || e.revenue < 0.0 {
                return Err(AppError::Invalid("invalid_field", "revenue must be zero or more".into()));
            }
            check_quantity(e.quantity)?;
            let cmd = SkuCommand::Convert {
                event_id: Some(event_id("conversion", e.id.as_deref(), default_id)?),
                entry_id: e.entry_id,
                email_key,
                order_id: e.order_id,
                quantity: e.quantity,
                revenue: e.revenue,
            };
            (e.sku, cmd)
        }
        other => {
            return Err(AppError::Invalid(
                "unknown_event_type",
                format!("unknown event type {other:?}: use level, eta, backorder or conversion"),
            ))
        }
    };
    let sku = crate::api::sku_of(&sku)?;
    call_sku(env, cfg, shop, &sku, cmd).await
}
