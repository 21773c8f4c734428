//! Handlers for `/Users`: validate with the pure protocol layer, change or
//! read through the store, shape the answer with the projection the client
//! asked for. Each change is one writer job, so one transaction.

use super::handler::{from_store, Ctx};
use super::http::{self, json_response, Body};
use super::router::Kind;
use crate::scim::error::ScimError;
use crate::scim::list::{list_response, Paging};
use crate::scim::projection::Projection;
use crate::scim::render::{full_resource, Meta};
use crate::scim::resource;
use crate::scim::schema::USER_TYPE;
use crate::store::audit::Actor;
use crate::store::users::{self, StoredUser};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ETAG, IF_MATCH, IF_NONE_MATCH, LOCATION};
use hyper::{Request, Response};
use serde_json::Value;

fn projection(ctx: &Ctx) -> Result<Projection, ScimError> {
    Projection::parse(
        &USER_TYPE,
        ctx.query.get("attributes"),
        ctx.query.get("excludedAttributes"),
    )
}

fn render(ctx: &Ctx, user: &StoredUser) -> Value {
    let version = users::etag(user.version);
    let location = ctx.location(Kind::Users, &user.id);
    full_resource(
        &user.resource,
        &Meta {
            resource_type: "User",
            id: &user.id,
            created: &user.created,
            last_modified: &user.last_modified,
            version: &version,
            location: &location,
        },
    )
}

fn single(ctx: &Ctx, status: u16, user: &StoredUser, proj: &Projection) -> Response<Body> {
    let body = proj.apply(&USER_TYPE, &render(ctx, user));
    let mut resp = json_response(status, &body);
    if let Ok(v) = HeaderValue::from_str(&users::etag(user.version)) {
        resp.headers_mut().insert(ETAG, v);
    }
    resp
}

fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

async fn read_resource(ctx: &Ctx, req: Request<Incoming>) -> Result<Value, ScimError> {
    http::check_content_type(&req)?;
    let bytes = http::read_body(req, ctx.state.limits.max_body_bytes).await?;
    let body = http::parse_json(&bytes)?;
    resource::normalize(&USER_TYPE, &body)
}

pub async fn create(ctx: &Ctx, req: Request<Incoming>) -> Result<Response<Body>, ScimError> {
    let proj = projection(ctx)?;
    let resource = read_resource(ctx, req).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let id = crate::secret::new_resource_id();
    let user = ctx
        .state
        .store
        .write(move |c| users::insert(c, &integration, &id, &resource, &actor))
        .await
        .map_err(from_store)?;
    let mut resp = single(ctx, 201, &user, &proj);
    if let Ok(v) = HeaderValue::from_str(&ctx.location(Kind::Users, &user.id)) {
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
    let integration = ctx.integration_id.clone();
    let key = id.to_string();
    let user = ctx
        .state
        .store
        .read(move |c| users::get(c, &integration, &key))
        .await
        .map_err(from_store)?
        .ok_or_else(|| from_store(users::not_found(id)))?;
    if let Some(tags) = header(req, IF_NONE_MATCH) {
        if users::check_if_match(Some(tags), user.version).is_ok() {
            let mut resp = http::empty_response(304);
            if let Ok(v) = HeaderValue::from_str(&users::etag(user.version)) {
                resp.headers_mut().insert(ETAG, v);
            }
            return Ok(resp);
        }
    }
    Ok(single(ctx, 200, &user, &proj))
}

pub async fn replace(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    let proj = projection(ctx)?;
    let if_match = header(&req, IF_MATCH).map(str::to_string);
    let resource = read_resource(ctx, req).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let key = id.to_string();
    let user = ctx
        .state
        .store
        .write(move |c| {
            if let Some(old) = users::get(c, &integration, &key)? {
                resource::check_immutable(&USER_TYPE, &old.resource, &resource)?;
            }
            users::replace(
                c,
                &integration,
                &key,
                &resource,
                if_match.as_deref(),
                &actor,
            )
        })
        .await
        .map_err(from_store)?;
    Ok(single(ctx, 200, &user, &proj))
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

pub async fn list(ctx: &Ctx) -> Result<Response<Body>, ScimError> {
    if ctx.query.get("filter").is_some() {
        return Err(ScimError::invalid_filter("filtering is not supported yet"));
    }
    let proj = projection(ctx)?;
    let limits = &ctx.state.limits;
    let paging = Paging::parse(
        ctx.query.get("startIndex"),
        ctx.query.get("count"),
        limits.default_page_size,
        limits.max_page_size,
    )?;
    let integration = ctx.integration_id.clone();
    let (total, found) = ctx
        .state
        .store
        .read(move |c| users::list(c, &integration, paging.offset(), paging.count))
        .await
        .map_err(from_store)?;
    let resources = found
        .iter()
        .map(|u| proj.apply(&USER_TYPE, &render(ctx, u)))
        .collect();
    Ok(json_response(
        200,
        &list_response(total, paging.start_index, resources),
    ))
}
