//! The operational endpoints, outside every integration: `GET /healthz`
//! (no authentication; 200 when the store answers a read, else 503) and
//! `GET /metrics` (Prometheus text; on the main listener only with the
//! metrics token, or on its own plain-HTTP `--metrics-listen` address without
//! one). They are matched before the SCIM path split, so they never touch an
//! integration's limits or audit.

use super::http::Body;
use super::state::AppState;
use crate::metrics::{self, Gauges};
use crate::scim::error::ScimError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Response, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// A store that has not answered by then is reported unhealthy.
const HEALTH_DEADLINE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    Health,
    Metrics,
}

impl Probe {
    /// The route template used in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Probe::Health => "healthz",
            Probe::Metrics => "metrics",
        }
    }
}

/// `/healthz` and `/metrics` (GET or HEAD); anything else is for the router.
pub fn route(method: &Method, path: &str) -> Option<Probe> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    match path.trim_end_matches('/') {
        "/healthz" => Some(Probe::Health),
        "/metrics" => Some(Probe::Metrics),
        _ => None,
    }
}

/// The metrics token as kept in memory: only its SHA-256, so the comparison
/// below takes the same time whatever the presented token's length.
#[derive(Clone)]
pub struct MetricsToken([u8; 32]);

impl MetricsToken {
    /// Reads `--metrics-token-file`: the token is the file's trimmed text.
    pub fn from_file(path: &std::path::Path) -> Result<MetricsToken, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the metrics token file {}: {e}", path.display()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!(
                "the metrics token file {} is empty",
                path.display()
            ));
        }
        Ok(MetricsToken(Sha256::digest(token.as_bytes()).into()))
    }

    pub fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&self.0, &digest)
    }
}

/// Equality of two digests without an early exit on the first difference.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

pub async fn answer(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    probe: Probe,
) -> Result<Response<Body>, ScimError> {
    match probe {
        Probe::Health => Ok(health(state).await),
        Probe::Metrics => {
            let Some(token) = &state.metrics_token else {
                return Err(ScimError::not_found(
                    "/metrics is off on this listener: start serve with --metrics-token-file or --metrics-listen",
                ));
            };
            let presented = super::auth::bearer(headers).unwrap_or("");
            if !token.accepts(presented) {
                return Err(ScimError::unauthorized(
                    "missing or wrong metrics token (the one in --metrics-token-file)",
                ));
            }
            Ok(metrics_response(state))
        }
    }
}

async fn health(state: &Arc<AppState>) -> Response<Body> {
    let read = state.domain.ping();
    let (status, body) = match tokio::time::timeout(HEALTH_DEADLINE, read).await {
        Ok(Ok(_)) => (StatusCode::OK, r#"{"status":"ok"}"#.to_string()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: the store did not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"unavailable"}"#.to_string(),
            )
        }
        Err(_) => {
            tracing::warn!("health check: the store did not answer within {HEALTH_DEADLINE:?}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"unavailable"}"#.to_string(),
            )
        }
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub fn metrics_response(state: &AppState) -> Response<Body> {
    let writer = state.domain.writer_stats();
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let gauges = Gauges {
        writer_queue: writer.queue_depth(),
        writer_batches: writer.batches(),
        writer_jobs: writer.jobs(),
        writer_last_batch: writer.last_batch(),
        writer_batch_sizes: writer.batch_size_buckets(),
        database_bytes: size(state.domain.path()),
        wal_bytes: size(&crate::store::connection::sidecar(
            state.domain.path(),
            "-wal",
        )),
    };
    let text = metrics::global().render(&gauges);
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// `--metrics-listen`: plain HTTP/1.1 answering `GET /metrics` and nothing
/// else, for a scraper on a private network or localhost. Runs until the
/// process ends.
pub async fn serve_metrics(listener: tokio::net::TcpListener, state: Arc<AppState>) {
    use hyper::server::conn::http1;
    use hyper_util::rt::{TokioIo, TokioTimer};
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    async move {
                        let resp = match route(req.method(), req.uri().path()) {
                            Some(Probe::Metrics) => metrics_response(&state),
                            _ => {
                                let mut r = Response::new(Full::new(Bytes::from_static(
                                    b"only /metrics here\n",
                                )));
                                *r.status_mut() = StatusCode::NOT_FOUND;
                                r
                            }
                        };
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthz_and_metrics_are_routed_for_get_and_head_only() {
        assert_eq!(route(&Method::GET, "/healthz"), Some(Probe::Health));
        assert_eq!(route(&Method::HEAD, "/metrics"), Some(Probe::Metrics));
        assert_eq!(route(&Method::POST, "/healthz"), None);
        assert_eq!(route(&Method::GET, "/scim/healthz"), None);
    }

    fn state_on(path: std::path::PathBuf) -> Arc<AppState> {
        let domain = crate::domain::Domain::for_tests(&path).unwrap();
        Arc::new(AppState {
            domain,
            limits: super::super::state::Limits::default(),
            public_url: None,
            scheme: "https",
            trusted_proxies: Vec::new(),
            guard: Default::default(),
            rejections: Default::default(),
            pushes: super::super::pushes::Pushes::new(0),
            member_renders: tokio::sync::Semaphore::new(1),
            metrics_token: None,
        })
    }

    fn health_status(state: &Arc<AppState>) -> StatusCode {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(health(state)).status()
    }

    #[test]
    fn healthz_is_200_when_the_database_answers() {
        let dir = std::env::temp_dir().join(format!("scimd-health-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("scimd.db");
        crate::store::migrate::apply(&crate::store::connection::open_write(&db).unwrap()).unwrap();
        let status = health_status(&state_on(db));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(status, StatusCode::OK);
    }

    #[test]
    fn healthz_is_503_when_the_database_cannot_be_read() {
        let missing = std::env::temp_dir().join("scimd-health-missing/nowhere/scimd.db");
        assert_eq!(
            health_status(&state_on(missing)),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn the_metrics_token_accepts_only_itself() {
        let dir = std::env::temp_dir().join(format!("scimd-mt-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let token = MetricsToken::from_file(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert!(token.accepts("s3cret"));
        assert!(!token.accepts("s3cre"));
        assert!(!token.accepts(""));
    }
}
