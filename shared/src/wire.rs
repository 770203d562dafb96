//! JSON shapes on the wire (HTTP API, webhooks, widget). Version 1 of the API lives under `/v1`.
//!
//! These are transport types: they carry strings and numbers as received. Domain types are built from
//! them with `parse`/`TryFrom` at the boundary, so a wire type never holds an unchecked domain value.

use crate::Eta;
use serde::{Deserialize, Serialize};

/// How a SKU is sold while it has no stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Sold out: shoppers ask to be told when it is back.
    #[default]
    Restock,
    /// Not yet released: shoppers reserve a unit before stock exists.
    Preorder,
    /// Sold beyond stock: orders wait for the next delivery.
    Backorder,
}

/// Where a waitlist entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Double opt-in: signed up, not yet confirmed from the email. Keeps its place (by signup
    /// order) but is not in line until confirmed.
    PendingConfirmation,
    /// In line for the next units.
    Waiting,
    /// Units are held for this shopper until the hold expires.
    Offered,
    /// Told stock is back without a hold (first come, first served); still in line.
    Notified,
    /// Bought (or, for a backorder, shipped).
    Converted,
    /// The hold ran out before the shopper bought.
    Expired,
    /// A backorder whose units are assigned: on its way.
    Allocated,
    /// Left the list (a backorder cancelled and refunded).
    Cancelled,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::PendingConfirmation => "pending_confirmation",
            EntryStatus::Waiting => "waiting",
            EntryStatus::Offered => "offered",
            EntryStatus::Notified => "notified",
            EntryStatus::Converted => "converted",
            EntryStatus::Expired => "expired",
            EntryStatus::Allocated => "allocated",
            EntryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<EntryStatus> {
        [
            EntryStatus::PendingConfirmation,
            EntryStatus::Waiting,
            EntryStatus::Offered,
            EntryStatus::Notified,
            EntryStatus::Converted,
            EntryStatus::Expired,
            EntryStatus::Allocated,
            EntryStatus::Cancelled,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// What an entry is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Notify me when it's back.
    Notify,
    /// A reservation before stock exists.
    Preorder,
    /// An order already paid, waiting for stock. Served before the others.
    Backorder,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Notify => "notify",
            EntryKind::Preorder => "preorder",
            EntryKind::Backorder => "backorder",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        [EntryKind::Notify, EntryKind::Preorder, EntryKind::Backorder].into_iter().find(|k| k.as_str() == s)
    }
}

/// Every kind of message the system sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Double opt-in: confirm the signup with the signed link.
    ConfirmSignup,
    /// At once after signup (after confirming, with double opt-in): you're #N, the ETA.
    SignupConfirmation,
    /// Halfway between signup and the earliest ship date, for long waits.
    MidwaitCheckin,
    /// A few days before the ship date (pre-orders, backorders).
    ShippingImminent,
    /// The ETA moved: old and new dates.
    EtaChanged,
    /// Stock is back and a unit is held (or, without holds, first come first served).
    RestockOffer,
    /// A pre-order's units arrived and are held for the shopper.
    PreorderReady,
    /// The units went to people ahead in line; still on the list.
    SoldOutAgain,
    /// The hold ends soon and has not been used.
    HoldReminder,
    /// The hold ended; the unit went to the next in line.
    HoldExpired,
    /// An offer that was neither opened nor clicked, while the hold still runs.
    NonopenerFollowup,
    /// After a no-hold notification, when stock is still there and the shopper has not bought.
    UrgencyFollowup,
    /// A backorder is known: ETA, cancel-and-refund link, support contact.
    BackorderAck,
    /// A backorder's units are allocated: it is on its way (again with tracking once it ships).
    ShipNotice,
    /// An order bought from the waitlist shipped: carrier, tracking number and link.
    OrderShipped,
}

impl MessageKind {
    pub const ALL: [MessageKind; 15] = [
        MessageKind::ConfirmSignup,
        MessageKind::SignupConfirmation,
        MessageKind::MidwaitCheckin,
        MessageKind::ShippingImminent,
        MessageKind::EtaChanged,
        MessageKind::RestockOffer,
        MessageKind::PreorderReady,
        MessageKind::SoldOutAgain,
        MessageKind::HoldReminder,
        MessageKind::HoldExpired,
        MessageKind::NonopenerFollowup,
        MessageKind::UrgencyFollowup,
        MessageKind::BackorderAck,
        MessageKind::ShipNotice,
        MessageKind::OrderShipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::ConfirmSignup => "confirm_signup",
            MessageKind::SignupConfirmation => "signup_confirmation",
            MessageKind::MidwaitCheckin => "midwait_checkin",
            MessageKind::ShippingImminent => "shipping_imminent",
            MessageKind::EtaChanged => "eta_changed",
            MessageKind::RestockOffer => "restock_offer",
            MessageKind::PreorderReady => "preorder_ready",
            MessageKind::SoldOutAgain => "sold_out_again",
            MessageKind::HoldReminder => "hold_reminder",
            MessageKind::HoldExpired => "hold_expired",
            MessageKind::NonopenerFollowup => "nonopener_followup",
            MessageKind::UrgencyFollowup => "urgency_followup",
            MessageKind::BackorderAck => "backorder_ack",
            MessageKind::ShipNotice => "ship_notice",
            MessageKind::OrderShipped => "order_shipped",
        }
    }

    pub fn parse(s: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kinds that offer units: their hold counts from the send, and one that cannot be
    /// delivered passes its units on.
    pub fn is_offer(self) -> bool {
        matches!(self, MessageKind::RestockOffer | MessageKind::PreorderReady)
    }
}

/// `{"error":{"code","message"}}`: the body of every non-2xx answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// `PUT /v1/shops/{shop}`. Its secrets are strings going in; answers show each as a
/// [`SecretHint`] (`ShopConfig<SecretHint>`, [`ShopConfig::redacted`]): secrets are write-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig<S = String> {
    pub name: String,
    pub from_email: String,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub shopify_webhook_secrets: Vec<S>,
    #[serde(default)]
    pub inventory_webhook_secrets: Vec<S>,
    /// How long an offer holds its units; 0 = no holds (notify, first come first served).
    #[serde(default = "default_hold_hours")]
    pub hold_hours: u32,
    /// Without holds: people told per unit (1.5 tells 15 people about 10 units).
    #[serde(default = "default_multiplier")]
    pub notify_multiplier: f64,
    /// `hold_reminder` this many hours before a hold ends.
    #[serde(default = "default_reminder_hours")]
    pub hold_reminder_hours: u32,
    /// Shown in every email footer and in backorder messages.
    #[serde(default)]
    pub support_email: Option<String>,
    #[serde(default)]
    pub postal_address: Option<String>,
    /// The shop's time zone as a fixed offset from UTC, for times in messages.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// How that time zone is written ("EST", "CET").
    #[serde(default)]
    pub time_zone_label: Option<String>,
    /// When the timed messages go out; every field optional, defaults from common practice.
    #[serde(default)]
    pub schedule: ScheduleSettings,
    /// The storefront's base URL (`https://shop.example.com`): product links built from Shopify
    /// product handles.
    #[serde(default)]
    pub storefront_url: Option<String>,
    /// The shop's Shopify domain (`acme.myshopify.com`): signed privacy deliveries must name it (unset:
    /// `{shop}.myshopify.com`, the shop's name as its Shopify subdomain).
    #[serde(default)]
    pub shopify_domain: Option<String>,
    /// Sales channels and the locations whose stock each may sell (`{"online_store": ["655441491"]}`).
    /// The waitlist allocates what `waitlist_channel` may sell; with no entry for it, every location counts.
    #[serde(default)]
    pub channels: std::collections::BTreeMap<String, Vec<String>>,
    /// The channel the waitlist sells through (default `online_store`).
    #[serde(default = "default_channel")]
    pub waitlist_channel: String,
    /// The merchant's automation endpoints (Zapier, Make, their own): outgoing signed events.
    #[serde(default)]
    pub event_endpoints: Vec<EventEndpoint<S>>,
    /// The merchant's Klaviyo account, to mirror signups and offers into their flows.
    #[serde(default)]
    pub klaviyo: Option<KlaviyoSettings<S>>,
    /// Cloudflare Turnstile on signups: checked server-side, failing closed.
    #[serde(default)]
    pub turnstile: Option<TurnstileSettings<S>>,
    /// Double opt-in: a signup waits (`pending_confirmation`, keeping its place) until the shopper
    /// clicks the signed link in the confirmation email.
    #[serde(default)]
    pub double_opt_in: bool,
}

/// What an answer shows of a secret the edge keeps: that it is set, and its last four characters
/// (enough to tell which one is which after a rotation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHint {
    pub set: bool,
    pub last4: String,
}

impl SecretHint {
    pub fn of(secret: &str) -> SecretHint {
        SecretHint { set: !secret.is_empty(), last4: crate::api_key::last4(secret) }
    }
}

impl ShopConfig {
    /// These settings as answers show them: every secret replaced by its hint.
    pub fn redacted(&self) -> ShopConfig<SecretHint> {
        let hint = |s: &String| SecretHint::of(s);
        ShopConfig {
            name: self.name.clone(),
            from_email: self.from_email.clone(),
            allowed_origins: self.allowed_origins.clone(),
            shopify_webhook_secrets: self.shopify_webhook_secrets.iter().map(hint).collect(),
            inventory_webhook_secrets: self.inventory_webhook_secrets.iter().map(hint).collect(),
            hold_hours: self.hold_hours,
            notify_multiplier: self.notify_multiplier,
            hold_reminder_hours: self.hold_reminder_hours,
            support_email: self.support_email.clone(),
            postal_address: self.postal_address.clone(),
            utc_offset_minutes: self.utc_offset_minutes,
            time_zone_label: self.time_zone_label.clone(),
            schedule: self.schedule,
            storefront_url: self.storefront_url.clone(),
            shopify_domain: self.shopify_domain.clone(),
            channels: self.channels.clone(),
            waitlist_channel: self.waitlist_channel.clone(),
            event_endpoints: self
                .event_endpoints
                .iter()
                .map(|e| EventEndpoint {
                    id: e.id.clone(),
                    url: e.url.clone(),
                    secret: hint(&e.secret),
                    events: e.events.clone(),
                })
                .collect(),
            klaviyo: self.klaviyo.as_ref().map(|k| KlaviyoSettings {
                api_key: hint(&k.api_key),
                marketing: k.marketing,
                list_id: k.list_id.clone(),
            }),
            turnstile: self.turnstile.as_ref().map(|t| TurnstileSettings {
                secret: hint(&t.secret),
                hostnames: t.hostnames.clone(),
                action: t.action.clone(),
            }),
            double_opt_in: self.double_opt_in,
        }
    }
}

/// `POST /v1/shops/{shop}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// What the key is for ("Zapier restock"), 1–100 characters.
    pub name: String,
    pub scope: crate::api_key::Scope,
}

/// One of a shop's API keys, as answers show it: never its secret, except in the answer that
/// created or rotated it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    /// `rk_{shop}.{id}`: the key without its secret.
    pub prefix: String,
    pub name: String,
    pub scope: crate::api_key::Scope,
    /// The secret's last four characters.
    pub last4: String,
    pub created_at: i64,
    /// `operator`, or the id of the key that created this one.
    pub created_by: String,
    /// To the minute: a key's use is recorded at most once a minute.
    pub last_used_at: Option<i64>,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The whole key: only in the answer that created or rotated it. Store it now; it cannot be
    /// shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `GET /v1/shops/{shop}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// The shop's Turnstile widget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnstileSettings<S = String> {
    /// The widget's secret key (siteverify).
    pub secret: S,
    /// Hostnames the token must have been issued on (the storefront's); empty = any.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// The widget's `action`, when set: a token for another action is refused.
    #[serde(default)]
    pub action: Option<String>,
}

fn default_channel() -> String {
    "online_store".to_owned()
}

/// One outgoing-event endpoint. Events are signed with Standard Webhooks using `secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventEndpoint<S = String> {
    /// Short id chosen by the merchant (`zapier`), used in the delivery log.
    pub id: String,
    pub url: String,
    /// `whsec_` + base64, as Standard Webhooks prescribe.
    pub secret: S,
    /// Event types to send (`waitlist.joined` …); empty = all.
    #[serde(default)]
    pub events: Vec<String>,
}

/// Every outgoing event type.
pub const EVENT_TYPES: [&str; 7] = [
    "waitlist.joined",
    "offer.sent",
    "hold.expired",
    "entry.converted",
    "backorder.cancel_requested",
    "message.failed",
    "entry.erased",
];

/// The merchant's Klaviyo account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlaviyoSettings<S = String> {
    /// A private API key (`pk_…`).
    pub api_key: S,
    /// Ask shoppers, with a separate unticked checkbox in the widget, whether they also want the
    /// shop's marketing email; only those who tick it are subscribed to email marketing (on the
    /// list). Off: Klaviyo gets the profile and the waitlist events, never a subscription.
    #[serde(default)]
    pub marketing: bool,
    /// The list shoppers join when their SKU names none.
    #[serde(default)]
    pub list_id: Option<String>,
}

/// The shop's message timing. `None` = the default in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// `midwait_checkin` only when signup → ship date is at least this many days (7).
    #[serde(default)]
    pub midwait_min_days: Option<u32>,
    /// `shipping_imminent` this many days before the ship date (4; 3–5 is usual).
    #[serde(default)]
    pub imminent_days: Option<u32>,
    /// `nonopener_followup` this many hours after an unopened offer (8; 6–12 is usual).
    #[serde(default)]
    pub nonopener_hours: Option<u32>,
    /// `urgency_followup` this many hours after a no-hold notification (24; 24–48 is usual).
    #[serde(default)]
    pub urgency_hours: Option<u32>,
}

fn default_hold_hours() -> u32 {
    24
}
fn default_multiplier() -> f64 {
    1.0
}
fn default_reminder_hours() -> u32 {
    4
}

/// `PUT /v1/shops/{shop}/skus/{sku}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuConfig {
    pub title: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub eta: Option<Eta>,
    #[serde(default)]
    pub shopify_inventory_item_id: Option<i64>,
    /// Overrides the shop's `hold_hours` for this SKU.
    #[serde(default)]
    pub hold_hours: Option<u32>,
    /// Shopify's variant id (kept in sync from `products/*` webhooks).
    #[serde(default)]
    pub shopify_variant_id: Option<i64>,
    /// The Klaviyo list for this product's waitlist (else the shop's).
    #[serde(default)]
    pub klaviyo_list_id: Option<String>,
}

/// `POST /v1/shops/{shop}/skus/{sku}/backorders` (admin): an order already paid, waiting for stock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackorderRequest {
    pub order_id: String,
    pub email: String,
    #[serde(default = "one")]
    pub quantity: u32,
    /// RFC 3339; backorders are served in order of this time.
    pub ordered_at: String,
}

fn one() -> u32 {
    1
}

/// `POST /v1/shops/{shop}/skus/{sku}/conversions` (admin): the shopper bought (or a backorder
/// shipped); the hold is used up. Identify the entry by `entry_id` or `email`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionRequest {
    #[serde(default)]
    pub entry_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub order_id: String,
    #[serde(default = "one")]
    pub quantity: u32,
    /// Order revenue attributed to the waitlist, in the shop's currency.
    #[serde(default)]
    pub revenue: f64,
}

/// `GET /v1/shops/{shop}/skus/{sku}`: what the widget shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuState {
    pub sku: String,
    pub title: String,
    pub mode: Mode,
    /// Units in stock according to the newest inventory update.
    pub available: i64,
    /// Units held for waitlist shoppers right now (part of `available`).
    pub reserved: i64,
    /// When the last current hold runs out (Unix ms), if any unit is held.
    pub reserved_until: Option<i64>,
    pub eta: Option<Eta>,
    /// The ETA as a sentence ("we expect this to ship the week of December 7").
    pub eta_text: String,
    /// Shoppers in line.
    pub waiting: u32,
    /// The shop asks for marketing consent: the widget shows its separate, unticked checkbox.
    #[serde(default)]
    pub marketing: bool,
}

/// `POST /v1/shops/{shop}/skus/{sku}/waitlist`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SignupRequest {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms_consent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Units wanted (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    /// The honeypot: a field hidden from people. Filled in, the signup is a bot's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// The Turnstile token (`cf-turnstile-response`), when the shop uses Turnstile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turnstile_token: Option<String>,
    /// The consent wording the shopper saw next to the checkbox or button, kept as the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_text: Option<String>,
    /// Where the signup came from (the product page URL; `widget`, `fallback_form`, `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The shop's separate marketing checkbox, ticked (only counts while the shop asks for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_consent: Option<bool>,
    /// The wording next to that checkbox, kept as the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marketing_consent_text: Option<String>,
}

/// The answer to a signup (201 whether new or already on the list: the reply does not tell) and to a
/// position look-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignupResponse {
    pub entry_id: String,
    /// 1-based place in line among entries still waiting or holding an offer; `None` once done.
    pub position: Option<u32>,
    pub status: EntryStatus,
    pub eta: Option<Eta>,
    pub eta_text: String,
}

/// Shopify `inventory_levels/update` payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShopifyInventoryLevel {
    pub inventory_item_id: i64,
    pub location_id: i64,
    /// `null` when the item is not tracked.
    pub available: Option<i64>,
    pub updated_at: String,
}

/// The generic signed inventory feed's body: an absolute level for one SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryLevel {
    pub sku: String,
    pub available: i64,
    pub updated_at: String,
}

/// The answer to an inventory update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryResult {
    /// `applied`, `duplicate` (webhook id seen before) or `stale` (older than what we hold).
    pub outcome: String,
    pub available: i64,
    pub offers: u32,
    pub sold_out_again: u32,
}

/// `GET /v1/shops/{shop}/skus/{sku}/queue` (admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    pub sku: String,
    /// Units the waitlist may allocate (sellable locations, oversold ones counting 0).
    pub available: i64,
    /// The newest level per location, and whether the waitlist's channel sells from it.
    #[serde(default)]
    pub levels: Vec<LocationLevel>,
    /// One page of entries, in signup order.
    pub entries: Vec<QueueEntryView>,
    /// Pass as `after` for the next page; `None` on the last one.
    #[serde(default)]
    pub next_after: Option<u32>,
    /// Set while the SKU's scheduled work (sending, hold ends, timed messages) keeps failing:
    /// why, and when it is tried again. `None` once a run succeeds.
    #[serde(default)]
    pub alarm_failure: Option<AlarmFailure>,
}

/// The SKU's scheduled work failed: it is retried with backoff, and this says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmFailure {
    /// Failed runs in a row.
    pub failures: u32,
    pub error: String,
    /// The last failure (Unix ms).
    pub at: i64,
    /// The next try (Unix ms).
    pub retry_at: i64,
}

impl AlarmFailure {
    /// Backoff after `failures` failed runs in a row: 1 s, 2 s, 4 s … at most 5 minutes.
    pub fn backoff_ms(failures: u32) -> i64 {
        1_000i64.saturating_mul(1 << failures.saturating_sub(1).min(20)).min(300_000)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationLevel {
    pub location: String,
    /// As reported; negative when the location is oversold.
    pub available: i64,
    pub sellable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueEntryView {
    pub entry_id: String,
    /// Signup order, 1-based, never reused.
    pub seq: u32,
    /// Place among those still in line; `None` once converted or expired.
    pub position: Option<u32>,
    pub email: String,
    pub kind: EntryKind,
    pub quantity: u32,
    /// Units offered, held or allocated now.
    pub units: u32,
    pub order_id: Option<String>,
    pub status: EntryStatus,
    pub created_at: i64,
    pub hold_until: Option<i64>,
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// `email` or `sms`.
    pub channel: String,
    pub kind: MessageKind,
    pub idempotency_key: String,
    /// `pending`, `sent`, `failed` (with the reason) or `skipped` (e.g. unsubscribed before sending).
    pub status: String,
    pub attempts: u32,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

/// The answer to a conversion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionResult {
    pub entry_id: String,
    pub status: EntryStatus,
    pub units: u32,
    pub revenue: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_settings_hold_no_secret() {
        let config: ShopConfig = serde_json::from_value(serde_json::json!({
            "name": "Acme",
            "from_email": "hello@acme.example",
            "shopify_webhook_secrets": ["shpss_first_secret_AAAA", "shpss_second_secret_BBBB"],
            "inventory_webhook_secrets": ["whsec_c2VjcmV0LWZlZWQta2V5LWZvci10ZXN0cw=="],
            "event_endpoints": [{"id": "zapier", "url": "https://hooks.example/x", "secret": "whsec_ZW5kcG9pbnQtc2VjcmV0LWtleS0xMjM0NTY="}],
            "klaviyo": {"api_key": "pk_live_klaviyo_private_9f8e", "list_id": "L1"},
            "turnstile": {"secret": "0x4AAAAAAAturnstile-secret-Z9", "hostnames": ["acme.example"]}
        }))
        .unwrap();
        let shown = serde_json::to_string(&config.redacted()).unwrap();
        for secret in [
            "shpss_first_secret_AAAA",
            "shpss_second_secret_BBBB",
            "whsec_c2VjcmV0LWZlZWQta2V5LWZvci10ZXN0cw==",
            "whsec_ZW5kcG9pbnQtc2VjcmV0LWtleS0xMjM0NTY=",
            "pk_live_klaviyo_private_9f8e",
            "0x4AAAAAAAturnstile-secret-Z9",
        ] {
            assert!(!shown.contains(&secret[..secret.len() - 4]), "{secret} shows in {shown}");
        }
        let r = config.redacted();
        assert_eq!(r.shopify_webhook_secrets, vec![SecretHint::of("AAAA"), SecretHint::of("BBBB")]);
        assert_eq!(r.inventory_webhook_secrets[0].last4, "cw==");
        assert_eq!(r.event_endpoints[0].secret.last4, "NTY=");
        assert_eq!(r.klaviyo.as_ref().unwrap().api_key.last4, "9f8e");
        assert_eq!(r.klaviyo.unwrap().list_id.as_deref(), Some("L1"));
        assert_eq!(r.turnstile.as_ref().unwrap().secret, SecretHint { set: true, last4: "t-Z9".into() });
        assert_eq!(r.turnstile.unwrap().hostnames, vec!["acme.example".to_owned()]);
        assert_eq!((r.name.as_str(), r.hold_hours), ("Acme", config.hold_hours));
        assert!(!SecretHint::of("").set);
    }
}
