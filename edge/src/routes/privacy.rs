//! Privacy requests (admin): export everything held about an address or a phone number, and erase
//! it. Erasing purges it from every SKU's entries, outbox and audit trail of the shop and adds a
//! keyed hash to the shop's suppression list, so it does not come back through a webhook or an import.

use crate::api::{call_sku, shop_record, SHOP};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, call_ok, decode, json};
use crate::protocol::{ShopCommand, ShopRecord, SkuCommand};
use serde::Deserialize;
use shared::api_key::Scope;
use shared::Email;
use worker::{Env, Request, Response};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyRequest {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

/// Whose data: an address (as its key) and/or a phone number (E.164).
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The address as the request wrote it (parsed): what Klaviyo is asked to forget, beside the
    /// addresses the erased entries held, so an erase sent again still reaches Klaviyo.
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub phone: Option<String>,
}

/// The request's subject and the shop's SKUs, for a caller with `needed` (export reads, erase writes).
async fn subject_and_skus(
    req: &mut Request,
    env: &Env,
    cfg: &Config,
    shop: &str,
    needed: Scope,
) -> AppResult<(Subject, Vec<String>, ShopRecord)> {
    crate::keys::authorize(req, env, cfg, shop, needed).await?;
    let body: PrivacyRequest = decode(&body_bytes(req).await?)?;
    let email = body.email.as_deref().map(Email::parse).transpose()?;
    let email_key = email.as_ref().map(Email::key);
    let phone = match &body.phone {
        Some(p) => Some(crate::api::parse_phone(p)?),
        None => None,
    };
    if email_key.is_none() && phone.is_none() {
        return Err(AppError::Invalid("invalid_field", "give email or phone".into()));
    }
    let record = shop_record(env, shop).await?;
    let skus: Vec<String> = call_ok(env, SHOP, shop, &ShopCommand::Skus).await?;
    Ok((Subject { email: email.map(|e| e.as_str().to_owned()), email_key, phone }, skus, record))
}

/// `POST /v1/shops/{shop}/privacy/export {"email"}`.
pub async fn export(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let (who, skus, _) = subject_and_skus(&mut req, env, cfg, shop, Scope::Read).await?;
    let entries = export_subject(env, cfg, shop, &who, skus).await?;
    json(200, &serde_json::json!({"email": who.email_key, "phone": who.phone, "entries": entries}))
}

/// Everything held about an address key or phone number across these SKUs.
pub async fn export_subject(
    env: &Env,
    cfg: &Config,
    shop: &str,
    who: &Subject,
    skus: Vec<String>,
) -> AppResult<Vec<serde_json::Value>> {
    let mut entries = Vec::new();
    for sku in skus {
        let (status, body) = call_sku(
            env,
            cfg,
            shop,
            &sku,
            SkuCommand::Export { email_key: who.email_key.clone(), phone: who.phone.clone() },
        )
        .await?;
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
    let (who, skus, record) = subject_and_skus(&mut req, env, cfg, shop, Scope::Write).await?;
    let erased = erase_subject(env, cfg, shop, &record, &who, skus).await?;
    json(200, &serde_json::json!({"erased_entries": erased, "suppressed": true}))
}

/// Erases an address key or phone number from these SKUs; answers how many entries were erased.
pub async fn erase_subject(
    env: &Env,
    cfg: &Config,
    shop: &str,
    record: &ShopRecord,
    who: &Subject,
    skus: Vec<String>,
) -> AppResult<u64> {
    // Suppress first: from this moment nothing more is sent, even if a SKU fails below.
    if let Some(key) = &who.email_key {
        crate::suppression::suppress(env, cfg, shop, key, "erased").await?;
    }
    if let Some(phone) = &who.phone {
        crate::suppression::suppress(env, cfg, shop, &format!("sms:{phone}"), "erased").await?;
    }
    let mut erased = 0;
    let mut addresses: std::collections::BTreeSet<String> = who.email.iter().cloned().collect();
    for sku in skus {
        let (status, body) = call_sku(
            env,
            cfg,
            shop,
            &sku,
            SkuCommand::Erase { email_key: who.email_key.clone(), phone: who.phone.clone() },
        )
        .await?;
        if status != 200 {
            return Err(AppError::Internal(format!("erase in {sku}: {status} {body}")));
        }
        let done: waitlist::answer::Erased = crate::api::answer(body)?;
        erased += u64::from(done.erased_entries);
        addresses.extend(done.addresses);
    }
    if let Some(klaviyo) = &record.config.klaviyo {
        forget_in_klaviyo(cfg, klaviyo, addresses).await?;
    }
    Ok(erased)
}

/// Asks the shop's Klaviyo account to delete the erased addresses' profiles.
/// Our side is erased already; when Klaviyo does not take the request the answer is 503, and
/// the erase (idempotent) is simply sent again — Shopify retries `customers/redact` by itself.
async fn forget_in_klaviyo(
    cfg: &Config,
    klaviyo: &shared::wire::KlaviyoSettings,
    addresses: std::collections::BTreeSet<String>,
) -> AppResult<()> {
    for email in addresses {
        let call = shared::provider::klaviyo_deletion_call(&cfg.klaviyo_api_base, &klaviyo.api_key, &email);
        match crate::mailer::execute(&call).await {
            Ok(answer) if (200..300).contains(&answer.status) => {}
            Ok(answer) => {
                return Err(AppError::Unavailable(
                    "klaviyo_unavailable",
                    format!(
                        "erased here; Klaviyo refused the deletion request ({}): send the erase again",
                        answer.status
                    ),
                ))
            }
            Err(e) => {
                worker::console_warn!("klaviyo deletion request failed: {e:?}");
                return Err(AppError::Unavailable(
                    "klaviyo_unavailable",
                    "erased here; Klaviyo could not be reached for the deletion request: send the erase again".into(),
                ));
            }
        }
    }
    Ok(())
}
