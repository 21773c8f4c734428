//! Malformed and refused requests: content types, unparsable or mistyped
//! bodies, the body size limit, unknown paths, and the RFC 7644 §3.12 error
//! body they all share. Also: no client input may produce a 5xx.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};

use crate::harness::{user, TestServer, ENTERPRISE_USER, USER_SCHEMA};

fn post_raw(server: &TestServer, content_type: &str, body: &[u8]) -> crate::harness::Resp {
    let auth = format!("Bearer {}", server.token());
    server.raw(
        "POST",
        &server.scim("/Users"),
        &[("Authorization", &auth), ("Content-Type", content_type)],
        Some(body),
    )
}

fn user_bytes(user_name: &str) -> Vec<u8> {
    serde_json::to_vec(&user(user_name)).unwrap()
}

// ---- content types ----

#[test]
fn success_responses_are_scim_json() {
    let server = TestServer::start();
    let resp = server.get(&server.scim("/Users"), server.token());
    resp.expect(200);
    let ct = resp.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/scim+json"),
        "Content-Type: {ct}"
    );
}

#[test]
fn created_responses_are_scim_json() {
    let server = TestServer::start();
    let resp = server.post_json(&server.scim("/Users"), server.token(), &user("ct"));
    resp.expect(201);
    let ct = resp.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/scim+json"),
        "Content-Type: {ct}"
    );
}

#[test]
fn error_responses_are_scim_json() {
    let server = TestServer::start();
    let resp = server.get(&server.scim("/Users/nope"), server.token());
    resp.expect(404);
    let ct = resp.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/scim+json"),
        "Content-Type: {ct}"
    );
}

#[test]
fn application_json_request_is_accepted() {
    let server = TestServer::start();
    post_raw(&server, "application/json", &user_bytes("json")).expect(201);
}

#[test]
fn application_json_with_charset_is_accepted() {
    let server = TestServer::start();
    post_raw(
        &server,
        "application/json; charset=utf-8",
        &user_bytes("json"),
    )
    .expect(201);
}

#[test]
fn scim_json_with_charset_is_accepted() {
    let server = TestServer::start();
    post_raw(
        &server,
        "application/scim+json;charset=UTF-8",
        &user_bytes("scim"),
    )
    .expect(201);
}

#[test]
fn text_plain_post_is_415() {
    let server = TestServer::start();
    post_raw(&server, "text/plain", &user_bytes("plain")).expect_error(415, None);
}

#[test]
fn form_encoded_post_is_415() {
    let server = TestServer::start();
    post_raw(
        &server,
        "application/x-www-form-urlencoded",
        b"userName=form",
    )
    .expect_error(415, None);
}

#[test]
fn text_plain_put_is_415() {
    let server = TestServer::start();
    let created = server.create_user(&user("put415"));
    let path = server.scim(&format!("/Users/{}", created["id"].as_str().unwrap()));
    let auth = format!("Bearer {}", server.token());
    server
        .raw(
            "PUT",
            &path,
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            Some(&user_bytes("put415")),
        )
        .expect_error(415, None);
}

#[test]
fn refused_content_type_stores_nothing() {
    let server = TestServer::start();
    post_raw(&server, "text/plain", &user_bytes("plain")).expect(415);
    let list = server.get(&server.scim("/Users"), server.token());
    assert_eq!(list.expect(200).body["totalResults"], 0);
}

// ---- malformed bodies ----

#[test]
fn malformed_json_is_400_invalid_syntax() {
    let server = TestServer::start();
    post_raw(&server, "application/scim+json", b"{\"userName\": \"x\",")
        .expect_error(400, Some("invalidSyntax"));
}

#[test]
fn non_json_text_is_400_invalid_syntax() {
    let server = TestServer::start();
    post_raw(&server, "application/scim+json", b"hello, world")
        .expect_error(400, Some("invalidSyntax"));
}

#[test]
fn empty_body_is_400() {
    let server = TestServer::start();
    post_raw(&server, "application/scim+json", b"").expect_error(400, None);
}

#[test]
fn json_array_body_is_400() {
    let server = TestServer::start();
    post_raw(&server, "application/scim+json", b"[{\"userName\":\"x\"}]").expect_error(400, None);
}

#[test]
fn malformed_json_on_put_is_400_invalid_syntax() {
    let server = TestServer::start();
    let created = server.create_user(&user("putbad"));
    let path = server.scim(&format!("/Users/{}", created["id"].as_str().unwrap()));
    let auth = format!("Bearer {}", server.token());
    server
        .raw(
            "PUT",
            &path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/scim+json"),
            ],
            Some(b"{not json"),
        )
        .expect_error(400, Some("invalidSyntax"));
}

#[test]
fn active_as_word_is_400_invalid_value_naming_active() {
    let server = TestServer::start();
    let body = json!({"schemas": [USER_SCHEMA], "userName": "maybe", "active": "maybe"});
    let resp = server.post_json(&server.scim("/Users"), server.token(), &body);
    resp.expect_error(400, Some("invalidValue"));
    assert!(
        resp.detail().contains("active"),
        "detail should name `active`: {}",
        resp.detail()
    );
}

#[test]
fn username_as_number_is_400_invalid_value_naming_username() {
    let server = TestServer::start();
    let body = json!({"schemas": [USER_SCHEMA], "userName": 5});
    let resp = server.post_json(&server.scim("/Users"), server.token(), &body);
    resp.expect_error(400, Some("invalidValue"));
    assert!(
        resp.detail().to_lowercase().contains("username"),
        "detail should name `userName`: {}",
        resp.detail()
    );
}

#[test]
fn mistyped_body_stores_nothing() {
    let server = TestServer::start();
    let body = json!({"schemas": [USER_SCHEMA], "userName": "typed", "active": "maybe"});
    server
        .post_json(&server.scim("/Users"), server.token(), &body)
        .expect(400);
    let list = server.get(&server.scim("/Users"), server.token());
    assert_eq!(list.expect(200).body["totalResults"], 0);
}

// ---- size limit ----

/// POSTs an oversized body announcing `Expect: 100-continue`, as curl and most
/// IdPs do for large bodies: the server can refuse on Content-Length alone,
/// and the client need not push a body the server will not read (without it
/// the client's write races the server closing the connection).
fn post_oversized(server: &TestServer, bytes: &[u8]) -> crate::harness::Resp {
    let auth = format!("Bearer {}", server.token());
    server.raw(
        "POST",
        &server.scim("/Users"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
            ("Expect", "100-continue"),
        ],
        Some(bytes),
    )
}

#[test]
fn body_over_one_mib_is_413() {
    let server = TestServer::start();
    let mut body = user("big");
    body["displayName"] = json!("x".repeat(1024 * 1024 + 16));
    let bytes = serde_json::to_vec(&body).unwrap();
    post_oversized(&server, &bytes).expect_error(413, None);
}

#[test]
fn server_still_answers_after_413() {
    let server = TestServer::start();
    let mut body = user("big");
    body["displayName"] = json!("x".repeat(2 * 1024 * 1024));
    let bytes = serde_json::to_vec(&body).unwrap();
    post_oversized(&server, &bytes).expect(413);
    server
        .post_json(&server.scim("/Users"), server.token(), &user("small"))
        .expect(201);
}

#[test]
fn oversized_body_stores_nothing() {
    let server = TestServer::start();
    let mut body = user("big");
    body["displayName"] = json!("x".repeat(1024 * 1024 + 16));
    let bytes = serde_json::to_vec(&body).unwrap();
    post_oversized(&server, &bytes).expect(413);
    let list = server.get(&server.scim("/Users"), server.token());
    assert_eq!(list.expect(200).body["totalResults"], 0);
}

// ---- paths ----

#[test]
fn unknown_path_under_base_is_404() {
    let server = TestServer::start();
    server
        .get(&server.scim("/NoSuchEndpoint"), server.token())
        .expect_error(404, None);
}

#[test]
fn unknown_nested_path_under_users_is_404() {
    let server = TestServer::start();
    let created = server.create_user(&user("nested"));
    let path = server.scim(&format!("/Users/{}/extra", created["id"].as_str().unwrap()));
    server.get(&path, server.token()).expect_error(404, None);
}

// ---- nothing a client sends causes a 5xx ----

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "userName",
            "USERNAME",
            "username",
            "name",
            "givenName",
            "familyName",
            "emails",
            "value",
            "primary",
            "type",
            "active",
            "schemas",
            "id",
            "meta",
            "password",
            "displayName",
            "externalId",
            "phoneNumbers",
            "addresses",
            "groups",
            "roles",
            "x509Certificates",
            "manager",
            "employeeNumber",
            ENTERPRISE_USER,
            USER_SCHEMA,
        ])
        .prop_map(str::to_string),
        "[a-zA-Z$.:_-]{0,12}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (-1.0e300f64..1.0e300).prop_map(|f| json!(f)),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(arb_key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A top-level object: usually with a string userName, plus arbitrary attributes.
fn arb_user_body() -> impl Strategy<Value = Value> {
    (
        prop::option::of("[a-zA-Z0-9@._-]{1,20}"),
        btree_map(arb_key(), arb_json(), 0..8),
    )
        .prop_map(|(user_name, attrs)| {
            let mut obj: serde_json::Map<String, Value> = attrs.into_iter().collect();
            if let Some(n) = user_name {
                obj.insert("userName".into(), json!(n));
            }
            Value::Object(obj)
        })
}

#[test]
fn arbitrary_json_user_bodies_never_cause_5xx() {
    let server = TestServer::start();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(arb_user_body(), arb_user_body()), |(create, replace)| {
            let resp = server.post_json(&server.scim("/Users"), server.token(), &create);
            prop_assert!(
                resp.status < 500,
                "POST {create} -> {} {}",
                resp.status,
                resp.text
            );
            if resp.status == 201 {
                let id = resp.body["id"].as_str().unwrap_or("missing").to_string();
                let path = server.scim(&format!("/Users/{id}"));
                let got = server.get(&path, server.token());
                prop_assert_eq!(got.status, 200, "GET after 201: {}", got.text);
                let put = server.put_json(&path, server.token(), &replace);
                prop_assert!(
                    put.status < 500,
                    "PUT {replace} -> {} {}",
                    put.status,
                    put.text
                );
                let del = server.delete(&path, server.token());
                prop_assert_eq!(del.status, 204, "DELETE: {}", del.text);
            } else {
                prop_assert!(resp.status >= 400, "POST {create} -> {}", resp.status);
            }
            Ok::<(), TestCaseError>(())
        })
        .unwrap();
}

#[test]
fn arbitrary_bytes_never_cause_5xx() {
    let server = TestServer::start();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&vec(any::<u8>(), 0..512), |bytes| {
            let resp = post_raw(&server, "application/scim+json", &bytes);
            prop_assert!(
                resp.status < 500,
                "{bytes:?} -> {} {}",
                resp.status,
                resp.text
            );
            Ok(())
        })
        .unwrap();
}

// ---- the connection after a refusal ----
//
// A server may refuse a request (401, 405, 415…) before reading its body. It
// must then either read the body and keep the connection usable, or say
// `Connection: close`; closing silently breaks clients that reuse kept-alive
// connections (their next request fails with a broken pipe). Checked over
// `--insecure-http` with a raw socket, so the body can be held back until the
// response has arrived.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::harness::{Integration, Serve, TestDir};

/// Reads one HTTP/1.1 response (headers plus Content-Length body).
/// Returns `None` on timeout or EOF before a full head arrived.
fn read_response(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some((status, head.to_ascii_lowercase()))
}

/// Sends the head of a request with a 2-byte body, then the body only after
/// the server answered (or after 2 s if it waits for the body), then a GET on
/// the same connection. Returns the refusal's status, and whether the
/// connection either announced its close or answered the GET.
fn refusal_then_reuse(
    serve: &Serve,
    i: &Integration,
    method: &str,
    rest: &str,
    ct: &str,
) -> (u16, bool) {
    let addr = serve.url.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let head = format!(
        "{method} {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: {ct}\r\nContent-Length: 2\r\n\r\n",
        i.path(rest),
        i.token
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut body_sent = false;
    let (status, head) = match read_response(&mut s) {
        Some(early) => early,
        None => {
            body_sent = true;
            // The server waits for the body before answering: fine.
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"{}").unwrap();
            read_response(&mut s).expect("response after the body")
        }
    };
    if head.contains("connection: close") {
        return (status, true);
    }
    // A client uploading a body does not finish in the same instant the
    // refusal arrives; without this pause the outcome is a race.
    std::thread::sleep(Duration::from_millis(300));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let get = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
        i.path("/Users"),
        i.token
    );
    // The body (if not yet sent) and the next request, in one write.
    let mut rest_bytes = if body_sent {
        Vec::new()
    } else {
        b"{}".to_vec()
    };
    rest_bytes.extend_from_slice(get.as_bytes());
    let reused =
        s.write_all(&rest_bytes).is_ok() && read_response(&mut s).is_some_and(|(st, _)| st == 200);
    (status, reused)
}

fn plain_http_server() -> (TestDir, Integration, Serve) {
    let dir = TestDir::new();
    let i = dir.create_integration("primary");
    let serve = Serve::spawn(&dir, &["--insecure-http"], &[]);
    (dir, i, serve)
}

#[test]
fn early_refusal_405_leaves_connection_usable_or_announces_close() {
    let (_dir, i, serve) = plain_http_server();
    let (status, ok) = refusal_then_reuse(
        &serve,
        &i,
        "PUT",
        "/ServiceProviderConfig",
        "application/scim+json",
    );
    assert_eq!(status, 405);
    assert!(
        ok,
        "after the 405 the connection was closed without `Connection: close`"
    );
}

#[test]
fn early_refusal_415_leaves_connection_usable_or_announces_close() {
    let (_dir, i, serve) = plain_http_server();
    let (status, ok) = refusal_then_reuse(&serve, &i, "POST", "/Users", "text/plain");
    assert_eq!(status, 415);
    assert!(
        ok,
        "after the 415 the connection was closed without `Connection: close`"
    );
}
