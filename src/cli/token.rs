//! `scimd token …`: rotate with a grace period, revoke, list prefixes.

use super::{message, open, print_json};
use crate::domain::admin;
use crate::store::{self, audit::Actor, tokens};
use serde_json::json;
use std::path::Path;
use time::Duration;

/// `grace` comes parsed (and bounded) from the command line.
pub fn rotate(db: &Path, id: &str, grace: Duration, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let (token, until) = store::in_access_transaction(&conn, |c| {
        admin::rotate_token(c, id, grace, &Actor::cli()).map(|done| done.value)
    })
    .map_err(message)?;
    if as_json {
        return print_json(&json!({"id": id, "token": token, "old_token_valid_until": until}));
    }
    println!("new token: {token}");
    match until {
        Some(t) => println!("older tokens stay valid until {t}"),
        None => println!("older tokens are revoked"),
    }
    println!("The token is shown only now.");
    Ok(())
}

pub fn revoke(db: &Path, id: &str, yes: bool) -> Result<(), String> {
    if !yes {
        return Err(format!(
            "refusing to revoke every token of {id} without --yes"
        ));
    }
    let conn = open(db)?;
    let n = store::in_access_transaction(&conn, |c| {
        admin::revoke_tokens(c, id, &Actor::cli()).map(|done| done.value)
    })
    .map_err(message)?;
    println!("revoked {n} token(s) of {id}");
    Ok(())
}

pub fn list(db: &Path, id: &str, as_json: bool) -> Result<(), String> {
    let conn = open(db)?;
    let toks = tokens::list_valid(&conn, id).map_err(message)?;
    if as_json {
        return print_json(&toks);
    }
    print_table(&toks);
    Ok(())
}

pub fn print_table(toks: &[tokens::TokenInfo]) {
    if toks.is_empty() {
        println!("no valid tokens; issue one with `scimd token rotate ID`");
        return;
    }
    println!(
        "{:<12} {:<26} {:<26} expires",
        "prefix", "created", "last used"
    );
    for t in toks {
        println!(
            "{:<12} {:<26} {:<26} {}",
            t.prefix,
            t.created,
            t.last_used.as_deref().unwrap_or("never"),
            t.expires.as_deref().unwrap_or("never")
        );
    }
}
