//! Tenant isolation (issue 16): a generated matrix of every route × method ×
//! refused credential (none, malformed, another integration's token, a
//! revoked token, a token whose grace period expired, the token of a
//! disabled integration) gets the one exact refusal and not a byte of the
//! target integration's data; ids, cursors and bulkIds of one integration
//! used on another's path with that one's own token find nothing and tell
//! nothing; tokens never reach the log, even at trace level; and only TLS 1.2
//! and 1.3 handshakes succeed.

use crate::harness::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::Duration;

const WWW_AUTHENTICATE: &str = "Bearer realm=\"scimd\"";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/// One integration's data, as a leak check looks for it.
struct Tenant {
    integration: Integration,
    user_ids: Vec<String>,
    user_names: Vec<String>,
    group_ids: Vec<String>,
    group_names: Vec<String>,
}

impl Tenant {
    /// Creates two users and a group holding them, with names no other
    /// tenant uses, so finding one in a response means it leaked.
    fn fill(server: &TestServer, integration: Integration, tag: &str) -> Tenant {
        let mut t = Tenant {
            integration,
            user_ids: Vec::new(),
            user_names: Vec::new(),
            group_ids: Vec::new(),
            group_names: Vec::new(),
        };
        for n in 0..2 {
            let name = format!("secret.{tag}.user{n}@example.com");
            let resp = server.post_json(
                &t.integration.path("/Users"),
                &t.integration.token,
                &user(&name),
            );
            resp.expect(201);
            t.user_ids
                .push(resp.body["id"].as_str().expect("id").to_string());
            t.user_names.push(name);
        }
        let group_name = format!("Secret {tag} Group");
        let members: Vec<Value> = t.user_ids.iter().map(|id| json!({"value": id})).collect();
        let resp = server.post_json(
            &t.integration.path("/Groups"),
            &t.integration.token,
            &json!({"schemas": [GROUP_SCHEMA], "displayName": group_name, "members": members}),
        );
        resp.expect(201);
        t.group_ids
            .push(resp.body["id"].as_str().expect("id").to_string());
        t.group_names.push(group_name);
        t
    }

    /// Every string of this tenant's data, minus what the request itself
    /// carried (an id in the URL may be echoed in a 404's detail).
    fn secrets_not_in(&self, request: &str) -> Vec<&str> {
        let mut all: Vec<&str> = vec![self.integration.id.as_str()];
        all.extend(self.user_ids.iter().map(String::as_str));
        all.extend(self.user_names.iter().map(String::as_str));
        all.extend(self.group_ids.iter().map(String::as_str));
        all.extend(self.group_names.iter().map(String::as_str));
        all.into_iter().filter(|s| !request.contains(s)).collect()
    }
}

/// Asserts that no byte string of `tenant`'s data is in the response's body
/// or headers.
#[track_caller]
fn assert_no_leak(resp: &Resp, tenant: &Tenant, request: &str, what: &str) {
    let mut seen = resp.text.clone();
    for (name, value) in resp.headers.iter() {
        seen.push_str(&format!(
            "\n{name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    for secret in tenant.secrets_not_in(request) {
        assert!(
            !seen.contains(secret),
            "{what}: {secret:?} leaked into the response:\n{seen}"
        );
    }
}

/// The routes of `src/server/router.rs`, with the target's real ids where a
/// route takes one, and one path that routes nowhere.
fn routes(target: &Tenant) -> Vec<String> {
    let user = &target.user_ids[0];
    let group = &target.group_ids[0];
    vec![
        String::new(),
        "/ServiceProviderConfig".into(),
        "/ResourceTypes".into(),
        "/ResourceTypes/User".into(),
        "/Schemas".into(),
        format!("/Schemas/{USER_SCHEMA}"),
        "/Users".into(),
        "/Users/.search".into(),
        format!("/Users/{user}"),
        "/Groups".into(),
        "/Groups/.search".into(),
        format!("/Groups/{group}"),
        "/.search".into(),
        "/Bulk".into(),
        "/NoSuchEndpoint".into(),
    ]
}

/// A body a valid credential would get past parsing with, per method.
fn body_for(method: &str, route: &str) -> Option<Value> {
    match method {
        "GET" | "HEAD" | "DELETE" => None,
        "PATCH" => Some(json!({
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "x"}],
        })),
        _ if route.ends_with(".search") => Some(json!({"schemas": [SEARCH_REQUEST]})),
        _ if route == "/Bulk" => Some(json!({"schemas": [BULK_REQUEST], "Operations": []})),
        _ => Some(user("intruder")),
    }
}

/// A request as the test sends it: a unique client address per request (the
/// server trusts 127.0.0.1 as a proxy), so the failed-authentication throttle
/// answers none of them with 429 — that refusal is `hostile`'s business.
fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
    client: u32,
) -> Resp {
    let forwarded = format!(
        "10.{}.{}.{}",
        (client >> 16) & 255,
        (client >> 8) & 255,
        client & 255
    );
    let mut headers: Vec<(&str, &str)> = vec![("X-Forwarded-For", &forwarded)];
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    let bytes = body.map(|b| serde_json::to_vec(b).expect("serialize"));
    if bytes.is_some() {
        headers.push(("Content-Type", "application/scim+json"));
    }
    server.raw(method, path, &headers, bytes.as_deref())
}

/// The server of the matrix: integration A (the target, with a valid token,
/// a revoked one and one whose grace expired), B (another integration), and
/// D (disabled), each with data.
struct World {
    server: TestServer,
    a: Tenant,
    b: Tenant,
    d: Tenant,
    revoked: String,
    expired: String,
}

fn rotate(server: &TestServer, id: &str, grace: &str) -> String {
    let v = server.scimd_json(&["token", "rotate", id, "--grace", grace, "--json"]);
    v["token"].as_str().expect("token").to_string()
}

fn world(envs: &[(&str, &str)]) -> World {
    let server = TestServer::start_with(&["--trusted-proxy", "127.0.0.1/32"], envs);
    let a_id = server.integration.id.clone();
    // The revoked token: A's first, revoked with every token of A, after
    // which a rotation gives A a working one again.
    let revoked = server.token().to_string();
    server.scimd_ok(&["token", "revoke", &a_id, "--yes"]);
    let in_grace = rotate(&server, &a_id, "0");
    // The expired one: in grace for a minute after the next rotation, then
    // the clock moves past it.
    let current = rotate(&server, &a_id, "1m");
    let mut a_integration = server.integration.clone();
    a_integration.token = current.clone();
    let a = Tenant::fill(&server, a_integration, "a");
    let b = Tenant::fill(&server, server.create_integration("other"), "b");
    let d = Tenant::fill(&server, server.create_integration("disabled"), "d");
    server.scimd_ok(&["integration", "disable", &d.integration.id]);
    server.advance_clock(Duration::from_secs(120));
    let refused = |path: String, token: &str| {
        eventually(Duration::from_secs(10), || {
            server.get(&path, token).status == 401
        })
    };
    assert!(
        refused(a.integration.path("/Users"), &revoked),
        "revoked token still works"
    );
    assert!(
        refused(a.integration.path("/Users"), &in_grace),
        "expired token still works"
    );
    assert!(
        refused(d.integration.path("/Users"), &d.integration.token),
        "disabled integration still answers"
    );
    server
        .get(&a.integration.path("/Users"), &current)
        .expect(200);
    World {
        server,
        a,
        b,
        d,
        revoked,
        expired: in_grace,
    }
}

#[test]
fn every_route_method_and_refused_credential_gets_the_same_401_and_no_data() {
    let w = world(&[]);
    // (name, Authorization header, the tenant whose path is tried)
    let credentials: Vec<(&str, Option<String>, &Tenant)> = vec![
        ("none", None, &w.a),
        ("malformed", Some("Bearer".to_string()), &w.a),
        ("not bearer", Some("Basic dXNlcjpwYXNz".to_string()), &w.a),
        (
            "garbage bearer",
            Some("Bearer not-a-token!".to_string()),
            &w.a,
        ),
        (
            "other integration's token",
            Some(format!("Bearer {}", w.b.integration.token)),
            &w.a,
        ),
        ("revoked token", Some(format!("Bearer {}", w.revoked)), &w.a),
        ("grace expired", Some(format!("Bearer {}", w.expired)), &w.a),
        (
            "disabled integration",
            Some(format!("Bearer {}", w.d.integration.token)),
            &w.d,
        ),
    ];
    let mut reference: Option<Value> = None;
    let mut count = 0u32;
    let route_count = routes(&w.a).len();
    for (cred, authorization, target) in &credentials {
        for route in routes(target) {
            let path = target.integration.path(&route);
            for method in METHODS {
                count += 1;
                let body = body_for(method, &route);
                let what = format!("{method} {route} with {cred}");
                let resp = send(
                    &w.server,
                    method,
                    &path,
                    authorization.as_deref(),
                    body.as_ref(),
                    count,
                );
                assert_eq!(resp.status, 401, "{what}: {}", resp.text);
                assert_eq!(
                    resp.header("www-authenticate"),
                    Some(WWW_AUTHENTICATE),
                    "{what}"
                );
                if method != "HEAD" {
                    resp.expect_error(401, None);
                    // One body for every refusal: it cannot tell a revoked
                    // token from a stranger's, or a route from another.
                    let expected = reference.get_or_insert_with(|| resp.body.clone());
                    assert_eq!(&resp.body, expected, "{what}");
                }
                assert_no_leak(&resp, target, "", &what);
                // The token's own integration must not show through either.
                assert_no_leak(&resp, &w.b, "", &what);
            }
        }
    }
    println!(
        "isolation matrix: {route_count} routes × {} methods × {} credentials = {count} requests, all 401 with one body",
        METHODS.len(),
        credentials.len()
    );
    assert_eq!(
        count as usize,
        route_count * METHODS.len() * credentials.len()
    );
}

#[test]
fn another_integrations_ids_are_404_on_every_method_and_leak_nothing() {
    let w = world(&[]);
    let b = &w.b.integration;
    let mut count = 0;
    for (collection, ids) in [("Users", &w.a.user_ids), ("Groups", &w.a.group_ids)] {
        for id in ids.iter() {
            for method in ["GET", "PUT", "PATCH", "DELETE"] {
                let route = format!("/{collection}/{id}");
                let body = match method {
                    "PUT" if collection == "Users" => Some(user("taken.over")),
                    "PUT" => Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "taken"})),
                    "PATCH" => body_for("PATCH", &route),
                    _ => None,
                };
                let resp = send(
                    &w.server,
                    method,
                    &b.path(&route),
                    Some(&format!("Bearer {}", b.token)),
                    body.as_ref(),
                    0,
                );
                let what = format!("{method} B{route}");
                resp.expect_error(404, None);
                assert_no_leak(&resp, &w.a, &route, &what);
                count += 1;
            }
        }
    }
    // Nothing changed on A's side.
    for (n, id) in w.a.user_ids.iter().enumerate() {
        let resp = w.server.get(
            &w.a.integration.path(&format!("/Users/{id}")),
            &w.a.integration.token,
        );
        resp.expect(200);
        assert_eq!(resp.body["userName"], json!(w.a.user_names[n]));
    }
    println!("another integration's ids: {count} requests, all 404");
}

#[test]
fn filters_and_searches_for_another_integrations_data_find_nothing() {
    let w = world(&[]);
    let b = &w.b.integration;
    let auth = format!("Bearer {}", b.token);
    let enc = |s: &str| {
        s.bytes()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    (c as char).to_string()
                } else {
                    format!("%{c:02X}")
                }
            })
            .collect::<String>()
    };
    let filters = [
        format!("userName eq \"{}\"", w.a.user_names[0]),
        format!("id eq \"{}\"", w.a.user_ids[0]),
        format!("groups.value eq \"{}\"", w.a.group_ids[0]),
    ];
    for filter in &filters {
        let route = format!("/Users?filter={}", enc(filter));
        let resp = send(&w.server, "GET", &b.path(&route), Some(&auth), None, 0);
        resp.expect(200);
        assert_eq!(resp.body["totalResults"], 0, "{filter}: {}", resp.text);
        assert_no_leak(&resp, &w.a, filter, filter);
    }
    let group_filter = format!("displayName eq \"{}\"", w.a.group_names[0]);
    for route in ["/Groups/.search", "/.search"] {
        let body = json!({"schemas": [SEARCH_REQUEST], "filter": group_filter});
        let resp = send(
            &w.server,
            "POST",
            &b.path(route),
            Some(&auth),
            Some(&body),
            0,
        );
        resp.expect(200);
        assert_eq!(resp.body["totalResults"], 0, "{route}: {}", resp.text);
        assert_no_leak(&resp, &w.a, &group_filter, route);
    }
}

#[test]
fn another_integrations_cursor_is_400_and_leaks_nothing() {
    let w = world(&[]);
    let a = &w.a.integration;
    let first = w.server.get(&a.path("/Users?cursor=&count=1"), &a.token);
    first.expect(200);
    let cursor = first.body["nextCursor"]
        .as_str()
        .expect("A's nextCursor")
        .to_string();
    let b = &w.b.integration;
    let route = format!("/Users?cursor={cursor}&count=1");
    let resp = send(
        &w.server,
        "GET",
        &b.path(&route),
        Some(&format!("Bearer {}", b.token)),
        None,
        0,
    );
    resp.expect_error(400, Some("invalidCursor"));
    assert_no_leak(&resp, &w.a, &route, "A's cursor on B");
    // The cursor still works where it was made.
    w.server.get(&a.path(&route), &a.token).expect(200);
}

#[test]
fn another_integrations_ids_and_bulk_ids_in_a_bulk_request_fail_alone_and_leak_nothing() {
    let w = world(&[]);
    let a = &w.a.integration;
    // A's own Bulk defines a bulkId; B's request refers to it.
    let resp = w.server.post_json(
        &a.path("/Bulk"),
        &a.token,
        &json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a1", "data": user("secret.a.bulk@example.com")},
        ]}),
    );
    resp.expect(200);
    assert_eq!(resp.body["Operations"][0]["status"], "201", "{}", resp.text);
    let a_bulk_user = "secret.a.bulk@example.com";

    let b = &w.b.integration;
    let request = json!({"schemas": [BULK_REQUEST], "Operations": [
        {"method": "PATCH", "path": format!("/Users/{}", w.a.user_ids[0]),
         "data": {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]}},
        {"method": "DELETE", "path": format!("/Groups/{}", w.a.group_ids[0])},
        {"method": "POST", "path": "/Groups", "bulkId": "g1",
         "data": {"schemas": [GROUP_SCHEMA], "displayName": "B group",
                  "members": [{"value": "bulkId:a1"}]}},
        {"method": "PATCH", "path": "/Groups/bulkId:a1",
         "data": {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": w.a.user_ids[1]}]}]}},
    ]});
    let text = request.to_string();
    let resp = send(
        &w.server,
        "POST",
        &b.path("/Bulk"),
        Some(&format!("Bearer {}", b.token)),
        Some(&request),
        0,
    );
    resp.expect(200);
    let ops = resp.body["Operations"].as_array().expect("Operations");
    assert_eq!(ops.len(), 4, "{}", resp.text);
    for op in ops {
        let status: u16 = op["status"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("status as a string");
        assert!(
            (400..500).contains(&status),
            "an operation on A's data did not fail: {op}"
        );
    }
    assert_no_leak(&resp, &w.a, &text, "B's Bulk with A's ids");
    assert!(!resp.text.contains(a_bulk_user), "{}", resp.text);
    // A is untouched.
    let user = w
        .server
        .get(&a.path(&format!("/Users/{}", w.a.user_ids[0])), &a.token);
    assert_eq!(user.expect(200).body["active"], json!(true));
    w.server
        .get(&a.path(&format!("/Groups/{}", w.a.group_ids[0])), &a.token)
        .expect(200);
}

#[test]
fn tokens_never_reach_the_log_even_at_trace_level() {
    let w = world(&[("SCIMD_LOG", "trace")]);
    let a = &w.a.integration;
    let wrong = format!("scimd_{}", "Q".repeat(43));
    let near_miss = format!("{}x", a.token);
    let tokens = [
        ("valid", a.token.clone()),
        ("other integration's", w.b.integration.token.clone()),
        ("disabled integration's", w.d.integration.token.clone()),
        ("revoked", w.revoked.clone()),
        ("grace expired", w.expired.clone()),
        ("wrong", wrong),
        ("near miss", near_miss),
    ];
    for (n, (_, token)) in tokens.iter().enumerate() {
        let auth = format!("Bearer {token}");
        let n = n as u32;
        send(&w.server, "GET", &a.path("/Users"), Some(&auth), None, n);
        send(
            &w.server,
            "POST",
            &a.path("/Users"),
            Some(&auth),
            Some(&user(&format!("log.{n}"))),
            n,
        );
        send(
            &w.server,
            "PATCH",
            &a.path(&format!("/Users/{}", w.a.user_ids[0])),
            Some(&auth),
            body_for("PATCH", "/Users/x").as_ref(),
            n,
        );
        send(
            &w.server,
            "GET",
            &a.path("/Users?filter=userName%20eq%20%22x%22"),
            Some(&auth),
            None,
            n,
        );
        send(
            &w.server,
            "POST",
            &a.path("/Bulk"),
            Some(&auth),
            body_for("POST", "/Bulk").as_ref(),
            n,
        );
        // A malformed body and a malformed header value with the token in it.
        w.server.raw(
            "POST",
            &a.path("/Users"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/scim+json"),
            ],
            Some(format!("{{\"userName\": \"{token}").as_bytes()),
        );
        w.server
            .raw("GET", &a.path("/Users"), &[("Authorization", token)], None);
        w.server.raw(
            "GET",
            &format!("/scim/{token}/Users"),
            &[("Authorization", &auth)],
            None,
        );
    }
    // HTTP/2 too, where header frames are decoded by another library.
    if Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
    {
        for (_, token) in &tokens {
            let status = Command::new("curl")
                .args(["-sk", "--http2", "-o", "/dev/null", "-H"])
                .arg(format!("Authorization: Bearer {token}"))
                .arg(format!("{}{}", w.server.url(), a.path("/Users")))
                .stdin(Stdio::null())
                .status()
                .expect("run curl");
            assert!(status.success(), "curl over HTTP/2 failed");
        }
    } else {
        println!("no HTTP/2 requests: curl without HTTP2 here");
    }
    let log = w.server.serve().log();
    assert!(
        log.lines().count() > 20,
        "SCIMD_LOG=trace logged almost nothing: the check would be vacuous:\n{log}"
    );
    for (what, token) in &tokens {
        // The secret part without the prefix as well, and any long run of it.
        let secret = token.trim_start_matches("scimd_");
        for piece in [token.as_str(), secret, &secret[..16.min(secret.len())]] {
            let line = log.lines().find(|l| l.contains(piece));
            assert!(
                line.is_none(),
                "the {what} token ({piece}) is in the log: {}",
                line.unwrap_or("")
            );
        }
    }
    println!(
        "trace log of {} lines holds none of {} tokens",
        log.lines().count(),
        tokens.len()
    );
}

/// Whether `openssl s_client` with `flag` completes a handshake with the
/// server: Some(true/false), or None when this openssl cannot offer that
/// version at all (so the answer says nothing about the server).
fn openssl_handshake(server: &TestServer, flag: &str) -> Option<bool> {
    let connect = server.url().trim_start_matches("https://").to_string();
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &connect, flag])
        // Level 0: a client whose default policy forbids TLS 1.0/1.1 would
        // refuse them itself, and the test would prove nothing.
        .args(["-cipher", "DEFAULT:@SECLEVEL=0"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("no protocols available") || text.contains("unknown option") {
        return None;
    }
    Some(out.status.success() && text.contains("Cipher is") && !text.contains("Cipher is (NONE)"))
}

#[test]
fn tls_1_0_and_1_1_are_refused_and_1_2_and_1_3_succeed() {
    if Command::new("openssl").arg("version").output().is_err() {
        println!("skipped: no openssl binary");
        return;
    }
    let server = TestServer::start();
    for flag in ["-tls1_2", "-tls1_3"] {
        assert_eq!(
            openssl_handshake(&server, flag),
            Some(true),
            "{flag} handshake failed"
        );
    }
    let mut offered = 0;
    for flag in ["-tls1", "-tls1_1"] {
        match openssl_handshake(&server, flag) {
            None => println!("{flag}: this openssl cannot offer it; not tried"),
            Some(done) => {
                offered += 1;
                assert!(!done, "{flag} handshake succeeded");
            }
        }
    }
    if offered == 0 {
        println!("skipped: this openssl offers neither TLS 1.0 nor 1.1");
    }
}
