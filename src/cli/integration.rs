//! `scimd integration …`: create (printing the first token once), list,
//! show (with the push status: what the IdP did last, the detected IdP and
//! whether it is the configured one, user counts and the last errors),
//! enable, disable, delete, and the IdP part of `set`.

use super::{endpoint, message, open, print_json};
use crate::domain::admin;
use crate::scim::idp::Idp;
use crate::store::{self, audit::Actor, integrations, settings::Change, status, tokens};
use serde_json::json;
use std::path::Path;

pub fn create(db: &Path, name: &str, idp: Idp, as_json: bool) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("an integration needs a non-empty name".into());
    }
    let conn = open(db)?;
    let (integration, token) = store::in_transaction(&conn, |c| {
        let id = crate::secret::new_integration_id();
        integrations::create(c, &id, name)?;
        integrations::set_idp(c, &id, idp)?;
        let integration = integrations::get(c, &id)?;
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
        "created integration {} ({}) for {}",
        integration.id,
        integration.name,
        integration.idp.display_name()
    );
    println!("endpoint: {endpoint}");
    println!("token:    {token}");
    println!(
        "The token is shown only now. Paste endpoint and token into your IdP's SCIM settings."
    );
    println!("Step by step: `scimd integration guide {}`", integration.id);
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
            "{}  {:<24} {:<8} {:<9} users={} groups={} created={}",
            i.id,
            i.name,
            if i.enabled { "enabled" } else { "disabled" },
            i.idp.as_str(),
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
    let breaker = crate::store::breaker::state(&conn, id).map_err(message)?;
    let push = status::get(&conn, id).map_err(message)?;
    let detected = push.detected_idp.as_deref().and_then(Idp::parse);
    let idp_mismatch = crate::guide::mismatch(i.idp, detected);
    if as_json {
        return print_json(&json!({
            "id": i.id,
            "name": i.name,
            "created": i.created,
            "enabled": i.enabled,
            "idp": i.idp.as_str(),
            "idp_mismatch": idp_mismatch,
            "endpoint": endpoint(&i.id),
            "users": i.users,
            "groups": i.groups,
            "tokens": toks,
            "settings": settings,
            "breaker": breaker,
            "push": push,
        }));
    }
    println!("id:       {}", i.id);
    println!("name:     {}", i.name);
    println!("idp:      {} ({})", i.idp.as_str(), i.idp.display_name());
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
    let b = &settings.breaker;
    println!(
        "breaker:  {} (trips above {}% of entitled users and at least {} deactivated or deleted within {})",
        if b.on { "on" } else { "off" },
        b.percent,
        b.min,
        super::settings::duration(b.window_secs)
    );
    match &breaker.tripped {
        Some(since) => println!(
            "breaker:  TRIPPED since {since}; {} revocation(s) held; apply them with `scimd breaker release {id}`",
            breaker.held
        ),
        None if breaker.held > 0 => println!("breaker:  not tripped; {} revocation(s) held", breaker.held),
        None => println!("breaker:  not tripped"),
    }
    super::token::print_table(&toks);
    print_push(&push);
    if let Some(warning) = idp_mismatch {
        println!("warning:  {warning}");
    }
    Ok(())
}

/// `integration set`: the IdP (`--idp`) here, the other settings through
/// `settings::set`; either alone, or both.
pub fn set(db: &Path, id: &str, idp: Option<Idp>, change: &Change) -> Result<(), String> {
    if idp.is_none() && change.is_empty() {
        return Err("nothing to change; see `scimd integration set --help`".into());
    }
    if let Some(idp) = idp {
        let conn = open(db)?;
        store::in_transaction(&conn, |c| {
            admin::set_idp(c, id, idp, &Actor::cli()).map(|done| done.value)
        })
        .map_err(message)?;
        println!("integration {id}: idp={}", idp.as_str());
    }
    if !change.is_empty() {
        super::settings::set(db, id, change)?;
    }
    Ok(())
}

fn print_push(p: &status::PushStatus) {
    let or_never = |t: &Option<String>| t.clone().unwrap_or_else(|| "never".into());
    println!("push status:");
    println!("  last request:  {}", or_never(&p.last_request));
    println!("  last change:   {}", or_never(&p.last_change));
    let detected = p
        .detected_idp
        .as_deref()
        .and_then(crate::scim::idp::Idp::parse)
        .map_or("unknown", |i| i.display_name());
    println!("  detected IdP:  {detected}");
    println!(
        "  user agent:    {}",
        p.user_agent.as_deref().unwrap_or("-")
    );
    let c = &p.counts;
    println!(
        "  users:         {} active, {} inactive, {} deprovisioned",
        c.active, c.inactive, c.deprovisioned
    );
    println!("  groups:        {}", c.groups);
    if c.held > 0 {
        println!(
            "  entitled:      {} ({} held by the breaker)",
            c.entitled, c.held
        );
    } else {
        println!("  entitled:      {}", c.entitled);
    }
    if p.errors.is_empty() {
        println!("  errors:        none");
        return;
    }
    println!("  last errors (newest first):");
    for e in &p.errors {
        println!(
            "    {}  {} {} {} {}  {}",
            e.time,
            e.status,
            e.scim_type.as_deref().unwrap_or("-"),
            e.method,
            e.path,
            e.detail
        );
    }
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
