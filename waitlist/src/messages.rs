//! The messages a change causes, rendered from the queue as it is after the change: the email, the
//! text message when the shopper gave a phone and SMS consent, the outgoing events and the Klaviyo
//! jobs the message stands for.

use crate::command::Shipment;
use crate::events;
use crate::links::{self, LinkKeys};
use crate::sku::Sku;
use crate::store::NewMessage;
use shared::message::{render, render_with, sms_text, MessageContext};
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

/// Writes the messages the effects ask for, from the queue as it is after them: the email, the
/// text message when the shopper gave a phone and SMS consent, the outgoing events and the Klaviyo
/// event the message stands for.
/// Also answers warnings: merchant templates that failed on this data (the default wording went
/// out instead).
pub(crate) fn render_all(
    keys: &LinkKeys,
    line: &Line<'_>,
    s: &Sku,
    effects: &[Effect],
    now: i64,
    extras: Extras<'_>,
) -> (Vec<NewMessage>, Vec<String>) {
    let mut warnings = Vec::new();
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
    let rows = effects
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
                keys,
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
                position: (line.position)(entry.id.as_str()),
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
                warnings.push(format!("template for {} failed, default used: {e}", o.kind.as_str()));
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
            let position = (line.position)(entry.id.as_str());
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
        .collect();
    (rows, warnings)
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
    }
}
