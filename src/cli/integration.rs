//! `scimd integration …`: create (printing the first token once), list,
//! show, enable, disable and delete.

use super::{endpoint, message, open, print_json};
use crate::store::{self, audit::Actor, integrations, tokens};
use serde_json::json;
use std::path::Path;

pub fn create(db: &Path, name: &str, as_json: bool) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("an integration needs a non-empty name".into());
    }
    let conn = open(db)?;
    let (integration, token) = store::in_transaction(&conn, |c| {
        let id = crate::secret::new_integration_id();
        let integration = integrations::create(c, &id, name)?;
        let token = tokens::issue(c, &id, &Actor::cli())?;
        Ok((integration, token))
    })
    .map_err(message)?;
    let endpoint = endpoint(&integration.id);
    if as_json {
        return print_json(&json!({
            "id": integration.id,
            "name": integration.name,
            "endpoint": endpoint,
            "token": token,
        }));
    }
    println!(
        "created integration {} ({})",
        integration.id, integration.name
    );
    println!("endpoint: {endpoint}");
    println!("token:    {token}");
    println!(
        "The token is shown only now. Paste endpoint and token into your IdP's SCIM settings."
    );
    Ok(())
}

pub fn list(db: &Path, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let all = integrations::list(&conn).map_err(message)?;
    if as_json {
        return print_json(&all);
    }
    if all.is_empty() {
        println!("no integrations; create one with `scimd integration create NAME`");
    }
    for i in all {
        println!(
            "{}  {:<24} {:<8} users={} groups={} created={}",
            i.id,
            i.name,
            if i.enabled { "enabled" } else { "disabled" },
            i.users,
            i.groups,
            i.created
        );
    }
    Ok(())
}

pub fn show(db: &Path, id: &str, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let i = integrations::get(&conn, id).map_err(message)?;
    let toks = tokens::list_valid(&conn, id).map_err(message)?;
    let settings = crate::store::settings::get(&conn, id).map_err(message)?;
    if as_json {
        return print_json(&json!({
            "id": i.id,
            "name": i.name,
            "created": i.created,
            "enabled": i.enabled,
            "endpoint": endpoint(&i.id),
            "users": i.users,
            "groups": i.groups,
            "tokens": toks,
            "settings": settings,
        }));
    }
    println!("id:       {}", i.id);
    println!("name:     {}", i.name);
    println!("endpoint: {}", endpoint(&i.id));
    println!("created:  {}", i.created);
    println!("enabled:  {}", i.enabled);
    println!("users:    {}", i.users);
    println!("groups:   {}", i.groups);
    println!(
        "settings: delete-mode={} unique-email={} require-mapping={} groups-as-roles={} pin-digits={} rate-limit={}/s burst={}",
        settings.delete_mode.as_str(),
        settings.unique_email,
        settings.require_mapping,
        settings.groups_as_roles,
        settings.pin_digits,
        settings.rate_limit,
        settings.rate_burst
    );
    super::token::print_table(&toks);
    Ok(())
}

pub fn set_enabled(db: &Path, id: &str, enabled: bool) -> Result<(), String> {
    let conn = open(db)?;
    store::in_access_transaction(&conn, |c| integrations::set_enabled(c, id, enabled))
        .map_err(message)?;
    println!(
        "integration {id} {}",
        if enabled { "enabled" } else { "disabled" }
    );
    Ok(())
}

pub fn delete(db: &Path, id: &str, yes: bool) -> Result<(), String> {
    if !yes {
        return Err(format!(
            "refusing to delete integration {id} and all its users and groups without --yes"
        ));
    }
    let conn = open(db)?;
    store::in_access_transaction(&conn, |c| integrations::delete(c, id)).map_err(message)?;
    println!("integration {id} deleted");
    Ok(())
}
