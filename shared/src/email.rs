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
    /// white-space characters inside the address are rejected.
    pub fn parse(input: &str) -> Result<Email, DomainError> {
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
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2 && !tld.chars().all(|c| c.is_ascii_digit()));
        if !domain_ok {
            return Err(DomainError::InvalidEmail("the domain after @ is not valid"));
        }
        Ok(Email(s.to_owned()))
    }

    /// The address as the shopper typed it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key two signups are compared by: the whole address lower-cased.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

fn is_bidi(c: char) -> bool {
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
        }
    }

    #[test]
    fn long_addresses_are_rejected() {
        let long = format!("{}@example.com", "a".repeat(10_000));
        assert!(Email::parse(&long).is_err());
        let local65 = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&local65).is_err());
    }

    #[test]
    fn key_is_case_insensitive() {
        let a = Email::parse("Ada@Example.COM").unwrap();
        let b = Email::parse("ada@example.com").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Ada@Example.COM");
    }
}
