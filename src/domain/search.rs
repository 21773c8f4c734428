//! Searches: one checked `Search` answered as one counted, filtered, sorted
//! page over one resource type or, for `/.search`, over Users then Groups.
//! A type takes part only when the filter compiles against its schema; a
//! type without the `sortBy` attribute keeps insertion order. Paging runs
//! over the concatenation (users in their order, then groups in theirs), by
//! index or by cursor. What the page shows (projection) is the edge's.
//!
//! Index paging over one type remembers where recent pages ended
//! ([`Boundaries`]): an IdP that walks `startIndex` 1, 101, 201, … gets each
//! next page as a keyset seek from the last row of the previous one, so page
//! 5 000 costs what page 1 does, instead of skipping 500 000 rows with
//! OFFSET. A boundary holds only for the data it was read from: it carries
//! the integration's search generation (bumped by triggers on every write,
//! schema.sql migration 9), and a page whose snapshot has another
//! generation falls back to OFFSET. So a page by startIndex is always
//! exactly the page OFFSET would give in the same snapshot: nothing skipped
//! or repeated when nothing changed, and after a write the numbering of the
//! current data, as RFC 7644 §3.4.2.4 describes (it promises no stability
//! across writes; cursors do, and stay).

use super::users::{with_groups, UserView};
use super::{Domain, Kind};
use crate::scim::cursor::{Cursor, Key};
use crate::scim::error::ScimError;
use crate::scim::search::{Pagination, Search};
use crate::store::groups::{self as store_groups, StoredGroup};
use crate::store::search as store_search;
use crate::store::search::{Page, Position, Query, Window};
use crate::store::sql_filter::{self, TableDef};
use crate::store::users as store_users;
use crate::store::Result;
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Page boundaries remembered over all integrations. Small: a boundary is
/// only useful to the walk that is under way, and an IdP walks one query at
/// a time.
pub const BOUNDARIES: usize = 512;

/// Which query and which row: the boundary before the row at `offset`
/// (0-based) of this integration's (type, filter, sort) order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct BoundaryKey {
    integration: String,
    kind: Kind,
    filter: Option<String>,
    sort_by: Option<String>,
    descending: bool,
    offset: i64,
}

impl BoundaryKey {
    fn new(integration: &str, part: &Part, search: &Search, offset: i64) -> BoundaryKey {
        let sort_by = search.sort_by.as_ref().filter(|_| part.sorted);
        BoundaryKey {
            integration: integration.to_string(),
            kind: part.kind,
            filter: search.filter.as_ref().map(|f| f.to_string()),
            sort_by: sort_by.map(|p| p.to_string()),
            descending: search.descending && sort_by.is_some(),
            offset,
        }
    }
}

struct Boundary {
    generation: i64,
    /// The row just before `offset`: the page is the rows after it.
    after: Position,
    last_used: u64,
}

/// A bounded least-recently-used map from a page start to the position of
/// the row before it, each valid for one search generation.
pub struct Boundaries {
    capacity: usize,
    inner: Mutex<(HashMap<BoundaryKey, Boundary>, u64)>,
    /// Pages answered by a seek, for tests and curiosity.
    seeks: AtomicU64,
}

impl Boundaries {
    pub fn new(capacity: usize) -> Boundaries {
        Boundaries {
            capacity: capacity.max(1),
            inner: Mutex::new((HashMap::new(), 0)),
            seeks: AtomicU64::new(0),
        }
    }

    /// Pages served by a seek rather than OFFSET so far.
    pub fn seeks(&self) -> u64 {
        self.seeks.load(Ordering::Relaxed)
    }

    fn get(&self, key: &BoundaryKey, generation: i64) -> Option<Position> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, clock) = &mut *guard;
        *clock += 1;
        let entry = map.get_mut(key)?;
        if entry.generation != generation {
            map.remove(key);
            return None;
        }
        entry.last_used = *clock;
        Some(entry.after.clone())
    }

    fn put(&self, key: BoundaryKey, generation: i64, after: Position) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, clock) = &mut *guard;
        *clock += 1;
        if map.len() >= self.capacity && !map.contains_key(&key) {
            // A linear scan: the map is small and this runs once per page.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, b)| b.last_used)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            key,
            Boundary {
                generation,
                after,
                last_used: *clock,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().map(|g| g.0.len()).unwrap_or(0)
    }
}

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
        let boundaries = self.boundaries.clone();
        self.read_for(integration, move |c| match &search.pagination {
            Pagination::Index(paging) => read_by_index(
                c,
                &owner,
                &parts,
                &search,
                paging.offset(),
                paging.count,
                &boundaries,
            ),
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
    boundaries: &Boundaries,
) -> Result<Found> {
    let searched: Vec<(usize, &Part)> = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.searched)
        .collect();
    if let [(i, part)] = searched[..] {
        if limit > 0 {
            return read_one_by_index(c, integration, (i, part), search, offset, limit, boundaries);
        }
    }
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

/// Index paging over one type: a seek from a remembered boundary when one
/// of this generation is known, else OFFSET. Either way the page remembers
/// the boundary after itself (for the next page) and, when read by OFFSET,
/// the one before itself (for the same page asked again), at the cost of
/// one extra row.
fn read_one_by_index(
    c: &Connection,
    integration: &str,
    (i, part): (usize, &Part),
    search: &Search,
    offset: i64,
    limit: i64,
    boundaries: &Boundaries,
) -> Result<Found> {
    // One snapshot for the generation, the count and the page, so a
    // boundary is only ever taken from, and used on, the data of its own
    // generation.
    let tx = c.unchecked_transaction()?;
    let generation = store_search::generation(&tx, integration)?;
    let key = |offset| BoundaryKey::new(integration, part, search, offset);
    let seek = match generation {
        Some(g) if offset > 0 => boundaries.get(&key(offset), g),
        _ => None,
    };
    let sought = seek.is_some();
    let look_behind = !sought && offset > 0 && generation.is_some();
    let window = match seek {
        Some(after) => Window::After {
            after: Some(after),
            limit,
        },
        None if look_behind => Window::Offset {
            offset: offset - 1,
            limit: limit.saturating_add(1),
        },
        None => Window::Offset { offset, limit },
    };
    let page = read_part(&tx, integration, part, search, window)?;
    tx.finish()?;
    let (mut items, mut positions) = (page.items, page.positions);
    if look_behind && !items.is_empty() {
        items.remove(0);
        let before = positions.remove(0);
        if let Some(g) = generation {
            boundaries.put(key(offset), g, before);
        }
    }
    if sought {
        boundaries.seeks.fetch_add(1, Ordering::Relaxed);
    }
    if let (Some(g), Some(last)) = (generation, positions.last()) {
        if items.len() as i64 == limit {
            boundaries.put(key(offset.saturating_add(limit)), g, last.clone());
        }
    }
    Ok(Found {
        total: page.total,
        items: items.into_iter().map(|it| (i, it)).collect(),
        next: None,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::attrpath::AttrPath;
    use crate::scim::list::Paging;
    use crate::store::audit::Actor;
    use serde_json::json;

    fn db(users: usize) -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        crate::store::integrations::create(&c, "int_a", "a").unwrap();
        for i in 0..users {
            add(&c, i);
        }
        c
    }

    fn add(c: &Connection, i: usize) {
        // Names out of insertion order, with ties, so sortBy matters.
        let body =
            json!({"userName": format!("user{i:03}"), "displayName": format!("n{}", (i * 7) % 5)});
        store_users::insert(c, "int_a", &format!("id{i:03}"), &body, &Actor::cli()).unwrap();
    }

    fn search(filter: Option<&str>, sort_by: Option<&str>, descending: bool) -> Search {
        Search {
            filter: filter.map(|f| crate::scim::filter::parse(f).unwrap()),
            filter_dialects: Vec::new(),
            sort_by: sort_by.map(|s| AttrPath::parse(s).unwrap()),
            descending,
            pagination: Pagination::Index(Paging {
                start_index: 1,
                count: 100,
            }),
            attributes: None,
            excluded_attributes: None,
        }
    }

    fn users_part(search: &Search) -> Vec<Part> {
        plan(&[(Kind::Users, false)], search).unwrap()
    }

    fn page(c: &Connection, s: &Search, offset: i64, limit: i64, b: &Boundaries) -> Vec<String> {
        let found = read_by_index(c, "int_a", &users_part(s), s, offset, limit, b).unwrap();
        found
            .items
            .into_iter()
            .map(|(_, it)| match it {
                Item::User(u) => u.user.id,
                Item::Group(g) => g.id,
            })
            .collect()
    }

    /// The whole result in one OFFSET read, with nothing remembered.
    fn by_offset(c: &Connection, s: &Search, offset: i64, limit: i64) -> Vec<String> {
        page(c, s, offset, limit, &Boundaries::new(1))
    }

    #[test]
    fn the_page_after_a_served_page_is_a_seek_and_matches_offset() {
        let c = db(30);
        let s = search(None, Some("displayName"), false);
        let b = Boundaries::new(16);
        let first = page(&c, &s, 0, 10, &b);
        assert_eq!(b.seeks(), 0);
        let second = page(&c, &s, 10, 10, &b);
        assert_eq!(b.seeks(), 1, "the second page was not a seek");
        assert_eq!(first, by_offset(&c, &s, 0, 10));
        assert_eq!(second, by_offset(&c, &s, 10, 10));
    }

    #[test]
    fn the_same_deep_page_asked_again_is_a_seek() {
        let c = db(30);
        let s = search(Some("userName ge \"user005\""), Some("displayName"), true);
        let b = Boundaries::new(16);
        let once = page(&c, &s, 17, 5, &b);
        let again = page(&c, &s, 17, 5, &b);
        assert_eq!(b.seeks(), 1);
        assert_eq!(once, again);
        assert_eq!(again, by_offset(&c, &s, 17, 5));
    }

    #[test]
    fn walking_every_page_by_seek_returns_each_row_once_in_offset_order() {
        let c = db(47);
        for (filter, sort, desc) in [
            (None, None, false),
            (None, Some("displayName"), false),
            (Some("displayName ne \"n3\""), Some("displayName"), true),
            (Some("userName sw \"user0\""), Some("userName"), false),
        ] {
            let s = search(filter, sort, desc);
            let b = Boundaries::new(64);
            let mut walked = Vec::new();
            let mut offset = 0;
            loop {
                let p = page(&c, &s, offset, 6, &b);
                if p.is_empty() {
                    break;
                }
                offset += p.len() as i64;
                walked.extend(p);
            }
            assert_eq!(walked, by_offset(&c, &s, 0, 1000), "{filter:?} {sort:?}");
            assert!(
                b.seeks() >= walked.len() as u64 / 6 - 1,
                "{filter:?} {sort:?}"
            );
        }
    }

    #[test]
    fn a_write_between_pages_falls_back_to_offset_on_the_new_data() {
        let c = db(30);
        let s = search(None, Some("displayName"), false);
        let b = Boundaries::new(16);
        page(&c, &s, 0, 10, &b);
        // A user that sorts first shifts every later row by one.
        store_users::insert(
            &c,
            "int_a",
            "id_new",
            &json!({"userName": "zz", "displayName": "a"}),
            &Actor::cli(),
        )
        .unwrap();
        let second = page(&c, &s, 10, 10, &b);
        assert_eq!(b.seeks(), 0, "a boundary of an older generation was used");
        assert_eq!(second, by_offset(&c, &s, 10, 10));
    }

    #[test]
    fn boundaries_of_other_queries_or_integrations_are_not_used() {
        let c = db(30);
        crate::store::integrations::create(&c, "int_b", "b").unwrap();
        let b = Boundaries::new(16);
        page(&c, &search(None, Some("displayName"), false), 0, 10, &b);
        let other_sort = search(None, Some("userName"), false);
        assert_eq!(
            page(&c, &other_sort, 10, 10, &b),
            by_offset(&c, &other_sort, 10, 10)
        );
        let other_filter = search(Some("displayName eq \"n1\""), Some("displayName"), false);
        page(&c, &other_filter, 10, 10, &b);
        let s = search(None, Some("displayName"), false);
        let found = read_by_index(&c, "int_b", &users_part(&s), &s, 10, 10, &b).unwrap();
        assert!(found.items.is_empty());
        assert_eq!(b.seeks(), 0);
    }

    #[test]
    fn the_boundary_map_forgets_the_least_recently_used() {
        let b = Boundaries::new(2);
        let s = search(None, None, false);
        let part = &users_part(&s)[0];
        let at = |n| BoundaryKey::new("int_a", part, &s, n);
        let pos = |seq| Position {
            key: SqlValue::Null,
            seq,
        };
        b.put(at(1), 7, pos(1));
        b.put(at(2), 7, pos(2));
        assert!(b.get(&at(1), 7).is_some());
        b.put(at(3), 7, pos(3));
        assert_eq!(b.len(), 2);
        assert!(
            b.get(&at(2), 7).is_none(),
            "the least recently used survived"
        );
        assert_eq!(b.get(&at(1), 7), Some(pos(1)));
        assert!(
            b.get(&at(1), 8).is_none(),
            "another generation's boundary was used"
        );
    }
}
