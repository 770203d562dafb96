//! `SkuQueue` Durable Object: one per (shop, SKU), the single writer of that SKU's waitlist.
//!
//! Thin by design: decode the command → call `shared` → persist the effects → schedule the alarm →
//! answer. Delivery of queued messages and timed work (hold ends, reminders, follow-ups) happen in
//! `alarm`.
//!
//! Concurrency assumption: a Durable Object handles one event at a time, and each command here
//! reads, decides and writes with no `await` in between (`handle` is synchronous), so the runtime's
//! input/output gates make every command atomic: its SQLite writes (state change + outbox rows)
//! commit together or not at all. Only `alarm` awaits (provider calls), and it re-reads what it
//! needs after each await.

use crate::config::Config;
use crate::delivery;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::links;
use crate::protocol::{Shipment, ShopContext, SkuCommand, SkuRequest};
use crate::store::{EventOutcome, NewMessage, Store};
use serde::Serialize;
use shared::eta::eta_phrase;
use shared::message::{render, render_with, sms_text, MessageContext};
use shared::outbox::Channel;
use shared::queue::{Effect, Joined, NewEntry, Queue};
use shared::wire::{
    ConversionResult, EntryKind, InventoryResult, LocationLevel, MessageKind, Mode, QueueEntryView, QueueView,
    SignupResponse, SkuConfig, SkuState,
};
use shared::{Date, Email};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

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
        // serde_json, not the runtime's JSON.parse: Shopify ids above 2^53 must keep every digit.
        let request: SkuRequest = match serde_json::from_str(&req.text().await?) {
            Ok(c) => c,
            Err(e) => return AppError::Internal(format!("bad internal command: {e}")).into_response(),
        };
        let store = Store::open(self.state.storage().sql())?;
        if store.clock_offset()? != request.clock_offset_ms {
            store.set_clock_offset(request.clock_offset_ms)?;
        }
        let now = real_now() + request.clock_offset_ms;
        let cfg = Config::from_env(&self.env);
        let read_only = request.cmd.is_read_only();
        store.set_cause(request.cmd.cause());
        let result = handle(&store, &cfg, request.cmd, now);
        if !read_only {
            self.schedule(&store, now, None).await?;
        }
        match result {
            Ok(a) => Ok(Response::from_json(&a.body)?.with_status(a.status)),
            Err(e) => e.into_response(),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let store = Store::open(self.state.storage().sql())?;
        let offset = store.clock_offset()?;
        let now = real_now() + offset;
        let cfg = Config::from_env(&self.env);
        store.set_cause("schedule".into());
        run_due(&store, &cfg, now).map_err(|e| worker::Error::RustError(format!("{e:?}")))?;
        let paced_until = delivery::deliver_due(&self.env, &cfg, &store, offset).await?;
        self.schedule(&store, real_now() + offset, paced_until).await?;
        Response::empty()
    }
}

impl SkuQueue {
    /// Keeps one alarm at the earliest due time: the next pending message, hold end or timed message.
    /// `not_before`: the provider's pacing allows no more sends until then.
    async fn schedule(&self, store: &Store, now: i64, not_before: Option<i64>) -> Result<()> {
        let next_work = match (store.config()?, store.shop()?) {
            (Some(cfg), Some(shop)) => store.load_queue(cfg.eta, shop.policy(&cfg))?.next_wake(now),
            _ => None,
        };
        let offset = store.clock_offset()?;
        let next_send = store.next_due()?.map(|t| not_before.map_or(t, |nb| t.max(nb)));
        let Some(t) = [next_send, next_work].into_iter().flatten().min() else {
            return Ok(());
        };
        // Alarms run on the real clock; a dev clock offset brings them forward.
        let at = (t.max(now) - offset) as f64;
        self.state.storage().set_alarm(worker::ScheduledTime::new(js_sys::Date::new(&at.into()))).await
    }
}

fn real_now() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// Everything a command needs about the SKU, loaded once.
struct Sku {
    name: String,
    config: SkuConfig,
    shop: ShopContext,
}

impl Sku {
    fn load(store: &Store, shop: Option<ShopContext>) -> AppResult<Sku> {
        let config = store
            .config()?
            .ok_or_else(|| AppError::NotFound("unknown_sku", "this SKU is not set up for this shop".into()))?;
        if let Some(s) = &shop {
            store.set_shop(s)?;
        }
        let shop = match shop {
            Some(s) => s,
            None => store.shop()?.ok_or_else(|| AppError::Internal("SKU has no shop settings yet".into()))?,
        };
        Ok(Sku { name: store.sku()?, config, shop })
    }

    fn queue(&self, store: &Store) -> AppResult<Queue> {
        Ok(store.load_queue(self.config.eta, self.shop.policy(&self.config))?)
    }

    fn eta_text(&self, now: i64) -> String {
        eta_phrase(self.config.eta.as_ref(), Date::from_unix_ms(now))
    }

    /// What a shopper is told about their entry: place in line, status, ETA.
    fn answer_for(&self, q: &Queue, entry: shared::queue::Entry, now: i64) -> SignupResponse {
        SignupResponse {
            position: q.position(&entry.id),
            entry_id: entry.id,
            status: entry.status,
            eta: self.config.eta,
            eta_text: self.eta_text(now),
        }
    }

    fn entry_kind(&self) -> EntryKind {
        match self.config.mode {
            Mode::Preorder => EntryKind::Preorder,
            Mode::Restock | Mode::Backorder => EntryKind::Notify,
        }
    }
}

fn handle(store: &Store, cfg: &Config, cmd: SkuCommand, now: i64) -> AppResult<Answer> {
    match cmd {
        SkuCommand::Configure { shop, sku, config } => {
            store.set_sku(&sku)?;
            store.set_shop(&shop)?;
            let old = store.config()?;
            // Ids synced from Shopify stay unless the merchant sets others.
            let config = match &old {
                Some(o) => SkuConfig {
                    shopify_inventory_item_id: config.shopify_inventory_item_id.or(o.shopify_inventory_item_id),
                    shopify_variant_id: config.shopify_variant_id.or(o.shopify_variant_id),
                    ..config
                },
                None => config,
            };
            store.set_config(&config)?;
            // An ETA that moves is news for everyone in line.
            if let Some(old) = old.filter(|o| o.eta != config.eta) {
                let s = Sku::load(store, None)?;
                let mut q = store.load_queue(old.eta, shop.policy(&config))?;
                let effects = q.set_eta(config.eta);
                let old_text = eta_phrase(old.eta.as_ref(), Date::from_unix_ms(now));
                let messages = render_all(
                    cfg,
                    &q,
                    &s,
                    &effects,
                    now,
                    Extras { old_eta_text: Some(&old_text), ..Extras::default() },
                );
                store.commit(&q, &effects, &messages, now)?;
            }
            answer(200, &config)
        }
        SkuCommand::State => {
            let s = Sku::load(store, None).or_else(|e| match e {
                AppError::Internal(_) => {
                    Err(AppError::NotFound("unknown_sku", "this SKU is not set up for this shop".into()))
                }
                e => Err(e),
            })?;
            let q = s.queue(store)?;
            answer(
                200,
                &SkuState {
                    sku: s.name.clone(),
                    title: s.config.title.clone(),
                    mode: s.config.mode,
                    available: q.available(),
                    reserved: q.held(now),
                    reserved_until: q.reserved_until(now),
                    eta: s.config.eta,
                    eta_text: s.eta_text(now),
                    waiting: q.waiting(),
                },
            )
        }
        SkuCommand::Signup { shop, entry_id, email, phone, sms_consent, locale, quantity, consent, confirm } => {
            let s = Sku::load(store, Some(shop))?;
            let email = Email::parse(&email)?;
            let existing = store.entry_by_key(&email.key())?;
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
            let a = join(store, cfg, &s, existing, new, now, s.shop.double_opt_in, confirm)?;
            if let (201, Some(c), Some(id)) = (a.status, consent, a.body["entry_id"].as_str()) {
                store.set_consent(id, &c)?;
            }
            Ok(a)
        }
        SkuCommand::Backorder { shop, entry_id, order_id, email, quantity, ordered_at_ms } => {
            let s = Sku::load(store, Some(shop))?;
            let email = Email::parse(&email)?;
            let existing = store.entry_by_order(&order_id)?;
            let new = NewEntry {
                id: entry_id,
                email,
                phone: None,
                sms_consent: false,
                locale: None,
                kind: EntryKind::Backorder,
                quantity,
                order_id: Some(order_id),
                at: ordered_at_ms,
            };
            join(store, cfg, &s, existing, new, now, false, true)
        }
        SkuCommand::Position { entry_id } => {
            let s = Sku::load(store, None)?;
            let entry = known_entry(store, &entry_id)?;
            let q = s.queue(store)?;
            answer(200, &s.answer_for(&q, entry, now))
        }
        SkuCommand::Level { shop, event_id, location, available, updated_at_ms } => {
            let s = Sku::load(store, Some(shop))?;
            // The queue is loaded before the new level is stored: it knows the level before.
            let mut q = s.queue(store)?;
            let outcome = store.record_level(&event_id, &location, available, updated_at_ms, now)?;
            let effects =
                if outcome == EventOutcome::Applied { q.set_level(store.total_available()?, now) } else { Vec::new() };
            let messages = render_all(cfg, &q, &s, &effects, now, Extras::default());
            store.commit(&q, &effects, &messages, now)?;
            let count =
                |k: &[MessageKind]| messages.iter().filter(|m| k.iter().any(|k| k.as_str() == m.kind)).count() as u32;
            answer(
                200,
                &InventoryResult {
                    outcome: outcome.as_str().to_owned(),
                    available: q.available(),
                    offers: count(&[MessageKind::RestockOffer, MessageKind::PreorderReady, MessageKind::ShipNotice]),
                    sold_out_again: count(&[MessageKind::SoldOutAgain]),
                },
            )
        }
        SkuCommand::Convert { event_id, entry_id, email_key, order_id, quantity, revenue } => {
            let s = Sku::load(store, None)?;
            if let Some(id) = &event_id {
                if store.seen_event(id)? {
                    return answer(200, &serde_json::json!({"outcome": "duplicate"}));
                }
            }
            let entry = match (entry_id, email_key) {
                (Some(id), _) => store.entry(&id)?,
                (None, Some(key)) => store.entry_by_key(&key)?,
                (None, None) => None,
            }
            .ok_or_else(|| AppError::NotFound("unknown_entry", "no waitlist entry matches this conversion".into()))?;
            let mut q = s.queue(store)?;
            let effects = q.convert(&entry.id).ok_or_else(|| {
                AppError::Conflict(
                    "not_convertible",
                    format!("the entry is {} and cannot convert", entry.status.as_str()),
                )
            })?;
            let units = if entry.units > 0 { entry.units } else { quantity };
            let events = converted_event(&s, &effects, &order_id, revenue, now);
            store.commit(&q, &effects, &events, now)?;
            store.record_conversion(&entry.id, &order_id, revenue)?;
            if let Some(id) = &event_id {
                store.record_event(id, EventOutcome::Applied, now)?;
            }
            answer(
                200,
                &ConversionResult { entry_id: entry.id, status: shared::wire::EntryStatus::Converted, units, revenue },
            )
        }
        SkuCommand::Cancel { entry_id } => {
            let s = Sku::load(store, None)?;
            let mut q = s.queue(store)?;
            let effects = q
                .cancel(&entry_id)
                .ok_or_else(|| AppError::Conflict("not_cancellable", "this entry is no longer waiting".into()))?;
            let mut events = Vec::new();
            for fx in &effects {
                if let Effect::Save(e) = fx {
                    if e.kind == EntryKind::Backorder {
                        let data = events::entry_data(&s.shop, &s.name, e, None);
                        events.extend(events::rows(&s.shop, "backorder.cancel_requested", &e.id, &e.id, data, now));
                    }
                }
            }
            store.commit(&q, &effects, &events, now)?;
            answer(200, &serde_json::json!({"entry_id": entry_id, "status": "cancelled"}))
        }
        SkuCommand::Confirm { entry_id } => {
            let s = Sku::load(store, None)?;
            let mut q = s.queue(store)?;
            let effects = q.confirm(&entry_id).ok_or_else(|| {
                AppError::Conflict("not_pending", "this signup is not waiting for a confirmation".into())
            })?;
            let mut messages = render_all(cfg, &q, &s, &effects, now, Extras::default());
            if let Some(e) = q.entry(&entry_id) {
                messages.extend(joined_events(&s, &q, &e.clone(), now));
            }
            store.commit(&q, &effects, &messages, now)?;
            if let Some(mut c) = store.consent(&entry_id)? {
                c["confirmed_at"] = shared::date::format_timestamp_ms(now).into();
                store.set_consent(&entry_id, &c)?;
            }
            answer(
                200,
                &serde_json::json!({"entry_id": entry_id, "status": "waiting", "position": q.position(&entry_id)}),
            )
        }
        SkuCommand::Engage { entry_id } => {
            let s = Sku::load(store, None)?;
            let mut q = s.queue(store)?;
            let effects = q.engage(&entry_id).unwrap_or_default();
            store.commit(&q, &effects, &[], now)?;
            answer(200, &serde_json::json!({"entry_id": entry_id, "engaged": true}))
        }
        SkuCommand::Unsubscribe { entry_id } => {
            let s = Sku::load(store, None)?;
            let entry = known_entry(store, &entry_id)?;
            let mut q = s.queue(store)?;
            let effects = q.cancel(&entry.id).unwrap_or_default();
            store.commit(&q, &effects, &[], now)?;
            store.skip_pending(&entry.id, "skipped: unsubscribed")?;
            answer(200, &serde_json::json!({"entry_id": entry.id, "email_key": entry.email_key}))
        }
        SkuCommand::Export { email_key, phone } => {
            let mut out = Vec::new();
            for e in entries_of(store, email_key.as_deref(), phone.as_deref())? {
                out.push(serde_json::json!({
                    "sku": store.sku()?,
                    "entry_id": e.id,
                    "email": e.email,
                    "phone": e.phone,
                    "sms_consent": e.sms_consent,
                    "locale": e.locale,
                    "kind": e.kind,
                    "quantity": e.quantity,
                    "order_id": e.order_id,
                    "status": e.status,
                    "created_at": e.created_at,
                    "consent": store.consent(&e.id)?,
                    "messages": store.all_message_rows_for(&e.id)?,
                    "audit": store.audit_of(&e.id)?,
                }));
            }
            answer(200, &out)
        }
        SkuCommand::Erase { email_key, phone } => {
            let entries = entries_of(store, email_key.as_deref(), phone.as_deref())?;
            if let Ok(s) = Sku::load(store, None) {
                let mut q = s.queue(store)?;
                for e in &entries {
                    let effects = q.cancel(&e.id).unwrap_or_default();
                    store.commit(&q, &effects, &[], now)?;
                }
            }
            for e in &entries {
                store.erase_entry(&e.id, &format!("erased:{}", e.id))?;
            }
            answer(200, &serde_json::json!({"erased_entries": entries.len()}))
        }
        SkuCommand::Audit { entry_id } => {
            let s = Sku::load(store, None)?;
            let e = known_entry(store, &entry_id)?;
            let q = s.queue(store)?;
            answer(
                200,
                &serde_json::json!({
                    "sku": s.name,
                    "entry": {
                        "entry_id": e.id,
                        "email": e.email,
                        "phone": e.phone,
                        "sms_consent": e.sms_consent,
                        "kind": e.kind,
                        "status": e.status,
                        "position": q.position(&e.id),
                        "quantity": e.quantity,
                        "units": e.units,
                        "order_id": e.order_id,
                        "created_at": e.created_at,
                        "hold_until": e.hold_until,
                    },
                    "consent": store.consent(&e.id)?,
                    "messages": store.messages_for(&e.id)?,
                    "trail": store.audit_of(&e.id)?,
                }),
            )
        }
        SkuCommand::DryRun { shop, location, available } => {
            let s = Sku::load(store, None)?;
            let s = Sku { shop, ..s };
            let mut q = s.queue(store)?;
            let before = q.available();
            let sellable = s.shop.sellable_locations.as_ref().is_none_or(|l| l.contains(&location));
            let others: i64 = store
                .levels()?
                .into_iter()
                .filter(|(loc, _, counts)| *counts && *loc != location)
                .map(|(_, n, _)| n.max(0))
                .sum();
            let after = others + if sellable { available.max(0) } else { 0 };
            let effects = q.set_level(after, now);
            let messages = render_all(cfg, &q, &s, &effects, now, Extras::default());
            let positions = q.positions();
            let would: Vec<serde_json::Value> = messages
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "entry_id": m.entry_id,
                        "channel": m.channel.as_str(),
                        "kind": m.kind,
                        "to": m.to,
                        "subject": m.subject,
                        "position": positions.get(m.entry_id.as_str()),
                    })
                })
                .collect();
            answer(
                200,
                &serde_json::json!({
                    "dry_run": true,
                    "location": location,
                    "location_sellable": sellable,
                    "available_before": before,
                    "available_after": q.available(),
                    "would_send": would,
                }),
            )
        }
        SkuCommand::Claim { entry_id } => {
            let s = Sku::load(store, None)?;
            let entry = known_entry(store, &entry_id)?;
            let q = s.queue(store)?;
            let live = match entry.status {
                shared::wire::EntryStatus::Offered => entry.hold_until.is_some_and(|t| t > now),
                shared::wire::EntryStatus::Notified => q.available() - q.promised(now) > 0,
                _ => false,
            };
            answer(
                200,
                &serde_json::json!({
                    "entry_id": entry.id,
                    "status": entry.status,
                    "units": entry.units,
                    "hold_until": entry.hold_until,
                    "live": live,
                    "title": s.config.title,
                    "url": s.config.url,
                }),
            )
        }
        SkuCommand::SetEta { shop, event_id, eta, updated_at_ms } => {
            let s = Sku::load(store, Some(shop.clone()))?;
            if store.seen_event(&event_id)? {
                return answer(200, &serde_json::json!({"outcome": "duplicate"}));
            }
            if updated_at_ms < store.eta_updated_at()? {
                store.record_event(&event_id, EventOutcome::Stale, now)?;
                return answer(200, &serde_json::json!({"outcome": "stale", "eta": s.config.eta}));
            }
            store.record_event(&event_id, EventOutcome::Applied, now)?;
            store.set_eta_updated_at(updated_at_ms)?;
            if s.config.eta == eta {
                return answer(200, &serde_json::json!({"outcome": "unchanged", "eta": eta}));
            }
            let mut q = s.queue(store)?;
            let effects = q.set_eta(eta);
            let old_text = s.eta_text(now);
            store.set_config(&SkuConfig { eta, ..s.config.clone() })?;
            let s = Sku::load(store, None)?;
            let extras = Extras { old_eta_text: Some(&old_text), ..Extras::default() };
            let messages = render_all(cfg, &q, &s, &effects, now, extras);
            store.commit(&q, &effects, &messages, now)?;
            let told = messages.iter().filter(|m| m.channel == Channel::Email).count();
            answer(
                200,
                &serde_json::json!({"outcome": "applied", "eta": eta, "eta_text": s.eta_text(now), "told": told}),
            )
        }
        SkuCommand::Listing { shop, sku, title, url, variant_id, inventory_item_id } => {
            let title: String = title.chars().take(300).collect();
            let existing = store.config()?;
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
            store.set_sku(&sku)?;
            store.set_shop(&shop)?;
            store.set_config(&config)?;
            answer(200, &serde_json::json!({"sku": sku, "created": created, "config": config}))
        }
        SkuCommand::Order { shop, event_id, entry_id, order_id, email, phone, quantity, revenue, ordered_at_ms } => {
            let s = Sku::load(store, Some(shop))?;
            if store.seen_event(&event_id)? {
                return answer(200, &serde_json::json!({"outcome": "duplicate"}));
            }
            store.record_event(&event_id, EventOutcome::Applied, now)?;
            let email = email.as_deref().and_then(|e| Email::parse(e).ok());
            let mut matched = match &email {
                Some(e) => store.entry_by_key(&e.key())?,
                None => None,
            };
            if matched.is_none() {
                if let Some(p) = &phone {
                    matched = store.entry_by_phone(p)?;
                }
            }
            let offered = |e: &shared::queue::Entry| {
                matches!(e.status, shared::wire::EntryStatus::Offered | shared::wire::EntryStatus::Notified)
            };
            if let Some(entry) = matched.filter(offered) {
                let mut q = s.queue(store)?;
                let effects = q.convert(&entry.id).unwrap_or_default();
                let events = converted_event(&s, &effects, &order_id, revenue, now);
                store.commit(&q, &effects, &events, now)?;
                store.record_conversion(&entry.id, &order_id, revenue)?;
                return answer(
                    200,
                    &serde_json::json!({"outcome": "converted", "entry_id": entry.id, "revenue": revenue}),
                );
            }
            // Oversold: the sellable stock is below zero once this order is counted (the level may
            // already include it, if Shopify's inventory update came first).
            let (raw, updated_at) = store.raw_level()?;
            let known = !store.levels()?.is_empty();
            let after = if updated_at >= ordered_at_ms { raw } else { raw - i64::from(quantity) };
            let backorder = s.config.mode == Mode::Backorder || (known && after < 0);
            match (backorder, email) {
                (true, Some(email)) => {
                    let existing = store.entry_by_order(&order_id)?;
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
                    let a = join(store, cfg, &s, existing, new, now, false, true)?;
                    answer(200, &serde_json::json!({"outcome": "backorder", "entry": a.body}))
                }
                (true, None) => answer(200, &serde_json::json!({"outcome": "ignored", "reason": "no_email"})),
                (false, _) => answer(200, &serde_json::json!({"outcome": "ignored", "reason": "in_stock_sale"})),
            }
        }
        SkuCommand::OrderCancelled { shop, order_id } => {
            let s = Sku::load(store, Some(shop))?;
            let mut q = s.queue(store)?;
            let mut cancelled = Vec::new();
            for e in store.entries_by_order(&order_id)? {
                if e.kind == EntryKind::Backorder {
                    if let Some(effects) = q.cancel(&e.id) {
                        store.commit(&q, &effects, &[], now)?;
                        store.skip_pending(&e.id, "skipped: order cancelled")?;
                        cancelled.push(e.id);
                    }
                }
            }
            answer(
                200,
                &serde_json::json!({"outcome": if cancelled.is_empty() { "ignored" } else { "cancelled" }, "entries": cancelled}),
            )
        }
        SkuCommand::Shipped { shop, order_id, occurrence, shipment } => {
            let s = Sku::load(store, Some(shop))?;
            let mut q = s.queue(store)?;
            let mut told = Vec::new();
            for e in store.entries_by_order(&order_id)? {
                let was_live = e.is_live();
                let id = e.id.clone();
                let effects = q.ship(e, occurrence);
                let extras = Extras { shipment: Some(&shipment), ..Extras::default() };
                let mut messages = render_all(cfg, &q, &s, &effects, now, extras);
                if was_live {
                    messages.extend(converted_event(&s, &effects, &order_id, 0.0, now));
                }
                if messages.iter().any(|m| m.channel == Channel::Email) {
                    told.push(id);
                }
                store.commit(&q, &effects, &messages, now)?;
            }
            answer(
                200,
                &serde_json::json!({"outcome": if told.is_empty() { "ignored" } else { "notified" }, "entries": told}),
            )
        }
        SkuCommand::Import { shop, entries } => {
            let s = Sku::load(store, Some(shop))?;
            let mut q = s.queue(store)?;
            let (mut imported, mut skipped) = (Vec::new(), Vec::new());
            let mut saves = Vec::new();
            for e in entries {
                let Ok(email) = Email::parse(&e.email) else {
                    skipped.push(serde_json::json!({"email": e.email, "reason": "invalid_email"}));
                    continue;
                };
                let existing = store.entry_by_key(&email.key())?.or_else(|| {
                    q.entries().iter().find(|x| x.email_key == email.key() && x.kind != EntryKind::Backorder).cloned()
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
                    Joined::Existing(x) => skipped
                        .push(serde_json::json!({"email": x.email, "reason": "already_on_list", "entry_id": x.id})),
                    // Imported shoppers signed up elsewhere and were confirmed there: no new email.
                    Joined::Created(x, fx) => {
                        imported.push(
                            serde_json::json!({"entry_id": x.id, "email": x.email, "position": q.position(&x.id)}),
                        );
                        saves.extend(fx.into_iter().filter(|f| matches!(f, Effect::Save(_))));
                    }
                }
            }
            store.commit(&q, &saves, &[], now)?;
            answer(200, &serde_json::json!({"imported": imported, "skipped": skipped, "waiting": q.waiting()}))
        }
        SkuCommand::Deliveries => {
            let rows = store.hook_rows(500)?;
            let log: Vec<serde_json::Value> = rows
                .into_iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.key,
                        "event": r.kind,
                        "endpoint": r.from_addr,
                        "url": r.to_addr,
                        "status": r.status,
                        "attempts": r.attempts,
                        "created_at": r.created_at,
                        "sent_at": r.sent_at,
                        "next_at": if r.status == "pending" { Some(r.next_at) } else { None },
                        "last_error": r.last_error,
                        "payload": serde_json::from_str::<serde_json::Value>(&r.text).unwrap_or_default(),
                    })
                })
                .collect();
            answer(200, &log)
        }
        SkuCommand::Purge => {
            store.purge()?;
            answer(200, &serde_json::json!({"purged": true}))
        }
        SkuCommand::Seed { count } => {
            Sku::load(store, None)?;
            store.seed_entries(count, now)?;
            answer(200, &serde_json::json!({"seeded": count}))
        }
        SkuCommand::Tick => {
            run_due(store, cfg, now)?;
            answer(200, &serde_json::json!({"ok": true}))
        }
        SkuCommand::Queue => {
            let s = Sku::load(store, None)?;
            let q = s.queue(store)?;
            let mut entries = Vec::new();
            for e in store.all_entries()? {
                entries.push(QueueEntryView {
                    position: q.position(&e.id),
                    messages: store.messages_for(&e.id)?,
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
            let levels = store
                .levels()?
                .into_iter()
                .map(|(location, available, sellable)| LocationLevel { location, available, sellable })
                .collect();
            answer(200, &QueueView { sku: s.name, available: q.available(), levels, entries })
        }
        SkuCommand::Mailbox => answer(200, &store.all_messages(500)?),
    }
}

/// `waitlist.joined` and the Klaviyo signup for a new entry in line.
fn joined_events(s: &Sku, q: &Queue, entry: &shared::queue::Entry, now: i64) -> Vec<NewMessage> {
    let position = q.position(&entry.id);
    let data = events::entry_data(&s.shop, &s.name, entry, position);
    let mut out = events::rows(&s.shop, "waitlist.joined", &entry.id, &entry.id, data, now);
    if entry.kind != EntryKind::Backorder {
        out.extend(klaviyo_joined(s, entry, position, now));
    }
    out
}

/// `entry.converted` for the entries the effects converted.
fn converted_event(s: &Sku, effects: &[Effect], order_id: &str, revenue: f64, now: i64) -> Vec<NewMessage> {
    effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Save(e) if e.status == shared::wire::EntryStatus::Converted => Some(e),
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

/// The Klaviyo job for a new signup (profile, subscription to the product's list, `Joined Waitlist`).
fn klaviyo_joined(s: &Sku, e: &shared::queue::Entry, position: Option<u32>, now: i64) -> Option<NewMessage> {
    let k = s.shop.klaviyo.as_ref()?;
    let job = serde_json::json!({
        "step": "joined",
        "email": e.email,
        "phone": e.phone,
        "sms_consent": e.sms_consent,
        "list_id": s.config.klaviyo_list_id.clone().or(k.list_id.clone()),
        "sku": s.name,
        "title": s.config.title,
        "url": s.config.url,
        "position": position,
        "eta_text": s.eta_text(now),
        "at_ms": now,
    });
    Some(klaviyo_row(e, format!("{}:{}:klaviyo:joined", s.shop.shop, e.id), "joined", job))
}

/// The Klaviyo `Back In Stock Offer` event for an offer.
fn klaviyo_offer(s: &Sku, e: &shared::queue::Entry, key: &str, now: i64) -> Option<NewMessage> {
    s.shop.klaviyo.as_ref()?;
    let job = serde_json::json!({
        "step": "offer",
        "email": e.email,
        "sku": s.name,
        "title": s.config.title,
        "url": s.config.url,
        "units": e.units,
        "hold_until_ms": e.hold_until,
        "at_ms": now,
    });
    Some(klaviyo_row(e, format!("{}:{key}:klaviyo", s.shop.shop), "offer", job))
}

fn klaviyo_row(e: &shared::queue::Entry, key: String, step: &str, job: serde_json::Value) -> NewMessage {
    NewMessage {
        key,
        entry_id: e.id.clone(),
        channel: Channel::Klaviyo,
        kind: format!("klaviyo.{step}"),
        to: e.email.clone(),
        from: String::new(),
        subject: String::new(),
        html: String::new(),
        text: job.to_string(),
        unsubscribe_url: None,
    }
}

/// Entries of an address key or a phone number.
fn entries_of(store: &Store, email_key: Option<&str>, phone: Option<&str>) -> AppResult<Vec<shared::queue::Entry>> {
    let mut out = match email_key {
        Some(k) => store.entries_by_key(k)?,
        None => Vec::new(),
    };
    if let Some(p) = phone {
        for e in store.entries_by_phone(p)? {
            if !out.iter().any(|o| o.id == e.id) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

fn known_entry(store: &Store, entry_id: &str) -> AppResult<shared::queue::Entry> {
    store.entry(entry_id)?.ok_or_else(|| AppError::NotFound("unknown_entry", "no such waitlist entry".into()))
}

fn join(
    store: &Store,
    cfg: &Config,
    s: &Sku,
    existing: Option<shared::queue::Entry>,
    new: NewEntry,
    now: i64,
    confirm_first: bool,
    confirmation_allowed: bool,
) -> AppResult<Answer> {
    let mut q = s.queue(store)?;
    let joined = if confirm_first { q.join_unconfirmed(existing, new, now) } else { q.join(existing, new, now) };
    let (entry, status, effects) = match joined {
        Joined::Existing(e) => (e, 200, Vec::new()),
        Joined::Created(e, fx) => (e, 201, fx),
    };
    // One confirmation per address per window, shop-wide: a victim's address typed into many
    // forms gets one email, not one per form.
    let (render_fx, held_back): (Vec<Effect>, Vec<Effect>) = effects.iter().cloned().partition(|fx| {
        confirmation_allowed
            || !matches!(fx, Effect::Send(o) if matches!(o.kind, MessageKind::SignupConfirmation | MessageKind::ConfirmSignup))
    });
    let mut messages = render_all(cfg, &q, s, &render_fx, now, Extras::default());
    for fx in &held_back {
        if let Effect::Send(o) = fx {
            let why = "not sent: this address got a confirmation from the shop within the last 15 minutes";
            store.note(&o.entry_id, now, "skipped", &format!("email {}: {why}", o.kind.as_str()))?;
        }
    }
    // With double opt-in, the shopper has joined once they confirm.
    if status == 201 && entry.status != shared::wire::EntryStatus::PendingConfirmation {
        messages.extend(joined_events(s, &q, &entry, now));
    }
    store.commit(&q, &effects, &messages, now)?;
    answer(status, &s.answer_for(&q, entry, now))
}

/// Runs what is due at `now` (hold ends, reminders, follow-ups) and writes it.
fn run_due(store: &Store, cfg: &Config, now: i64) -> AppResult<()> {
    let Ok(s) = Sku::load(store, None) else {
        return Ok(());
    };
    let mut q = s.queue(store)?;
    let effects = q.due(now);
    if effects.is_empty() {
        return Ok(());
    }
    let messages = render_all(cfg, &q, &s, &effects, now, Extras::default());
    store.commit(&q, &effects, &messages, now)?;
    Ok(())
}

/// Facts some messages quote that are not in the queue: the ETA before a change, a shipment.
#[derive(Default)]
struct Extras<'a> {
    old_eta_text: Option<&'a str>,
    shipment: Option<&'a Shipment>,
}

/// Writes the messages the effects ask for, from the queue as it is after them: the email, the
/// text message when the shopper gave a phone and SMS consent, the outgoing events and the Klaviyo
/// event the message stands for.
fn render_all(cfg: &Config, q: &Queue, s: &Sku, effects: &[Effect], now: i64, extras: Extras<'_>) -> Vec<NewMessage> {
    // Entries that just left the queue (e.g. an expired hold) are found among the saved ones.
    let saved: std::collections::HashMap<&str, &shared::queue::Entry> = effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Save(e) => Some((e.id.as_str(), e)),
            Effect::Send(_) => None,
        })
        .collect();
    let eta_text = s.eta_text(now);
    let positions = q.positions();
    let by_id: std::collections::HashMap<&str, &shared::queue::Entry> =
        q.entries().iter().map(|e| (e.id.as_str(), e)).collect();
    let free = q.available() - q.promised(now);
    effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Send(o) => Some(o),
            Effect::Save(_) => None,
        })
        .flat_map(|o| {
            let Some(entry) =
                by_id.get(o.entry_id.as_str()).or_else(|| saved.get(o.entry_id.as_str())).map(|e| (*e).clone())
            else {
                return Vec::new();
            };
            let links = links::for_message(
                cfg,
                &s.shop.shop,
                &s.name,
                &entry.id,
                o.kind,
                s.config.url.as_deref(),
                entry.hold_until,
                now,
            );
            let ctx = MessageContext {
                shop_name: &s.shop.name,
                sku_title: &s.config.title,
                product_url: s.config.url.as_deref(),
                eta_text: &eta_text,
                old_eta_text: extras.old_eta_text,
                position: positions.get(entry.id.as_str()).copied(),
                available: free + i64::from(entry.units),
                quantity: if entry.units > 0 { entry.units } else { entry.quantity },
                hold_until: entry.hold_until,
                order_id: entry.order_id.as_deref(),
                support_email: s.shop.support_email.as_deref(),
                postal_address: s.shop.postal_address.as_deref(),
                utc_offset_minutes: s.shop.utc_offset_minutes,
                time_zone_label: s.shop.time_zone_label.as_deref(),
                claim_url: links.claim_url,
                cancel_url: links.cancel_url,
                unsubscribe_url: links.unsubscribe_url.clone(),
                confirm_url: links.confirm_url,
                carrier: extras.shipment.and_then(|t| t.carrier.as_deref()),
                tracking_number: extras.shipment.and_then(|t| t.number.as_deref()),
                tracking_url: extras.shipment.and_then(|t| t.url.as_deref()),
            };
            // A merchant template that fails on this data falls back to the default wording.
            let r = render_with(o.kind, &ctx, s.shop.templates.get(o.kind.as_str())).unwrap_or_else(|e| {
                worker::console_warn!("template for {} failed, default used: {e}", o.kind.as_str());
                render(o.kind, &ctx)
            });
            let mut rows = vec![NewMessage {
                key: format!("{}:{}", s.shop.shop, o.key()),
                entry_id: entry.id.clone(),
                channel: Channel::Email,
                kind: o.kind.as_str().to_owned(),
                to: entry.email.clone(),
                from: format!("{} <{}>", s.shop.name.replace(['<', '>', '"'], ""), s.shop.from_email),
                subject: r.subject,
                html: r.html,
                text: r.text,
                unsubscribe_url: links.unsubscribe_url.clone(),
            }];
            if let (Some(phone), true) = (&entry.phone, entry.sms_consent) {
                if let Some(text) = sms_text(o.kind, &ctx) {
                    rows.push(NewMessage {
                        key: format!("{}:{}:sms", s.shop.shop, o.key()),
                        entry_id: entry.id.clone(),
                        channel: Channel::Sms,
                        kind: o.kind.as_str().to_owned(),
                        to: phone.clone(),
                        from: String::new(),
                        subject: String::new(),
                        html: String::new(),
                        text,
                        unsubscribe_url: None,
                    });
                }
            }
            let position = positions.get(entry.id.as_str()).copied();
            match o.kind {
                MessageKind::RestockOffer | MessageKind::PreorderReady => {
                    let mut data = events::entry_data(&s.shop, &s.name, &entry, position);
                    data["message"] = o.kind.as_str().into();
                    rows.extend(events::rows(&s.shop, "offer.sent", &o.key(), &entry.id, data, now));
                    rows.extend(klaviyo_offer(s, &entry, &o.key(), now));
                }
                MessageKind::HoldExpired => {
                    let data = events::entry_data(&s.shop, &s.name, &entry, position);
                    rows.extend(events::rows(&s.shop, "hold.expired", &o.key(), &entry.id, data, now));
                }
                _ => {}
            }
            rows
        })
        .collect()
}
