//! The one mapping from failures to HTTP answers: every error is `{"error":{"code","message"}}`
//! with a fitting status.

use shared::signature::SignatureError;
use shared::wire::{ErrorBody, ErrorDetail};
use shared::DomainError;
use worker::Response;

#[derive(Debug)]
pub enum AppError {
    /// 400: the request cannot be read (bad JSON, wrong types).
    BadRequest(&'static str, String),
    /// 401: admin token, API key or webhook signature missing or wrong; a revoked key.
    Unauthorized(&'static str, String),
    /// 403: a real key, but for another shop or of too small a scope.
    Forbidden(&'static str, String),
    /// 404.
    NotFound(&'static str, String),
    /// 405.
    MethodNotAllowed,
    /// 429: too many signups from this client or for this address; retry after N seconds.
    RateLimited(i64),
    /// 409: the request is valid but the entry's state does not allow it.
    Conflict(&'static str, String),
    /// 413: body larger than we accept.
    TooLarge(usize),
    /// 422: well-formed but invalid values.
    Invalid(&'static str, String),
    /// 503: a service we depend on did not answer; the request is safe to retry.
    Unavailable(&'static str, String),
    /// 500: a platform failure (storage, binding); details go to the log, not the client.
    Internal(String),
    /// 500 `misconfigured`: the deployment's settings do not allow this (an unknown provider, a
    /// development secret in production). Says which setting, never its value; logged too.
    Misconfigured(String),
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::Invalid(e.code(), e.to_string())
    }
}

impl From<waitlist::Error> for AppError {
    fn from(e: waitlist::Error) -> Self {
        match e {
            waitlist::Error::NotFound(code, message) => AppError::NotFound(code, message),
            waitlist::Error::Conflict(code, message) => AppError::Conflict(code, message),
            waitlist::Error::Invalid(d) => d.into(),
            waitlist::Error::Internal(message) => AppError::Internal(message),
            waitlist::Error::Store(s) => AppError::Internal(s.to_string()),
        }
    }
}

impl From<SignatureError> for AppError {
    fn from(e: SignatureError) -> Self {
        AppError::Unauthorized("invalid_signature", e.to_string())
    }
}

impl From<worker::Error> for AppError {
    fn from(e: worker::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(..) => 400,
            AppError::Unauthorized(..) => 401,
            AppError::Forbidden(..) => 403,
            AppError::NotFound(..) => 404,
            AppError::MethodNotAllowed => 405,
            AppError::Conflict(..) => 409,
            AppError::RateLimited(_) => 429,
            AppError::TooLarge(_) => 413,
            AppError::Invalid(..) => 422,
            AppError::Unavailable(..) => 503,
            AppError::Internal(_) | AppError::Misconfigured(_) => 500,
        }
    }

    pub fn body(&self) -> ErrorBody {
        let (code, message) = match self {
            AppError::BadRequest(c, m)
            | AppError::Unauthorized(c, m)
            | AppError::Forbidden(c, m)
            | AppError::NotFound(c, m)
            | AppError::Conflict(c, m)
            | AppError::Invalid(c, m)
            | AppError::Unavailable(c, m) => (*c, m.clone()),
            AppError::MethodNotAllowed => ("method_not_allowed", "method not allowed on this path".to_owned()),
            AppError::RateLimited(secs) => ("rate_limited", format!("too many signups; try again in {secs} s")),
            AppError::TooLarge(max) => ("body_too_large", format!("request body is larger than {max} bytes")),
            AppError::Internal(_) => ("internal", "something went wrong on our side; try again".to_owned()),
            AppError::Misconfigured(why) => ("misconfigured", why.clone()),
        };
        ErrorBody { error: ErrorDetail { code: code.to_owned(), message } }
    }

    pub fn into_response(self) -> worker::Result<Response> {
        match &self {
            AppError::Internal(detail) => worker::console_error!("internal error: {detail}"),
            AppError::Misconfigured(why) => worker::console_error!("misconfigured: {why}"),
            _ => {}
        }
        let mut resp = Response::from_json(&self.body())?.with_status(self.status());
        if let AppError::RateLimited(secs) = self {
            resp.headers_mut().set("Retry-After", &secs.to_string())?;
        }
        Ok(resp)
    }
}

pub type AppResult<T> = Result<T, AppError>;
