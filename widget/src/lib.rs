//! The storefront widget: a Leptos (CSR) waitlist form that the loader (`widget/loader.js`) mounts inside
//! a Shadow DOM. The entry point only mounts; [`signup`] and [`locale`] hold the domain (tested natively),
//! [`answer`] reads the edge's JSON, [`edge`] makes the network calls, [`view`] renders.
//!
//! Architecture Invariant: the widget knows nothing of the page it is on beyond the container it is given;
//! the loader watches the page (variant pickers, the product form) and calls in.

pub mod answer;
pub mod edge;
pub mod locale;
pub mod signup;
pub mod view;

use leptos::prelude::{RwSignal, Set};
use wasm_bindgen::prelude::{wasm_bindgen, Closure};

/// Mounts one widget into `container` (a div inside the loader's shadow root). `edge` is the API's
/// origin, e.g. `https://restock.example.com`; `locale` a BCP 47 tag; `claim` the token of a
/// `?restock_claim=` link meant for `sku` (or empty); `buy(url)` proceeds to purchase on this page.
/// Returns `setSku(sku)`, which switches the widget to another SKU (an empty one hides it).
#[wasm_bindgen]
pub fn mount(
    container: web_sys::HtmlElement,
    edge: String,
    shop: String,
    sku: String,
    locale: String,
    claim: String,
    buy: js_sys::Function,
) -> js_sys::Function {
    let api = edge::Edge::new(&edge, &shop);
    let lang = locale::Lang::from_tag(&locale);
    let sku = RwSignal::new(sku);
    let claim = (!claim.is_empty()).then_some(claim);
    leptos::mount::mount_to(container, move || view::widget(api, sku, lang, claim, buy)).forget();
    let set_sku = Closure::<dyn Fn(String)>::new(move |next: String| sku.set(next));
    set_sku.into_js_value().into()
}
