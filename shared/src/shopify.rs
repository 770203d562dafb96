//! Shopify webhook payloads: the REST-shaped JSON Shopify posts for the topics we subscribe to, and
//! what each means for the waitlist (SKUs and titles from products, contact and revenue from orders,
//! tracking from fulfillments, whom to forget from the compliance topics).
//!
//! These are wire types, read leniently: unknown fields are ignored (Shopify adds some in every API
//! version), nearly every field is optional, `null` arrays read as empty, and ids are read from JSON
//! numbers (as REST sends them) or from numeric strings and `gid://shopify/…/123` (as older compliance
//! documentation and other tools write them). Only the ids a payload is meaningless without are
//! required. Interpretation is in plain functions beside the types; nothing here touches the network.

use crate::date::parse_timestamp_ms;
use crate::id::MAX_SKU_CHARS;
use crate::{Email, Sku};
use serde::{Deserialize, Serialize};

/// The `X-Shopify-Topic` header of the webhooks we handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// An inventory item's `available` changed at one location.
    InventoryLevelsUpdate,
    /// An inventory item was stocked at a location.
    InventoryLevelsConnect,
    /// An inventory item is no longer stocked at a location (no quantity in the payload).
    InventoryLevelsDisconnect,
    ProductsCreate,
    ProductsUpdate,
    OrdersCreate,
    OrdersCancelled,
    FulfillmentsCreate,
    FulfillmentsUpdate,
    /// Mandatory compliance topic: a customer asked the merchant for their data.
    CustomersDataRequest,
    /// Mandatory compliance topic: erase a customer's data.
    CustomersRedact,
    /// Mandatory compliance topic: 48 hours after uninstall, erase the shop's data.
    ShopRedact,
}

impl Topic {
    pub const ALL: [Topic; 12] = [
        Topic::InventoryLevelsUpdate,
        Topic::InventoryLevelsConnect,
        Topic::InventoryLevelsDisconnect,
        Topic::ProductsCreate,
        Topic::ProductsUpdate,
        Topic::OrdersCreate,
        Topic::OrdersCancelled,
        Topic::FulfillmentsCreate,
        Topic::FulfillmentsUpdate,
        Topic::CustomersDataRequest,
        Topic::CustomersRedact,
        Topic::ShopRedact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Topic::InventoryLevelsUpdate => "inventory_levels/update",
            Topic::InventoryLevelsConnect => "inventory_levels/connect",
            Topic::InventoryLevelsDisconnect => "inventory_levels/disconnect",
            Topic::ProductsCreate => "products/create",
            Topic::ProductsUpdate => "products/update",
            Topic::OrdersCreate => "orders/create",
            Topic::OrdersCancelled => "orders/cancelled",
            Topic::FulfillmentsCreate => "fulfillments/create",
            Topic::FulfillmentsUpdate => "fulfillments/update",
            Topic::CustomersDataRequest => "customers/data_request",
            Topic::CustomersRedact => "customers/redact",
            Topic::ShopRedact => "shop/redact",
        }
    }

    /// The header value as Shopify sends it (`inventory_levels/update`); surrounding white space and
    /// letter case are ignored (HTTP/2 proxies lower-case header names, some tools upper-case values).
    pub fn parse(header: &str) -> Option<Topic> {
        let h = header.trim();
        Topic::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(h))
    }

    /// The mandatory privacy topics, which Shopify sends to every public app whatever it subscribed to.
    pub fn is_compliance(self) -> bool {
        matches!(self, Topic::CustomersDataRequest | Topic::CustomersRedact | Topic::ShopRedact)
    }
}

/// Shopify's timestamps (`2021-12-31T19:00:00-05:00`) as Unix milliseconds; `None` when missing or
/// not RFC 3339. Uses [`parse_timestamp_ms`], which honours the offset.
pub fn timestamp_ms(value: Option<&str>) -> Option<i64> {
    value.and_then(|s| parse_timestamp_ms(s.trim()).ok())
}

/// `inventory_levels/update`, `/connect` and `/disconnect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryLevelEvent {
    #[serde(deserialize_with = "lenient::id")]
    pub inventory_item_id: i64,
    #[serde(deserialize_with = "lenient::id")]
    pub location_id: i64,
    /// `null` when the item is not tracked; absent from `disconnect`.
    #[serde(default)]
    pub available: Option<i64>,
    /// Absent from `disconnect`.
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl InventoryLevelEvent {
    pub fn updated_at_ms(&self) -> Option<i64> {
        timestamp_ms(self.updated_at.as_deref())
    }
}

/// `products/create`, `products/update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    #[serde(deserialize_with = "lenient::id")]
    pub id: i64,
    #[serde(default)]
    pub title: Option<String>,
    /// The URL slug: the storefront shows the product at `/products/{handle}`.
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub variants: Vec<Variant>,
}

impl Product {
    pub fn updated_at_ms(&self) -> Option<i64> {
        timestamp_ms(self.updated_at.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    #[serde(deserialize_with = "lenient::id")]
    pub id: i64,
    /// `Default Title` for a product without options.
    #[serde(default)]
    pub title: Option<String>,
    /// Merchant-typed; `null` or empty when the merchant left it blank.
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub inventory_item_id: Option<i64>,
    /// `deny` (stop selling at zero) or `continue` (keep selling: backorders).
    #[serde(default)]
    pub inventory_policy: Option<String>,
    /// Deprecated by Shopify in favour of inventory levels; informative only.
    #[serde(default)]
    pub inventory_quantity: Option<i64>,
}

impl Variant {
    /// `inventory_policy` is `continue`: the variant can be bought with no stock.
    pub fn sells_out_of_stock(&self) -> bool {
        self.inventory_policy.as_deref().is_some_and(|p| p.trim().eq_ignore_ascii_case("continue"))
    }
}

/// The placeholder title Shopify gives the only variant of a product without options.
const DEFAULT_VARIANT_TITLE: &str = "Default Title";

/// One Shopify variant as a waitlist SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantListing {
    /// Trimmed and valid ([`Sku::parse`]).
    pub sku: String,
    /// "Product – Variant", or the product title alone for a product without options.
    pub title: String,
    /// `{storefront}/products/{handle}?variant={id}` when both the storefront and the handle are known.
    pub url: Option<String>,
    pub variant_id: i64,
    pub inventory_item_id: Option<i64>,
    /// See [`Variant::sells_out_of_stock`].
    pub sells_out_of_stock: bool,
}

/// A variant whose SKU cannot be used, for the merchant to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedSku {
    pub variant_id: i64,
    /// As typed, trimmed.
    pub sku: String,
    /// `invalid_sku` (characters or length) or `duplicate_sku` (an earlier variant of the product has it).
    pub code: &'static str,
    pub message: String,
}

/// What a product payload gives the waitlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VariantListings {
    pub listings: Vec<VariantListing>,
    pub rejected: Vec<RejectedSku>,
    /// Variants with no SKU at all (blank or `null`): nothing to list, nothing to fix urgently.
    pub without_sku: Vec<i64>,
}

/// The variants of `product` that can be waitlisted, in payload order, and those that cannot.
///
/// A variant needs a SKU (trimmed, non-empty) that our API accepts ([`Sku::parse`]); within one product
/// the first variant with a SKU keeps it and later ones are rejected as duplicates. `storefront_url`
/// (`https://shop.example.com`, a trailing `/` is fine) must be http(s) to build links.
pub fn variant_listings(product: &Product, storefront_url: Option<&str>) -> VariantListings {
    let mut out = VariantListings::default();
    let product_title = present(product.title.as_deref());
    let base = storefront_url.map(str::trim).filter(|s| is_http_url(s)).map(|s| s.trim_end_matches('/'));
    let handle = present(product.handle.as_deref());
    for variant in &product.variants {
        let Some(sku) = present(variant.sku.as_deref()) else {
            out.without_sku.push(variant.id);
            continue;
        };
        if let Err(e) = Sku::parse(sku) {
            out.rejected.push(RejectedSku {
                variant_id: variant.id,
                sku: sku.chars().take(MAX_SKU_CHARS).collect(),
                code: e.code(),
                message: format!("SKU {:?}: {e}", sku.chars().take(40).collect::<String>()),
            });
            continue;
        }
        if out.listings.iter().any(|l| l.sku == sku) {
            out.rejected.push(RejectedSku {
                variant_id: variant.id,
                sku: sku.to_owned(),
                code: "duplicate_sku",
                message: format!("SKU {sku:?} is already used by another variant of this product"),
            });
            continue;
        }
        let variant_title = present(variant.title.as_deref()).filter(|t| *t != DEFAULT_VARIANT_TITLE);
        let title = match (product_title, variant_title) {
            (Some(p), Some(v)) => format!("{p} – {v}"),
            (Some(p), None) => p.to_owned(),
            (None, Some(v)) => v.to_owned(),
            (None, None) => sku.to_owned(),
        };
        let url = match (base, handle) {
            (Some(base), Some(handle)) => {
                Some(format!("{base}/products/{}?variant={}", percent_encode(handle), variant.id))
            }
            _ => None,
        };
        out.listings.push(VariantListing {
            sku: sku.to_owned(),
            title,
            url,
            variant_id: variant.id,
            inventory_item_id: variant.inventory_item_id,
            sells_out_of_stock: variant.sells_out_of_stock(),
        });
    }
    out
}

/// `orders/create`, `orders/cancelled`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    #[serde(deserialize_with = "lenient::id")]
    pub id: i64,
    /// What the shopper sees (`#1001`).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub contact_email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub cancelled_at: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub customer: Option<Customer>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub line_items: Vec<LineItem>,
}

impl Order {
    /// Whom the order belongs to: the order's email (else its `contact_email`, else the customer's) and
    /// the order's phone (else the customer's). Blank values count as missing; nothing is validated.
    pub fn contact(&self) -> (Option<String>, Option<String>) {
        let customer = self.customer.as_ref();
        let email = present(self.email.as_deref())
            .or_else(|| present(self.contact_email.as_deref()))
            .or_else(|| present(customer.and_then(|c| c.email.as_deref())));
        let phone = present(self.phone.as_deref()).or_else(|| present(customer.and_then(|c| c.phone.as_deref())));
        (email.map(str::to_owned), phone.map(str::to_owned))
    }

    pub fn created_at_ms(&self) -> Option<i64> {
        timestamp_ms(self.created_at.as_deref())
    }

    pub fn is_cancelled(&self) -> bool {
        present(self.cancelled_at.as_deref()).is_some()
    }
}

/// A customer as orders and the compliance topics carry it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Customer {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<i64>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

impl Customer {
    /// The key waitlist entries are stored under ([`Email::key`]), when the email is a valid address.
    pub fn email_key(&self) -> Option<String> {
        present(self.email.as_deref()).and_then(|e| Email::parse(e).ok()).map(|e| e.key())
    }
}

/// A line of an order or a fulfillment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<i64>,
    #[serde(default)]
    pub sku: Option<String>,
    /// `null` for custom items and items whose product was deleted.
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub variant_id: Option<i64>,
    #[serde(default)]
    pub quantity: i64,
    /// Unit price as a decimal string (`"19.99"`) in the shop's currency.
    #[serde(default, deserialize_with = "lenient::decimal")]
    pub price: String,
    #[serde(default)]
    pub title: Option<String>,
}

impl LineItem {
    /// Price × quantity. A price that is not a plain decimal (`"19.99"`, `"20"`), or a quantity below
    /// one, gives 0: revenue is reporting, never a reason to fail a webhook. Computed from the decimal
    /// digits, so `"19.99"` × 3 is the double nearest 59.97.
    pub fn revenue(&self) -> f64 {
        match parse_decimal(&self.price) {
            Some((units, scale)) if self.quantity > 0 => {
                (units * i128::from(self.quantity)) as f64 / 10f64.powi(scale as i32)
            }
            _ => 0.0,
        }
    }

    /// The line's SKU when it is one our API accepts (trimmed).
    pub fn valid_sku(&self) -> Option<&str> {
        present(self.sku.as_deref()).filter(|s| Sku::parse(s).is_ok())
    }
}

/// At most this many digits in a price: more is not a price (and would overflow).
const MAX_PRICE_DIGITS: usize = 18;

/// `"19.99"` → `(1999, 2)`. Unsigned, digits with at most one `.`; no exponent, sign or separators.
fn parse_decimal(s: &str) -> Option<(i128, u32)> {
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = int.len() + frac.len();
    if digits == 0 || digits > MAX_PRICE_DIGITS || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let units = format!("{int}{frac}").parse::<i128>().ok()?;
    Some((units, frac.len() as u32))
}

/// `fulfillments/create`, `fulfillments/update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fulfillment {
    #[serde(deserialize_with = "lenient::id")]
    pub id: i64,
    #[serde(deserialize_with = "lenient::id")]
    pub order_id: i64,
    /// `pending`, `open`, `success`, `cancelled`, `error`, `failure`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub tracking_company: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    pub tracking_numbers: Vec<String>,
    #[serde(default)]
    pub tracking_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    pub tracking_urls: Vec<String>,
    /// `label_printed`, `in_transit`, `delivered`, …; `null` until the carrier reports.
    #[serde(default)]
    pub shipment_status: Option<String>,
    #[serde(default, deserialize_with = "lenient::list")]
    pub line_items: Vec<LineItem>,
}

/// What a shipping message says about a parcel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tracking {
    pub carrier: Option<String>,
    pub number: Option<String>,
    /// Only `http://` or `https://` links: this goes into emails.
    pub url: Option<String>,
}

impl Fulfillment {
    /// Carrier, number and link. The singular fields win; without them, the first usable entry of the
    /// plural arrays. Blank values count as missing; a link that is not http(s) is skipped.
    pub fn tracking(&self) -> Tracking {
        let number = present(self.tracking_number.as_deref())
            .or_else(|| self.tracking_numbers.iter().find_map(|n| present(Some(n))));
        let url = std::iter::once(self.tracking_url.as_deref().unwrap_or(""))
            .chain(self.tracking_urls.iter().map(String::as_str))
            .map(str::trim)
            .find(|u| is_http_url(u));
        Tracking {
            carrier: present(self.tracking_company.as_deref()).map(str::to_owned),
            number: number.map(str::to_owned),
            url: url.map(str::to_owned),
        }
    }

    pub fn updated_at_ms(&self) -> Option<i64> {
        timestamp_ms(self.updated_at.as_deref())
    }
}

/// `customers/data_request`: report what we hold about this customer to the merchant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomersDataRequest {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub shop_id: Option<i64>,
    #[serde(default)]
    pub shop_domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::ids")]
    pub orders_requested: Vec<i64>,
    #[serde(default)]
    pub customer: Customer,
    #[serde(default)]
    pub data_request: Option<DataRequest>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataRequest {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub id: Option<i64>,
}

/// `customers/redact`: erase this customer's data and these orders'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomersRedact {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub shop_id: Option<i64>,
    #[serde(default)]
    pub shop_domain: Option<String>,
    #[serde(default)]
    pub customer: Customer,
    #[serde(default, deserialize_with = "lenient::ids")]
    pub orders_to_redact: Vec<i64>,
}

/// A shop's `*.myshopify.com` domain as Shopify writes it: lower case, one label of letters,
/// digits and hyphens (not first), at most 255 characters.
pub fn is_shop_domain(d: &str) -> bool {
    d.len() <= 255
        && d.strip_suffix(".myshopify.com").is_some_and(|name| {
            !name.is_empty()
                && !name.starts_with('-')
                && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Whether a signed privacy delivery (`shop/redact`, `customers/redact`, `customers/data_request`)
/// names this shop: its `shop_domain` is the shop's configured domain or, with none configured,
/// `{shop}.myshopify.com`. (Shopify signs every shop's webhooks with the app's one secret, so the
/// signature alone does not say which shop a delivery is for.)
pub fn names_shop(shop_domain: Option<&str>, shop: &str, configured: Option<&str>) -> bool {
    let named = shop_domain.map(|d| d.trim().to_ascii_lowercase());
    let expected = configured.map(str::to_owned).unwrap_or_else(|| format!("{shop}.myshopify.com"));
    named.is_some_and(|d| d == expected.to_ascii_lowercase())
}

/// `shop/redact`: erase everything about the shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopRedact {
    #[serde(default, deserialize_with = "lenient::opt_id")]
    pub shop_id: Option<i64>,
    #[serde(default)]
    pub shop_domain: Option<String>,
}

/// Trimmed, `None` when blank.
fn present(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// An absolute http(s) URL without white space or control characters.
fn is_http_url(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &s[8..]
    } else if lower.starts_with("http://") {
        &s[7..]
    } else {
        return false;
    };
    !rest.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Percent-encodes everything but RFC 3986 unreserved characters (handles are usually `a-z0-9-`,
/// but merchants may use other scripts).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Deserializers that accept what Shopify and the tools around it actually send.
mod lenient {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum RawId {
        Num(i64),
        Str(String),
    }

    impl RawId {
        /// `123`, `"123"` or `"gid://shopify/Order/123"`.
        fn id(self) -> Option<i64> {
            match self {
                RawId::Num(n) => Some(n),
                RawId::Str(s) => {
                    let s = s.trim();
                    let tail = if s.starts_with("gid://") { s.rsplit('/').next().unwrap_or(s) } else { s };
                    tail.parse().ok()
                }
            }
        }
    }

    pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        RawId::deserialize(d)?.id().ok_or_else(|| D::Error::custom("expected a numeric id"))
    }

    /// `null`, and strings that are not ids, read as `None`.
    pub fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(Option::<RawId>::deserialize(d)?.and_then(RawId::id))
    }

    /// A list of ids; `null` is empty and entries that are not ids are dropped.
    pub fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
        let raw = Option::<Vec<Option<RawId>>>::deserialize(d)?.unwrap_or_default();
        Ok(raw.into_iter().flatten().filter_map(RawId::id).collect())
    }

    /// `null` reads as an empty list.
    pub fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
        Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
    }

    /// A list of strings; `null` is empty and `null` entries are dropped.
    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(Option::<Vec<Option<String>>>::deserialize(d)?.unwrap_or_default().into_iter().flatten().collect())
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum RawDecimal {
        Str(String),
        Int(i64),
        Float(f64),
    }

    /// Money: `"19.99"` as sent; a JSON number is kept as its decimal text; `null` is empty.
    pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(match Option::<RawDecimal>::deserialize(d)? {
            Some(RawDecimal::Str(s)) => s,
            Some(RawDecimal::Int(n)) => n.to_string(),
            Some(RawDecimal::Float(f)) => f.to_string(),
            None => String::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/shopify/", $name))
        };
    }

    const STORE: Option<&str> = Some("https://shop.example.com/");

    fn product(json: serde_json::Value) -> Product {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn topics_round_trip() {
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
        assert_eq!(Topic::parse(" Inventory_Levels/Update\r\n"), Some(Topic::InventoryLevelsUpdate));
        assert_eq!(Topic::parse("orders/updated"), None);
        assert_eq!(Topic::parse(""), None);
        assert!(Topic::ShopRedact.is_compliance());
        assert!(!Topic::OrdersCreate.is_compliance());
    }

    #[test]
    fn inventory_fixtures_parse() {
        let update: InventoryLevelEvent = serde_json::from_str(fixture!("inventory_levels_update.json")).unwrap();
        assert_eq!(update.inventory_item_id, 271_878_346_596_884_015);
        assert_eq!(update.location_id, 24_826_418);
        assert_eq!(update.available, Some(10));
        // 2021-12-31T19:00:00-05:00 = 2022-01-01T00:00:00Z
        assert_eq!(update.updated_at_ms(), Some(1_640_995_200_000));

        let connect: InventoryLevelEvent = serde_json::from_str(fixture!("inventory_levels_connect.json")).unwrap();
        assert_eq!((connect.inventory_item_id, connect.available), (271_878_346_596_884_016, Some(0)));

        let gone: InventoryLevelEvent = serde_json::from_str(fixture!("inventory_levels_disconnect.json")).unwrap();
        assert_eq!(gone.available, None);
        assert_eq!(gone.updated_at_ms(), None);
    }

    #[test]
    fn product_fixtures_parse_into_listings() {
        let created: Product = serde_json::from_str(fixture!("products_create.json")).unwrap();
        assert_eq!(created.variants.len(), 2);
        let got = variant_listings(&created, STORE);
        assert!(got.rejected.is_empty() && got.without_sku.is_empty());
        let small = &got.listings[0];
        assert_eq!(small.sku, "TSHIRT-S");
        assert_eq!(small.title, "Example T-Shirt – Small");
        assert_eq!(
            small.url.as_deref(),
            Some("https://shop.example.com/products/example-t-shirt?variant=642667041472713922")
        );
        assert_eq!(small.inventory_item_id, Some(271_878_346_596_884_015));
        assert!(!small.sells_out_of_stock);
        assert!(got.listings[1].sells_out_of_stock, "Medium has inventory_policy continue");

        let updated: Product = serde_json::from_str(fixture!("products_update.json")).unwrap();
        assert_eq!(updated.updated_at_ms(), Some(1_641_047_400_000));
        let got = variant_listings(&updated, None);
        assert_eq!(got.listings.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>(), ["TSHIRT-S", "TSHIRT-M"]);
        assert_eq!(got.without_sku, [868_761_595_755_314_973]);
        assert!(got.listings.iter().all(|l| l.url.is_none()));
    }

    #[test]
    fn listing_titles_skus_and_urls() {
        let p = product(serde_json::json!({
            "id": 1, "title": "  Mug ", "handle": "mug",
            "variants": [
                {"id": 10, "title": "Default Title", "sku": " MUG-1 "},
                {"id": 11, "title": "Blue", "sku": ""},
                {"id": 12, "title": "Red", "sku": null},
                {"id": 13, "title": "Green", "sku": "MUG 2/green"},
                {"id": 14, "title": "Teal", "sku": "MUG-1"},
                {"id": 15, "title": "  ", "sku": "MUG-3"},
                {"id": 16, "title": "Long", "sku": "x".repeat(256)},
                {"id": 17, "title": "Unicode", "sku": "MÜG"},
                {"id": 18, "title": "Tab", "sku": "MUG\t4"}
            ]
        }));
        let got = variant_listings(&p, Some("http://localhost:8787"));
        let listed: Vec<(&str, &str)> = got.listings.iter().map(|l| (l.sku.as_str(), l.title.as_str())).collect();
        assert_eq!(
            listed,
            [("MUG-1", "Mug"), ("MUG 2/green", "Mug – Green"), ("MUG-3", "Mug"), ("MÜG", "Mug – Unicode")]
        );
        assert_eq!(got.listings[0].url.as_deref(), Some("http://localhost:8787/products/mug?variant=10"));
        assert_eq!(got.without_sku, [11, 12]);
        let rejected: Vec<(i64, &str)> = got.rejected.iter().map(|r| (r.variant_id, r.code)).collect();
        assert_eq!(rejected, [(14, "duplicate_sku"), (16, "invalid_sku"), (18, "invalid_sku")]);
        assert_eq!(got.rejected[2].sku, "MUG\t4");
    }

    #[test]
    fn listing_titles_without_product_title_and_odd_storefronts() {
        let p = product(serde_json::json!({
            "id": 1, "handle": "tasse-café",
            "variants": [{"id": 1, "title": "Blue", "sku": "A"}, {"id": 2, "sku": "B"}]
        }));
        let got = variant_listings(&p, Some("https://shop.example.com"));
        assert_eq!(got.listings[0].title, "Blue");
        assert_eq!(got.listings[1].title, "B", "nothing else to call it");
        assert_eq!(got.listings[0].url.as_deref(), Some("https://shop.example.com/products/tasse-caf%C3%A9?variant=1"));
        for store in ["", "shop.example.com", "javascript:alert(1)", "https://"] {
            assert!(variant_listings(&p, Some(store)).listings.iter().all(|l| l.url.is_none()), "{store:?}");
        }
    }

    #[test]
    fn order_fixtures_parse() {
        let order: Order = serde_json::from_str(fixture!("orders_create.json")).unwrap();
        assert_eq!(order.id, 820_982_911_946_154_508);
        assert_eq!(order.name.as_deref(), Some("#9999"));
        assert!(!order.is_cancelled());
        assert_eq!(order.contact(), (Some("jon@example.com".into()), Some("+16135550142".into())));
        let lines: Vec<(Option<&str>, Option<i64>, i64)> =
            order.line_items.iter().map(|l| (l.sku.as_deref(), l.variant_id, l.quantity)).collect();
        assert_eq!(
            lines,
            [
                (Some("TSHIRT-S"), Some(642_667_041_472_713_922), 2),
                (Some("TSHIRT-M"), Some(757_650_484_644_203_962), 1),
                (Some("LENS-PROTECT-2YR"), None, 1)
            ]
        );
        let total: f64 = order.line_items.iter().map(LineItem::revenue).sum();
        assert!((total - 79.96).abs() < 1e-9, "{total}");
        assert_eq!(order.created_at_ms(), Some(1_641_049_200_000));

        let cancelled: Order = serde_json::from_str(fixture!("orders_cancelled.json")).unwrap();
        assert!(cancelled.is_cancelled());
        assert_eq!(cancelled.currency.as_deref(), Some("USD"));
    }

    #[test]
    fn contact_falls_back_field_by_field() {
        type Contact<'a> = (Option<&'a str>, Option<&'a str>);
        let cases: &[(serde_json::Value, Contact)] = &[
            (serde_json::json!({"id": 1}), (None, None)),
            (
                serde_json::json!({"id": 1, "email": " ", "customer": {"email": "c@x.io", "phone": "+15550100"}}),
                (Some("c@x.io"), Some("+15550100")),
            ),
            (
                serde_json::json!({"id": 1, "email": null, "contact_email": "k@x.io", "customer": {"email": "c@x.io"}}),
                (Some("k@x.io"), None),
            ),
            (
                serde_json::json!({"id": 1, "email": "o@x.io", "phone": "+4470", "customer": {"email": "c@x.io", "phone": "+1"}}),
                (Some("o@x.io"), Some("+4470")),
            ),
            (serde_json::json!({"id": 1, "customer": null}), (None, None)),
        ];
        for (json, (email, phone)) in cases {
            let order: Order = serde_json::from_value(json.clone()).unwrap();
            let got = order.contact();
            assert_eq!((got.0.as_deref(), got.1.as_deref()), (*email, *phone), "{json}");
        }
    }

    #[test]
    fn revenue_table() {
        let cases: &[(serde_json::Value, i64, f64)] = &[
            (serde_json::json!("19.99"), 3, 59.97),
            (serde_json::json!("20"), 2, 40.0),
            (serde_json::json!(" 0.5 "), 1, 0.5),
            (serde_json::json!("5."), 2, 10.0),
            (serde_json::json!(".25"), 4, 1.0),
            (serde_json::json!("1.005"), 1, 1.005),
            (serde_json::json!(12.5), 2, 25.0),
            (serde_json::json!(7), 3, 21.0),
            (serde_json::json!("19.99"), 0, 0.0),
            (serde_json::json!("19.99"), -2, 0.0),
            (serde_json::json!(""), 1, 0.0),
            (serde_json::json!(null), 1, 0.0),
            (serde_json::json!("-3.00"), 1, 0.0),
            (serde_json::json!("1e3"), 1, 0.0),
            (serde_json::json!("1,99"), 1, 0.0),
            (serde_json::json!("NaN"), 1, 0.0),
            (serde_json::json!("inf"), 1, 0.0),
            (serde_json::json!("1.2.3"), 1, 0.0),
            (serde_json::json!("."), 1, 0.0),
            (serde_json::json!("$5.00"), 1, 0.0),
            (serde_json::json!("9999999999999999999999"), 1, 0.0),
        ];
        for (price, quantity, want) in cases {
            let line: LineItem =
                serde_json::from_value(serde_json::json!({"price": price, "quantity": quantity})).unwrap();
            assert_eq!(line.revenue(), *want, "{price} × {quantity}");
        }
        let big: LineItem =
            serde_json::from_value(serde_json::json!({"price": "999999999999999.999", "quantity": i64::MAX})).unwrap();
        assert!(big.revenue().is_finite() && big.revenue() > 0.0);
    }

    #[test]
    fn fulfillment_fixtures_parse() {
        let created: Fulfillment = serde_json::from_str(fixture!("fulfillments_create.json")).unwrap();
        assert_eq!(created.order_id, 820_982_911_946_154_508);
        assert_eq!(
            created.tracking(),
            Tracking {
                carrier: Some("UPS".into()),
                number: Some("1z827wk74630".into()),
                url: Some("https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=1z827wk74630".into()),
            }
        );
        assert_eq!(created.line_items.len(), 2);
        assert_eq!(created.line_items[0].valid_sku(), Some("TSHIRT-S"));
        assert_eq!(created.line_items[0].variant_id, Some(642_667_041_472_713_922));

        let updated: Fulfillment = serde_json::from_str(fixture!("fulfillments_update.json")).unwrap();
        assert_eq!(updated.shipment_status.as_deref(), Some("in_transit"));
        assert_eq!(updated.tracking_numbers.len(), 2);
        assert_eq!(updated.tracking().number.as_deref(), Some("1z827wk74630"));
        assert!(updated.updated_at_ms() > created.updated_at_ms());
    }

    #[test]
    fn tracking_fallbacks() {
        let cases: &[(serde_json::Value, Tracking)] = &[
            (serde_json::json!({}), Tracking::default()),
            (
                serde_json::json!({"tracking_company": " DHL ", "tracking_number": "", "tracking_numbers": [null, " ", "JD1"],
                    "tracking_url": null, "tracking_urls": ["https://dhl.example/JD1"]}),
                Tracking {
                    carrier: Some("DHL".into()),
                    number: Some("JD1".into()),
                    url: Some("https://dhl.example/JD1".into()),
                },
            ),
            (
                serde_json::json!({"tracking_number": "A1", "tracking_numbers": ["B2"], "tracking_url": "http://t.example/A1",
                    "tracking_urls": ["http://t.example/B2"]}),
                Tracking { carrier: None, number: Some("A1".into()), url: Some("http://t.example/A1".into()) },
            ),
            (
                serde_json::json!({"tracking_url": "javascript:alert(1)", "tracking_urls": ["ftp://x", "HTTPS://ok.example/1"]}),
                Tracking { url: Some("HTTPS://ok.example/1".into()), ..Tracking::default() },
            ),
            (
                serde_json::json!({"tracking_numbers": null, "tracking_urls": null, "tracking_url": "https://a b"}),
                Tracking::default(),
            ),
        ];
        for (json, want) in cases {
            let mut body = json.clone();
            body["id"] = 1.into();
            body["order_id"] = 2.into();
            let f: Fulfillment = serde_json::from_value(body).unwrap();
            assert_eq!(&f.tracking(), want, "{json}");
        }
    }

    #[test]
    fn compliance_fixtures_parse() {
        let req: CustomersDataRequest = serde_json::from_str(fixture!("customers_data_request.json")).unwrap();
        assert_eq!(req.shop_id, Some(954_889));
        assert_eq!(req.shop_domain.as_deref(), Some("{shop}.myshopify.com"));
        assert_eq!(req.orders_requested, [299_938, 280_263, 220_458]);
        assert_eq!(req.customer.id, Some(191_167));
        assert_eq!(req.customer.email_key().as_deref(), Some("john@example.com"));
        assert_eq!(req.data_request.and_then(|d| d.id), Some(9999));

        let redact: CustomersRedact = serde_json::from_str(fixture!("customers_redact.json")).unwrap();
        assert_eq!(redact.orders_to_redact, [299_938, 280_263, 220_458]);
        assert_eq!(redact.customer.phone.as_deref(), Some("555-625-1199"));

        let shop: ShopRedact = serde_json::from_str(fixture!("shop_redact.json")).unwrap();
        assert_eq!(shop.shop_id, Some(954_889));
    }

    #[test]
    fn ids_are_read_leniently() {
        // Shopify's 2018 GDPR announcement documented these payloads with string ids.
        let redact: CustomersRedact = serde_json::from_str(
            r#"{"shop_id": "954889", "shop_domain": "s.myshopify.com",
                "customer": {"id": "gid://shopify/Customer/191167", "email": "Ada@Example.com", "phone": null},
                "orders_to_redact": ["299938", 280263, null, "<order ID>", "gid://shopify/Order/7"]}"#,
        )
        .unwrap();
        assert_eq!(redact.shop_id, Some(954_889));
        assert_eq!(redact.customer.id, Some(191_167));
        assert_eq!(redact.customer.email_key().as_deref(), Some("ada@example.com"));
        assert_eq!(redact.orders_to_redact, [299_938, 280_263, 7]);

        let bare: CustomersRedact = serde_json::from_str(r#"{"orders_to_redact": null}"#).unwrap();
        assert_eq!(bare.customer, Customer::default());
        assert_eq!(bare.customer.email_key(), None);

        let level: InventoryLevelEvent =
            serde_json::from_str(r#"{"inventory_item_id": "42", "location_id": 7, "available": null}"#).unwrap();
        assert_eq!((level.inventory_item_id, level.available), (42, None));
        assert!(serde_json::from_str::<InventoryLevelEvent>(r#"{"inventory_item_id": "x", "location_id": 7}"#).is_err());
        assert!(serde_json::from_str::<InventoryLevelEvent>(r#"{"location_id": 7}"#).is_err());
        assert!(serde_json::from_str::<Product>(r#"{"id": 1, "variants": null}"#).unwrap().variants.is_empty());
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_ms(Some("2021-12-31T19:00:00-05:00")), Some(1_640_995_200_000));
        assert_eq!(timestamp_ms(Some("2022-01-01T00:00:00.000Z")), Some(1_640_995_200_000));
        assert_eq!(timestamp_ms(Some("2021-12-31 19:00:00 -0500")), None);
        assert_eq!(timestamp_ms(Some("")), None);
        assert_eq!(timestamp_ms(None), None);
    }

    #[test]
    fn a_variant_with_a_sku_no_url_can_carry_is_rejected_with_the_reason() {
        let product: Product = serde_json::from_value(serde_json::json!({
            "id": 1, "title": "Boot", "handle": "boot",
            "variants": [{"id": 11, "sku": "BOOT/10 wide"}, {"id": 12, "sku": "bad\tsku"}, {"id": 13, "sku": ".."}]
        }))
        .unwrap();
        let l = variant_listings(&product, Some("https://shop.example"));
        assert_eq!(l.listings.iter().map(|v| v.sku.as_str()).collect::<Vec<_>>(), ["BOOT/10 wide"]);
        assert_eq!(
            l.rejected.iter().map(|r| (r.variant_id, r.code)).collect::<Vec<_>>(),
            [(12, "invalid_sku"), (13, "invalid_sku")]
        );
        assert!(l.rejected[0].message.contains("control characters"), "{}", l.rejected[0].message);
    }

    #[test]
    fn a_privacy_delivery_must_name_the_shop() {
        assert!(names_shop(Some("acme.myshopify.com"), "acme", None));
        assert!(names_shop(Some(" ACME.myshopify.com "), "acme", None));
        assert!(!names_shop(Some("other.myshopify.com"), "acme", None), "another shop's delivery");
        assert!(!names_shop(None, "acme", None), "no domain named");
        assert!(names_shop(Some("acme-eu.myshopify.com"), "acme", Some("acme-eu.myshopify.com")));
        assert!(
            !names_shop(Some("acme.myshopify.com"), "acme", Some("acme-eu.myshopify.com")),
            "the configured one wins"
        );
        // The fixtures are templates: `{shop}` names no shop.
        let fixture: ShopRedact = serde_json::from_str(fixture!("shop_redact.json")).unwrap();
        assert!(!names_shop(fixture.shop_domain.as_deref(), "acme", None));
        let named: CustomersRedact =
            serde_json::from_str(&fixture!("customers_redact.json").replace("{shop}", "acme")).unwrap();
        assert!(names_shop(named.shop_domain.as_deref(), "acme", None));
    }

    #[test]
    fn shop_domains_are_myshopify_names() {
        for ok in ["acme.myshopify.com", "acme-eu-2.myshopify.com", "a.myshopify.com"] {
            assert!(is_shop_domain(ok), "{ok}");
        }
        for bad in [
            "acme.com",
            ".myshopify.com",
            "-acme.myshopify.com",
            "Acme.myshopify.com",
            "a.b.myshopify.com",
            "acme.myshopify.com.evil.example",
        ] {
            assert!(!is_shop_domain(bad), "{bad}");
        }
    }
}
