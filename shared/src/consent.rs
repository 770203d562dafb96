//! Consent: what an inbound SMS asks for (STOP / START / HELP), whether an inbound Twilio webhook is
//! genuine, and the keyed hash that remembers an unsubscribed or erased address without storing it.
//!
//! All pure: the edge decodes the form body, passes the public URL Twilio called and the shop's auth
//! token, and stores the decisions.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Longest SMS body looked at, in bytes. A concatenated SMS carries at most 1 600 characters
/// (Twilio's cap); a keyword is in the first few bytes, so the rest is never scanned.
const MAX_BODY_SCAN: usize = 64;

/// Mixed into every suppression hash so it can never collide with another use of the same secret.
const SUPPRESSION_DOMAIN: &[u8] = b"restock-suppression/v1\n";

/// What an inbound SMS asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsKeyword {
    /// Opt out of all SMS from this sender.
    Stop,
    /// Opt back in after a stop.
    Start,
    /// Send the help text (who we are, how to stop).
    Help,
}

/// Opt-out words: Twilio's defaults (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) plus REVOKE and
/// OPTOUT, the words the FCC's 2025 revocation rule names. Two-word forms (`stop all`, `opt out`) are
/// matched with their words joined.
const STOP_WORDS: &[&str] = &["stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"];
const START_WORDS: &[&str] = &["start", "unstop", "yes"];
const HELP_WORDS: &[&str] = &["help", "info"];

impl SmsKeyword {
    /// Reads the keyword of an inbound SMS body, or `None` for a conversational message.
    ///
    /// The rule: the body is split into words at every character that is not a letter or digit
    /// (so white space and punctuation around and between words are ignored) and compared
    /// case-insensitively.
    /// - **Stop** when the first word, or the first two words joined, is an opt-out word: `STOP`,
    ///   `Stop.`, `STOP ALL`, `opt-out`, and also `STOP please` / `stop texting me`. Carriers and Twilio
    ///   only act on a body that is the keyword alone, but a reply that *starts* with one is a
    ///   revocation in any reasonable reading, and missing a stop costs more than an extra one.
    ///   A keyword later in the message (`please stop`) is not recognised.
    /// - **Start** and **Help** only when the body is that one word (`START`, `yes!`, ` Info `),
    ///   exactly as Twilio matches them: `yes please` is not an opt-in, so we never believe someone
    ///   re-subscribed while Twilio's own block is still in place.
    ///
    /// Only the first [`MAX_BODY_SCAN`] bytes after leading white space and punctuation are split
    /// into words, so a long body costs little.
    pub fn parse(body: &str) -> Option<SmsKeyword> {
        let body = body.trim_matches(|c: char| !c.is_alphanumeric());
        let mut end = body.len().min(MAX_BODY_SCAN);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        let truncated = end < body.len();
        let mut scanned = &body[..end];
        if truncated && body[end..].starts_with(char::is_alphanumeric) {
            // The scan cut a word: drop it rather than read its beginning as a keyword.
            scanned = scanned.trim_end_matches(char::is_alphanumeric);
        }
        let mut words = scanned.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty());
        let first = words.next()?.to_lowercase();
        let second = words.next().map(str::to_lowercase);
        // Anything after the first word (even beyond the scan) means it is not a lone keyword.
        let more = second.is_some() || truncated;

        if STOP_WORDS.contains(&first.as_str()) {
            return Some(SmsKeyword::Stop);
        }
        if let Some(second) = &second {
            let joined = format!("{first}{second}");
            if STOP_WORDS.contains(&joined.as_str()) {
                return Some(SmsKeyword::Stop);
            }
        }
        if more {
            return None;
        }
        if START_WORDS.contains(&first.as_str()) {
            Some(SmsKeyword::Start)
        } else if HELP_WORDS.contains(&first.as_str()) {
            Some(SmsKeyword::Help)
        } else {
            None
        }
    }
}

/// The string Twilio signs: the full URL Twilio requested (scheme, host, port if any, path and
/// query, exactly as configured), then each POST parameter's name immediately followed by its
/// value, sorted by name. A repeated name is sorted by value and an exact repeat of a (name, value)
/// pair counts once, as Twilio's own helper libraries do.
fn twilio_payload(url: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut payload = Vec::with_capacity(url.len() + params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
    payload.extend_from_slice(url.as_bytes());
    for (name, value) in sorted {
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(value.as_bytes());
    }
    payload
}

fn twilio_mac(auth_token: &str, url: &str, params: &[(String, String)]) -> Hmac<Sha1> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha1> as Mac>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(&twilio_payload(url, params));
    m
}

/// Checks an `X-Twilio-Signature` header: base64 HMAC-SHA1, keyed by the account's auth token, of
/// [`twilio_payload`]. `url` must be the URL Twilio called, byte for byte (behind a proxy, the public
/// one); `params` the decoded `application/x-www-form-urlencoded` body, in any order. Constant-time;
/// an empty token or a header that is not base64 of 20 bytes is refused. Never panics.
pub fn verify_twilio(auth_token: &str, url: &str, params: &[(String, String)], header_b64: &str) -> bool {
    if auth_token.is_empty() {
        return false;
    }
    let Ok(sig) = B64.decode(header_b64.trim()) else {
        return false;
    };
    // `verify_slice` also refuses a wrong length; the check keeps that explicit.
    sig.len() == 20 && twilio_mac(auth_token, url, params).verify_slice(&sig).is_ok()
}

/// Signs like Twilio does (for tests and the demo's SMS simulator).
pub fn sign_twilio(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    B64.encode(twilio_mac(auth_token, url, params).finalize().into_bytes())
}

/// The suppression entry of an address: lower-case hex HMAC-SHA256 of `address_key` under the
/// shop's suppression secret. Storing this instead of the address lets an erased or unsubscribed
/// contact be recognised (and refused) on a later signup without keeping their personal data.
///
/// `address_key` should be the canonical key of the address, [`crate::Email::rate_key`] for email
/// and the E.164 number for SMS, so every spelling of one mailbox maps to one entry. Without the
/// secret the hash cannot be recomputed from a guessed address.
pub fn suppression_key(secret: &[u8], address_key: &str) -> String {
    let mut m =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(SUPPRESSION_DOMAIN);
    m.update(address_key.as_bytes());
    hex(&m.finalize().into_bytes())
}

/// The key a consent wording is kept under, once for every signup that was shown it: the
/// SHA-256 of the text, in hex.
pub fn text_key(text: &str) -> String {
    use sha2::Digest;
    hex(&Sha256::digest(text.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_keywords(cases: &[(&str, Option<SmsKeyword>)]) {
        for (body, want) in cases {
            assert_eq!(SmsKeyword::parse(body), *want, "body {body:?}");
        }
    }

    #[test]
    fn sms_keyword_table() {
        use SmsKeyword::{Help, Start, Stop};
        check_keywords(&[
            ("STOP", Some(Stop)),
            ("Stop.", Some(Stop)),
            ("  stop\n", Some(Stop)),
            ("STOP ALL", Some(Stop)),
            ("stopall", Some(Stop)),
            ("Stop-All!", Some(Stop)),
            ("unsubscribe", Some(Stop)),
            ("UNSUBSCRIBE.", Some(Stop)),
            ("cancel", Some(Stop)),
            ("End", Some(Stop)),
            ("quit", Some(Stop)),
            ("revoke", Some(Stop)),
            ("optout", Some(Stop)),
            ("Opt out", Some(Stop)),
            ("opt-out", Some(Stop)),
            ("\"STOP\"", Some(Stop)),
            ("¡Stop!", Some(Stop)),
            ("STOP please", Some(Stop)),
            ("stop texting me", Some(Stop)),
            ("START", Some(Start)),
            ("start", Some(Start)),
            ("unstop", Some(Start)),
            ("Yes!", Some(Start)),
            (" yes ", Some(Start)),
            ("HELP", Some(Help)),
            ("help?", Some(Help)),
            ("info", Some(Help)),
            ("INFO.", Some(Help)),
            // Conversational messages.
            ("", None),
            ("   ", None),
            ("...", None),
            ("please stop", None),
            ("yes please", None),
            ("start now", None),
            ("help me", None),
            ("Is it back in stock?", None),
            ("stopping", None),
            ("stops", None),
            ("opt", None),
            ("yess", None),
            ("don't stop", None),
            ("stopé", None),
            ("s t o p", None),
        ]);
    }

    #[test]
    fn sms_keyword_reads_only_the_start_of_a_long_body() {
        let long = format!("STOP {}", "x".repeat(10_000));
        assert_eq!(SmsKeyword::parse(&long), Some(SmsKeyword::Stop));
        let padded = format!("{}yes{}", " ".repeat(100), "!".repeat(100));
        assert_eq!(SmsKeyword::parse(&padded), Some(SmsKeyword::Start));
        let padded_stop = format!("{}STOP", "\n".repeat(1_000));
        assert_eq!(SmsKeyword::parse(&padded_stop), Some(SmsKeyword::Stop));
        let cut = format!("yes{}", "x".repeat(100));
        assert_eq!(SmsKeyword::parse(&cut), None, "a cut body is never a lone START");
        let cut_second = format!("opt{}outrageous", " ".repeat(MAX_BODY_SCAN - 6));
        assert_eq!(SmsKeyword::parse(&cut_second), None, "a cut word is not read as `out`");
        let whole_second = format!("opt{}out", " ".repeat(MAX_BODY_SCAN - 6));
        assert_eq!(SmsKeyword::parse(&whole_second), Some(SmsKeyword::Stop));
        let long_second = format!("yes {}", "x".repeat(100));
        assert_eq!(SmsKeyword::parse(&long_second), None);
        let multibyte = "é".repeat(1_000);
        assert_eq!(SmsKeyword::parse(&multibyte), None);
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    type Params = Vec<(String, String)>;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn documented_params() -> Vec<(String, String)> {
        // Deliberately not in sorted order.
        params(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("From", "+14158675309"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
        ])
    }

    /// Twilio's published request-validation example (auth token `12345`), as used by its
    /// official helper libraries' tests.
    #[test]
    fn twilio_documented_vectors() {
        assert!(verify_twilio("12345", URL, &documented_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert_eq!(sign_twilio("12345", URL, &documented_params()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        // Repeated names are sorted by value, exact repeats count once (twilio-php's vector).
        let repeated = params(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert!(verify_twilio("12345", URL, &repeated, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
        // The URL is signed as given: Twilio's vector for the same request with an explicit :443.
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(verify_twilio("12345", with_port, &documented_params(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(!verify_twilio("12345", with_port, &documented_params(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn twilio_tamper_table() {
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let base = documented_params();
        let mut changed_value = base.clone();
        changed_value[3].1 = "9999".into();
        let mut extra = base.clone();
        extra.push(("Body".into(), "STOP".into()));
        let mut renamed = base.clone();
        renamed[0].0 = "to".into();
        // (auth token, url, params, header); only the first is genuine.
        let cases: Vec<(&str, &str, Params, &str)> = vec![
            ("12345", URL, base.clone(), good),
            ("12346", URL, base.clone(), good),
            ("", URL, base.clone(), good),
            ("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", base.clone(), good),
            ("12345", "http://mycompany.com/myapp.php?foo=1&bar=2", base.clone(), good),
            ("12345", URL, changed_value, good),
            ("12345", URL, extra, good),
            ("12345", URL, base[1..].to_vec(), good),
            ("12345", URL, renamed, good),
            ("12345", URL, base.clone(), ""),
            ("12345", URL, base.clone(), "FAIL"),
            ("12345", URL, base.clone(), "RSOYDt4T1cUTdK1PDd93/VVr8B8"),
            ("12345", URL, base.clone(), "RSOYDt4T1cUTdK1PDd93/VVr8B9="),
            ("12345", URL, base.clone(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=AAAA"),
            ("12345", URL, base.clone(), "not base64 王"),
        ];
        for (i, (token, url, params, header)) in cases.iter().enumerate() {
            let want = i == 0;
            assert_eq!(verify_twilio(token, url, params, header), want, "case {i}: {token:?} {url:?} {header:?}");
        }
        // Surrounding white space in the header is tolerated.
        assert!(verify_twilio("12345", URL, &base, " RSOYDt4T1cUTdK1PDd93/VVr8B8=\n"));
    }

    #[test]
    fn suppression_key_table() {
        let a = suppression_key(b"secret", "ada@example.com");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(a, suppression_key(b"secret", "ada@example.com"), "deterministic");
        assert_ne!(a, suppression_key(b"secret2", "ada@example.com"), "keyed");
        assert_ne!(a, suppression_key(b"secret", "ada@example.org"));
        assert!(!a.contains("ada"));
        // Every spelling of one mailbox maps to one entry when callers pass the rate key.
        let spelled = crate::Email::parse("Ada+Shoes@Example.com").unwrap();
        assert_eq!(a, suppression_key(b"secret", &spelled.rate_key()));
        // Pinned so a change of scheme (which would forget every suppression) is deliberate.
        assert_eq!(a, "86c7acf1cc206d1964e9294c4d2d5579857892c0ec5d2a85991f5755c1a83329");
    }

    proptest! {
        #[test]
        fn twilio_round_trip_in_any_order(
            token in "[ -~]{1,32}",
            url in "https://[a-z]{1,10}\\.test/[ -~]{0,20}",
            pairs in proptest::collection::vec(("[A-Za-z]{1,8}", "\\PC{0,12}"), 0..6),
        ) {
            let params: Vec<(String, String)> = pairs;
            let sig = sign_twilio(&token, &url, &params);
            prop_assert!(verify_twilio(&token, &url, &params, &sig));
            let mut reversed = params.clone();
            reversed.reverse();
            prop_assert!(verify_twilio(&token, &url, &reversed, &sig));
            let other_url = format!("{url}x");
            prop_assert!(!verify_twilio(&token, &other_url, &params, &sig));
        }

        #[test]
        fn sms_keyword_never_panics(body in "\\PC{0,80}") {
            let _ = SmsKeyword::parse(&body);
        }

        #[test]
        fn stop_survives_case_and_punctuation(
            word in proptest::sample::select(STOP_WORDS),
            upper in proptest::collection::vec(any::<bool>(), 11),
            before in "[ \\t\\n.!\"'¡¿*]{0,4}",
            after in "[ \\t\\n.!\"'?*]{0,4}",
        ) {
            let cased: String = word.chars().zip(upper).map(|(c, up)| if up { c.to_ascii_uppercase() } else { c }).collect();
            prop_assert_eq!(SmsKeyword::parse(&format!("{before}{cased}{after}")), Some(SmsKeyword::Stop));
        }
    }
}
