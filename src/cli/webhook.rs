//! `scimd webhook …`: add a hook (its signing secret is printed once), list
//! and remove hooks, send a signed test event straight to one, and show
//! recent deliveries. Delivery itself runs inside `serve`; these commands
//! only write and read the tables, safely beside a running server.

use super::{message, open, print_json};
use crate::delivery::{client, sign};
use crate::domain::webhooks as domain;
use crate::store::webhooks::{self, NewHook, Patterns, EVENT_PREFIX};
use crate::store::{self};
use serde_json::json;
use std::path::Path;

/// What `webhook add` was given.
pub struct Add<'a> {
    pub url: &'a str,
    pub events: Option<&'a str>,
    pub include_pin: bool,
    pub ca_file: Option<&'a Path>,
    pub json: bool,
}

pub fn add(db: &Path, id: &str, a: &Add) -> Result<(), String> {
    client::check_url(a.url)?;
    let patterns = match a.events {
        Some(list) => Patterns::parse(list)?,
        None => Patterns::all(),
    };
    let ca_pem = a
        .ca_file
        .map(|f| {
            std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display()))
        })
        .transpose()?;
    if let Some(pem) = &ca_pem {
        client::check_ca(pem)?;
    }
    let conn = open(db)?;
    let new = NewHook {
        url: a.url,
        patterns: &patterns,
        include_pin: a.include_pin,
        ca_pem: ca_pem.as_deref(),
    };
    let (hook, secret) =
        store::in_transaction(&conn, |c| domain::add_webhook(c, id, &new)).map_err(message)?;
    if a.json {
        let mut v = serde_json::to_value(&hook).map_err(|e| e.to_string())?;
        v["secret"] = json!(secret);
        return print_json(&v);
    }
    println!("webhook {} added to {id}: POST {}", hook.id, hook.url);
    println!("events: {}", hook.events.join(","));
    if hook.include_pin {
        println!("PINs are included in event data");
    }
    println!("signing secret: {secret}");
    println!("(the secret is shown only now; verify `webhook-signature` with it)");
    Ok(())
}

pub fn list(db: &Path, id: &str, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let hooks = webhooks::list(&conn, id).map_err(message)?;
    if as_json {
        return print_json(&hooks);
    }
    if hooks.is_empty() {
        println!("no webhooks; add one with `scimd webhook add {id} URL`");
        return Ok(());
    }
    for h in hooks {
        println!(
            "{}  {}  events={}{}{}{}",
            h.id,
            h.url,
            h.events.join(","),
            if h.include_pin { "  include-pin" } else { "" },
            if h.custom_ca { "  ca-file" } else { "" },
            if h.enabled { "" } else { "  disabled" },
        );
    }
    Ok(())
}

pub fn remove(db: &Path, id: &str, hook: &str) -> Result<(), String> {
    let conn = open(db)?;
    store::in_transaction(&conn, |c| domain::remove_webhook(c, id, hook)).map_err(message)?;
    println!("webhook {hook} removed from {id} (with its pending deliveries)");
    Ok(())
}

/// Sends `platform.scim.test` to the hook now, signed like any delivery,
/// without the outbox; succeeds only on a 2xx.
pub fn test(db: &Path, id: &str, hook: &str) -> Result<(), String> {
    let conn = open(db)?;
    let endpoint = webhooks::endpoint(&conn, id, hook).map_err(message)?;
    drop(conn);
    let body = serde_json::to_vec(&json!({
        "type": format!("{EVENT_PREFIX}test"),
        "timestamp": crate::clock::now_string(),
        "data": {"integration": id, "webhook": hook},
    }))
    .map_err(|e| e.to_string())?;
    let key = sign::key(&endpoint.secret)?;
    let message_id = format!("test_{}", crate::secret::new_request_id());
    let headers = sign::headers(
        &key,
        &message_id,
        crate::clock::now().unix_timestamp(),
        &body,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let status = runtime.block_on(client::post(
        &endpoint.url,
        endpoint.ca_pem.as_deref(),
        &headers,
        body,
    ))?;
    if (200..300).contains(&status) {
        println!("HTTP {status} from {}: delivered", endpoint.url);
        Ok(())
    } else {
        Err(format!(
            "HTTP {status} from {}: not delivered (a receiver must answer 2xx)",
            endpoint.url
        ))
    }
}

pub fn deliveries(db: &Path, id: &str, failed_only: bool, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let rows = webhooks::deliveries(&conn, id, failed_only, 100).map_err(message)?;
    if as_json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("no deliveries");
        return Ok(());
    }
    println!(
        "{:<26} {:<24} {:<34} {:<9} {:>3} {:>4}  detail",
        "delivery", "webhook", "type", "state", "try", "http"
    );
    for d in rows {
        let detail = match (&d.state[..], &d.next_attempt, &d.last_error) {
            ("pending", Some(next), err) => format!(
                "next {next}{}",
                err.as_deref().map(|e| format!("; {e}")).unwrap_or_default()
            ),
            (_, _, Some(err)) => err.clone(),
            _ => String::new(),
        };
        println!(
            "{:<26} {:<24} {:<34} {:<9} {:>3} {:>4}  {}",
            d.id,
            d.webhook,
            d.event_type,
            d.state,
            d.attempts,
            d.last_status.map(|s| s.to_string()).unwrap_or("-".into()),
            detail
        );
    }
    Ok(())
}
