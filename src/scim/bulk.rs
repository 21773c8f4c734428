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

/// Most distinct `bulkId`s one operation may refer to: as many as there can
/// be operations to refer to.
pub const MAX_REFERENCES: usize = MAX_OPERATIONS;

/// The order to run operations in: request order, except that an operation
/// waits for the operations whose bulkIds it refers to. Operations that can
/// never run (a cycle, a reference to an unknown bulkId, too many references,
/// or waiting on one of those) come back in the second list with the reason.
///
/// A topological sort (Kahn's) that always takes the earliest ready
/// operation: O((operations + references) · log operations), so a reversed
/// chain of 1000 operations costs the same as a straight one. It is pure and
/// runs before the writer, never inside the write transaction.
pub fn order(ops: &[BulkOp]) -> (Vec<usize>, Vec<(usize, ScimError)>) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let defined: HashMap<&str, usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.bulk_id.as_deref().map(|b| (b, i)))
        .collect();
    let mut failed: Vec<(usize, ScimError)> = Vec::new();
    let mut blocked = vec![false; ops.len()];
    // waiting[i]: how many distinct targets i still waits for;
    // dependents[t]: the operations waiting for t.
    let mut waiting = vec![0usize; ops.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for (i, op) in ops.iter().enumerate() {
        let mut targets: HashSet<usize> = HashSet::new();
        let mut problem = None;
        for b in references(op) {
            match defined.get(b.as_str()) {
                None => {
                    problem = Some(ScimError::invalid_value(format!(
                        "bulkId '{b}' is not defined by any operation"
                    )));
                    break;
                }
                Some(&t) if t == i => {
                    problem = Some(ScimError::new(
                        409,
                        None,
                        format!("operation refers to its own bulkId '{b}': it can never run"),
                    ));
                    break;
                }
                Some(&t) => {
                    targets.insert(t);
                    if targets.len() > MAX_REFERENCES {
                        problem = Some(ScimError::invalid_value(format!(
                            "operation refers to more than {MAX_REFERENCES} bulkIds"
                        )));
                        break;
                    }
                }
            }
        }
        if let Some(e) = problem {
            failed.push((i, e));
            blocked[i] = true;
            continue;
        }
        waiting[i] = targets.len();
        for t in targets {
            dependents[t].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..ops.len())
        .filter(|&i| !blocked[i] && waiting[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(ops.len());
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 && !blocked[d] {
                ready.push(Reverse(d));
            }
        }
    }
    // Whatever never became ready waits on a cycle or on a blocked operation.
    let mut placed = vec![false; ops.len()];
    for &i in &order {
        placed[i] = true;
    }
    for i in 0..ops.len() {
        if !placed[i] && !blocked[i] {
            failed.push((
                i,
                ScimError::new(
                    409,
                    None,
                    "circular bulkId references, or a reference to an operation that cannot run: this operation can never run",
                ),
            ));
        }
    }
    failed.sort_by_key(|(i, _)| *i);
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

    fn chain(n: usize, reversed: bool) -> Vec<BulkOp> {
        // Operation k refers to operation k+1 (reversed) or k-1 (straight).
        (0..n)
            .map(|k| {
                let target = if reversed { k + 1 } else { k.wrapping_sub(1) };
                let data = if target < n {
                    json!({"displayName": "g", "members": [{"value": format!("bulkId:b{target}")}]})
                } else {
                    json!({"displayName": "g"})
                };
                BulkOp {
                    method: "POST".into(),
                    bulk_id: Some(format!("b{k}")),
                    version: None,
                    path: "/Groups".into(),
                    data: Some(data),
                }
            })
            .collect()
    }

    #[test]
    fn a_reversed_chain_runs_from_its_end() {
        let ops = chain(1000, true);
        let (order, failed) = order(&ops);
        assert!(failed.is_empty());
        assert_eq!(order, (0..1000).rev().collect::<Vec<_>>());
    }

    #[test]
    fn a_straight_chain_runs_in_request_order() {
        let (order, failed) = order(&chain(1000, false));
        assert!(failed.is_empty());
        assert_eq!(order, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn an_operation_waiting_on_an_unrunnable_one_cannot_run_either() {
        let r = req(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"displayName": "A", "members": [{"value": "bulkId:missing"}]}},
            {"method": "POST", "path": "/Groups", "bulkId": "b", "data": {"displayName": "B", "members": [{"value": "bulkId:a"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "c", "data": {"userName": "c"}}
        ]));
        let (order, failed) = order(&r.ops);
        assert_eq!(order, vec![2]);
        assert_eq!(failed.len(), 2);
        assert_eq!(failed[0].1.status, 400);
        assert_eq!(failed[1].1.status, 409);
    }

    #[test]
    fn a_self_reference_is_409() {
        let r = req(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "a", "data": {"displayName": "A", "members": [{"value": "bulkId:a"}]}}
        ]));
        let (order, failed) = order(&r.ops);
        assert!(order.is_empty());
        assert_eq!(failed[0].1.status, 409);
    }

    #[test]
    fn repeated_references_to_one_target_count_once() {
        let r = req(json!([
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "G", "members": [{"value": "bulkId:u"}, {"value": "bulkId:u"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": {"userName": "a"}}
        ]));
        let (order, failed) = order(&r.ops);
        assert_eq!(order, vec![1, 0]);
        assert!(failed.is_empty());
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
