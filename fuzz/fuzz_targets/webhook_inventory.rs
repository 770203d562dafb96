//! The generic signed inventory feed's body: JSON → `InventoryLevel` → `parse_timestamp_ms`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::date::parse_timestamp_ms;
use shared::wire::InventoryLevel;

fuzz_target!(|data: &[u8]| {
    if let Ok(level) = serde_json::from_slice::<InventoryLevel>(data) {
        let _ = parse_timestamp_ms(&level.updated_at);
    }
});
