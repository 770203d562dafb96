//! What each command answers, typed. The object serializes them; the Worker reads them back
//! through the same types (`serde` on both ends), so no one looks fields up by name.

use crate::store::{AuditRow, OutboxRow};
use serde::{Deserialize, Serialize};
use shared::wire::{
    ConversionResult, EntryKind, EntryStatus, InventoryResult, MessageView, QueueView, SignupResponse, SkuConfig,
    SkuState,
};
use shared::Eta;

/// A command's answer. Serialized as the inner value (the variant is known from the command).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Config(SkuConfig),
    State(SkuState),
    /// A signup or backorder: `created` is false when the entry was already on the list.
    Joined {
        #[serde(skip)]
        created: bool,
        #[serde(flatten)]
        entry: SignupResponse,
    },
    Position(SignupResponse),
    Inventory(InventoryResult),
    Conversion(ConversionResult),
    Outcome(Outcome),
    Cancelled(Cancelled),
    Confirmed(Confirmed),
    Engaged(Engaged),
    Unsubscribed(Unsubscribed),
    Export(Vec<ExportedEntry>),
    Erased(Erased),
    Audit(Box<AuditView>),
    DryRun(DryRun),
    Claim(ClaimView),
    Listing(ListingResult),
    Import(ImportResult),
    Deliveries(Vec<Delivery>),
    Purged(Purged),
    Seeded(Seeded),
    Ticked(Ticked),
    Queue(QueueView),
    Mailbox(Vec<OutboxRow>),
}

impl Answer {
    /// The HTTP status the object answers with: 201 for a new entry, 200 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Joined { created: true, .. } => 201,
            _ => 200,
        }
    }
}

/// The answer of commands driven by outside events (orders, ETA events, fulfillments,
/// cancellations, repeated conversions): what became of the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Outcome {
    /// `duplicate`, `stale`, `unchanged`, `applied`, `converted`, `backorder`, `ignored`,
    /// `cancelled`, `notified`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<f64>,
    /// The ETA now (ETA events). `Some(None)` is an ETA removed, shown as `null`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "present")]
    pub eta: Option<Option<Eta>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta_text: Option<String>,
    /// Shoppers told by email (ETA events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub told: Option<u32>,
    /// The backorder an order became.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<SignupResponse>,
    /// The entries an order's cancellation or shipment concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<String>>,
}

impl Outcome {
    pub fn new(outcome: &str) -> Outcome {
        Outcome { outcome: outcome.to_owned(), ..Outcome::default() }
    }
}

/// `Option<Option<T>>` where the outer `None` is "absent" and `Some(None)` is `null`.
mod present {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancelled {
    pub entry_id: String,
    pub status: EntryStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmed {
    pub entry_id: String,
    pub status: EntryStatus,
    pub position: Option<u32>,
    /// A confirmed opt-in lifts the address's unsubscribe: this is the key the shop's list keeps.
    pub email_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engaged {
    pub entry_id: String,
    pub engaged: bool,
}

/// The shopper left the list; `email_key` is what the shop's suppression list keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unsubscribed {
    pub entry_id: String,
    pub email_key: String,
}

/// Everything held about one entry (privacy export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEntry {
    pub sku: String,
    pub entry_id: String,
    pub email: String,
    pub phone: Option<String>,
    pub sms_consent: bool,
    pub locale: Option<String>,
    pub kind: EntryKind,
    pub quantity: u32,
    pub order_id: Option<String>,
    pub status: EntryStatus,
    pub created_at: i64,
    pub consent: Option<serde_json::Value>,
    pub messages: Vec<OutboxRow>,
    pub audit: Vec<AuditRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Erased {
    pub erased_entries: u32,
    /// The erased entries' addresses as they were stored: the Worker asks Klaviyo to delete those
    /// profiles. Internal (object → Worker); the API's answer holds only the count.
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// One entry and its trail: every state change and message with its cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub sku: String,
    pub entry: AuditedEntry,
    pub consent: Option<serde_json::Value>,
    pub messages: Vec<MessageView>,
    pub trail: Vec<AuditRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditedEntry {
    pub entry_id: String,
    pub email: String,
    pub phone: Option<String>,
    pub sms_consent: bool,
    pub kind: EntryKind,
    pub status: EntryStatus,
    pub position: Option<u32>,
    pub quantity: u32,
    pub units: u32,
    pub order_id: Option<String>,
    pub created_at: i64,
    pub hold_until: Option<i64>,
}

/// What a level would do now: who would be told what. Nothing was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DryRun {
    pub dry_run: bool,
    pub location: String,
    pub location_sellable: bool,
    pub available_before: i64,
    pub available_after: i64,
    pub would_send: Vec<WouldSend>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WouldSend {
    pub entry_id: String,
    pub channel: String,
    pub kind: String,
    pub to: String,
    pub subject: String,
    pub position: Option<u32>,
}

/// What a claim link holds, for the widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimView {
    pub entry_id: String,
    pub status: EntryStatus,
    pub units: u32,
    pub hold_until: Option<i64>,
    /// The offer can still be bought.
    pub live: bool,
    pub title: String,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListingResult {
    pub sku: String,
    /// The listing created the SKU's waitlist.
    pub created: bool,
    pub config: SkuConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub imported: Vec<Imported>,
    pub skipped: Vec<Skipped>,
    pub waiting: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Imported {
    pub entry_id: String,
    pub email: String,
    pub position: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub email: String,
    /// `invalid_email` or `already_on_list`.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
}

/// One outgoing event and how its delivery went (the delivery log).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub event: String,
    pub endpoint: String,
    pub url: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub next_at: Option<i64>,
    pub last_error: Option<String>,
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purged {
    pub purged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seeded {
    pub seeded: u32,
    /// The first seeded entry's `seq`: from here on, the entries' ids are `store::seed_id(seq)`.
    pub first_seq: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticked {
    pub ok: bool,
}
