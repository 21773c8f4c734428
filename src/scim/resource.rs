//! Input canonicalisation for POST and PUT bodies: attribute names are matched
//! case-insensitively and rewritten to their schema spelling, extension
//! attributes are gathered under their extension's URN whether the client
//! nested them, prefixed them with the URN or dotted them, values are
//! type-checked (with the leniencies IdPs need, such as `"True"` for a
//! boolean), and whatever the client may not set or scimd does not keep
//! (readOnly values, `password`, unknown attributes, empty values) is dropped.
//! The result is the exact JSON the store keeps, minus `id` and `meta`, which
//! the store adds. Pure: no I/O, no clock.

use crate::scim::attrpath::AttrPath;
use crate::scim::error::ScimError;
use crate::scim::schema::{
    extension_by_urn, resolve, AttrDef, AttrType, Mutability, ResourceType, SchemaDef,
};
use serde_json::{Map, Value};

/// Validates and canonicalises a client body for POST (create) or PUT
/// (replace). The output holds `schemas` (the core URN plus each extension
/// that has a value), then the client-writable common and core attributes in
/// schema order, then one object per extension under its canonical URN.
pub fn normalize(rt: &ResourceType, body: &Value) -> Result<Value, ScimError> {
    let Value::Object(input) = body else {
        return Err(ScimError::invalid_syntax(format!(
            "request body must be a JSON object, got {}",
            kind(body)
        )));
    };

    // Buckets keyed by canonical names; rebuilt in schema order at the end so
    // the stored form does not depend on the client's key order.
    let mut top = Map::new();
    let mut exts: Vec<Map<String, Value>> = rt.extensions.iter().map(|_| Map::new()).collect();

    for (key, value) in input {
        if key.eq_ignore_ascii_case("schemas") {
            continue;
        }
        if let Some(i) = extension_index(rt, key) {
            put_extension_object(rt.extensions[i], key, value, &mut exts[i])?;
            continue;
        }
        // A key that is not even a valid path is an attribute scimd does not
        // know; like any other unknown attribute it is ignored.
        let Ok(path) = AttrPath::parse(key) else {
            continue;
        };
        let Some(r) = resolve(rt, &path) else {
            continue;
        };
        let bucket = match r.extension(rt).and_then(|urn| extension_index(rt, urn)) {
            Some(i) => &mut exts[i],
            None => &mut top,
        };
        put_attr(bucket, r.attr, r.sub, value)?;
    }

    let mut out = Map::new();
    let mut schemas = vec![Value::String(rt.schema.id.to_string())];
    schemas.extend(
        rt.extensions
            .iter()
            .zip(&exts)
            .filter(|(_, m)| !m.is_empty())
            .map(|(s, _)| Value::String(s.id.to_string())),
    );
    out.insert("schemas".into(), Value::Array(schemas));

    let top_defs = crate::scim::schema::common_attributes()
        .iter()
        .chain(rt.schema.attributes);
    for def in top_defs {
        if let Some(v) = top.remove(def.name) {
            out.insert(def.name.to_string(), v);
        }
    }
    check_required(rt.schema, &out)?;

    for (ext, mut values) in rt.extensions.iter().zip(exts) {
        if values.is_empty() {
            continue;
        }
        let mut ordered = Map::new();
        for def in ext.attributes {
            if let Some(v) = values.remove(def.name) {
                ordered.insert(def.name.to_string(), v);
            }
        }
        check_required(ext, &ordered)?;
        out.insert(ext.id.to_string(), Value::Object(ordered));
    }
    Ok(Value::Object(out))
}

/// PUT: an immutable attribute that already has a value in `old` may not
/// change (RFC 7644 §3.5.1) → 400 mutability naming it. Leaving it out of the
/// new body counts as a change, since PUT replaces the whole resource.
/// Immutable sub-attributes of multi-valued attributes (`members.value`) are
/// not checked: replacing the member list swaps whole values, it does not
/// edit one in place.
pub fn check_immutable(rt: &ResourceType, old: &Value, new: &Value) -> Result<(), ScimError> {
    let scopes = std::iter::once((None, crate::scim::schema::common_attributes()))
        .chain(std::iter::once((None, rt.schema.attributes)))
        .chain(rt.extensions.iter().map(|e| (Some(e.id), e.attributes)));
    for (urn, defs) in scopes {
        let old_scope = scope(old, urn);
        let new_scope = scope(new, urn);
        for def in defs {
            let label = |sub: Option<&str>| {
                let mut l = match urn {
                    Some(u) => format!("{u}:{}", def.name),
                    None => def.name.to_string(),
                };
                if let Some(s) = sub {
                    l.push('.');
                    l.push_str(s);
                }
                l
            };
            let old_v = old_scope.and_then(|m| m.get(def.name));
            let new_v = new_scope.and_then(|m| m.get(def.name));
            if def.mutability == Mutability::Immutable {
                if changed(def, old_v, new_v) {
                    return Err(immutable_error(&label(None)));
                }
                continue;
            }
            if def.multi_valued {
                continue;
            }
            for sub in def.sub_attributes {
                if sub.mutability != Mutability::Immutable {
                    continue;
                }
                let o = old_v.and_then(|v| v.get(sub.name));
                let n = new_v.and_then(|v| v.get(sub.name));
                if changed(sub, o, n) {
                    return Err(immutable_error(&label(Some(sub.name))));
                }
            }
        }
    }
    Ok(())
}

fn immutable_error(label: &str) -> ScimError {
    ScimError::mutability(format!("'{label}' is immutable and cannot be changed"))
}

fn scope<'a>(resource: &'a Value, urn: Option<&str>) -> Option<&'a Map<String, Value>> {
    match urn {
        None => resource.as_object(),
        Some(u) => resource.get(u).and_then(Value::as_object),
    }
}

fn changed(def: &AttrDef, old: Option<&Value>, new: Option<&Value>) -> bool {
    let Some(old) = old.filter(|v| !v.is_null()) else {
        return false;
    };
    match (old, new) {
        (Value::String(a), Some(Value::String(b)))
            if !def.case_exact && matches!(def.ty, AttrType::String | AttrType::Reference) =>
        {
            a.to_lowercase() != b.to_lowercase()
        }
        (a, Some(b)) => a != b,
        (_, None) => true,
    }
}

/// Index into `rt.extensions` of the extension whose URN is `key`.
fn extension_index(rt: &ResourceType, key: &str) -> Option<usize> {
    let ext = extension_by_urn(rt, key)?;
    rt.extensions.iter().position(|e| std::ptr::eq(*e, ext))
}

/// `"urn:…:enterprise:2.0:User": {…}`: each key inside is an attribute of that
/// extension, optionally dotted (`"manager.value"`).
fn put_extension_object(
    ext: &'static SchemaDef,
    key: &str,
    value: &Value,
    bucket: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let obj = match value {
        Value::Null => return Ok(()),
        Value::Object(o) => o,
        other => {
            return Err(ScimError::invalid_value(format!(
                "'{key}' must be an object, got {}",
                show(other)
            )))
        }
    };
    for (k, v) in obj {
        let Ok(path) = AttrPath::parse(k) else {
            continue;
        };
        if path.urn.is_some() {
            continue;
        }
        let Some(attr) = ext.attr(&path.name) else {
            continue;
        };
        let sub = match &path.sub {
            Some(s) => match attr.sub(s) {
                Some(d) => Some(d),
                None => continue,
            },
            None => None,
        };
        put_attr(bucket, attr, sub, v)?;
    }
    Ok(())
}

/// Coerces one client value and merges it into `bucket`. A dotted key
/// (`name.givenName`) and a whole complex value (`name: {…}`) for the same
/// attribute merge sub-attribute by sub-attribute, later keys winning.
fn put_attr(
    bucket: &mut Map<String, Value>,
    attr: &'static AttrDef,
    sub: Option<&'static AttrDef>,
    value: &Value,
) -> Result<(), ScimError> {
    if !attr.client_writable() {
        return Ok(());
    }
    match sub {
        None => {
            if let Some(v) = coerce(attr, value, attr.name)? {
                merge(bucket, attr.name, v);
            } else if value.is_null() {
                // An explicit null after an earlier value for the same
                // attribute clears it (RFC 7643 §2.5: null means unassigned).
                bucket.remove(attr.name);
            }
        }
        Some(sub) => {
            // A dotted key cannot say which element of a multi-valued
            // attribute it means; treat it like any unknown key.
            if attr.multi_valued || !sub.client_writable() {
                return Ok(());
            }
            let label = format!("{}.{}", attr.name, sub.name);
            if let Some(v) = coerce(sub, value, &label)? {
                let mut one = Map::new();
                one.insert(sub.name.to_string(), v);
                merge(bucket, attr.name, Value::Object(one));
            }
        }
    }
    Ok(())
}

fn merge(bucket: &mut Map<String, Value>, name: &str, value: Value) {
    match (bucket.get_mut(name), value) {
        (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new),
        (_, value) => {
            bucket.insert(name.to_string(), value);
        }
    }
}

/// Checks and canonicalises one attribute value. `Ok(None)` means "no value":
/// null, empty string, empty array or object, or a complex value whose every
/// sub-attribute was dropped.
fn coerce(def: &AttrDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    if !def.multi_valued {
        return coerce_single(def, value, label);
    }
    let items: &[Value] = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        // Some IdPs send a lone object where the schema wants an array.
        single => std::slice::from_ref(single),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = coerce_single(def, item, label)? {
            out.push(v);
        }
    }
    let primaries = out
        .iter()
        .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
        .count();
    if primaries > 1 {
        return Err(ScimError::invalid_value(format!(
            "'{label}' has {primaries} values marked primary; at most one may be"
        )));
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn coerce_single(def: &AttrDef, value: &Value, label: &str) -> Result<Option<Value>, ScimError> {
    if value.is_null() {
        return Ok(None);
    }
    let wrong = |what: &str| {
        ScimError::invalid_value(format!("'{label}' must be {what}, got {}", show(value)))
    };
    match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(_) => Ok(Some(value.clone())),
            _ => Err(wrong("a string")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) if is_date_time(s) => Ok(Some(value.clone())),
            _ => Err(wrong(
                "an xsd:dateTime string such as \"2015-06-30T12:00:00Z\"",
            )),
        },
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            // Entra ID sends "True"/"False".
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Some(Value::Bool(true))),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Some(Value::Bool(false))),
            _ => Err(wrong("a boolean")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(value.clone())),
            _ => Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            _ => Err(wrong("a number")),
        },
        AttrType::Complex => {
            let Value::Object(obj) = value else {
                return Err(wrong("an object"));
            };
            let mut out = Map::new();
            for (k, v) in obj {
                let Some(sub) = def.sub(k) else {
                    continue;
                };
                if !sub.client_writable() {
                    continue;
                }
                let sub_label = format!("{label}.{}", sub.name);
                match coerce(sub, v, &sub_label)? {
                    Some(v) => {
                        out.insert(sub.name.to_string(), v);
                    }
                    None => {
                        out.remove(sub.name);
                    }
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
    }
}

/// RFC 3339, or xsd:dateTime without a zone offset (which RFC 7643 §2.3.5
/// allows and some IdPs send).
fn is_date_time(s: &str) -> bool {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    // A bare date is ISO 8601 but not a dateTime; require the time part.
    s.contains(['T', 't'])
        && (time::OffsetDateTime::parse(s, &Rfc3339).is_ok()
            || time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).is_ok())
}

fn check_required(schema: &SchemaDef, values: &Map<String, Value>) -> Result<(), ScimError> {
    match schema
        .attributes
        .iter()
        .find(|a| a.required && !values.contains_key(a.name))
    {
        Some(a) => Err(ScimError::invalid_value(format!("{} is required", a.name))),
        None => Ok(()),
    }
}

/// A value for an error detail: JSON-rendered and cut short, so a hostile
/// megabyte string does not come back in the response.
fn show(value: &Value) -> String {
    const MAX: usize = 64;
    let s = value.to_string();
    if s.len() <= MAX {
        return s;
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{
        AttrDef, Returned, Uniqueness, ENTERPRISE_USER_URN, GROUP_TYPE, GROUP_URN, USER_TYPE,
        USER_URN,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn user(body: Value) -> Value {
        normalize(&USER_TYPE, &body).unwrap()
    }

    fn user_err(body: Value) -> ScimError {
        normalize(&USER_TYPE, &body).unwrap_err()
    }

    #[test]
    fn body_must_be_an_object() {
        let e = normalize(&USER_TYPE, &json!(["userName"])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert_eq!(e.status, 400);
    }

    #[test]
    fn minimal_user_gets_core_schema() {
        let out = user(json!({"userName": "bjensen"}));
        assert_eq!(out, json!({"schemas": [USER_URN], "userName": "bjensen"}));
    }

    #[test]
    fn attribute_names_are_case_insensitive_on_input() {
        let out = user(json!({
            "USERNAME": "bjensen",
            "Name": {"GIVENNAME": "Barbara"},
            "EMAILS": [{"Value": "b@example.com", "TYPE": "work"}],
        }));
        assert_eq!(out["userName"], "bjensen");
        assert_eq!(out["name"], json!({"givenName": "Barbara"}));
        assert_eq!(
            out["emails"],
            json!([{"value": "b@example.com", "type": "work"}])
        );
    }

    #[test]
    fn output_follows_schema_order_not_input_order() {
        let out = user(json!({"active": true, "externalId": "x", "userName": "b"}));
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["schemas", "externalId", "userName", "active"]);
    }

    #[test]
    fn input_schemas_are_ignored_and_recomputed() {
        let out = user(json!({
            "schemas": ["urn:example:unknown", ENTERPRISE_USER_URN],
            "userName": "b",
        }));
        assert_eq!(out["schemas"], json!([USER_URN]));
    }

    #[test]
    fn nested_extension_is_kept_under_canonical_urn() {
        let out = user(json!({
            "userName": "b",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": {
                "EmployeeNumber": "7",
                "manager": {"value": "42"},
            },
        }));
        assert_eq!(out["schemas"], json!([USER_URN, ENTERPRISE_USER_URN]));
        assert_eq!(
            out[ENTERPRISE_USER_URN],
            json!({"employeeNumber": "7", "manager": {"value": "42"}})
        );
    }

    #[test]
    fn flat_urn_keys_nest_into_extension() {
        let out = user(json!({
            "userName": "b",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber": "7",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value": "42",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
        }));
        assert_eq!(
            out[ENTERPRISE_USER_URN],
            json!({"employeeNumber": "7", "department": "R&D", "manager": {"value": "42"}})
        );
    }

    #[test]
    fn unprefixed_extension_attributes_nest_into_extension() {
        let out = user(json!({"userName": "b", "costCenter": "4130"}));
        assert_eq!(out[ENTERPRISE_USER_URN], json!({"costCenter": "4130"}));
        assert!(out.get("costCenter").is_none());
    }

    #[test]
    fn core_urn_prefixed_keys_land_at_top_level() {
        let out = user(json!({"urn:ietf:params:scim:schemas:core:2.0:User:userName": "b"}));
        assert_eq!(out["userName"], "b");
    }

    #[test]
    fn dotted_keys_merge_into_complex_attribute() {
        let out = user(json!({
            "userName": "b",
            "name": {"familyName": "Jensen"},
            "name.givenName": "B",
        }));
        assert_eq!(
            out["name"],
            json!({"familyName": "Jensen", "givenName": "B"})
        );
    }

    #[test]
    fn dotted_keys_into_multi_valued_attributes_are_dropped() {
        let out = user(json!({"userName": "b", "emails.value": "b@example.com"}));
        assert!(out.get("emails").is_none());
    }

    #[test]
    fn extension_without_values_is_left_out_of_schemas() {
        let out = user(json!({
            "userName": "b",
            ENTERPRISE_USER_URN: {"employeeNumber": "", "manager": {}},
        }));
        assert_eq!(out["schemas"], json!([USER_URN]));
        assert!(out.get(ENTERPRISE_USER_URN).is_none());
    }

    #[test]
    fn extension_block_must_be_an_object() {
        let e = user_err(json!({"userName": "b", ENTERPRISE_USER_URN: "7"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains(ENTERPRISE_USER_URN), "{}", e.detail);
    }

    #[test]
    fn unknown_attributes_and_extensions_are_dropped() {
        let out = user(json!({
            "userName": "b",
            "shoeSize": 44,
            "name": {"givenName": "B", "nickname2": "x"},
            "urn:example:custom:2.0:User": {"badge": "1"},
            "urn:example:custom:2.0:User:badge": "1",
            "not a path!": 1,
        }));
        assert_eq!(
            out,
            json!({"schemas": [USER_URN], "userName": "b", "name": {"givenName": "B"}})
        );
    }

    #[test]
    fn read_only_attributes_are_dropped() {
        let out = user(json!({
            "id": "client-chosen",
            "meta": {"resourceType": "User"},
            "userName": "b",
            "groups": [{"value": "g1"}],
        }));
        assert_eq!(out, json!({"schemas": [USER_URN], "userName": "b"}));
    }

    #[test]
    fn read_only_sub_attributes_are_dropped() {
        let out = user(json!({
            "userName": "b",
            ENTERPRISE_USER_URN: {"manager": {"value": "42", "displayName": "Boss"}},
        }));
        assert_eq!(out[ENTERPRISE_USER_URN]["manager"], json!({"value": "42"}));
        let g = normalize(
            &GROUP_TYPE,
            &json!({"displayName": "g", "members": [{"value": "u1", "display": "U"}]}),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{"value": "u1"}]));
    }

    #[test]
    fn password_is_dropped() {
        let out = user(json!({"userName": "b", "password": "hunter2", "PASSWORD": "x"}));
        assert!(out.get("password").is_none());
        assert!(!out.to_string().contains("hunter2"));
    }

    #[test]
    fn nulls_and_empty_values_are_dropped() {
        let out = user(json!({
            "userName": "b",
            "displayName": null,
            "title": "",
            "emails": [],
            "name": {},
            "phoneNumbers": [null, {"value": ""}],
            "addresses": [{"type": "work", "locality": null}],
        }));
        assert_eq!(
            out,
            json!({"schemas": [USER_URN], "userName": "b", "addresses": [{"type": "work"}]})
        );
    }

    #[test]
    fn later_null_clears_earlier_value_for_same_attribute() {
        let out = user(json!({"userName": "b", "title": "Boss", "TITLE": null}));
        assert!(out.get("title").is_none());
    }

    #[test]
    fn wrong_type_is_invalid_value_naming_attribute() {
        let e = user_err(json!({"userName": "b", "active": "maybe"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert_eq!(e.detail, "'active' must be a boolean, got \"maybe\"");
        let e = user_err(json!({"userName": 5}));
        assert_eq!(e.detail, "'userName' must be a string, got 5");
    }

    #[test]
    fn boolean_strings_are_accepted() {
        for (s, b) in [
            ("True", true),
            ("false", false),
            ("TRUE", true),
            ("False", false),
        ] {
            let out = user(json!({"userName": "b", "active": s}));
            assert_eq!(out["active"], json!(b));
        }
    }

    #[test]
    fn sub_attribute_types_are_checked_recursively() {
        let e = user_err(json!({"userName": "b", "emails": [{"value": "a", "primary": "yes"}]}));
        assert_eq!(e.detail, "'emails.primary' must be a boolean, got \"yes\"");
        let e = user_err(json!({"userName": "b", "name": {"givenName": ["B"]}}));
        assert!(
            e.detail.starts_with("'name.givenName' must be a string"),
            "{}",
            e.detail
        );
        let out = user(json!({"userName": "b", "emails": [{"value": "a", "primary": "True"}]}));
        assert_eq!(out["emails"][0]["primary"], json!(true));
    }

    #[test]
    fn complex_attribute_must_be_an_object() {
        let e = user_err(json!({"userName": "b", "name": "Barbara Jensen"}));
        assert_eq!(e.detail, "'name' must be an object, got \"Barbara Jensen\"");
        let e = user_err(json!({"userName": "b", "emails": ["b@example.com"]}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    }

    #[test]
    fn single_value_for_multi_valued_attribute_is_wrapped() {
        let out = user(json!({"userName": "b", "emails": {"value": "b@example.com"}}));
        assert_eq!(out["emails"], json!([{"value": "b@example.com"}]));
    }

    #[test]
    fn binary_and_reference_must_be_strings() {
        let e = user_err(json!({"userName": "b", "x509Certificates": [{"value": 1}]}));
        assert!(e
            .detail
            .starts_with("'x509Certificates.value' must be a string"));
        let e = user_err(json!({"userName": "b", "profileUrl": true}));
        assert!(e.detail.starts_with("'profileUrl' must be a string"));
    }

    #[test]
    fn more_than_one_primary_is_rejected() {
        let e = user_err(json!({
            "userName": "b",
            "emails": [
                {"value": "a@example.com", "primary": true},
                {"value": "b@example.com", "primary": "true"},
            ],
        }));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("'emails'"), "{}", e.detail);
        let ok = user(json!({
            "userName": "b",
            "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": false}],
        }));
        assert_eq!(ok["emails"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn user_name_is_required() {
        let e = user_err(json!({"displayName": "B"}));
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert_eq!(e.detail, "userName is required");
        let e = user_err(json!({"userName": ""}));
        assert_eq!(e.detail, "userName is required");
    }

    #[test]
    fn group_display_name_is_required() {
        let e = normalize(&GROUP_TYPE, &json!({"members": []})).unwrap_err();
        assert_eq!(e.detail, "displayName is required");
    }

    #[test]
    fn group_members_are_normalised() {
        let g = normalize(
            &GROUP_TYPE,
            &json!({
                "DisplayName": "Admins",
                "members": [{"VALUE": "u1", "$ref": "https://x/Users/u1", "type": "User"}],
            }),
        )
        .unwrap();
        assert_eq!(
            g,
            json!({
                "schemas": [GROUP_URN],
                "displayName": "Admins",
                "members": [{"value": "u1", "$ref": "https://x/Users/u1", "type": "User"}],
            })
        );
    }

    #[test]
    fn canonical_values_are_not_enforced() {
        let out = user(json!({"userName": "b", "emails": [{"value": "a", "type": "pigeon"}]}));
        assert_eq!(out["emails"][0]["type"], "pigeon");
    }

    #[test]
    fn oversized_values_are_cut_short_in_details() {
        let e = user_err(json!({"userName": "b", "active": "x".repeat(10_000)}));
        assert!(e.detail.len() < 200, "{}", e.detail.len());
    }

    static TYPED_ATTRS: [AttrDef; 5] = [
        AttrDef {
            name: "when",
            ty: AttrType::DateTime,
            ..BASE
        },
        AttrDef {
            name: "count",
            ty: AttrType::Integer,
            ..BASE
        },
        AttrDef {
            name: "ratio",
            ty: AttrType::Decimal,
            ..BASE
        },
        AttrDef {
            name: "badge",
            mutability: Mutability::Immutable,
            ..BASE
        },
        AttrDef {
            name: "card",
            ty: AttrType::Complex,
            sub_attributes: &[AttrDef {
                name: "serial",
                mutability: Mutability::Immutable,
                ..BASE
            }],
            ..BASE
        },
    ];
    const BASE: AttrDef = AttrDef {
        name: "",
        ty: AttrType::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description: "",
    };
    static TYPED_SCHEMA: SchemaDef = SchemaDef {
        id: "urn:example:typed",
        name: "Typed",
        description: "",
        attributes: &TYPED_ATTRS,
    };
    static TYPED: ResourceType = ResourceType {
        name: "Typed",
        endpoint: "/Typed",
        description: "",
        schema: &TYPED_SCHEMA,
        extensions: &[],
    };

    #[test]
    fn date_times_must_parse() {
        for ok in [
            "2015-06-30T12:00:00Z",
            "2015-06-30T12:00:00.123+02:00",
            "2015-06-30T12:00:00",
        ] {
            assert!(normalize(&TYPED, &json!({"when": ok})).is_ok(), "{ok}");
        }
        for bad in ["yesterday", "2015-13-01T00:00:00Z", "2015-06-30"] {
            let e = normalize(&TYPED, &json!({"when": bad})).unwrap_err();
            assert!(
                e.detail.starts_with("'when' must be an xsd:dateTime"),
                "{bad}"
            );
        }
    }

    #[test]
    fn integers_and_decimals_are_checked() {
        assert!(normalize(&TYPED, &json!({"count": 3, "ratio": 0.5})).is_ok());
        assert!(normalize(&TYPED, &json!({"ratio": 2})).is_ok());
        let e = normalize(&TYPED, &json!({"count": 2.5})).unwrap_err();
        assert_eq!(e.detail, "'count' must be an integer, got 2.5");
        let e = normalize(&TYPED, &json!({"count": "3"})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        let e = normalize(&TYPED, &json!({"ratio": "0.5"})).unwrap_err();
        assert_eq!(e.detail, "'ratio' must be a number, got \"0.5\"");
    }

    #[test]
    fn changing_an_immutable_attribute_is_a_mutability_error() {
        let old = json!({"badge": "A1"});
        let e = check_immutable(&TYPED, &old, &json!({"badge": "B2"})).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        assert!(e.detail.contains("'badge'"), "{}", e.detail);
        assert!(check_immutable(&TYPED, &old, &json!({})).is_err());
    }

    #[test]
    fn immutable_attribute_may_be_set_once_or_repeated() {
        assert!(check_immutable(&TYPED, &json!({}), &json!({"badge": "A1"})).is_ok());
        assert!(check_immutable(&TYPED, &json!({"badge": "A1"}), &json!({"badge": "a1"})).is_ok());
    }

    #[test]
    fn immutable_sub_attribute_of_singular_complex_is_checked() {
        let old = json!({"card": {"serial": "1"}});
        let e = check_immutable(&TYPED, &old, &json!({"card": {"serial": "2"}})).unwrap_err();
        assert!(e.detail.contains("'card.serial'"), "{}", e.detail);
    }

    #[test]
    fn replacing_group_members_is_not_an_immutability_violation() {
        let old = json!({"displayName": "g", "members": [{"value": "u1"}]});
        let new = json!({"displayName": "h", "members": [{"value": "u2"}]});
        assert!(check_immutable(&GROUP_TYPE, &old, &new).is_ok());
    }

    #[test]
    fn read_write_changes_pass_immutability_check() {
        let old = user(json!({"userName": "a", ENTERPRISE_USER_URN: {"employeeNumber": "1"}}));
        let new = user(json!({"userName": "b"}));
        assert!(check_immutable(&USER_TYPE, &old, &new).is_ok());
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "[a-zA-Z ]{0,6}".prop_map(Value::String),
            prop_oneof![Just("True"), Just("false"), Just("2015-06-30T12:00:00Z")]
                .prop_map(|s| Value::String(s.into())),
        ];
        let keys = prop_oneof![
            Just("userName".to_string()),
            Just("active".to_string()),
            Just("name".to_string()),
            Just("givenName".to_string()),
            Just("name.givenName".to_string()),
            Just("emails".to_string()),
            Just("value".to_string()),
            Just("primary".to_string()),
            Just("members".to_string()),
            Just("displayName".to_string()),
            Just("password".to_string()),
            Just(ENTERPRISE_USER_URN.to_string()),
            Just(format!("{ENTERPRISE_USER_URN}:manager.value")),
            Just("employeeNumber".to_string()),
            "[a-zA-Z.:$]{1,8}",
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn normalize_never_panics_and_is_idempotent(body in arb_json()) {
            for rt in [&USER_TYPE, &GROUP_TYPE] {
                if let Ok(once) = normalize(rt, &body) {
                    let twice = normalize(rt, &once).unwrap();
                    prop_assert_eq!(&once, &twice);
                }
            }
        }

        #[test]
        fn normalized_users_always_carry_user_name(
            name in "[a-z]{1,8}",
            body in arb_json(),
        ) {
            let mut body = match body { Value::Object(m) => m, _ => Map::new() };
            body.insert("userName".into(), Value::String(name.clone()));
            if let Ok(out) = normalize(&USER_TYPE, &Value::Object(body)) {
                prop_assert_eq!(&out["userName"], &Value::String(name));
                prop_assert_eq!(&out["schemas"][0], &json!(USER_URN));
            }
        }
    }
}
