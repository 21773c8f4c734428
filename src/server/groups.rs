//! Handlers for `/Groups`. Members travel in the JSON but live in the
//! membership table: a body's `members` become membership rows, PATCH member
//! operations become single-row inserts and deletes, and members are read
//! only when the response will show them.

use super::handler::{from_store, Ctx};
use super::http::{self, header, json_response, with_etag, Body};
use super::ops;
use super::router::Kind;
use crate::scim::error::ScimError;
use crate::scim::projection::Projection;
use crate::scim::render::{full_resource, insert_before_meta, Meta};
use crate::scim::schema::GROUP_TYPE;
use crate::store::audit::Actor;
use crate::store::groups::{self, StoredGroup};
use crate::store::users;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, IF_MATCH, IF_NONE_MATCH, LOCATION};
use hyper::{Request, Response};
use serde_json::Value;

fn projection(ctx: &Ctx) -> Result<Projection, ScimError> {
    Projection::parse(
        &GROUP_TYPE,
        ctx.query.get("attributes"),
        ctx.query.get("excludedAttributes"),
    )
}

pub(super) fn render(ctx: &Ctx, group: &StoredGroup) -> Value {
    let version = users::etag(group.version);
    let location = ctx.location(Kind::Groups, &group.id);
    let mut full = full_resource(
        &group.resource,
        &Meta {
            resource_type: "Group",
            id: &group.id,
            created: &group.created,
            last_modified: &group.last_modified,
            version: &version,
            location: &location,
        },
    );
    if let Some(members) = group.members.as_ref().filter(|m| !m.is_empty()) {
        let list = members.iter().map(|m| m.to_json(&ctx.base_url)).collect();
        insert_before_meta(&mut full, "members", Value::Array(list));
    }
    full
}

fn single(ctx: &Ctx, status: u16, group: &StoredGroup, proj: &Projection) -> Response<Body> {
    let body = proj.apply(&GROUP_TYPE, &render(ctx, group));
    with_etag(json_response(status, &body), &users::etag(group.version))
}

/// Re-reads a group after a change when the response shows members.
fn reread(
    c: &rusqlite::Connection,
    integration: &str,
    group: StoredGroup,
    want_members: bool,
) -> crate::store::Result<StoredGroup> {
    if !want_members {
        return Ok(group);
    }
    Ok(groups::get(c, integration, &group.id, true)?.unwrap_or(group))
}

pub async fn create(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, ScimError> {
    let proj = projection(ctx)?;
    let want_members = proj.includes(&GROUP_TYPE, "members");
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let group = ctx
        .state
        .store
        .write(move |c| {
            let group = ops::create_group(c, &integration, &body, &actor)?;
            reread(c, &integration, group, want_members)
        })
        .await
        .map_err(from_store)?;
    let mut resp = single(ctx, 201, &group, &proj);
    if let Ok(v) = HeaderValue::from_str(&ctx.location(Kind::Groups, &group.id)) {
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
    let want_members = proj.includes(&GROUP_TYPE, "members");
    let integration = ctx.integration_id.clone();
    let key = id.to_string();
    let group = ctx
        .state
        .store
        .read(move |c| groups::get(c, &integration, &key, want_members))
        .await
        .map_err(from_store)?
        .ok_or_else(|| from_store(groups::not_found(id)))?;
    if let Some(tags) = header(req, IF_NONE_MATCH) {
        if users::check_if_match(Some(tags), group.version).is_ok() {
            return Ok(with_etag(
                http::empty_response(304),
                &users::etag(group.version),
            ));
        }
    }
    Ok(single(ctx, 200, &group, &proj))
}

/// A change that PUT or PATCH applies inside the writer job (`server::ops`).
type Change = fn(
    &rusqlite::Connection,
    &str,
    &str,
    &serde_json::Value,
    Option<&str>,
    &Actor,
) -> crate::store::Result<StoredGroup>;

/// PUT and PATCH differ only in the change they apply to the stored group.
async fn change(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
    apply: Change,
) -> Result<Response<Body>, ScimError> {
    let proj = projection(ctx)?;
    let want_members = proj.includes(&GROUP_TYPE, "members");
    let if_match = header(&req, IF_MATCH).map(str::to_string);
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let key = id.to_string();
    let group = ctx
        .state
        .store
        .write(move |c| {
            let group = apply(c, &integration, &key, &body, if_match.as_deref(), &actor)?;
            reread(c, &integration, group, want_members)
        })
        .await
        .map_err(from_store)?;
    Ok(single(ctx, 200, &group, &proj))
}

pub async fn replace(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    change(ctx, req, id, ops::replace_group).await
}

pub async fn patch(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    change(ctx, req, id, ops::patch_group).await
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
        .write(move |c| groups::delete(c, &integration, &key, if_match.as_deref(), &actor))
        .await
        .map_err(from_store)?;
    Ok(http::empty_response(204))
}

/// `GET /Groups`: see `server::search`.
pub async fn list(ctx: &Ctx) -> Result<Response<Body>, ScimError> {
    super::search::list(ctx, Kind::Groups).await
}
