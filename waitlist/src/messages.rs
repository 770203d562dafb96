//! The messages a change causes. An email or text message is queued as its frozen inputs (what
//! the change knew: the place in line, the units left, the hold's end, the ETA, `now` for the
//! links' expiries) and rendered when it is first sent ([`render_rows`]); the outgoing events and
//! Klaviyo jobs the message stands for are written whole.

use crate::command::Shipment;
use crate::events;
use crate::links::{self, LinkKeys};
use crate::sku::Sku;
use crate::store::{Body, NewMessage, OutboxRow, Store};
use serde::{Deserialize, Serialize};
use shared::message::{has_sms, render, render_with, sms_text, MessageContext};
use shared::outbox::Channel;
use shared::queue::{Effect, Entry};
use shared::wire::MessageKind;

/// Facts some messages quote that are not in the queue: the ETA before a change, a shipment.
#[derive(Default)]
pub(crate) struct Extras<'a> {
    pub old_eta_text: Option<&'a str>,
    pub shipment: Option<&'a Shipment>,
}

/// What messages quote about the line: the entries (as they are after the change), each one's
/// place, and the units still free.
pub(crate) struct Line<'a> {
    pub entries: &'a [Entry],
    pub position: &'a dyn Fn(&str) -> Option<u32>,
    pub free: i64,
}

/// What a message's body is rendered from, frozen when it is queued: the facts of the change
/// that caused it. The shop's wording, names and addresses are read when it is rendered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Frozen {
    /// When it was queued: the links' expiries count from it.
    pub at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    pub available: i64,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    pub eta: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_eta: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment: Option<Shipment>,
}

/// Writes the messages the effects ask for, from the queue as it is after them: the email, the
/// text message when the shopper gave a phone and SMS consent (both as frozen inputs), the
/// outgoing events and the Klaviyo event the message stands for.
pub(crate) fn render_all(
    line: &Line<'_>,
    s: &Sku,
    effects: &[Effect],
    now: i64,
    extras: Extras<'_>,
) -> Vec<NewMessage> {
    // Entries that just left the queue (e.g. an expired hold) are found among the saved ones.
    let saved: std::collections::HashMap<&str, &Entry> = effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Save(e) => Some((e.id.as_str(), e)),
            Effect::Send(_) => None,
        })
        .collect();
    let eta_text = s.eta_text(now);
    let by_id: std::collections::HashMap<&str, &Entry> = line.entries.iter().map(|e| (e.id.as_str(), e)).collect();
    let free = line.free;
    let from = format!("{} <{}>", s.shop.name.replace(['<', '>', '"'], ""), s.shop.from_email);
    effects
        .iter()
        .filter_map(|fx| match fx {
            Effect::Send(o) => Some(o),
            Effect::Save(_) => None,
        })
        .flat_map(|o| {
            let Some(entry) = by_id.get(o.entry_id.as_str()).or_else(|| saved.get(o.entry_id.as_str())).copied() else {
                return Vec::new();
            };
            let position = (line.position)(entry.id.as_str());
            let frozen = Frozen {
                at: now,
                position,
                available: free + i64::from(entry.units),
                quantity: if entry.units > 0 { entry.units } else { entry.quantity },
                hold_until: entry.hold_until,
                order_id: entry.order_id.clone(),
                eta: eta_text.clone(),
                old_eta: extras.old_eta_text.map(str::to_owned),
                shipment: extras.shipment.cloned(),
            };
            let inputs = serde_json::to_string(&frozen).ok();
            let message = |key: String, channel: Channel, to: &str, from: &str| NewMessage {
                key,
                entry_id: entry.id.clone(),
                channel,
                kind: o.kind.as_str().to_owned(),
                to: to.to_owned(),
                from: from.to_owned(),
                subject: String::new(),
                html: String::new(),
                text: String::new(),
                unsubscribe_url: None,
                inputs: inputs.clone(),
            };
            let mut rows = vec![message(format!("{}:{}", s.shop.shop, o.key()), Channel::Email, &entry.email, &from)];
            if let (Some(phone), true, true) = (&entry.phone, entry.sms_consent, has_sms(o.kind)) {
                rows.push(message(format!("{}:{}:sms", s.shop.shop, o.key()), Channel::Sms, phone, ""));
            }
            match o.kind {
                MessageKind::RestockOffer | MessageKind::PreorderReady => {
                    let mut data = events::entry_data(&s.shop, &s.name, entry, position);
                    data["message"] = o.kind.as_str().into();
                    rows.extend(events::rows(&s.shop, "offer.sent", &o.key(), &entry.id, data, now));
                    rows.extend(klaviyo_offer(s, entry, &o.key(), now));
                }
                MessageKind::HoldExpired => {
                    let data = events::entry_data(&s.shop, &s.name, entry, position);
                    rows.extend(events::rows(&s.shop, "hold.expired", &o.key(), &entry.id, data, now));
                }
                _ => {}
            }
            rows
        })
        .collect()
}

/// A message's body from its frozen inputs and the shop's wording now. Also answers a warning
/// when a merchant template failed on this data (the default wording went out instead). `Err`:
/// it cannot be rendered (unreadable inputs, a kind without a text message).
pub(crate) fn body(
    keys: &LinkKeys,
    s: &Sku,
    channel: &str,
    kind: &str,
    entry_id: &str,
    inputs: &str,
) -> Result<(Body, Option<String>), String> {
    let kind = MessageKind::parse(kind).ok_or_else(|| format!("unknown kind {kind}"))?;
    let f: Frozen = serde_json::from_str(inputs).map_err(|e| format!("unreadable inputs: {e}"))?;
    let links =
        links::for_message(keys, &s.shop.shop, &s.name, entry_id, kind, s.config.url.as_deref(), f.hold_until, f.at);
    let shipment = f.shipment.as_ref();
    let ctx = MessageContext {
        shop_name: &s.shop.name,
        sku_title: &s.config.title,
        product_url: s.config.url.as_deref(),
        eta_text: &f.eta,
        old_eta_text: f.old_eta.as_deref(),
        position: f.position,
        available: f.available,
        quantity: f.quantity,
        hold_until: f.hold_until,
        order_id: f.order_id.as_deref(),
        support_email: s.shop.support_email.as_deref(),
        postal_address: s.shop.postal_address.as_deref(),
        utc_offset_minutes: s.shop.utc_offset_minutes,
        time_zone_label: s.shop.time_zone_label.as_deref(),
        claim_url: links.claim_url,
        cancel_url: links.cancel_url,
        unsubscribe_url: links.unsubscribe_url.clone(),
        confirm_url: links.confirm_url,
        carrier: shipment.and_then(|t| t.carrier.as_deref()),
        tracking_number: shipment.and_then(|t| t.number.as_deref()),
        tracking_url: shipment.and_then(|t| t.url.as_deref()),
    };
    if channel == Channel::Sms.as_str() {
        let text = sms_text(kind, &ctx).ok_or_else(|| format!("{} has no text message", kind.as_str()))?;
        return Ok((Body { subject: String::new(), html: String::new(), text, unsubscribe_url: None }, None));
    }
    // A merchant template that fails on this data falls back to the default wording.
    let mut warning = None;
    let r = render_with(kind, &ctx, s.shop.templates.get(kind.as_str())).unwrap_or_else(|e| {
        warning = Some(format!("template for {} failed, default used: {e}", kind.as_str()));
        render(kind, &ctx)
    });
    Ok((Body { subject: r.subject, html: r.html, text: r.text, unsubscribe_url: links.unsubscribe_url }, warning))
}

/// The rows with their bodies: those still holding inputs are rendered, their bodies written
/// (before the provider call, so a retry sends exactly the same) and their inputs dropped; one
/// that cannot be rendered fails and is left out. Rows already rendered pass as they are.
pub(crate) fn render_rows<S: Store + ?Sized>(
    store: &S,
    keys: &LinkKeys,
    s: &Sku,
    rows: Vec<OutboxRow>,
    now: i64,
    warnings: &mut Vec<String>,
) -> crate::store::StoreResult<Vec<OutboxRow>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut bodies = Vec::new();
    for mut row in rows {
        let Some(inputs) = row.inputs.take() else {
            out.push((row, None));
            continue;
        };
        match body(keys, s, &row.channel, &row.kind, &row.entry_id, &inputs) {
            Ok((b, warning)) => {
                warnings.extend(warning);
                row.subject = b.subject.clone();
                row.html = b.html.clone();
                row.text = b.text.clone();
                row.unsubscribe_url = b.unsubscribe_url.clone();
                out.push((row, Some(bodies.len())));
                bodies.push(Ok(b));
            }
            Err(reason) => {
                out.push((row, Some(bodies.len())));
                bodies.push(Err(format!("cannot be rendered: {reason}")));
            }
        }
    }
    // Every body of the call in one write, before the provider sees any of them.
    let written: Vec<(&str, Result<&Body, &str>)> = out
        .iter()
        .filter_map(|(row, i)| i.map(|i| (row.key.as_str(), bodies[i].as_ref().map_err(String::as_str))))
        .collect();
    store.set_bodies(&written, now)?;
    Ok(out.into_iter().filter(|(_, i)| i.is_none_or(|i| bodies[i].is_ok())).map(|(row, _)| row).collect())
}

/// Whether a signup's consent record holds the shop's separate marketing consent.
pub(crate) fn marketing_consented(consent: Option<&serde_json::Value>) -> bool {
    consent
        .and_then(|c| c["channels"].as_array())
        .is_some_and(|channels| channels.iter().any(|c| c == "email_marketing"))
}

/// The Klaviyo job for a new signup: the profile and a `Joined Waitlist` event; a subscription to
/// email marketing (on the product's list) only with the shopper's separate marketing consent, and
/// only while the shop asks for it.
pub(crate) fn klaviyo_joined(
    s: &Sku,
    e: &Entry,
    position: Option<u32>,
    marketing: bool,
    now: i64,
) -> Option<NewMessage> {
    let k = s.shop.klaviyo.as_ref()?;
    let job = serde_json::json!({
        "step": "joined",
        "marketing": marketing && k.marketing,
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
fn klaviyo_offer(s: &Sku, e: &Entry, key: &str, now: i64) -> Option<NewMessage> {
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

fn klaviyo_row(e: &Entry, key: String, step: &str, job: serde_json::Value) -> NewMessage {
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
        inputs: None,
    }
}
