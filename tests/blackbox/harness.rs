//! Test harness: starts the real `scimd` binary on `127.0.0.1:0` with a
//! temporary database, reads the port back from its ready line, and talks to
//! it over HTTPS (self-signed certificate, verification off) with ureq. It
//! also runs the admin CLI against the same database. It owns processes and
//! temporary directories and cleans both up on drop; it must not know anything
//! about scimd's internals (no crate imports, no SQL): black box only.

#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use ureq::http;

/// How long a server may take to print its ready line.
const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM.
const EXIT_DEADLINE: Duration = Duration::from_secs(15);

pub const SCIM_ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const SPC_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_scimd")
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TestDir {
    path: PathBuf,
    serve_count: AtomicUsize,
}

impl TestDir {
    pub fn new() -> TestDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "scimd-blackbox-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            nanos
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TestDir {
            path,
            serve_count: AtomicUsize::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn db(&self) -> PathBuf {
        self.path.join("scimd.db")
    }

    /// The file behind `SCIMD_TEST_CLOCK` for every scimd run on this
    /// directory, server and CLI alike: milliseconds their clock is ahead.
    fn clock_file(&self) -> PathBuf {
        self.path.join("clock-ahead-ms")
    }

    /// How far the clock of this directory's scimd runs is ahead.
    pub fn clock_ahead(&self) -> Duration {
        std::fs::read_to_string(self.clock_file())
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .map_or(Duration::ZERO, Duration::from_millis)
    }

    /// Moves the clock of this directory's scimd runs forward by `by`, where
    /// a test would otherwise sleep; it never goes back.
    pub fn advance_clock(&self, by: Duration) {
        let ahead = self.clock_ahead() + by;
        std::fs::write(self.clock_file(), ahead.as_millis().to_string())
            .expect("write the clock file");
    }

    /// The wall time this directory's scimd runs see now.
    pub fn clock_now(&self) -> SystemTime {
        SystemTime::now() + self.clock_ahead()
    }

    /// Runs `scimd --db <this db> ARGS…` and returns its output.
    pub fn scimd(&self, args: &[&str]) -> Output {
        cli_command()
            .env("SCIMD_TEST_CLOCK", self.clock_file())
            .arg("--db")
            .arg(self.db())
            .args(args)
            .output()
            .expect("run scimd")
    }

    /// Runs the CLI, asserts exit 0 and parses stdout as JSON.
    pub fn scimd_json(&self, args: &[&str]) -> Value {
        let out = self.scimd(args);
        assert_success(&out, args);
        parse_stdout_json(&out, args)
    }

    /// `scimd integration create NAME --json`.
    pub fn create_integration(&self, name: &str) -> Integration {
        let v = self.scimd_json(&["integration", "create", name, "--json"]);
        Integration::from_json(&v)
    }

    fn next_stderr_log(&self) -> PathBuf {
        let n = self.serve_count.fetch_add(1, Ordering::SeqCst);
        self.path.join(format!("serve-{n}.stderr"))
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A `Command` for the scimd binary with no inherited `SCIMD_*` settings.
pub fn cli_command() -> Command {
    let mut cmd = Command::new(bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SCIMD_") {
            cmd.env_remove(key);
        }
    }
    cmd.stdin(Stdio::null());
    cmd
}

pub fn assert_success(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "scimd {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn parse_stdout_json(out: &Output, args: &[&str]) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("scimd {args:?}: stdout is not one JSON value ({e}):\n{text}"))
}

/// What `integration create --json` prints.
#[derive(Clone, Debug)]
pub struct Integration {
    pub id: String,
    pub name: String,
    pub endpoint: String,
    pub token: String,
}

impl Integration {
    pub fn from_json(v: &Value) -> Integration {
        let field = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("integration JSON lacks string {k:?}: {v}"))
                .to_string()
        };
        Integration {
            id: field("id"),
            name: field("name"),
            endpoint: field("endpoint"),
            token: field("token"),
        }
    }

    /// Path of `rest` under this integration's SCIM base, e.g. `/scim/int_x/Users`.
    pub fn path(&self, rest: &str) -> String {
        format!("/scim/{}{}", self.id, rest)
    }
}

/// One running `scimd serve` process. Killed on drop if still running.
pub struct Serve {
    child: Child,
    /// `https://127.0.0.1:PORT` (or `http://` with `--insecure-http`).
    pub url: String,
    /// Every stdout line up to and including the ready line.
    pub stdout: Vec<String>,
    /// Where the process's stderr (its log) goes.
    pub stderr_path: PathBuf,
    /// Stdout lines printed after the ready line, not yet received.
    later: Mutex<Receiver<String>>,
    /// Stdout lines printed after the ready line, received so far.
    later_seen: Mutex<Vec<String>>,
}

impl Serve {
    /// Spawns `scimd --db DB serve --listen 127.0.0.1:0 EXTRA…` and waits for
    /// `listening on …` on stdout (deadline 30 s).
    pub fn spawn(dir: &TestDir, extra: &[&str], envs: &[(&str, &str)]) -> Serve {
        let stderr_path = dir.next_stderr_log();
        let stderr = File::create(&stderr_path).expect("create stderr log");
        let mut cmd = cli_command();
        cmd.env("SCIMD_TEST_CLOCK", dir.clock_file())
            .arg("--db")
            .arg(dir.db())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn scimd serve");

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

        let deadline = Instant::now() + READY_DEADLINE;
        let mut lines = Vec::new();
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let ready = line
                        .trim()
                        .strip_prefix("listening on ")
                        .map(|u| u.trim().trim_end_matches('/').to_string());
                    lines.push(line);
                    if let Some(url) = ready {
                        break url;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    let why = match e {
                        RecvTimeoutError::Timeout => "no ready line within 30 s",
                        RecvTimeoutError::Disconnected => "stdout closed before the ready line",
                    };
                    panic!(
                        "scimd serve: {why} (exit {status:?})\nstdout:\n{}\nstderr:\n{log}",
                        lines.join("\n")
                    );
                }
            }
        };
        Serve {
            child,
            url,
            stdout: lines,
            stderr_path,
            later: Mutex::new(rx),
            later_seen: Mutex::new(Vec::new()),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in ready URL {:?}", self.url))
    }

    /// The value after `certificate sha256 fingerprint: ` on stdout, if printed
    /// before the ready line.
    pub fn fingerprint(&self) -> Option<String> {
        self.stdout.iter().find_map(|l| {
            l.trim()
                .strip_prefix("certificate sha256 fingerprint:")
                .map(|v| v.trim().to_string())
        })
    }

    /// The trimmed rest of the first stdout line starting with `prefix`,
    /// waiting up to `within` for it if it has not been printed yet.
    pub fn wait_for_line(&self, prefix: &str, within: Duration) -> Option<String> {
        let find = |lines: &[String]| {
            lines
                .iter()
                .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
        };
        if let Some(v) = find(&self.stdout) {
            return Some(v);
        }
        let mut seen = self.later_seen.lock().unwrap();
        if let Some(v) = find(&seen) {
            return Some(v);
        }
        let rx = self.later.lock().unwrap();
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let hit = find(std::slice::from_ref(&line));
                    seen.push(line);
                    if hit.is_some() {
                        return hit;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// The first integration's token on an empty database. With stdout not a
    /// terminal (always so here) the server writes it to a file and prints
    /// `token file: PATH`; this reads that file.
    pub fn first_token(&self, within: Duration) -> Option<String> {
        let path = self.wait_for_line("token file:", within)?;
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading the token file {path}: {e}"));
        Some(text.trim().to_string())
    }

    /// Everything the server has logged to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends SIGTERM, waits (bounded) for the process to exit, and returns its
    /// status and every line it printed on stdout.
    pub fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + EXIT_DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("scimd serve did not exit within 15 s of SIGTERM");
            }
            thread::sleep(Duration::from_millis(20));
        };
        let mut all = std::mem::take(&mut self.stdout);
        all.append(&mut *self.later_seen.lock().unwrap());
        let rx = self.later.lock().unwrap();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
            all.push(line);
        }
        (status, all)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A response, read completely.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
    /// The body parsed as JSON, or `Value::Null` when empty or not JSON.
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status, with the body in the failure message.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Resp {
        assert_eq!(
            self.status, status,
            "expected HTTP {status}, got {}; body: {}",
            self.status, self.text
        );
        self
    }

    /// Asserts an RFC 7644 §3.12 error body with this status (and scimType, if given).
    #[track_caller]
    pub fn expect_error(&self, status: u16, scim_type: Option<&str>) -> &Resp {
        self.expect(status);
        assert_eq!(
            self.body["schemas"],
            serde_json::json!([SCIM_ERROR]),
            "error schemas; body: {}",
            self.text
        );
        assert_eq!(
            self.body["status"],
            Value::String(status.to_string()),
            "error status must be a string; body: {}",
            self.text
        );
        let detail = self.body["detail"].as_str().unwrap_or("");
        assert!(
            !detail.trim().is_empty(),
            "error detail empty; body: {}",
            self.text
        );
        if let Some(t) = scim_type {
            assert_eq!(
                self.body["scimType"].as_str(),
                Some(t),
                "scimType; body: {}",
                self.text
            );
        }
        self
    }

    pub fn detail(&self) -> String {
        self.body["detail"].as_str().unwrap_or("").to_string()
    }
}

/// A started server with one integration created through the CLI before it
/// started. Field order matters: the process is killed before the directory
/// is removed.
pub struct TestServer {
    serve: Option<Serve>,
    pub dir: TestDir,
    /// The integration created before `serve` started.
    pub integration: Integration,
    agent: ureq::Agent,
}

/// An HTTPS client that accepts the self-signed certificate and returns 4xx
/// and 5xx as responses. It opens a fresh connection per request: whether a
/// kept-alive connection stays usable after a refused request is checked
/// explicitly (`errors::early_refusal_*`), not left to chance in every test.
pub fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(true)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections(0)
        .max_idle_connections_per_host(0)
        .build()
        .new_agent()
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(&[], &[])
    }

    /// Starts with extra `serve` flags and environment variables.
    pub fn start_with(extra: &[&str], envs: &[(&str, &str)]) -> TestServer {
        let dir = TestDir::new();
        let integration = dir.create_integration("primary");
        let serve = Serve::spawn(&dir, extra, envs);
        TestServer {
            serve: Some(serve),
            dir,
            integration,
            agent: agent(),
        }
    }

    pub fn serve(&self) -> &Serve {
        self.serve.as_ref().expect("server running")
    }

    pub fn url(&self) -> &str {
        &self.serve().url
    }

    /// SIGTERMs the server, waits for it to exit (whatever its status: that is
    /// `lifecycle::sigterm_*`'s business), and starts it again on the same
    /// database. Returns the old process's exit status.
    pub fn restart(&mut self) -> ExitStatus {
        let status = self.stop();
        self.serve = Some(Serve::spawn(&self.dir, &[], &[]));
        status
    }

    /// SIGTERMs the server and waits for it to exit.
    pub fn stop(&mut self) -> ExitStatus {
        let old = self.serve.take().expect("server running");
        old.terminate().0
    }

    /// Path of `rest` under the primary integration's base.
    pub fn scim(&self, rest: &str) -> String {
        self.integration.path(rest)
    }

    /// See [`TestDir::advance_clock`].
    pub fn advance_clock(&self, by: Duration) {
        self.dir.advance_clock(by);
    }

    /// The primary integration's token.
    pub fn token(&self) -> &str {
        &self.integration.token
    }

    pub fn scimd(&self, args: &[&str]) -> Output {
        self.dir.scimd(args)
    }

    pub fn scimd_json(&self, args: &[&str]) -> Value {
        self.dir.scimd_json(args)
    }

    /// Runs the CLI and asserts exit 0.
    pub fn scimd_ok(&self, args: &[&str]) -> Output {
        let out = self.dir.scimd(args);
        assert_success(&out, args);
        out
    }

    pub fn create_integration(&self, name: &str) -> Integration {
        self.dir.create_integration(name)
    }

    fn bearer(token: &str) -> (String, String) {
        ("Authorization".to_string(), format!("Bearer {token}"))
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        let (k, v) = Self::bearer(token);
        self.raw("GET", path, &[(&k, &v)], None)
    }

    pub fn delete(&self, path: &str, token: &str) -> Resp {
        let (k, v) = Self::bearer(token);
        self.raw("DELETE", path, &[(&k, &v)], None)
    }

    pub fn post_json(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json("POST", path, token, body)
    }

    pub fn put_json(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json("PUT", path, token, body)
    }

    pub fn send_json(&self, method: &str, path: &str, token: &str, body: &Value) -> Resp {
        let (k, v) = Self::bearer(token);
        let bytes = serde_json::to_vec(body).expect("serialize body");
        self.raw(
            method,
            path,
            &[(&k, &v), ("Content-Type", "application/scim+json")],
            Some(&bytes),
        )
    }

    /// Any request: `path` is from the server root (`/scim/…`).
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        request(&self.agent, self.url(), method, path, headers, body)
    }

    /// POSTs a user to the primary integration, asserts 201, returns the body.
    pub fn create_user(&self, body: &Value) -> Value {
        let resp = self.post_json(&self.scim("/Users"), self.token(), body);
        resp.expect(201);
        resp.body
    }
}

/// Sends one request through `agent` to `base_url` + `path`.
pub fn request(
    agent: &ureq::Agent,
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let url = format!("{base_url}{path}");
    let mut builder = http::Request::builder().method(method).uri(&url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let result = match body {
        Some(bytes) => agent.run(builder.body(bytes.to_vec()).expect("build request")),
        None => agent.run(builder.body(()).expect("build request")),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: transport error: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .unwrap_or_else(|e| panic!("{method} {url}: reading body: {e}"));
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

/// A minimal valid user body.
pub fn user(user_name: &str) -> Value {
    serde_json::json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
    })
}

/// Polls `f` until it returns true or `within` elapses; returns whether it did.
/// For waiting on time-based behaviour (token expiry), never for readiness.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// A loose RFC 3339 date-time check: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let date_time = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && (b[10] == b'T' || b[10] == b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    let zone = s.ends_with('Z')
        || s.ends_with('z')
        || (b.len() >= 25
            && (b[b.len() - 6] == b'+' || b[b.len() - 6] == b'-')
            && b[b.len() - 3] == b':');
    date_time && zone
}
