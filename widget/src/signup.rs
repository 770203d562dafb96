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

    /// The shopper pressed submit. Returns the ticket and the request to send, or `None` when nothing
    /// should be sent (already in flight, already joined, or the email is invalid: then
    /// [`Signup::invalid`] says so).
    pub fn submit(
        &mut self,
        email: &str,
        phone: &str,
        sms_consent: bool,
        locale: &str,
    ) -> Option<(u32, SignupRequest)> {
        if self.phase != Phase::Editing {
            return None;
        }
        self.failure = None;
        if Email::parse(email).is_err() {
            self.invalid = Some(Field::Email);
            return None;
        }
        let phone = phone.trim();
        self.invalid = None;
        self.phase = Phase::Submitting;
        self.ticket += 1;
        let request = SignupRequest {
            email: email.trim().to_string(),
            phone: (!phone.is_empty()).then(|| phone.to_string()),
            sms_consent: (!phone.is_empty()).then_some(sms_consent),
            locale: (!locale.is_empty()).then(|| locale.to_string()),
            // Fields the form does not ask for (e.g. `quantity`) keep the edge's defaults.
            ..SignupRequest::default()
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
        if self.phase != Phase::Submitting || ticket != self.ticket {
            return;
        }
        self.phase = Phase::Editing;
        match outcome {
            Ok((_status, entry)) => self.phase = Phase::Joined { entry },
            Err(ApiError::Rejected { code, .. }) if code == "invalid_email" => self.invalid = Some(Field::Email),
            Err(ApiError::Rejected { code, .. }) if code == "invalid_phone" => self.invalid = Some(Field::Phone),
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
                    ApiError::Rejected { .. } => t.refused,
                },
                retry: e.is_retryable(),
                is_error: true,
            }),
        }
    }
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
            _ if *claim == ClaimState::Checking => false,
            Product::Loading | Product::Missing => false,
            Product::Failed => true,
            Product::Ready(sku) => sku.mode != Mode::Restock || !in_stock(sku) || *claim != ClaimState::None,
        }
    }

    /// What the status region says: the signup's news first, then a failed load.
    pub fn status(&self, signup: &Signup, t: &Text) -> Option<Status> {
        signup.status(t).or_else(|| {
            (*self == Product::Failed).then_some(Status { text: t.load_error, retry: true, is_error: true })
        })
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
            Err(ApiError::Rejected { code, .. }) if code == "link_expired" => ClaimState::Ended,
            Err(ApiError::Rejected { .. }) => ClaimState::Invalid,
            // Say nothing rather than something wrong; the normal form still works.
            Err(_) => ClaimState::None,
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

    fn submitted() -> (Signup, u32) {
        let mut s = Signup::default();
        let (ticket, _) = s.submit("a@example.com", "", false, "en").unwrap();
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
            let req = s.submit(email, "", false, "");
            assert_eq!(req.is_some(), ok, "{email:?}");
            assert_eq!(s.invalid_text(&EN, Field::Email).is_some(), !ok, "{email:?}");
            assert_eq!(s.invalid_text(&DE, Field::Email), (!ok).then_some(DE.invalid_email));
            assert_eq!(s.is_submitting(), ok);
        }
    }

    #[test]
    fn request_carries_trimmed_fields_and_consent_only_with_a_phone() {
        let mut s = Signup::default();
        let (_, r) = s.submit(" a@example.com ", " +4477 ", true, "de").unwrap();
        assert_eq!(
            (r.email.as_str(), r.phone.as_deref(), r.sms_consent, r.locale.as_deref()),
            ("a@example.com", Some("+4477"), Some(true), Some("de"))
        );
        let mut s = Signup::default();
        let (_, r) = s.submit("a@example.com", "  ", true, "").unwrap();
        assert_eq!((r.phone, r.sms_consent, r.locale), (None, None, None));
    }

    #[test]
    fn only_one_request_at_a_time() {
        let (mut s, t) = submitted();
        assert!(s.submit("a@example.com", "", false, "en").is_none());
        s.finish(t, Ok((201, entry(Some(1), EntryStatus::Waiting))));
        assert!(s.submit("a@example.com", "", false, "en").is_none());
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
        ];
        for (err, status, invalid) in cases {
            let (mut s, t) = submitted();
            s.finish(t, Err(err.clone()));
            assert_eq!(s.phase(), &Phase::Editing, "{err:?}");
            assert_eq!(s.status(&EN).map(|st| (st.text, st.retry)), status, "{err:?}");
            assert_eq!(s.invalid(), invalid, "{err:?}");
            // The shopper can send again.
            assert!(s.submit("a@example.com", "", false, "en").is_some());
        }
    }

    #[test]
    fn a_stale_answer_after_a_variant_switch_changes_nothing() {
        let (mut s, t) = submitted();
        s.restart();
        assert_eq!(s.phase(), &Phase::Editing);
        s.finish(t, Ok((201, entry(Some(1), EntryStatus::Waiting))));
        assert_eq!(s.phase(), &Phase::Editing);
        let (t2, _) = s.submit("a@example.com", "", false, "en").unwrap();
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
