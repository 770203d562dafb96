//! One SKU's waitlist as commands over a synchronous store: the core that the `SkuQueue` Durable
//! Object wraps.
//!
//! `shared::queue` decides (who is offered what, which messages fall due); this crate runs one
//! [`Command`] against a [`Store`]: it reads what the command needs, asks the queue, renders the
//! messages the effects call for, writes the changes and the messages together, and returns a
//! typed [`Answer`]. It knows nothing of Workers, HTTP or JSON bodies; time comes in as `now`.
//!
//! Concurrency assumption (the Durable Object's): one command runs at a time, and a command never
//! awaits — every [`Store`] method is synchronous — so the runtime's input and output gates commit a
//! command's writes (state change and outbox rows) together or not at all.
//!
//! [`memory::MemoryStore`] is the store of the native tests: it keeps everything in maps, and can
//! be told to fail at the n-th call.

pub mod answer;
pub mod command;
pub mod events;
pub mod line;
pub mod links;
pub mod memory;
mod messages;
pub mod sku;
pub mod store;

pub use answer::Answer;
pub use command::{Command, ShopContext};
pub use sku::{
    alarm_failed, alarm_succeeded, enqueue, handle, next_wake, render_rows, run_due, run_fan_out, Deployment, Error,
    Handled,
};
pub use store::{Store, StoreError};
