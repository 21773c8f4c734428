//! Server-wide secrets kept in the database: today the self-signed TLS
//! certificate and key, so restarts present the same certificate.

use super::Result;
use rusqlite::{params, Connection, OptionalExtension};

pub fn get(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT value FROM server_secret WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn put(conn: &Connection, name: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO server_secret(name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}
