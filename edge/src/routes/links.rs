//! Signed links in messages and what answers them: tracked clicks (`/v1/l/{token}` → redirect),
//! claim look-ups for the widget, and the backorder cancel-and-refund page. Tokens are verified
//! without storage (`shared::link`); the SKU object records what they cause.

use crate::api::{call_sku, origin, shop_record};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::{json, with_cors_always};
use crate::protocol::SkuCommand;
use shared::link::{verify, LinkClaims, Purpose};
use shared::message::escape;
use worker::{Env, Request, Response};

/// Verifies a link against `LINK_SECRET`, then against `LINK_SECRET_PREVIOUS` (links sent before
/// a rotation keep working until they expire).
fn check(cfg: &Config, token: &str, purpose: Purpose, now: i64) -> AppResult<LinkClaims> {
    if let Some(why) = cfg.link_refusal() {
        return Err(AppError::Misconfigured(why));
    }
    let verified = match verify(cfg.link_secret.as_bytes(), token, now) {
        Err(shared::link::LinkError::BadSignature) if !cfg.previous_link_secret.is_empty() => {
            verify(cfg.previous_link_secret.as_bytes(), token, now)
        }
        other => other,
    };
    let claims = verified.map_err(|e| AppError::Invalid(e.code(), e.to_string()))?;
    if claims.purpose != purpose || cfg.link_secret.is_empty() {
        return Err(AppError::Invalid("invalid_link", "this link is not valid here".into()));
    }
    Ok(claims)
}

/// `GET /v1/l/{token}`: records the click as engagement, then redirects. A link that no longer
/// verifies gets a page saying so, never an open redirect.
pub async fn click(env: &Env, cfg: &Config, token: &str) -> AppResult<Response> {
    let claims = check(cfg, token, Purpose::Click, crate::clock::now(env, cfg).await?)?;
    let target = claims
        .target
        .clone()
        .ok_or_else(|| AppError::Invalid("invalid_link", "this link has no destination".into()))?;
    // The redirect matters more than the record: a failure to record is logged, not shown.
    if let Err(e) =
        call_sku(env, cfg, &claims.shop, &claims.sku, SkuCommand::Engage { entry_id: claims.entry_id.clone() }).await
    {
        worker::console_warn!("click not recorded for {}: {e:?}", claims.entry_id);
    }
    let mut resp = Response::empty()?.with_status(302);
    resp.headers_mut().set("Location", &target)?;
    resp.headers_mut().set("Cache-Control", "no-store")?;
    Ok(resp)
}

/// `GET /v1/shops/{shop}/skus/{sku}/claims/{token}` (public): what a claim link holds, for the widget.
pub async fn claim(req: Request, env: &Env, cfg: &Config, shop: &str, sku: &str, token: &str) -> AppResult<Response> {
    let record = shop_record(env, shop).await?;
    let result = async {
        let claims = check(cfg, token, Purpose::Claim, crate::clock::now(env, cfg).await?)?;
        if claims.shop != shop || claims.sku != sku {
            return Err(AppError::Invalid("invalid_link", "this link is for another product".into()));
        }
        let (status, body) = call_sku(env, cfg, shop, sku, SkuCommand::Claim { entry_id: claims.entry_id }).await?;
        json(status, &body)
    }
    .await;
    // An expired or foreign link's error carries the CORS headers too: the widget reads it
    // ("This reservation has ended") instead of being blocked from it.
    with_cors_always(result, origin(&req).as_deref(), &record.config.allowed_origins)
}

/// `GET /v1/cancel/{token}`: a confirmation page (link scanners and prefetchers only GET).
pub async fn cancel_page(env: &Env, cfg: &Config, token: &str) -> AppResult<Response> {
    let claims = check(cfg, token, Purpose::Cancel, crate::clock::now(env, cfg).await?)?;
    page(
        "Cancel your backorder?",
        &format!(
            "<p>Your order is waiting for <strong>{}</strong>. Cancelling gives up your place and the merchant refunds you.</p>\
             <form method=\"post\"><button type=\"submit\">Cancel my backorder</button></form>",
            escape(&claims.sku)
        ),
    )
}

/// `POST /v1/cancel/{token}`: cancels the backorder.
pub async fn cancel(env: &Env, cfg: &Config, token: &str) -> AppResult<Response> {
    let claims = check(cfg, token, Purpose::Cancel, crate::clock::now(env, cfg).await?)?;
    let record = shop_record(env, &claims.shop).await?;
    let (status, body) =
        call_sku(env, cfg, &claims.shop, &claims.sku, SkuCommand::Cancel { entry_id: claims.entry_id }).await?;
    let contact =
        record.config.support_email.as_deref().map(|s| format!(" Questions: {}.", escape(s))).unwrap_or_default();
    match status {
        200 => page("Backorder cancelled", &format!("<p>Your backorder is cancelled and {} will refund you.{contact}</p>", escape(&record.config.name))),
        409 => page("Nothing to cancel", &format!("<p>This backorder can no longer be cancelled here (it has shipped or was already cancelled).{contact}</p>")),
        _ => json(status, &body),
    }
}

/// `GET /v1/confirm/{token}`: a page with the confirm button (mail scanners only GET, and must not
/// confirm for the shopper).
pub async fn confirm_page(env: &Env, cfg: &Config, token: &str) -> AppResult<Response> {
    check(cfg, token, Purpose::Confirm, crate::clock::now(env, cfg).await?)?;
    page(
        "Confirm your signup",
        "<p>One click and you're on the waitlist. Your place counts from when you signed up.</p>\
         <form method=\"post\"><button type=\"submit\">Yes, keep me posted</button></form>",
    )
}

/// `POST /v1/confirm/{token}`: the shopper confirmed (double opt-in); they are in line.
pub async fn confirm(env: &Env, cfg: &Config, token: &str) -> AppResult<Response> {
    let claims = check(cfg, token, Purpose::Confirm, crate::clock::now(env, cfg).await?)?;
    let record = shop_record(env, &claims.shop).await?;
    let (status, body) =
        call_sku(env, cfg, &claims.shop, &claims.sku, SkuCommand::Confirm { entry_id: claims.entry_id }).await?;
    let shop = escape(&record.config.name);
    match status {
        200 => {
            let confirmed: waitlist::answer::Confirmed = crate::api::answer(body)?;
            // A confirmed opt-in is new consent: an earlier unsubscribe from this shop is lifted.
            crate::suppression::lift(env, cfg, &claims.shop, &confirmed.email_key, crate::suppression::UNSUBSCRIBED)
                .await?;
            let place = confirmed.position.map(|p| format!(" You're #{p} in line.")).unwrap_or_default();
            page("You're on the list", &format!("<p>Thanks! {shop} will email you as soon as it's back.{place}</p>"))
        }
        409 => page(
            "Already confirmed",
            &format!("<p>This signup is already confirmed (or has left the list). {shop} will keep you posted.</p>"),
        ),
        _ => json(status, &body),
    }
}

/// `GET /v1/unsubscribe/{token}`: a confirmation page only. Mail scanners and link prefetchers
/// follow GET links; only the POST (the one-click button, or the mail client's RFC 8058 request)
/// unsubscribes.
pub async fn unsubscribe_page(env: &Env, cfg: &Config, token: &str) -> AppResult<Response> {
    check(cfg, token, Purpose::Unsubscribe, crate::clock::now(env, cfg).await?)?;
    page(
        "Unsubscribe?",
        "<p>You will get no more emails about this waitlist, and you leave the line.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <button type=\"submit\">Unsubscribe</button></form>",
    )
}

/// `POST /v1/unsubscribe/{token}` (RFC 8058 one-click; no cookies needed): leaves the line and
/// suppresses the address for the whole shop, so queued messages are not sent either.
pub async fn unsubscribe(env: &Env, cfg: &Config, token: &str) -> AppResult<Response> {
    let claims = check(cfg, token, Purpose::Unsubscribe, crate::clock::now(env, cfg).await?)?;
    let (status, body) =
        call_sku(env, cfg, &claims.shop, &claims.sku, SkuCommand::Unsubscribe { entry_id: claims.entry_id }).await?;
    if status != 200 {
        return json(status, &body);
    }
    let left: waitlist::answer::Unsubscribed = crate::api::answer(body)?;
    crate::suppression::suppress(env, cfg, &claims.shop, &left.email_key, crate::suppression::UNSUBSCRIBED).await?;
    page(
        "You're unsubscribed",
        "<p>You will get no more emails from this waitlist. Signing up again later asks you to confirm by email first.</p>",
    )
}

fn page(title: &str, body: &str) -> AppResult<Response> {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:560px;margin:3rem auto;padding:0 1rem}}\
         button{{font:inherit;padding:.6rem 1rem;border-radius:6px;border:1px solid #333;background:#111;color:#fff;cursor:pointer}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>"
    );
    let mut resp = Response::from_html(html)?;
    resp.headers_mut().set("Cache-Control", "no-store")?;
    Ok(resp)
}
