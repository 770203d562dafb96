//! The Worker's side: one module per group of routes. Each handler checks the caller and the
//! input, then hands the work to an object (`crate::objects`) and answers; none holds state.

pub mod api;
pub mod audit;
pub mod events;
pub mod feed;
pub mod import;
pub mod keys;
pub mod links;
pub mod mailbox;
pub mod privacy;
pub mod provider_events;
pub mod shopify;
pub mod sms_inbound;
pub mod turnstile;
