//! Provider calls as plain values: what to send to each email (Resend, Postmark, SendGrid), SMS
//! (Twilio), Klaviyo and outgoing-event (Standard Webhooks) API, how to read its answer, how rows
//! are grouped into one provider batch, and how fast a channel may send.
//!
//! Nothing here does I/O. The edge executes an [`HttpCall`] and hands back an [`HttpAnswer`];
//! [`attempt`] turns that into the [`Attempt`] that `outbox::decide` judges.
//!
//! Idempotency: Resend (single and batch) takes an `Idempotency-Key` header, the outbox key (or
//! the batch key), so a retry after "accepted, but our write was lost" is not sent twice. Postmark,
//! SendGrid and Twilio have no idempotency header: there a retry after a lost answer can deliver
//! twice; the outbox key travels in the message's metadata (Postmark `Metadata`, SendGrid
//! `custom_args`) so duplicates can be found. Klaviyo events carry it as `unique_id`, which Klaviyo
//! dedupes; its profile upsert and subscription are idempotent by nature. Outgoing events carry it
//! as `webhook-id`, which receivers dedupe by.

use crate::outbox::Attempt;
use crate::signature::sign_standard;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Resend's batch endpoint takes at most this many emails per call.
pub const RESEND_BATCH_MAX: usize = 100;
/// The Klaviyo API revision these request shapes follow (sent as the `revision` header).
pub const KLAVIYO_REVISION: &str = "2024-10-15";
/// Postmark metadata values are capped at 80 characters (and names at 20).
const POSTMARK_METADATA_MAX: usize = 80;
const USER_AGENT: &str = "restock-edge/0.1";

/// One HTTP request to a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpCall {
    fn post(url: String, content_type: &str, headers: Vec<(&str, String)>, body: String) -> HttpCall {
        let mut all =
            vec![("Content-Type".to_owned(), content_type.to_owned()), ("User-Agent".into(), USER_AGENT.into())];
        all.extend(headers.into_iter().map(|(k, v)| (k.to_owned(), v)));
        HttpCall { method: "POST", url, headers: all, body }
    }

    /// A header's value (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What a provider answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Which API answered: says where its id for the message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Resend,
    /// Ids are per email: see [`resend_batch_ids`].
    ResendBatch,
    Postmark,
    SendGrid,
    Twilio,
    Klaviyo,
    Hook,
}

/// A provider's answer as a delivery attempt: 2xx accepted (with the provider's id), anything
/// else a status with its `Retry-After` seconds.
pub fn attempt(api: Api, answer: &HttpAnswer) -> Attempt {
    if (200..300).contains(&answer.status) {
        return Attempt::Accepted { provider_id: provider_id(api, answer) };
    }
    Attempt::Status { status: answer.status, retry_after_secs: retry_after_secs(answer), body: answer.body.clone() }
}

/// `Retry-After` in seconds. The HTTP-date form is not read (none of these providers sends it).
pub fn retry_after_secs(answer: &HttpAnswer) -> Option<i64> {
    answer.header("retry-after").and_then(|v| v.trim().parse::<i64>().ok()).filter(|s| *s >= 0)
}

fn provider_id(api: Api, answer: &HttpAnswer) -> Option<String> {
    let json = || serde_json::from_str::<Value>(&answer.body).unwrap_or(Value::Null);
    let s = |v: &Value| v.as_str().map(str::to_owned);
    match api {
        Api::Resend => s(&json()["id"]),
        Api::Postmark => s(&json()["MessageID"]),
        // 202 with an empty body; the id is a header.
        Api::SendGrid => answer.header("x-message-id").map(str::to_owned),
        Api::Twilio => s(&json()["sid"]),
        Api::Klaviyo => s(&json()["data"]["id"]),
        Api::ResendBatch | Api::Hook => None,
    }
}

/// The ids of a Resend batch answer (`{"data":[{"id":…},…]}`), in the order the emails were sent.
pub fn resend_batch_ids(body: &str) -> Vec<Option<String>> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v["data"].as_array().map_or_else(Vec::new, |a| a.iter().map(|e| e["id"].as_str().map(str::to_owned)).collect())
}

// ---------------------------------------------------------------------------------------------
// Email

/// A rendered email and what identifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingEmail<'a> {
    /// The outbox key: the idempotency key where the provider has one.
    pub key: &'a str,
    /// `Name <address>` or a bare address.
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
    pub unsubscribe_url: Option<&'a str>,
    pub kind: &'a str,
    pub shop: &'a str,
    pub sku: &'a str,
    pub entry_id: &'a str,
}

impl OutgoingEmail<'_> {
    /// RFC 8058 one-click unsubscribe, which mailbox providers require of bulk senders.
    fn unsubscribe_headers(&self) -> Vec<(&'static str, String)> {
        match self.unsubscribe_url {
            Some(url) => vec![
                ("List-Unsubscribe", format!("<{url}>")),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_owned()),
            ],
            None => Vec::new(),
        }
    }
}

fn resend_body(m: &OutgoingEmail<'_>) -> Value {
    let mut body = json!({
        "from": m.from,
        "to": [m.to],
        "subject": m.subject,
        "html": m.html,
        "text": m.text,
        "tags": [
            {"name": "kind", "value": tag_value(m.kind)},
            {"name": "shop", "value": id_tag(m.shop)},
            {"name": "sku", "value": id_tag(m.sku)},
            {"name": "entry", "value": tag_value(m.entry_id)},
        ],
    });
    let headers = m.unsubscribe_headers();
    if !headers.is_empty() {
        body["headers"] = headers.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect();
    }
    body
}

/// Resend `POST {base}/emails`, keyed by the outbox key.
pub fn resend_email(base: &str, api_key: &str, m: &OutgoingEmail<'_>) -> HttpCall {
    HttpCall::post(
        format!("{base}/emails"),
        "application/json",
        vec![("Authorization", format!("Bearer {api_key}")), ("Idempotency-Key", m.key.to_owned())],
        resend_body(m).to_string(),
    )
}

/// Resend `POST {base}/emails/batch`: up to [`RESEND_BATCH_MAX`] emails in one call, keyed by the
/// batch key. Strict validation (Resend's default): one invalid email refuses the whole batch and
/// nothing is sent.
pub fn resend_batch(base: &str, api_key: &str, batch_key: &str, emails: &[OutgoingEmail<'_>]) -> HttpCall {
    let body: Vec<Value> = emails.iter().map(resend_body).collect();
    HttpCall::post(
        format!("{base}/emails/batch"),
        "application/json",
        vec![("Authorization", format!("Bearer {api_key}")), ("Idempotency-Key", batch_key.to_owned())],
        Value::Array(body).to_string(),
    )
}

/// Postmark `POST {base}/email` on the `outbound` (transactional) stream.
///
/// Postmark has no idempotency header: a retry after an answer that never arrived can deliver a
/// second time. The outbox key is in `Metadata.outbox_key` so duplicates can be traced.
pub fn postmark_email(base: &str, server_token: &str, m: &OutgoingEmail<'_>) -> HttpCall {
    let mut body = json!({
        "From": m.from,
        "To": m.to,
        "Subject": m.subject,
        "HtmlBody": m.html,
        "TextBody": m.text,
        "MessageStream": "outbound",
        "Tag": m.kind,
        "Metadata": {
            "outbox_key": fit(m.key, POSTMARK_METADATA_MAX),
            "shop": fit(m.shop, POSTMARK_METADATA_MAX),
            "sku": fit(m.sku, POSTMARK_METADATA_MAX),
            "entry": fit(m.entry_id, POSTMARK_METADATA_MAX),
        },
    });
    let headers = m.unsubscribe_headers();
    if !headers.is_empty() {
        body["Headers"] = headers.into_iter().map(|(k, v)| json!({"Name": k, "Value": v})).collect();
    }
    HttpCall::post(
        format!("{base}/email"),
        "application/json",
        vec![("Accept", "application/json".to_owned()), ("X-Postmark-Server-Token", server_token.to_owned())],
        body.to_string(),
    )
}

/// SendGrid v3 `POST {base}/v3/mail/send` (answers 202 with the id in `X-Message-Id`).
///
/// SendGrid has no idempotency header: a retry after an answer that never arrived can deliver a
/// second time. The outbox key is in `custom_args.outbox_key` (echoed in SendGrid's events).
pub fn sendgrid_email(base: &str, api_key: &str, m: &OutgoingEmail<'_>) -> HttpCall {
    let (name, address) = split_mailbox(m.from);
    let mut from = json!({"email": address});
    if let Some(n) = name {
        from["name"] = n.into();
    }
    // text/plain must come before text/html; SendGrid refuses an empty value.
    let content: Vec<Value> = [("text/plain", m.text), ("text/html", m.html)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(t, v)| json!({"type": t, "value": v}))
        .collect();
    let mut body = json!({
        "personalizations": [{"to": [{"email": m.to}]}],
        "from": from,
        "subject": m.subject,
        "content": content,
        "categories": [m.kind],
        "custom_args": {"outbox_key": m.key, "kind": m.kind, "shop": m.shop, "sku": m.sku, "entry": m.entry_id},
    });
    let headers = m.unsubscribe_headers();
    if !headers.is_empty() {
        body["headers"] = headers.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect();
    }
    HttpCall::post(
        format!("{base}/v3/mail/send"),
        "application/json",
        vec![("Authorization", format!("Bearer {api_key}"))],
        body.to_string(),
    )
}

/// `Name <address>` → (`Some("Name")`, `address`); a bare address → (`None`, address).
pub fn split_mailbox(s: &str) -> (Option<&str>, &str) {
    let s = s.trim();
    match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => {
            let name = s[..i].trim().trim_matches('"').trim();
            (Some(name).filter(|n| !n.is_empty()), s[i + 1..s.len() - 1].trim())
        }
        _ => (None, s),
    }
}

/// Prefix of a tag value that holds an id in base64url, because the id itself has characters a
/// Resend tag cannot carry.
const ENCODED_TAG: &str = "b64_";

/// A shop or SKU as a Resend tag value, such that [`id_from_tag`] gives the id back exactly (the
/// Resend webhook finds the SKU's object by it): as is when it is only letters, digits, `_` and
/// `-`, else `b64_` + base64url. The tag is left empty if even that is over Resend's 256
/// characters (a SKU of more than about 190 bytes); such a message's opens are then not recorded.
pub fn id_tag(id: &str) -> String {
    let plain = !id.is_empty()
        && !id.starts_with(ENCODED_TAG)
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain && id.len() <= RESEND_TAG_MAX {
        return id.to_owned();
    }
    let encoded = format!("{ENCODED_TAG}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id));
    if encoded.len() <= RESEND_TAG_MAX {
        encoded
    } else {
        String::new()
    }
}

/// The id a tag from [`id_tag`] holds (`None` for an empty or undecodable one).
pub fn id_from_tag(tag: &str) -> Option<String> {
    match tag.strip_prefix(ENCODED_TAG) {
        Some(b64) => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).ok().and_then(|b| String::from_utf8(b).ok())
        }
        None => Some(tag.to_owned()).filter(|t| !t.is_empty()),
    }
}

/// Longest Resend tag value.
const RESEND_TAG_MAX: usize = 256;

/// Resend tag values allow ASCII letters, digits, `_` and `-` only.
fn tag_value(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(256).collect()
}

/// `s` if it fits in `max` characters, else a prefix and a hash of the whole, still unique.
fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let hash = hex(&Sha256::digest(s.as_bytes())[..8]);
    let prefix: String = s.chars().take(max - hash.len() - 1).collect();
    format!("{prefix}~{hash}")
}

use crate::consent::hex;

// ---------------------------------------------------------------------------------------------
// Batches

/// The idempotency key of a batch: a hash of its members' outbox keys, so the same members give
/// the same key on every retry, and a batch that lost a member (unsubscribed meanwhile) is a new
/// request with a new key.
pub fn batch_key(shop: &str, member_keys: &[&str]) -> String {
    let mut h = Sha256::new();
    for k in member_keys {
        h.update(k.as_bytes());
        h.update(b"\n");
    }
    let shop: String = shop.chars().take(100).collect();
    format!("{shop}:batch:{}", hex(&h.finalize()[..16]))
}

// ---------------------------------------------------------------------------------------------
// SMS

/// Twilio `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` (HTTP Basic, form-encoded).
/// A `from` starting with `MG` is a Messaging Service, sent as `MessagingServiceSid`.
///
/// Twilio has no idempotency header for sending: a retry after an answer that never arrived can
/// send the text twice.
pub fn twilio_message(base: &str, account_sid: &str, auth_token: &str, from: &str, to: &str, text: &str) -> HttpCall {
    let from_field = if from.starts_with("MG") { "MessagingServiceSid" } else { "From" };
    let body = form_encode(&[("To", to), (from_field, from), ("Body", text)]);
    let basic = B64.encode(format!("{account_sid}:{auth_token}"));
    HttpCall::post(
        format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json"),
        "application/x-www-form-urlencoded",
        vec![("Authorization", format!("Basic {basic}")), ("Accept", "application/json".to_owned())],
        body,
    )
}

/// `application/x-www-form-urlencoded`, as HTML forms and Twilio expect it.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => (b as char).to_string(),
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

// ---------------------------------------------------------------------------------------------
// Klaviyo

/// What a `klaviyo` outbox row asks of the shop's Klaviyo account (the row's `text` is this, as
/// JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum KlaviyoJob {
    /// On signup: upsert the profile and record a `Joined Waitlist` event; with the shopper's
    /// separate marketing consent, also subscribe the address to email marketing on the list.
    /// Asking to be told about one product is not marketing consent, and SMS marketing is never
    /// subscribed (the texts a shopper allowed are about their turn, nothing else).
    Joined {
        email: String,
        #[serde(default)]
        marketing: bool,
        phone: Option<String>,
        sms_consent: bool,
        list_id: Option<String>,
        sku: String,
        title: String,
        url: Option<String>,
        position: Option<u32>,
        eta_text: String,
        at_ms: i64,
    },
    /// An offer went out: a `Back In Stock Offer` event.
    Offer {
        email: String,
        sku: String,
        title: String,
        url: Option<String>,
        units: u32,
        hold_until_ms: Option<i64>,
        at_ms: i64,
    },
}

/// The Klaviyo calls of a job, to make in order. `key` (the outbox key) is the events'
/// `unique_id`, so a retried job records its event once; the profile upsert and the subscription
/// are safe to repeat, so a job that failed half-way is simply done again.
pub fn klaviyo_calls(base: &str, api_key: &str, key: &str, job: &KlaviyoJob) -> Vec<HttpCall> {
    let call = |path: &str, body: Value| klaviyo_post(base, api_key, path, &body);
    match job {
        KlaviyoJob::Joined {
            email,
            marketing,
            phone,
            sms_consent,
            list_id,
            sku,
            title,
            url,
            position,
            eta_text,
            at_ms,
        } => {
            // The phone number goes to Klaviyo only with consent to texts.
            let phone = phone.as_deref().filter(|_| *sms_consent);
            let mut profile = json!({"email": email});
            if let Some(p) = phone {
                profile["phone_number"] = p.into();
            }
            let props = json!({"sku": sku, "title": title, "url": url, "position": position, "eta_text": eta_text});
            let mut calls =
                vec![call("/api/profile-import", json!({"data": {"type": "profile", "attributes": profile}}))];
            if *marketing {
                let sub_profile =
                    json!({"email": email, "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}});
                let mut job = json!({
                    "data": {
                        "type": "profile-subscription-bulk-create-job",
                        "attributes": {
                            "custom_source": "Back in stock waitlist",
                            "profiles": {"data": [{"type": "profile", "attributes": sub_profile}]},
                        },
                    }
                });
                if let Some(list) = list_id {
                    job["data"]["relationships"] = json!({"list": {"data": {"type": "list", "id": list}}});
                }
                calls.push(call("/api/profile-subscription-bulk-create-jobs", job));
            }
            calls.push(call("/api/events", klaviyo_event("Joined Waitlist", email, props, *at_ms, key)));
            calls
        }
        KlaviyoJob::Offer { email, sku, title, url, units, hold_until_ms, at_ms } => {
            let props = json!({
                "sku": sku,
                "title": title,
                "url": url,
                "units": units,
                "hold_until": hold_until_ms.map(crate::date::format_timestamp_ms),
            });
            vec![call("/api/events", klaviyo_event("Back In Stock Offer", email, props, *at_ms, key))]
        }
    }
}

/// Asks Klaviyo to delete everything it holds about an address (a privacy erase reaching the
/// merchant's Klaviyo account): `POST /api/data-privacy-deletion-jobs`, answered 202.
pub fn klaviyo_deletion_call(base: &str, api_key: &str, email: &str) -> HttpCall {
    let body = json!({
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": {"type": "profile", "attributes": {"email": email}}}},
        }
    });
    klaviyo_post(base, api_key, "/api/data-privacy-deletion-jobs", &body)
}

/// One call to Klaviyo's JSON:API with the shop's private key and the revision we follow.
fn klaviyo_post(base: &str, api_key: &str, path: &str, body: &Value) -> HttpCall {
    HttpCall::post(
        format!("{base}{path}"),
        "application/vnd.api+json",
        vec![
            ("Authorization", format!("Klaviyo-API-Key {api_key}")),
            ("accept", "application/vnd.api+json".to_owned()),
            ("revision", KLAVIYO_REVISION.to_owned()),
        ],
        body.to_string(),
    )
}

fn klaviyo_event(metric: &str, email: &str, properties: Value, at_ms: i64, unique_id: &str) -> Value {
    json!({
        "data": {
            "type": "event",
            "attributes": {
                "properties": properties,
                "time": crate::date::format_timestamp_ms(at_ms),
                "unique_id": unique_id,
                "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Outgoing events

/// An outgoing event, signed with Standard Webhooks: `webhook-id` is the outbox key (the same on
/// every retry, so receivers dedupe), `webhook-timestamp` the sending time in Unix seconds. `None`
/// when the secret is not a `whsec_` secret.
pub fn hook_call(url: &str, id: &str, timestamp_secs: i64, body: &str, secret: &str) -> Option<HttpCall> {
    let signature = sign_standard(id, timestamp_secs, body.as_bytes(), secret)?;
    Some(HttpCall::post(
        url.to_owned(),
        "application/json",
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp_secs.to_string()),
            ("webhook-signature", signature),
        ],
        body.to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{verify_standard, StandardHeaders};

    fn email() -> OutgoingEmail<'static> {
        OutgoingEmail {
            key: "acme:e1:restock_offer:1",
            from: "Acme Apparel <hello@acme.example>",
            to: "ada@example.com",
            subject: "Back in stock",
            html: "<p>Hi</p>",
            text: "Hi",
            unsubscribe_url: Some("https://edge.example/u/tok"),
            kind: "restock_offer",
            shop: "acme",
            sku: "TEE-M",
            entry_id: "e1",
        }
    }

    fn body(c: &HttpCall) -> Value {
        serde_json::from_str(&c.body).unwrap()
    }

    #[test]
    fn resend_single_and_batch() {
        let c = resend_email("https://api.resend.com", "re_k", &email());
        assert_eq!((c.method, c.url.as_str()), ("POST", "https://api.resend.com/emails"));
        assert_eq!(c.header("authorization"), Some("Bearer re_k"));
        assert_eq!(c.header("idempotency-key"), Some("acme:e1:restock_offer:1"));
        let b = body(&c);
        assert_eq!(b["to"], json!(["ada@example.com"]));
        assert_eq!(b["headers"]["List-Unsubscribe"], "<https://edge.example/u/tok>");
        assert_eq!(b["tags"][2], json!({"name": "sku", "value": "TEE-M"}));
        assert_eq!(b["tags"][3], json!({"name": "entry", "value": "e1"}));

        let mut other = email();
        other.key = "acme:e2:restock_offer:1";
        other.to = "bob@example.com";
        other.unsubscribe_url = None;
        let bk = batch_key("acme", &[email().key, other.key]);
        let c = resend_batch("https://api.resend.com", "re_k", &bk, &[email(), other]);
        assert_eq!(c.url, "https://api.resend.com/emails/batch");
        assert_eq!(c.header("Idempotency-Key"), Some(bk.as_str()));
        let b = body(&c);
        assert_eq!(b.as_array().unwrap().len(), 2);
        assert_eq!(b[1]["to"], json!(["bob@example.com"]));
        assert!(b[1].get("headers").is_none());
        let ids = resend_batch_ids(r#"{"data":[{"id":"a"},{"id":"b"}]}"#);
        assert_eq!(ids, vec![Some("a".to_owned()), Some("b".to_owned())]);
        assert!(resend_batch_ids("not json").is_empty());
    }

    #[test]
    fn batch_keys_are_stable_and_follow_membership() {
        let a = batch_key("acme", &["k1", "k2", "k3"]);
        assert_eq!(a, batch_key("acme", &["k1", "k2", "k3"]));
        assert_ne!(a, batch_key("acme", &["k1", "k3"]));
        assert_ne!(a, batch_key("other", &["k1", "k2", "k3"]));
        assert!(a.starts_with("acme:batch:") && a.len() <= 256);
        assert!(batch_key(&"s".repeat(500), &["k"]).len() <= 256);
    }

    #[test]
    fn postmark_shape() {
        let c = postmark_email("https://api.postmarkapp.com", "pm-token", &email());
        assert_eq!(c.url, "https://api.postmarkapp.com/email");
        assert_eq!(c.header("X-Postmark-Server-Token"), Some("pm-token"));
        assert_eq!(c.header("accept"), Some("application/json"));
        assert_eq!(c.header("idempotency-key"), None);
        let b = body(&c);
        assert_eq!(b["From"], "Acme Apparel <hello@acme.example>");
        assert_eq!(b["To"], "ada@example.com");
        assert_eq!(b["MessageStream"], "outbound");
        assert_eq!(b["Tag"], "restock_offer");
        assert_eq!(b["Metadata"]["outbox_key"], "acme:e1:restock_offer:1");
        assert_eq!(b["Headers"][0], json!({"Name": "List-Unsubscribe", "Value": "<https://edge.example/u/tok>"}));
        let long = "k".repeat(200);
        let mut m = email();
        m.key = &long;
        let b = body(&postmark_email("x", "t", &m));
        let k = b["Metadata"]["outbox_key"].as_str().unwrap();
        assert_eq!(k.chars().count(), 80);
        assert_ne!(k, fit(&"k".repeat(201), 80));
        let ok = HttpAnswer { status: 200, body: r#"{"MessageID":"pm-1","ErrorCode":0}"#.into(), ..Default::default() };
        assert_eq!(attempt(Api::Postmark, &ok), Attempt::Accepted { provider_id: Some("pm-1".into()) });
    }

    #[test]
    fn sendgrid_shape() {
        let c = sendgrid_email("https://api.sendgrid.com", "SG.k", &email());
        assert_eq!(c.url, "https://api.sendgrid.com/v3/mail/send");
        assert_eq!(c.header("Authorization"), Some("Bearer SG.k"));
        let b = body(&c);
        assert_eq!(b["personalizations"][0]["to"][0]["email"], "ada@example.com");
        assert_eq!(b["from"], json!({"email": "hello@acme.example", "name": "Acme Apparel"}));
        assert_eq!(b["content"][0]["type"], "text/plain");
        assert_eq!(b["content"][1]["type"], "text/html");
        assert_eq!(b["custom_args"]["outbox_key"], "acme:e1:restock_offer:1");
        assert_eq!(b["headers"]["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click");
        let ok = HttpAnswer { status: 202, headers: vec![("X-Message-Id".into(), "sg-1".into())], body: String::new() };
        assert_eq!(attempt(Api::SendGrid, &ok), Attempt::Accepted { provider_id: Some("sg-1".into()) });
    }

    #[test]
    fn mailboxes_split() {
        let cases = [
            ("Acme <a@b.example>", (Some("Acme"), "a@b.example")),
            ("\"Acme, Inc\" <a@b.example>", (Some("Acme, Inc"), "a@b.example")),
            ("<a@b.example>", (None, "a@b.example")),
            ("a@b.example", (None, "a@b.example")),
        ];
        for (input, want) in cases {
            assert_eq!(split_mailbox(input), want, "{input}");
        }
    }

    #[test]
    fn twilio_shape() {
        let c = twilio_message("https://api.twilio.com", "AC1", "tok", "+15550001111", "+15559998888", "Back: a&b é");
        assert_eq!(c.url, "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json");
        assert_eq!(c.header("authorization"), Some(format!("Basic {}", B64.encode("AC1:tok")).as_str()));
        assert_eq!(c.header("content-type"), Some("application/x-www-form-urlencoded"));
        assert_eq!(c.body, "To=%2B15559998888&From=%2B15550001111&Body=Back%3A+a%26b+%C3%A9");
        let c = twilio_message("https://api.twilio.com", "AC1", "tok", "MG123", "+15559998888", "x");
        assert!(c.body.contains("&MessagingServiceSid=MG123&"), "{}", c.body);
        let ok = HttpAnswer { status: 201, body: r#"{"sid":"SM1","status":"queued"}"#.into(), ..Default::default() };
        assert_eq!(attempt(Api::Twilio, &ok), Attempt::Accepted { provider_id: Some("SM1".into()) });
    }

    #[test]
    fn klaviyo_jobs() {
        let job = KlaviyoJob::Joined {
            email: "ada@example.com".into(),
            marketing: true,
            phone: Some("+15559998888".into()),
            sms_consent: true,
            list_id: Some("L1".into()),
            sku: "TEE-M".into(),
            title: "Tee".into(),
            url: None,
            position: Some(3),
            eta_text: "soon".into(),
            at_ms: 1_796_140_800_000,
        };
        // The row's text is this JSON, written by the SKU object.
        let text = serde_json::to_string(&job).unwrap();
        assert!(text.starts_with(r#"{"step":"joined""#), "{text}");
        assert_eq!(serde_json::from_str::<KlaviyoJob>(&text).unwrap(), job);
        let calls = klaviyo_calls("https://a.klaviyo.com", "pk_1", "acme:e1:klaviyo:joined", &job);
        let paths: Vec<&str> = calls.iter().map(|c| c.url.trim_start_matches("https://a.klaviyo.com")).collect();
        assert_eq!(paths, ["/api/profile-import", "/api/profile-subscription-bulk-create-jobs", "/api/events"]);
        for c in &calls {
            assert_eq!(c.header("Authorization"), Some("Klaviyo-API-Key pk_1"));
            assert_eq!(c.header("revision"), Some(KLAVIYO_REVISION));
            assert_eq!(c.header("content-type"), Some("application/vnd.api+json"));
        }
        assert_eq!(body(&calls[0])["data"]["attributes"]["phone_number"], "+15559998888", "texts consented");
        let sub = body(&calls[1]);
        let attrs = &sub["data"]["attributes"]["profiles"]["data"][0]["attributes"];
        assert_eq!(attrs["subscriptions"]["email"]["marketing"]["consent"], "SUBSCRIBED");
        assert!(attrs["subscriptions"].get("sms").is_none(), "SMS marketing is never subscribed: {attrs}");
        assert_eq!(sub["data"]["relationships"]["list"]["data"]["id"], "L1");
        let ev = body(&calls[2]);
        assert_eq!(ev["data"]["attributes"]["unique_id"], "acme:e1:klaviyo:joined");
        assert_eq!(ev["data"]["attributes"]["metric"]["data"]["attributes"]["name"], "Joined Waitlist");
        assert_eq!(ev["data"]["attributes"]["properties"]["position"], 3);
        assert_eq!(ev["data"]["attributes"]["time"], "2026-12-01T16:00:00.000Z");

        // No marketing consent (a job written before the flag existed reads as none): the profile
        // and the event, no subscription; no SMS consent: no phone number leaves.
        let old = r#"{"step":"joined","email":"ada@example.com","phone":"+15559998888","sms_consent":false,"list_id":"L1","sku":"TEE-M","title":"Tee","url":null,"position":null,"eta_text":"","at_ms":0}"#;
        let job: KlaviyoJob = serde_json::from_str(old).unwrap();
        let calls = klaviyo_calls("b", "k", "key", &job);
        let paths: Vec<&str> = calls.iter().map(|c| c.url.trim_start_matches('b')).collect();
        assert_eq!(paths, ["/api/profile-import", "/api/events"]);
        assert!(!calls.iter().any(|c| c.body.contains("phone") || c.body.contains("SUBSCRIBED")));

        let del = klaviyo_deletion_call("https://a.klaviyo.com", "pk_1", "Ada+x@Example.com");
        assert_eq!(del.url, "https://a.klaviyo.com/api/data-privacy-deletion-jobs");
        assert_eq!(del.header("revision"), Some(KLAVIYO_REVISION));
        assert_eq!(body(&del)["data"]["type"], "data-privacy-deletion-job");
        assert_eq!(body(&del)["data"]["attributes"]["profile"]["data"]["attributes"]["email"], "Ada+x@Example.com");

        let offer: KlaviyoJob = serde_json::from_str(
            r#"{"step":"offer","email":"ada@example.com","sku":"S","title":"T","url":null,"units":2,"hold_until_ms":null,"at_ms":0}"#,
        )
        .unwrap();
        let calls = klaviyo_calls("b", "k", "acme:o1:klaviyo", &offer);
        assert_eq!(calls.len(), 1);
        assert_eq!(
            body(&calls[0])["data"]["attributes"]["metric"]["data"]["attributes"]["name"],
            "Back In Stock Offer"
        );
    }

    #[test]
    fn hooks_are_signed_verifiably() {
        let secret = format!("whsec_{}", B64.encode("outgoing-events-test-key-000001"));
        let body = r#"{"type":"offer.sent","data":{}}"#;
        let c = hook_call("https://hooks.example/x", "acme:offer.sent:o1:zap", 1_800_000_000, body, &secret).unwrap();
        assert_eq!(c.body, body);
        let h = StandardHeaders {
            id: c.header("webhook-id"),
            timestamp: c.header("webhook-timestamp"),
            signature: c.header("webhook-signature"),
        };
        assert_eq!(verify_standard(h, body.as_bytes(), &[secret], 1_800_000_010), Ok(()));
        assert!(hook_call("https://hooks.example/x", "id", 0, body, "plain").is_none());
    }

    #[test]
    fn answers_to_attempts() {
        let a = |status, headers: Vec<(&str, &str)>, body: &str| HttpAnswer {
            status,
            headers: headers.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            body: body.to_owned(),
        };
        assert_eq!(
            attempt(Api::Resend, &a(200, vec![], r#"{"id":"r1"}"#)),
            Attempt::Accepted { provider_id: Some("r1".into()) }
        );
        assert_eq!(attempt(Api::Hook, &a(204, vec![], "")), Attempt::Accepted { provider_id: None });
        assert_eq!(
            attempt(Api::Resend, &a(429, vec![("Retry-After", " 3 ")], "slow down")),
            Attempt::Status { status: 429, retry_after_secs: Some(3), body: "slow down".into() }
        );
        assert_eq!(
            attempt(Api::Twilio, &a(503, vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "")),
            Attempt::Status { status: 503, retry_after_secs: None, body: String::new() }
        );
    }

    #[test]
    fn id_tags_give_the_id_back() {
        for id in [
            "BOOT-10",
            "a_b",
            "A.1",
            "A_1",
            "BOOT/10 wide",
            "Größe M",
            "b64_x",
            "my.shop",
            &"x".repeat(256),
            &"é".repeat(90),
        ] {
            let tag = id_tag(id);
            assert!(
                tag.len() <= 256 && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{tag}"
            );
            assert_eq!(id_from_tag(&tag).as_deref(), Some(id), "{id:?} → {tag}");
        }
        assert_ne!(id_tag("A.1"), id_tag("A_1"), "no two ids share a tag");
        assert_eq!(id_tag(&"é".repeat(200)), "", "too long even encoded");
        assert_eq!(id_from_tag(""), None);
        assert_eq!(id_from_tag("b64_!!"), None);
    }
}
