//! Requests the Worker sends to its Durable Objects. Internal: both ends are this crate, so they
//! change together; the public wire types live in `shared::wire`.

use serde::{Deserialize, Serialize};
use shared::api_key::Scope;
use shared::template::Template;
use shared::wire::{KeyView, ShopConfig};
use std::collections::BTreeMap;
pub use waitlist::command::{Command as SkuCommand, ImportedEntry, Shipment, ShopContext};

/// A shop as its object stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShopRecord {
    pub config: ShopConfig,
    #[serde(default)]
    pub templates: BTreeMap<String, Template>,
}

impl ShopRecord {
    /// What a SKU object needs of this shop (`shop` is its slug).
    pub fn context(&self, shop: &str) -> ShopContext {
        ShopContext::new(shop, &self.config, &self.templates)
    }
}

/// One command to a SKU object. `clock_offset_ms` is 0 except in dev mode, where tests move the
/// edge's clock forward (`POST /v1/dev/advance`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkuRequest {
    #[serde(default)]
    pub clock_offset_ms: i64,
    #[serde(flatten)]
    pub cmd: SkuCommand,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ShopCommand {
    Put {
        config: Box<ShopConfig>,
    },
    /// The shop's record (settings and templates), or null.
    Get,
    PutTemplate {
        kind: String,
        template: Template,
    },
    /// Remember a SKU (and its Shopify inventory item) so webhooks and the mailbox can find it.
    IndexSku {
        sku: String,
        shopify_inventory_item_id: Option<i64>,
        #[serde(default)]
        shopify_variant_id: Option<i64>,
    },
    /// The SKU of a Shopify variant, if indexed.
    ResolveVariant {
        variant_id: i64,
    },
    ResolveItem {
        inventory_item_id: i64,
    },
    Skus,
    /// Remember an address (as a keyed hash) that must get no more messages.
    Suppress {
        key: String,
        reason: String,
        /// The address's limiter shard already holds the opt-out's copy (`suppression::suppress`).
        #[serde(default)]
        mirrored: bool,
    },
    /// Forget a suppression with this reason (a confirmed opt-in is new consent).
    Unsuppress {
        key: String,
        reason: String,
    },
    /// Deletes everything the shop's object holds (Shopify `shop/redact`).
    Purge,
    /// Which of these keys are suppressed, and why.
    Suppressed {
        keys: Vec<String>,
    },
    /// What a signup needs of its shop, in one call: the record, and whether the address (its
    /// suppression key) opted out, so that only a confirmed opt-in can bring it back. The record
    /// is left out when `known` is its version (the caller still holds it).
    ForSignup {
        key: String,
        #[serde(default)]
        known: Option<String>,
    },
    /// Store a new API key (its hash): `KeyOutcome`. The Worker mints it (`shared::api_key`).
    CreateKey {
        shop: String,
        id: String,
        hash: String,
        last4: String,
        name: String,
        scope: Scope,
        created_by: String,
    },
    /// Every key, revoked ones too, oldest first: `Option<Vec<KeyView>>` (`None`: the shop is not set up).
    Keys {
        shop: String,
    },
    /// A new secret for a live key: `KeyOutcome`.
    RotateKey {
        shop: String,
        id: String,
        hash: String,
        last4: String,
    },
    /// `KeyOutcome`; revoking a revoked key answers it unchanged.
    RevokeKey {
        shop: String,
        id: String,
    },
    /// Whether a presented key (its id and the hash of its secret) is this shop's: `KeyCheck`.
    VerifyKey {
        id: String,
        hash: String,
    },
}

/// What the key commands answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum KeyOutcome {
    Key { view: KeyView },
    UnknownShop,
    UnknownKey,
    Revoked,
    TooMany,
}

/// What `VerifyKey` answers. `Revoked` only for the right secret: a wrong one is `Unknown`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum KeyCheck {
    Valid { scope: Scope },
    Revoked,
    Unknown,
}

/// A suppressed key and why (`unsubscribed`, `bounced`, `complained`, `stop`, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Suppression {
    pub key: String,
    pub reason: String,
}

/// The answer to [`ShopCommand::ForSignup`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignupShop {
    /// The record; `None` when the shop is not set up, or when `unchanged`.
    pub record: Option<ShopRecord>,
    /// The record's version: it changes with every change of the settings or templates.
    pub version: Option<String>,
    /// The caller's `known` version is the record's: `record` is left out.
    #[serde(default)]
    pub unchanged: bool,
    /// Why the address gets no messages from this shop, if it does not.
    pub suppressed: Option<String>,
    /// The shop has unsubscribes from before the limiter shards kept their copy: a signup cannot
    /// learn an opt-out from the shard alone, so it keeps asking the shop.
    #[serde(default)]
    pub legacy_optouts: bool,
}
