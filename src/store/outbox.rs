//! The webhook outbox: the deliveries an event owes each matching hook,
//! written in the event's transaction so a restart loses none.
//!
//! Not built yet: [`enqueue`] accepts every event and owes nothing, until
//! the webhook tables and the delivery task exist (issue 13).

use super::feed::Event;
use super::Result;
use rusqlite::Connection;

/// Writes one delivery row per hook of the event's integration that asks
/// for its type, inside the caller's transaction.
pub fn enqueue(_conn: &Connection, _event: &Event) -> Result<()> {
    Ok(())
}
