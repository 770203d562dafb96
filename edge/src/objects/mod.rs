//! The Durable Objects and what runs inside them: `SkuQueue` (one per shop and SKU, a thin shell
//! over the `waitlist` crate on SQLite through `store::SqlStore`, delivering its outbox from its
//! alarm in `delivery`), `Shop` (settings, SKU index, suppression list) and `Limiter` (signup
//! limits per hashed IP or address).

pub mod delivery;
pub mod limiter_object;
pub mod shop_object;
pub mod sku_object;
pub mod sql;
pub mod store;
