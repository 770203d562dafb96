//! Deployment settings read from wrangler vars and secrets.

use std::cell::OnceCell;
use std::rc::Rc;

use worker::Env;

/// Which email provider delivers messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailProvider {
    /// Keep messages in the SKU objects' outbox and show them on the local mailbox page.
    Outbox,
    /// Resend's HTTP API (single sends, and `/emails/batch` with `EMAIL_BATCH=true`).
    Resend { api_base: String, api_key: String },
    /// Postmark's HTTP API (`EMAIL_API_KEY` is the server token).
    Postmark { api_base: String, server_token: String },
    /// SendGrid's v3 mail send API.
    SendGrid { api_base: String, api_key: String },
}

/// Which SMS provider delivers text messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsProvider {
    /// No SMS provider: text messages are skipped ("skipped: no sms provider"), so nobody is told
    /// a text went out when none did.
    None,
    /// Keep text messages in the outbox as sent, like email in outbox mode (local demo).
    Outbox,
    /// Twilio's Messages API. `from` is a number (E.164) or a Messaging Service SID (`MG…`).
    Twilio { api_base: String, account_sid: String, auth_token: String, from: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub admin_token: String,
    pub email: EmailProvider,
    /// `EMAIL_BATCH=true`: several due emails go in one provider call where the provider has a
    /// batch endpoint (Resend, up to 100 per call).
    pub email_batch: bool,
    /// Emails per second one SKU's object may hand to the provider; 0 = no pacing.
    pub email_rate_per_sec: u32,
    pub sms: SmsProvider,
    /// Text messages per second one SKU's object may hand to the provider; 0 = no pacing.
    pub sms_rate_per_sec: u32,
    /// Klaviyo's API (the key is per shop, in the shop's settings).
    pub klaviyo_api_base: String,
    pub public_base_url: String,
    /// `DEV_MODE=true` (tests only, never by default): the clock can be moved forward.
    pub dev_mode: bool,
    /// `DEV_ALARM_FAILURES=N`, honoured only in dev mode: each SKU object's first N alarm runs
    /// fail, so tests can watch the retry and its record (a failpoint).
    pub dev_alarm_failures: u32,
    /// Key for signed links in messages (claim, cancel, tracked clicks). Empty: no links.
    pub link_secret: String,
    /// `LINK_SECRET_PREVIOUS`: links signed before a rotation of `LINK_SECRET` still verify.
    pub previous_link_secret: String,
    /// Keys the suppression list's hashes (`SUPPRESSION_KEY`; unset, `LINK_SECRET`'s value, which
    /// keyed the list before it had its own key, so a deployment's stored rows keep matching).
    pub suppression_key: String,
    /// Why the deployment cannot serve at all (an unknown provider name), if it cannot.
    pub misconfigured: Option<String>,
    /// `RESEND_WEBHOOK_SECRET` (`whsec_…`): verifies the provider's open/click events.
    pub provider_webhook_secret: Option<String>,
}

/// The development values this repository once shipped in `wrangler.toml`: anyone can read them,
/// so outside dev mode they open nothing.
const KNOWN_DEV_SECRETS: [&str; 2] = ["dev-admin-token", "dev-link-secret-change-me"];

const RESEND_API_BASE: &str = "https://api.resend.com";
const POSTMARK_API_BASE: &str = "https://api.postmarkapp.com";
const SENDGRID_API_BASE: &str = "https://api.sendgrid.com";
const TWILIO_API_BASE: &str = "https://api.twilio.com";
const KLAVIYO_API_BASE: &str = "https://a.klaviyo.com";

/// Klaviyo jobs per second per SKU object. Klaviyo allows 75/s in bursts (700/min steady) for
/// profile import and subscriptions, 350/s for events; a signup's job makes three calls.
pub const KLAVIYO_JOBS_PER_SEC: u32 = 10;

impl EmailProvider {
    /// Emails per second when `EMAIL_RATE_PER_SEC` is not set. Resend allows 2 requests/s per
    /// team by default: 2 single sends, or 2 batches of 100. Postmark and SendGrid publish no
    /// per-second cap for sending; 10/s keeps a restock burst from looking like a spike. A 429
    /// still wins: its `Retry-After` holds the channel back.
    fn default_rate(&self, batch: bool) -> u32 {
        match self {
            EmailProvider::Outbox => 0,
            EmailProvider::Resend { .. } if batch => 2 * shared::provider::RESEND_BATCH_MAX as u32,
            EmailProvider::Resend { .. } => 2,
            EmailProvider::Postmark { .. } | EmailProvider::SendGrid { .. } => 10,
        }
    }
}

impl SmsProvider {
    /// Texts per second when `SMS_RATE_PER_SEC` is not set: a US long code sends about one
    /// segment per second (Twilio queues the rest, but pacing keeps the queue short).
    fn default_rate(&self) -> u32 {
        match self {
            SmsProvider::Twilio { .. } => 1,
            SmsProvider::None | SmsProvider::Outbox => 0,
        }
    }
}

thread_local! {
    static DEPLOYMENT: OnceCell<Rc<Config>> = const { OnceCell::new() };
}

impl Config {
    /// The deployment's settings, read from `env` once per isolate: vars and secrets are fixed for
    /// an isolate's life (a new deployment or secret runs in new isolates), and reading some thirty
    /// of them through the runtime on every request was a tenth of a poll's time.
    pub fn of(env: &Env) -> Rc<Config> {
        DEPLOYMENT.with(|cell| Rc::clone(cell.get_or_init(|| Rc::new(Config::from_env(env)))))
    }

    /// Why admin calls are refused whatever token they bring: outside dev mode, an `ADMIN_TOKEN`
    /// that is empty or a development value.
    pub fn admin_refusal(&self) -> Option<String> {
        self.secret_refusal("ADMIN_TOKEN", &self.admin_token)
    }

    /// Why signed links are refused: outside dev mode, a `LINK_SECRET` that is empty or a
    /// development value (anyone could sign links with it).
    pub fn link_refusal(&self) -> Option<String> {
        self.secret_refusal("LINK_SECRET", &self.link_secret)
    }

    fn secret_refusal(&self, name: &str, value: &str) -> Option<String> {
        let weak = value.trim().is_empty() || KNOWN_DEV_SECRETS.contains(&value);
        (!self.dev_mode && weak)
            .then(|| format!("{name} is empty or a development value; set one with `wrangler secret put {name}`"))
    }

    fn from_env(env: &Env) -> Config {
        let get = |name: &str| -> String {
            env.secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .unwrap_or_default()
        };
        let base = |name: &str, default: &str| {
            let b = get(name).trim().to_owned();
            let b = if b.is_empty() { default.to_owned() } else { b };
            b.trim_end_matches('/').to_owned()
        };
        let mut problems = Vec::new();
        let email = match get("EMAIL_PROVIDER").trim() {
            "resend" => EmailProvider::Resend {
                api_base: base("EMAIL_API_BASE", RESEND_API_BASE),
                api_key: get("EMAIL_API_KEY"),
            },
            "postmark" => EmailProvider::Postmark {
                api_base: base("EMAIL_API_BASE", POSTMARK_API_BASE),
                server_token: get("EMAIL_API_KEY"),
            },
            "sendgrid" => EmailProvider::SendGrid {
                api_base: base("EMAIL_API_BASE", SENDGRID_API_BASE),
                api_key: get("EMAIL_API_KEY"),
            },
            "outbox" => EmailProvider::Outbox,
            other => {
                problems.push(format!(
                    "EMAIL_PROVIDER is {other:?}: expected outbox, resend, postmark or sendgrid (nothing is sent until it is set)"
                ));
                EmailProvider::Outbox
            }
        };
        // Unset: texts stay local when email does (the local demo), and are skipped otherwise.
        let sms = match get("SMS_PROVIDER").trim() {
            "twilio" => SmsProvider::Twilio {
                api_base: base("SMS_API_BASE", TWILIO_API_BASE),
                account_sid: get("TWILIO_ACCOUNT_SID"),
                auth_token: get("TWILIO_AUTH_TOKEN"),
                from: get("SMS_FROM"),
            },
            "outbox" => SmsProvider::Outbox,
            "none" => SmsProvider::None,
            "" if email == EmailProvider::Outbox => SmsProvider::Outbox,
            "" => SmsProvider::None,
            other => {
                problems.push(format!("SMS_PROVIDER is {other:?}: expected none, outbox or twilio"));
                SmsProvider::None
            }
        };
        let email_batch = get("EMAIL_BATCH").trim() == "true";
        let rate = |name: &str, default: u32| get(name).trim().parse::<u32>().unwrap_or(default);
        Config {
            admin_token: get("ADMIN_TOKEN"),
            email_rate_per_sec: rate("EMAIL_RATE_PER_SEC", email.default_rate(email_batch)),
            email_batch,
            email,
            sms_rate_per_sec: rate("SMS_RATE_PER_SEC", sms.default_rate()),
            sms,
            klaviyo_api_base: base("KLAVIYO_API_BASE", KLAVIYO_API_BASE),
            public_base_url: get("PUBLIC_BASE_URL"),
            dev_mode: get("DEV_MODE") == "true",
            dev_alarm_failures: if get("DEV_MODE") == "true" { rate("DEV_ALARM_FAILURES", 0) } else { 0 },
            suppression_key: Some(get("SUPPRESSION_KEY"))
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| get("LINK_SECRET")),
            link_secret: get("LINK_SECRET"),
            previous_link_secret: get("LINK_SECRET_PREVIOUS"),
            misconfigured: (!problems.is_empty()).then(|| problems.join("; ")),
            provider_webhook_secret: Some(get("RESEND_WEBHOOK_SECRET")).filter(|s| !s.is_empty()),
        }
    }
}
