//! The shop's suppression list: addresses that must get no more messages (unsubscribed, and later
//! erased or bounced), kept as keyed hashes so the list itself holds no address. The SKU objects
//! ask it right before every send.

use crate::api::{LIMITER, SHOP};
use crate::config::Config;
use crate::error::AppResult;
use crate::http::call_ok;
use crate::limiter_object::{address_subject, LimitCall};
use crate::protocol::{ShopCommand, Suppression};
use shared::consent::suppression_key;
use shared::Email;
use worker::Env;

/// The stored key of an address key (`Email::key`).
pub fn key(cfg: &Config, address_key: &str) -> String {
    suppression_key(cfg.suppression_key.as_bytes(), address_key)
}

/// Puts an address key on the shop's list. An unsubscribe is first copied to the address's
/// limiter shard, where signups look for it (`limiter_object`): should the shop's write then fail,
/// the copy only asks the address's next signup to confirm, which it must once the retry lands.
pub async fn suppress(env: &Env, cfg: &Config, shop: &str, address_key: &str, reason: &str) -> AppResult<()> {
    let key = key(cfg, address_key);
    let mirrored = reason == UNSUBSCRIBED && mirror(env, shop, address_key, &key, true).await?;
    let cmd = ShopCommand::Suppress { key, reason: reason.to_owned(), mirrored };
    let _: bool = call_ok(env, SHOP, shop, &cmd).await?;
    Ok(())
}

/// Sets or clears an address's opt-out copy in its limiter shard, under the shop's row's `key`;
/// `false` when the address key is not an email address (an SMS number's `sms:` key), which has no
/// shard copy.
async fn mirror(env: &Env, shop: &str, address_key: &str, key: &str, opted_out: bool) -> AppResult<bool> {
    let Ok(email) = Email::parse(address_key) else {
        return Ok(false);
    };
    let call = LimitCall::OptOut { key: key.to_owned(), opted_out };
    let _: bool = call_ok(env, LIMITER, &address_subject(shop, &email).object, &call).await?;
    Ok(true)
}

/// A confirmed opt-in is new consent: lifts the address's suppression for this reason only (the
/// double opt-in link lifts `UNSUBSCRIBED`, an SMS START lifts STOP). A bare signup never gets
/// here: it only asks for that confirmation.
/// The shop's row goes first, then the shard's copy (see [`suppress`] for why in this order).
pub async fn lift(env: &Env, cfg: &Config, shop: &str, address_key: &str, reason: &str) -> AppResult<()> {
    let key = key(cfg, address_key);
    let _: bool =
        call_ok(env, SHOP, shop, &ShopCommand::Unsuppress { key: key.clone(), reason: reason.to_owned() }).await?;
    if reason == UNSUBSCRIBED {
        mirror(env, shop, address_key, &key, false).await?;
    }
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
