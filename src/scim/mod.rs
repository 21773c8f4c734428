//! The SCIM protocol layer: pure functions over JSON values and strings.
//! Nothing in here touches SQLite, sockets, clocks or randomness; callers pass
//! those in. Everything is unit-tested with plain values. Imports nothing of
//! the crate outside `scim/`.

pub mod attrpath;
pub mod bulk;
pub mod cursor;
pub mod discovery;
pub mod error;
pub mod etag;
pub mod filter;
pub mod idp;
pub mod intake;
pub mod json;
pub mod list;
pub mod patch;
pub mod path;
pub mod projection;
pub mod redact;
pub mod render;
pub mod resource;
pub mod schema;
pub mod search;
#[cfg(test)]
pub(crate) mod strategies;
