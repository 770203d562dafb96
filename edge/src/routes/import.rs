//! Importing waitlists exported from other back-in-stock apps (`POST /v1/shops/{shop}/imports`,
//! admin, a CSV body): rows are read by `shared::import`, matched to the shop's SKUs (by SKU, or
//! by Shopify variant id), and appended to each SKU's line in their original signup order. No
//! confirmation goes out: these shoppers were confirmed by the app they signed up with.
//! `?dry_run=true` answers what would happen and writes nothing.

use crate::api::{call_sku, new_id, shop_record, SHOP};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes_up_to, call_ok, json, MAX_IMPORT_BYTES};
use crate::protocol::{ImportedEntry, ShopCommand, SkuCommand};
use serde_json::{json, Value};
use shared::import::parse_waitlist_csv;
use std::collections::BTreeMap;
use worker::{Env, Request, Response};

/// Entries per call to a SKU's object: keeps each command's request and its write small.
const CHUNK: usize = 1000;

pub async fn import(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    crate::keys::authorize(&req, env, cfg, shop, shared::api_key::Scope::Write).await?;
    let dry_run = req.url()?.query_pairs().any(|(k, v)| k == "dry_run" && (v == "true" || v == "1"));
    let record = shop_record(env, shop).await?;
    let bytes = body_bytes_up_to(&mut req, MAX_IMPORT_BYTES).await?;
    let text = String::from_utf8(bytes)
        .map_err(|_| AppError::BadRequest("invalid_encoding", "the CSV must be UTF-8 text".into()))?;
    let plan = parse_waitlist_csv(&text).map_err(|e| AppError::Invalid(e.code(), e.to_string()))?;
    let known: Vec<String> = call_ok(env, SHOP, shop, &ShopCommand::Skus).await?;
    let mut rejected: Vec<Value> =
        plan.rejected.iter().map(|r| json!({"line": r.line, "code": r.code, "message": r.message})).collect();
    // Rows stay in signup order within each SKU.
    let mut by_sku: BTreeMap<String, Vec<ImportedEntry>> = BTreeMap::new();
    let mut variants: BTreeMap<i64, Option<String>> = BTreeMap::new();
    for row in &plan.rows {
        let mut sku = row.sku.clone().filter(|s| known.contains(s));
        if sku.is_none() {
            if let Some(v) = row.variant_id {
                sku = match variants.get(&v) {
                    Some(known) => known.clone(),
                    None => {
                        let found: Option<String> =
                            call_ok(env, SHOP, shop, &ShopCommand::ResolveVariant { variant_id: v }).await?;
                        variants.insert(v, found.clone());
                        found
                    }
                };
            }
        }
        let Some(sku) = sku else {
            let named = row.sku.clone().or(row.variant_id.map(|v| format!("variant {v}"))).unwrap_or_default();
            rejected.push(json!({"line": row.line, "code": "unknown_sku", "message": format!("no waitlist for {named:?} in this shop")}));
            continue;
        };
        by_sku.entry(sku).or_default().push(ImportedEntry {
            entry_id: new_id()?,
            email: row.email.clone(),
            phone: row.phone.clone(),
            sms_consent: row.sms_consent && row.phone.is_some(),
            locale: row.locale.clone(),
            quantity: row.quantity.clamp(1, 100),
            signed_up_at_ms: row.signed_up_at_ms,
        });
    }
    let mut skus = serde_json::Map::new();
    let mut imported_total = 0usize;
    let mut skipped: Vec<Value> = Vec::new();
    for (sku, entries) in by_sku {
        if dry_run {
            imported_total += entries.len();
            skus.insert(sku, json!({"rows": entries.len()}));
            continue;
        }
        let mut imported = 0usize;
        let mut waiting = Value::Null;
        for chunk in entries.chunks(CHUNK) {
            let cmd = SkuCommand::Import { shop: record.context(shop), entries: chunk.to_vec() };
            let (status, body) = call_sku(env, cfg, shop, &sku, cmd).await?;
            if status != 200 {
                return Err(AppError::Internal(format!("import into {sku}: {status} {body}")));
            }
            let done: waitlist::answer::ImportResult = crate::api::answer(body)?;
            imported += done.imported.len();
            for s in done.skipped {
                let mut v = serde_json::to_value(&s).map_err(|e| AppError::Internal(e.to_string()))?;
                v["sku"] = sku.clone().into();
                skipped.push(v);
            }
            waiting = done.waiting.into();
        }
        imported_total += imported;
        skus.insert(sku, json!({"imported": imported, "waiting": waiting}));
    }
    rejected.sort_by_key(|r| r["line"].as_u64());
    json(
        200,
        &json!({
            "dry_run": dry_run,
            "imported": imported_total,
            "skus": skus,
            "duplicates": plan.duplicates.len(),
            // Rows another app had already finished with (notified, unsubscribed, cancelled).
            "done_elsewhere": plan.skipped.iter().map(|r| json!({"line": r.line, "code": r.code, "message": r.message})).collect::<Vec<_>>(),
            "warnings": plan.warnings.iter().map(|r| json!({"line": r.line, "code": r.code, "message": r.message})).collect::<Vec<_>>(),
            "skipped": skipped,
            "rejected": rejected,
        }),
    )
}
