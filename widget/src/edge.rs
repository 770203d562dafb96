//! The widget's only network code: JSON requests to the edge's `/v1` API with `window.fetch`. Bodies are
//! parsed by the browser (`JSON.parse`) and read through [`crate::answer`]; what we send is built as a JS
//! object (the JS side `JSON.stringify`s it). Each call takes the function to run with its answer. Everything here
//! is transport.

use crate::answer::{self, answer, ApiError, Claim, Fields};
use js_sys::Reflect;
use shared::wire::{SignupRequest, SignupResponse, SkuState};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

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
        if let Some(consent) = req.marketing_consent {
            set("marketing_consent", consent.into());
        }
        if let Some(quantity) = req.quantity {
            set("quantity", quantity.into());
        }
        let texts = [
            ("phone", &req.phone),
            ("consent_text", &req.consent_text),
            ("marketing_consent_text", &req.marketing_consent_text),
            ("locale", &req.locale),
            ("website", &req.website),
            ("turnstile_token", &req.turnstile_token),
        ];
        for (key, value) in texts {
            if let Some(value) = value {
                set(key, value.as_str().into());
            }
        }
        send(
            "POST",
            self.url(sku, &["waitlist"]),
            Some(body.into()),
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

/// Sends one request in the background and hands the answer to `done`, exactly once.
fn send(method: &'static str, url: String, body: Option<JsValue>, done: Done) {
    let done = Closure::once_into_js(move |status: u16, body: JsValue| done(status, body.is_object().then_some(body)));
    request(method, &url, body, done);
}

// The request itself, in a few lines of JS: a promise chain written in Rust (futures, an executor's
// task per request) weighs several kilobytes of wasm. `done(status, body)` is called once: `status`
// 0 when there was no answer, `body` the parsed JSON object (else undefined).
#[wasm_bindgen(inline_js = r#"
export function request(method, url, body, done) {
  const init = { method };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  fetch(url, init)
    .then((r) => r.text().then((t) => [r.status, t]))
    .then((a) => a, () => [0, ''])
    .then(([status, text]) => {
      let b;
      try { b = JSON.parse(text); } catch (e) { b = undefined; }
      done(status, b !== null && typeof b === 'object' ? b : undefined);
    });
}
"#)]
extern "C" {
    fn request(method: &str, url: &str, body: Option<JsValue>, done: JsValue);
}
