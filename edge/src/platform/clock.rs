//! The dev clock: with `DEV_MODE=true` only, tests move the edge's clock forward
//! (`POST /v1/dev/advance {"seconds":N}`) and every SKU object runs what is then due. One
//! `DevClock` object holds the offset and the shops to tick. Never active by default.

use crate::api::{call_sku, SHOP};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, call_ok, decode, json};
use crate::keys::require_operator;
use crate::protocol::{ShopCommand, SkuCommand};
use crate::sql;
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// The platform's clock, Unix ms: the only place the edge reads it. What runs on the dev clock adds
/// [`offset_ms`] (the SKU objects keep the offset they were sent; signature windows, rate limits and
/// link expiry stay on real time, as the senders and shoppers do).
pub fn real_now() -> i64 {
    worker::Date::now().as_millis() as i64
}

const BINDING: &str = "DEV_CLOCK";
const NAME: &str = "clock";
/// Longest single step (a year): enough for any schedule, small enough to keep times sane.
const MAX_ADVANCE_SECS: i64 = 366 * 24 * 3600;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum ClockCommand {
    Get,
    Advance { ms: i64 },
    RegisterShop { shop: String },
    Shops,
}

#[durable_object]
pub struct DevClock {
    state: State,
}

#[derive(Deserialize)]
struct ShopRow {
    shop: String,
}

impl DurableObject for DevClock {
    fn new(state: State, _env: Env) -> Self {
        let _ = state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS shops (shop TEXT PRIMARY KEY);",
            None,
        );
        DevClock { state }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let db = self.state.storage().sql();
        let offset = sql::setting(&db, "settings", "offset_ms")?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        match req.json::<ClockCommand>().await? {
            ClockCommand::Get => Response::from_json(&offset),
            ClockCommand::Advance { ms } => {
                let next = offset + ms;
                sql::exec(
                    &db,
                    "INSERT OR REPLACE INTO settings (k, v) VALUES ('offset_ms', ?)",
                    vec![next.to_string().into()],
                )?;
                Response::from_json(&next)
            }
            ClockCommand::RegisterShop { shop } => {
                sql::exec(&db, "INSERT OR IGNORE INTO shops (shop) VALUES (?)", vec![shop.into()])?;
                Response::from_json(&true)
            }
            ClockCommand::Shops => {
                let rows: Vec<ShopRow> = db.exec("SELECT shop FROM shops ORDER BY shop", None)?.to_array()?;
                Response::from_json(&rows.into_iter().map(|r| r.shop).collect::<Vec<_>>())
            }
        }
    }
}

thread_local! {
    /// The offset this isolate last read or set. `advance`, through this Worker, is its only writer,
    /// and `wrangler dev` runs one isolate: every command but the first skips the clock's object.
    static OFFSET: std::cell::Cell<Option<i64>> = const { std::cell::Cell::new(None) };
}

/// Now as every command sees it: the platform clock, moved by the dev clock's offset in dev mode
/// (so a link minted at dev time expires at dev time too).
pub async fn now(env: &Env, cfg: &Config) -> AppResult<i64> {
    Ok(real_now() + offset(env, cfg).await?)
}

/// How far the commands' clock is ahead of the platform's: the dev clock's offset in dev mode, else 0.
pub async fn offset(env: &Env, cfg: &Config) -> AppResult<i64> {
    if cfg.dev_mode {
        offset_ms(env).await
    } else {
        Ok(0)
    }
}

/// The dev clock's offset (dev mode only; callers check `DEV_MODE`).
pub async fn offset_ms(env: &Env) -> AppResult<i64> {
    if let Some(ms) = OFFSET.with(std::cell::Cell::get) {
        return Ok(ms);
    }
    let ms: i64 = call_ok(env, BINDING, NAME, &ClockCommand::Get).await?;
    OFFSET.with(|o| o.set(Some(ms)));
    Ok(ms)
}

pub async fn register_shop(env: &Env, shop: &str) -> AppResult<()> {
    let _: bool = call_ok(env, BINDING, NAME, &ClockCommand::RegisterShop { shop: shop.to_owned() }).await?;
    Ok(())
}

#[derive(Deserialize)]
struct AdvanceRequest {
    seconds: i64,
}

#[derive(Deserialize)]
struct SeedRequest {
    shop: String,
    sku: String,
    count: u32,
}

/// `POST /v1/dev/seed {"shop","sku","count"}`: bulk waiting entries for benchmarks (dev mode only).
pub async fn seed(mut req: Request, env: &Env, cfg: &Config) -> AppResult<Response> {
    require_operator(&req, cfg)?;
    let body: SeedRequest = decode(&body_bytes(&mut req).await?)?;
    crate::api::check_shop(&body.shop)?;
    let sku = crate::api::sku_of(&body.sku)?;
    if body.count == 0 || body.count > 100_000 {
        return Err(AppError::Invalid("invalid_field", "count must be 1–100000 per call".into()));
    }
    let (status, answer) = call_sku(env, cfg, &body.shop, &sku, SkuCommand::Seed { count: body.count }).await?;
    json(status, &answer)
}

/// `POST /v1/dev/advance {"seconds":N}`: moves the clock and runs what is due in every SKU.
pub async fn advance(mut req: Request, env: &Env, cfg: &Config) -> AppResult<Response> {
    require_operator(&req, cfg)?;
    let body: AdvanceRequest = decode(&body_bytes(&mut req).await?)?;
    if !(0..=MAX_ADVANCE_SECS).contains(&body.seconds) {
        return Err(AppError::Invalid("invalid_field", format!("seconds must be 0–{MAX_ADVANCE_SECS}")));
    }
    let offset: i64 = call_ok(env, BINDING, NAME, &ClockCommand::Advance { ms: body.seconds * 1000 }).await?;
    OFFSET.with(|o| o.set(Some(offset)));
    let shops: Vec<String> = call_ok(env, BINDING, NAME, &ClockCommand::Shops).await?;
    let mut ticked = 0;
    for shop in shops {
        let skus: Vec<String> = call_ok(env, SHOP, &shop, &ShopCommand::Skus).await?;
        for sku in skus {
            call_sku(env, cfg, &shop, &sku, SkuCommand::Tick).await?;
            ticked += 1;
        }
    }
    json(200, &serde_json::json!({"offset_seconds": offset / 1000, "skus_ticked": ticked}))
}
