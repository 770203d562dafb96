//! The public signup body: JSON → `SignupRequest` → `Email::parse` → `rate_key`. Whatever the bytes,
//! nothing panics, and an address that parses has a rate key that parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::wire::SignupRequest;
use shared::Email;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = serde_json::from_slice::<SignupRequest>(data) else {
        return;
    };
    let Ok(email) = Email::parse(&req.email) else {
        return;
    };
    let key = email.rate_key();
    assert_eq!(key, key.to_lowercase(), "rate key is lower-case");
    assert_eq!(email.key(), email.as_str().to_lowercase());
    // The key is itself an address of the same mailbox, and canonical.
    if let Ok(again) = Email::parse(&key) {
        assert_eq!(again.rate_key(), key, "rate_key is idempotent");
    }
});
