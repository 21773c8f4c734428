//! `scimd users purge`: deletes for good the deprovisioned users kept for
//! the audit trail, once they are older than a given age.

use super::{message, open};
use crate::store::{self, audit::Actor, users};
use std::path::Path;

/// `age` comes parsed (and bounded) from the command line.
pub fn purge(db: &Path, id: &str, age: time::Duration, yes: bool) -> Result<(), String> {
    if !yes {
        return Err(format!(
            "refusing to purge deprovisioned users of {id} without --yes"
        ));
    }
    let cutoff = crate::clock::format(crate::clock::now() - age);
    let conn = open(db)?;
    let n = store::in_transaction(&conn, |c| {
        users::purge_deprovisioned(c, id, &cutoff, &Actor::cli())
    })
    .map_err(message)?;
    println!("purged {n} deprovisioned user(s) of {id} deprovisioned before {cutoff}");
    Ok(())
}
