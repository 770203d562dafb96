//! Per-shop API keys: what a merchant's own systems (an ERP, a Zapier step, the console) call the
//! admin API with, instead of the deployment's operator token.
//!
//! A key reads `rk_{shop}.{id}.{secret}`: the shop it belongs to (so a key sent to another shop's
//! routes is told apart from a forged one), a public id (what listings and logs show), and 32
//! random bytes. Only a SHA-256 hash of the secret is stored: the secret has 256 bits of entropy,
//! so a fast hash is as safe as a slow one and costs nothing per request.
//!
//! Scopes nest: `admin` ⊃ `write` ⊃ `read` ([`Scope::allows`]).

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every key starts with this.
pub const PREFIX: &str = "rk_";
/// Random bytes in a key's id and in its secret.
pub const ID_BYTES: usize = 6;
pub const SECRET_BYTES: usize = 32;
/// Keys a shop may hold, revoked ones included (their rows keep the audit trail).
pub const MAX_KEYS: usize = 100;
/// A key's name, as the merchant labels it ("Zapier restock", "ERP").
pub const MAX_NAME_CHARS: usize = 100;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read the queue, entries, events, dry runs and privacy exports.
    Read,
    /// Also change stock and orders: SKU settings, backorders, conversions, imports, erasure, the
    /// inventory feed.
    Write,
    /// Also the shop's settings and templates, and its keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// Whether a key of this scope may make a call that needs `needed`.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

/// A key as presented, split into its parts (nothing checked against storage yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    pub shop: &'a str,
    pub id: &'a str,
    pub secret: &'a str,
}

impl<'a> Presented<'a> {
    /// `rk_{shop}.{id}.{secret}`, or `None` when the token is not shaped like a key. The id and the
    /// secret never hold a `.`, so the shop (which may) is everything before the last two dots.
    pub fn parse(token: &'a str) -> Option<Presented<'a>> {
        let rest = token.strip_prefix(PREFIX)?;
        let mut parts = rest.rsplitn(3, '.');
        let (secret, id, shop) = (parts.next()?, parts.next()?, parts.next()?);
        let id_ok = is_id(id);
        let secret_ok = secret.len() == encoded_len(SECRET_BYTES)
            && secret.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        (!shop.is_empty() && id_ok && secret_ok).then_some(Presented { shop, id, secret })
    }

    /// Whether the secret is the one whose hash was stored.
    pub fn matches(&self, stored_hash: &str) -> bool {
        constant_time_eq(stored_hash, &hash(self.secret))
    }
}

/// A new key, made from random bytes the caller drew (`crypto.getRandomValues` on the edge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub id: String,
    /// The whole key, shown to the merchant once and never again.
    pub key: String,
    /// What is stored.
    pub hash: String,
    /// The last four characters, for listings.
    pub last4: String,
}

pub fn mint(shop: &str, id_bytes: &[u8; ID_BYTES], secret_bytes: &[u8; SECRET_BYTES]) -> Minted {
    let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
    remint(shop, &id, secret_bytes)
}

/// Renews a key's secret, keeping its id (and so its name, scope and place in listings).
pub fn remint(shop: &str, id: &str, secret_bytes: &[u8; SECRET_BYTES]) -> Minted {
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret_bytes);
    Minted {
        key: format!("{PREFIX}{shop}.{id}.{secret}"),
        hash: hash(&secret),
        last4: last4(&secret),
        id: id.to_owned(),
    }
}

/// Whether `id` is shaped like a key id (lowercase hex, `ID_BYTES` of it).
pub fn is_id(id: &str) -> bool {
    id.len() == ID_BYTES * 2 && id.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// What listings call a key: everything but the secret.
pub fn prefix(shop: &str, id: &str) -> String {
    format!("{PREFIX}{shop}.{id}")
}

/// The hex SHA-256 of a secret.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The last four characters of a secret (all of it when shorter): what an answer may show of a
/// secret it keeps.
pub fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

/// A key's name: trimmed, 1–100 characters, no control characters.
pub fn check_name(name: &str) -> Result<String, &'static str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err("name must be 1–100 characters without control characters");
    }
    Ok(name.to_owned())
}

fn encoded_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

/// Compares two secrets (or their hashes) in constant time for their length.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn scopes_nest() {
        use Scope::*;
        let table = [
            (Read, Read, true),
            (Read, Write, false),
            (Read, Admin, false),
            (Write, Read, true),
            (Write, Write, true),
            (Write, Admin, false),
            (Admin, Read, true),
            (Admin, Write, true),
            (Admin, Admin, true),
        ];
        for (have, need, ok) in table {
            assert_eq!(have.allows(need), ok, "{have:?} for {need:?}");
        }
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        }
        assert_eq!(Scope::parse("owner"), None);
        assert_eq!(Scope::parse("Admin"), None);
    }

    #[test]
    fn minted_keys_parse_back_and_match_only_their_hash() {
        let m = mint("acme.eu-1_b", &[0xab, 0, 1, 2, 3, 0xff], &[7; SECRET_BYTES]);
        assert_eq!(m.id, "ab00010203ff");
        assert!(m.key.starts_with("rk_acme.eu-1_b.ab00010203ff."));
        let p = Presented::parse(&m.key).expect("parses");
        assert_eq!((p.shop, p.id), ("acme.eu-1_b", "ab00010203ff"));
        assert!(p.matches(&m.hash));
        assert!(m.key.ends_with(&m.last4));
        assert_eq!(m.last4.chars().count(), 4);
        let other = mint("acme.eu-1_b", &[0xab, 0, 1, 2, 3, 0xff], &[8; SECRET_BYTES]);
        assert!(!p.matches(&other.hash));
        let renewed = remint("acme.eu-1_b", &m.id, &[9; SECRET_BYTES]);
        assert_eq!(renewed.id, m.id);
        assert_ne!(renewed.key, m.key);
        assert!(Presented::parse(&renewed.key).unwrap().matches(&renewed.hash));
        assert_eq!(prefix("acme.eu-1_b", &m.id), "rk_acme.eu-1_b.ab00010203ff");
    }

    #[test]
    fn malformed_tokens_are_not_keys() {
        let good = mint("demo", &[1; ID_BYTES], &[2; SECRET_BYTES]).key;
        let secret = good.rsplit('.').next().unwrap().to_owned();
        let cases = [
            String::new(),
            "dev-admin-token".into(),
            good.replacen("rk_", "sk_", 1),
            format!("rk_.010101010101.{secret}"),
            format!("rk_demo.0101010101.{secret}"),
            format!("rk_demo.0101010101AB.{secret}"),
            format!("rk_demo.010101010101.{}", &secret[1..]),
            format!("rk_demo.010101010101.{secret}x"),
            format!("rk_demo.010101010101.{}=", &secret[1..]),
            "rk_demo.010101010101".into(),
            format!("rk_010101010101.{secret}"),
        ];
        for token in cases {
            assert_eq!(Presented::parse(&token), None, "{token:?}");
        }
        assert!(Presented::parse(&good).is_some());
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  Zapier restock "), Ok("Zapier restock".into()));
        assert!(check_name("").is_err());
        assert!(check_name("   ").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"é".repeat(100)).is_ok());
        assert!(check_name(&"é".repeat(101)).is_err());
    }

    #[test]
    fn last4_counts_characters() {
        assert_eq!(last4("whsec_abcdef"), "cdef");
        assert_eq!(last4("abc"), "abc");
        assert_eq!(last4(""), "");
        assert_eq!(last4("ééééé"), "éééé");
    }

    proptest! {
        #[test]
        fn any_shop_and_bytes_round_trip(shop in "[A-Za-z0-9._-]{1,100}", id in any::<[u8; ID_BYTES]>(), secret in any::<[u8; SECRET_BYTES]>()) {
            let m = mint(&shop, &id, &secret);
            let p = Presented::parse(&m.key).unwrap();
            prop_assert_eq!(p.shop, shop.as_str());
            prop_assert_eq!(p.id, m.id.as_str());
            prop_assert!(p.matches(&m.hash));
        }

        #[test]
        fn parse_never_panics(token in "\\PC{0,160}") {
            let _ = Presented::parse(&token);
        }
    }
}
