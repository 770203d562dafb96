//! A shopper's email address: checked once at the boundary, stored as typed, compared case-insensitively.

use crate::DomainError;

/// RFC 5321 caps a forward path at 254 octets.
const MAX_LEN: usize = 254;
/// RFC 5321 caps the local part at 64 octets.
const MAX_LOCAL: usize = 64;

/// A syntactically plausible email address. Built only by [`Email::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims surrounding white space and checks the shape `local@domain.tld`. Control, bidi and
    /// white-space characters inside the address are rejected; domain labels are letters, digits
    /// (any script) and hyphens.
    pub fn parse(input: &str) -> Result<Email, DomainError> {
        check(input, |c| c.is_alphanumeric() || c == '-').map(|s| Email(s.to_owned()))
    }

    /// The same check with one rule relaxed, for clients that must stay small (the storefront
    /// widget): a domain label may hold any non-ASCII character, so no Unicode letter tables are
    /// needed. It accepts everything [`Email::parse`] accepts (the server's answer covers the rest).
    pub fn plausible(input: &str) -> bool {
        check(input, |c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii()).is_ok()
    }

    /// The address as the shopper typed it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key two signups are compared by: the whole address lower-cased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The key abuse limits and suppression entries share: one mailbox, however it is spelled.
    ///
    /// Lower-cased; a `+tag` after a non-empty base is dropped from the local part (`ada+x@` →
    /// `ada@`); for Gmail (`gmail.com`, `googlemail.com`) dots in the local part are dropped too and
    /// the domain becomes `gmail.com`, because Gmail delivers all those spellings to one inbox. So
    /// `Foo.Bar+x@GoogleMail.com` → `foobar@gmail.com`. The stored address ([`Email::as_str`]) stays
    /// as typed; this key is only for counting and remembering.
    pub fn rate_key(&self) -> String {
        let lower = self.0.to_lowercase();
        // `parse` guarantees exactly one `@` split point with a non-empty local part.
        let Some((local, domain)) = lower.rsplit_once('@') else {
            return lower;
        };
        let local = match local.split_once('+') {
            Some((base, _tag)) if !base.is_empty() => base,
            _ => local,
        };
        if GMAIL_DOMAINS.contains(&domain) {
            let local: String = local.chars().filter(|&c| c != '.').collect();
            format!("{local}@gmail.com")
        } else {
            format!("{local}@{domain}")
        }
    }
}

/// Domains that ignore dots in the local part and deliver to the same mailbox.
const GMAIL_DOMAINS: &[&str] = &["gmail.com", "googlemail.com"];

/// The shape of an address (see [`Email::parse`]), with `domain_char` deciding which characters a
/// domain label may hold. Returns the trimmed address.
fn check(input: &str, domain_char: fn(char) -> bool) -> Result<&str, DomainError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DomainError::InvalidEmail("email is required"));
    }
    if s.len() > MAX_LEN {
        return Err(DomainError::InvalidEmail("email is longer than 254 characters"));
    }
    if s.chars().any(|c| c.is_control() || c.is_whitespace() || is_bidi(c)) {
        return Err(DomainError::InvalidEmail("email contains spaces or control characters"));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(DomainError::InvalidEmail("email needs an @"));
    };
    if local.is_empty() || local.len() > MAX_LOCAL || local.contains('@') {
        return Err(DomainError::InvalidEmail("the part before @ is not valid"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(DomainError::InvalidEmail("the part before @ is not valid"));
    }
    if local.chars().any(|c| matches!(c, '<' | '>' | '(' | ')' | '[' | ']' | ',' | ';' | ':' | '\\' | '"')) {
        return Err(DomainError::InvalidEmail("the part before @ is not valid"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.chars().all(domain_char)
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
    if !domain_ok {
        return Err(DomainError::InvalidEmail("the domain after @ is not valid"));
    }
    Ok(s)
}

pub(crate) fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("ada@example.com", Some("ada@example.com")),
            ("  Ada.Lovelace+shoes@Example.co.uk ", Some("Ada.Lovelace+shoes@Example.co.uk")),
            ("", None),
            ("ada", None),
            ("ada@", None),
            ("@example.com", None),
            ("ada@example", None),
            ("ada@@example.com", None),
            ("ada@exa mple.com", None),
            ("a\u{0}da@example.com", None),
            ("ada\r\n@example.com", None),
            ("ad\u{202e}a@example.com", None),
            (".ada@example.com", None),
            ("ada..x@example.com", None),
            ("ada@-example.com", None),
            ("ada@example.123", None),
            ("<ada>@example.com", None),
        ];
        for (input, want) in cases {
            let got = Email::parse(input).ok();
            assert_eq!(got.as_ref().map(Email::as_str), *want, "input {input:?}");
            assert_eq!(Email::plausible(input), want.is_some(), "plausible: input {input:?}");
        }
    }

    #[test]
    fn plausible_only_relaxes_non_ascii_domain_characters() {
        // Accepted by both: a domain in another script.
        assert!(Email::parse("ada@bücher.de").is_ok() && Email::plausible("ada@bücher.de"));
        // A symbol is no letter: the server refuses it, the client's cheap check lets it through.
        assert!(Email::parse("ada@snow☃.com").is_err());
        assert!(Email::plausible("ada@snow☃.com"));
        // ASCII punctuation is refused by both.
        assert!(!Email::plausible("ada@exa_mple.com") && Email::parse("ada@exa_mple.com").is_err());
    }

    #[test]
    fn long_addresses_are_rejected() {
        let long = format!("{}@example.com", "a".repeat(10_000));
        assert!(Email::parse(&long).is_err());
        let local65 = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&local65).is_err());
    }

    #[test]
    fn rate_key_table() {
        let cases: &[(&str, &str)] = &[
            ("Foo.Bar+x@GoogleMail.com", "foobar@gmail.com"),
            ("foobar@gmail.com", "foobar@gmail.com"),
            ("f.o.o.b.a.r@GMAIL.COM", "foobar@gmail.com"),
            ("foo.bar+a+b@gmail.com", "foobar@gmail.com"),
            ("Ada.Lovelace+shoes@Example.co.uk", "ada.lovelace@example.co.uk"),
            ("ada+@example.com", "ada@example.com"),
            ("ADA@EXAMPLE.COM", "ada@example.com"),
            // Only Gmail ignores dots.
            ("a.da@example.com", "a.da@example.com"),
            ("a.da@mail.gmail.com", "a.da@mail.gmail.com"),
            // A `+` with nothing before it is the whole local part, not a tag.
            ("+ada@example.com", "+ada@example.com"),
            // The tag is cut at the first `+`.
            ("a+b+c@example.com", "a@example.com"),
            ("Ünï+x@Bücher.de", "ünï@bücher.de"),
        ];
        for (input, want) in cases {
            let email = Email::parse(input).unwrap();
            assert_eq!(email.rate_key(), *want, "input {input:?}");
            assert_eq!(email.as_str(), input.trim(), "stored address stays as typed");
        }
    }

    #[test]
    fn key_is_case_insensitive() {
        let a = Email::parse("Ada@Example.COM").unwrap();
        let b = Email::parse("ada@example.com").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Ada@Example.COM");
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn local() -> impl Strategy<Value = String> {
            "[a-zA-Z0-9]{1,8}(\\.[a-zA-Z0-9]{1,8}){0,2}"
        }
        fn domain() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("gmail.com".to_owned()),
                Just("GoogleMail.com".to_owned()),
                Just("Example.co.uk".to_owned()),
                "[a-z]{1,8}\\.[a-z]{2,4}",
            ]
        }

        proptest! {
            #[test]
            fn tags_and_case_share_one_key(l in local(), d in domain(), tag in "[a-zA-Z0-9]{0,8}") {
                let plain = Email::parse(&format!("{l}@{d}")).unwrap();
                let tagged = Email::parse(&format!("{}+{tag}@{}", l.to_uppercase(), d.to_uppercase())).unwrap();
                prop_assert_eq!(plain.rate_key(), tagged.rate_key());
            }

            #[test]
            fn rate_key_is_a_fixed_point(l in local(), d in domain(), tag in "[a-zA-Z0-9]{0,8}") {
                let key = Email::parse(&format!("{l}+{tag}@{d}")).unwrap().rate_key();
                prop_assert_eq!(&key, &key.to_lowercase());
                prop_assert_eq!(Email::parse(&key).unwrap().rate_key(), key);
            }

            #[test]
            fn plausible_accepts_whatever_parse_accepts(
                l in "[a-z.+<_]{1,8}", d in "[a-zA-Z0-9éü☃_ -]{1,8}", tld in "[a-zß1]{1,3}"
            ) {
                for s in [format!("{l}@{d}.{tld}"), format!("{l}@{d}"), format!("{l}{d}")] {
                    if Email::parse(&s).is_ok() {
                        prop_assert!(Email::plausible(&s), "{:?}", s);
                    }
                }
            }

            #[test]
            fn rate_key_never_panics(s in "\\PC{0,40}") {
                if let Ok(email) = Email::parse(&s) {
                    let key = email.rate_key();
                    prop_assert!(key.contains('@'));
                }
            }
        }
    }
}
