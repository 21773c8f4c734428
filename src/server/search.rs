//! Queries: `GET /Users`, `GET /Groups` and `POST /Users/.search`,
//! `/Groups/.search`, `/.search`. GET parameters and SearchRequest bodies
//! become one checked [`Search`]; the store answers it with one counted,
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
use crate::scim::cursor::{self, Cursor, Key};
use crate::scim::error::{ScimError, ScimType};
use crate::scim::list::{cursor_list_response, list_response};
use crate::scim::projection::Projection;
use crate::scim::schema::{ResourceType, GROUP_TYPE, USER_TYPE};
use crate::scim::search::{Pagination, Search, SearchParams};
use crate::store::groups::StoredGroup;
use crate::store::search::{Page, Position, Query, Window};
use crate::store::sql_filter::{self, TableDef};
use hyper::body::Incoming;
use hyper::{Request, Response};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
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

/// One resource type's share of a query.
#[derive(Clone)]
struct Part {
    kind: Kind,
    proj: Projection,
    /// `groups` of users or `members` of groups will be shown.
    want_extra: bool,
    /// The filter applies to this type.
    searched: bool,
    /// The sortBy attribute exists on this type.
    sorted: bool,
}

fn type_of(kind: Kind) -> (&'static ResourceType, &'static TableDef) {
    match kind {
        Kind::Users => (&USER_TYPE, &sql_filter::USERS),
        Kind::Groups => (&GROUP_TYPE, &sql_filter::GROUPS),
    }
}

fn parts(kind: Option<Kind>, search: &Search) -> Result<Vec<Part>, ScimError> {
    let kinds: &[Kind] = match kind {
        Some(Kind::Users) => &[Kind::Users],
        Some(Kind::Groups) => &[Kind::Groups],
        None => &[Kind::Users, Kind::Groups],
    };
    let mut out = Vec::new();
    let mut filter_err = None;
    let mut sort_err = None;
    for &k in kinds {
        let (rt, table) = type_of(k);
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
        let mut part = Part {
            kind: k,
            want_extra: proj.includes(rt, extra),
            proj,
            searched: true,
            sorted: search.sort_by.is_some(),
        };
        if kinds.len() > 1 {
            if let Some(f) = &search.filter {
                if let Err(e) = sql_filter::compile(table, f) {
                    filter_err.get_or_insert(e);
                    part.searched = false;
                }
            }
            if let Some(p) = &search.sort_by {
                if let Err(e) = sql_filter::sort_spec(table, p) {
                    sort_err.get_or_insert(e);
                    part.sorted = false;
                }
            }
        }
        out.push(part);
    }
    if let Some(e) = filter_err.filter(|_| out.iter().all(|p| !p.searched)) {
        return Err(e);
    }
    if let Some(e) = sort_err.filter(|_| search.sort_by.is_some() && out.iter().all(|p| !p.sorted))
    {
        return Err(e);
    }
    Ok(out)
}

enum Item {
    User(users::UserView),
    Group(StoredGroup),
}

fn to_key(v: SqlValue) -> Key {
    match v {
        SqlValue::Integer(n) => Key::Int(n),
        SqlValue::Real(r) => Key::Real(r),
        SqlValue::Text(t) => Key::Text(t),
        SqlValue::Null | SqlValue::Blob(_) => Key::Null,
    }
}

fn from_key(k: Key) -> SqlValue {
    match k {
        Key::Null => SqlValue::Null,
        Key::Int(n) => SqlValue::Integer(n),
        Key::Real(r) => SqlValue::Real(r),
        Key::Text(t) => SqlValue::Text(t),
    }
}

/// Reads one part's page.
fn read_part(
    c: &Connection,
    integration: &str,
    part: &Part,
    search: &Search,
    window: Window,
) -> crate::store::Result<Page<Item>> {
    let q = Query {
        filter: search.filter.as_ref(),
        sort_by: search.sort_by.as_ref().filter(|_| part.sorted),
        descending: search.descending,
        window,
    };
    match part.kind {
        Kind::Users => {
            let page = crate::store::users::search(c, integration, &q)?;
            let mut items = Vec::with_capacity(page.items.len());
            for u in page.items {
                items.push(Item::User(users::with_groups(
                    c,
                    integration,
                    u,
                    part.want_extra,
                )?));
            }
            Ok(Page {
                total: page.total,
                items,
                next: page.next,
                positions: page.positions,
            })
        }
        Kind::Groups => {
            let page = crate::store::groups::search(c, integration, &q, part.want_extra)?;
            Ok(Page {
                total: page.total,
                items: page.items.into_iter().map(Item::Group).collect(),
                next: page.next,
                positions: page.positions,
            })
        }
    }
}

struct Found {
    total: i64,
    items: Vec<(usize, Item)>,
    next: Option<Cursor>,
}

/// Index paging over the concatenation of the parts.
fn read_by_index(
    c: &Connection,
    integration: &str,
    parts: &[Part],
    search: &Search,
    mut offset: i64,
    mut limit: i64,
) -> crate::store::Result<Found> {
    let mut found = Found {
        total: 0,
        items: Vec::new(),
        next: None,
    };
    for (i, part) in parts.iter().enumerate().filter(|(_, p)| p.searched) {
        let page = read_part(
            c,
            integration,
            part,
            search,
            Window::Offset { offset, limit },
        )?;
        found.total += page.total;
        offset = (offset - page.total).max(0);
        limit -= page.items.len() as i64;
        found.items.extend(page.items.into_iter().map(|it| (i, it)));
    }
    Ok(found)
}

/// Cursor paging over the concatenation of the parts.
fn read_by_cursor(
    c: &Connection,
    integration: &str,
    parts: &[Part],
    search: &Search,
    start: Option<Cursor>,
    count: i64,
) -> crate::store::Result<Found> {
    let (start_part, mut start_after) = match start {
        Some(c) => (usize::from(c.part), c.after),
        None => (0, None),
    };
    let mut found = Found {
        total: 0,
        items: Vec::new(),
        next: None,
    };
    let mut remaining = count;
    for (i, part) in parts.iter().enumerate().filter(|(_, p)| p.searched) {
        let counting_only = i < start_part || found.next.is_some();
        let after = if i == start_part {
            start_after.take().map(|(k, seq)| Position {
                key: from_key(k),
                seq,
            })
        } else {
            None
        };
        let from_start = after.is_none();
        let limit = if counting_only { 0 } else { remaining };
        let page = read_part(c, integration, part, search, Window::After { after, limit })?;
        found.total += page.total;
        if counting_only {
            continue;
        }
        remaining -= page.items.len() as i64;
        found.items.extend(page.items.into_iter().map(|it| (i, it)));
        if let Some(pos) = page.next {
            found.next = Some(Cursor {
                part: i as u8,
                after: Some((to_key(pos.key), pos.seq)),
            });
        } else if limit == 0 && from_start && page.total > 0 {
            // The page filled up before this part: it starts the next one.
            found.next = Some(Cursor {
                part: i as u8,
                after: None,
            });
        }
    }
    // count=0 asks for totalResults only; a cursor to the same place would
    // only invite a loop.
    if count == 0 {
        found.next = None;
    }
    Ok(found)
}

/// Logs at debug each IdP dialect the filter needed, as PATCH logs its own:
/// those of the parser, and those only a type's schema recognises.
fn log_dialects(ctx: &Ctx, search: &Search, parts: &[Part]) {
    // Compiling again for the schema's dialects is only worth it when logged.
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let mut dialects = search.filter_dialects.clone();
    if let Some(f) = &search.filter {
        for part in parts.iter().filter(|p| p.searched) {
            let (_, table) = type_of(part.kind);
            if let Ok((_, more)) = sql_filter::compile_with_dialects(table, f) {
                for d in more {
                    if !dialects.contains(&d) {
                        dialects.push(d);
                    }
                }
            }
        }
    }
    for quirk in dialects {
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
    let parts = parts(kind, &search)?;
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
    let integration = ctx.integration_id.clone();
    let (s, p) = (search.clone(), parts.clone());
    let found = ctx
        .state
        .store
        .read_for(&ctx.integration_id, move |c| match &s.pagination {
            Pagination::Index(paging) => {
                read_by_index(c, &integration, &p, &s, paging.offset(), paging.count)
            }
            Pagination::Cursor { count, .. } => {
                read_by_cursor(c, &integration, &p, &s, start, *count)
            }
        })
        .await
        .map_err(from_store)?;
    let resources: Vec<Value> = found
        .items
        .iter()
        .map(|(i, item)| {
            let part = &parts[*i];
            match item {
                Item::User(u) => part.proj.apply(&USER_TYPE, &users::render(ctx, u)),
                Item::Group(g) => part.proj.apply(&GROUP_TYPE, &groups::render(ctx, g)),
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
