//! [`Store`] in memory, for the native tests: the same rules as the SQLite store (entry updates
//! keep the first-written personal data, message keys are unique, lookups in `seq` order), plus
//! a switch that makes the n-th call from now fail, and a transaction that keeps nothing of a
//! failed command (what the Durable Object's storage does).

use crate::store::*;
use shared::outbox::Channel;
use shared::queue::Entry;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default)]
struct Tables {
    meta: BTreeMap<String, String>,
    /// By id.
    entries: BTreeMap<String, StoredEntry>,
    levels: BTreeMap<String, Level>,
    events: BTreeMap<String, EventOutcome>,
    /// In insertion order (the SQLite `rowid`).
    outbox: Vec<OutboxRow>,
    keys: BTreeSet<String>,
    audit: Vec<(String, AuditRow)>,
    tree: BTreeMap<u32, i64>,
    wakes: BTreeMap<String, i64>,
    /// alias → (entry id, created at).
    aliases: BTreeMap<String, (String, i64)>,
}

#[derive(Debug, Clone)]
struct StoredEntry {
    entry: Entry,
    consent: Option<serde_json::Value>,
    converted_order: Option<String>,
    revenue: Option<f64>,
}

#[derive(Debug, Default)]
pub struct MemoryStore {
    t: RefCell<Tables>,
    calls: Cell<u64>,
    fail_at: Cell<Option<u64>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// The `n`-th store call from now (1 = the next one) fails, and every call after it, until
    /// [`MemoryStore::heal`].
    pub fn fail_after(&self, n: u64) {
        self.fail_at.set(Some(self.calls.get() + n));
    }

    pub fn heal(&self) {
        self.fail_at.set(None);
    }

    /// Store calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    /// Runs `f` as one transaction: if it fails, nothing it wrote is kept.
    pub fn transaction<T, E>(&self, f: impl FnOnce(&MemoryStore) -> Result<T, E>) -> Result<T, E> {
        let before = self.t.borrow().clone();
        let out = f(self);
        if out.is_err() {
            *self.t.borrow_mut() = before;
        }
        out
    }

    /// Every outbox row, in the order written.
    pub fn outbox(&self) -> Vec<OutboxRow> {
        self.t.borrow().outbox.clone()
    }

    /// Every entry, in `seq` order.
    pub fn entries(&self) -> Vec<Entry> {
        self.select(|_| true)
    }

    /// Marks an outbox row sent (what delivery does), so `next_due` moves on.
    pub fn mark_sent(&self, key: &str, now: i64) {
        if let Some(r) = self.t.borrow_mut().outbox.iter_mut().find(|r| r.key == key) {
            r.status = "sent".into();
            r.sent_at = Some(now);
            r.attempts += 1;
        }
    }

    fn tick(&self) -> StoreResult<()> {
        let n = self.calls.get() + 1;
        self.calls.set(n);
        match self.fail_at.get() {
            Some(at) if n >= at => Err(StoreError(format!("injected failure at call {n}"))),
            _ => Ok(()),
        }
    }

    fn select(&self, keep: impl Fn(&StoredEntry) -> bool) -> Vec<Entry> {
        let t = self.t.borrow();
        let mut out: Vec<Entry> = t.entries.values().filter(|s| keep(s)).map(|s| s.entry.clone()).collect();
        out.sort_by_key(|e| e.seq);
        out
    }
}

impl Store for MemoryStore {
    fn meta(&self, key: &str) -> StoreResult<Option<String>> {
        self.tick()?;
        Ok(self.t.borrow().meta.get(key).cloned())
    }

    fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.tick()?;
        self.t.borrow_mut().meta.insert(key.into(), value.into());
        Ok(())
    }

    fn live_entries(&self) -> StoreResult<Vec<Entry>> {
        self.tick()?;
        Ok(self.select(|s| s.entry.is_live()))
    }

    fn next_seq(&self) -> StoreResult<u32> {
        self.tick()?;
        Ok(self.t.borrow().entries.values().map(|s| s.entry.seq).max().unwrap_or(0) + 1)
    }

    fn entry(&self, id: &str) -> StoreResult<Option<Entry>> {
        self.tick()?;
        Ok(self.t.borrow().entries.get(id).map(|s| s.entry.clone()))
    }

    fn entries_after(&self, after: u32, limit: u32) -> StoreResult<Vec<Entry>> {
        self.tick()?;
        Ok(self.select(|s| s.entry.seq > after).into_iter().take(limit as usize).collect())
    }

    fn messages_of_entries(&self, entry_ids: &[String]) -> StoreResult<Vec<OutboxRow>> {
        self.tick()?;
        let mut rows: Vec<OutboxRow> =
            self.t.borrow().outbox.iter().filter(|r| entry_ids.contains(&r.entry_id)).cloned().collect();
        rows.sort_by_key(|r| r.created_at);
        Ok(rows)
    }

    fn scan(&self, by: Scan, limit: u32) -> StoreResult<Vec<Entry>> {
        use shared::wire::{EntryKind, EntryStatus};
        self.tick()?;
        let mut out = match by {
            Scan::InLine { status, after } => {
                self.select(|s| s.entry.kind != EntryKind::Backorder && s.entry.status == status && s.entry.seq > after)
            }
            Scan::WaitingBackorders => {
                let mut v =
                    self.select(|s| s.entry.kind == EntryKind::Backorder && s.entry.status == EntryStatus::Waiting);
                v.sort_by_key(|e| (e.created_at, e.seq));
                v
            }
            Scan::LapsedHolds { now } => {
                let mut v = self
                    .select(|s| s.entry.status == EntryStatus::Offered && s.entry.hold_until.is_some_and(|h| h <= now));
                v.sort_by_key(|e| (e.hold_until, e.seq));
                v
            }
            Scan::Due { now } => {
                let t = self.t.borrow();
                let mut due: Vec<(i64, Entry)> = t
                    .wakes
                    .iter()
                    .filter(|(_, at)| **at <= now)
                    .filter_map(|(id, at)| t.entries.get(id).map(|s| (*at, s.entry.clone())))
                    .collect();
                due.sort_by_key(|(at, e)| (*at, e.seq));
                due.into_iter().map(|(_, e)| e).collect()
            }
        };
        out.truncate(limit as usize);
        Ok(out)
    }

    fn find_entries(&self, by: Lookup<'_>) -> StoreResult<Vec<Entry>> {
        self.tick()?;
        Ok(match by {
            Lookup::EmailKey(k) => self.select(|s| s.entry.email_key == k),
            Lookup::Phone(p) => self.select(|s| s.entry.phone.as_deref() == Some(p)),
            Lookup::Order(o) => {
                self.select(|s| s.entry.order_id.as_deref() == Some(o) || s.converted_order.as_deref() == Some(o))
            }
            Lookup::All => self.select(|_| true),
        })
    }

    fn put_entry(&self, e: &Entry) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        if t.entries.values().any(|s| s.entry.seq == e.seq && s.entry.id != e.id) {
            return Err(StoreError(format!("UNIQUE constraint failed: entries.seq ({})", e.seq)));
        }
        match t.entries.get_mut(&e.id) {
            Some(s) => {
                // The SQLite store's upsert: the key, phone, SMS consent, locale, kind and order stay.
                let keep = s.entry.clone();
                s.entry = Entry {
                    email_key: keep.email_key,
                    phone: keep.phone,
                    sms_consent: keep.sms_consent,
                    locale: keep.locale,
                    kind: keep.kind,
                    order_id: keep.order_id,
                    ..e.clone()
                };
            }
            None => {
                t.entries.insert(
                    e.id.clone(),
                    StoredEntry { entry: e.clone(), consent: None, converted_order: None, revenue: None },
                );
            }
        }
        Ok(())
    }

    fn set_conversion(&self, entry_id: &str, order_id: &str, revenue: f64) -> StoreResult<()> {
        self.tick()?;
        if let Some(s) = self.t.borrow_mut().entries.get_mut(entry_id) {
            s.converted_order = Some(order_id.into());
            s.revenue = Some(revenue);
        }
        Ok(())
    }

    fn consent(&self, entry_id: &str) -> StoreResult<Option<serde_json::Value>> {
        self.tick()?;
        Ok(self.t.borrow().entries.get(entry_id).and_then(|s| s.consent.clone()))
    }

    fn set_consent(&self, entry_id: &str, consent: &serde_json::Value) -> StoreResult<()> {
        self.tick()?;
        if let Some(s) = self.t.borrow_mut().entries.get_mut(entry_id) {
            s.consent = Some(consent.clone());
        }
        Ok(())
    }

    fn erase_entry(&self, entry_id: &str, tombstone: &str) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        if let Some(s) = t.entries.get_mut(entry_id) {
            s.entry.email = "erased".into();
            s.entry.email_key = tombstone.into();
            s.entry.phone = None;
            s.entry.locale = None;
            s.entry.sms_consent = false;
            s.consent = None;
        }
        for (id, row) in t.audit.iter_mut() {
            if id == entry_id {
                row.detail = format!("{} (erased)", row.event);
            }
        }
        t.outbox.retain(|r| r.entry_id != entry_id);
        t.aliases.retain(|_, (e, _)| e != entry_id);
        Ok(())
    }

    fn levels(&self) -> StoreResult<Vec<Level>> {
        self.tick()?;
        Ok(self.t.borrow().levels.values().cloned().collect())
    }

    fn put_level(&self, level: &Level) -> StoreResult<()> {
        self.tick()?;
        self.t.borrow_mut().levels.insert(level.location.clone(), level.clone());
        Ok(())
    }

    fn delete_level(&self, location: &str) -> StoreResult<()> {
        self.tick()?;
        self.t.borrow_mut().levels.remove(location);
        Ok(())
    }

    fn event_seen(&self, event_id: &str) -> StoreResult<bool> {
        self.tick()?;
        Ok(self.t.borrow().events.contains_key(event_id))
    }

    fn put_event(&self, event_id: &str, outcome: EventOutcome, _now: i64) -> StoreResult<()> {
        self.tick()?;
        self.t.borrow_mut().events.entry(event_id.into()).or_insert(outcome);
        Ok(())
    }

    fn put_message(&self, m: &NewMessage, now: i64) -> StoreResult<bool> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        if !t.keys.insert(m.key.clone()) {
            return Ok(false);
        }
        t.outbox.push(OutboxRow::pending(m, now));
        Ok(true)
    }

    fn set_body(&self, key: &str, body: Result<&Body, &str>, now: i64) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        let Some(r) = t.outbox.iter_mut().find(|r| r.key == key && r.status == "pending") else {
            return Ok(());
        };
        r.inputs = None;
        let line = match body {
            Ok(b) => {
                r.subject = b.subject.clone();
                r.html = b.html.clone();
                r.text = b.text.clone();
                r.unsubscribe_url = b.unsubscribe_url.clone();
                None
            }
            Err(reason) => {
                r.status = "failed".into();
                r.last_error = Some(reason.into());
                let detail = format!("{} {}: {reason}", r.channel, r.kind);
                Some((
                    r.entry_id.clone(),
                    AuditRow { at: now, event: "failed".into(), detail, cause: "delivery".into() },
                ))
            }
        };
        t.audit.extend(line);
        Ok(())
    }

    fn put_audit(&self, entry_id: &str, row: &AuditRow) -> StoreResult<()> {
        self.tick()?;
        self.t.borrow_mut().audit.push((entry_id.into(), row.clone()));
        Ok(())
    }

    fn skip_pending(&self, entry_id: &str, reason: &str, cause: &str, now: i64) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        let mut lines = Vec::new();
        for r in t.outbox.iter_mut().filter(|r| r.entry_id == entry_id && r.status == "pending") {
            lines.push(AuditRow {
                at: now,
                event: "skipped".into(),
                detail: format!("{} {}: {reason}", r.channel, r.kind),
                cause: cause.into(),
            });
            r.status = "skipped".into();
            r.last_error = Some(reason.into());
        }
        t.audit.extend(lines.into_iter().map(|l| (entry_id.to_owned(), l)));
        Ok(())
    }

    fn messages_of(&self, entry_id: &str) -> StoreResult<Vec<OutboxRow>> {
        self.tick()?;
        let mut rows: Vec<OutboxRow> =
            self.t.borrow().outbox.iter().filter(|r| r.entry_id == entry_id).cloned().collect();
        rows.sort_by_key(|r| r.created_at);
        Ok(rows)
    }

    fn audit_of(&self, entry_id: &str) -> StoreResult<Vec<AuditRow>> {
        self.tick()?;
        Ok(self.t.borrow().audit.iter().filter(|(id, _)| id == entry_id).map(|(_, r)| r.clone()).collect())
    }

    fn recent_messages(&self, channel: Option<Channel>, limit: u32) -> StoreResult<Vec<OutboxRow>> {
        self.tick()?;
        let t = self.t.borrow();
        let mut rows: Vec<(usize, &OutboxRow)> =
            t.outbox.iter().enumerate().filter(|(_, r)| channel.is_none_or(|c| r.channel == c.as_str())).collect();
        rows.sort_by_key(|(i, r)| std::cmp::Reverse((r.created_at, *i)));
        Ok(rows.into_iter().take(limit as usize).map(|(_, r)| r.clone()).collect())
    }

    fn next_due(&self) -> StoreResult<Option<i64>> {
        self.tick()?;
        Ok(self.t.borrow().outbox.iter().filter(|r| r.status == "pending").map(|r| r.next_at).min())
    }

    fn backorders_ahead(&self, created_at: i64, seq: u32) -> StoreResult<u32> {
        self.tick()?;
        let t = self.t.borrow();
        Ok(t.entries
            .values()
            .filter(|s| s.entry.kind == shared::wire::EntryKind::Backorder && s.entry.in_line())
            .filter(|s| (s.entry.created_at, s.entry.seq) < (created_at, seq))
            .count() as u32)
    }

    fn lapsed_units(&self, now: i64) -> StoreResult<i64> {
        self.tick()?;
        let t = self.t.borrow();
        Ok(t.entries
            .values()
            .filter(|s| {
                s.entry.status == shared::wire::EntryStatus::Offered && s.entry.hold_until.is_some_and(|h| h <= now)
            })
            .map(|s| i64::from(s.entry.units))
            .sum())
    }

    fn last_hold_end(&self) -> StoreResult<Option<i64>> {
        self.tick()?;
        let t = self.t.borrow();
        Ok(t.entries
            .values()
            .filter(|s| s.entry.status == shared::wire::EntryStatus::Offered)
            .filter_map(|s| s.entry.hold_until)
            .max())
    }

    fn tree_sum(&self, nodes: &[u32]) -> StoreResult<i64> {
        self.tick()?;
        let t = self.t.borrow();
        Ok(nodes.iter().filter_map(|n| t.tree.get(n)).sum())
    }

    fn tree_add(&self, nodes: &[u32], delta: i64) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        for n in nodes {
            *t.tree.entry(*n).or_insert(0) += delta;
        }
        Ok(())
    }

    fn tree_clear(&self) -> StoreResult<()> {
        self.tick()?;
        self.t.borrow_mut().tree.clear();
        Ok(())
    }

    fn tree_fill(&self, first: u32, last: u32) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        for i in first..=last {
            *t.tree.entry(i).or_insert(0) += crate::line::fill_amount(i, first);
        }
        Ok(())
    }

    fn set_wake(&self, entry_id: &str, at: Option<i64>) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        match at {
            Some(at) => t.wakes.insert(entry_id.into(), at),
            None => t.wakes.remove(entry_id),
        };
        Ok(())
    }

    fn first_wake(&self) -> StoreResult<Option<i64>> {
        self.tick()?;
        Ok(self.t.borrow().wakes.values().min().copied())
    }

    fn wakes_clear(&self) -> StoreResult<()> {
        self.tick()?;
        self.t.borrow_mut().wakes.clear();
        Ok(())
    }

    fn entry_alias(&self, alias: &str) -> StoreResult<Option<String>> {
        self.tick()?;
        Ok(self.t.borrow().aliases.get(alias).map(|(e, _)| e.clone()))
    }

    fn put_alias(&self, alias: &str, entry_id: &str, now: i64) -> StoreResult<()> {
        self.tick()?;
        let mut t = self.t.borrow_mut();
        t.aliases.insert(alias.to_owned(), (entry_id.to_owned(), now));
        let mut mine: Vec<(i64, String)> =
            t.aliases.iter().filter(|(_, (e, _))| e == entry_id).map(|(a, (_, at))| (*at, a.clone())).collect();
        mine.sort();
        let extra = mine.len().saturating_sub(crate::store::MAX_ALIASES);
        for (_, a) in mine.into_iter().take(extra) {
            t.aliases.remove(&a);
        }
        Ok(())
    }

    fn purge(&self) -> StoreResult<()> {
        self.tick()?;
        *self.t.borrow_mut() = Tables::default();
        Ok(())
    }

    fn seed_waiting(&self, count: u32, now: i64, wake: Option<i64>) -> StoreResult<u32> {
        let first = self.next_seq()?;
        let mut t = self.t.borrow_mut();
        for seq in first..first + count {
            let email = format!("seed{seq}@example.test");
            let entry = Entry {
                created_at: now,
                email: email.clone(),
                email_key: email,
                ..Entry::test(&crate::store::seed_id(seq), seq)
            };
            if let Some(at) = wake {
                t.wakes.insert(entry.id.clone(), at);
            }
            t.entries
                .insert(entry.id.clone(), StoredEntry { entry, consent: None, converted_order: None, revenue: None });
        }
        Ok(first)
    }
}
