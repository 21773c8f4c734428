//! The operations every resource kind offers (create, replace, patch,
//! delete, and reading one), as one trait that `users` and `groups`
//! implement, and one [`Op`] value that names a change so the single-resource
//! handlers and Bulk dispatch it in the same place. Bodies are validated with
//! the pure protocol layer before the store is touched.

use super::change::{Change, Outcome};
use super::{Domain, Kind};
use crate::scim::intake;
use crate::scim::patch::Patched;
use crate::scim::resource;
use crate::scim::schema::{ResourceType, USER_TYPE};
use crate::store::audit::Actor;
use crate::store::{Result, StoreError};
use rusqlite::Connection;
use serde_json::Value;

/// One change of one resource, as a client asked for it.
#[derive(Debug, Clone)]
pub enum Op {
    Create {
        body: Value,
    },
    Replace {
        id: String,
        body: Value,
        if_match: Option<String>,
    },
    Patch {
        id: String,
        body: Value,
        if_match: Option<String>,
    },
    Delete {
        id: String,
        if_match: Option<String>,
    },
}

/// A resource kind as the domain serves it. `computed` asks for the
/// attribute that costs a query (`User.groups`, `Group.members`), loaded only
/// when the response will show it.
pub trait Resource: Sized + Send + 'static {
    const KIND: Kind;

    fn id(&self) -> &str;
    fn version(&self) -> i64;
    fn not_found(id: &str) -> StoreError;
    fn load(c: &Connection, integration: &str, id: &str, computed: bool) -> Result<Option<Self>>;
    fn create(
        c: &Connection,
        integration: &str,
        body: &Value,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>>;
    #[allow(clippy::too_many_arguments)]
    fn replace(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>>;
    #[allow(clippy::too_many_arguments)]
    fn patch(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>>;
    fn delete(
        c: &Connection,
        integration: &str,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Change>;
}

/// The outcome of an [`Op`]: the resource after it (None after a delete) and
/// the change.
pub struct Applied<T> {
    pub resource: Option<T>,
    pub change: Change,
}

/// Runs one [`Op`] on one kind inside the caller's transaction: the only
/// place an operation's name becomes a call.
pub fn apply<T: Resource>(
    c: &Connection,
    integration: &str,
    op: &Op,
    actor: &Actor,
    computed: bool,
) -> Result<Applied<T>> {
    let done = |o: Outcome<T>| Applied {
        resource: Some(o.value),
        change: o.change,
    };
    Ok(match op {
        Op::Create { body } => done(T::create(c, integration, body, actor, computed)?),
        Op::Replace { id, body, if_match } => done(T::replace(
            c,
            integration,
            id,
            body,
            if_match.as_deref(),
            actor,
            computed,
        )?),
        Op::Patch { id, body, if_match } => done(T::patch(
            c,
            integration,
            id,
            body,
            if_match.as_deref(),
            actor,
            computed,
        )?),
        Op::Delete { id, if_match } => Applied {
            resource: None,
            change: T::delete(c, integration, id, if_match.as_deref(), actor)?,
        },
    })
}

impl Domain {
    /// Reads one resource, or the kind's 404.
    pub async fn get<T: Resource>(&self, integration: &str, id: &str, computed: bool) -> Result<T> {
        let (owner, key) = (integration.to_string(), id.to_string());
        self.read_for(integration, move |c| T::load(c, &owner, &key, computed))
            .await?
            .ok_or_else(|| T::not_found(id))
    }

    /// Runs one [`Op`] as one writer job, so one transaction.
    pub async fn apply<T: Resource>(
        &self,
        integration: &str,
        op: Op,
        actor: Actor,
        computed: bool,
    ) -> Result<Applied<T>> {
        let integration = integration.to_string();
        self.write(move |c| apply::<T>(c, &integration, &op, &actor, computed))
            .await
    }
}

/// Reads a POST/PUT body through intake (schemas check, body dialects) and
/// normalises it; the dialects seen are logged like PATCH's.
pub(super) fn normalize(
    rt: &ResourceType,
    body: &Value,
    integration: &str,
    actor: &Actor,
) -> Result<Value> {
    let mut read = intake::read(rt, body)?;
    for dialect in &read.dialects {
        crate::request_quirks::accepted(integration, actor.request_id.as_deref(), dialect);
        tracing::debug!(request_id = ?actor.request_id, %integration, dialect, "accepted an IdP body dialect");
    }
    if std::ptr::eq(rt, &USER_TYPE) {
        default_active(&mut read.body);
    }
    Ok(resource::normalize(rt, &read.body)?)
}

/// A user created or replaced without `active` is active (the store has
/// always counted it so) and says so: IdPs read a missing `active` as
/// unknown. Written into the stored form, so a later PATCH `remove` of
/// `active` still removes it.
fn default_active(body: &mut Value) {
    if let Value::Object(obj) = body {
        let given = obj
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("active") && !v.is_null());
        if !given {
            obj.retain(|k, _| !k.eq_ignore_ascii_case("active"));
            obj.insert("active".into(), Value::Bool(true));
        }
    }
}

pub(super) fn log_quirks(patched: &Patched, integration: &str, actor: &Actor) {
    for quirk in &patched.quirks {
        crate::request_quirks::accepted(integration, actor.request_id.as_deref(), quirk);
        tracing::debug!(request_id = ?actor.request_id, %integration, quirk, "accepted an IdP PATCH dialect");
    }
}
