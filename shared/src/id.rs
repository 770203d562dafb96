//! The two identifiers merchants' systems hand us in free form, checked once at the boundary: a
//! SKU (as the merchant's catalogue, Shopify or an old app's export writes it) and a phone number
//! (stored as E.164).

use crate::DomainError;

/// Longest SKU accepted, in characters.
pub const MAX_SKU_CHARS: usize = 255;

/// A SKU: surrounding white space trimmed, then 1–255 characters with no control characters (no
/// tab, newline or NUL) and no bidi controls (they make one SKU look like another), and not `.`
/// or `..`. Anything else a catalogue uses is kept as is: `/`,
/// spaces, `#`, `%`, `+`, accents, any script. In a URL it is one percent-encoded path segment
/// (`encodeURIComponent`), which is why `.` and `..` are refused: URL parsers fold those segments
/// away, so no URL could name them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    pub fn parse(input: &str) -> Result<Sku, DomainError> {
        let s = input.trim();
        let why = if s.is_empty() {
            "a SKU must not be empty"
        } else if s.chars().count() > MAX_SKU_CHARS {
            "a SKU must be at most 255 characters"
        } else if s.chars().any(|c| c.is_control() || crate::email::is_bidi(c)) {
            "a SKU must not contain control characters (tab, newline, bidi overrides, …)"
        } else if s == "." || s == ".." {
            "a SKU must not be \".\" or \"..\""
        } else {
            return Ok(Sku(s.to_owned()));
        };
        Err(DomainError::InvalidSku(why))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 (`+` and 8–15 digits, no leading 0), as messages are addressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Accepts the international forms people write: `+44 7700 900123`, `+1 (415) 555-0101`,
    /// `0044 7700 900123`, `+44 (0)7700 900123` (spaces, dashes, dots and parentheses dropped, a
    /// `00` prefix read as `+`, the UK-style `(0)` dropped). A national number without its country
    /// code (`07700 900123`) is refused: we could only guess the country.
    pub fn parse(input: &str) -> Result<Phone, DomainError> {
        let cleaned: String =
            input.trim().replace("(0)", "").chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let digits = cleaned.strip_prefix('+').or_else(|| cleaned.strip_prefix("00")).unwrap_or("");
        let ok =
            (8..=15).contains(&digits.len()) && digits.bytes().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
        if ok {
            Ok(Phone(format!("+{digits}")))
        } else {
            Err(DomainError::InvalidPhone("phone must be in international format, like +44 7700 900123"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_catalogue_skus_are_accepted() {
        for (input, kept) in [
            ("A", "A"),
            ("tshirt_S-2.v1", "tshirt_S-2.v1"),
            ("BOOT/10", "BOOT/10"),
            ("Red Mug 12 oz", "Red Mug 12 oz"),
            ("  padded  ", "padded"),
            ("#42+x%2F", "#42+x%2F"),
            ("Größe-M", "Größe-M"),
            ("茶碗-01", "茶碗-01"),
            ("...", "..."),
            (&"x".repeat(255), &"x".repeat(255)),
        ] {
            assert_eq!(Sku::parse(input).map(|s| s.into_string()), Ok(kept.to_owned()), "{input:?}");
        }
    }

    #[test]
    fn skus_no_url_or_log_can_carry_are_refused() {
        for input in ["", "   ", ".", "..", " .. ", "a\tb", "a\nb", "a\0b", "a\u{7f}b", "R\u{202e}7", &"x".repeat(256)]
        {
            let err = Sku::parse(input).unwrap_err();
            assert_eq!(err.code(), "invalid_sku", "{input:?}");
        }
        assert_eq!(Sku::parse(&"é".repeat(255)).unwrap().as_str().chars().count(), 255, "characters, not bytes");
    }

    #[test]
    fn phones_in_international_forms() {
        for (input, e164) in [
            ("+44 7700 900123", Some("+447700900123")),
            ("+1 (415) 555-0101", Some("+14155550101")),
            ("0044 7700 900123", Some("+447700900123")),
            ("+44 (0)7700 900123", Some("+447700900123")),
            ("+49.30.1234567", Some("+49301234567")),
            ("07700 900123", None),
            ("+0 123 456 789", None),
            ("+1 555", None),
            ("+1234567890123456", None),
            ("+44 7700 9001x3", None),
            ("", None),
        ] {
            assert_eq!(Phone::parse(input).ok().map(|p| p.into_string()), e164.map(str::to_owned), "{input:?}");
        }
    }
}
