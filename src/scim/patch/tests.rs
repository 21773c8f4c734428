use super::*;
use crate::scim::error::ScimType;
use crate::scim::schema::{ENTERPRISE_USER_URN as ENT, GROUP_TYPE, USER_TYPE, USER_URN};
use proptest::prelude::*;
use serde_json::json;

fn stored_user() -> Value {
    normalize(
        &USER_TYPE,
        &json!({
            "userName": "bjensen@example.com",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "displayName": "Babs Jensen",
            "active": true,
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@jensen.org", "type": "home"},
            ],
            "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
            ENT: {"employeeNumber": "701984", "department": "Tour Operations"},
        }),
    )
    .unwrap()
}

fn stored_group() -> Value {
    normalize(&GROUP_TYPE, &json!({"displayName": "Tour Guides"})).unwrap()
}

fn body(ops: Value) -> Value {
    json!({"schemas": [PATCH_OP_URN], "Operations": ops})
}

fn patch_user(ops: Value) -> Patched {
    apply(&USER_TYPE, &stored_user(), &body(ops)).unwrap_or_else(|e| panic!("{e}"))
}

fn user_err(ops: Value) -> ScimError {
    match apply(&USER_TYPE, &stored_user(), &body(ops)) {
        Ok(p) => panic!("expected an error, got {}", p.resource),
        Err(e) => e,
    }
}

fn patch_group(ops: Value) -> Patched {
    apply(&GROUP_TYPE, &stored_group(), &body(ops)).unwrap_or_else(|e| panic!("{e}"))
}

fn group_err(ops: Value) -> ScimError {
    apply(&GROUP_TYPE, &stored_group(), &body(ops)).unwrap_err()
}

fn assert_err(e: &ScimError, t: ScimType, needle: &str) {
    assert_eq!(e.status, 400, "{e}");
    assert_eq!(e.scim_type, Some(t), "{e}");
    assert!(e.detail.contains(needle), "{:?} lacks {needle:?}", e.detail);
}

fn member(id: &str) -> MemberRef {
    MemberRef {
        value: id.into(),
        kind: None,
    }
}

// ------------------------------------------------------- request shape

#[test]
fn body_without_operations_is_invalid_syntax() {
    let e = apply(
        &USER_TYPE,
        &stored_user(),
        &json!({"schemas": [PATCH_OP_URN]}),
    )
    .unwrap_err();
    assert_err(&e, ScimType::InvalidSyntax, "Operations");
    let e = apply(&USER_TYPE, &stored_user(), &json!([])).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
}

#[test]
fn empty_operations_change_nothing() {
    let p = patch_user(json!([]));
    assert_eq!(p.resource, stored_user());
    assert!(p.member_ops.is_empty());
    assert!(p.quirks.contains(&"empty_operations"));
}

#[test]
fn operations_over_limit_are_too_many() {
    let ops = vec![json!({"op": "replace", "path": "title", "value": "x"}); MAX_OPERATIONS + 1];
    assert_err(&user_err(Value::Array(ops)), ScimType::TooMany, "1001");
}

#[test]
fn operations_at_limit_are_accepted() {
    let ops = vec![json!({"op": "replace", "path": "title", "value": "x"}); MAX_OPERATIONS];
    assert_eq!(patch_user(Value::Array(ops)).resource["title"], "x");
}

#[test]
fn operations_key_is_case_insensitive() {
    // ssoready's capture of an Entra-style body used "operations".
    let b = json!({"operations": [{"op": "replace", "path": "title", "value": "Boss"}]});
    let p = apply(&USER_TYPE, &stored_user(), &b).unwrap();
    assert_eq!(p.resource["title"], "Boss");
    assert!(p.quirks.contains(&"operations_key_case"));
}

#[test]
fn missing_patchop_schema_is_accepted() {
    let b = json!({"Operations": [{"op": "replace", "path": "title", "value": "Boss"}]});
    let p = apply(&USER_TYPE, &stored_user(), &b).unwrap();
    assert_eq!(p.resource["title"], "Boss");
    assert!(p.quirks.contains(&"missing_patchop_schema"));
}

#[test]
fn unknown_extra_schema_uris_are_ignored() {
    let b = json!({
        "schemas": [PATCH_OP_URN, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:Group"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Guides"}],
    });
    let p = apply(&GROUP_TYPE, &stored_group(), &b).unwrap();
    assert_eq!(p.resource["displayName"], "Guides");
    assert!(p.quirks.contains(&"extra_schema_uris"));
}

#[test]
fn op_names_in_any_case_are_accepted() {
    let p = patch_user(json!([
        {"op": "Replace", "path": "title", "value": "Boss"},
        {"op": "ADD", "path": "nickName", "value": "Babs"},
        {"op": "Remove", "path": "displayName"},
    ]));
    assert_eq!(p.resource["title"], "Boss");
    assert_eq!(p.resource["nickName"], "Babs");
    assert!(p.resource.get("displayName").is_none());
    assert_eq!(p.quirks, ["op_case"]);
}

#[test]
fn unknown_op_is_invalid_syntax() {
    let e = user_err(json!([{"op": "merge", "path": "title", "value": "x"}]));
    assert_err(&e, ScimType::InvalidSyntax, "'merge'");
    let e = user_err(json!([{"path": "title", "value": "x"}]));
    assert_err(&e, ScimType::InvalidSyntax, "no 'op'");
}

#[test]
fn add_without_value_is_invalid_syntax() {
    let e = user_err(json!([{"op": "add", "path": "title"}]));
    assert_err(&e, ScimType::InvalidSyntax, "no 'value'");
}

#[test]
fn errors_name_the_failing_operation() {
    let e = user_err(json!([
        {"op": "replace", "path": "title", "value": "x"},
        {"op": "replace", "path": "emails[", "value": 44},
    ]));
    assert!(e.detail.starts_with("operation 2: "), "{}", e.detail);
}

// ------------------------------------------------------- add / replace

#[test]
fn replace_simple_attribute() {
    let p = patch_user(json!([{"op": "replace", "path": "displayName", "value": "B. Jensen"}]));
    assert_eq!(p.resource["displayName"], "B. Jensen");
    assert!(p.quirks.is_empty());
}

#[test]
fn replace_sub_attribute_keeps_siblings() {
    let p = patch_user(json!([{"op": "replace", "path": "name.givenName", "value": "Babs"}]));
    assert_eq!(
        p.resource["name"],
        json!({"givenName": "Babs", "familyName": "Jensen"})
    );
}

#[test]
fn replace_complex_attribute_merges_sub_attributes() {
    let p =
        patch_user(json!([{"op": "replace", "path": "name", "value": {"familyName": "Smith"}}]));
    assert_eq!(
        p.resource["name"],
        json!({"givenName": "Barbara", "familyName": "Smith"})
    );
}

#[test]
fn entra_replace_filtered_sub_attribute() {
    // Microsoft's documented user update request.
    let p = patch_user(json!([
        {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
        {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
    ]));
    assert_eq!(
        p.resource["emails"][0]["value"],
        "updatedEmail@microsoft.com"
    );
    assert_eq!(p.resource["emails"][0]["primary"], true);
    assert_eq!(p.resource["emails"][1]["value"], "babs@jensen.org");
    assert_eq!(p.resource["name"]["familyName"], "updatedFamilyName");
}

#[test]
fn sub_attribute_path_without_filter_sets_every_element() {
    let p = patch_user(json!([{"op": "replace", "path": "emails.type", "value": "other"}]));
    let types: Vec<_> = p.resource["emails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].clone())
        .collect();
    assert_eq!(types, [json!("other"), json!("other")]);
}

#[test]
fn add_enterprise_attribute_by_urn_path() {
    let p = patch_user(json!([
        {"op": "add", "path": format!("{ENT}:employeeNumber"), "value": "42"},
        {"op": "add", "path": format!("{ENT}:costCenter"), "value": "4130"},
    ]));
    assert_eq!(p.resource[ENT]["employeeNumber"], "42");
    assert_eq!(p.resource[ENT]["costCenter"], "4130");
    assert_eq!(p.resource[ENT]["department"], "Tour Operations");
}

#[test]
fn add_whole_extension_with_object_value() {
    let p = patch_user(
        json!([{"op": "add", "path": ENT, "value": {"division": "Theme Park", "manager": {"value": "m1"}}}]),
    );
    assert_eq!(
        p.resource[ENT],
        json!({"employeeNumber": "701984", "division": "Theme Park", "department": "Tour Operations", "manager": {"value": "m1"}})
    );
}

#[test]
fn extension_attribute_added_to_user_without_extension_lists_its_schema() {
    let stored = normalize(&USER_TYPE, &json!({"userName": "b"})).unwrap();
    let b = body(json!([{"op": "add", "path": format!("{ENT}:department"), "value": "Sales"}]));
    let p = apply(&USER_TYPE, &stored, &b).unwrap();
    assert_eq!(p.resource["schemas"], json!([USER_URN, ENT]));
    assert_eq!(p.resource[ENT], json!({"department": "Sales"}));
}

#[test]
fn okta_no_path_replace_deactivates_user() {
    // Okta's documented deprovisioning request.
    let p = patch_user(json!([{"op": "replace", "value": {"active": false}}]));
    assert_eq!(p.resource["active"], false);
    assert!(p.quirks.is_empty());
}

#[test]
fn no_path_add_with_any_case_keys_per_rfc_example() {
    let p = patch_user(json!([{"op": "add", "value": {
        "emails": [{"value": "babs@example.org", "type": "home"}],
        "NICKNAME": "Babs",
    }}]));
    assert_eq!(p.resource["nickName"], "Babs");
    assert_eq!(p.resource["emails"].as_array().unwrap().len(), 3);
}

#[test]
fn entra_no_path_replace_with_dotted_keys() {
    let p = patch_user(json!([{"op": "replace", "value": {
        "displayName": "Bjfe",
        "name.givenName": "Kkom",
        "name.familyName": "Unua",
    }}]));
    assert_eq!(
        p.resource["name"],
        json!({"givenName": "Kkom", "familyName": "Unua"})
    );
    assert_eq!(p.resource["displayName"], "Bjfe");
    assert!(p.quirks.contains(&"dotted_key"));
}

#[test]
fn entra_no_path_replace_with_urn_prefixed_keys() {
    let p = patch_user(json!([{"op": "replace", "value": {
        format!("{ENT}:employeeNumber"): "Aklq",
        format!("{ENT}:manager"): "m7",
    }}]));
    assert_eq!(p.resource[ENT]["employeeNumber"], "Aklq");
    assert_eq!(p.resource[ENT]["manager"], json!({"value": "m7"}));
    assert!(p.quirks.contains(&"urn_key"));
}

#[test]
fn no_path_value_with_extension_object_under_urn_key() {
    let p = patch_user(json!([{"op": "replace", "value": {ENT: {"department": "Sales"}}}]));
    assert_eq!(p.resource[ENT]["department"], "Sales");
    assert_eq!(p.resource[ENT]["employeeNumber"], "701984");
}

#[test]
fn no_path_value_must_be_an_object() {
    let e = user_err(json!([{"op": "replace", "value": "x"}]));
    assert_err(&e, ScimType::InvalidValue, "object");
}

#[test]
fn add_multi_valued_merges_without_duplicates() {
    let p = patch_user(json!([{"op": "add", "path": "emails", "value": [
        {"value": "babs@jensen.org", "type": "home"},
        {"value": "b@new.example", "type": "other"},
        {"value": "b@new.example", "type": "other"},
    ]}]));
    let emails = p.resource["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3);
    assert_eq!(emails[2]["value"], "b@new.example");
}

#[test]
fn add_equal_value_differing_in_case_merges_into_existing() {
    let p = patch_user(json!([{"op": "add", "path": "emails", "value": [
        {"value": "BABS@jensen.org", "display": "Babs"},
    ]}]));
    let emails = p.resource["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 2);
    assert_eq!(emails[1]["display"], "Babs");
    assert_eq!(emails[1]["type"], "home");
}

#[test]
fn add_multi_valued_without_value_key_compares_whole_elements() {
    let addr = json!({"type": "work", "locality": "Hollywood"});
    let p = patch_user(json!([
        {"op": "add", "path": "addresses", "value": [addr.clone()]},
        {"op": "add", "path": "addresses", "value": [addr]},
    ]));
    assert_eq!(p.resource["addresses"].as_array().unwrap().len(), 1);
}

#[test]
fn replace_multi_valued_without_filter_replaces_array() {
    let p = patch_user(
        json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com"}]}]),
    );
    assert_eq!(p.resource["emails"], json!([{"value": "only@example.com"}]));
}

#[test]
fn new_primary_clears_old_primary() {
    let p = patch_user(json!([{"op": "add", "path": "emails", "value": [
        {"value": "new@example.com", "type": "work", "primary": true},
    ]}]));
    let emails = p.resource["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3);
    assert!(emails[0].get("primary").is_none(), "{}", emails[0]);
    assert_eq!(emails[2]["primary"], true);
}

#[test]
fn primary_set_through_filter_clears_old_primary() {
    let p = patch_user(
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    );
    assert!(p.resource["emails"][0].get("primary").is_none());
    assert_eq!(p.resource["emails"][1]["primary"], true);
}

#[test]
fn two_primaries_in_one_value_are_invalid_value() {
    let e = user_err(json!([{"op": "replace", "path": "emails", "value": [
        {"value": "a@example.com", "primary": true},
        {"value": "b@example.com", "primary": true},
    ]}]));
    assert_err(&e, ScimType::InvalidValue, "'emails'");
}

#[test]
fn replace_filtered_element_replaces_it_whole() {
    let p = patch_user(
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@example.com", "type": "home"}}]),
    );
    assert_eq!(
        p.resource["emails"][1],
        json!({"value": "h@example.com", "type": "home"})
    );
}

#[test]
fn replace_filtered_path_matching_nothing_creates_the_element() {
    // Entra's update of a user who has no work address or mobile yet.
    let p = patch_user(json!([
        {"op": "Replace", "path": "emails[type eq \"other\"].value", "value": "x@example.com"},
        {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
        {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"},
    ]));
    assert_eq!(
        p.resource["emails"][2],
        json!({"type": "other", "value": "x@example.com"})
    );
    assert_eq!(
        p.resource["addresses"],
        json!([{"type": "work", "formatted": "1 Main St"}])
    );
    assert_eq!(
        p.resource["phoneNumbers"][1],
        json!({"type": "mobile", "value": "555"})
    );
    assert!(p.quirks.contains(&"replace_creates_filtered_element"));
    assert!(!p.quirks.contains(&"add_creates_filtered_element"));
}

#[test]
fn replace_filtered_path_matching_nothing_is_no_target_when_it_cannot_create() {
    let e = user_err(
        json!([{"op": "replace", "path": "emails[type sw \"oth\"].value", "value": "x@example.com"}]),
    );
    assert_err(&e, ScimType::NoTarget, "emails[type sw \"oth\"].value");
}

#[test]
fn clearing_replace_on_filtered_path_matching_nothing_changes_nothing() {
    let p = patch_user(
        json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": ""}]),
    );
    assert_eq!(p.resource, stored_user());
}

#[test]
fn add_to_missing_filtered_element_creates_it() {
    let p = patch_user(
        json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"}]),
    );
    assert_eq!(
        p.resource["phoneNumbers"],
        json!([{"value": "555-555-8377", "type": "work"}, {"type": "mobile", "value": "555"}])
    );
    assert!(p.quirks.contains(&"add_creates_filtered_element"));
}

#[test]
fn add_to_missing_filtered_element_with_and_filter_creates_it() {
    let p = patch_user(
        json!([{"op": "Add", "path": "addresses[type eq \"work\" and primary eq true].locality", "value": "Redmond"}]),
    );
    assert_eq!(
        p.resource["addresses"],
        json!([{"type": "work", "primary": true, "locality": "Redmond"}])
    );
}

#[test]
fn add_to_missing_element_with_non_eq_filter_is_no_target() {
    let e = user_err(
        json!([{"op": "add", "path": "phoneNumbers[type sw \"mob\"].value", "value": "555"}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    let e = user_err(
        json!([{"op": "add", "path": "phoneNumbers[type eq \"a\" or type eq \"b\"].value", "value": "555"}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::NoTarget));
}

#[test]
fn add_to_existing_filtered_element_sets_sub_attribute() {
    let p = patch_user(
        json!([{"op": "add", "path": "phoneNumbers[type eq \"work\"].display", "value": "desk"}]),
    );
    assert_eq!(
        p.resource["phoneNumbers"],
        json!([{"value": "555-555-8377", "type": "work", "display": "desk"}])
    );
}

#[test]
fn filtered_value_without_sub_attribute_must_be_an_object() {
    let e = user_err(
        json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": "x@example.com"}]),
    );
    assert_err(&e, ScimType::InvalidValue, "object");
}

// ----------------------------------------------------------------- remove

#[test]
fn remove_without_path_is_no_target() {
    let e = user_err(json!([{"op": "remove", "value": {"title": "x"}}]));
    assert_err(&e, ScimType::NoTarget, "path");
}

#[test]
fn remove_simple_attribute() {
    let p = patch_user(json!([{"op": "remove", "path": "displayName"}]));
    assert!(p.resource.get("displayName").is_none());
}

#[test]
fn remove_sub_attribute_of_complex() {
    let p = patch_user(json!([{"op": "remove", "path": "name.givenName"}]));
    assert_eq!(p.resource["name"], json!({"familyName": "Jensen"}));
}

#[test]
fn remove_with_filter_removes_matching_elements() {
    let p = patch_user(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
    assert_eq!(p.resource["emails"].as_array().unwrap().len(), 1);
    assert_eq!(p.resource["emails"][0]["type"], "work");
}

#[test]
fn remove_filtered_sub_attribute_keeps_the_element() {
    let p = patch_user(json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]));
    assert_eq!(
        p.resource["emails"][0],
        json!({"type": "work", "primary": true})
    );
}

#[test]
fn remove_last_element_unassigns_attribute() {
    let p = patch_user(json!([{"op": "remove", "path": "phoneNumbers[type eq \"work\"]"}]));
    assert!(p.resource.get("phoneNumbers").is_none());
}

#[test]
fn remove_filter_matching_nothing_changes_nothing() {
    let p = patch_user(json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]));
    assert_eq!(p.resource, stored_user());
}

#[test]
fn remove_multi_valued_with_value_array_removes_those_values() {
    let p = patch_user(
        json!([{"op": "remove", "path": "emails", "value": [{"value": "babs@jensen.org"}]}]),
    );
    assert_eq!(p.resource["emails"].as_array().unwrap().len(), 1);
    assert!(p.quirks.contains(&"remove_value_array"));
}

#[test]
fn schemas_key_inside_extension_value_is_ignored() {
    let stored = json!({"schemas": [USER_URN], "userName": "a"});
    let body = json!({"Operations": [{"op": "add", "path": ENT,
        "value": {"schemas": [ENT], "employeeNumber": "7"}}]});
    let out = apply(&USER_TYPE, &stored, &body).unwrap();
    assert_eq!(out.resource[ENT]["employeeNumber"], "7");
}

#[test]
fn adding_more_than_the_value_bound_is_invalid_value() {
    let stored = json!({"schemas": [USER_URN], "userName": "a"});
    let emails: Vec<Value> = (0..=MAX_MULTI_VALUES)
        .map(|i| json!({"value": format!("u{i}@example.com")}))
        .collect();
    let body = json!({"Operations": [{"op": "add", "path": "emails", "value": emails}]});
    let e = apply(&USER_TYPE, &stored, &body).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert!(e.detail.contains("at most 1000"), "{}", e.detail);
}

#[test]
fn remove_whole_extension() {
    let p = patch_user(json!([{"op": "remove", "path": ENT}]));
    assert!(p.resource.get(ENT).is_none());
    assert_eq!(p.resource["schemas"], json!([USER_URN]));
}

#[test]
fn remove_required_attribute_is_mutability() {
    let e = user_err(json!([{"op": "remove", "path": "userName"}]));
    assert_err(&e, ScimType::Mutability, "'userName'");
    let e = group_err(json!([{"op": "remove", "path": "displayName"}]));
    assert_err(&e, ScimType::Mutability, "'displayName'");
}

#[test]
fn clearing_required_attribute_with_empty_value_is_mutability() {
    let e = user_err(json!([{"op": "replace", "path": "userName", "value": ""}]));
    assert_err(&e, ScimType::Mutability, "'userName'");
    let e = user_err(json!([{"op": "replace", "value": {"userName": null}}]));
    assert_err(&e, ScimType::Mutability, "'userName'");
}

#[test]
fn password_is_accepted_and_not_stored() {
    let p = patch_user(json!([
        {"op": "replace", "path": "password", "value": "hunter2"},
        {"op": "replace", "value": {"password": "hunter3"}},
    ]));
    assert!(!p.resource.to_string().contains("hunter"));
}

// ------------------------------------------------------ errors by rule

#[test]
fn read_only_attribute_path_is_mutability() {
    for path in [
        "id",
        "meta.created",
        "groups",
        format!("{ENT}:manager.displayName").as_str(),
    ] {
        let e = user_err(json!([{"op": "replace", "path": path, "value": "x"}]));
        assert_err(&e, ScimType::Mutability, "readOnly");
    }
    let e = group_err(
        json!([{"op": "replace", "path": "members[value eq \"u1\"].display", "value": "x"}]),
    );
    assert_err(&e, ScimType::Mutability, "members[value eq \"u1\"].display");
}

#[test]
fn read_only_keys_in_no_path_value_are_ignored() {
    let p =
        patch_user(json!([{"op": "replace", "value": {"id": "abc", "meta": {}, "title": "Boss"}}]));
    assert_eq!(p.resource["title"], "Boss");
    assert!(p.resource.get("id").is_none());
    assert!(p.quirks.contains(&"read_only_in_value_ignored"));
}

#[test]
fn unknown_attribute_in_path_skips_the_operation() {
    let p = patch_user(json!([
        {"op": "add", "path": "shoeSize", "value": 44},
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "add", "path": "name.nickname2", "value": "x"},
        {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:badgeId", "value": "1"},
        {"op": "remove", "path": "nickName2"},
        {"op": "replace", "path": "emails[type eq \"work\"].label", "value": "x"},
    ]));
    let mut want = stored_user();
    want["title"] = json!("Boss");
    assert_eq!(p.resource, want);
    assert!(p.quirks.contains(&"unknown_attribute_ignored"));
}

#[test]
fn unparsable_path_stays_invalid_path() {
    let e = user_err(json!([{"op": "add", "path": "shoe size", "value": 44}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    let e = user_err(json!([{"op": "add", "path": "urn:x:", "value": 44}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn unknown_key_in_no_path_value_is_skipped() {
    let p = patch_user(json!([{"op": "add", "value": {
        "title": "x",
        "shoeSize": 44,
        "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:badgeId": "b1",
        "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"badgeId": "b1"},
        ENT: {"department": "Sales", "costCentre": "9"},
    }}]));
    assert_eq!(p.resource["title"], "x");
    assert_eq!(p.resource[ENT]["department"], "Sales");
    assert!(p.resource[ENT].get("costCentre").is_none());
    assert!(p.resource.get("shoeSize").is_none());
    assert!(p.quirks.contains(&"unknown_attribute_ignored"));
}

#[test]
fn unknown_attribute_in_value_filter_is_invalid_path() {
    let e = user_err(
        json!([{"op": "replace", "path": "emails[tpye eq \"work\"].value", "value": "x"}]),
    );
    assert_err(&e, ScimType::InvalidPath, "'tpye'");
}

#[test]
fn value_filter_on_single_valued_attribute_is_invalid_path() {
    let e = user_err(
        json!([{"op": "replace", "path": "name[givenName eq \"B\"].familyName", "value": "x"}]),
    );
    assert_err(&e, ScimType::InvalidPath, "not multi-valued");
}

#[test]
fn malformed_path_is_invalid_path() {
    let e = user_err(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]));
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn bad_value_type_is_invalid_value_naming_attribute() {
    let e = user_err(json!([{"op": "replace", "path": "active", "value": "maybe"}]));
    assert_err(&e, ScimType::InvalidValue, "'active'");
    let e = user_err(
        json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "yes"}]),
    );
    assert_err(&e, ScimType::InvalidValue, "'emails.primary'");
    let e = user_err(json!([{"op": "replace", "path": "name.givenName", "value": 5}]));
    assert_err(&e, ScimType::InvalidValue, "'name.givenName'");
    let e = user_err(json!([{"op": "replace", "path": "name", "value": "Barbara"}]));
    assert_err(&e, ScimType::InvalidValue, "'name'");
}

// --------------------------------------------------------------- dialects

#[test]
fn entra_boolean_strings_are_accepted() {
    let p = patch_user(json!([
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "roles", "value": [{"primary": "True", "value": "Admin"}]},
    ]));
    assert_eq!(p.resource["active"], false);
    assert_eq!(
        p.resource["roles"],
        json!([{"primary": true, "value": "Admin"}])
    );
    assert!(p.quirks.contains(&"boolean_string"));
}

#[test]
fn entra_boolean_string_in_path_filter_matches_the_boolean() {
    let stored = normalize(
        &USER_TYPE,
        &json!({"userName": "b", "roles": [{"value": "Admin", "primary": true}]}),
    )
    .unwrap();
    let b = body(json!([
        {"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "User"},
    ]));
    let p = apply(&USER_TYPE, &stored, &b).unwrap();
    assert_eq!(
        p.resource["roles"],
        json!([{"value": "User", "primary": true}])
    );
    assert!(p.quirks.contains(&"boolean_string_in_filter"));
}

#[test]
fn boolean_string_in_path_filter_creates_a_boolean() {
    let p = patch_user(json!([
        {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
    ]));
    assert_eq!(
        p.resource["roles"],
        json!([{"primary": true, "value": "Admin"}])
    );
}

#[test]
fn string_in_path_filter_on_a_string_sub_attribute_stays_a_string() {
    let p = patch_user(json!([
        {"op": "add", "path": "emails[type eq \"true\"].value", "value": "t@example.com"},
    ]));
    assert_eq!(
        p.resource["emails"][2],
        json!({"type": "true", "value": "t@example.com"})
    );
    assert!(!p.quirks.contains(&"boolean_string_in_filter"));
}

#[test]
fn unquoted_value_in_path_filter_is_reported() {
    let p = patch_user(
        json!([{"op": "replace", "path": "emails[type eq home].value", "value": "h@example.com"}]),
    );
    assert_eq!(p.resource["emails"][1]["value"], "h@example.com");
    assert!(p.quirks.contains(&"unquoted_value"));
}

#[test]
fn manager_bare_id_is_normalised() {
    // Entra's manager update.
    let p = patch_user(
        json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "2819c223-7f76-453a-919d-413861904646"}]),
    );
    assert_eq!(
        p.resource[ENT]["manager"],
        json!({"value": "2819c223-7f76-453a-919d-413861904646"})
    );
    assert!(p.quirks.contains(&"manager_bare_id"));
}

#[test]
fn manager_value_object_is_kept() {
    let p = patch_user(
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": "m1"}}]),
    );
    assert_eq!(p.resource[ENT]["manager"], json!({"value": "m1"}));
    assert!(p.quirks.is_empty());
}

#[test]
fn manager_one_element_array_is_normalised() {
    let p = patch_user(
        json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": [{"value": "m1"}]}]),
    );
    assert_eq!(p.resource[ENT]["manager"], json!({"value": "m1"}));
    let p =
        patch_user(json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": ["m2"]}]));
    assert_eq!(p.resource[ENT]["manager"], json!({"value": "m2"}));
    assert!(p.quirks.contains(&"manager_array"));
}

#[test]
fn manager_array_of_two_is_invalid_value() {
    let e =
        user_err(json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": ["a", "b"]}]));
    assert_err(&e, ScimType::InvalidValue, "manager");
}

#[test]
fn manager_change_drops_stale_ref() {
    let stored = normalize(
        &USER_TYPE,
        &json!({"userName": "b", ENT: {"manager": {"value": "m1", "$ref": "https://x/Users/m1"}}}),
    )
    .unwrap();
    let b = body(json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": "m2"}]));
    let p = apply(&USER_TYPE, &stored, &b).unwrap();
    assert_eq!(p.resource[ENT]["manager"], json!({"value": "m2"}));
}

#[test]
fn empty_string_value_clears_attribute() {
    let p = patch_user(json!([{"op": "replace", "path": "displayName", "value": ""}]));
    assert!(p.resource.get("displayName").is_none());
    assert!(p.quirks.contains(&"empty_value_clears"));
}

#[test]
fn null_value_clears_attribute() {
    let p = patch_user(json!([
        {"op": "add", "path": format!("{ENT}:department"), "value": null},
        {"op": "replace", "value": {"name.givenName": null}},
    ]));
    assert!(p.resource[ENT].get("department").is_none());
    assert_eq!(p.resource["name"], json!({"familyName": "Jensen"}));
}

#[test]
fn entra_empty_manager_value_clears_manager() {
    let stored = normalize(
        &USER_TYPE,
        &json!({"userName": "b", ENT: {"manager": {"value": "m1"}}}),
    )
    .unwrap();
    let b =
        body(json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": ""}}]));
    let p = apply(&USER_TYPE, &stored, &b).unwrap();
    assert!(p.resource.get(ENT).is_none(), "{}", p.resource);
}

#[test]
fn empty_path_string_means_no_path() {
    let p = patch_user(json!([{"op": "replace", "path": "", "value": {"title": "Boss"}}]));
    assert_eq!(p.resource["title"], "Boss");
    assert!(p.quirks.contains(&"empty_path"));
}

// -------------------------------------------------------------- semantics

#[test]
fn operation_that_changes_nothing_is_ok() {
    let p = patch_user(json!([{"op": "replace", "path": "displayName", "value": "Babs Jensen"}]));
    assert_eq!(p.resource, stored_user());
}

#[test]
fn error_in_a_later_operation_applies_nothing() {
    let stored = stored_user();
    let b = body(json!([
        {"op": "replace", "path": "title", "value": "Boss"},
        {"op": "remove", "path": "userName"},
    ]));
    assert!(apply(&USER_TYPE, &stored, &b).is_err());
    assert!(stored.get("title").is_none());
}

#[test]
fn operations_apply_in_order() {
    let p = patch_user(json!([
        {"op": "add", "path": "title", "value": "Boss"},
        {"op": "remove", "path": "title"},
        {"op": "add", "path": "nickName", "value": "B"},
    ]));
    assert!(p.resource.get("title").is_none());
    assert_eq!(p.resource["nickName"], "B");
}

#[test]
fn result_is_in_normalized_form() {
    let p = patch_user(
        json!([{"op": "add", "value": {"TITLE": "Boss", "emails": {"value": "x@example.com"}}}]),
    );
    assert_eq!(normalize(&USER_TYPE, &p.resource).unwrap(), p.resource);
    assert_eq!(p.resource["title"], "Boss");
}

#[test]
fn quirks_are_listed_once() {
    let p = patch_user(json!([
        {"op": "Replace", "path": "title", "value": "a"},
        {"op": "Replace", "path": "title", "value": "b"},
    ]));
    assert_eq!(p.quirks, ["op_case"]);
}

// ----------------------------------------------------------------- groups

#[test]
fn okta_members_value_eq_remove_becomes_member_remove() {
    let p = patch_group(
        json!([{"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"}]),
    );
    assert_eq!(
        p.member_ops,
        [MemberOp::Remove(vec![
            "89bb1940-b905-4575-9e7f-6f887cfb368e".into()
        ])]
    );
    assert!(p.quirks.contains(&"members_value_filter_remove"));
}

#[test]
fn entra_members_remove_with_value_array_becomes_member_remove() {
    let p = patch_group(
        json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
    );
    assert_eq!(
        p.member_ops,
        [MemberOp::Remove(vec!["f648f8d5ea4e4cd38e9c".into()])]
    );
    assert!(p.quirks.contains(&"members_remove_value_array"));
}

#[test]
fn members_add_becomes_member_add_with_kind() {
    // Okta's push and Entra's add, with `display` and a null `$ref`.
    let p = patch_group(json!([
        {"op": "add", "path": "members", "value": [{"value": "u1", "display": "test.user@okta.local"}]},
        {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "g2", "type": "group"}]},
    ]));
    assert_eq!(
        p.member_ops,
        [
            MemberOp::Add(vec![member("u1")]),
            MemberOp::Add(vec![MemberRef {
                value: "g2".into(),
                kind: Some("Group".into())
            }]),
        ]
    );
}

#[test]
fn member_ops_never_touch_resource_members() {
    let p = patch_group(json!([
        {"op": "add", "path": "members", "value": [{"value": "u1"}]},
        {"op": "replace", "value": {"members": [{"value": "u2"}]}},
    ]));
    assert!(p.resource.get("members").is_none());
    assert_eq!(p.resource, stored_group());
}

#[test]
fn remove_members_path_is_remove_all() {
    let p = patch_group(json!([{"op": "remove", "path": "members"}]));
    assert_eq!(p.member_ops, [MemberOp::RemoveAll]);
}

#[test]
fn okta_replace_members_with_empty_array_is_replace_all_empty() {
    let p = patch_group(json!([{"op": "replace", "path": "members", "value": []}]));
    assert_eq!(p.member_ops, [MemberOp::ReplaceAll(vec![])]);
}

#[test]
fn okta_group_rename_with_id_in_no_path_value() {
    let p = patch_group(
        json!([{"op": "replace", "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Test SCIMv2"}}]),
    );
    assert_eq!(p.resource["displayName"], "Test SCIMv2");
    assert!(p.member_ops.is_empty());
}

#[test]
fn no_path_replace_with_members_key_is_replace_all() {
    let p = patch_group(
        json!([{"op": "replace", "value": {"displayName": "G", "members": [{"value": "u1", "type": "User"}]}}]),
    );
    assert_eq!(
        p.member_ops,
        [MemberOp::ReplaceAll(vec![MemberRef {
            value: "u1".into(),
            kind: Some("User".into())
        }])]
    );
}

#[test]
fn null_members_replace_clears_membership() {
    let p = patch_group(json!([{"op": "replace", "path": "members", "value": null}]));
    assert_eq!(p.member_ops, [MemberOp::ReplaceAll(vec![])]);
    assert!(p.quirks.contains(&"empty_value_clears"));
}

#[test]
fn members_or_of_value_eq_removes_each() {
    let p =
        patch_group(json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}]));
    assert_eq!(
        p.member_ops,
        [MemberOp::Remove(vec!["a".into(), "b".into()])]
    );
}

#[test]
fn other_members_filter_is_remove_matching() {
    let p = patch_group(json!([{"op": "remove", "path": "members[type eq \"Group\"]"}]));
    let [MemberOp::RemoveMatching(f)] = p.member_ops.as_slice() else {
        panic!("{:?}", p.member_ops);
    };
    assert_eq!(f.to_string(), "type eq \"Group\"");
}

#[test]
fn member_without_value_is_invalid_value() {
    let e = group_err(json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]));
    assert_err(&e, ScimType::InvalidValue, "'members.value'");
}

#[test]
fn member_with_unknown_type_is_invalid_value() {
    let e = group_err(
        json!([{"op": "add", "path": "members", "value": [{"value": "x", "type": "Robot"}]}]),
    );
    assert_err(&e, ScimType::InvalidValue, "'members.type'");
}

#[test]
fn members_sub_attribute_path_is_mutability() {
    let e = group_err(
        json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u2"}]),
    );
    assert_err(&e, ScimType::Mutability, "members.value");
}

#[test]
fn members_filter_on_add_is_invalid_path() {
    let e = group_err(
        json!([{"op": "add", "path": "members[value eq \"u1\"]", "value": {"value": "u1"}}]),
    );
    assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
}

#[test]
fn members_on_user_is_an_unknown_attribute_and_skipped() {
    let p = patch_user(json!([{"op": "add", "path": "members", "value": [{"value": "u1"}]}]));
    assert_eq!(p.resource, stored_user());
    assert!(p.member_ops.is_empty());
    assert!(p.quirks.contains(&"unknown_attribute_ignored"));
}

// ---------------------------------------------------------------- fuzzing

fn arb_path() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::sample::select(vec![
        "userName".to_string(),
        "displayName".into(),
        "active".into(),
        "name".into(),
        "name.givenName".into(),
        "emails".into(),
        "emails.value".into(),
        "emails[type eq \"work\"]".into(),
        "emails[type eq \"work\"].value".into(),
        "emails[type eq \"home\" and primary eq true].primary".into(),
        "phoneNumbers[type eq \"mobile\"].value".into(),
        "addresses[type eq \"work\"].locality".into(),
        "members".into(),
        "members[value eq \"u1\"]".into(),
        "members[type eq \"User\"]".into(),
        "groups".into(),
        "id".into(),
        "password".into(),
        ENT.into(),
        format!("{ENT}:manager"),
        format!("{ENT}:manager.value"),
        format!("{ENT}:department"),
        "shoeSize".into(),
        "emails[".into(),
    ]))
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop::sample::select(vec!["", "True", "false", "work", "u1", "x@example.com"])
            .prop_map(|s| json!(s)),
    ];
    let keys = prop::sample::select(vec![
        "value",
        "type",
        "primary",
        "display",
        "givenName",
        "displayName",
        "title",
        "name.givenName",
        "members",
        "id",
        "active",
        "department",
    ]);
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

fn arb_op() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["add", "Replace", "remove", "bogus"]),
        arb_path(),
        prop::option::of(arb_value()),
    )
        .prop_map(|(op, path, value)| {
            let mut m = Map::new();
            m.insert("op".into(), json!(op));
            if let Some(p) = path {
                m.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

proptest! {
    #[test]
    fn random_op_lists_never_panic_and_stay_normalized(
        ops in prop::collection::vec(arb_op(), 1..6),
    ) {
        for (rt, stored) in [(&USER_TYPE, stored_user()), (&GROUP_TYPE, stored_group())] {
            if let Ok(p) = apply(rt, &stored, &body(Value::Array(ops.clone()))) {
                prop_assert_eq!(&normalize(rt, &p.resource).unwrap(), &p.resource);
                prop_assert!(p.resource.get("members").is_none());
            }
        }
    }
}

// ------------------------------------------------- add, then remove

/// An attribute the base users do not have, and the `add` and `remove`
/// operations that put a new value there and take it away again.
#[derive(Debug, Clone)]
enum NewValue {
    /// A singular attribute, by path or as a path-less value.
    Singular { path: &'static str, pathless: bool },
    /// One new element of a multi-valued attribute, removed by a filter on
    /// its `value`.
    Element {
        attr: &'static str,
        ty: Option<&'static str>,
    },
}

fn arb_new_value() -> impl Strategy<Value = NewValue> {
    let singular = prop::sample::select(vec![
        "title",
        "nickName",
        "profileUrl",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "name.middleName",
        "name.honorificPrefix",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:division",
    ]);
    let multi = prop::sample::select(vec![
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "entitlements",
        "roles",
        "x509Certificates",
    ]);
    prop_oneof![
        (singular, any::<bool>())
            .prop_map(|(path, pathless)| NewValue::Singular { path, pathless }),
        (
            multi,
            prop::option::of(prop::sample::select(vec!["work", "other"]))
        )
            .prop_map(|(attr, ty)| NewValue::Element { attr, ty }),
    ]
}

/// The base users: the full one of these tests, and one with only a userName.
fn arb_base() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(stored_user()),
        Just(normalize(&USER_TYPE, &json!({"userName": "x"})).unwrap()),
    ]
}

fn add_then_remove(new: &NewValue, text: &str) -> (Value, Value) {
    match new {
        NewValue::Singular { path, pathless } => {
            let add = if *pathless {
                // Path-less values nest: `name.middleName` is {"name": {"middleName": …}}.
                let value = match path.rsplit_once(':') {
                    Some((urn, attr)) => json!({urn: {attr: text}}),
                    None => match path.split_once('.') {
                        Some((a, b)) => json!({a: {b: text}}),
                        None => json!({*path: text}),
                    },
                };
                json!({"op": "add", "value": value})
            } else {
                json!({"op": "add", "path": path, "value": text})
            };
            (add, json!({"op": "remove", "path": path}))
        }
        NewValue::Element { attr, ty } => {
            let mut element = json!({"value": text});
            if let Some(t) = ty {
                element["type"] = json!(t);
            }
            let quoted = serde_json::to_string(text).unwrap();
            (
                json!({"op": "add", "path": attr, "value": [element]}),
                json!({"op": "remove", "path": format!("{attr}[value eq {quoted}]")}),
            )
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn add_of_a_new_value_then_its_remove_restores_the_resource(
        base in arb_base(),
        new in arb_new_value(),
        text in "new-[a-zA-Z0-9._@+-]{0,8}( [a-z]{1,3})?",
        together in any::<bool>(),
    ) {
        let (add, remove) = add_then_remove(&new, &text);
        let back = if together {
            apply(&USER_TYPE, &base, &body(json!([add, remove])))
        } else {
            apply(&USER_TYPE, &base, &body(json!([add])))
                .and_then(|p| apply(&USER_TYPE, &p.resource, &body(json!([remove]))))
        };
        let back = back.map_err(|e| TestCaseError::fail(format!("{new:?} {text:?}: {e}")))?;
        prop_assert_eq!(back.resource, base);
    }
}
