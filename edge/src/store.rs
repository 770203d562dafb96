//! How one SKU's waitlist lives in its Durable Object's SQLite database: entries, stock levels per
//! location, seen webhook ids, and the outbox of messages.
//!
//! Architecture Invariant: a state change and the messages it causes are written by one call of
//! [`Store::commit`], with no `await` inside, so the runtime commits them as one transaction.

use crate::sql::{self, opt_int, opt_str};
use serde::Deserialize;
use shared::outbox::Channel;
use shared::queue::{Counters, Effect, Entry, Queue};
use shared::schedule::Policy;
use shared::wire::{EntryKind, EntryStatus, MessageView, SkuConfig};
use shared::Eta;
use worker::{Result, SqlStorage};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL UNIQUE,
  email TEXT NOT NULL,
  email_key TEXT NOT NULL,
  phone TEXT,
  sms_consent INTEGER NOT NULL,
  locale TEXT,
  kind TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  order_id TEXT,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  units INTEGER NOT NULL DEFAULT 0,
  offer_seq INTEGER NOT NULL DEFAULT 0,
  offered_at INTEGER,
  hold_until INTEGER,
  engaged INTEGER NOT NULL DEFAULT 0,
  sent TEXT NOT NULL DEFAULT '[]',
  converted_order TEXT,
  revenue REAL
);
CREATE INDEX IF NOT EXISTS entries_by_order ON entries(order_id);
CREATE INDEX IF NOT EXISTS entries_by_email ON entries(email_key);
CREATE INDEX IF NOT EXISTS entries_by_status ON entries(status, seq);
CREATE TABLE IF NOT EXISTS levels (location TEXT PRIMARY KEY, available INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  key TEXT PRIMARY KEY,
  entry_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  to_addr TEXT NOT NULL,
  from_addr TEXT NOT NULL,
  subject TEXT NOT NULL,
  html TEXT NOT NULL,
  text TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  sent_at INTEGER,
  last_error TEXT,
  provider_id TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_at);
CREATE TABLE IF NOT EXISTS schema_version (v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  entry_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  detail TEXT NOT NULL,
  cause TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entry ON audit(entry_id, id);
CREATE INDEX IF NOT EXISTS outbox_entry ON outbox(entry_id);
";

/// A rendered message (or other outbound call) ready to be written to the outbox.
#[derive(Debug, Clone)]
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
}

/// A message as stored in the outbox. For `email`, `to_addr`/`from_addr`/`subject`/`html`/`text`
/// are the email. For `sms`, `to_addr` is the E.164 number and `text` the body. For `hook`,
/// `to_addr` is the endpoint URL, `from_addr` the endpoint id and `text` the JSON event. For
/// `klaviyo`, `to_addr` is the shopper's address and `text` the JSON job (`shared::provider`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
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
}

fn email_channel() -> String {
    Channel::Email.as_str().to_owned()
}

#[derive(Deserialize)]
struct EntryRow {
    id: String,
    seq: i64,
    email: String,
    email_key: String,
    phone: Option<String>,
    sms_consent: i64,
    locale: Option<String>,
    kind: String,
    quantity: i64,
    order_id: Option<String>,
    status: String,
    created_at: i64,
    units: i64,
    offer_seq: i64,
    offered_at: Option<i64>,
    hold_until: Option<i64>,
    engaged: i64,
    sent: String,
}

impl EntryRow {
    fn into_entry(self) -> Entry {
        Entry {
            id: self.id,
            seq: self.seq as u32,
            email: self.email,
            email_key: self.email_key,
            phone: self.phone,
            sms_consent: self.sms_consent != 0,
            locale: self.locale,
            kind: EntryKind::parse(&self.kind).unwrap_or(EntryKind::Notify),
            quantity: self.quantity as u32,
            order_id: self.order_id,
            status: EntryStatus::parse(&self.status).unwrap_or(EntryStatus::Waiting),
            created_at: self.created_at,
            units: self.units as u32,
            offer_seq: self.offer_seq as u32,
            offered_at: self.offered_at,
            hold_until: self.hold_until,
            engaged: self.engaged != 0,
            sent: serde_json::from_str(&self.sent).unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

#[derive(Deserialize)]
struct LevelRow {
    updated_at: i64,
}

#[derive(Deserialize)]
struct Level {
    location: String,
    available: i64,
    updated_at: i64,
}

/// What happened to an inventory event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

pub struct Store {
    db: SqlStorage,
    /// Why the current command changes things ("inventory event shopify:…", "admin: conversion"):
    /// written beside every state change and queued message in the audit trail.
    cause: std::cell::RefCell<String>,
}

/// One line of an entry's audit trail.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct AuditRow {
    pub at: i64,
    /// `state`, `queued`, `sent`, `retry`, `failed`, `skipped`.
    pub event: String,
    pub detail: String,
    pub cause: String,
}

#[derive(Deserialize)]
struct StatusRow {
    status: String,
}

impl Store {
    pub fn open(db: SqlStorage) -> Result<Store> {
        db.exec(SCHEMA, None)?;
        // v2: the unsubscribe link of each message (List-Unsubscribe headers).
        let v: Vec<Count> = db.exec("SELECT COALESCE(MAX(v), 1) AS n FROM schema_version", None)?.to_array()?;
        let version = v.first().map_or(1, |c| c.n);
        if version < 2 {
            let _ = db.exec("ALTER TABLE outbox ADD COLUMN unsubscribe_url TEXT", None);
            db.exec("INSERT INTO schema_version (v) VALUES (2)", None)?;
        }
        // v3: the outbox carries every outbound call, not only email: `channel` says which.
        if version < 3 {
            let _ = db.exec("ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email'", None);
            // Rows sent together in one provider batch share a key, fixed before the call, so a
            // retry after a crash resends the same batch under the same idempotency key.
            let _ = db.exec("ALTER TABLE outbox ADD COLUMN batch_key TEXT", None);
            db.exec("INSERT INTO schema_version (v) VALUES (3)", None)?;
        }
        // v4: the consent record of each signup (JSON: when, IP, user agent, text shown, source, channels).
        if version < 4 {
            let _ = db.exec("ALTER TABLE entries ADD COLUMN consent TEXT", None);
            db.exec("INSERT INTO schema_version (v) VALUES (4)", None)?;
        }
        Ok(Store { db, cause: std::cell::RefCell::new("unknown".into()) })
    }

    pub fn config(&self) -> Result<Option<SkuConfig>> {
        Ok(match sql::setting(&self.db, "meta", "config")? {
            Some(v) => Some(serde_json::from_str(&v)?),
            None => None,
        })
    }

    pub fn set_config(&self, cfg: &SkuConfig) -> Result<()> {
        self.set_meta("config", &serde_json::to_string(cfg)?)
    }

    fn meta_i64(&self, key: &str) -> Result<i64> {
        Ok(sql::setting(&self.db, "meta", key)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sql::exec(&self.db, "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", vec![key.into(), value.into()])
    }

    /// The live queue (entries in line, or with units allocated) with the SKU's counters.
    pub fn load_queue(&self, eta: Option<Eta>, policy: Policy) -> Result<Queue> {
        let rows: Vec<EntryRow> = self
            .db
            .exec(
                "SELECT * FROM entries WHERE status IN ('pending_confirmation', 'waiting', 'offered', 'notified', 'allocated') ORDER BY seq",
                None,
            )?
            .to_array()?;
        let next: Vec<Count> = self.db.exec("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM entries", None)?.to_array()?;
        let counters = Counters {
            available: self.total_available()?,
            restock_seq: self.meta_i64("restock_seq")? as u32,
            next_seq: next.first().map_or(1, |c| c.n as u32),
            eta_version: self.meta_i64("eta_version")? as u32,
        };
        Ok(Queue::new(rows.into_iter().map(EntryRow::into_entry).collect(), counters, eta, policy))
    }

    pub fn clock_offset(&self) -> Result<i64> {
        self.meta_i64("clock_offset")
    }

    pub fn set_clock_offset(&self, ms: i64) -> Result<()> {
        self.set_meta("clock_offset", &ms.to_string())
    }

    pub fn entry_by_order(&self, order_id: &str) -> Result<Option<Entry>> {
        let rows: Vec<EntryRow> = self
            .db
            .exec("SELECT * FROM entries WHERE order_id = ? ORDER BY seq DESC LIMIT 1", vec![order_id.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(EntryRow::into_entry))
    }

    /// Records what a conversion brought in.
    pub fn record_conversion(&self, entry_id: &str, order_id: &str, revenue: f64) -> Result<()> {
        sql::exec(
            &self.db,
            "UPDATE entries SET converted_order = ?, revenue = ? WHERE id = ?",
            vec![order_id.into(), revenue.into(), entry_id.into()],
        )
    }

    pub fn entry_by_key(&self, email_key: &str) -> Result<Option<Entry>> {
        let rows: Vec<EntryRow> = self
            .db
            .exec(
                "SELECT * FROM entries WHERE email_key = ? AND kind <> 'backorder' ORDER BY seq DESC LIMIT 1",
                vec![email_key.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(EntryRow::into_entry))
    }

    /// The newest waitlist (not backorder) entry with this phone number.
    pub fn entry_by_phone(&self, phone: &str) -> Result<Option<Entry>> {
        let rows: Vec<EntryRow> = self
            .db
            .exec(
                "SELECT * FROM entries WHERE phone = ? AND kind <> 'backorder' ORDER BY seq DESC LIMIT 1",
                vec![phone.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().next().map(EntryRow::into_entry))
    }

    pub fn entry(&self, id: &str) -> Result<Option<Entry>> {
        let rows: Vec<EntryRow> = self.db.exec("SELECT * FROM entries WHERE id = ?", vec![id.into()])?.to_array()?;
        Ok(rows.into_iter().next().map(EntryRow::into_entry))
    }

    /// Entries of one address (any kind, any status).
    pub fn entries_by_key(&self, email_key: &str) -> Result<Vec<Entry>> {
        let rows: Vec<EntryRow> = self
            .db
            .exec("SELECT * FROM entries WHERE email_key = ? ORDER BY seq", vec![email_key.into()])?
            .to_array()?;
        Ok(rows.into_iter().map(EntryRow::into_entry).collect())
    }

    /// Removes an entry's personal data: the address, phone and locale are overwritten, its messages
    /// (which quote the address and the shopper's place) are deleted. The entry row stays, so signup
    /// order and counts stay true.
    pub fn erase_entry(&self, entry_id: &str, tombstone: &str) -> Result<()> {
        sql::exec(
            &self.db,
            "UPDATE entries SET email = 'erased', email_key = ?, phone = NULL, locale = NULL, sms_consent = 0, consent = NULL WHERE id = ?",
            vec![tombstone.into(), entry_id.into()],
        )?;
        // Provider answers quoted in the trail can carry the address.
        sql::exec(
            &self.db,
            "UPDATE audit SET detail = event || ' (erased)' WHERE entry_id = ?",
            vec![entry_id.into()],
        )?;
        sql::exec(&self.db, "DELETE FROM outbox WHERE entry_id = ?", vec![entry_id.into()])
    }

    /// Every entry ever, in signup order (admin view).
    pub fn all_entries(&self) -> Result<Vec<Entry>> {
        let rows: Vec<EntryRow> = self.db.exec("SELECT * FROM entries ORDER BY seq", None)?.to_array()?;
        Ok(rows.into_iter().map(EntryRow::into_entry).collect())
    }

    /// Units the waitlist may allocate: the newest level of each sellable location (every location
    /// when the shop names none for its waitlist channel), a negative (oversold) level counting 0.
    pub fn total_available(&self) -> Result<i64> {
        Ok(self.sellable_levels()?.iter().map(|l| l.available.max(0)).sum())
    }

    /// The sellable stock as the store sees it, oversold locations negative, and when it last moved.
    pub fn raw_level(&self) -> Result<(i64, i64)> {
        let levels = self.sellable_levels()?;
        Ok((levels.iter().map(|l| l.available).sum(), levels.iter().map(|l| l.updated_at).max().unwrap_or(0)))
    }

    /// Stock per location, with whether the waitlist channel may sell it (admin view).
    pub fn levels(&self) -> Result<Vec<(String, i64, bool)>> {
        let sellable = self.sellable()?;
        let rows: Vec<Level> = self.db.exec("SELECT * FROM levels ORDER BY location", None)?.to_array()?;
        Ok(rows
            .into_iter()
            .map(|l| {
                let counts = sellable.as_ref().is_none_or(|s| s.contains(&l.location));
                (l.location, l.available, counts)
            })
            .collect())
    }

    fn sellable(&self) -> Result<Option<Vec<String>>> {
        Ok(match sql::setting(&self.db, "meta", "sellable")? {
            Some(v) => serde_json::from_str(&v)?,
            None => None,
        })
    }

    fn sellable_levels(&self) -> Result<Vec<Level>> {
        let rows: Vec<Level> = self.db.exec("SELECT * FROM levels", None)?.to_array()?;
        Ok(match self.sellable()? {
            Some(s) => rows.into_iter().filter(|l| s.contains(&l.location)).collect(),
            None => rows,
        })
    }

    /// `Duplicate` if this event id was seen before; otherwise remembers it with its outcome.
    pub fn seen_event(&self, event_id: &str) -> Result<bool> {
        let seen: Vec<Count> =
            self.db.exec("SELECT COUNT(*) AS n FROM events WHERE id = ?", vec![event_id.into()])?.to_array()?;
        Ok(seen.first().is_some_and(|c| c.n > 0))
    }

    pub fn record_event(&self, event_id: &str, outcome: EventOutcome, now: i64) -> Result<()> {
        sql::exec(
            &self.db,
            "INSERT OR IGNORE INTO events (id, received_at, outcome) VALUES (?, ?, ?)",
            vec![event_id.into(), now.into(), outcome.as_str().into()],
        )
    }

    /// When the ETA was last set by a feed (Unix ms of the event's `updated_at`), 0 if never.
    pub fn eta_updated_at(&self) -> Result<i64> {
        self.meta_i64("eta_updated_at")
    }

    pub fn set_eta_updated_at(&self, ms: i64) -> Result<()> {
        self.set_meta("eta_updated_at", &ms.to_string())
    }

    /// Records an inventory event: `Duplicate` if its id was seen, `Stale` if the location already
    /// holds a newer level, else stores the level (`None`: the location is gone). Returns the
    /// outcome; only `Applied` changes stock.
    pub fn record_level(
        &self,
        event_id: &str,
        location: &str,
        available: Option<i64>,
        updated_at: i64,
        now: i64,
    ) -> Result<EventOutcome> {
        if self.seen_event(event_id)? {
            return Ok(EventOutcome::Duplicate);
        }
        let current: Vec<LevelRow> =
            self.db.exec("SELECT updated_at FROM levels WHERE location = ?", vec![location.into()])?.to_array()?;
        let outcome = match current.first() {
            Some(cur) if cur.updated_at > updated_at => EventOutcome::Stale,
            _ => EventOutcome::Applied,
        };
        if outcome == EventOutcome::Applied {
            match available {
                Some(n) => sql::exec(
                    &self.db,
                    "INSERT OR REPLACE INTO levels (location, available, updated_at) VALUES (?, ?, ?)",
                    vec![location.into(), n.into(), updated_at.into()],
                )?,
                None => sql::exec(&self.db, "DELETE FROM levels WHERE location = ?", vec![location.into()])?,
            }
        }
        self.record_event(event_id, outcome, now)?;
        Ok(outcome)
    }

    /// Entries an order concerns: its backorder, or the entry it converted.
    pub fn entries_by_order(&self, order_id: &str) -> Result<Vec<Entry>> {
        let rows: Vec<EntryRow> = self
            .db
            .exec(
                "SELECT * FROM entries WHERE order_id = ? OR converted_order = ? ORDER BY seq",
                vec![order_id.into(), order_id.into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(EntryRow::into_entry).collect())
    }

    /// The outgoing events and how their delivery went, newest first (the delivery log).
    pub fn hook_rows(&self, limit: u32) -> Result<Vec<OutboxRow>> {
        self.db
            .exec(
                "SELECT * FROM outbox WHERE channel = 'hook' ORDER BY created_at DESC, rowid DESC LIMIT ?",
                vec![i64::from(limit).into()],
            )?
            .to_array()
    }

    /// Writes the queue's counters, the entries the effects saved and the messages they enqueue.
    /// Enqueuing a message whose key exists is a no-op.
    pub fn commit(&self, queue: &Queue, effects: &[Effect], messages: &[NewMessage], now: i64) -> Result<()> {
        self.set_meta("restock_seq", &queue.counters().restock_seq.to_string())?;
        self.set_meta("eta_version", &queue.counters().eta_version.to_string())?;
        let cause = self.cause.borrow().clone();
        for fx in effects {
            if let Effect::Save(e) = fx {
                let before: Vec<StatusRow> =
                    self.db.exec("SELECT status FROM entries WHERE id = ?", vec![e.id.clone().into()])?.to_array()?;
                let before = before.into_iter().next().map(|r| r.status);
                if before.as_deref() != Some(e.status.as_str()) {
                    let mut detail = match before {
                        Some(b) => format!("{b} → {}", e.status.as_str()),
                        None => format!("joined as {} ({} wanted)", e.status.as_str(), e.quantity),
                    };
                    if e.units > 0 {
                        detail.push_str(&format!(", {} unit(s)", e.units));
                    }
                    if let Some(t) = e.hold_until {
                        detail.push_str(&format!(", held until {}", shared::date::format_timestamp_ms(t)));
                    }
                    self.audit(&e.id, now, "state", &detail, &cause)?;
                }
                sql::exec(
                    &self.db,
                    "INSERT INTO entries (id, seq, email, email_key, phone, sms_consent, locale, kind, quantity, order_id, status,
                                          created_at, units, offer_seq, offered_at, hold_until, engaged, sent)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, email = excluded.email, status = excluded.status,
                       created_at = excluded.created_at, quantity = excluded.quantity, units = excluded.units,
                       offer_seq = excluded.offer_seq, offered_at = excluded.offered_at, hold_until = excluded.hold_until,
                       engaged = excluded.engaged, sent = excluded.sent",
                    vec![
                        e.id.clone().into(),
                        i64::from(e.seq).into(),
                        e.email.clone().into(),
                        e.email_key.clone().into(),
                        opt_str(e.phone.clone()),
                        i64::from(e.sms_consent).into(),
                        opt_str(e.locale.clone()),
                        e.kind.as_str().into(),
                        i64::from(e.quantity).into(),
                        opt_str(e.order_id.clone()),
                        e.status.as_str().into(),
                        e.created_at.into(),
                        i64::from(e.units).into(),
                        i64::from(e.offer_seq).into(),
                        opt_int(e.offered_at),
                        opt_int(e.hold_until),
                        i64::from(e.engaged).into(),
                        serde_json::to_string(&e.sent)?.into(),
                    ],
                )?;
            }
        }
        self.write_messages(messages, now)
    }

    fn write_messages(&self, messages: &[NewMessage], now: i64) -> Result<()> {
        let cause = self.cause.borrow().clone();
        for m in messages {
            let detail = format!("{} {} ({})", m.channel.as_str(), m.kind, m.key);
            self.audit(&m.entry_id, now, "queued", &detail, &cause)?;
            sql::exec(
                &self.db,
                "INSERT OR IGNORE INTO outbox (key, entry_id, channel, kind, to_addr, from_addr, subject, html, text, status, attempts, next_at, created_at, unsubscribe_url)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
                vec![
                    m.key.clone().into(),
                    m.entry_id.clone().into(),
                    m.channel.as_str().into(),
                    m.kind.clone().into(),
                    m.to.clone().into(),
                    m.from.clone().into(),
                    m.subject.clone().into(),
                    m.html.clone().into(),
                    m.text.clone().into(),
                    now.into(),
                    now.into(),
                    opt_str(m.unsubscribe_url.clone()),
                ],
            )?;
        }
        Ok(())
    }

    /// Deletes everything: entries, messages, levels, seen events, settings.
    pub fn purge(&self) -> Result<()> {
        for table in ["entries", "outbox", "levels", "events", "meta", "audit"] {
            self.db.exec(&format!("DELETE FROM {table}"), None)?;
        }
        Ok(())
    }

    pub fn set_cause(&self, cause: String) {
        *self.cause.borrow_mut() = cause;
    }

    /// A line in an entry's audit trail with the current cause (a decision not to do something).
    pub fn note(&self, entry_id: &str, at: i64, event: &str, detail: &str) -> Result<()> {
        let cause = self.cause.borrow().clone();
        self.audit(entry_id, at, event, detail, &cause)
    }

    fn audit(&self, entry_id: &str, at: i64, event: &str, detail: &str, cause: &str) -> Result<()> {
        sql::exec(
            &self.db,
            "INSERT INTO audit (entry_id, at, event, detail, cause) VALUES (?, ?, ?, ?, ?)",
            vec![entry_id.into(), at.into(), event.into(), detail.into(), cause.into()],
        )
    }

    /// The time on this object's clock (the dev clock's offset included).
    fn clock_now(&self) -> Result<i64> {
        Ok(worker::Date::now().as_millis() as i64 + self.clock_offset()?)
    }

    /// A delivery outcome in the audit trail of the message's entry.
    fn audit_delivery(&self, key: &str, event: &str, detail: &str) -> Result<()> {
        sql::exec(
            &self.db,
            "INSERT INTO audit (entry_id, at, event, detail, cause)
             SELECT entry_id, ?, ?, channel || ' ' || kind || ': ' || ?, 'delivery' FROM outbox WHERE key = ?",
            vec![self.clock_now()?.into(), event.into(), detail.into(), key.into()],
        )
    }

    /// Keeps the consent record of a signup (erased with the entry's personal data).
    pub fn set_consent(&self, entry_id: &str, consent: &serde_json::Value) -> Result<()> {
        sql::exec(
            &self.db,
            "UPDATE entries SET consent = ? WHERE id = ?",
            vec![consent.to_string().into(), entry_id.into()],
        )
    }

    pub fn consent(&self, entry_id: &str) -> Result<Option<serde_json::Value>> {
        #[derive(Deserialize)]
        struct C {
            consent: Option<String>,
        }
        let rows: Vec<C> =
            self.db.exec("SELECT consent FROM entries WHERE id = ?", vec![entry_id.into()])?.to_array()?;
        Ok(rows.into_iter().next().and_then(|c| c.consent).and_then(|c| serde_json::from_str(&c).ok()))
    }

    /// An entry's audit trail, oldest first.
    pub fn audit_of(&self, entry_id: &str) -> Result<Vec<AuditRow>> {
        self.db
            .exec("SELECT at, event, detail, cause FROM audit WHERE entry_id = ? ORDER BY id", vec![entry_id.into()])?
            .to_array()
    }

    /// Entries with this phone number (any kind, any status).
    pub fn entries_by_phone(&self, phone: &str) -> Result<Vec<Entry>> {
        let rows: Vec<EntryRow> =
            self.db.exec("SELECT * FROM entries WHERE phone = ? ORDER BY seq", vec![phone.into()])?.to_array()?;
        Ok(rows.into_iter().map(EntryRow::into_entry).collect())
    }

    /// Writes outbox rows on their own (an event caused by a delivery, not by a queue change).
    pub fn enqueue(&self, messages: &[NewMessage], now: i64) -> Result<()> {
        self.write_messages(messages, now)
    }

    /// Marks every pending message of an entry as skipped, with the reason.
    pub fn skip_pending(&self, entry_id: &str, reason: &str) -> Result<()> {
        sql::exec(
            &self.db,
            "INSERT INTO audit (entry_id, at, event, detail, cause)
             SELECT entry_id, ?, 'skipped', channel || ' ' || kind || ': ' || ?, ? FROM outbox WHERE entry_id = ? AND status = 'pending'",
            vec![self.clock_now()?.into(), reason.into(), self.cause.borrow().clone().into(), entry_id.into()],
        )?;
        sql::exec(
            &self.db,
            "UPDATE outbox SET status = 'skipped', last_error = ? WHERE entry_id = ? AND status = 'pending'",
            vec![reason.into(), entry_id.into()],
        )
    }

    pub fn mark_skipped(&self, key: &str, reason: &str) -> Result<()> {
        self.audit_delivery(key, "skipped", reason)?;
        sql::exec(
            &self.db,
            "UPDATE outbox SET status = 'skipped', last_error = ? WHERE key = ?",
            vec![reason.into(), key.into()],
        )
    }

    /// Dev mode only: appends `count` waiting notify-me entries (benchmarks).
    pub fn seed_entries(&self, count: u32, now: i64) -> Result<()> {
        let first: Vec<Count> = self.db.exec("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM entries", None)?.to_array()?;
        let first = first.first().map_or(1, |c| c.n);
        for i in first..first + i64::from(count) {
            let email = format!("seed{i}@example.test");
            sql::exec(
                &self.db,
                "INSERT INTO entries (id, seq, email, email_key, sms_consent, kind, quantity, status, created_at)
                 VALUES (?, ?, ?, ?, 0, 'notify', 1, 'waiting', ?)",
                vec![format!("seed-{i}").into(), i.into(), email.clone().into(), email.into(), now.into()],
            )?;
        }
        Ok(())
    }

    /// The earliest time a pending message is due.
    pub fn next_due(&self) -> Result<Option<i64>> {
        #[derive(Deserialize)]
        struct Next {
            t: Option<i64>,
        }
        let rows: Vec<Next> =
            self.db.exec("SELECT MIN(next_at) AS t FROM outbox WHERE status = 'pending'", None)?.to_array()?;
        Ok(rows.first().and_then(|r| r.t))
    }

    pub fn mark_sent(&self, key: &str, attempts: i64, now: i64, provider_id: Option<String>) -> Result<()> {
        let detail = format!("try {attempts}, provider id {}", provider_id.as_deref().unwrap_or("-"));
        self.audit_delivery(key, "sent", &detail)?;
        sql::exec(
            &self.db,
            "UPDATE outbox SET status = 'sent', attempts = ?, sent_at = ?, provider_id = ?, last_error = NULL WHERE key = ?",
            vec![attempts.into(), now.into(), opt_str(provider_id), key.into()],
        )
    }

    pub fn mark_retry(&self, key: &str, attempts: i64, at: i64, reason: &str) -> Result<()> {
        let detail = format!("try {attempts}: {reason}; next try {}", shared::date::format_timestamp_ms(at));
        self.audit_delivery(key, "retry", &detail)?;
        sql::exec(
            &self.db,
            "UPDATE outbox SET attempts = ?, next_at = ?, last_error = ? WHERE key = ?",
            vec![attempts.into(), at.into(), reason.into(), key.into()],
        )
    }

    pub fn mark_failed(&self, key: &str, attempts: i64, reason: &str) -> Result<()> {
        self.audit_delivery(key, "failed", &format!("try {attempts}: {reason}"))?;
        sql::exec(
            &self.db,
            "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ? WHERE key = ?",
            vec![attempts.into(), reason.into(), key.into()],
        )
    }

    pub fn messages_for(&self, entry_id: &str) -> Result<Vec<MessageView>> {
        let rows: Vec<OutboxRow> = self
            .db
            .exec("SELECT * FROM outbox WHERE entry_id = ? ORDER BY created_at, rowid", vec![entry_id.into()])?
            .to_array()?;
        Ok(rows.into_iter().filter_map(|r| r.view()).collect())
    }

    /// Every stored message of an entry, whole (privacy export).
    pub fn all_message_rows_for(&self, entry_id: &str) -> Result<Vec<OutboxRow>> {
        self.db
            .exec("SELECT * FROM outbox WHERE entry_id = ? ORDER BY created_at, rowid", vec![entry_id.into()])?
            .to_array()
    }

    /// Every message, newest first (the local mailbox).
    pub fn all_messages(&self, limit: u32) -> Result<Vec<OutboxRow>> {
        self.db
            .exec("SELECT * FROM outbox ORDER BY created_at DESC, rowid DESC LIMIT ?", vec![i64::from(limit).into()])?
            .to_array()
    }
}

impl OutboxRow {
    fn view(self) -> Option<MessageView> {
        let kind = serde_json::from_value(serde_json::Value::String(self.kind)).ok()?;
        Some(MessageView {
            channel: self.channel,
            kind,
            idempotency_key: self.key,
            status: self.status,
            attempts: self.attempts as u32,
            created_at: self.created_at,
            sent_at: self.sent_at,
            last_error: self.last_error,
        })
    }
}

impl Store {
    pub fn sku(&self) -> Result<String> {
        Ok(sql::setting(&self.db, "meta", "sku")?.unwrap_or_default())
    }

    pub fn set_sku(&self, sku: &str) -> Result<()> {
        self.set_meta("sku", sku)
    }

    /// The shop settings that came with the last command (used by the alarm).
    pub fn shop(&self) -> Result<Option<crate::protocol::ShopContext>> {
        Ok(match sql::setting(&self.db, "meta", "shop")? {
            Some(v) => Some(serde_json::from_str(&v)?),
            None => None,
        })
    }

    pub fn set_shop(&self, shop: &crate::protocol::ShopContext) -> Result<()> {
        self.set_meta("sellable", &serde_json::to_string(&shop.sellable_locations)?)?;
        self.set_meta("shop", &serde_json::to_string(shop)?)
    }
}

/// Delivery by channel: provider batches whose membership is fixed before the call, and the
/// pacing log of each channel (used by `delivery.rs`).
impl Store {
    /// Pending rows of one channel due by `now` that are in no batch, oldest first.
    pub fn due_on(&self, channel: Channel, now: i64, limit: u32) -> Result<Vec<OutboxRow>> {
        self.db
            .exec(
                "SELECT * FROM outbox WHERE status = 'pending' AND channel = ? AND next_at <= ?
                   AND (batch_key IS NULL OR batch_key = '')
                 ORDER BY next_at, created_at, rowid LIMIT ?",
                vec![channel.as_str().into(), now.into(), i64::from(limit).into()],
            )?
            .to_array()
    }

    /// The keys of batches with pending members due by `now`, oldest first.
    pub fn due_batches(&self, now: i64, limit: u32) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct B {
            batch_key: String,
        }
        let rows: Vec<B> = self
            .db
            .exec(
                "SELECT batch_key FROM outbox WHERE status = 'pending' AND next_at <= ?
                   AND batch_key IS NOT NULL AND batch_key != ''
                 GROUP BY batch_key ORDER BY MIN(next_at) LIMIT ?",
                vec![now.into(), i64::from(limit).into()],
            )?
            .to_array()?;
        Ok(rows.into_iter().map(|b| b.batch_key).collect())
    }

    /// The pending members of a batch, ordered by key (the order they are sent in).
    pub fn batch_members(&self, batch_key: &str) -> Result<Vec<OutboxRow>> {
        self.db
            .exec(
                "SELECT * FROM outbox WHERE batch_key = ? AND status = 'pending' ORDER BY key",
                vec![batch_key.into()],
            )?
            .to_array()
    }

    /// Fixes a batch's membership before its provider call, so a retry (even after a crash
    /// between the provider's accept and our write) resends the same batch under the same key.
    pub fn set_batch(&self, batch_key: &str, keys: &[&str]) -> Result<()> {
        for key in keys {
            sql::exec(
                &self.db,
                "UPDATE outbox SET batch_key = ? WHERE key = ?",
                vec![batch_key.into(), (*key).into()],
            )?;
        }
        Ok(())
    }

    /// These rows go one by one from now on (the provider refused them as a batch).
    pub fn unbatch(&self, keys: &[&str]) -> Result<()> {
        self.set_batch("", keys)
    }

    /// What a channel sent in the last second (its pacing log).
    pub fn pace(&self, channel: Channel) -> Result<shared::provider::PaceLog> {
        Ok(sql::setting(&self.db, "meta", &format!("pace:{}", channel.as_str()))?
            .and_then(|v| serde_json::from_str(&v).ok())
            .unwrap_or_default())
    }

    pub fn set_pace(&self, channel: Channel, log: &shared::provider::PaceLog) -> Result<()> {
        self.set_meta(&format!("pace:{}", channel.as_str()), &serde_json::to_string(log)?)
    }
}
