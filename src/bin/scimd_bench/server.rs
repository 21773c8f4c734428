//! Starts the real `scimd serve` next to the benchmark's own executable on
//! 127.0.0.1:0 and waits for its ready line — no fixed port, no sleep. The
//! server's log goes to a file beside the database so it cannot disturb the
//! table, and is quoted if the server dies early. Dropping the handle kills
//! the child.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const READY_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub fingerprint: String,
    pub log: PathBuf,
    /// On an empty database: the integration `serve` created, and its token.
    pub first_integration: Option<(String, String)>,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scimd` is built into the same target directory as this benchmark.
pub fn scimd_binary() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own executable: {e}"))?;
    let dir = me
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", me.display()))?;
    let path = dir.join(format!("scimd{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found: build it first (cargo build --release --bin scimd)",
            path.display()
        ))
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub fn start(db: &Path) -> Result<Server, String> {
    start_with(db, None, &[])
}

/// `start` with another server binary (None: the one beside this
/// benchmark) and extra `serve` arguments.
pub fn start_with(db: &Path, binary: Option<&Path>, extra: &[String]) -> Result<Server, String> {
    let binary = match binary {
        Some(b) => b.to_path_buf(),
        None => scimd_binary()?,
    };
    let log = db.with_extension("server.log");
    let log_file =
        std::fs::File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut child = Command::new(&binary)
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| "the server's stdout was not captured".to_string())?;

    // A thread reads stdout for the whole run: it forwards lines until the
    // ready line, then keeps draining so the server never blocks on a full
    // pipe.
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });

    let mut server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        fingerprint: String::new(),
        log,
        first_integration: None,
    };
    let mut first_id = None;
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the server printed no ready line within {}s; its log:\n{}",
                    READY_TIMEOUT.as_secs(),
                    log_tail(&server.log)
                ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = server.child.wait();
                return Err(format!(
                    "the server exited before it was ready; its log:\n{}",
                    log_tail(&server.log)
                ));
            }
        };
        if let Some(rest) = line.strip_prefix("created integration ") {
            first_id = rest.split_whitespace().next().map(str::to_string);
        } else if let Some(token) = line.strip_prefix("token: ") {
            // Servers before the token file printed the token itself.
            server.first_integration = first_id.clone().map(|id| (id, token.trim().to_string()));
        } else if let Some(path) = line.strip_prefix("token file: ") {
            // stdout is a pipe here, so the server wrote the token to a file.
            let token = std::fs::read_to_string(path.trim())
                .map_err(|e| format!("cannot read the token file {}: {e}", path.trim()))?;
            server.first_integration = first_id.clone().map(|id| (id, token.trim().to_string()));
        } else if let Some(f) = line.strip_prefix("certificate sha256 fingerprint: ") {
            server.fingerprint = f.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("listening on https://") {
            server.addr = rest
                .trim()
                .parse()
                .map_err(|e| format!("unreadable ready line '{line}': {e}"))?;
            break;
        } else if line.starts_with("listening on ") {
            return Err(format!("the server is not serving HTTPS: '{line}'"));
        }
    }
    if server.fingerprint.is_empty() {
        return Err("the server did not print its certificate fingerprint".into());
    }
    Ok(server)
}
