//! Searches: one checked `Search` answered as one counted, filtered, sorted
//! page over one resource type or, for `/.search`, over Users then Groups.
//! A type takes part only when the filter compiles against its schema; a
//! type without the `sortBy` attribute keeps insertion order. Paging runs
//! over the concatenation (users in their order, then groups in theirs), by
//! index or by cursor. What the page shows (projection) is the edge's.

use super::users::{with_groups, UserView};
use super::{Domain, Kind};
use crate::scim::cursor::{Cursor, Key};
use crate::scim::error::ScimError;
use crate::scim::search::{Pagination, Search};
use crate::store::groups::{self as store_groups, StoredGroup};
use crate::store::search::{Page, Position, Query, Window};
use crate::store::sql_filter::{self, TableDef};
use crate::store::users as store_users;
use crate::store::Result;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;

/// One resource type's share of a query.
#[derive(Debug, Clone)]
pub struct Part {
    pub kind: Kind,
    /// `groups` of users or `members` of groups will be shown.
    pub want_extra: bool,
    /// The filter applies to this type.
    pub searched: bool,
    /// The sortBy attribute exists on this type.
    pub sorted: bool,
}

fn table(kind: Kind) -> &'static TableDef {
    match kind {
        Kind::Users => &sql_filter::USERS,
        Kind::Groups => &sql_filter::GROUPS,
    }
}

/// The parts of a search over `kinds`, each with whether its computed
/// attribute will be shown. Over several types, one the filter or sortBy
/// does not fit sits out; when none fits, the first type's error is the
/// answer.
pub fn plan(kinds: &[(Kind, bool)], search: &Search) -> std::result::Result<Vec<Part>, ScimError> {
    let mut out = Vec::new();
    let mut filter_err = None;
    let mut sort_err = None;
    for &(kind, want_extra) in kinds {
        let table = table(kind);
        let mut part = Part {
            kind,
            want_extra,
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

/// The IdP dialects the filter needed: those of the parser, and those only
/// a searched type's schema recognises. Compiling again costs, so callers
/// ask only when they will log them.
pub fn filter_dialects(search: &Search, parts: &[Part]) -> Vec<&'static str> {
    let mut dialects = search.filter_dialects.clone();
    if let Some(f) = &search.filter {
        for part in parts.iter().filter(|p| p.searched) {
            if let Ok((_, more)) = sql_filter::compile_with_dialects(table(part.kind), f) {
                for d in more {
                    if !dialects.contains(&d) {
                        dialects.push(d);
                    }
                }
            }
        }
    }
    dialects
}

impl Domain {
    /// One page of `search` over `parts`, from `start` when paging by cursor.
    pub async fn search(
        &self,
        integration: &str,
        parts: Vec<Part>,
        search: Search,
        start: Option<Cursor>,
    ) -> Result<Found> {
        let owner = integration.to_string();
        self.read_for(integration, move |c| match &search.pagination {
            Pagination::Index(paging) => {
                read_by_index(c, &owner, &parts, &search, paging.offset(), paging.count)
            }
            Pagination::Cursor { count, .. } => {
                read_by_cursor(c, &owner, &parts, &search, start, *count)
            }
        })
        .await
    }
}

/// One resource of a page.
pub enum Item {
    User(UserView),
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
) -> Result<Page<Item>> {
    let q = Query {
        filter: search.filter.as_ref(),
        sort_by: search.sort_by.as_ref().filter(|_| part.sorted),
        descending: search.descending,
        window,
    };
    match part.kind {
        Kind::Users => {
            let page = store_users::search(c, integration, &q)?;
            let mut items = Vec::with_capacity(page.items.len());
            for u in page.items {
                items.push(Item::User(with_groups(c, integration, u, part.want_extra)?));
            }
            Ok(Page {
                total: page.total,
                items,
                next: page.next,
                positions: page.positions,
            })
        }
        Kind::Groups => {
            let page = store_groups::search(c, integration, &q, part.want_extra)?;
            Ok(Page {
                total: page.total,
                items: page.items.into_iter().map(Item::Group).collect(),
                next: page.next,
                positions: page.positions,
            })
        }
    }
}

/// A page over the concatenation of the parts: each item with the index of
/// its part, and the cursor to the next page.
pub struct Found {
    pub total: i64,
    pub items: Vec<(usize, Item)>,
    pub next: Option<Cursor>,
}

/// Index paging over the concatenation of the parts.
fn read_by_index(
    c: &Connection,
    integration: &str,
    parts: &[Part],
    search: &Search,
    mut offset: i64,
    mut limit: i64,
) -> Result<Found> {
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
) -> Result<Found> {
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
