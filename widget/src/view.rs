//! The Leptos view: reads signals, calls [`crate::signup`] for every decision, and runs the effects
//! (requests to the edge, the position poll, focus). Rendered inside the loader's Shadow DOM.

use crate::edge::Edge;
use crate::locale::Lang;
use crate::signup::{action, header, ClaimState, Clock, Field, Header, Product, Signup};
use leptos::html::{Div, Input};
use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::Date;
use std::time::Duration;
use wasm_bindgen::JsValue;

/// How often the shown place in line is refreshed while the page is visible.
const POLL_EVERY: Duration = Duration::from_secs(15);

/// Scoped by the shadow root. Merchants theme it from outside with the `--restock-*` custom properties,
/// which inherit through the shadow boundary. Whitespace and comments are stripped by `build.rs`.
const CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/widget.min.css"));

/// Dates and times in the shopper's language and time zone, by the browser's `Intl`.
struct Intl(Lang);

impl Intl {
    fn format(&self, ms: f64, options: &str) -> String {
        let options = js_sys::JSON::parse(options).unwrap_or(JsValue::UNDEFINED);
        js_sys::Date::new(&ms.into()).to_locale_string(self.0.tag(), &options).into()
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

/// The widget for one shop. `sku` may change (the page's variant picker); `claim` is the token of a
/// `?restock_claim=` link for the first SKU; `buy(url)` proceeds to purchase (the loader knows the page).
pub fn widget(
    edge: Edge,
    sku: RwSignal<String>,
    lang: Lang,
    claim: Option<String>,
    buy: js_sys::Function,
) -> impl IntoView {
    let t = lang.text();
    let product = RwSignal::new(Product::Loading);
    let signup = RwSignal::new(Signup::default());
    let claim_state = RwSignal::new(if claim.is_some() { ClaimState::Checking } else { ClaimState::None });
    let email = RwSignal::new(String::new());
    let phone = RwSignal::new(String::new());
    let consent = RwSignal::new(false);
    let edge = StoredValue::new(edge);
    let status_ref = NodeRef::<Div>::new();
    let email_ref = NodeRef::<Input>::new();
    let phone_ref = NodeRef::<Input>::new();

    let load = move || {
        let edge = edge.get_value();
        let for_sku = sku.get_untracked();
        spawn_local(async move {
            let loaded =
                if for_sku.is_empty() { Product::Missing } else { Product::loaded(edge.sku_state(&for_sku).await) };
            // An answer for a variant the shopper left is dropped; a reload that fails keeps what was shown.
            if sku.get_untracked() == for_sku
                && (loaded != Product::Failed || product.with_untracked(|p| p.sku().is_none()))
            {
                product.set(loaded);
                if let Some(perf) = window().performance() {
                    let _ = perf.mark("restock:ready");
                }
            }
        });
    };

    // (Re)load whenever the SKU changes; a switch starts a fresh form and forgets the claim.
    Effect::new(move |prev: Option<()>| {
        sku.track();
        if prev.is_some() {
            signup.update(Signup::restart);
            claim_state.set(ClaimState::None);
            product.set(Product::Loading);
        }
        load();
    });

    if let Some(token) = claim {
        let (edge, first) = (edge.get_value(), sku.get_untracked());
        spawn_local(async move {
            claim_state.set(ClaimState::checked(edge.claim(&first, &token).await));
        });
    }

    let focus_after = move || {
        let field = signup.with_untracked(Signup::invalid);
        let _ = match field {
            Some(Field::Email) => email_ref.get_untracked().map(|el| el.focus()),
            Some(Field::Phone) => phone_ref.get_untracked().map(|el| el.focus()),
            None => status_ref.get_untracked().map(|el| el.focus()),
        };
    };

    let send = move || {
        let sent = signup
            .try_update(|s| {
                s.submit(&email.get_untracked(), &phone.get_untracked(), consent.get_untracked(), lang.tag())
            })
            .flatten();
        match sent {
            // The request is bound to the SKU shown when the shopper pressed the button.
            Some((ticket, request)) => {
                let (edge, for_sku) = (edge.get_value(), sku.get_untracked());
                spawn_local(async move {
                    let outcome = edge.join(&for_sku, &request).await;
                    let joined = outcome.is_ok();
                    signup.update(|s| s.finish(ticket, outcome));
                    focus_after();
                    if joined && sku.get_untracked() == for_sku {
                        load(); // the "people waiting" count changed
                    }
                });
            }
            None => focus_after(),
        }
    };

    let retry = move |_| {
        if signup.with_untracked(|s| s.status(t).is_some()) {
            send();
        } else {
            product.set(Product::Loading);
            load();
        }
    };

    // The interval lives as long as the page: the widget is never unmounted.
    if let Ok(handle) = set_interval_with_handle(
        move || {
            if let (false, Some(id)) = (document().hidden(), signup.with_untracked(|s| s.entry_id().map(String::from)))
            {
                let (edge, for_sku) = (edge.get_value(), sku.get_untracked());
                spawn_local(async move {
                    if let Ok(latest) = edge.entry(&for_sku, &id).await {
                        signup.update(|s| s.refresh(latest));
                    }
                });
            }
        },
        POLL_EVERY,
    ) {
        on_cleanup(move || handle.clear());
    }

    // Every dynamic value below is a type-erased `Signal`: the view code is then generated once per
    // value type instead of once per closure, which keeps the wasm small (see scripts/build-widget).
    let head = Memo::new(move |_| {
        product.with(|p| claim_state.with(|c| p.sku().map(|s| header(t, s, c, &Intl(lang))))).unwrap_or_default()
    });
    let status = Memo::new(move |_| product.with(|p| signup.with(|s| p.status(s, t))));
    let text =
        |f: fn(&Header) -> &Option<String>| Signal::derive(move || head.with(|h| f(h).clone().unwrap_or_default()));
    let title = Signal::derive(move || head.with(|h| h.title.clone()));
    let note = text(|h| &h.note);
    let waiting = text(|h| &h.waiting);
    let live = move || claim_state.with(ClaimState::is_live);
    let hidden = Signal::derive(move || !product.with(|p| claim_state.with(|c| p.visible(c))));
    let form_hidden = Signal::derive(move || live() || signup.with(Signup::is_joined));
    let buy_hidden = Signal::derive(move || !live());
    let submitting = Signal::derive(move || signup.with(Signup::is_submitting));
    let busy = Signal::derive(move || submitting.get().then_some("true"));
    let error_text =
        move |field| Signal::derive(move || signup.with(|s| s.invalid_text(t, field)).unwrap_or_default().to_string());
    let invalid = move |field| Signal::derive(move || signup.with(|s| s.invalid_text(t, field)).map(|_| "true"));
    let position = Signal::derive(move || signup.with(|s| s.position_text(t)).unwrap_or_default());
    let action =
        Signal::derive(move || action(t, product.with(|p| p.sku().map(|s| s.mode).unwrap_or_default())).to_string());
    let status_text =
        Signal::derive(move || status.with(|s| s.as_ref().map(|s| s.text).unwrap_or_default().to_string()));
    let status_error = Signal::derive(move || status.with(|s| s.as_ref().is_some_and(|s| s.is_error)));
    let retry_hidden = Signal::derive(move || !status.with(|s| s.as_ref().is_some_and(|s| s.retry)));
    let on_buy = move |_| {
        let url = claim_state.with_untracked(|c| match c {
            ClaimState::Live { url, .. } => url.clone(),
            _ => None,
        });
        let _ = buy.call1(&JsValue::NULL, &url.map(JsValue::from).unwrap_or(JsValue::NULL));
    };
    let edited = move |_| signup.update(Signup::edit);

    // One static tree; parts are shown and hidden rather than created, so there is no `Show`/`AnyView`.
    view! {
        <style>{CSS}</style>
        <section class="restock" hidden=hidden aria-labelledby="restock-title" lang=lang.tag()>
            <h2 class="heading" id="restock-title" data-testid="title">{title}</h2>
            <p class="note" data-testid="note">{note}</p>
            <p class="waiting">{waiting}</p>
            <button type="button" class="buy" data-testid="buy" hidden=buy_hidden on:click=on_buy>{t.claim_buy}</button>
            <form novalidate data-testid="restock-form" hidden=form_hidden on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
                <label for="restock-email">{t.email}</label>
                <input
                    id="restock-email"
                    type="email"
                    name="email"
                    autocomplete="email"
                    required
                    node_ref=email_ref
                    bind:value=email
                    on:input=edited
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
                    node_ref=phone_ref
                    bind:value=phone
                    on:input=edited
                    aria-invalid=invalid(Field::Phone)
                    aria-describedby="restock-phone-error"
                />
                <p id="restock-phone-error" class="field-error">{error_text(Field::Phone)}</p>
                <label class="consent">
                    <input type="checkbox" name="sms_consent" bind:checked=consent />
                    <span>{t.sms_consent}</span>
                </label>
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
    }
}
