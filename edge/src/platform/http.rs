//! Reading requests and writing answers: body limits, JSON decoding with clear errors, CORS, and
//! calls to the Durable Objects.

use crate::error::{AppError, AppResult};
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

/// Largest request body we read where nothing larger is expected (settings, signups, feeds).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest Shopify webhook: a `products/update` of a product with many variants and a long
/// description passes 100 KiB, and a refused delivery is retried, then the subscription dropped.
pub const MAX_SHOPIFY_BYTES: usize = 1024 * 1024;

/// Largest waitlist import (CSV): 50 000 rows of about 100 bytes.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

pub async fn body_bytes(req: &mut Request) -> AppResult<Vec<u8>> {
    body_bytes_up_to(req, MAX_BODY_BYTES).await
}

pub async fn body_bytes_up_to(req: &mut Request, max: usize) -> AppResult<Vec<u8>> {
    if let Some(len) = req.headers().get("Content-Length").ok().flatten().and_then(|v| v.parse::<usize>().ok()) {
        if len > max {
            return Err(AppError::TooLarge(max));
        }
    }
    // Read as it streams in, and stop keeping it once past `max`: a body without `Content-Length`
    // (chunked) is never held whole before it is refused. The rest is still read and dropped, up
    // to `DRAIN_FACTOR × max`: a connection whose request body was left unread can fail the next
    // request on it (`wrangler dev`'s proxy stalls).
    const DRAIN_FACTOR: usize = 16;
    let unreadable = |e: worker::Error| AppError::BadRequest("unreadable_body", e.to_string());
    let mut bytes = Vec::new();
    let mut stream = match req.stream() {
        Ok(stream) => stream,
        Err(worker::Error::BodyUsed) => return Err(unreadable(worker::Error::BodyUsed)),
        Err(_) => return Ok(bytes), // no body at all
    };
    let mut seen = 0usize;
    while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(unreadable)?;
        seen += chunk.len();
        if seen <= max {
            bytes.extend_from_slice(&chunk);
        } else if seen > max.saturating_mul(DRAIN_FACTOR) {
            break;
        }
    }
    if seen > max {
        return Err(AppError::TooLarge(max));
    }
    Ok(bytes)
}

/// Decodes JSON: broken JSON is 400 `invalid_json`, JSON of the wrong shape 422 `invalid_payload`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => AppError::Invalid("invalid_payload", e.to_string()),
        _ => AppError::BadRequest("invalid_json", e.to_string()),
    })
}

pub fn json<T: Serialize>(status: u16, body: &T) -> AppResult<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// Adds CORS headers when `origin` is one the shop allows. CORS is not authentication: it only tells
/// browsers which pages may read the answer.
pub fn with_cors(resp: Response, origin: Option<&str>, allowed: &[String]) -> AppResult<Response> {
    let mut resp = resp;
    let h = resp.headers_mut();
    h.set("Vary", "Origin")?;
    if let Some(o) = origin.filter(|o| allowed.iter().any(|a| a == o)) {
        h.set("Access-Control-Allow-Origin", o)?;
        h.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")?;
        h.set("Access-Control-Allow-Headers", "Content-Type")?;
        h.set("Access-Control-Max-Age", "600")?;
    }
    Ok(resp)
}

/// [`with_cors`] over a handler's result, errors included: the widget reads why a request failed
/// only if the error answer carries the CORS headers too.
pub fn with_cors_always(result: AppResult<Response>, origin: Option<&str>, allowed: &[String]) -> AppResult<Response> {
    let resp = result.or_else(|e| e.into_response().map_err(AppError::from))?;
    with_cors(resp, origin, allowed)
}

/// Sends a command to a Durable Object and returns its status and JSON body.
pub async fn call_object<C: Serialize>(
    env: &Env,
    binding: &str,
    name: &str,
    cmd: &C,
) -> AppResult<(u16, serde_json::Value)> {
    call_object_counted(env, binding, name, cmd).await.map(|(status, body, _)| (status, body))
}

/// The rows a SKU object's command read and wrote, when it says.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowCounts {
    pub read: Option<u64>,
    pub written: Option<u64>,
    /// The object's database size after the command.
    pub db_bytes: Option<u64>,
}

/// Like [`call_object`], with the rows the command read and wrote.
pub async fn call_object_counted<C: Serialize>(
    env: &Env,
    binding: &str,
    name: &str,
    cmd: &C,
) -> AppResult<(u16, serde_json::Value, RowCounts)> {
    let stub = env.durable_object(binding)?.id_from_name(name)?.get_stub()?;
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(serde_json::to_string(cmd).map_err(|e| AppError::Internal(e.to_string()))?.into()));
    let req = Request::new_with_init("https://object.internal/", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    let status = resp.status_code();
    let count = |h: &str| resp.headers().get(h).ok().flatten().and_then(|v| v.parse().ok());
    let rows = RowCounts {
        read: count(crate::sku_object::ROWS_READ),
        written: count(crate::sku_object::ROWS_WRITTEN),
        db_bytes: count(crate::sku_object::DB_BYTES),
    };
    // Parsed by serde_json, not the runtime's JSON.parse: Shopify ids above 2^53 would lose digits.
    let text = resp.text().await?;
    let body = serde_json::from_str(&text).map_err(|e| AppError::Internal(format!("object answer: {e}")))?;
    Ok((status, body, rows))
}

/// In dev mode, what a command cost in rows goes out with the answer (benchmarks read it).
pub fn with_rows(mut resp: Response, rows: RowCounts, dev_mode: bool) -> AppResult<Response> {
    if dev_mode {
        if let Some(n) = rows.read {
            resp.headers_mut().set(crate::sku_object::ROWS_READ, &n.to_string())?;
        }
        if let Some(n) = rows.written {
            resp.headers_mut().set(crate::sku_object::ROWS_WRITTEN, &n.to_string())?;
        }
        if let Some(n) = rows.db_bytes {
            resp.headers_mut().set(crate::sku_object::DB_BYTES, &n.to_string())?;
        }
    }
    Ok(resp)
}

/// Like [`call_object`] but turns a non-2xx answer back into the error it carries.
pub async fn call_ok<C: Serialize, T: DeserializeOwned>(env: &Env, binding: &str, name: &str, cmd: &C) -> AppResult<T> {
    let (status, body) = call_object(env, binding, name, cmd).await?;
    if !(200..300).contains(&status) {
        return Err(error_from(status, &body));
    }
    serde_json::from_value(body).map_err(|e| AppError::Internal(e.to_string()))
}

fn error_from(status: u16, body: &serde_json::Value) -> AppError {
    let code = body.pointer("/error/code").and_then(|v| v.as_str()).unwrap_or("internal");
    let message = body.pointer("/error/message").and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let code: &'static str = match code {
        "unknown_sku" => "unknown_sku",
        "unknown_entry" => "unknown_entry",
        "invalid_email" => "invalid_email",
        _ => "internal",
    };
    match status {
        404 => AppError::NotFound(code, message),
        422 => AppError::Invalid(code, message),
        _ => AppError::Internal(format!("{status} {message}")),
    }
}
