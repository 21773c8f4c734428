//! Operating the server: `/healthz`, `/metrics` (token on the main listener
//! or its own `--metrics-listen`), the per-request log line and its JSON
//! form, systemd readiness notifications, SIGHUP certificate reloads, the
//! warning for unknown `SCIMD_*` variables, and WAL checkpoints when idle.

use crate::harness::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

fn metrics_token_file(dir: &TestDir, token: &str) -> String {
    let path = dir.path().join("metrics.token");
    std::fs::write(&path, format!("{token}\n")).expect("write the metrics token");
    path.display().to_string()
}

/// A server with /metrics on its main listener behind `metrics-secret`. The
/// token file's directory is returned too: it must outlive the server.
fn with_metrics_token() -> (TestServer, TestDir) {
    let dir = TestDir::new();
    let file = metrics_token_file(&dir, "metrics-secret");
    let server = TestServer::start_with(&["--metrics-token-file", &file], &[]);
    (server, dir)
}

fn scrape(server: &TestServer) -> String {
    let resp = server.get("/metrics", "metrics-secret");
    resp.expect(200);
    resp.text.clone()
}

// ---- /healthz ----

#[test]
fn healthz_answers_ok_without_a_token() {
    let server = TestServer::start();
    let resp = server.raw("GET", "/healthz", &[], None);
    resp.expect(200);
    assert_eq!(resp.body, json!({"status": "ok"}));
    assert!(resp.header("x-request-id").is_some());
}

// ---- /metrics ----

#[test]
fn metrics_is_404_when_neither_a_token_nor_a_metrics_listener_is_set() {
    let server = TestServer::start();
    server
        .get("/metrics", server.token())
        .expect_error(404, None);
}

#[test]
fn metrics_on_the_main_listener_needs_the_metrics_token() {
    let (server, _token_dir) = with_metrics_token();
    server
        .raw("GET", "/metrics", &[], None)
        .expect_error(401, None);
    server
        .get("/metrics", server.token())
        .expect_error(401, None);
    let resp = server.get("/metrics", "metrics-secret");
    resp.expect(200);
    assert!(resp
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/plain"));
}

#[test]
fn metrics_count_requests_by_endpoint_method_and_status() {
    let (server, _token_dir) = with_metrics_token();
    let created = server.create_user(&user("counted"));
    let id = created["id"].as_str().expect("id");
    server
        .get(&server.scim(&format!("/Users/{id}")), server.token())
        .expect(200);
    server
        .get(&server.scim("/Users/nope"), server.token())
        .expect(404);
    let text = scrape(&server);
    for line in [
        "scimd_requests_total{endpoint=\"CreateUser\",method=\"POST\",status=\"201\"} 1",
        "scimd_requests_total{endpoint=\"GetUser\",method=\"GET\",status=\"200\"} 1",
        "scimd_requests_total{endpoint=\"GetUser\",method=\"GET\",status=\"404\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
    assert!(
        text.contains("scimd_request_duration_seconds_bucket{le=\"+Inf\"}"),
        "{text}"
    );
}

#[test]
fn metrics_show_writer_database_and_wal_gauges() {
    let (server, _token_dir) = with_metrics_token();
    server.create_user(&user("gauged"));
    let text = scrape(&server);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    assert!(value("scimd_database_bytes") > 0.0);
    assert!(value("scimd_writer_jobs_total") >= 1.0);
    assert!(value("scimd_writer_batches_total") >= 1.0);
    assert_eq!(value("scimd_writer_queue_depth"), 0.0);
    value("scimd_wal_bytes");
    assert_eq!(value("scimd_webhook_backlog"), 0.0);
}

#[test]
fn metrics_show_the_writer_batch_size_distribution() {
    let (server, _token_dir) = with_metrics_token();
    server.create_user(&user("batched"));
    let text = scrape(&server);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    // Cumulative buckets up to the largest batch the writer makes.
    let mut previous = 0.0;
    for le in ["1", "2", "4", "8", "16", "32", "64", "128"] {
        let n = value(&format!("scimd_writer_batch_size_bucket{{le=\"{le}\"}}"));
        assert!(n >= previous, "bucket {le} below the one before:\n{text}");
        previous = n;
    }
    assert!(previous >= 1.0, "the create's batch is counted:\n{text}");
    assert_eq!(
        value("scimd_writer_batch_size_bucket{le=\"+Inf\"}"),
        previous
    );
    assert_eq!(value("scimd_writer_batch_size_count"), previous);
    assert!(value("scimd_writer_batch_size_sum") >= previous);
}

#[test]
fn metrics_count_auth_failures_by_integration() {
    let (server, _token_dir) = with_metrics_token();
    server
        .get(&server.scim("/Users"), "scimd_wrong")
        .expect(401);
    let text = scrape(&server);
    let line = format!(
        "scimd_auth_failures_total{{integration=\"{}\"}} 1",
        server.integration.id
    );
    assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    // The refused request is still named by its route.
    let line = "scimd_requests_total{endpoint=\"ListUsers\",method=\"GET\",status=\"401\"} 1";
    assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
}

#[test]
fn metrics_count_rate_limited_requests_by_integration() {
    let (server, _token_dir) = with_metrics_token();
    let id = server.integration.id.clone();
    server.scimd_ok(&[
        "integration",
        "set",
        &id,
        "--rate-limit",
        "1",
        "--rate-burst",
        "1",
    ]);
    // The running server reads the new limit within a second or so.
    let mut limited = 0;
    let hit = eventually(Duration::from_secs(10), || {
        let status = server.get(&server.scim("/Users"), server.token()).status;
        limited += u32::from(status == 429);
        status == 429
    });
    assert!(hit, "no 429 with --rate-limit 1 --rate-burst 1");
    let text = scrape(&server);
    let line = format!("scimd_rate_limited_total{{integration=\"{id}\"}} {limited}");
    assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
}

#[test]
fn metrics_count_quirks_applied_by_integration() {
    let (server, _token_dir) = with_metrics_token();
    let created = server.create_user(&user("quirky"));
    let id = created["id"].as_str().expect("id");
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Q"}]
    });
    server
        .send_json(
            "PATCH",
            &server.scim(&format!("/Users/{id}")),
            server.token(),
            &patch,
        )
        .expect(200);
    let text = scrape(&server);
    let line = format!(
        "scimd_quirks_applied_total{{integration=\"{}\",quirk=\"op_case\"}} 1",
        server.integration.id
    );
    assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
}

#[test]
fn metrics_listen_serves_metrics_on_plain_http_without_auth() {
    let server = TestServer::start_with(&["--metrics-listen", "127.0.0.1:0"], &[]);
    let url = server
        .serve()
        .wait_for_line("metrics on", Duration::from_secs(5))
        .expect("a `metrics on URL` line");
    let base = url.trim_end_matches("/metrics");
    let resp = request(&agent(), base, "GET", "/metrics", &[], None);
    resp.expect(200);
    assert!(
        resp.text.contains("# TYPE scimd_requests_total counter"),
        "{}",
        resp.text
    );
    request(&agent(), base, "GET", "/healthz", &[], None).expect(404);
    // Without a token file the main listener still keeps /metrics closed.
    server
        .get("/metrics", server.token())
        .expect_error(404, None);
}

// ---- the request log ----

fn request_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.contains("request_id")).collect()
}

#[test]
fn each_request_is_logged_once_with_id_route_status_latency_and_idp() {
    let server = TestServer::start();
    let resp = server.raw(
        "GET",
        &server.scim("/Users"),
        &[
            ("Authorization", &format!("Bearer {}", server.token())),
            ("User-Agent", "Okta SCIM Client 1.0.0"),
        ],
        None,
    );
    resp.expect(200);
    let id = resp
        .header("x-request-id")
        .expect("X-Request-Id")
        .to_string();
    let mut log = String::new();
    let found = eventually(Duration::from_secs(5), || {
        log = server.serve().log();
        log.contains(&id)
    });
    assert!(found, "no log line with request id {id}:\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = lines[0];
    for part in [
        "route=\"ListUsers\"",
        "status=200",
        "method=\"GET\"",
        "idp=\"okta\"",
        "latency_ms=",
    ] {
        let bare = part.replace('"', "");
        assert!(
            line.contains(part) || line.contains(&bare),
            "no {part} in {line}"
        );
    }
    assert!(line.contains(&server.integration.id), "{line}");
}

#[test]
fn the_request_log_never_holds_the_token_or_a_password() {
    let server = TestServer::start();
    let mut body = user("secretive");
    body["password"] = json!("hunter2-password");
    server.create_user(&body);
    server
        .get(&server.scim("/Users"), "scimd_not_a_real_token")
        .expect(401);
    let log = server.serve().log();
    assert!(!request_lines(&log).is_empty(), "no request lines:\n{log}");
    assert!(!log.contains(server.token()), "{log}");
    assert!(!log.contains("scimd_not_a_real_token"), "{log}");
    assert!(!log.contains("hunter2-password"), "{log}");
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let server = TestServer::start_with(&[], &[("SCIMD_LOG_FORMAT", "json")]);
    let resp = server.raw("GET", "/healthz", &[], None);
    let id = resp
        .header("x-request-id")
        .expect("X-Request-Id")
        .to_string();
    let mut log = String::new();
    assert!(eventually(Duration::from_secs(5), || {
        log = server.serve().log();
        log.contains(&id)
    }));
    let mut mine = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["request_id"] == json!(id) {
            mine += 1;
            assert_eq!(v["route"], json!("healthz"), "{line}");
            assert_eq!(v["status"], json!(200), "{line}");
            assert_eq!(v["level"], json!("INFO"), "{line}");
        }
    }
    assert_eq!(mine, 1, "{log}");
}

// ---- systemd ----

#[test]
fn notify_socket_gets_ready_once_listening_and_stopping_on_sigterm() {
    let dir = TestDir::new();
    dir.create_integration("primary");
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let serve = Serve::spawn(
        &dir,
        &[],
        &[("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8 path"))],
    );
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("READY=1 within 15 s");
    assert_eq!(&buf[..n], b"READY=1");
    let (status, _) = serve.terminate();
    assert_eq!(status.code(), Some(0));
    let n = socket.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
}

// ---- unknown SCIMD_* variables ----

#[test]
fn an_unknown_scimd_variable_gets_a_warning_naming_the_known_ones() {
    let dir = TestDir::new();
    let out = cli_command()
        .arg("--db")
        .arg(dir.db())
        .args(["integration", "list"])
        .env("SCIMD_LISTN", "0.0.0.0:9999")
        .output()
        .expect("run scimd");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("SCIMD_LISTN"))
        .unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(
        line.starts_with("warning: unknown environment variable SCIMD_LISTN"),
        "{line}"
    );
    for known in [
        "SCIMD_LISTEN",
        "SCIMD_DB",
        "SCIMD_LOG",
        "SCIMD_METRICS_TOKEN_FILE",
    ] {
        assert!(line.contains(known), "{known} missing from {line}");
    }
}

#[test]
fn known_scimd_variables_get_no_warning() {
    let dir = TestDir::new();
    let out = cli_command()
        .arg("--db")
        .arg(dir.db())
        .args(["integration", "list"])
        .env("SCIMD_LOG", "warn")
        .env("SCIMD_LISTEN", "127.0.0.1:1")
        .output()
        .expect("run scimd");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("unknown environment variable"), "{stderr}");
}

// ---- SIGHUP: certificate reload ----

/// A fresh self-signed pair written to cert.pem / key.pem in `dir`; returns
/// its SHA-256 fingerprint in the server's format.
fn write_pair(dir: &Path) -> String {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("generate a certificate");
    std::fs::write(dir.join("cert.pem"), pair.cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), pair.key_pair.serialize_pem()).expect("write key");
    fingerprint(pair.cert.der())
}

fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// An HTTP/1.1 TLS connection to the server, handshake done.
fn connect(port: u16) -> Tls {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
    }
    tls
}

fn served_fingerprint(tls: &Tls) -> String {
    let certs = tls.conn.peer_certificates().expect("a certificate");
    fingerprint(certs[0].as_ref())
}

/// GET /healthz on a kept-alive connection; returns the status.
fn healthz_on(tls: &mut Tls) -> u16 {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("send");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tls.read(&mut buf).expect("read the response");
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return text[9..12].parse().expect("status code");
            }
        }
    }
}

fn sighup(serve: &Serve) {
    let sent = Command::new("kill")
        .args(["-HUP", &serve.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
}

/// A server on cert.pem/key.pem in their own directory (returned: it must
/// outlive the server), with pair A's fingerprint.
fn start_with_files() -> (TestServer, TestDir, String) {
    let certs = TestDir::new();
    let a = write_pair(certs.path());
    let cert = certs.path().join("cert.pem").display().to_string();
    let key = certs.path().join("key.pem").display().to_string();
    let server = TestServer::start_with(&["--tls-cert", &cert, "--tls-key", &key], &[]);
    (server, certs, a)
}

#[test]
fn sighup_makes_new_connections_see_the_new_certificate() {
    let (server, certs, a) = start_with_files();
    let dir = certs.path();
    let port = server.serve().port();
    assert_eq!(served_fingerprint(&connect(port)), a);
    let b = write_pair(dir);
    sighup(server.serve());
    let reloaded = server
        .serve()
        .wait_for_line(
            "certificate reloaded, sha256 fingerprint:",
            Duration::from_secs(10),
        )
        .expect("a reload line");
    assert_eq!(reloaded, b);
    assert_eq!(served_fingerprint(&connect(port)), b);
}

#[test]
fn sighup_leaves_an_open_keep_alive_connection_working() {
    let (server, certs, a) = start_with_files();
    let dir = certs.path();
    let mut open = connect(server.serve().port());
    assert_eq!(healthz_on(&mut open), 200);
    write_pair(dir);
    sighup(server.serve());
    server
        .serve()
        .wait_for_line("certificate reloaded", Duration::from_secs(10))
        .expect("a reload line");
    assert_eq!(healthz_on(&mut open), 200);
    assert_eq!(served_fingerprint(&open), a);
}

#[test]
fn sighup_with_a_broken_pair_keeps_the_current_certificate() {
    let (server, certs, _) = start_with_files();
    let dir = certs.path();
    let port = server.serve().port();
    let b = write_pair(dir);
    sighup(server.serve());
    server
        .serve()
        .wait_for_line("certificate reloaded", Duration::from_secs(10))
        .expect("a reload line");
    std::fs::write(dir.join("cert.pem"), "not a certificate\n").expect("break the file");
    sighup(server.serve());
    let mut log = String::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            log = server.serve().log();
            log.contains("keeping the current certificate")
        }),
        "no refusal logged:\n{log}"
    );
    assert_eq!(served_fingerprint(&connect(port)), b);
}

#[test]
fn sighup_in_self_signed_mode_logs_that_there_is_nothing_to_reload() {
    let server = TestServer::start();
    let before = served_fingerprint(&connect(server.serve().port()));
    sighup(server.serve());
    let mut log = String::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            log = server.serve().log();
            log.contains("no files to reload")
        }),
        "{log}"
    );
    assert_eq!(served_fingerprint(&connect(server.serve().port())), before);
}

// ---- WAL checkpoints ----

fn wal_bytes(server: &TestServer) -> u64 {
    let mut wal = server.dir.db().into_os_string();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(0, |m| m.len())
}

#[test]
fn the_wal_is_emptied_after_a_burst_of_writes_and_a_quiet_period() {
    let server = TestServer::start();
    for i in 0..200 {
        server.create_user(&user(&format!("burst{i}")));
    }
    assert!(wal_bytes(&server) > 0, "the burst left no WAL to empty");
    // Idle after 10 s without a write, checked every second.
    let emptied = eventually(Duration::from_secs(30), || wal_bytes(&server) == 0);
    assert!(emptied, "WAL still {} bytes", wal_bytes(&server));
}

#[test]
fn no_checkpoint_leaves_the_wal_alone_when_idle() {
    let server = TestServer::start_with(&["--no-checkpoint"], &[]);
    for i in 0..50 {
        server.create_user(&user(&format!("kept{i}")));
    }
    let before = wal_bytes(&server);
    assert!(before > 0);
    // Long enough for the idle TRUNCATE to have happened if it were on.
    let emptied = eventually(Duration::from_secs(14), || wal_bytes(&server) == 0);
    assert!(!emptied, "the WAL was emptied despite --no-checkpoint");
}
