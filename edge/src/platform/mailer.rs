//! The fetch side of the providers: executes a `shared::provider::HttpCall` and reports what the
//! provider said as an `Attempt`. What to send and how to read the answer are in
//! `shared::provider`; this file only talks to the network.

use shared::outbox::Attempt;
use shared::provider::{attempt, Api, HttpAnswer, HttpCall};
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit};

/// A provider that does not answer within this time is treated as down for this try.
const PROVIDER_TIMEOUT_MS: u32 = 10_000;

/// Sends one call and reads the whole answer. `Err` = no answer (refused, timeout).
pub async fn execute(call: &HttpCall) -> worker::Result<HttpAnswer> {
    let headers = Headers::new();
    for (k, v) in &call.headers {
        headers.set(k, v)?;
    }
    let method = Method::from(call.method.to_owned());
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if !call.body.is_empty() {
        init.with_body(Some(call.body.clone().into()));
    }
    let req = Request::new_with_init(&call.url, &init)?;
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(PROVIDER_TIMEOUT_MS));
    let mut resp = Fetch::Request(req).send_with_signal(&signal).await?;
    let status = resp.status_code();
    let headers = resp.headers().entries().collect();
    let body = resp.text().await.unwrap_or_default();
    Ok(HttpAnswer { status, headers, body })
}

/// Sends one call: the attempt, and the answer when there was one (a batch's ids are in it).
pub async fn send(call: &HttpCall, api: Api) -> (Attempt, Option<HttpAnswer>) {
    match execute(call).await {
        Ok(answer) => (attempt(api, &answer), Some(answer)),
        Err(e) => (Attempt::Network(e.to_string()), None),
    }
}

/// Sends calls in order, stopping at the first that is not accepted (its attempt is the result).
/// All accepted: the first call's provider id.
pub async fn send_all(calls: &[HttpCall], api: Api) -> Attempt {
    let mut first_id = None;
    for (i, call) in calls.iter().enumerate() {
        match send(call, api).await.0 {
            Attempt::Accepted { provider_id } => {
                if i == 0 {
                    first_id = provider_id;
                }
            }
            other => return other,
        }
    }
    Attempt::Accepted { provider_id: first_id }
}
