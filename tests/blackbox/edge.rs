//! The edge of the server: SCIM 1.1 refusal, the per-integration rate limit,
//! the failed-authentication throttle per client address, `--trusted-proxy`,
//! and the aggregated audit rows of refused requests as `scimd audit` shows
//! them.

use crate::harness::{self, eventually, user, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, UNIX_EPOCH};

const SCIM_1_DETAIL: &str = "SCIM 1.1 is not supported; send SCIM 2.0";
const BAD_TOKEN: &str = "scimd_this-is-not-a-valid-token-at-all-000000000";

/// `scimd audit ID --json [extra…]`: one JSON object per line.
fn audit(server: &TestServer, extra: &[&str]) -> Vec<Value> {
    let id = server.integration.id.clone();
    let mut args = vec!["audit", id.as_str(), "--json"];
    args.extend_from_slice(extra);
    let out = server.scimd_ok(&args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn rejections(rows: &[Value], code: &str) -> Vec<Value> {
    rows.iter()
        .filter(|r| r["event"] == "SCIM_REQUEST_REJECTED" && r["code"] == code)
        .cloned()
        .collect()
}

/// Waits (bounded) until the audit shows rows with `code` whose counts add
/// up to at least `n`; the rows are written off the request path.
fn wait_rejections(server: &TestServer, code: &str, n: i64) -> Vec<Value> {
    let mut rows = Vec::new();
    let ok = eventually(Duration::from_secs(10), || {
        rows = rejections(&audit(server, &["--limit", "1000"]), code);
        rows.iter()
            .map(|r| r["count"].as_i64().unwrap_or(0))
            .sum::<i64>()
            >= n
    });
    assert!(ok, "no {n} {code} rejection(s) in the audit: {rows:?}");
    rows
}

fn bad_get(server: &TestServer, xff: Option<&str>) -> harness::Resp {
    let auth = format!("Bearer {BAD_TOKEN}");
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(x) = xff {
        headers.push(("X-Forwarded-For", x));
    }
    server.raw("GET", &server.scim("/Users"), &headers, None)
}

fn good_get(server: &TestServer, xff: Option<&str>) -> harness::Resp {
    let auth = format!("Bearer {}", server.token());
    let mut headers = vec![("Authorization", auth.as_str())];
    if let Some(x) = xff {
        headers.push(("X-Forwarded-For", x));
    }
    server.raw("GET", &server.scim("/Users"), &headers, None)
}

#[track_caller]
fn retry_after(resp: &harness::Resp) -> u64 {
    let v = resp
        .header("retry-after")
        .unwrap_or_else(|| panic!("429 without Retry-After; headers {:?}", resp.headers));
    let secs: u64 = v
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not whole seconds: {v:?}"));
    assert!(secs >= 1, "Retry-After {secs}");
    secs
}

/// If the server's clock is within `margin` seconds of the next minute,
/// moves it to that minute's start, so a burst of requests falls in one
/// minute.
fn avoid_minute_boundary(server: &TestServer, margin: u64) {
    let since_epoch = server.dir.clock_now().duration_since(UNIX_EPOCH).unwrap();
    let into_minute = Duration::from_millis((since_epoch.as_millis() % 60_000) as u64);
    if into_minute >= Duration::from_secs(60 - margin) {
        server.advance_clock(Duration::from_secs(60) - into_minute + Duration::from_millis(200));
    }
}

#[test]
fn scim_1_1_bodies_are_refused_and_audited_as_schema_mismatch() {
    let server = TestServer::start();
    let v1 = json!({
        "schemas": ["urn:scim:schemas:core:1.0"],
        "userName": "bjensen",
    });
    let r = server.post_json(&server.scim("/Users"), server.token(), &v1);
    r.expect_error(400, Some("invalidSyntax"));
    assert_eq!(r.detail(), SCIM_1_DETAIL);
    // A 1.x-only list naming the enterprise extension is refused too (a
    // 1.x URN beside the 2.0 core is a dialect: see `bodies`).
    let mixed = json!({
        "schemas": ["urn:scim:schemas:core:1.0", "urn:scim:schemas:extension:enterprise:1.0"],
        "userName": "bjensen",
    });
    let r = server.post_json(&server.scim("/Users"), server.token(), &mixed);
    r.expect_error(400, Some("invalidSyntax"));
    assert_eq!(r.detail(), SCIM_1_DETAIL);
    // Nothing was created; a 2.0 body without `schemas` is accepted.
    let created = server.create_user(&json!({"userName": "bjensen"}));
    let id = created["id"].as_str().unwrap().to_string();
    // PUT and PATCH bodies go through the same check.
    let r = server.put_json(&server.scim(&format!("/Users/{id}")), server.token(), &v1);
    r.expect_error(400, Some("invalidSyntax"));
    assert_eq!(r.detail(), SCIM_1_DETAIL);
    let r = server.send_json(
        "PATCH",
        &server.scim(&format!("/Users/{id}")),
        server.token(),
        &json!({"schemas": ["urn:scim:schemas:core:1.0"], "meta": {"attributes": ["title"]}}),
    );
    r.expect_error(400, Some("invalidSyntax"));
    assert_eq!(r.detail(), SCIM_1_DETAIL);

    let rows = wait_rejections(&server, "SCIM_SCHEMA_MISMATCH", 4);
    for row in &rows {
        for key in [
            "time",
            "event",
            "code",
            "resource_type",
            "resource_id",
            "request_id",
            "detail",
        ] {
            assert!(row.get(key).is_some(), "audit row lacks {key}: {row}");
        }
        assert!(
            harness::looks_like_rfc3339(row["time"].as_str().unwrap()),
            "{row}"
        );
        assert_eq!(row["source"], "127.0.0.1", "{row}");
    }
    // The accepted creation is in the same trail.
    let all = audit(&server, &[]);
    assert!(
        all.iter()
            .any(|r| r["event"] == "ACCOUNT_SCIM_USER_CREATED" && r["code"].is_null()),
        "{all:?}"
    );
}

#[test]
fn rate_limit_answers_429_with_retry_after_and_applies_to_a_running_server() {
    let server = TestServer::start();
    // The server has seen the integration with its default limits…
    good_get(&server, None).expect(200);
    // …and picks the change up within a second, without a restart.
    server.scimd_ok(&[
        "integration",
        "set",
        &server.integration.id,
        "--rate-limit",
        "1",
        "--rate-burst",
        "2",
    ]);
    server.advance_clock(Duration::from_millis(1300));
    let statuses: Vec<harness::Resp> = (0..8).map(|_| good_get(&server, None)).collect();
    let limited: Vec<&harness::Resp> = statuses.iter().filter(|r| r.status == 429).collect();
    assert!(
        !limited.is_empty(),
        "8 requests at once with --rate-limit 1 --rate-burst 2 were all served: {:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(
        statuses.iter().all(|r| r.status == 200 || r.status == 429),
        "{:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(statuses[0].status, 200);
    for r in limited {
        r.expect_error(429, None);
        retry_after(r);
    }
    wait_rejections(&server, "SCIM_RATE_LIMITED", 1);
    // The bucket refills.
    server.advance_clock(Duration::from_millis(2100));
    good_get(&server, None).expect(200);
}

#[test]
fn failed_auth_is_throttled_per_address_but_a_valid_token_never_is() {
    let server = TestServer::start();
    for i in 0..20 {
        let r = bad_get(&server, None);
        assert_eq!(r.status, 401, "failure {} should still be a 401", i + 1);
    }
    let r = bad_get(&server, None);
    r.expect_error(429, None);
    let secs = retry_after(&r);
    assert!(
        secs <= 60,
        "Retry-After {secs} is beyond the one-minute window"
    );
    // No token at all is a failed authentication too.
    let r = server.raw("GET", &server.scim("/Users"), &[], None);
    r.expect_error(429, None);
    // The IdP with the valid token behind the same address is unaffected.
    good_get(&server, None).expect(200);
    server
        .post_json(&server.scim("/Users"), server.token(), &user("alice"))
        .expect(201);
    bad_get(&server, None).expect_error(429, None);
    wait_rejections(&server, "SCIM_RATE_LIMITED", 3);
    wait_rejections(&server, "SCIM_UNAUTHORIZED", 20);
}

#[test]
fn refused_requests_fold_into_one_row_per_minute_with_a_count() {
    let server = TestServer::start();
    avoid_minute_boundary(&server, 15);
    for _ in 0..12 {
        bad_get(&server, None).expect(401);
    }
    let rows = wait_rejections(&server, "SCIM_UNAUTHORIZED", 12);
    assert_eq!(rows.len(), 1, "12 refusals in one minute made {rows:?}");
    let row = &rows[0];
    assert_eq!(row["count"], 12);
    assert_eq!(row["source"], "127.0.0.1");
    assert!(row["request_id"].is_string(), "{row}");
    let text = serde_json::to_string(&audit(&server, &["--limit", "1000"])).unwrap();
    assert!(
        !text.contains(BAD_TOKEN),
        "the presented token is in the audit: {text}"
    );
    assert!(
        !text.contains(server.token()),
        "a token is in the audit: {text}"
    );
    // Other 4xx have their own codes.
    let r = server.get(
        &server.scim("/Users?filter=userName%20zz%20%22x%22"),
        server.token(),
    );
    r.expect_error(400, Some("invalidFilter"));
    wait_rejections(&server, "SCIM_INVALID_FILTER", 1);
    server.create_user(&user("dup"));
    server
        .post_json(&server.scim("/Users"), server.token(), &user("DUP"))
        .expect_error(409, Some("uniqueness"));
    wait_rejections(&server, "SCIM_USER_CONFLICT", 1);
    server
        .get(&server.scim("/Users/no-such-user"), server.token())
        .expect(404);
    wait_rejections(&server, "SCIM_INVALID_REQUEST", 1);
}

#[test]
fn trusted_proxy_takes_the_client_from_x_forwarded_for() {
    let server = TestServer::start_with(&["--trusted-proxy", "127.0.0.0/8"], &[]);
    // A client-written spoof on the left is ignored; the proxy appended the real one.
    let xff = "203.0.113.99, 198.51.100.7";
    for _ in 0..20 {
        bad_get(&server, Some(xff)).expect(401);
    }
    bad_get(&server, Some(xff)).expect_error(429, None);
    // Another client behind the same proxy is not throttled…
    bad_get(&server, Some("198.51.100.8")).expect(401);
    // …nor is a valid token from the throttled one.
    good_get(&server, Some(xff)).expect(200);
    let rows = wait_rejections(&server, "SCIM_UNAUTHORIZED", 21);
    let sources: Vec<&str> = rows.iter().filter_map(|r| r["source"].as_str()).collect();
    assert!(sources.contains(&"198.51.100.7"), "{rows:?}");
    assert!(sources.contains(&"198.51.100.8"), "{rows:?}");
    assert!(!sources.contains(&"203.0.113.99"), "{rows:?}");
    assert!(!sources.contains(&"127.0.0.1"), "{rows:?}");
}

#[test]
fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The env form; 127.0.0.1 is not in it.
    let server = TestServer::start_with(&[], &[("SCIMD_TRUSTED_PROXY", "10.0.0.0/8,fd00::/8")]);
    for i in 0..20 {
        bad_get(&server, Some(&format!("198.51.100.{i}"))).expect(401);
    }
    // Rotating the forwarded address does not escape the throttle.
    bad_get(&server, Some("198.51.100.200")).expect_error(429, None);
    let rows = wait_rejections(&server, "SCIM_UNAUTHORIZED", 20);
    assert!(rows.iter().all(|r| r["source"] == "127.0.0.1"), "{rows:?}");
}

#[test]
fn serve_refuses_a_malformed_trusted_proxy() {
    let dir = harness::TestDir::new();
    for bad in ["10.0.0.0/33", "proxy.example.com", "10.0.0.0/8,nope"] {
        let out = dir.scimd(&["serve", "--listen", "127.0.0.1:0", "--trusted-proxy", bad]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "--trusted-proxy {bad} was accepted"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("CIDR"), "{err}");
    }
}

#[test]
fn audit_cli_filters_limits_and_prints_a_table() {
    let server = TestServer::start();
    for name in ["a1", "a2", "a3"] {
        server.create_user(&user(name));
    }
    let all = audit(&server, &[]);
    let created: Vec<&Value> = all
        .iter()
        .filter(|r| r["event"] == "ACCOUNT_SCIM_USER_CREATED")
        .collect();
    assert_eq!(created.len(), 3, "{all:?}");
    // Newest first.
    let times: Vec<&str> = all.iter().filter_map(|r| r["time"].as_str()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(audit(&server, &["--limit", "1"]).len(), 1);
    assert!(audit(&server, &["--since", "2999-01-01T00:00:00Z"]).is_empty());
    assert_eq!(
        audit(&server, &["--since", "2000-01-01T00:00:00+02:00"]).len(),
        all.len()
    );

    let table = server.scimd_ok(&["audit", &server.integration.id]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("TIME"), "{text}");
    assert_eq!(
        text.matches("ACCOUNT_SCIM_USER_CREATED").count(),
        3,
        "{text}"
    );

    for bad in [
        vec!["audit", "int_nope"],
        vec![
            "audit",
            server.integration.id.as_str(),
            "--since",
            "yesterday",
        ],
        vec!["audit", server.integration.id.as_str(), "--limit", "0"],
    ] {
        let out = server.scimd(&bad);
        assert_eq!(out.status.code(), Some(1), "{bad:?} succeeded");
    }
}
