//! The signed links one message carries (claim through a tracked click, cancel, unsubscribe,
//! confirm), built from the deployment's link key. Verifying them is the Worker's (`edge/src/links.rs`).

use shared::link::{sign, LinkClaims, Purpose};
use shared::schedule::DAY_MS;
use shared::wire::MessageKind;

/// The key links are signed with and the public base URL they point at. An empty secret: no links.
#[derive(Debug, Clone, Default)]
pub struct LinkKeys {
    pub secret: String,
    pub base_url: String,
}

/// Cancel links stay valid this long after the backorder is acknowledged.
pub const CANCEL_VALID_MS: i64 = 120 * DAY_MS;
/// A double opt-in link is good for a week; after that the shopper signs up again.
pub const CONFIRM_VALID_MS: i64 = 7 * DAY_MS;
/// Unsubscribe links keep working long after the message (a year).
pub const UNSUBSCRIBE_VALID_MS: i64 = 366 * DAY_MS;
/// Claim links without a hold (no-hold policy, heads-ups) stay valid this long.
pub const CLAIM_VALID_MS: i64 = 30 * DAY_MS;

/// The links one message carries.
#[derive(Debug, Default)]
pub struct MessageLinks {
    pub claim_url: Option<String>,
    pub cancel_url: Option<String>,
    /// One-click unsubscribe (RFC 8058), in every message.
    pub unsubscribe_url: Option<String>,
    /// Confirms a signup (double opt-in).
    pub confirm_url: Option<String>,
}

/// Builds the signed (and click-tracked) links for one message.
#[allow(clippy::too_many_arguments)]
pub fn for_message(
    keys: &LinkKeys,
    shop: &str,
    sku: &str,
    entry_id: &str,
    kind: MessageKind,
    product_url: Option<&str>,
    hold_until: Option<i64>,
    now: i64,
) -> MessageLinks {
    let secret = keys.secret.as_bytes();
    if secret.is_empty() {
        return MessageLinks::default();
    }
    let claims = |purpose, target: Option<String>, expires_at| LinkClaims {
        purpose,
        shop: shop.to_owned(),
        sku: sku.to_owned(),
        entry_id: entry_id.to_owned(),
        target,
        expires_at,
    };
    let base = keys.base_url.trim_end_matches('/');
    let mut links = MessageLinks::default();
    let wants_claim = matches!(
        kind,
        MessageKind::RestockOffer
            | MessageKind::PreorderReady
            | MessageKind::HoldReminder
            | MessageKind::NonopenerFollowup
            | MessageKind::UrgencyFollowup
            | MessageKind::ShippingImminent
    );
    if let (true, Some(product)) = (wants_claim, product_url) {
        let expires = hold_until.unwrap_or(now + CLAIM_VALID_MS);
        let token = sign(secret, &claims(Purpose::Claim, None, expires));
        let sep = if product.contains('?') { '&' } else { '?' };
        let claim = format!("{product}{sep}restock_claim={token}");
        let click = sign(secret, &claims(Purpose::Click, Some(claim), expires.max(now + CLAIM_VALID_MS)));
        links.claim_url = Some(format!("{base}/v1/l/{click}"));
    }
    let unsubscribe = sign(secret, &claims(Purpose::Unsubscribe, None, now + UNSUBSCRIBE_VALID_MS));
    links.unsubscribe_url = Some(format!("{base}/v1/unsubscribe/{unsubscribe}"));
    if kind == MessageKind::BackorderAck {
        let token = sign(secret, &claims(Purpose::Cancel, None, now + CANCEL_VALID_MS));
        links.cancel_url = Some(format!("{base}/v1/cancel/{token}"));
    }
    if kind == MessageKind::ConfirmSignup {
        let token = sign(secret, &claims(Purpose::Confirm, None, now + CONFIRM_VALID_MS));
        links.confirm_url = Some(format!("{base}/v1/confirm/{token}"));
    }
    links
}
