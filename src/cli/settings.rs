//! `scimd integration set`: change an integration's settings. Roles,
//! entitlement and PINs are recomputed right after, in chunks of users each
//! in its own transaction, so a large integration never holds the write
//! lock long enough to make the running server wait.

use super::{message, open};
use crate::store::audit::{self, Actor};
use crate::store::settings::{self, Change};
use crate::store::{self, entitlement};
use std::path::Path;

pub fn set(db: &Path, id: &str, change: &Change) -> Result<(), String> {
    if change.is_empty() {
        return Err("nothing to change; see `scimd integration set --help`".into());
    }
    let conn = open(db)?;
    let (old, new) = store::in_transaction(&conn, |c| {
        let old = settings::get(c, id)?;
        let new = change.apply(&old).map_err(|e| {
            store::StoreError::Scim(crate::scim::error::ScimError::invalid_value(e))
        })?;
        if new == old {
            return Ok((old, new));
        }
        settings::put(c, id, &new)?;
        let detail = serde_json::to_string(&new)?;
        audit::record(
            c,
            &Actor::cli(),
            audit::Entry {
                integration_id: id,
                event: audit::SETTINGS_CHANGED,
                resource_type: Some("Integration"),
                resource_id: Some(id),
                external_id: None,
                detail: Some(&detail),
            },
        )?;
        Ok((old, new))
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
