//! Groups, PATCH dialects, ETags and Bulk over the wire (issue 5).

use crate::harness::*;
use serde_json::{json, Value};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

fn patch(s: &TestServer, path: &str, ops: Value) -> Resp {
    s.send_json(
        "PATCH",
        path,
        s.token(),
        &json!({"schemas": [PATCH_OP], "Operations": ops}),
    )
}

fn group(s: &TestServer, body: Value) -> Value {
    let r = s.post_json(&s.scim("/Groups"), s.token(), &body);
    r.expect(201);
    r.body
}

fn member_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn group_create_returns_201_with_location_and_members() {
    let s = TestServer::start();
    let u = s.create_user(&user("m@example.com"));
    let r = s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Eng", "members": [{"value": id_of(&u)}]}),
    );
    r.expect(201);
    assert_eq!(r.header("location"), r.body["meta"]["location"].as_str());
    assert_eq!(r.body["meta"]["resourceType"], "Group");
    assert_eq!(member_ids(&r.body), vec![id_of(&u)]);
    assert_eq!(r.body["members"][0]["type"], "User");
}

/// A group's members are written straight to bytes when shown whole; a
/// projection that names a member sub-attribute takes the general path.
/// Both must give the same body, byte for byte.
#[test]
fn a_group_with_members_reads_the_same_whether_written_directly_or_projected() {
    let s = TestServer::start();
    let u1 = id_of(&s.create_user(&user("m1")));
    let u2 = id_of(&s.create_user(&user("m2")));
    let inner = id_of(&group(&s, json!({"displayName": "inner"})));
    let g = id_of(&group(
        &s,
        json!({"displayName": "outer \"quoted\" é", "externalId": "x1", "members": [
            {"value": u1}, {"value": inner}, {"value": u2}
        ]}),
    ));
    let direct = s.get(&s.scim(&format!("/Groups/{g}")), s.token());
    direct.expect(200);
    let projected = s.get(
        &s.scim(&format!("/Groups/{g}?excludedAttributes=members.display")),
        s.token(),
    );
    projected.expect(200);
    assert_eq!(direct.text, projected.text);
    assert_eq!(direct.body["members"].as_array().map(Vec::len), Some(3));
    assert_eq!(direct.header("etag"), projected.header("etag"));
    // Without meta, the members come last in both.
    let no_meta = s.get(
        &s.scim(&format!("/Groups/{g}?excludedAttributes=meta")),
        s.token(),
    );
    let no_meta_projected = s.get(
        &s.scim(&format!(
            "/Groups/{g}?excludedAttributes=meta,members.display"
        )),
        s.token(),
    );
    assert_eq!(no_meta.text, no_meta_projected.text);
    assert!(no_meta.body.get("meta").is_none());
}

#[test]
fn two_groups_may_share_a_display_name() {
    let s = TestServer::start();
    group(&s, json!({"displayName": "Same"}));
    group(&s, json!({"displayName": "Same"}));
}

#[test]
fn group_external_id_is_unique() {
    let s = TestServer::start();
    group(&s, json!({"displayName": "A", "externalId": "x1"}));
    s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"displayName": "B", "externalId": "x1"}),
    )
    .expect_error(409, Some("uniqueness"));
}

#[test]
fn unknown_member_is_invalid_value_naming_it() {
    let s = TestServer::start();
    let r = s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"displayName": "A", "members": [{"value": "no-such-id"}]}),
    );
    r.expect_error(400, Some("invalidValue"));
    assert!(r.detail().contains("no-such-id"), "{}", r.detail());
}

#[test]
fn okta_style_member_remove_really_removes() {
    let s = TestServer::start();
    let a = s.create_user(&user("a@example.com"));
    let b = s.create_user(&user("b@example.com"));
    let g = group(
        &s,
        json!({"displayName": "G", "members": [{"value": id_of(&a)}, {"value": id_of(&b)}]}),
    );
    let path = s.scim(&format!("/Groups/{}", id_of(&g)));
    patch(
        &s,
        &path,
        json!([{"op": "remove", "path": format!("members[value eq \"{}\"]", id_of(&a))}]),
    )
    .expect(204);
    assert_eq!(member_ids(&s.get(&path, s.token()).body), vec![id_of(&b)]);
}

#[test]
fn entra_style_member_remove_with_value_array() {
    let s = TestServer::start();
    let a = s.create_user(&user("a@example.com"));
    let g = group(
        &s,
        json!({"displayName": "G", "members": [{"value": id_of(&a)}]}),
    );
    let path = s.scim(&format!("/Groups/{}", id_of(&g)));
    patch(
        &s,
        &path,
        json!([{"op": "Remove", "path": "members", "value": [{"value": id_of(&a)}]}]),
    )
    .expect(204);
    assert!(member_ids(&s.get(&path, s.token()).body).is_empty());
}

#[test]
fn adding_an_existing_member_is_idempotent_and_keeps_the_version() {
    let s = TestServer::start();
    let a = s.create_user(&user("a@example.com"));
    let g = group(
        &s,
        json!({"displayName": "G", "members": [{"value": id_of(&a)}]}),
    );
    let path = s.scim(&format!("/Groups/{}", id_of(&g)));
    let r = patch(
        &s,
        &path,
        json!([{"op": "add", "path": "members", "value": [{"value": id_of(&a)}]}]),
    );
    // Group PATCH answers 204 with the ETag: the version did not move.
    r.expect(204);
    assert_eq!(r.header("etag"), g["meta"]["version"].as_str());
    assert_eq!(member_ids(&s.get(&path, s.token()).body), vec![id_of(&a)]);
}

#[test]
fn nested_groups_show_in_user_groups_as_indirect() {
    let s = TestServer::start();
    let u = s.create_user(&user("n@example.com"));
    let inner = group(
        &s,
        json!({"displayName": "Inner", "members": [{"value": id_of(&u)}]}),
    );
    let outer = group(
        &s,
        json!({"displayName": "Outer", "members": [{"value": id_of(&inner), "type": "Group"}]}),
    );
    let got = s.get(&s.scim(&format!("/Users/{}", id_of(&u))), s.token());
    let groups = got.body["groups"].as_array().expect("groups").clone();
    let kind = |id: &str| {
        groups
            .iter()
            .find(|g| g["value"] == id)
            .map(|g| g["type"].clone())
    };
    assert_eq!(kind(&id_of(&inner)), Some(json!("direct")));
    assert_eq!(kind(&id_of(&outer)), Some(json!("indirect")));
}

#[test]
fn group_cycles_are_refused() {
    let s = TestServer::start();
    let a = group(&s, json!({"displayName": "A"}));
    let b = group(
        &s,
        json!({"displayName": "B", "members": [{"value": id_of(&a)}]}),
    );
    patch(
        &s,
        &s.scim(&format!("/Groups/{}", id_of(&a))),
        json!([{"op": "add", "path": "members", "value": [{"value": id_of(&b)}]}]),
    )
    .expect_error(400, Some("invalidValue"));
}

#[test]
fn excluded_members_are_not_returned() {
    let s = TestServer::start();
    let u = s.create_user(&user("x@example.com"));
    let g = group(
        &s,
        json!({"displayName": "G", "members": [{"value": id_of(&u)}]}),
    );
    let r = s.get(
        &s.scim(&format!("/Groups/{}?excludedAttributes=members", id_of(&g))),
        s.token(),
    );
    r.expect(200);
    assert!(r.body.get("members").is_none(), "{}", r.text);
    assert_eq!(r.body["displayName"], "G");
}

#[test]
fn deleting_a_user_ends_its_memberships() {
    let s = TestServer::start();
    let u = s.create_user(&user("d@example.com"));
    let g = group(
        &s,
        json!({"displayName": "G", "members": [{"value": id_of(&u)}]}),
    );
    s.delete(&s.scim(&format!("/Users/{}", id_of(&u))), s.token())
        .expect(204);
    let r = s.get(&s.scim(&format!("/Groups/{}", id_of(&g))), s.token());
    assert!(member_ids(&r.body).is_empty(), "{}", r.text);
}

#[test]
fn group_delete_is_204_then_404() {
    let s = TestServer::start();
    let g = group(&s, json!({"displayName": "G"}));
    let path = s.scim(&format!("/Groups/{}", id_of(&g)));
    s.delete(&path, s.token()).expect(204);
    s.get(&path, s.token()).expect_error(404, None);
}

#[test]
fn entra_no_path_replace_with_string_boolean_and_dotted_keys() {
    let s = TestServer::start();
    let u = s.create_user(&user("e@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    let r = patch(
        &s,
        &path,
        json!([{"op": "Replace", "value": {"active": "False", "name.givenName": "Eve"}}]),
    );
    r.expect(200);
    assert_eq!(r.body["active"], false);
    assert_eq!(r.body["name"]["givenName"], "Eve");
}

#[test]
fn patch_enterprise_manager_as_bare_id() {
    let s = TestServer::start();
    let boss = s.create_user(&user("boss@example.com"));
    let u = s.create_user(&user("e@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    let r = patch(
        &s,
        &path,
        json!([{"op": "add", "path": format!("{ENTERPRISE}:manager"), "value": id_of(&boss)}]),
    );
    r.expect(200);
    assert_eq!(r.body[ENTERPRISE]["manager"]["value"], boss["id"]);
}

#[test]
fn patch_add_to_missing_filtered_element_creates_it() {
    let s = TestServer::start();
    let u = s.create_user(&user("p@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    let r = patch(
        &s,
        &path,
        json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"}]),
    );
    r.expect(200);
    assert_eq!(
        r.body["phoneNumbers"],
        json!([{"value": "555", "type": "mobile"}])
    );
}

#[test]
fn patch_replace_on_filter_matching_nothing_is_no_target() {
    let s = TestServer::start();
    let u = s.create_user(&user("p@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    // An `eq` filter would create the element (interop::entra_replace_…).
    patch(
        &s,
        &path,
        json!([{"op": "replace", "path": "emails[type sw \"wo\"].value", "value": "x@y"}]),
    )
    .expect_error(400, Some("noTarget"));
}

#[test]
fn patch_is_atomic() {
    let s = TestServer::start();
    let u = s.create_user(&user("atomic@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    patch(
        &s,
        &path,
        json!([{"op": "replace", "path": "displayName", "value": "Changed"}, {"op": "remove"}]),
    )
    .expect(400);
    let now = s.get(&path, s.token());
    assert!(now.body.get("displayName").is_none(), "{}", now.text);
    assert_eq!(now.body["meta"]["version"], u["meta"]["version"]);
}

#[test]
fn patch_on_read_only_attribute_is_mutability() {
    let s = TestServer::start();
    let u = s.create_user(&user("ro@example.com"));
    patch(
        &s,
        &s.scim(&format!("/Users/{}", id_of(&u))),
        json!([{"op": "replace", "path": "id", "value": "x"}]),
    )
    .expect_error(400, Some("mutability"));
}

#[test]
fn idempotent_patch_keeps_the_version() {
    let s = TestServer::start();
    let u = s.create_user(&json!({"userName": "same@example.com", "displayName": "S"}));
    let r = patch(
        &s,
        &s.scim(&format!("/Users/{}", id_of(&u))),
        json!([{"op": "replace", "path": "displayName", "value": "S"}]),
    );
    r.expect(200);
    assert_eq!(r.body["meta"]["version"], u["meta"]["version"]);
}

#[test]
fn stale_if_match_is_412_and_current_one_works() {
    let s = TestServer::start();
    let u = s.create_user(&user("etag@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    let etag = u["meta"]["version"].as_str().unwrap().to_string();
    let auth = format!("Bearer {}", s.token());
    let body = serde_json::to_vec(&user("etag2@example.com")).unwrap();
    let put = |tag: &str| {
        s.raw(
            "PUT",
            &path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/scim+json"),
                ("If-Match", tag),
            ],
            Some(&body),
        )
    };
    put(&etag).expect(200);
    put(&etag).expect_error(412, None);
    put("*").expect(200);
}

#[test]
fn if_none_match_with_current_version_is_304() {
    let s = TestServer::start();
    let u = s.create_user(&user("cache@example.com"));
    let path = s.scim(&format!("/Users/{}", id_of(&u)));
    let auth = format!("Bearer {}", s.token());
    let etag = u["meta"]["version"].as_str().unwrap().to_string();
    let r = s.raw(
        "GET",
        &path,
        &[("Authorization", &auth), ("If-None-Match", &etag)],
        None,
    );
    r.expect(304);
}

#[test]
fn bulk_resolves_bulk_ids_in_dependency_order() {
    let s = TestServer::start();
    let r = s.post_json(
        &s.scim("/Bulk"),
        s.token(),
        &json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "G", "members": [{"value": "bulkId:u", "type": "User"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "bulk@example.com"}}
        ]}),
    );
    r.expect(200);
    let ops = r.body["Operations"].as_array().unwrap();
    assert!(ops.iter().all(|o| o["status"] == "201"), "{}", r.text);
    let group_loc = ops.iter().find(|o| o["bulkId"] == "g").unwrap()["location"]
        .as_str()
        .unwrap()
        .to_string();
    let group_path = group_loc[group_loc.find("/scim/").unwrap()..].to_string();
    let g = s.get(&group_path, s.token());
    assert_eq!(
        g.body["members"].as_array().map(Vec::len),
        Some(1),
        "{}",
        g.text
    );
}

#[test]
fn bulk_circular_references_are_409_per_operation() {
    let s = TestServer::start();
    let r = s.post_json(
        &s.scim("/Bulk"),
        s.token(),
        &json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"displayName": "A", "members": [{"value": "bulkId:b"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"displayName": "B", "members": [{"value": "bulkId:a"}]}}
        ]}),
    );
    r.expect(200);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|o| o["status"] == "409"), "{}", r.text);
}

#[test]
fn bulk_fail_on_errors_stops_after_the_limit() {
    let s = TestServer::start();
    let r = s.post_json(
        &s.scim("/Bulk"),
        s.token(),
        &json!({"schemas": [BULK_REQUEST], "failOnErrors": 1, "Operations": [
            {"method": "DELETE", "path": "/Users/missing"},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "never@example.com"}}
        ]}),
    );
    r.expect(200);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1, "{}", r.text);
    assert_eq!(ops[0]["status"], "404");
    assert_eq!(s.get(&s.scim("/Users"), s.token()).body["totalResults"], 0);
}

#[test]
fn bulk_one_failure_does_not_undo_the_others() {
    let s = TestServer::start();
    s.create_user(&user("taken@example.com"));
    let r = s.post_json(
        &s.scim("/Bulk"),
        s.token(),
        &json!({"schemas": [BULK_REQUEST], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "a", "data": {"userName": "TAKEN@example.com"}},
            {"method": "POST", "path": "/Users", "bulkId": "b", "data": {"userName": "fresh@example.com"}}
        ]}),
    );
    r.expect(200);
    let ops = r.body["Operations"].as_array().unwrap();
    assert_eq!(ops[0]["status"], "409");
    assert_eq!(ops[0]["response"]["scimType"], "uniqueness");
    assert_eq!(ops[1]["status"], "201");
}

#[test]
fn service_provider_config_advertises_patch_bulk_and_etag() {
    let s = TestServer::start();
    let r = s.get(&s.scim("/ServiceProviderConfig"), s.token());
    assert_eq!(r.body["patch"]["supported"], true);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["bulk"]["supported"], true);
    assert_eq!(r.body["bulk"]["maxOperations"], 1000);
}

#[test]
fn deleting_a_nested_group_gives_its_parent_a_new_version() {
    let s = TestServer::start();
    let child = group(&s, json!({"displayName": "Child"}));
    let parent = group(
        &s,
        json!({"displayName": "Parent", "members": [{"value": id_of(&child), "type": "Group"}]}),
    );
    s.delete(&s.scim(&format!("/Groups/{}", id_of(&child))), s.token())
        .expect(204);
    let now = s.get(&s.scim(&format!("/Groups/{}", id_of(&parent))), s.token());
    assert_ne!(now.body["meta"]["version"], parent["meta"]["version"]);
    assert!(member_ids(&now.body).is_empty(), "{}", now.text);
}

#[test]
fn patch_with_more_values_than_the_bound_is_refused() {
    let s = TestServer::start();
    let u = s.create_user(&user("many@example.com"));
    let emails: Vec<Value> = (0..1001)
        .map(|i| json!({"value": format!("e{i}@example.com")}))
        .collect();
    patch(
        &s,
        &s.scim(&format!("/Users/{}", id_of(&u))),
        json!([{"op": "add", "path": "emails", "value": emails}]),
    )
    .expect_error(400, Some("invalidValue"));
}
