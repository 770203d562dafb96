//! The widget's only network code: JSON requests to the edge's `/v1` API with `window.fetch`. Bodies are
//! parsed by the browser (`JSON.parse`) and read through [`crate::answer`]; what we send is built as a JS
//! object and `JSON.stringify`-ed. Everything here is transport.

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
    pub async fn sku_state(&self, sku: &str) -> Result<SkuState, ApiError> {
        let (status, body) = send("GET", &self.url(sku, &[]), None).await?;
        answer(status, body, answer::sku_state)
    }

    /// `POST …/skus/{sku}/waitlist`: the HTTP status (201, new or already on the list alike) and the entry.
    pub async fn join(&self, sku: &str, req: &SignupRequest) -> Result<(u16, SignupResponse), ApiError> {
        let body = js_sys::Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = Reflect::set(&body, &k.into(), &v);
        };
        set("email", req.email.as_str().into());
        if let Some(phone) = &req.phone {
            set("phone", phone.as_str().into());
        }
        if let Some(consent) = req.sms_consent {
            set("sms_consent", consent.into());
        }
        if let Some(locale) = &req.locale {
            set("locale", locale.as_str().into());
        }
        if let Some(quantity) = req.quantity {
            set("quantity", quantity.into());
        }
        let text = JSON::stringify(&body).map_err(|_| ApiError::Server)?;
        let url = self.url(sku, &["waitlist"]);
        let (status, body) = send("POST", &url, Some(text.into())).await?;
        answer(status, body, answer::entry).map(|entry| (status, entry))
    }

    /// `GET …/skus/{sku}/waitlist/{entry_id}`: the entry's current place in line.
    pub async fn entry(&self, sku: &str, entry_id: &str) -> Result<SignupResponse, ApiError> {
        let (status, body) = send("GET", &self.url(sku, &["waitlist", entry_id]), None).await?;
        answer(status, body, answer::entry)
    }

    /// `GET …/skus/{sku}/claims/{token}`: what a claim link holds.
    pub async fn claim(&self, sku: &str, token: &str) -> Result<Claim, ApiError> {
        let (status, body) = send("GET", &self.url(sku, &["claims", token]), None).await?;
        answer(status, body, answer::claim)
    }
}

/// Sends one request and parses the body as JSON (`None` when it is not JSON). Only "no answer at all"
/// is an error here.
async fn send(method: &str, url: &str, body: Option<JsValue>) -> Result<(u16, Option<JsValue>), ApiError> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let headers = js_sys::Object::new();
        let _ = Reflect::set(&headers, &"content-type".into(), &"application/json".into());
        init.set_headers(&headers);
        init.set_body(&body);
    }
    let window = web_sys::window().ok_or(ApiError::Network)?;
    let response: Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| ApiError::Network)?
        .unchecked_into();
    let text = JsFuture::from(response.text().map_err(|_| ApiError::Network)?).await.map_err(|_| ApiError::Network)?;
    let parsed = text.as_string().and_then(|t| JSON::parse(&t).ok()).filter(JsValue::is_object);
    Ok((response.status(), parsed))
}
