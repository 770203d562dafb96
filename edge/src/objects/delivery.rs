//! Delivery: hands due outbox rows to their channel (email, SMS, outgoing events, Klaviyo) and
//! records each answer (sent, retry at, failed). Runs in the `SkuQueue` alarm; the only part of
//! the object that awaits, so it re-reads what it needs after each await.
//!
//! Pacing: before each provider call the run takes a lease from the provider key's `Pacer` object
//! (`pacer_object`), shared by every SKU and shop sending through that key: the key hands at most
//! its rate of messages to the provider in any one second, split fairly between the SKUs that want
//! more. A provider's 429 blocks the key (its `Retry-After`) for all of them, not only the row that
//! got it.
//!
//! Work per run: at most [`SUBREQUESTS_PER_RUN`] calls leave the object (provider calls, leases,
//! suppression reads) and at most [`MESSAGES_PER_RUN`] messages are handed over; the alarm re-arms
//! at once while more is due. Deployed, an invocation may make 1 000 subrequests (Workers Paid)
//! and spend 30 s of CPU; local workerd enforces neither, so dev mode logs each run's work
//! (`delivery run: …`, read by the benchmarks).
//!
//! Batching (Resend with `EMAIL_BATCH=true`): due emails go up to 100 per `/emails/batch` call. The
//! batch's members and key are written on the rows *before* the call; the Durable Object's output
//! gate holds the outgoing request until that write is durable. A batch whose rows carry a key is
//! always resent as that batch, under that key, so a retry after a crash between the provider's
//! accept and our write is answered from the provider's idempotency memory, not sent again.

use crate::clock::real_now;
use crate::config::{Config, EmailProvider, SmsProvider, KLAVIYO_JOBS_PER_SEC};
use crate::mailer;
use crate::pacer_object::{pacer_name, PacerCall, PACER};
use crate::protocol::ShopContext;
use crate::store::{OutboxRow, Sent, SqlStore};
use shared::outbox::{decide, Attempt, Channel, Decision};
use shared::pacer::{Lease, LeaseAsk};
use shared::provider::{self as p, Api, HttpCall, OutgoingEmail, RESEND_BATCH_MAX};
use shared::wire::MessageKind;
use shared::Email;
use worker::{Env, Result};

/// Calls that leave the object in one alarm run: provider calls (a batch is one; a message kept
/// locally counts as one), pacer leases and suppression reads. Far inside the 1 000 subrequests a
/// Workers Paid invocation may make (50 on the free plan's Workers, which do not run this).
pub const SUBREQUESTS_PER_RUN: u32 = 200;
/// Messages handed over in one alarm run: each is rendered in the run (about 0.4 ms of CPU), so a
/// run stays around a second of CPU, far inside the 30 s an invocation may spend.
pub const MESSAGES_PER_RUN: u32 = 2_000;
/// "Due at any time", as a bound the runtime's SQLite binding takes as a safe JavaScript integer.
const ANY_TIME: i64 = (1 << 53) - 1;

/// Delivers what is due. Answers the earliest time at which more can be sent (pacing and
/// `Retry-After` included), or `None` when nothing is pending or more may go at once.
pub async fn deliver_due(env: &Env, cfg: &Config, store: &SqlStore, offset: i64) -> Result<Delivered> {
    let shop = store.shop()?;
    let mut run = Run {
        env,
        cfg,
        store,
        offset,
        shop_name: shop.as_ref().map(|s| s.shop.clone()).unwrap_or_default(),
        sku: store.sku()?,
        shop,
        spent: 0,
        messages: 0,
        calls: 0,
        pace: Default::default(),
        opted_out: Default::default(),
        undeliverable: Default::default(),
    };
    let started = real_now();
    // The channel whose oldest due row waited longest goes first, so a busy one cannot starve
    // the others.
    let now = run.now();
    let mut order: Vec<(i64, Channel)> = Vec::new();
    for ch in Channel::ALL {
        if let Some(t) = run.oldest_due(ch, now)? {
            order.push((t, ch));
        }
    }
    order.sort_by_key(|(t, _)| *t);
    for (_, ch) in order {
        run.deliver(ch).await?;
        if run.spent() {
            break;
        }
    }
    for ch in Channel::ALL {
        if let Some(done) = run.pace[Run::slot(ch)].done {
            store.set_lease_done(ch, done)?;
        }
    }
    if cfg.dev_mode && run.calls > 0 {
        worker::console_log!(
            "delivery run: {} messages, {} provider requests, {} subrequests, {} ms",
            run.messages,
            run.calls,
            run.spent,
            real_now() - started
        );
    }
    let next = if run.spent() {
        None
    } else {
        let now = run.now();
        let mut next: Option<i64> = None;
        for ch in Channel::ALL {
            if let Some(t) = run.ready_at(ch, now)? {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    };
    Ok(Delivered { paced_until: next, opted_out: run.opted_out.take(), undeliverable: run.undeliverable.take() })
}

/// What one channel does with a due row.
enum Plan {
    /// Call the provider (Klaviyo: several calls in order).
    Calls(Vec<HttpCall>, Api),
    /// Nothing leaves the object (outbox mode): the row counts as sent with this id.
    Keep(String),
    /// Not sent, with the reason (no provider for the channel, integration switched off).
    Skip(&'static str),
    /// Cannot be sent, ever (the endpoint was removed, the job is unreadable).
    Fail(String),
}

struct Run<'a> {
    env: &'a Env,
    cfg: &'a Config,
    store: &'a SqlStore,
    offset: i64,
    shop: Option<ShopContext>,
    shop_name: String,
    sku: String,
    /// Calls that left the object in this run ([`SUBREQUESTS_PER_RUN`]).
    spent: u32,
    /// Messages handed over in this run ([`MESSAGES_PER_RUN`]) and the provider calls they took.
    messages: u32,
    calls: u32,
    /// Per channel (`Run::slot`): where its leases stand in this run.
    pace: [Pace; 4],
    /// Entries whose email was skipped because the address is on the suppression list: they
    /// leave the line after the run (`Command::OptedOut`).
    opted_out: std::cell::RefCell<Vec<String>>,
    /// Entries whose offer was dead-lettered: they leave the line after the run, their units
    /// going on (`Command::Undeliverable`).
    undeliverable: std::cell::RefCell<Vec<String>>,
}

/// Where one channel's leases stand in a run.
#[derive(Default, Clone, Copy)]
struct Pace {
    /// A lease fell short in this run, and more may be granted at this time.
    until: Option<i64>,
    /// When the lease whose calls are under way was granted.
    granted_at: Option<i64>,
    /// Once read: the last lease whose calls returned, (granted at, returned at), for the next
    /// lease to tell (`Some(None)`: told already).
    done: Option<Option<(i64, i64)>>,
}

/// What a delivery run leaves to do: when pacing allows the next send, and the entries whose
/// address turned out to be suppressed.
pub struct Delivered {
    pub paced_until: Option<i64>,
    pub opted_out: Vec<String>,
    pub undeliverable: Vec<String>,
}

impl<'a> Run<'a> {
    /// The object's clock (the dev clock's offset included), read fresh: calls take time.
    fn now(&self) -> i64 {
        real_now() + self.offset
    }

    fn rate(&self, ch: Channel) -> u32 {
        match ch {
            Channel::Email => self.cfg.email_rate_per_sec,
            Channel::Sms => self.cfg.sms_rate_per_sec,
            Channel::Klaviyo => KLAVIYO_JOBS_PER_SEC,
            Channel::Hook => 0,
        }
    }

    /// The run's work is used up: the alarm re-arms at once for the rest.
    fn spent(&self) -> bool {
        self.spent >= SUBREQUESTS_PER_RUN || self.messages >= MESSAGES_PER_RUN
    }

    /// What identifies the channel's provider key (hashed into the pacer's name): every SKU and
    /// shop that sends through it shares its rate. `None`: the channel is not paced.
    fn provider_key(&self, ch: Channel) -> Option<String> {
        match ch {
            Channel::Email => Some(match &self.cfg.email {
                EmailProvider::Outbox => "outbox".into(),
                EmailProvider::Resend { api_base, api_key } => format!("resend\n{api_base}\n{api_key}"),
                EmailProvider::Postmark { api_base, server_token } => format!("postmark\n{api_base}\n{server_token}"),
                EmailProvider::SendGrid { api_base, api_key } => format!("sendgrid\n{api_base}\n{api_key}"),
            }),
            Channel::Sms => match &self.cfg.sms {
                SmsProvider::None => None,
                SmsProvider::Outbox => Some("outbox".into()),
                SmsProvider::Twilio { api_base, account_sid, .. } => Some(format!("twilio\n{api_base}\n{account_sid}")),
            },
            Channel::Klaviyo => {
                self.shop.as_ref().and_then(|s| s.klaviyo.as_ref()).map(|k| format!("klaviyo\n{}", k.api_key))
            }
            Channel::Hook => None,
        }
    }

    fn slot(ch: Channel) -> usize {
        Channel::ALL.iter().position(|c| *c == ch).unwrap_or(0)
    }

    /// Up to `want` messages may go now on the channel: the key's pacer says how many. A lease
    /// that falls short marks the channel paced for the rest of the run.
    async fn lease(&mut self, ch: Channel, want: u32, whole: bool) -> Result<u32> {
        let rate = self.rate(ch);
        let Some(key) = self.provider_key(ch).filter(|_| rate > 0 && want > 0) else {
            return Ok(want);
        };
        let slot = Self::slot(ch);
        let done = match self.pace[slot].done {
            Some(done) => done,
            None => self.store.lease_done(ch)?,
        };
        let sender = format!("{}\n{}", self.shop_name, self.sku);
        let ask = LeaseAsk { sender, want, rate, now: self.now(), whole, done };
        let lease: Lease = self.pacer(ch, &key, &PacerCall::Lease { ask, offset_ms: self.offset }).await?;
        let pace = &mut self.pace[slot];
        pace.done = Some(None);
        if lease.granted > 0 {
            pace.granted_at = Some(lease.at);
        }
        if let Some(at) = lease.retry_at {
            pace.until = Some(at);
        }
        Ok(lease.granted)
    }

    /// The calls of the channel's lease returned: its pacer learns when, with the next lease.
    fn returned(&mut self, ch: Channel) {
        let now = self.now();
        let pace = &mut self.pace[Self::slot(ch)];
        if let Some(at) = pace.granted_at.take() {
            pace.done = Some(Some((at, now)));
        }
    }

    /// The provider said 429: nothing more on this key, from any SKU, until `until` (an unpaced
    /// key has no pacer: only this run holds back, and the rows that got it wait their retry).
    async fn hold_back(&mut self, ch: Channel, until: i64) -> Result<()> {
        self.pace[Self::slot(ch)].until = Some(until);
        let Some(key) = self.provider_key(ch).filter(|_| self.rate(ch) > 0) else {
            return Ok(());
        };
        let _: i64 = self.pacer(ch, &key, &PacerCall::Block { until }).await?;
        Ok(())
    }

    /// One call to the channel's key's pacer (a subrequest of the run).
    async fn pacer<T: serde::de::DeserializeOwned>(&mut self, ch: Channel, key: &str, call: &PacerCall) -> Result<T> {
        self.spent += 1;
        crate::http::call_ok(self.env, PACER, &pacer_name(ch.as_str(), key), call)
            .await
            .map_err(|e| worker::Error::RustError(format!("pacer unavailable: {e:?}")))
    }

    fn resend(&self) -> Option<(&'a str, &'a str)> {
        match &self.cfg.email {
            EmailProvider::Resend { api_base, api_key } => Some((api_base.as_str(), api_key.as_str())),
            _ => None,
        }
    }

    fn oldest_due(&self, ch: Channel, now: i64) -> Result<Option<i64>> {
        let mut t = self.store.due_on(ch, now, 1)?.first().map(|r| r.next_at);
        if ch == Channel::Email {
            if let Some(bk) = self.store.due_batches(now, 1)?.first() {
                let b = self.store.batch_members(bk)?.iter().map(|r| r.next_at).min();
                t = [t, b].into_iter().flatten().min();
            }
        }
        Ok(t)
    }

    /// When the channel can next send something: its next pending row, later if a lease fell
    /// short in this run (pacing, or a provider's `Retry-After`).
    fn ready_at(&self, ch: Channel, now: i64) -> Result<Option<i64>> {
        let mut t = self.store.due_on(ch, ANY_TIME, 1)?.first().map(|r| r.next_at);
        if ch == Channel::Email {
            if let Some(bk) = self.store.due_batches(ANY_TIME, 1)?.first() {
                let b = self.store.batch_members(bk)?.iter().map(|r| r.next_at).min();
                t = [t, b].into_iter().flatten().min();
            }
        }
        let paced = self.pace[Self::slot(ch)].until.unwrap_or(0);
        Ok(t.map(|t| t.max(now).max(paced)))
    }

    /// Sends what the channel's lease and this run's budget allow.
    async fn deliver(&mut self, ch: Channel) -> Result<()> {
        if ch == Channel::Email {
            self.deliver_batches().await?;
        }
        let batching = ch == Channel::Email && self.cfg.email_batch && self.resend().is_some();
        let rate = self.rate(ch);
        loop {
            if self.spent() || self.pace[Self::slot(ch)].until.is_some() {
                return Ok(());
            }
            // A lease and a suppression read go with every call.
            let budget = SUBREQUESTS_PER_RUN.saturating_sub(self.spent + 2).min(MESSAGES_PER_RUN - self.messages);
            let mut limit = if batching { RESEND_BATCH_MAX as u32 } else { budget };
            if rate > 0 {
                limit = limit.min(rate);
            }
            if limit == 0 {
                return Ok(());
            }
            let rows = self.store.due_on(ch, self.now(), limit)?;
            if rows.is_empty() {
                return Ok(());
            }
            let rows = self.unsuppressed(ch, rows).await?;
            if rows.is_empty() {
                continue;
            }
            // Rendered before the lease, so the calls leave as soon as it is granted (a rendered
            // row not granted now keeps its body for later).
            let mut rows = self.rendered(rows)?;
            let granted = self.lease(ch, rows.len() as u32, false).await?;
            rows.truncate(granted as usize);
            if rows.is_empty() {
                return Ok(());
            }
            // Rows a batch call refused go one by one (`batch_key` = ''); the rest may be batched.
            let (singles, fresh): (Vec<OutboxRow>, Vec<OutboxRow>) =
                rows.into_iter().partition(|r| !batching || r.batch_key.is_some());
            if fresh.len() >= 2 {
                let mut members = fresh;
                members.sort_by(|a, b| a.key.cmp(&b.key));
                let keys: Vec<&str> = members.iter().map(|r| r.key.as_str()).collect();
                let bk = p::batch_key(&self.shop_name, &keys);
                self.store.set_batch(&bk, &keys)?;
                self.send_batch(&bk, members).await?;
                for row in singles {
                    self.send_one(ch, &row).await?;
                }
                self.returned(ch);
                continue;
            }
            for row in singles.into_iter().chain(fresh) {
                self.send_one(ch, &row).await?;
            }
            self.returned(ch);
        }
    }

    /// Batches fixed in an earlier run go again as they were, under their key.
    async fn deliver_batches(&mut self) -> Result<()> {
        let now = self.now();
        for bk in self.store.due_batches(now, 10)? {
            if self.spent() || self.pace[Self::slot(Channel::Email)].until.is_some() {
                return Ok(());
            }
            let members = self.store.batch_members(&bk)?;
            if members.is_empty() {
                continue;
            }
            let keys: Vec<&str> = members.iter().map(|r| r.key.as_str()).collect();
            if self.resend().is_none() {
                // The provider changed since: these go one by one.
                self.store.unbatch(&keys)?;
                continue;
            }
            let members = self.unsuppressed(Channel::Email, members).await?;
            if members.is_empty() {
                continue;
            }
            let members = self.rendered(members)?;
            if self.lease(Channel::Email, members.len() as u32, true).await? == 0 {
                return Ok(());
            }
            // A member unsubscribed (or was erased) since: a different request, a different key.
            let keys: Vec<&str> = members.iter().map(|r| r.key.as_str()).collect();
            let key = p::batch_key(&self.shop_name, &keys);
            if key != bk {
                self.store.set_batch(&key, &keys)?;
            }
            self.send_batch(&key, members).await?;
            self.returned(Channel::Email);
        }
        Ok(())
    }

    /// The rows whose address is not on the shop's suppression list; the others are skipped.
    /// Read right before sending: an unsubscribe that arrived meanwhile wins. An unreadable
    /// list sends nothing (the alarm fails and is retried). One message passes an unsubscribe:
    /// the double opt-in link a signup asked for, since clicking it is the only way back onto the
    /// shop's mail (bounced or complained addresses get nothing at all).
    async fn unsuppressed(&mut self, ch: Channel, rows: Vec<OutboxRow>) -> Result<Vec<OutboxRow>> {
        let address = |r: &OutboxRow| -> Option<String> {
            match ch {
                Channel::Hook => None,
                Channel::Sms => Some(format!("sms:{}", r.to_addr)),
                Channel::Email | Channel::Klaviyo => {
                    Some(Email::parse(&r.to_addr).map(|e| e.key()).unwrap_or_else(|_| r.to_addr.to_lowercase()))
                }
            }
        };
        let keys: Vec<String> = rows.iter().filter_map(address).collect();
        if !keys.is_empty() {
            self.spent += 1;
        }
        let suppressed = crate::suppression::suppressed(self.env, self.cfg, &self.shop_name, &keys)
            .await
            .map_err(|e| worker::Error::RustError(format!("suppression list unavailable: {e:?}")))?;
        let mut out = Vec::with_capacity(rows.len());
        let asks_consent = |r: &OutboxRow| ch == Channel::Email && r.kind == MessageKind::ConfirmSignup.as_str();
        for row in rows {
            let blocked = address(&row)
                .and_then(|a| suppressed.iter().find(|(k, _)| *k == a))
                .is_some_and(|(_, reason)| !(reason == crate::suppression::UNSUBSCRIBED && asks_consent(&row)));
            if blocked {
                self.store.mark_skipped(&row.key, "skipped: unsubscribed", self.now())?;
                if ch == Channel::Email {
                    self.opted_out.borrow_mut().push(row.entry_id.clone());
                }
            } else {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// The rows with their bodies: those queued as frozen inputs are rendered now, with the
    /// shop's wording as it is, and their bodies written before the provider call (the output
    /// gate holds the call until the write is durable), so a retry sends the same body.
    fn rendered(&self, rows: Vec<OutboxRow>) -> Result<Vec<OutboxRow>> {
        let deployment = crate::sku_object::deployment(self.cfg);
        let (rows, warnings) = waitlist::render_rows(self.store, &deployment, rows, self.now())
            .map_err(|e| worker::Error::RustError(format!("messages could not be rendered: {e}")))?;
        for w in warnings {
            worker::console_warn!("{w}");
        }
        Ok(rows)
    }

    fn email_of<'r>(&'r self, r: &'r OutboxRow) -> OutgoingEmail<'r> {
        OutgoingEmail {
            key: &r.key,
            from: &r.from_addr,
            to: &r.to_addr,
            subject: &r.subject,
            html: &r.html,
            text: &r.text,
            unsubscribe_url: r.unsubscribe_url.as_deref(),
            kind: &r.kind,
            shop: &self.shop_name,
            sku: &self.sku,
            entry_id: &r.entry_id,
        }
    }

    fn plan(&self, ch: Channel, row: &OutboxRow) -> Plan {
        let keep = || Plan::Keep(format!("outbox:{}", row.key));
        match ch {
            Channel::Email => {
                let m = self.email_of(row);
                match &self.cfg.email {
                    EmailProvider::Outbox => keep(),
                    EmailProvider::Resend { api_base, api_key } => {
                        Plan::Calls(vec![p::resend_email(api_base, api_key, &m)], Api::Resend)
                    }
                    EmailProvider::Postmark { api_base, server_token } => {
                        Plan::Calls(vec![p::postmark_email(api_base, server_token, &m)], Api::Postmark)
                    }
                    EmailProvider::SendGrid { api_base, api_key } => {
                        Plan::Calls(vec![p::sendgrid_email(api_base, api_key, &m)], Api::SendGrid)
                    }
                }
            }
            Channel::Sms => match &self.cfg.sms {
                SmsProvider::None => Plan::Skip("skipped: no sms provider"),
                SmsProvider::Outbox => keep(),
                SmsProvider::Twilio { api_base, account_sid, auth_token, from } => {
                    let from = if row.from_addr.is_empty() { from } else { &row.from_addr };
                    let call = p::twilio_message(api_base, account_sid, auth_token, from, &row.to_addr, &row.text);
                    Plan::Calls(vec![call], Api::Twilio)
                }
            },
            Channel::Hook => {
                let endpoint =
                    self.shop.as_ref().and_then(|s| s.event_endpoints.iter().find(|e| e.id == row.from_addr));
                let Some(ep) = endpoint else {
                    return Plan::Fail("endpoint removed".into());
                };
                // Receivers check the timestamp against their own clock: the real one.
                match p::hook_call(&ep.url, &row.key, real_now() / 1000, &row.text, &ep.secret) {
                    Some(call) => Plan::Calls(vec![call], Api::Hook),
                    None => Plan::Fail("endpoint secret is not a whsec_ secret".into()),
                }
            }
            Channel::Klaviyo => {
                let Some(k) = self.shop.as_ref().and_then(|s| s.klaviyo.as_ref()) else {
                    return Plan::Skip("skipped: klaviyo not configured");
                };
                match serde_json::from_str::<p::KlaviyoJob>(&row.text) {
                    Ok(job) => Plan::Calls(
                        p::klaviyo_calls(&self.cfg.klaviyo_api_base, &k.api_key, &row.key, &job),
                        Api::Klaviyo,
                    ),
                    Err(e) => Plan::Fail(format!("unreadable klaviyo job: {e}")),
                }
            }
        }
    }

    async fn send_one(&mut self, ch: Channel, row: &OutboxRow) -> Result<()> {
        let plan = self.plan(ch, row);
        let kept = matches!(plan, Plan::Keep(_));
        let attempt = match plan {
            Plan::Skip(reason) => return self.store.mark_skipped(&row.key, reason, self.now()),
            Plan::Fail(reason) => {
                self.store.mark_failed(&row.key, row.attempts, &reason, self.now())?;
                return self.failed(row, &reason);
            }
            Plan::Keep(id) => {
                self.spent += 1;
                self.messages += 1;
                self.calls += 1;
                Attempt::Accepted { provider_id: Some(id) }
            }
            Plan::Calls(calls, api) => {
                self.spent += calls.len() as u32;
                self.messages += 1;
                self.calls += calls.len() as u32;
                mailer::send_all(&calls, api).await
            }
        };
        let attempts = row.attempts + 1;
        let after = self.now();
        let throttled = matches!(attempt, Attempt::Status { status: 429, .. });
        let first_try_at = row.first_try_at.unwrap_or(after);
        let decision = decide(attempt, attempts as u32, after, first_try_at, js_sys::Math::random());
        if let (true, Decision::Retry { at, .. }) = (throttled, &decision) {
            self.hold_back(ch, *at).await?;
        }
        match decision {
            Decision::Sent { provider_id } => self.store.mark_sent(&row.key, attempts, after, provider_id, kept),
            Decision::Retry { at, reason } => self.store.mark_retry(&row.key, attempts, at, &reason, after),
            Decision::Failed { reason } => {
                worker::console_warn!("message {} failed for good: {reason}", row.key);
                self.store.mark_failed(&row.key, attempts, &reason, after)?;
                self.failed(row, &reason)
            }
        }
    }

    /// One `/emails/batch` call for rows whose membership is already written. The answer applies
    /// to every member; one jitter, so a retried batch stays together.
    async fn send_batch(&mut self, bk: &str, rows: Vec<OutboxRow>) -> Result<()> {
        let Some((base, key)) = self.resend() else {
            return Ok(());
        };
        let call = {
            let emails: Vec<OutgoingEmail<'_>> = rows.iter().map(|r| self.email_of(r)).collect();
            p::resend_batch(base, key, bk, &emails)
        };
        self.spent += 1;
        self.calls += 1;
        self.messages += rows.len() as u32;
        let (attempt, answer) = mailer::send(&call, Api::ResendBatch).await;
        let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0) + 1;
        let after = self.now();
        let throttled = matches!(attempt, Attempt::Status { status: 429, .. });
        let first_try_at = rows.iter().filter_map(|r| r.first_try_at).min().unwrap_or(after);
        match decide(attempt, attempts as u32, after, first_try_at, js_sys::Math::random()) {
            Decision::Sent { .. } => {
                let ids = answer.map(|a| p::resend_batch_ids(&a.body)).unwrap_or_default();
                let sent: Vec<Sent> = rows
                    .iter()
                    .enumerate()
                    .map(|(i, r)| Sent {
                        key: r.key.clone(),
                        attempts: r.attempts + 1,
                        provider_id: ids.get(i).cloned().flatten(),
                    })
                    .collect();
                self.store.mark_sent_all(&sent, after, false)?;
            }
            Decision::Retry { at, reason } => {
                if throttled {
                    self.hold_back(Channel::Email, at).await?;
                }
                let tries: Vec<(&str, i64)> = rows.iter().map(|r| (r.key.as_str(), r.attempts + 1)).collect();
                self.store.mark_retry_all(&tries, at, &format!("batch {bk}: {reason}"), after)?;
            }
            // Refused as a whole (strict validation: one bad address refuses all, and nothing was
            // sent): each goes on its own, so only the bad one fails.
            Decision::Failed { reason }
                if rows.len() > 1 && after - first_try_at < shared::outbox::RETRY_HORIZON_MS =>
            {
                let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
                self.store.unbatch(&keys)?;
                let tries: Vec<(&str, i64)> = rows.iter().map(|r| (r.key.as_str(), r.attempts + 1)).collect();
                let why = format!("batch {bk} refused ({reason}); sending on its own");
                self.store.mark_retry_all(&tries, after, &why, after)?;
            }
            Decision::Failed { reason } => {
                worker::console_warn!("batch {bk} failed for good: {reason}");
                for r in &rows {
                    self.store.mark_failed(&r.key, r.attempts + 1, &reason, after)?;
                    self.failed(r, &reason)?;
                }
            }
        }
        Ok(())
    }

    /// A message (not an outgoing event) that will never go out becomes a `message.failed` event;
    /// an offer's entry leaves the line after the run, so its units go to the next in line.
    fn failed(&self, row: &OutboxRow, reason: &str) -> Result<()> {
        let offer = MessageKind::parse(&row.kind).is_some_and(MessageKind::is_offer);
        if offer && row.channel == Channel::Email.as_str() {
            self.undeliverable.borrow_mut().push(row.entry_id.clone());
        }
        match &self.shop {
            Some(shop) if row.channel != Channel::Hook.as_str() => {
                crate::events::message_failed(self.store, shop, row, reason, self.now())
            }
            _ => Ok(()),
        }
    }
}
