//! Texts shoppers send back, from Twilio's inbound-message webhook
//! (`POST /v1/shops/{shop}/webhooks/twilio`, form-encoded `From`, `To`, `Body`, `MessageSid`, …):
//! STOP and its synonyms put the sender on the shop's suppression list (`sms:` + E.164 number,
//! reason `sms_stop`), START / UNSTOP / YES take that entry off again, HELP is answered.
//!
//! Every request must carry a valid `X-Twilio-Signature` (HMAC-SHA1 under `TWILIO_AUTH_TOKEN` of the
//! public URL Twilio called, `PUBLIC_BASE_URL` + path + query, and the form parameters); otherwise
//! 401 `invalid_signature` before anything else is looked at. An empty `TWILIO_AUTH_TOKEN` refuses
//! every request.
//!
//! Answers are TwiML (`text/xml`). STOP and START answer an empty `<Response/>`: Twilio (and the
//! carriers) send the required opt-out / opt-in confirmation themselves, and Twilio blocks replies to
//! a number that just opted out. HELP answers one message with the shop's name, its support address
//! and how to opt out. Anything else (a conversational reply) gets an empty `<Response/>`.

use crate::api::{header, parse_phone, shop_record};
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::http::body_bytes;
use shared::consent::{verify_twilio, SmsKeyword};
use worker::{Env, Request, Response};

/// The reason under which an SMS opt-out is kept; START removes only entries with this reason.
const SMS_STOP: &str = "sms_stop";

/// `TWILIO_AUTH_TOKEN` (a secret in production, a var locally); empty when unset.
fn auth_token(env: &Env) -> String {
    env.secret("TWILIO_AUTH_TOKEN")
        .map(|s| s.to_string())
        .or_else(|_| env.var("TWILIO_AUTH_TOKEN").map(|v| v.to_string()))
        .unwrap_or_default()
}

pub async fn twilio(mut req: Request, env: &Env, cfg: &Config, shop: &str) -> AppResult<Response> {
    let url = req.url()?;
    // What Twilio signed: the URL configured in its console, i.e. our public one.
    let signed_url = format!(
        "{}{}{}",
        cfg.public_base_url.trim_end_matches('/'),
        url.path(),
        url.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    let body = body_bytes(&mut req).await?;
    let params: Vec<(String, String)> = worker::url::form_urlencoded::parse(&body).into_owned().collect();
    let signature = header(&req, "X-Twilio-Signature").unwrap_or_default();
    if !verify_twilio(&auth_token(env), &signed_url, &params, &signature) {
        return Err(AppError::Unauthorized("invalid_signature", "X-Twilio-Signature missing or wrong".into()));
    }
    let record = shop_record(env, shop).await?;
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(keyword) = SmsKeyword::parse(param("Body").unwrap_or("")) else {
        return twiml(None);
    };
    let from = match param("From").map(parse_phone) {
        Some(Ok(number)) => number,
        // Not a phone number (e.g. `whatsapp:+1…`): nothing we send could be addressed to it.
        _ => {
            worker::console_warn!("twilio inbound {keyword:?} for shop {shop} from a sender that is not E.164");
            return twiml(None);
        }
    };
    let address_key = format!("sms:{from}");
    match keyword {
        SmsKeyword::Stop => {
            crate::suppression::suppress(env, cfg, shop, &address_key, SMS_STOP).await?;
            twiml(None)
        }
        SmsKeyword::Start => {
            crate::suppression::lift(env, cfg, shop, &address_key, SMS_STOP).await?;
            twiml(None)
        }
        SmsKeyword::Help => {
            let c = &record.config;
            let support = c.support_email.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or(&c.from_email);
            let text = format!(
                "{}: back-in-stock alerts. Help: {support}. Reply STOP to opt out. Msg & data rates may apply.",
                c.name.trim()
            );
            twiml(Some(&text))
        }
    }
}

/// A TwiML answer: one message, or none.
fn twiml(message: Option<&str>) -> AppResult<Response> {
    let xml = match message {
        Some(m) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            xml_escape(m)
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_owned(),
    };
    let mut resp = Response::ok(xml)?;
    resp.headers_mut().set("Content-Type", "text/xml; charset=utf-8")?;
    Ok(resp)
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0 at all; a merchant's name should never hold them.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
