//! The widget's only network code: JSON requests to the edge's `/v1` API with `window.fetch`.
//! Answers are decoded by [`crate::signup::decode`], so everything here is transport.

use crate::signup::{decode, ApiError};
use shared::wire::{SignupRequest, SignupResponse, SkuState};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestInit, Response};

/// One SKU of one shop on one edge deployment.
#[derive(Debug, Clone)]
pub struct Edge {
    /// `https://restock.example.com/v1/shops/{shop}/skus/{sku}`, with shop and SKU URI-encoded.
    sku_url: String,
}

impl Edge {
    pub fn new(base: &str, shop: &str, sku: &str) -> Edge {
        let enc = |s: &str| String::from(js_sys::encode_uri_component(s));
        Edge { sku_url: format!("{}/v1/shops/{}/skus/{}", base.trim_end_matches('/'), enc(shop), enc(sku)) }
    }

    /// `GET …/skus/{sku}`.
    pub async fn sku_state(&self) -> Result<SkuState, ApiError> {
        let (status, body) = send("GET", &self.sku_url, None).await?;
        decode(status, &body)
    }

    /// `POST …/skus/{sku}/waitlist`: the HTTP status (201 new, 200 already there) and the entry.
    pub async fn join(&self, req: &SignupRequest) -> Result<(u16, SignupResponse), ApiError> {
        let body = serde_json::to_string(req).map_err(|_| ApiError::Server)?;
        let (status, text) = send("POST", &format!("{}/waitlist", self.sku_url), Some(body)).await?;
        decode(status, &text).map(|entry| (status, entry))
    }

    /// `GET …/skus/{sku}/waitlist/{entry_id}`: the entry's current place in line.
    pub async fn entry(&self, entry_id: &str) -> Result<SignupResponse, ApiError> {
        let url = format!("{}/waitlist/{}", self.sku_url, String::from(js_sys::encode_uri_component(entry_id)));
        let (status, body) = send("GET", &url, None).await?;
        decode(status, &body)
    }
}

/// Sends one request and reads the whole body as text. Only "no answer at all" is an error here.
async fn send(method: &str, url: &str, body: Option<String>) -> Result<(u16, String), ApiError> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        let headers = web_sys::Headers::new().map_err(|_| ApiError::Network)?;
        headers.set("content-type", "application/json").map_err(|_| ApiError::Network)?;
        init.set_headers(&headers);
        init.set_body(&body.into());
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(|_| ApiError::Network)?;
    let window = web_sys::window().ok_or(ApiError::Network)?;
    let response: Response =
        JsFuture::from(window.fetch_with_request(&request)).await.map_err(|_| ApiError::Network)?.unchecked_into();
    let text = JsFuture::from(response.text().map_err(|_| ApiError::Network)?).await.map_err(|_| ApiError::Network)?;
    Ok((response.status(), text.as_string().unwrap_or_default()))
}
