//! The storefront widget: a Leptos (CSR) waitlist form that takes over from the loader's plain form
//! (`widget/loader.js`) inside a Shadow DOM. The entry point only mounts; [`signup`] and [`locale`] hold
//! the domain (tested natively), [`answer`] reads the edge's JSON, [`edge`] makes the network calls,
//! [`view`] renders.
//!
//! Architecture Invariant: the widget knows nothing of the page it is on beyond the container it is given;
//! the loader watches the page (variant pickers, the product form, the Turnstile script) and calls in.

pub mod answer;
pub mod edge;
pub mod locale;
pub mod signup;
pub mod view;

use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::JsValue;

/// Mounts one widget into `container` (a div inside the loader's shadow root).
/// - `edge`: the API's origin, e.g. `https://restock.example.com`; `shop`, `sku`: what to show.
/// - `tag`, `text`: the page's language ("de") and its sentences in `locale::Text::FIELDS` order.
/// - `claim`: the token of a `?restock_claim=` link meant for `sku` (or empty); `buy(url)` proceeds to
///   purchase on this page.
/// - `state`: `{status, body}` of `GET …/skus/{sku}` when the loader already has it (else undefined).
/// - `prior`: `{status, body}` of a signup the loader's plain form already sent for `sku` (else
///   undefined; `status` 0 when it got no answer): shown, never sent again.
/// - `token()`, `reset()`: the loader's Turnstile challenge, when the shop's widget uses one.
///
/// Returns `setSku(sku)`, which switches the widget to another SKU (an empty one hides it), or throws
/// when `text` is not a full table (the loader then keeps its plain form).
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen]
pub fn mount(
    container: web_sys::HtmlElement,
    edge: String,
    shop: String,
    sku: String,
    tag: String,
    text: Vec<String>,
    claim: String,
    buy: js_sys::Function,
    state: JsValue,
    prior: JsValue,
    token: Option<js_sys::Function>,
    reset: Option<js_sys::Function>,
) -> Result<js_sys::Function, JsValue> {
    let text = locale::Text::from_list(text).ok_or("restock widget: wrong sentence table")?;
    let product = edge::handed_over(&state, answer::sku_state).map(signup::Product::loaded);
    let signup = edge::handed_over(&prior, answer::entry)
        .map(|outcome| signup::Signup::resumed(outcome.map(|entry| (201, entry))))
        .unwrap_or_default();
    let start = view::Start {
        edge: edge::Edge::new(&edge, &shop),
        tag: Box::leak(tag.into_boxed_str()),
        text,
        shown: signup::Shown {
            sku,
            product: product.unwrap_or(signup::Product::Loading),
            signup,
            claim: if claim.is_empty() { signup::ClaimState::None } else { signup::ClaimState::Checking },
        },
        claim: (!claim.is_empty()).then_some(claim),
        buy,
        challenge: token.zip(reset).map(|(token, reset)| view::Challenge { token, reset }),
    };
    let switch = view::mount(container, start);
    Ok(Closure::<dyn Fn(String)>::new(switch).into_js_value().into())
}
