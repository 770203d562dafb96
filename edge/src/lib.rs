//! The edge: a Cloudflare Worker that serves the waitlist API and the inventory webhooks, with one
//! SQLite-backed Durable Object per (shop, SKU) holding that SKU's queue in strict FIFO order.
//!
//! The Worker only routes, authenticates, validates and relays; all waitlist logic lives in the
//! `shared` crate and is driven by the `SkuQueue` object.

mod api;
mod audit;
mod clock;
mod config;
mod delivery;
mod error;
mod events;
mod feed;
mod http;
mod import;
mod limiter_object;
mod links;
mod mailbox;
mod mailer;
mod privacy;
mod protocol;
mod provider_events;
mod shop_object;
mod shopify;
mod sku_object;
mod sms_inbound;
mod sql;
mod store;
mod suppression;
mod turnstile;

pub use clock::DevClock;
pub use limiter_object::Limiter;
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
    let cfg = Config::from_env(env);
    let url = req.url()?;
    let path = url.path().to_owned();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method();
    use Method::*;
    match (method.clone(), segments.as_slice()) {
        (Get, ["healthz"]) => http::json(200, &serde_json::json!({"ok": true, "public_base_url": cfg.public_base_url})),
        (Get, ["dev", page @ ("mailbox" | "mailbox.json")]) if cfg.email == EmailProvider::Outbox => {
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
        (Get, ["v1", "cancel", token]) => links::cancel_page(&cfg, token).await,
        (Post, ["v1", "cancel", token]) => links::cancel(env, &cfg, token).await,
        (Get, ["v1", "confirm", token]) => links::confirm_page(&cfg, token).await,
        (Post, ["v1", "confirm", token]) => links::confirm(env, &cfg, token).await,
        (Get, ["v1", "unsubscribe", token]) => links::unsubscribe_page(&cfg, token).await,
        (Post, ["v1", "unsubscribe", token]) => links::unsubscribe(env, &cfg, token).await,
        (Post, ["v1", "webhooks", "resend"]) => provider_events::resend(req, env, &cfg).await,
        (_, ["v1", "shops", shop, rest @ ..]) => {
            api::check_id("shop", shop)?;
            match (method, rest) {
                (Put, []) => api::put_shop(req, env, &cfg, shop).await,
                (Put, ["skus", sku]) => with_sku(sku, api::put_sku(req, env, &cfg, shop, sku)).await,
                (Get, ["skus", sku]) => with_sku(sku, api::sku_state(req, env, &cfg, shop, sku)).await,
                (Get, ["skus", sku, "queue"]) => with_sku(sku, api::queue(req, env, &cfg, shop, sku)).await,
                (Post, ["skus", sku, "waitlist"]) => with_sku(sku, api::signup(req, env, &cfg, shop, sku)).await,
                (Get, ["skus", sku, "waitlist", entry]) => {
                    with_sku(sku, api::position(req, env, &cfg, shop, sku, entry)).await
                }
                (Post, ["skus", sku, "backorders"]) => with_sku(sku, api::backorder(req, env, &cfg, shop, sku)).await,
                (Post, ["skus", sku, "conversions"]) => with_sku(sku, api::conversion(req, env, &cfg, shop, sku)).await,
                (Get, ["skus", sku, "claims", token]) => {
                    with_sku(sku, links::claim(req, env, &cfg, shop, sku, token)).await
                }
                (Put, ["templates", kind]) => api::put_template(req, env, &cfg, shop, kind).await,
                (Get, ["entries", entry]) => audit::entry(req, env, &cfg, shop, entry).await,
                (Post, ["skus", sku, "dry-run"]) => with_sku(sku, audit::dry_run(req, env, &cfg, shop, sku)).await,
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
                    | ["imports" | "events"]
                    | ["entries", _]
                    | ["skus", _, "dry-run"],
                ) => Err(AppError::MethodNotAllowed),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

async fn with_sku(sku: &str, handler: impl std::future::Future<Output = AppResult<Response>>) -> AppResult<Response> {
    api::check_id("sku", sku)?;
    handler.await
}

fn not_found() -> AppError {
    AppError::NotFound("not_found", "no such endpoint".into())
}
