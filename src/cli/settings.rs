//! `scimd integration set`: change an integration's settings. Roles,
//! entitlement and PINs are recomputed right after, in chunks of users each
//! in its own transaction, so a large integration never holds the write
//! lock long enough to make the running server wait.

use super::{message, open};
use crate::domain::admin;
use crate::store::audit::Actor;
use crate::store::settings::Change;
use crate::store::{self, entitlement};
use std::path::Path;

pub fn set(db: &Path, id: &str, change: &Change) -> Result<(), String> {
    if change.is_empty() {
        return Err("nothing to change; see `scimd integration set --help`".into());
    }
    let conn = open(db)?;
    let (old, new) = store::in_transaction(&conn, |c| {
        admin::set_settings(c, id, change, &Actor::cli()).map(|done| done.value)
    })
    .map_err(message)?;
    let affects_entitlement = new.require_mapping != old.require_mapping
        || new.groups_as_roles != old.groups_as_roles
        || new.pin_digits != old.pin_digits;
    if affects_entitlement {
        // After the commit, in chunks: see `entitlement::recompute_integration`.
        entitlement::recompute_integration(&conn, id).map_err(message)?;
    }
    println!(
        "integration {id}: delete-mode={} unique-email={} require-mapping={} groups-as-roles={} pin-digits={} rate-limit={} rate-burst={}",
        new.delete_mode.as_str(),
        new.unique_email,
        new.require_mapping,
        new.groups_as_roles,
        new.pin_digits,
        new.rate_limit,
        new.rate_burst
    );
    Ok(())
}
