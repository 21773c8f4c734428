//! `scimd backup`: a consistent, verified copy of the database, safe while
//! `serve` writes. `VACUUM INTO` a hidden temporary file beside the target
//! (one read transaction: writers are never blocked), `integrity_check` the
//! copy, fsync it, then rename it into place, so the target name only ever
//! holds a complete, checked backup. `VACUUM INTO` reports no progress, so
//! there is no progress bar; a terminal gets one line per phase instead.

use super::print_json;
use crate::store::{connection, maintenance};
use serde_json::json;
use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub enum Target {
    /// Exactly this file (replaced if it exists).
    File(PathBuf),
    /// `DIR/scimd-YYYYMMDDTHHMMSSZ.db`, then only the newest `keep` kept.
    Dir { dir: PathBuf, keep: usize },
}

pub fn run(db: &Path, target: Target, as_json: bool) -> Result<(), String> {
    let started = Instant::now();
    if !db.exists() {
        return Err(format!("no database at {}", db.display()));
    }
    let file = match &target {
        Target::File(f) => f.clone(),
        Target::Dir { dir, .. } => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let f = dir.join(file_name(crate::clock::now()));
            if f.exists() {
                return Err(format!(
                    "{} exists already (two backups in one second?)",
                    f.display()
                ));
            }
            f
        }
    };
    if same_file(db, &file) {
        return Err(format!(
            "{} is the database itself; back up to another file",
            file.display()
        ));
    }
    let tmp = partial_path(&file)?;
    let result = write_verified(db, &tmp, &file);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let pruned = match &target {
        Target::Dir { dir, keep } => prune(dir, *keep)?,
        Target::File(_) => Vec::new(),
    };
    let seconds = started.elapsed().as_secs_f64();
    if as_json {
        return print_json(&json!({
            "file": file.display().to_string(),
            "bytes": bytes,
            "seconds": (seconds * 1000.0).round() / 1000.0,
        }));
    }
    for p in &pruned {
        println!("removed old backup {}", p.display());
    }
    println!(
        "backed up {} to {} ({bytes} bytes in {seconds:.2} s)",
        db.display(),
        file.display()
    );
    Ok(())
}

/// Snapshot → check → fsync → rename → fsync the directory (so the rename
/// itself survives a power cut).
fn write_verified(db: &Path, tmp: &Path, file: &Path) -> Result<(), String> {
    let phase = |what: &str| {
        if std::io::stderr().is_terminal() {
            eprintln!("{what}…");
        }
    };
    // VACUUM INTO needs a missing or empty target; an empty one created here
    // carries mode 0600 whatever the umask (the copy holds every secret).
    let _ = std::fs::remove_file(tmp);
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;

    phase("copying a snapshot");
    let conn =
        connection::open_read(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    maintenance::vacuum_into(&conn, tmp)
        .map_err(|e| format!("snapshot of {} failed: {e}", db.display()))?;
    drop(conn);

    phase("checking the copy");
    let copy = rusqlite::Connection::open_with_flags(
        tmp,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open the copy {}: {e}", tmp.display()))?;
    let verdict =
        maintenance::integrity(&copy, true).map_err(|e| format!("checking the copy: {e}"))?;
    drop(copy);
    if verdict != "ok" {
        return Err(format!(
            "the copy failed its integrity check ({}); {} is untouched",
            verdict.lines().next().unwrap_or_default(),
            file.display()
        ));
    }

    sync(tmp)?;
    std::fs::rename(tmp, file)
        .map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), file.display()))?;
    sync(parent(file))?;
    Ok(())
}

fn sync(path: &Path) -> Result<(), String> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", path.display()))
}

fn parent(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.<name>.partial-<pid>` in the target's directory: the same file system,
/// so the final rename is atomic; hidden, so a half-written copy is not
/// mistaken for a backup.
fn partial_path(file: &Path) -> Result<PathBuf, String> {
    let name = file
        .file_name()
        .ok_or_else(|| format!("{} names no file", file.display()))?;
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(name);
    hidden.push(format!(".partial-{}", std::process::id()));
    Ok(parent(file).join(hidden))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `scimd-20260131T090000Z.db`: UTC, so names sort in time order.
pub fn file_name(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "scimd-{:04}{:02}{:02}T{:02}{:02}{:02}Z.db",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Whether `name` is one `file_name` makes; nothing else in the directory
/// is ever pruned.
fn is_backup_name(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix("scimd-")
        .and_then(|s| s.strip_suffix("Z.db"))
    else {
        return false;
    };
    let b = stamp.as_bytes();
    b.len() == 15
        && b[8] == b'T'
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[9..].iter().all(u8::is_ascii_digit)
}

/// Deletes all but the newest `keep` backups in `dir`; returns what it deleted.
fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_backup_name(n))
        .collect();
    names.sort();
    let excess = names.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for name in names.into_iter().take(excess) {
        let path = dir.join(name);
        std::fs::remove_file(&path)
            .map_err(|e| format!("cannot remove old backup {}: {e}", path.display()))?;
        removed.push(path);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_are_utc_compact_timestamps() {
        let t = crate::clock::parse("2026-01-31T10:00:05+01:00").unwrap();
        assert_eq!(file_name(t), "scimd-20260131T090005Z.db");
        assert!(is_backup_name("scimd-20260131T090005Z.db"));
    }

    #[test]
    fn only_backup_names_are_pruned() {
        for other in [
            "scimd.db",
            "scimd-20260131T090005Z.db-wal",
            "scimd-2026013xT090005Z.db",
            ".scimd-20260131T090005Z.db.partial-1",
            "scimd-20260131090005Z.db",
        ] {
            assert!(!is_backup_name(other), "{other}");
        }
    }

    #[test]
    fn prune_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("scimd-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for n in [
            "scimd-20260101T000000Z.db",
            "scimd-20260103T000000Z.db",
            "scimd-20260102T000000Z.db",
            "notes.txt",
        ] {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
        let removed = prune(&dir, 2).unwrap();
        assert_eq!(removed, vec![dir.join("scimd-20260101T000000Z.db")]);
        assert!(dir.join("notes.txt").exists());
        assert!(dir.join("scimd-20260103T000000Z.db").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
