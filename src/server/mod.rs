//! `scimd serve`: the HTTPS edge. Opens the domain, prepares TLS, creates a
//! first integration on an empty database, binds, prints the ready line
//! (and tells systemd READY=1) and serves until SIGTERM/SIGINT. SIGHUP
//! reloads the TLS certificate files. Here live the listener and connection
//! bounds, routing, authentication and admission, the operational endpoints
//! (`/healthz`, `/metrics`), and the HTTP face of each endpoint (projection,
//! ETag headers, status codes). Alongside: the refusal and push-status
//! flushers (`rejections`, `pushes`), WAL checkpoints (run by the domain),
//! webhook delivery (`crate::delivery`) and, with `--metrics-listen`, a
//! metrics-only listener.
//!
//! May import `domain/` (every read and change goes through it), `scim/`,
//! and plain types of `store/` (records, errors, the audit actor); never
//! SQL, nor the SQLite driver.

pub mod access_log;
pub mod admission;
pub mod auth;
pub mod bulk;
pub mod conns;
pub mod ctx;
pub mod discovery;
pub mod encoding;
pub mod groups;
pub mod handler;
pub mod http;
pub mod listener;
pub mod netaddr;
pub mod notify;
pub mod observe;
pub mod pushes;
pub mod query;
pub mod rejections;
pub mod resources;
pub mod router;
pub mod search;
pub mod socket;
pub mod state;
pub mod tls;
pub mod users;

use crate::domain::admin::Setup;
use crate::domain::Domain;
use crate::store;
use state::{AppState, Limits};
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub enum TlsMode {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned,
    Insecure,
}

pub struct ServeOptions {
    pub listen: SocketAddr,
    pub tls: TlsMode,
    pub public_url: Option<String>,
    pub limits: Limits,
    pub readers: usize,
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<netaddr::Cidr>,
    /// `--metrics-token-file`: enables /metrics on the main listener.
    pub metrics_token_file: Option<PathBuf>,
    /// `--metrics-listen`: a separate plain-HTTP listener for /metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// `--no-checkpoint`: no periodic WAL checkpoints.
    pub checkpoints: bool,
    /// `--request-log N`: requests logged per integration (0: none).
    pub request_log: usize,
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

pub fn serve(db: &Path, opts: ServeOptions) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(serve_async(db, opts))
}

async fn serve_async(db: &Path, opts: ServeOptions) -> Result<(), String> {
    // Held until serving ends: tells `scimd restore` (and a second `serve`)
    // that this database is in use.
    let lock_path = store::maintenance::lock_path(db);
    // Without this the first complaint would be about the lock file, a
    // name the operator never chose.
    let parent = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(format!(
            "cannot open {}: the directory {} does not exist",
            db.display(),
            parent.display()
        ));
    }
    let _lock = store::maintenance::try_lock(db)
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?
        .ok_or_else(|| {
            format!(
                "another scimd serve or restore is using {} (it holds {})",
                db.display(),
                lock_path.display()
            )
        })?;
    // Setup runs once before serving, on this thread: blocking here is fine.
    let setup = Setup::open(db)?;
    let setup_checked = setup.checked();
    let metrics_token = opts
        .metrics_token_file
        .as_deref()
        .map(observe::MetricsToken::from_file)
        .transpose()?;
    let (acceptor, scheme) = match &opts.tls {
        TlsMode::Insecure => {
            tracing::warn!("serving plain HTTP (--insecure-http): put a TLS proxy in front of it");
            (None, "http")
        }
        mode => {
            let loaded = match mode {
                TlsMode::Files { cert, key } => tls::from_files(cert, key)?,
                _ => {
                    let extra = vec![opts.listen.ip().to_string()];
                    tls::self_signed(&setup, &extra)?
                }
            };
            say(&format!(
                "certificate sha256 fingerprint: {}",
                loaded.fingerprint
            ));
            let files = match mode {
                TlsMode::Files { cert, key } => Some((cert.clone(), key.clone())),
                _ => None,
            };
            (
                Some(Arc::new(tls::Reloadable::new(loaded.config, files))),
                "https",
            )
        }
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    let metrics_listener = match opts.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} for metrics: {e}"))?,
        ),
        None => None,
    };
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let origin = opts
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("{scheme}://{local}"));
    first_integration(&setup, &origin, db)?;
    drop(setup);

    let domain = Domain::open(db, opts.readers).map_err(|e| e.to_string())?;
    let state = Arc::new(AppState {
        domain,
        limits: opts.limits,
        public_url: opts.public_url,
        scheme,
        trusted_proxies: opts.trusted_proxies,
        guard: admission::guard::Guard::default(),
        rejections: rejections::Rejections::default(),
        pushes: pushes::Pushes::new(opts.request_log),
        member_renders: tokio::sync::Semaphore::new(1),
        metrics_token,
    });
    let shutdown = shutdown_signal()?;
    watch_reload(acceptor.clone())?;
    let (stop_flush, flush_stopped) = tokio::sync::watch::channel(false);
    let flusher = tokio::spawn(admission::flush_rejections(
        state.clone(),
        flush_stopped.clone(),
    ));
    // Webhook deliveries, including those left pending by an earlier run.
    tokio::spawn(crate::delivery::run(
        state.domain.clone(),
        flush_stopped.clone(),
    ));
    let push_flusher = tokio::spawn(pushes::flush(state.clone(), flush_stopped.clone()));
    tokio::spawn(crate::domain::housekeeping::statistics(
        state.domain.clone(),
    ));
    if !setup_checked {
        // A damaged file is refused like at start-up, only later: say so
        // once and stop, rather than serve answers read from bad pages.
        let domain = state.domain.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::domain::housekeeping::verify(domain).await {
                tracing::error!("{e}");
                eprintln!("scimd: {e}");
                std::process::exit(1);
            }
        });
    }
    if opts.checkpoints {
        tokio::spawn(crate::domain::housekeeping::checkpoints(
            state.domain.clone(),
            flush_stopped,
        ));
    }
    if let Some(l) = metrics_listener {
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        say(&format!("metrics on http://{addr}/metrics"));
        tokio::spawn(observe::serve_metrics(l, state.clone()));
    }
    say(&format!("listening on {scheme}://{local}"));
    notify::notify("READY=1");
    listener::run(listener, acceptor, state.clone(), shutdown).await;
    // The refusals counted during the drain reach the audit table too.
    let _ = stop_flush.send(true);
    let _ = flusher.await;
    let _ = push_flusher.await;
    // Every job queued before this one has been committed once it answers.
    if let Err(e) = state.domain.drain_writer().await {
        tracing::warn!(error = %e, "the writer did not drain cleanly");
    }
    if opts.checkpoints {
        crate::domain::housekeeping::final_checkpoint(&state.domain).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// SIGHUP: new connections get the certificate and key read again from
/// their files; a pair that does not load keeps the current one. Registered
/// before the ready line, like the stop signals.
fn watch_reload(cell: Option<Arc<tls::Reloadable>>) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(|e| format!("cannot watch SIGHUP: {e}"))?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let Some(cell) = &cell else {
                tracing::info!("SIGHUP: serving plain HTTP, there is no certificate to reload");
                continue;
            };
            match cell.reload() {
                Ok(fingerprint) => {
                    tracing::info!(%fingerprint, "SIGHUP: certificate reloaded; new connections use it");
                    say(&format!(
                        "certificate reloaded, sha256 fingerprint: {fingerprint}"
                    ));
                }
                Err(why) => tracing::warn!("SIGHUP: keeping the current certificate: {why}"),
            }
        }
    });
    Ok(())
}

/// On an empty database, create an integration so a newcomer has an endpoint
/// and a token at once. The token is shown this one time: on a terminal it is
/// printed; otherwise stdout is a log (under systemd, the journal, readable by
/// more people and kept for long), so it goes to a 0600 file beside the
/// database and only that file's path is printed.
fn first_integration(setup: &Setup, origin: &str, db: &Path) -> Result<(), String> {
    let created = setup.first_integration().map_err(|e| e.to_string())?;
    if let Some((id, token)) = created {
        say(&format!(
            "created integration {id} (default) on this empty database"
        ));
        say(&format!("endpoint: {origin}/scim/{id}"));
        if std::io::stdout().is_terminal() {
            say(&format!("token: {token}"));
            say("(the token is shown only now; `scimd token rotate ID` issues a new one)");
        } else {
            let path = first_token_path(db);
            write_secret(&path, &token)?;
            say(&format!("token file: {}", path.display()));
            say("(stdout is not a terminal, so the token is in that file, readable by this user only: read it, then delete the file)");
        }
    }
    Ok(())
}

/// `<db>.first-token`: where the first token goes when stdout is not a terminal.
pub fn first_token_path(db: &Path) -> PathBuf {
    store::connection::sidecar(db, ".first-token")
}

fn write_secret(path: &Path, secret: &str) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(failed)?;
    // A file left from an earlier empty database keeps its old mode on open.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(failed)?;
    writeln!(f, "{secret}")
        .and_then(|_| f.sync_all())
        .map_err(failed)
}

/// Registers the SIGTERM/SIGINT handlers now, so a signal that arrives
/// right after the ready line is already a graceful stop and not a kill.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        notify::notify("STOPPING=1");
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
    })
}
