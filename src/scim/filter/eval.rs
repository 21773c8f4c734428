//! The in-memory matcher: does one element of a multi-valued attribute
//! match a filter? Its semantics agree with the SQL compiler's.

use super::{CompareOp, Filter, Literal};
use crate::scim::attrpath::AttrPath;
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

/// Does `element` (one JSON object of a multi-valued attribute) match `filter`,
/// whose attribute paths are relative to the element? Attribute names match
/// case-insensitively; string comparison is case-insensitive unless
/// `case_exact(sub_attr_name)` returns true.
///
/// Semantics, chosen to agree with the SQL compiler:
/// * For a primitive element (a multi-valued string array), the path `value`
///   is the element itself.
/// * A path with a schema URN looks under that URN's key when the element has
///   one, as extension attributes nest in a resource.
/// * A multi-valued value matches `eq co sw ew gt ge lt le` when any of its
///   values does; `ne` matches when the attribute is present and none equals.
/// * A missing (or null) attribute matches no comparison; only `not (…)`
///   turns that into a match.
/// * `pr` needs a non-empty value (not null, "", [] or {}); `x eq null` is
///   `not (x pr)` and `x ne null` is `x pr` (RFC 7643 §2.5: unassigned, null
///   and empty are the same state).
/// * Comparisons across types (a string literal against a number) never match;
///   strings order lexicographically, numbers numerically.
/// * `case_exact` is asked about the last name in the path (`type` for
///   `type eq "work"`, `value` for `x.value`).
pub fn matches_element(
    filter: &Filter,
    element: &Value,
    case_exact: &dyn Fn(&str) -> bool,
) -> bool {
    match filter {
        Filter::And(a, b) => {
            matches_element(a, element, case_exact) && matches_element(b, element, case_exact)
        }
        Filter::Or(a, b) => {
            matches_element(a, element, case_exact) || matches_element(b, element, case_exact)
        }
        Filter::Not(a) => !matches_element(a, element, case_exact),
        Filter::Present { path, .. } => candidates(element, path).into_iter().any(has_value),
        Filter::Compare {
            path, op, value, ..
        } => {
            let vals: Vec<&Value> = candidates(element, path)
                .into_iter()
                .filter(|v| !v.is_null())
                .collect();
            let exact = case_exact(path.sub.as_deref().unwrap_or(&path.name));
            match (op, value) {
                (CompareOp::Eq, Literal::Null) => !vals.into_iter().any(has_value),
                (CompareOp::Ne, Literal::Null) => vals.into_iter().any(has_value),
                (_, Literal::Null) => false,
                (CompareOp::Ne, lit) => {
                    !vals.is_empty() && !vals.iter().any(|v| compare(v, CompareOp::Eq, lit, exact))
                }
                (op, lit) => vals.iter().any(|v| compare(v, *op, lit, exact)),
            }
        }
        Filter::ValuePath { path, filter, .. } => candidates(element, path)
            .into_iter()
            .any(|v| matches_element(filter, v, case_exact)),
    }
}

/// The values `path` names in `element`, with arrays flattened so each
/// candidate is one value.
fn candidates<'v>(element: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let mut out = Vec::new();
    let Value::Object(map) = element else {
        if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") {
            push_flat(&mut out, element);
        }
        return out;
    };
    let scope = path
        .urn
        .as_deref()
        .and_then(|urn| get_ci(map, urn))
        .and_then(Value::as_object)
        .unwrap_or(map);
    let Some(v) = get_ci(scope, &path.name) else {
        return out;
    };
    match &path.sub {
        None => push_flat(&mut out, v),
        Some(sub) => {
            let parents: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for parent in parents {
                if let Some(s) = parent.as_object().and_then(|m| get_ci(m, sub)) {
                    push_flat(&mut out, s);
                }
            }
        }
    }
    out
}

fn push_flat<'v>(out: &mut Vec<&'v Value>, v: &'v Value) {
    match v {
        Value::Array(items) => out.extend(items.iter()),
        other => out.push(other),
    }
}

fn get_ci<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn has_value(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(v: &Value, op: CompareOp, lit: &Literal, exact: bool) -> bool {
    match (v, lit) {
        (Value::String(actual), Literal::Str(wanted)) => {
            if exact {
                compare_str(actual, op, wanted)
            } else {
                compare_str(&actual.to_lowercase(), op, &wanted.to_lowercase())
            }
        }
        (Value::Number(actual), Literal::Num(wanted)) => {
            let Some(ord) = compare_numbers(actual, wanted) else {
                return false;
            };
            match op {
                CompareOp::Eq => ord == Ordering::Equal,
                CompareOp::Ne => ord != Ordering::Equal,
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
            }
        }
        (Value::Bool(actual), Literal::Bool(wanted)) => match op {
            CompareOp::Eq => actual == wanted,
            CompareOp::Ne => actual != wanted,
            _ => false,
        },
        _ => false,
    }
}

fn compare_str(actual: &str, op: CompareOp, wanted: &str) -> bool {
    match op {
        CompareOp::Eq => actual == wanted,
        CompareOp::Ne => actual != wanted,
        CompareOp::Co => actual.contains(wanted),
        CompareOp::Sw => actual.starts_with(wanted),
        CompareOp::Ew => actual.ends_with(wanted),
        CompareOp::Gt => actual > wanted,
        CompareOp::Ge => actual >= wanted,
        CompareOp::Lt => actual < wanted,
        CompareOp::Le => actual <= wanted,
    }
}

/// Integers compare exactly; anything involving a float compares as f64.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}
