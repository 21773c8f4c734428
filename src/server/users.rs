//! Handlers for `/Users`: validate with the pure protocol layer, change or
//! read through the store, shape the answer with the projection the client
//! asked for. Each change is one writer job, so one transaction, and PATCH
//! reads, applies and writes inside that same job.

use super::handler::{from_store, Ctx};
use super::http::{self, header, json_response, with_etag, Body};
use super::ops;
use super::router::Kind;
use crate::scim::error::ScimError;
use crate::scim::projection::Projection;
use crate::scim::render::{full_resource, insert_before_meta, Meta};
use crate::scim::schema::USER_TYPE;
use crate::store::audit::Actor;
use crate::store::groups;
use crate::store::users::{self, StoredUser};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, IF_MATCH, IF_NONE_MATCH, LOCATION};
use hyper::{Request, Response};
use rusqlite::Connection;
use serde_json::{json, Value};

fn projection(ctx: &Ctx) -> Result<Projection, ScimError> {
    Projection::parse(
        &USER_TYPE,
        ctx.query.get("attributes"),
        ctx.query.get("excludedAttributes"),
    )
}

/// A user with its computed `groups`, when the response shows them.
pub(super) struct Shown {
    user: StoredUser,
    groups: Option<Vec<(String, String, &'static str)>>,
}

pub(super) fn with_groups(
    conn: &Connection,
    integration_id: &str,
    user: StoredUser,
    want: bool,
) -> crate::store::Result<Shown> {
    let groups = if want {
        Some(groups::groups_of_user(conn, integration_id, &user.id)?)
    } else {
        None
    };
    Ok(Shown { user, groups })
}

pub(super) fn render(ctx: &Ctx, shown: &Shown) -> Value {
    let user = &shown.user;
    let version = users::etag(user.version);
    let location = ctx.location(Kind::Users, &user.id);
    let mut full = full_resource(
        &user.resource,
        &Meta {
            resource_type: "User",
            id: &user.id,
            created: &user.created,
            last_modified: &user.last_modified,
            version: &version,
            location: &location,
        },
    );
    if let Some(list) = shown.groups.as_ref().filter(|l| !l.is_empty()) {
        let groups: Vec<Value> = list
            .iter()
            .map(|(id, name, kind)| {
                json!({
                    "value": id,
                    "$ref": ctx.location(Kind::Groups, id),
                    "display": name,
                    "type": kind,
                })
            })
            .collect();
        insert_before_meta(&mut full, "groups", Value::Array(groups));
    }
    full
}

fn single(ctx: &Ctx, status: u16, shown: &Shown, proj: &Projection) -> Response<Body> {
    let body = proj.apply(&USER_TYPE, &render(ctx, shown));
    with_etag(
        json_response(status, &body),
        &users::etag(shown.user.version),
    )
}

pub async fn create(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, ScimError> {
    let proj = projection(ctx)?;
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let shown = ctx
        .state
        .store
        .write(move |c| {
            let user = ops::create_user(c, &integration, &body, &actor)?;
            Ok(Shown { user, groups: None })
        })
        .await
        .map_err(from_store)?;
    let mut resp = single(ctx, 201, &shown, &proj);
    if let Ok(v) = HeaderValue::from_str(&ctx.location(Kind::Users, &shown.user.id)) {
        resp.headers_mut().insert(LOCATION, v);
    }
    Ok(resp)
}

pub async fn get(
    ctx: &Ctx,
    req: &Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    let proj = projection(ctx)?;
    let want_groups = proj.includes(&USER_TYPE, "groups");
    let integration = ctx.integration_id.clone();
    let key = id.to_string();
    let shown = ctx
        .state
        .store
        .read(move |c| match users::get(c, &integration, &key)? {
            Some(user) => with_groups(c, &integration, user, want_groups).map(Some),
            None => Ok(None),
        })
        .await
        .map_err(from_store)?
        .ok_or_else(|| from_store(users::not_found(id)))?;
    if let Some(tags) = header(req, IF_NONE_MATCH) {
        if users::check_if_match(Some(tags), shown.user.version).is_ok() {
            return Ok(with_etag(
                http::empty_response(304),
                &users::etag(shown.user.version),
            ));
        }
    }
    Ok(single(ctx, 200, &shown, &proj))
}

/// A change that PUT or PATCH applies inside the writer job (`server::ops`).
type Change = fn(
    &rusqlite::Connection,
    &str,
    &str,
    &serde_json::Value,
    Option<&str>,
    &Actor,
) -> crate::store::Result<StoredUser>;

/// PUT and PATCH differ only in the change they apply to the stored user.
async fn change(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
    apply: Change,
) -> Result<Response<Body>, ScimError> {
    let proj = projection(ctx)?;
    let want_groups = proj.includes(&USER_TYPE, "groups");
    let if_match = header(&req, IF_MATCH).map(str::to_string);
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let key = id.to_string();
    let shown = ctx
        .state
        .store
        .write(move |c| {
            let user = apply(c, &integration, &key, &body, if_match.as_deref(), &actor)?;
            with_groups(c, &integration, user, want_groups)
        })
        .await
        .map_err(from_store)?;
    Ok(single(ctx, 200, &shown, &proj))
}

pub async fn replace(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    change(ctx, req, id, ops::replace_user).await
}

pub async fn patch(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    change(ctx, req, id, ops::patch_user).await
}

pub async fn delete(
    ctx: &Ctx,
    req: &Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    let if_match = header(req, IF_MATCH).map(str::to_string);
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let key = id.to_string();
    ctx.state
        .store
        .write(move |c| users::delete(c, &integration, &key, if_match.as_deref(), &actor))
        .await
        .map_err(from_store)?;
    Ok(http::empty_response(204))
}

/// `GET /Users`: see `server::search`.
pub async fn list(ctx: &Ctx) -> Result<Response<Body>, ScimError> {
    super::search::list(ctx, Kind::Users).await
}
