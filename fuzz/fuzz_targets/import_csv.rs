//! Waitlist imports: any text through the CSV reader and the import plan (header aliases, dates,
//! phones, duplicates, signup order).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(plan) = shared::import::parse_waitlist_csv(text) {
            // Signup order is kept: by time, ties by line.
            for w in plan.rows.windows(2) {
                assert!((w[0].signed_up_at_ms, w[0].line) <= (w[1].signed_up_at_ms, w[1].line));
            }
        }
    }
});
