//! The server over time: CLI changes seen by a running server at once (new
//! integrations, rotation with and without grace, revocation, disable and
//! enable), restarts that keep data and certificate, the first start on an
//! empty database, SIGTERM, plain HTTP and HTTP/2. Waits here are bounded and
//! only for time-based behaviour (grace expiry), never for readiness.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{agent, eventually, request, user, Serve, TestDir, TestServer};

fn users_status(server: &TestServer, token: &str) -> u16 {
    server.get(&server.scim("/Users"), token).status
}

fn rotate(server: &TestServer, extra: &[&str]) -> String {
    let id = server.integration.id.clone();
    let mut args = vec!["token", "rotate", id.as_str()];
    args.extend_from_slice(extra);
    args.push("--json");
    let v = server.scimd_json(&args);
    v["token"].as_str().expect("token").to_string()
}

// ---- CLI changes seen by a running server ----

#[test]
fn integration_created_while_serving_works_at_once() {
    let server = TestServer::start();
    let late = server.create_integration("late");
    server.get(&late.path("/Users"), &late.token).expect(200);
    server
        .post_json(&late.path("/Users"), &late.token, &user("first"))
        .expect(201);
}

#[test]
fn rotate_with_grace_0_makes_old_token_401_at_once() {
    let server = TestServer::start();
    assert_eq!(users_status(&server, server.token()), 200);
    rotate(&server, &["--grace", "0"]);
    assert_eq!(users_status(&server, server.token()), 401);
}

#[test]
fn rotate_with_grace_0_new_token_works_at_once() {
    let server = TestServer::start();
    let new = rotate(&server, &["--grace", "0"]);
    assert_eq!(users_status(&server, &new), 200);
}

#[test]
fn rotate_with_default_grace_keeps_both_tokens_working() {
    let server = TestServer::start();
    let new = rotate(&server, &[]);
    assert_eq!(users_status(&server, server.token()), 200, "old token");
    assert_eq!(users_status(&server, &new), 200, "new token");
}

#[test]
fn a_debug_build_runs_on_the_clock_the_test_sets() {
    let server = TestServer::start();
    let new = rotate(&server, &["--grace", "1h"]);
    assert_eq!(users_status(&server, server.token()), 200, "within grace");
    server.advance_clock(Duration::from_secs(3601));
    assert_eq!(
        users_status(&server, server.token()),
        401,
        "an hour later on the test clock, the old token is still accepted"
    );
    assert_eq!(users_status(&server, &new), 200, "new token");
}

#[test]
fn rotate_with_short_grace_expires_old_token() {
    let server = TestServer::start();
    let new = rotate(&server, &["--grace", "2s"]);
    assert_eq!(
        users_status(&server, server.token()),
        200,
        "old token within grace"
    );
    // Expiry is time-based: move the clock past the grace plus a second,
    // then poll briefly.
    server.advance_clock(Duration::from_secs(3));
    let expired = eventually(Duration::from_secs(3), || {
        users_status(&server, server.token()) == 401
    });
    assert!(
        expired,
        "old token still accepted more than 3 s after a 2 s grace"
    );
    assert_eq!(users_status(&server, &new), 200, "new token");
}

#[test]
fn rotated_token_of_one_integration_leaves_other_untouched() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    rotate(&server, &["--grace", "0"]);
    server.get(&other.path("/Users"), &other.token).expect(200);
}

#[test]
fn revoke_while_serving_refuses_every_token_at_once() {
    let server = TestServer::start();
    let new = rotate(&server, &[]);
    let id = server.integration.id.clone();
    server.scimd_ok(&["token", "revoke", &id, "--yes"]);
    assert_eq!(users_status(&server, server.token()), 401, "old token");
    assert_eq!(users_status(&server, &new), 401, "newest token");
}

#[test]
fn rotate_after_revoke_gives_a_working_token() {
    let server = TestServer::start();
    let id = server.integration.id.clone();
    server.scimd_ok(&["token", "revoke", &id, "--yes"]);
    let new = rotate(&server, &[]);
    assert_eq!(users_status(&server, &new), 200);
}

#[test]
fn disable_then_enable_restores_access() {
    let server = TestServer::start();
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "disable", &id]);
    assert_eq!(users_status(&server, server.token()), 401, "disabled");
    server.scimd_ok(&["integration", "enable", &id]);
    assert_eq!(users_status(&server, server.token()), 200, "enabled again");
}

/// Requests enough for the server to answer the token from memory.
fn use_token_until_cached(server: &TestServer, token: &str) {
    for _ in 0..3 {
        assert_eq!(users_status(server, token), 200, "before the change");
    }
}

#[test]
fn a_token_answered_from_memory_is_401_on_the_next_request_after_token_revoke() {
    let server = TestServer::start();
    use_token_until_cached(&server, server.token());
    let id = server.integration.id.clone();
    server.scimd_ok(&["token", "revoke", &id, "--yes"]);
    assert_eq!(users_status(&server, server.token()), 401);
}

#[test]
fn a_token_answered_from_memory_is_401_on_the_next_request_after_integration_disable() {
    let server = TestServer::start();
    use_token_until_cached(&server, server.token());
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "disable", &id]);
    assert_eq!(users_status(&server, server.token()), 401);
}

#[test]
fn a_token_answered_from_memory_is_401_on_the_next_request_after_integration_delete() {
    let server = TestServer::start();
    use_token_until_cached(&server, server.token());
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "delete", &id, "--yes"]);
    assert_eq!(users_status(&server, server.token()), 401);
}

#[test]
fn a_token_answered_from_memory_stops_working_when_its_grace_ends() {
    let server = TestServer::start();
    use_token_until_cached(&server, server.token());
    let new = rotate(&server, &["--grace", "1h"]);
    use_token_until_cached(&server, server.token());
    server.advance_clock(Duration::from_secs(3601));
    assert_eq!(users_status(&server, server.token()), 401, "old token");
    assert_eq!(users_status(&server, &new), 200, "new token");
}

#[test]
fn a_token_answered_from_memory_still_records_its_use() {
    let server = TestServer::start();
    use_token_until_cached(&server, server.token());
    // Past the one-minute interval of use records, within the time a cached
    // answer is trusted.
    server.advance_clock(Duration::from_secs(120));
    let before = token_last_used(&server);
    assert_eq!(users_status(&server, server.token()), 200);
    let recorded = eventually(Duration::from_secs(5), || {
        token_last_used(&server) != before
    });
    assert!(recorded, "last_used stayed {before:?} an hour later");
}

fn token_last_used(server: &TestServer) -> Value {
    let id = server.integration.id.clone();
    let v = server.scimd_json(&["token", "list", &id, "--json"]);
    v[0]["last_used"].clone()
}

#[test]
fn integration_show_counts_users_created_over_http() {
    let server = TestServer::start();
    server.create_user(&user("one"));
    server.create_user(&user("two"));
    let id = server.integration.id.clone();
    let show = server.scimd_json(&["integration", "show", &id, "--json"]);
    assert_eq!(show["users"], 2, "{show}");
    let list = server.scimd_json(&["integration", "list", "--json"]);
    let row = list
        .as_array()
        .and_then(|a| a.iter().find(|r| r["id"] == id.as_str()))
        .unwrap_or_else(|| panic!("{id} not listed: {list}"));
    assert_eq!(row["users"], 2, "{row}");
}

#[test]
fn token_last_used_is_recorded_after_a_request() {
    let server = TestServer::start();
    server
        .get(&server.scim("/Users"), server.token())
        .expect(200);
    let id = server.integration.id.clone();
    let recorded = eventually(Duration::from_secs(5), || {
        let tokens = server.scimd_json(&["token", "list", &id, "--json"]);
        tokens[0]["last_used"].is_string()
    });
    assert!(recorded, "last_used still null after a successful request");
}

#[test]
fn integration_delete_while_serving_removes_its_users() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    server.create_user(&user("doomed"));
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "delete", &id, "--yes"]);
    assert_eq!(users_status(&server, server.token()), 401);
    // The other integration keeps working and sees nothing of the deleted one.
    let resp = server.get(&other.path("/Users"), &other.token);
    assert_eq!(resp.expect(200).body["totalResults"], 0);
}

// ---- restart ----

#[test]
fn restart_keeps_users() {
    let mut server = TestServer::start();
    let created = server.create_user(&user("survivor"));
    let id = created["id"].as_str().unwrap().to_string();
    server.restart();
    let resp = server.get(&server.scim(&format!("/Users/{id}")), server.token());
    assert_eq!(resp.expect(200).body["userName"], "survivor");
}

#[test]
fn restart_keeps_tokens() {
    let mut server = TestServer::start();
    let new = rotate(&server, &[]);
    server.restart();
    assert_eq!(
        users_status(&server, server.token()),
        200,
        "old token in grace"
    );
    assert_eq!(users_status(&server, &new), 200, "new token");
}

#[test]
fn restart_keeps_certificate_fingerprint() {
    let mut server = TestServer::start();
    let before = server
        .serve()
        .fingerprint()
        .expect("fingerprint line on first start");
    server.restart();
    let after = server
        .serve()
        .fingerprint()
        .expect("fingerprint line after restart");
    assert_eq!(before, after);
}

#[test]
fn fingerprint_line_is_32_uppercase_hex_pairs() {
    let server = TestServer::start();
    let fp = server.serve().fingerprint().expect("fingerprint line");
    let pairs: Vec<&str> = fp.split(':').collect();
    assert_eq!(pairs.len(), 32, "{fp}");
    for p in pairs {
        assert!(
            p.len() == 2
                && p.chars()
                    .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
            "bad pair {p:?} in {fp}"
        );
    }
}

#[test]
fn fingerprint_matches_served_certificate() {
    let server = TestServer::start();
    let fp = server.serve().fingerprint().expect("fingerprint line");
    let Some(served) = served_certificate_fingerprint(server.serve().port()) else {
        eprintln!("skipped: openssl not available");
        return;
    };
    assert_eq!(fp, served);
}

/// SHA-256 fingerprint of the certificate served on `port`, via the openssl CLI.
fn served_certificate_fingerprint(port: u16) -> Option<String> {
    let script = format!(
        "openssl s_client -connect 127.0.0.1:{port} </dev/null 2>/dev/null \
         | openssl x509 -noout -fingerprint -sha256"
    );
    let out = Command::new("sh").args(["-c", &script]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains('='))?;
    Some(line.split_once('=')?.1.trim().to_uppercase())
}

#[test]
fn sigterm_right_after_ready_line_exits_0() {
    // The ready line promises a server that handles SIGTERM gracefully; a
    // service manager may stop it at any moment after. Several rounds, since
    // a handler installed only after the ready line loses a race.
    let dir = TestDir::new();
    dir.create_integration("primary");
    for round in 0..10 {
        let serve = Serve::spawn(&dir, &[], &[]);
        let (status, _) = serve.terminate();
        assert_eq!(status.code(), Some(0), "round {round}: {status:?}");
    }
}

#[test]
fn sigterm_after_requests_exits_0() {
    let mut server = TestServer::start();
    server.create_user(&user("before-stop"));
    let status = server.stop();
    assert_eq!(status.code(), Some(0), "{status:?}");
}

// ---- first start ----

#[test]
fn first_serve_on_empty_database_prints_a_working_endpoint_and_token() {
    let dir = TestDir::new();
    let serve = Serve::spawn(&dir, &[], &[]);
    let within = Duration::from_secs(5);
    let endpoint = serve
        .wait_for_line("endpoint:", within)
        .expect("endpoint: line");
    let token = serve.first_token(within).expect("token file: line");
    assert!(token.starts_with("scimd_"), "token: {token}");
    let prefix = format!("{}/scim/int_", serve.url);
    assert!(
        endpoint.starts_with(&prefix),
        "endpoint {endpoint} should start with {prefix}"
    );
    let path = endpoint.strip_prefix(&serve.url).unwrap();
    let auth = format!("Bearer {token}");
    let resp = request(
        &agent(),
        &serve.url,
        "GET",
        &format!("{path}/Users"),
        &[("Authorization", &auth)],
        None,
    );
    resp.expect(200);
}

#[test]
fn first_serve_creates_integration_named_default() {
    let dir = TestDir::new();
    let serve = Serve::spawn(&dir, &[], &[]);
    serve
        .first_token(Duration::from_secs(5))
        .expect("token file: line");
    let list = dir.scimd_json(&["integration", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["name"], "default");
}

#[test]
fn second_serve_prints_no_token() {
    let dir = TestDir::new();
    let first = Serve::spawn(&dir, &[], &[]);
    let token = first
        .first_token(Duration::from_secs(5))
        .expect("token file: line");
    let (status, _) = first.terminate();
    assert!(status.success());
    let second = Serve::spawn(&dir, &[], &[]);
    let (_, lines) = second.terminate();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&token) || l.trim().starts_with("token")),
        "second start printed a token:\n{}",
        lines.join("\n")
    );
    let list = dir.scimd_json(&["integration", "list", "--json"]);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "no second default: {list}"
    );
}

#[test]
fn serve_with_existing_integration_creates_none_and_prints_no_token() {
    let server = TestServer::start();
    assert!(
        !server.serve().stdout.iter().any(|l| l.contains("scimd_")),
        "{:?}",
        server.serve().stdout
    );
    let list = server.scimd_json(&["integration", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

#[test]
fn ready_line_reports_https_and_a_real_port() {
    let server = TestServer::start();
    assert!(
        server.url().starts_with("https://127.0.0.1:"),
        "{}",
        server.url()
    );
    assert_ne!(server.serve().port(), 0);
}

// ---- transports ----

#[test]
fn insecure_http_listens_on_plain_http() {
    let dir = TestDir::new();
    let i = dir.create_integration("primary");
    let serve = Serve::spawn(&dir, &["--insecure-http"], &[]);
    assert!(serve.url.starts_with("http://127.0.0.1:"), "{}", serve.url);
    let auth = format!("Bearer {}", i.token);
    let resp = request(
        &agent(),
        &serve.url,
        "GET",
        &i.path("/Users"),
        &[("Authorization", &auth)],
        None,
    );
    resp.expect(200);
}

#[test]
fn http2_is_served_over_alpn() {
    let server = TestServer::start();
    let has_h2_curl = Command::new("curl")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
        .unwrap_or(false);
    if !has_h2_curl {
        eprintln!("skipped: no curl with HTTP/2 support");
        return;
    }
    let url = format!("{}{}", server.url(), server.scim("/Users"));
    let out = Command::new("curl")
        .args([
            "--http2",
            "-k",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {}", server.token())])
        .arg(&url)
        .output()
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

#[test]
fn http2_post_creates_a_user() {
    let server = TestServer::start();
    let has_h2_curl = Command::new("curl")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
        .unwrap_or(false);
    if !has_h2_curl {
        eprintln!("skipped: no curl with HTTP/2 support");
        return;
    }
    let url = format!("{}{}", server.url(), server.scim("/Users"));
    let body = user("over-h2").to_string();
    let out = Command::new("curl")
        .args([
            "--http2",
            "-k",
            "-s",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {}", server.token())])
        .args([
            "-H",
            "Content-Type: application/scim+json",
            "--data-binary",
            &body,
        ])
        .arg(&url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let (json_text, status) = text.rsplit_once('\n').expect("status line");
    assert_eq!(status, "2 201", "{text}");
    let v: Value = serde_json::from_str(json_text).expect("JSON body");
    assert_eq!(v["userName"], json!("over-h2"));
}
