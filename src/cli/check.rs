//! `scimd check`: is the file sound? Reads only (a read-only connection, so
//! it never migrates or writes, and runs beside a live server); prints what
//! it found and fails (exit 1) when anything is wrong.

use super::print_json;
use crate::store::{connection, maintenance, migrate};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The `--json` shape; its keys are a stable interface for monitoring.
#[derive(Serialize)]
struct Report {
    ok: bool,
    schema_version: i64,
    integrity: String,
    foreign_keys: Vec<maintenance::ForeignKeyViolation>,
    orphans: BTreeMap<&'static str, i64>,
    wal_bytes: u64,
    problems: Vec<String>,
}

/// Most foreign-key violations listed (their count is still exact in the
/// problem line up to this bound).
const FK_LIMIT: usize = 100;

pub fn run(db: &Path, full: bool, as_json: bool) -> Result<(), String> {
    if !db.exists() {
        return Err(format!("no database at {}", db.display()));
    }
    let conn =
        connection::open_read(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let sql = |e: rusqlite::Error| format!("checking {}: {e}", db.display());
    let mut problems = Vec::new();

    let schema_version = maintenance::schema_version(&conn).map_err(sql)?;
    let latest = migrate::latest_version();
    if schema_version > latest {
        problems.push(format!(
            "schema version {schema_version} is newer than this scimd's ({latest}): use a newer scimd"
        ));
    }

    let integrity = maintenance::integrity(&conn, full).map_err(sql)?;
    if integrity != "ok" {
        let first = integrity.lines().next().unwrap_or_default();
        problems.push(format!("integrity check failed: {first}"));
    }

    let foreign_keys = maintenance::foreign_keys(&conn, FK_LIMIT).map_err(sql)?;
    if let Some(v) = foreign_keys.first() {
        let more = if foreign_keys.len() == FK_LIMIT {
            " or more"
        } else {
            ""
        };
        problems.push(format!(
            "{}{more} foreign key violation(s), e.g. {} row {} points at a missing {}",
            foreign_keys.len(),
            v.table,
            v.rowid.map(|r| r.to_string()).unwrap_or_else(|| "?".into()),
            v.parent
        ));
    }

    // On a file newer than this binary the tables may differ: the checks
    // above are SQLite's own; the ones below know our schema.
    let mut orphans = BTreeMap::new();
    if schema_version <= latest {
        orphans = maintenance::orphans(&conn).map_err(sql)?;
        let counts = maintenance::live_count_mismatches(&conn).map_err(sql)?;
        orphans.insert("live_user_counts", counts.len() as i64);
        for (kind, n) in &orphans {
            if *n > 0 {
                problems.push(format!("{n} orphaned or inconsistent row(s): {kind}"));
            }
        }
    }

    let report = Report {
        ok: problems.is_empty(),
        schema_version,
        integrity,
        foreign_keys,
        orphans,
        wal_bytes: maintenance::wal_bytes(db),
        problems,
    };
    if as_json {
        print_json(&report)?;
    } else {
        print_text(&report, full, latest);
    }
    match report.problems.len() {
        0 => Ok(()),
        n => Err(format!("{n} problem(s) found in {}", db.display())),
    }
}

fn print_text(r: &Report, full: bool, latest: i64) {
    let kind = if full {
        "integrity_check"
    } else {
        "quick_check"
    };
    println!(
        "schema version: {} (this scimd: {latest})",
        r.schema_version
    );
    println!("{kind}: {}", r.integrity.lines().next().unwrap_or_default());
    println!("foreign keys: {} violation(s)", r.foreign_keys.len());
    let found: Vec<String> = r
        .orphans
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "orphans: {}",
        if found.is_empty() {
            "none".to_string()
        } else {
            found.join(", ")
        }
    );
    println!("wal: {} bytes", r.wal_bytes);
    if r.ok {
        println!("ok");
    }
    for p in &r.problems {
        println!("problem: {p}");
    }
}
