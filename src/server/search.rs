//! Queries: `GET /Users`, `GET /Groups` and `POST /Users/.search`,
//! `/Groups/.search`, `/.search`. GET parameters and SearchRequest bodies
//! become one checked [`Search`]; the domain answers it with one counted,
//! filtered, sorted page; the projection shapes each resource.
//!
//! `/.search` covers Users then Groups: `totalResults` is the sum, and a page
//! runs over the concatenation (users in their order, then groups in
//! theirs), by index or by cursor. A resource type takes part only when the
//! filter means something for it (it compiles against that type's schema,
//! e.g. `userName eq "x"` searches only Users); when it compiles for neither,
//! the Users error is returned. A type that lacks the `sortBy` attribute is
//! listed in insertion order. Every resource keeps its `schemas` (always
//! returned), which says which type it is.

use super::ctx::{from_store, Ctx};
use super::http::{self, json_response, Body};
use super::router::Kind;
use super::{groups, users};
use crate::domain::search::{self as domain_search, Item, Part};
use crate::scim::cursor;
use crate::scim::error::{ScimError, ScimType};
use crate::scim::list::{cursor_list_response, list_response};
use crate::scim::projection::Projection;
use crate::scim::schema::{ResourceType, GROUP_TYPE, USER_TYPE};
use crate::scim::search::{Pagination, Search, SearchParams};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;

/// `GET /Users` or `GET /Groups`.
pub async fn list(ctx: &Ctx, kind: Kind) -> Result<Response<Body>, ScimError> {
    let params = SearchParams::from_query(|name| ctx.query.get(name));
    respond(ctx, Some(kind), params).await
}

/// `POST /<kind>/.search`, or `POST /.search` when `kind` is None.
pub async fn post(
    ctx: &Ctx,
    req: Request<Incoming>,
    kind: Option<Kind>,
) -> Result<Response<Body>, ScimError> {
    let body = http::read_json(req, ctx.state.limits.max_body_bytes).await?;
    let params = SearchParams::from_body(&body)?;
    respond(ctx, kind, params).await
}

fn type_of(kind: Kind) -> &'static ResourceType {
    match kind {
        Kind::Users => &USER_TYPE,
        Kind::Groups => &GROUP_TYPE,
    }
}

/// The projection of each kind searched, and the domain's plan for them.
fn parts(kind: Option<Kind>, search: &Search) -> Result<(Vec<Projection>, Vec<Part>), ScimError> {
    let kinds: &[Kind] = match kind {
        Some(Kind::Users) => &[Kind::Users],
        Some(Kind::Groups) => &[Kind::Groups],
        None => &[Kind::Users, Kind::Groups],
    };
    let mut projections = Vec::new();
    let mut wanted = Vec::new();
    for &k in kinds {
        let rt = type_of(k);
        let proj = Projection::parse(
            rt,
            search.attributes.as_deref(),
            search.excluded_attributes.as_deref(),
        )?;
        let extra = if k == Kind::Users {
            "groups"
        } else {
            "members"
        };
        wanted.push((k, proj.includes(rt, extra)));
        projections.push(proj);
    }
    Ok((projections, domain_search::plan(&wanted, search)?))
}

/// Logs at debug each IdP dialect the filter needed, as PATCH logs its own.
fn log_dialects(ctx: &Ctx, search: &Search, parts: &[Part]) {
    // Compiling again for the schema's dialects is only worth it when logged;
    // the metrics count the parser's dialects on every request.
    if !tracing::enabled!(tracing::Level::DEBUG) {
        for quirk in &search.filter_dialects {
            crate::request_quirks::accepted(&ctx.integration_id, Some(&ctx.request_id), quirk);
        }
        return;
    }
    for quirk in domain_search::filter_dialects(search, parts) {
        crate::request_quirks::accepted(&ctx.integration_id, Some(&ctx.request_id), quirk);
        tracing::debug!(request_id = %ctx.request_id, integration = %ctx.integration_id, quirk, "accepted an IdP filter dialect");
    }
}

async fn respond(
    ctx: &Ctx,
    kind: Option<Kind>,
    params: SearchParams,
) -> Result<Response<Body>, ScimError> {
    let limits = &ctx.state.limits;
    let search = params.check(limits.default_page_size, limits.max_page_size)?;
    let (projections, parts) = parts(kind, &search)?;
    log_dialects(ctx, &search, &parts);
    let scope = kind.map_or(".search", Kind::collection);
    let binding = search.cursor_binding(scope, &ctx.integration_id);
    let start = match &search.pagination {
        Pagination::Cursor { cursor, .. } => {
            let start = cursor::decode(cursor, &binding)?;
            if start
                .as_ref()
                .is_some_and(|c| usize::from(c.part) >= parts.len())
            {
                return Err(ScimError::bad(
                    ScimType::InvalidCursor,
                    "cursor is not a value this server returned for this query",
                ));
            }
            start
        }
        Pagination::Index(_) => None,
    };
    let with_members = parts
        .iter()
        .any(|p| p.searched && p.kind == Kind::Groups && p.want_extra);
    let _render = ctx.state.member_render(with_members).await;
    let found = ctx
        .state
        .domain
        .search(&ctx.integration_id, parts, search.clone(), start)
        .await
        .map_err(from_store)?;
    let resources: Vec<Value> = found
        .items
        .iter()
        .map(|(i, item)| {
            let proj = &projections[*i];
            match item {
                Item::User(u) => proj.apply(&USER_TYPE, users::render(ctx, u)),
                Item::Group(g) => proj.apply(&GROUP_TYPE, groups::render(ctx, g)),
            }
        })
        .collect();
    let body = match &search.pagination {
        Pagination::Index(paging) => list_response(found.total, paging.start_index, resources),
        Pagination::Cursor { .. } => cursor_list_response(
            found.total,
            resources,
            found.next.map(|c| cursor::encode(&binding, &c)),
        ),
    };
    Ok(json_response(200, &body))
}
