//! Shopify `inventory_levels/update` body: JSON → `ShopifyInventoryLevel` → `parse_timestamp_ms`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::date::parse_timestamp_ms;
use shared::wire::ShopifyInventoryLevel;

fuzz_target!(|data: &[u8]| {
    if let Ok(level) = serde_json::from_slice::<ShopifyInventoryLevel>(data) {
        let _ = parse_timestamp_ms(&level.updated_at);
    }
    // The timestamp parser on its own, on any text (it slices by byte offsets).
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_timestamp_ms(text);
    }
});
