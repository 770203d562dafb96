//! "Why did (or didn't) I get the email?": an entry's audit trail (admin) — every state change
//! with its cause and every message queued, sent, retried, skipped or failed with the reason — and
//! the dry run of an inventory update, which says who would be told what without changing or
//! sending anything.

use crate::api::{call_sku, shop_record, SHOP};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, call_ok, decode, json};
use crate::keys::authorize;
use crate::protocol::{ShopCommand, SkuCommand};
use serde::Deserialize;
use shared::api_key::Scope;
use worker::{Env, Request, Response};

/// `GET /v1/shops/{shop}/entries/{entry_id}[?sku=]`: the entry is looked for in every SKU of the
/// shop unless `sku` names it.
pub async fn entry(req: Request, env: &Env, cfg: &Config, shop: &str, entry_id: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Read).await?;
    shop_record(env, shop).await?;
    if entry_id.is_empty() || entry_id.len() > 64 {
        return Err(AppError::NotFound("unknown_entry", "no such waitlist entry".into()));
    }
    let only = req.url()?.query_pairs().find(|(k, _)| k == "sku").map(|(_, v)| v.into_owned());
    let skus: Vec<String> = match only {
        Some(sku) => vec![crate::api::sku_of(&sku)?],
        None => call_ok(env, SHOP, shop, &ShopCommand::Skus).await?,
    };
    for sku in skus {
        let (status, body) =
            call_sku(env, cfg, shop, &sku, SkuCommand::Audit { entry_id: entry_id.to_owned() }).await?;
        match status {
            200 => return json(200, &body),
            404 => continue,
            s => return Err(AppError::Internal(format!("audit in {sku}: {s} {body}"))),
        }
    }
    Err(AppError::NotFound("unknown_entry", "no such waitlist entry in this shop".into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DryRunRequest {
    #[serde(default)]
    location: Option<String>,
    available: i64,
}

/// `POST /v1/shops/{shop}/skus/{sku}/dry-run {"location"?, "available"}`: replays an absolute
/// level against the SKU as it is now.
pub async fn dry_run(mut req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str) -> AppResult<Response> {
    authorize(&req, env, cfg, shop, Scope::Read).await?;
    let body: DryRunRequest = decode(&body_bytes(&mut req).await?)?;
    if body.available < 0 {
        return Err(AppError::Invalid("invalid_available", "available must be zero or more".into()));
    }
    let location = body.location.unwrap_or_else(|| "default".to_owned());
    if location.is_empty() || location.len() > 100 {
        return Err(AppError::Invalid("invalid_location", "location is 1–100 characters".into()));
    }
    let record = shop_record(env, shop).await?;
    let cmd = SkuCommand::DryRun { shop: record.context(shop), location, available: body.available };
    let (status, body) = call_sku(env, cfg, shop, sku, cmd).await?;
    json(status, &body)
}
