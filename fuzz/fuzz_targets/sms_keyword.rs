//! An inbound SMS body → `SmsKeyword::parse`. Never panics; a recognised STOP stays one when more
//! text follows (the rule reads the first words only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::consent::SmsKeyword;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let keyword = SmsKeyword::parse(&body);
    if keyword == Some(SmsKeyword::Stop) {
        assert_eq!(SmsKeyword::parse(&format!("{body} please")), Some(SmsKeyword::Stop));
    }
});
