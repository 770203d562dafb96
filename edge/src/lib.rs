//! The edge: a Cloudflare Worker that serves the waitlist API and the inventory webhooks, with one
//! SQLite-backed Durable Object per (shop, SKU) holding that SKU's queue in strict FIFO order.
//!
//! The Worker only routes, authenticates, validates and relays; all waitlist logic lives in the
//! `waitlist` crate (over `shared`) and is driven by the `SkuQueue` object.
//!
//! Laid out by side: `routes/` (the Worker: this router's handlers), `objects/` (the Durable
//! Objects and what runs inside them), `platform/` (the glue both use: settings, the clock, object
//! calls, errors, outbound HTTP).

mod objects;
mod platform;
mod routes;

// Short paths (`crate::api`, `crate::store`, …) for the modules of each side.
use objects::{delivery, limiter_object, pacer_object, shop_object, sku_object, sql, store};
use platform::{clock, config, error, http, mailer, protocol, suppression};
use routes::{
    api, audit, events, feed, import, keys, links, mailbox, privacy, provider_events, shopify, sms_inbound, turnstile,
};

pub use clock::DevClock;
pub use limiter_object::Limiter;
pub use pacer_object::Pacer;
pub use shop_object::Shop;
pub use sku_object::SkuQueue;

use config::{Config, EmailProvider};
use error::{AppError, AppResult};
use worker::{event, Context, Env, Method, Request, Response};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    match route(req, &env).await {
        Ok(resp) => Ok(resp),
        Err(e) => e.into_response(),
    }
}

async fn route(req: Request, env: &Env) -> AppResult<Response> {
    let cfg = Config::of(env);
    // A deployment that cannot do its job says so on every request, health check included,
    // rather than take signups it would never send.
    if let Some(why) = &cfg.misconfigured {
        return Err(AppError::Misconfigured(why.clone()));
    }
    let url = req.url()?;
    // Each segment percent-decoded: a SKU such as `BOOT/10 wide` arrives as `BOOT%2F10%20wide`.
    let decoded = url.path().trim_matches('/').split('/').map(decode_segment).collect::<AppResult<Vec<String>>>()?;
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let method = req.method();
    use Method::*;
    match (method.clone(), segments.as_slice()) {
        (Get, ["healthz"]) => http::json(200, &serde_json::json!({"ok": true, "public_base_url": cfg.public_base_url})),
        (Get, ["dev", page @ ("mailbox" | "mailbox.json")]) if cfg.dev_mode && cfg.email == EmailProvider::Outbox => {
            let shop = url
                .query_pairs()
                .find(|(k, _)| k == "shop")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| "demo".into());
            if *page == "mailbox" {
                mailbox::html_page(env, &cfg, &shop).await
            } else {
                mailbox::json_page(env, &cfg, &shop).await
            }
        }
        (Post, ["v1", "dev", "advance"]) if cfg.dev_mode => clock::advance(req, env, &cfg).await,
        (Post, ["v1", "dev", "seed"]) if cfg.dev_mode => clock::seed(req, env, &cfg).await,
        (Get, ["v1", "l", token]) => links::click(env, &cfg, token).await,
        (Get, ["v1", "cancel", token]) => links::cancel_page(env, &cfg, token).await,
        (Post, ["v1", "cancel", token]) => links::cancel(env, &cfg, token).await,
        (Get, ["v1", "confirm", token]) => links::confirm_page(env, &cfg, token).await,
        (Post, ["v1", "confirm", token]) => links::confirm(env, &cfg, token).await,
        (Get, ["v1", "unsubscribe", token]) => links::unsubscribe_page(env, &cfg, token).await,
        (Post, ["v1", "unsubscribe", token]) => links::unsubscribe(env, &cfg, token).await,
        (Post, ["v1", "webhooks", "resend"]) => provider_events::resend(req, env, &cfg).await,
        (_, ["v1", "shops", shop, rest @ ..]) => {
            api::check_shop(shop)?;
            // Every `skus/{sku}` route gets the SKU checked and trimmed (`shared::Sku`).
            let sku_owned;
            let mut checked = rest.to_vec();
            if let ["skus", sku, ..] = rest {
                sku_owned = api::sku_of(sku)?;
                checked[1] = &sku_owned;
            }
            let rest = checked.as_slice();
            match (method, rest) {
                (Put, []) => api::put_shop(req, env, &cfg, shop).await,
                (Get, []) => api::get_shop(req, env, &cfg, shop).await,
                (Post, ["keys"]) => keys::create(req, env, &cfg, shop).await,
                (Get, ["keys"]) => keys::list(req, env, &cfg, shop).await,
                (Post, ["keys", id, "rotate"]) => keys::rotate(req, env, &cfg, shop, id).await,
                (Delete, ["keys", id]) => keys::revoke(req, env, &cfg, shop, id).await,
                (Put, ["skus", sku]) => api::put_sku(req, env, &cfg, shop, sku).await,
                (Get, ["skus", sku]) => api::sku_state(req, env, &cfg, shop, sku).await,
                (Get, ["skus", sku, "queue"]) => api::queue(req, env, &cfg, shop, sku).await,
                (Post, ["skus", sku, "waitlist"]) => api::signup(req, env, &cfg, shop, sku).await,
                (Get, ["skus", sku, "waitlist", entry]) => api::position(req, env, &cfg, shop, sku, entry).await,
                (Post, ["skus", sku, "backorders"]) => api::backorder(req, env, &cfg, shop, sku).await,
                (Post, ["skus", sku, "conversions"]) => api::conversion(req, env, &cfg, shop, sku).await,
                (Get, ["skus", sku, "claims", token]) => links::claim(req, env, &cfg, shop, sku, token).await,
                (Put, ["templates", kind]) => api::put_template(req, env, &cfg, shop, kind).await,
                (Get, ["entries", entry]) => audit::entry(req, env, &cfg, shop, entry).await,
                (Post, ["skus", sku, "dry-run"]) => audit::dry_run(req, env, &cfg, shop, sku).await,
                (Post, ["imports"]) => import::import(req, env, &cfg, shop).await,
                (Get, ["events"]) => events::log(req, env, &cfg, shop).await,
                (Post, ["privacy", "export"]) => privacy::export(req, env, &cfg, shop).await,
                (Post, ["privacy", "erase"]) => privacy::erase(req, env, &cfg, shop).await,
                (Options, ["skus", _, ..]) => api::preflight(req, env, shop).await,
                (Post, ["webhooks", "shopify"]) => shopify::webhook(req, env, &cfg, shop).await,
                (Post, ["webhooks", "inventory"]) => feed::inventory_webhook(req, env, &cfg, shop).await,
                (Post, ["webhooks", "twilio"]) => sms_inbound::twilio(req, env, &cfg, shop).await,
                (
                    _,
                    []
                    | ["skus", _]
                    | ["skus", _, "queue" | "waitlist" | "backorders" | "conversions"]
                    | ["skus", _, "waitlist", _]
                    | ["webhooks", "shopify" | "inventory" | "twilio"]
                    | ["imports" | "events" | "keys"]
                    | ["keys", _]
                    | ["keys", _, "rotate"]
                    | ["entries", _]
                    | ["skus", _, "dry-run"],
                ) => Err(AppError::MethodNotAllowed),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

/// One path segment, percent-decoded; not UTF-8 once decoded → 400.
fn decode_segment(segment: &str) -> AppResult<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AppError::BadRequest("invalid_path", "the path is not percent-encoded UTF-8".into()))
}

fn not_found() -> AppError {
    AppError::NotFound("not_found", "no such endpoint".into())
}
