//! What an integration's IdP did, seen at the edge: the push status (last
//! request, last successful change, User-Agent, detected IdP, errors
//! answered) and, with `serve --request-log N` (N > 0), the request log.
//! Only authenticated requests count: a stranger naming an integration in a
//! path must not write into its status or push its real requests out of the
//! log (refusals before authentication are in the audit trail instead).
//!
//! Nothing is written per request. Each request updates this module's
//! memory; [`flush`] hands what gathered to the domain every
//! [`FLUSH_EVERY`] as one writer job, after redacting and capping bodies
//! off the async threads. Memory is bounded: at most N requests per
//! integration wait, and bodies beyond [`PENDING_BODY_BYTES`] in all are
//! dropped (the request itself is still logged).
//!
//! The request body is seen where the handlers read it (`http::read_body`)
//! and the authentication outcome in `handler::dispatch`; both report into
//! a task-local [`Capture`] that [`capture`] sets around the dispatch.

use super::state::AppState;
use crate::domain::pushes::PushBatch;
use crate::scim::error::ScimError;
use crate::scim::idp::{self, Hints};
use crate::scim::redact;
use crate::store::request_log::Logged;
use crate::store::status::{PushError, Seen, ERRORS_KEPT};
use bytes::Bytes;
use hyper::Method;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often what gathered reaches the database.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Default `--request-log`: requests kept per integration.
pub const DEFAULT_REQUEST_LOG: usize = 1000;
/// Each body is kept up to this many bytes (after redaction).
pub const BODY_CAP: usize = 64 * 1024;
/// Raw bodies waiting for a flush, over all integrations.
const PENDING_BODY_BYTES: usize = 32 * 1024 * 1024;
/// A User-Agent longer than this is cut: it is only shown to admins.
const USER_AGENT_CAP: usize = 512;

/// What the dispatch of one request reports about itself.
#[derive(Debug, Default)]
pub struct Capture {
    /// Whether to keep the request body (the request log is on).
    pub want_body: bool,
    pub authenticated: bool,
    pub request_body: Option<Bytes>,
}

tokio::task_local! {
    static CAPTURE: Arc<Mutex<Capture>>;
}

/// Runs `fut` (the request's dispatch) with a fresh [`Capture`] and returns
/// its output with what was captured.
pub async fn capture<F: Future>(want_body: bool, fut: F) -> (F::Output, Capture) {
    let cell = Arc::new(Mutex::new(Capture {
        want_body,
        ..Capture::default()
    }));
    let out = CAPTURE.scope(cell.clone(), fut).await;
    let captured = std::mem::take(&mut *cell.lock().unwrap_or_else(|e| e.into_inner()));
    (out, captured)
}

fn with_capture(f: impl FnOnce(&mut Capture)) {
    let _ = CAPTURE.try_with(|cell| f(&mut cell.lock().unwrap_or_else(|e| e.into_inner())));
}

/// The request passed authentication and admission.
pub fn authenticated() {
    with_capture(|c| c.authenticated = true);
}

/// The request body as read (a cheap reference-counted copy).
pub fn request_body(bytes: &Bytes) {
    with_capture(|c| {
        if c.want_body {
            c.request_body = Some(bytes.clone());
        }
    });
}

/// Whether a request of this route that succeeded changed something.
pub fn is_change(route: &str) -> bool {
    ["Create", "Replace", "Patch", "Delete", "Bulk"]
        .iter()
        .any(|p| route.starts_with(p))
}

/// One finished, authenticated request, as the edge knows it.
pub struct Finished<'a> {
    pub integration: &'a str,
    pub request_id: &'a str,
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub route: &'static str,
    pub status: u16,
    pub latency: Duration,
    pub user_agent: Option<&'a str>,
    /// The request headers (empty when the log is off).
    pub headers: hyper::HeaderMap,
    pub failure: Option<&'a ScimError>,
    pub quirks: Vec<&'static str>,
    pub request_body: Option<Bytes>,
    pub response_body: Option<Bytes>,
}

/// A logged request before its headers and bodies are redacted: that work
/// is done at flush time, off the request path, and only for the requests
/// the log keeps.
struct Raw {
    logged: Logged,
    headers: hyper::HeaderMap,
    request_body: Option<Bytes>,
    response_body: Option<Bytes>,
}

#[derive(Default)]
struct Pending {
    seen: HashMap<String, Seen>,
    requests: HashMap<String, VecDeque<Raw>>,
    body_bytes: usize,
}

/// The gathered pushes of a running server.
pub struct Pushes {
    /// Requests kept per integration; 0: the request log is off.
    keep: usize,
    pending: Mutex<Pending>,
}

impl Pushes {
    pub fn new(request_log: usize) -> Pushes {
        Pushes {
            keep: request_log,
            pending: Mutex::default(),
        }
    }

    /// Whether requests are logged (bodies captured, quirks watched).
    pub fn logging(&self) -> bool {
        self.keep > 0
    }

    /// Counts one authenticated request.
    pub fn record(&self, f: Finished<'_>) {
        let time = crate::clock::now_string();
        let path = match f.query {
            Some(q) => format!("{}?{}", f.path, redact::query_for_log(q)),
            None => f.path.to_string(),
        };
        let detected = idp::detect(f.user_agent, Hints { query: f.query });
        let changed = f.status < 300 && is_change(f.route);
        let error = f.failure.map(|e| PushError {
            time: time.clone(),
            request_id: f.request_id.to_string(),
            method: f.method.to_string(),
            path: path.clone(),
            status: e.status,
            scim_type: e.scim_type.map(|t| t.as_str().to_string()),
            detail: e.detail.clone(),
        });
        let raw = self.logging().then(|| Raw {
            logged: Logged {
                seq: 0,
                time: time.clone(),
                request_id: f.request_id.to_string(),
                method: f.method.to_string(),
                path: path.clone(),
                status: f.status,
                latency_ms: (f.latency.as_secs_f64() * 1e6).round() / 1e3,
                quirks: f.quirks.iter().map(|q| q.to_string()).collect(),
                request_headers: serde_json::Value::Null,
                request_body: String::new(),
                response_body: String::new(),
            },
            headers: f.headers,
            request_body: f.request_body,
            response_body: f.response_body,
        });

        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let seen = p
            .seen
            .entry(f.integration.to_string())
            .or_insert_with(|| Seen {
                integration: f.integration.to_string(),
                ..Seen::default()
            });
        seen.last_request = time.clone();
        if changed {
            seen.last_change = Some(time);
        }
        seen.user_agent = f
            .user_agent
            .map(|ua| redact::cap(ua.to_string(), USER_AGENT_CAP));
        seen.idp = detected.map(idp::Idp::as_str);
        if let Some(e) = error {
            seen.errors.push(e);
            let extra = seen.errors.len().saturating_sub(ERRORS_KEPT as usize);
            seen.errors.drain(..extra);
        }
        let Some(mut raw) = raw else { return };
        let size = |r: &Raw| {
            r.request_body.as_ref().map_or(0, Bytes::len)
                + r.response_body.as_ref().map_or(0, Bytes::len)
        };
        if p.body_bytes + size(&raw) > PENDING_BODY_BYTES {
            for (body, slot) in [
                (&mut raw.request_body, &mut raw.logged.request_body),
                (&mut raw.response_body, &mut raw.logged.response_body),
            ] {
                if let Some(b) = body.take() {
                    *slot = format!("[{} bytes not kept: the log's buffer was full]", b.len());
                }
            }
        }
        p.body_bytes += size(&raw);
        let keep = self.keep;
        let queue = p.requests.entry(f.integration.to_string()).or_default();
        queue.push_back(raw);
        let mut freed = 0;
        while queue.len() > keep {
            if let Some(old) = queue.pop_front() {
                freed += size(&old);
            }
        }
        p.body_bytes -= freed;
    }

    /// Takes what gathered since the last call, bodies still raw.
    fn take(&self) -> (Vec<Seen>, Vec<(String, Vec<Raw>)>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.body_bytes = 0;
        let seen = p.seen.drain().map(|(_, s)| s).collect();
        let requests = p
            .requests
            .drain()
            .map(|(id, q)| (id, q.into_iter().collect()))
            .collect();
        (seen, requests)
    }
}

/// Request headers as a JSON object, credentials redacted. Repeated
/// headers are joined with ", ".
fn headers_for_log(headers: &hyper::HeaderMap) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let value = redact::cap(redact::header_for_log(name.as_str(), &value), 1024);
        match out.get_mut(name.as_str()) {
            Some(serde_json::Value::String(s)) => {
                s.push_str(", ");
                s.push_str(&value);
            }
            _ => {
                out.insert(name.as_str().to_string(), value.into());
            }
        }
    }
    serde_json::Value::Object(out)
}

/// Redacts and caps the bodies (CPU work: run off the async threads).
fn finish(raw: Vec<Raw>) -> Vec<Logged> {
    raw.into_iter()
        .map(|r| {
            let mut logged = r.logged;
            logged.request_headers = headers_for_log(&r.headers);
            if let Some(b) = r.request_body {
                logged.request_body = redact::body_for_log(&b, BODY_CAP);
            }
            if let Some(b) = r.response_body {
                logged.response_body = redact::body_for_log(&b, BODY_CAP);
            }
            logged
        })
        .collect()
}

async fn flush_once(state: &AppState) {
    let (seen, raw) = state.pushes.take();
    if seen.is_empty() && raw.is_empty() {
        return;
    }
    let requests = tokio::task::spawn_blocking(move || {
        raw.into_iter()
            .map(|(id, rows)| (id, finish(rows)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    let batch = PushBatch {
        seen,
        requests,
        keep: state.pushes.keep,
    };
    if let Err(e) = state.domain.record_pushes(batch).await {
        tracing::warn!(error = %e, "could not record push status and request log");
    }
}

/// Writes what gathered every [`FLUSH_EVERY`], and once more when `stop`
/// says the server is stopping.
pub async fn flush(state: Arc<AppState>, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => false,
            _ = stop.changed() => true,
        };
        flush_once(&state).await;
        if stopping || *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished<'a>(
        headers: &'a hyper::HeaderMap,
        status: u16,
        route: &'static str,
    ) -> Finished<'a> {
        Finished {
            integration: "int_a",
            request_id: "r1",
            method: &Method::POST,
            path: "/scim/int_a/Users",
            query: None,
            route,
            status,
            latency: Duration::from_millis(3),
            user_agent: Some("Okta SCIM Client 1.0.0"),
            headers: headers.clone(),
            failure: None,
            quirks: vec![],
            request_body: Some(Bytes::from_static(b"{\"password\":\"hunter2\"}")),
            response_body: None,
        }
    }

    #[test]
    fn only_successful_writes_count_as_changes() {
        assert!(is_change("CreateUser"));
        assert!(is_change("PatchGroup"));
        assert!(is_change("Bulk"));
        assert!(!is_change("ListUsers"));
        assert!(!is_change("SearchUsers"));
        let pushes = Pushes::new(10);
        let h = hyper::HeaderMap::new();
        pushes.record(finished(&h, 409, "CreateUser"));
        let (seen, _) = pushes.take();
        assert_eq!(seen[0].last_change, None);
        pushes.record(finished(&h, 201, "CreateUser"));
        let (seen, _) = pushes.take();
        assert!(seen[0].last_change.is_some());
        assert_eq!(seen[0].idp, Some("okta"));
    }

    #[test]
    fn with_the_log_off_no_request_is_kept() {
        let pushes = Pushes::new(0);
        let h = hyper::HeaderMap::new();
        pushes.record(finished(&h, 201, "CreateUser"));
        let (seen, requests) = pushes.take();
        assert_eq!(seen.len(), 1);
        assert!(requests.is_empty());
    }

    #[test]
    fn at_most_the_log_size_waits_per_integration() {
        let pushes = Pushes::new(3);
        let h = hyper::HeaderMap::new();
        for _ in 0..10 {
            pushes.record(finished(&h, 201, "CreateUser"));
        }
        let (_, requests) = pushes.take();
        assert_eq!(requests[0].1.len(), 3);
        assert_eq!(pushes.pending.lock().unwrap().body_bytes, 0);
    }

    #[test]
    fn logged_bodies_and_headers_are_redacted() {
        let pushes = Pushes::new(3);
        let mut h = hyper::HeaderMap::new();
        h.insert("authorization", "Bearer scimd_secret".parse().unwrap());
        pushes.record(finished(&h, 201, "CreateUser"));
        let (_, requests) = pushes.take();
        let logged = finish(requests.into_iter().next().unwrap().1);
        assert!(!logged[0].request_body.contains("hunter2"));
        assert_eq!(
            logged[0].request_headers["authorization"],
            "Bearer [redacted]"
        );
    }
}
