//! Glue to the Workers platform that both sides use: the environment's settings (`config`), the
//! one clock (`clock`, with the dev-mode `DevClock` object), calls to objects and JSON answers
//! (`http`, `protocol`), errors as HTTP answers (`error`), outbound provider calls (`mailer`) and
//! the shop's suppression list as seen from outside its object (`suppression`).

pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod mailer;
pub mod protocol;
pub mod suppression;
