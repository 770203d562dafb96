//! Deployment settings read from wrangler vars and secrets.

use worker::Env;

/// Which email provider delivers messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailProvider {
    /// Keep messages in the SKU objects' outbox and show them on the local mailbox page.
    Outbox,
    /// Resend's HTTP API.
    Resend { api_base: String, api_key: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub admin_token: String,
    pub email: EmailProvider,
    pub public_base_url: String,
    /// `DEV_MODE=true` (tests only, never by default): the clock can be moved forward.
    pub dev_mode: bool,
    /// Key for signed links in messages (claim, cancel, tracked clicks). Empty: no links.
    pub link_secret: String,
    /// `RESEND_WEBHOOK_SECRET` (`whsec_…`): verifies the provider's open/click events.
    pub provider_webhook_secret: Option<String>,
}

/// Resend's public API.
const RESEND_API_BASE: &str = "https://api.resend.com";

impl Config {
    pub fn from_env(env: &Env) -> Config {
        let get = |name: &str| -> String {
            env.secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .unwrap_or_default()
        };
        let email = match get("EMAIL_PROVIDER").as_str() {
            "resend" => {
                let base = get("EMAIL_API_BASE");
                let base = if base.is_empty() { RESEND_API_BASE.to_owned() } else { base };
                EmailProvider::Resend { api_base: base.trim_end_matches('/').to_owned(), api_key: get("EMAIL_API_KEY") }
            }
            _ => EmailProvider::Outbox,
        };
        Config {
            admin_token: get("ADMIN_TOKEN"),
            email,
            public_base_url: get("PUBLIC_BASE_URL"),
            dev_mode: get("DEV_MODE") == "true",
            link_secret: get("LINK_SECRET"),
            provider_webhook_secret: Some(get("RESEND_WEBHOOK_SECRET")).filter(|s| !s.is_empty()),
        }
    }
}
