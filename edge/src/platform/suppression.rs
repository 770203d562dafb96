//! The shop's suppression list: addresses that must get no more messages (unsubscribed, and later
//! erased or bounced), kept as keyed hashes so the list itself holds no address. The SKU objects
//! ask it right before every send.

use crate::api::SHOP;
use crate::config::Config;
use crate::error::AppResult;
use crate::http::call_ok;
use crate::protocol::{ShopCommand, Suppression};
use shared::consent::suppression_key;
use worker::Env;

/// The stored key of an address key (`Email::key`).
pub fn key(cfg: &Config, address_key: &str) -> String {
    suppression_key(cfg.link_secret.as_bytes(), address_key)
}

pub async fn suppress(env: &Env, cfg: &Config, shop: &str, address_key: &str, reason: &str) -> AppResult<()> {
    let _: bool =
        call_ok(env, SHOP, shop, &ShopCommand::Suppress { key: key(cfg, address_key), reason: reason.to_owned() })
            .await?;
    Ok(())
}

/// A confirmed opt-in is new consent: lifts the address's suppression for this reason only (the
/// double opt-in link lifts `UNSUBSCRIBED`, an SMS START lifts STOP). A bare signup never gets
/// here: it only asks for that confirmation.
pub async fn lift(env: &Env, cfg: &Config, shop: &str, address_key: &str, reason: &str) -> AppResult<()> {
    let _: bool =
        call_ok(env, SHOP, shop, &ShopCommand::Unsuppress { key: key(cfg, address_key), reason: reason.to_owned() })
            .await?;
    Ok(())
}

/// The one reason a confirmed opt-in lifts. Bounces and complaints stay: the address does not
/// exist, or its owner called our mail spam.
pub const UNSUBSCRIBED: &str = "unsubscribed";

/// Which of these address keys are suppressed, each with its reason (answers the address keys,
/// not the hashes).
pub async fn suppressed(
    env: &Env,
    cfg: &Config,
    shop: &str,
    address_keys: &[String],
) -> AppResult<Vec<(String, String)>> {
    if address_keys.is_empty() {
        return Ok(Vec::new());
    }
    let hashed: Vec<String> = address_keys.iter().map(|a| key(cfg, a)).collect();
    let hits: Vec<Suppression> = call_ok(env, SHOP, shop, &ShopCommand::Suppressed { keys: hashed.clone() }).await?;
    Ok(address_keys
        .iter()
        .zip(&hashed)
        .filter_map(|(a, h)| hits.iter().find(|s| &s.key == h).map(|s| (a.clone(), s.reason.clone())))
        .collect())
}
