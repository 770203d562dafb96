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
    let mut entries = Vec::new();
    for sku in skus {
        let (status, body) = call_sku(env, cfg, shop, &sku, SkuCommand::Export { email_key: key.clone() }).await?;
        match (status, body) {
            (200, serde_json::Value::Array(found)) => entries.extend(found),
            (404, _) => {}
            (status, body) => return Err(AppError::Internal(format!("export from {sku}: {status} {body}"))),
        }
    }
    json(200, &serde_json::json!({"email": key, "entries": entries}))
}

/// `POST /v1/shops/{shop}/privacy/erase {"email"}`.
pub async fn erase(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let (key, skus) = address_and_skus(&mut req, env, cfg, shop).await?;
    // Suppress first: from this moment nothing more is sent, even if a SKU fails below.
    crate::suppression::suppress(env, cfg, shop, &key, "erased").await?;
    let mut erased = 0;
    for sku in skus {
        let (status, body) = call_sku(env, cfg, shop, &sku, SkuCommand::Erase { email_key: key.clone() }).await?;
        if status != 200 {
            return Err(AppError::Internal(format!("erase in {sku}: {status} {body}")));
        }
        erased += body.get("erased_entries").and_then(|v| v.as_u64()).unwrap_or(0);
    }
    json(200, &serde_json::json!({"erased_entries": erased, "suppressed": true}))
}
