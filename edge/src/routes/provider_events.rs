//! Events from the email provider: Resend posts `email.opened` / `email.clicked` (signed by Svix,
//! which is Standard Webhooks under other header names). An open or a click marks the entry's
//! current offer as engaged, so no non-opener follow-up goes out. A hard bounce or a spam complaint
//! puts the address on the shop's suppression list: mailing it again would hurt the sender's
//! reputation (and, for a complaint, ignore the shopper's wish).

use crate::api::{call_sku, check_shop, header, sku_of};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{body_bytes, decode, json};
use crate::protocol::SkuCommand;
use serde::Deserialize;
use shared::signature::{verify_standard, StandardHeaders};
use worker::{Env, Request, Response};

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: EventData,
}

#[derive(Deserialize, Default)]
struct EventData {
    #[serde(default)]
    tags: Tags,
    /// The recipients (`["ada@example.com"]`).
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    bounce: Option<Bounce>,
}

/// Resend's bounce details: `type` is `Permanent` (hard) or `Transient` (soft).
#[derive(Deserialize, Default)]
struct Bounce {
    #[serde(default, rename = "type")]
    kind: String,
}

/// Resend echoes the tags we sent: as an object, or as a `[{name, value}]` list.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Tags {
    Map(std::collections::BTreeMap<String, String>),
    List(Vec<Tag>),
    #[default]
    None,
}

#[derive(Deserialize)]
struct Tag {
    name: String,
    value: String,
}

impl Tags {
    /// A shop or SKU tag, decoded (`shared::provider::id_tag`).
    fn id(&self, name: &str) -> Option<String> {
        self.get(name).and_then(|t| shared::provider::id_from_tag(&t))
    }

    fn get(&self, name: &str) -> Option<String> {
        match self {
            Tags::Map(m) => m.get(name).cloned(),
            Tags::List(l) => l.iter().find(|t| t.name == name).map(|t| t.value.clone()),
            Tags::None => None,
        }
    }
}

/// `POST /v1/webhooks/resend`.
pub async fn resend(mut req: Request, env: &Env, cfg: &Config) -> AppResult<Response> {
    let body = body_bytes(&mut req).await?;
    let (id, ts, sig) = (header(&req, "svix-id"), header(&req, "svix-timestamp"), header(&req, "svix-signature"));
    let headers = StandardHeaders { id: id.as_deref(), timestamp: ts.as_deref(), signature: sig.as_deref() };
    let secrets: Vec<String> = cfg.provider_webhook_secret.iter().cloned().collect();
    verify_standard(headers, &body, &secrets, crate::clock::real_now() / 1000)?;
    let event: Event = decode(&body)?;
    if matches!(event.kind.as_str(), "email.bounced" | "email.complained") {
        return suppress(env, cfg, &event).await;
    }
    if !matches!(event.kind.as_str(), "email.opened" | "email.clicked") {
        return json(
            200,
            &serde_json::json!({"outcome": "ignored", "reason": format!("event {:?} is not used", event.kind)}),
        );
    }
    let tags = &event.data.tags;
    let (Some(shop), Some(sku), Some(entry)) = (tags.id("shop"), tags.id("sku"), tags.get("entry")) else {
        return json(200, &serde_json::json!({"outcome": "ignored", "reason": "not one of our messages"}));
    };
    check_shop(&shop)?;
    let sku = sku_of(&sku)?;
    let (status, _) = call_sku(env, cfg, &shop, &sku, SkuCommand::Engage { entry_id: entry }).await?;
    if status >= 500 {
        return Err(AppError::Internal(format!("engage answered {status}")));
    }
    if status == 404 {
        // Not an error to Resend (a retry would not help): the SKU is gone, or never was ours.
        return json(200, &serde_json::json!({"outcome": "ignored", "reason": "no such SKU"}));
    }
    json(200, &serde_json::json!({"outcome": "applied"}))
}

/// A hard bounce or a complaint: the address gets nothing more from this shop. A soft bounce
/// (mailbox full, greylisting) is left to the outbox's retries.
async fn suppress(env: &Env, cfg: &Config, event: &Event) -> AppResult<Response> {
    let soft = event.data.bounce.as_ref().is_some_and(|b| !b.kind.eq_ignore_ascii_case("permanent"));
    if event.kind == "email.bounced" && soft {
        return json(200, &serde_json::json!({"outcome": "ignored", "reason": "transient bounce"}));
    }
    let Some(shop) = event.data.tags.id("shop") else {
        return json(200, &serde_json::json!({"outcome": "ignored", "reason": "not one of our messages"}));
    };
    check_shop(&shop)?;
    let reason = if event.kind == "email.bounced" { "bounced" } else { "complained" };
    let mut suppressed = 0;
    for to in &event.data.to {
        let key = match shared::Email::parse(to) {
            Ok(e) => e.key(),
            Err(_) => continue,
        };
        crate::suppression::suppress(env, cfg, &shop, &key, reason).await?;
        suppressed += 1;
    }
    json(200, &serde_json::json!({"outcome": "suppressed", "reason": reason, "addresses": suppressed}))
}
