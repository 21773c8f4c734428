//! `scimd breaker release`: applies the entitlement revocations a tripped
//! mass-deactivation breaker holds, and resets it (see `store::breaker`).

use super::{message, open};
use crate::store::{self, breaker};
use std::path::Path;

pub fn release(db: &Path, id: &str) -> Result<(), String> {
    let conn = open(db)?;
    let (was, released) = store::in_transaction(&conn, |c| {
        let was = breaker::state(c, id)?;
        Ok((was, breaker::release(c, id)?))
    })
    .map_err(message)?;
    match was.tripped {
        Some(since) => println!(
            "breaker of {id} released (tripped since {since}): {released} held revocation(s) applied"
        ),
        None => println!(
            "breaker of {id} was not tripped: {released} held revocation(s) applied"
        ),
    }
    Ok(())
}
