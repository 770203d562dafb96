//! What each message says: subject, HTML and plain text, from the facts of one entry and SKU.

use crate::date::Date;
use crate::wire::MessageKind;

/// The facts a message is written from, gathered by the edge when it enqueues the message.
#[derive(Debug, Clone, Default)]
pub struct MessageContext<'a> {
    pub shop_name: &'a str,
    pub sku_title: &'a str,
    pub product_url: Option<&'a str>,
    pub eta_text: &'a str,
    /// Place in line when the message was written.
    pub position: Option<u32>,
    /// Units in stock when the message was written.
    pub available: i64,
    /// End of the shopper's hold (Unix ms), for offers.
    pub hold_until: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Writes one message. The text is the source; the HTML is the same paragraphs, escaped.
pub fn render(kind: MessageKind, ctx: &MessageContext<'_>) -> Rendered {
    let title = ctx.sku_title;
    let (subject, paragraphs, call) = match kind {
        MessageKind::SignupConfirmation => (
            format!("You're on the list for {title}"),
            vec![
                match ctx.position {
                    Some(p) => format!("Thanks for joining the waitlist for {title}. You're #{p} in line."),
                    None => format!("Thanks for joining the waitlist for {title}."),
                },
                format!("{}.", capitalize(ctx.eta_text)),
                "We'll email you the moment it's back, in the order people joined.".to_owned(),
            ],
            None,
        ),
        MessageKind::RestockOffer => {
            let mut lines = vec![match (ctx.available, ctx.position) {
                (n, Some(p)) if n > 0 && n <= 100 => {
                    format!("{title} is back — only {n} left, and you were #{p} on the list.")
                }
                _ => format!("{title} is back in stock, and you're near the front of the line."),
            }];
            if let Some(until) = ctx.hold_until {
                lines.push(format!("We're holding one for you until {}.", format_instant(until)));
            }
            (format!("{title} is back — one is reserved for you"), lines, Some("Buy it now"))
        }
        MessageKind::SoldOutAgain => (
            format!("{title} sold out again"),
            vec![
                format!("{title} came back in stock, and the units went to the people ahead of you in line."),
                "You're still on the list: stay on it and we'll tell you as soon as more arrive.".to_owned(),
                format!("{}.", capitalize(ctx.eta_text)),
            ],
            None,
        ),
        other => (format!("{title}: {}", other.as_str().replace('_', " ")), vec![format!("{}.", capitalize(ctx.eta_text))], None),
    };
    let link = ctx.product_url.filter(|u| u.starts_with("https://") || u.starts_with("http://"));
    let mut text = paragraphs.join("\n\n");
    let mut html = paragraphs.iter().map(|p| format!("<p>{}</p>", escape(p))).collect::<String>();
    if let (Some(call), Some(url)) = (call, link) {
        text.push_str(&format!("\n\n{call}: {url}"));
        html.push_str(&format!("<p><a href=\"{}\">{}</a></p>", escape(url), escape(call)));
    }
    let footer = format!("You get this because you joined a waitlist at {}.", ctx.shop_name);
    text.push_str(&format!("\n\n--\n{footer}"));
    html.push_str(&format!("<hr><p style=\"color:#666;font-size:12px\">{}</p>", escape(&footer)));
    Rendered { subject, html, text }
}

/// "December 1, 14:00 UTC".
pub fn format_instant(ms: i64) -> String {
    let d = Date::from_unix_ms(ms);
    let mins = ms.rem_euclid(crate::date::DAY_MS) / 60_000;
    format!("{}, {:02}:{:02} UTC", d.long_text(d.year()), mins / 60, mins % 60)
}

fn capitalize(s: &str) -> String {
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

    fn ctx() -> MessageContext<'static> {
        MessageContext {
            shop_name: "Acme <Goods>",
            sku_title: "Tee \"Black\"",
            product_url: Some("https://acme.test/products/tee?variant=1"),
            eta_text: "we expect this to ship the week of December 7",
            position: Some(3),
            available: 40,
            hold_until: Some(1_796_140_800_000),
        }
    }

    #[test]
    fn offer_is_inventory_aware_and_escaped() {
        let r = render(MessageKind::RestockOffer, &ctx());
        assert!(r.text.contains("only 40 left, and you were #3 on the list"), "{}", r.text);
        assert!(r.text.contains("until December 1, 16:00 UTC"), "{}", r.text);
        assert!(r.html.contains("Tee &quot;Black&quot;"));
        assert!(r.html.contains("Acme &lt;Goods&gt;"));
        assert!(!r.html.contains("<Goods>"));
        assert!(r.html.contains("href=\"https://acme.test/products/tee?variant=1\""));
    }

    #[test]
    fn every_kind_renders_its_subject() {
        for (kind, needle) in [
            (MessageKind::SignupConfirmation, "on the list"),
            (MessageKind::RestockOffer, "reserved for you"),
            (MessageKind::SoldOutAgain, "sold out again"),
        ] {
            let r = render(kind, &ctx());
            assert!(r.subject.contains(needle), "{kind:?}: {}", r.subject);
            assert!(!r.text.is_empty() && r.html.starts_with("<p>"));
        }
        let r = render(MessageKind::SignupConfirmation, &ctx());
        assert!(r.text.contains("You're #3 in line") && r.text.contains("We expect this to ship the week of December 7."));
    }

    #[test]
    fn unsafe_links_are_left_out() {
        let mut c = ctx();
        c.product_url = Some("javascript:alert(1)");
        assert!(!render(MessageKind::RestockOffer, &c).html.contains("javascript"));
    }
}
