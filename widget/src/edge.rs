//! The widget's only network code: JSON requests to the edge's `/v1` API with `window.fetch`. Bodies are
//! parsed by the browser (`JSON.parse`) and read through [`crate::answer`]; what we send is built as a JS
//! object and `JSON.stringify`-ed. Each call takes the function to run with its answer. Everything here
//! is transport.

use crate::answer::{self, answer, ApiError, Claim, Fields};
use js_sys::{Reflect, JSON};
use shared::wire::{SignupRequest, SignupResponse, SkuState};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RequestInit, Response};

impl Fields for JsValue {
    fn text(&self, key: &str) -> Option<String> {
        Reflect::get(self, &key.into()).ok()?.as_string()
    }
    fn number(&self, key: &str) -> Option<f64> {
        Reflect::get(self, &key.into()).ok()?.as_f64()
    }
    fn flag(&self, key: &str) -> Option<bool> {
        Reflect::get(self, &key.into()).ok()?.as_bool()
    }
    fn object(&self, key: &str) -> Option<JsValue> {
        Reflect::get(self, &key.into()).ok().filter(JsValue::is_object)
    }
}

fn enc(s: &str) -> String {
    js_sys::encode_uri_component(s).into()
}

/// One shop on one edge deployment.
#[derive(Debug, Clone)]
pub struct Edge {
    /// `https://restock.example.com/v1/shops/{shop}/skus/`, with the shop URI-encoded.
    skus: String,
}

impl Edge {
    /// `base` is the API's origin, e.g. `https://restock.example.com`.
    pub fn new(base: &str, shop: &str) -> Edge {
        Edge { skus: [base.trim_end_matches('/'), "/v1/shops/", &enc(shop), "/skus/"].concat() }
    }

    fn url(&self, sku: &str, rest: &[&str]) -> String {
        let mut url = [&self.skus, &*enc(sku)].concat();
        for part in rest {
            url.push('/');
            url.push_str(&enc(part));
        }
        url
    }

    /// `GET …/skus/{sku}`.
    pub fn sku_state(&self, sku: &str, done: impl FnOnce(Result<SkuState, ApiError>) + 'static) {
        send(
            "GET",
            self.url(sku, &[]),
            None,
            Box::new(move |status, body| done(answer(status, body, answer::sku_state))),
        );
    }

    /// `POST …/skus/{sku}/waitlist`: the HTTP status (201, new or already on the list alike) and the entry.
    pub fn join(
        &self,
        sku: &str,
        req: &SignupRequest,
        done: impl FnOnce(Result<(u16, SignupResponse), ApiError>) + 'static,
    ) {
        let body = js_sys::Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = Reflect::set(&body, &k.into(), &v);
        };
        set("email", req.email.as_str().into());
        if let Some(consent) = req.sms_consent {
            set("sms_consent", consent.into());
        }
        if let Some(quantity) = req.quantity {
            set("quantity", quantity.into());
        }
        let texts = [
            ("phone", &req.phone),
            ("consent_text", &req.consent_text),
            ("locale", &req.locale),
            ("website", &req.website),
            ("turnstile_token", &req.turnstile_token),
        ];
        for (key, value) in texts {
            if let Some(value) = value {
                set(key, value.as_str().into());
            }
        }
        let text = JSON::stringify(&body).map(JsValue::from).ok();
        send(
            "POST",
            self.url(sku, &["waitlist"]),
            text,
            Box::new(move |status, body| done(answer(status, body, answer::entry).map(|entry| (status, entry)))),
        );
    }

    /// `GET …/skus/{sku}/waitlist/{entry_id}`: the entry's current place in line.
    pub fn entry(&self, sku: &str, entry_id: &str, done: impl FnOnce(Result<SignupResponse, ApiError>) + 'static) {
        let url = self.url(sku, &["waitlist", entry_id]);
        send("GET", url, None, Box::new(move |status, body| done(answer(status, body, answer::entry))));
    }

    /// `GET …/skus/{sku}/claims/{token}`: what a claim link holds.
    pub fn claim(&self, sku: &str, token: &str, done: impl FnOnce(Result<Claim, ApiError>) + 'static) {
        let url = self.url(sku, &["claims", token]);
        send("GET", url, None, Box::new(move |status, body| done(answer(status, body, answer::claim))));
    }
}

/// An answer the loader already has, as `{status, body}` (`body` parsed, `status` 0 when the request
/// got no answer): the SKU's state it fetched while the wasm loaded, or the answer to a signup its
/// plain form sent. `None` when the loader passed nothing.
pub fn handed_over<T>(given: &JsValue, read: fn(&JsValue) -> Option<T>) -> Option<Result<T, ApiError>> {
    let status = given.number("status")?;
    let body = given.object("body");
    Some(answer(status as u16, body, read))
}

/// What to do with an answer: its HTTP status (0: none at all) and its body parsed as JSON (`None`
/// when it is not JSON).
type Done = Box<dyn FnOnce(u16, Option<JsValue>)>;

/// Sends one request in the background and hands the answer to `done`. Every request goes through
/// this one (non-generic) future, which keeps the wasm small.
fn send(method: &'static str, url: String, body: Option<JsValue>, done: Done) {
    leptos::task::spawn_local(async move {
        let (status, body) = fetch(method, &url, body).await.unwrap_or((0, None));
        done(status, body);
    });
}

async fn fetch(method: &str, url: &str, body: Option<JsValue>) -> Result<(u16, Option<JsValue>), JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let headers = js_sys::Object::new();
        let _ = Reflect::set(&headers, &"content-type".into(), &"application/json".into());
        init.set_headers(&headers);
        init.set_body(&body);
    }
    let window = web_sys::window().ok_or(JsValue::NULL)?;
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init)).await?.unchecked_into();
    let text = JsFuture::from(response.text()?).await?;
    let parsed = text.as_string().and_then(|t| JSON::parse(&t).ok()).filter(JsValue::is_object);
    Ok((response.status(), parsed))
}
