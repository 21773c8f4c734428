//! The self-signed TLS certificate and its key, kept in the database (table
//! `server_secret`) so that restarts present the same certificate and an
//! IdP's pinned fingerprint stays valid.

use super::Result;
use rusqlite::{params, Connection, OptionalExtension};

const CERT: &str = "tls_cert_pem";
const KEY: &str = "tls_key_pem";

/// The stored (certificate, key) PEM pair, when both are there.
pub fn get(conn: &Connection) -> Result<Option<(String, String)>> {
    match (secret(conn, CERT)?, secret(conn, KEY)?) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        _ => Ok(None),
    }
}

/// Stores the pair, replacing any earlier one.
pub fn put(conn: &Connection, cert: &str, key: &str) -> Result<()> {
    for (name, value) in [(CERT, cert), (KEY, key)] {
        conn.execute(
            "INSERT INTO server_secret(name, value) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![name, value],
        )?;
    }
    Ok(())
}

fn secret(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT value FROM server_secret WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}
