//! Command handling: one command in, the SKU's state read, `shared::queue` asked, the changes and
//! the messages they cause written, a typed answer out.
//!
//! Every function here is synchronous and takes the store by reference: nothing can `await`
//! between a read and the write that depends on it, so in a Durable Object each command is atomic.

use crate::answer::*;
use crate::command::{Command, ShopContext};
use crate::events;
use crate::line;
use crate::links::LinkKeys;
use crate::messages::{self, Extras};
use crate::store::{EventOutcome, Level, Lookup, NewMessage, OutboxRow, Scan, Settings, Store, StoreError};
use shared::date::format_timestamp_ms;
use shared::eta::eta_phrase;
use shared::outbox::Channel;
use shared::queue::{Counters, Effect, Entry, FanOut, Joined, NewEntry, Queue};
use shared::schedule::pending;
use shared::wire::{
    AlarmFailure, ConversionResult, EntryKind, EntryStatus, InventoryResult, LocationLevel, MessageKind, Mode,
    QueueEntryView, QueueView, SignupResponse, SkuConfig, SkuState,
};
use shared::{Date, DomainError, Email};

/// Why a command was refused or could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No such SKU, entry or match (404).
    #[error("{1}")]
    NotFound(&'static str, String),
    /// The entry's state does not allow it (409).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// A value that does not parse (422).
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The object is not set up as it should be (500).
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// What the deployment gives every command: the link key. Time comes with each call.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub links: LinkKeys,
}

/// A command's result and what the object should log (a merchant template that failed and fell
/// back to the default wording).
#[derive(Debug)]
pub struct Handled {
    pub result: Result<Answer>,
    pub warnings: Vec<String>,
}

/// The most entries one page of the admin's queue view holds.
pub const MAX_PAGE: u32 = 500;

fn unknown_sku() -> Error {
    Error::NotFound("unknown_sku", "this SKU is not set up for this shop".into())
}

/// Runs one command at `now` (Unix ms).
pub fn handle<S: Store + ?Sized>(store: &S, deployment: &Deployment, cmd: Command, now: i64) -> Handled {
    let cx = Cx { store, links: &deployment.links, cause: cmd.cause(), now, warnings: Vec::new().into() };
    let result = cx.ensure_index().and_then(|()| cx.run(cmd));
    Handled { result, warnings: cx.warnings.into_inner() }
}

/// Runs what is due at `now` (hold ends, reminders, follow-ups) and writes it; a restock's
/// sold-out messages are [`run_fan_out`]'s, which the alarm runs after its delivery, so that a
/// restock's first offers reach the provider before its first chunk is written.
pub fn run_due<S: Store + ?Sized>(store: &S, deployment: &Deployment, now: i64) -> Handled {
    let cx = Cx { store, links: &deployment.links, cause: "schedule".into(), now, warnings: Vec::new().into() };
    let result = cx.ensure_index().and_then(|()| cx.due()).map(|()| Answer::Ticked(Ticked { ok: true }));
    Handled { result, warnings: cx.warnings.into_inner() }
}

/// Writes the next chunk of the newest restock's sold-out messages ([`FANOUT_CHUNK`]), if one
/// is not all told.
pub fn run_fan_out<S: Store + ?Sized>(store: &S, deployment: &Deployment, now: i64) -> Handled {
    let cx = Cx { store, links: &deployment.links, cause: "schedule".into(), now, warnings: Vec::new().into() };
    let result = cx
        .ensure_index()
        .and_then(|()| match cx.sku(None) {
            Ok(s) => cx.fan_out(&s),
            Err(_) => Ok(()),
        })
        .map(|()| Answer::Ticked(Ticked { ok: true }));
    Handled { result, warnings: cx.warnings.into_inner() }
}

/// The next time the object has work of its own: the earliest pending message (not before
/// `not_before`, the provider's pacing), hold end or timed message; now while a restock's
/// sold-out messages are not all told.
///
/// Reads two indexed minimums, never the queue: each entry's next timed work is kept with it
/// (`wakes`), written whenever the entry is.
pub fn next_wake<S: Store + ?Sized>(store: &S, now: i64, not_before: Option<i64>) -> Result<Option<i64>> {
    // A restock's sold-out messages not all told yet: the next chunk is due now.
    let fanning_out = stored_fanout(store)?.is_some();
    let next_work = if fanning_out { Some(now) } else { store.first_wake()?.map(|t| t.max(now)) };
    let next_send = store.next_due()?.map(|t| not_before.map_or(t, |nb| t.max(nb)));
    Ok([next_send, next_work].into_iter().flatten().min())
}

/// The `meta` key of the newest restock's fan-out cursor ([`FanOut`]), `null` when none runs.
const FANOUT: &str = "fanout";

fn stored_fanout<S: Store + ?Sized>(store: &S) -> Result<Option<FanOut>> {
    Ok(store.json::<Option<FanOut>>(FANOUT)?.flatten())
}

/// The most sold-out messages one alarm run tells (one chunk of a fan-out).
pub const FANOUT_CHUNK: u32 = 2_000;

/// The most entries with timed work one alarm run takes (the rest: the next run, at once).
pub const DUE_CHUNK: u32 = 500;

/// The rows about to be sent, with their bodies: a row still holding its frozen inputs is
/// rendered from them with the shop's wording now, and its body written before the call (a retry
/// sends the same body under the same key); one that cannot be rendered fails and is left out.
/// Answers the rows and the warnings of merchant templates that fell back to the default.
pub fn render_rows<S: Store + ?Sized>(
    store: &S,
    deployment: &Deployment,
    rows: Vec<OutboxRow>,
    now: i64,
) -> Result<(Vec<OutboxRow>, Vec<String>)> {
    if rows.iter().all(|r| r.inputs.is_none()) {
        return Ok((rows, Vec::new()));
    }
    let cx = Cx { store, links: &deployment.links, cause: "delivery".into(), now, warnings: Vec::new().into() };
    let s = cx.sku(None)?;
    let mut rows = rows;
    for row in &mut rows {
        if let (Some(inputs), true) = (&row.inputs, MessageKind::parse(&row.kind).is_some_and(MessageKind::is_offer)) {
            row.inputs = Some(cx.hold_from_send(&s, &row.entry_id, inputs)?);
        }
    }
    let mut warnings = Vec::new();
    let rows = messages::render_rows(store, &deployment.links, &s, rows, now, &mut warnings)?;
    Ok((rows, warnings))
}

/// Why an opted-out entry's pending messages are skipped.
const UNSUBSCRIBED: &str = "skipped: unsubscribed";

/// An offer first sent this long after its units were allocated has its hold counted from the
/// send instead: the shopper gets the whole hold, whatever pacing held the message back.
pub const HOLD_FROM_SEND_AFTER_MS: i64 = 60_000;

/// Writes outbox rows on their own (an event caused by a delivery, not by a queue change).
pub fn enqueue<S: Store + ?Sized>(store: &S, messages: &[NewMessage], cause: &str, now: i64) -> Result<()> {
    write_messages(store, messages, cause, now)
}

/// Units the waitlist may allocate: the newest level of each sellable location (every location
/// when the shop names none for its waitlist channel), a negative (oversold) level counting 0.
pub fn sellable_units(levels: &[Level], sellable: Option<&[String]>) -> i64 {
    levels.iter().filter(|l| is_sellable(&l.location, sellable)).map(|l| l.available.max(0)).sum()
}

fn is_sellable(location: &str, sellable: Option<&[String]>) -> bool {
    sellable.is_none_or(|s| s.iter().any(|x| x == location))
}

/// The whole live queue.
fn load_queue<S: Store + ?Sized>(store: &S, cfg: &SkuConfig, shop: &ShopContext) -> Result<Queue> {
    queue_of(store, cfg, shop, store.live_entries()?, None)
}

/// A queue of `entries` with the SKU's counters. Given only the entries a shopper's command
/// concerns, it decides for them what the whole line would, because signups, confirmations,
/// cancellations, conversions and engagement change no one else; places and free units then come
/// from the index (`line.rs`), not from it. `promised`: what the whole line promises now, for a
/// step that allocates units ([`Queue::partial`]).
fn queue_of<S: Store + ?Sized>(
    store: &S,
    cfg: &SkuConfig,
    shop: &ShopContext,
    entries: Vec<Entry>,
    promised: Option<(i64, i64)>,
) -> Result<Queue> {
    let stored = store.counters()?;
    let counters = Counters {
        available: sellable_units(&store.levels()?, shop.sellable_locations.as_deref()),
        restock_seq: stored.restock_seq,
        next_seq: stored.next_seq,
        eta_version: stored.eta_version,
        fanout: stored_fanout(store)?,
    };
    Ok(match promised {
        Some((promised, now)) => Queue::partial(entries, counters, cfg.eta, shop.policy(cfg), promised, now),
        None => Queue::new(entries, counters, cfg.eta, shop.policy(cfg)),
    })
}

/// When an entry next has timed work of its own: its hold's end, or its next timed message.
pub fn wake_of(e: &Entry, eta: Option<&shared::Eta>, policy: &shared::schedule::Policy) -> Option<i64> {
    let hold = if e.status == EntryStatus::Offered { e.hold_until } else { None };
    let timed = if e.in_line() { pending(e, eta, policy).into_iter().map(|t| t.at).min() } else { None };
    [hold, timed].into_iter().flatten().min()
}

/// What the wakes were computed with: they are computed again when it changes.
fn wake_basis(s: &Sku) -> String {
    format!("{:?}|{:?}", s.shop.policy(&s.config), s.config.eta)
}

/// Everything a command needs about the SKU, loaded once.
pub(crate) struct Sku {
    pub name: String,
    pub config: SkuConfig,
    pub shop: ShopContext,
}

impl Sku {
    pub fn eta_text(&self, now: i64) -> String {
        eta_phrase(self.config.eta.as_ref(), Date::from_unix_ms(now))
    }

    fn entry_kind(&self) -> EntryKind {
        match self.config.mode {
            Mode::Preorder => EntryKind::Preorder,
            Mode::Restock | Mode::Backorder => EntryKind::Notify,
        }
    }

    /// What a shopper is told about their entry: place in line, status, ETA.
    fn answer_for(&self, q: &Queue, entry: Entry, now: i64) -> SignupResponse {
        SignupResponse {
            position: q.position(&entry.id),
            entry_id: entry.id,
            status: entry.status,
            eta: self.config.eta,
            eta_text: self.eta_text(now),
        }
    }
}

/// One command's context: the store, the link key, why it changes things, and `now`.
struct Cx<'a, S: Store + ?Sized> {
    store: &'a S,
    links: &'a LinkKeys,
    /// Written beside every state change and queued message in the audit trail.
    cause: String,
    now: i64,
    warnings: std::cell::RefCell<Vec<String>>,
}

impl<S: Store + ?Sized> Cx<'_, S> {
    /// The SKU with the shop settings that came with the command (stored for the alarm), or
    /// the ones stored last.
    fn sku(&self, shop: Option<ShopContext>) -> Result<Sku> {
        let config: SkuConfig = self.store.json("config")?.ok_or_else(unknown_sku)?;
        if let Some(s) = &shop {
            self.store.set_json("shop", s)?;
        }
        let shop = match shop {
            Some(s) => s,
            None => self.store.shop()?.ok_or_else(|| Error::Internal("SKU has no shop settings yet".into()))?,
        };
        let s = Sku { name: self.store.meta("sku")?.unwrap_or_default(), config, shop };
        self.refresh_wakes(&s)?;
        Ok(s)
    }

    /// The index this code keeps (`line.rs`, `wakes`): built once from the entries of an object
    /// that has none yet (made before it existed), inside the first command's transaction.
    fn ensure_index(&self) -> Result<()> {
        const INDEX_VERSION: i64 = 1;
        if self.store.int("index_version")? >= INDEX_VERSION {
            return Ok(());
        }
        let entries = self.store.find_entries(Lookup::All)?;
        line::rebuild(self.store, &entries)?;
        self.store.set_meta("wake_basis", "")?;
        self.store.set_meta("index_version", &INDEX_VERSION.to_string())?;
        Ok(())
    }

    /// Each entry's next wake depends on the ETA and the shop's timing settings: when either
    /// changed, every live entry's is computed again (a merchant's change, not a shopper's).
    fn refresh_wakes(&self, s: &Sku) -> Result<()> {
        let basis = wake_basis(s);
        if self.store.meta("wake_basis")?.as_deref() == Some(basis.as_str()) {
            return Ok(());
        }
        self.store.wakes_clear()?;
        let policy = s.shop.policy(&s.config);
        for e in self.store.live_entries()? {
            self.store.set_wake(&e.id, wake_of(&e, s.config.eta.as_ref(), &policy))?;
        }
        self.store.set_meta("wake_basis", &basis)?;
        Ok(())
    }

    /// Units promised now: running holds and units set aside for backorders (from the counters).
    fn promised(&self) -> Result<i64> {
        let c = line::counts(self.store)?;
        Ok(c.offered_units - self.store.lapsed_units(self.now)? + c.backorder_units)
    }

    /// A queue of just these entries (see [`queue_of`]), knowing what the rest of the line
    /// promises.
    fn partial(&self, s: &Sku, entries: Vec<Entry>) -> Result<Queue> {
        queue_of(self.store, &s.config, &s.shop, entries, Some((self.promised()?, self.now)))
    }

    /// Place in line from the index.
    fn place(&self, e: &Entry) -> Result<Option<u32>> {
        Ok(line::position(self.store, e)?)
    }

    /// The answer to a shopper about their entry, from the index.
    fn answer_indexed(&self, s: &Sku, entry: Entry) -> Result<SignupResponse> {
        Ok(SignupResponse {
            position: self.place(&entry)?,
            entry_id: entry.id,
            status: entry.status,
            eta: s.config.eta,
            eta_text: s.eta_text(self.now),
        })
    }

    fn queue(&self, s: &Sku) -> Result<Queue> {
        load_queue(self.store, &s.config, &s.shop)
    }

    fn known_entry(&self, entry_id: &str) -> Result<Entry> {
        self.store.entry(entry_id)?.ok_or_else(|| Error::NotFound("unknown_entry", "no such waitlist entry".into()))
    }

    /// The newest waitlist (not backorder) entry of an address or a phone number.
    fn newest_waitlist_entry(&self, by: Lookup<'_>) -> Result<Option<Entry>> {
        Ok(self.store.find_entries(by)?.into_iter().rev().find(|e| e.kind != EntryKind::Backorder))
    }

    fn entry_by_key(&self, email_key: &str) -> Result<Option<Entry>> {
        self.newest_waitlist_entry(Lookup::EmailKey(email_key))
    }

    /// The newest entry made for this order (its backorder).
    fn entry_by_order(&self, order_id: &str) -> Result<Option<Entry>> {
        let all = self.store.find_entries(Lookup::Order(order_id))?;
        Ok(all.into_iter().rev().find(|e| e.order_id.as_deref() == Some(order_id)))
    }

    /// Entries of an address key or a phone number.
    fn entries_of(&self, email_key: Option<&str>, phone: Option<&str>) -> Result<Vec<Entry>> {
        let mut out = match email_key {
            Some(k) => self.store.find_entries(Lookup::EmailKey(k))?,
            None => Vec::new(),
        };
        if let Some(p) = phone {
            for e in self.store.find_entries(Lookup::Phone(p))? {
                if !out.iter().any(|o| o.id == e.id) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Renders from a whole loaded queue: places and free units from it.
    fn render(&self, q: &Queue, s: &Sku, effects: &[Effect], extras: Extras<'_>) -> Vec<NewMessage> {
        let positions = q.positions();
        let line = messages::Line {
            entries: q.entries(),
            position: &|id: &str| positions.get(id).copied(),
            free: q.available() - q.promised(self.now),
        };
        messages::render_all(&line, s, effects, self.now, extras)
    }

    /// An offer about to be rendered (its frozen `inputs`): when it goes out
    /// [`HOLD_FROM_SEND_AFTER_MS`] or more after the allocation and the entry still holds that
    /// offer's units, the hold ends as long after the send as it would have after the
    /// allocation (the entry, its wake and its trail say so), and the message says the same as
    /// the widget and the claim link. Answers the inputs to render from.
    fn hold_from_send(&self, s: &Sku, entry_id: &str, inputs: &str) -> Result<String> {
        let Ok(mut f) = serde_json::from_str::<messages::Frozen>(inputs) else {
            return Ok(inputs.to_owned());
        };
        let Some(mut e) = self.store.entry(entry_id)? else {
            return Ok(inputs.to_owned());
        };
        if e.status != EntryStatus::Offered || e.offered_at != Some(f.at) || e.hold_until.is_none() {
            return Ok(inputs.to_owned());
        }
        let late = self.now - f.at;
        if e.hold_until == f.hold_until && late >= HOLD_FROM_SEND_AFTER_MS {
            let until = e.hold_until.map(|t| t + late);
            e.hold_until = until;
            let q = self.partial(s, vec![e.clone()])?;
            save(self.store, &q, &[Effect::Save(e.clone())], &self.cause, self.now)?;
            let detail = format!(
                "offer first sent {} s after the allocation: held until {} (counted from the send)",
                late / 1000,
                until.map(format_timestamp_ms).unwrap_or_default()
            );
            let row = crate::store::AuditRow { at: self.now, event: "state".into(), detail, cause: self.cause.clone() };
            self.store.put_audit(&e.id, &row)?;
        }
        f.hold_until = e.hold_until;
        Ok(serde_json::to_string(&f).unwrap_or_else(|_| inputs.to_owned()))
    }

    /// A queued message's subject as it would go out now (what a dry run shows).
    fn preview_subject(&self, s: &Sku, m: &NewMessage) -> String {
        m.inputs
            .as_deref()
            .and_then(|inputs| messages::body(self.links, s, m.channel.as_str(), &m.kind, &m.entry_id, inputs).ok())
            .map_or_else(|| m.subject.clone(), |(b, _)| b.subject)
    }

    /// The `entry_ids` that `leaves` picks leave the line (units they held go on at once), their
    /// pending messages skipped with `reason`; answers how many left.
    fn leave_line(&self, entry_ids: &[String], leaves: impl Fn(&Entry) -> bool, reason: &str) -> Result<Answer> {
        let s = self.sku(None)?;
        let mut leaving = Vec::new();
        for id in entry_ids {
            if let Some(e) = self.store.entry(id)?.filter(&leaves) {
                leaving.push(e);
            }
        }
        self.leave_because(&s, &leaving, reason)?;
        Ok(Answer::Outcome(Outcome {
            outcome: if leaving.is_empty() { "unchanged" } else { "applied" }.into(),
            reason: Some(format!("{} left the line", leaving.len())),
            ..Default::default()
        }))
    }

    /// These entries' addresses opted out: they leave the line, their pending messages are
    /// skipped, and units they held go to the next in line at once (loading the queue only then).
    fn leave(&self, s: &Sku, entries: &[Entry]) -> Result<()> {
        self.leave_because(s, entries, UNSUBSCRIBED)
    }

    /// Entries leave the line (units they held go to the next in line at once), their pending
    /// messages skipped with `reason`.
    fn leave_because(&self, s: &Sku, entries: &[Entry], reason: &str) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let held = entries.iter().any(|e| e.status == EntryStatus::Offered && e.units > 0);
        let mut q = if held { self.queue(s)? } else { self.partial(s, entries.to_vec())? };
        let mut effects = Vec::new();
        for e in entries {
            effects.extend(q.opt_out(&e.id, self.now).unwrap_or_default());
        }
        let messages = self.render(&q, s, &effects, Extras::default());
        self.commit(&q, &effects, &messages)?;
        for e in entries {
            self.store.skip_pending(&e.id, reason, &self.cause, self.now)?;
        }
        Ok(())
    }

    fn commit(&self, q: &Queue, effects: &[Effect], messages: &[NewMessage]) -> Result<()> {
        commit(self.store, q, effects, messages, &self.cause, self.now)
    }

    /// The indexed path: writes what the effects save, then renders the messages with places and
    /// free units from the index, and writes them. Answers the messages.
    fn apply(&self, q: &Queue, s: &Sku, effects: &[Effect], extras: Extras<'_>) -> Result<Vec<NewMessage>> {
        save(self.store, q, effects, &self.cause, self.now)?;
        let saved: Vec<&Entry> = effects
            .iter()
            .filter_map(|fx| match fx {
                Effect::Save(e) => Some(e),
                _ => None,
            })
            .collect();
        let places: std::collections::HashMap<&str, Option<u32>> =
            saved.iter().map(|e| e.id.as_str()).zip(line::positions(self.store, &saved)?).collect();
        let line = messages::Line {
            entries: q.entries(),
            position: &|id: &str| places.get(id).copied().flatten(),
            free: q.available() - self.promised()?,
        };
        let rows = messages::render_all(&line, s, effects, self.now, extras);
        write_messages(self.store, &rows, &self.cause, self.now)?;
        Ok(rows)
    }

    /// The entries a restock to `total` units (from `previous`) can reach, and nothing else: the
    /// lapsed holds it ends, the waiting entries their units pass on to, the backorders it serves
    /// and the first waiting or told entries it offers units to, each an indexed slice as long as
    /// the free units can reach (every entry wants at least one unit). O(units), not O(line).
    fn restock_slice(&self, s: &Sku, previous: i64, total: i64) -> Result<Queue> {
        let store = self.store;
        let policy = s.shop.policy(&s.config);
        let promised = self.promised()?;
        let free = (total.max(0) - promised).clamp(0, i64::from(u32::MAX)) as u32;
        let mut entries = store.scan(Scan::LapsedHolds { now: self.now }, u32::MAX)?;
        if !entries.is_empty() {
            entries.extend(store.scan(Scan::InLine { status: EntryStatus::Waiting, after: 0 }, free)?);
        }
        let no_holds = policy.hold_ms <= 0;
        if !(no_holds && total <= previous) && free > 0 {
            entries.extend(store.scan(Scan::WaitingBackorders, free)?);
            let reach = if no_holds {
                let rise = (total - previous.max(0)).clamp(0, i64::from(free));
                ((rise as f64) * policy.notify_multiplier.max(1.0)).ceil().min(f64::from(u32::MAX)) as u32
            } else {
                free
            };
            entries.extend(self.in_line_prefix(0, reach)?.0);
        }
        let mut seen = std::collections::HashSet::new();
        entries.retain(|e| seen.insert(e.id.clone()));
        let q = queue_of(store, &s.config, &s.shop, entries, None)?;
        // The queue knows the level before this event: a restock is what the level rose by.
        let counters = Counters { available: previous, ..q.counters().clone() };
        Ok(Queue::partial(q.entries().to_vec(), counters, q.eta().copied(), *q.policy(), promised, self.now))
    }

    /// The first `limit` entries waiting or told with `seq` above `after`, in line order, and
    /// the `seq` up to which that is every one of them (`u32::MAX` when it is all there is).
    fn in_line_prefix(&self, after: u32, limit: u32) -> Result<(Vec<Entry>, u32)> {
        let mut out = Vec::new();
        let mut complete = u32::MAX;
        for status in [EntryStatus::Waiting, EntryStatus::Notified] {
            let page = self.store.scan(Scan::InLine { status, after }, limit)?;
            if page.len() >= limit as usize {
                complete = complete.min(page.last().map_or(after, |e| e.seq));
            }
            out.extend(page);
        }
        out.sort_by_key(|e| e.seq);
        out.retain(|e| e.seq <= complete);
        out.truncate(limit as usize);
        Ok((out, complete))
    }

    /// How many the fan-out `f` will tell: entries in line for the shelf with `seq` in its range
    /// (from the index), less those holding an offer (a few: at most the units held).
    fn fanout_size(&self, f: Option<FanOut>) -> Result<u32> {
        let Some(f) = f else {
            return Ok(0);
        };
        let in_line = line::between(self.store, f.after, f.through)?;
        let holding = self
            .store
            .scan(Scan::InLine { status: EntryStatus::Offered, after: f.after }, u32::MAX)?
            .iter()
            .filter(|e| e.seq <= f.through)
            .count() as i64;
        Ok((in_line - holding).max(0) as u32)
    }

    /// A line in an entry's trail: a decision not to do something.
    fn note(&self, entry_id: &str, event: &str, detail: &str) -> Result<()> {
        let row = crate::store::AuditRow {
            at: self.now,
            event: event.into(),
            detail: detail.into(),
            cause: self.cause.clone(),
        };
        Ok(self.store.put_audit(entry_id, &row)?)
    }

    fn seen(&self, event_id: &str) -> Result<bool> {
        Ok(self.store.event_seen(event_id)?)
    }

    fn run(&self, cmd: Command) -> Result<Answer> {
        let now = self.now;
        let store = self.store;
        match cmd {
            Command::Configure { shop, sku, config } => {
                store.set_meta("sku", &sku)?;
                store.set_json("shop", &shop)?;
                let old: Option<SkuConfig> = store.json("config")?;
                // Ids synced from Shopify stay unless the merchant sets others.
                let config = match &old {
                    Some(o) => SkuConfig {
                        shopify_inventory_item_id: config.shopify_inventory_item_id.or(o.shopify_inventory_item_id),
                        shopify_variant_id: config.shopify_variant_id.or(o.shopify_variant_id),
                        ..config
                    },
                    None => config,
                };
                store.set_json("config", &config)?;
                // An ETA that moves is news for everyone in line.
                if let Some(old) = old.filter(|o| o.eta != config.eta) {
                    let s = self.sku(None)?;
                    // The queue as it was: the old ETA, the new settings.
                    let mut q = load_queue(store, &SkuConfig { eta: old.eta, ..config.clone() }, &s.shop)?;
                    let effects = q.set_eta(config.eta);
                    let old_text = eta_phrase(old.eta.as_ref(), Date::from_unix_ms(now));
                    let messages =
                        self.render(&q, &s, &effects, Extras { old_eta_text: Some(&old_text), ..Extras::default() });
                    self.commit(&q, &effects, &messages)?;
                }
                Ok(Answer::Config(config))
            }
            Command::State => {
                let s = self.sku(None).map_err(|e| match e {
                    Error::Internal(_) => unknown_sku(),
                    e => e,
                })?;
                // Counters and two indexed look-ups: the same cost at any depth.
                let counts = line::counts(store)?;
                let reserved = counts.offered_units - store.lapsed_units(now)?;
                Ok(Answer::State(SkuState {
                    sku: s.name.clone(),
                    title: s.config.title.clone(),
                    mode: s.config.mode,
                    available: sellable_units(&store.levels()?, s.shop.sellable_locations.as_deref()),
                    reserved,
                    reserved_until: store.last_hold_end()?.filter(|t| *t > now && reserved > 0),
                    eta: s.config.eta,
                    eta_text: s.eta_text(now),
                    waiting: counts.in_line as u32,
                    marketing: s.shop.klaviyo.as_ref().is_some_and(|k| k.marketing),
                }))
            }
            Command::Signup {
                shop,
                entry_id,
                email,
                phone,
                sms_consent,
                locale,
                quantity,
                consent,
                confirm,
                opted_out,
            } => {
                let s = self.sku(Some(shop))?;
                let email = Email::parse(&email)?;
                let existing = self.entry_by_key(&email.key())?;
                let fresh_id = entry_id.clone();
                let new = NewEntry {
                    id: entry_id,
                    email,
                    phone,
                    sms_consent,
                    locale,
                    kind: s.entry_kind(),
                    quantity,
                    order_id: None,
                    at: now,
                };
                let double_opt_in = s.shop.double_opt_in || opted_out;
                let marketing = messages::marketing_consented(consent.as_ref());
                let (created, mut entry) = self.join(&s, existing, new, double_opt_in, confirm, marketing)?;
                if let (true, Some(c)) = (created, consent) {
                    store.set_consent(&entry.entry_id, &c)?;
                }
                // An entry's id reads its place and status: a repeat signup (anyone can type an
                // address) gets a fresh capability bound to the entry, never the entry's own id.
                if !created {
                    store.put_alias(&fresh_id, &entry.entry_id, now)?;
                    entry.entry_id = fresh_id;
                }
                Ok(Answer::Joined { created, entry })
            }
            Command::Backorder { shop, entry_id, order_id, email, quantity, ordered_at_ms } => {
                let s = self.sku(Some(shop))?;
                let email = Email::parse(&email)?;
                let (created, entry) =
                    self.join_backorder(&s, entry_id, order_id, email, None, quantity, ordered_at_ms)?;
                Ok(Answer::Joined { created, entry })
            }
            Command::Position { entry_id } => {
                let s = self.sku(None)?;
                let id = store.entry_alias(&entry_id)?.unwrap_or_else(|| entry_id.clone());
                let entry = self.known_entry(&id)?;
                // The answer names the capability asked with, whichever it was.
                Ok(Answer::Position(SignupResponse { entry_id, ..self.answer_indexed(&s, entry)? }))
            }
            Command::Level { shop, event_id, location, available, updated_at_ms } => {
                let s = self.sku(Some(shop))?;
                let sellable = s.shop.sellable_locations.as_deref();
                let previous = sellable_units(&store.levels()?, sellable);
                let outcome = self.record_level(&event_id, &location, available, updated_at_ms)?;
                if outcome != EventOutcome::Applied {
                    return Ok(Answer::Inventory(InventoryResult {
                        outcome: outcome.as_str().to_owned(),
                        available: previous,
                        offers: 0,
                        sold_out_again: 0,
                    }));
                }
                // The units are offered now, in line order; everyone else the restock covers is
                // told by the alarm, in chunks, from the cursor the restock leaves (`due`).
                let total = sellable_units(&store.levels()?, sellable);
                let mut q = self.restock_slice(&s, previous, total)?;
                let effects = q.restock(total, now);
                let messages = self.apply(&q, &s, &effects, Extras::default())?;
                let offers = [MessageKind::RestockOffer, MessageKind::PreorderReady, MessageKind::ShipNotice];
                Ok(Answer::Inventory(InventoryResult {
                    outcome: outcome.as_str().to_owned(),
                    available: q.available(),
                    offers: messages.iter().filter(|m| offers.iter().any(|k| k.as_str() == m.kind)).count() as u32,
                    sold_out_again: self.fanout_size(q.counters().fanout)?,
                }))
            }
            Command::Convert { event_id, entry_id, email_key, order_id, quantity, revenue } => {
                let s = self.sku(None)?;
                if let Some(id) = &event_id {
                    if self.seen(id)? {
                        return Ok(Answer::Outcome(Outcome::new("duplicate")));
                    }
                }
                let entry = match (entry_id, email_key) {
                    (Some(id), _) => store.entry(&id)?,
                    (None, Some(key)) => self.entry_by_key(&key)?,
                    (None, None) => None,
                }
                .ok_or_else(|| Error::NotFound("unknown_entry", "no waitlist entry matches this conversion".into()))?;
                let mut q = self.partial(&s, vec![entry.clone()])?;
                let effects = q.convert(&entry.id).ok_or_else(|| {
                    Error::Conflict(
                        "not_convertible",
                        format!("the entry is {} and cannot convert", entry.status.as_str()),
                    )
                })?;
                let units = if entry.units > 0 { entry.units } else { quantity };
                let events = converted_event(&s, &effects, &order_id, revenue, now);
                save(store, &q, &effects, &self.cause, now)?;
                write_messages(store, &events, &self.cause, now)?;
                store.set_conversion(&entry.id, &order_id, revenue)?;
                if let Some(id) = &event_id {
                    store.put_event(id, EventOutcome::Applied, now)?;
                }
                Ok(Answer::Conversion(ConversionResult {
                    entry_id: entry.id,
                    status: EntryStatus::Converted,
                    units,
                    revenue,
                }))
            }
            Command::Cancel { entry_id } => {
                let s = self.sku(None)?;
                let mut q = self.partial(&s, store.entry(&entry_id)?.into_iter().collect())?;
                let effects = q
                    .cancel(&entry_id)
                    .ok_or_else(|| Error::Conflict("not_cancellable", "this entry is no longer waiting".into()))?;
                let mut rows = Vec::new();
                for fx in &effects {
                    if let Effect::Save(e) = fx {
                        if e.kind == EntryKind::Backorder {
                            let data = events::entry_data(&s.shop, &s.name, e, None);
                            rows.extend(events::rows(&s.shop, "backorder.cancel_requested", &e.id, &e.id, data, now));
                        }
                    }
                }
                save(store, &q, &effects, &self.cause, now)?;
                write_messages(store, &rows, &self.cause, now)?;
                Ok(Answer::Cancelled(Cancelled { entry_id, status: EntryStatus::Cancelled }))
            }
            Command::Confirm { entry_id } => {
                let s = self.sku(None)?;
                let mut q = self.partial(&s, store.entry(&entry_id)?.into_iter().collect())?;
                let effects = q.confirm(&entry_id).ok_or_else(|| {
                    Error::Conflict("not_pending", "this signup is not waiting for a confirmation".into())
                })?;
                self.apply(&q, &s, &effects, Extras::default())?;
                let entry = self.known_entry(&entry_id)?;
                let position = self.place(&entry)?;
                let consent = store.consent(&entry_id)?;
                let marketing = messages::marketing_consented(consent.as_ref());
                write_messages(store, &joined_events(&s, position, &entry, marketing, now), &self.cause, now)?;
                if let Some(mut c) = consent {
                    c["confirmed_at"] = format_timestamp_ms(now).into();
                    store.set_consent(&entry_id, &c)?;
                }
                Ok(Answer::Confirmed(Confirmed {
                    position,
                    entry_id,
                    status: EntryStatus::Waiting,
                    email_key: entry.email_key,
                }))
            }
            Command::Engage { entry_id } => {
                let s = self.sku(None)?;
                let mut q = self.partial(&s, store.entry(&entry_id)?.into_iter().collect())?;
                let effects = q.engage(&entry_id).unwrap_or_default();
                save(store, &q, &effects, &self.cause, now)?;
                Ok(Answer::Engaged(Engaged { entry_id, engaged: true }))
            }
            Command::Unsubscribe { entry_id } => {
                let s = self.sku(None)?;
                let entry = self.known_entry(&entry_id)?;
                self.leave(&s, std::slice::from_ref(&entry))?;
                Ok(Answer::Unsubscribed(Unsubscribed { entry_id: entry.id, email_key: entry.email_key }))
            }
            // Paid backorders stay (the order stands); an unconfirmed signup is the one way back.
            Command::OptedOut { entry_ids } => self.leave_line(
                &entry_ids,
                |e| e.is_live() && e.kind != EntryKind::Backorder && e.status != EntryStatus::PendingConfirmation,
                UNSUBSCRIBED,
            ),
            // Only an entry still holding the offer's units leaves.
            Command::Undeliverable { entry_ids } => self.leave_line(
                &entry_ids,
                |e| e.status == EntryStatus::Offered,
                "skipped: the offer could not be delivered",
            ),
            Command::Export { email_key, phone } => {
                let sku = store.meta("sku")?.unwrap_or_default();
                let mut out = Vec::new();
                for e in self.entries_of(email_key.as_deref(), phone.as_deref())? {
                    out.push(ExportedEntry {
                        sku: sku.clone(),
                        consent: store.consent(&e.id)?,
                        messages: store.messages_of(&e.id)?,
                        audit: store.audit_of(&e.id)?,
                        entry_id: e.id,
                        email: e.email,
                        phone: e.phone,
                        sms_consent: e.sms_consent,
                        locale: e.locale,
                        kind: e.kind,
                        quantity: e.quantity,
                        order_id: e.order_id,
                        status: e.status,
                        created_at: e.created_at,
                    });
                }
                Ok(Answer::Export(out))
            }
            Command::Erase { email_key, phone } => {
                let entries = self.entries_of(email_key.as_deref(), phone.as_deref())?;
                // The addresses as stored (what Klaviyo was given), for the Worker's deletion request.
                let mut addresses: Vec<String> =
                    entries.iter().map(|e| e.email.clone()).filter(|a| a != "erased").collect();
                addresses.sort();
                addresses.dedup();
                let sku = self.sku(None).ok();
                if let Some(s) = &sku {
                    // The entries leave the line; units one held go to the next in line at once.
                    self.leave(s, &entries)?;
                }
                for e in &entries {
                    store.erase_entry(&e.id, &format!("erased:{}", e.id))?;
                }
                // The merchant's systems hear of it too (ids only: nothing personal is left to send).
                if let Some(s) = &sku {
                    for e in &entries {
                        let data = serde_json::json!({"shop": s.shop.shop, "sku": s.name, "entry_id": e.id});
                        write_messages(
                            store,
                            &events::rows(&s.shop, "entry.erased", &e.id, &e.id, data, now),
                            &self.cause,
                            now,
                        )?;
                    }
                }
                Ok(Answer::Erased(Erased { erased_entries: entries.len() as u32, addresses }))
            }
            Command::Audit { entry_id } => {
                let s = self.sku(None)?;
                let e = self.known_entry(&entry_id)?;
                let q = self.queue(&s)?;
                Ok(Answer::Audit(Box::new(AuditView {
                    sku: s.name,
                    consent: store.consent(&e.id)?,
                    messages: store.messages_of(&e.id)?.iter().filter_map(|r| r.view()).collect(),
                    trail: store.audit_of(&e.id)?,
                    entry: AuditedEntry {
                        position: q.position(&e.id),
                        entry_id: e.id,
                        email: e.email,
                        phone: e.phone,
                        sms_consent: e.sms_consent,
                        kind: e.kind,
                        status: e.status,
                        quantity: e.quantity,
                        units: e.units,
                        order_id: e.order_id,
                        created_at: e.created_at,
                        hold_until: e.hold_until,
                    },
                })))
            }
            Command::DryRun { shop, location, available } => {
                let s = Sku { shop, ..self.sku(None)? };
                let mut q = self.queue(&s)?;
                let before = q.available();
                let sellable = s.shop.sellable_locations.as_deref();
                let location_sellable = is_sellable(&location, sellable);
                let others: Vec<Level> = store.levels()?.into_iter().filter(|l| l.location != location).collect();
                let after = sellable_units(&others, sellable) + if location_sellable { available.max(0) } else { 0 };
                let effects = q.set_level(after, now);
                let messages = self.render(&q, &s, &effects, Extras::default());
                let positions = q.positions();
                let would_send = messages
                    .iter()
                    .map(|m| WouldSend {
                        entry_id: m.entry_id.clone(),
                        channel: m.channel.as_str().to_owned(),
                        kind: m.kind.clone(),
                        to: m.to.clone(),
                        subject: self.preview_subject(&s, m),
                        position: positions.get(m.entry_id.as_str()).copied(),
                    })
                    .collect();
                Ok(Answer::DryRun(DryRun {
                    dry_run: true,
                    location,
                    location_sellable,
                    available_before: before,
                    available_after: q.available(),
                    would_send,
                }))
            }
            Command::Claim { entry_id } => {
                let s = self.sku(None)?;
                let entry = self.known_entry(&entry_id)?;
                let live = match entry.status {
                    EntryStatus::Offered => entry.hold_until.is_some_and(|t| t > now),
                    EntryStatus::Notified => {
                        sellable_units(&store.levels()?, s.shop.sellable_locations.as_deref()) - self.promised()? > 0
                    }
                    _ => false,
                };
                Ok(Answer::Claim(ClaimView {
                    entry_id: entry.id,
                    status: entry.status,
                    units: entry.units,
                    hold_until: entry.hold_until,
                    live,
                    title: s.config.title,
                    url: s.config.url,
                }))
            }
            Command::SetEta { shop, event_id, eta, updated_at_ms } => {
                let s = self.sku(Some(shop))?;
                if self.seen(&event_id)? {
                    return Ok(Answer::Outcome(Outcome::new("duplicate")));
                }
                if updated_at_ms < store.int("eta_updated_at")? {
                    store.put_event(&event_id, EventOutcome::Stale, now)?;
                    return Ok(Answer::Outcome(Outcome { eta: Some(s.config.eta), ..Outcome::new("stale") }));
                }
                store.put_event(&event_id, EventOutcome::Applied, now)?;
                store.set_meta("eta_updated_at", &updated_at_ms.to_string())?;
                if s.config.eta == eta {
                    return Ok(Answer::Outcome(Outcome { eta: Some(eta), ..Outcome::new("unchanged") }));
                }
                let mut q = self.queue(&s)?;
                let effects = q.set_eta(eta);
                let old_text = s.eta_text(now);
                let s = Sku { config: SkuConfig { eta, ..s.config }, ..s };
                store.set_json("config", &s.config)?;
                let messages =
                    self.render(&q, &s, &effects, Extras { old_eta_text: Some(&old_text), ..Extras::default() });
                self.commit(&q, &effects, &messages)?;
                let told = messages.iter().filter(|m| m.channel == Channel::Email).count() as u32;
                Ok(Answer::Outcome(Outcome {
                    eta: Some(eta),
                    eta_text: Some(s.eta_text(now)),
                    told: Some(told),
                    ..Outcome::new("applied")
                }))
            }
            Command::Listing { shop, sku, title, url, variant_id, inventory_item_id } => {
                let title: String = title.chars().take(300).collect();
                let existing: Option<SkuConfig> = store.json("config")?;
                let created = existing.is_none();
                let config = match existing {
                    Some(c) => SkuConfig {
                        title,
                        url: url.or(c.url.clone()),
                        shopify_variant_id: variant_id.or(c.shopify_variant_id),
                        shopify_inventory_item_id: inventory_item_id.or(c.shopify_inventory_item_id),
                        ..c
                    },
                    None => SkuConfig {
                        title,
                        url,
                        mode: Mode::Restock,
                        eta: None,
                        shopify_inventory_item_id: inventory_item_id,
                        hold_hours: None,
                        shopify_variant_id: variant_id,
                        klaviyo_list_id: None,
                    },
                };
                store.set_meta("sku", &sku)?;
                store.set_json("shop", &shop)?;
                store.set_json("config", &config)?;
                Ok(Answer::Listing(ListingResult { sku, created, config }))
            }
            Command::Order { shop, event_id, entry_id, order_id, email, phone, quantity, revenue, ordered_at_ms } => {
                let s = self.sku(Some(shop))?;
                if self.seen(&event_id)? {
                    return Ok(Answer::Outcome(Outcome::new("duplicate")));
                }
                store.put_event(&event_id, EventOutcome::Applied, now)?;
                let email = email.as_deref().and_then(|e| Email::parse(e).ok());
                let mut matched = match &email {
                    Some(e) => self.entry_by_key(&e.key())?,
                    None => None,
                };
                if matched.is_none() {
                    if let Some(p) = &phone {
                        matched = self.newest_waitlist_entry(Lookup::Phone(p))?;
                    }
                }
                let offered = |e: &Entry| matches!(e.status, EntryStatus::Offered | EntryStatus::Notified);
                if let Some(entry) = matched.filter(offered) {
                    let mut q = self.queue(&s)?;
                    let effects = q.convert(&entry.id).unwrap_or_default();
                    let events = converted_event(&s, &effects, &order_id, revenue, now);
                    self.commit(&q, &effects, &events)?;
                    store.set_conversion(&entry.id, &order_id, revenue)?;
                    return Ok(Answer::Outcome(Outcome {
                        entry_id: Some(entry.id),
                        revenue: Some(revenue),
                        ..Outcome::new("converted")
                    }));
                }
                let levels = store.levels()?;
                let backorder = s.config.mode == Mode::Backorder || oversold(&levels, &s.shop, quantity, ordered_at_ms);
                match (backorder, email) {
                    (true, Some(email)) => {
                        let (_, entry) =
                            self.join_backorder(&s, entry_id, order_id, email, phone, quantity, ordered_at_ms)?;
                        Ok(Answer::Outcome(Outcome { entry: Some(entry), ..Outcome::new("backorder") }))
                    }
                    (true, None) => {
                        Ok(Answer::Outcome(Outcome { reason: Some("no_email".into()), ..Outcome::new("ignored") }))
                    }
                    (false, _) => {
                        Ok(Answer::Outcome(Outcome { reason: Some("in_stock_sale".into()), ..Outcome::new("ignored") }))
                    }
                }
            }
            Command::OrderCancelled { shop, order_id } => {
                let s = self.sku(Some(shop))?;
                let mut q = self.queue(&s)?;
                let mut cancelled = Vec::new();
                for e in store.find_entries(Lookup::Order(&order_id))? {
                    if e.kind == EntryKind::Backorder {
                        if let Some(effects) = q.cancel(&e.id) {
                            self.commit(&q, &effects, &[])?;
                            store.skip_pending(&e.id, "skipped: order cancelled", &self.cause, now)?;
                            cancelled.push(e.id);
                        }
                    }
                }
                let outcome = if cancelled.is_empty() { "ignored" } else { "cancelled" };
                Ok(Answer::Outcome(Outcome { entries: Some(cancelled), ..Outcome::new(outcome) }))
            }
            Command::Shipped { shop, order_id, occurrence, shipment } => {
                let s = self.sku(Some(shop))?;
                let mut q = self.queue(&s)?;
                let mut told = Vec::new();
                for e in store.find_entries(Lookup::Order(&order_id))? {
                    let was_live = e.is_live();
                    let id = e.id.clone();
                    let effects = q.ship(e, occurrence);
                    let extras = Extras { shipment: Some(&shipment), ..Extras::default() };
                    let mut messages = self.render(&q, &s, &effects, extras);
                    if was_live {
                        messages.extend(converted_event(&s, &effects, &order_id, 0.0, now));
                    }
                    if messages.iter().any(|m| m.channel == Channel::Email) {
                        told.push(id);
                    }
                    self.commit(&q, &effects, &messages)?;
                }
                let outcome = if told.is_empty() { "ignored" } else { "notified" };
                Ok(Answer::Outcome(Outcome { entries: Some(told), ..Outcome::new(outcome) }))
            }
            Command::Import { shop, entries } => {
                let s = self.sku(Some(shop))?;
                let mut q = self.queue(&s)?;
                let (mut imported, mut skipped) = (Vec::new(), Vec::new());
                let mut saves = Vec::new();
                for e in entries {
                    let Ok(email) = Email::parse(&e.email) else {
                        skipped.push(Skipped { email: e.email, reason: "invalid_email".into(), entry_id: None });
                        continue;
                    };
                    let existing = self.entry_by_key(&email.key())?.or_else(|| {
                        q.entries()
                            .iter()
                            .find(|x| x.email_key == email.key() && x.kind != EntryKind::Backorder)
                            .cloned()
                    });
                    let new = NewEntry {
                        id: e.entry_id,
                        email,
                        phone: e.phone,
                        sms_consent: e.sms_consent,
                        locale: e.locale,
                        kind: s.entry_kind(),
                        quantity: e.quantity,
                        order_id: None,
                        at: e.signed_up_at_ms,
                    };
                    match q.join(existing, new, now) {
                        Joined::Existing(x) => skipped.push(Skipped {
                            email: x.email,
                            reason: "already_on_list".into(),
                            entry_id: Some(x.id),
                        }),
                        // Imported shoppers signed up elsewhere and were confirmed there: no new email.
                        Joined::Created(x, fx) => {
                            imported.push(Imported { position: q.position(&x.id), entry_id: x.id, email: x.email });
                            saves.extend(fx.into_iter().filter(|f| matches!(f, Effect::Save(_))));
                        }
                    }
                }
                self.commit(&q, &saves, &[])?;
                Ok(Answer::Import(ImportResult { imported, skipped, waiting: q.waiting() }))
            }
            Command::Deliveries => {
                let log = store
                    .recent_messages(Some(Channel::Hook), 500)?
                    .into_iter()
                    .map(|r| Delivery {
                        payload: serde_json::from_str(&r.text).unwrap_or_default(),
                        next_at: (r.status == "pending").then_some(r.next_at),
                        id: r.key,
                        event: r.kind,
                        endpoint: r.from_addr,
                        url: r.to_addr,
                        status: r.status,
                        attempts: r.attempts,
                        created_at: r.created_at,
                        sent_at: r.sent_at,
                        last_error: r.last_error,
                    })
                    .collect();
                Ok(Answer::Deliveries(log))
            }
            Command::Purge => {
                store.purge()?;
                Ok(Answer::Purged(Purged { purged: true }))
            }
            Command::Seed { count } => {
                let s = self.sku(None)?;
                // Seeded entries are alike: one wake for all, one pass over the tree.
                let policy = s.shop.policy(&s.config);
                let probe = Entry { created_at: now, ..Entry::test("seed", store.next_seq()?) };
                let wake = wake_of(&probe, s.config.eta.as_ref(), &policy);
                let first = store.seed_waiting(count, now, wake)?;
                if count > 0 {
                    line::add_range(store, first, first + count - 1)?;
                }
                Ok(Answer::Seeded(Seeded { seeded: count, first_seq: first }))
            }
            Command::Tick => {
                self.due()?;
                if let Ok(s) = self.sku(None) {
                    self.fan_out(&s)?;
                }
                Ok(Answer::Ticked(Ticked { ok: true }))
            }
            Command::Queue { after, limit, search } => {
                let s = self.sku(None)?;
                let limit = limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
                // One page, its places from the index and its messages in one query: the cost
                // of a page, not of the line.
                let mut page = match search.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
                    Some(q) => {
                        let mut found = store.find_entries(Lookup::Order(q))?;
                        if let Ok(email) = Email::parse(q) {
                            for e in store.find_entries(Lookup::EmailKey(&email.key()))? {
                                if !found.iter().any(|f| f.id == e.id) {
                                    found.push(e);
                                }
                            }
                        }
                        found.sort_by_key(|e| e.seq);
                        found.retain(|e| e.seq > after);
                        found.truncate(limit as usize + 1);
                        found
                    }
                    None => store.entries_after(after, limit + 1)?,
                };
                let next_after = if page.len() > limit as usize {
                    page.truncate(limit as usize);
                    page.last().map(|e| e.seq)
                } else {
                    None
                };
                let ids: Vec<String> = page.iter().map(|e| e.id.clone()).collect();
                let mut messages: std::collections::HashMap<String, Vec<shared::wire::MessageView>> =
                    std::collections::HashMap::new();
                for r in store.messages_of_entries(&ids)? {
                    if let Some(v) = r.view() {
                        messages.entry(r.entry_id.clone()).or_default().push(v);
                    }
                }
                let mut entries = Vec::with_capacity(page.len());
                for e in page {
                    entries.push(QueueEntryView {
                        position: self.place(&e)?,
                        messages: messages.remove(&e.id).unwrap_or_default(),
                        entry_id: e.id,
                        seq: e.seq,
                        email: e.email,
                        kind: e.kind,
                        quantity: e.quantity,
                        units: e.units,
                        order_id: e.order_id,
                        status: e.status,
                        created_at: e.created_at,
                        hold_until: e.hold_until,
                    });
                }
                let sellable = s.shop.sellable_locations.as_deref();
                let levels: Vec<Level> = store.levels()?;
                let available = sellable_units(&levels, sellable);
                let levels = levels
                    .into_iter()
                    .map(|l| LocationLevel {
                        sellable: is_sellable(&l.location, sellable),
                        location: l.location,
                        available: l.available,
                    })
                    .collect();
                let alarm_failure = store.json::<Option<AlarmFailure>>(ALARM_FAILURE)?.flatten();
                Ok(Answer::Queue(QueueView { sku: s.name, available, levels, entries, next_after, alarm_failure }))
            }
            Command::Mailbox => {
                // Rows not sent yet show as they will go out.
                let rows = store.recent_messages(None, 500)?;
                let s = if rows.iter().any(|r| r.inputs.is_some()) { Some(self.sku(None)?) } else { None };
                Ok(Answer::Mailbox(
                    rows.into_iter()
                        .map(|mut r| {
                            if let (Some(s), Some(inputs)) = (&s, r.inputs.take()) {
                                if let Ok((b, _)) =
                                    messages::body(self.links, s, &r.channel, &r.kind, &r.entry_id, &inputs)
                                {
                                    (r.subject, r.html, r.text, r.unsubscribe_url) =
                                        (b.subject, b.html, b.text, b.unsubscribe_url);
                                }
                            }
                            r
                        })
                        .collect(),
                ))
            }
        }
    }

    /// Records an inventory event: `Duplicate` if its id was seen, `Stale` if the location already
    /// holds a newer level, else stores the level (`None`: the location is gone).
    fn record_level(
        &self,
        event_id: &str,
        location: &str,
        available: Option<i64>,
        updated_at: i64,
    ) -> Result<EventOutcome> {
        if self.seen(event_id)? {
            return Ok(EventOutcome::Duplicate);
        }
        let newer = self.store.levels()?.iter().any(|l| l.location == location && l.updated_at > updated_at);
        let outcome = if newer { EventOutcome::Stale } else { EventOutcome::Applied };
        if outcome == EventOutcome::Applied {
            match available {
                Some(n) => self.store.put_level(&Level { location: location.into(), available: n, updated_at })?,
                None => self.store.delete_level(location)?,
            }
        }
        self.store.put_event(event_id, outcome, self.now)?;
        Ok(outcome)
    }

    /// A paid order waiting for stock joins (or is found by its order id), served before the line.
    #[allow(clippy::too_many_arguments)]
    fn join_backorder(
        &self,
        s: &Sku,
        entry_id: String,
        order_id: String,
        email: Email,
        phone: Option<String>,
        quantity: u32,
        ordered_at_ms: i64,
    ) -> Result<(bool, SignupResponse)> {
        let existing = self.entry_by_order(&order_id)?;
        let new = NewEntry {
            id: entry_id,
            email,
            phone,
            sms_consent: false,
            locale: None,
            kind: EntryKind::Backorder,
            quantity,
            order_id: Some(order_id),
            at: ordered_at_ms,
        };
        self.join(s, existing, new, false, true, false)
    }

    /// Joins (or finds) an entry and writes what that causes. `confirm_first`: double opt-in.
    /// `confirmation_allowed`: false when this address got a confirmation from the shop within
    /// the window (the Worker knows, shop-wide).
    fn join(
        &self,
        s: &Sku,
        existing: Option<Entry>,
        new: NewEntry,
        confirm_first: bool,
        confirmation_allowed: bool,
        marketing: bool,
    ) -> Result<(bool, SignupResponse)> {
        let now = self.now;
        // A paid backorder may be served from stock at once, which concerns everyone promised
        // units: it takes the whole live queue. Anyone else joins at the back and changes no one.
        let backorder = new.kind == EntryKind::Backorder;
        let mut q = if backorder { self.queue(s)? } else { self.partial(s, Vec::new())? };
        let joined = if confirm_first { q.join_unconfirmed(existing, new, now) } else { q.join(existing, new, now) };
        let (entry, created, effects) = match joined {
            Joined::Existing(e) => (e, false, Vec::new()),
            Joined::Created(e, fx) => (e, true, fx),
        };
        // One confirmation per address per window, shop-wide: a victim's address typed into many
        // forms gets one email, not one per form.
        let (render_fx, held_back): (Vec<Effect>, Vec<Effect>) = effects.iter().cloned().partition(|fx| {
            confirmation_allowed
                || !matches!(fx, Effect::Send(o) if matches!(o.kind, MessageKind::SignupConfirmation | MessageKind::ConfirmSignup))
        });
        for fx in &held_back {
            if let Effect::Send(o) = fx {
                let why = "not sent: this address got a confirmation from the shop within the last 15 minutes";
                self.note(&o.entry_id, "skipped", &format!("email {}: {why}", o.kind.as_str()))?;
            }
        }
        if backorder {
            let mut messages = self.render(&q, s, &render_fx, Extras::default());
            if created {
                messages.extend(joined_events(s, q.position(&entry.id), &entry, marketing, now));
            }
            self.commit(&q, &effects, &messages)?;
            return Ok((created, s.answer_for(&q, entry, now)));
        }
        self.apply(&q, s, &render_fx, Extras::default())?;
        let answer = self.answer_indexed(s, entry.clone())?;
        // With double opt-in, the shopper has joined once they confirm.
        if created && entry.status != EntryStatus::PendingConfirmation {
            write_messages(self.store, &joined_events(s, answer.position, &entry, marketing, now), &self.cause, now)?;
        }
        Ok((created, answer))
    }

    /// What is due by now: hold ends and timed messages. Reads the entries whose wake is due (at
    /// most [`DUE_CHUNK`]), the lapsed holds and the waiting entries their units can pass on to,
    /// never the whole line.
    fn due(&self) -> Result<()> {
        let Ok(s) = self.sku(None) else {
            return Ok(());
        };
        let store = self.store;
        if store.first_wake()?.is_some_and(|t| t <= self.now) {
            let due = store.scan(Scan::Due { now: self.now }, DUE_CHUNK)?;
            let mut entries = due.clone();
            let lapsed = store.scan(Scan::LapsedHolds { now: self.now }, u32::MAX)?;
            if !lapsed.is_empty() {
                let total = sellable_units(&store.levels()?, s.shop.sellable_locations.as_deref());
                let free = (total - self.promised()?).clamp(0, i64::from(u32::MAX)) as u32;
                entries.extend(lapsed);
                entries.extend(store.scan(Scan::InLine { status: EntryStatus::Waiting, after: 0 }, free)?);
            }
            let mut seen = std::collections::HashSet::new();
            entries.retain(|e| seen.insert(e.id.clone()));
            let mut q = self.partial(&s, entries)?;
            let effects = q.due(self.now);
            self.apply(&q, &s, &effects, Extras::default())?;
            // A wake that named no work (written under older rules) is set right, not read again.
            let saved: std::collections::HashSet<&str> = effects
                .iter()
                .filter_map(|fx| match fx {
                    Effect::Save(e) => Some(e.id.as_str()),
                    _ => None,
                })
                .collect();
            for e in due.iter().filter(|e| !saved.contains(e.id.as_str())) {
                store.set_wake(&e.id, wake_of(e, q.eta(), q.policy()).filter(|t| *t > self.now))?;
            }
        }
        Ok(())
    }

    /// The next chunk of the newest restock's sold-out messages, in line order, from its cursor;
    /// the cursor moves in the same write. Each message's trail names the restock it is for.
    fn fan_out(&self, s: &Sku) -> Result<()> {
        let Some(f) = stored_fanout(self.store)? else {
            return Ok(());
        };
        let (entries, complete) = self.in_line_prefix(f.after, FANOUT_CHUNK)?;
        let upto = complete.min(f.through);
        let mut q = self.partial(s, entries)?;
        let effects = q.fan_out(upto);
        let cx = Cx {
            store: self.store,
            links: self.links,
            cause: format!("restock {}: sold out again", f.restock),
            now: self.now,
            warnings: Vec::new().into(),
        };
        cx.apply(&q, s, &effects, Extras::default())?;
        self.warnings.borrow_mut().extend(cx.warnings.into_inner());
        Ok(())
    }
}

/// An order oversold the SKU: the sellable stock is below zero once it is counted (the level may
/// already include it, if the store's inventory update came first). No level known: not oversold.
fn oversold(levels: &[Level], shop: &ShopContext, quantity: u32, ordered_at_ms: i64) -> bool {
    if levels.is_empty() {
        return false;
    }
    let sellable = shop.sellable_locations.as_deref();
    let counted: Vec<&Level> = levels.iter().filter(|l| is_sellable(&l.location, sellable)).collect();
    let raw: i64 = counted.iter().map(|l| l.available).sum();
    let updated_at = counted.iter().map(|l| l.updated_at).max().unwrap_or(0);
    let after = if updated_at >= ordered_at_ms { raw } else { raw - i64::from(quantity) };
    after < 0
}

/// Writes the queue's counters, the entries the effects saved (with a trail line for each status
/// change) and the messages they enqueue (a message whose key exists is not written again).
pub(crate) fn commit<S: Store + ?Sized>(
    store: &S,
    queue: &Queue,
    effects: &[Effect],
    messages: &[NewMessage],
    cause: &str,
    now: i64,
) -> Result<()> {
    save(store, queue, effects, cause, now)?;
    write_messages(store, messages, cause, now)
}

/// Writes the queue's counters and the entries the effects saved, each with its place in the
/// index (`line.rs`) and its next wake, and a trail line for each status change.
fn save<S: Store + ?Sized>(store: &S, queue: &Queue, effects: &[Effect], cause: &str, now: i64) -> Result<()> {
    store.set_meta("restock_seq", &queue.counters().restock_seq.to_string())?;
    store.set_meta("eta_version", &queue.counters().eta_version.to_string())?;
    let fanout = queue.counters().fanout;
    if stored_fanout(store)? != fanout {
        store.set_json(FANOUT, &fanout)?;
    }
    let saves: Vec<&Entry> = effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Save(e) => Some(e),
            _ => None,
        })
        .collect();
    if saves.is_empty() {
        return Ok(());
    }
    // One read of every saved entry as stored, then each save in order against the one before
    // it, then one write of each kind: a restock's thousand offers are a handful of statements.
    let mut ids: Vec<&str> = saves.iter().map(|e| e.id.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    let mut current: std::collections::HashMap<String, Entry> =
        store.entries_by_id(&ids)?.into_iter().map(|e| (e.id.clone(), e)).collect();
    let mut counts = line::LineCounts::default();
    let mut trail = Vec::new();
    let mut wakes = Vec::new();
    for &e in &saves {
        let before = current.get(&e.id);
        let was = before.map(|b| b.status);
        if was != Some(e.status) {
            let mut detail = match was {
                Some(b) => format!("{} → {}", b.as_str(), e.status.as_str()),
                None => format!("joined as {} ({} wanted)", e.status.as_str(), e.quantity),
            };
            if e.units > 0 {
                detail.push_str(&format!(", {} unit(s)", e.units));
            }
            if let Some(t) = e.hold_until {
                detail.push_str(&format!(", held until {}", format_timestamp_ms(t)));
            }
            let row = crate::store::AuditRow { at: now, event: "state".into(), detail, cause: cause.into() };
            trail.push((e.id.as_str(), row));
        }
        counts += line::delta(before, e);
        line::place(store, before, e)?;
        let wake = wake_of(e, queue.eta(), queue.policy());
        let woke = before.map(|b| wake_of(b, queue.eta(), queue.policy()));
        if woke != Some(wake) {
            wakes.push((e.id.as_str(), wake));
        }
        current.insert(e.id.clone(), e.clone());
    }
    store.put_audits(&trail)?;
    // The newest save of each entry, in the order the entries were first saved.
    let newest: Vec<&Entry> = ids.iter().filter_map(|id| current.get(*id)).collect();
    store.put_entries(&newest)?;
    store.set_wakes(&wakes)?;
    Ok(line::apply(store, &counts)?)
}

fn write_messages<S: Store + ?Sized>(store: &S, messages: &[NewMessage], cause: &str, now: i64) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let written = store.put_messages(messages, now)?;
    let trail: Vec<(&str, crate::store::AuditRow)> = messages
        .iter()
        .zip(written)
        .filter(|(_, written)| *written)
        .map(|(m, _)| {
            let detail = format!("{} {} ({})", m.channel.as_str(), m.kind, m.key);
            (
                m.entry_id.as_str(),
                crate::store::AuditRow { at: now, event: "queued".into(), detail, cause: cause.into() },
            )
        })
        .collect();
    Ok(store.put_audits(&trail)?)
}

/// `waitlist.joined` and the Klaviyo signup for a new entry in line (`marketing`: the shopper
/// also ticked the shop's marketing checkbox).
fn joined_events(s: &Sku, position: Option<u32>, entry: &Entry, marketing: bool, now: i64) -> Vec<NewMessage> {
    let data = events::entry_data(&s.shop, &s.name, entry, position);
    let mut out = events::rows(&s.shop, "waitlist.joined", &entry.id, &entry.id, data, now);
    if entry.kind != EntryKind::Backorder {
        out.extend(messages::klaviyo_joined(s, entry, position, marketing, now));
    }
    out
}

/// `entry.converted` for the entries the effects converted.
fn converted_event(s: &Sku, effects: &[Effect], order_id: &str, revenue: f64, now: i64) -> Vec<NewMessage> {
    effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Save(e) if e.status == EntryStatus::Converted => Some(e),
            _ => None,
        })
        .flat_map(|e| {
            let mut data = events::entry_data(&s.shop, &s.name, e, None);
            data["converted_order"] = order_id.into();
            data["revenue"] = revenue.into();
            events::rows(&s.shop, "entry.converted", &e.id, &e.id, data, now)
        })
        .collect()
}

/// The `meta` key of the scheduled work's failure record.
const ALARM_FAILURE: &str = "alarm_failure";

/// The SKU's scheduled work failed (`error`): counts the failure, records why and answers when to
/// try again (backoff: `AlarmFailure::backoff_ms`). Written outside any command's transaction.
pub fn alarm_failed<S: Store + ?Sized>(store: &S, error: &str, now: i64) -> Result<i64> {
    let failures = store.json::<Option<AlarmFailure>>(ALARM_FAILURE)?.flatten().map_or(0, |f| f.failures) + 1;
    let retry_at = now + AlarmFailure::backoff_ms(failures);
    let error: String = error.chars().take(500).collect();
    store.set_json(ALARM_FAILURE, &AlarmFailure { failures, error, at: now, retry_at })?;
    Ok(retry_at)
}

/// The scheduled work ran: a failure record, if any, is cleared.
pub fn alarm_succeeded<S: Store + ?Sized>(store: &S) -> Result<()> {
    if store.meta(ALARM_FAILURE)?.is_some_and(|v| v != "null") {
        store.set_meta(ALARM_FAILURE, "null")?;
    }
    Ok(())
}
