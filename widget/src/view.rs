//! The Leptos view: one signal holds everything shown ([`Shown`]), [`crate::signup`] makes every
//! decision, and the effects carry them out (requests to the edge, the position poll, focus, the
//! Turnstile challenge). Rendered inside the loader's Shadow DOM, in place of the loader's plain form
//! and with the same markup, classes and stylesheet (the loader's `<style>` stays in the shadow root),
//! so taking over moves nothing.
//!
//! The tree is static markup (Leptos renders it from one template) and one render effect, [`paint`],
//! writes the signal into it. That shape is for weight: a reactive attribute or text per binding cost
//! 13 KB gzipped more (docs/benchmarks.md), and everything the widget loads has a 60 KB budget.
//!
//! The inputs are plain DOM inputs, read when the shopper submits: what was typed before the takeover
//! (the loader copies it across) and across variant switches stays without signals.

use crate::edge::Edge;
use crate::locale::Text;
use crate::signup::{ClaimState, Clock, Field, Form, Product, Shown, Status};
use leptos::prelude::*;
use shared::Date;
use std::time::Duration;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, Event, HtmlElement, HtmlFormElement};

/// How often the shown place in line is refreshed while the page is visible.
const POLL_EVERY: Duration = Duration::from_secs(15);

/// The loader's Turnstile challenge for this widget: rendered by Cloudflare's script in the light DOM
/// (it does not run inside a shadow root) and shown in the form through `<slot name="turnstile">`.
pub struct Challenge {
    /// `() => string`: the current token, "" until solved or after it expired.
    pub token: js_sys::Function,
    /// `() => void`: a fresh challenge (a token is good for one siteverify call).
    pub reset: js_sys::Function,
}

impl Challenge {
    fn token(&self) -> String {
        self.token.call0(&JsValue::NULL).ok().and_then(|v| v.as_string()).unwrap_or_default()
    }
    fn reset(&self) {
        let _ = self.reset.call0(&JsValue::NULL);
    }
}

/// Everything one widget starts from.
pub struct Start {
    pub edge: Edge,
    /// The language's tag (for `Intl`, `lang` and the signup) and its sentences.
    pub tag: &'static str,
    pub text: &'static Text,
    /// What it shows first: the SKU, its state when the loader already fetched it (else `Loading`),
    /// a signup the loader's plain form already made, and a claim link being checked.
    pub shown: Shown,
    /// The token of a `?restock_claim=` link for the first SKU.
    pub claim: Option<String>,
    /// `buy(url)`: proceeds to purchase (the loader knows the page).
    pub buy: js_sys::Function,
    pub challenge: Option<Challenge>,
}

/// What the view's effects need besides the signal (kept out of it: JS values are not `Send`).
struct Outside {
    /// The widget's `<section>`, once mounted.
    root: Option<Element>,
    edge: Edge,
    buy: js_sys::Function,
    challenge: Option<Challenge>,
}

/// Dates and times in the shopper's language and time zone, by the browser's `Intl`.
struct Intl(&'static str);

impl Clock for Intl {
    fn day(&self, date: Date) -> String {
        format_day(date.unix_ms() as f64, self.0)
    }

    fn time(&self, unix_ms: i64) -> String {
        format_time(unix_ms as f64, self.0)
    }
}

// The two formats, in JS: the option objects are plain literals there.
#[wasm_bindgen(inline_js = r#"
// A calendar day: formatted in UTC so no time zone moves it; the year only when it is not this one.
export function format_day(ms, lang) {
  const options = { month: 'long', day: 'numeric', timeZone: 'UTC' };
  if (new Date(ms).getUTCFullYear() !== new Date().getFullYear()) options.year = 'numeric';
  return new Date(ms).toLocaleString(lang, options);
}
// A moment in the shopper's time zone: "14:00" today, else with the weekday.
export function format_time(ms, lang) {
  const d = new Date(ms);
  const options = { hour: 'numeric', minute: '2-digit' };
  if (d.toDateString() !== new Date().toDateString()) options.weekday = 'short';
  return d.toLocaleString(lang, options);
}
"#)]
extern "C" {
    fn format_day(ms: f64, lang: &str) -> String;
    fn format_time(ms: f64, lang: &str) -> String;
}

/// The named control `name` of `form` (`form.elements[name]`).
fn control(form: &HtmlFormElement, name: &str) -> Option<js_sys::Object> {
    form.get_with_name(name)
}

/// The first element under `root` that `selector` matches.
fn find(root: &Element, selector: &str) -> Option<Element> {
    root.query_selector(selector).ok().flatten()
}

fn prop(el: &Option<js_sys::Object>, key: &str) -> JsValue {
    el.as_ref().and_then(|el| js_sys::Reflect::get(el, &key.into()).ok()).unwrap_or_default()
}

/// What the form's inputs hold now.
fn read(form: &HtmlFormElement, challenge: Option<&Challenge>) -> Form {
    let value = |name| prop(&control(form, name), "value").as_string().unwrap_or_default();
    Form {
        email: value("email"),
        phone: value("phone"),
        country: value("country"),
        sms_consent: prop(&control(form, "sms_consent"), "checked").is_truthy(),
        // Counts only while shown (the shop asks for it).
        marketing: prop(&control(form, "marketing_consent"), "checked").is_truthy()
            && find(form, ".marketing").is_some_and(|l| !l.has_attribute("hidden")),
        quantity: value("quantity"),
        website: value("website"),
        turnstile_token: challenge.map(Challenge::token),
    }
}

/// Mounts the widget for one shop into `container` and returns `switch(sku)`, which follows the page's
/// variant picker.
pub fn mount(container: HtmlElement, start: Start) -> impl Fn(String) + Copy + 'static {
    let Start { edge, tag, text: t, shown, claim, buy, challenge } = start;
    let needs_load = matches!(shown.product, Product::Loading);
    let shown = RwSignal::new(shown);
    let outside = StoredValue::new_local(Outside { root: None, edge, buy, challenge });
    let root = move || outside.with_value(|o| o.root.clone());

    let load = move || {
        let for_sku = shown.with_untracked(|s| s.sku.clone());
        if for_sku.is_empty() {
            return shown.update(|s| s.loaded("", Product::Missing));
        }
        outside.with_value(|o| {
            o.edge.sku_state(&for_sku.clone(), move |answer| {
                shown.update(|s| s.loaded(&for_sku, Product::loaded(answer)))
            })
        });
    };
    // A variant switch starts a fresh form for the new SKU (the inputs keep what was typed).
    let switch = move |sku: String| {
        shown.update(|s| s.switch(sku));
        load();
    };

    let form = move || root().and_then(|r| find(&r, "form")).map(JsCast::unchecked_into::<HtmlFormElement>);
    // After an attempt: the input with the error, else the status region (which says what happened).
    let focus_after = move || {
        let target = match shown.with_untracked(|s| s.signup.invalid()) {
            Some(Field::Email) => "email",
            Some(Field::Phone) => "phone",
            Some(Field::Quantity) => "quantity",
            None => {
                let status = root().and_then(|r| find(&r, ".status"));
                let _ = status.map(|el| el.unchecked_into::<HtmlElement>().focus());
                return;
            }
        };
        if let Some(el) = form().and_then(|f| control(&f, target)) {
            let _ = el.unchecked_into::<HtmlElement>().focus();
        }
    };

    let send = move || {
        let Some(form) = form() else { return };
        let filled = outside.with_value(|o| read(&form, o.challenge.as_ref()));
        let sent = shown.try_update(|s| s.signup.submit(&filled, t, tag)).flatten();
        let Some((ticket, request)) = sent else { return focus_after() };
        // The request is bound to the SKU shown when the shopper pressed the button.
        let for_sku = shown.with_untracked(|s| s.sku.clone());
        let spent = request.turnstile_token.is_some();
        outside.with_value(|o| {
            o.edge.join(&for_sku.clone(), &request, move |outcome| {
                let joined = outcome.is_ok();
                shown.update(|s| s.signup.finish(ticket, outcome));
                // A Turnstile token is good for one siteverify call: a fresh challenge for the next try.
                if !joined && spent {
                    outside.with_value(|o| o.challenge.as_ref().map(Challenge::reset));
                }
                focus_after();
                if joined && shown.with_untracked(|s| s.sku == for_sku) {
                    load(); // the "people waiting" count changed
                }
            })
        });
    };

    let retry = move || {
        if shown.with_untracked(|s| s.signup.status(t).is_some()) {
            send();
        } else {
            shown.update(|s| s.product = Product::Loading);
            load();
        }
    };
    let buy = move || {
        let url = shown.with_untracked(|s| match &s.claim {
            ClaimState::Live { url, .. } => url.clone(),
            _ => None,
        });
        outside.with_value(|o| o.buy.call1(&JsValue::NULL, &url.map(JsValue::from).unwrap_or(JsValue::NULL)).ok());
    };
    // The two buttons outside the form, by class (the handlers sit on the section).
    let on_click = move |ev: Event| {
        let class = ev.target().and_then(|el| el.dyn_into::<Element>().ok()).map(|el| el.class_name());
        match class.as_deref() {
            Some("buy") => buy(),
            Some("retry") => retry(),
            _ => {}
        }
    };

    // The interval lives as long as the page: the widget is never unmounted. Further back in line
    // it polls every few ticks (`Signup::poll_ticks`).
    let ticks = std::cell::Cell::new(0u32);
    let _ = set_interval_with_handle(
        move || {
            ticks.set(ticks.get() + 1);
            if ticks.get() < shown.with_untracked(|s| s.signup.poll_ticks()) {
                return;
            }
            ticks.set(0);
            let live = shown.with_untracked(|s| s.signup.entry_id().map(|id| (s.sku.clone(), id.to_string())));
            if let (false, Some((for_sku, id))) = (document().hidden(), live) {
                outside.with_value(|o| {
                    o.edge.entry(&for_sku, &id, move |latest| {
                        if let Ok(latest) = latest {
                            shown.update(|s| s.signup.refresh(latest));
                        }
                    })
                });
            }
        },
        POLL_EVERY,
    );

    // One static tree, the same as the loader's plain form (widget/loader.js): `paint` fills in the
    // sentences and shows and hides its parts.
    leptos::mount::mount_to(container.clone(), move || {
        view! {
            <section
                class="restock"
                hidden
                aria-labelledby="restock-title"
                lang=tag
            >
                <h2 class="heading" id="restock-title" data-testid="title"></h2>
                <p class="note" data-testid="note"></p>
                <p class="waiting"></p>
                <button type="button" class="buy" data-testid="buy" hidden></button>
                <form novalidate data-testid="restock-form">
                    <label for="restock-email"></label>
                    <input
                        id="restock-email"
                        type="email"
                        name="email"
                        autocomplete="email"
                        required
                        aria-describedby="restock-email-error"
                    />
                    <p id="restock-email-error" class="field-error"></p>
                    <label for="restock-phone">
                        <span></span>
                        " "
                        <span class="muted"></span>
                    </label>
                    // The loader fills in the countries (its table, the page's country chosen).
                    <div class="phone">
                        <select name="country"></select>
                        <input
                            id="restock-phone"
                            type="tel"
                            name="phone"
                            autocomplete="tel"
                            aria-describedby="restock-phone-error"
                        />
                    </div>
                    <p id="restock-phone-error" class="field-error"></p>
                    <label class="consent">
                        <input type="checkbox" name="sms_consent" />
                        <span></span>
                    </label>
                    <label for="restock-quantity"></label>
                    <input
                        id="restock-quantity"
                        class="quantity"
                        type="number"
                        name="quantity"
                        inputmode="numeric"
                        min="1"
                        max="100"
                        value="1"
                        aria-describedby="restock-quantity-error"
                    />
                    <p id="restock-quantity-error" class="field-error"></p>
                    <label class="consent marketing" hidden>
                        <input type="checkbox" name="marketing_consent" />
                        <span></span>
                    </label>
                    <div class="hp" aria-hidden="true">
                        <label>"Website " <input name="website" tabindex="-1" autocomplete="off" /></label>
                    </div>
                    <slot name="turnstile"></slot>
                    <button type="submit"></button>
                </form>
                <p class="position" data-testid="position"></p>
                <div class="status" data-testid="status" role="status" aria-live="polite" tabindex="-1">
                    <span class="said"></span>
                    <button type="button" class="retry" hidden></button>
                </div>
            </section>
        }
    })
    .forget();

    if let Some(section) = container.first_element_child() {
        let labels = [
            ("label[for=restock-email]", t.email),
            ("label[for=restock-phone] span", t.phone),
            ("label[for=restock-phone] .muted", t.optional),
            (".consent span", t.sms_consent),
            (".marketing span", t.marketing_consent),
            ("label[for=restock-quantity]", t.quantity),
            (".buy", t.claim_buy),
            (".retry", t.retry),
        ];
        for (selector, text) in labels {
            set_text(&section, selector, text);
        }
        if let Some(select) = find(&section, "select") {
            let _ = select.set_attribute("aria-label", t.country);
        }
        // Plain DOM listeners on the section (they bubble up from the form and the buttons): lighter
        // than Leptos's event delegation. Any input clears a stale inline error.
        listen(&section, "click", on_click);
        listen(&section, "input", move |_| shown.update(|s| s.signup.edit()));
        listen(&section, "submit", move |ev| {
            ev.prevent_default();
            send();
        });
        outside.update_value(|o| o.root = Some(section.clone()));
        // Runs now (the takeover shows the state at once) and after every change of `shown`; kept for
        // the life of the page.
        std::mem::forget(RenderEffect::new(move |_| shown.with(|s| paint(&section, s, t, &Intl(tag)))));
    }

    // Requests start once mounted: Leptos's task executor (which runs them) is set up by the mount.
    if needs_load {
        load();
    }
    if let Some(token) = claim {
        let first = shown.with_untracked(|s| s.sku.clone());
        outside
            .with_value(|o| o.edge.claim(&first, &token, move |c| shown.update(|s| s.claim = ClaimState::checked(c))));
    }
    switch
}

/// Calls `f` with every `event` that reaches `el`, for the life of the page.
fn listen(el: &Element, event: &str, f: impl FnMut(Event) + 'static) {
    let f = Closure::<dyn FnMut(Event)>::new(f);
    let _ = el.add_event_listener_with_callback(event, f.as_ref().unchecked_ref());
    f.forget();
}

/// Sets the text of the element `selector` finds under `root`, when it differs (a rewrite of the same
/// sentence would be announced again by screen readers).
fn set_text(root: &Element, selector: &str, text: &str) {
    if let Some(el) = find(root, selector) {
        if el.text_content().as_deref() != Some(text) {
            el.set_text_content(Some(text));
        }
    }
}

/// Sets or removes the boolean attribute `name` of the element `selector` finds under `root`.
fn set_flag(root: &Element, selector: &str, name: &str, on: bool) {
    if let Some(el) = find(root, selector) {
        let _ = el.toggle_attribute_with_force(name, on);
    }
}

/// Sets the ARIA state `name` of the element `selector` finds under `root` to "true", or removes it.
fn set_true(root: &Element, selector: &str, name: &str, on: bool) {
    if let Some(el) = find(root, selector) {
        let _ = if on { el.set_attribute(name, "true") } else { el.remove_attribute(name) };
    }
}

/// Writes what `s` shows into the widget's tree (`root` is its `<section>`).
fn paint(root: &Element, s: &Shown, t: &Text, clock: &Intl) {
    let _ = root.toggle_attribute_with_force("hidden", !s.visible());
    let header = s.header(t, clock);
    set_text(root, ".heading", &header.title);
    set_text(root, ".note", header.note.as_deref().unwrap_or_default());
    set_text(root, ".waiting", header.waiting.as_deref().unwrap_or_default());
    set_flag(root, ".buy", "hidden", !s.claim.is_live());
    set_flag(root, "form", "hidden", s.claim.is_live() || s.signup.is_joined());
    set_flag(root, ".marketing", "hidden", !s.product.sku().is_some_and(|k| k.marketing));

    let submitting = s.signup.is_submitting();
    set_text(root, "[type=submit]", s.action(t));
    set_flag(root, "[type=submit]", "disabled", submitting);
    set_true(root, "[type=submit]", "aria-busy", submitting);
    for (field, name) in [(Field::Email, "email"), (Field::Phone, "phone"), (Field::Quantity, "quantity")] {
        let error = s.signup.invalid_text(t, field);
        set_text(root, &["#restock-", name, "-error"].concat(), error.unwrap_or_default());
        set_true(root, &["#restock-", name].concat(), "aria-invalid", error.is_some());
    }
    set_text(root, ".position", s.signup.position_text(t).as_deref().unwrap_or_default());

    let status = s.status(t).unwrap_or(Status { text: "", retry: false, is_error: false });
    set_text(root, ".said", status.text);
    if let Some(region) = find(root, ".status") {
        let _ = region.class_list().toggle_with_force("error", status.is_error);
    }
    set_flag(root, ".retry", "hidden", !status.retry);
}
