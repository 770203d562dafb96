//! Shopify webhooks (`POST /v1/shops/{shop}/webhooks/shopify`): HMAC checked against any of the
//! shop's secrets (several during a rotation), then dispatched by `X-Shopify-Topic`:
//! inventory levels per location, product listings (the variant ↔ inventory item ↔ SKU map,
//! titles and URLs), orders (conversion attribution and backorders), cancellations, fulfillments
//! (shipping notices with tracking) and the mandatory privacy topics.
//!
//! Every answer to a verified webhook is 2xx unless the payload is broken or we failed: Shopify
//! retries non-2xx answers and drops a subscription that keeps failing, so "nothing to do here"
//! is a 200 with `"outcome": "ignored"`.

use crate::api::{call_sku, header, new_id, shop_record, SHOP};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes_up_to, call_ok, decode, json, MAX_SHOPIFY_BYTES};
use crate::privacy::Subject;
use crate::protocol::{Shipment, ShopCommand, ShopContext, ShopRecord, SkuCommand};
use serde_json::{json, Value};
use shared::date::parse_timestamp_ms;
use shared::shopify::{
    variant_listings, CustomersDataRequest, CustomersRedact, Fulfillment, InventoryLevelEvent, LineItem, Order,
    Product, ShopRedact, Topic,
};
use shared::signature::verify_shopify;
use shared::Email;
use worker::{Env, Request, Response};

/// One delivery, as the headers describe it.
struct Delivery {
    /// Dedupe key: `X-Shopify-Event-Id` (the same event sent to several subscriptions) or else
    /// `X-Shopify-Webhook-Id`.
    event_id: String,
    /// `X-Shopify-Triggered-At`, when the payload has no `updated_at` of its own.
    triggered_at_ms: Option<i64>,
}

pub async fn webhook(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let record = shop_record(env, shop).await?;
    let body = body_bytes_up_to(&mut req, MAX_SHOPIFY_BYTES).await?;
    verify_shopify(&body, header(&req, "X-Shopify-Hmac-Sha256").as_deref(), &record.config.shopify_webhook_secrets)?;
    let topic_name = header(&req, "X-Shopify-Topic").unwrap_or_default();
    let Some(topic) = Topic::parse(&topic_name) else {
        return json(200, &json!({"outcome": "ignored", "reason": format!("topic {topic_name:?} is not handled")}));
    };
    let webhook_id = header(&req, "X-Shopify-Webhook-Id")
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .ok_or_else(|| AppError::BadRequest("missing_webhook_id", "X-Shopify-Webhook-Id header is required".into()))?;
    let event_id = header(&req, "X-Shopify-Event-Id").filter(|s| !s.is_empty() && s.len() <= 200);
    let d = Delivery {
        event_id: format!("shopify:{}", event_id.unwrap_or(webhook_id)),
        triggered_at_ms: header(&req, "X-Shopify-Triggered-At").and_then(|t| parse_timestamp_ms(&t).ok()),
    };
    // The privacy topics act only when their signed body names this shop: Shopify signs every
    // shop's webhooks with the app's one secret, so one sent to the wrong address changes nothing.
    if matches!(topic, Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact) {
        #[derive(serde::Deserialize)]
        struct Addressed {
            #[serde(default)]
            shop_domain: Option<String>,
        }
        let named: Addressed = decode(&body)?;
        let domain = named.shop_domain.as_deref();
        if !shared::shopify::names_shop(domain, shop, record.config.shopify_domain.as_deref()) {
            worker::console_warn!("{topic_name} for {domain:?} delivered to shop {shop}: ignored");
            return json(200, &json!({"outcome": "ignored", "reason": "shop_domain_mismatch"}));
        }
    }
    let ctx = record.context(shop);
    match topic {
        Topic::InventoryLevelsUpdate | Topic::InventoryLevelsConnect | Topic::InventoryLevelsDisconnect => {
            let level: InventoryLevelEvent = decode(&body)?;
            inventory_level(env, cfg, ctx, &d, topic, level).await
        }
        Topic::ProductsCreate | Topic::ProductsUpdate => products(env, cfg, ctx, &record, decode(&body)?).await,
        Topic::OrdersCreate => order_created(env, cfg, ctx, &d, decode(&body)?).await,
        Topic::OrdersCancelled => order_cancelled(env, cfg, ctx, decode(&body)?).await,
        Topic::FulfillmentsCreate | Topic::FulfillmentsUpdate => fulfillment(env, cfg, ctx, decode(&body)?).await,
        Topic::CustomersDataRequest => data_request(env, cfg, shop, decode(&body)?).await,
        Topic::CustomersRedact => customer_redact(env, cfg, shop, &record, decode(&body)?).await,
        Topic::ShopRedact => shop_redact(env, cfg, shop, decode(&body)?).await,
    }
}

async fn inventory_level(
    env: &Env,
    cfg: &Config,
    ctx: ShopContext,
    d: &Delivery,
    topic: Topic,
    level: InventoryLevelEvent,
) -> AppResult<Response> {
    let updated_at_ms = match &level.updated_at {
        Some(t) => parse_timestamp_ms(t)?,
        None => d.triggered_at_ms.unwrap_or_else(now_ms),
    };
    let shop = ctx.shop.clone();
    let sku: Option<String> =
        call_ok(env, SHOP, &shop, &ShopCommand::ResolveItem { inventory_item_id: level.inventory_item_id }).await?;
    let Some(sku) = sku else {
        // Shopify sends updates for every item in the store; most have no waitlist.
        return json(200, &json!({"outcome": "ignored", "reason": "unknown_inventory_item"}));
    };
    let available = match topic {
        Topic::InventoryLevelsDisconnect => None,
        // `null`: Shopify does not track this item's stock, so there is nothing to allocate.
        _ => Some(level.available.unwrap_or(0)),
    };
    let cmd = SkuCommand::Level {
        shop: ctx,
        event_id: d.event_id.clone(),
        location: level.location_id.to_string(),
        available,
        updated_at_ms,
    };
    let (status, body) = call_sku(env, cfg, &shop, &sku, cmd).await?;
    json(status, &body)
}

/// Keeps each variant's waitlist in step with the catalogue: the SKU ↔ inventory item map in the
/// shop's index, and the title and URL in the SKU's settings (a new SKU gets a restock waitlist).
async fn products(env: &Env, cfg: &Config, ctx: ShopContext, record: &ShopRecord, p: Product) -> AppResult<Response> {
    let shop = ctx.shop.clone();
    let found = variant_listings(&p, record.config.storefront_url.as_deref());
    let rejected: Vec<Value> = found
        .rejected
        .iter()
        .map(|r| json!({"variant_id": r.variant_id, "sku": r.sku, "code": r.code, "message": r.message}))
        .collect();
    let mut results = Vec::new();
    for l in found.listings {
        let cmd = SkuCommand::Listing {
            shop: ctx.clone(),
            sku: l.sku.clone(),
            title: l.title.clone(),
            url: l.url.clone(),
            variant_id: Some(l.variant_id),
            inventory_item_id: l.inventory_item_id,
        };
        let (status, body) = call_sku(env, cfg, &shop, &l.sku, cmd).await?;
        if status != 200 {
            return Err(AppError::Internal(format!("listing {}: {status} {body}", l.sku)));
        }
        let listed: waitlist::answer::ListingResult = crate::api::answer(body)?;
        let _: Value = call_ok(
            env,
            SHOP,
            &shop,
            &ShopCommand::IndexSku {
                sku: l.sku.clone(),
                shopify_inventory_item_id: l.inventory_item_id,
                shopify_variant_id: Some(l.variant_id),
            },
        )
        .await?;
        results.push(json!({"sku": l.sku, "variant_id": l.variant_id, "title": l.title, "url": l.url, "created": listed.created}));
    }
    json(
        200,
        &json!({"outcome": "synced", "product_id": p.id, "variants": results, "rejected": rejected, "without_sku": found.without_sku}),
    )
}

/// The SKUs the shop has waitlists for, so an order's other lines cost nothing.
async fn known_skus(env: &Env, shop: &str) -> AppResult<Vec<String>> {
    call_ok(env, SHOP, shop, &ShopCommand::Skus).await
}

async fn order_created(env: &Env, cfg: &Config, ctx: ShopContext, d: &Delivery, o: Order) -> AppResult<Response> {
    let shop = ctx.shop.clone();
    let known = known_skus(env, &shop).await?;
    let (email, phone) = o.contact();
    let ordered_at_ms = match &o.created_at {
        Some(t) => parse_timestamp_ms(t)?,
        None => d.triggered_at_ms.unwrap_or_else(now_ms),
    };
    let order_id = order_name(o.id);
    let mut lines = Vec::new();
    for (i, li) in o.line_items.iter().enumerate() {
        let Some(sku) = waitlisted(li, &known) else {
            continue;
        };
        let cmd = SkuCommand::Order {
            shop: ctx.clone(),
            event_id: format!("{}:{i}", d.event_id),
            entry_id: new_id()?,
            order_id: order_id.clone(),
            email: email.clone(),
            phone: phone.clone(),
            quantity: li.quantity.clamp(1, 100) as u32,
            revenue: li.revenue(),
            ordered_at_ms,
        };
        let (status, body) = call_sku(env, cfg, &shop, sku, cmd).await?;
        if status >= 500 {
            return Err(AppError::Internal(format!("order line {sku}: {status} {body}")));
        }
        lines.push(json!({"sku": sku, "status": status, "result": body}));
    }
    json(
        200,
        &json!({"outcome": if lines.is_empty() { "ignored" } else { "applied" }, "order_id": order_id, "lines": lines}),
    )
}

async fn order_cancelled(env: &Env, cfg: &Config, ctx: ShopContext, o: Order) -> AppResult<Response> {
    let shop = ctx.shop.clone();
    let known = known_skus(env, &shop).await?;
    let order_id = order_name(o.id);
    let mut lines = Vec::new();
    for li in &o.line_items {
        let Some(sku) = waitlisted(li, &known) else {
            continue;
        };
        let cmd = SkuCommand::OrderCancelled { shop: ctx.clone(), order_id: order_id.clone() };
        let (status, body) = call_sku(env, cfg, &shop, sku, cmd).await?;
        lines.push(json!({"sku": sku, "status": status, "result": body}));
    }
    json(
        200,
        &json!({"outcome": if lines.is_empty() { "ignored" } else { "applied" }, "order_id": order_id, "lines": lines}),
    )
}

async fn fulfillment(env: &Env, cfg: &Config, ctx: ShopContext, f: Fulfillment) -> AppResult<Response> {
    let shop = ctx.shop.clone();
    let known = known_skus(env, &shop).await?;
    let order_id = order_name(f.order_id);
    let t = f.tracking();
    let shipment = Shipment { carrier: t.carrier.clone(), number: t.number.clone(), url: t.url.clone() };
    // A shipment is named by the fulfillment and its tracking number: an update that changes the
    // tracking is news, the same one again is not.
    let occurrence = occurrence_of(&format!("{}:{}", f.id, t.number.as_deref().unwrap_or("")));
    let mut lines = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for li in &f.line_items {
        let Some(sku) = waitlisted(li, &known) else {
            continue;
        };
        if !seen.insert(sku.to_owned()) {
            continue;
        }
        let cmd = SkuCommand::Shipped {
            shop: ctx.clone(),
            order_id: order_id.clone(),
            occurrence,
            shipment: shipment.clone(),
        };
        let (status, body) = call_sku(env, cfg, &shop, sku, cmd).await?;
        if status >= 500 {
            return Err(AppError::Internal(format!("fulfillment {sku}: {status} {body}")));
        }
        lines.push(json!({"sku": sku, "status": status, "result": body}));
    }
    json(
        200,
        &json!({"outcome": if lines.is_empty() { "ignored" } else { "applied" }, "order_id": order_id, "tracking": shipment, "lines": lines}),
    )
}

/// The customer's address and phone number, as far as they are usable.
fn subject(email: Option<&str>, phone: Option<&str>) -> Option<Subject> {
    let email = email.and_then(|e| Email::parse(e).ok());
    let email_key = email.as_ref().map(Email::key);
    let phone = phone.and_then(|p| crate::api::parse_phone(p).ok());
    (email_key.is_some() || phone.is_some()).then_some(Subject {
        email: email.map(|e| e.as_str().to_owned()),
        email_key,
        phone,
    })
}

async fn data_request(env: &Env, cfg: &Config, shop: &str, r: CustomersDataRequest) -> AppResult<Response> {
    let Some(who) = subject(r.customer.email.as_deref(), r.customer.phone.as_deref()) else {
        return json(200, &json!({"outcome": "ignored", "reason": "no_contact"}));
    };
    let entries = crate::privacy::export_subject(env, cfg, shop, &who, known_skus(env, shop).await?).await?;
    worker::console_log!("customers/data_request for shop {shop}: {} entries", entries.len());
    json(200, &json!({"outcome": "exported", "email": who.email_key, "phone": who.phone, "entries": entries}))
}

async fn customer_redact(
    env: &Env,
    cfg: &Config,
    shop: &str,
    record: &ShopRecord,
    r: CustomersRedact,
) -> AppResult<Response> {
    let Some(who) = subject(r.customer.email.as_deref(), r.customer.phone.as_deref()) else {
        return json(200, &json!({"outcome": "ignored", "reason": "no_contact"}));
    };
    let skus = known_skus(env, shop).await?;
    let erased = crate::privacy::erase_subject(env, cfg, shop, record, &who, skus).await?;
    json(200, &json!({"outcome": "redacted", "erased_entries": erased}))
}

/// 48 hours after a shop uninstalls: everything about it goes, waitlists and settings alike.
async fn shop_redact(env: &Env, cfg: &Config, shop: &str, _r: ShopRedact) -> AppResult<Response> {
    let skus = known_skus(env, shop).await?;
    for sku in &skus {
        let (status, body) = call_sku(env, cfg, shop, sku, SkuCommand::Purge).await?;
        if status != 200 {
            return Err(AppError::Internal(format!("purge {sku}: {status} {body}")));
        }
    }
    // The limiter shards go with it: their windows would run out, their opt-out copies would not.
    for shard in 0..crate::limiter_object::SHARDS {
        let object = crate::limiter_object::shard_object(shop, shard);
        let _: bool = call_ok(env, crate::api::LIMITER, &object, &crate::limiter_object::LimitCall::Purge).await?;
    }
    let _: Value = call_ok(env, SHOP, shop, &ShopCommand::Purge).await?;
    crate::api::forget_settings(shop);
    json(200, &json!({"outcome": "redacted", "skus": skus.len()}))
}

/// The line's SKU when the shop has a waitlist for it.
fn waitlisted<'a>(li: &'a LineItem, known: &[String]) -> Option<&'a str> {
    li.sku.as_deref().map(str::trim).filter(|s| known.iter().any(|k| k == s))
}

/// How entries name a Shopify order: its numeric id. (The `name`, like `#1001`, is what the
/// shopper sees, but fulfillments do not carry it.)
fn order_name(id: i64) -> String {
    id.to_string()
}

/// A small, stable, non-zero number for a shipment (FNV-1a): message occurrences are `u32`, and
/// occurrence 0 of `ship_notice` is the allocation notice.
fn occurrence_of(s: &str) -> u32 {
    let mut h: u32 = 0x811c9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x01000193);
    }
    h.max(1)
}

fn now_ms() -> i64 {
    crate::clock::real_now()
}
