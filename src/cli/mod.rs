//! The offline admin subcommands. Each works directly on the database file,
//! safely beside a running server (WAL and a busy timeout), and reports
//! failures as one line for `main` to print with exit code 1. May import
//! `domain/` (settings, mapping and token changes go through its typed
//! operations), `store/` (opening the file, reads, maintenance) and `scim/`;
//! never `server/`.

pub mod audit;
pub mod backup;
pub mod check;
pub mod completions;
pub mod integration;
pub mod mapping;
pub mod members;
pub mod pin;
pub mod restore;
pub mod settings;
pub mod token;
pub mod users;

use crate::store::{self, connection, migrate};
use rusqlite::Connection;
use std::path::Path;

/// Logs go to stderr; `SCIMD_LOG` picks the level (error, warn, info, debug, trace).
pub fn init_logging() {
    let level = std::env::var("SCIMD_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .try_init();
}

/// Opens the database for an admin command, creating and migrating it.
pub fn open(db: &Path) -> Result<Connection, String> {
    let conn =
        connection::open_write(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    migrate::apply(&conn).map_err(|e| e.to_string())?;
    Ok(conn)
}

pub fn message(e: store::StoreError) -> String {
    match e {
        store::StoreError::Scim(e) => e.detail,
        other => other.to_string(),
    }
}

pub fn print_json(v: &impl serde::Serialize) -> Result<(), String> {
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    println!("{s}");
    Ok(())
}

/// The endpoint shown for an integration: a full URL when SCIMD_PUBLIC_URL
/// is set, else the path to append to the server's address.
pub fn endpoint(id: &str) -> String {
    match std::env::var("SCIMD_PUBLIC_URL") {
        Ok(base) if !base.is_empty() => format!("{}/scim/{id}", base.trim_end_matches('/')),
        _ => format!("/scim/{id}"),
    }
}
