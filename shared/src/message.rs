//! What each message says: subject, HTML and plain text, rendered from the kind's template (the
//! merchant's or the English default, see [`crate::template`]) and the facts of one entry and SKU,
//! plus the footer every email carries.

use crate::date::Date;
use crate::template::{Template, TemplateError};
use crate::wire::MessageKind;
use minijinja::value::Value;
use std::collections::BTreeMap;

/// The facts a message is written from, gathered by the edge when it enqueues the message.
/// Everything beyond the first fields is optional: what is missing is left out of the message.
#[derive(Debug, Clone, Default)]
pub struct MessageContext<'a> {
    pub shop_name: &'a str,
    pub sku_title: &'a str,
    pub product_url: Option<&'a str>,
    /// The ETA phrase, lower case ("we expect this to ship the week of December 7").
    pub eta_text: &'a str,
    /// Place in line when the message was written.
    pub position: Option<u32>,
    /// Units in stock when the message was written.
    pub available: i64,
    /// End of the shopper's hold (Unix ms), for offers.
    pub hold_until: Option<i64>,
    /// The shop's support address, shown in the body of some kinds and in the footer.
    pub support_email: Option<&'a str>,
    /// The shop's postal address, shown in the footer.
    pub postal_address: Option<&'a str>,
    /// Units the shopper asked for; 0 is read as 1.
    pub quantity: u32,
    /// The ETA phrase before it changed (`eta_changed`).
    pub old_eta_text: Option<&'a str>,
    /// The shop's order number (backorders).
    pub order_id: Option<&'a str>,
    /// Signed link to buy the held unit or manage the order (see [`crate::link`]).
    pub claim_url: Option<String>,
    /// Signed link to cancel and refund a backorder.
    pub cancel_url: Option<String>,
    /// Signed link to leave the list.
    pub unsubscribe_url: Option<String>,
    /// Signed link that confirms a signup (double opt-in).
    pub confirm_url: Option<String>,
    /// The shop's offset from UTC, in minutes (EST = -300), for showing the hold's end.
    pub utc_offset_minutes: i32,
    /// The zone's name shown after times ("EST"); without it, "UTC-05:00".
    pub time_zone_label: Option<&'a str>,
    /// The shipment of an order (`order_shipped`, `ship_notice` once fulfilled).
    pub carrier: Option<&'a str>,
    pub tracking_number: Option<&'a str>,
    pub tracking_url: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Writes one message with the built-in English template. Never fails: the defaults are tested for
/// every kind, and should one still fail on odd data, a minimal plain message is sent instead.
pub fn render(kind: MessageKind, ctx: &MessageContext<'_>) -> Rendered {
    render_with(kind, ctx, None).unwrap_or_else(|_| {
        let text = format!(
            "{}: {}",
            single_line(ctx.sku_title),
            sentence(non_blank(Some(ctx.eta_text)).unwrap_or(UNKNOWN_ETA))
        );
        finish(kind, ctx, single_line(ctx.sku_title), text, None)
    })
}

/// Writes one message with the merchant's template, or the default when there is none.
pub fn render_with(
    kind: MessageKind,
    ctx: &MessageContext<'_>,
    custom: Option<&Template>,
) -> Result<Rendered, TemplateError> {
    let vars = ctx.variables();
    let parts = match custom {
        Some(t) => t.render_parts(&vars)?,
        None => crate::template::render_default(kind, &vars)?,
    };
    Ok(finish(kind, ctx, parts.subject, parts.text, parts.html))
}

/// Adds the footer and, when the template has no HTML body, makes one from the text.
fn finish(
    kind: MessageKind,
    ctx: &MessageContext<'_>,
    subject: String,
    body: String,
    html: Option<String>,
) -> Rendered {
    let footer = footer_lines(kind, ctx);
    let mut text = body.clone();
    text.push_str("\n\n--\n");
    text.push_str(&footer.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n"));
    // A merchant's own HTML passes the allowlist (`html::clean`); ours is built escaped from text.
    #[cfg(feature = "sanitize")]
    let html = html.map(|h| crate::html::clean(&h));
    let mut html = html.unwrap_or_else(|| text_to_html(&body));
    html.push_str("<hr><p style=\"color:#666;font-size:12px\">");
    html.push_str(&footer.iter().map(|l| l.html.as_str()).collect::<Vec<_>>().join("<br>"));
    html.push_str("</p>");
    Rendered { subject, html, text }
}

struct FooterLine {
    text: String,
    html: String,
}

/// Why the shopper gets this, the shop's postal address and support contact, the unsubscribe link.
fn footer_lines(kind: MessageKind, ctx: &MessageContext<'_>) -> Vec<FooterLine> {
    let (title, shop) = (single_line(ctx.sku_title), single_line(ctx.shop_name));
    let why = match kind {
        MessageKind::BackorderAck | MessageKind::ShipNotice | MessageKind::OrderShipped => {
            format!("You get this email because you ordered {title} from {shop}.")
        }
        _ => format!("You get this email because you joined the waitlist for {title} at {shop}."),
    };
    let mut lines = vec![FooterLine { html: escape(&why), text: why }];
    if let Some(addr) = non_blank(ctx.postal_address) {
        let one_line = addr.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(", ");
        lines.push(FooterLine { html: escape(&one_line), text: one_line });
    }
    if let Some(support) = non_blank(ctx.support_email) {
        let line = format!("Questions? {}", single_line(support));
        lines.push(FooterLine { html: escape(&line), text: line });
    }
    if let Some(url) = ctx.unsubscribe_url.as_deref().and_then(http_url) {
        lines.push(FooterLine {
            text: format!("Unsubscribe: {url}"),
            html: format!("<a href=\"{}\" style=\"color:#666\">Unsubscribe</a>", escape(url)),
        });
    }
    lines
}

impl MessageContext<'_> {
    /// The template variables (see [`crate::template::VARIABLES`]): every name is always set, to
    /// `none` when unknown; one-line values lose control characters; URLs are http(s) or `none`.
    pub(crate) fn variables(&self) -> Value {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        let mut set = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        let text = |s: Option<&str>| Value::from(non_blank(s).map(single_line));
        let url = |s: Option<&str>| Value::from(s.and_then(http_url).map(str::to_owned));
        set("shop_name", Value::from(single_line(self.shop_name)));
        set("product_title", Value::from(single_line(self.sku_title)));
        set("product_url", url(self.product_url));
        set("eta", Value::from(single_line(self.eta_text)));
        set("eta_sentence", Value::from(sentence(non_blank(Some(self.eta_text)).unwrap_or(UNKNOWN_ETA))));
        set("old_eta", text(self.old_eta_text));
        set("old_eta_sentence", Value::from(non_blank(self.old_eta_text).map(sentence)));
        set("position", Value::from(self.position));
        set("units_left", Value::from(self.available));
        set("quantity", Value::from(self.quantity.max(1)));
        set(
            "hold_until",
            Value::from(self.hold_until.map(|ms| format_instant_in(ms, self.utc_offset_minutes, self.time_zone_label))),
        );
        set("claim_url", url(self.claim_url.as_deref()));
        set("cancel_url", url(self.cancel_url.as_deref()));
        set("unsubscribe_url", url(self.unsubscribe_url.as_deref()));
        set("confirm_url", url(self.confirm_url.as_deref()));
        set("support_email", text(self.support_email));
        set("postal_address", Value::from(non_blank(self.postal_address).map(str::to_owned)));
        set("order_id", text(self.order_id));
        set("carrier", text(self.carrier));
        set("tracking_number", text(self.tracking_number));
        set("tracking_url", url(self.tracking_url));
        Value::from(m)
    }
}

/// Variables to try a merchant template against: every field set (`full`), or only the required ones.
pub(crate) fn sample_variables(full: bool) -> Value {
    let mut ctx = MessageContext {
        shop_name: "Acme Goods",
        sku_title: "Tee (Black, M)",
        eta_text: "we expect this to ship the week of December 7",
        ..Default::default()
    };
    if full {
        ctx = MessageContext {
            product_url: Some("https://shop.example/products/tee"),
            position: Some(3),
            available: 40,
            hold_until: Some(1_796_140_800_000),
            support_email: Some("help@shop.example"),
            postal_address: Some("1 Main St\nSpringfield"),
            quantity: 2,
            old_eta_text: Some("we expect this to ship the week of November 30"),
            order_id: Some("#1001"),
            claim_url: Some("https://shop.example/c/abc".into()),
            cancel_url: Some("https://shop.example/x/abc".into()),
            unsubscribe_url: Some("https://shop.example/u/abc".into()),
            utc_offset_minutes: -300,
            time_zone_label: Some("EST"),
            carrier: Some("UPS"),
            tracking_number: Some("1Z999AA10123456784"),
            tracking_url: Some("https://www.ups.com/track?tracknum=1Z999AA10123456784"),
            ..ctx
        };
    }
    ctx.variables()
}

/// The text message for the kinds worth a text (confirmation, offers, the hold's last hours,
/// shipping); `None` for the rest, which go by email only. Plain, short (at most two SMS
/// segments for usual titles), and always with how to stop.
pub fn sms_text(kind: MessageKind, ctx: &MessageContext<'_>) -> Option<String> {
    if !has_sms(kind) {
        return None;
    }
    let shop = single_line(ctx.shop_name);
    let mut title = single_line(ctx.sku_title);
    if title.chars().count() > 60 {
        title = title.chars().take(59).collect::<String>() + "…";
    }
    let until = ctx.hold_until.map(|ms| format_instant_in(ms, ctx.utc_offset_minutes, ctx.time_zone_label));
    let link = ctx.claim_url.as_deref().and_then(http_url).or(ctx.product_url.and_then(http_url));
    let with_link = |s: String| match link {
        Some(l) => format!("{s}: {l}"),
        None => format!("{s}."),
    };
    let body = match kind {
        MessageKind::SignupConfirmation => match ctx.position {
            Some(p) => format!("you're #{p} on the waitlist for {title}. We'll text you when it's back."),
            None => format!("you're on the waitlist for {title}. We'll text you when it's back."),
        },
        MessageKind::RestockOffer | MessageKind::PreorderReady => match &until {
            Some(u) => with_link(format!("{title} is here and held for you until {u}")),
            None => with_link(format!("{title} is back in stock, first come first served")),
        },
        MessageKind::HoldReminder => match &until {
            Some(u) => with_link(format!("your hold on {title} ends {u}")),
            None => with_link(format!("your hold on {title} ends soon")),
        },
        MessageKind::ShipNotice | MessageKind::OrderShipped => {
            let tracking: Vec<&str> = [ctx.carrier, ctx.tracking_number, ctx.tracking_url.and_then(http_url)]
                .into_iter()
                .flatten()
                .filter(|s| !s.trim().is_empty())
                .collect();
            if tracking.is_empty() {
                format!("your {title} is on its way.")
            } else {
                format!("your {title} has shipped: {}.", tracking.join(" "))
            }
        }
        _ => return None,
    };
    Some(format!("{shop}: {body} Reply STOP to opt out."))
}

/// Whether a kind has a text message beside its email (the ones a shopper acts on at once or
/// waits for: the signup's place, offers, the hold's end, shipping).
pub fn has_sms(kind: MessageKind) -> bool {
    matches!(
        kind,
        MessageKind::SignupConfirmation
            | MessageKind::RestockOffer
            | MessageKind::PreorderReady
            | MessageKind::HoldReminder
            | MessageKind::ShipNotice
            | MessageKind::OrderShipped
    )
}

/// Said when the edge has no ETA phrase (the same words as [`crate::eta::eta_phrase`] without an ETA).
const UNKNOWN_ETA: &str = "we'll tell you as soon as we know when it ships";

/// "December 1, 16:00 UTC".
pub fn format_instant(ms: i64) -> String {
    format_instant_in(ms, 0, None)
}

/// The instant at a fixed offset from UTC: "December 1, 11:00 EST", or "December 1, 11:00 UTC-05:00"
/// without a label. Offsets beyond ±18 hours are clamped.
pub fn format_instant_in(ms: i64, utc_offset_minutes: i32, label: Option<&str>) -> String {
    let offset = utc_offset_minutes.clamp(-18 * 60, 18 * 60);
    let local = ms.saturating_add(i64::from(offset) * 60_000);
    let d = Date::from_unix_ms(local);
    let mins = local.rem_euclid(crate::date::DAY_MS) / 60_000;
    let zone = match non_blank(label) {
        Some(l) => single_line(l),
        None if offset == 0 => "UTC".to_owned(),
        None => format!("UTC{}{:02}:{:02}", if offset < 0 { '-' } else { '+' }, offset.abs() / 60, offset.abs() % 60),
    };
    format!("{}, {:02}:{:02} {zone}", d.long_text(d.year()), mins / 60, mins % 60)
}

/// Paragraphs (split on blank lines) of escaped text; single line breaks become `<br>`, and only
/// `http(s)` URLs become links.
fn text_to_html(text: &str) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", p.lines().map(linkify).collect::<Vec<_>>().join("<br>")))
        .collect()
}

/// Escapes one line, turning each whitespace-separated `http(s)://` word into a link (trailing
/// punctuation stays outside it).
fn linkify(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, after) = rest.split_at(word_end);
        let url_len = word.trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '\'', '"']).len();
        match http_url(&word[..url_len]) {
            Some(url) if url.len() > "https://".len() => {
                out.push_str(&format!("<a href=\"{0}\">{0}</a>", escape(url)));
                out.push_str(&escape(&word[url_len..]));
            }
            _ => out.push_str(&escape(word)),
        }
        let space_end = after.find(|c: char| !c.is_whitespace()).unwrap_or(after.len());
        out.push_str(&escape(&after[..space_end]));
        rest = &after[space_end..];
    }
    out
}

/// `s` when it is an `http://` or `https://` URL without whitespace or control characters.
fn http_url(s: &str) -> Option<&str> {
    let s = s.trim();
    let lower = s.get(..8).map(str::to_ascii_lowercase).unwrap_or_default();
    let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
    (scheme_ok && !s.chars().any(|c| c.is_whitespace() || c.is_control())).then_some(s)
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Control characters (line breaks included) become spaces: values that end up in subjects and
/// single lines.
fn single_line(s: &str) -> String {
    s.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// "we expect …" → "We expect ….".
fn sentence(s: &str) -> String {
    format!("{}.", sentence_body(s))
}

fn sentence_body(s: &str) -> String {
    let s = single_line(s);
    let s = s.trim_end_matches('.');
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Template;

    const HOLD_END: i64 = 1_796_140_800_000; // 2026-12-01 16:00 UTC

    fn ctx() -> MessageContext<'static> {
        MessageContext {
            shop_name: "Acme <Goods>",
            sku_title: "Tee \"Black\" <b>",
            product_url: Some("https://acme.test/products/tee?variant=1"),
            eta_text: "we expect this to ship the week of December 7",
            position: Some(3),
            available: 40,
            hold_until: Some(HOLD_END),
            support_email: Some("help@acme.test"),
            postal_address: Some("1 Main St\nSpringfield, IL 62701"),
            quantity: 1,
            old_eta_text: Some("we expect this to ship the week of November 30"),
            order_id: Some("#1001"),
            claim_url: Some("https://acme.test/l/claim.tok".into()),
            cancel_url: Some("https://acme.test/l/cancel.tok".into()),
            unsubscribe_url: Some("https://acme.test/l/unsub.tok".into()),
            confirm_url: Some("https://acme.test/l/confirm.tok".into()),
            utc_offset_minutes: -300,
            time_zone_label: Some("EST"),
            carrier: Some("UPS"),
            tracking_number: Some("1Z999"),
            tracking_url: Some("https://ups.test/t/1Z999"),
        }
    }

    #[test]
    fn texts_are_short_and_say_how_to_stop() {
        for kind in MessageKind::ALL {
            assert_eq!(sms_text(kind, &ctx()).is_some(), has_sms(kind), "{kind:?}");
            if let Some(t) = sms_text(kind, &ctx()) {
                assert!(t.starts_with("Acme <Goods>: "), "{kind:?}: {t}");
                assert!(t.ends_with("Reply STOP to opt out."), "{kind:?}: {t}");
                assert!(t.chars().count() <= 320, "{kind:?} is {} characters", t.chars().count());
            }
        }
        let offer = sms_text(MessageKind::RestockOffer, &ctx()).unwrap();
        assert!(offer.contains("held for you until December 1, 11:00 EST: https://acme.test/l/claim.tok"), "{offer}");
        assert_eq!(sms_text(MessageKind::MidwaitCheckin, &ctx()), None);
        let shipped = sms_text(MessageKind::OrderShipped, &ctx()).unwrap();
        assert!(shipped.contains("UPS 1Z999 https://ups.test/t/1Z999"), "{shipped}");
    }

    /// One row per kind: phrases the subject and the text must contain.
    #[test]
    fn every_kind_says_what_it_must() {
        let rows: [(MessageKind, &str, &[&str]); 15] = [
            (MessageKind::ConfirmSignup, "Please confirm", &["confirm it's you:\n\nhttps://acme.test/l/confirm.tok", "won't hear from us again"]),
            (MessageKind::SignupConfirmation, "on the list", &["waitlist for Tee \"Black\" <b>: you're #3 in line.\n\nWe expect this to ship the week of December 7."]),
            (MessageKind::MidwaitCheckin, "Still on the list", &["still on the waitlist, #3 in line", "December 7."]),
            (MessageKind::ShippingImminent, "ships in a few days", &["confirm your shipping address: https://acme.test/l/claim.tok"]),
            (
                MessageKind::EtaChanged,
                "New ship date",
                &["Before: We expect this to ship the week of November 30.", "Now: We expect this to ship the week of December 7."],
            ),
            (
                MessageKind::RestockOffer,
                "one is reserved for you",
                &["only 40 left — and you were #3 on the list", "until December 1, 11:00 EST", "Buy it now: https://acme.test/l/claim.tok"],
            ),
            (MessageKind::PreorderReady, "pre-order", &["one is set aside for you until December 1, 11:00 EST", "https://acme.test/l/claim.tok"]),
            (MessageKind::SoldOutAgain, "sold out again", &["stay on it", "still on the list (#3)"]),
            (MessageKind::HoldReminder, "until December 1, 11:00 EST", &["still holding", "next person in line"]),
            (MessageKind::HoldExpired, "hold on", &["went to the next person in line", "still on the list"]),
            (MessageKind::NonopenerFollowup, "Still reserved for you", &["In case you missed", "until December 1, 11:00 EST. Only 40 left."]),
            (MessageKind::UrgencyFollowup, "Only 40 left", &["there are only 40 left", "first come, first served"]),
            (
                MessageKind::BackorderAck,
                "backorder",
                &["Thanks for your order #1001", "We expect this to ship the week of December 7. We'll keep you posted", "refund: https://acme.test/l/cancel.tok", "help@acme.test"],
            ),
            (MessageKind::ShipNotice, "on its way", &["thanks for your patience — your order #1001 is finally on its way"]),
            (MessageKind::OrderShipped, "has shipped", &["your order #1001 with Tee", "Thanks for waiting"]),
        ];
        assert_eq!(rows.len(), MessageKind::ALL.len());
        for (kind, subject, phrases) in rows {
            let r = render(kind, &ctx());
            assert_eq!(render_with(kind, &ctx(), None).as_ref(), Ok(&r));
            assert!(r.subject.contains(subject), "{kind:?}: {}", r.subject);
            assert!(!r.subject.contains(['\n', '\r']), "{kind:?}");
            assert!(r.subject.contains("Tee \"Black\" <b>"), "{kind:?}: the subject names the product: {}", r.subject);
            for p in phrases {
                assert!(r.text.to_lowercase().contains(&p.to_lowercase()), "{kind:?}: {p:?} not in\n{}", r.text);
            }
            // Escaped everywhere in the HTML, never raw.
            assert!(r.html.starts_with("<p>"), "{kind:?}");
            assert!(r.html.contains("Tee &quot;Black&quot; &lt;b&gt;"), "{kind:?}: {}", r.html);
            assert!(!r.html.contains("<b>") && !r.html.contains("<Goods>"), "{kind:?}");
            assert!(!r.text.contains("none") && !r.html.contains("none"), "{kind:?}: a none leaked:\n{}", r.text);
            // The footer.
            assert!(r.text.contains("You get this email because you"), "{kind:?}");
            assert!(
                r.text.contains("1 Main St, Springfield, IL 62701") && r.text.contains("help@acme.test"),
                "{kind:?}"
            );
            assert!(r.text.ends_with("Unsubscribe: https://acme.test/l/unsub.tok"), "{kind:?}");
            assert!(r.html.contains("<a href=\"https://acme.test/l/unsub.tok\""), "{kind:?}");
        }
    }

    #[test]
    fn every_kind_renders_with_nothing_optional() {
        let bare = MessageContext { shop_name: "Acme", sku_title: "Tee", ..Default::default() };
        for kind in MessageKind::ALL {
            let r = render_with(kind, &bare, None).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert!(!r.subject.is_empty() && !r.text.is_empty(), "{kind:?}");
            assert!(!r.text.contains("none") && !r.text.contains("{{"), "{kind:?}:\n{}", r.text);
            assert!(!r.text.contains("Unsubscribe") && !r.html.contains("<a "), "{kind:?}");
        }
    }

    #[test]
    fn offer_copy_follows_the_facts() {
        let mut c = ctx();
        c.available = 500;
        c.hold_until = None;
        let r = render(MessageKind::RestockOffer, &c);
        assert_eq!(r.subject, "Tee \"Black\" <b> is back");
        assert!(r.text.contains("back in stock") && r.text.contains("first come, first served"), "{}", r.text);
        c.quantity = 2;
        c.hold_until = Some(HOLD_END);
        assert!(render(MessageKind::RestockOffer, &c).text.contains("holding 2 for you"));
        c.claim_url = None;
        assert!(render(MessageKind::RestockOffer, &c)
            .text
            .contains("Buy it now: https://acme.test/products/tee?variant=1"));
    }

    #[test]
    fn unsafe_links_are_left_out() {
        let mut c = ctx();
        c.product_url = Some("javascript:alert(1)");
        c.claim_url = Some("JavaScript:alert(1)".into());
        c.unsubscribe_url = Some("data:text/html,x".into());
        for kind in MessageKind::ALL {
            let r = render(kind, &c);
            assert!(
                !r.html.to_lowercase().contains("javascript") && !r.text.to_lowercase().contains("javascript"),
                "{kind:?}"
            );
            assert!(!r.html.contains("data:"), "{kind:?}");
        }
    }

    #[test]
    fn text_becomes_linked_paragraphs() {
        let cases = [
            ("a\n\nb", "<p>a</p><p>b</p>"),
            ("a\nb", "<p>a<br>b</p>"),
            ("Go: https://x.test/a?b=1&c=2.", "<p>Go: <a href=\"https://x.test/a?b=1&amp;c=2\">https://x.test/a?b=1&amp;c=2</a>.</p>"),
            ("(http://x.test)", "<p>(http://x.test)</p>"),
            ("see http://x.test)", "<p>see <a href=\"http://x.test\">http://x.test</a>)</p>"),
            ("javascript:alert(1) <i>", "<p>javascript:alert(1) &lt;i&gt;</p>"),
            ("https:// alone", "<p>https:// alone</p>"),
            ("https://x.test/\"onmouseover=\"x", "<p><a href=\"https://x.test/&quot;onmouseover=&quot;x\">https://x.test/&quot;onmouseover=&quot;x</a></p>"),
        ];
        for (text, want) in cases {
            assert_eq!(text_to_html(text), want, "{text:?}");
        }
    }

    #[test]
    fn merchant_templates() {
        let custom = Template {
            subject: "{{ product_title }} restocked at {{ shop_name }}".into(),
            text: "Hi! {{ product_title }}: {{ claim_url }}".into(),
            html: Some("<h1>{{ product_title }}</h1><a href=\"{{ claim_url }}\">Buy</a>".into()),
        };
        assert_eq!(custom.validate(), Ok(()));
        let r = render_with(MessageKind::RestockOffer, &ctx(), Some(&custom)).unwrap();
        assert_eq!(r.subject, "Tee \"Black\" <b> restocked at Acme <Goods>");
        assert!(r.text.starts_with("Hi! Tee \"Black\" <b>: https://acme.test/l/claim.tok\n\n--\n"), "{}", r.text);
        // Values are escaped by minijinja, then the allowlist re-serializes the markup (entities as
        // the HTML spec writes them, links with `rel`).
        #[cfg(feature = "sanitize")]
        let want = "<h1>Tee \"Black\" &lt;b&gt;</h1><a href=\"https://acme.test/l/claim.tok\" rel=\"noopener noreferrer\">Buy</a><hr>";
        #[cfg(not(feature = "sanitize"))]
        let want = "<h1>Tee &quot;Black&quot; &lt;b&gt;</h1><a href=\"https:&#x2f;&#x2f;acme.test&#x2f;l&#x2f;claim.tok\">Buy</a><hr>";
        assert!(r.html.starts_with(want), "{}", r.html);
        // What the blocklist at validation lets through, the allowlist takes out.
        #[cfg(feature = "sanitize")]
        {
            let sneaky = Template {
                subject: "x".into(),
                text: "x".into(),
                html: Some(
                    "<img src=\"{{ claim_url }}\" onerror=\"fetch('https://evil.example')\"><p>{{ product_title }}</p>"
                        .into(),
                ),
            };
            assert_eq!(sneaky.validate(), Ok(()));
            let r = render_with(MessageKind::RestockOffer, &ctx(), Some(&sneaky)).unwrap();
            assert!(!r.html.contains("onerror") && !r.html.contains("evil"), "{}", r.html);
            assert!(r.html.starts_with("<img src=\"https://acme.test/l/claim.tok\"><p>Tee"), "{}", r.html);
        }
        assert!(r.html.contains("Unsubscribe</a>"), "the footer cannot be dropped");

        let broken = Template { subject: "x".into(), text: "{{ position + 1 }}".into(), html: None };
        let mut c = ctx();
        c.position = None;
        assert!(matches!(render_with(MessageKind::RestockOffer, &c, Some(&broken)), Err(TemplateError::Render { .. })));
        let syntax = Template { subject: "{% if %}".into(), text: "x".into(), html: None };
        assert!(matches!(render_with(MessageKind::RestockOffer, &c, Some(&syntax)), Err(TemplateError::Syntax { .. })));
    }

    #[test]
    fn data_cannot_break_the_subject() {
        let mut c = ctx();
        c.sku_title = "Tee\r\nBcc: victim@example.com";
        for kind in MessageKind::ALL {
            let r = render(kind, &c);
            assert!(!r.subject.contains(['\r', '\n']), "{kind:?}: {:?}", r.subject);
        }
    }

    #[test]
    fn instants_in_the_shop_time_zone() {
        let cases = [
            (0, None, "December 1, 16:00 UTC"),
            (-300, Some("EST"), "December 1, 11:00 EST"),
            (-300, None, "December 1, 11:00 UTC-05:00"),
            (330, None, "December 1, 21:30 UTC+05:30"),
            (600, Some("AEST"), "December 2, 02:00 AEST"),
        ];
        for (offset, label, want) in cases {
            assert_eq!(format_instant_in(HOLD_END, offset, label), want);
        }
        assert_eq!(format_instant(HOLD_END), "December 1, 16:00 UTC");
        format_instant_in(i64::MAX, i32::MAX, Some("X"));
        format_instant_in(i64::MIN, i32::MIN, None);
    }
}
