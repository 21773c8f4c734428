//! The SQLite file: connection setup, migrations, the single writer thread,
//! the pool of read-only connections, and one module of queries per kind of
//! record. Query functions take a `&Connection` so the domain layer (through
//! the writer and reader pool, or the CLI's direct transaction) runs the same
//! SQL either way. May import `scim/` (errors, filters, ETags); never
//! `domain/`, `server/` or `cli/`.

pub mod audit;
pub mod breaker;
pub mod certificate;
pub mod connection;
pub mod entitlement;
pub mod export;
pub mod feed;
pub mod groups;
pub mod integrations;
pub mod maintenance;
pub mod mappings;
pub mod migrate;
pub mod outbox;
pub mod readers;
pub mod request_log;
pub mod search;
pub mod settings;
pub mod sql_filter;
pub mod status;
pub mod tokens;
pub mod users;
pub mod views;
pub mod webhooks;
pub mod writer;

use crate::scim::error::ScimError;
use std::fmt;

/// What can go wrong below the protocol layer.
#[derive(Debug)]
pub enum StoreError {
    /// A refusal the client should see (uniqueness, not found, precondition).
    Scim(ScimError),
    /// SQLite itself failed; the client sees a 500 and the log gets the cause.
    Db(rusqlite::Error),
    /// Stored data that does not parse: a bug or a hand-edited file.
    Corrupt(String),
    /// The writer thread is gone (shutting down).
    Closed,
    /// The writer's queue is full: the client should retry shortly (503).
    Busy,
    /// A job panicked: a bug, contained to that job (500).
    Panicked(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Scim(e) => write!(f, "{e}"),
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Corrupt(m) => write!(f, "stored data is corrupt: {m}"),
            StoreError::Closed => write!(f, "the database writer has stopped"),
            StoreError::Busy => write!(f, "the database writer's queue is full"),
            StoreError::Panicked(m) => write!(f, "a database job panicked: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl StoreError {
    /// The file system holding the database is full (SQLITE_FULL): the
    /// write was refused whole and can be retried once space is freed.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Db(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e)
    }
}

impl From<ScimError> for StoreError {
    fn from(e: ScimError) -> Self {
        StoreError::Scim(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// `in_transaction` for a change to who may authenticate (tokens, an
/// integration's existence or `enabled`): after the commit, tells a running
/// server to forget the tokens it has cached (`tokens::announce_access_change`).
pub fn in_access_transaction<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    let value = in_transaction(conn, f)?;
    if let Some(db) = conn.path().filter(|p| !p.is_empty()) {
        tokens::announce_access_change(std::path::Path::new(db)).map_err(|e| {
            StoreError::Corrupt(format!(
                "the change is made, but a running server could not be told about it ({e}); restart it to apply the change at once"
            ))
        })?;
    }
    Ok(value)
}

/// Runs `f` in one immediate transaction on a plain connection: the CLI's way
/// of writing, safe beside a running server thanks to WAL and the busy timeout.
pub fn in_transaction<T>(
    conn: &rusqlite::Connection,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("COMMIT")?;
            Ok(v)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}
