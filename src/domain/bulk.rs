//! A BulkRequest as one writer job: the operations run in dependency order,
//! each in its own savepoint, so one failing operation leaves the others
//! applied (RFC 7644 §3.7) and the whole batch costs one commit. Each
//! operation is an [`Op`] run through `resources::apply`, the same call the
//! single-resource handlers make. How a method and path name an operation is
//! the edge's business: it hands in a pure `route` function.

use super::change::Change;
use super::resources::{apply, Op, Resource};
use super::users::UserView;
use super::{Domain, Kind};
use crate::scim::bulk::{self, BulkOp, BulkRequest};
use crate::scim::error::ScimError;
use crate::store::audit::Actor;
use crate::store::groups::StoredGroup;
use crate::store::{writer, Result};
use rusqlite::Connection;
use std::collections::HashMap;

/// Names the operation a BulkOp asks for, or refuses it. Pure.
pub type Route = fn(&BulkOp) -> std::result::Result<(Kind, Op), ScimError>;

/// What a successful operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Created,
    Changed,
    Deleted,
}

/// One operation that succeeded: the resource it created or touched.
pub struct Done {
    pub kind: Kind,
    pub id: String,
    pub effect: Effect,
    /// The version after the change; None after a delete.
    pub version: Option<i64>,
    pub change: Change,
}

/// One operation that ran: its index in the request, the operation with
/// earlier `bulkId`s substituted, and what came of it.
pub struct Ran {
    pub index: usize,
    pub op: BulkOp,
    pub result: Result<Done>,
}

impl Domain {
    /// Runs `order` (indexes into `request.ops`, dependencies first) until
    /// `failOnErrors` is reached; `errors` is how many failed before any ran
    /// (operations the ordering could not run).
    pub async fn bulk(
        &self,
        integration: &str,
        request: BulkRequest,
        order: Vec<usize>,
        errors: usize,
        route: Route,
        actor: Actor,
    ) -> Result<Vec<Ran>> {
        let integration = integration.to_string();
        self.write(move |c| {
            Ok(run_all(
                c,
                &integration,
                &request,
                order,
                errors,
                route,
                &actor,
            ))
        })
        .await
    }
}

fn run_all(
    c: &Connection,
    integration: &str,
    request: &BulkRequest,
    order: Vec<usize>,
    mut errors: usize,
    route: Route,
    actor: &Actor,
) -> Vec<Ran> {
    let mut ran = Vec::with_capacity(order.len());
    let mut ids: HashMap<String, String> = HashMap::new();
    for index in order {
        if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        let op = bulk::substitute(&request.ops[index], &ids);
        let result = writer::nested(c, |c| run_one(c, integration, &op, route, actor));
        match &result {
            Ok(done) => {
                if let Some(b) = &op.bulk_id {
                    ids.insert(b.clone(), done.id.clone());
                }
            }
            Err(_) => errors += 1,
        }
        ran.push(Ran { index, op, result });
    }
    ran
}

fn run_one(
    c: &Connection,
    integration: &str,
    op: &BulkOp,
    route: Route,
    actor: &Actor,
) -> Result<Done> {
    let (kind, op) = route(op)?;
    match kind {
        Kind::Users => done::<UserView>(c, integration, &op, actor),
        Kind::Groups => done::<StoredGroup>(c, integration, &op, actor),
    }
}

fn done<T: Resource>(c: &Connection, integration: &str, op: &Op, actor: &Actor) -> Result<Done> {
    let effect = match op {
        Op::Create { .. } => Effect::Created,
        Op::Delete { .. } => Effect::Deleted,
        Op::Replace { .. } | Op::Patch { .. } => Effect::Changed,
    };
    // A Bulk response shows no resource, so nothing computed is loaded.
    let applied = apply::<T>(c, integration, op, actor, false)?;
    Ok(Done {
        kind: T::KIND,
        id: applied.change.id.clone(),
        effect,
        version: applied.resource.as_ref().map(T::version),
        change: applied.change,
    })
}
