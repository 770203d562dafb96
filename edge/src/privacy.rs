//! Privacy requests (admin): export everything held about an address, and erase it. Erasing purges
//! the address from every SKU's entries and outbox of the shop and adds a keyed hash to the shop's
//! suppression list, so the address does not come back through a webhook or an import.

use crate::api::{call_sku, require_admin, shop_record, SHOP};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, call_ok, decode, json};
use crate::protocol::{ShopCommand, SkuCommand};
use serde::Deserialize;
use shared::Email;
use worker::{Env, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyRequest {
    email: String,
}

async fn address_and_skus(req: &mut Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<(String, Vec<String>)> {
    require_admin(req, cfg)?;
    let body: PrivacyRequest = decode(&body_bytes(req).await?)?;
    let email = Email::parse(&body.email)?;
    shop_record(env, shop).await?;
    let skus: Vec<String> = call_ok(env, SHOP, shop, &ShopCommand::Skus).await?;
    Ok((email.key(), skus))
}

/// `POST /v1/shops/{shop}/privacy/export {"email"}`.
pub async fn export(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let (key, skus) = address_and_skus(&mut req, env, cfg, shop).await?;
    let entries = export_key(env, cfg, shop, &key, skus).await?;
    json(200, &serde_json::json!({"email": key, "entries": entries}))
}

/// Everything held about an address key across these SKUs.
pub async fn export_key(
    env: &Env,
    cfg: &Config,
    shop: &str,
    key: &str,
    skus: Vec<String>,
) -> AppResult<Vec<serde_json::Value>> {
    let mut entries = Vec::new();
    for sku in skus {
        let (status, body) = call_sku(env, cfg, shop, &sku, SkuCommand::Export { email_key: key.to_owned() }).await?;
        match (status, body) {
            (200, serde_json::Value::Array(found)) => entries.extend(found),
            (404, _) => {}
            (status, body) => return Err(AppError::Internal(format!("export from {sku}: {status} {body}"))),
        }
    }
    Ok(entries)
}

/// `POST /v1/shops/{shop}/privacy/erase {"email"}`.
pub async fn erase(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let (key, skus) = address_and_skus(&mut req, env, cfg, shop).await?;
    let erased = erase_key(env, cfg, shop, &key, skus).await?;
    json(200, &serde_json::json!({"erased_entries": erased, "suppressed": true}))
}

/// Erases an address key from these SKUs; answers how many entries were erased.
pub async fn erase_key(env: &Env, cfg: &Config, shop: &str, key: &str, skus: Vec<String>) -> AppResult<u64> {
    // Suppress first: from this moment nothing more is sent, even if a SKU fails below.
    crate::suppression::suppress(env, cfg, shop, key, "erased").await?;
    let mut erased = 0;
    for sku in skus {
        let (status, body) = call_sku(env, cfg, shop, &sku, SkuCommand::Erase { email_key: key.to_owned() }).await?;
        if status != 200 {
            return Err(AppError::Internal(format!("erase in {sku}: {status} {body}")));
        }
        erased += body.get("erased_entries").and_then(|v| v.as_u64()).unwrap_or(0);
    }
    Ok(erased)
}
