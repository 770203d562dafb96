//! `Shop` Durable Object: one per shop, holding its settings and its SKU index
//! (Shopify inventory item → SKU).
//!
//! Concurrency assumption: a Durable Object runs one event at a time and every handler here is
//! synchronous between reading the request and answering, so no two commands interleave.

use crate::protocol::{KeyCheck, KeyOutcome, ShopCommand, ShopRecord, SignupShop, Suppression};
use crate::sql;
use serde::Deserialize;
use shared::api_key::Scope;
use shared::wire::{KeyView, ShopConfig};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

#[durable_object]
pub struct Shop {
    state: State,
}

#[derive(Deserialize)]
struct SkuRow {
    sku: String,
}

impl DurableObject for Shop {
    fn new(state: State, _env: Env) -> Self {
        let db = state.storage().sql();
        let _ = db.exec(
            "CREATE TABLE IF NOT EXISTS settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS skus (sku TEXT PRIMARY KEY, shopify_inventory_item_id INTEGER);
             CREATE INDEX IF NOT EXISTS skus_item ON skus(shopify_inventory_item_id);
             CREATE TABLE IF NOT EXISTS suppressed (key TEXT PRIMARY KEY, reason TEXT NOT NULL, at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS api_keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL, last4 TEXT NOT NULL,
               name TEXT NOT NULL, scope TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
               last_used_at INTEGER, rotated_at INTEGER, revoked_at INTEGER);",
            None,
        );
        // Signup limits moved to `Limiter` objects, which keep hashes: the old table held addresses and IPs.
        let _ = db.exec("DROP TABLE IF EXISTS limits", None);
        // Added with the Shopify product sync; fails harmlessly once the column exists.
        let _ = db.exec("ALTER TABLE skus ADD COLUMN shopify_variant_id INTEGER", None);
        // 1 when the address's limiter shard holds the row's opt-out copy; NULL on older rows.
        let _ = db.exec("ALTER TABLE suppressed ADD COLUMN mirrored INTEGER", None);
        Shop { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // serde_json, not the runtime's JSON.parse: Shopify ids above 2^53 must keep every digit.
        let cmd: ShopCommand = serde_json::from_str(&req.text().await?)?;
        let db = self.state.storage().sql();
        match cmd {
            ShopCommand::Put { config } => {
                sql::exec(
                    &db,
                    "INSERT OR REPLACE INTO settings (k, v) VALUES ('config', ?)",
                    vec![serde_json::to_string(&config)?.into()],
                )?;
                new_version(&db)?;
                Response::from_json(&config)
            }
            ShopCommand::Get => Response::from_json(&record(&db)?),
            ShopCommand::PutTemplate { kind, template } => {
                let mut templates: std::collections::BTreeMap<String, shared::template::Template> =
                    match sql::setting(&db, "settings", "templates")? {
                        Some(t) => serde_json::from_str(&t)?,
                        None => Default::default(),
                    };
                templates.insert(kind, template.clone());
                sql::exec(
                    &db,
                    "INSERT OR REPLACE INTO settings (k, v) VALUES ('templates', ?)",
                    vec![serde_json::to_string(&templates)?.into()],
                )?;
                new_version(&db)?;
                Response::from_json(&template)
            }
            ShopCommand::IndexSku { sku, shopify_inventory_item_id, shopify_variant_id } => {
                if let Some(item) = shopify_inventory_item_id {
                    // An inventory item belongs to one SKU: a re-mapped item leaves its old SKU.
                    sql::exec(&db, "UPDATE skus SET shopify_inventory_item_id = NULL WHERE shopify_inventory_item_id = ? AND sku <> ?", vec![item.to_string().into(), sku.clone().into()])?;
                }
                // Shopify ids reach 2^63: bound as text (exact), stored as integers by the column's affinity.
                // Bound as JS numbers they would lose digits above 2^53.
                let opt = |v: Option<i64>| v.map_or(worker::SqlStorageValue::Null, |v| v.to_string().into());
                sql::exec(
                    &db,
                    "INSERT INTO skus (sku, shopify_inventory_item_id, shopify_variant_id) VALUES (?, ?, ?)
                     ON CONFLICT(sku) DO UPDATE SET shopify_inventory_item_id = excluded.shopify_inventory_item_id,
                       shopify_variant_id = COALESCE(excluded.shopify_variant_id, skus.shopify_variant_id)",
                    vec![sku.into(), opt(shopify_inventory_item_id), opt(shopify_variant_id)],
                )?;
                Response::from_json(&serde_json::json!({"ok": true}))
            }
            ShopCommand::ResolveItem { inventory_item_id } => {
                let rows: Vec<SkuRow> = db
                    .exec(
                        "SELECT sku FROM skus WHERE shopify_inventory_item_id = ?",
                        vec![inventory_item_id.to_string().into()],
                    )?
                    .to_array()?;
                Response::from_json(&rows.first().map(|r| r.sku.clone()))
            }
            ShopCommand::ResolveVariant { variant_id } => {
                let rows: Vec<SkuRow> = db
                    .exec("SELECT sku FROM skus WHERE shopify_variant_id = ?", vec![variant_id.to_string().into()])?
                    .to_array()?;
                Response::from_json(&rows.first().map(|r| r.sku.clone()))
            }
            ShopCommand::Suppress { key, reason, mirrored } => {
                let at = crate::clock::real_now();
                let mirrored =
                    if mirrored { worker::SqlStorageValue::Integer(1) } else { worker::SqlStorageValue::Null };
                sql::exec(
                    &db,
                    "INSERT OR REPLACE INTO suppressed (key, reason, at, mirrored) VALUES (?, ?, ?, ?)",
                    vec![key.into(), reason.into(), at.into(), mirrored],
                )?;
                forget_legacy(&db)?;
                Response::from_json(&true)
            }
            ShopCommand::Unsuppress { key, reason } => {
                sql::exec(&db, "DELETE FROM suppressed WHERE key = ? AND reason = ?", vec![key.into(), reason.into()])?;
                forget_legacy(&db)?;
                Response::from_json(&true)
            }
            ShopCommand::Suppressed { keys } => {
                let mut hit = Vec::new();
                for key in keys {
                    hit.extend(suppression(&db, &key)?);
                }
                Response::from_json(&hit)
            }
            ShopCommand::ForSignup { key, known } => {
                let mut version = sql::setting(&db, "settings", "version")?;
                // A shop set up before records had versions gets its first one here.
                if version.is_none() && sql::setting(&db, "settings", "config")?.is_some() {
                    version = Some(new_version(&db)?);
                }
                let unchanged = version.is_some() && known == version;
                Response::from_json(&SignupShop {
                    record: if unchanged { None } else { record(&db)? },
                    version,
                    unchanged,
                    suppressed: suppression(&db, &key)?.map(|s| s.reason),
                    legacy_optouts: legacy_optouts(&db)?,
                })
            }
            ShopCommand::CreateKey { shop, id, hash, last4, name, scope, created_by } => {
                if record(&db)?.is_none() {
                    return Response::from_json(&KeyOutcome::UnknownShop);
                }
                if keys(&db, &shop)?.len() >= shared::api_key::MAX_KEYS {
                    return Response::from_json(&KeyOutcome::TooMany);
                }
                sql::exec(
                    &db,
                    "INSERT INTO api_keys (id, hash, last4, name, scope, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    vec![
                        id.clone().into(),
                        hash.into(),
                        last4.into(),
                        name.into(),
                        scope.as_str().into(),
                        crate::clock::real_now().into(),
                        created_by.into(),
                    ],
                )?;
                Response::from_json(&key_outcome(&db, &shop, &id)?)
            }
            ShopCommand::Keys { shop } => {
                let set_up = record(&db)?.is_some();
                Response::from_json(&if set_up { Some(keys(&db, &shop)?) } else { None })
            }
            ShopCommand::RotateKey { shop, id, hash, last4 } => {
                match key(&db, &shop, &id)? {
                    None => return Response::from_json(&KeyOutcome::UnknownKey),
                    Some(k) if k.revoked_at.is_some() => return Response::from_json(&KeyOutcome::Revoked),
                    Some(_) => {}
                }
                sql::exec(
                    &db,
                    "UPDATE api_keys SET hash = ?, last4 = ?, rotated_at = ? WHERE id = ?",
                    vec![hash.into(), last4.into(), crate::clock::real_now().into(), id.clone().into()],
                )?;
                Response::from_json(&key_outcome(&db, &shop, &id)?)
            }
            ShopCommand::RevokeKey { shop, id } => {
                sql::exec(
                    &db,
                    "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                    vec![crate::clock::real_now().into(), id.clone().into()],
                )?;
                Response::from_json(&key_outcome(&db, &shop, &id)?)
            }
            ShopCommand::VerifyKey { id, hash } => Response::from_json(&verify_key(&db, &id, &hash)?),
            ShopCommand::Purge => {
                for table in ["settings", "skus", "suppressed", "api_keys"] {
                    sql::exec(&db, &format!("DELETE FROM {table}"), vec![])?;
                }
                Response::from_json(&serde_json::json!({"purged": true}))
            }
            ShopCommand::Skus => {
                let rows: Vec<SkuRow> = db.exec("SELECT sku FROM skus ORDER BY sku", None)?.to_array()?;
                Response::from_json(&rows.into_iter().map(|r| r.sku).collect::<Vec<_>>())
            }
        }
    }
}

/// Marks a change of the settings or templates: the version is the time of the change in ms (one
/// more than the last version if the clock has not moved on), so a shop purged and set up again
/// never repeats a version a Worker may still hold.
fn new_version(db: &SqlStorage) -> Result<String> {
    let last = sql::setting(db, "settings", "version")?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let version = crate::clock::real_now().max(last + 1).to_string();
    sql::exec(db, "INSERT OR REPLACE INTO settings (k, v) VALUES ('version', ?)", vec![version.clone().into()])?;
    Ok(version)
}

/// The shop's settings and templates, if it is set up.
fn record(db: &SqlStorage) -> Result<Option<ShopRecord>> {
    let Some(v) = sql::setting(db, "settings", "config")? else {
        return Ok(None);
    };
    let templates = match sql::setting(db, "settings", "templates")? {
        Some(t) => serde_json::from_str(&t)?,
        None => Default::default(),
    };
    Ok(Some(ShopRecord { config: serde_json::from_str::<ShopConfig>(&v)?, templates }))
}

/// Whether some unsubscribe has no copy in its address's limiter shard (it predates the copies),
/// worked out once after each change of the list.
fn legacy_optouts(db: &SqlStorage) -> Result<bool> {
    if let Some(v) = sql::setting(db, "settings", "legacy_optouts")? {
        return Ok(v == "1");
    }
    #[derive(Deserialize)]
    struct Row {
        legacy: i64,
    }
    let rows: Vec<Row> = db
        .exec(
            "SELECT EXISTS (SELECT 1 FROM suppressed WHERE reason = 'unsubscribed' AND mirrored IS NULL) AS legacy",
            None,
        )?
        .to_array()?;
    let legacy = rows.first().is_some_and(|r| r.legacy != 0);
    sql::exec(
        db,
        "INSERT OR REPLACE INTO settings (k, v) VALUES ('legacy_optouts', ?)",
        vec![if legacy { "1" } else { "0" }.into()],
    )?;
    Ok(legacy)
}

fn forget_legacy(db: &SqlStorage) -> Result<()> {
    sql::exec(db, "DELETE FROM settings WHERE k = 'legacy_optouts'", vec![])
}

/// Whether a suppression key is on the list, and why.
fn suppression(db: &SqlStorage, key: &str) -> Result<Option<Suppression>> {
    let rows: Vec<Suppression> =
        db.exec("SELECT key, reason FROM suppressed WHERE key = ?", vec![key.into()])?.to_array()?;
    Ok(rows.into_iter().next())
}

/// How often a key's `last_used_at` is written: a busy integration costs one write a minute, not
/// one per call.
const KEY_USE_RESOLUTION_MS: i64 = 60_000;

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    hash: String,
    last4: String,
    name: String,
    scope: String,
    created_at: i64,
    created_by: String,
    last_used_at: Option<i64>,
    rotated_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl KeyRow {
    fn scope(&self) -> Result<Scope> {
        Scope::parse(&self.scope).ok_or_else(|| worker::Error::RustError(format!("stored key scope {:?}", self.scope)))
    }

    fn view(self, shop: &str) -> Result<KeyView> {
        Ok(KeyView {
            prefix: shared::api_key::prefix(shop, &self.id),
            scope: self.scope()?,
            id: self.id,
            name: self.name,
            last4: self.last4,
            created_at: self.created_at,
            created_by: self.created_by,
            last_used_at: self.last_used_at,
            rotated_at: self.rotated_at,
            revoked_at: self.revoked_at,
            key: None,
        })
    }
}

const KEY_COLUMNS: &str = "id, hash, last4, name, scope, created_at, created_by, last_used_at, rotated_at, revoked_at";

fn key_row(db: &SqlStorage, id: &str) -> Result<Option<KeyRow>> {
    let rows: Vec<KeyRow> =
        db.exec(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?"), vec![id.into()])?.to_array()?;
    Ok(rows.into_iter().next())
}

fn key(db: &SqlStorage, shop: &str, id: &str) -> Result<Option<KeyView>> {
    key_row(db, id)?.map(|k| k.view(shop)).transpose()
}

fn key_outcome(db: &SqlStorage, shop: &str, id: &str) -> Result<KeyOutcome> {
    Ok(match key(db, shop, id)? {
        Some(view) => KeyOutcome::Key { view },
        None => KeyOutcome::UnknownKey,
    })
}

fn keys(db: &SqlStorage, shop: &str) -> Result<Vec<KeyView>> {
    let rows: Vec<KeyRow> =
        db.exec(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"), None)?.to_array()?;
    rows.into_iter().map(|k| k.view(shop)).collect()
}

/// Checks a presented key against its stored hash (in constant time) and notes its use.
fn verify_key(db: &SqlStorage, id: &str, hash: &str) -> Result<KeyCheck> {
    let Some(row) = key_row(db, id)? else {
        return Ok(KeyCheck::Unknown);
    };
    if !shared::api_key::constant_time_eq(&row.hash, hash) {
        return Ok(KeyCheck::Unknown);
    }
    if row.revoked_at.is_some() {
        return Ok(KeyCheck::Revoked);
    }
    let now = crate::clock::real_now();
    if row.last_used_at.is_none_or(|at| now - at >= KEY_USE_RESOLUTION_MS) {
        sql::exec(db, "UPDATE api_keys SET last_used_at = ? WHERE id = ?", vec![now.into(), id.into()])?;
    }
    Ok(KeyCheck::Valid { scope: row.scope()? })
}
