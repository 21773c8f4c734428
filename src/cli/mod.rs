//! The offline admin subcommands. Each works directly on the database file,
//! safely beside a running server (WAL and a busy timeout), and reports
//! failures as one line for `main` to print with exit code 1. May import
//! `domain/` (settings, mapping and token changes go through its typed
//! operations), `store/` (opening the file, reads, maintenance) and `scim/`;
//! never `server/`.

pub mod audit;
pub mod backup;
pub mod breaker;
pub mod check;
pub mod completions;
pub mod export;
pub mod feed;
pub mod guide;
pub mod integration;
pub mod mapping;
pub mod members;
pub mod pin;
pub mod requests;
pub mod restore;
pub mod selftest;
pub mod settings;
pub mod token;
pub mod users;
pub mod webhook;

use crate::store::{self, connection, migrate};
use rusqlite::Connection;
use std::path::Path;

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr; `SCIMD_LOG` picks the level (error, warn, info, debug, trace).
pub fn init_logging(format: LogFormat) {
    let level = std::env::var("SCIMD_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Variables read outside clap, and ones the project's tooling uses.
const OTHER_ENV: [&str; 4] = [
    "SCIMD_LOG",
    "SCIMD_CI_SKIP_STATIC",
    "SCIMD_CI_SKIP_API_FUZZ",
    "SCIMD_TEST_CLOCK",
];

/// The `SCIMD_*` variables scimd reads: every `env = ...` of the clap
/// definitions (all subcommands) plus `OTHER_ENV`, sorted.
pub fn known_env(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if let Some(name) = arg.get_env().and_then(|n| n.to_str()) {
                out.push(name.to_string());
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out: Vec<String> = OTHER_ENV.iter().map(|s| s.to_string()).collect();
    walk(cmd, &mut out);
    out.sort();
    out.dedup();
    out
}

/// The `SCIMD_*` names in `vars` that scimd does not read: most likely a
/// typo that would otherwise silently leave a setting at its default.
pub fn unknown_env(
    known: &[String],
    vars: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<String> {
    let mut unknown: Vec<String> = vars
        .into_iter()
        .filter_map(|k| k.into_string().ok())
        .filter(|k| k.starts_with("SCIMD_") && !known.contains(k))
        .collect();
    unknown.sort();
    unknown
}

/// Prints one warning line on stderr per unknown `SCIMD_*` variable.
pub fn warn_unknown_env(cmd: &clap::Command, vars: impl IntoIterator<Item = std::ffi::OsString>) {
    let known = known_env(cmd);
    for name in unknown_env(&known, vars) {
        eprintln!(
            "warning: unknown environment variable {name} (known: {})",
            known.join(", ")
        );
    }
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
