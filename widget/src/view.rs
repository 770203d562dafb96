//! The Leptos view: reads signals, calls [`crate::signup`] for every decision, and runs the effects
//! (requests to the edge, the position poll, focus, the Turnstile challenge). Rendered inside the
//! loader's Shadow DOM, in place of the loader's plain form and with the same markup, classes and
//! stylesheet (the loader's `<style>` stays in the shadow root), so taking over moves nothing.
//!
//! The inputs are plain DOM inputs, read when the shopper submits: what was typed before the takeover
//! (the loader copies it across) and across variant switches stays without signals.

use crate::edge::Edge;
use crate::locale::Text;
use crate::signup::{ClaimState, Clock, Field, Form, Header, Product, Shown};
use leptos::html;
use leptos::prelude::*;
use shared::Date;
use std::time::Duration;
use wasm_bindgen::{JsCast, JsValue};

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
    edge: Edge,
    buy: js_sys::Function,
    challenge: Option<Challenge>,
}

/// Dates and times in the shopper's language and time zone, by the browser's `Intl`.
struct Intl(&'static str);

impl Intl {
    fn format(&self, ms: f64, options: &str) -> String {
        let options = js_sys::JSON::parse(options).unwrap_or(JsValue::UNDEFINED);
        js_sys::Date::new(&ms.into()).to_locale_string(self.0, &options).into()
    }
}

impl Clock for Intl {
    fn day(&self, date: Date) -> String {
        // ETA days are calendar days: formatted in UTC so no time zone moves them.
        let this_year = js_sys::Date::new_0().get_full_year() as i32 == date.year();
        let options = if this_year {
            r#"{"month":"long","day":"numeric","timeZone":"UTC"}"#
        } else {
            r#"{"year":"numeric","month":"long","day":"numeric","timeZone":"UTC"}"#
        };
        self.format(date.unix_ms() as f64, options)
    }

    fn time(&self, unix_ms: i64) -> String {
        let ms = unix_ms as f64;
        let today = js_sys::Date::new(&ms.into()).to_date_string() == js_sys::Date::new_0().to_date_string();
        let options = if today {
            r#"{"hour":"numeric","minute":"2-digit"}"#
        } else {
            r#"{"weekday":"short","hour":"numeric","minute":"2-digit"}"#
        };
        self.format(ms, options)
    }
}

/// The named control `name` of `form` (`form.elements[name]`).
fn control(form: &web_sys::HtmlFormElement, name: &str) -> Option<js_sys::Object> {
    form.get_with_name(name)
}

fn prop(el: &Option<js_sys::Object>, key: &str) -> JsValue {
    el.as_ref().and_then(|el| js_sys::Reflect::get(el, &key.into()).ok()).unwrap_or_default()
}

/// What the form's inputs hold now.
fn read(form: &web_sys::HtmlFormElement, challenge: Option<&Challenge>) -> Form {
    let value = |name| prop(&control(form, name), "value").as_string().unwrap_or_default();
    Form {
        email: value("email"),
        phone: value("phone"),
        sms_consent: prop(&control(form, "sms_consent"), "checked").is_truthy(),
        quantity: value("quantity"),
        website: value("website"),
        turnstile_token: challenge.map(Challenge::token),
    }
}

/// The widget for one shop. Returns the view and `switch(sku)`, which follows the page's variant picker.
pub fn widget(start: Start) -> (impl IntoView, impl Fn(String) + Copy + 'static) {
    let Start { edge, tag, text: t, shown, claim, buy, challenge } = start;
    let needs_load = shown.product == Product::Loading;
    let shown = RwSignal::new(shown);
    let outside = StoredValue::new_local(Outside { edge, buy, challenge });
    let status_ref = NodeRef::<html::Div>::new();
    let form_ref = NodeRef::<html::Form>::new();

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
    if needs_load {
        load();
    }
    // A variant switch starts a fresh form for the new SKU (the inputs keep what was typed).
    let switch = move |sku: String| {
        shown.update(|s| s.switch(sku));
        load();
    };

    if let Some(token) = claim {
        let first = shown.with_untracked(|s| s.sku.clone());
        outside
            .with_value(|o| o.edge.claim(&first, &token, move |c| shown.update(|s| s.claim = ClaimState::checked(c))));
    }

    let focus_after = move || {
        let target = match shown.with_untracked(|s| s.signup.invalid()) {
            Some(Field::Email) => "email",
            Some(Field::Phone) => "phone",
            Some(Field::Quantity) => "quantity",
            None => {
                let _ = status_ref.get_untracked().map(|el| el.focus());
                return;
            }
        };
        if let Some(el) = form_ref.get_untracked().and_then(|f| control(&f, target)) {
            let _ = el.unchecked_into::<web_sys::HtmlElement>().focus();
        }
    };

    let send = move || {
        let Some(form) = form_ref.get_untracked() else { return };
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

    let retry = move |_| {
        if shown.with_untracked(|s| s.signup.status(t).is_some()) {
            send();
        } else {
            shown.update(|s| s.product = Product::Loading);
            load();
        }
    };

    // The interval lives as long as the page: the widget is never unmounted.
    if let Ok(handle) = set_interval_with_handle(
        move || {
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
    ) {
        on_cleanup(move || handle.clear());
    }

    // Every dynamic value below is a type-erased `Signal` over the one `shown` signal: the view code is
    // then generated once per value type instead of once per closure, which keeps the wasm small.
    let text = move |f: fn(Header) -> Option<String>| {
        Signal::derive(move || shown.with(|s| f(s.header(t, &Intl(tag)))).unwrap_or_default())
    };
    let title = text(|h| Some(h.title));
    let note = text(|h| h.note);
    let waiting = text(|h| h.waiting);
    let flag = move |f: fn(&Shown, &Text) -> bool| Signal::derive(move || shown.with(|s| f(s, t)));
    let hidden = flag(|s, _| !s.visible());
    let form_hidden = flag(|s, _| s.claim.is_live() || s.signup.is_joined());
    let buy_hidden = flag(|s, _| !s.claim.is_live());
    let submitting = flag(|s, _| s.signup.is_submitting());
    let busy = Signal::derive(move || submitting.get().then_some("true"));
    let error_text = move |field| {
        Signal::derive(move || shown.with(|s| s.signup.invalid_text(t, field)).unwrap_or_default().to_string())
    };
    let invalid = move |field| Signal::derive(move || shown.with(|s| s.signup.invalid_text(t, field)).map(|_| "true"));
    let position = Signal::derive(move || shown.with(|s| s.signup.position_text(t)).unwrap_or_default());
    let action = Signal::derive(move || shown.with(|s| s.action(t)).to_string());
    let status_text =
        Signal::derive(move || shown.with(|s| s.status(t).map(|s| s.text)).unwrap_or_default().to_string());
    let status_error = flag(|s, t| s.status(t).is_some_and(|s| s.is_error));
    let retry_hidden = flag(|s, t| !s.status(t).is_some_and(|s| s.retry));
    let on_buy = move |_| {
        let url = shown.with_untracked(|s| match &s.claim {
            ClaimState::Live { url, .. } => url.clone(),
            _ => None,
        });
        outside.with_value(|o| o.buy.call1(&JsValue::NULL, &url.map(JsValue::from).unwrap_or(JsValue::NULL)).ok());
    };

    // One static tree, the same as the loader's plain form (widget/loader.js); parts are shown and
    // hidden rather than created, so there is no `Show`/`AnyView`. Any input clears a stale inline error.
    let view = view! {
        <section class="restock" hidden=hidden aria-labelledby="restock-title" lang=tag>
            <h2 class="heading" id="restock-title" data-testid="title">{title}</h2>
            <p class="note" data-testid="note">{note}</p>
            <p class="waiting">{waiting}</p>
            <button type="button" class="buy" data-testid="buy" hidden=buy_hidden on:click=on_buy>{t.claim_buy}</button>
            <form
                novalidate
                data-testid="restock-form"
                hidden=form_hidden
                node_ref=form_ref
                on:input=move |_| shown.update(|s| s.signup.edit())
                on:submit=move |ev| {
                    ev.prevent_default();
                    send();
                }
            >
                <label for="restock-email">{t.email}</label>
                <input
                    id="restock-email"
                    type="email"
                    name="email"
                    autocomplete="email"
                    required
                    aria-invalid=invalid(Field::Email)
                    aria-describedby="restock-email-error"
                />
                <p id="restock-email-error" class="field-error">{error_text(Field::Email)}</p>
                <label for="restock-phone">{t.phone} " " <span class="muted">{t.optional}</span></label>
                <input
                    id="restock-phone"
                    type="tel"
                    name="phone"
                    autocomplete="tel"
                    aria-invalid=invalid(Field::Phone)
                    aria-describedby="restock-phone-error"
                />
                <p id="restock-phone-error" class="field-error">{error_text(Field::Phone)}</p>
                <label class="consent">
                    <input type="checkbox" name="sms_consent" />
                    <span>{t.sms_consent}</span>
                </label>
                <label for="restock-quantity">{t.quantity}</label>
                <input
                    id="restock-quantity"
                    class="quantity"
                    type="number"
                    name="quantity"
                    inputmode="numeric"
                    min="1"
                    max="100"
                    value="1"
                    aria-invalid=invalid(Field::Quantity)
                    aria-describedby="restock-quantity-error"
                />
                <p id="restock-quantity-error" class="field-error">{error_text(Field::Quantity)}</p>
                <div class="hp" aria-hidden="true">
                    <label>"Website" <input name="website" tabindex="-1" autocomplete="off" /></label>
                </div>
                <slot name="turnstile"></slot>
                <button type="submit" disabled=submitting aria-busy=busy>{action}</button>
            </form>
            <p class="position" data-testid="position">{position}</p>
            <div
                class="status"
                class:error=status_error
                data-testid="status"
                role="status"
                aria-live="polite"
                tabindex="-1"
                node_ref=status_ref
            >
                {status_text}
                <button type="button" class="retry" hidden=retry_hidden on:click=retry>{t.retry}</button>
            </div>
        </section>
    };
    (view, switch)
}
