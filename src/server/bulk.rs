//! `POST /Bulk`: runs the operations of one BulkRequest in dependency order
//! inside one writer job, each in its own savepoint, so one failing
//! operation leaves the others applied (RFC 7644 §3.7) and the whole batch
//! costs one commit.

use super::ctx::{from_store, Ctx};
use super::http::{self, json_response, Body};
use super::ops;
use super::router::{self, Endpoint, Kind};
use crate::scim::bulk::{self, BulkOp, BULK_RESPONSE_URN};
use crate::scim::error::ScimError;
use crate::scim::etag::etag;
use crate::store::audit::Actor;
use crate::store::{groups, users, writer, StoreError};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::HashMap;

/// What one operation produced: the id it created or touched and its version.
struct Done {
    status: u16,
    id: Option<String>,
    kind: Kind,
    version: Option<i64>,
}

fn run_one(
    c: &Connection,
    integration: &str,
    op: &BulkOp,
    actor: &Actor,
) -> Result<Done, StoreError> {
    let method = Method::from_bytes(op.method.as_bytes())
        .map_err(|_| ScimError::invalid_value(format!("unknown method '{}'", op.method)))?;
    let rest = op.path.trim_start_matches('/');
    let endpoint = router::route(&method, rest)?;
    let if_match = op.version.as_deref();
    let data = op.data.clone().unwrap_or(Value::Null);
    let user = |u: users::StoredUser, status| Done {
        status,
        id: Some(u.id),
        kind: Kind::Users,
        version: Some(u.version),
    };
    let group = |g: groups::StoredGroup, status| Done {
        status,
        id: Some(g.id),
        kind: Kind::Groups,
        version: Some(g.version),
    };
    Ok(match endpoint {
        Endpoint::Create(Kind::Users) => user(ops::create_user(c, integration, &data, actor)?, 201),
        Endpoint::Create(Kind::Groups) => {
            group(ops::create_group(c, integration, &data, actor)?, 201)
        }
        Endpoint::Replace(Kind::Users, id) => user(
            ops::replace_user(c, integration, &id, &data, if_match, actor)?,
            200,
        ),
        Endpoint::Replace(Kind::Groups, id) => group(
            ops::replace_group(c, integration, &id, &data, if_match, actor)?,
            200,
        ),
        Endpoint::Patch(Kind::Users, id) => user(
            ops::patch_user(c, integration, &id, &data, if_match, actor)?,
            200,
        ),
        Endpoint::Patch(Kind::Groups, id) => group(
            ops::patch_group(c, integration, &id, &data, if_match, actor)?,
            200,
        ),
        Endpoint::Delete(kind, id) => {
            match kind {
                Kind::Users => users::delete(c, integration, &id, if_match, actor)?,
                Kind::Groups => groups::delete(c, integration, &id, if_match, actor)?,
            }
            Done {
                status: 204,
                id: Some(id),
                kind,
                version: None,
            }
        }
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{} {} cannot be part of a Bulk request",
                op.method, op.path
            ))
            .into())
        }
    })
}

pub async fn handle(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, ScimError> {
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let request = bulk::parse(&body, bulk::MAX_OPERATIONS)?;
    // Ordering is pure work: done here, never on the writer thread.
    let plan = bulk::order(&request.ops);
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let base = ctx.base_url.clone();
    let results = ctx
        .state
        .store
        .write(move |c| Ok(run_all(c, &integration, &request, plan, &actor, &base)))
        .await
        .map_err(from_store)?;
    Ok(json_response(
        200,
        &json!({"schemas": [BULK_RESPONSE_URN], "Operations": results}),
    ))
}

fn run_all(
    c: &Connection,
    integration: &str,
    request: &bulk::BulkRequest,
    (order, unrunnable): (Vec<usize>, Vec<(usize, ScimError)>),
    actor: &Actor,
    base: &str,
) -> Vec<Value> {
    let mut results: Vec<Option<Value>> = vec![None; request.ops.len()];
    let mut errors = 0usize;
    let mut ids: HashMap<String, String> = HashMap::new();
    let describe = |op: &BulkOp, status: u16| {
        let mut v = json!({"method": op.method, "status": status.to_string()});
        if let Some(b) = &op.bulk_id {
            v["bulkId"] = Value::String(b.clone());
        }
        v
    };
    for (i, e) in &unrunnable {
        let mut v = describe(&request.ops[*i], e.status);
        v["response"] = e.to_body();
        results[*i] = Some(v);
        errors += 1;
    }
    for i in order {
        if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let op = bulk::substitute(&request.ops[i], &ids);
        match writer::nested(c, |c| run_one(c, integration, &op, actor)) {
            Ok(done) => {
                let mut v = describe(&op, done.status);
                if let Some(id) = &done.id {
                    if let Some(b) = &op.bulk_id {
                        ids.insert(b.clone(), id.clone());
                    }
                    v["location"] =
                        Value::String(format!("{base}/{}/{id}", done.kind.collection()));
                }
                if let Some(ver) = done.version {
                    v["version"] = Value::String(etag(ver));
                }
                results[i] = Some(v);
            }
            Err(e) => {
                let e = from_store(e);
                let mut v = describe(&op, e.status);
                v["response"] = e.to_body();
                results[i] = Some(v);
                errors += 1;
            }
        }
    }
    // Operations skipped after failOnErrors was reached are not reported (RFC 7644 §3.7.3).
    results.into_iter().flatten().collect()
}
