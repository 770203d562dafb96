//! The Durable Objects and what runs inside them: `SkuQueue` (one per shop and SKU, a thin shell
//! over the `waitlist` crate on SQLite through `store::SqlStore`, delivering its outbox from its
//! alarm in `delivery`), `Shop` (settings, SKU index, suppression list), `Limiter` (signup
//! limits per hashed IP or address) and `Pacer` (one per provider key: the leases every SKU's
//! delivery takes before a provider call).

pub mod delivery;
pub mod limiter_object;
pub mod pacer_object;
pub mod shop_object;
pub mod sku_object;
pub mod sql;
pub mod store;
