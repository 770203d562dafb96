//! How one SKU's waitlist lives in its Durable Object's SQLite database: entries, stock levels per
//! location, seen webhook ids, the outbox of messages and the audit trail. Implements
//! `waitlist::Store` (what commands need) and, beside it, what delivery needs (due rows, batches,
//! pacing, provider answers).
//!
//! Every call is one synchronous `SqlStorage::exec`; the object runs a command's calls inside one
//! `transactionSync` (`sku_object.rs`), so they commit together or not at all.

use crate::sql::{self, opt_int, opt_str};
use serde::Deserialize;
use shared::outbox::Channel;
use shared::queue::Entry;
use shared::wire::{EntryKind, EntryStatus};
pub use waitlist::store::{
    AuditRow, Body, EventOutcome, Level, Lookup, NewMessage, OutboxRow, Scan, StoreError, StoreResult,
};
use worker::{Result, SqlStorage};

/// Outbox rows as `OutboxRow` reads them: a rendered body comes from `bodies`, where it stays only
/// until the provider takes it (a row's own `html`/`text` hold the payload of events and Klaviyo
/// jobs, and the bodies of rows written before bodies had their table).
const ROWS: &str = "SELECT o.key, o.entry_id, o.channel, o.kind, o.to_addr, o.from_addr, o.subject,
    COALESCE(b.html, o.html) AS html, COALESCE(b.text, o.text) AS text, o.status, o.attempts, o.next_at,
    o.created_at, o.sent_at, o.last_error, COALESCE(b.unsubscribe_url, o.unsubscribe_url) AS unsubscribe_url,
    o.batch_key, o.inputs, o.first_try_at
  FROM outbox o LEFT JOIN bodies b ON b.key = o.key";

/// The consent record's fields that hold wording shown to the shopper (kept once per text).
const CONSENT_TEXTS: [&str; 2] = ["text", "marketing_text"];

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

/// The columns of `entries` that make an [`Entry`].
const ENTRY_COLUMNS: &str = "id, seq, email, email_key, phone, sms_consent, locale, kind, quantity, order_id, status, created_at, units, offer_seq, offered_at, hold_until, engaged, sent";

/// A message the provider took: its key, the try it went on and the provider's id for it.
pub struct Sent {
    pub key: String,
    pub attempts: i64,
    pub provider_id: Option<String>,
}

/// Rows per statement of the writes that take many at once ([`SqlStore::each`]).
const EACH_CHUNK: usize = 500;

/// An entry as the batch writes read it from JSON (`put_entries`).
#[derive(serde::Serialize)]
struct EntryJson<'a> {
    id: &'a str,
    seq: u32,
    email: &'a str,
    email_key: &'a str,
    phone: Option<&'a str>,
    sms_consent: u8,
    locale: Option<&'a str>,
    kind: &'static str,
    quantity: u32,
    order_id: Option<&'a str>,
    status: &'static str,
    created_at: i64,
    units: u32,
    offer_seq: u32,
    offered_at: Option<i64>,
    hold_until: Option<i64>,
    engaged: u8,
    sent: String,
}

impl<'a> EntryJson<'a> {
    fn of(e: &'a Entry) -> StoreResult<EntryJson<'a>> {
        Ok(EntryJson {
            id: &e.id,
            seq: e.seq,
            email: &e.email,
            email_key: &e.email_key,
            phone: e.phone.as_deref(),
            sms_consent: u8::from(e.sms_consent),
            locale: e.locale.as_deref(),
            kind: e.kind.as_str(),
            quantity: e.quantity,
            order_id: e.order_id.as_deref(),
            status: e.status.as_str(),
            created_at: e.created_at,
            units: e.units,
            offer_seq: e.offer_seq,
            offered_at: e.offered_at,
            hold_until: e.hold_until,
            engaged: u8::from(e.engaged),
            sent: serde_json::to_string(&e.sent)?,
        })
    }
}

/// An outbox row as `put_messages` reads it from JSON.
#[derive(serde::Serialize)]
struct MessageJson<'a> {
    key: &'a str,
    entry_id: &'a str,
    channel: &'static str,
    kind: &'a str,
    to: &'a str,
    from: &'a str,
    subject: &'a str,
    html: &'a str,
    text: &'a str,
    unsubscribe_url: Option<&'a str>,
    inputs: Option<&'a str>,
    priority: u8,
}

/// The upsert of an entry, from the columns of `excluded` (one entry or many).
const ENTRY_UPSERT: &str =
    "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, email = excluded.email, status = excluded.status,
   created_at = excluded.created_at, quantity = excluded.quantity, units = excluded.units,
   offer_seq = excluded.offer_seq, offered_at = excluded.offered_at, hold_until = excluded.hold_until,
   engaged = excluded.engaged, sent = excluded.sent";

pub struct SqlStore {
    db: SqlStorage,
    /// Rows read and written by the queries of `waitlist::Store` calls (SQLite's own counters,
    /// as Cloudflare bills them): what one command costs, whatever else the object does.
    read: std::cell::Cell<u64>,
    written: std::cell::Cell<u64>,
    /// The `meta` rows read or written through this store (`None`: known to be absent). This
    /// instance is the database's only writer, so the copy stays true as long as every change of
    /// a kept key comes through here and a rolled-back command drops the copy ([`SqlStore::forget`]):
    /// a signup then reads none of the SKU's settings and counters from SQLite, and writes only
    /// those that changed.
    kept: std::cell::RefCell<std::collections::HashMap<String, Option<String>>>,
}

fn fail(e: worker::Error) -> StoreError {
    StoreError(e.to_string())
}

fn store_error(e: StoreError) -> worker::Error {
    worker::Error::RustError(e.0)
}

impl SqlStore {
    pub fn open(db: SqlStorage) -> Result<SqlStore> {
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
        // v5: the index that keeps shopper requests independent of the line's length: the line's
        // tree and each entry's next wake (`waitlist::line`; built from the entries by the first
        // command, `index_version`), and indexes for the hold and backorder look-ups.
        if version < 5 {
            db.exec(
                "CREATE TABLE IF NOT EXISTS tree (i INTEGER PRIMARY KEY, n INTEGER NOT NULL);
                 CREATE TABLE IF NOT EXISTS wakes (entry_id TEXT PRIMARY KEY, at INTEGER NOT NULL);
                 CREATE INDEX IF NOT EXISTS wakes_at ON wakes(at);
                 CREATE INDEX IF NOT EXISTS entries_holds ON entries(status, hold_until);
                 CREATE INDEX IF NOT EXISTS entries_backorders ON entries(kind, status, created_at, seq);
                 INSERT INTO schema_version (v) VALUES (5);",
                None,
            )?;
        }
        // v6: the capabilities repeat signups hand out instead of the entry's own id.
        if version < 6 {
            db.exec(
                "CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, entry_id TEXT NOT NULL, at INTEGER NOT NULL);
                 CREATE INDEX IF NOT EXISTS aliases_entry ON aliases(entry_id, at);
                 INSERT INTO schema_version (v) VALUES (6);",
                None,
            )?;
        }
        // v7: messages rendered when sent (`inputs`: what the body is rendered from, until it is)
        // and sent by priority (offers and hold ends first); the pending rows of a channel in
        // the order delivery takes them; when a message was first tried (its retry horizon); the
        // consent wording shown to shoppers, kept once (`consent_texts`), not once per signup; the
        // bodies rendered for a send (`bodies`: a row of their own, deleted once sent, so the
        // outbox's rows never grow and shrink in place).
        if version < 7 {
            let _ = db.exec("ALTER TABLE outbox ADD COLUMN inputs TEXT", None);
            let _ = db.exec("ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1", None);
            let _ = db.exec("ALTER TABLE outbox ADD COLUMN first_try_at INTEGER", None);
            db.exec(
                "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(channel, priority, next_at) WHERE status = 'pending';
                 CREATE TABLE IF NOT EXISTS consent_texts (sha256 TEXT PRIMARY KEY, text TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS bodies (key TEXT PRIMARY KEY, html TEXT NOT NULL, text TEXT NOT NULL, unsubscribe_url TEXT);
                 INSERT INTO schema_version (v) VALUES (7);",
                None,
            )?;
        }
        Ok(SqlStore { db, read: 0.into(), written: 0.into(), kept: Default::default() })
    }

    /// Drops the kept `meta` rows: what a rolled-back command wrote is not in the database.
    pub fn forget(&self) {
        self.kept.borrow_mut().clear();
    }

    fn kept_meta(&self, key: &str) -> StoreResult<Option<String>> {
        if let Some(v) = self.kept.borrow().get(key) {
            return Ok(v.clone());
        }
        #[derive(Deserialize)]
        struct V {
            v: String,
        }
        let rows: Vec<V> = self.rows("SELECT v FROM meta WHERE k = ?", vec![key.into()])?;
        let v = rows.into_iter().next().map(|r| r.v);
        self.kept.borrow_mut().insert(key.to_owned(), v.clone());
        Ok(v)
    }

    fn keep_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        if self.kept.borrow().get(key).is_some_and(|v| v.as_deref() == Some(value)) {
            return Ok(());
        }
        self.run("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", vec![key.into(), value.into()])?;
        self.kept.borrow_mut().insert(key.to_owned(), Some(value.to_owned()));
        Ok(())
    }

    /// Rows read and written so far by `waitlist::Store` calls.
    pub fn rows_counted(&self) -> (u64, u64) {
        (self.read.get(), self.written.get())
    }

    /// Runs a query, reads every row, and counts what it read and wrote.
    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        bindings: Vec<worker::SqlStorageValue>,
    ) -> StoreResult<Vec<T>> {
        let cursor = self.db.exec(query, bindings).map_err(fail)?;
        let rows = cursor.to_array().map_err(fail)?;
        self.read.set(self.read.get() + cursor.rows_read() as u64);
        self.written.set(self.written.get() + cursor.rows_written() as u64);
        Ok(rows)
    }

    /// The one value (`… AS n`) of a query that answers one row, or `None` for NULL or no row.
    fn value(&self, query: &str, bindings: Vec<worker::SqlStorageValue>) -> StoreResult<Option<i64>> {
        #[derive(Deserialize)]
        struct One {
            n: Option<i64>,
        }
        Ok(self.rows::<One>(query, bindings)?.into_iter().next().and_then(|r| r.n))
    }

    fn entries(&self, where_: &str, bindings: Vec<worker::SqlStorageValue>) -> StoreResult<Vec<Entry>> {
        let q = format!("SELECT {ENTRY_COLUMNS} FROM entries {where_}");
        let rows: Vec<EntryRow> = self.rows(&q, bindings)?;
        Ok(rows.into_iter().map(EntryRow::into_entry).collect())
    }

    fn run(&self, query: &str, bindings: Vec<worker::SqlStorageValue>) -> StoreResult<()> {
        self.rows::<serde::de::IgnoredAny>(query, bindings).map(|_| ())
    }

    /// Runs `query` over many rows at once: `?1` is a JSON array of them, which the query reads
    /// with `json_each` (one bound value, however many rows: Durable Object SQLite binds at most
    /// 100 per statement), in chunks that keep each value well under the 2 MB a value may hold.
    fn each<T: serde::Serialize>(&self, query: &str, rows: &[T]) -> StoreResult<()> {
        for chunk in rows.chunks(EACH_CHUNK) {
            self.run(query, vec![serde_json::to_string(chunk)?.into()])?;
        }
        Ok(())
    }

    /// [`SqlStore::each`] for a query that answers rows.
    fn each_rows<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        rows: &[T],
    ) -> StoreResult<Vec<R>> {
        let mut out = Vec::new();
        for chunk in rows.chunks(EACH_CHUNK) {
            out.extend(self.rows::<R>(query, vec![serde_json::to_string(chunk)?.into()])?);
        }
        Ok(out)
    }

    pub fn clock_offset(&self) -> Result<i64> {
        Ok(self.kept_meta("clock_offset").map_err(store_error)?.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    pub fn set_clock_offset(&self, ms: i64) -> Result<()> {
        self.keep_meta("clock_offset", &ms.to_string()).map_err(store_error)
    }

    /// The SKU's name, `""` before it is set up.
    pub fn sku(&self) -> Result<String> {
        Ok(self.kept_meta("sku").map_err(store_error)?.unwrap_or_default())
    }

    /// The shop settings that came with the last command (used by the alarm).
    pub fn shop(&self) -> Result<Option<crate::protocol::ShopContext>> {
        Ok(match self.kept_meta("shop").map_err(store_error)? {
            Some(v) => Some(serde_json::from_str(&v)?),
            None => None,
        })
    }

    /// A delivery outcome in the audit trail of the message's entry.
    fn audit_delivery(&self, key: &str, event: &str, detail: &str, now: i64) -> Result<()> {
        sql::exec(
            &self.db,
            "INSERT INTO audit (entry_id, at, event, detail, cause)
             SELECT entry_id, ?, ?, channel || ' ' || kind || ': ' || ?, 'delivery' FROM outbox WHERE key = ?",
            vec![now.into(), event.into(), detail.into(), key.into()],
        )
    }

    /// Messages the provider took in one call, each with its try and provider id: one trail line
    /// each and their rows marked sent, in three statements whatever their number. Bodies go as
    /// in [`SqlStore::mark_sent`].
    pub fn mark_sent_all(&self, sent: &[Sent], now: i64, keep_body: bool) -> Result<()> {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            key: &'a str,
            attempts: i64,
            provider_id: Option<&'a str>,
            detail: String,
        }
        let rows: Vec<Row<'_>> = sent
            .iter()
            .map(|s| Row {
                key: &s.key,
                attempts: s.attempts,
                provider_id: s.provider_id.as_deref(),
                detail: format!("try {}, provider id {}", s.attempts, s.provider_id.as_deref().unwrap_or("-")),
            })
            .collect();
        for chunk in rows.chunks(EACH_CHUNK) {
            let json = serde_json::to_string(chunk)?;
            sql::exec(
                &self.db,
                "INSERT INTO audit (entry_id, at, event, detail, cause)
                 SELECT o.entry_id, ?2, 'sent', o.channel || ' ' || o.kind || ': ' || (j.value ->> 'detail'), 'delivery'
                 FROM json_each(?1) AS j JOIN outbox o ON o.key = j.value ->> 'key' ORDER BY j.key",
                vec![json.clone().into(), now.into()],
            )?;
            if !keep_body {
                sql::exec(
                    &self.db,
                    "DELETE FROM bodies WHERE key IN (SELECT value ->> 'key' FROM json_each(?1))",
                    vec![json.clone().into()],
                )?;
            }
            sql::exec(
                &self.db,
                "UPDATE outbox SET status = 'sent', attempts = j.value ->> 'attempts', sent_at = ?2,
                   provider_id = j.value ->> 'provider_id', last_error = NULL,
                   html = CASE WHEN ?3 OR outbox.channel NOT IN ('email', 'sms') THEN outbox.html ELSE '' END,
                   text = CASE WHEN ?3 OR outbox.channel NOT IN ('email', 'sms') THEN outbox.text ELSE '' END,
                   unsubscribe_url = CASE WHEN ?3 THEN outbox.unsubscribe_url ELSE NULL END
                 FROM json_each(?1) AS j WHERE outbox.key = j.value ->> 'key'",
                vec![json.into(), now.into(), i64::from(keep_body).into()],
            )?;
        }
        Ok(())
    }

    /// Messages of one call to be tried again at `at`, each with its try: [`SqlStore::mark_retry`]
    /// for all of them in two statements.
    pub fn mark_retry_all(&self, tries: &[(&str, i64)], at: i64, reason: &str, now: i64) -> Result<()> {
        let next = shared::date::format_timestamp_ms(at);
        let rows: Vec<(&str, i64, String)> = tries
            .iter()
            .map(|(key, attempts)| (*key, *attempts, format!("try {attempts}: {reason}; next try {next}")))
            .collect();
        for chunk in rows.chunks(EACH_CHUNK) {
            let json = serde_json::to_string(chunk)?;
            sql::exec(
                &self.db,
                "INSERT INTO audit (entry_id, at, event, detail, cause)
                 SELECT o.entry_id, ?2, 'retry', o.channel || ' ' || o.kind || ': ' || (j.value ->> 2), 'delivery'
                 FROM json_each(?1) AS j JOIN outbox o ON o.key = j.value ->> 0 ORDER BY j.key",
                vec![json.clone().into(), now.into()],
            )?;
            sql::exec(
                &self.db,
                "UPDATE outbox SET attempts = j.value ->> 1, next_at = ?2, last_error = ?3,
                   first_try_at = COALESCE(outbox.first_try_at, ?4)
                 FROM json_each(?1) AS j WHERE outbox.key = j.value ->> 0",
                vec![json.into(), at.into(), reason.into(), now.into()],
            )?;
        }
        Ok(())
    }

    pub fn mark_skipped(&self, key: &str, reason: &str, now: i64) -> Result<()> {
        self.audit_delivery(key, "skipped", reason, now)?;
        sql::exec(
            &self.db,
            "UPDATE outbox SET status = 'skipped', last_error = ? WHERE key = ?",
            vec![reason.into(), key.into()],
        )
    }

    /// A message the provider took. Its body and unsubscribe link are dropped (the subject stays,
    /// for the admin's views), unless `keep_body`: kept locally, it is all there is of it (the local mailbox).
    /// Outgoing events and Klaviyo jobs keep theirs: they are the delivery log.
    pub fn mark_sent(
        &self,
        key: &str,
        attempts: i64,
        now: i64,
        provider_id: Option<String>,
        keep_body: bool,
    ) -> Result<()> {
        self.mark_sent_all(&[Sent { key: key.to_owned(), attempts, provider_id }], now, keep_body)
    }

    pub fn mark_retry(&self, key: &str, attempts: i64, at: i64, reason: &str, now: i64) -> Result<()> {
        self.mark_retry_all(&[(key, attempts)], at, reason, now)
    }

    pub fn mark_failed(&self, key: &str, attempts: i64, reason: &str, now: i64) -> Result<()> {
        self.audit_delivery(key, "failed", &format!("try {attempts}: {reason}"), now)?;
        sql::exec(
            &self.db,
            "UPDATE outbox SET status = 'failed', attempts = ?, last_error = ? WHERE key = ?",
            vec![attempts.into(), reason.into(), key.into()],
        )
    }
}

impl waitlist::Store for SqlStore {
    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.kept_meta(key)
    }

    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.keep_meta(key, value)
    }

    fn live_entries(&self) -> StoreResult<Vec<Entry>> {
        self.entries(
            "WHERE status IN ('pending_confirmation', 'waiting', 'offered', 'notified', 'allocated') ORDER BY seq",
            vec![],
        )
    }

    fn next_seq(&self) -> StoreResult<u32> {
        Ok(self.value("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM entries", vec![])?.map_or(1, |n| n as u32))
    }

    fn entry(&self, id: &str) -> StoreResult<Option<Entry>> {
        Ok(self.entries("WHERE id = ?", vec![id.into()])?.into_iter().next())
    }

    fn entries_after(&self, after: u32, limit: u32) -> StoreResult<Vec<Entry>> {
        self.entries("WHERE seq > ? ORDER BY seq LIMIT ?", vec![i64::from(after).into(), i64::from(limit).into()])
    }

    fn messages_of_entries(&self, entry_ids: &[String]) -> StoreResult<Vec<OutboxRow>> {
        if entry_ids.is_empty() {
            return Ok(Vec::new());
        }
        // One bound value however many entries (Durable Object SQLite binds at most 100).
        let q = format!("{ROWS} WHERE o.entry_id IN (SELECT value FROM json_each(?1)) ORDER BY o.created_at, o.rowid");
        let mut rows: Vec<OutboxRow> = self.each_rows(&q, entry_ids)?;
        rows.sort_by_key(|r| r.created_at);
        Ok(rows)
    }

    fn scan(&self, by: Scan, limit: u32) -> StoreResult<Vec<Entry>> {
        let limit = i64::from(limit);
        match by {
            // entries_by_status (status, seq).
            Scan::InLine { status, after } => self.entries(
                "WHERE status = ? AND seq > ? AND kind != 'backorder' ORDER BY seq LIMIT ?",
                vec![status.as_str().into(), i64::from(after).into(), limit.into()],
            ),
            // entries_backorders (kind, status, created_at, seq).
            Scan::WaitingBackorders => self.entries(
                "WHERE kind = 'backorder' AND status = 'waiting' ORDER BY created_at, seq LIMIT ?",
                vec![limit.into()],
            ),
            // entries_holds (status, hold_until).
            Scan::LapsedHolds { now } => self.entries(
                "WHERE status = 'offered' AND hold_until <= ? ORDER BY hold_until, seq LIMIT ?",
                vec![now.into(), limit.into()],
            ),
            // wakes_at (at).
            Scan::Due { now } => self.entries(
                "WHERE id IN (SELECT entry_id FROM wakes WHERE at <= ? ORDER BY at LIMIT ?) ORDER BY seq",
                vec![now.into(), limit.into()],
            ),
        }
    }

    fn find_entries(&self, by: Lookup<'_>) -> StoreResult<Vec<Entry>> {
        match by {
            Lookup::EmailKey(k) => self.entries("WHERE email_key = ? ORDER BY seq", vec![k.into()]),
            Lookup::Phone(p) => self.entries("WHERE phone = ? ORDER BY seq", vec![p.into()]),
            Lookup::Order(o) => {
                self.entries("WHERE order_id = ? OR converted_order = ? ORDER BY seq", vec![o.into(), o.into()])
            }
            Lookup::All => self.entries("ORDER BY seq", vec![]),
        }
    }

    fn put_entry(&self, e: &Entry) -> StoreResult<()> {
        let sent = serde_json::to_string(&e.sent)?;
        self.run(
            &format!("INSERT INTO entries (id, seq, email, email_key, phone, sms_consent, locale, kind, quantity, order_id, status,
                                  created_at, units, offer_seq, offered_at, hold_until, engaged, sent)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) {ENTRY_UPSERT}"),
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
                sent.into(),
            ],
        )
    }

    fn put_entries(&self, es: &[&Entry]) -> StoreResult<()> {
        let rows = es.iter().map(|e| EntryJson::of(e)).collect::<StoreResult<Vec<_>>>()?;
        self.each(
            &format!(
                "INSERT INTO entries (id, seq, email, email_key, phone, sms_consent, locale, kind, quantity, order_id, status,
                                      created_at, units, offer_seq, offered_at, hold_until, engaged, sent)
                 SELECT value ->> 'id', value ->> 'seq', value ->> 'email', value ->> 'email_key', value ->> 'phone',
                        value ->> 'sms_consent', value ->> 'locale', value ->> 'kind', value ->> 'quantity',
                        value ->> 'order_id', value ->> 'status', value ->> 'created_at', value ->> 'units',
                        value ->> 'offer_seq', value ->> 'offered_at', value ->> 'hold_until', value ->> 'engaged',
                        value ->> 'sent'
                 FROM json_each(?1) WHERE true ORDER BY key {ENTRY_UPSERT}"
            ),
            &rows,
        )
    }

    fn entries_by_id(&self, ids: &[&str]) -> StoreResult<Vec<Entry>> {
        let q = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE id IN (SELECT value FROM json_each(?1))");
        let rows: Vec<EntryRow> = self.each_rows(&q, ids)?;
        Ok(rows.into_iter().map(EntryRow::into_entry).collect())
    }

    fn set_conversion(&self, entry_id: &str, order_id: &str, revenue: f64) -> StoreResult<()> {
        self.run(
            "UPDATE entries SET converted_order = ?, revenue = ? WHERE id = ?",
            vec![order_id.into(), revenue.into(), entry_id.into()],
        )
    }

    fn consent(&self, entry_id: &str) -> StoreResult<Option<serde_json::Value>> {
        #[derive(Deserialize)]
        struct C {
            consent: Option<String>,
        }
        let rows: Vec<C> = self.rows("SELECT consent FROM entries WHERE id = ?", vec![entry_id.into()])?;
        let Some(mut c) = rows
            .into_iter()
            .next()
            .and_then(|c| c.consent)
            .and_then(|c| serde_json::from_str::<serde_json::Value>(&c).ok())
        else {
            return Ok(None);
        };
        // The wording comes back from where it is kept once.
        for field in CONSENT_TEXTS {
            let key = format!("{field}_sha256");
            let Some(sha) = c.get(&key).and_then(|v| v.as_str()).map(str::to_owned) else {
                continue;
            };
            #[derive(Deserialize)]
            struct T {
                text: String,
            }
            let text: Vec<T> = self.rows("SELECT text FROM consent_texts WHERE sha256 = ?", vec![sha.into()])?;
            if let Some(map) = c.as_object_mut() {
                map.remove(&key);
                map.insert(field.to_owned(), text.into_iter().next().map(|t| t.text).into());
            }
        }
        Ok(Some(c))
    }

    fn set_consent(&self, entry_id: &str, consent: &serde_json::Value) -> StoreResult<()> {
        // The wording shown is the same for thousands of signups: kept once, by its SHA-256.
        let mut c = consent.clone();
        for field in CONSENT_TEXTS {
            let Some(text) = c.get(field).and_then(|v| v.as_str()).filter(|t| !t.is_empty()).map(str::to_owned) else {
                continue;
            };
            let sha = shared::consent::text_key(&text);
            self.run(
                "INSERT OR IGNORE INTO consent_texts (sha256, text) VALUES (?, ?)",
                vec![sha.clone().into(), text.into()],
            )?;
            if let Some(map) = c.as_object_mut() {
                map.remove(field);
                map.insert(format!("{field}_sha256"), sha.into());
            }
        }
        self.run("UPDATE entries SET consent = ? WHERE id = ?", vec![c.to_string().into(), entry_id.into()])
    }

    fn erase_entry(&self, entry_id: &str, tombstone: &str) -> StoreResult<()> {
        self.run(
            "UPDATE entries SET email = 'erased', email_key = ?, phone = NULL, locale = NULL, sms_consent = 0, consent = NULL WHERE id = ?",
            vec![tombstone.into(), entry_id.into()],
        )?;
        // Provider answers quoted in the trail can carry the address.
        self.run("UPDATE audit SET detail = event || ' (erased)' WHERE entry_id = ?", vec![entry_id.into()])?;
        self.run("DELETE FROM bodies WHERE key IN (SELECT key FROM outbox WHERE entry_id = ?)", vec![entry_id.into()])?;
        self.run("DELETE FROM outbox WHERE entry_id = ?", vec![entry_id.into()])?;
        self.run("DELETE FROM aliases WHERE entry_id = ?", vec![entry_id.into()])
    }

    fn levels(&self) -> StoreResult<Vec<Level>> {
        self.rows("SELECT location, available, updated_at FROM levels ORDER BY location", vec![])
    }

    fn put_level(&self, l: &Level) -> StoreResult<()> {
        self.run(
            "INSERT OR REPLACE INTO levels (location, available, updated_at) VALUES (?, ?, ?)",
            vec![l.location.clone().into(), l.available.into(), l.updated_at.into()],
        )
    }

    fn delete_level(&self, location: &str) -> StoreResult<()> {
        self.run("DELETE FROM levels WHERE location = ?", vec![location.into()])
    }

    fn event_seen(&self, event_id: &str) -> StoreResult<bool> {
        Ok(self.value("SELECT COUNT(*) AS n FROM events WHERE id = ?", vec![event_id.into()])?.is_some_and(|n| n > 0))
    }

    fn put_event(&self, event_id: &str, outcome: EventOutcome, now: i64) -> StoreResult<()> {
        self.run(
            "INSERT OR IGNORE INTO events (id, received_at, outcome) VALUES (?, ?, ?)",
            vec![event_id.into(), now.into(), outcome.as_str().into()],
        )
    }

    fn put_message(&self, m: &NewMessage, now: i64) -> StoreResult<bool> {
        let before = self.written.get();
        self.rows::<serde::de::IgnoredAny>(
                "INSERT OR IGNORE INTO outbox (key, entry_id, channel, kind, to_addr, from_addr, subject, html, text, status, attempts, next_at, created_at, unsubscribe_url, inputs, priority)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)",
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
                    opt_str(m.inputs.clone()),
                    i64::from(shared::outbox::priority(&m.kind)).into(),
                ],
        )?;
        Ok(self.written.get() > before)
    }

    fn put_messages(&self, ms: &[NewMessage], now: i64) -> StoreResult<Vec<bool>> {
        #[derive(Deserialize)]
        struct Key {
            key: String,
        }
        let keys: Vec<&str> = ms.iter().map(|m| m.key.as_str()).collect();
        let mut known: std::collections::HashSet<String> = self
            .each_rows::<_, Key>("SELECT key FROM outbox WHERE key IN (SELECT value FROM json_each(?1))", &keys)?
            .into_iter()
            .map(|k| k.key)
            .collect();
        let mut written = Vec::with_capacity(ms.len());
        let mut rows = Vec::new();
        for m in ms {
            let new = known.insert(m.key.clone());
            written.push(new);
            if new {
                rows.push(MessageJson {
                    key: &m.key,
                    entry_id: &m.entry_id,
                    channel: m.channel.as_str(),
                    kind: &m.kind,
                    to: &m.to,
                    from: &m.from,
                    subject: &m.subject,
                    html: &m.html,
                    text: &m.text,
                    unsubscribe_url: m.unsubscribe_url.as_deref(),
                    inputs: m.inputs.as_deref(),
                    priority: shared::outbox::priority(&m.kind),
                });
            }
        }
        for chunk in rows.chunks(EACH_CHUNK) {
            self.run(
                "INSERT OR IGNORE INTO outbox (key, entry_id, channel, kind, to_addr, from_addr, subject, html, text, status,
                                               attempts, next_at, created_at, unsubscribe_url, inputs, priority)
                 SELECT value ->> 'key', value ->> 'entry_id', value ->> 'channel', value ->> 'kind', value ->> 'to',
                        value ->> 'from', value ->> 'subject', value ->> 'html', value ->> 'text', 'pending', 0, ?2, ?2,
                        value ->> 'unsubscribe_url', value ->> 'inputs', value ->> 'priority'
                 FROM json_each(?1) ORDER BY key",
                vec![serde_json::to_string(chunk)?.into(), now.into()],
            )?;
        }
        Ok(written)
    }

    fn set_body(&self, key: &str, body: std::result::Result<&Body, &str>, now: i64) -> StoreResult<()> {
        match body {
            Ok(b) => {
                self.run(
                    "INSERT OR REPLACE INTO bodies (key, html, text, unsubscribe_url)
                     SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM outbox WHERE key = ? AND status = 'pending')",
                    vec![
                        key.into(),
                        b.html.clone().into(),
                        b.text.clone().into(),
                        opt_str(b.unsubscribe_url.clone()),
                        key.into(),
                    ],
                )?;
                self.run(
                    "UPDATE outbox SET subject = ?, inputs = NULL WHERE key = ? AND status = 'pending'",
                    vec![b.subject.clone().into(), key.into()],
                )
            }
            Err(reason) => {
                self.audit_delivery(key, "failed", reason, now).map_err(fail)?;
                self.run(
                    "UPDATE outbox SET status = 'failed', last_error = ?, inputs = NULL WHERE key = ? AND status = 'pending'",
                    vec![reason.into(), key.into()],
                )
            }
        }
    }

    fn put_audit(&self, entry_id: &str, r: &AuditRow) -> StoreResult<()> {
        self.run(
            "INSERT INTO audit (entry_id, at, event, detail, cause) VALUES (?, ?, ?, ?, ?)",
            vec![entry_id.into(), r.at.into(), r.event.clone().into(), r.detail.clone().into(), r.cause.clone().into()],
        )
    }

    fn set_bodies(&self, bodies: &[(&str, std::result::Result<&Body, &str>)], now: i64) -> StoreResult<()> {
        #[derive(serde::Serialize)]
        struct Rendered<'a> {
            key: &'a str,
            subject: &'a str,
            html: &'a str,
            text: &'a str,
            unsubscribe_url: Option<&'a str>,
        }
        let mut rendered = Vec::new();
        for (key, b) in bodies {
            match b {
                Ok(b) => rendered.push(Rendered {
                    key,
                    subject: &b.subject,
                    html: &b.html,
                    text: &b.text,
                    unsubscribe_url: b.unsubscribe_url.as_deref(),
                }),
                Err(reason) => self.set_body(key, Err(reason), now)?,
            }
        }
        // Bodies are a few kilobytes each: a chunk of 100 stays well under a value's 2 MB. The
        // `+` on `status` keeps SQLite from reading the outbox by status (every pending row)
        // instead of by key.
        for chunk in rendered.chunks(100) {
            let json = serde_json::to_string(chunk)?;
            self.run(
                "INSERT OR REPLACE INTO bodies (key, html, text, unsubscribe_url)
                 SELECT j.value ->> 'key', j.value ->> 'html', j.value ->> 'text', j.value ->> 'unsubscribe_url'
                 FROM json_each(?1) AS j JOIN outbox o ON o.key = j.value ->> 'key' AND +o.status = 'pending'
                 ORDER BY j.key",
                vec![json.clone().into()],
            )?;
            self.run(
                "UPDATE outbox SET subject = j.value ->> 'subject', inputs = NULL
                 FROM json_each(?1) AS j WHERE outbox.key = j.value ->> 'key' AND +outbox.status = 'pending'",
                vec![json.into()],
            )?;
        }
        Ok(())
    }

    fn put_audits(&self, rows: &[(&str, AuditRow)]) -> StoreResult<()> {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            entry_id: &'a str,
            at: i64,
            event: &'a str,
            detail: &'a str,
            cause: &'a str,
        }
        let lines: Vec<Line<'_>> = rows
            .iter()
            .map(|(id, r)| Line { entry_id: id, at: r.at, event: &r.event, detail: &r.detail, cause: &r.cause })
            .collect();
        self.each(
            "INSERT INTO audit (entry_id, at, event, detail, cause)
             SELECT value ->> 'entry_id', value ->> 'at', value ->> 'event', value ->> 'detail', value ->> 'cause'
             FROM json_each(?1) ORDER BY key",
            &lines,
        )
    }

    fn skip_pending(&self, entry_id: &str, reason: &str, cause: &str, now: i64) -> StoreResult<()> {
        self.run(
            "INSERT INTO audit (entry_id, at, event, detail, cause)
             SELECT entry_id, ?, 'skipped', channel || ' ' || kind || ': ' || ?, ? FROM outbox WHERE entry_id = ? AND status = 'pending'",
            vec![now.into(), reason.into(), cause.into(), entry_id.into()],
        )?;
        self.run(
            "UPDATE outbox SET status = 'skipped', last_error = ? WHERE entry_id = ? AND status = 'pending'",
            vec![reason.into(), entry_id.into()],
        )
    }

    fn messages_of(&self, entry_id: &str) -> StoreResult<Vec<OutboxRow>> {
        self.rows(&format!("{ROWS} WHERE o.entry_id = ? ORDER BY o.created_at, o.rowid"), vec![entry_id.into()])
    }

    fn audit_of(&self, entry_id: &str) -> StoreResult<Vec<AuditRow>> {
        self.rows("SELECT at, event, detail, cause FROM audit WHERE entry_id = ? ORDER BY id", vec![entry_id.into()])
    }

    fn recent_messages(&self, channel: Option<Channel>, limit: u32) -> StoreResult<Vec<OutboxRow>> {
        match channel {
            Some(c) => self.rows(
                &format!("{ROWS} WHERE o.channel = ? ORDER BY o.created_at DESC, o.rowid DESC LIMIT ?"),
                vec![c.as_str().into(), i64::from(limit).into()],
            ),
            None => self.rows(
                &format!("{ROWS} ORDER BY o.created_at DESC, o.rowid DESC LIMIT ?"),
                vec![i64::from(limit).into()],
            ),
        }
    }

    fn next_due(&self) -> StoreResult<Option<i64>> {
        self.value("SELECT MIN(next_at) AS n FROM outbox WHERE status = 'pending'", vec![])
    }

    fn backorders_ahead(&self, created_at: i64, seq: u32) -> StoreResult<u32> {
        let n = self.value(
            "SELECT COUNT(*) AS n FROM entries WHERE kind = 'backorder' AND status IN ('waiting', 'offered', 'notified')
               AND (created_at < ? OR (created_at = ? AND seq < ?))",
            vec![created_at.into(), created_at.into(), i64::from(seq).into()],
        )?;
        Ok(n.unwrap_or(0) as u32)
    }

    fn lapsed_units(&self, now: i64) -> StoreResult<i64> {
        let n = self.value(
            "SELECT COALESCE(SUM(units), 0) AS n FROM entries WHERE status = 'offered' AND hold_until <= ?",
            vec![now.into()],
        )?;
        Ok(n.unwrap_or(0))
    }

    fn last_hold_end(&self) -> StoreResult<Option<i64>> {
        self.value("SELECT MAX(hold_until) AS n FROM entries WHERE status = 'offered'", vec![])
    }

    fn tree_sum(&self, nodes: &[u32]) -> StoreResult<i64> {
        if nodes.is_empty() {
            return Ok(0);
        }
        let marks = vec!["?"; nodes.len()].join(", ");
        let q = format!("SELECT COALESCE(SUM(n), 0) AS n FROM tree WHERE i IN ({marks})");
        Ok(self.value(&q, nodes.iter().map(|i| i64::from(*i).into()).collect())?.unwrap_or(0))
    }

    fn tree_sums(&self, sets: &[Vec<u32>]) -> StoreResult<Vec<i64>> {
        #[derive(Deserialize)]
        struct Node {
            i: u32,
            n: i64,
        }
        let mut wanted: Vec<u32> = sets.iter().flatten().copied().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let nodes: std::collections::HashMap<u32, i64> = self
            .each_rows::<_, Node>("SELECT i, n FROM tree WHERE i IN (SELECT value FROM json_each(?1))", &wanted)?
            .into_iter()
            .map(|r| (r.i, r.n))
            .collect();
        Ok(sets.iter().map(|set| set.iter().map(|i| nodes.get(i).copied().unwrap_or(0)).sum()).collect())
    }

    fn tree_add(&self, nodes: &[u32], delta: i64) -> StoreResult<()> {
        if nodes.is_empty() || delta == 0 {
            return Ok(());
        }
        let values = vec!["(?, ?)"; nodes.len()].join(", ");
        let q = format!("INSERT INTO tree (i, n) VALUES {values} ON CONFLICT(i) DO UPDATE SET n = n + excluded.n");
        let mut bindings = Vec::with_capacity(nodes.len() * 2);
        for i in nodes {
            bindings.push(i64::from(*i).into());
            bindings.push(delta.into());
        }
        self.run(&q, bindings)
    }

    fn tree_clear(&self) -> StoreResult<()> {
        self.run("DELETE FROM tree", vec![])
    }

    fn tree_fill(&self, first: u32, last: u32) -> StoreResult<()> {
        // Node i gains i - max(i - lowbit(i) + 1, first) + 1 (`waitlist::line::fill_amount`).
        self.run(
            "WITH RECURSIVE r(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM r WHERE i < ?2)
             INSERT INTO tree (i, n) SELECT i, i - max(i - (i & -i) + 1, ?1) + 1 FROM r WHERE true
             ON CONFLICT(i) DO UPDATE SET n = n + excluded.n",
            vec![i64::from(first).into(), i64::from(last).into()],
        )
    }

    fn set_wake(&self, entry_id: &str, at: Option<i64>) -> StoreResult<()> {
        match at {
            Some(at) => self.run(
                "INSERT INTO wakes (entry_id, at) VALUES (?, ?) ON CONFLICT(entry_id) DO UPDATE SET at = excluded.at",
                vec![entry_id.into(), at.into()],
            ),
            None => self.run("DELETE FROM wakes WHERE entry_id = ?", vec![entry_id.into()]),
        }
    }

    fn set_wakes(&self, wakes: &[(&str, Option<i64>)]) -> StoreResult<()> {
        // The last of each entry's wakes wins: then the set ones and the cleared ones apart.
        let mut last = std::collections::HashMap::new();
        for (i, (id, _)) in wakes.iter().enumerate() {
            last.insert(*id, i);
        }
        let (mut set, mut cleared) = (Vec::new(), Vec::new());
        for (i, &(id, at)) in wakes.iter().enumerate() {
            if last[id] == i {
                match at {
                    Some(at) => set.push((id, at)),
                    None => cleared.push(id),
                }
            }
        }
        self.each(
            "INSERT INTO wakes (entry_id, at) SELECT value ->> 0, value ->> 1 FROM json_each(?1) WHERE true
             ON CONFLICT(entry_id) DO UPDATE SET at = excluded.at",
            &set,
        )?;
        self.each("DELETE FROM wakes WHERE entry_id IN (SELECT value FROM json_each(?1))", &cleared)
    }

    fn first_wake(&self) -> StoreResult<Option<i64>> {
        self.value("SELECT MIN(at) AS n FROM wakes", vec![])
    }

    fn wakes_clear(&self) -> StoreResult<()> {
        self.run("DELETE FROM wakes", vec![])
    }

    fn entry_alias(&self, alias: &str) -> StoreResult<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            entry_id: String,
        }
        let rows: Vec<Row> = self.rows("SELECT entry_id FROM aliases WHERE alias = ?", vec![alias.into()])?;
        Ok(rows.into_iter().next().map(|r| r.entry_id))
    }

    fn put_alias(&self, alias: &str, entry_id: &str, now: i64) -> StoreResult<()> {
        self.run(
            "INSERT OR REPLACE INTO aliases (alias, entry_id, at) VALUES (?, ?, ?)",
            vec![alias.into(), entry_id.into(), now.into()],
        )?;
        self.run(
            "DELETE FROM aliases WHERE entry_id = ? AND alias NOT IN
               (SELECT alias FROM aliases WHERE entry_id = ? ORDER BY at DESC, alias LIMIT ?)",
            vec![entry_id.into(), entry_id.into(), (waitlist::store::MAX_ALIASES as i64).into()],
        )
    }

    fn purge(&self) -> StoreResult<()> {
        for table in [
            "entries",
            "outbox",
            "bodies",
            "levels",
            "events",
            "meta",
            "audit",
            "tree",
            "wakes",
            "aliases",
            "consent_texts",
        ] {
            self.run(&format!("DELETE FROM {table}"), vec![])?;
        }
        self.forget();
        Ok(())
    }

    fn seed_waiting(&self, count: u32, now: i64, wake: Option<i64>) -> StoreResult<u32> {
        let first = self.next_seq()?;
        if count == 0 {
            return Ok(first);
        }
        let last = i64::from(first) + i64::from(count) - 1;
        // One statement each, however many: seeding a million waiting takes seconds, not minutes.
        // Ids as `waitlist::store::seed_id` makes them. Bound numbers arrive as SQLite REALs: cast,
        // or `%x` would not take them.
        let seqs = "WITH RECURSIVE r(i) AS (SELECT CAST(?1 AS INTEGER) UNION ALL SELECT i + 1 FROM r WHERE i < ?2)";
        let id = format!("printf('{}%012x', i)", waitlist::store::SEED_ID_PREFIX);
        self.run(
            &format!(
                "{seqs} INSERT INTO entries (id, seq, email, email_key, sms_consent, kind, quantity, status, created_at)
                 SELECT {id}, i, 'seed' || i || '@example.test', 'seed' || i || '@example.test', 0, 'notify', 1, 'waiting', ?3 FROM r"
            ),
            vec![i64::from(first).into(), last.into(), now.into()],
        )?;
        if let Some(at) = wake {
            self.run(
                &format!(
                    "{seqs} INSERT INTO wakes (entry_id, at) SELECT {id}, ?3 FROM r WHERE true
                     ON CONFLICT(entry_id) DO UPDATE SET at = excluded.at"
                ),
                vec![i64::from(first).into(), last.into(), at.into()],
            )?;
        }
        Ok(first)
    }
}

/// Delivery by channel: provider batches whose membership is fixed before the call, and the
/// pacing log of each channel (used by `delivery.rs`).
impl SqlStore {
    /// Pending rows of one channel due by `now` that are in no batch, oldest first.
    pub fn due_on(&self, channel: Channel, now: i64, limit: u32) -> Result<Vec<OutboxRow>> {
        self.db
            .exec(
                &format!(
                    "{ROWS} WHERE o.status = 'pending' AND o.channel = ? AND o.next_at <= ?
                       AND (o.batch_key IS NULL OR o.batch_key = '')
                     ORDER BY o.priority, o.next_at, o.rowid LIMIT ?"
                ),
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
                &format!("{ROWS} WHERE o.batch_key = ? AND o.status = 'pending' ORDER BY o.key"),
                vec![batch_key.into()],
            )?
            .to_array()
    }

    /// Fixes a batch's membership before its provider call, so a retry (even after a crash
    /// between the provider's accept and our write) resends the same batch under the same key.
    pub fn set_batch(&self, batch_key: &str, keys: &[&str]) -> Result<()> {
        for chunk in keys.chunks(EACH_CHUNK) {
            sql::exec(
                &self.db,
                "UPDATE outbox SET batch_key = ?2 WHERE key IN (SELECT value FROM json_each(?1))",
                vec![serde_json::to_string(chunk)?.into(), batch_key.into()],
            )?;
        }
        Ok(())
    }

    /// These rows go one by one from now on (the provider refused them as a batch).
    pub fn unbatch(&self, keys: &[&str]) -> Result<()> {
        self.set_batch("", keys)
    }

    /// The channel's last lease whose return its pacer was not told yet: (granted at, returned
    /// at), told with the next lease (`shared::pacer::LeaseAsk::done`).
    pub fn lease_done(&self, channel: Channel) -> Result<Option<(i64, i64)>> {
        Ok(sql::setting(&self.db, "meta", &format!("lease_done:{}", channel.as_str()))?
            .and_then(|v| serde_json::from_str(&v).ok()))
    }

    pub fn set_lease_done(&self, channel: Channel, done: Option<(i64, i64)>) -> Result<()> {
        sql::exec(
            &self.db,
            "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)",
            vec![format!("lease_done:{}", channel.as_str()).into(), serde_json::to_string(&done)?.into()],
        )
    }
}
