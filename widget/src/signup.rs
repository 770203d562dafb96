//! The widget's domain: what the shopper sees at each step of joining a waitlist, as a plain state
//! machine. No signals, no DOM, no network: the view calls these methods and the effects carry out the
//! requests they return. Tested natively.
//!
//! Architecture Invariant: a signup request is only produced from `Editing`, so a second click while one
//! is in flight (or after joining) sends nothing.

use shared::wire::{EntryStatus, Mode, SignupRequest, SignupResponse, SkuState};
use shared::Email;

/// Why a request to the edge did not give the answer we wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No answer at all (offline, DNS, CORS refused, aborted).
    Network,
    /// The edge failed (5xx) or answered something we cannot read.
    Server,
    /// The edge said no, with its stable `error.code` and a sentence for people.
    Rejected { status: u16, code: String, message: String },
}

impl ApiError {
    /// Whether trying the same request again may work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ApiError::Network | ApiError::Server)
    }
}

/// Whether a successful signup created the entry (201) or found it already there (200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    New,
    Already,
}

impl Joined {
    pub fn from_status(status: u16) -> Joined {
        if status == 201 {
            Joined::New
        } else {
            Joined::Already
        }
    }
}

/// Where the shopper is in the signup.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Filling the form (also after a failed attempt: the inputs stay as typed).
    Editing,
    /// A signup request is in flight.
    Submitting,
    /// On the list; `entry` is refreshed by polling.
    Joined { entry: SignupResponse, joined: Joined },
}

/// What is shown in the `aria-live` status region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    /// An error the shopper can retry (shows a "Try again" button).
    pub retry: bool,
    pub is_error: bool,
}

/// The signup form's state. Built with [`Signup::default`]; changed only through its methods.
#[derive(Debug, Clone, PartialEq)]
pub struct Signup {
    phase: Phase,
    email_error: Option<String>,
    failure: Option<ApiError>,
}

impl Default for Signup {
    fn default() -> Self {
        Signup { phase: Phase::Editing, email_error: None, failure: None }
    }
}

impl Signup {
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The inline error under the email field, if any.
    pub fn email_error(&self) -> Option<&str> {
        self.email_error.as_deref()
    }

    pub fn is_submitting(&self) -> bool {
        matches!(self.phase, Phase::Submitting)
    }

    pub fn is_joined(&self) -> bool {
        matches!(self.phase, Phase::Joined { .. })
    }

    /// The shopper pressed submit. Returns the request to send, or `None` when nothing should be sent
    /// (already in flight, already joined, or the email is invalid: then [`Signup::email_error`] says why).
    pub fn submit(&mut self, email: &str, phone: &str, sms_consent: bool, locale: &str) -> Option<SignupRequest> {
        if self.phase != Phase::Editing {
            return None;
        }
        let email = match Email::parse(email) {
            Ok(_) => email.trim().to_string(),
            Err(e) => {
                self.email_error = Some(e.to_string());
                self.failure = None;
                return None;
            }
        };
        let phone = phone.trim();
        self.email_error = None;
        self.failure = None;
        self.phase = Phase::Submitting;
        Some(SignupRequest {
            email,
            phone: (!phone.is_empty()).then(|| phone.to_string()),
            sms_consent: (!phone.is_empty()).then_some(sms_consent),
            locale: (!locale.is_empty()).then(|| locale.to_string()),
            // Fields the form does not ask for (e.g. `quantity`) keep the edge's defaults.
            ..SignupRequest::default()
        })
    }

    /// The email field changed: a stale inline error goes away.
    pub fn edit_email(&mut self) {
        self.email_error = None;
    }

    /// The signup request finished. `Ok` carries the HTTP status (201 or 200) and the entry.
    pub fn finish(&mut self, outcome: Result<(u16, SignupResponse), ApiError>) {
        if self.phase != Phase::Submitting {
            return;
        }
        match outcome {
            Ok((status, entry)) => {
                self.phase = Phase::Joined { entry, joined: Joined::from_status(status) };
            }
            Err(ApiError::Rejected { code, message, .. }) if code == "invalid_email" => {
                self.phase = Phase::Editing;
                self.email_error = Some(message);
            }
            Err(e) => {
                self.phase = Phase::Editing;
                self.failure = Some(e);
            }
        }
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
    pub fn position_text(&self) -> Option<String> {
        match &self.phase {
            Phase::Joined { entry, .. } => entry.position.map(|n| format!("You're #{n} in line")),
            _ => None,
        }
    }

    /// The sentence for the status region.
    pub fn status(&self) -> Option<Status> {
        let ok = |text: &str| Some(Status { text: text.to_string(), retry: false, is_error: false });
        match &self.phase {
            Phase::Submitting => ok("Joining…"),
            Phase::Joined { entry, joined } => match (entry.status, joined) {
                (EntryStatus::Waiting, Joined::New) => ok("You're on the list. We'll email you when it's your turn."),
                (EntryStatus::Waiting, Joined::Already) => ok("You're already on the list."),
                (EntryStatus::Offered, _) => ok("One is held for you: check your email to complete your order."),
                (EntryStatus::Converted, _) => ok("Thanks for your order!"),
                (EntryStatus::Notified, _) => ok("It's back in stock! Check your email: first come, first served."),
                (EntryStatus::Expired, _) => ok("Your hold has expired."),
                (EntryStatus::Allocated, _) => ok("Your order is on its way."),
                (EntryStatus::Cancelled, _) => ok("You've left the list."),
            },
            Phase::Editing => {
                self.failure.as_ref().map(|e| Status { text: failure_text(e), retry: e.is_retryable(), is_error: true })
            }
        }
    }
}

fn failure_text(e: &ApiError) -> String {
    match e {
        ApiError::Network => "We couldn't reach the waitlist. Check your connection and try again.".to_string(),
        ApiError::Server => "Something went wrong on our side. Please try again.".to_string(),
        ApiError::Rejected { message, .. } => message.clone(),
    }
}

/// The SKU the widget is for, as loaded from the edge.
#[derive(Debug, Clone, PartialEq)]
pub enum Product {
    Loading,
    Ready(SkuState),
    /// The shop has not configured this SKU (404): the widget shows nothing.
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

    /// What the status region says: the signup's news first, then a failed load.
    pub fn status(&self, signup: &Signup) -> Option<Status> {
        signup.status().or_else(|| match self {
            Product::Failed => Some(Status {
                text: "We couldn't load the waitlist. Check your connection and try again.".to_string(),
                retry: true,
                is_error: true,
            }),
            _ => None,
        })
    }
}

/// The heading above the form, by how the SKU is sold.
pub fn heading(mode: Mode) -> &'static str {
    match mode {
        Mode::Restock => "Notify me when it's back",
        Mode::Preorder => "Pre-order",
        Mode::Backorder => "Join the backorder list",
    }
}

/// The submit button's label, by mode.
pub fn action(mode: Mode) -> &'static str {
    match mode {
        Mode::Restock => "Notify me",
        Mode::Preorder => "Reserve mine",
        Mode::Backorder => "Join the list",
    }
}

/// "3 people are waiting", or nothing when nobody is.
pub fn waiting_text(sku: &SkuState) -> Option<String> {
    match sku.waiting {
        0 => None,
        1 => Some("1 person is waiting".to_string()),
        n => Some(format!("{n} people are waiting")),
    }
}

/// Decodes an edge answer: 2xx bodies as `T`, error bodies as [`ApiError`].
pub fn decode<T: serde::de::DeserializeOwned>(status: u16, body: &str) -> Result<T, ApiError> {
    match status {
        200..=299 => serde_json::from_str(body).map_err(|_| ApiError::Server),
        400..=499 => match serde_json::from_str::<shared::wire::ErrorBody>(body) {
            Ok(b) => Err(ApiError::Rejected { status, code: b.error.code, message: b.error.message }),
            Err(_) => Err(ApiError::Rejected {
                status,
                code: "unknown".to_string(),
                message: "The waitlist refused this request.".to_string(),
            }),
        },
        _ => Err(ApiError::Server),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(position: Option<u32>, status: EntryStatus) -> SignupResponse {
        SignupResponse { entry_id: "e1".into(), position, status, eta: None, eta_text: String::new() }
    }

    fn submitted() -> Signup {
        let mut s = Signup::default();
        assert!(s.submit("a@example.com", "", false, "en").is_some());
        s
    }

    #[test]
    fn submit_validates_email_inline() {
        let cases = [("", false), ("nope", false), ("a@b", false), ("  a@example.com ", true)];
        for (email, ok) in cases {
            let mut s = Signup::default();
            let req = s.submit(email, "", false, "");
            assert_eq!(req.is_some(), ok, "{email:?}");
            assert_eq!(s.email_error().is_some(), !ok, "{email:?}");
            assert_eq!(s.is_submitting(), ok);
        }
    }

    #[test]
    fn request_carries_trimmed_fields_and_consent_only_with_a_phone() {
        let mut s = Signup::default();
        let req = s.submit(" a@example.com ", " ", true, "en-US").unwrap();
        assert_eq!(req.email, "a@example.com");
        assert_eq!(req.phone, None);
        assert_eq!(req.sms_consent, None);
        assert_eq!(req.locale.as_deref(), Some("en-US"));

        let mut s = Signup::default();
        let req = s.submit("a@example.com", "+1 555 0100", false, "").unwrap();
        assert_eq!(req.phone.as_deref(), Some("+1 555 0100"));
        assert_eq!(req.sms_consent, Some(false));
        assert_eq!(req.locale, None);
    }

    #[test]
    fn no_double_submit() {
        let mut s = submitted();
        assert!(s.submit("a@example.com", "", false, "").is_none());
        s.finish(Ok((201, entry(Some(1), EntryStatus::Waiting))));
        assert!(s.submit("a@example.com", "", false, "").is_none());
    }

    /// An outcome, then the position text, status text and retry offer it should lead to.
    type FinishCase = (Result<(u16, SignupResponse), ApiError>, Option<&'static str>, Option<&'static str>, bool);

    #[test]
    fn finish_outcomes() {
        let cases: Vec<FinishCase> = vec![
            (
                Ok((201, entry(Some(3), EntryStatus::Waiting))),
                Some("You're #3 in line"),
                Some("You're on the list. We'll email you when it's your turn."),
                false,
            ),
            (
                Ok((200, entry(Some(2), EntryStatus::Waiting))),
                Some("You're #2 in line"),
                Some("You're already on the list."),
                false,
            ),
            (
                Err(ApiError::Network),
                None,
                Some("We couldn't reach the waitlist. Check your connection and try again."),
                true,
            ),
            (Err(ApiError::Server), None, Some("Something went wrong on our side. Please try again."), true),
            (
                Err(ApiError::Rejected { status: 404, code: "unknown_sku".into(), message: "no such SKU".into() }),
                None,
                Some("no such SKU"),
                false,
            ),
        ];
        for (outcome, position, status, retry) in cases {
            let mut s = submitted();
            s.finish(outcome);
            assert_eq!(s.position_text().as_deref(), position);
            let st = s.status();
            assert_eq!(st.as_ref().map(|x| x.text.as_str()), status);
            assert_eq!(st.map(|x| x.retry).unwrap_or(false), retry);
        }
    }

    #[test]
    fn failure_keeps_editing_and_allows_retry() {
        let mut s = submitted();
        s.finish(Err(ApiError::Network));
        assert_eq!(s.phase(), &Phase::Editing);
        assert!(s.submit("a@example.com", "", false, "").is_some());
        assert_eq!(s.status().unwrap().text, "Joining…");
    }

    #[test]
    fn server_side_invalid_email_is_shown_inline() {
        let mut s = submitted();
        s.finish(Err(ApiError::Rejected { status: 422, code: "invalid_email".into(), message: "bad address".into() }));
        assert_eq!(s.email_error(), Some("bad address"));
        assert_eq!(s.status(), None);
        s.edit_email();
        assert_eq!(s.email_error(), None);
    }

    #[test]
    fn refresh_updates_position_and_stops_polling_when_out_of_line() {
        let mut s = submitted();
        s.finish(Ok((201, entry(Some(3), EntryStatus::Waiting))));
        assert_eq!(s.entry_id(), Some("e1"));
        s.refresh(entry(Some(1), EntryStatus::Waiting));
        assert_eq!(s.position_text().as_deref(), Some("You're #1 in line"));
        s.refresh(SignupResponse { entry_id: "other".into(), ..entry(Some(9), EntryStatus::Waiting) });
        assert_eq!(s.position_text().as_deref(), Some("You're #1 in line"));
        s.refresh(entry(None, EntryStatus::Converted));
        assert_eq!(s.entry_id(), None);
        assert_eq!(s.position_text(), None);
        assert_eq!(s.status().unwrap().text, "Thanks for your order!");
    }

    #[test]
    fn headings_and_waiting() {
        assert_eq!(heading(Mode::Restock), "Notify me when it's back");
        assert_eq!(heading(Mode::Preorder), "Pre-order");
        assert_eq!(heading(Mode::Backorder), "Join the backorder list");
        let sku = |waiting| SkuState {
            sku: "S".into(),
            title: "T".into(),
            mode: Mode::Restock,
            available: 0,
            reserved: 0,
            reserved_until: None,
            eta: None,
            eta_text: String::new(),
            waiting,
        };
        assert_eq!(waiting_text(&sku(0)), None);
        assert_eq!(waiting_text(&sku(1)).as_deref(), Some("1 person is waiting"));
        assert_eq!(waiting_text(&sku(4)).as_deref(), Some("4 people are waiting"));
    }

    #[test]
    fn product_load_outcomes() {
        let missing = ApiError::Rejected { status: 404, code: "unknown_sku".into(), message: "x".into() };
        assert_eq!(Product::loaded(Err(missing)), Product::Missing);
        assert_eq!(Product::loaded(Err(ApiError::Network)), Product::Failed);
        let st = Product::Failed.status(&Signup::default()).unwrap();
        assert!(st.retry && st.is_error);
        assert_eq!(Product::Loading.status(&Signup::default()), None);
        // The signup's own news wins over a failed load.
        assert_eq!(Product::Failed.status(&submitted()).unwrap().text, "Joining…");
    }

    #[test]
    fn decode_statuses() {
        let ok = r#"{"entry_id":"e1","position":1,"status":"waiting","eta":null,"eta_text":""}"#;
        assert_eq!(decode::<SignupResponse>(201, ok), Ok(entry(Some(1), EntryStatus::Waiting)));
        assert_eq!(decode::<SignupResponse>(200, "not json"), Err(ApiError::Server));
        assert_eq!(decode::<SignupResponse>(503, ""), Err(ApiError::Server));
        let err = r#"{"error":{"code":"invalid_email","message":"bad"}}"#;
        assert_eq!(
            decode::<SignupResponse>(422, err),
            Err(ApiError::Rejected { status: 422, code: "invalid_email".into(), message: "bad".into() })
        );
        assert!(matches!(decode::<SignupResponse>(400, "<html>"), Err(ApiError::Rejected { status: 400, .. })));
    }
}
