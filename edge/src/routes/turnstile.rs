//! Cloudflare Turnstile on signups: a shop that sets `turnstile` in its settings only takes signups
//! whose token Cloudflare's siteverify API confirms, issued on one of the shop's hostnames for the
//! shop's action. Fails closed: when siteverify cannot be asked, nothing is stored.
//!
//! What a refused signup is told (every answer is `{"error":{"code","message"}}`):
//! - **422 `turnstile_required`**: no token (absent or blank). The page has not run the challenge:
//!   show it, then send again.
//! - **403 `turnstile_failed`**: siteverify said no (invalid, expired or already used token: tokens
//!   live 300 s and verify once), or the token was issued on a hostname not in `hostnames` or for
//!   another `action`, or it is longer than Cloudflare's 2 048 characters. The shopper solves a
//!   fresh challenge (the page resets its Turnstile widget) and sends again; the same token never works twice.
//! - **503 `turnstile_unavailable`** with `Retry-After`: siteverify was unreachable, slow (over
//!   [`SITEVERIFY_TIMEOUT_MS`]), answered other than 200, answered something unreadable, reported
//!   `internal-error`, or refused the shop's secret (a setup error on the merchant's side, logged).
//!   Not the shopper's fault: try again in a moment, with a fresh token.
//!
//! Where it sits in `api::signup` (the order matters):
//! 1. the honeypot (a bot that fills it gets its usual 202, and costs no siteverify call);
//! 2. the local checks of the input (email, phone, locale, quantity), so a typo is reported
//!    before the single-use token is spent;
//! 3. a missing token → `turnstile_required` (nothing counted, nothing called);
//! 4. the per-IP rate limit (Cloudflare's Rate Limiting binding, `api::ip_limit`): it bounds how
//!    many siteverify calls one client can cause;
//! 5. siteverify;
//! 6. the per-address rate limit. Only a signup that passed Turnstile counts against an
//!    address, so a bot submitting a victim's address without solving challenges cannot use up
//!    that address's allowance (and lock its owner out).
//!
//! Shops without `turnstile` have the address's limit asked beside the shop's record (once this
//! isolate has seen the shop without Turnstile); a shop that turns Turnstile on gets any such early
//! count given back before the challenge is checked.

use crate::error::{AppError, AppResult};
use crate::http::json;
use serde::Deserialize;
use shared::wire::{ErrorBody, ErrorDetail, TurnstileSettings};
use worker::{AbortSignal, Env, Fetch, Headers, Method, Request, RequestInit, Response};

/// Cloudflare's public endpoint; `TURNSTILE_API_BASE` replaces it (tests point it at a local server).
const DEFAULT_API_BASE: &str = "https://challenges.cloudflare.com";

/// One siteverify call that takes longer than this counts as "unavailable" for this try.
const SITEVERIFY_TIMEOUT_MS: u32 = 5_000;

/// Tries per signup: a second try (same `idempotency_key`, so the single-use token is not spent
/// twice) only after an "unavailable" outcome (no answer, not 200, unreadable, `internal-error`).
const TRIES: u32 = 2;

/// Cloudflare's documented maximum token length.
const MAX_TOKEN_LEN: usize = 2048;

/// What the shopper is told to wait before trying again after `turnstile_unavailable`, in seconds.
const RETRY_AFTER_SECS: u32 = 5;

/// Why a signup was refused. The `String`s are for the log, never the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Required,
    Failed(String),
    Unavailable(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Required => 422,
            Refusal::Failed(_) => 403,
            Refusal::Unavailable(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Required => "turnstile_required",
            Refusal::Failed(_) => "turnstile_failed",
            Refusal::Unavailable(_) => "turnstile_unavailable",
        }
    }

    fn message(&self) -> &'static str {
        match self {
            Refusal::Required => "this shop asks for a Turnstile check: complete the challenge and send again",
            Refusal::Failed(_) => "the Turnstile check failed or expired: complete a new challenge and send again",
            Refusal::Unavailable(_) => "the Turnstile check cannot be made right now: try again in a moment",
        }
    }

    /// The HTTP answer (the shape of every error the Worker sends).
    pub fn into_response(self) -> AppResult<Response> {
        match &self {
            Refusal::Required => {}
            Refusal::Failed(why) => worker::console_log!("turnstile refused a signup: {why}"),
            Refusal::Unavailable(why) => worker::console_warn!("turnstile unavailable: {why}"),
        }
        let body =
            ErrorBody { error: ErrorDetail { code: self.code().to_owned(), message: self.message().to_owned() } };
        let mut resp = json(self.status(), &body)?;
        if let Refusal::Unavailable(_) = self {
            resp.headers_mut().set("Retry-After", &RETRY_AFTER_SECS.to_string()).map_err(AppError::from)?;
        }
        Ok(resp)
    }
}

/// The signup's token, or `Required` when there is none to verify.
pub fn token(given: Option<&str>) -> Result<&str, Refusal> {
    given.map(str::trim).filter(|t| !t.is_empty()).ok_or(Refusal::Required)
}

/// `TURNSTILE_API_BASE`, or Cloudflare's endpoint when unset or empty.
fn api_base(env: &Env) -> String {
    let base = env.var("TURNSTILE_API_BASE").map(|v| v.to_string()).unwrap_or_default();
    let base = base.trim();
    if base.is_empty() { DEFAULT_API_BASE } else { base }.trim_end_matches('/').to_owned()
}

/// Asks siteverify about `token` (see the module doc for what each outcome means).
/// `remote_ip` is the client's `CF-Connecting-IP`; `idempotency_key` a fresh UUID per signup.
pub async fn verify(
    env: &Env,
    settings: &TurnstileSettings,
    token: &str,
    remote_ip: Option<&str>,
    idempotency_key: &str,
) -> Result<(), Refusal> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Refusal::Failed(format!("token of {} bytes", token.len())));
    }
    let url = format!("{}/turnstile/v0/siteverify", api_base(env));
    let mut form = worker::url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("secret", &settings.secret).append_pair("response", token);
    if let Some(ip) = remote_ip {
        form.append_pair("remoteip", ip);
    }
    form.append_pair("idempotency_key", idempotency_key);
    let body = form.finish();

    let mut last = Refusal::Unavailable("not asked".into());
    for _ in 0..TRIES {
        let outcome = match post(&url, &body).await {
            Ok((status, text)) => judge(settings, status, &text),
            Err(e) => Err(Refusal::Unavailable(format!("siteverify unreachable: {e}"))),
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(r @ Refusal::Unavailable(_)) => last = r,
            Err(r) => return Err(r),
        }
    }
    Err(last)
}

async fn post(url: &str, body: &str) -> worker::Result<(u16, String)> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/x-www-form-urlencoded")?;
    headers.set("Accept", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let req = Request::new_with_init(url, &init)?;
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(SITEVERIFY_TIMEOUT_MS));
    let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
    let status = resp.status_code();
    let text = resp.text().await?;
    Ok((status, text))
}

/// siteverify's answer (`error-codes` is always there; `hostname` and `action` on success).
#[derive(Deserialize)]
struct Verdict {
    success: bool,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    action: Option<String>,
}

/// Reads siteverify's answer against the shop's settings.
fn judge(settings: &TurnstileSettings, status: u16, body: &str) -> Result<(), Refusal> {
    if status != 200 {
        return Err(Refusal::Unavailable(format!("siteverify answered {status}")));
    }
    let v: Verdict =
        serde_json::from_str(body).map_err(|e| Refusal::Unavailable(format!("siteverify answer unreadable: {e}")))?;
    let codes = v.error_codes.join(",");
    if !v.success {
        if v.error_codes.iter().any(|c| c == "missing-input-secret" || c == "invalid-input-secret") {
            worker::console_error!("turnstile: siteverify refused the shop's secret key ({codes}); check its settings");
            return Err(Refusal::Unavailable(format!("secret refused: {codes}")));
        }
        if v.error_codes.iter().any(|c| c == "internal-error") {
            return Err(Refusal::Unavailable(format!("siteverify internal error: {codes}")));
        }
        return Err(Refusal::Failed(format!("siteverify: {codes}")));
    }
    if !settings.hostnames.is_empty() {
        let host = v.hostname.as_deref().unwrap_or("");
        if !settings.hostnames.iter().any(|h| h.eq_ignore_ascii_case(host)) {
            return Err(Refusal::Failed(format!("token issued on hostname {host:?}")));
        }
    }
    if let Some(want) = &settings.action {
        if v.action.as_deref() != Some(want.as_str()) {
            return Err(Refusal::Failed(format!("token for action {:?}, not {want:?}", v.action)));
        }
    }
    Ok(())
}
