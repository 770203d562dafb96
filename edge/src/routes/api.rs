//! The HTTP API: admin settings, the public waitlist, inventory webhooks. Each handler checks the
//! caller and the input, then hands the work to the shop's or the SKU's Durable Object.

use crate::clock;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, call_ok, decode, json, with_cors, with_cors_always};
use crate::keys::authorize;
use crate::limiter_object::{Counted, Hit, HitAnswer, Kind, LimitCall, Refund, Subject};
use crate::protocol::{ShopCommand, ShopRecord, SignupShop, SkuCommand, SkuRequest};
use shared::api_key::Scope;
use shared::date::parse_timestamp_ms;
use shared::signature::is_standard_secret;
use shared::template::Template;
use shared::wire::{BackorderRequest, ConversionRequest, MessageKind, ShopConfig, SignupRequest, SkuConfig};
use shared::Email;
use std::rc::Rc;
use worker::{Env, Request, Response};

pub const SKU_QUEUE: &str = "SKU_QUEUE";
pub const SHOP: &str = "SHOP";
pub const LIMITER: &str = "LIMITER";

/// Shop ids: we choose them, so they are plain (and a `/` never appears in one, which keeps a SKU
/// object's name `{shop}/{sku}` unambiguous whatever the SKU holds).
pub fn check_shop(s: &str) -> AppResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AppError::Invalid("invalid_shop", "shop must be 1–100 characters of A–Z, a–z, 0–9, '-', '_' or '.'".into()))
    }
}

/// A SKU as the merchant's catalogue writes it (`shared::Sku`: `/`, spaces and any script are
/// fine), normalized (trimmed) the one way every route and webhook uses.
pub fn sku_of(s: &str) -> AppResult<String> {
    Ok(shared::Sku::parse(s)?.into_string())
}

fn sku_object(shop: &str, sku: &str) -> String {
    format!("{shop}/{sku}")
}

pub async fn shop_record(env: &Env, shop: &str) -> AppResult<ShopRecord> {
    let record: Option<ShopRecord> = call_ok(env, SHOP, shop, &ShopCommand::Get).await?;
    set_up(record, shop)
}

/// The shop's record, or 404 `unknown_shop` when it was never set up.
fn set_up(record: Option<ShopRecord>, shop: &str) -> AppResult<ShopRecord> {
    record.ok_or_else(|| AppError::NotFound("unknown_shop", format!("shop {shop:?} is not set up")))
}

/// How long the widget's read-only requests may use shop settings this isolate already read.
const WIDGET_SETTINGS_TTL_MS: i64 = 5_000;
/// At most this many shops' settings are kept per isolate (then the lot is dropped).
const WIDGET_SETTINGS_MAX: usize = 1024;

/// A shop's record as this isolate last read it.
struct Held {
    /// When it was read (real-clock ms).
    at: i64,
    /// Its version, when the read said (`ShopCommand::ForSignup`; `Get` does not).
    version: Option<String>,
    /// The shop said signups must ask it whether an address opted out (`SignupShop::legacy_optouts`).
    legacy_optouts: bool,
    record: Rc<ShopRecord>,
}

thread_local! {
    static SETTINGS: std::cell::RefCell<std::collections::HashMap<String, Held>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Shop settings for the widget's read-only requests (SKU state, place in line): kept in this
/// isolate for a few seconds, so an open page's poll calls the SKU's object and not the shop's too.
/// A change made through this isolate is seen at once ([`forget_settings`]); one made through
/// another, within `WIDGET_SETTINGS_TTL_MS`. Signups and admin requests always ask the shop (a
/// signup for the version only, when this isolate holds one: [`held_version`]).
async fn shop_record_for_widget(env: &Env, shop: &str) -> AppResult<Rc<ShopRecord>> {
    let now = clock::real_now();
    let kept = SETTINGS.with(|c| {
        c.borrow()
            .get(shop)
            .filter(|h| (0..WIDGET_SETTINGS_TTL_MS).contains(&(now - h.at)))
            .map(|h| Rc::clone(&h.record))
    });
    if let Some(record) = kept {
        return Ok(record);
    }
    let record = Rc::new(shop_record(env, shop).await?);
    hold(shop, None, true, &record);
    Ok(record)
}

/// How long signups may use shop settings this isolate read (with their version) without asking
/// the shop: on a drop, one signup a second per isolate asks, not every one. A change made through
/// this isolate is seen at once ([`forget_settings`]); one made through another, within this.
const SIGNUP_SETTINGS_TTL_MS: i64 = 1_000;

/// The shop's settings for a signup that need not ask the shop: read with their version within
/// `SIGNUP_SETTINGS_TTL_MS`, from a shop whose opt-outs all have their copy in the limiter shards.
fn fresh_for_signup(shop: &str) -> Option<Rc<ShopRecord>> {
    let now = clock::real_now();
    SETTINGS.with(|c| {
        c.borrow()
            .get(shop)
            .filter(|h| h.version.is_some() && !h.legacy_optouts && (0..SIGNUP_SETTINGS_TTL_MS).contains(&(now - h.at)))
            .map(|h| Rc::clone(&h.record))
    })
}

/// Keeps a shop's record just read (or just found current), for the widget's requests and the
/// next signups.
fn hold(shop: &str, version: Option<String>, legacy_optouts: bool, record: &Rc<ShopRecord>) {
    let at = clock::real_now();
    SETTINGS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= WIDGET_SETTINGS_MAX && !c.contains_key(shop) {
            c.clear();
        }
        c.insert(shop.to_owned(), Held { at, version, legacy_optouts, record: Rc::clone(record) });
    });
}

/// The record this isolate holds for the shop with its version, if the read that brought it said
/// one: the shop's object answers a signup without the record while that version is current.
fn held_version(shop: &str) -> Option<(String, Rc<ShopRecord>)> {
    SETTINGS.with(|c| c.borrow().get(shop).and_then(|h| Some((h.version.clone()?, Rc::clone(&h.record)))))
}

/// Whether the shop's settings this isolate read last, however long ago, had no Turnstile: a hint
/// for planning a signup's calls, never an answer.
fn seen_without_turnstile(shop: &str) -> bool {
    SETTINGS.with(|c| c.borrow().get(shop).is_some_and(|h| h.record.config.turnstile.is_none()))
}

/// The shop's settings changed (or it is gone): the next requests read them again.
pub fn forget_settings(shop: &str) {
    SETTINGS.with(|c| c.borrow_mut().remove(shop));
}

/// `PUT /v1/shops/{shop}/templates/{kind}` (admin): checks and stores a merchant's template.
pub async fn put_template(mut req: Request, env: &Env, cfg: &Config, shop: &str, kind: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Admin).await?;
    let kind = MessageKind::parse(kind)
        .ok_or_else(|| AppError::NotFound("unknown_message_kind", format!("no message kind {kind:?}")))?;
    let template: Template = decode(&body_bytes(&mut req).await?)?;
    template.validate().map_err(|e| AppError::Invalid(e.code(), e.to_string()))?;
    shop_record(env, shop).await?;
    let saved: Template =
        call_ok(env, SHOP, shop, &ShopCommand::PutTemplate { kind: kind.as_str().to_owned(), template }).await?;
    forget_settings(shop);
    json(200, &saved)
}

fn validate_shop(cfg: &ShopConfig) -> AppResult<()> {
    let bad = |m: &str| Err(AppError::Invalid("invalid_field", m.to_owned()));
    if cfg.name.trim().is_empty() || cfg.name.len() > 200 {
        return bad("name must be 1–200 characters");
    }
    Email::parse(&cfg.from_email)
        .map_err(|_| AppError::Invalid("invalid_field", "from_email is not a valid address".into()))?;
    for o in &cfg.allowed_origins {
        let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
        if !rest.is_some_and(|r| !r.is_empty() && !r.contains('/') && !r.contains(char::is_whitespace)) {
            return bad("allowed_origins must be origins like https://shop.example.com (no path)");
        }
    }
    if cfg.shopify_webhook_secrets.iter().any(|s| s.trim().is_empty()) {
        return bad("shopify_webhook_secrets must not contain empty secrets");
    }
    if !cfg.inventory_webhook_secrets.iter().all(|s| is_standard_secret(s)) {
        return bad("inventory_webhook_secrets must be whsec_ followed by base64 of at least 16 bytes");
    }
    if cfg.hold_hours > 720 {
        return bad("hold_hours must be at most 720 (30 days)");
    }
    if !(cfg.notify_multiplier.is_finite() && (1.0..=10.0).contains(&cfg.notify_multiplier)) {
        return bad("notify_multiplier must be between 1 and 10");
    }
    if cfg.hold_reminder_hours > 168 {
        return bad("hold_reminder_hours must be at most 168");
    }
    if cfg.utc_offset_minutes.abs() > 14 * 60 {
        return bad("utc_offset_minutes must be within ±840");
    }
    if let Some(u) = &cfg.storefront_url {
        if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 200 || u.contains(char::is_whitespace)
        {
            return bad("storefront_url must be an http(s) URL like https://shop.example.com");
        }
    }
    if let Some(d) = &cfg.shopify_domain {
        if !shared::shopify::is_shop_domain(d) {
            return bad("shopify_domain must be the shop's myshopify.com domain, like acme.myshopify.com");
        }
    }
    if cfg.waitlist_channel.is_empty() || cfg.waitlist_channel.len() > 50 {
        return bad("waitlist_channel must be 1–50 characters");
    }
    if cfg.channels.len() > 20 || cfg.channels.values().any(|locs| locs.is_empty() || locs.len() > 100) {
        return bad("channels: at most 20 channels, each with 1–100 location ids");
    }
    if cfg.channels.values().flatten().any(|l| l.is_empty() || l.len() > 100) {
        return bad("channels: location ids are 1–100 characters");
    }
    if cfg.event_endpoints.len() > 10 {
        return bad("event_endpoints: at most 10");
    }
    let mut ids = std::collections::BTreeSet::new();
    for ep in &cfg.event_endpoints {
        if ep.id.is_empty()
            || ep.id.len() > 50
            || !ep.id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        {
            return bad("event_endpoints: id is 1–50 characters of A–Z, a–z, 0–9, '-' or '_'");
        }
        if !ids.insert(ep.id.as_str()) {
            return bad("event_endpoints: ids must be unique");
        }
        if !(ep.url.starts_with("https://") || ep.url.starts_with("http://")) || ep.url.len() > 2000 {
            return bad("event_endpoints: url must be an http(s) URL");
        }
        if !is_standard_secret(&ep.secret) {
            return bad("event_endpoints: secret must be whsec_ followed by base64 of at least 16 bytes");
        }
        if let Some(e) = ep.events.iter().find(|e| !shared::wire::EVENT_TYPES.contains(&e.as_str())) {
            return bad(&format!(
                "event_endpoints: unknown event {e:?}; known: {}",
                shared::wire::EVENT_TYPES.join(", ")
            ));
        }
    }
    if let Some(k) = &cfg.klaviyo {
        if k.api_key.trim().is_empty() || k.api_key.len() > 200 {
            return bad("klaviyo.api_key must be a private API key");
        }
    }
    if let Some(t) = &cfg.turnstile {
        if t.secret.trim().is_empty() || t.secret.len() > 200 || t.secret.contains(char::is_whitespace) {
            return bad("turnstile.secret must be the widget's secret key");
        }
        let hostname = |h: &str| {
            !h.is_empty()
                && h.len() <= 253
                && h.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                })
        };
        if t.hostnames.len() > 50 || !t.hostnames.iter().all(|h| hostname(h)) {
            return bad("turnstile.hostnames: at most 50 hostnames like shop.example.com (no scheme, port or path)");
        }
        if let Some(a) = &t.action {
            if a.is_empty() || a.len() > 32 || !a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') {
                return bad("turnstile.action must be 1–32 characters of A–Z, a–z, 0–9, '-' or '_'");
            }
        }
    }
    let s = cfg.schedule;
    let within = |v: Option<u32>, lo: u32, hi: u32| v.is_none_or(|v| (lo..=hi).contains(&v));
    if !(within(s.midwait_min_days, 1, 90)
        && within(s.imminent_days, 1, 14)
        && within(s.nonopener_hours, 1, 48)
        && within(s.urgency_hours, 1, 168))
    {
        return bad("schedule: midwait_min_days 1–90, imminent_days 1–14, nonopener_hours 1–48, urgency_hours 1–168");
    }
    Ok(())
}

fn validate_sku(cfg: &SkuConfig) -> AppResult<()> {
    let bad = |m: &str| Err(AppError::Invalid("invalid_field", m.to_owned()));
    if cfg.title.trim().is_empty() || cfg.title.len() > 300 {
        return bad("title must be 1–300 characters");
    }
    if let Some(u) = &cfg.url {
        if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 2000 {
            return bad("url must be an http(s) URL");
        }
    }
    if cfg.hold_hours.is_some_and(|h| h > 720) {
        return bad("hold_hours must be at most 720 (30 days)");
    }
    if cfg.shopify_inventory_item_id.is_some_and(|id| id <= 0) {
        return bad("shopify_inventory_item_id must be a positive integer");
    }
    Ok(())
}

/// `PUT /v1/shops/{shop}`: the operator creates a shop; the operator or one of the shop's `admin`
/// keys replaces its settings (a key exists only for a shop that is set up). Secrets come back as
/// hints.
pub async fn put_shop(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Admin).await?;
    let config: ShopConfig = decode(&body_bytes(&mut req).await?)?;
    validate_shop(&config)?;
    let saved: ShopConfig = call_ok(env, SHOP, shop, &ShopCommand::Put { config: Box::new(config) }).await?;
    forget_settings(shop);
    if cfg.dev_mode {
        clock::register_shop(env, shop).await?;
    }
    json(200, &saved.redacted())
}

/// `GET /v1/shops/{shop}` (read): the shop's settings, secrets as hints.
pub async fn get_shop(req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Read).await?;
    json(200, &shop_record(env, shop).await?.config.redacted())
}

pub async fn put_sku(mut req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Write).await?;
    let config: SkuConfig = decode(&body_bytes(&mut req).await?)?;
    validate_sku(&config)?;
    let shop_cfg = shop_record(env, shop).await?;
    let cmd = SkuCommand::Configure { shop: shop_cfg.context(shop), sku: sku.to_owned(), config };
    let (status, body) = call_sku(env, cfg, shop, sku, cmd).await?;
    if status != 200 {
        return json(status, &body);
    }
    let saved: SkuConfig = serde_json::from_value(body).map_err(|e| AppError::Internal(e.to_string()))?;
    let _: serde_json::Value = call_ok(
        env,
        SHOP,
        shop,
        &ShopCommand::IndexSku {
            sku: sku.to_owned(),
            shopify_inventory_item_id: saved.shopify_inventory_item_id,
            shopify_variant_id: saved.shopify_variant_id,
        },
    )
    .await?;
    json(200, &saved)
}

pub async fn queue(req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Read).await?;
    let record = shop_record(env, shop).await?;
    let url = req.url()?;
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    let number = |name: &'static str| -> AppResult<Option<u32>> {
        param(name)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| AppError::Invalid("invalid_field", format!("{name} must be a whole number")))
            })
            .transpose()
    };
    let after = number("after")?.unwrap_or(0);
    let limit = number("limit")?;
    if limit.is_some_and(|l| !(1..=waitlist::sku::MAX_PAGE).contains(&l)) {
        return Err(AppError::Invalid("invalid_field", "limit must be 1–500".into()));
    }
    let search = param("q").filter(|q| !q.trim().is_empty());
    if search.as_ref().is_some_and(|q| q.len() > 320) {
        return Err(AppError::Invalid("invalid_field", "q is an email address or an order id".into()));
    }
    let cmd = SkuCommand::Queue { after, limit, search };
    let (status, body) = call_sku(env, cfg, shop, sku, cmd).await?;
    if status != 200 {
        return json(status, &body);
    }
    let view: shared::wire::QueueView = answer(body)?;
    // Stock per sales channel: what each channel's locations hold (oversold ones counting 0).
    let level = |loc: &str| view.levels.iter().filter(|l| l.location == loc).map(|l| l.available.max(0)).sum::<i64>();
    let mut channels: std::collections::BTreeMap<String, i64> = record
        .config
        .channels
        .iter()
        .map(|(name, locations)| (name.clone(), locations.iter().map(|l| level(l)).sum()))
        .collect();
    channels.entry(record.config.waitlist_channel.clone()).or_insert(view.available);
    #[derive(serde::Serialize)]
    struct WithChannels<'a> {
        #[serde(flatten)]
        view: shared::wire::QueueView,
        channels: std::collections::BTreeMap<String, i64>,
        waitlist_channel: &'a str,
    }
    json(200, &WithChannels { view, channels, waitlist_channel: &record.config.waitlist_channel })
}

/// A SKU object's answer read as its type (`waitlist::answer`, `shared::wire`): no field is looked
/// up by name.
pub fn answer<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> AppResult<T> {
    serde_json::from_value(body).map_err(|e| AppError::Internal(format!("object answer: {e}")))
}

/// Sends a command to the SKU's object, with the dev clock's offset in dev mode.
pub async fn call_sku(
    env: &Env,
    cfg: &Config,
    shop: &str,
    sku: &str,
    cmd: SkuCommand,
) -> AppResult<(u16, serde_json::Value)> {
    call_sku_counted(env, cfg, shop, sku, cmd).await.map(|(status, body, _)| (status, body))
}

/// Like [`call_sku`], with the rows the command read and wrote.
pub async fn call_sku_counted(
    env: &Env,
    cfg: &Config,
    shop: &str,
    sku: &str,
    cmd: SkuCommand,
) -> AppResult<(u16, serde_json::Value, crate::http::RowCounts)> {
    let clock_offset_ms = clock::offset(env, cfg).await?;
    crate::http::call_object_counted(env, SKU_QUEUE, &sku_object(shop, sku), &SkuRequest { clock_offset_ms, cmd }).await
}

/// Passes a SKU object's answer through unchanged.
async fn relay(env: &Env, cfg: &Config, shop: &str, sku: &str, cmd: SkuCommand) -> AppResult<Response> {
    let (status, body, rows) = call_sku_counted(env, cfg, shop, sku, cmd).await?;
    crate::http::with_rows(json(status, &body)?, rows, cfg.dev_mode)
}

pub async fn backorder(mut req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Write).await?;
    let body: BackorderRequest = decode(&body_bytes(&mut req).await?)?;
    let email = Email::parse(&body.email)?;
    if body.order_id.trim().is_empty() || body.order_id.len() > 100 {
        return Err(AppError::Invalid("invalid_field", "order_id must be 1–100 characters".into()));
    }
    check_quantity(body.quantity)?;
    let shop_cfg = shop_record(env, shop).await?;
    let cmd = SkuCommand::Backorder {
        shop: shop_cfg.context(shop),
        entry_id: new_id()?,
        order_id: body.order_id,
        email: email.as_str().to_owned(),
        quantity: body.quantity,
        ordered_at_ms: parse_timestamp_ms(&body.ordered_at)?,
    };
    relay(env, cfg, shop, sku, cmd).await
}

pub async fn conversion(mut req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Write).await?;
    let body: ConversionRequest = decode(&body_bytes(&mut req).await?)?;
    let email_key = match &body.email {
        Some(e) => Some(Email::parse(e)?.key()),
        None => None,
    };
    if body.entry_id.is_none() && email_key.is_none() {
        return Err(AppError::Invalid("invalid_field", "give entry_id or email".into()));
    }
    if !body.revenue.is_finite() || body.revenue < 0.0 {
        return Err(AppError::Invalid("invalid_field", "revenue must be zero or more".into()));
    }
    check_quantity(body.quantity)?;
    let cmd = SkuCommand::Convert {
        event_id: None,
        entry_id: body.entry_id,
        email_key,
        order_id: body.order_id,
        quantity: body.quantity,
        revenue: body.revenue,
    };
    relay(env, cfg, shop, sku, cmd).await
}

pub fn check_quantity(q: u32) -> AppResult<()> {
    if (1..=100).contains(&q) {
        Ok(())
    } else {
        Err(AppError::Invalid("invalid_quantity", "quantity must be 1–100".into()))
    }
}

/// The request's `Origin` header (what CORS answers are for).
pub fn origin(req: &Request) -> Option<String> {
    req.headers().get("Origin").ok().flatten()
}

pub async fn sku_state(req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str) -> AppResult<Response> {
    let shop_cfg = shop_record_for_widget(env, shop).await?;
    let resp = relay(env, cfg, shop, sku, SkuCommand::State).await?;
    with_cors(resp, origin(&req).as_deref(), &shop_cfg.config.allowed_origins)
}

pub async fn preflight(req: Request, env: &Env, shop: &str) -> AppResult<Response> {
    let allowed = shop_record_for_widget(env, shop).await.map(|c| c.config.allowed_origins.clone()).unwrap_or_default();
    with_cors(Response::empty()?.with_status(204), origin(&req).as_deref(), &allowed)
}

pub async fn signup(mut req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str) -> AppResult<Response> {
    // Every message a signup causes carries signed links: with a known key they could be forged,
    // so outside dev mode the edge takes no shopper's address until LINK_SECRET is set.
    if let Some(why) = cfg.link_refusal() {
        return Err(AppError::Misconfigured(why));
    }
    let origin = origin(&req);
    // The consent's time is the commands' time (the dev clock's in dev mode).
    let now = clock::now(env, cfg).await?;
    let parsed = match body_bytes(&mut req).await {
        Ok(bytes) => parse_signup(&req, &bytes, now),
        Err(e) => Err(e),
    };
    let signup = match parsed {
        Ok(Some(signup)) => signup,
        // An unreadable body, or the honeypot: nothing to count against a limit or to store.
        // Either answer still carries the shop's CORS headers, so the widget can read it.
        refused => {
            let record = shop_record(env, shop).await?;
            let answer = refused.and_then(|_| json(202, &serde_json::json!({"status": "received"})));
            return with_cors_always(answer, origin.as_deref(), &record.config.allowed_origins);
        }
    };
    // The IP's limit first, and by itself: it is counted where the request lands (no object), and a
    // signup refused for its IP uses up none of the address's allowance.
    let client_ip = header(&req, "CF-Connecting-IP").filter(|ip| !ip.trim().is_empty());
    if let Err(refused) = ip_limit(env, shop, client_ip.as_deref()).await {
        let record = shop_record(env, shop).await?;
        return with_cors_always(Err(refused), origin.as_deref(), &record.config.allowed_origins);
    }
    // Then the shop's settings and whether the address opted out. Settings this isolate read
    // within `SIGNUP_SETTINGS_TTL_MS` are used as they are, and the opt-out comes with the
    // address's limiter hit; otherwise the shop is asked (for its version only when this isolate
    // holds a record), beside the address's limiter when this isolate last saw the shop without
    // Turnstile (with Turnstile an address counts only once its challenge passed: see `turnstile`).
    // A signup the shop refuses gives back what that early hit counted.
    let address_limits = crate::limiter_object::address_subject(shop, &signup.email);
    let suppression_key = crate::suppression::key(cfg, &signup.email.key());
    let fresh = fresh_for_signup(shop);
    let early = seen_without_turnstile(shop);
    let ask_shop = async {
        if let Some(record) = &fresh {
            return Ok((Rc::clone(record), None));
        }
        let known = held_version(shop);
        let cmd = ShopCommand::ForSignup {
            key: suppression_key.clone(),
            known: known.as_ref().map(|(version, _)| version.clone()),
        };
        let f: SignupShop = call_ok(env, SHOP, shop, &cmd).await?;
        let record = match (f.unchanged, known) {
            (true, Some((_, held))) => held,
            _ => Rc::new(set_up(f.record, shop)?),
        };
        hold(shop, f.version, f.legacy_optouts, &record);
        Ok::<_, AppError>((record, f.suppressed))
    };
    let (found, early_hit) = futures_util::future::join(ask_shop, async {
        if early {
            Some(limit(env, &address_limits, &suppression_key).await)
        } else {
            None
        }
    })
    .await;
    let early_counted = match &early_hit {
        Some(Ok(hit)) => hit.counted.clone(),
        _ => Vec::new(),
    };
    let (record, suppressed) = match found {
        Ok(found) => found,
        Err(e) => {
            refund(env, &address_limits, early_counted).await;
            return Err(e);
        }
    };
    let result = async {
        // Turnstile goes between the two rate limits (see `turnstile`'s module doc for the order).
        let mut address = early_hit;
        if let Some(ts) = &record.config.turnstile {
            // The shop turned Turnstile on since this isolate last saw it: the early count goes back.
            if address.take().is_some() {
                refund(env, &address_limits, early_counted).await;
            }
            let token = match crate::turnstile::token(signup.turnstile_token.as_deref()) {
                Ok(token) => token,
                Err(refusal) => return refusal.into_response(),
            };
            // The entry's fresh id doubles as siteverify's idempotency key (both are UUIDs).
            if let Err(refusal) = crate::turnstile::verify(env, ts, token, client_ip.as_deref(), &signup.entry_id).await
            {
                return refusal.into_response();
            }
        }
        // The address's limit and its confirmation window: one call to the address's limiter shard.
        let address = match address {
            Some(hit) => hit?,
            None => limit(env, &address_limits, &suppression_key).await?,
        };
        let confirmed_lately = address.then_wait_ms.first().is_some_and(|w| *w > 0);
        let cmd = SkuCommand::Signup {
            shop: record.context(shop),
            entry_id: signup.entry_id,
            email: signup.email.as_str().to_owned(),
            sms_consent: signup.sms_consent,
            phone: signup.phone,
            locale: signup.locale,
            quantity: signup.quantity,
            consent: Some(signup.consent),
            confirm: !confirmed_lately,
            // Only a confirmed opt-in lifts an unsubscribe; bounces and complaints stay as they are
            // (their messages are skipped at send time).
            opted_out: address.opted_out || suppressed.as_deref() == Some(crate::suppression::UNSUBSCRIBED),
        };
        let counted = address.counted.clone();
        let (status, body, rows) = call_sku_counted(env, cfg, shop, sku, cmd).await?;
        // A signup the SKU refused (no such SKU, a bad value) counts for nothing: the address's
        // allowance and its confirmation window are as they were. (Not after a failed call: the
        // signup may have been taken, and its confirmation sent.)
        if status >= 400 {
            refund(env, &address_limits, counted).await;
        }
        // A new entry (201) and one already on the list (200 from the SKU object) get the same
        // answer, so the reply does not tell whether an address was already signed up.
        crate::http::with_rows(json(if status == 200 { 201 } else { status }, &body)?, rows, cfg.dev_mode)
    }
    .await;
    with_cors_always(result, origin.as_deref(), &record.config.allowed_origins)
}

/// A signup's body, checked: everything the steps after it need, with a fresh entry id.
struct Signup {
    entry_id: String,
    email: Email,
    phone: Option<String>,
    sms_consent: bool,
    locale: Option<String>,
    quantity: u32,
    consent: serde_json::Value,
    turnstile_token: Option<String>,
}

/// Checks a signup's body; `None` when the honeypot field is filled (only bots fill it: they get
/// a plain acknowledgement and nothing is stored or sent).
fn parse_signup(req: &Request, bytes: &[u8], now: i64) -> AppResult<Option<Signup>> {
    let body: SignupRequest = decode(bytes)?;
    if body.website.as_deref().is_some_and(|w| !w.trim().is_empty()) {
        return Ok(None);
    }
    let email = Email::parse(&body.email)?;
    let phone = match body.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(parse_phone(p)?),
        None => None,
    };
    let locale = match body.locale.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        Some(l) if l.len() <= 35 && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_') => {
            Some(l.to_owned())
        }
        Some(_) => {
            return Err(AppError::Invalid("invalid_locale", "locale must be a language tag like en or de-CH".into()))
        }
        None => None,
    };
    let quantity = body.quantity.unwrap_or(1);
    check_quantity(quantity)?;
    let sms_consent = body.sms_consent.unwrap_or(false) && phone.is_some();
    let consent = consent_record(req, &body, sms_consent, now)?;
    Ok(Some(Signup {
        entry_id: new_id()?,
        email,
        phone,
        sms_consent,
        locale,
        quantity,
        consent,
        turnstile_token: body.turnstile_token,
    }))
}

/// What the shopper agreed to, when, from where: kept with the entry (erased with it), shown in the
/// audit trail and the privacy export. Per channel: email always (they asked to be told), SMS only
/// with the explicit, unticked-by-default consent.
fn consent_record(req: &Request, body: &SignupRequest, sms_consent: bool, now: i64) -> AppResult<serde_json::Value> {
    let clip =
        |s: Option<String>, n: usize| s.map(|v| v.trim().chars().take(n).collect::<String>()).filter(|v| !v.is_empty());
    let mut channels = vec!["email"];
    if sms_consent {
        channels.push("sms");
    }
    // The shop's separate marketing checkbox (Klaviyo subscribes only these, and only while the
    // shop asks for it).
    let marketing = body.marketing_consent == Some(true);
    if marketing {
        channels.push("email_marketing");
    }
    Ok(serde_json::json!({
        "at": shared::date::format_timestamp_ms(now),
        "ip": header(req, "CF-Connecting-IP"),
        "user_agent": clip(header(req, "User-Agent"), 500),
        "text": clip(body.consent_text.clone(), 2000),
        "source": clip(body.source.clone(), 500).or_else(|| clip(header(req, "Referer"), 500)),
        "marketing_text": if marketing { clip(body.marketing_consent_text.clone(), 2000) } else { None },
        "channels": channels,
    }))
}

/// Counts a signup against its address's limits (the signups, then the confirmation window) in
/// its `Limiter` shard, and asks the shard's copy of the address's opt-out (under its suppression
/// key); a refusal is 429 with the wait.
async fn limit(env: &Env, address: &Subject, suppression_key: &str) -> AppResult<HitAnswer> {
    let hit = Hit {
        key: address.key.clone(),
        gate: vec![Kind::Address],
        then: vec![Kind::Confirmation],
        optout: Some(suppression_key.to_owned()),
    };
    let answer: HitAnswer = call_ok(env, LIMITER, &address.object, &LimitCall::Hit(hit)).await?;
    if answer.gate_wait_ms > 0 {
        return Err(AppError::RateLimited((answer.gate_wait_ms + 999) / 1000));
    }
    Ok(answer)
}

/// The binding that counts signups per client IP ([`ip_limit`]).
pub const IP_LIMIT: &str = "SIGNUP_IP_LIMIT";
/// `SIGNUP_IP_LIMIT`'s period in wrangler.toml: the longest a refused client waits.
const IP_PERIOD_SECS: i64 = 60;

/// Signups per client IP and shop: Cloudflare's Rate Limiting binding (`SIGNUP_IP_LIMIT` in
/// wrangler.toml: 100 a minute, generous since shoppers behind one carrier NAT share an address
/// during a drop), counted in the location that takes the request, with no object call. Its key
/// is a hash of (shop, IP). Retry-After is the period: the binding does not say when its window
/// ends.
async fn ip_limit(env: &Env, shop: &str, ip: Option<&str>) -> AppResult<()> {
    let key = Subject::of(shop, &format!("ip:{}", ip.unwrap_or("unknown"))).key;
    if env.rate_limiter(IP_LIMIT)?.limit(key).await?.success {
        Ok(())
    } else {
        Err(AppError::RateLimited(IP_PERIOD_SECS))
    }
}

/// Gives back what a subject's hit counted. Best effort: a refund that fails leaves a count that
/// runs out with its window, which is what a refused signup cost before refunds.
async fn refund(env: &Env, subject: &Subject, counted: Vec<Counted>) {
    if counted.is_empty() {
        return;
    }
    let call = LimitCall::Refund(Refund { key: subject.key.clone(), counted });
    if let Err(e) = call_ok::<_, serde_json::Value>(env, LIMITER, &subject.object, &call).await {
        worker::console_warn!("refund of a rate-limit count failed: {e:?}");
    }
}

pub async fn position(
    req: Request,
    env: &Env,
    cfg: &Config,
    shop: &str,
    sku: &str,
    entry_id: &str,
) -> AppResult<Response> {
    let shop_cfg = shop_record_for_widget(env, shop).await?;
    if entry_id.is_empty() || entry_id.len() > 64 || !entry_id.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-') {
        return Err(AppError::NotFound("unknown_entry", "no such waitlist entry".into()));
    }
    let resp = relay(env, cfg, shop, sku, SkuCommand::Position { entry_id: entry_id.to_owned() }).await?;
    with_cors(resp, origin(&req).as_deref(), &shop_cfg.config.allowed_origins)
}

/// A phone number as E.164 (`shared::Phone::parse`), or 422 `invalid_phone`.
pub fn parse_phone(p: &str) -> AppResult<String> {
    Ok(shared::Phone::parse(p)?.into_string())
}

/// A random, unguessable id (the entry id is what lets a browser read its place in line).
pub fn new_id() -> AppResult<String> {
    let (crypto, f) = crypto_method("randomUUID")?;
    f.call0(&crypto).ok().and_then(|v| v.as_string()).ok_or_else(|| AppError::Internal("randomUUID failed".into()))
}

/// `N` bytes from the runtime's CSPRNG (`crypto.getRandomValues`).
pub fn random_bytes<const N: usize>() -> AppResult<[u8; N]> {
    let (crypto, f) = crypto_method("getRandomValues")?;
    let buf = js_sys::Uint8Array::new_with_length(N as u32);
    f.call1(&crypto, &buf).map_err(|_| AppError::Internal("getRandomValues failed".into()))?;
    let mut out = [0u8; N];
    buf.copy_to(&mut out);
    Ok(out)
}

/// The runtime's Web Crypto object and one of its methods.
fn crypto_method(name: &str) -> AppResult<(wasm_bindgen::JsValue, js_sys::Function)> {
    use wasm_bindgen::JsCast;
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())
        .map_err(|_| AppError::Internal("no crypto".into()))?;
    let f = js_sys::Reflect::get(&crypto, &name.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| AppError::Internal(format!("no crypto.{name}")))?;
    Ok((crypto, f))
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}
