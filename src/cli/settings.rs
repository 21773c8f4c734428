//! `scimd integration set`: change an integration's settings. Roles,
//! entitlement and PINs are recomputed in the same transaction, so the
//! running server and `scimd members` see the new state at once.

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
    let new = store::in_transaction(&conn, |c| {
        let old = settings::get(c, id)?;
        let new = change.apply(&old).map_err(|e| {
            store::StoreError::Scim(crate::scim::error::ScimError::invalid_value(e))
        })?;
        if new == old {
            return Ok(new);
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
        let affects_entitlement = new.require_mapping != old.require_mapping
            || new.groups_as_roles != old.groups_as_roles
            || new.pin_digits != old.pin_digits;
        if affects_entitlement {
            entitlement::recompute_integration(c, id)?;
        }
        Ok(new)
    })
    .map_err(message)?;
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
