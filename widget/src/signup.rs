//! The widget's domain: what the shopper sees for a SKU (its mode, a reservation, a claim link) and at
//! each step of joining its waitlist, as plain state machines. No signals, no DOM, no network: the view
//! calls these methods and the effects carry out the requests they return. Tested natively.
//!
//! Architecture Invariant: a signup request is only produced from `Editing`, so a second click while one
//! is in flight (or after joining) sends nothing; each request carries a ticket, and an answer whose
//! ticket is stale (the shopper switched variant meanwhile) changes nothing on screen.

use crate::answer::{ApiError, Claim};
use crate::locale::{fill, ships, Text};
use shared::wire::{EntryStatus, Mode, SignupRequest, SignupResponse, SkuState};
use shared::{Date, Email};

/// Where the shopper is in the signup.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Filling the form (also after a failed attempt: the inputs stay as typed).
    Editing,
    /// A signup request is in flight.
    Submitting,
    /// On the list; `entry` is refreshed by polling. The edge answers a new signup and one for an
    /// address already on the list alike (201, same body), so the widget says the same for both.
    Joined { entry: SignupResponse },
}

/// Which input an inline error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    Phone,
    Quantity,
}

/// What the form's inputs hold when the shopper presses submit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Form {
    pub email: String,
    pub phone: String,
    /// The country picked beside the phone number: its region and dial code, e.g. "DE49".
    pub country: String,
    pub sms_consent: bool,
    /// The shop's marketing checkbox, shown and ticked.
    pub marketing: bool,
    /// Units wanted, as typed ("" keeps the edge's default of 1).
    pub quantity: String,
    /// The honeypot: hidden from people, so empty unless a bot filled it in.
    pub website: String,
    /// The Turnstile token when the widget shows the challenge ("" until it is solved).
    pub turnstile_token: Option<String>,
}

/// What is shown in the `aria-live` status region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: &'static str,
    /// An error the shopper can retry (shows a "Try again" button).
    pub retry: bool,
    pub is_error: bool,
}

/// The signup form's state. Built with [`Signup::default`]; changed only through its methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Signup {
    phase: Phase,
    invalid: Option<Field>,
    failure: Option<ApiError>,
    ticket: u32,
}

impl Default for Signup {
    fn default() -> Self {
        Signup { phase: Phase::Editing, invalid: None, failure: None, ticket: 0 }
    }
}

impl Signup {
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The input with an inline error, if any.
    pub fn invalid(&self) -> Option<Field> {
        self.invalid
    }

    pub fn is_submitting(&self) -> bool {
        matches!(self.phase, Phase::Submitting)
    }

    pub fn is_joined(&self) -> bool {
        matches!(self.phase, Phase::Joined { .. })
    }

    /// A signup the loader's plain form already sent before this widget took over (`outcome` is its
    /// answer): the widget shows it as if it had sent it, so nothing is sent twice.
    pub fn resumed(outcome: Result<(u16, SignupResponse), ApiError>) -> Signup {
        let mut s = Signup { phase: Phase::Submitting, ticket: 1, ..Signup::default() };
        s.finish(1, outcome);
        s
    }

    /// The shopper pressed submit. Returns the ticket and the request to send, or `None` when nothing
    /// should be sent (already in flight, already joined, or an input is invalid: then
    /// [`Signup::invalid`] says which). With a phone number and the SMS box ticked, the request
    /// carries the consent sentence the shopper saw, as the record of what they agreed to.
    pub fn submit(&mut self, form: &Form, t: &Text, locale: &str) -> Option<(u32, SignupRequest)> {
        if !matches!(self.phase, Phase::Editing) {
            return None;
        }
        self.failure = None;
        let quantity = form.quantity.trim();
        let quantity = match quantity.parse::<u32>() {
            _ if quantity.is_empty() => Ok(None),
            Ok(q @ 1..=100) => Ok(Some(q)),
            _ => Err(()),
        };
        // The edge checks the address fully (`Email::parse`); here only what needs no Unicode tables.
        self.invalid = match (Email::plausible(&form.email), quantity) {
            (false, _) => Some(Field::Email),
            (_, Err(())) => Some(Field::Quantity),
            _ => None,
        };
        if self.invalid.is_some() {
            return None;
        }
        let phone = form.phone.trim();
        let texts = !phone.is_empty();
        let filled = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        self.phase = Phase::Submitting;
        self.ticket += 1;
        let request = SignupRequest {
            email: form.email.trim().to_string(),
            phone: texts.then(|| international(phone, &form.country)),
            sms_consent: texts.then_some(form.sms_consent),
            consent_text: (texts && form.sms_consent).then(|| t.sms_consent.to_string()),
            locale: filled(locale),
            quantity: quantity.ok().flatten(),
            website: filled(&form.website),
            turnstile_token: form.turnstile_token.as_deref().and_then(filled),
            source: None,
            marketing_consent: form.marketing.then_some(true),
            marketing_consent_text: form.marketing.then(|| t.marketing_consent.to_string()),
        };
        Some((self.ticket, request))
    }

    /// An input changed: a stale inline error goes away.
    pub fn edit(&mut self) {
        self.invalid = None;
    }

    /// The signup request with `ticket` finished. `Ok` carries the HTTP status (any 2xx: it does not
    /// tell a new entry from an existing one) and the entry.
    pub fn finish(&mut self, ticket: u32, outcome: Result<(u16, SignupResponse), ApiError>) {
        if !self.is_submitting() || ticket != self.ticket {
            return;
        }
        self.phase = Phase::Editing;
        match outcome {
            Ok((_status, entry)) => self.phase = Phase::Joined { entry },
            Err(ApiError::Rejected { code, .. }) if code == "invalid_email" => self.invalid = Some(Field::Email),
            Err(ApiError::Rejected { code, .. }) if code == "invalid_phone" => self.invalid = Some(Field::Phone),
            Err(ApiError::Rejected { code, .. }) if code == "invalid_quantity" => self.invalid = Some(Field::Quantity),
            Err(e) => self.failure = Some(e),
        }
    }

    /// The shopper switched to another variant: a fresh form (the inputs keep what was typed). A request
    /// in flight still goes to the variant it was sent for; its answer is no longer shown.
    pub fn restart(&mut self) {
        *self = Signup { ticket: self.ticket + 1, ..Signup::default() };
    }

    /// A poll of the entry answered. Failed polls change nothing: the last known position stays.
    pub fn refresh(&mut self, latest: SignupResponse) {
        if let Phase::Joined { entry, .. } = &mut self.phase {
            if entry.entry_id == latest.entry_id {
                *entry = latest;
            }
        }
    }

    /// The entry to keep live by polling, if any.
    pub fn entry_id(&self) -> Option<&str> {
        match &self.phase {
            Phase::Joined { entry, .. } if entry.position.is_some() => Some(&entry.entry_id),
            _ => None,
        }
    }

    /// How many poll ticks (`POLL_EVERY`, 15 s) between two polls of the place in line: each tick
    /// near the front, where places move with every offer; rarer further back, where a place moves
    /// slowly. With 10 000 pages open on one SKU that is about a fifth of the polls.
    pub fn poll_ticks(&self) -> u32 {
        match &self.phase {
            Phase::Joined { entry, .. } => match entry.position {
                Some(0..=50) | None => 1,
                Some(51..=500) => 2,
                Some(501..=5000) => 4,
                Some(_) => 8,
            },
            _ => 1,
        }
    }

    /// "You're #3 in line", once joined and still in line.
    pub fn position_text(&self, t: &Text) -> Option<String> {
        match &self.phase {
            Phase::Joined { entry, .. } => entry.position.map(|n| fill(t.position, &[&n.to_string()])),
            _ => None,
        }
    }

    /// The inline error's sentence.
    pub fn invalid_text(&self, t: &Text, field: Field) -> Option<&'static str> {
        (self.invalid == Some(field)).then_some(match field {
            Field::Email => t.invalid_email,
            Field::Phone => t.invalid_phone,
            Field::Quantity => t.invalid_quantity,
        })
    }

    /// The sentence for the status region.
    pub fn status(&self, t: &Text) -> Option<Status> {
        let ok = |text| Some(Status { text, retry: false, is_error: false });
        match &self.phase {
            Phase::Submitting => ok(t.joining),
            Phase::Joined { entry } => ok(match entry.status {
                EntryStatus::Waiting => t.joined,
                EntryStatus::Offered => t.offered,
                EntryStatus::Converted => t.converted,
                EntryStatus::Notified => t.notified,
                EntryStatus::Expired => t.expired,
                EntryStatus::Allocated => t.allocated,
                EntryStatus::Cancelled => t.cancelled,
                EntryStatus::PendingConfirmation => t.pending_confirmation,
            }),
            Phase::Editing => self.failure.as_ref().map(|e| Status {
                text: match e {
                    ApiError::Network => t.network_error,
                    ApiError::Server => t.server_error,
                    ApiError::Rejected { code, .. } => match code.as_str() {
                        "turnstile_required" => t.turnstile_required,
                        "turnstile_failed" => t.turnstile_failed,
                        "turnstile_unavailable" => t.turnstile_unavailable,
                        _ => t.refused,
                    },
                },
                retry: e.is_retryable(),
                is_error: true,
            }),
        }
    }
}

/// The number to send: as typed when it starts with `+`; `00…` as `+…`; else a national number
/// (its trunk zeros dropped) after the dial code of `country` ("DE49" → "+49"). The edge checks the
/// result (E.164) and answers `invalid_phone` when it is not a number.
pub fn international(phone: &str, country: &str) -> String {
    if phone.starts_with('+') {
        return phone.to_string();
    }
    if let Some(rest) = phone.strip_prefix("00") {
        return ["+", rest].concat();
    }
    let dial: String = country.chars().filter(char::is_ascii_digit).collect();
    ["+", &dial, phone.trim_start_matches('0')].concat()
}

/// The SKU the widget is for, as loaded from the edge.
#[derive(Debug, Clone, PartialEq)]
pub enum Product {
    Loading,
    Ready(SkuState),
    /// The shop has not configured this SKU (404), or the page's variant maps to none.
    Missing,
    /// Loading failed; the shopper can retry.
    Failed,
}

impl Product {
    pub fn loaded(result: Result<SkuState, ApiError>) -> Product {
        match result {
            Ok(sku) => Product::Ready(sku),
            Err(ApiError::Rejected { status: 404, .. }) => Product::Missing,
            Err(_) => Product::Failed,
        }
    }

    pub fn sku(&self) -> Option<&SkuState> {
        match self {
            Product::Ready(sku) => Some(sku),
            _ => None,
        }
    }

    /// Whether the widget shows at all: not while loading (the SKU or a claim), not for an unknown SKU, not for a restock SKU
    /// that is in stock (units beyond those held for the waitlist), unless the shopper holds a claim.
    pub fn visible(&self, claim: &ClaimState) -> bool {
        match self {
            _ if matches!(claim, ClaimState::Checking) => false,
            Product::Loading | Product::Missing => false,
            Product::Failed => true,
            Product::Ready(sku) => sku.mode != Mode::Restock || !in_stock(sku) || !matches!(claim, ClaimState::None),
        }
    }

    /// What the status region says: the signup's news first, then a failed load.
    pub fn status(&self, signup: &Signup, t: &Text) -> Option<Status> {
        signup.status(t).or_else(|| {
            matches!(self, Product::Failed).then_some(Status { text: t.load_error, retry: true, is_error: true })
        })
    }
}

/// Everything one widget shows, as one value: the view keeps it in a single signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Shown {
    /// The SKU shown (the page's variant; "" for a variant the shop does not list).
    pub sku: String,
    pub product: Product,
    pub signup: Signup,
    pub claim: ClaimState,
}

impl Shown {
    /// The shopper switched variant: a fresh form for `sku` (loading), the claim forgotten.
    pub fn switch(&mut self, sku: String) {
        self.sku = sku;
        self.signup.restart();
        self.claim = ClaimState::None;
        self.product = Product::Loading;
    }

    /// `GET …/skus/{for_sku}` answered. An answer for a variant the shopper left is dropped; a reload
    /// that fails keeps what was shown.
    pub fn loaded(&mut self, for_sku: &str, loaded: Product) {
        if self.sku == for_sku && (!matches!(loaded, Product::Failed) || self.product.sku().is_none()) {
            self.product = loaded;
        }
    }

    pub fn visible(&self) -> bool {
        self.product.visible(&self.claim)
    }

    pub fn status(&self, t: &Text) -> Option<Status> {
        self.product.status(&self.signup, t)
    }

    /// The submit button's label.
    pub fn action(&self, t: &Text) -> &'static str {
        action(t, self.product.sku().map(|s| s.mode).unwrap_or_default())
    }

    /// The heading and the lines under it (empty until the SKU is known).
    pub fn header(&self, t: &Text, clock: &dyn Clock) -> Header {
        self.product.sku().map(|s| header(t, s, &self.claim, clock)).unwrap_or_default()
    }
}

/// Units free for anyone (not held for the waitlist).
pub fn in_stock(sku: &SkuState) -> bool {
    sku.available - sku.reserved > 0
}

/// What a `?restock_claim=` link turned out to be.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ClaimState {
    /// No claim link on this page (or the edge could not be asked).
    #[default]
    None,
    Checking,
    /// The shopper may buy now: until `hold_until` if the claim holds units.
    Live {
        hold_until: Option<i64>,
        url: Option<String>,
    },
    /// The hold ran out or went to the next in line.
    Ended,
    /// A link for another product, or tampered with.
    Invalid,
}

impl ClaimState {
    pub fn checked(result: Result<Claim, ApiError>) -> ClaimState {
        match result {
            Ok(Claim { live: true, hold_until, url }) => ClaimState::Live { hold_until, url },
            Ok(_) => ClaimState::Ended,
            // Say nothing rather than something wrong; the normal form still works.
            Err(e) if e.is_retryable() => ClaimState::None,
            Err(ApiError::Rejected { code, .. }) if code == "link_expired" => ClaimState::Ended,
            Err(_) => ClaimState::Invalid,
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, ClaimState::Live { .. })
    }
}

/// How the view writes dates and times in the shopper's language (the browser's `Intl`).
pub trait Clock {
    /// A calendar day: "December 7".
    fn day(&self, date: Date) -> String;
    /// A moment, in the shopper's time zone: "14:00" today, else with the weekday.
    fn time(&self, unix_ms: i64) -> String;
}

/// The top of the widget: a heading and the sentence under it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub title: String,
    pub note: Option<String>,
    pub waiting: Option<String>,
}

/// What the top of the widget says for this SKU and claim.
pub fn header(t: &Text, sku: &SkuState, claim: &ClaimState, clock: &dyn Clock) -> Header {
    if let ClaimState::Live { hold_until, .. } = claim {
        let title = match hold_until {
            Some(ms) => fill(t.claim_held, &[&clock.time(*ms)]),
            None => t.claim_open.to_string(),
        };
        return Header { title, note: None, waiting: None };
    }
    let mode_title = match sku.mode {
        Mode::Restock => t.restock_title,
        Mode::Preorder => t.preorder_title,
        Mode::Backorder => t.backorder_title,
    };
    let title = match (sku.mode, &sku.eta) {
        (Mode::Preorder | Mode::Backorder, Some(eta)) => {
            fill(t.title_with_eta, &[mode_title, &ships(t, eta, &|d| clock.day(d))])
        }
        _ => mode_title.to_string(),
    };
    let note = match claim {
        ClaimState::Ended => Some(t.claim_ended.to_string()),
        ClaimState::Invalid => Some(t.claim_invalid.to_string()),
        _ => match sku.reserved_until {
            Some(until) if sku.reserved > 0 && !in_stock(sku) => Some(fill(t.reserved, &[&clock.time(until)])),
            _ => None,
        },
    };
    let waiting = match sku.waiting {
        0 => None,
        1 => Some(t.waiting_one.to_string()),
        n => Some(fill(t.waiting_many, &[&n.to_string()])),
    };
    Header { title, note, waiting }
}

/// The submit button's label, by mode.
pub fn action(t: &Text, mode: Mode) -> &'static str {
    match mode {
        Mode::Restock => t.restock_action,
        Mode::Preorder => t.preorder_action,
        Mode::Backorder => t.backorder_action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locale::{DE, EN};
    use shared::Eta;

    fn entry(position: Option<u32>, status: EntryStatus) -> SignupResponse {
        SignupResponse { entry_id: "e1".into(), position, status, eta: None, eta_text: String::new() }
    }

    fn form(email: &str) -> Form {
        Form { email: email.into(), ..Form::default() }
    }

    fn submitted() -> (Signup, u32) {
        let mut s = Signup::default();
        let (ticket, _) = s.submit(&form("a@example.com"), &EN, "en").unwrap();
        (s, ticket)
    }

    fn sku(mode: Mode, available: i64, reserved: i64, waiting: u32) -> SkuState {
        SkuState {
            sku: "S".into(),
            title: "T".into(),
            mode,
            available,
            reserved,
            reserved_until: (reserved > 0).then_some(1_000),
            eta: None,
            eta_text: String::new(),
            waiting,
            marketing: false,
        }
    }

    struct Fake;
    impl Clock for Fake {
        fn day(&self, d: Date) -> String {
            format!("{}.{}.", d.day(), d.month())
        }
        fn time(&self, ms: i64) -> String {
            format!("t{ms}")
        }
    }

    #[test]
    fn submit_validates_email_inline() {
        let cases = [("", false), ("nope", false), ("a@b", false), ("  a@example.com ", true)];
        for (email, ok) in cases {
            let mut s = Signup::default();
            let req = s.submit(&form(email), &EN, "");
            assert_eq!(req.is_some(), ok, "{email:?}");
            assert_eq!(s.invalid_text(&EN, Field::Email).is_some(), !ok, "{email:?}");
            assert_eq!(s.invalid_text(&DE, Field::Email), (!ok).then_some(DE.invalid_email));
            assert_eq!(s.is_submitting(), ok);
        }
    }

    #[test]
    fn request_carries_trimmed_fields_and_consent_only_with_a_phone() {
        let mut s = Signup::default();
        let f = Form { phone: " +4477 ".into(), sms_consent: true, quantity: " 2 ".into(), ..form(" a@example.com ") };
        let (_, r) = s.submit(&f, &DE, "de").unwrap();
        assert_eq!(
            (r.email.as_str(), r.phone.as_deref(), r.sms_consent, r.locale.as_deref(), r.quantity),
            ("a@example.com", Some("+4477"), Some(true), Some("de"), Some(2))
        );
        assert_eq!(r.consent_text.as_deref(), Some(DE.sms_consent), "the wording the shopper saw");
        let mut s = Signup::default();
        let f = Form {
            phone: "  ".into(),
            sms_consent: true,
            turnstile_token: Some(String::new()),
            ..form("a@example.com")
        };
        let (_, r) = s.submit(&f, &EN, "").unwrap();
        assert_eq!((r.phone, r.sms_consent, r.consent_text, r.locale), (None, None, None, None));
        assert_eq!((r.quantity, r.website, r.turnstile_token), (None, None, None), "empty fields are left out");
        let mut s = Signup::default();
        let f = Form {
            phone: "+4477".into(),
            website: "spam.example".into(),
            turnstile_token: Some("tok".into()),
            ..form("a@example.com")
        };
        let (_, r) = s.submit(&f, &EN, "en").unwrap();
        assert_eq!((r.sms_consent, r.consent_text), (Some(false), None), "unticked: no consent");
        assert_eq!((r.website.as_deref(), r.turnstile_token.as_deref()), (Some("spam.example"), Some("tok")));
    }

    #[test]
    fn marketing_consent_is_sent_only_when_ticked_with_its_wording() {
        let mut s = Signup::default();
        let (_, r) = s.submit(&form("a@example.com"), &DE, "de").unwrap();
        assert_eq!((r.marketing_consent, r.marketing_consent_text), (None, None), "not ticked (or not shown)");
        let mut s = Signup::default();
        let (_, r) = s.submit(&Form { marketing: true, ..form("a@example.com") }, &DE, "de").unwrap();
        assert_eq!(r.marketing_consent, Some(true));
        assert_eq!(r.marketing_consent_text.as_deref(), Some(DE.marketing_consent), "the wording the shopper saw");
        assert_eq!(r.consent_text, None, "the SMS wording is its own");
    }

    #[test]
    fn a_national_number_gets_the_chosen_country_code() {
        let cases = [
            ("0151 2345678", "DE49", "+49151 2345678"),
            ("7700 900123", "GB44", "+447700 900123"),
            ("+1 415 555 0100", "DE49", "+1 415 555 0100"),
            ("0044 7700 900123", "DE49", "+44 7700 900123"),
            ("090-1234-5678", "JP81", "+8190-1234-5678"),
        ];
        for (typed, country, sent) in cases {
            assert_eq!(international(typed, country), sent, "{typed:?} with {country}");
            let mut s = Signup::default();
            let f = Form { phone: format!(" {typed} "), country: country.into(), ..form("a@example.com") };
            let (_, r) = s.submit(&f, &EN, "en").unwrap();
            assert_eq!(r.phone.as_deref(), Some(sent));
        }
    }

    #[test]
    fn quantity_is_a_whole_number_from_1_to_100() {
        for (q, ok) in
            [("1", true), ("100", true), ("", true), ("0", false), ("101", false), ("1.5", false), ("x", false)]
        {
            let mut s = Signup::default();
            let sent = s.submit(&Form { quantity: q.into(), ..form("a@example.com") }, &EN, "en");
            assert_eq!(sent.is_some(), ok, "{q:?}");
            assert_eq!(s.invalid_text(&EN, Field::Quantity), (!ok).then_some(EN.invalid_quantity), "{q:?}");
        }
        // The email is checked first.
        let mut s = Signup::default();
        s.submit(&Form { quantity: "0".into(), ..form("nope") }, &EN, "en");
        assert_eq!(s.invalid(), Some(Field::Email));
    }

    #[test]
    fn only_one_request_at_a_time() {
        let (mut s, t) = submitted();
        assert!(s.submit(&form("a@example.com"), &EN, "en").is_none());
        s.finish(t, Ok((201, entry(Some(1), EntryStatus::Waiting))));
        assert!(s.submit(&form("a@example.com"), &EN, "en").is_none());
        assert_eq!(s.status(&EN).unwrap().text, EN.joined);
        assert_eq!(s.position_text(&EN).as_deref(), Some("You're #1 in line"));
        assert_eq!(s.position_text(&DE).as_deref(), Some("Sie sind Nr. 1 in der Warteschlange"));
    }

    #[test]
    fn failures_keep_the_form_and_say_what_to_do() {
        let cases = [
            (ApiError::Network, Some((EN.network_error, true)), None),
            (ApiError::Server, Some((EN.server_error, true)), None),
            (ApiError::Rejected { status: 429, code: "rate_limited".into() }, Some((EN.refused, false)), None),
            (ApiError::Rejected { status: 422, code: "invalid_email".into() }, None, Some(Field::Email)),
            (ApiError::Rejected { status: 422, code: "invalid_phone".into() }, None, Some(Field::Phone)),
            (ApiError::Rejected { status: 422, code: "invalid_quantity".into() }, None, Some(Field::Quantity)),
            (
                ApiError::Rejected { status: 422, code: "turnstile_required".into() },
                Some((EN.turnstile_required, false)),
                None,
            ),
            (
                ApiError::Rejected { status: 403, code: "turnstile_failed".into() },
                Some((EN.turnstile_failed, false)),
                None,
            ),
            (
                ApiError::Rejected { status: 503, code: "turnstile_unavailable".into() },
                Some((EN.turnstile_unavailable, true)),
                None,
            ),
        ];
        for (err, status, invalid) in cases {
            let (mut s, t) = submitted();
            s.finish(t, Err(err.clone()));
            assert_eq!(s.phase(), &Phase::Editing, "{err:?}");
            assert_eq!(s.status(&EN).map(|st| (st.text, st.retry)), status, "{err:?}");
            assert_eq!(s.invalid(), invalid, "{err:?}");
            // The shopper can send again.
            assert!(s.submit(&form("a@example.com"), &EN, "en").is_some());
        }
    }

    #[test]
    fn a_signup_the_plain_form_sent_is_taken_over_not_sent_again() {
        let s = Signup::resumed(Ok((201, entry(Some(4), EntryStatus::Waiting))));
        assert_eq!(s.position_text(&EN).as_deref(), Some("You're #4 in line"));
        assert_eq!(s.entry_id(), Some("e1"), "the position stays live");
        let mut s = Signup::resumed(Err(ApiError::Network));
        assert_eq!(s.status(&EN).map(|st| (st.text, st.retry)), Some((EN.network_error, true)));
        assert!(s.submit(&form("a@example.com"), &EN, "en").is_some(), "the shopper can send again");
        let s = Signup::resumed(Err(ApiError::Rejected { status: 422, code: "invalid_email".into() }));
        assert_eq!(s.invalid(), Some(Field::Email));
    }

    #[test]
    fn a_stale_answer_after_a_variant_switch_changes_nothing() {
        let (mut s, t) = submitted();
        s.restart();
        assert_eq!(s.phase(), &Phase::Editing);
        s.finish(t, Ok((201, entry(Some(1), EntryStatus::Waiting))));
        assert_eq!(s.phase(), &Phase::Editing);
        let (t2, _) = s.submit(&form("a@example.com"), &EN, "en").unwrap();
        assert_ne!(t, t2);
        s.finish(t, Err(ApiError::Network));
        assert!(s.is_submitting());
        s.finish(t2, Ok((201, entry(Some(2), EntryStatus::Waiting))));
        assert_eq!(s.status(&EN).unwrap().text, EN.joined);
    }

    #[test]
    fn refresh_updates_position_and_stops_polling_when_out_of_line() {
        let (mut s, t) = submitted();
        s.finish(t, Ok((201, entry(Some(3), EntryStatus::Waiting))));
        assert_eq!(s.entry_id(), Some("e1"));
        s.refresh(entry(Some(1), EntryStatus::Waiting));
        assert_eq!(s.position_text(&EN).as_deref(), Some("You're #1 in line"));
        s.refresh(SignupResponse { entry_id: "other".into(), ..entry(Some(9), EntryStatus::Waiting) });
        assert_eq!(s.position_text(&EN).as_deref(), Some("You're #1 in line"));
        s.refresh(entry(None, EntryStatus::Converted));
        assert_eq!(s.entry_id(), None);
        assert_eq!(s.position_text(&EN), None);
        assert_eq!(s.status(&EN).unwrap().text, EN.converted);
    }

    #[test]
    fn polls_thin_out_further_back_in_line() {
        let (mut s, t) = submitted();
        assert_eq!(s.poll_ticks(), 1, "not joined yet");
        s.finish(t, Ok((201, entry(Some(3), EntryStatus::Waiting))));
        let mut seen = Vec::new();
        for p in [1, 50, 51, 500, 501, 5000, 5001, 1_000_000] {
            s.refresh(entry(Some(p), EntryStatus::Waiting));
            seen.push((p, s.poll_ticks()));
        }
        assert_eq!(seen, [(1, 1), (50, 1), (51, 2), (500, 2), (501, 4), (5000, 4), (5001, 8), (1_000_000, 8)]);
    }

    #[test]
    fn visibility_by_mode_stock_and_claim() {
        let live = ClaimState::Live { hold_until: Some(5), url: None };
        let cases = [
            (Product::Loading, ClaimState::None, false),
            (Product::Missing, ClaimState::None, false),
            (Product::Failed, ClaimState::None, true),
            (Product::Ready(sku(Mode::Restock, 0, 0, 0)), ClaimState::None, true),
            (Product::Ready(sku(Mode::Restock, 3, 0, 0)), ClaimState::None, false),
            (Product::Ready(sku(Mode::Restock, 3, 3, 0)), ClaimState::None, true),
            (Product::Ready(sku(Mode::Restock, 3, 1, 0)), ClaimState::None, false),
            (Product::Ready(sku(Mode::Restock, 3, 0, 0)), live.clone(), true),
            (Product::Ready(sku(Mode::Restock, 3, 0, 0)), ClaimState::Ended, true),
            (Product::Ready(sku(Mode::Preorder, 3, 0, 0)), ClaimState::None, true),
            (Product::Ready(sku(Mode::Preorder, 3, 0, 0)), ClaimState::Checking, false),
        ];
        for (p, c, want) in cases {
            assert_eq!(p.visible(&c), want, "{p:?} {c:?}");
        }
    }

    #[test]
    fn headers_by_mode_reservation_and_claim() {
        let eta = Eta::new(Date::parse("2026-12-09").unwrap(), Date::parse("2026-12-10").unwrap()).unwrap();
        let pre = SkuState { eta: Some(eta), ..sku(Mode::Preorder, 0, 0, 1) };
        let h = |t, s: &SkuState, c: &ClaimState| header(t, s, c, &Fake);
        let none = ClaimState::None;
        assert_eq!(
            h(&EN, &sku(Mode::Restock, 0, 0, 0), &none),
            Header { title: EN.restock_title.into(), ..Header::default() }
        );
        assert_eq!(h(&EN, &pre, &none).title, "Pre-order — ships the week of 7.12.");
        assert_eq!(h(&EN, &pre, &none).waiting.as_deref(), Some("1 person is waiting"));
        assert_eq!(h(&DE, &pre, &none).title, "Vorbestellung — Versand in der Woche vom 7.12.");
        assert_eq!(h(&EN, &sku(Mode::Backorder, 0, 0, 5), &none).waiting.as_deref(), Some("5 people are waiting"));
        assert_eq!(h(&EN, &sku(Mode::Preorder, 0, 0, 0), &none).title, "Pre-order");
        // Reserved: every unit in stock is held for the waitlist.
        assert_eq!(
            h(&EN, &sku(Mode::Restock, 2, 2, 3), &none).note.as_deref(),
            Some("Reserved for the waitlist until t1000 — join to be next")
        );
        assert_eq!(h(&EN, &sku(Mode::Restock, 3, 2, 3), &none).note, None);
        // Claims.
        let live = ClaimState::Live { hold_until: Some(7), url: None };
        assert_eq!(
            h(&EN, &sku(Mode::Restock, 2, 2, 3), &live),
            Header { title: "This one is yours — reserved until t7".into(), ..Header::default() }
        );
        let open = ClaimState::Live { hold_until: None, url: None };
        assert_eq!(h(&EN, &sku(Mode::Restock, 2, 0, 0), &open).title, EN.claim_open);
        assert_eq!(h(&EN, &sku(Mode::Restock, 2, 2, 3), &ClaimState::Ended).note.as_deref(), Some(EN.claim_ended));
    }

    #[test]
    fn claim_outcomes() {
        let rejected = |code: &str| Err(ApiError::Rejected { status: 410, code: code.into() });
        assert!(ClaimState::checked(Ok(Claim { live: true, hold_until: Some(1), url: None })).is_live());
        assert_eq!(ClaimState::checked(Ok(Claim { live: false, hold_until: Some(1), url: None })), ClaimState::Ended);
        assert_eq!(ClaimState::checked(rejected("link_expired")), ClaimState::Ended);
        assert_eq!(ClaimState::checked(rejected("invalid_link")), ClaimState::Invalid);
        assert_eq!(ClaimState::checked(Err(ApiError::Network)), ClaimState::None);
        assert_eq!(ClaimState::checked(Err(ApiError::Server)), ClaimState::None);
    }

    #[test]
    fn a_variant_switch_drops_answers_for_the_variant_left() {
        let ready = |s: &str| Product::Ready(SkuState { sku: s.into(), ..sku(Mode::Restock, 0, 0, 0) });
        let (mut shown, t) = {
            let (signup, t) = submitted();
            (Shown { sku: "A".into(), product: ready("A"), signup, claim: ClaimState::Ended }, t)
        };
        shown.switch("B".into());
        assert_eq!((shown.product.clone(), shown.claim.clone()), (Product::Loading, ClaimState::None));
        shown.loaded("A", ready("A"));
        assert_eq!(shown.product, Product::Loading, "A's late answer is dropped");
        shown.signup.finish(t, Ok((201, entry(Some(1), EntryStatus::Waiting))));
        assert!(!shown.signup.is_joined(), "A's signup answer is not shown on B");
        shown.loaded("B", ready("B"));
        assert_eq!(shown.header(&EN, &Fake).title, EN.restock_title);
        shown.loaded("B", Product::Failed);
        assert_eq!(shown.product, ready("B"), "a failed reload keeps what was shown");
    }

    #[test]
    fn product_load_outcomes() {
        let missing = ApiError::Rejected { status: 404, code: "unknown_sku".into() };
        assert_eq!(Product::loaded(Err(missing)), Product::Missing);
        assert_eq!(Product::loaded(Err(ApiError::Network)), Product::Failed);
        let st = Product::Failed.status(&Signup::default(), &EN).unwrap();
        assert!(st.retry && st.is_error);
        assert_eq!(Product::Loading.status(&Signup::default(), &EN), None);
        // The signup's own news wins over a failed load.
        assert_eq!(Product::Failed.status(&submitted().0, &EN).unwrap().text, EN.joining);
        assert_eq!(action(&EN, Mode::Preorder), "Reserve mine");
    }
}
