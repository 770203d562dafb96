//! `SkuQueue` Durable Object: one per (shop, SKU), the single writer of that SKU's waitlist.
//!
//! Thin by design: decode the command → `waitlist::handle` over the object's SQLite store →
//! schedule the alarm → answer. The rules live in the `waitlist` crate, tested natively; delivery
//! of queued messages happens in `alarm` (`delivery.rs`).
//!
//! Concurrency assumption: a Durable Object handles one event at a time, and a command reads,
//! decides and writes with no `await` in between (`waitlist::Store` is synchronous). Each command
//! runs inside one `transactionSync`, so its SQLite writes (state change + outbox rows) commit
//! together, and a command that fails part-way keeps nothing. Only `alarm` awaits (provider
//! calls), and it re-reads what it needs after each await.

use crate::clock::real_now;
use crate::config::Config;
use crate::delivery;
use crate::error::AppError;
use crate::protocol::SkuRequest;
use crate::store::SqlStore;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use waitlist::links::LinkKeys;
use waitlist::{Deployment, Handled};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct SkuQueue {
    state: State,
    env: Env,
    /// The object's store, opened (schema created and migrated) by its first event: only this
    /// instance writes its database, so the schema cannot change under it.
    store: RefCell<Option<Rc<SqlStore>>>,
    /// The alarm this instance set that has not run yet (real-clock ms).
    alarm_at: Cell<Option<f64>>,
}

impl SkuQueue {
    fn store(&self) -> Result<Rc<SqlStore>> {
        if let Some(store) = self.store.borrow().as_ref() {
            return Ok(Rc::clone(store));
        }
        let store = Rc::new(SqlStore::open(self.state.storage().sql())?);
        *self.store.borrow_mut() = Some(Rc::clone(&store));
        Ok(store)
    }
}

impl DurableObject for SkuQueue {
    fn new(state: State, env: Env) -> Self {
        SkuQueue { state, env, store: RefCell::new(None), alarm_at: Cell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // serde_json, not the runtime's JSON.parse: Shopify ids above 2^53 must keep every digit.
        let request: SkuRequest = match serde_json::from_str(&req.text().await?) {
            Ok(c) => c,
            Err(e) => return AppError::Internal(format!("bad internal command: {e}")).into_response(),
        };
        let store = self.store()?;
        let offset = request.clock_offset_ms;
        if store.clock_offset()? != offset {
            store.set_clock_offset(offset)?;
        }
        let now = real_now() + offset;
        let deployment = deployment(&Config::of(&self.env));
        let read_only = request.cmd.is_read_only();
        let cmd = request.cmd;
        let (handled, (read, written)) =
            atomically(&self.state, &store, move |store| waitlist::handle(store, &deployment, cmd, now))?;
        log(&handled);
        if !read_only {
            self.schedule(&store, now, offset, None).await?;
        }
        let mut resp = match handled.result {
            Ok(answer) => Response::from_json(&answer)?.with_status(answer.status()),
            Err(e) => AppError::from(e).into_response()?,
        };
        // What the command cost in rows (`bench/scale.mjs` reads them through the dev edge).
        resp.headers_mut().set(ROWS_READ, &read.to_string())?;
        resp.headers_mut().set(ROWS_WRITTEN, &written.to_string())?;
        resp.headers_mut().set(DB_BYTES, &self.state.storage().sql().database_size().to_string())?;
        Ok(resp)
    }

    /// Runs what is due. A run that fails is recorded (`waitlist::alarm_failed`: why, how many
    /// in a row, shown in the admin's queue view) and re-armed with backoff, so a SKU never stalls
    /// on an error; the next run that succeeds clears the record.
    async fn alarm(&self) -> Result<Response> {
        self.alarm_at.set(None);
        let store = self.store()?;
        let offset = store.clock_offset()?;
        let cfg = Config::of(&self.env);
        match self.run_alarm(&store, &cfg, offset).await {
            Ok(paced_until) => {
                waitlist::alarm_succeeded(&*store).map_err(|e| worker::Error::RustError(e.to_string()))?;
                self.schedule(&store, real_now() + offset, offset, paced_until).await?;
            }
            Err(e) => {
                worker::console_error!("scheduled work failed: {e}");
                let retry_at = waitlist::alarm_failed(&*store, &e.to_string(), real_now() + offset)
                    .map_err(|e| worker::Error::RustError(e.to_string()))?;
                let at = (retry_at - offset) as f64;
                self.state.storage().set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&at.into()))).await?;
                self.alarm_at.set(Some(at));
            }
        }
        Response::empty()
    }
}

impl SkuQueue {
    /// One alarm run: due work, delivery, the entries found opted out leave the line, then the
    /// next chunk of a restock's fan-out.
    /// Answers when pacing allows the next send.
    async fn run_alarm(&self, store: &Rc<SqlStore>, cfg: &Config, offset: i64) -> Result<Option<i64>> {
        if cfg.dev_alarm_failures > 0 {
            use waitlist::Store;
            let store_err = |e: waitlist::StoreError| worker::Error::RustError(e.to_string());
            let failed: u32 =
                store.meta("dev_alarm_failpoint").map_err(store_err)?.and_then(|v| v.parse().ok()).unwrap_or(0);
            if failed < cfg.dev_alarm_failures {
                store.set_meta("dev_alarm_failpoint", &(failed + 1).to_string()).map_err(store_err)?;
                let why = format!("dev failpoint: alarm run {} of {} fails", failed + 1, cfg.dev_alarm_failures);
                return Err(worker::Error::RustError(why));
            }
        }
        let now = real_now() + offset;
        let deployment = deployment(cfg);
        let (handled, _) = atomically(&self.state, store, move |store| waitlist::run_due(store, &deployment, now))?;
        log(&handled);
        if let Err(e) = handled.result {
            return Err(worker::Error::RustError(format!("due work failed: {e}")));
        }
        let delivered = delivery::deliver_due(&self.env, cfg, store, offset).await?;
        // Addresses found on the suppression list, and entries whose offer could not be
        // delivered, leave the line: units they held go on now.
        use waitlist::command::Command;
        let distinct = |mut ids: Vec<String>| {
            ids.sort();
            ids.dedup();
            ids
        };
        let after_run = [
            Command::OptedOut { entry_ids: distinct(delivered.opted_out) },
            Command::Undeliverable { entry_ids: distinct(delivered.undeliverable) },
        ];
        for cmd in after_run {
            if let Command::OptedOut { entry_ids } | Command::Undeliverable { entry_ids } = &cmd {
                if entry_ids.is_empty() {
                    continue;
                }
            }
            let deployment = self::deployment(cfg);
            let now = real_now() + offset;
            let (left, _) =
                atomically(&self.state, store, move |store| waitlist::handle(store, &deployment, cmd, now))?;
            log(&left);
            if let Err(e) = left.result {
                return Err(worker::Error::RustError(format!("entries could not leave the line: {e}")));
            }
        }
        // A restock's next chunk of sold-out messages, written after the run's sends, so its
        // first offers never wait for the chunk; the next run delivers it.
        let deployment = self::deployment(cfg);
        let now = real_now() + offset;
        let (fanned, _) = atomically(&self.state, store, move |store| waitlist::run_fan_out(store, &deployment, now))?;
        log(&fanned);
        if let Err(e) = fanned.result {
            return Err(worker::Error::RustError(format!("the restock's fan-out failed: {e}")));
        }
        Ok(delivered.paced_until)
    }

    /// Keeps one alarm at the earliest due time: the next pending message, hold end or timed message,
    /// and no sooner than [`COALESCE_MS`] from now, so that the signups of a busy moment are sent by
    /// one run of the alarm rather than one run each. An alarm this instance already set for no
    /// later stays as it is (when it runs early, it finds nothing due and sets the next).
    /// `not_before`: the provider's pacing allows no more sends until then; `offset`: the dev clock's.
    async fn schedule(&self, store: &SqlStore, now: i64, offset: i64, not_before: Option<i64>) -> Result<()> {
        let next = waitlist::next_wake(store, now, not_before).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let Some(t) = next else {
            return Ok(());
        };
        // Alarms run on the real clock; a dev clock offset brings them forward.
        let at = (t.max(now + COALESCE_MS) - offset) as f64;
        if self.alarm_at.get().is_some_and(|set| set <= at) {
            return Ok(());
        }
        self.state.storage().set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&at.into()))).await?;
        self.alarm_at.set(Some(at));
        Ok(())
    }
}

/// How long a message due now may wait for the others of the same moment (one alarm run sends them
/// together, with one suppression check): imperceptible to a shopper, and on a drop it turns an
/// alarm run per signup into one per tenth of a second.
const COALESCE_MS: i64 = 100;

/// Response headers with the rows a command read and wrote.
pub const ROWS_READ: &str = "x-restock-rows-read";
pub const ROWS_WRITTEN: &str = "x-restock-rows-written";
/// The object's database size after the command.
pub const DB_BYTES: &str = "x-restock-db-bytes";

/// What every command and render needs from the deployment: the link key and base URL.
pub(crate) fn deployment(cfg: &Config) -> Deployment {
    Deployment { links: LinkKeys { secret: cfg.link_secret.clone(), base_url: cfg.public_base_url.clone() } }
}

fn log(handled: &Handled) {
    for w in &handled.warnings {
        worker::console_warn!("{w}");
    }
}

/// A command's result and the rows it read and wrote.
type Counted = (Handled, (u64, u64));

/// Runs `f` over the object's store inside `storage.transactionSync`: when it answers an error,
/// the closure throws and SQLite rolls back everything it wrote. (workers-rs 0.8 has no binding
/// for `transactionSync`; it is called through the raw storage object.) Answers the rows `f`
/// read and wrote beside its result. A rolled-back command leaves the store's kept `meta` rows
/// forgotten (`SqlStore::forget`).
fn atomically(state: &State, store: &Rc<SqlStore>, f: impl FnOnce(&SqlStore) -> Handled + 'static) -> Result<Counted> {
    let storage = state.as_raw().storage().map_err(worker::Error::from)?;
    let tx: js_sys::Function = js_sys::Reflect::get(&storage, &JsValue::from_str("transactionSync"))?
        .dyn_into()
        .map_err(|_| worker::Error::RustError("storage.transactionSync is not available".into()))?;
    let inner = store.clone();
    let out: Rc<RefCell<Option<Counted>>> = Rc::new(RefCell::new(None));
    let slot = out.clone();
    let body = Closure::once(move || -> std::result::Result<JsValue, JsValue> {
        let store = inner;
        let (read, written) = store.rows_counted();
        let handled = f(&store);
        let failed = handled.result.is_err();
        let (r, w) = store.rows_counted();
        *slot.borrow_mut() = Some((handled, (r - read, w - written)));
        if failed {
            Err(JsValue::from_str("command failed: rolled back"))
        } else {
            Ok(JsValue::UNDEFINED)
        }
    });
    let called = tx.call1(&storage, body.as_ref().unchecked_ref());
    let handled = out.borrow_mut().take();
    // Rolled back: the store's kept settings may hold what was not committed.
    if called.is_err() || handled.as_ref().is_none_or(|h| h.0.result.is_err()) {
        store.forget();
    }
    match (handled, called) {
        (Some(h), _) => Ok(h),
        (None, Err(e)) => Err(worker::Error::from(e)),
        (None, Ok(_)) => Err(worker::Error::RustError("transaction body did not run".into())),
    }
}
