//! `scimd pin reset`: a new random PIN for one entitled member, shown once.

use super::{message, open, print_json};
use crate::store::{self, audit::Actor, entitlement};
use serde_json::json;
use std::path::Path;

pub fn reset(db: &Path, id: &str, user: &str, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let (user_id, pin) = store::in_transaction(&conn, |c| {
        entitlement::reset_pin(c, id, user, &Actor::cli())
    })
    .map_err(message)?;
    if as_json {
        return print_json(&json!({"id": user_id, "pin": pin}));
    }
    println!("new PIN for {user_id}: {pin}");
    Ok(())
}
