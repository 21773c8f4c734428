//! `scimd restore FILE --yes`: replace the database with a backup. The
//! backup is checked before anything is touched (a scimd database, integrity
//! ok, a schema this binary knows; an older schema is migrated in the copy),
//! the copy is staged beside the database, and only then is the old file
//! moved aside to `<db>.before-restore` and the copy renamed into place.
//! Refuses while a server holds the database's lock: swapping the file under
//! a running server would leave it writing to the old one.

use crate::store::{connection, maintenance, migrate};
use rusqlite::{Connection, OpenFlags};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `<db>.before-restore`: the database as it was before the last restore.
pub fn before_restore_path(db: &Path) -> PathBuf {
    connection::sidecar(db, ".before-restore")
}

pub fn run(db: &Path, source: &Path) -> Result<(), String> {
    if !source.is_file() {
        return Err(format!("no backup file at {}", source.display()));
    }
    if let (Ok(a), Ok(b)) = (db.canonicalize(), source.canonicalize()) {
        if a == b {
            return Err(format!("{} is the database itself", source.display()));
        }
    }
    let src = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open {}: {e}", source.display()))?;
    let from_version = vet(&src, source)?;

    let lock_path = maintenance::lock_path(db);
    let _lock = maintenance::try_lock(db)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?
        .ok_or_else(|| {
            format!(
                "a scimd server is running on {} (it holds {}): stop it first, then restore",
                db.display(),
                lock_path.display()
            )
        })?;

    let staged = staging_path(db)?;
    let result = stage(&src, source, &staged);
    drop(src);
    if let Err(e) = result.and_then(|()| swap(db, &staged)) {
        let _ = std::fs::remove_file(&staged);
        return Err(e);
    }
    let latest = migrate::latest_version();
    let migrated = if from_version < latest {
        format!(", schema migrated from version {from_version} to {latest}")
    } else {
        String::new()
    };
    println!(
        "restored {} into {}{migrated}",
        source.display(),
        db.display()
    );
    let before = before_restore_path(db);
    if before.exists() {
        println!("the replaced database is kept as {}", before.display());
    }
    Ok(())
}

/// Refuses what must not become the database; returns its schema version.
fn vet(src: &Connection, source: &Path) -> Result<i64, String> {
    let sql = |e: rusqlite::Error| format!("cannot read {}: {e}", source.display());
    let is_scimd: bool = src
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'integration')",
            [],
            |r| r.get(0),
        )
        .map_err(sql)?;
    if !is_scimd {
        return Err(format!("{} is not a scimd database", source.display()));
    }
    let version = maintenance::schema_version(src).map_err(sql)?;
    let latest = migrate::latest_version();
    if version > latest {
        return Err(format!(
            "{} has schema version {version}, newer than this scimd's ({latest}): restore it with a newer scimd",
            source.display()
        ));
    }
    let verdict = maintenance::integrity(src, true).map_err(sql)?;
    if verdict != "ok" {
        return Err(format!(
            "{} fails its integrity check ({}); nothing was changed",
            source.display(),
            verdict.lines().next().unwrap_or_default()
        ));
    }
    Ok(version)
}

/// `.<db name>.restoring-<pid>` beside the database: the final rename stays
/// on one file system.
fn staging_path(db: &Path) -> Result<PathBuf, String> {
    let name = db
        .file_name()
        .ok_or_else(|| format!("{} names no file", db.display()))?;
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(name);
    hidden.push(format!(".restoring-{}", std::process::id()));
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(dir.join(hidden))
}

/// Copies the backup into `staged` (0600), migrates it, and syncs it.
fn stage(src: &Connection, source: &Path, staged: &Path) -> Result<(), String> {
    let _ = std::fs::remove_file(staged);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(staged)
        .map_err(|e| format!("cannot create {}: {e}", staged.display()))?;
    maintenance::vacuum_into(src, staged)
        .map_err(|e| format!("cannot copy {}: {e}", source.display()))?;
    let conn = connection::open_write(staged)
        .map_err(|e| format!("cannot open the copy {}: {e}", staged.display()))?;
    migrate::apply(&conn).map_err(|e| format!("cannot migrate the copy: {e}"))?;
    let fk = maintenance::foreign_keys(&conn, 1).map_err(|e| e.to_string())?;
    if !fk.is_empty() {
        return Err(format!(
            "{} has foreign key violations (run `scimd --db {} check`); nothing was changed",
            source.display(),
            source.display()
        ));
    }
    // Closing the only connection folds the WAL into the file and removes
    // it: the staged database is then one self-contained file.
    drop(conn);
    if maintenance::wal_bytes(staged) > 0 {
        return Err(format!(
            "the copy {} kept a WAL after closing",
            staged.display()
        ));
    }
    std::fs::File::open(staged)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", staged.display()))
}

/// Moves the current database (if any) to `<db>.before-restore` and the
/// staged copy into its place.
fn swap(db: &Path, staged: &Path) -> Result<(), String> {
    let wal = connection::sidecar(db, "-wal");
    let shm = connection::sidecar(db, "-shm");
    let had_db = db.exists();
    if had_db {
        // Fold committed changes still in the WAL into the file, so the
        // moved-aside copy is whole.
        let conn =
            connection::open_write(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
        let _ = maintenance::checkpoint(&conn, maintenance::CheckpointMode::Truncate);
        drop(conn);
        if maintenance::wal_bytes(db) > 0 {
            // A WAL left beside the new file would be replayed into it.
            return Err(format!(
                "another process still has {} open (its WAL is not empty): close it and retry",
                db.display()
            ));
        }
        std::fs::rename(db, before_restore_path(db))
            .map_err(|e| format!("cannot move {} aside: {e}", db.display()))?;
    }
    for f in [&wal, &shm] {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove {}: {e}", f.display())),
        }
    }
    if let Err(e) = std::fs::rename(staged, db) {
        // Put the old database back rather than leave no database at all.
        if had_db {
            let _ = std::fs::rename(before_restore_path(db), db);
        }
        return Err(format!(
            "cannot move the restored copy into {}: {e}",
            db.display()
        ));
    }
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", dir.display()))
}
