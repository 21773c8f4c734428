//! Bulk ordering, structure-aware: operations with bulkIds from a small
//! alphabet and references to them in paths and data. `bulk::order` must
//! place every operation exactly once (run or refused), run each operation
//! after every operation it refers to, refuse only what can never run, and
//! keep request order among operations that do not wait.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use scimd::scim::bulk::{self, BulkOp};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Debug, Arbitrary)]
struct Op {
    method: u8,
    /// A bulkId from a small alphabet so references often hit.
    bulk_id: Option<u8>,
    /// References placed in the path (`/Groups/bulkId:x`).
    path_ref: Option<u8>,
    /// References placed in the data, nested at various depths.
    data_refs: Vec<(u8, u8)>,
}

fn id(n: u8) -> String {
    format!("b{}", n % 24)
}

fn build(ops: &[Op]) -> Vec<BulkOp> {
    let mut seen = std::collections::HashSet::new();
    ops.iter()
        .map(|o| {
            let method = ["POST", "PUT", "PATCH", "DELETE"][o.method as usize % 4].to_string();
            // bulk::parse refuses a repeated bulkId; order never sees one.
            let bulk_id = o.bulk_id.map(id).filter(|b| seen.insert(b.clone()));
            let path = match o.path_ref {
                Some(r) => format!("/Groups/bulkId:{}", id(r)),
                None => "/Users".to_string(),
            };
            let mut members = Vec::new();
            let mut data = json!({"displayName": "x"});
            for (r, depth) in &o.data_refs {
                let reference = Value::String(format!("bulkId:{}", id(*r)));
                match depth % 3 {
                    0 => members.push(json!({"value": reference})),
                    1 => data[format!("k{r}")] = reference,
                    _ => data["nested"] = json!({"deep": [reference]}),
                }
            }
            data["members"] = Value::Array(members);
            BulkOp {
                method,
                bulk_id,
                version: None,
                path,
                data: Some(data),
            }
        })
        .collect()
}

fuzz_target!(|input: Vec<Op>| {
    let ops = build(&input);
    let (run, refused) = bulk::order(&ops);
    let mut place = vec![None; ops.len()];
    for (pos, &i) in run.iter().enumerate() {
        assert!(place[i].is_none(), "operation {i} runs twice");
        place[i] = Some(pos);
    }
    for (i, e) in &refused {
        assert!(
            place[*i].is_none(),
            "operation {i} both runs and is refused"
        );
        assert!((400..500).contains(&e.status), "{e}");
    }
    assert_eq!(run.len() + refused.len(), ops.len(), "an operation is lost");
    let defined: HashMap<&str, usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.bulk_id.as_deref().map(|b| (b, i)))
        .collect();
    for (i, op) in ops.iter().enumerate() {
        let targets: Vec<Option<usize>> = bulk::references(op)
            .iter()
            .map(|b| defined.get(b.as_str()).copied())
            .collect();
        match place[i] {
            Some(pos) => {
                for t in &targets {
                    let t = t.expect("a running operation refers to a defined bulkId");
                    assert!(place[t].is_some_and(|p| p < pos), "{i} runs before {t}");
                }
            }
            None => {
                // Refused: some reference is unknown, its own, or to a
                // refused operation (directly, or through a cycle).
                assert!(
                    targets
                        .iter()
                        .any(|t| t.is_none_or(|t| t == i || place[t].is_none())),
                    "operation {i} is refused though everything it needs runs"
                );
            }
        }
    }
    // Operations that refer to nothing run in request order.
    let free: Vec<usize> = run
        .iter()
        .copied()
        .filter(|&i| bulk::references(&ops[i]).is_empty())
        .collect();
    assert!(
        free.windows(2).all(|w| w[0] < w[1]),
        "request order lost: {free:?}"
    );
});
