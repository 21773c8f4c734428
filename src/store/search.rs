//! One page of a SCIM query (GET on a collection, `/.search`) as two SQL
//! statements: an exact `count(*)` and the page itself, both with the same
//! `WHERE`: the table's scope (integration, live rows), the compiled filter
//! and, for cursor paging, the keyset condition. Nothing is filtered, sorted
//! or counted in Rust.
//!
//! Order: the `sortBy` key, then insertion order (`seq`) as the tie-breaker,
//! so every order is total and stable. Ascending puts rows without a value
//! last; descending is the exact reverse (rows without a value first, ties
//! newest first), which lets SQLite walk one index either way.
//!
//! Cursor paging is keyset paging: a position is the (sort key, seq) of the
//! last row returned, and the next page is the rows after it in that order.
//! Rows inserted meanwhile get higher seqs, so a walk in insertion order sees
//! every row that existed when it started exactly once, whatever is inserted
//! between pages, and the cost of a page does not grow with its depth.

use super::sql_filter::{self, SqlWhere, TableDef};
use super::Result;
use crate::scim::attrpath::AttrPath;
use crate::scim::filter::Filter;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection, OptionalExtension, Row};

/// What to read.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub filter: Option<&'a Filter>,
    pub sort_by: Option<&'a AttrPath>,
    pub descending: bool,
    pub window: Window,
}

/// Which rows of the ordered result.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// Index paging: skip `offset` rows, return at most `limit`.
    Offset { offset: i64, limit: i64 },
    /// Keyset paging: at most `limit` rows after `after` (None: from the
    /// first row).
    After { after: Option<Position>, limit: i64 },
}

/// A place in the order: the sort key of a row (NULL without `sortBy`) and
/// its seq.
#[derive(Debug, Clone, PartialEq)]
pub struct Position {
    pub key: SqlValue,
    pub seq: i64,
}

#[derive(Debug)]
pub struct Page<T> {
    /// Rows matching the filter, whatever the window.
    pub total: i64,
    pub items: Vec<T>,
    /// Keyset paging only: the position of the last item when more rows
    /// follow it.
    pub next: Option<Position>,
    /// The position of each item, for a caller that returns fewer items
    /// than it read and must point `next` after the last one it kept.
    pub positions: Vec<Position>,
}

/// SQL text grown only from `&'static str` pieces and compiled fragments
/// (themselves built from constants), with parameters in text order.
#[derive(Default)]
struct Stmt {
    sql: String,
    params: Vec<SqlValue>,
}

impl Stmt {
    fn s(&mut self, piece: &'static str) -> &mut Self {
        self.sql.push_str(piece);
        self
    }

    fn w(&mut self, w: &SqlWhere) -> &mut Self {
        self.sql.push_str(&w.sql);
        self.params.extend(w.params.iter().cloned());
        self
    }

    fn p(&mut self, v: SqlValue) -> &mut Self {
        self.sql.push('?');
        self.params.push(v);
        self
    }
}

/// The two statements of one page.
#[derive(Debug)]
pub struct Statements {
    pub count: (String, Vec<SqlValue>),
    /// Selects `columns`, then the sort key, then seq. None when the window
    /// is empty.
    pub page: Option<(String, Vec<SqlValue>)>,
}

/// Builds the statements; compile errors are the client's (400).
pub fn statements(table: &TableDef, columns: &'static str, q: &Query) -> Result<Statements> {
    let filter = q
        .filter
        .map(|f| sql_filter::compile(table, f))
        .transpose()?;
    let sort = q
        .sort_by
        .map(|p| sql_filter::sort_spec(table, p))
        .transpose()?;
    let scope = |st: &mut Stmt| {
        st.s(" FROM ").s(table.from).s(" WHERE ").s(table.scope);
        if let Some(f) = &filter {
            st.s(" AND (").w(f).s(")");
        }
    };
    let mut count = Stmt::default();
    count.s("SELECT count(*)");
    scope(&mut count);

    let limit = match &q.window {
        Window::Offset { limit, .. } | Window::After { limit, .. } => *limit,
    };
    if limit <= 0 {
        return Ok(Statements {
            count: (count.sql, count.params),
            page: None,
        });
    }
    let desc = q.descending && sort.is_some();
    let mut page = Stmt::default();
    // The sort key in the select list may carry anonymous `?`s, which
    // SQLite numbers one past the highest number seen so far: `?1` must come
    // first in the text, so it does, in an otherwise unused CTE.
    page.s("WITH bind(integration_id) AS (SELECT ?1) SELECT ")
        .s(columns)
        .s(", ");
    match &sort {
        Some(k) => page.w(&k.key),
        None => page.s("NULL"),
    };
    page.s(", ").s(table.seq);
    scope(&mut page);
    if let Window::After {
        after: Some(pos), ..
    } = &q.window
    {
        page.s(" AND ");
        keyset(&mut page, table, sort.as_ref(), desc, pos);
    }
    page.s(" ORDER BY ");
    if let Some(k) = &sort {
        page.w(&k.key);
        page.s(match (desc, k.nullable) {
            (false, true) => " ASC NULLS LAST, ",
            (true, true) => " DESC NULLS FIRST, ",
            (false, false) => " ASC, ",
            (true, false) => " DESC, ",
        });
    }
    page.s(table.seq).s(if desc { " DESC" } else { " ASC" });
    page.s(" LIMIT ");
    match &q.window {
        Window::Offset { offset, limit } => {
            page.p(SqlValue::Integer(*limit))
                .s(" OFFSET ")
                .p(SqlValue::Integer((*offset).max(0)));
        }
        // One more than asked: whether a next page exists.
        Window::After { limit, .. } => {
            page.p(SqlValue::Integer(limit.saturating_add(1)));
        }
    }
    Ok(Statements {
        count: (count.sql, count.params),
        page: Some((page.sql, page.params)),
    })
}

/// Rows strictly after `pos` in the page order.
///
/// SQLite does not turn the `OR` of a keyset condition into an index range,
/// so where the rows after `pos` all have a key on one side of its key
/// (descending; ascending without nulls) a plain bound on the key comes
/// first: the index walk then starts at `pos` instead of at the first row,
/// and a deep page costs what the first one does.
fn keyset(
    st: &mut Stmt,
    table: &TableDef,
    sort: Option<&sql_filter::SortKey>,
    desc: bool,
    pos: &Position,
) {
    let seq = SqlValue::Integer(pos.seq);
    let Some(sort) = sort else {
        st.s(table.seq).s(" > ").p(seq);
        return;
    };
    let key = &sort.key;
    let k = |st: &mut Stmt| {
        st.s("(").w(key).s(")");
    };
    match (&pos.key, desc) {
        (SqlValue::Null, _) => {}
        (v, false) if !sort.nullable => {
            k(st);
            st.s(" >= ").p(v.clone()).s(" AND ");
        }
        (_, false) => {}
        (v, true) => {
            k(st);
            st.s(" <= ").p(v.clone()).s(" AND ");
        }
    }
    st.s("(");
    match (&pos.key, desc) {
        // Ascending, nulls last.
        (SqlValue::Null, false) => {
            k(st);
            st.s(" IS NULL AND ").s(table.seq).s(" > ").p(seq);
        }
        (v, false) => {
            k(st);
            st.s(" > ").p(v.clone()).s(" OR (");
            k(st);
            st.s(" = ")
                .p(v.clone())
                .s(" AND ")
                .s(table.seq)
                .s(" > ")
                .p(seq);
            st.s(") OR ");
            k(st);
            st.s(" IS NULL");
        }
        // Descending, nulls first, ties newest first.
        (SqlValue::Null, true) => {
            k(st);
            st.s(" IS NULL AND ").s(table.seq).s(" < ").p(seq).s(" OR ");
            k(st);
            st.s(" IS NOT NULL");
        }
        (v, true) => {
            k(st);
            st.s(" < ").p(v.clone()).s(" OR (");
            k(st);
            st.s(" = ")
                .p(v.clone())
                .s(" AND ")
                .s(table.seq)
                .s(" < ")
                .p(seq);
            st.s(")");
        }
    }
    st.s(")");
}

/// The integration's search generation (schema.sql, migration 9): it
/// changes with every write to the users, groups or memberships its
/// searches see. Read it in the same transaction as the page it vouches for.
/// None for a database without it or an integration it does not know.
pub fn generation(conn: &Connection, integration_id: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT gen FROM search_generation WHERE integration_id = ?1")?
        .query_row([integration_id], |r| r.get(0))
        .optional()?)
}

/// The number of matching rows when the page itself shows it, so no count
/// is needed: a page that is not full ends the result. That is the common
/// case of an IdP's `userName eq "x"` (one row or none), which then costs one
/// indexed lookup instead of a lookup and a count. Not known when the page
/// is full, or when it is empty past the start (the offset may overshoot).
fn known_total(window: &Window, read: i64, more: bool) -> Option<i64> {
    match window {
        Window::Offset { offset, limit } => {
            let offset = (*offset).max(0);
            (read < *limit && (read > 0 || offset == 0)).then_some(offset + read)
        }
        Window::After { after: None, .. } => (!more).then_some(read),
        Window::After { after: Some(_), .. } => None,
    }
}

/// Runs a query: `columns` are read by `map`, which sees them at indexes
/// 0.. (the sort key and seq follow them).
pub fn run<T>(
    conn: &Connection,
    table: &TableDef,
    columns: &'static str,
    integration_id: &str,
    q: &Query,
    mut map: impl FnMut(&Row) -> rusqlite::Result<T>,
) -> Result<Page<T>> {
    let st = statements(table, columns, q)?;
    let with_id = |params: &[SqlValue]| {
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(SqlValue::Text(integration_id.to_string()));
        all.extend(params.iter().cloned());
        all
    };
    let count = || -> Result<i64> {
        Ok(match (table.total, q.filter) {
            // Kept by triggers (schema.sql): O(1) instead of a count over every user.
            (Some(sql), None) => conn
                .prepare_cached(sql)?
                .query_row([integration_id], |r| r.get(0))
                .optional()?
                .unwrap_or(0),
            _ => conn
                .prepare_cached(&st.count.0)?
                .query_row(params_from_iter(with_id(&st.count.1)), |r| r.get(0))?,
        })
    };
    let Some((sql, params)) = &st.page else {
        return Ok(Page {
            total: count()?,
            items: Vec::new(),
            next: None,
            positions: Vec::new(),
        });
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let n = stmt.column_count();
    let mut rows = stmt.query(params_from_iter(with_id(params)))?;
    let mut items = Vec::new();
    let mut positions: Vec<Position> = Vec::new();
    let mut more = false;
    let limit = match q.window {
        Window::Offset { limit, .. } | Window::After { limit, .. } => limit,
    };
    while let Some(row) = rows.next()? {
        if items.len() as i64 >= limit {
            more = true;
            break;
        }
        items.push(map(row)?);
        positions.push(Position {
            key: row.get(n - 2)?,
            seq: row.get(n - 1)?,
        });
    }
    drop(rows);
    let total = match known_total(&q.window, items.len() as i64, more) {
        Some(total) => total,
        None => count()?,
    };
    let next = match q.window {
        Window::After { .. } if more => positions.last().cloned(),
        _ => None,
    };
    Ok(Page {
        total,
        items,
        next,
        positions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse;
    use crate::store::audit::Actor;
    use crate::store::{migrate, users};
    use serde_json::json;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        migrate::apply(&c).unwrap();
        c.execute_batch(
            "INSERT INTO integration(id, name, created) VALUES
               ('int_a', 'A', '2026-01-01T00:00:00.000Z'), ('int_b', 'B', '2026-01-01T00:00:00.000Z')",
        )
        .unwrap();
        // Names repeat (ties), differ only in case, or are missing (nulls).
        let names = [
            Some("Carol"),
            None,
            Some("alice"),
            Some("Bob"),
            Some("ALICE"),
            None,
            Some("bob"),
            Some("Dave"),
            Some("carol"),
            None,
            Some("Alice"),
            Some("eve"),
            Some("bob"),
        ];
        for (i, name) in names.iter().enumerate() {
            add(&c, "int_a", i, *name);
        }
        add(&c, "int_b", 99, Some("alice"));
        c
    }

    fn add(c: &Connection, int: &str, i: usize, name: Option<&str>) {
        let mut r = json!({
            "userName": format!("user{i:02}"),
            "active": !i.is_multiple_of(3),
            "emails": [{"value": format!("u{}@example.com", 1000 - i)}],
        });
        if let Some(n) = name {
            r["displayName"] = json!(n);
            r["title"] = json!(n);
        }
        users::insert(c, int, &format!("id{i:02}"), &r, &Actor::cli()).unwrap();
    }

    fn ids(page: &Page<users::StoredUser>) -> Vec<String> {
        page.items.iter().map(|u| u.id.clone()).collect()
    }

    fn query<'a>(
        filter: Option<&'a Filter>,
        sort_by: Option<&'a AttrPath>,
        descending: bool,
        window: Window,
    ) -> Query<'a> {
        Query {
            filter,
            sort_by,
            descending,
            window,
        }
    }

    fn all(c: &Connection, f: Option<&Filter>, sort: Option<&AttrPath>, desc: bool) -> Vec<String> {
        let q = query(
            f,
            sort,
            desc,
            Window::Offset {
                offset: 0,
                limit: 1000,
            },
        );
        ids(&users::search(c, "int_a", &q).unwrap())
    }

    fn walk(
        c: &Connection,
        f: Option<&Filter>,
        sort: Option<&AttrPath>,
        desc: bool,
        limit: i64,
        mut between: impl FnMut(usize),
    ) -> Vec<String> {
        let mut out = Vec::new();
        let mut after = None;
        for n in 0.. {
            let q = query(f, sort, desc, Window::After { after, limit });
            let page = users::search(c, "int_a", &q).unwrap();
            assert!(page.items.len() as i64 <= limit);
            out.extend(ids(&page));
            match page.next {
                Some(p) => after = Some(p),
                None => break,
            }
            between(n);
        }
        out
    }

    #[test]
    fn ascending_puts_missing_values_last_and_breaks_ties_by_insertion() {
        let c = db();
        let by = AttrPath::parse("displayName").unwrap();
        assert_eq!(
            all(&c, None, Some(&by), false),
            [
                "id02", "id04", "id10", "id03", "id06", "id12", "id00", "id08", "id07", "id11",
                "id01", "id05", "id09"
            ]
        );
        // Descending is the exact reverse.
        let mut rev = all(&c, None, Some(&by), false);
        rev.reverse();
        assert_eq!(all(&c, None, Some(&by), true), rev);
    }

    #[test]
    fn cursor_walks_equal_full_reads_for_every_sort() {
        let c = db();
        let f = parse(r#"userName ne "user05""#).unwrap();
        for sort in [
            None,
            Some("userName"),
            Some("displayName"),
            Some("title"),
            Some("active"),
            Some("emails.value"),
            Some("meta.lastModified"),
            Some("name.familyName"),
        ] {
            let by = sort.map(|s| AttrPath::parse(s).unwrap());
            for desc in [false, true] {
                for filter in [None, Some(&f)] {
                    let want = all(&c, filter, by.as_ref(), desc);
                    for limit in [1, 2, 5, 100] {
                        assert_eq!(
                            walk(&c, filter, by.as_ref(), desc, limit, |_| {}),
                            want,
                            "sortBy {sort:?} desc {desc} limit {limit} filter {filter:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_cursor_walk_sees_every_user_once_despite_inserts() {
        let c = db();
        let before = all(&c, None, None, false);
        let mut n = 100;
        let got = walk(&c, None, None, false, 4, |_| {
            add(&c, "int_a", n, Some("new"));
            n += 1;
        });
        assert_eq!(&got[..before.len()], &before[..]);
        let mut dedup = got.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), got.len(), "{got:?}");
    }

    fn plan(c: &Connection, q: &Query) -> String {
        let st = statements(&sql_filter::USERS, "u.id", q).unwrap();
        let (sql, params) = st.page.unwrap();
        let mut all = vec![SqlValue::Text("int_a".into())];
        all.extend(params);
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(params_from_iter(all), |r| r.get::<_, String>(3))
            .unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join("\n")
    }

    #[test]
    fn a_page_that_is_not_full_gives_the_total_without_a_count() {
        let offset = |offset, limit| Window::Offset { offset, limit };
        assert_eq!(known_total(&offset(0, 100), 1, false), Some(1));
        assert_eq!(known_total(&offset(0, 100), 0, false), Some(0));
        assert_eq!(known_total(&offset(10, 100), 3, false), Some(13));
        // Full: more rows may follow.
        assert_eq!(known_total(&offset(0, 2), 2, false), None);
        // Empty past the start: the offset may overshoot the end.
        assert_eq!(known_total(&offset(10, 100), 0, false), None);
        // count=0 reads nothing: a count is needed.
        assert_eq!(known_total(&offset(0, 0), 0, false), None);
        let first = Window::After {
            after: None,
            limit: 10,
        };
        assert_eq!(known_total(&first, 4, false), Some(4));
        assert_eq!(known_total(&first, 10, true), None);
        let later = Window::After {
            after: Some(Position {
                key: SqlValue::Null,
                seq: 3,
            }),
            limit: 10,
        };
        assert_eq!(known_total(&later, 4, false), None);
    }

    /// With the statistics the server gathers at start (see
    /// `connection::refresh_statistics`) on a database of some size.
    #[test]
    fn keyset_pages_seek_instead_of_skipping() {
        let c = db();
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
             INSERT INTO scim_user(integration_id, id, user_name, user_name_fold, created, last_modified, resource)
             SELECT 'int_a', 'x' || i, 'bulk' || i, 'bulk' || i, 'now', 'now', hex(zeroblob(250)) FROM n;
             ANALYZE;",
        )
        .unwrap();
        let pos = Position {
            key: SqlValue::Null,
            seq: 5,
        };
        let walk = query(
            None,
            None,
            false,
            Window::After {
                after: Some(pos),
                limit: 100,
            },
        );
        let p = plan(&c, &walk);
        assert!(p.contains("rowid>?"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let by = AttrPath::parse("userName").unwrap();
        let pos = Position {
            key: SqlValue::Text("user05".into()),
            seq: 5,
        };
        let sorted = query(
            None,
            Some(&by),
            false,
            Window::After {
                after: Some(pos),
                limit: 100,
            },
        );
        let p = plan(&c, &sorted);
        assert!(p.contains("scim_user_name"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        // The exact total of an unfiltered list reads an index, not the rows.
        let st = statements(&sql_filter::USERS, "u.id", &walk).unwrap();
        let mut stmt = c
            .prepare(&format!("EXPLAIN QUERY PLAN {}", st.count.0))
            .unwrap();
        let p: Vec<String> = stmt
            .query_map(["int_a"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(!p.iter().any(|l| l.starts_with("SCAN u")), "{p:?}");
        assert!(p[0].starts_with("SEARCH u USING COVERING INDEX"), "{p:?}");
    }

    #[test]
    fn offsets_totals_and_deprovisioned_users() {
        let c = db();
        let f = parse(r#"displayName eq "bob""#).unwrap();
        let q = query(
            Some(&f),
            None,
            false,
            Window::Offset {
                offset: 1,
                limit: 1,
            },
        );
        let page = users::search(&c, "int_a", &q).unwrap();
        assert_eq!((page.total, ids(&page)), (3, vec!["id06".to_string()]));
        users::delete(&c, "int_a", "id06", None, &Actor::cli()).unwrap();
        let q = query(
            Some(&f),
            None,
            false,
            Window::Offset {
                offset: 0,
                limit: 0,
            },
        );
        let page = users::search(&c, "int_a", &q).unwrap();
        assert_eq!((page.total, page.items.len()), (2, 0));
        let deprovisioned = parse(r#"userName eq "user06""#).unwrap();
        assert!(all(&c, Some(&deprovisioned), None, false).is_empty());
        assert_eq!(all(&c, None, None, false).len(), 12);
    }
}
#[cfg(test)]
mod plans {
    use super::*;

    /// SQLite's plan of the page statement after a position.
    fn plan_after(sort: &str, desc: bool) -> String {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        let by = AttrPath::parse(sort).unwrap();
        let after = Position {
            key: SqlValue::Text("m".into()),
            seq: 5,
        };
        let q = Query {
            filter: None,
            sort_by: Some(&by),
            descending: desc,
            window: Window::After {
                after: Some(after),
                limit: 100,
            },
        };
        let (sql, params) = statements(&sql_filter::USERS, "u.id", &q)
            .unwrap()
            .page
            .unwrap();
        let mut all = vec![SqlValue::Text("int_a".into())];
        all.extend(params);
        let mut s = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = s
            .query_map(params_from_iter(all), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn a_keyset_page_by_user_name_starts_its_index_walk_at_the_position() {
        let asc = plan_after("userName", false);
        assert!(asc.contains("user_name_fold>?"), "{asc}");
        let desc = plan_after("userName", true);
        assert!(desc.contains("user_name_fold<?"), "{desc}");
    }
}
