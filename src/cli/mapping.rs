//! `scimd mapping add|list|remove`: IdP group → local role.

use super::{message, open, print_json};
use crate::domain::admin;
use crate::store::{self, audit::Actor, entitlement, mappings};
use std::path::Path;

pub fn add(db: &Path, id: &str, group: &str, role: &str) -> Result<(), String> {
    let conn = open(db)?;
    store::in_transaction(&conn, |c| {
        admin::add_mapping(c, id, group, role, &Actor::cli())
    })
    .map_err(message)?;
    entitlement::recompute_integration(&conn, id).map_err(message)?;
    println!("mapped group '{group}' to role '{role}' in {id}");
    Ok(())
}

pub fn remove(db: &Path, id: &str, group: &str, role: Option<&str>) -> Result<(), String> {
    let conn = open(db)?;
    let n = store::in_transaction(&conn, |c| {
        admin::remove_mapping(c, id, group, role, &Actor::cli()).map(|done| done.value)
    })
    .map_err(message)?;
    entitlement::recompute_integration(&conn, id).map_err(message)?;
    println!("removed {n} mapping(s) of group '{group}' in {id}");
    Ok(())
}

pub fn list(db: &Path, id: &str, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let all = mappings::list(&conn, id).map_err(message)?;
    if as_json {
        return print_json(&all);
    }
    if all.is_empty() {
        println!("no mappings; add one with `scimd mapping add {id} --group GROUP --role ROLE`");
    }
    for m in all {
        let matches = if m.matches.is_empty() {
            "no group yet".to_string()
        } else {
            m.matches.join(", ")
        };
        println!("{:<32} -> {:<20} ({matches})", m.group, m.role);
    }
    Ok(())
}
