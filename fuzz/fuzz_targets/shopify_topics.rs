//! Every Shopify topic's payload: JSON → the typed payload → the pure helpers the edge calls
//! (variant listings with their SKU checks, order contact and revenue, fulfillment tracking).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::shopify::{
    variant_listings, CustomersDataRequest, CustomersRedact, Fulfillment, InventoryLevelEvent, Order, Product,
    ShopRedact,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = serde_json::from_slice::<Product>(data) {
        let _ = variant_listings(&p, Some("https://shop.example"));
        let _ = variant_listings(&p, None);
    }
    if let Ok(o) = serde_json::from_slice::<Order>(data) {
        let _ = o.contact();
        for li in &o.line_items {
            let _ = li.revenue();
        }
    }
    if let Ok(f) = serde_json::from_slice::<Fulfillment>(data) {
        let _ = f.tracking();
    }
    let _ = serde_json::from_slice::<InventoryLevelEvent>(data);
    let _ = serde_json::from_slice::<CustomersDataRequest>(data);
    let _ = serde_json::from_slice::<CustomersRedact>(data);
    let _ = serde_json::from_slice::<ShopRedact>(data);
});
