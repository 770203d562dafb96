//! The commands a SKU's waitlist takes (the `SkuQueue` object's messages) and the facts about the
//! shop that come with them. Internal: the Worker and its objects are built together, so they
//! change together; the public wire types live in `shared::wire`.

use serde::{Deserialize, Serialize};
use shared::schedule::{Policy, DAY_MS, HOUR_MS};
use shared::template::Template;
use shared::wire::{EventEndpoint, KlaviyoSettings, ScheduleSettings, ShopConfig, SkuConfig};
use std::collections::BTreeMap;

/// messages (the shop's settings live in the shop's object, not in each SKU's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopContext {
    pub shop: String,
    pub name: String,
    pub from_email: String,
    pub hold_hours: u32,
    pub notify_multiplier: f64,
    pub hold_reminder_hours: u32,
    pub support_email: Option<String>,
    pub postal_address: Option<String>,
    pub utc_offset_minutes: i32,
    pub time_zone_label: Option<String>,
    #[serde(default)]
    pub schedule: ScheduleSettings,
    /// The merchant's own templates by message kind (`restock_offer` …); defaults for the rest.
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
    #[serde(default)]
    pub event_endpoints: Vec<EventEndpoint>,
    #[serde(default)]
    pub klaviyo: Option<KlaviyoSettings>,
    /// Locations whose stock the waitlist may allocate; `None` = every location.
    #[serde(default)]
    pub sellable_locations: Option<Vec<String>>,
    #[serde(default)]
    pub double_opt_in: bool,
}

impl ShopContext {
    /// What a SKU needs of the shop `shop`'s settings and its own templates.
    pub fn new(shop: &str, cfg: &ShopConfig, templates: &BTreeMap<String, Template>) -> ShopContext {
        ShopContext {
            templates: templates.clone(),
            shop: shop.to_owned(),
            name: cfg.name.clone(),
            from_email: cfg.from_email.clone(),
            hold_hours: cfg.hold_hours,
            notify_multiplier: cfg.notify_multiplier,
            hold_reminder_hours: cfg.hold_reminder_hours,
            support_email: cfg.support_email.clone(),
            postal_address: cfg.postal_address.clone(),
            utc_offset_minutes: cfg.utc_offset_minutes,
            time_zone_label: cfg.time_zone_label.clone(),
            schedule: cfg.schedule,
            event_endpoints: cfg.event_endpoints.clone(),
            klaviyo: cfg.klaviyo.clone(),
            sellable_locations: cfg.channels.get(&cfg.waitlist_channel).cloned(),
            double_opt_in: cfg.double_opt_in,
        }
    }

    /// The lifecycle policy for one SKU (which may override the hold length).
    pub fn policy(&self, sku: &SkuConfig) -> Policy {
        let d = Policy::default();
        Policy {
            hold_ms: i64::from(sku.hold_hours.unwrap_or(self.hold_hours)) * HOUR_MS,
            notify_multiplier: self.notify_multiplier,
            reminder_before_ms: i64::from(self.hold_reminder_hours) * HOUR_MS,
            midwait_min_wait_ms: self
                .schedule
                .midwait_min_days
                .map_or(d.midwait_min_wait_ms, |v| i64::from(v) * DAY_MS),
            imminent_before_ms: self.schedule.imminent_days.map_or(d.imminent_before_ms, |v| i64::from(v) * DAY_MS),
            nonopener_after_ms: self.schedule.nonopener_hours.map_or(d.nonopener_after_ms, |v| i64::from(v) * HOUR_MS),
            urgency_after_ms: self.schedule.urgency_hours.map_or(d.urgency_after_ms, |v| i64::from(v) * HOUR_MS),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    Configure {
        shop: ShopContext,
        sku: String,
        config: SkuConfig,
    },
    State,
    Signup {
        shop: ShopContext,
        entry_id: String,
        email: String,
        phone: Option<String>,
        sms_consent: bool,
        locale: Option<String>,
        quantity: u32,
        /// The consent record: when, from which IP and user agent, the text shown, the source.
        #[serde(default)]
        consent: Option<serde_json::Value>,
        /// False when this address already got a confirmation from the shop within the window.
        #[serde(default = "yes")]
        confirm: bool,
        /// The address unsubscribed from the shop's mail: a bare signup does not undo that, so
        /// it joins only once the shopper clicks the emailed confirmation (double opt-in for this
        /// signup, whatever the shop's setting).
        #[serde(default)]
        opted_out: bool,
    },
    Backorder {
        shop: ShopContext,
        entry_id: String,
        order_id: String,
        email: String,
        quantity: u32,
        ordered_at_ms: i64,
    },
    Position {
        entry_id: String,
    },
    /// An absolute stock level at one location, from a webhook. `None`: the location no longer
    /// stocks the item (Shopify `inventory_levels/disconnect`). A negative level (oversold) is
    /// kept as is: it sells nothing, and it tells an order that it became a backorder.
    Level {
        shop: ShopContext,
        /// The webhook's own id: seen once, applied once.
        event_id: String,
        location: String,
        available: Option<i64>,
        updated_at_ms: i64,
    },
    /// A new ETA from an inventory feed (the admin API uses `Configure`).
    SetEta {
        shop: ShopContext,
        event_id: String,
        eta: Option<shared::Eta>,
        updated_at_ms: i64,
    },
    /// The product's listing changed in the store (Shopify `products/*`): title, URL and ids.
    /// Creates the SKU's waitlist (restock mode) when it has none yet.
    Listing {
        shop: ShopContext,
        sku: String,
        title: String,
        url: Option<String>,
        variant_id: Option<i64>,
        inventory_item_id: Option<i64>,
    },
    /// An order with a line for this SKU: a conversion when it matches an entry that was offered
    /// or told, a backorder when the SKU is in backorder mode or the order oversold it.
    Order {
        shop: ShopContext,
        event_id: String,
        entry_id: String,
        order_id: String,
        email: Option<String>,
        phone: Option<String>,
        quantity: u32,
        revenue: f64,
        ordered_at_ms: i64,
    },
    /// An order was cancelled: its backorder leaves the line.
    OrderCancelled {
        shop: ShopContext,
        order_id: String,
    },
    /// An order shipped (a fulfillment): its entries are told, with tracking.
    Shipped {
        shop: ShopContext,
        order_id: String,
        /// Names this shipment: the same one twice sends nothing new.
        occurrence: u32,
        shipment: Shipment,
    },
    /// Entries from another app's export, in their original signup order.
    Import {
        shop: ShopContext,
        entries: Vec<ImportedEntry>,
    },
    /// The outgoing events and their delivery (the delivery log).
    Deliveries,
    /// Deletes everything this SKU holds (Shopify `shop/redact`).
    Purge,
    Convert {
        /// The feed event's id (seen once, applied once); `None` from the admin API.
        #[serde(default)]
        event_id: Option<String>,
        entry_id: Option<String>,
        email_key: Option<String>,
        order_id: String,
        quantity: u32,
        revenue: f64,
    },
    Cancel {
        entry_id: String,
    },
    /// The shopper clicked the double opt-in link.
    Confirm {
        entry_id: String,
    },
    /// What a claim link holds (for the widget).
    /// The shopper unsubscribed: leave the line, drop pending messages; answers the address.
    Unsubscribe {
        entry_id: String,
    },
    /// The shop's suppression list holds these entries' addresses (found at send time): they
    /// leave the line, and units they held go to the next in line.
    OptedOut {
        entry_ids: Vec<String>,
    },
    /// The offers to these entries were dead-lettered (refused for good, or failing for the whole
    /// retry horizon): entries still holding them leave the line, and their units go to the next
    /// in line. The merchant sees the failed message and the trail's cause.
    Undeliverable {
        entry_ids: Vec<String>,
    },
    /// Everything held about an address on this SKU (privacy export).
    Export {
        email_key: Option<String>,
        #[serde(default)]
        phone: Option<String>,
    },
    /// Purges an address's (or a phone number's) personal data from entries, outbox and audit
    /// trail (privacy erase).
    Erase {
        email_key: Option<String>,
        #[serde(default)]
        phone: Option<String>,
    },
    /// An entry's audit trail: every state change and message with its cause.
    Audit {
        entry_id: String,
    },
    /// What an absolute level at a location would do now, computed and not applied: who would be
    /// told what. Nothing is written or sent.
    DryRun {
        shop: ShopContext,
        location: String,
        available: i64,
    },
    Claim {
        entry_id: String,
    },
    /// The shopper opened or clicked an offer.
    Engage {
        entry_id: String,
    },
    /// Run what is due now (dev clock moves).
    Tick,
    /// Dev mode only: add `count` waiting entries at once (benchmarks).
    Seed {
        count: u32,
    },
    /// The admin's view of the line, a page at a time: entries with `seq` after `after`, in
    /// signup order, at most `limit` (≤ 500); `search`: only the entries of this address or order.
    Queue {
        #[serde(default)]
        after: u32,
        #[serde(default)]
        limit: Option<u32>,
        #[serde(default)]
        search: Option<String>,
    },
    Mailbox,
}

fn yes() -> bool {
    true
}

/// A shipment's tracking facts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Shipment {
    pub carrier: Option<String>,
    pub number: Option<String>,
    pub url: Option<String>,
}

/// One imported waitlist entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportedEntry {
    pub entry_id: String,
    pub email: String,
    pub phone: Option<String>,
    pub sms_consent: bool,
    pub locale: Option<String>,
    pub quantity: u32,
    pub signed_up_at_ms: i64,
}

impl Command {
    /// Why this command changes things, as the audit trail says it.
    pub fn cause(&self) -> String {
        match self {
            Command::Configure { .. } => "admin: SKU settings".into(),
            Command::Signup { .. } => "signup".into(),
            Command::Backorder { order_id, .. } => format!("backorder for order {order_id}"),
            Command::Level { event_id, location, available, .. } => match available {
                Some(n) => format!("inventory event {event_id}: {n} at location {location}"),
                None => format!("inventory event {event_id}: location {location} disconnected"),
            },
            Command::SetEta { event_id, .. } => format!("ETA event {event_id}"),
            Command::Listing { .. } => "product sync".into(),
            Command::Order { order_id, event_id, .. } => format!("order {order_id} ({event_id})"),
            Command::OrderCancelled { order_id, .. } => format!("order {order_id} cancelled"),
            Command::Shipped { order_id, .. } => format!("fulfillment of order {order_id}"),
            Command::Import { .. } => "import".into(),
            Command::Convert { order_id, event_id, .. } => match event_id {
                Some(e) => format!("conversion, order {order_id} ({e})"),
                None => format!("admin: conversion, order {order_id}"),
            },
            Command::Cancel { .. } => "shopper: cancel link".into(),
            Command::Confirm { .. } => "shopper: confirmed the signup (double opt-in)".into(),
            Command::Unsubscribe { .. } => "shopper: unsubscribe".into(),
            Command::OptedOut { .. } => "opted out: the address is on the shop's suppression list".into(),
            Command::Engage { .. } => "shopper: opened or clicked the offer".into(),
            Command::Undeliverable { .. } => "delivery: the offer could not be delivered".into(),
            Command::Erase { .. } => "privacy: erase".into(),
            Command::Tick => "schedule".into(),
            Command::Seed { .. } => "dev: seed".into(),
            Command::Purge => "privacy: shop redact".into(),
            _ => "read".into(),
        }
    }

    /// Commands that only read: they cannot change what is due or when, so the object need not
    /// re-arm its alarm after them (the widget polls `Position` while a page is open).
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Command::State
                | Command::Position { .. }
                | Command::Claim { .. }
                | Command::Queue { .. }
                | Command::Mailbox
                | Command::Export { .. }
                | Command::Deliveries
                | Command::Audit { .. }
                | Command::DryRun { .. }
        )
    }
}
