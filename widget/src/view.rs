//! The Leptos view: reads signals, calls [`crate::signup`] for every decision, and runs the effects
//! (requests to the edge, the position poll). Rendered inside the loader's Shadow DOM.

use crate::edge::Edge;
use crate::signup::{action, heading, waiting_text, Product, Signup};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::time::Duration;

/// How often the shown place in line is refreshed while the page is visible.
const POLL_EVERY: Duration = Duration::from_secs(15);

/// Scoped by the shadow root. Merchants theme it from outside with the `--restock-*` custom properties,
/// which inherit through the shadow boundary.
const CSS: &str = include_str!("widget.css");

#[component]
pub fn Widget(edge: Edge, locale: String) -> impl IntoView {
    let product = RwSignal::new(Product::Loading);
    let signup = RwSignal::new(Signup::default());
    let email = RwSignal::new(String::new());
    let phone = RwSignal::new(String::new());
    let consent = RwSignal::new(false);
    let edge = StoredValue::new(edge);
    let locale = StoredValue::new(locale);

    let load = move || {
        let edge = edge.get_value();
        spawn_local(async move {
            let loaded = Product::loaded(edge.sku_state().await);
            // A reload that fails keeps what was already shown.
            if loaded != Product::Failed || product.with_untracked(|p| p.sku().is_none()) {
                product.set(loaded);
            }
        });
    };

    let send = move || {
        let request = signup
            .try_update(|s| {
                s.submit(&email.get_untracked(), &phone.get_untracked(), consent.get_untracked(), &locale.read_value())
            })
            .flatten();
        if let Some(request) = request {
            let edge = edge.get_value();
            spawn_local(async move {
                let outcome = edge.join(&request).await;
                let joined = outcome.is_ok();
                signup.update(|s| s.finish(outcome));
                if joined {
                    load(); // the "people waiting" count changed
                }
            });
        }
    };

    let retry = move |_: leptos::ev::MouseEvent| {
        if signup.with_untracked(|s| s.status().is_some()) {
            send();
        } else {
            product.set(Product::Loading);
            load();
        }
    };

    load();
    // The interval lives as long as the page: the widget is never unmounted.
    if let Ok(handle) = set_interval_with_handle(
        move || {
            let hidden = document().hidden();
            if let (false, Some(id)) = (hidden, signup.with_untracked(|s| s.entry_id().map(String::from))) {
                let edge = edge.get_value();
                spawn_local(async move {
                    if let Ok(latest) = edge.entry(&id).await {
                        signup.update(|s| s.refresh(latest));
                    }
                });
            }
        },
        POLL_EVERY,
    ) {
        on_cleanup(move || handle.clear());
    }

    let sku = move || product.with(|p| p.sku().cloned());
    let mode = move || product.with(|p| p.sku().map(|s| s.mode).unwrap_or_default());
    let joined = Memo::new(move |_| signup.with(Signup::is_joined));
    let submitting = move || signup.with(Signup::is_submitting);
    let email_error = move || signup.with(|s| s.email_error().map(String::from));
    let status = Memo::new(move |_| product.with(|p| signup.with(|s| p.status(s))));

    let form = move || {
        view! {
            <form data-testid="restock-form" novalidate on:submit=move |ev| {
                ev.prevent_default();
                send();
            }>
                <label for="restock-email">"Email"</label>
                <input
                    id="restock-email"
                    type="email"
                    name="email"
                    autocomplete="email"
                    required
                    bind:value=email
                    on:input=move |_| signup.update(Signup::edit_email)
                    aria-invalid=move || email_error().is_some().then_some("true")
                    aria-describedby="restock-email-error"
                />
                <p id="restock-email-error" class="field-error">{email_error}</p>
                <label for="restock-phone">"Phone " <span class="muted">"(optional)"</span></label>
                <input id="restock-phone" type="tel" name="phone" autocomplete="tel" bind:value=phone />
                <label class="consent">
                    <input type="checkbox" name="sms_consent" bind:checked=consent />
                    <span>"Text me when it's my turn. Message and data rates may apply. Reply STOP to opt out."</span>
                </label>
                <button type="submit" disabled=submitting aria-busy=move || submitting().then_some("true")>
                    {move || action(mode())}
                </button>
            </form>
        }
    };

    view! {
        <style>{CSS}</style>
        <section class="restock" hidden=move || product.with(|p| *p == Product::Missing)>
            {move || {
                sku()
                    .map(|sku| {
                        view! {
                            <h2 class="heading">{heading(sku.mode)}</h2>
                            <p class="eta" hidden=sku.eta_text.is_empty()>{sku.eta_text.clone()}</p>
                            <p class="waiting">{waiting_text(&sku)}</p>
                        }
                    })
            }}
            <Show when=move || joined.get() fallback=form>
                <p class="position" data-testid="position">
                    {move || signup.with(|s| s.position_text())}
                </p>
            </Show>
            <div
                class="status"
                class:error=move || status.with(|s| s.as_ref().is_some_and(|s| s.is_error))
                data-testid="status"
                role="status"
                aria-live="polite"
            >
                {move || status.with(|s| s.as_ref().map(|s| s.text.clone()))}
                {move || {
                    status
                        .with(|s| s.as_ref().is_some_and(|s| s.retry))
                        .then(|| view! { <button type="button" class="retry" on:click=retry>"Try again"</button> })
                }}
            </div>
        </section>
    }
}
