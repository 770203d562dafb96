//! Domain types and pure logic of the restock queue, shared by the edge (Cloudflare Worker) and the
//! storefront widget.
//!
//! Nothing here touches a platform: no clock, no storage, no network. Time, ids and randomness come in
//! as values; state machines return what should happen (`Effect`s) and the callers carry it out. The
//! crate builds and tests natively and for `wasm32-unknown-unknown`.

pub mod abuse;
pub mod allocation;
pub mod api_key;
pub mod consent;
pub mod date;
pub mod email;
pub mod error;
pub mod eta;
#[cfg(feature = "sanitize")]
pub mod html;
pub mod id;
pub mod import;
pub mod link;
pub mod message;
pub mod outbox;
pub mod pacer;
pub mod provider;
pub mod queue;
pub mod schedule;
pub mod shopify;
pub mod signature;
pub mod template;
pub mod wire;

pub use date::Date;
pub use email::Email;
pub use error::DomainError;
pub use eta::Eta;
pub use id::{Phone, Sku};
