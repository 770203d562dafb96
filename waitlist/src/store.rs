//! The storage one SKU's waitlist needs, as a small synchronous trait, and the rows it holds.
//!
//! Synchronous on purpose: a Durable Object's SQLite calls (`SqlStorage::exec`) return at once, and
//! a command that reads, decides and writes through this trait cannot `await` in between, so the
//! runtime's input and output gates make it atomic. `edge` implements it on SQLite; [`crate::memory`]
//! implements it in memory for the native tests, and can be told to fail.

use crate::command::ShopContext;
use serde::{Deserialize, Serialize};
use shared::outbox::Channel;
use shared::queue::Entry;
use shared::wire::{EntryStatus, MessageKind, MessageView};

/// A storage failure (the platform's message). Commands stop at the first one; the object's
/// transaction then keeps nothing of the command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage: {0}")]
pub struct StoreError(pub String);

pub type StoreResult<T> = Result<T, StoreError>;

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// How entries are looked up besides by id.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    /// Every entry of an address (its `email_key`), any kind and status.
    EmailKey(&'a str),
    /// Every entry with this phone number (E.164).
    Phone(&'a str),
    /// Every entry an order concerns: its backorder (`order_id`) or the entry it converted.
    Order(&'a str),
    /// Every entry ever (admin view).
    All,
}

/// The slices of the line a step reads in order, each from an index, never the whole line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Notify-me and pre-order entries of one status with `seq` above `after`, in `seq` order.
    InLine { status: EntryStatus, after: u32 },
    /// Backorders waiting for units, by order time then `seq` (the order they are served in).
    WaitingBackorders,
    /// Entries holding an offer whose hold ended by `now`, by hold end.
    LapsedHolds { now: i64 },
    /// Entries with timed work due by `now` (their wake), earliest first.
    Due { now: i64 },
}

/// One location's newest absolute stock level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub location: String,
    pub available: i64,
    pub updated_at: i64,
}

/// The SKU's counters that live beside its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredCounters {
    pub restock_seq: u32,
    pub eta_version: u32,
    /// One more than the highest `seq` ever given (1 when there is none).
    pub next_seq: u32,
}

/// What happened to an inventory event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventOutcome {
    Applied,
    Duplicate,
    Stale,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Applied => "applied",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::Stale => "stale",
        }
    }
}

/// A message (or other outbound call) ready to be written to the outbox. An email or text message
/// carries `inputs` and no body: it is rendered when it is sent ([`crate::render_rows`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub key: String,
    pub entry_id: String,
    pub channel: Channel,
    /// A message kind (`restock_offer`), an outgoing event type (`offer.sent`) or a Klaviyo step.
    pub kind: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub unsubscribe_url: Option<String>,
    /// What the body is rendered from, frozen when the message is queued (JSON of
    /// `messages::Frozen`); `None` for a row written whole.
    pub inputs: Option<String>,
}

/// A message's body, rendered when it is first sent and kept only until it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub unsubscribe_url: Option<String>,
}

/// A message as stored in the outbox. For `email`, `to_addr`/`from_addr`/`subject`/`html`/`text`
/// are the email. For `sms`, `to_addr` is the E.164 number and `text` the body. For `hook`,
/// `to_addr` is the endpoint URL, `from_addr` the endpoint id and `text` the JSON event. For
/// `klaviyo`, `to_addr` is the shopper's address and `text` the JSON job (`shared::provider`).
/// An email or text message not rendered yet has an empty body and its `inputs`; the first try
/// renders it and keeps the body (so every retry sends the same), and a send to a provider drops it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct OutboxRow {
    pub key: String,
    pub entry_id: String,
    #[serde(default = "email_channel")]
    pub channel: String,
    pub kind: String,
    pub to_addr: String,
    pub from_addr: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub status: String,
    pub attempts: i64,
    pub next_at: i64,
    pub created_at: i64,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
    #[serde(default)]
    pub unsubscribe_url: Option<String>,
    #[serde(default)]
    pub batch_key: Option<String>,
    #[serde(default)]
    pub inputs: Option<String>,
    /// When the provider was first tried (the retry horizon counts from it).
    #[serde(default)]
    pub first_try_at: Option<i64>,
}

fn email_channel() -> String {
    Channel::Email.as_str().to_owned()
}

impl OutboxRow {
    /// A new row as [`Store::put_message`] writes it: pending, due now.
    pub fn pending(m: &NewMessage, now: i64) -> OutboxRow {
        OutboxRow {
            key: m.key.clone(),
            entry_id: m.entry_id.clone(),
            channel: m.channel.as_str().to_owned(),
            kind: m.kind.clone(),
            to_addr: m.to.clone(),
            from_addr: m.from.clone(),
            subject: m.subject.clone(),
            html: m.html.clone(),
            text: m.text.clone(),
            status: "pending".into(),
            attempts: 0,
            next_at: now,
            created_at: now,
            sent_at: None,
            last_error: None,
            unsubscribe_url: m.unsubscribe_url.clone(),
            batch_key: None,
            inputs: m.inputs.clone(),
            first_try_at: None,
        }
    }

    /// What the admin API shows of a message (only shopper messages have a kind it knows).
    pub fn view(&self) -> Option<MessageView> {
        let kind: MessageKind = serde_json::from_value(serde_json::Value::String(self.kind.clone())).ok()?;
        Some(MessageView {
            channel: self.channel.clone(),
            kind,
            idempotency_key: self.key.clone(),
            status: self.status.clone(),
            attempts: self.attempts as u32,
            created_at: self.created_at,
            sent_at: self.sent_at,
            last_error: self.last_error.clone(),
        })
    }
}

/// One line of an entry's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AuditRow {
    pub at: i64,
    /// `state`, `queued`, `sent`, `retry`, `failed`, `skipped`.
    pub event: String,
    pub detail: String,
    pub cause: String,
}

/// Capabilities kept per entry for repeat signups (the newest; older ones stop reading it).
pub const MAX_ALIASES: usize = 20;

/// One SKU's storage. Every method is synchronous; a failure is a [`StoreError`].
pub trait Store {
    /// A setting of the SKU (`sku`, `config`, `shop`, counters …) as text.
    fn meta(&self, key: &str) -> StoreResult<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;

    /// The live entries (waiting for a confirmation, in line, or units allocated), by `seq`.
    fn live_entries(&self) -> StoreResult<Vec<Entry>>;
    /// One more than the highest `seq` stored, 1 when there is none.
    fn next_seq(&self) -> StoreResult<u32>;
    fn entry(&self, id: &str) -> StoreResult<Option<Entry>>;
    /// The entries with these ids that exist, in any order: one read for a step's saves.
    fn entries_by_id(&self, ids: &[&str]) -> StoreResult<Vec<Entry>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.entry(id)?);
        }
        Ok(out)
    }
    /// Up to `limit` entries with `seq` above `after`, in `seq` order (a page of the admin view).
    fn entries_after(&self, after: u32, limit: u32) -> StoreResult<Vec<Entry>>;
    /// The messages of these entries, oldest first.
    fn messages_of_entries(&self, entry_ids: &[String]) -> StoreResult<Vec<OutboxRow>>;
    /// Up to `limit` entries of a slice of the line, in its order.
    fn scan(&self, by: Scan, limit: u32) -> StoreResult<Vec<Entry>>;
    /// Entries by address, phone or order, in `seq` order.
    fn find_entries(&self, by: Lookup<'_>) -> StoreResult<Vec<Entry>>;
    /// Inserts or updates an entry (its personal data stays as first written, but the address).
    fn put_entry(&self, e: &Entry) -> StoreResult<()>;
    /// [`Store::put_entry`] for each, in order (a store may write them in one statement).
    fn put_entries(&self, es: &[&Entry]) -> StoreResult<()> {
        es.iter().try_for_each(|e| self.put_entry(e))
    }
    /// What a conversion brought in.
    fn set_conversion(&self, entry_id: &str, order_id: &str, revenue: f64) -> StoreResult<()>;
    /// The consent record of a signup (JSON), erased with the entry's personal data.
    fn consent(&self, entry_id: &str) -> StoreResult<Option<serde_json::Value>>;
    fn set_consent(&self, entry_id: &str, consent: &serde_json::Value) -> StoreResult<()>;
    /// Overwrites an entry's personal data (address → `tombstone`, no phone, locale or consent),
    /// deletes its messages and blanks the details of its audit trail; the entry row stays.
    fn erase_entry(&self, entry_id: &str, tombstone: &str) -> StoreResult<()>;

    /// Every location's level, by location.
    fn levels(&self) -> StoreResult<Vec<Level>>;
    fn put_level(&self, level: &Level) -> StoreResult<()>;
    fn delete_level(&self, location: &str) -> StoreResult<()>;
    fn event_seen(&self, event_id: &str) -> StoreResult<bool>;
    /// Remembers an event id (a second write of the same id changes nothing).
    fn put_event(&self, event_id: &str, outcome: EventOutcome, now: i64) -> StoreResult<()>;

    /// Adds an outbox row, pending and due at `now`. `false` (and nothing written) when a row
    /// with that key exists: enqueuing a message twice is a no-op.
    fn put_message(&self, m: &NewMessage, now: i64) -> StoreResult<bool>;
    /// [`Store::put_message`] for each, in order: which of them were written.
    fn put_messages(&self, ms: &[NewMessage], now: i64) -> StoreResult<Vec<bool>> {
        ms.iter().map(|m| self.put_message(m, now)).collect()
    }
    /// The body of a pending message rendered from its inputs (which it then drops); `None`: it
    /// cannot be rendered and fails with `reason`.
    fn set_body(&self, key: &str, body: Result<&Body, &str>, now: i64) -> StoreResult<()>;
    /// [`Store::set_body`] for each, in order.
    fn set_bodies(&self, bodies: &[(&str, Result<&Body, &str>)], now: i64) -> StoreResult<()> {
        bodies.iter().try_for_each(|(key, b)| self.set_body(key, *b, now))
    }
    fn put_audit(&self, entry_id: &str, row: &AuditRow) -> StoreResult<()>;
    /// [`Store::put_audit`] for each, in order.
    fn put_audits(&self, rows: &[(&str, AuditRow)]) -> StoreResult<()> {
        rows.iter().try_for_each(|(id, r)| self.put_audit(id, r))
    }
    /// Marks every pending message of an entry skipped with `reason`, each with a trail line.
    fn skip_pending(&self, entry_id: &str, reason: &str, cause: &str, now: i64) -> StoreResult<()>;
    /// An entry's messages, oldest first.
    fn messages_of(&self, entry_id: &str) -> StoreResult<Vec<OutboxRow>>;
    /// An entry's audit trail, oldest first.
    fn audit_of(&self, entry_id: &str) -> StoreResult<Vec<AuditRow>>;
    /// The newest messages, of one channel or all, newest first.
    fn recent_messages(&self, channel: Option<Channel>, limit: u32) -> StoreResult<Vec<OutboxRow>>;
    /// The earliest time a pending message is due.
    fn next_due(&self) -> StoreResult<Option<i64>>;

    /// Backorders in line ordered before (`created_at`, `seq`): by order time, then signup order.
    fn backorders_ahead(&self, created_at: i64, seq: u32) -> StoreResult<u32>;
    /// Units of entries holding an offer whose hold ended by `now` (the alarm has not run yet).
    fn lapsed_units(&self, now: i64) -> StoreResult<i64>;
    /// The latest hold end among entries holding an offer.
    fn last_hold_end(&self) -> StoreResult<Option<i64>>;

    /// The sum of these nodes of the line's tree (`line.rs`); a missing node is 0.
    fn tree_sum(&self, nodes: &[u32]) -> StoreResult<i64>;
    /// [`Store::tree_sum`] of each set of nodes (a store may read them all at once).
    fn tree_sums(&self, sets: &[Vec<u32>]) -> StoreResult<Vec<i64>> {
        sets.iter().map(|nodes| self.tree_sum(nodes)).collect()
    }
    /// Adds `delta` to each of these nodes.
    fn tree_add(&self, nodes: &[u32], delta: i64) -> StoreResult<()>;
    fn tree_clear(&self) -> StoreResult<()>;
    /// Adds to each node `i` in `first..=last` its overlap with that range
    /// ([`crate::line::fill_amount`]): the range joined at once.
    fn tree_fill(&self, first: u32, last: u32) -> StoreResult<()>;

    /// When an entry next has timed work (hold end, reminder, follow-up), `None`: never.
    fn set_wake(&self, entry_id: &str, at: Option<i64>) -> StoreResult<()>;
    /// [`Store::set_wake`] for each, in order (the last of an entry's wins).
    fn set_wakes(&self, wakes: &[(&str, Option<i64>)]) -> StoreResult<()> {
        wakes.iter().try_for_each(|(id, at)| self.set_wake(id, *at))
    }
    /// The earliest timed work of any entry.
    fn first_wake(&self) -> StoreResult<Option<i64>>;
    fn wakes_clear(&self) -> StoreResult<()>;

    /// The entry a repeat signup's capability stands for (`put_alias`), if `alias` is one.
    fn entry_alias(&self, alias: &str) -> StoreResult<Option<String>>;
    /// Binds a fresh capability to an existing entry (a repeat signup's answer: never the entry's
    /// own id). An entry keeps its `MAX_ALIASES` newest; erasing it drops them all.
    fn put_alias(&self, alias: &str, entry_id: &str, now: i64) -> StoreResult<()>;

    /// Deletes everything: entries, messages, levels, seen events, settings, trails.
    fn purge(&self) -> StoreResult<()>;
    /// Dev mode only (benchmarks): appends `count` waiting notify-me entries at once, each with
    /// this next wake and the id [`seed_id`] of its `seq`; answers the first one's `seq`.
    fn seed_waiting(&self, count: u32, now: i64, wake: Option<i64>) -> StoreResult<u32>;
}

/// Typed settings over [`Store::meta`].
pub(crate) trait Settings: Store {
    fn json<T: serde::de::DeserializeOwned>(&self, key: &str) -> StoreResult<Option<T>> {
        Ok(match self.meta(key)? {
            Some(v) => Some(serde_json::from_str(&v)?),
            None => None,
        })
    }

    fn set_json<T: Serialize>(&self, key: &str, value: &T) -> StoreResult<()> {
        self.set_meta(key, &serde_json::to_string(value)?)
    }

    fn int(&self, key: &str) -> StoreResult<i64> {
        Ok(self.meta(key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn counters(&self) -> StoreResult<StoredCounters> {
        Ok(StoredCounters {
            restock_seq: self.int("restock_seq")? as u32,
            eta_version: self.int("eta_version")? as u32,
            next_seq: self.next_seq()?,
        })
    }

    fn shop(&self) -> StoreResult<Option<ShopContext>> {
        self.json("shop")
    }
}

impl<S: Store + ?Sized> Settings for S {}

/// The id of the seeded entry with this `seq`: shaped like the UUIDs real entries get, so the
/// widget's routes take it: [`SEED_ID_PREFIX`] and `seq` as 12 hex digits.
pub fn seed_id(seq: u32) -> String {
    format!("{SEED_ID_PREFIX}{seq:012x}")
}

/// What every seeded entry's id starts with (a store that seeds in SQL writes the same).
pub const SEED_ID_PREFIX: &str = "5eed0000-0000-4000-8000-";
