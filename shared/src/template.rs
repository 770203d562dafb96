//! Message templates: the merchant-editable source of every message (minijinja), its validation, and
//! the English defaults.
//!
//! A template has a subject, a plain-text body and an optional HTML body. The text is the source of
//! truth: without an HTML body, [`crate::message`] turns the rendered text into HTML paragraphs. The
//! rendered text is tidied: blank lines separate paragraphs and runs of them collapse into one, so
//! `{% if %}` tags may sit on their own lines between paragraphs. The
//! variables a template may use are listed in [`VARIABLES`]; they are the same for every kind (unset
//! ones are `none`), and every URL among them is `http(s)` or `none`. The footer (why the shopper gets
//! the email, postal address, support contact, unsubscribe link) is added by `message`, outside the
//! template, so a merchant template cannot drop it.

use crate::wire::MessageKind;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Longest subject template, in characters (inboxes show ~60–80; 200 leaves room for variables).
pub const MAX_SUBJECT_CHARS: usize = 200;
/// Longest text or HTML body template, in bytes.
pub const MAX_BODY_BYTES: usize = 20 * 1024;
/// Longest rendered part, in bytes: a guard against templates that blow up (`"x" * 10**9`-style).
pub const MAX_RENDERED_BYTES: usize = 256 * 1024;
/// Instructions one part may execute. The defaults need a few hundred; a merchant loop over a
/// `range(...)` cannot keep the Durable Object busy beyond this.
const FUEL: u64 = 50_000;

/// The variables templates may use, with what they hold. Every kind gets all of them.
pub const VARIABLES: &[(&str, &str)] = &[
    ("shop_name", "the shop's name"),
    ("product_title", "the product (variant) title"),
    ("product_url", "the product page (http/https), or none"),
    ("eta", "the ETA phrase, lower case: \"we expect this to ship the week of December 7\""),
    ("eta_sentence", "the ETA as a sentence: \"We expect this to ship the week of December 7.\""),
    ("old_eta", "the previous ETA phrase (eta_changed), or none"),
    ("old_eta_sentence", "the previous ETA as a sentence (eta_changed), or none"),
    ("position", "place in line (1 = first), or none"),
    ("units_left", "units in stock when the message was written (a number, may be 0)"),
    ("quantity", "units this shopper asked for (at least 1)"),
    ("hold_until", "end of the shopper's hold in the shop's time zone, \"December 1, 11:00 EST\", or none"),
    ("claim_url", "link to buy the held unit / manage the order (http/https), or none"),
    ("cancel_url", "link to cancel and refund a backorder (http/https), or none"),
    ("unsubscribe_url", "link to leave the list (http/https), or none"),
    ("support_email", "the shop's support address, or none"),
    ("postal_address", "the shop's postal address, or none"),
    ("order_id", "the shop's order number (backorders), or none"),
    ("confirm_url", "the signed link that confirms a signup (double opt-in), or none"),
    ("carrier", "the carrier of a shipment (order_shipped, ship_notice), or none"),
    ("tracking_number", "the shipment's tracking number, or none"),
    ("tracking_url", "the carrier's tracking link, or none"),
];

/// A merchant's template for one message kind: the body of `PUT /v1/shops/{shop}/templates/{kind}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub subject: String,
    pub text: String,
    /// HTML body, rendered with HTML auto-escaping. Without it the HTML is made from `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
}

/// Which part of a template a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    /// Also the name the part is compiled under: `html` turns on HTML auto-escaping.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "text",
            Part::Html => "html",
        }
    }
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a template was rejected (on `PUT`) or could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    #[error("the {part} is too long: {len} (at most {max})")]
    TooLong { part: Part, len: usize, max: usize },
    #[error("the {0} is empty")]
    Empty(Part),
    #[error("the {part} has a syntax error: {message}")]
    Syntax { part: Part, message: String },
    #[error("the {part} uses the unknown variable `{name}`")]
    UnknownVariable { part: Part, name: String },
    #[error("the {part} failed to render: {message}")]
    Render { part: Part, message: String },
    #[error("the subject must be a single line")]
    SubjectNewline,
    #[error("the html may not contain scripts or javascript: links")]
    UnsafeHtml,
}

impl TemplateError {
    /// The stable machine-readable code sent as `error.code`.
    pub fn code(&self) -> &'static str {
        "invalid_template"
    }
}

/// The three rendered parts, before the footer and before text → HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RenderedParts {
    pub subject: String,
    pub text: String,
    /// `Some` only when the template has its own HTML body.
    pub html: Option<String>,
}

impl Template {
    /// Checks a merchant template before it is stored: sizes, syntax, known variables, and a trial
    /// render against a full and an empty sample context (so `{{ position + 1 }}` with no position, or a
    /// subject that renders a line break, is caught now and not at send time).
    pub fn validate(&self) -> Result<(), TemplateError> {
        let subject_len = self.subject.chars().count();
        if subject_len > MAX_SUBJECT_CHARS {
            return Err(TemplateError::TooLong { part: Part::Subject, len: subject_len, max: MAX_SUBJECT_CHARS });
        }
        for (part, src) in self.parts() {
            if src.len() > MAX_BODY_BYTES {
                return Err(TemplateError::TooLong { part, len: src.len(), max: MAX_BODY_BYTES });
            }
            if src.trim().is_empty() {
                return Err(TemplateError::Empty(part));
            }
        }
        if let Some(html) = &self.html {
            let lower = html.to_ascii_lowercase();
            let squeezed: String = lower.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if lower.contains("<script") || squeezed.contains("javascript:") || squeezed.contains("vbscript:") {
                return Err(TemplateError::UnsafeHtml);
            }
        }
        let env = environment();
        for (part, src) in self.parts() {
            let tmpl = compile(&env, part, src)?;
            let mut unknown: Vec<String> = tmpl
                .undeclared_variables(false)
                .into_iter()
                .filter(|name| !VARIABLES.iter().any(|(v, _)| v == name) && env.globals().all(|(g, _)| g != name))
                .collect();
            unknown.sort();
            if let Some(name) = unknown.into_iter().next() {
                return Err(TemplateError::UnknownVariable { part, name });
            }
        }
        for vars in [crate::message::sample_variables(true), crate::message::sample_variables(false)] {
            self.render_parts(&vars)?;
        }
        Ok(())
    }

    fn parts(&self) -> impl Iterator<Item = (Part, &str)> {
        [
            (Part::Subject, Some(self.subject.as_str())),
            (Part::Text, Some(self.text.as_str())),
            (Part::Html, self.html.as_deref()),
        ]
        .into_iter()
        .filter_map(|(p, s)| s.map(|s| (p, s)))
    }

    /// Renders the three parts with `vars` (a map holding every name of [`VARIABLES`]).
    pub(crate) fn render_parts(&self, vars: &Value) -> Result<RenderedParts, TemplateError> {
        let env = environment();
        let subject = render_part(&env, Part::Subject, &self.subject, vars)?;
        let text = render_part(&env, Part::Text, &self.text, vars)?;
        let html = match &self.html {
            Some(src) => Some(render_part(&env, Part::Html, src, vars)?),
            None => None,
        };
        finish_parts(subject, text, html)
    }
}

fn finish_parts(subject: String, text: String, html: Option<String>) -> Result<RenderedParts, TemplateError> {
    let subject = subject.trim();
    if subject.contains(['\r', '\n']) {
        return Err(TemplateError::SubjectNewline);
    }
    if subject.is_empty() {
        return Err(TemplateError::Empty(Part::Subject));
    }
    Ok(RenderedParts { subject: subject.to_owned(), text: tidy_text(&text), html })
}

thread_local! {
    /// The default templates, compiled once per isolate: compiling is most of the cost of writing a
    /// message, and a restock writes one per shopper in line. Their sources are fixed, so keeping
    /// them for the life of the isolate is a bounded, one-time cost.
    static DEFAULTS: &'static Environment<'static> = Box::leak(Box::new(compile_defaults()));
}

fn default_name(kind: MessageKind, part: Part) -> String {
    format!("{}.{}", kind.as_str(), part.as_str())
}

fn compile_defaults() -> Environment<'static> {
    let mut env = environment();
    for kind in MessageKind::ALL {
        let t = default_template(kind);
        for (part, src) in t.parts() {
            let name: &'static str = Box::leak(default_name(kind, part).into_boxed_str());
            let src: &'static str = Box::leak(src.to_owned().into_boxed_str());
            // The defaults are tested to compile (`every_default_validates`); one that did not would
            // surface as a render error and the plain fallback message.
            let _ = env.add_template(name, src);
        }
    }
    env
}

/// Renders a kind's default template from the compiled cache.
pub(crate) fn render_default(kind: MessageKind, vars: &Value) -> Result<RenderedParts, TemplateError> {
    DEFAULTS.with(|env| {
        let part = |part: Part| -> Result<Option<String>, TemplateError> {
            let Ok(t) = env.get_template(&default_name(kind, part)) else { return Ok(None) };
            let out = t.render(vars.clone()).map_err(|e| TemplateError::Render { part, message: describe(&e) })?;
            Ok(Some(out))
        };
        let subject = part(Part::Subject)?.ok_or(TemplateError::Empty(Part::Subject))?;
        let text = part(Part::Text)?.ok_or(TemplateError::Empty(Part::Text))?;
        finish_parts(subject, text, part(Part::Html)?)
    })
}

/// One environment per render: templates borrow their source for the environment's lifetime, and
/// building one is a few map inserts. Strict about undefined names (every known name is always set,
/// so an undefined one is a typo), HTML auto-escaping for the `html` part only.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| if name == "html" { AutoEscape::Html } else { AutoEscape::None });
    env.set_fuel(Some(FUEL));
    // No `trim_blocks`: a tag at the end of a line keeps the line break the merchant typed. Tags alone
    // on a line between paragraphs leave blank lines, which `tidy_text` collapses.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder().lstrip_blocks(true).build() {
        env.set_syntax(syntax);
    }
    env
}

fn compile<'e, 's>(
    env: &'e Environment<'s>,
    part: Part,
    src: &'s str,
) -> Result<minijinja::Template<'e, 's>, TemplateError> {
    env.template_from_named_str(part.as_str(), src).map_err(|e| TemplateError::Syntax { part, message: describe(&e) })
}

fn render_part(env: &Environment<'_>, part: Part, src: &str, vars: &Value) -> Result<String, TemplateError> {
    if src.len() > MAX_BODY_BYTES {
        return Err(TemplateError::TooLong { part, len: src.len(), max: MAX_BODY_BYTES });
    }
    let tmpl = compile(env, part, src)?;
    let out = tmpl.render(vars.clone()).map_err(|e| TemplateError::Render { part, message: describe(&e) })?;
    if out.len() > MAX_RENDERED_BYTES {
        return Err(TemplateError::TooLong { part, len: out.len(), max: MAX_RENDERED_BYTES });
    }
    Ok(out)
}

/// "syntax error: unexpected end of input (in text:3)": the message and the line, no source dump.
fn describe(e: &minijinja::Error) -> String {
    let mut msg = e.detail().map(str::to_owned).unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (line {line})"));
    }
    msg
}

/// Trims each line's end, collapses runs of blank lines into one, and trims the whole: `{% if %}`
/// blocks that render nothing leave no holes.
fn tidy_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        out.push_str(line);
    }
    out
}

/// The English copy each kind is sent with until the merchant stores their own.
pub fn default_template(kind: MessageKind) -> Template {
    let (subject, text) = match kind {
        MessageKind::ConfirmSignup => (
            "Please confirm: waitlist for {{ product_title }}",
            "You asked to join the waitlist for {{ product_title }} at {{ shop_name }}. Please confirm it's you{% if confirm_url %}:

{{ confirm_url }}

Your place in line counts from when you signed up.{% else %} by replying to this email.{% endif %}

If this wasn't you, ignore this email: you won't hear from us again.",
        ),
        MessageKind::SignupConfirmation => (
            "You're on the list for {{ product_title }}",
            "Thanks for joining the waitlist for {{ product_title }}{% if position %}: you're #{{ position }} in line{% endif %}.

{{ eta_sentence }}

We'll email you the moment it's back, in the order people joined.",
        ),
        MessageKind::MidwaitCheckin => (
            "Still on the list for {{ product_title }}",
            "A quick update on {{ product_title }}: you're still on the waitlist{% if position %}, #{{ position }} in line{% endif %}.

{{ eta_sentence }}

There's nothing you need to do. We'll email you as soon as it's ready.",
        ),
        MessageKind::ShippingImminent => (
            "{{ product_title }} ships in a few days",
            "Good news: {{ product_title }} is about to ship. {{ eta_sentence }}

{% if claim_url %}
Please take a moment to confirm your shipping address: {{ claim_url }}
{% else %}
If your shipping address has changed, please reply to this email before it ships.
{% endif %}",
        ),
        MessageKind::EtaChanged => (
            "New ship date for {{ product_title }}",
            "The expected ship date for {{ product_title }} has changed.

{% if old_eta_sentence %}
Before: {{ old_eta_sentence }}
Now: {{ eta_sentence }}
{% else %}
{{ eta_sentence }}
{% endif %}

You keep your place in line{% if position %} (#{{ position }}){% endif %}. Thanks for bearing with us; we'll keep you posted.",
        ),
        MessageKind::RestockOffer => (
            "{{ product_title }} is back{% if hold_until %} — one is reserved for you{% endif %}",
            "{% if units_left > 0 and units_left <= 100 and position %}
{{ product_title }} is back — only {{ units_left }} left — and you were #{{ position }} on the list.
{% else %}
{{ product_title }} is back in stock, and you're near the front of the line.
{% endif %}

{% if hold_until %}
We're holding {% if quantity > 1 %}{{ quantity }} for you{% else %}one for you{% endif %} until {{ hold_until }}. After that it goes to the next person in line.
{% else %}
It's first come, first served, so don't wait too long.
{% endif %}

{% if claim_url or product_url %}
Buy it now: {{ claim_url or product_url }}
{% endif %}",
        ),
        MessageKind::PreorderReady => (
            "Your pre-order of {{ product_title }} is ready",
            "The wait is over: {{ product_title }} has arrived, and {% if quantity > 1 %}{{ quantity }} are{% else %}one is{% endif %} set aside for you{% if hold_until %} until {{ hold_until }}{% endif %}.

{% if claim_url or product_url %}
Complete your order: {{ claim_url or product_url }}
{% endif %}",
        ),
        MessageKind::SoldOutAgain => (
            "{{ product_title }} sold out again",
            "{{ product_title }} came back in stock, and the units went to the people ahead of you in line.

You're still on the list{% if position %} (#{{ position }}){% endif %}: stay on it and we'll email you as soon as more arrive.

{{ eta_sentence }}",
        ),
        MessageKind::HoldReminder => (
            "Reminder: {{ product_title }} is held for you{% if hold_until %} until {{ hold_until }}{% endif %}",
            "Just a reminder: we're still holding {{ product_title }} for you{% if hold_until %} until {{ hold_until }}. After that{% else %}, but not for much longer: soon{% endif %} it goes to the next person in line.

{% if claim_url or product_url %}
Buy it now: {{ claim_url or product_url }}
{% endif %}",
        ),
        MessageKind::HoldExpired => (
            "Your hold on {{ product_title }} has ended",
            "Your hold on {{ product_title }} ran out, so the unit went to the next person in line.

You're still on the list, and we'll email you when more arrive.

{{ eta_sentence }}",
        ),
        MessageKind::NonopenerFollowup => (
            "Still reserved for you: {{ product_title }}",
            "In case you missed our last email: {{ product_title }} is back, and one is still reserved for you{% if hold_until %} until {{ hold_until }}{% endif %}.{% if units_left > 0 and units_left <= 100 %} Only {{ units_left }} left.{% endif %}

{% if claim_url or product_url %}
Buy it now: {{ claim_url or product_url }}
{% endif %}",
        ),
        MessageKind::UrgencyFollowup => (
            "{% if units_left > 0 and units_left <= 100 %}Only {{ units_left }} left: {% endif %}{{ product_title }} is going fast",
            "{{ product_title }} is still in stock{% if units_left > 0 and units_left <= 100 %}, but there are only {{ units_left }} left{% endif %}. It's first come, first served, so if you still want one, now's the time.

{% if claim_url or product_url %}
Buy it now: {{ claim_url or product_url }}
{% endif %}",
        ),
        MessageKind::BackorderAck => (
            "Your backorder of {{ product_title }}",
            "Thanks for your order{% if order_id %} {{ order_id }}{% endif %}. {{ product_title }}{% if quantity > 1 %} (x{{ quantity }}){% endif %} is on backorder, and you're {% if position %}#{{ position }} {% endif %}in line for the next delivery.

{{ eta_sentence }} We'll keep you posted along the way.

{% if cancel_url %}
Rather not wait? Cancel and get a full refund: {{ cancel_url }}
{% endif %}

{% if support_email %}
Questions? Write to us at {{ support_email }}.
{% else %}
Questions? Just reply to this email.
{% endif %}",
        ),
        MessageKind::ShipNotice => (
            "Your {{ product_title }} is on its way",
            "Thanks for your patience — your order{% if order_id %} {{ order_id }}{% endif %} is finally on its way.

{% if tracking_number %}
{{ product_title }}{% if quantity > 1 %} (x{{ quantity }}){% endif %} has shipped{% if carrier %} with {{ carrier }}{% endif %}. Tracking number: {{ tracking_number }}{% if tracking_url %}
Track it: {{ tracking_url }}{% endif %}
{% else %}
{{ product_title }}{% if quantity > 1 %} (x{{ quantity }}){% endif %} has been set aside for you and is being shipped.
{% endif %}

{% if support_email %}
Questions? Write to us at {{ support_email }}.
{% endif %}",
        ),
        MessageKind::OrderShipped => (
            "Your {{ product_title }} has shipped",
            "Good news: your order{% if order_id %} {{ order_id }}{% endif %} with {{ product_title }}{% if quantity > 1 %} (x{{ quantity }}){% endif %} has shipped{% if carrier %} with {{ carrier }}{% endif %}.

{% if tracking_number %}
Tracking number: {{ tracking_number }}
{% endif %}{% if tracking_url %}
Track it: {{ tracking_url }}
{% endif %}
Thanks for waiting for it.{% if support_email %} Questions? Write to us at {{ support_email }}.{% endif %}",
        ),
    };
    Template { subject: subject.to_owned(), text: text.to_owned(), html: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(subject: &str, text: &str, html: Option<&str>) -> Template {
        Template { subject: subject.into(), text: text.into(), html: html.map(Into::into) }
    }

    #[test]
    fn every_default_validates() {
        for kind in MessageKind::ALL {
            assert_eq!(default_template(kind).validate(), Ok(()), "{kind:?}");
        }
    }

    #[test]
    fn compiled_defaults_render_like_the_sources() {
        for full in [true, false] {
            let vars = crate::message::sample_variables(full);
            for kind in MessageKind::ALL {
                let cached = render_default(kind, &vars).unwrap();
                let fresh = default_template(kind).render_parts(&vars).unwrap();
                assert_eq!(
                    (cached.subject, cached.text, cached.html),
                    (fresh.subject, fresh.text, fresh.html),
                    "{kind:?}"
                );
            }
        }
    }

    #[test]
    fn defaults_differ_where_they_must() {
        assert_ne!(
            default_template(MessageKind::NonopenerFollowup).subject,
            default_template(MessageKind::RestockOffer).subject
        );
    }

    #[test]
    fn validation_table() {
        let long_subject = "x".repeat(MAX_SUBJECT_CHARS + 1);
        let long_body = "x".repeat(MAX_BODY_BYTES + 1);
        let cases: Vec<(Template, Result<(), &str>)> = vec![
            (t("Hi {{ product_title }}", "Back: {{ product_url }}", None), Ok(())),
            (t("Hi", "{% for i in range(3) %}{{ loop.index }}{% endfor %}", Some("<p>{{ shop_name }}</p>")), Ok(())),
            (t("Hi {{ product_title", "x", None), Err("syntax")),
            (t("Hi", "{% if position %}open", None), Err("syntax")),
            (t("Hi", "x", Some("<p>{{ 1 + }}</p>")), Err("syntax")),
            (t("Hi {{ produkt_title }}", "x", None), Err("unknown")),
            (t("Hi", "{% if discount_code %}{{ discount_code }}{% endif %}", None), Err("unknown")),
            (t("Hi\n{{ product_title }}", "x", None), Err("newline")),
            (t("Hi {{ '\\r\\nBcc: a@b.c' }}", "x", None), Err("newline")),
            (t(&long_subject, "x", None), Err("long")),
            (t("Hi", &long_body, None), Err("long")),
            (t("  ", "x", None), Err("empty")),
            (t("Hi", "", None), Err("empty")),
            (t("Hi", "x", Some("<a href=\"javascript:alert(1)\">x</a>")), Err("unsafe")),
            (t("Hi", "x", Some("<script>alert(1)</script>")), Err("unsafe")),
            (t("Hi", "{{ position + 1 }}", None), Err("render")),
            (t("Hi", "{% for i in range(100000) %}{{ i }}{% endfor %}", None), Err("render")),
        ];
        for (tmpl, want) in cases {
            let got = tmpl.validate();
            let kind = got.as_ref().map_err(|e| match e {
                TemplateError::Syntax { .. } => "syntax",
                TemplateError::UnknownVariable { .. } => "unknown",
                TemplateError::SubjectNewline => "newline",
                TemplateError::TooLong { .. } => "long",
                TemplateError::Empty(_) => "empty",
                TemplateError::UnsafeHtml => "unsafe",
                TemplateError::Render { .. } => "render",
            });
            assert_eq!(kind.map(|_| ()), want, "{tmpl:?}: {got:?}");
        }
    }

    #[test]
    fn put_body_shape() {
        let ok: Template = serde_json::from_str(r#"{"subject":"s","text":"t"}"#).unwrap();
        assert_eq!(ok.html, None);
        assert!(serde_json::from_str::<Template>(r#"{"subject":"s","text":"t","body":"x"}"#).is_err());
        assert!(serde_json::from_str::<Template>(r#"{"subject":"s"}"#).is_err());
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy_text("\n a  \n\n\n\nb\nc \n\n"), " a\n\nb\nc");
    }
}
