//! The behaviour the replaced products' admins expect (issue 6): delete
//! modes and revival, email uniqueness, group→role mappings, entitlement,
//! PINs, and settings that apply to a running server at once.

use crate::harness::*;
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn set(s: &TestServer, args: &[&str]) {
    let id = s.integration.id.clone();
    let mut all = vec!["integration", "set", id.as_str()];
    all.extend_from_slice(args);
    s.scimd_ok(&all);
}

fn members(s: &TestServer) -> Vec<Value> {
    let id = s.integration.id.clone();
    match s.scimd_json(&["members", &id, "--json"]) {
        Value::Array(a) => a,
        other => panic!("members --json is not an array: {other}"),
    }
}

fn member_named<'a>(list: &'a [Value], user_name: &str) -> Option<&'a Value> {
    list.iter().find(|m| m["userName"] == user_name)
}

fn create_group(s: &TestServer, name: &str, member_ids: &[&str]) -> Value {
    let members: Vec<Value> = member_ids.iter().map(|id| json!({"value": id})).collect();
    let resp = s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"displayName": name, "members": members}),
    );
    resp.expect(201);
    resp.body
}

fn add_member(s: &TestServer, group: &str, member: &str) {
    s.send_json(
        "PATCH",
        &s.scim(&format!("/Groups/{group}")),
        s.token(),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": member}]}]}),
    )
    .expect(204);
}

#[test]
fn delete_in_default_mode_hides_the_user_but_keeps_the_record() {
    let s = TestServer::start();
    let u = s.create_user(&user("gone@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    s.delete(&path, s.token()).expect(204);
    s.get(&path, s.token()).expect_error(404, None);
    let list = s.get(&s.scim("/Users"), s.token());
    assert_eq!(list.body["totalResults"], 0);
    let show = s.scimd_json(&["integration", "show", &s.integration.id, "--json"]);
    assert_eq!(show["settings"]["delete_mode"], "deactivate");
}

#[test]
fn post_after_deprovisioning_revives_the_same_id() {
    let s = TestServer::start();
    let u = s.create_user(&json!({"userName": "back@example.com", "externalId": "okta-9"}));
    s.delete(&s.scim(&format!("/Users/{}", id_of(&u))), s.token())
        .expect(204);
    let again = s.post_json(
        &s.scim("/Users"),
        s.token(),
        &json!({"userName": "BACK@example.com", "displayName": "Back Again"}),
    );
    again.expect(201);
    assert_eq!(again.body["id"], u["id"]);
    assert_eq!(again.body["displayName"], "Back Again");
    s.get(&s.scim(&format!("/Users/{}", id_of(&u))), s.token())
        .expect(200);
}

#[test]
fn revival_by_external_id_keeps_the_pin() {
    let s = TestServer::start();
    set(&s, &["--pin-digits", "6"]);
    let u = s.create_user(&json!({"userName": "pin@example.com", "externalId": "ext-1"}));
    let pin = member_named(&members(&s), "pin@example.com").expect("entitled")["pin"].clone();
    assert!(pin.as_str().is_some_and(|p| p.len() == 6));
    s.delete(&s.scim(&format!("/Users/{}", id_of(&u))), s.token())
        .expect(204);
    assert!(member_named(&members(&s), "pin@example.com").is_none());
    let again = s.post_json(
        &s.scim("/Users"),
        s.token(),
        &json!({"userName": "renamed@example.com", "externalId": "ext-1"}),
    );
    again.expect(201);
    assert_eq!(again.body["id"], u["id"]);
    let list = members(&s);
    let back = member_named(&list, "renamed@example.com").expect("entitled again");
    assert_eq!(back["pin"], pin);
}

#[test]
fn delete_mode_delete_removes_the_user_for_good() {
    let s = TestServer::start();
    set(&s, &["--delete-mode", "delete"]);
    let u = s.create_user(&user("hard@example.com"));
    s.delete(&s.scim(&format!("/Users/{}", id_of(&u))), s.token())
        .expect(204);
    let again = s.create_user(&user("hard@example.com"));
    assert_ne!(again["id"], u["id"]);
}

#[test]
fn users_purge_removes_deprovisioned_records() {
    let s = TestServer::start();
    let u = s.create_user(&user("purge@example.com"));
    s.delete(&s.scim(&format!("/Users/{}", id_of(&u))), s.token())
        .expect(204);
    let refused = s.scimd(&[
        "users",
        "purge",
        &s.integration.id,
        "--deprovisioned-before",
        "0",
    ]);
    assert_eq!(refused.status.code(), Some(1));
    s.scimd_ok(&[
        "users",
        "purge",
        &s.integration.id,
        "--deprovisioned-before",
        "0",
        "--yes",
    ]);
    let again = s.create_user(&user("purge@example.com"));
    assert_ne!(again["id"], u["id"], "a purged record cannot be revived");
}

#[test]
fn unique_email_refuses_a_second_user_with_the_same_email() {
    let s = TestServer::start();
    set(&s, &["--unique-email", "true"]);
    s.create_user(&json!({"userName": "a", "emails": [{"value": "Shared@Example.com"}]}));
    let resp = s.post_json(
        &s.scim("/Users"),
        s.token(),
        &json!({"userName": "b", "emails": [{"value": "shared@example.com"}]}),
    );
    resp.expect_error(409, Some("uniqueness"));
    assert!(
        resp.detail().contains("shared@example.com"),
        "{}",
        resp.detail()
    );
}

#[test]
fn email_may_repeat_when_unique_email_is_off() {
    let s = TestServer::start();
    s.create_user(&json!({"userName": "a", "emails": [{"value": "x@example.com"}]}));
    s.create_user(&json!({"userName": "b", "emails": [{"value": "x@example.com"}]}));
}

#[test]
fn roles_come_from_mapped_groups_including_nested_ones() {
    let s = TestServer::start();
    let id = s.integration.id.clone();
    s.scimd_ok(&["mapping", "add", &id, "--group", "Staff", "--role", "door"]);
    let u = s.create_user(&user("nested@example.com"));
    let inner = create_group(&s, "Engineering", &[&id_of(&u)]);
    let outer = create_group(&s, "Staff", &[]);
    add_member(&s, &id_of(&outer), &id_of(&inner));
    let list = members(&s);
    let m = member_named(&list, "nested@example.com").expect("member");
    assert_eq!(m["roles"], json!(["door"]));
}

#[test]
fn require_mapping_leaves_unmapped_users_out() {
    let s = TestServer::start();
    let id = s.integration.id.clone();
    set(&s, &["--require-mapping", "true"]);
    s.scimd_ok(&[
        "mapping", "add", &id, "--group", "Admins", "--role", "admin",
    ]);
    let mapped = s.create_user(&user("mapped@example.com"));
    s.create_user(&user("unmapped@example.com"));
    create_group(&s, "admins", &[&id_of(&mapped)]);
    let list = members(&s);
    assert!(member_named(&list, "mapped@example.com").is_some());
    assert!(member_named(&list, "unmapped@example.com").is_none());
    // Unentitled users are still answered over SCIM.
    let found = s.get(&s.scim("/Users"), s.token());
    assert_eq!(found.body["totalResults"], 2);
}

#[test]
fn inactive_users_are_not_entitled() {
    let s = TestServer::start();
    s.create_user(&json!({"userName": "off@example.com", "active": false}));
    assert!(member_named(&members(&s), "off@example.com").is_none());
}

#[test]
fn groups_as_roles_makes_every_group_name_a_role() {
    let s = TestServer::start();
    set(&s, &["--groups-as-roles", "true"]);
    let u = s.create_user(&user("gar@example.com"));
    create_group(&s, "Night Shift", &[&id_of(&u)]);
    let list = members(&s);
    assert_eq!(
        member_named(&list, "gar@example.com").unwrap()["roles"],
        json!(["Night Shift"])
    );
}

#[test]
fn mapping_added_before_its_group_exists_applies_when_it_arrives() {
    let s = TestServer::start();
    let id = s.integration.id.clone();
    s.scimd_ok(&[
        "mapping",
        "add",
        &id,
        "--group",
        "ext-grp-7",
        "--role",
        "late",
    ]);
    let u = s.create_user(&user("early@example.com"));
    let resp = s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"displayName": "Whatever", "externalId": "ext-grp-7", "members": [{"value": id_of(&u)}]}),
    );
    resp.expect(201);
    let list = members(&s);
    assert_eq!(
        member_named(&list, "early@example.com").unwrap()["roles"],
        json!(["late"])
    );
    let mappings = s.scimd_json(&["mapping", "list", &id, "--json"]);
    assert_eq!(mappings[0]["matches"], json!([resp.body["id"]]));
}

#[test]
fn removing_a_member_removes_the_role() {
    let s = TestServer::start();
    let id = s.integration.id.clone();
    s.scimd_ok(&["mapping", "add", &id, "--group", "Ops", "--role", "ops"]);
    let u = s.create_user(&user("leaver@example.com"));
    let g = create_group(&s, "Ops", &[&id_of(&u)]);
    s.send_json(
        "PATCH",
        &s.scim(&format!("/Groups/{}", id_of(&g))),
        s.token(),
        &json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": format!("members[value eq \"{}\"]", id_of(&u))}]}),
    )
    .expect(204);
    let list = members(&s);
    assert_eq!(
        member_named(&list, "leaver@example.com").unwrap()["roles"],
        json!([])
    );
}

#[test]
fn members_filters_by_role_and_prints_csv() {
    let s = TestServer::start();
    let id = s.integration.id.clone();
    s.scimd_ok(&[
        "mapping", "add", &id, "--group", "Cleaners", "--role", "cleaning",
    ]);
    let a = s.create_user(&user("a@example.com"));
    s.create_user(&user("b@example.com"));
    create_group(&s, "Cleaners", &[&id_of(&a)]);
    let only = s.scimd_json(&["members", &id, "--role", "cleaning", "--json"]);
    assert_eq!(only.as_array().map(Vec::len), Some(1));
    assert_eq!(only[0]["userName"], "a@example.com");
    assert_eq!(only[0]["pin"], Value::Null);
    let csv = String::from_utf8_lossy(&s.scimd_ok(&["members", &id, "--csv"]).stdout).to_string();
    assert!(
        csv.starts_with("id,userName,externalId,displayName,email,active,roles,pin\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "{csv}");
}

#[test]
fn pins_are_unique_and_of_the_configured_length() {
    let s = TestServer::start();
    set(&s, &["--pin-digits", "4"]);
    for i in 0..40 {
        s.create_user(&user(&format!("p{i}@example.com")));
    }
    let list = members(&s);
    let mut pins: Vec<String> = list
        .iter()
        .map(|m| m["pin"].as_str().unwrap().to_string())
        .collect();
    assert!(pins
        .iter()
        .all(|p| p.len() == 4 && p.chars().all(|c| c.is_ascii_digit())));
    pins.sort();
    pins.dedup();
    assert_eq!(pins.len(), 40);
}

#[test]
fn pin_never_appears_in_any_scim_response() {
    let s = TestServer::start();
    set(&s, &["--pin-digits", "8"]);
    let u = s.create_user(
        &json!({"userName": "secret@example.com", "emails": [{"value": "s@example.com"}]}),
    );
    let g = create_group(&s, "All", &[&id_of(&u)]);
    let pin = members(&s)[0]["pin"].as_str().unwrap().to_string();
    let uid = id_of(&u);
    let gid = id_of(&g);
    let bodies = [
        s.get(&s.scim(&format!("/Users/{uid}")), s.token()).text,
        s.get(&s.scim("/Users"), s.token()).text,
        s.get(&s.scim(&format!("/Users/{uid}?attributes=pin")), s.token()).text,
        s.get(&s.scim(&format!("/Groups/{gid}")), s.token()).text,
        s.get(&s.scim("/Groups"), s.token()).text,
        s.get(&s.scim("/Schemas"), s.token()).text,
        s.get(&s.scim("/ServiceProviderConfig"), s.token()).text,
        s.put_json(&s.scim(&format!("/Users/{uid}")), s.token(), &user("secret@example.com")).text,
        s.send_json(
            "PATCH",
            &s.scim(&format!("/Users/{uid}")),
            s.token(),
            &json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "S"}]}),
        )
        .text,
        s.get(&s.scim(&format!("/Users?filter=pin%20eq%20%22{pin}%22")), s.token()).text,
    ];
    for body in bodies {
        assert!(!body.contains(&pin), "PIN leaked in {body}");
    }
}

#[test]
fn pin_reset_draws_a_new_pin() {
    let s = TestServer::start();
    let id = s.integration.id.clone();
    set(&s, &["--pin-digits", "8"]);
    s.create_user(&user("reset@example.com"));
    let before = members(&s)[0]["pin"].clone();
    let out = s.scimd_json(&["pin", "reset", &id, "reset@example.com", "--json"]);
    assert_ne!(out["pin"], before);
    assert_eq!(members(&s)[0]["pin"], out["pin"]);
}

#[test]
fn pin_reset_refuses_when_pins_are_off() {
    let s = TestServer::start();
    s.create_user(&user("nopin@example.com"));
    let out = s.scimd(&["pin", "reset", &s.integration.id, "nopin@example.com"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn settings_are_validated() {
    let s = TestServer::start();
    let id = s.integration.id.clone();
    assert_eq!(
        s.scimd(&["integration", "set", &id, "--pin-digits", "3"])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        s.scimd(&["integration", "set", &id, "--delete-mode", "nuke"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(s.scimd(&["integration", "set", &id]).status.code(), Some(1));
}

#[test]
fn settings_show_defaults_in_snake_case() {
    let s = TestServer::start();
    let show = s.scimd_json(&["integration", "show", &s.integration.id, "--json"]);
    assert_eq!(
        show["settings"],
        json!({"delete_mode": "deactivate", "unique_email": false, "require_mapping": false,
               "groups_as_roles": false, "pin_digits": 0, "rate_limit": 5000, "rate_burst": 10000,
               "breaker": {"on": true, "percent": 25, "min": 10, "window_secs": 900}})
    );
}

#[test]
fn a_live_user_may_take_the_name_of_a_deprovisioned_one() {
    let s = TestServer::start();
    let alice = s.create_user(&user("alice@example.com"));
    let bob = s.create_user(&user("bob@example.com"));
    s.delete(&s.scim(&format!("/Users/{}", id_of(&alice))), s.token())
        .expect(204);
    let renamed = s.put_json(
        &s.scim(&format!("/Users/{}", id_of(&bob))),
        s.token(),
        &user("Alice@example.com"),
    );
    renamed.expect(200);
    assert_eq!(renamed.body["userName"], "Alice@example.com");
}
