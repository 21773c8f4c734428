//! Running scimd in production: file permissions, where the first token
//! goes, bounded durations, `backup`, `restore`, `check`, the server lock,
//! shell completions and the man page. Files are inspected from outside
//! (modes, sizes, the SQLite header's user_version bytes); no SQL, except
//! to build a database at an older schema version from the embedded
//! schema's own numbered sections.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{agent, cli_command, request, user, Serve, TestDir, TestServer};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status; stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `scimd ARGS…` under `umask 022` (the usual default), through `sh`.
fn scimd_with_umask_022(args: &[&str]) -> Command {
    let template = cli_command();
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(template.get_program())
        .args(args)
        .stdin(Stdio::null());
    // The template only removes inherited SCIMD_* variables.
    for (k, v) in template.get_envs() {
        if v.is_none() {
            sh.env_remove(k);
        }
    }
    sh
}

/// Sets bytes 60..64 of the SQLite header: `PRAGMA user_version`.
fn set_user_version(file: &Path, version: u32) {
    let mut bytes = std::fs::read(file).expect("read database file");
    bytes[60..64].copy_from_slice(&version.to_be_bytes());
    std::fs::write(file, bytes).expect("write database file");
}

fn backup_to(dir: &TestDir, file: &Path) -> Value {
    dir.scimd_json(&["backup", file.to_str().unwrap(), "--json"])
}

fn integration_names(db: &Path) -> Vec<String> {
    let out = cli_command()
        .arg("--db")
        .arg(db)
        .args(["integration", "list", "--json"])
        .output()
        .expect("run scimd");
    assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut names: Vec<String> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

fn scimd_on(db: &Path, args: &[&str]) -> Output {
    cli_command()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run scimd")
}

// ---- file permissions ----

#[test]
fn integration_create_makes_an_owner_only_database_under_umask_022() {
    let dir = TestDir::new();
    let db = dir.db();
    let out = scimd_with_umask_022(&["--db", db.to_str().unwrap(), "integration", "create", "a"])
        .output()
        .expect("run scimd");
    assert_exit(&out, 0);
    assert_eq!(mode(&db), 0o600);
}

/// A `serve` started under umask 022 with its stdout read line by line.
struct UmaskServe {
    child: Child,
    lines: Vec<String>,
}

impl Drop for UmaskServe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_with_umask_022(db: &Path) -> UmaskServe {
    let mut child = scimd_with_umask_022(&[
        "--db",
        db.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn scimd serve");
    let out = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    // Reading blocks until the ready line or the end of stdout (exit).
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        let ready = line.starts_with("listening on ");
        lines.push(line);
        if ready {
            break;
        }
    }
    assert!(
        lines.last().is_some_and(|l| l.starts_with("listening on ")),
        "no ready line: {lines:?}"
    );
    UmaskServe { child, lines }
}

#[test]
fn serve_makes_owner_only_database_wal_shm_and_token_file_under_umask_022() {
    let dir = TestDir::new();
    let db = dir.db();
    let serve = serve_with_umask_022(&db);
    let line = |prefix: &str| {
        serve
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {prefix:?} line in {:?}", serve.lines))
    };
    let url = line("listening on ");
    let endpoint = line("endpoint: ");
    let token = std::fs::read_to_string(line("token file: ")).expect("token file");
    // A write, so the WAL certainly holds something.
    let auth = format!("Bearer {}", token.trim());
    let body = serde_json::to_vec(&user("perm")).unwrap();
    let path = format!("{}/Users", endpoint.strip_prefix(&url).unwrap());
    request(
        &agent(),
        &url,
        "POST",
        &path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
        ],
        Some(&body),
    )
    .expect(201);
    for f in [
        db.clone(),
        with_suffix(&db, "-wal"),
        with_suffix(&db, "-shm"),
        with_suffix(&db, ".first-token"),
        with_suffix(&db, ".lock"),
    ] {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
}

#[test]
fn an_existing_world_readable_database_loses_its_other_bits() {
    let dir = TestDir::new();
    dir.create_integration("a");
    std::fs::set_permissions(dir.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    dir.scimd_json(&["integration", "list", "--json"]);
    assert_eq!(mode(&dir.db()), 0o640);
}

// ---- the first token ----

#[test]
fn first_serve_off_a_terminal_prints_the_token_file_path_not_the_token() {
    let dir = TestDir::new();
    let serve = Serve::spawn(&dir, &[], &[]);
    let path = serve
        .wait_for_line("token file:", Duration::from_secs(5))
        .expect("token file: line");
    assert_eq!(PathBuf::from(&path), with_suffix(&dir.db(), ".first-token"));
    let token = std::fs::read_to_string(&path).unwrap();
    let token = token.trim();
    assert!(token.starts_with("scimd_"), "{token}");
    let (_, lines) = serve.terminate();
    assert!(
        !lines.iter().any(|l| l.contains(token)),
        "the token reached stdout: {lines:?}"
    );
}

// ---- durations ----

#[test]
fn token_rotate_with_a_grace_beyond_range_is_a_usage_error() {
    let dir = TestDir::new();
    let i = dir.create_integration("a");
    let out = dir.scimd(&["token", "rotate", &i.id, "--grace", "99999999999d"]);
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("too long"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The old token was not touched.
    let list = dir.scimd_json(&["token", "list", &i.id, "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["expires"], Value::Null);
}

#[test]
fn purge_with_an_age_beyond_range_is_a_usage_error() {
    let dir = TestDir::new();
    let i = dir.create_integration("a");
    let out = dir.scimd(&[
        "users",
        "purge",
        &i.id,
        "--deprovisioned-before",
        "99999999999999999999d",
        "--yes",
    ]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("too long"), "{}", stderr(&out));
}

// ---- backup ----

#[test]
fn backup_json_names_the_file_its_size_and_duration() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("copy.db");
    let v = backup_to(&dir, &file);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["bytes", "file", "seconds"]);
    assert_eq!(v["file"], file.to_str().unwrap());
    assert_eq!(
        v["bytes"].as_u64(),
        Some(std::fs::metadata(&file).unwrap().len())
    );
    assert!(v["seconds"].as_f64().is_some_and(|s| s >= 0.0), "{v}");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(integration_names(&file), ["a"]);
}

#[test]
fn backup_under_write_load_is_a_consistent_checked_copy() {
    let server = Arc::new(TestServer::start());
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (server, stop, written) = (server.clone(), stop.clone(), written.clone());
            thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = server.post_json(
                        &server.scim("/Users"),
                        server.token(),
                        &user(&format!("load-{w}-{n}")),
                    );
                    assert_eq!(r.status, 201, "{}", r.text);
                    written.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                }
            })
        })
        .collect();
    // Let the load start before the first snapshot (bounded, not a sleep).
    let started = crate::harness::eventually(Duration::from_secs(20), || {
        written.load(Ordering::Relaxed) >= 20
    });
    let mut files = Vec::new();
    for k in 0..3 {
        let file = server.dir.path().join(format!("load-{k}.db"));
        backup_to(&server.dir, &file);
        files.push(file);
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer thread");
    }
    assert!(started, "the write load never started");
    let mut previous = 0;
    for file in &files {
        let out = scimd_on(file, &["check", "--json", "--full"]);
        assert_exit(&out, 0);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["ok"], true, "{report}");
        let show = scimd_on(
            file,
            &["integration", "show", &server.integration.id, "--json"],
        );
        assert_exit(&show, 0);
        let users = serde_json::from_slice::<Value>(&show.stdout).unwrap()["users"]
            .as_u64()
            .expect("users count");
        // Snapshots taken one after the other never go back in time.
        assert!(users >= previous, "{users} < {previous}");
        previous = users;
    }
    assert!(previous > 0);
}

#[test]
fn backup_dir_names_files_by_utc_time_and_keeps_the_newest() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    for old in ["scimd-20200101T000000Z.db", "scimd-20200102T000000Z.db"] {
        std::fs::write(backups.join(old), b"old").unwrap();
    }
    std::fs::write(backups.join("notes.txt"), b"keep me").unwrap();
    let v = dir.scimd_json(&[
        "backup",
        "--dir",
        backups.to_str().unwrap(),
        "--keep",
        "2",
        "--json",
    ]);
    let file = PathBuf::from(v["file"].as_str().unwrap());
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.len() == "scimd-20260101T000000Z.db".len()
            && name.starts_with("scimd-20")
            && name.ends_with("Z.db")
            && name.as_bytes()[14] == b'T',
        "{name}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt", "scimd-20200102T000000Z.db", &name]);
}

#[test]
fn backup_needs_a_file_or_a_dir() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("x.db");
    assert_exit(&dir.scimd(&["backup"]), 2);
    assert_exit(
        &dir.scimd(&["backup", file.to_str().unwrap(), "--keep", "3"]),
        2,
    );
    assert!(!file.exists());
}

// ---- restore ----

#[test]
fn restore_without_yes_is_a_usage_error_and_changes_nothing() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("b.db");
    backup_to(&dir, &file);
    dir.create_integration("b");
    let out = dir.scimd(&["restore", file.to_str().unwrap()]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(integration_names(&dir.db()), ["a", "b"]);
}

#[test]
fn restore_replaces_the_database_and_keeps_the_old_one_aside() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("b.db");
    backup_to(&dir, &file);
    dir.create_integration("b");
    let out = dir.scimd(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_exit(&out, 0);
    assert_eq!(integration_names(&dir.db()), ["a"]);
    let before = with_suffix(&dir.db(), ".before-restore");
    assert_eq!(integration_names(&before), ["a", "b"]);
    assert_eq!(mode(&dir.db()), 0o600);
}

#[test]
fn restore_is_refused_while_a_server_runs_on_the_database() {
    let server = TestServer::start();
    let file = server.dir.path().join("b.db");
    backup_to(&server.dir, &file);
    let out = server.scimd(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("server is running"),
        "{}",
        stderr(&out)
    );
    // Still serving the same data.
    server
        .get(&server.scim("/Users"), server.token())
        .expect(200);
}

#[test]
fn restore_refuses_a_backup_from_a_newer_schema() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("b.db");
    backup_to(&dir, &file);
    set_user_version(&file, 999);
    dir.create_integration("b");
    let out = dir.scimd(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("newer"), "{}", stderr(&out));
    assert_eq!(integration_names(&dir.db()), ["a", "b"]);
}

/// A database as an older scimd left it: the schema's sections up to
/// `version` applied, nothing after. Re-running a released migration is not
/// something scimd ever does, so the file must really be older.
fn database_at_version(file: &Path, version: i64) {
    let conn = rusqlite::Connection::open(file).unwrap();
    for (n, body) in scimd::store::migrate::sections(scimd::store::migrate::SCHEMA_SQL) {
        if n <= version {
            conn.execute_batch(&body).unwrap();
        }
    }
    conn.pragma_update(None, "user_version", version).unwrap();
}

#[test]
fn restore_migrates_a_backup_from_an_older_schema() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let current = dir.scimd_json(&["check", "--json"])["schema_version"]
        .as_u64()
        .unwrap();
    let file = dir.path().join("old.db");
    database_at_version(&file, 3);
    let out = dir.scimd(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("migrated"), "{}", stdout(&out));
    let report = dir.scimd_json(&["check", "--json"]);
    assert_eq!(report["schema_version"].as_u64(), Some(current));
    assert_eq!(report["ok"], true, "{report}");
}

#[test]
fn restore_refuses_a_file_that_is_not_a_scimd_database() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("junk.db");
    std::fs::write(&file, b"not a database at all, just some bytes").unwrap();
    let out = dir.scimd(&["restore", file.to_str().unwrap(), "--yes"]);
    assert_exit(&out, 1);
    assert_eq!(integration_names(&dir.db()), ["a"]);
}

// ---- the server lock ----

#[test]
fn a_second_serve_on_the_same_database_is_refused() {
    let server = TestServer::start();
    let mut second = cli_command()
        .arg("--db")
        .arg(server.dir.db())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn a second serve");
    let mut status = None;
    let exited = crate::harness::eventually(Duration::from_secs(20), || {
        status = second.try_wait().expect("try_wait");
        status.is_some()
    });
    if !exited {
        let _ = second.kill();
        let _ = second.wait();
    }
    assert!(exited, "a second serve kept running on a locked database");
    assert_eq!(status.and_then(|s| s.code()), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains(".lock"), "{err}");
}

// ---- check ----

#[test]
fn check_of_a_sound_database_is_ok_with_the_stable_json_shape() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let v = dir.scimd_json(&["check", "--json"]);
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "foreign_keys",
            "integrity",
            "ok",
            "orphans",
            "problems",
            "schema_version",
            "wal_bytes"
        ]
    );
    assert_eq!(v["ok"], true);
    assert_eq!(v["integrity"], "ok");
    assert_eq!(v["foreign_keys"], serde_json::json!([]));
    assert_eq!(v["problems"], serde_json::json!([]));
    assert!(v["orphans"]
        .as_object()
        .unwrap()
        .values()
        .all(|n| n.as_i64() == Some(0)));
    assert!(v["schema_version"].as_i64().is_some_and(|n| n > 0));
}

#[test]
fn check_of_a_database_from_a_newer_scimd_exits_1_naming_the_problem() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("b.db");
    backup_to(&dir, &file);
    set_user_version(&file, 999);
    let out = scimd_on(&file, &["check", "--json"]);
    assert_exit(&out, 1);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["schema_version"], 999);
    assert!(v["problems"][0].as_str().unwrap().contains("newer"), "{v}");
}

#[test]
fn check_of_a_damaged_file_exits_1() {
    let dir = TestDir::new();
    dir.create_integration("a");
    let file = dir.path().join("b.db");
    backup_to(&dir, &file);
    // Overwrite the last page (a table or index b-tree page) with garbage.
    let mut bytes = std::fs::read(&file).unwrap();
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    let start = bytes.len() - page;
    for (i, b) in bytes[start..].iter_mut().enumerate() {
        *b = (i * 7 + 13) as u8;
    }
    std::fs::write(&file, bytes).unwrap();
    let out = scimd_on(&file, &["check"]);
    assert_exit(&out, 1);
}

#[test]
fn check_of_a_missing_database_exits_1_without_creating_it() {
    let dir = TestDir::new();
    let out = dir.scimd(&["check"]);
    assert_exit(&out, 1);
    assert!(!dir.db().exists());
}

// ---- completions and man ----

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let dir = TestDir::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef scimd"),
        ("fish", "complete -c scimd"),
    ] {
        let out = dir.scimd(&["completions", shell]);
        assert_exit(&out, 0);
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(text.contains("backup"), "{shell} lacks backup");
    }
    assert_exit(&dir.scimd(&["completions", "tcsh"]), 2);
}

#[test]
fn man_prints_a_roff_page_listing_the_subcommands() {
    let dir = TestDir::new();
    let out = dir.scimd(&["man"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.contains(".TH scimd 1"), "{text}");
    for sub in ["serve", "backup", "restore", "check"] {
        assert!(text.contains(sub), "man lacks {sub}");
    }
    assert!(!dir.db().exists(), "man must not create a database");
}
