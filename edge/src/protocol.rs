//! Requests the Worker sends to its Durable Objects. Internal: both ends are this crate, so they
//! change together; the public wire types live in `shared::wire`.

use serde::{Deserialize, Serialize};
use shared::wire::{ShopConfig, SkuConfig};

/// The facts about the shop a SKU object needs to act, sent with every command that may enqueue
/// messages (the shop's settings live in the shop's object, not in each SKU's).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopContext {
    pub shop: String,
    pub name: String,
    pub from_email: String,
    pub hold_hours: u32,
}

impl ShopContext {
    pub fn new(shop: &str, cfg: &ShopConfig) -> ShopContext {
        ShopContext { shop: shop.to_owned(), name: cfg.name.clone(), from_email: cfg.from_email.clone(), hold_hours: cfg.hold_hours }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum SkuCommand {
    Configure { sku: String, config: SkuConfig },
    State,
    Signup {
        shop: ShopContext,
        entry_id: String,
        email: String,
        phone: Option<String>,
        sms_consent: bool,
        locale: Option<String>,
    },
    Position { entry_id: String },
    /// An absolute stock level at one location, from a webhook.
    Level {
        shop: ShopContext,
        /// The webhook's own id: seen once, applied once.
        event_id: String,
        location: String,
        available: i64,
        updated_at_ms: i64,
    },
    Queue,
    Mailbox,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ShopCommand {
    Put { config: ShopConfig },
    Get,
    /// Remember a SKU (and its Shopify inventory item) so webhooks and the mailbox can find it.
    IndexSku { sku: String, shopify_inventory_item_id: Option<i64> },
    ResolveItem { inventory_item_id: i64 },
    Skus,
}
