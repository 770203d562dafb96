//! The storefront widget: a Leptos (CSR) signup form that the loader (`widget/loader.js`) mounts inside
//! a Shadow DOM. The entry point only sets the panic hook and mounts; [`signup`] holds the domain (tested
//! natively), [`edge`] the network calls, [`view`] the components.
//!
//! Architecture Invariant: the widget knows nothing of the page it is on beyond the container it is given.

pub mod edge;
pub mod signup;
pub mod view;

use wasm_bindgen::prelude::wasm_bindgen;

/// Mounts one widget for `shop`/`sku` into `container` (a div inside the loader's shadow root).
/// `edge` is the API's origin, e.g. `https://restock.example.com`. Called once per widget on the page.
#[wasm_bindgen]
pub fn mount(container: web_sys::HtmlElement, edge: String, shop: String, sku: String, locale: String) {
    console_error_panic_hook::set_once();
    let api = edge::Edge::new(&edge, &shop, &sku);
    leptos::mount::mount_to(container, move || view::Widget(view::WidgetProps { edge: api, locale })).forget();
}
