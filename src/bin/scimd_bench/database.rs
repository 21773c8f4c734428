//! Where the benchmark database lives and what is in it. By default a fresh
//! directory under the system temp dir, removed when the run ends; with
//! `--db PATH` the file is kept, and reused by later runs so a million users
//! are loaded once, not on every run.

use crate::loader::{self, BenchIntegration, Loader};
use rusqlite::OptionalExtension;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The integration every benchmark database holds.
pub const INTEGRATION_NAME: &str = "scimd-bench";

pub struct Workspace {
    pub db: PathBuf,
    /// Removed on drop; None when the user chose the path.
    temp_dir: Option<PathBuf>,
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Workspace {
    pub fn new(db: Option<PathBuf>) -> Result<Workspace, String> {
        if let Some(db) = db {
            return Ok(Workspace { db, temp_dir: None });
        }
        let dir = std::env::temp_dir().join(format!(
            "scimd-bench-{}-{}",
            std::process::id(),
            scimd::secret::new_request_id()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Workspace {
            db: dir.join("bench.db"),
            temp_dir: Some(dir),
        })
    }
}

/// What a run used: the integration, and how long loading took (None when an
/// existing file was reused).
pub struct Prepared {
    pub integration: BenchIntegration,
    pub load_time: Option<Duration>,
}

/// Loads `users` synthetic users into a new file, or reuses an existing one.
/// `extra` runs on the loader before it is finished (groups, for instance).
pub fn prepare(
    db: &Path,
    users: u64,
    extra: impl FnOnce(&Loader, &BenchIntegration) -> Result<(), String>,
) -> Result<Prepared, String> {
    if db.exists() {
        eprintln!("reusing {} (delete it to load afresh)", db.display());
        let integration = loader::reopen(db, INTEGRATION_NAME).map_err(|e| e.to_string())?;
        return Ok(Prepared {
            integration,
            load_time: None,
        });
    }
    let started = Instant::now();
    let loader = Loader::create(db).map_err(|e| e.to_string())?;
    let integration = loader
        .integration(INTEGRATION_NAME)
        .map_err(|e| e.to_string())?;
    let mut last_report = Instant::now();
    loader
        .users(&integration.id, 0..users, users, |done| {
            // Progress on stderr, at most every few seconds: stdout is the table.
            if last_report.elapsed() >= Duration::from_secs(5) || done == users {
                let s = started.elapsed().as_secs_f64();
                eprintln!(
                    "loaded {done}/{users} users in {s:.1} s ({:.0} users/s)",
                    done as f64 / s.max(1e-9)
                );
                last_report = Instant::now();
            }
        })
        .map_err(|e| e.to_string())?;
    extra(&loader, &integration)?;
    loader.finish().map_err(|e| e.to_string())?;
    Ok(Prepared {
        integration,
        load_time: Some(started.elapsed()),
    })
}

/// Counts and sizes, read from the file itself.
pub struct Facts {
    pub users: u64,
    pub groups: u64,
    pub memberships: u64,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    /// Newest `meta.lastModified` of the integration's users.
    pub newest_modified: Option<String>,
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

pub fn facts(db: &Path, integration_id: &str) -> Result<Facts, String> {
    let conn = scimd::store::connection::open_read(db)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    let count = |sql: &str| -> Result<u64, String> {
        conn.query_row(sql, [integration_id], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(|e| format!("{sql}: {e}"))
    };
    let users = count("SELECT count(*) FROM scim_user WHERE integration_id = ?1")?;
    let groups = count("SELECT count(*) FROM scim_group WHERE integration_id = ?1")?;
    let memberships = count(
        "SELECT count(*) FROM membership m JOIN scim_group g ON g.seq = m.group_seq
         WHERE g.integration_id = ?1",
    )?;
    let newest_modified = conn
        .query_row(
            "SELECT max(last_modified) FROM scim_user WHERE integration_id = ?1",
            [integration_id],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()
        .map_err(|e| format!("newest lastModified: {e}"))?
        .flatten();
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    Ok(Facts {
        users,
        groups,
        memberships,
        db_bytes: file_size(db),
        wal_bytes: file_size(Path::new(&wal)),
        newest_modified,
    })
}

/// Users changed after `since`: what `meta.lastModified gt` must report.
pub fn count_modified_since(db: &Path, integration_id: &str, since: &str) -> Result<u64, String> {
    let conn = scimd::store::connection::open_read(db)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.query_row(
        "SELECT count(*) FROM scim_user WHERE integration_id = ?1 AND last_modified > ?2",
        [integration_id, since],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n.max(0) as u64)
    .map_err(|e| format!("counting the lastModified window: {e}"))
}
