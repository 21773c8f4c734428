//! Interop round two (issue 9), the body and protocol-edge forms real IdPs
//! send: core attributes nested under the core URN, SCIM 1.x schema URNs
//! beside the 2.0 core, `manager` as a string, a byte-order mark, value
//! filters in `attributes`, `//` in the path, HEAD, gzip, group PATCH
//! answered 204, `active` always present, and the default rate limits that
//! let one integration's import through. Each test sends the wire form.

use crate::harness::{user, TestServer, ENTERPRISE_USER, USER_SCHEMA};
use serde_json::{json, Value};
use std::process::Command;
use std::thread;

const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn curl_has(feature: &str) -> bool {
    Command::new("curl")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(feature))
        .unwrap_or(false)
}

/// Runs curl against the server and returns (headers, body) as text.
fn curl(server: &TestServer, args: &[&str], path: &str) -> (String, Vec<u8>) {
    let dir = server.dir.path();
    let head_file = dir.join("curl-headers.txt");
    let out = Command::new("curl")
        .args(["-k", "-s", "-D"])
        .arg(&head_file)
        .args(args)
        .args(["-H", &format!("Authorization: Bearer {}", server.token())])
        .arg(format!("{}{}", server.url(), path))
        .output()
        .expect("run curl");
    let headers = std::fs::read_to_string(&head_file).unwrap_or_default();
    (headers.to_ascii_lowercase(), out.stdout)
}

#[test]
fn core_attributes_nested_under_the_core_urn_are_read() {
    let server = TestServer::start();
    let created = server.create_user(&json!({
        "schemas": [USER_SCHEMA],
        USER_SCHEMA: {"userName": "nested.ana", "name": {"givenName": "Ana"}},
        "title": "Engineer"
    }));
    assert_eq!(created["userName"], "nested.ana");
    assert_eq!(created["name"]["givenName"], "Ana");
    assert_eq!(created["title"], "Engineer");
    assert!(created.get(USER_SCHEMA).is_none(), "{created}");
    let group = server.post_json(
        &server.scim("/Groups"),
        server.token(),
        &json!({"schemas": [GROUP_SCHEMA], GROUP_SCHEMA: {"displayName": "Nested Ops"}}),
    );
    group.expect(201);
    assert_eq!(group.body["displayName"], "Nested Ops");
}

#[test]
fn a_nested_core_attribute_contradicting_the_top_level_is_refused_by_name() {
    let server = TestServer::start();
    let r = server.post_json(
        &server.scim("/Users"),
        server.token(),
        &json!({"userName": "top", USER_SCHEMA: {"userName": "inner"}}),
    );
    r.expect_error(400, Some("invalidValue"));
    assert!(r.detail().contains("'userName'"), "{}", r.detail());
    // Nothing was created.
    let list = server.get(&server.scim("/Users"), server.token());
    assert_eq!(list.body["totalResults"], 0);
}

#[test]
fn scim_1_urns_beside_the_2_0_core_are_accepted_with_the_legacy_enterprise_extension() {
    let server = TestServer::start();
    // OneLogin's stock template with the 2.0 core URN added by the admin.
    let created = server.create_user(&json!({
        "schemas": [
            "urn:scim:schemas:core:1.0",
            USER_SCHEMA,
            "urn:scim:schemas:extension:enterprise:1.0"
        ],
        "userName": "onelogin.user",
        "urn:scim:schemas:extension:enterprise:1.0": {
            "department": "Sales",
            "manager": {"managerId": "boss-1"}
        }
    }));
    assert_eq!(created["userName"], "onelogin.user");
    assert_eq!(
        created[ENTERPRISE_USER],
        json!({"department": "Sales", "manager": {"value": "boss-1"}})
    );
    assert_eq!(created["schemas"], json!([USER_SCHEMA, ENTERPRISE_USER]));
}

#[test]
fn a_schemas_list_without_the_2_0_core_schema_is_a_schema_mismatch() {
    let server = TestServer::start();
    let r = server.post_json(
        &server.scim("/Users"),
        server.token(),
        &json!({"schemas": [ENTERPRISE_USER], "userName": "x"}),
    );
    r.expect_error(400, Some("invalidSyntax"));
    assert!(r.detail().contains(USER_SCHEMA), "{}", r.detail());
    // A group body naming the User schema is refused the same way.
    let r = server.post_json(
        &server.scim("/Groups"),
        server.token(),
        &json!({"schemas": [USER_SCHEMA], "displayName": "g"}),
    );
    r.expect_error(400, Some("invalidSyntax"));
    assert!(r.detail().contains(GROUP_SCHEMA), "{}", r.detail());
}

#[test]
fn manager_as_a_plain_string_is_read_as_its_value_on_post_and_put() {
    let server = TestServer::start();
    let created = server.create_user(&json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER],
        "userName": "report",
        ENTERPRISE_USER: {"manager": "mgr-26"}
    }));
    assert_eq!(
        created[ENTERPRISE_USER]["manager"],
        json!({"value": "mgr-26"})
    );
    let id = created["id"].as_str().unwrap();
    let replaced = server.put_json(
        &server.scim(&format!("/Users/{id}")),
        server.token(),
        &json!({
            "schemas": [USER_SCHEMA],
            "userName": "report",
            format!("{ENTERPRISE_USER}:manager"): "mgr-27"
        }),
    );
    replaced.expect(200);
    assert_eq!(
        replaced.body[ENTERPRISE_USER]["manager"],
        json!({"value": "mgr-27"})
    );
}

#[test]
fn responses_always_carry_active_true_when_it_was_never_sent() {
    let server = TestServer::start();
    let created = server.create_user(&user("no.active"));
    assert_eq!(created["active"], json!(true));
    let id = created["id"].as_str().unwrap();
    let got = server.get(&server.scim(&format!("/Users/{id}")), server.token());
    assert_eq!(got.body["active"], json!(true));
    let list = server.get(
        &server.scim("/Users?filter=userName%20eq%20%22no.active%22"),
        server.token(),
    );
    assert_eq!(list.body["Resources"][0]["active"], json!(true));
    // And a filter on it finds the user.
    let active = server.get(
        &server.scim("/Users?filter=active%20eq%20true"),
        server.token(),
    );
    assert_eq!(active.body["totalResults"], 1);
}

#[test]
fn a_body_starting_with_a_byte_order_mark_is_read() {
    let server = TestServer::start();
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(
        br#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bom.user"}"#,
    );
    let auth = format!("Bearer {}", server.token());
    let r = server.raw(
        "POST",
        &server.scim("/Users"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
        ],
        Some(&body),
    );
    r.expect(201);
    assert_eq!(r.body["userName"], "bom.user");
}

#[test]
fn a_key_repeated_in_one_object_is_invalid_syntax_naming_it() {
    let server = TestServer::start();
    let auth = format!("Bearer {}", server.token());
    let r = server.raw(
        "POST",
        &server.scim("/Users"),
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/scim+json"),
        ],
        Some(br#"{"userName":"a","userName":"b"}"#),
    );
    r.expect_error(400, Some("invalidSyntax"));
    assert!(
        r.detail().contains("duplicate key 'userName'"),
        "{}",
        r.detail()
    );
    let list = server.get(&server.scim("/Users"), server.token());
    assert_eq!(list.body["totalResults"], 0, "nothing was created");
}

fn user_with_two_emails(server: &TestServer) -> String {
    let created = server.create_user(&json!({
        "schemas": [USER_SCHEMA],
        "userName": "two.mails",
        "emails": [
            {"value": "work@example.com", "type": "work", "primary": true},
            {"value": "home@example.net", "type": "home"}
        ]
    }));
    created["id"].as_str().unwrap().to_string()
}

#[test]
fn attributes_with_a_value_filter_returns_only_the_matching_elements() {
    let server = TestServer::start();
    let id = user_with_two_emails(&server);
    let r = server.get(
        &server.scim(&format!(
            "/Users/{id}?attributes=emails%5Btype%20eq%20%22work%22%5D"
        )),
        server.token(),
    );
    r.expect(200);
    assert_eq!(
        r.body,
        json!({
            "schemas": [USER_SCHEMA],
            "id": id,
            "emails": [{"value": "work@example.com", "type": "work", "primary": true}]
        })
    );
    let r = server.get(
        &server.scim(&format!(
            "/Users/{id}?attributes=emails%5Btype%20eq%20%22work%22%5D.value"
        )),
        server.token(),
    );
    assert_eq!(r.body["emails"], json!([{"value": "work@example.com"}]));
}

#[test]
fn excluded_attributes_with_a_value_filter_drops_only_the_matching_elements() {
    let server = TestServer::start();
    let id = user_with_two_emails(&server);
    let r = server.get(
        &server.scim(&format!(
            "/Users/{id}?excludedAttributes=emails%5Btype%20eq%20%22work%22%5D"
        )),
        server.token(),
    );
    r.expect(200);
    assert_eq!(
        r.body["emails"],
        json!([{"value": "home@example.net", "type": "home"}])
    );
    assert_eq!(r.body["userName"], "two.mails");
}

#[test]
fn a_base_url_pasted_with_a_trailing_slash_still_reaches_the_endpoints() {
    let server = TestServer::start();
    let path = server.scim("//Users");
    assert!(path.contains("//Users"), "{path}");
    let created = server.post_json(&path, server.token(), &user("slashes"));
    created.expect(201);
    let id = created.body["id"].as_str().unwrap();
    server
        .get(&server.scim(&format!("//Users//{id}")), server.token())
        .expect(200);
    server
        .get(&server.scim("//ServiceProviderConfig"), server.token())
        .expect(200);
}

#[test]
fn head_answers_like_get_without_a_body_on_http_1_1() {
    let server = TestServer::start();
    server.create_user(&user("head.user"));
    let get = server.get(&server.scim("/Users"), server.token());
    let auth = format!("Bearer {}", server.token());
    let head = server.raw(
        "HEAD",
        &server.scim("/Users"),
        &[("Authorization", &auth)],
        None,
    );
    head.expect(200);
    assert!(head.text.is_empty());
    assert_eq!(
        head.header("content-length").map(str::to_string),
        Some(get.text.len().to_string())
    );
}

#[test]
fn head_answers_like_get_without_a_body_on_http_2() {
    if !curl_has("HTTP2") {
        eprintln!("skipped: no curl with HTTP/2 support");
        return;
    }
    let server = TestServer::start();
    server.create_user(&user("head.user"));
    let (headers, body) = curl(&server, &["--http2", "-I"], &server.scim("/Users"));
    assert!(headers.starts_with("http/2 200"), "{headers}");
    assert!(headers.contains("content-length:"), "{headers}");
    assert!(body.is_empty() || body.starts_with(b"HTTP/2"), "no body");
}

#[test]
fn large_responses_are_gzipped_when_the_client_accepts_gzip() {
    if !curl_has("libz") {
        eprintln!("skipped: curl without gzip support");
        return;
    }
    let server = TestServer::start();
    for i in 0..40 {
        server.create_user(&json!({
            "schemas": [USER_SCHEMA],
            "userName": format!("zip.user.{i:02}"),
            "name": {"givenName": "Zip", "familyName": format!("User {i}")},
            "emails": [{"value": format!("zip{i}@example.com"), "type": "work"}]
        }));
    }
    let (headers, body) = curl(&server, &["--compressed"], &server.scim("/Users"));
    assert!(headers.contains("content-encoding: gzip"), "{headers}");
    assert!(headers.contains("vary: accept-encoding"), "{headers}");
    let v: Value = serde_json::from_slice(&body).expect("curl decompressed a JSON list");
    assert_eq!(v["totalResults"], 40);
    // Without Accept-Encoding the same list comes uncompressed.
    let plain = server.get(&server.scim("/Users"), server.token());
    assert!(plain.header("content-encoding").is_none());
    assert_eq!(plain.body["totalResults"], 40);
}

#[test]
fn group_patch_answers_204_with_the_etag_unless_a_body_is_asked_for() {
    let server = TestServer::start();
    let member = server.create_user(&user("member"));
    let group = server.post_json(
        &server.scim("/Groups"),
        server.token(),
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "Ops"}),
    );
    group.expect(201);
    let gid = group.body["id"].as_str().unwrap();
    let add = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": member["id"]}]}]
    });
    let r = server.send_json(
        "PATCH",
        &server.scim(&format!("/Groups/{gid}")),
        server.token(),
        &add,
    );
    r.expect(204);
    assert!(r.text.is_empty());
    assert_eq!(r.header("etag"), Some("W/\"2\""));
    // Asking for attributes gets the body back.
    let rename = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ops Team"}]
    });
    let r = server.send_json(
        "PATCH",
        &server.scim(&format!("/Groups/{gid}?excludedAttributes=members")),
        server.token(),
        &rename,
    );
    r.expect(200);
    assert_eq!(r.body["displayName"], "Ops Team");
    assert!(r.body.get("members").is_none());
    // A user PATCH still answers 200 with the resource.
    let uid = member["id"].as_str().unwrap();
    let r = server.send_json(
        "PATCH",
        &server.scim(&format!("/Users/{uid}")),
        server.token(),
        &json!({"Operations": [{"op": "replace", "path": "title", "value": "Lead"}]}),
    );
    r.expect(200);
    assert_eq!(r.body["title"], "Lead");
}

#[test]
fn an_import_over_eight_connections_on_default_settings_is_never_throttled() {
    let server = TestServer::start();
    let per_connection = 150;
    let throttled: usize = thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|c| {
                let server = &server;
                s.spawn(move || {
                    let mut throttled = 0;
                    for i in 0..per_connection {
                        let r = server.post_json(
                            &server.scim("/Users"),
                            server.token(),
                            &user(&format!("import.{c}.{i}")),
                        );
                        if r.status == 429 {
                            throttled += 1;
                        } else {
                            r.expect(201);
                        }
                    }
                    throttled
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(throttled, 0, "429 answers during the import");
    let total = 8 * per_connection;
    for page in 0..total / 100 {
        let r = server.get(
            &server.scim(&format!("/Users?startIndex={}&count=100", page * 100 + 1)),
            server.token(),
        );
        r.expect(200);
        assert_eq!(r.body["totalResults"], total);
    }
}
