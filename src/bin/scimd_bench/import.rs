//! The initial-import scenario of issue 9: a fresh server on its default
//! settings (the integration `serve` creates on an empty database, never
//! touched by `integration set`), an IdP pushing N users over several
//! keep-alive connections as fast as the server answers, then paging through
//! them all with `startIndex`/`count=100`. It counts 429 answers on their own,
//! because the point is that the defaults never throttle one integration the
//! server can serve.

use crate::client::{Call, Reply, Target};
use crate::measure::{self, Check, Outcome, Plan, Row, Step};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub struct Results {
    pub rows: Vec<Row>,
    pub created: Outcome,
    pub paged: Outcome,
    pub throttled: u64,
}

fn user_body(k: u64) -> String {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": format!("import.{k:07}@example.com"),
        "externalId": format!("ext-{k:07}"),
        "name": {"givenName": format!("Given{k}"), "familyName": format!("Family{k}")},
        "emails": [{"value": format!("import.{k:07}@example.com"), "type": "work", "primary": true}],
        "active": true,
    })
    .to_string()
}

/// Accepts `want`; counts every 429 in `throttled` besides failing the step.
fn expect(want: u16, throttled: Arc<AtomicU64>, more: fn(&Value) -> Result<(), String>) -> Check {
    Arc::new(move |reply: &Reply| {
        if reply.status == 429 {
            throttled.fetch_add(1, Ordering::Relaxed);
        }
        if reply.status != want {
            return Err(measure::status_error(reply));
        }
        let v: Value = serde_json::from_slice(&reply.body)
            .map_err(|e| format!("{want}: body is not JSON: {e}"))?;
        more(&v)
    })
}

fn has_id(v: &Value) -> Result<(), String> {
    v.get("id")
        .and_then(Value::as_str)
        .map(|_| ())
        .ok_or_else(|| "201 without an id".to_string())
}

fn full_page(v: &Value) -> Result<(), String> {
    match v.get("Resources").and_then(Value::as_array) {
        Some(items) if !items.is_empty() => Ok(()),
        _ => Err("200 with an empty page".into()),
    }
}

pub async fn run(target: &Target, users: u64, plan: Plan) -> Results {
    let throttled = Arc::new(AtomicU64::new(0));
    let create_plan = Plan {
        max_iterations: users,
        duration: plan.duration.max(std::time::Duration::from_secs(600)),
        ..plan
    };
    let check = expect(201, throttled.clone(), has_id);
    let created = measure::run(target, create_plan, 1, move |_, k| {
        vec![Step {
            slot: 0,
            call: Call::post("/Users".into(), user_body(k)),
            check: check.clone(),
        }]
    })
    .await
    .into_iter()
    .next()
    .unwrap_or_default();

    let pages = users.div_ceil(100);
    let page_plan = Plan {
        max_iterations: pages,
        ..create_plan
    };
    let check = expect(200, throttled.clone(), full_page);
    let paged = measure::run(target, page_plan, 1, move |_, k| {
        vec![Step {
            slot: 0,
            call: Call::get(format!("/Users?startIndex={}&count=100", k * 100 + 1)),
            check: check.clone(),
        }]
    })
    .await
    .into_iter()
    .next()
    .unwrap_or_default();

    let rows = vec![
        Row {
            scenario: format!("POST /Users ({users} creates)"),
            workers: plan.workers,
            outcome: created.clone(),
            note: "default rate settings".into(),
        },
        Row {
            scenario: format!("GET /Users pages of 100 ({pages} pages)"),
            workers: plan.workers,
            outcome: paged.clone(),
            note: "startIndex paging through every user".into(),
        },
    ];
    Results {
        rows,
        created,
        paged,
        throttled: throttled.load(Ordering::Relaxed),
    }
}
