//! The membership scenarios of issue 5: add one member and remove it again
//! (Okta's `members[value eq "…"]` form) in groups of 0, 1 000 and 100 000
//! members, and GET of the 100 000-member group with and without its
//! members. Every PATCH asks for `excludedAttributes=members`, as a sync
//! client that does not need the echo should, so the numbers measure the
//! membership change and not the rendering of 100 000 members.

use crate::client::{Call, Target};
use crate::loader::synthetic_user;
use crate::measure::{self, expect_json, Outcome, Plan, Row, Step};
use serde_json::{json, Value};
use std::time::Duration;

/// Groups the loader creates: display name and member count. Members are
/// users `0..size`, so users from `FIRST_OUTSIDER` on belong to none.
pub const GROUPS: [(&str, u64); 3] = [
    ("bench members 0", 0),
    ("bench members 1000", 1_000),
    ("bench members 100000", 100_000),
];
pub const FIRST_OUTSIDER: u64 = 100_000;

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

pub struct GroupResult {
    pub size: u64,
    pub add: Outcome,
    pub remove: Outcome,
}

pub struct Results {
    pub rows: Vec<Row>,
    pub groups: Vec<GroupResult>,
}

fn add_body(user_id: &str) -> String {
    json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}],
    })
    .to_string()
}

fn remove_body(user_id: &str) -> String {
    json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{user_id}\"]")}],
    })
    .to_string()
}

/// The PATCH answer must honour `excludedAttributes=members`: echoing a
/// 100 000-member list would be a bug, not a cost of the operation.
fn no_members(v: &Value) -> Result<(), String> {
    match v.get("members") {
        Some(_) => {
            Err("200 but the response lists members despite excludedAttributes=members".into())
        }
        None => Ok(()),
    }
}

pub async fn run(target: &Target, users: u64, group_ids: &[(u64, String)], plan: Plan) -> Results {
    let mut rows = Vec::new();
    let mut groups = Vec::new();
    // Each iteration borrows one outsider and gives it back, so the group
    // ends the run with exactly its initial members.
    let pool = users.saturating_sub(FIRST_OUTSIDER).max(1);
    for (size, gid) in group_ids {
        let path = format!("/Groups/{gid}?excludedAttributes=members");
        let make = move |_: usize, k: u64| {
            let user = synthetic_user(FIRST_OUTSIDER + k % pool);
            vec![
                Step {
                    slot: 0,
                    call: Call::patch(path.clone(), add_body(&user.id)),
                    check: expect_json(&[200, 204], no_members),
                },
                Step {
                    slot: 1,
                    call: Call::patch(path.clone(), remove_body(&user.id)),
                    check: expect_json(&[200, 204], no_members),
                },
            ]
        };
        let warm = Plan {
            max_iterations: plan.workers as u64 * 5,
            duration: Duration::from_secs(5),
            ..plan
        };
        let _ = measure::run(target, warm, 2, make.clone()).await;
        let mut out = measure::run(target, plan, 2, make).await.into_iter();
        let add = out.next().unwrap_or_default();
        let remove = out.next().unwrap_or_default();
        let note = "PATCH ?excludedAttributes=members".to_string();
        rows.push(Row {
            scenario: format!("add member, group of {size}"),
            workers: plan.workers,
            outcome: add.clone(),
            note: note.clone(),
        });
        rows.push(Row {
            scenario: format!("remove member, group of {size}"),
            workers: plan.workers,
            outcome: remove.clone(),
            note,
        });
        groups.push(GroupResult {
            size: *size,
            add,
            remove,
        });
    }

    if let Some((size, gid)) = group_ids.iter().max_by_key(|(size, _)| *size) {
        let size = *size;
        // The full member list is large: a handful of requests is enough.
        let get_plan = Plan {
            max_iterations: plan.max_iterations.min(200),
            ..plan
        };
        let full_path = format!("/Groups/{gid}");
        let full = measure::run(target, get_plan, 1, move |_, _| {
            vec![Step {
                slot: 0,
                call: Call::get(full_path.clone()),
                check: expect_json(&[200], move |v| {
                    let n = v
                        .get("members")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len) as u64;
                    if n == size {
                        Ok(())
                    } else {
                        Err(format!("200 but {n} members, expected {size}"))
                    }
                }),
            }]
        })
        .await
        .into_iter()
        .next()
        .unwrap_or_default();
        let per = full.bytes / full.requests().max(1);
        rows.push(Row {
            scenario: format!("GET group of {size}"),
            workers: plan.workers,
            outcome: full,
            note: format!("with members, {} per response", measure::human_bytes(per)),
        });

        let bare_path = format!("/Groups/{gid}?excludedAttributes=members");
        let bare = measure::run(target, plan, 1, move |_, _| {
            vec![Step {
                slot: 0,
                call: Call::get(bare_path.clone()),
                check: expect_json(&[200], no_members),
            }]
        })
        .await
        .into_iter()
        .next()
        .unwrap_or_default();
        rows.push(Row {
            scenario: format!("GET group of {size} ?excludedAttributes=members"),
            workers: plan.workers,
            outcome: bare,
            note: String::new(),
        });
    }
    Results { rows, groups }
}
