//! `POST /Bulk`: parses and orders the BulkRequest (pure), hands it to the
//! domain, which runs every operation in one writer job, each in its own
//! savepoint (RFC 7644 §3.7), and answers the BulkResponse. Which operation a
//! method and path name is decided by the same router as single requests.

use super::ctx::{from_store, Ctx};
use super::http::{self, json_response, Body};
use super::router::{self, Endpoint, Kind};
use crate::domain::bulk::Effect;
use crate::domain::resources::Op;
use crate::scim::bulk::{self, BulkOp, BULK_RESPONSE_URN};
use crate::scim::error::ScimError;
use crate::scim::etag::etag;
use crate::store::audit::Actor;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use serde_json::{json, Value};

/// The operation one BulkOp names, or why it cannot be part of a Bulk.
fn route(op: &BulkOp) -> Result<(Kind, Op), ScimError> {
    let method = Method::from_bytes(op.method.as_bytes())
        .map_err(|_| ScimError::invalid_value(format!("unknown method '{}'", op.method)))?;
    let rest = op.path.trim_start_matches('/');
    let if_match = op.version.clone();
    let body = op.data.clone().unwrap_or(Value::Null);
    Ok(match router::route(&method, rest)? {
        Endpoint::Create(kind) => (kind, Op::Create { body }),
        Endpoint::Replace(kind, id) => (kind, Op::Replace { id, body, if_match }),
        Endpoint::Patch(kind, id) => (kind, Op::Patch { id, body, if_match }),
        Endpoint::Delete(kind, id) => (kind, Op::Delete { id, if_match }),
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{} {} cannot be part of a Bulk request",
                op.method, op.path
            )))
        }
    })
}

fn describe(op: &BulkOp, status: u16) -> Value {
    let mut v = json!({"method": op.method, "status": status.to_string()});
    if let Some(b) = &op.bulk_id {
        v["bulkId"] = Value::String(b.clone());
    }
    v
}

fn failed(op: &BulkOp, e: &ScimError) -> Value {
    let mut v = describe(op, e.status);
    v["response"] = e.to_body();
    v
}

pub async fn handle(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, ScimError> {
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let request = bulk::parse(&body, bulk::MAX_OPERATIONS)?;
    // Ordering is pure work: done here, never on the writer thread.
    let (order, unrunnable) = bulk::order(&request.ops);
    let mut results: Vec<Option<Value>> = vec![None; request.ops.len()];
    for (i, e) in &unrunnable {
        results[*i] = Some(failed(&request.ops[*i], e));
    }
    let ran = ctx
        .state
        .domain
        .bulk(
            &ctx.integration_id,
            request,
            order,
            unrunnable.len(),
            route,
            Actor::scim(&ctx.request_id),
        )
        .await
        .map_err(from_store)?;
    for r in ran {
        results[r.index] = Some(match r.result {
            Ok(done) => {
                let status = match done.effect {
                    Effect::Created => 201,
                    Effect::Changed => 200,
                    Effect::Deleted => 204,
                };
                let mut v = describe(&r.op, status);
                v["location"] = Value::String(ctx.location(done.kind, &done.id));
                if let Some(ver) = done.version {
                    v["version"] = Value::String(etag(ver));
                }
                v
            }
            Err(e) => failed(&r.op, &from_store(e)),
        });
    }
    // Operations skipped after failOnErrors was reached are not reported (RFC 7644 §3.7.3).
    let results: Vec<Value> = results.into_iter().flatten().collect();
    Ok(json_response(
        200,
        &json!({"schemas": [BULK_RESPONSE_URN], "Operations": results}),
    ))
}
