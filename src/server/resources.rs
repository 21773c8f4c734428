//! The handlers every resource type shares: create, read, replace, patch and
//! delete one resource. A type plugs in through `Served` (its schema and how
//! to render it, over the domain's `Resource`); everything HTTP (projection,
//! ETag, If-Match/If-None-Match, Location, status codes) lives here once. Each
//! change is one domain `Op`, so one transaction.

use super::ctx::{from_store, Ctx};
use super::http::{self, header, json_response, with_etag, Body};
use super::router::Kind;
use crate::domain::resources::{Op, Resource};
use crate::scim::error::ScimError;
use crate::scim::etag::{check_if_match, etag};
use crate::scim::projection::Projection;
use crate::scim::schema::ResourceType;
use crate::store::audit::Actor;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, IF_MATCH, IF_NONE_MATCH, LOCATION};
use hyper::{Request, Response};
use serde_json::Value;

/// A resource kind as the shared handlers see it: the domain's typed
/// operations plus what HTTP needs (schema, how to render).
pub trait Served: Resource {
    const RT: &'static ResourceType;
    /// The computed attribute that costs a query (`User.groups`,
    /// `Group.members`): loaded only when the response will show it.
    const COMPUTED: &'static str;

    /// The full client view before projection.
    fn render(&self, ctx: &Ctx) -> Value;

    /// The projected view as bytes, written without the `Value` tree when
    /// the kind knows a cheaper way (a group's members); None: render and
    /// project.
    fn body(&self, _ctx: &Ctx, _projection: &Projection) -> Option<Vec<u8>> {
        None
    }
}

fn projection<T: Served>(ctx: &Ctx) -> Result<Projection, ScimError> {
    Projection::parse(
        T::RT,
        ctx.query.get("attributes"),
        ctx.query.get("excludedAttributes"),
    )
}

fn single<T: Served>(ctx: &Ctx, status: u16, item: &T, proj: &Projection) -> Response<Body> {
    let resp = match item.body(ctx, proj) {
        Some(bytes) => http::json_bytes_response(status, bytes),
        None => json_response(status, &proj.apply(T::RT, item.render(ctx))),
    };
    with_etag(resp, &etag(item.version()))
}

/// Runs a create, replace or patch and answers the resource after it.
async fn apply<T: Served>(ctx: &Ctx, op: Op, computed: bool) -> Result<T, ScimError> {
    let actor = Actor::scim(&ctx.request_id);
    let applied = ctx
        .state
        .domain
        .apply::<T>(&ctx.integration_id, op, actor, computed)
        .await
        .map_err(from_store)?;
    applied
        .resource
        .ok_or_else(|| ScimError::internal("the change answered no resource"))
}

pub async fn create<T: Served>(
    ctx: &Ctx,
    req: Request<Incoming>,
) -> Result<Response<Body>, ScimError> {
    let proj = projection::<T>(ctx)?;
    let computed = proj.includes(T::RT, T::COMPUTED);
    let _render = ctx
        .state
        .member_render(computed && T::KIND == Kind::Groups)
        .await;
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let item = apply::<T>(ctx, Op::Create { body }, computed).await?;
    let mut resp = single(ctx, 201, &item, &proj);
    if let Ok(v) = HeaderValue::from_str(&ctx.location(T::KIND, item.id())) {
        resp.headers_mut().insert(LOCATION, v);
    }
    Ok(resp)
}

pub async fn get<T: Served>(
    ctx: &Ctx,
    req: &Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    let proj = projection::<T>(ctx)?;
    let computed = proj.includes(T::RT, T::COMPUTED);
    let _render = ctx
        .state
        .member_render(computed && T::KIND == Kind::Groups)
        .await;
    let item: T = ctx
        .state
        .domain
        .get(&ctx.integration_id, id, computed)
        .await
        .map_err(from_store)?;
    if let Some(tags) = header(req, IF_NONE_MATCH) {
        if check_if_match(Some(tags), item.version()).is_ok() {
            return Ok(with_etag(http::empty_response(304), &etag(item.version())));
        }
    }
    Ok(single(ctx, 200, &item, &proj))
}

/// What a successful PUT or PATCH answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// 200 with the resource.
    Resource,
    /// 204 with only the ETag, unless `attributes`/`excludedAttributes` ask
    /// for a body.
    NoContentUnlessAsked,
}

/// PUT and PATCH differ only in the operation they name.
async fn change<T: Served>(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
    patch: bool,
    reply: Reply,
) -> Result<Response<Body>, ScimError> {
    let proj = projection::<T>(ctx)?;
    let asked =
        ctx.query.get("attributes").is_some() || ctx.query.get("excludedAttributes").is_some();
    let quiet = reply == Reply::NoContentUnlessAsked && !asked;
    let computed = !quiet && proj.includes(T::RT, T::COMPUTED);
    let _render = ctx
        .state
        .member_render(computed && T::KIND == Kind::Groups)
        .await;
    let if_match = header(&req, IF_MATCH).map(str::to_string);
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let id = id.to_string();
    let op = if patch {
        Op::Patch { id, body, if_match }
    } else {
        Op::Replace { id, body, if_match }
    };
    let item = apply::<T>(ctx, op, computed).await?;
    if quiet {
        return Ok(with_etag(http::empty_response(204), &etag(item.version())));
    }
    Ok(single(ctx, 200, &item, &proj))
}

pub async fn replace<T: Served>(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    change::<T>(ctx, req, id, false, Reply::Resource).await
}

pub async fn patch<T: Served>(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    // Group PATCH answers 204 as Entra documents: Okta follows every
    // membership change with a rename, and echoing a large member list each
    // time costs megabytes. A user PATCH keeps answering with the resource.
    let reply = match T::KIND {
        Kind::Groups => Reply::NoContentUnlessAsked,
        Kind::Users => Reply::Resource,
    };
    change::<T>(ctx, req, id, true, reply).await
}

pub async fn delete<T: Served>(
    ctx: &Ctx,
    req: &Request<Incoming>,
    id: &str,
) -> Result<Response<Body>, ScimError> {
    let op = Op::Delete {
        id: id.to_string(),
        if_match: header(req, IF_MATCH).map(str::to_string),
    };
    ctx.state
        .domain
        .apply::<T>(&ctx.integration_id, op, Actor::scim(&ctx.request_id), false)
        .await
        .map_err(from_store)?;
    Ok(http::empty_response(204))
}
