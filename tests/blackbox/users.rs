//! SCIM Users over HTTP: create, read, list with paging, replace, delete, the
//! case-insensitive userName uniqueness rule, password handling, and the
//! isolation of one integration's users from another's. Authentication
//! failures belong to `auth`, malformed requests to `errors`.

use serde_json::{json, Value};

use crate::harness::{
    looks_like_rfc3339, user, TestServer, ENTERPRISE_USER, LIST_RESPONSE, USER_SCHEMA,
};

const PASSWORD: &str = "t0p-Secret-p4ssw0rd!";

fn user_with_password(user_name: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "password": PASSWORD,
    })
}

#[track_caller]
fn assert_no_password(v: &Value, text: &str) {
    assert!(v.get("password").is_none(), "password returned: {text}");
    assert!(!text.contains(PASSWORD), "password value returned: {text}");
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

// ---- create ----

#[test]
fn create_user_is_201() {
    let server = TestServer::start();
    server
        .post_json(&server.scim("/Users"), server.token(), &user("bjensen"))
        .expect(201);
}

#[test]
fn create_user_location_header_equals_meta_location() {
    let server = TestServer::start();
    let resp = server.post_json(&server.scim("/Users"), server.token(), &user("bjensen"));
    resp.expect(201);
    let id = id_of(&resp.body);
    let location = resp.header("location").expect("Location header");
    assert_eq!(Some(location), resp.body["meta"]["location"].as_str());
    assert!(location.starts_with("http"), "absolute URL: {location}");
    let suffix = format!("/scim/{}/Users/{}", server.integration.id, id);
    assert!(
        location.ends_with(&suffix),
        "{location} should end with {suffix}"
    );
}

#[test]
fn create_user_etag_is_weak_and_equals_meta_version() {
    let server = TestServer::start();
    let resp = server.post_json(&server.scim("/Users"), server.token(), &user("bjensen"));
    resp.expect(201);
    let etag = resp.header("etag").expect("ETag header");
    assert!(
        etag.starts_with("W/\"") && etag.ends_with('"'),
        "weak ETag: {etag}"
    );
    assert_eq!(Some(etag), resp.body["meta"]["version"].as_str());
}

#[test]
fn create_user_body_has_id_schemas_and_meta() {
    let server = TestServer::start();
    let body = server.create_user(&user("bjensen"));
    assert!(!id_of(&body).is_empty());
    assert_eq!(body["userName"], "bjensen");
    let schemas = body["schemas"].as_array().expect("schemas array");
    assert!(
        schemas.contains(&json!(USER_SCHEMA)),
        "schemas: {schemas:?}"
    );
    assert_eq!(body["meta"]["resourceType"], "User");
    for key in ["created", "lastModified"] {
        let t = body["meta"][key]
            .as_str()
            .unwrap_or_else(|| panic!("meta.{key}: {body}"));
        assert!(looks_like_rfc3339(t), "meta.{key} not RFC 3339: {t}");
    }
}

#[test]
fn client_sent_id_is_ignored() {
    let server = TestServer::start();
    let mut body = user("bjensen");
    body["id"] = json!("client-chosen-id");
    let created = server.create_user(&body);
    let id = id_of(&created);
    assert_ne!(id, "client-chosen-id");
    server
        .get(&server.scim("/Users/client-chosen-id"), server.token())
        .expect(404);
    server
        .get(&server.scim(&format!("/Users/{id}")), server.token())
        .expect(200);
}

#[test]
fn server_assigned_ids_are_distinct() {
    let server = TestServer::start();
    let a = id_of(&server.create_user(&user("a")));
    let b = id_of(&server.create_user(&user("b")));
    assert_ne!(a, b);
}

#[test]
fn missing_username_is_400() {
    let server = TestServer::start();
    let body = json!({"schemas": [USER_SCHEMA], "displayName": "No Name"});
    server
        .post_json(&server.scim("/Users"), server.token(), &body)
        .expect_error(400, None);
}

#[test]
fn attribute_names_are_case_insensitive_on_input() {
    let server = TestServer::start();
    let body = json!({"schemas": [USER_SCHEMA], "USERNAME": "caps", "DisplayName": "Caps Lock"});
    let created = server.create_user(&body);
    assert_eq!(created["userName"], "caps");
    assert_eq!(created["displayName"], "Caps Lock");
    assert!(
        created.get("USERNAME").is_none(),
        "non-canonical key echoed: {created}"
    );
    assert!(
        created.get("DisplayName").is_none(),
        "non-canonical key echoed: {created}"
    );
}

#[test]
fn sub_attribute_names_are_case_insensitive_on_input() {
    let server = TestServer::start();
    let body = json!({
        "schemas": [USER_SCHEMA],
        "userName": "subcaps",
        "name": {"GIVENNAME": "Barbara", "familyname": "Jensen"},
    });
    let created = server.create_user(&body);
    assert_eq!(created["name"]["givenName"], "Barbara", "{created}");
    assert_eq!(created["name"]["familyName"], "Jensen", "{created}");
}

#[test]
fn core_user_attributes_round_trip() {
    let server = TestServer::start();
    let body = json!({
        "schemas": [USER_SCHEMA],
        "userName": "bjensen@example.com",
        "externalId": "ext-701984",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": false,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
        "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
    });
    let id = id_of(&server.create_user(&body));
    let got = server.get(&server.scim(&format!("/Users/{id}")), server.token());
    let got = &got.expect(200).body;
    for key in [
        "userName",
        "externalId",
        "name",
        "displayName",
        "nickName",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
    ] {
        assert_eq!(got[key], body[key], "{key} in {got}");
    }
    assert_eq!(got["emails"][0]["value"], "bjensen@example.com", "{got}");
    assert_eq!(got["emails"][0]["type"], "work", "{got}");
    assert_eq!(got["emails"][0]["primary"], true, "{got}");
    assert_eq!(got["phoneNumbers"][0]["value"], "555-555-5555", "{got}");
}

#[test]
fn enterprise_extension_round_trips() {
    let server = TestServer::start();
    let body = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER],
        "userName": "ent",
        ENTERPRISE_USER: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
        },
    });
    let id = id_of(&server.create_user(&body));
    let got = server.get(&server.scim(&format!("/Users/{id}")), server.token());
    let got = &got.expect(200).body;
    let schemas = got["schemas"].as_array().expect("schemas");
    assert!(
        schemas.contains(&json!(ENTERPRISE_USER)),
        "schemas: {schemas:?}"
    );
    for key in [
        "employeeNumber",
        "costCenter",
        "organization",
        "division",
        "department",
    ] {
        assert_eq!(
            got[ENTERPRISE_USER][key], body[ENTERPRISE_USER][key],
            "{key} in {got}"
        );
    }
}

// ---- password ----

#[test]
fn password_is_not_returned_on_create() {
    let server = TestServer::start();
    let resp = server.post_json(
        &server.scim("/Users"),
        server.token(),
        &user_with_password("pw"),
    );
    resp.expect(201);
    assert_no_password(&resp.body, &resp.text);
}

#[test]
fn password_is_not_returned_on_get() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user_with_password("pw")));
    let resp = server.get(&server.scim(&format!("/Users/{id}")), server.token());
    resp.expect(200);
    assert_no_password(&resp.body, &resp.text);
}

#[test]
fn password_is_not_returned_in_list() {
    let server = TestServer::start();
    server.create_user(&user_with_password("pw"));
    let resp = server.get(&server.scim("/Users"), server.token());
    resp.expect(200);
    assert_eq!(resp.body["totalResults"], 1);
    assert_no_password(&resp.body["Resources"][0], &resp.text);
}

#[test]
fn password_is_not_returned_on_put() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("pw")));
    let resp = server.put_json(
        &server.scim(&format!("/Users/{id}")),
        server.token(),
        &user_with_password("pw"),
    );
    resp.expect(200);
    assert_no_password(&resp.body, &resp.text);
}

// ---- uniqueness ----

#[test]
fn duplicate_username_is_409() {
    let server = TestServer::start();
    server.create_user(&user("bjensen"));
    server
        .post_json(&server.scim("/Users"), server.token(), &user("bjensen"))
        .expect_error(409, Some("uniqueness"));
}

#[test]
fn duplicate_username_differing_in_case_is_409() {
    let server = TestServer::start();
    server.create_user(&user("bjensen"));
    server
        .post_json(&server.scim("/Users"), server.token(), &user("BJensen"))
        .expect_error(409, Some("uniqueness"));
}

#[test]
fn rejected_duplicate_is_not_stored() {
    let server = TestServer::start();
    server.create_user(&user("bjensen"));
    server
        .post_json(&server.scim("/Users"), server.token(), &user("BJENSEN"))
        .expect(409);
    let list = server.get(&server.scim("/Users"), server.token());
    assert_eq!(list.expect(200).body["totalResults"], 1);
}

#[test]
fn same_username_in_other_integration_is_201() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    server.create_user(&user("bjensen"));
    server
        .post_json(&other.path("/Users"), &other.token, &user("bjensen"))
        .expect(201);
}

// ---- read ----

#[test]
fn get_user_is_200_with_etag_equal_to_meta_version() {
    let server = TestServer::start();
    let created = server.create_user(&user("bjensen"));
    let id = id_of(&created);
    let resp = server.get(&server.scim(&format!("/Users/{id}")), server.token());
    resp.expect(200);
    assert_eq!(resp.body["id"], created["id"]);
    assert_eq!(resp.body["userName"], "bjensen");
    let etag = resp.header("etag").expect("ETag header");
    assert!(etag.starts_with("W/\""), "weak ETag: {etag}");
    assert_eq!(Some(etag), resp.body["meta"]["version"].as_str());
}

#[test]
fn get_unknown_user_is_404() {
    let server = TestServer::start();
    server
        .get(
            &server.scim("/Users/00000000-0000-0000-0000-000000000000"),
            server.token(),
        )
        .expect_error(404, None);
}

#[test]
fn user_of_other_integration_is_404_by_id() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    let id = id_of(&server.create_user(&user("mine")));
    server
        .get(&other.path(&format!("/Users/{id}")), &other.token)
        .expect_error(404, None);
}

#[test]
fn user_of_other_integration_cannot_be_deleted() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    let id = id_of(&server.create_user(&user("mine")));
    server
        .delete(&other.path(&format!("/Users/{id}")), &other.token)
        .expect(404);
    server
        .get(&server.scim(&format!("/Users/{id}")), server.token())
        .expect(200);
}

// ---- list ----

#[test]
fn list_users_is_a_list_response_with_exact_total() {
    let server = TestServer::start();
    for name in ["a", "b", "c"] {
        server.create_user(&user(name));
    }
    let resp = server.get(&server.scim("/Users"), server.token());
    let body = &resp.expect(200).body;
    assert_eq!(body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(body["totalResults"], 3);
    assert_eq!(body["startIndex"], 1);
    assert_eq!(body["itemsPerPage"], 3);
    assert_eq!(body["Resources"].as_array().map(Vec::len), Some(3));
}

#[test]
fn list_users_when_empty_has_total_zero() {
    let server = TestServer::start();
    let resp = server.get(&server.scim("/Users"), server.token());
    let body = &resp.expect(200).body;
    assert_eq!(body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(body["totalResults"], 0);
    if let Some(resources) = body.get("Resources") {
        assert_eq!(resources, &json!([]));
    }
}

#[test]
fn list_users_first_page() {
    let server = TestServer::start();
    for name in ["a", "b", "c"] {
        server.create_user(&user(name));
    }
    let resp = server.get(&server.scim("/Users?startIndex=1&count=2"), server.token());
    let body = &resp.expect(200).body;
    assert_eq!(body["schemas"], json!([LIST_RESPONSE]));
    assert_eq!(body["totalResults"], 3);
    assert_eq!(body["startIndex"], 1);
    assert_eq!(body["itemsPerPage"], 2);
    assert_eq!(body["Resources"].as_array().map(Vec::len), Some(2));
}

#[test]
fn list_users_last_partial_page() {
    let server = TestServer::start();
    for name in ["a", "b", "c"] {
        server.create_user(&user(name));
    }
    let resp = server.get(&server.scim("/Users?startIndex=3&count=2"), server.token());
    let body = &resp.expect(200).body;
    assert_eq!(body["totalResults"], 3);
    assert_eq!(body["startIndex"], 3);
    assert_eq!(body["itemsPerPage"], 1);
    assert_eq!(body["Resources"].as_array().map(Vec::len), Some(1));
}

#[test]
fn paging_visits_every_user_exactly_once() {
    let server = TestServer::start();
    let mut created: Vec<String> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| id_of(&server.create_user(&user(n))))
        .collect();
    let mut seen = Vec::new();
    for start in [1, 3, 5] {
        let resp = server.get(
            &server.scim(&format!("/Users?startIndex={start}&count=2")),
            server.token(),
        );
        let body = &resp.expect(200).body;
        assert_eq!(body["totalResults"], 5);
        for r in body["Resources"].as_array().expect("Resources") {
            seen.push(id_of(r));
        }
    }
    created.sort();
    seen.sort();
    assert_eq!(seen, created);
}

#[test]
fn list_with_count_zero_returns_only_total() {
    let server = TestServer::start();
    server.create_user(&user("a"));
    server.create_user(&user("b"));
    let resp = server.get(&server.scim("/Users?count=0"), server.token());
    let body = &resp.expect(200).body;
    assert_eq!(body["totalResults"], 2);
    let n = body
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    assert_eq!(n, 0, "count=0 returns no resources: {body}");
}

#[test]
fn users_of_other_integration_never_listed() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    server.create_user(&user("only-in-primary"));
    server.create_user(&user("also-in-primary"));
    server
        .post_json(&other.path("/Users"), &other.token, &user("only-in-other"))
        .expect(201);
    let resp = server.get(&other.path("/Users"), &other.token);
    let body = &resp.expect(200).body;
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["userName"], "only-in-other");
    assert!(
        !resp.text.contains("only-in-primary"),
        "leak: {}",
        resp.text
    );
}

// ---- replace ----

#[test]
fn put_replaces_user_and_drops_attributes_not_sent() {
    let server = TestServer::start();
    let mut body = user("bjensen");
    body["nickName"] = json!("Babs");
    body["title"] = json!("Tour Guide");
    let id = id_of(&server.create_user(&body));
    let mut replacement = user("bjensen");
    replacement["displayName"] = json!("Barbara Jensen");
    let path = server.scim(&format!("/Users/{id}"));
    let resp = server.put_json(&path, server.token(), &replacement);
    resp.expect(200);
    assert_eq!(resp.body["displayName"], "Barbara Jensen");
    assert!(
        resp.body.get("nickName").is_none(),
        "nickName kept: {}",
        resp.text
    );
    let got = server.get(&path, server.token());
    let got = &got.expect(200).body;
    assert_eq!(got["displayName"], "Barbara Jensen");
    assert!(got.get("nickName").is_none(), "nickName kept: {got}");
    assert!(got.get("title").is_none(), "title kept: {got}");
}

#[test]
fn put_keeps_id_and_created_and_changes_version() {
    let server = TestServer::start();
    let created = server.create_user(&user("bjensen"));
    let id = id_of(&created);
    let mut replacement = user("bjensen");
    replacement["displayName"] = json!("New Name");
    let resp = server.put_json(
        &server.scim(&format!("/Users/{id}")),
        server.token(),
        &replacement,
    );
    let body = &resp.expect(200).body;
    assert_eq!(body["id"], created["id"]);
    assert_eq!(body["meta"]["created"], created["meta"]["created"]);
    assert_ne!(body["meta"]["version"], created["meta"]["version"]);
    assert_eq!(resp.header("etag"), body["meta"]["version"].as_str());
}

#[test]
fn put_ignores_id_in_body() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("bjensen")));
    let mut replacement = user("bjensen");
    replacement["id"] = json!("something-else");
    let resp = server.put_json(
        &server.scim(&format!("/Users/{id}")),
        server.token(),
        &replacement,
    );
    assert_eq!(resp.expect(200).body["id"], json!(id));
}

#[test]
fn put_unknown_user_is_404() {
    let server = TestServer::start();
    server
        .put_json(
            &server.scim("/Users/00000000-0000-0000-0000-000000000000"),
            server.token(),
            &user("ghost"),
        )
        .expect_error(404, None);
}

#[test]
fn put_renaming_to_other_users_username_in_other_case_is_409() {
    let server = TestServer::start();
    server.create_user(&user("alice"));
    let bob = id_of(&server.create_user(&user("bob")));
    server
        .put_json(
            &server.scim(&format!("/Users/{bob}")),
            server.token(),
            &user("ALICE"),
        )
        .expect_error(409, Some("uniqueness"));
}

#[test]
fn put_changing_case_of_own_username_is_200() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("bob")));
    let resp = server.put_json(
        &server.scim(&format!("/Users/{id}")),
        server.token(),
        &user("Bob"),
    );
    assert_eq!(resp.expect(200).body["userName"], "Bob");
}

// ---- delete ----

#[test]
fn delete_user_is_204_with_empty_body() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("bjensen")));
    let resp = server.delete(&server.scim(&format!("/Users/{id}")), server.token());
    resp.expect(204);
    assert!(resp.text.is_empty(), "204 body: {:?}", resp.text);
}

#[test]
fn get_after_delete_is_404() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("bjensen")));
    let path = server.scim(&format!("/Users/{id}"));
    server.delete(&path, server.token()).expect(204);
    server.get(&path, server.token()).expect_error(404, None);
}

#[test]
fn delete_twice_is_404() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("bjensen")));
    let path = server.scim(&format!("/Users/{id}"));
    server.delete(&path, server.token()).expect(204);
    server.delete(&path, server.token()).expect_error(404, None);
}

#[test]
fn deleted_user_leaves_the_list() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("gone")));
    server.create_user(&user("stays"));
    server
        .delete(&server.scim(&format!("/Users/{id}")), server.token())
        .expect(204);
    let resp = server.get(&server.scim("/Users"), server.token());
    let body = &resp.expect(200).body;
    assert_eq!(body["totalResults"], 1);
    assert_eq!(body["Resources"][0]["userName"], "stays");
}

#[test]
fn username_of_deleted_user_can_be_reused() {
    let server = TestServer::start();
    let id = id_of(&server.create_user(&user("reuse")));
    server
        .delete(&server.scim(&format!("/Users/{id}")), server.token())
        .expect(204);
    server
        .post_json(&server.scim("/Users"), server.token(), &user("reuse"))
        .expect(201);
}

// ---- concurrency ----

#[test]
fn concurrent_creates_all_succeed() {
    let server = TestServer::start();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let server = &server;
                s.spawn(move || {
                    (0..8)
                        .map(|i| {
                            let name = format!("user-{t}-{i}");
                            server
                                .post_json(&server.scim("/Users"), server.token(), &user(&name))
                                .status
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(statuses.iter().all(|&s| s == 201), "{statuses:?}");
    let list = server.get(&server.scim("/Users?count=1"), server.token());
    assert_eq!(list.expect(200).body["totalResults"], 64);
}

#[test]
fn concurrent_duplicates_create_exactly_one_user() {
    let server = TestServer::start();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let server = &server;
                // Same userName in different cases, all at once.
                let name = if t % 2 == 0 { "race" } else { "RACE" };
                s.spawn(move || {
                    server
                        .post_json(&server.scim("/Users"), server.token(), &user(name))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        7,
        "{statuses:?}"
    );
}
