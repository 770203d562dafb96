//! A SKU on a [`MemoryStore`], driven one command at a time, each command in its own transaction
//! (as the Durable Object runs it).
#![allow(dead_code)]

use serde_json::json;
use shared::outbox::Channel;
use shared::queue::Entry;
use shared::schedule::HOUR_MS;
use shared::wire::{InventoryResult, Mode, ShopConfig, SignupResponse, SkuConfig};
use std::collections::BTreeMap;
use waitlist::links::LinkKeys;
use waitlist::memory::MemoryStore;
use waitlist::store::OutboxRow;
use waitlist::{Answer, Command, Deployment, Error, ShopContext};

pub const T0: i64 = 1_795_000_000_000;

pub struct Sim {
    pub store: MemoryStore,
    pub deployment: Deployment,
    pub shop: ShopContext,
    pub now: i64,
    events: u32,
}

pub fn shop_config(extra: serde_json::Value) -> ShopConfig {
    let mut base = json!({"name": "Acme", "from_email": "hello@acme.test", "hold_hours": 24});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    serde_json::from_value(base).expect("shop config")
}

pub fn sku_config(mode: Mode) -> SkuConfig {
    SkuConfig {
        title: "Classic Tee".into(),
        url: Some("https://acme.test/products/tee".into()),
        mode,
        eta: None,
        shopify_inventory_item_id: None,
        hold_hours: None,
        shopify_variant_id: None,
        klaviyo_list_id: None,
    }
}

impl Sim {
    /// A SKU in `mode` for a shop with these settings (merged over a plain shop with 24 h holds).
    pub fn new(mode: Mode, shop: serde_json::Value) -> Sim {
        let shop = ShopContext::new("acme", &shop_config(shop), &BTreeMap::new());
        let mut sim = Sim {
            store: MemoryStore::new(),
            deployment: Deployment {
                links: LinkKeys { secret: "test-link-secret".into(), base_url: "https://edge.test".into() },
            },
            shop,
            now: T0,
            events: 0,
        };
        let cmd = Command::Configure { shop: sim.shop.clone(), sku: "TEE-BLK-M".into(), config: sku_config(mode) };
        sim.run(cmd).expect("configure");
        sim
    }

    pub fn restock() -> Sim {
        Sim::new(Mode::Restock, json!({}))
    }

    /// Runs one command as the object does: in a transaction that keeps nothing of a failure.
    pub fn run(&mut self, cmd: Command) -> Result<Answer, Error> {
        let now = self.now;
        let dep = self.deployment.clone();
        self.store.transaction(|s| waitlist::handle(s, &dep, cmd, now).result)
    }

    pub fn tick(&mut self) -> Result<Answer, Error> {
        let now = self.now;
        let dep = self.deployment.clone();
        self.store.transaction(|s| waitlist::run_due(s, &dep, now).result)?;
        // As the alarm does, after its delivery.
        self.store.transaction(|s| waitlist::run_fan_out(s, &dep, now).result)
    }

    pub fn advance(&mut self, ms: i64) {
        self.now += ms;
    }

    pub fn advance_hours(&mut self, h: i64) {
        self.now += h * HOUR_MS;
    }

    pub fn signup_cmd(&self, email: &str) -> Command {
        Command::Signup {
            shop: self.shop.clone(),
            entry_id: format!("id-{email}"),
            email: email.into(),
            phone: None,
            sms_consent: false,
            locale: None,
            quantity: 1,
            consent: None,
            confirm: true,
            opted_out: false,
        }
    }

    /// Signs `email` up; answers the entry (panics on an error).
    pub fn signup(&mut self, email: &str) -> SignupResponse {
        let cmd = self.signup_cmd(email);
        match self.run(cmd) {
            Ok(Answer::Joined { entry, .. }) => entry,
            other => panic!("signup of {email}: {other:?}"),
        }
    }

    pub fn level_cmd(&mut self, location: &str, available: Option<i64>) -> Command {
        self.events += 1;
        Command::Level {
            shop: self.shop.clone(),
            event_id: format!("ev-{}", self.events),
            location: location.into(),
            available,
            updated_at_ms: self.now + i64::from(self.events),
        }
    }

    /// A new absolute level at the default location.
    pub fn level(&mut self, available: i64) -> InventoryResult {
        let cmd = self.level_cmd("default", Some(available));
        match self.run(cmd) {
            Ok(Answer::Inventory(r)) => r,
            other => panic!("level {available}: {other:?}"),
        }
    }

    pub fn position(&mut self, entry_id: &str) -> Option<u32> {
        match self.run(Command::Position { entry_id: entry_id.into() }) {
            Ok(Answer::Position(p)) => p.position,
            other => panic!("position of {entry_id}: {other:?}"),
        }
    }

    pub fn entry(&self, entry_id: &str) -> Entry {
        self.store.entries().into_iter().find(|e| e.id == entry_id).expect("entry")
    }

    /// Emails in the outbox as (entry id, kind, occurrence), in the order written.
    pub fn emails(&self) -> Vec<(String, String)> {
        self.rows(Channel::Email).into_iter().map(|r| (r.entry_id, r.kind)).collect()
    }

    /// Entry ids with an email of `kind`, in the order written.
    pub fn told(&self, kind: &str) -> Vec<String> {
        self.rows(Channel::Email).into_iter().filter(|r| r.kind == kind).map(|r| r.entry_id).collect()
    }

    pub fn rows(&self, channel: Channel) -> Vec<OutboxRow> {
        self.store.outbox().into_iter().filter(|r| r.channel == channel.as_str()).collect()
    }

    /// The pending rows of a channel as delivery sends them: rendered (bodies written back).
    pub fn send(&self, channel: Channel) -> (Vec<OutboxRow>, Vec<String>) {
        let pending = self.rows(channel).into_iter().filter(|r| r.status == "pending").collect();
        waitlist::render_rows(&self.store, &self.deployment, pending, self.now).expect("renders")
    }
}
