//! The handlers every resource type shares: create, read, replace, patch and
//! delete one resource. A type plugs in through `Served` (its schema, how to
//! load and change it, how to render it); everything HTTP (projection, ETag,
//! If-Match/If-None-Match, Location, status codes) lives here once. Each
//! change is one writer job, so one transaction.

use super::ctx::{from_store, Ctx};
use super::http::{self, header, json_response, with_etag, Body};
use super::router::Kind;
use crate::scim::error::ScimError;
use crate::scim::etag::{check_if_match, etag};
use crate::scim::projection::Projection;
use crate::scim::schema::ResourceType;
use crate::store::audit::Actor;
use crate::store::{self, StoreError};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, IF_MATCH, IF_NONE_MATCH, LOCATION};
use hyper::{Request, Response};
use rusqlite::Connection;
use serde_json::Value;

/// A change applied inside the writer job: (connection, integration, id,
/// body, If-Match, actor, whether to load the computed attribute).
pub type Change<T> =
    fn(&Connection, &str, &str, &Value, Option<&str>, &Actor, bool) -> store::Result<T>;

/// A resource type as the shared handlers see it.
pub trait Served: Sized + Send + 'static {
    const RT: &'static ResourceType;
    const KIND: Kind;
    /// The computed attribute that costs a query (`User.groups`,
    /// `Group.members`): loaded only when the response will show it.
    const COMPUTED: &'static str;

    fn id(&self) -> &str;
    fn version(&self) -> i64;
    /// The full client view before projection.
    fn render(&self, ctx: &Ctx) -> Value;
    fn not_found(id: &str) -> StoreError;
    fn load(
        c: &Connection,
        integration: &str,
        id: &str,
        computed: bool,
    ) -> store::Result<Option<Self>>;
    fn create(
        c: &Connection,
        integration: &str,
        body: &Value,
        actor: &Actor,
        computed: bool,
    ) -> store::Result<Self>;
    fn replace(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> store::Result<Self>;
    fn patch(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> store::Result<Self>;
    fn delete(
        c: &Connection,
        integration: &str,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> store::Result<()>;
}

fn projection<T: Served>(ctx: &Ctx) -> Result<Projection, ScimError> {
    Projection::parse(
        T::RT,
        ctx.query.get("attributes"),
        ctx.query.get("excludedAttributes"),
    )
}

fn single<T: Served>(ctx: &Ctx, status: u16, item: &T, proj: &Projection) -> Response<Body> {
    let body = proj.apply(T::RT, &item.render(ctx));
    with_etag(json_response(status, &body), &etag(item.version()))
}

pub async fn create<T: Served>(
    ctx: &Ctx,
    req: Request<Incoming>,
) -> Result<Response<Body>, ScimError> {
    let proj = projection::<T>(ctx)?;
    let computed = proj.includes(T::RT, T::COMPUTED);
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let item = ctx
        .state
        .store
        .write(move |c| T::create(c, &integration, &body, &actor, computed))
        .await
        .map_err(from_store)?;
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
    let integration = ctx.integration_id.clone();
    let key = id.to_string();
    let item = ctx
        .state
        .store
        .read_for(&ctx.integration_id, move |c| {
            T::load(c, &integration, &key, computed)
        })
        .await
        .map_err(from_store)?
        .ok_or_else(|| from_store(T::not_found(id)))?;
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

/// PUT and PATCH differ only in the change they apply.
async fn change<T: Served>(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: &str,
    apply: Change<T>,
    reply: Reply,
) -> Result<Response<Body>, ScimError> {
    let proj = projection::<T>(ctx)?;
    let asked =
        ctx.query.get("attributes").is_some() || ctx.query.get("excludedAttributes").is_some();
    let quiet = reply == Reply::NoContentUnlessAsked && !asked;
    let computed = !quiet && proj.includes(T::RT, T::COMPUTED);
    let if_match = header(&req, IF_MATCH).map(str::to_string);
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let integration = ctx.integration_id.clone();
    let actor = Actor::scim(&ctx.request_id);
    let key = id.to_string();
    let item = ctx
        .state
        .store
        .write(move |c| {
            apply(
                c,
                &integration,
                &key,
                &body,
                if_match.as_deref(),
                &actor,
                computed,
            )
        })
        .await
        .map_err(from_store)?;
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
    change::<T>(ctx, req, id, T::replace, Reply::Resource).await
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
    change::<T>(ctx, req, id, T::patch, reply).await
}

pub async fn delete<T: Served>(
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
        .write(move |c| T::delete(c, &integration, &key, if_match.as_deref(), &actor))
        .await
        .map_err(from_store)?;
    Ok(http::empty_response(204))
}
