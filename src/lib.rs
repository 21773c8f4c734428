//! scimd: a SCIM 2.0 service provider in one binary. `scim` is the pure
//! protocol layer, `domain` owns every change (typed operations over
//! one transaction), `store` the SQLite file, `server` the HTTPS edge and
//! `cli` the admin subcommands; `guide` holds the per-IdP setup guides as
//! data (pure); `main.rs` only dispatches.

pub mod cli;
pub mod clock;
pub mod delivery;
pub mod domain;
pub mod guide;
pub mod metrics;
pub mod request_quirks;
pub mod scim;
pub mod secret;
pub mod server;
pub mod store;
