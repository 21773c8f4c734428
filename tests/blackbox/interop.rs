//! Interop round two (issue 9) over the wire: filters and PATCH requests in
//! the exact form Entra, Okta and SailPoint send them, each accepted as a
//! named dialect, and the neighbouring malformed inputs still refused.

use crate::harness::*;
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const CUSTOM_BADGE: &str =
    "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:badgeId";

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn patch(s: &TestServer, id: &str, ops: Value) -> Resp {
    s.send_json(
        "PATCH",
        &s.scim(&format!("/Users/{id}")),
        s.token(),
        &json!({"schemas": [PATCH_OP], "Operations": ops}),
    )
}

/// `GET /Users?<query>` with the query string exactly as given.
fn user_names(s: &TestServer, query: &str) -> Vec<String> {
    let r = s.get(&s.scim(&format!("/Users?{query}")), s.token());
    r.expect(200);
    let found: Vec<String> = r.body["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources: {}", r.text))
        .iter()
        .map(|u| u["userName"].as_str().expect("userName").to_string())
        .collect();
    assert_eq!(r.body["totalResults"], json!(found.len()), "{}", r.text);
    found
}

fn with_email(user_name: &str, kind: &str, email: &str) -> Value {
    let mut u = user(user_name);
    u["emails"] = json!([{"type": kind, "value": email}]);
    u
}

// ------------------------------------------------------------------ filters

#[test]
fn entra_query_string_with_plus_and_percent_quotes_finds_the_user() {
    let s = TestServer::start();
    s.create_user(&user("bjensen"));
    s.create_user(&user("bjensen2"));
    assert_eq!(
        user_names(&s, "filter=userName+eq+%22bjensen%22"),
        ["bjensen"]
    );
}

#[test]
fn entra_sub_attribute_after_value_filter_finds_the_user() {
    let s = TestServer::start();
    s.create_user(&with_email("ana", "work", "ana@example.com"));
    s.create_user(&with_email("ana-home", "home", "ana@example.com"));
    s.create_user(&with_email("bob", "work", "bob@example.com"));
    assert_eq!(
        user_names(
            &s,
            "filter=emails%5Btype+eq+%22work%22%5D.value+eq+%22ana%40example.com%22"
        ),
        ["ana"]
    );
    assert_eq!(
        user_names(&s, "filter=emails%5Btype+eq+%22home%22%5D.value+pr"),
        ["ana-home"]
    );
}

#[test]
fn sort_by_with_a_value_filter_stays_refused() {
    let s = TestServer::start();
    s.create_user(&with_email("ana", "work", "ana@example.com"));
    let r = s.get(
        &s.scim("/Users?sortBy=emails%5Btype+eq+%22work%22%5D.value"),
        s.token(),
    );
    r.expect_error(400, None);
    let t = r.body["scimType"].as_str();
    assert!(
        t == Some("invalidValue") || t == Some("invalidSyntax"),
        "{}",
        r.text
    );
}

#[test]
fn unquoted_filter_values_are_strings() {
    let s = TestServer::start();
    s.create_user(&user("bjensen"));
    s.create_user(&user("OMalley"));
    assert_eq!(user_names(&s, "filter=userName+eq+bjensen"), ["bjensen"]);
    assert_eq!(user_names(&s, "filter=userName+sw+O"), ["OMalley"]);
}

#[test]
fn broken_filters_keep_their_errors() {
    let s = TestServer::start();
    for (query, needle) in [
        ("filter=userName+eq", "expected a value"),
        ("filter=userName+eq+%27bjensen%27", "double quotes"),
        (
            "filter=userName+eq+bjensen+and",
            "found the end of the input",
        ),
        (
            "filter=emails%5Btype+eq+%22work%22%5D.value",
            "expected a comparison operator after 'value'",
        ),
    ] {
        let r = s.get(&s.scim(&format!("/Users?{query}")), s.token());
        r.expect_error(400, Some("invalidFilter"));
        assert!(r.detail().contains(needle), "{query}: {}", r.text);
    }
}

#[test]
fn sailpoint_datetime_without_offset_is_utc() {
    let s = TestServer::start();
    s.create_user(&user("fresh"));
    assert_eq!(
        user_names(
            &s,
            "filter=meta.lastModified+gt+%222020-01-01T00%3A00%3A00%22"
        ),
        ["fresh"]
    );
    assert!(user_names(
        &s,
        "filter=meta.lastModified+gt+%222999-01-01T00%3A00%3A00%22"
    )
    .is_empty());
}

#[test]
fn filter_dialects_are_logged_at_debug_by_name() {
    let s = TestServer::start_with(&[], &[("SCIMD_LOG", "debug")]);
    s.create_user(&with_email("ana", "work", "ana@example.com"));
    user_names(&s, "filter=userName+eq+ana");
    user_names(&s, "filter=emails%5Btype+eq+%22work%22%5D.value+pr");
    user_names(
        &s,
        "filter=meta.lastModified+gt+%222020-01-01T00%3A00%3A00%22",
    );
    let log = s.serve().log();
    for name in [
        "unquoted_value",
        "value_filter_sub_attribute",
        "datetime_without_offset",
    ] {
        assert!(log.contains(name), "{name} not logged:\n{log}");
    }
}

// -------------------------------------------------------------------- PATCH

#[test]
fn entra_replace_on_missing_filtered_elements_creates_them_with_the_rest_applied() {
    let s = TestServer::start();
    let u = s.create_user(&user("noemail"));
    let r = patch(
        &s,
        &id_of(&u),
        json!([
            {"op": "Replace", "path": "name.givenName", "value": "Ana"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ana@example.com"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
            {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555-0100"},
        ]),
    );
    r.expect(200);
    let now = s.get(&s.scim(&format!("/Users/{}", id_of(&u))), s.token());
    now.expect(200);
    for body in [&r.body, &now.body] {
        assert_eq!(body["name"]["givenName"], "Ana", "{body}");
        assert_eq!(
            body["emails"],
            json!([{"type": "work", "value": "ana@example.com"}])
        );
        assert_eq!(
            body["addresses"],
            json!([{"type": "work", "formatted": "1 Main St"}])
        );
        assert_eq!(
            body["phoneNumbers"],
            json!([{"type": "mobile", "value": "555-0100"}])
        );
    }
}

#[test]
fn entra_app_role_sequence_with_boolean_string_filter() {
    let s = TestServer::start();
    let u = s.create_user(&user("roles"));
    let id = id_of(&u);
    let admin =
        r#"{"id":"8e6a0f59-0000-4000-8000-000000000001","value":"Admin","displayName":"Admin"}"#;
    patch(
        &s,
        &id,
        json!([{"op": "Add", "path": "roles", "value": [{"value": admin, "primary": "True"}]}]),
    )
    .expect(200);
    let r = patch(
        &s,
        &id,
        json!([{"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "User"}]),
    );
    r.expect(200);
    assert_eq!(r.body["roles"], json!([{"value": "User", "primary": true}]));
    let second = patch(
        &s,
        &id,
        json!([{"op": "Add", "path": "roles", "value": [{"value": admin, "primary": "True"}]}]),
    );
    second.expect(200);
    let roles = second.body["roles"].as_array().expect("roles").clone();
    let primaries: Vec<&Value> = roles.iter().filter(|r| r["primary"] == true).collect();
    assert_eq!(primaries.len(), 1, "{}", second.text);
    assert_eq!(primaries[0]["value"], admin);
}

#[test]
fn patch_naming_unknown_attributes_applies_the_rest() {
    let s = TestServer::start();
    let u = s.create_user(&user("custom"));
    let r = patch(
        &s,
        &id_of(&u),
        json!([
            {"op": "Add", "path": CUSTOM_BADGE, "value": "B-1"},
            {"op": "Replace", "path": "nickName2", "value": "x"},
            {"op": "Replace", "path": "displayName", "value": "Custom Person"},
            {"op": "Add", "value": {"title": "Engineer", "badgeColour": "red"}},
        ]),
    );
    r.expect(200);
    assert_eq!(r.body["displayName"], "Custom Person", "{}", r.text);
    assert_eq!(r.body["title"], "Engineer", "{}", r.text);
    for absent in ["B-1", "nickName2", "badgeColour", "CustomExtensionName"] {
        assert!(!r.text.contains(absent), "{absent} in {}", r.text);
    }
}

#[test]
fn patch_with_an_unparsable_path_stays_invalid_path() {
    let s = TestServer::start();
    let u = s.create_user(&user("badpath"));
    patch(
        &s,
        &id_of(&u),
        json!([
            {"op": "Replace", "path": "displayName", "value": "Changed"},
            {"op": "Replace", "path": "emails[type eq \"work\"", "value": "x"},
        ]),
    )
    .expect_error(400, Some("invalidPath"));
    let now = s.get(&s.scim(&format!("/Users/{}", id_of(&u))), s.token());
    assert!(now.body.get("displayName").is_none(), "{}", now.text);
}

#[test]
fn empty_operations_is_a_no_op_keeping_the_version() {
    let s = TestServer::start();
    let u = s.create_user(&user("validator"));
    let r = patch(&s, &id_of(&u), json!([]));
    r.expect(200);
    assert_eq!(r.body["userName"], "validator", "{}", r.text);
    assert_eq!(r.body["meta"]["version"], u["meta"]["version"]);
    let now = s.get(&s.scim(&format!("/Users/{}", id_of(&u))), s.token());
    assert_eq!(now.body, r.body);
}

#[test]
fn patch_dialects_are_logged_at_debug_by_name() {
    let s = TestServer::start_with(&[], &[("SCIMD_LOG", "debug")]);
    let u = s.create_user(&user("logged"));
    patch(
        &s,
        &id_of(&u),
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "l@example.com"},
            {"op": "Add", "path": CUSTOM_BADGE, "value": "B-2"},
        ]),
    )
    .expect(200);
    let log = s.serve().log();
    for name in [
        "replace_creates_filtered_element",
        "unknown_attribute_ignored",
    ] {
        assert!(log.contains(name), "{name} not logged:\n{log}");
    }
}
