//! The first look at a POST or PUT resource body, before `resource::normalize`:
//! the `schemas` check, and the rewrites of body forms that break RFC 7643 in
//! one obvious way into the form `normalize` reads. Each rewrite is a named
//! dialect, reported to the caller for the debug log, as PATCH dialects are:
//!
//! * `legacy_schema_uri`: `schemas` names SCIM 1.x URNs beside the 2.0 core
//!   schema (OneLogin's stock templates with the 2.0 URN added by the admin).
//! * `legacy_enterprise_extension`: attributes under
//!   `urn:scim:schemas:extension:enterprise:1.0`, read as the 2.0 enterprise
//!   extension, with `manager.managerId` read as `manager.value`.
//! * `core_schema_nested`: core attributes nested in an object under the core
//!   schema URN, merged with the top-level ones.
//! * `manager_bare_id`: `"manager": "<id>"` read as `{"value": "<id>"}`.
//!
//! A non-empty `schemas` without the resource's 2.0 core schema is refused
//! with `SCIM_SCHEMA_MISMATCH`; a body without `schemas` is taken as SCIM 2.0.
//! Pure: no I/O.

use crate::scim::error::{code, ScimError};
use crate::scim::schema::{ResourceType, ENTERPRISE_USER_URN};
use serde_json::{Map, Value};

/// The detail of the refusal of a SCIM 1.x body.
pub const SCIM_1_DETAIL: &str = "SCIM 1.1 is not supported; send SCIM 2.0";

const LEGACY_ENTERPRISE_URN: &str = "urn:scim:schemas:extension:enterprise:1.0";

/// A body after intake: what `normalize` reads, and the dialects seen.
#[derive(Debug)]
pub struct Intake {
    pub body: Value,
    pub dialects: Vec<&'static str>,
}

/// Is this a SCIM 1.x URN (`urn:scim:schemas:…`)?
fn is_scim_1(urn: &str) -> bool {
    urn.trim()
        .get(..17)
        .is_some_and(|p| p.eq_ignore_ascii_case("urn:scim:schemas:"))
}

fn schema_names(body: &Map<String, Value>) -> Vec<&str> {
    let value = body
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schemas"))
        .map(|(_, v)| v);
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(s)) => vec![s.as_str()],
        _ => Vec::new(),
    }
}

/// Refuses a message body (PATCH, Bulk, search) written for SCIM 1.x: one
/// that names a 1.x URN and no 2.0 URN at all.
pub fn check_message_schemas(body: &Value) -> Result<(), ScimError> {
    let Value::Object(obj) = body else {
        return Ok(());
    };
    let names = schema_names(obj);
    if names.iter().any(|s| is_scim_1(s)) && !names.iter().any(|s| !is_scim_1(s)) {
        return Err(ScimError::invalid_syntax(SCIM_1_DETAIL).with_code(code::SCHEMA_MISMATCH));
    }
    Ok(())
}

/// Checks `schemas` and rewrites the dialects above. A body that is not an
/// object passes through for `normalize` to refuse.
pub fn read(rt: &ResourceType, body: &Value) -> Result<Intake, ScimError> {
    let Value::Object(input) = body else {
        return Ok(Intake {
            body: body.clone(),
            dialects: Vec::new(),
        });
    };
    let mut dialects = Vec::new();
    check_resource_schemas(rt, input, &mut dialects)?;

    let mut out = Map::new();
    let mut nested_core: Option<&Map<String, Value>> = None;
    let mut legacy_enterprise: Option<&Map<String, Value>> = None;
    for (key, value) in input {
        match value {
            Value::Object(inner) if key.eq_ignore_ascii_case(rt.schema.id) => {
                nested_core = Some(inner);
            }
            Value::Object(inner)
                if key.eq_ignore_ascii_case(LEGACY_ENTERPRISE_URN)
                    && rt.extensions.iter().any(|e| e.id == ENTERPRISE_USER_URN) =>
            {
                legacy_enterprise = Some(inner);
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(inner) = nested_core {
        dialects.push("core_schema_nested");
        merge_into(&mut out, inner, rt.schema.id)?;
    }
    if let Some(inner) = legacy_enterprise {
        dialects.push("legacy_enterprise_extension");
        let mut ext = Map::new();
        for (k, v) in inner {
            let v = if k.eq_ignore_ascii_case("manager") {
                legacy_manager(v)
            } else {
                v.clone()
            };
            ext.insert(k.clone(), v);
        }
        let slot = out
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(ENTERPRISE_USER_URN))
            .map(|(_, v)| v);
        match slot {
            Some(Value::Object(existing)) => merge_into(existing, &ext, LEGACY_ENTERPRISE_URN)?,
            _ => {
                out.insert(ENTERPRISE_USER_URN.to_string(), Value::Object(ext));
            }
        }
    }
    if manager_to_object(&mut out) {
        dialects.push("manager_bare_id");
    }
    Ok(Intake {
        body: Value::Object(out),
        dialects,
    })
}

fn check_resource_schemas(
    rt: &ResourceType,
    input: &Map<String, Value>,
    dialects: &mut Vec<&'static str>,
) -> Result<(), ScimError> {
    let names = schema_names(input);
    if names.is_empty() {
        return Ok(());
    }
    let has_core = names
        .iter()
        .any(|s| s.trim().eq_ignore_ascii_case(rt.schema.id));
    let has_1x = names.iter().any(|s| is_scim_1(s));
    if has_core {
        if has_1x {
            dialects.push("legacy_schema_uri");
        }
        return Ok(());
    }
    let detail = if has_1x {
        SCIM_1_DETAIL.to_string()
    } else {
        format!(
            "'schemas' must include '{}' for a {}; it names {}",
            rt.schema.id,
            rt.name,
            names
                .iter()
                .map(|s| format!("'{}'", crate::scim::filter::shorten(s)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(ScimError::invalid_syntax(detail).with_code(code::SCHEMA_MISMATCH))
}

/// Adds `inner`'s keys to `out`; a key present in both (case-insensitively)
/// with a different value is a conflict the client must resolve.
fn merge_into(
    out: &mut Map<String, Value>,
    inner: &Map<String, Value>,
    under: &str,
) -> Result<(), ScimError> {
    for (k, v) in inner {
        let existing = out.iter().find(|(key, _)| key.eq_ignore_ascii_case(k));
        match existing {
            Some((key, old)) if old != v => {
                return Err(ScimError::invalid_value(format!(
                    "'{}' is given twice with different values: at the top level as '{key}' and under '{under}'",
                    crate::scim::filter::shorten(k)
                )));
            }
            Some(_) => {}
            None => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// SCIM 1.1's `{"managerId": "…", "displayName": "…"}` as 2.0's `{"value": …}`.
fn legacy_manager(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        if k.eq_ignore_ascii_case("managerId") {
            out.insert("value".into(), v.clone());
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// Rewrites a string `manager` (top level, flat URN key, or inside the
/// enterprise object) as `{"value": …}`. Returns whether any was.
fn manager_to_object(body: &mut Map<String, Value>) -> bool {
    let flat = format!("{ENTERPRISE_USER_URN}:manager");
    let mut changed = false;
    for (key, value) in body.iter_mut() {
        if key.eq_ignore_ascii_case("manager") || key.eq_ignore_ascii_case(&flat) {
            changed |= wrap_string(value);
        } else if key.eq_ignore_ascii_case(ENTERPRISE_USER_URN) {
            if let Value::Object(ext) = value {
                for (k, v) in ext.iter_mut() {
                    if k.eq_ignore_ascii_case("manager") {
                        changed |= wrap_string(v);
                    }
                }
            }
        }
    }
    changed
}

fn wrap_string(v: &mut Value) -> bool {
    if let Value::String(s) = v {
        let mut m = Map::new();
        m.insert("value".into(), Value::String(std::mem::take(s)));
        *v = Value::Object(m);
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{GROUP_TYPE, GROUP_URN, USER_TYPE, USER_URN};
    use serde_json::json;

    fn read_user(body: Value) -> Intake {
        read(&USER_TYPE, &body).unwrap()
    }

    fn mismatch(rt: &ResourceType, body: Value) -> ScimError {
        let e = read(rt, &body).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(e.audit_code(), Some(code::SCHEMA_MISMATCH));
        e
    }

    #[test]
    fn a_plain_2_0_body_passes_unchanged_with_no_dialect() {
        let body = json!({"schemas": [USER_URN, ENTERPRISE_USER_URN], "userName": "a"});
        let got = read_user(body.clone());
        assert_eq!(got.body, body);
        assert!(got.dialects.is_empty());
    }

    #[test]
    fn bodies_without_schemas_or_with_an_empty_list_pass() {
        assert!(read_user(json!({"userName": "a"})).dialects.is_empty());
        assert!(read_user(json!({"schemas": [], "userName": "a"}))
            .dialects
            .is_empty());
    }

    #[test]
    fn scim_1_urns_beside_the_2_0_core_are_a_legacy_dialect() {
        let got = read_user(json!({
            "schemas": ["urn:scim:schemas:core:1.0", USER_URN, "urn:scim:schemas:extension:enterprise:1.0"],
            "userName": "a"
        }));
        assert_eq!(got.dialects, ["legacy_schema_uri"]);
    }

    #[test]
    fn scim_1_only_bodies_are_a_schema_mismatch_with_the_1_1_detail() {
        let e = mismatch(
            &USER_TYPE,
            json!({"schemas": ["urn:scim:schemas:core:1.0"], "userName": "a"}),
        );
        assert_eq!(e.detail, SCIM_1_DETAIL);
    }

    #[test]
    fn schemas_without_the_resource_core_urn_are_a_mismatch_naming_it() {
        let e = mismatch(
            &USER_TYPE,
            json!({"schemas": [ENTERPRISE_USER_URN], "userName": "a"}),
        );
        assert!(e.detail.contains(USER_URN), "{}", e.detail);
        let e = mismatch(
            &GROUP_TYPE,
            json!({"schemas": [USER_URN], "displayName": "g"}),
        );
        assert!(e.detail.contains(GROUP_URN), "{}", e.detail);
    }

    #[test]
    fn the_core_urn_matches_case_insensitively() {
        let got = read_user(json!({"schemas": [USER_URN.to_uppercase()], "userName": "a"}));
        assert!(got.dialects.is_empty());
    }

    #[test]
    fn legacy_enterprise_attributes_move_to_the_2_0_extension() {
        let got = read_user(json!({
            "schemas": [USER_URN, LEGACY_ENTERPRISE_URN],
            "userName": "a",
            "urn:scim:schemas:extension:enterprise:1.0": {
                "department": "R&D",
                "manager": {"managerId": "m-1", "displayName": "Boss"}
            }
        }));
        assert_eq!(
            got.body[ENTERPRISE_USER_URN],
            json!({"department": "R&D", "manager": {"value": "m-1", "displayName": "Boss"}})
        );
        assert!(got.body.get(LEGACY_ENTERPRISE_URN).is_none());
        assert_eq!(
            got.dialects,
            ["legacy_schema_uri", "legacy_enterprise_extension"]
        );
    }

    #[test]
    fn legacy_and_2_0_enterprise_blocks_merge() {
        let got = read_user(json!({
            "userName": "a",
            ENTERPRISE_USER_URN: {"costCenter": "7"},
            "urn:scim:schemas:extension:enterprise:1.0": {"department": "R&D"}
        }));
        assert_eq!(
            got.body[ENTERPRISE_USER_URN],
            json!({"costCenter": "7", "department": "R&D"})
        );
    }

    #[test]
    fn core_attributes_nested_under_the_core_urn_are_lifted() {
        let got = read_user(json!({
            "schemas": [USER_URN],
            "title": "CEO",
            USER_URN: {"userName": "nested", "name": {"givenName": "N"}}
        }));
        assert_eq!(got.body["userName"], "nested");
        assert_eq!(got.body["name"]["givenName"], "N");
        assert_eq!(got.body["title"], "CEO");
        assert!(got.body.get(USER_URN).is_none());
        assert_eq!(got.dialects, ["core_schema_nested"]);
    }

    #[test]
    fn nested_core_group_attributes_are_lifted_too() {
        let got = read(
            &GROUP_TYPE,
            &json!({"schemas": [GROUP_URN], GROUP_URN: {"displayName": "Ops"}}),
        )
        .unwrap();
        assert_eq!(got.body["displayName"], "Ops");
    }

    #[test]
    fn a_nested_core_attribute_that_contradicts_the_top_level_is_refused_by_name() {
        let e = read(
            &USER_TYPE,
            &json!({"userName": "a", USER_URN: {"USERNAME": "b"}}),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("'USERNAME'"), "{}", e.detail);
        // The same value twice is no conflict.
        read_user(json!({"userName": "a", USER_URN: {"userName": "a"}}));
    }

    #[test]
    fn a_string_manager_becomes_a_value_object_wherever_it_is_written() {
        for body in [
            json!({"userName": "a", ENTERPRISE_USER_URN: {"manager": "m-1"}}),
            json!({"userName": "a", format!("{ENTERPRISE_USER_URN}:manager"): "m-1"}),
            json!({"userName": "a", "manager": "m-1"}),
        ] {
            let got = read_user(body);
            assert_eq!(got.dialects, ["manager_bare_id"]);
            let text = got.body.to_string();
            assert!(text.contains(r#"{"value":"m-1"}"#), "{text}");
        }
    }

    #[test]
    fn message_bodies_are_refused_only_when_written_for_scim_1() {
        let e =
            check_message_schemas(&json!({"schemas": ["urn:scim:schemas:core:1.0"]})).unwrap_err();
        assert_eq!(e.detail, SCIM_1_DETAIL);
        for ok in [
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp", "urn:scim:schemas:core:1.0"]}),
            json!({"Operations": []}),
            json!([1]),
        ] {
            assert!(check_message_schemas(&ok).is_ok(), "{ok}");
        }
    }
}
