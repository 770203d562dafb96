//! The local mailbox: in dev mode with `EMAIL_PROVIDER=outbox`, what would have been sent, per
//! shop, newest first. Not served otherwise.

use crate::api::{call_sku, check_shop, SHOP};
use crate::config::Config;
use crate::error::AppResult;
use crate::http::{call_ok, json};
use crate::protocol::{ShopCommand, SkuCommand};
use crate::store::OutboxRow;
use shared::message::{escape, format_instant};
use worker::{Env, Response};

pub async fn messages(env: &Env, cfg: &Config, shop: &str) -> AppResult<Vec<OutboxRow>> {
    check_shop(shop)?;
    let skus: Vec<String> = call_ok(env, SHOP, shop, &ShopCommand::Skus).await?;
    let mut all = Vec::new();
    for sku in skus {
        let (_, body) = call_sku(env, cfg, shop, &sku, SkuCommand::Mailbox).await?;
        let rows: Vec<OutboxRow> = serde_json::from_value(body).unwrap_or_default();
        all.extend(rows);
    }
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.key.cmp(&a.key)));
    Ok(all)
}

pub async fn json_page(env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    json(200, &messages(env, cfg, shop).await?)
}

pub async fn html_page(env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let rows = messages(env, cfg, shop).await?;
    let mut items = String::new();
    for m in &rows {
        items.push_str(&format!(
            "<article><header><strong>{}</strong><span class=\"kind\">{}</span></header>\
             <div class=\"meta\">To {} · from {} · {} · {}</div>\
             <iframe class=\"body\" sandbox srcdoc=\"{}\" title=\"Message: {}\"></iframe></article>",
            escape(&m.subject),
            escape(&m.kind),
            escape(&m.to_addr),
            escape(&m.from_addr),
            escape(&m.status),
            format_instant(m.created_at),
            escape(&m.html),
            escape(&m.subject),
        ));
    }
    if rows.is_empty() {
        items.push_str("<p class=\"empty\">Nothing sent yet. Join a waitlist on the demo storefront.</p>");
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Mailbox · {shop}</title>\
         <meta http-equiv=\"refresh\" content=\"3\"><meta name=\"viewport\" content=\"width=device-width\">\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:760px;margin:2rem auto;padding:0 1rem;color:#1d1d1f}}\
         article{{border:1px solid #ddd;border-radius:8px;padding:1rem;margin:1rem 0}}header{{display:flex;justify-content:space-between;gap:1rem}}\
         .kind{{font:12px monospace;background:#eef;padding:2px 6px;border-radius:4px;align-self:flex-start;white-space:nowrap}}.meta{{color:#555;font-size:13px}}.empty{{color:#555}}\
         .body{{display:block;width:100%;height:300px;border:1px solid #eee;border-radius:6px;margin-top:.5rem;background:#fff}}</style>\
         </head><body><h1>Local mailbox · {shop}</h1><p>{} message(s). Email is not sent for real while <code>EMAIL_PROVIDER=outbox</code>.</p>{items}</body></html>",
        rows.len(),
        shop = escape(shop),
    );
    // A message's HTML is the merchant's: it is shown in a sandboxed frame (no scripts, no access to
    // this page), and the page itself runs no script at all.
    let mut resp = Response::from_html(page)?;
    resp.headers_mut()
        .set("Content-Security-Policy", "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'")?;
    Ok(resp)
}
