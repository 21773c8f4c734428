//! Webhooks on the wire: a receiver on 127.0.0.1 (a plain std TcpListener
//! answering scripted statuses) gets what `scimd serve` delivers, and checks
//! each Standard Webhooks signature with the secret `webhook add` printed.
//! Backoff is stepped over with the harness's clock, never slept through.

use crate::harness::{agent, request, user, Serve, TestDir, TestServer};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::mpsc::{self, Receiver as Rx};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// How long a delivery may take to arrive: the task polls every 500 ms.
const ARRIVAL: Duration = Duration::from_secs(20);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
    /// The status it was answered with.
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Whether `webhook-signature` is the HMAC of `id.timestamp.body` under
    /// the `whsec_…` secret, computed here independently of scimd.
    fn signed_with(&self, secret: &str) -> bool {
        let key_bytes = STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .expect("the secret is base64");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key_bytes);
        let signed = format!(
            "{}.{}.{}",
            self.header("webhook-id"),
            self.header("webhook-timestamp"),
            self.body
        );
        let expected = STANDARD.encode(ring::hmac::sign(&key, signed.as_bytes()).as_ref());
        self.header("webhook-signature")
            .split(' ')
            .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
    }
}

/// A receiver on 127.0.0.1:0 answering `script` in order, then the status
/// last set with [`Receiver::answer`] (200 at first).
struct Receiver {
    scheme: &'static str,
    port: u16,
    got: Rx<Received>,
    stop: Arc<AtomicBool>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        Self::start_with(script, None)
    }

    /// A receiver speaking HTTPS with `tls`'s certificate.
    fn start_tls(script: &[u16], tls: Arc<rustls::ServerConfig>) -> Receiver {
        Self::start_with(script, Some(tls))
    }

    fn start_with(script: &[u16], tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let (tx, got) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut script: VecDeque<u16> = script.iter().copied().collect();
        let stop2 = stop.clone();
        let status = Arc::new(AtomicU16::new(200));
        let status2 = status.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                if conn
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .is_err()
                {
                    continue;
                }
                let status = script
                    .front()
                    .copied()
                    .unwrap_or_else(|| status2.load(Ordering::SeqCst));
                let served = match &tls {
                    None => serve_one(conn, status),
                    Some(config) => {
                        let Ok(session) = rustls::ServerConnection::new(config.clone()) else {
                            continue;
                        };
                        serve_one(rustls::StreamOwned::new(session, conn), status)
                    }
                };
                // Only a request that was read uses up a scripted status.
                if let Some(r) = served {
                    script.pop_front();
                    if tx.send(r).is_err() {
                        break;
                    }
                }
            }
        });
        Receiver {
            scheme,
            port,
            got,
            stop,
            status,
        }
    }

    /// Answers `status` from now on (once the script is used up).
    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// The next request answered `status`, skipping others (retries that
    /// were refused before the answer changed).
    fn next_answered(&self, status: u16) -> Received {
        loop {
            let r = self.next();
            if r.answered == status {
                return r;
            }
        }
    }

    fn url(&self) -> String {
        format!("{}://127.0.0.1:{}/hook", self.scheme, self.port)
    }

    fn next(&self) -> Received {
        self.got
            .recv_timeout(ARRIVAL)
            .expect("a webhook delivery within 20 s")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so its thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Reads one HTTP/1.1 request and answers `status` with an empty body.
fn serve_one<S: Read + Write>(mut conn: S, status: u16) -> Option<Received> {
    let mut reader = BufReader::new(&mut conn);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).ok()?;
    drop(reader);
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    let _ = conn.flush();
    Some(Received {
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: status,
    })
}

/// A certificate for 127.0.0.1, signed by itself: (its PEM, a server
/// config presenting it).
fn self_signed_receiver_tls() -> (String, Arc<rustls::ServerConfig>) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])
        .expect("generate a certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .expect("server certificate");
    (made.cert.pem(), Arc::new(config))
}

/// `webhook add ID URL EXTRA… --json`: (hook id, secret).
fn add_hook(s: &TestServer, url: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["webhook", "add", &s.integration.id, url];
    args.extend_from_slice(extra);
    args.push("--json");
    let v = s.scimd_json(&args);
    let id = v["id"].as_str().expect("hook id").to_string();
    let secret = v["secret"].as_str().expect("hook secret").to_string();
    assert!(secret.starts_with("whsec_"), "{v}");
    (id, secret)
}

fn rotate_token(s: &TestServer) {
    s.scimd_ok(&["token", "rotate", &s.integration.id, "--json"]);
}

/// The deliveries `webhook deliveries ID --json` lists, newest first.
fn deliveries(s: &TestServer) -> Vec<Value> {
    let v = s.scimd_json(&["webhook", "deliveries", &s.integration.id, "--json"]);
    v.as_array().cloned().unwrap_or_default()
}

/// Waits until the newest delivery reads as `f` says (the delivery task
/// records an attempt just after the receiver answers it).
fn newest_delivery_becomes(s: &TestServer, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = crate::harness::eventually(ARRIVAL, || {
        last = deliveries(s).first().cloned().unwrap_or(Value::Null);
        f(&last)
    });
    assert!(ok, "the newest delivery never matched; last seen: {last}");
    last
}

#[test]
fn a_token_rotation_delivers_a_signed_token_created_event() {
    let s = TestServer::start();
    let rx = Receiver::start(&[]);
    let (_, secret) = add_hook(&s, &rx.url(), &[]);
    rotate_token(&s);
    let r = rx.next();
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    assert_eq!(body["type"], "platform.scim.token.created", "{body}");
    assert_eq!(body["data"]["integration"], s.integration.id.as_str());
    assert!(body["data"]["prefix"]
        .as_str()
        .is_some_and(|p| p.starts_with("scimd_")));
    assert!(r.header("webhook-id").starts_with("msg_"), "{r:?}");
    assert!(
        r.header("webhook-timestamp").parse::<i64>().is_ok(),
        "{r:?}"
    );
    assert!(r.signed_with(&secret), "signature does not verify: {r:?}");
}

#[test]
fn a_signature_does_not_verify_under_another_hooks_secret() {
    let s = TestServer::start();
    let rx = Receiver::start(&[]);
    add_hook(&s, &rx.url(), &[]);
    let (_, other) = add_hook(&s, "http://127.0.0.1:9/unused", &["--events", "user.*"]);
    rotate_token(&s);
    assert!(!rx.next().signed_with(&other));
}

#[test]
fn a_receiver_failure_is_retried_with_the_same_webhook_id() {
    let s = TestServer::start();
    let rx = Receiver::start(&[]);
    rx.answer(500);
    let (_, secret) = add_hook(&s, &rx.url(), &["--events", "token.*"]);
    rotate_token(&s);
    let first = rx.next();
    assert_eq!(first.answered, 500);
    let pending = newest_delivery_becomes(&s, |d| d["attempts"].as_u64() >= Some(1));
    assert_eq!(pending["state"], "pending", "{pending}");
    assert_eq!(pending["last_status"], 500, "{pending}");
    rx.answer(200);
    // Retries come after 5 s at first, doubling; step over them instead.
    s.advance_clock(Duration::from_secs(600));
    let second = rx.next_answered(200);
    assert_eq!(second.header("webhook-id"), first.header("webhook-id"));
    assert_eq!(second.body, first.body);
    assert!(second.signed_with(&secret));
    let done = newest_delivery_becomes(&s, |d| d["state"] == "delivered");
    assert!(done["attempts"].as_u64() >= Some(2), "{done}");
}

#[test]
fn a_delivery_pending_at_a_stop_is_delivered_after_the_restart() {
    let mut s = TestServer::start();
    let rx = Receiver::start(&[]);
    rx.answer(503);
    let (_, secret) = add_hook(&s, &rx.url(), &[]);
    rotate_token(&s);
    let first = rx.next();
    assert_eq!(first.answered, 503);
    newest_delivery_becomes(&s, |d| d["attempts"].as_u64() >= Some(1));
    // Still refused up to the stop, so only the new process can deliver it.
    s.restart();
    rx.answer(200);
    s.advance_clock(Duration::from_secs(600));
    let again = rx.next_answered(200);
    assert_eq!(again.header("webhook-id"), first.header("webhook-id"));
    assert!(again.signed_with(&secret));
    newest_delivery_becomes(&s, |d| d["state"] == "delivered");
}

#[test]
fn an_event_made_while_no_server_runs_is_delivered_when_one_starts() {
    let dir = TestDir::new();
    let integration = dir.create_integration("offline");
    let rx = Receiver::start(&[]);
    dir.scimd_json(&["webhook", "add", &integration.id, &rx.url(), "--json"]);
    dir.scimd_json(&["token", "rotate", &integration.id, "--json"]);
    let _serve = Serve::spawn(&dir, &[], &[]);
    assert_eq!(rx.next().json()["type"], "platform.scim.token.created");
}

#[test]
fn the_pin_is_sent_only_to_a_hook_added_with_include_pin() {
    let s = TestServer::start();
    s.scimd_ok(&["integration", "set", &s.integration.id, "--pin-digits", "6"]);
    let with = Receiver::start(&[]);
    let without = Receiver::start(&[]);
    add_hook(&s, &with.url(), &["--events", "user.*", "--include-pin"]);
    add_hook(&s, &without.url(), &["--events", "platform.scim.user.*"]);
    let created = s.create_user(&user("pin.holder"));
    let a = with.next().json();
    let b = without.next().json();
    assert_eq!(a["type"], "platform.scim.user.created");
    assert_eq!(a["data"]["id"], created["id"]);
    let pin = a["data"]["pin"].as_str().unwrap_or("");
    assert_eq!(pin.len(), 6, "{a}");
    assert_eq!(b["data"]["id"], created["id"]);
    assert!(b["data"].get("pin").is_none(), "{b}");
}

#[test]
fn a_hook_receives_only_the_events_its_patterns_name() {
    let s = TestServer::start();
    let rx = Receiver::start(&[]);
    add_hook(&s, &rx.url(), &["--events", "token.*"]);
    s.create_user(&user("not.for.this.hook"));
    rotate_token(&s);
    assert_eq!(rx.next().json()["type"], "platform.scim.token.created");
    // Both changes wrote their deliveries in their own transactions, before
    // the one that arrived: a user event owed would be listed by now.
    let types: Vec<Value> = deliveries(&s).iter().map(|d| d["type"].clone()).collect();
    assert_eq!(types, vec!["platform.scim.token.created"]);
}

#[test]
fn webhook_test_sends_a_signed_test_event_and_prints_the_status() {
    let s = TestServer::start();
    let rx = Receiver::start(&[]);
    let (hook, secret) = add_hook(&s, &rx.url(), &[]);
    let out = s.scimd_ok(&["webhook", "test", &s.integration.id, &hook]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("HTTP 200"));
    let r = rx.next();
    assert_eq!(r.json()["type"], "platform.scim.test");
    assert!(r.signed_with(&secret));
}

#[test]
fn webhook_test_fails_when_the_receiver_refuses() {
    let s = TestServer::start();
    let rx = Receiver::start(&[500]);
    let (hook, _) = add_hook(&s, &rx.url(), &[]);
    let out = s.scimd(&["webhook", "test", &s.integration.id, &hook]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 500"));
}

#[test]
fn webhook_add_refuses_an_event_pattern_that_matches_nothing() {
    let s = TestServer::start();
    let out = s.scimd(&[
        "webhook",
        "add",
        &s.integration.id,
        "https://example.com/hook",
        "--events",
        "usr.*",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("usr.*"));
}

#[test]
fn webhook_add_refuses_a_url_that_is_not_http() {
    let s = TestServer::start();
    let out = s.scimd(&["webhook", "add", &s.integration.id, "ftp://example.com/"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("https://"));
}

#[test]
fn webhook_list_shows_hooks_but_never_their_secrets() {
    let s = TestServer::start();
    let (hook, secret) = add_hook(&s, "https://example.com/hook", &["--include-pin"]);
    let listed = s.scimd_json(&["webhook", "list", &s.integration.id, "--json"]);
    assert_eq!(listed[0]["id"], hook.as_str());
    assert_eq!(listed[0]["include_pin"], true);
    let text = String::from_utf8_lossy(&s.scimd_ok(&["webhook", "list", &s.integration.id]).stdout)
        .into_owned();
    let secret_part = secret.trim_start_matches("whsec_");
    assert!(!listed.to_string().contains(secret_part));
    assert!(!text.contains(secret_part));
}

#[test]
fn a_removed_hook_is_owed_nothing_more() {
    let s = TestServer::start();
    let rx = Receiver::start(&[]);
    let (gone, _) = add_hook(&s, "http://127.0.0.1:9/gone", &[]);
    add_hook(&s, &rx.url(), &[]);
    s.scimd_ok(&["webhook", "remove", &s.integration.id, &gone]);
    rotate_token(&s);
    rx.next();
    let owed: Vec<Value> = deliveries(&s)
        .into_iter()
        .filter(|d| d["webhook"] == gone.as_str())
        .collect();
    assert!(owed.is_empty(), "{owed:?}");
}

#[test]
fn an_https_receiver_is_trusted_through_the_hooks_ca_file() {
    let s = TestServer::start();
    let (pem, tls) = self_signed_receiver_tls();
    let ca = s.dir.path().join("receiver-ca.pem");
    std::fs::write(&ca, pem).expect("write the CA file");
    let rx = Receiver::start_tls(&[], tls);
    let ca = ca.to_string_lossy().into_owned();
    let (_, secret) = add_hook(&s, &rx.url(), &["--ca-file", &ca]);
    rotate_token(&s);
    let r = rx.next();
    assert_eq!(r.json()["type"], "platform.scim.token.created");
    assert!(r.signed_with(&secret));
}

#[test]
fn an_https_receiver_outside_the_trusted_roots_gets_nothing() {
    let s = TestServer::start();
    let (_, tls) = self_signed_receiver_tls();
    let rx = Receiver::start_tls(&[], tls);
    add_hook(&s, &rx.url(), &[]);
    rotate_token(&s);
    let d = newest_delivery_becomes(&s, |d| d["attempts"].as_u64() >= Some(1));
    assert_eq!(d["state"], "pending", "{d}");
    assert!(d["last_status"].is_null(), "{d}");
    let why = d["last_error"].as_str().unwrap_or("");
    assert!(why.contains("certificate"), "{d}");
    assert!(rx.got.try_recv().is_err(), "no request may reach it");
}

#[test]
fn a_delivery_still_refused_after_24_hours_is_marked_failed() {
    let s = TestServer::start();
    let rx = Receiver::start(&[]);
    rx.answer(500);
    add_hook(&s, &rx.url(), &[]);
    rotate_token(&s);
    rx.next();
    newest_delivery_becomes(&s, |d| d["attempts"].as_u64() >= Some(1));
    s.advance_clock(Duration::from_secs(25 * 3600));
    let failed = newest_delivery_becomes(&s, |d| d["state"] == "failed");
    assert!(failed["attempts"].as_u64() >= Some(2), "{failed}");
    let listed = s.scimd_json(&[
        "webhook",
        "deliveries",
        &s.integration.id,
        "--failed",
        "--json",
    ]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
}

#[test]
fn metrics_count_the_deliveries_still_pending() {
    let s = TestServer::start_with(&["--metrics-listen", "127.0.0.1:0"], &[]);
    let url = s
        .serve()
        .wait_for_line("metrics on", Duration::from_secs(5))
        .expect("a `metrics on URL` line");
    let base = url.trim_end_matches("/metrics").to_string();
    let backlog = || {
        let text = request(&agent(), &base, "GET", "/metrics", &[], None).text;
        text.lines()
            .find_map(|l| l.strip_prefix("scimd_webhook_backlog "))
            .map(str::to_string)
    };
    let rx = Receiver::start(&[]);
    rx.answer(500);
    add_hook(&s, &rx.url(), &[]);
    rotate_token(&s);
    rx.next();
    // Counted every 5 s by the delivery task.
    assert!(
        crate::harness::eventually(ARRIVAL, || backlog().as_deref() == Some("1")),
        "backlog: {:?}",
        backlog()
    );
    // Past the retry window the delivery fails and leaves the backlog.
    s.advance_clock(Duration::from_secs(25 * 3600));
    assert!(
        crate::harness::eventually(ARRIVAL, || backlog().as_deref() == Some("0")),
        "backlog: {:?}",
        backlog()
    );
}
