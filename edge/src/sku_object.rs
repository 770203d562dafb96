//! `SkuQueue` Durable Object: one per (shop, SKU), the single writer of that SKU's waitlist.
//!
//! Thin by design: decode the command → call `shared` → persist the effects → schedule the alarm →
//! answer. Delivery of queued messages happens in `alarm`.
//!
//! Concurrency assumption: a Durable Object handles one event at a time, and each command here
//! reads, decides and writes with no `await` in between (`handle` is synchronous), so the runtime's
//! input/output gates make every command atomic: its SQLite writes (state change + outbox rows)
//! commit together or not at all. Only `alarm` awaits (provider calls), and it re-reads what it
//! needs after each await.

use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::mailer;
use crate::protocol::{ShopContext, SkuCommand};
use crate::store::{EventOutcome, NewMessage, Store};
use serde::Serialize;
use shared::eta::eta_phrase;
use shared::message::{render, MessageContext};
use shared::outbox::{decide, Decision};
use shared::queue::{Effect, NewEntry, Queue, Signup};
use shared::wire::{InventoryResult, MessageKind, QueueEntryView, QueueView, SignupResponse, SkuConfig, SkuState};
use shared::{Date, Email};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// Messages handed to the provider per alarm run; the alarm re-arms at once while more are due.
const DELIVERY_BATCH: u32 = 50;
const HOUR_MS: i64 = 3_600_000;

#[durable_object]
pub struct SkuQueue {
    state: State,
    env: Env,
}

/// A command's answer: status and JSON body.
struct Answer {
    status: u16,
    body: serde_json::Value,
}

fn answer<T: Serialize>(status: u16, body: &T) -> AppResult<Answer> {
    Ok(Answer { status, body: serde_json::to_value(body).map_err(|e| AppError::Internal(e.to_string()))? })
}

impl DurableObject for SkuQueue {
    fn new(state: State, env: Env) -> Self {
        SkuQueue { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let cmd: SkuCommand = match req.json().await {
            Ok(c) => c,
            Err(e) => return AppError::Internal(format!("bad internal command: {e}")).into_response(),
        };
        let store = Store::open(self.state.storage().sql())?;
        let now = now_ms();
        let result = handle(&store, cmd, now);
        self.schedule(&store, now).await?;
        match result {
            Ok(a) => Ok(Response::from_json(&a.body)?.with_status(a.status)),
            Err(e) => e.into_response(),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let store = Store::open(self.state.storage().sql())?;
        let now = now_ms();
        expire_holds(&store, now).map_err(|e| worker::Error::RustError(format!("{e:?}")))?;
        let provider = Config::from_env(&self.env).email;
        let shop = store_shop(&store).map(|s| s.shop).unwrap_or_default();
        for msg in store.due_messages(now, DELIVERY_BATCH)? {
            let attempts = msg.attempts + 1;
            let attempt = mailer::send(&provider, &msg, &shop).await;
            let after = now_ms();
            match decide(attempt, attempts as u32, after, js_sys::Math::random()) {
                Decision::Sent { provider_id } => store.mark_sent(&msg.key, attempts, after, provider_id)?,
                Decision::Retry { at, reason } => store.mark_retry(&msg.key, attempts, at, &reason)?,
                Decision::Failed { reason } => {
                    worker::console_warn!("message {} failed for good: {reason}", msg.key);
                    store.mark_failed(&msg.key, attempts, &reason)?
                }
            }
        }
        self.schedule(&store, now_ms()).await?;
        Response::empty()
    }
}

impl SkuQueue {
    /// Keeps one alarm at the earliest due time: the next pending message or hold end.
    async fn schedule(&self, store: &Store, now: i64) -> Result<()> {
        let next_hold = store.load_queue()?.next_wake();
        let next = [store.next_due()?, next_hold].into_iter().flatten().min();
        let storage = self.state.storage();
        match next {
            Some(t) => storage.set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&(t.max(now) as f64).into()))).await,
            None => Ok(()),
        }
    }
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn handle(store: &Store, cmd: SkuCommand, now: i64) -> AppResult<Answer> {
    if let SkuCommand::Configure { sku, config } = cmd {
        store.set_config(&config)?;
        store.set_sku(&sku)?;
        return answer(200, &config);
    }
    let config = store.config()?.ok_or_else(|| AppError::NotFound("unknown_sku", "this SKU is not set up for this shop".into()))?;
    let today = Date::from_unix_ms(now);
    let eta_text = eta_phrase(config.eta.as_ref(), today);
    match cmd {
        SkuCommand::Configure { .. } => unreachable!("handled above"),
        SkuCommand::State => {
            let q = store.load_queue()?;
            answer(200, &SkuState {
                sku: store.sku()?,
                title: config.title.clone(),
                mode: config.mode,
                available: q.available(),
                reserved: q.held(now),
                reserved_until: q.reserved_until(now),
                eta: config.eta,
                eta_text,
                waiting: q.waiting(),
            })
        }
        SkuCommand::Signup { shop, entry_id, email, phone, sms_consent, locale } => {
            let email = Email::parse(&email)?;
            store.set_shop(&shop)?;
            let mut q = store.load_queue()?;
            let existing = store.entry_by_key(&email.key())?;
            let new = NewEntry { id: entry_id, email, phone, sms_consent, locale };
            let (entry, status, effects) = match q.signup(existing, new, now) {
                Signup::Existing(e) => (e, 200, Vec::new()),
                Signup::Created(e, fx) => (e, 201, fx),
            };
            let messages = render_all(&q, &config, &shop, &effects, &eta_text);
            store.commit(&q, &effects, &messages, now)?;
            answer(status, &SignupResponse { position: q.position(&entry.id), entry_id: entry.id, status: entry.status, eta: config.eta, eta_text })
        }
        SkuCommand::Position { entry_id } => {
            let entry = store.entry(&entry_id)?.ok_or_else(|| AppError::NotFound("unknown_entry", "no such waitlist entry".into()))?;
            let q = store.load_queue()?;
            answer(200, &SignupResponse { position: q.position(&entry.id), entry_id: entry.id, status: entry.status, eta: config.eta, eta_text })
        }
        SkuCommand::Level { shop, event_id, location, available, updated_at_ms } => {
            store.set_shop(&shop)?;
            let hold_ms = i64::from(shop.hold_hours) * HOUR_MS;
            store.set_hold_ms(hold_ms)?;
            let outcome = store.record_level(&event_id, &location, available, updated_at_ms, now)?;
            let mut q = store.load_queue()?;
            let effects = if outcome == EventOutcome::Applied { q.set_level(q.available(), now, hold_ms) } else { Vec::new() };
            let messages = render_all(&q, &config, &shop, &effects, &eta_text);
            store.commit(&q, &effects, &messages, now)?;
            let count = |k: MessageKind| messages.iter().filter(|m| m.kind == k).count() as u32;
            answer(200, &InventoryResult {
                outcome: outcome.as_str().to_owned(),
                available: q.available(),
                offers: count(MessageKind::RestockOffer),
                sold_out_again: count(MessageKind::SoldOutAgain),
            })
        }
        SkuCommand::Queue => {
            let q = store.load_queue()?;
            let mut entries = Vec::new();
            for e in store.all_entries()? {
                entries.push(QueueEntryView {
                    position: q.position(&e.id),
                    messages: store.messages_for(&e.id)?,
                    entry_id: e.id,
                    seq: e.seq,
                    email: e.email,
                    status: e.status,
                    created_at: e.created_at,
                    hold_until: e.hold_until,
                });
            }
            answer(200, &QueueView { sku: store.sku()?, available: q.available(), entries })
        }
        SkuCommand::Mailbox => answer(200, &store.all_messages(500)?),
    }
}

/// Ends lapsed holds and passes their units on (called from the alarm).
fn expire_holds(store: &Store, now: i64) -> AppResult<()> {
    let (Some(config), Some(shop)) = (store.config()?, store_shop(store)) else { return Ok(()) };
    let mut q = store.load_queue()?;
    let effects = q.expire_holds(now, store.hold_ms()?);
    if effects.is_empty() {
        return Ok(());
    }
    let eta_text = eta_phrase(config.eta.as_ref(), Date::from_unix_ms(now));
    let messages = render_all(&q, &config, &shop, &effects, &eta_text);
    store.commit(&q, &effects, &messages, now)?;
    Ok(())
}

fn store_shop(store: &Store) -> Option<ShopContext> {
    store.shop().ok().flatten()
}

/// Writes the messages the effects ask for, from the queue as it is after them.
fn render_all(q: &Queue, config: &SkuConfig, shop: &ShopContext, effects: &[Effect], eta_text: &str) -> Vec<NewMessage> {
    effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Send(o) => Some(o),
            Effect::Save(_) => None,
        })
        .filter_map(|o| {
            let entry = q.entries().iter().find(|e| e.id == o.entry_id)?;
            let ctx = MessageContext {
                shop_name: &shop.name,
                sku_title: &config.title,
                product_url: config.url.as_deref(),
                eta_text,
                position: q.position(&entry.id),
                available: q.available(),
                hold_until: entry.hold_until,
                ..Default::default()
            };
            let r = render(o.kind, &ctx);
            Some(NewMessage {
                key: format!("{}:{}", shop.shop, o.key()),
                entry_id: entry.id.clone(),
                kind: o.kind,
                to: entry.email.clone(),
                from: format!("{} <{}>", shop.name.replace(['<', '>', '"'], ""), shop.from_email),
                subject: r.subject,
                html: r.html,
                text: r.text,
            })
        })
        .collect()
}
