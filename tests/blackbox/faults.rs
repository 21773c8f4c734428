//! Faults (issue 16): SIGKILL in the middle of writes loses no acknowledged
//! change (the `scimd-bench crash` soak), a full disk refuses writes with a
//! SCIM error while reads go on and recovers without a restart, and every
//! file or port `serve` cannot use stops it at start-up with one clear line
//! and exit 1 — never a panic, never a repair behind the operator's back.
//! Black box: the file faults are made by writing bytes, never SQL.

use crate::harness::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How long a `serve` that must refuse to start may take to exit.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(30);
/// The uid `serve` runs as when a test needs permissions to bite and runs as
/// root (who reads and writes any file).
const NOBODY: u32 = 65534;

fn scimd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_scimd")
}

/// This process's real uid, from /proc (no libc in the tests).
fn uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command running scimd with no inherited `SCIMD_*` settings; as root,
/// through `setpriv` as nobody when `unprivileged` (None: no way to drop
/// privileges here, the caller skips).
fn scimd_as(unprivileged: bool) -> Option<Command> {
    let mut cmd = if unprivileged && uid() == Some(0) {
        if !on_path("setpriv") {
            return None;
        }
        let mut c = Command::new("setpriv");
        c.args([
            format!("--reuid={NOBODY}"),
            format!("--regid={NOBODY}"),
            "--clear-groups".to_string(),
        ])
        .arg(scimd_bin());
        c
    } else {
        Command::new(scimd_bin())
    };
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SCIMD_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    Some(cmd)
}

/// Gives `dir` and everything in it to nobody when running as root, so a
/// `serve` dropped to nobody can use it except where the test removes
/// permissions.
fn hand_to_nobody(dir: &Path) {
    if uid() != Some(0) {
        return;
    }
    std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).expect("chown the test dir");
    for entry in std::fs::read_dir(dir).expect("list the test dir") {
        let path = entry.expect("dir entry").path();
        std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).expect("chown a test file");
    }
}

/// Runs `cmd` (a `serve` that must refuse to start), asserts exit 1 within
/// the deadline, nothing on stdout that says it listens, no panic, and
/// exactly one `scimd:` line on stderr; returns that line.
#[track_caller]
fn refused_start(mut cmd: Command) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scimd serve");
    let deadline = Instant::now() + REFUSAL_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "serve did not refuse to start within {REFUSAL_DEADLINE:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("collect output");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        status.code(),
        Some(1),
        "exit status {status:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        !stdout.contains("listening on"),
        "it listened before refusing: {stdout}"
    );
    assert!(!stderr.contains("panicked"), "a panic: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("scimd:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected; stderr: {stderr}");
    errors[0].to_string()
}

fn serve_args<'a>(cmd: &'a mut Command, db: &Path, listen: &str) -> &'a mut Command {
    cmd.arg("--db").arg(db).args(["serve", "--listen", listen])
}

#[track_caller]
fn assert_mentions(line: &str, words: &[&str]) {
    for w in words {
        assert!(line.contains(w), "{w:?} missing from the error: {line}");
    }
}

#[test]
fn twenty_kill_9_rounds_lose_no_acknowledged_write() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_scimd-bench"))
        .args(["crash", "--rounds", "20", "--writers", "8"])
        .args(["--kill-min-ms", "50", "--kill-max-ms", "700"])
        .stdin(Stdio::null())
        .output()
        .expect("run scimd-bench crash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    println!("soak took {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "the soak failed ({:?})\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rounds: 20,"), "{stdout}");
    assert!(stdout.contains("writes lost: 0,"), "{stdout}");
    // A soak whose writers never got an answer proves nothing.
    let acknowledged: u64 = stdout
        .split("writes acknowledged: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(
        acknowledged >= 100,
        "only {acknowledged} acknowledged writes"
    );
}

#[test]
fn startup_refuses_a_missing_directory() {
    let dir = TestDir::new();
    let db = dir.path().join("absent").join("scimd.db");
    let mut cmd = scimd_as(false).expect("a command");
    serve_args(&mut cmd, &db, "127.0.0.1:0");
    let line = refused_start(cmd);
    assert_mentions(&line, &["absent", "does not exist"]);
    assert!(
        !dir.path().join("absent").exists(),
        "the directory was made"
    );
}

#[test]
fn startup_refuses_a_read_only_database_file() {
    let dir = TestDir::new();
    dir.create_integration("primary");
    let Some(mut cmd) = scimd_as(true) else {
        println!("skipped: running as root and no setpriv to drop privileges");
        return;
    };
    hand_to_nobody(dir.path());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
        .expect("open the dir");
    std::fs::set_permissions(dir.db(), std::fs::Permissions::from_mode(0o400))
        .expect("make the database read-only");
    let before = std::fs::read(dir.db()).expect("read the database");
    serve_args(&mut cmd, &dir.db(), "127.0.0.1:0");
    let line = refused_start(cmd);
    assert_mentions(&line, &["scimd.db", "read-only"]);
    assert_eq!(
        std::fs::read(dir.db()).expect("read the database"),
        before,
        "the file changed"
    );
}

/// Sets bytes 60..64 of the SQLite header: `PRAGMA user_version`.
fn set_user_version(file: &Path, version: u32) {
    let mut bytes = std::fs::read(file).expect("read the database");
    bytes[60..64].copy_from_slice(&version.to_be_bytes());
    std::fs::write(file, bytes).expect("write the database");
}

#[test]
fn startup_refuses_a_database_from_a_newer_schema() {
    let dir = TestDir::new();
    dir.create_integration("primary");
    set_user_version(&dir.db(), 999);
    let mut cmd = scimd_as(false).expect("a command");
    serve_args(&mut cmd, &dir.db(), "127.0.0.1:0");
    let line = refused_start(cmd);
    assert_mentions(&line, &["scimd.db", "999", "newer"]);
    assert!(!line.contains("corrupt"), "not damage: {line}");
}

#[test]
fn startup_refuses_a_file_that_is_not_sqlite() {
    let dir = TestDir::new();
    let text = "this is a note, not a database\n".repeat(2000);
    std::fs::write(dir.db(), &text).expect("write the file");
    std::fs::set_permissions(dir.db(), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let mut cmd = scimd_as(false).expect("a command");
    serve_args(&mut cmd, &dir.db(), "127.0.0.1:0");
    let line = refused_start(cmd);
    assert_mentions(&line, &["scimd.db", "not a database"]);
    assert_eq!(
        std::fs::read_to_string(dir.db()).expect("read the file"),
        text,
        "the file changed"
    );
}

/// The database's page size from its header (bytes 16..18; 1 means 65536).
fn page_size(bytes: &[u8]) -> usize {
    match u16::from_be_bytes([bytes[16], bytes[17]]) {
        1 => 65536,
        n => n as usize,
    }
}

#[test]
fn startup_refuses_a_corrupted_page_and_leaves_it_as_it_was() {
    let mut server = TestServer::start();
    for n in 0..150 {
        let mut body = user(&format!("page.filler.{n:04}"));
        body["displayName"] = "x".repeat(200).into();
        server.create_user(&body);
    }
    server.stop();
    let mut bytes = std::fs::read(server.dir.db()).expect("read the database");
    let size = page_size(&bytes);
    let pages = bytes.len() / size;
    assert!(
        pages > 8,
        "a database of {pages} pages is too small to damage"
    );
    // A page in the middle is some table's or index's b-tree page: garbage
    // there is what a bad sector or a torn copy leaves.
    let page = pages / 2;
    for b in &mut bytes[page * size..(page + 1) * size] {
        *b = 0xA5;
    }
    std::fs::write(server.dir.db(), &bytes).expect("write the damaged database");
    let mut cmd = scimd_as(false).expect("a command");
    serve_args(&mut cmd, &server.dir.db(), "127.0.0.1:0");
    let line = refused_start(cmd);
    assert_mentions(&line, &["scimd.db", "damaged"]);
    assert_eq!(
        std::fs::read(server.dir.db()).expect("read the database"),
        bytes,
        "start-up repaired or changed the damaged file"
    );
}

#[test]
fn startup_refuses_a_port_already_in_use() {
    let dir = TestDir::new();
    dir.create_integration("primary");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let mut cmd = scimd_as(false).expect("a command");
    serve_args(&mut cmd, &dir.db(), &addr);
    let line = refused_start(cmd);
    assert_mentions(&line, &[&addr, "in use"]);
}

/// A certificate and key that `serve` will not be able to use, and the
/// files' paths.
fn tls_files(dir: &TestDir) -> (PathBuf, PathBuf) {
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
        .expect("write the cert");
    std::fs::write(&key, "no key here\n").expect("write the key");
    (cert, key)
}

#[test]
fn startup_refuses_an_unreadable_certificate() {
    let dir = TestDir::new();
    dir.create_integration("primary");
    let (cert, key) = tls_files(&dir);
    let Some(mut cmd) = scimd_as(true) else {
        println!("skipped: running as root and no setpriv to drop privileges");
        return;
    };
    hand_to_nobody(dir.path());
    std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o000)).expect("chmod 000");
    serve_args(&mut cmd, &dir.db(), "127.0.0.1:0");
    cmd.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
    let line = refused_start(cmd);
    assert_mentions(&line, &["cert.pem", "Permission denied"]);
}

#[test]
fn startup_refuses_a_certificate_file_that_holds_no_certificate() {
    let dir = TestDir::new();
    dir.create_integration("primary");
    let (cert, key) = tls_files(&dir);
    let mut cmd = scimd_as(false).expect("a command");
    serve_args(&mut cmd, &dir.db(), "127.0.0.1:0");
    cmd.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
    let line = refused_start(cmd);
    assert_mentions(&line, &["cert.pem", "key.pem"]);
}

/// A `serve` in a mount namespace of its own, on a small tmpfs mounted over
/// an empty directory of the test dir: the test reaches its files through
/// `/proc/PID/root`, and the mount disappears with the process.
struct SmallDisk {
    child: std::process::Child,
    /// The mount point, as the server sees it.
    mount: PathBuf,
    url: String,
    integration: String,
    token: String,
}

impl SmallDisk {
    /// None (with the reason) where no tmpfs can be mounted here.
    fn start(dir: &TestDir, megabytes: u32) -> Result<SmallDisk, String> {
        if !on_path("unshare") {
            return Err("no unshare(1) on this machine".into());
        }
        let mount = dir.path().join("small");
        std::fs::create_dir(&mount).expect("create the mount point");
        // As root a mount namespace is enough; otherwise a user namespace
        // makes us root in it, which may mount tmpfs.
        let ns = if uid() == Some(0) { "-m" } else { "-rm" };
        let script = format!(
            "mount -t tmpfs -o size={megabytes}m tmpfs \"$1\" || exit 97; shift; exec \"$@\""
        );
        let stderr =
            std::fs::File::create(dir.path().join("small-serve.stderr")).expect("create the log");
        let mut child = Command::new("unshare")
            .args([ns, "sh", "-c", &script, "sh"])
            .arg(&mount)
            .arg(scimd_bin())
            .arg("--db")
            .arg(mount.join("scimd.db"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("SCIMD_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut integration, mut token_file, mut url) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while url.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("created integration ") {
                        integration = rest.split_whitespace().next().map(str::to_string);
                    } else if let Some(path) = line.strip_prefix("token file: ") {
                        token_file = Some(path.trim().to_string());
                    } else if let Some(u) = line.strip_prefix("listening on ") {
                        url = Some(u.trim().to_string());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    let log = std::fs::read_to_string(dir.path().join("small-serve.stderr"))
                        .unwrap_or_default();
                    if status.and_then(|s| s.code()) == Some(97) {
                        return Err(format!("cannot mount a tmpfs here: {}", log.trim()));
                    }
                    panic!("the server on the small disk did not start ({status:?}): {log}");
                }
            }
        }
        let mut disk = SmallDisk {
            child,
            mount,
            url: url.unwrap_or_default(),
            integration: integration.expect("the first integration's id"),
            token: String::new(),
        };
        let token_file = token_file.expect("the first token's file");
        disk.token = std::fs::read_to_string(disk.seen(Path::new(&token_file)))
            .expect("read the token file")
            .trim()
            .to_string();
        Ok(disk)
    }

    /// `path` (as the server sees it) as this process can reach it.
    fn seen(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        PathBuf::from(format!("/proc/{}/root", self.child.id())).join(relative)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.seen(&self.mount.join(name))
    }

    fn path(&self, rest: &str) -> String {
        format!("/scim/{}{rest}", self.integration)
    }

    fn send(&self, method: &str, rest: &str, body: Option<&serde_json::Value>) -> Resp {
        let auth = format!("Bearer {}", self.token);
        let bytes = body.map(|b| serde_json::to_vec(b).expect("serialize"));
        request(
            &agent(),
            &self.url,
            method,
            &self.path(rest),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/scim+json"),
            ],
            bytes.as_deref(),
        )
    }

    /// `scimd check` on the server's database, from inside its namespace.
    fn check(&self) -> std::process::Output {
        let pid = self.child.id().to_string();
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &pid, "-m"]);
        if uid() != Some(0) {
            cmd.args(["-U", "--preserve-credentials"]);
        }
        cmd.arg(scimd_bin())
            .arg("--db")
            .arg(self.mount.join("scimd.db"))
            .arg("check")
            .stdin(Stdio::null())
            .output()
            .expect("run nsenter scimd check")
    }

    /// Writes a file until the disk refuses another byte; returns its size.
    fn fill(&self) -> u64 {
        let mut filler = std::fs::File::create(self.file("filler")).expect("create the filler");
        let chunk = vec![0x5Au8; 4096];
        let mut written = 0u64;
        while filler.write_all(&chunk).is_ok() {
            written += chunk.len() as u64;
        }
        let _ = filler.sync_all();
        written
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_full_disk_refuses_writes_with_507_keeps_reads_and_recovers_without_restart() {
    let dir = TestDir::new();
    let disk = match SmallDisk::start(&dir, 8) {
        Ok(disk) => disk,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    disk.send("POST", "/Users", Some(&user("before.full")))
        .expect(201);
    let filled = disk.fill();
    assert!(filled > 0, "the filler wrote nothing");

    // SQLite may still have room in pages it already owns: write until the
    // first refusal, which must be the disk-full one.
    let mut refusal = None;
    for n in 0..2000 {
        let mut body = user(&format!("while.full.{n:04}"));
        body["displayName"] = "y".repeat(2000).into();
        let resp = disk.send("POST", "/Users", Some(&body));
        if resp.status != 201 {
            refusal = Some(resp);
            break;
        }
    }
    let refusal = refusal.expect("2000 creates fitted on a full disk");
    refusal.expect_error(507, None);
    assert!(
        refusal.detail().contains("disk is full"),
        "detail: {}",
        refusal.detail()
    );

    // Reads go on.
    let listed = disk.send(
        "GET",
        "/Users?filter=userName%20eq%20%22before.full%22",
        None,
    );
    listed.expect(200);
    assert_eq!(listed.body["totalResults"], 1, "{}", listed.text);
    disk.send("GET", "/ServiceProviderConfig", None).expect(200);
    // Still refused, and still cleanly, while the disk stays full.
    disk.send("POST", "/Users", Some(&user("still.full")))
        .expect_error(507, None);

    // SQLite resolves /proc/PID/root back to this namespace's `/`: the
    // check runs inside the server's namespace instead.
    if on_path("nsenter") {
        let check = disk.check();
        assert_success(&check, &["check"]);
    } else {
        println!("not checked: no nsenter(1) to enter the server's mount namespace");
    }

    std::fs::remove_file(disk.file("filler")).expect("free the space");
    let created = disk.send("POST", "/Users", Some(&user("after.freed")));
    created.expect(201);
    let id = created.body["id"].as_str().expect("an id").to_string();
    disk.send("GET", &format!("/Users/{id}"), None).expect(200);
}
