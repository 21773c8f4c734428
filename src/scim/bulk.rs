//! Bulk requests (RFC 7644 §3.7), the pure part: parse and bound the
//! request, find which operations refer to which `bulkId`, order them so a
//! reference runs after the operation that creates its target, and
//! substitute `bulkId:x` with the real id once known. Pure.

use crate::scim::error::ScimError;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct BulkOp {
    pub method: String,
    pub bulk_id: Option<String>,
    pub version: Option<String>,
    pub path: String,
    pub data: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors; None: never stop.
    pub fail_on_errors: Option<usize>,
    pub ops: Vec<BulkOp>,
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

pub fn parse(body: &Value, max_operations: usize) -> Result<BulkRequest, ScimError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest must be a JSON object"))?;
    let fail_on_errors = match field(obj, "failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            ScimError::invalid_value("failOnErrors must be an integer of at least 1")
        })? as usize),
    };
    let ops = field(obj, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a BulkRequest needs an 'Operations' array"))?;
    if ops.len() > max_operations {
        return Err(ScimError::new(
            413,
            None,
            format!(
                "{} operations is more than the {max_operations} allowed in one Bulk request",
                ops.len()
            ),
        ));
    }
    let mut parsed = Vec::with_capacity(ops.len());
    let mut seen = HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        let n = i + 1;
        let o = op
            .as_object()
            .ok_or_else(|| ScimError::invalid_syntax(format!("operation {n} is not an object")))?;
        let text = |name: &str| field(o, name).and_then(Value::as_str).map(str::to_string);
        let method = text("method")
            .ok_or_else(|| ScimError::invalid_syntax(format!("operation {n} has no 'method'")))?
            .to_ascii_uppercase();
        if !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            return Err(ScimError::invalid_value(format!(
                "operation {n}: method '{method}' is not one of POST, PUT, PATCH, DELETE"
            )));
        }
        let path = text("path")
            .ok_or_else(|| ScimError::invalid_syntax(format!("operation {n} has no 'path'")))?;
        let bulk_id = text("bulkId");
        if method == "POST" && bulk_id.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: a POST needs a 'bulkId'"
            )));
        }
        if let Some(b) = &bulk_id {
            if !seen.insert(b.clone()) {
                return Err(ScimError::invalid_value(format!(
                    "bulkId '{b}' is used twice"
                )));
            }
        }
        let data = field(o, "data").cloned();
        if method != "DELETE" && data.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: {method} needs 'data'"
            )));
        }
        parsed.push(BulkOp {
            method,
            bulk_id,
            version: text("version"),
            path,
            data,
        });
    }
    Ok(BulkRequest {
        fail_on_errors,
        ops: parsed,
    })
}

/// Every `bulkId:x` an operation refers to, in its path or anywhere in its data.
pub fn references(op: &BulkOp) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if let Some(id) = s.strip_prefix("bulkId:") {
                    out.push(id.to_string());
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for seg in op.path.split('/') {
        if let Some(id) = seg.strip_prefix("bulkId:") {
            out.push(id.to_string());
        }
    }
    if let Some(d) = &op.data {
        walk(d, &mut out);
    }
    out
}

/// The order to run operations in: request order, except that an operation
/// waits for the operations whose bulkIds it refers to. Operations that can
/// never run (a cycle, or a reference to an unknown bulkId) come back in the
/// second list with the reason.
pub fn order(ops: &[BulkOp]) -> (Vec<usize>, Vec<(usize, ScimError)>) {
    let defined: HashMap<&str, usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.bulk_id.as_deref().map(|b| (b, i)))
        .collect();
    let refs: Vec<Vec<String>> = ops.iter().map(references).collect();
    let mut done = vec![false; ops.len()];
    let mut order = Vec::with_capacity(ops.len());
    let mut failed = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        if let Some(unknown) = r.iter().find(|b| !defined.contains_key(b.as_str())) {
            failed.push((
                i,
                ScimError::invalid_value(format!(
                    "bulkId '{unknown}' is not defined by any operation"
                )),
            ));
            done[i] = true;
        }
    }
    loop {
        let mut progressed = false;
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            let ready = refs[i].iter().all(|b| {
                let target = defined[b.as_str()];
                target != i && done[target] && order.contains(&target)
            });
            if ready {
                done[i] = true;
                order.push(i);
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    for (i, finished) in done.iter().enumerate() {
        if !finished {
            failed.push((
                i,
                ScimError::new(
                    409,
                    None,
                    "circular bulkId references: this operation can never run",
                ),
            ));
        }
    }
    (order, failed)
}

/// Replaces `bulkId:x` (whole strings and path segments) with real ids.
pub fn substitute(op: &BulkOp, ids: &HashMap<String, String>) -> BulkOp {
    fn walk(v: &Value, ids: &HashMap<String, String>) -> Value {
        match v {
            Value::String(s) => match s.strip_prefix("bulkId:").and_then(|b| ids.get(b)) {
                Some(id) => Value::String(id.clone()),
                None => v.clone(),
            },
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, ids)).collect()),
            Value::Object(o) => {
                Value::Object(o.iter().map(|(k, x)| (k.clone(), walk(x, ids))).collect())
            }
            _ => v.clone(),
        }
    }
    let path = op
        .path
        .split('/')
        .map(
            |seg| match seg.strip_prefix("bulkId:").and_then(|b| ids.get(b)) {
                Some(id) => id.as_str(),
                None => seg,
            },
        )
        .collect::<Vec<_>>()
        .join("/");
    BulkOp {
        path,
        data: op.data.as_ref().map(|d| walk(d, ids)),
        ..op.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(ops: Value) -> BulkRequest {
        parse(
            &json!({"schemas": [BULK_REQUEST_URN], "Operations": ops}),
            10,
        )
        .unwrap()
    }

    #[test]
    fn reference_runs_after_its_target() {
        let r = req(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "G", "members": [{"value": "bulkId:u"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "a"}}
        ]));
        let (order, failed) = order(&r.ops);
        assert_eq!(order, vec![1, 0]);
        assert!(failed.is_empty());
    }

    #[test]
    fn circular_references_are_409() {
        let r = req(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"displayName": "A", "members": [{"value": "bulkId:b"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"displayName": "B", "members": [{"value": "bulkId:a"}]}}
        ]));
        let (order, failed) = order(&r.ops);
        assert!(order.is_empty());
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().all(|(_, e)| e.status == 409));
    }

    #[test]
    fn unknown_bulk_id_fails_only_that_operation() {
        let r = req(json!([
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "a"}},
            {"method": "PATCH", "path": "/Groups/bulkId:nope", "data": {"Operations": []}}
        ]));
        let (order, failed) = order(&r.ops);
        assert_eq!(order, vec![0]);
        assert_eq!(failed[0].0, 1);
    }

    #[test]
    fn substitution_covers_paths_and_values() {
        let r = req(
            json!([{"method": "PUT", "path": "/Users/bulkId:u", "data": {"manager": {"value": "bulkId:u"}}}]),
        );
        let ids = HashMap::from([("u".to_string(), "123".to_string())]);
        let s = substitute(&r.ops[0], &ids);
        assert_eq!(s.path, "/Users/123");
        assert_eq!(s.data.unwrap()["manager"]["value"], "123");
    }

    #[test]
    fn too_many_operations_is_413() {
        let ops: Vec<Value> = (0..11)
            .map(|i| json!({"method": "DELETE", "path": format!("/Users/{i}")}))
            .collect();
        let e = parse(&json!({"Operations": ops}), 10).unwrap_err();
        assert_eq!(e.status, 413);
    }

    #[test]
    fn post_without_bulk_id_is_rejected() {
        let e = parse(
            &json!({"Operations": [{"method": "POST", "path": "/Users", "data": {}}]}),
            10,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
    }
}
