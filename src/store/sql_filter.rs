//! Compiles a parsed SCIM filter ([`Filter`]) into one parameterised SQL
//! boolean expression over a resource table, and a `sortBy` path into an
//! ORDER BY key (DESIGN.md principle 3: filters run in SQL, no client text is
//! ever concatenated into SQL).
//!
//! Attributes the table keeps in indexed columns (see [`TableDef`]) compile to
//! comparisons on those columns, written so the index is usable (`eq` as `=`,
//! `sw` as a range). The side table of email addresses answers `emails.value`
//! and most `emails[...]` value filters. Everything else reads the canonical
//! resource JSON with `json_extract` / `json_each`, the JSON path being a bound
//! parameter built from the canonical attribute names of `scim::schema`.
//!
//! The SQL text is only ever extended with `&'static str` pieces (see [`Sql`]),
//! so neither literals nor the client's spelling of attribute names can reach
//! it; values, JSON paths and lengths are all parameters.
//!
//! # Parameters
//!
//! Placeholders are anonymous `?`, which SQLite numbers one past the highest
//! number already used in the statement text, plus `?1`, which always means
//! the integration id (side-table subqueries are scoped with
//! `e.integration_id = ?1`). So the caller writes
//! `... WHERE u.integration_id = ?1 AND (<sql>) ORDER BY <sort key> ... LIMIT ?`,
//! binds the integration id first and then every other piece's params in the
//! order the pieces appear in the statement text.
//!
//! # Semantics
//!
//! Those of `scim::filter::matches_element`: a comparison holds if any value
//! of the attribute holds it; `ne` needs a value (a missing attribute matches
//! neither `eq` nor `ne`); `pr` needs a non-null, non-empty value; `eq null`
//! means not present; `not` is true whenever its operand is not. On top, the
//! schema decides types: `gt/ge/lt/le` compare dateTimes chronologically,
//! numbers numerically and strings lexicographically, and are refused on
//! booleans, binaries and complex attributes; case-insensitive strings compare
//! case-insensitively. Deliberate differences from the in-memory matcher:
//! - a complex attribute compared directly (`emails eq "a@x"`) means its
//!   `value` sub-attribute; without one it is a 400;
//! - literals are coerced to the attribute's type where that is unambiguous
//!   (`active eq "True"`, `employeeNumber eq 42`), and refused otherwise;
//! - `co`, `sw`, `ew` on booleans, numbers and dateTimes are a 400;
//! - `active` is the indexed column, in which an absent `active` is true (as
//!   `store::users` treats it);
//! - case-insensitive comparisons on JSON attributes and `displayName` fold
//!   ASCII only (SQLite's `lower()` and `NOCASE`); `userName` and
//!   `emails.value` fold fully because their columns are folded in Rust.

use crate::scim::attrpath::AttrPath;
use crate::scim::error::ScimError;
use crate::scim::filter::{shorten, CompareOp, Filter, Literal};
use crate::scim::schema::{
    AttrDef, AttrType, Resolved, ResourceType, Returned, GROUP_TYPE, USER_TYPE,
};
use rusqlite::types::Value as SqlValue;
use std::cell::RefCell;

/// A piece of SQL and its parameters, in text order (see the module docs for
/// how placeholders are numbered).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlWhere {
    pub sql: String,
    pub params: Vec<SqlValue>,
}

/// How a column or JSON value compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text compared byte for byte (caseExact attributes).
    Exact,
    /// Text stored lower-cased by Rust (`str::to_lowercase`); literals are
    /// folded the same way, so `=` on the column is case-insensitive.
    Folded,
    /// Text compared under `COLLATE NOCASE`, matching a NOCASE index.
    NoCase,
    /// Text compared as `lower(x)` (case-insensitive JSON strings).
    Lower,
    /// 0 or 1.
    Bool,
    /// 0 or 1, where 1 means the JSON value is `true` and 0 means false *or
    /// absent*: only `eq true` / `ne false` can be answered from it.
    Flag,
    /// Integer or real.
    Number,
    /// Fixed-width UTC text from `clock::format`: text order is time order.
    Time,
    /// An RFC 3339 string as the client sent it, compared with `julianday`.
    JsonTime,
    /// A complex value: only `pr` applies.
    Opaque,
}

/// An attribute kept in a column of the resource table.
#[derive(Debug)]
pub struct HotColumn {
    /// Canonical attribute name (core or common attribute).
    pub attr: &'static str,
    /// Canonical sub-attribute name, if the column holds a sub-attribute.
    pub sub: Option<&'static str>,
    /// SQL expression for filtering.
    pub expr: &'static str,
    pub kind: Kind,
    /// SQL expression for `sortBy`.
    pub sort: &'static str,
    /// Whether the sort expression can be NULL. A NOT NULL key sorts without
    /// `NULLS LAST`, which lets SQLite walk an index instead of sorting.
    pub nullable: bool,
}

/// One column of a side table.
#[derive(Debug)]
pub struct SideColumn {
    /// Canonical sub-attribute name.
    pub sub: &'static str,
    pub expr: &'static str,
    pub kind: Kind,
}

/// A child table with one row per value of a multi-valued complex attribute
/// that has a (string) `value`; a row exists exactly when the value does.
#[derive(Debug)]
pub struct SideTable {
    /// Canonical name of the multi-valued core attribute.
    pub attr: &'static str,
    /// The resource table's key the side rows point at.
    pub key: &'static str,
    /// `SELECT <owner key> FROM <side> e WHERE <scope>`; conditions are
    /// appended with `AND`.
    pub select: &'static str,
    /// Must include the `value` sub-attribute.
    pub columns: &'static [SideColumn],
    /// Appended after the conditions, inside the closing parenthesis (for a
    /// `select` whose conditions sit in the middle, e.g. a recursive CTE).
    pub tail: &'static str,
    /// The values live only in side rows, never in the resource JSON, and
    /// every value has a row: every sub-attribute with a column is answered
    /// from the rows (not only `value`), `attr pr` means "has a row", and what
    /// the rows cannot answer is a 400 rather than a JSON lookup that could
    /// never match.
    pub detached: bool,
    /// `sortBy` expression for the attribute (its primary value).
    pub sort: &'static str,
}

/// How one resource type is stored: the table alias is fixed by the SQL
/// pieces (`u` for users, `g` for groups).
#[derive(Debug)]
pub struct TableDef {
    pub rt: &'static ResourceType,
    /// `FROM` clause, with the alias.
    pub from: &'static str,
    /// What every SCIM query of this table must keep: the integration (`?1`)
    /// and, for users, only live rows (`deprovisioned IS NULL`, written as
    /// "not one of the deprovisioned seqs" so that no index walk has to read
    /// table rows for it; see schema.sql migration 2).
    pub scope: &'static str,
    /// The insertion-order key: tie-breaker of every sort and cursor key.
    pub seq: &'static str,
    /// The column with the canonical resource JSON.
    pub resource: &'static str,
    pub hot: &'static [HotColumn],
    pub side: &'static [SideTable],
    /// A one-row query (`?1` = integration) giving the exact number of rows
    /// in scope, for unfiltered lists; None: count them.
    pub total: Option<&'static str>,
}

/// `scim_user` as `u` (schema.sql, migration 1).
pub static USERS: TableDef = TableDef {
    rt: &USER_TYPE,
    from: "scim_user u",
    scope: "u.integration_id = ?1 AND u.seq NOT IN (SELECT d.seq FROM scim_user d \
        WHERE d.integration_id = ?1 AND d.deprovisioned IS NOT NULL)",
    seq: "u.seq",
    resource: "u.resource",
    total: Some("SELECT live FROM live_user_count WHERE integration_id = ?1"),
    hot: &[
        HotColumn {
            attr: "id",
            sub: None,
            expr: "u.id",
            kind: Kind::Exact,
            sort: "u.id",
            nullable: false,
        },
        HotColumn {
            attr: "externalId",
            sub: None,
            expr: "u.external_id",
            kind: Kind::Exact,
            sort: "u.external_id",
            nullable: true,
        },
        HotColumn {
            attr: "userName",
            sub: None,
            expr: "u.user_name_fold",
            kind: Kind::Folded,
            sort: "u.user_name_fold",
            nullable: false,
        },
        HotColumn {
            attr: "displayName",
            sub: None,
            expr: "u.display_name",
            kind: Kind::NoCase,
            sort: "u.display_name COLLATE NOCASE",
            nullable: true,
        },
        HotColumn {
            attr: "active",
            sub: None,
            expr: "u.active",
            kind: Kind::Bool,
            sort: "u.active",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: None,
            expr: "1",
            kind: Kind::Opaque,
            sort: "NULL",
            nullable: true,
        },
        HotColumn {
            attr: "meta",
            sub: Some("created"),
            expr: "u.created",
            kind: Kind::Time,
            sort: "u.created",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: Some("lastModified"),
            expr: "u.last_modified",
            kind: Kind::Time,
            sort: "u.last_modified",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: Some("version"),
            // Must match scim::etag::etag.
            expr: "('W/\"' || u.version || '\"')",
            kind: Kind::Exact,
            sort: "u.version",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: Some("resourceType"),
            expr: "'User'",
            kind: Kind::Exact,
            sort: "NULL",
            nullable: true,
        },
    ],
    side: &[
        SideTable {
        attr: "emails",
        // Through the user's id, not `u.seq IN (SELECT e.user_seq ...)`: next to
        // the caller's `u.integration_id = ?1` SQLite (without ANALYZE stats)
        // would walk every user of the integration probing the seq list,
        // whereas `(integration_id, id) IN` is a seek on scim_user_id.
        key: "u.id",
        select: "SELECT s.id FROM scim_user_email e JOIN scim_user s ON s.seq = e.user_seq WHERE e.integration_id = ?1",
        columns: &[
            SideColumn {
                sub: "value",
                expr: "e.value_fold",
                kind: Kind::Folded,
            },
            SideColumn {
                sub: "type",
                expr: "e.type",
                kind: Kind::Lower,
            },
            SideColumn {
                sub: "primary",
                expr: "e.is_primary",
                kind: Kind::Flag,
            },
        ],
        tail: "",
        detached: false,
        sort: "u.primary_email",
    },
        // `User.groups` is computed from the membership table: the groups a
        // user is in directly or through nested groups. The matching groups
        // are found first (by id through scim_group_id), then everything
        // below them, then their user members.
        SideTable {
            attr: "groups",
            key: "u.id",
            select: "SELECT s.id FROM membership m JOIN scim_user s ON s.seq = m.member_user_seq \
                WHERE m.member_user_seq IS NOT NULL AND m.group_seq IN (\
                WITH RECURSIVE below(seq) AS (\
                SELECT e.seq FROM scim_group e WHERE e.integration_id = ?1",
            tail: " UNION SELECT n.member_group_seq FROM membership n JOIN below ON n.group_seq = below.seq \
                WHERE n.member_group_seq IS NOT NULL) SELECT seq FROM below)",
            columns: &[
                SideColumn {
                    sub: "value",
                    expr: "e.id",
                    kind: Kind::Exact,
                },
                SideColumn {
                    sub: "display",
                    expr: "e.display_name",
                    kind: Kind::NoCase,
                },
            ],
            detached: true,
            // The first direct group by name, as `groups` is listed.
            sort: "(SELECT sg.display_name FROM membership sm JOIN scim_group sg ON sg.seq = sm.group_seq \
                WHERE sm.member_user_seq = u.seq ORDER BY sg.display_name, sg.id LIMIT 1) COLLATE NOCASE",
        },
    ],
};

/// `scim_group` as `g` (schema.sql, migration 1). Members are rows of
/// `membership`, never JSON.
pub static GROUPS: TableDef = TableDef {
    rt: &GROUP_TYPE,
    from: "scim_group g",
    scope: "g.integration_id = ?1",
    seq: "g.seq",
    resource: "g.resource",
    total: None,
    hot: &[
        HotColumn {
            attr: "id",
            sub: None,
            expr: "g.id",
            kind: Kind::Exact,
            sort: "g.id",
            nullable: false,
        },
        HotColumn {
            attr: "externalId",
            sub: None,
            expr: "g.external_id",
            kind: Kind::Exact,
            sort: "g.external_id",
            nullable: true,
        },
        HotColumn {
            attr: "displayName",
            sub: None,
            expr: "g.display_name",
            kind: Kind::NoCase,
            sort: "g.display_name COLLATE NOCASE",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: None,
            expr: "1",
            kind: Kind::Opaque,
            sort: "NULL",
            nullable: true,
        },
        HotColumn {
            attr: "meta",
            sub: Some("created"),
            expr: "g.created",
            kind: Kind::Time,
            sort: "g.created",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: Some("lastModified"),
            expr: "g.last_modified",
            kind: Kind::Time,
            sort: "g.last_modified",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: Some("version"),
            // Must match scim::etag::etag.
            expr: "('W/\"' || g.version || '\"')",
            kind: Kind::Exact,
            sort: "g.version",
            nullable: false,
        },
        HotColumn {
            attr: "meta",
            sub: Some("resourceType"),
            expr: "'Group'",
            kind: Kind::Exact,
            sort: "NULL",
            nullable: true,
        },
    ],
    // One row per member, user or group. SQLite pushes the conditions on
    // `e.value` into both arms, so `members.value eq` is a seek on
    // scim_user_id / scim_group_id and then on the membership indexes.
    side: &[SideTable {
        attr: "members",
        // Through the group's id, as for emails: `(integration_id, id) IN`
        // is a seek on scim_group_id whatever the statistics say.
        key: "g.id",
        select: "SELECT e.group_id FROM (\
            SELECT o.id AS group_id, s.id AS value, 'User' AS type FROM scim_user s \
            JOIN membership m ON m.member_user_seq = s.seq JOIN scim_group o ON o.seq = m.group_seq \
            WHERE s.integration_id = ?1 \
            UNION ALL \
            SELECT o.id, s.id, 'Group' FROM scim_group s \
            JOIN membership m ON m.member_group_seq = s.seq JOIN scim_group o ON o.seq = m.group_seq \
            WHERE s.integration_id = ?1\
            ) e WHERE 1",
        tail: "",
        columns: &[
            // Member ids are compared exactly (they are server-assigned
            // ids), so the lookup can use the id indexes.
            SideColumn {
                sub: "value",
                expr: "e.value",
                kind: Kind::Exact,
            },
            SideColumn {
                sub: "type",
                expr: "e.type",
                kind: Kind::Lower,
            },
        ],
        detached: true,
        sort: "NULL",
    }],
};

/// Compiles a parsed filter for the Users table (alias `u`). The result is a
/// boolean expression that is true exactly for matching rows (it may be NULL
/// where it means false, which `WHERE` treats as false; wrap it in
/// `(...) IS TRUE` before negating it yourself). Parameters: see the module
/// docs (`?1` is the integration id, the rest are anonymous `?` in text
/// order). Errors are 400 `invalidFilter` naming the attribute.
pub fn compile_users(filter: &Filter) -> Result<SqlWhere, ScimError> {
    compile(&USERS, filter)
}

/// The ORDER BY expression for `sortBy` on Users (any attribute, including
/// sub-attributes and extension attributes); text built only from constants,
/// JSON paths as anonymous `?` params. Multi-valued attributes sort by their
/// primary value (else the first). The caller adds direction, `NULLS LAST`
/// (ascending) and the tie-breaker. Errors are 400 `invalidValue`.
pub fn sort_key_users(path: &AttrPath) -> Result<SqlWhere, ScimError> {
    sort_key(&USERS, path)
}

/// [`compile_users`] for Groups (alias `g`).
pub fn compile_groups(filter: &Filter) -> Result<SqlWhere, ScimError> {
    compile(&GROUPS, filter)
}

/// [`sort_key_users`] for Groups.
pub fn sort_key_groups(path: &AttrPath) -> Result<SqlWhere, ScimError> {
    sort_key(&GROUPS, path)
}

/// A `sortBy` key: the expression, and whether it can be NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub key: SqlWhere,
    pub nullable: bool,
}

/// [`compile_users`] for any table description.
pub fn compile(table: &TableDef, filter: &Filter) -> Result<SqlWhere, ScimError> {
    compile_with_dialects(table, filter).map(|(w, _)| w)
}

/// [`compile`], also returning the short names of the IdP dialects only the
/// schema could recognise, each once, for the caller to log:
/// `datetime_without_offset` is a dateTime literal with no UTC offset
/// (SailPoint's `meta.lastModified gt "2024-01-01T10:00:00"`), read as UTC.
pub fn compile_with_dialects(
    table: &TableDef,
    filter: &Filter,
) -> Result<(SqlWhere, Vec<&'static str>), ScimError> {
    let mut b = Sql::default();
    let c = Compiler {
        t: table,
        dialects: RefCell::default(),
    };
    c.filter(&mut b, filter, &Scope::Top)?;
    Ok((b.finish(), c.dialects.into_inner()))
}

// ------------------------------------------------------------ SQL builder

/// SQL text that only grows by `&'static str` pieces and `?` placeholders.
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<SqlValue>,
}

impl Sql {
    fn s(&mut self, piece: &'static str) -> &mut Self {
        self.text.push_str(piece);
        self
    }

    fn p(&mut self, v: SqlValue) -> &mut Self {
        self.text.push('?');
        self.params.push(v);
        self
    }

    fn text_param(&mut self, t: &str) -> &mut Self {
        self.p(SqlValue::Text(t.to_string()))
    }

    fn int_param(&mut self, n: i64) -> &mut Self {
        self.p(SqlValue::Integer(n))
    }

    fn finish(self) -> SqlWhere {
        SqlWhere {
            sql: self.text,
            params: self.params,
        }
    }
}

/// `$."a"."b"`: labels quoted, so URNs with dots and `$ref` are safe.
fn json_path(ext: Option<&str>, names: &[&str]) -> String {
    let mut p = String::from("$");
    for n in ext.into_iter().chain(names.iter().copied()) {
        p.push_str(".\"");
        p.push_str(n);
        p.push('"');
    }
    p
}

fn op_sql(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => " = ",
        CompareOp::Ne => " <> ",
        CompareOp::Gt => " > ",
        CompareOp::Ge => " >= ",
        CompareOp::Lt => " < ",
        CompareOp::Le => " <= ",
        // Not reached: substring operators are compiled separately.
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => " = ",
    }
}

// ------------------------------------------------------------ targets

/// Where one value of an attribute is read from.
#[derive(Debug, Clone)]
enum Scalar {
    /// A column expression.
    Col(&'static str),
    /// `json_extract(<resource>, ?path)`.
    Json(String),
    /// The current `json_each` row `j`: the element itself, or a member of it.
    Elem(Option<String>),
}

#[derive(Debug)]
enum Access {
    /// At most one value.
    Single(Scalar),
    /// Every element (or member `elem` of every element) of a JSON array.
    Each { array: String, elem: Option<String> },
    /// Rows of a side table.
    Side(&'static SideTable, &'static SideColumn),
}

#[derive(Debug)]
struct Target {
    label: String,
    def: &'static AttrDef,
    access: Access,
    kind: Kind,
}

/// A literal coerced to the attribute's type.
#[derive(Debug, Clone)]
enum Lit {
    Text(String),
    Num(SqlValue),
    Bool(bool),
    /// Normalised timestamp, and whether it was exact to the millisecond.
    Time(String, bool),
}

enum Scope {
    Top,
    /// Inside `attr[...]` on a singular complex attribute.
    Within(Resolved, String),
    /// Inside `attr[...]`, over `json_each` rows `j`.
    Elements(Resolved, String),
    /// Inside `attr[...]`, over side-table rows `e`.
    Side(&'static SideTable, Resolved, String),
}

fn kind_of(def: &AttrDef) -> Kind {
    match def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            if def.case_exact {
                Kind::Exact
            } else {
                Kind::Lower
            }
        }
        AttrType::Boolean => Kind::Bool,
        AttrType::Integer | AttrType::Decimal => Kind::Number,
        AttrType::DateTime => Kind::JsonTime,
        AttrType::Complex => Kind::Opaque,
    }
}

fn at(detail: String, col: usize) -> String {
    if col > 0 {
        format!("{detail} (at column {col})")
    } else {
        detail
    }
}

fn filter_err(detail: String, col: usize) -> ScimError {
    ScimError::invalid_filter(at(detail, col))
}

fn label_of(path: &AttrPath) -> String {
    shorten(&path.to_string())
}

fn check_returned(r: &Resolved) -> Result<(), String> {
    let def = r.sub.unwrap_or(r.attr);
    if r.attr.returned == Returned::Never || def.returned == Returned::Never {
        let name = match r.sub {
            Some(s) => format!("{}.{}", r.attr.name, s.name),
            None => r.attr.name.to_string(),
        };
        return Err(format!(
            "'{name}' is never returned, so it cannot be used to filter or sort"
        ));
    }
    Ok(())
}

impl TableDef {
    fn hot_column(&self, r: &Resolved) -> Option<&'static HotColumn> {
        if r.extension(self.rt).is_some() {
            return None;
        }
        let sub = r.sub.map(|s| s.name);
        let hot: &'static [HotColumn] = self.hot;
        hot.iter().find(|h| h.attr == r.attr.name && h.sub == sub)
    }

    fn side_table(&self, attr: &AttrDef, r: &Resolved) -> Option<&'static SideTable> {
        if r.extension(self.rt).is_some() || !attr.multi_valued {
            return None;
        }
        let side: &'static [SideTable] = self.side;
        side.iter().find(|s| s.attr == attr.name)
    }

    /// Where the values of a resolved (top-level) path live. `Err` is a
    /// detail for a 400.
    fn target(&self, r: &Resolved, label: String) -> Result<Target, String> {
        let def = r.sub.unwrap_or(r.attr);
        if let Some(h) = self.hot_column(r) {
            return Ok(Target {
                label,
                def,
                access: Access::Single(Scalar::Col(h.expr)),
                kind: h.kind,
            });
        }
        if let Some(side) = self.side_table(r.attr, r) {
            // The attribute itself (only `pr` reaches here) on a detached
            // attribute: any row with a value.
            let name = r.sub.map_or("value", |s| s.name);
            let col = side.columns.iter().find(|c| c.sub == name);
            match col {
                Some(c) if side.detached || (r.sub.is_some() && c.sub == "value") => {
                    return Ok(Target {
                        label,
                        def,
                        access: Access::Side(side, c),
                        kind: if r.sub.is_some() {
                            c.kind
                        } else {
                            Kind::Opaque
                        },
                    });
                }
                _ if side.detached => {
                    return Err(format!(
                        "filtering or sorting on '{label}' is not supported"
                    ));
                }
                _ => {}
            }
        }
        if r.schema.is_none() {
            // Common attributes (id, externalId, meta) are not in the JSON.
            return Err(format!(
                "filtering or sorting on '{label}' is not supported"
            ));
        }
        let ext = r.extension(self.rt);
        let access = if r.attr.multi_valued {
            Access::Each {
                array: json_path(ext, &[r.attr.name]),
                elem: r.sub.map(|s| json_path(None, &[s.name])),
            }
        } else {
            let names: Vec<&str> = std::iter::once(r.attr.name)
                .chain(r.sub.map(|s| s.name))
                .collect();
            Access::Single(Scalar::Json(json_path(ext, &names)))
        };
        Ok(Target {
            label,
            def,
            access,
            kind: kind_of(def),
        })
    }
}

// ------------------------------------------------------------ compiler

struct Compiler<'t> {
    t: &'t TableDef,
    /// Dialects met so far (see [`compile_with_dialects`]); a cell because
    /// compiling only reads the compiler otherwise.
    dialects: RefCell<Vec<&'static str>>,
}

enum Leaf<'f> {
    Present,
    Compare(CompareOp, &'f Literal),
}

impl Compiler<'_> {
    fn filter(&self, b: &mut Sql, f: &Filter, scope: &Scope) -> Result<(), ScimError> {
        match f {
            Filter::And(l, r) => {
                b.s("(");
                self.filter(b, l, scope)?;
                b.s(" AND ");
                self.filter(b, r, scope)?;
                b.s(")");
            }
            Filter::Or(l, r) => {
                b.s("(");
                self.filter(b, l, scope)?;
                b.s(" OR ");
                self.filter(b, r, scope)?;
                b.s(")");
            }
            Filter::Not(inner) => {
                // IS NOT TRUE, not NOT: a NULL (unknown) operand is false.
                b.s("((");
                self.filter(b, inner, scope)?;
                b.s(") IS NOT TRUE)");
            }
            Filter::Present { path, col } => self.leaf(b, scope, path, *col, Leaf::Present)?,
            Filter::Compare {
                path,
                op,
                value,
                col,
            } => self.leaf(b, scope, path, *col, Leaf::Compare(*op, value))?,
            Filter::ValuePath { path, filter, col } => {
                self.value_path(b, scope, path, filter, *col)?
            }
        }
        Ok(())
    }

    fn resolve_top(&self, path: &AttrPath, col: usize) -> Result<(Resolved, String), ScimError> {
        let label = label_of(path);
        let r = crate::scim::schema::resolve(self.t.rt, path)
            .ok_or_else(|| filter_err(format!("unknown attribute '{label}' in filter"), col))?;
        check_returned(&r).map_err(|d| filter_err(d, col))?;
        Ok((r, label))
    }

    /// A path inside `parent[...]`: a plain sub-attribute name.
    fn resolve_inner(
        &self,
        parent: &Resolved,
        parent_label: &str,
        path: &AttrPath,
        col: usize,
    ) -> Result<(Resolved, String), ScimError> {
        let label = format!("{parent_label}.{}", label_of(path));
        let sub = (path.urn.is_none() && path.sub.is_none())
            .then(|| parent.attr.sub(&path.name))
            .flatten()
            .ok_or_else(|| filter_err(format!("unknown attribute '{label}' in filter"), col))?;
        let r = Resolved {
            schema: parent.schema,
            attr: parent.attr,
            sub: Some(sub),
        };
        check_returned(&r).map_err(|d| filter_err(d, col))?;
        Ok((r, label))
    }

    fn leaf(
        &self,
        b: &mut Sql,
        scope: &Scope,
        path: &AttrPath,
        col: usize,
        leaf: Leaf,
    ) -> Result<(), ScimError> {
        let (mut r, mut label) = match scope {
            Scope::Top => self.resolve_top(path, col)?,
            Scope::Within(p, pl) | Scope::Elements(p, pl) | Scope::Side(_, p, pl) => {
                self.resolve_inner(p, pl, path, col)?
            }
        };
        if let Leaf::Compare(op, _) = leaf {
            let def = r.sub.unwrap_or(r.attr);
            if def.ty == AttrType::Complex {
                if op.is_ordering() {
                    return Err(filter_err(
                        format!("'{label}' is a complex attribute; '{op}' cannot order it"),
                        col,
                    ));
                }
                match def.sub("value") {
                    Some(v) if r.sub.is_none() => {
                        r.sub = Some(v);
                        label.push_str(".value");
                    }
                    _ => {
                        return Err(filter_err(
                            format!(
                                "'{label}' is a complex attribute; compare one of its sub-attributes instead"
                            ),
                            col,
                        ))
                    }
                }
            }
        }
        let def = r.sub.unwrap_or(r.attr);
        let target = match scope {
            Scope::Top | Scope::Within(..) => {
                self.t.target(&r, label).map_err(|d| filter_err(d, col))?
            }
            Scope::Elements(..) => Target {
                label,
                def,
                access: Access::Single(Scalar::Elem(Some(json_path(None, &[def.name])))),
                kind: kind_of(def),
            },
            Scope::Side(side, ..) => {
                let c = side
                    .columns
                    .iter()
                    .find(|c| c.sub == def.name)
                    .ok_or_else(|| filter_err(format!("'{label}' is not indexed"), col))?;
                Target {
                    label,
                    def,
                    access: Access::Single(Scalar::Col(c.expr)),
                    kind: c.kind,
                }
            }
        };
        match leaf {
            Leaf::Present => self.present(b, &target),
            Leaf::Compare(CompareOp::Eq, Literal::Null) => {
                b.s("((");
                self.present(b, &target);
                b.s(") IS NOT TRUE)");
            }
            Leaf::Compare(CompareOp::Ne, Literal::Null) => self.present(b, &target),
            Leaf::Compare(_, Literal::Null) => {
                b.s("0");
            }
            Leaf::Compare(op, lit) => {
                let mut dialects = Vec::new();
                let lit =
                    coerce(&target, op, lit, &mut dialects).map_err(|d| filter_err(d, col))?;
                let mut seen = self.dialects.borrow_mut();
                for d in dialects {
                    if !seen.contains(&d) {
                        seen.push(d);
                    }
                }
                drop(seen);
                self.compare(b, &target, op, &lit);
            }
        }
        Ok(())
    }

    fn value_path(
        &self,
        b: &mut Sql,
        scope: &Scope,
        path: &AttrPath,
        inner: &Filter,
        col: usize,
    ) -> Result<(), ScimError> {
        if !matches!(scope, Scope::Top) {
            return Err(filter_err(
                "value filters cannot be nested".to_string(),
                col,
            ));
        }
        let (r, label) = self.resolve_top(path, col)?;
        if r.sub.is_some() || r.attr.ty != AttrType::Complex {
            return Err(filter_err(
                format!(
                    "'{label}' is not a complex attribute, so '[...]' cannot filter its values"
                ),
                col,
            ));
        }
        if r.attr.multi_valued {
            if let Some(side) = self.t.side_table(r.attr, &r) {
                if side_ok(side, inner) {
                    b.s("(").s(side.key).s(" IN (").s(side.select).s(" AND ");
                    self.filter(b, inner, &Scope::Side(side, r, label))?;
                    b.s(side.tail).s("))");
                    return Ok(());
                }
                if side.detached {
                    return Err(filter_err(
                        format!(
                            "'{label}[...]' can only test {} of '{label}'",
                            side_names(side)
                        ),
                        col,
                    ));
                }
            }
            let target = self
                .t
                .target(&r, label.clone())
                .map_err(|d| filter_err(d, col))?;
            let Access::Each { array, .. } = target.access else {
                return Err(filter_err(
                    format!("'{label}' cannot be filtered with '[...]'"),
                    col,
                ));
            };
            self.each_open(b, &array);
            self.filter(b, inner, &Scope::Elements(r, label))?;
            b.s(")");
        } else {
            // A singular complex attribute: its sub-attributes are ordinary
            // paths, but the whole must exist (as `not` inside must not match
            // a resource without it).
            let target = self
                .t
                .target(&r, label.clone())
                .map_err(|d| filter_err(d, col))?;
            b.s("(");
            self.present(b, &target);
            b.s(" AND ");
            self.filter(b, inner, &Scope::Within(r, label))?;
            b.s(")");
        }
        Ok(())
    }

    fn emit(&self, b: &mut Sql, x: &Scalar) {
        match x {
            Scalar::Col(expr) => {
                b.s(expr);
            }
            Scalar::Json(path) => {
                b.s("json_extract(")
                    .s(self.t.resource)
                    .s(", ")
                    .text_param(path)
                    .s(")");
            }
            Scalar::Elem(None) => {
                b.s("j.value");
            }
            Scalar::Elem(Some(member)) => {
                // A non-object element has no members (and json_extract on a
                // bare string would be an error).
                b.s("(CASE WHEN j.type = 'object' THEN json_extract(j.value, ")
                    .text_param(member)
                    .s(") END)");
            }
        }
    }

    fn each_open(&self, b: &mut Sql, array: &str) {
        b.s("EXISTS (SELECT 1 FROM json_each(")
            .s(self.t.resource)
            .s(", ")
            .text_param(array)
            .s(") j WHERE ");
    }

    fn side_open(&self, b: &mut Sql, side: &SideTable, negated: bool) {
        b.s(side.key)
            .s(if negated { " NOT IN (" } else { " IN (" })
            .s(side.select)
            .s(" AND ");
    }

    /// Present: not null and not empty.
    fn present_scalar(&self, b: &mut Sql, x: &Scalar) {
        b.s("COALESCE(");
        self.emit(b, x);
        b.s(", '') <> ''");
    }

    fn present(&self, b: &mut Sql, t: &Target) {
        match &t.access {
            Access::Single(x) => self.present_scalar(b, x),
            Access::Each { array, elem } => {
                self.each_open(b, array);
                self.present_scalar(b, &Scalar::Elem(elem.clone()));
                b.s(")");
            }
            Access::Side(side, c) => {
                b.s("(");
                self.side_open(b, side, false);
                self.present_scalar(b, &Scalar::Col(c.expr));
                b.s(side.tail).s("))");
            }
        }
    }

    fn compare(&self, b: &mut Sql, t: &Target, op: CompareOp, lit: &Lit) {
        match &t.access {
            Access::Single(x) => self.cmp(b, x, t.kind, op, lit),
            Access::Each { array, elem } => {
                let x = Scalar::Elem(elem.clone());
                if op == CompareOp::Ne {
                    // Some value, and none equal.
                    b.s("(");
                    self.each_open(b, array);
                    self.emit(b, &x);
                    b.s(" IS NOT NULL) AND NOT ");
                    self.each_open(b, array);
                    self.cmp(b, &x, t.kind, CompareOp::Eq, lit);
                    b.s("))");
                } else {
                    self.each_open(b, array);
                    self.cmp(b, &x, t.kind, op, lit);
                    b.s(")");
                }
            }
            Access::Side(side, c) => {
                let x = Scalar::Col(c.expr);
                b.s("(");
                if op == CompareOp::Ne {
                    self.side_open(b, side, false);
                    self.present_scalar(b, &x);
                    b.s(side.tail).s(") AND ");
                    self.side_open(b, side, true);
                    self.cmp(b, &x, t.kind, CompareOp::Eq, lit);
                } else {
                    self.side_open(b, side, false);
                    self.cmp(b, &x, t.kind, op, lit);
                }
                b.s(side.tail).s("))");
            }
        }
    }

    /// One value `x` against a literal: true only if `x` is not null.
    fn cmp(&self, b: &mut Sql, x: &Scalar, kind: Kind, op: CompareOp, lit: &Lit) {
        match (kind, lit) {
            (Kind::Flag, _) => {
                // side_ok admits only `eq true` and `ne false` here.
                self.emit(b, x);
                b.s(" = 1");
            }
            (Kind::Bool, Lit::Bool(v)) => {
                self.emit(b, x);
                b.s(op_sql(op)).int_param(i64::from(*v));
            }
            (Kind::Number, Lit::Num(n)) => {
                self.emit(b, x);
                b.s(op_sql(op)).p(n.clone());
            }
            (Kind::Time, Lit::Time(text, exact)) => {
                // Stored values are whole milliseconds; `text` is the literal
                // truncated to them, so a finer literal shifts the operators.
                let op = match (op, exact) {
                    (_, true) => op,
                    (CompareOp::Eq, false) => {
                        b.s("0");
                        return;
                    }
                    (CompareOp::Ne, false) => {
                        self.emit(b, x);
                        b.s(" IS NOT NULL");
                        return;
                    }
                    (CompareOp::Gt | CompareOp::Ge, false) => CompareOp::Gt,
                    (_, false) => CompareOp::Le,
                };
                // A time range is told to the planner as selective: the
                // usual question is "changed since <recently>", and without
                // histograms SQLite would rather walk every row in seq order
                // than the index. (`likelihood` is only a hint; the
                // comparison still uses the index.)
                let hint = op.is_ordering();
                if hint {
                    b.s("likelihood(");
                }
                self.emit(b, x);
                b.s(op_sql(op)).text_param(text);
                if hint {
                    b.s(", 0.01)");
                }
            }
            (Kind::JsonTime, Lit::Time(text, _)) => {
                b.s("julianday(");
                self.emit(b, x);
                b.s(")")
                    .s(op_sql(op))
                    .s("julianday(")
                    .text_param(text)
                    .s(")");
            }
            (Kind::Exact | Kind::Folded | Kind::NoCase | Kind::Lower, Lit::Text(text)) => {
                self.cmp_text(b, x, kind, op, text)
            }
            // coerce() only returns literals matching the kind.
            _ => {
                b.s("0");
            }
        }
    }

    fn cmp_text(&self, b: &mut Sql, x: &Scalar, kind: Kind, op: CompareOp, text: &str) {
        let folded = match kind {
            Kind::Folded => text.to_lowercase(),
            Kind::Lower => text.to_ascii_lowercase(),
            _ => text.to_string(),
        };
        let collate = if kind == Kind::NoCase {
            " COLLATE NOCASE"
        } else {
            ""
        };
        let expr = |b: &mut Sql| {
            if kind == Kind::Lower {
                b.s("lower(");
                self.emit(b, x);
                b.s(")");
            } else {
                self.emit(b, x);
            }
        };
        let n = folded.chars().count() as i64;
        match op {
            CompareOp::Co | CompareOp::Sw | CompareOp::Ew if folded.is_empty() => {
                expr(b);
                b.s(" IS NOT NULL");
            }
            CompareOp::Co => {
                // instr has no collation: fold ASCII on both sides instead.
                if kind == Kind::NoCase {
                    b.s("instr(lower(");
                    self.emit(b, x);
                    b.s("), ").text_param(&folded.to_ascii_lowercase());
                } else {
                    b.s("instr(");
                    expr(b);
                    b.s(", ").text_param(&folded);
                }
                b.s(") > 0");
            }
            CompareOp::Sw => {
                let indexable = matches!(x, Scalar::Col(_)) && kind != Kind::Lower;
                b.s("(");
                if indexable {
                    // A range the index can seek, then the exact test (the
                    // upper bound would wrongly exclude a U+10FFFF after the
                    // prefix).
                    let mut upper = folded.clone();
                    upper.push(char::MAX);
                    expr(b);
                    b.s(" >= ").text_param(&folded).s(collate).s(" AND ");
                    expr(b);
                    b.s(" < ").text_param(&upper).s(collate).s(" AND ");
                }
                b.s("substr(");
                expr(b);
                b.s(", 1, ")
                    .int_param(n)
                    .s(") = ")
                    .text_param(&folded)
                    .s(collate)
                    .s(")");
            }
            CompareOp::Ew => {
                b.s("substr(");
                expr(b);
                b.s(", ")
                    .int_param(-n)
                    .s(") = ")
                    .text_param(&folded)
                    .s(collate);
            }
            _ => {
                expr(b);
                b.s(op_sql(op)).text_param(&folded).s(collate);
            }
        }
    }
}

/// Whether `[filter]` on a side table's attribute can run on the side rows:
/// every leaf names one of its columns in a form the column can answer, and
/// the filter cannot match an element without a `value` (which has no row).
fn side_ok(side: &SideTable, f: &Filter) -> bool {
    fn leaves_ok(side: &SideTable, f: &Filter) -> bool {
        let column = |path: &AttrPath| {
            if path.urn.is_some() || path.sub.is_some() {
                return None;
            }
            side.columns
                .iter()
                .find(|c| c.sub.eq_ignore_ascii_case(&path.name))
        };
        match f {
            Filter::And(a, b) | Filter::Or(a, b) => leaves_ok(side, a) && leaves_ok(side, b),
            Filter::Not(a) => leaves_ok(side, a),
            Filter::ValuePath { .. } => false,
            Filter::Present { path, .. } => column(path).is_some_and(|c| c.kind != Kind::Flag),
            Filter::Compare {
                path, op, value, ..
            } => match column(path) {
                None => false,
                Some(c) if c.kind == Kind::Flag => matches!(
                    (op, value),
                    (CompareOp::Eq, Literal::Bool(true)) | (CompareOp::Ne, Literal::Bool(false))
                ),
                Some(_) => true,
            },
        }
    }
    /// False whenever `value` is missing.
    fn needs_value(f: &Filter) -> bool {
        let is_value = |p: &AttrPath| {
            p.urn.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case("value")
        };
        match f {
            Filter::And(a, b) => needs_value(a) || needs_value(b),
            Filter::Or(a, b) => needs_value(a) && needs_value(b),
            Filter::Not(_) | Filter::ValuePath { .. } => false,
            Filter::Present { path, .. } => is_value(path),
            Filter::Compare { path, value, .. } => {
                is_value(path) && !matches!(value, Literal::Null)
            }
        }
    }
    leaves_ok(side, f) && (side.detached || needs_value(f))
}

/// "'value' or 'type'": the sub-attributes a side table answers.
fn side_names(side: &SideTable) -> String {
    let names: Vec<String> = side
        .columns
        .iter()
        .map(|c| format!("'{}'", c.sub))
        .collect();
    names.join(" or ")
}

/// Checks the operator against the attribute's type and converts the literal,
/// adding to `dialects` the name of any liberty it took.
fn coerce(
    t: &Target,
    op: CompareOp,
    lit: &Literal,
    dialects: &mut Vec<&'static str>,
) -> Result<Lit, String> {
    let label = &t.label;
    let ty = t.def.ty.as_str();
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let refuse_substring = || {
        Err(format!(
            "'{label}' is a {ty}; '{op}' needs a string attribute"
        ))
    };
    match t.def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            if op.is_ordering() && t.def.ty == AttrType::Binary {
                return Err(format!("'{label}' is binary; '{op}' cannot order it"));
            }
            match lit {
                Literal::Str(s) => Ok(Lit::Text(s.clone())),
                // Liberal: an unquoted identifier means its digits.
                Literal::Num(n) => Ok(Lit::Text(n.to_string())),
                other => Err(format!(
                    "'{label}' is a {ty}; compare it with a string, not {other}"
                )),
            }
        }
        AttrType::Boolean => {
            if op.is_ordering() {
                return Err(format!("'{label}' is a boolean; '{op}' cannot order it"));
            }
            if substring {
                return refuse_substring();
            }
            match lit {
                Literal::Bool(v) => Ok(Lit::Bool(*v)),
                Literal::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
                Literal::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
                other => Err(format!(
                    "'{label}' is a boolean; compare it with true or false, not {}",
                    shorten(&other.to_string())
                )),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if substring {
                return refuse_substring();
            }
            let n = match lit {
                Literal::Num(n) => Some(n.clone()),
                Literal::Str(s) => serde_json::from_str::<serde_json::Number>(s.trim()).ok(),
                _ => None,
            };
            let n = n.ok_or_else(|| {
                format!(
                    "'{label}' is a number; {} is not one",
                    shorten(&lit.to_string())
                )
            })?;
            Ok(Lit::Num(match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            }))
        }
        AttrType::DateTime => {
            if substring {
                return refuse_substring();
            }
            let parsed = match lit {
                Literal::Str(s) => parse_time(s, dialects),
                _ => None,
            };
            let t = parsed.ok_or_else(|| {
                format!(
                    "'{label}' is a dateTime; {} is not one (expected RFC 3339, e.g. \"2026-01-01T00:00:00Z\")",
                    shorten(&lit.to_string())
                )
            })?;
            let exact = t.nanosecond() % 1_000_000 == 0;
            Ok(Lit::Time(crate::clock::format(t), exact))
        }
        AttrType::Complex => Err(format!("'{label}' is a complex attribute")),
    }
}

/// An RFC 3339 dateTime, or one that lacks only its offset
/// (`2024-01-01T10:00:00`), read as UTC: the one meaning a delta query
/// written without a zone can have, since scimd stores and shows UTC.
fn parse_time(s: &str, dialects: &mut Vec<&'static str>) -> Option<time::OffsetDateTime> {
    if let Some(t) = crate::clock::parse(s) {
        return Some(t);
    }
    // A text that already ends in an offset cannot parse with a second one,
    // so only a missing offset succeeds here.
    let t = crate::clock::parse(&format!("{}Z", s.trim()))?;
    dialects.push("datetime_without_offset");
    Some(t)
}

// ------------------------------------------------------------ sortBy

/// [`sort_key_users`] for any table description.
pub fn sort_key(table: &TableDef, path: &AttrPath) -> Result<SqlWhere, ScimError> {
    sort_spec(table, path).map(|k| k.key)
}

/// [`sort_key`] with what the caller needs to order by it efficiently.
pub fn sort_spec(table: &TableDef, path: &AttrPath) -> Result<SortKey, ScimError> {
    let label = label_of(path);
    let bad = |d: String| ScimError::invalid_value(d);
    let mut r = crate::scim::schema::resolve(table.rt, path)
        .ok_or_else(|| bad(format!("unknown attribute '{label}' in sortBy")))?;
    check_returned(&r).map_err(bad)?;
    let mut label = label;
    if r.sub.unwrap_or(r.attr).ty == AttrType::Complex {
        match r.attr.sub("value") {
            Some(v) if r.sub.is_none() => {
                r.sub = Some(v);
                label.push_str(".value");
            }
            _ => {
                return Err(bad(format!(
                    "sortBy '{label}' is a complex attribute; sort by one of its sub-attributes"
                )))
            }
        }
    }
    let mut b = Sql::default();
    fn done(b: Sql, nullable: bool) -> Result<SortKey, ScimError> {
        Ok(SortKey {
            key: b.finish(),
            nullable,
        })
    }
    if let Some(h) = table.hot_column(&r) {
        b.s(h.sort);
        return done(b, h.nullable);
    }
    if let Some(side) = table.side_table(r.attr, &r) {
        if r.sub.is_some_and(|s| s.name == "value") {
            b.s(side.sort);
            return done(b, true);
        }
    }
    let target = table.target(&r, label).map_err(bad)?;
    let c = Compiler {
        t: table,
        dialects: RefCell::default(),
    };
    let kind = target.kind;
    let wrap_open = |b: &mut Sql| {
        if kind == Kind::JsonTime {
            b.s("julianday(");
        }
    };
    let wrap_close = |b: &mut Sql| match kind {
        Kind::JsonTime => {
            b.s(")");
        }
        Kind::Lower => {
            b.s(" COLLATE NOCASE");
        }
        _ => {}
    };
    match &target.access {
        Access::Single(x) => {
            wrap_open(&mut b);
            c.emit(&mut b, x);
            wrap_close(&mut b);
        }
        Access::Each { array, elem } => {
            // The primary value, else the first (RFC 7644 §3.4.2.3).
            wrap_open(&mut b);
            b.s("(SELECT ");
            c.emit(&mut b, &Scalar::Elem(elem.clone()));
            b.s(" FROM json_each(")
                .s(table.resource)
                .s(", ")
                .text_param(array)
                .s(") j ORDER BY ");
            if r.attr.sub("primary").is_some() {
                b.s("(CASE WHEN j.type = 'object' THEN json_extract(j.value, ")
                    .text_param(&json_path(None, &["primary"]))
                    .s(") END) IS TRUE DESC, ");
            }
            b.s("j.key LIMIT 1)");
            wrap_close(&mut b);
        }
        Access::Side(side, _) => {
            b.s(side.sort);
        }
    }
    done(b, true)
}

// ------------------------------------------------------------ tests

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse;
    use proptest::prelude::*;
    use rusqlite::{params_from_iter, Connection};
    use serde_json::{json, Value};

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    struct U {
        int: &'static str,
        id: &'static str,
        created: &'static str,
        last_modified: &'static str,
        version: i64,
        /// Canonical resource: id and meta excluded, externalId included.
        resource: Value,
    }

    fn users() -> Vec<U> {
        vec![
            U {
                int: "int_a",
                id: "u1",
                created: "2026-01-01T00:00:00.000Z",
                last_modified: "2026-01-05T00:00:00.000Z",
                version: 3,
                resource: json!({
                    "externalId": "ext-1",
                    "userName": "BJensen",
                    "name": {"familyName": "Jensen", "givenName": "Barbara"},
                    "displayName": "Babs Jensen",
                    "title": "Tour Guide",
                    "active": true,
                    "emails": [
                        {"value": "bjensen@example.com", "type": "work", "primary": true},
                        {"value": "babs@home.org", "type": "home", "display": "Babs"}
                    ],
                    ENT: {"employeeNumber": "701984", "manager": {"value": "u3", "displayName": "Boss"}}
                }),
            },
            U {
                int: "int_a",
                id: "u2",
                created: "2026-02-01T00:00:00.000Z",
                last_modified: "2026-02-10T12:00:00.500Z",
                version: 1,
                resource: json!({
                    "externalId": "EXT-2",
                    "userName": "jsmith",
                    "name": {"familyName": "Smith"},
                    "displayName": "John Smith",
                    "active": false,
                    "emails": [{"value": "John.Smith@Example.com", "type": "Work", "primary": false}],
                    "phoneNumbers": [{"value": "555-0100", "type": "mobile"}],
                    ENT: {"employeeNumber": "42"}
                }),
            },
            U {
                int: "int_a",
                id: "u3",
                created: "2026-03-01T00:00:00.000Z",
                last_modified: "2026-03-01T00:00:00.000Z",
                version: 1,
                resource: json!({
                    "userName": "Mgr_100%",
                    "title": "boss",
                    "emails": [{"type": "home"}]
                }),
            },
            U {
                int: "int_a",
                id: "U4",
                created: "2026-03-02T00:00:00.000Z",
                last_modified: "2026-03-03T00:00:00.000Z",
                version: 2,
                resource: json!({
                    "externalId": "ext-4",
                    "userName": "a%b_c\\d",
                    "displayName": "élodie",
                    "active": true,
                    "emails": [{"value": "x_y@z.org"}],
                    "addresses": [{"locality": "Paris", "primary": true}, {"locality": "Lyon"}]
                }),
            },
            // Another integration: must never show up.
            U {
                int: "int_b",
                id: "u1b",
                created: "2026-01-01T00:00:00.000Z",
                last_modified: "2026-01-05T00:00:00.000Z",
                version: 1,
                resource: json!({
                    "externalId": "ext-1",
                    "userName": "BJensen",
                    "displayName": "Babs Jensen",
                    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}]
                }),
            },
        ]
    }

    fn apply_schema(conn: &Connection) {
        // Every migration in order; the same as migrate::apply minus user_version.
        conn.execute_batch(include_str!("../../schema.sql"))
            .unwrap();
    }

    /// Inserts with plain SQL, deriving columns as store::users does.
    fn insert(conn: &Connection, u: &U) {
        let r = &u.resource;
        let s = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
        let emails: Vec<(String, Option<String>, bool)> = r
            .get("emails")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|e| {
                        Some((
                            e.get("value")?.as_str()?.to_lowercase(),
                            e.get("type").and_then(Value::as_str).map(str::to_string),
                            e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let primary = emails
            .iter()
            .find(|e| e.2)
            .or(emails.first())
            .map(|e| e.0.clone());
        let user_name = s("userName").unwrap();
        conn.execute(
            "INSERT INTO scim_user(integration_id, id, user_name, user_name_fold, external_id,
                primary_email, display_name, active, created, last_modified, version, resource)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            rusqlite::params![
                u.int,
                u.id,
                user_name,
                user_name.to_lowercase(),
                s("externalId"),
                primary,
                s("displayName"),
                r.get("active").and_then(Value::as_bool).unwrap_or(true),
                u.created,
                u.last_modified,
                u.version,
                r.to_string(),
            ],
        )
        .unwrap();
        let seq = conn.last_insert_rowid();
        for (v, t, p) in emails {
            conn.execute(
                "INSERT INTO scim_user_email(user_seq, integration_id, value_fold, type, is_primary)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![seq, u.int, v, t, p],
            )
            .unwrap();
        }
    }

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        apply_schema(&conn);
        conn.execute_batch(
            "INSERT INTO integration(id, name, created) VALUES
               ('int_a', 'A', '2026-01-01T00:00:00.000Z'),
               ('int_b', 'B', '2026-01-01T00:00:00.000Z');",
        )
        .unwrap();
        for u in users() {
            insert(&conn, &u);
        }
        // Users u1..U4 have seqs 1..4, u1b 5. g2 is a member of g1, so U4 is
        // in g1 indirectly.
        conn.execute_batch(
            r#"INSERT INTO scim_group(seq, integration_id, id, display_name, external_id, created, last_modified, resource) VALUES
                 (1, 'int_a', 'g1', 'Admins', 'gx-1', '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z', '{"displayName":"Admins","externalId":"gx-1"}'),
                 (2, 'int_a', 'g2', 'Staff', NULL, '2026-01-01T00:00:00.000Z', '2026-01-03T00:00:00.000Z', '{"displayName":"Staff"}'),
                 (3, 'int_a', 'g3', 'admins', NULL, '2026-01-01T00:00:00.000Z', '2026-01-04T00:00:00.000Z', '{"displayName":"admins"}'),
                 (4, 'int_b', 'g1b', 'Admins', NULL, '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z', '{"displayName":"Admins"}');
               INSERT INTO membership(group_seq, member_user_seq, member_group_seq) VALUES
                 (1, 1, NULL), (1, NULL, 2), (2, 4, NULL), (4, 5, NULL);"#,
        )
        .unwrap();
        conn
    }

    fn group_ids(conn: &Connection, filter: &str) -> Vec<String> {
        let f = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let w = compile_groups(&f).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let sql = format!(
            "SELECT g.id FROM scim_group g WHERE g.integration_id = ?1 AND ({}) ORDER BY g.seq",
            w.sql
        );
        let mut stmt = conn
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{filter}: {e}\n{sql}"));
        let mut params = vec![SqlValue::Text("int_a".into())];
        params.extend(w.params.iter().cloned());
        let rows = stmt
            .query_map(params_from_iter(params), |r| r.get::<_, String>(0))
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    fn query(w: &SqlWhere) -> String {
        format!(
            "SELECT u.id FROM scim_user u WHERE u.integration_id = ?1 AND ({}) ORDER BY u.seq",
            w.sql
        )
    }

    fn run(conn: &Connection, w: &SqlWhere) -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare(&query(w))?;
        let mut params = vec![SqlValue::Text("int_a".into())];
        params.extend(w.params.iter().cloned());
        let rows = stmt.query_map(params_from_iter(params), |r| r.get::<_, String>(0))?;
        rows.collect()
    }

    fn ids(conn: &Connection, filter: &str) -> Vec<String> {
        let f = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let w = compile_users(&f).unwrap_or_else(|e| panic!("{filter}: {e}"));
        run(conn, &w).unwrap_or_else(|e| panic!("{filter}: {e}\n{}", w.sql))
    }

    fn check(conn: &Connection, cases: &[(&str, &[&str])]) {
        for (filter, want) in cases {
            assert_eq!(ids(conn, filter), *want, "filter: {filter}");
        }
    }

    fn err(filter: &str) -> String {
        let f = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        let e = compile_users(&f).expect_err(filter);
        assert_eq!(e.status, 400);
        assert_eq!(
            e.scim_type,
            Some(crate::scim::error::ScimType::InvalidFilter),
            "{filter}"
        );
        e.detail
    }

    #[test]
    fn user_name_is_case_insensitive_and_prefix_safe() {
        let c = db();
        check(
            &c,
            &[
                (r#"userName eq "bjensen""#, &["u1"]),
                (r#"USERNAME eq "BJENSEN""#, &["u1"]),
                (r#"userName ne "bjensen""#, &["u2", "u3", "U4"]),
                (r#"userName sw "BJ""#, &["u1"]),
                (r#"userName sw "mgr_1""#, &["u3"]),
                (r#"userName sw "a%""#, &["U4"]),
                (r#"userName sw "a_""#, &[]),
                (r#"userName sw """#, &["u1", "u2", "u3", "U4"]),
                (r#"userName co "100%""#, &["u3"]),
                (r#"userName co "%""#, &["u3", "U4"]),
                (r#"userName co "_""#, &["u3", "U4"]),
                (r#"userName co "\\""#, &["U4"]),
                (r#"userName ew "_C\\D""#, &["U4"]),
                (r#"userName ew "en""#, &["u1"]),
                (r#"userName ew "xbjensen""#, &[]),
                (r#"userName gt "j""#, &["u2", "u3"]),
                (r#"userName le "BJENSEN""#, &["u1", "U4"]),
                ("userName pr", &["u1", "u2", "u3", "U4"]),
                ("userName eq null", &[]),
            ],
        );
    }

    #[test]
    fn external_id_and_id_are_case_exact() {
        let c = db();
        check(
            &c,
            &[
                (r#"externalId eq "ext-1""#, &["u1"]),
                (r#"externalId eq "EXT-1""#, &[]),
                (r#"externalId eq "ext-2""#, &[]),
                (r#"externalId ne "ext-1""#, &["u2", "U4"]),
                (r#"externalId sw "ext""#, &["u1", "U4"]),
                (r#"externalId co "XT""#, &["u2"]),
                ("externalId pr", &["u1", "u2", "U4"]),
                ("externalId eq null", &["u3"]),
                (r#"id eq "u1""#, &["u1"]),
                (r#"id eq "U1""#, &[]),
                (r#"id eq "u4""#, &[]),
                (r#"id sw "U""#, &["U4"]),
                (r#"id gt "u1""#, &["u2", "u3"]),
                (
                    r#"urn:ietf:params:scim:schemas:core:2.0:User:id eq "u2""#,
                    &["u2"],
                ),
            ],
        );
    }

    #[test]
    fn display_name_uses_nocase() {
        let c = db();
        check(
            &c,
            &[
                (r#"displayName eq "babs jensen""#, &["u1"]),
                (r#"displayName ne "BABS JENSEN""#, &["u2", "U4"]),
                (r#"displayName sw "JOHN""#, &["u2"]),
                (r#"displayName co "S J""#, &["u1"]),
                (r#"displayName ew "SMITH""#, &["u2"]),
                (r#"displayName eq "élodie""#, &["U4"]),
                ("displayName pr", &["u1", "u2", "U4"]),
                ("not (displayName pr)", &["u3"]),
                (r#"displayName lt "c""#, &["u1"]),
            ],
        );
    }

    #[test]
    fn active_is_the_column() {
        let c = db();
        check(
            &c,
            &[
                ("active eq true", &["u1", "u3", "U4"]),
                ("active eq false", &["u2"]),
                ("active ne true", &["u2"]),
                (r#"active eq "False""#, &["u2"]),
                ("active pr", &["u1", "u2", "u3", "U4"]),
            ],
        );
        assert!(err("active gt 1").contains("'gt' cannot order it"));
        assert!(err(r#"active eq "maybe""#).contains("'active' is a boolean"));
        assert!(err(r#"active co "t""#).contains("'co' needs a string"));
    }

    #[test]
    fn meta_timestamps_compare_chronologically() {
        let c = db();
        check(
            &c,
            &[
                (
                    r#"meta.lastModified gt "2026-02-10T12:00:00Z""#,
                    &["u2", "u3", "U4"],
                ),
                (
                    r#"meta.lastModified gt "2026-02-10T12:00:00.5Z""#,
                    &["u3", "U4"],
                ),
                (
                    r#"meta.lastModified ge "2026-02-10T14:00:00.500+02:00""#,
                    &["u2", "u3", "U4"],
                ),
                (
                    r#"meta.lastModified eq "2026-02-10T12:00:00.500Z""#,
                    &["u2"],
                ),
                (
                    r#"meta.lastModified lt "2026-01-05T00:00:00.0001Z""#,
                    &["u1"],
                ),
                (
                    r#"meta.lastModified le "2026-01-05T00:00:00.0001Z""#,
                    &["u1"],
                ),
                (
                    r#"meta.lastModified ge "2026-01-05T00:00:00.0001Z""#,
                    &["u2", "u3", "U4"],
                ),
                (r#"meta.lastModified eq "2026-01-05T00:00:00.0001Z""#, &[]),
                (
                    r#"meta.lastModified ne "2026-01-05T00:00:00.0001Z""#,
                    &["u1", "u2", "u3", "U4"],
                ),
                (r#"meta.created lt "2026-02-01T00:00:00Z""#, &["u1"]),
                (r#"meta.created le "2026-02-01T00:00:00Z""#, &["u1", "u2"]),
                (
                    r#"meta.created ne "2026-02-01T00:00:00Z""#,
                    &["u1", "u3", "U4"],
                ),
                ("meta.created pr", &["u1", "u2", "u3", "U4"]),
                ("meta pr", &["u1", "u2", "u3", "U4"]),
                (r#"meta[lastModified gt "2026-03-01T00:00:00Z"]"#, &["U4"]),
                (r#"meta.resourceType eq "User""#, &["u1", "u2", "u3", "U4"]),
                (r#"meta.resourceType eq "Group""#, &[]),
                (r#"meta.version eq "W/\"2\"""#, &["U4"]),
            ],
        );
        assert!(err(r#"meta.lastModified gt "yesterday""#).contains("is a dateTime"));
        assert!(err("meta.lastModified gt 5").contains("is a dateTime"));
        assert!(err(r#"meta.created sw "2026""#).contains("needs a string"));
        assert!(err(r#"meta.location eq "x""#).contains("not supported"));
        assert!(err(r#"meta eq "x""#).contains("complex"));
    }

    fn compiled(filter: &str) -> (SqlWhere, Vec<&'static str>) {
        let f = parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
        compile_with_dialects(&USERS, &f).unwrap_or_else(|e| panic!("{filter}: {e}"))
    }

    #[test]
    fn sub_attribute_after_value_filter_compiles_like_the_bracket_form() {
        let (entra, _) = compiled(r#"emails[type eq "work"].value eq "bjensen@example.com""#);
        let (bracket, _) = compiled(r#"emails[type eq "work" and value eq "bjensen@example.com"]"#);
        assert_eq!(entra, bracket);
        assert!(entra.sql.contains("scim_user_email"), "{}", entra.sql);
        let (entra, _) = compiled(r#"emails[type eq "work"].value pr"#);
        let (bracket, _) = compiled(r#"emails[type eq "work" and value pr]"#);
        assert_eq!(entra, bracket);
        let c = db();
        check(
            &c,
            &[
                (
                    r#"emails[type eq "work"].value eq "bjensen@example.com""#,
                    &["u1"],
                ),
                (
                    r#"emails[type eq "home"].value eq "bjensen@example.com""#,
                    &[],
                ),
            ],
        );
    }

    #[test]
    fn datetime_without_offset_is_read_as_utc() {
        let (naive, dialects) = compiled(r#"meta.lastModified gt "2026-01-05T00:00:00""#);
        let (utc, none) = compiled(r#"meta.lastModified gt "2026-01-05T00:00:00Z""#);
        assert_eq!(naive, utc);
        assert_eq!(dialects, ["datetime_without_offset"]);
        assert!(none.is_empty());
        let c = db();
        check(
            &c,
            &[
                (
                    r#"meta.lastModified ge "2026-01-05T00:00:00""#,
                    &["u1", "u2", "u3", "U4"],
                ),
                (
                    r#"meta.lastModified gt "2026-01-05T00:00:00.000""#,
                    &["u2", "u3", "U4"],
                ),
                (r#"meta.created lt "2026-02-01T00:00:00""#, &["u1"]),
            ],
        );
        assert!(err(r#"meta.lastModified gt "2026-01-05""#).contains("is a dateTime"));
        assert!(err(r#"meta.lastModified gt "2026-01-05T00:00:00+01""#).contains("is a dateTime"));
    }

    #[test]
    fn emails_use_the_side_table() {
        let c = db();
        check(
            &c,
            &[
                (r#"emails.value eq "BJENSEN@example.com""#, &["u1"]),
                (r#"emails.value eq "babs@home.org""#, &["u1"]),
                (r#"emails eq "john.smith@example.com""#, &["u2"]),
                (r#"emails.value co "example""#, &["u1", "u2"]),
                (r#"emails.value co "_""#, &["U4"]),
                (r#"emails.value sw "JOHN.""#, &["u2"]),
                (r#"emails.value ew ".org""#, &["u1", "U4"]),
                (r#"emails.value ne "babs@home.org""#, &["u2", "U4"]),
                (r#"emails.value gt "x""#, &["U4"]),
                ("emails.value pr", &["u1", "u2", "U4"]),
                ("emails.value eq null", &["u3"]),
                ("emails pr", &["u1", "u2", "u3", "U4"]),
                (r#"emails.type eq "WORK""#, &["u1", "u2"]),
                (r#"emails.type eq "home""#, &["u1", "u3"]),
                (r#"emails.type ne "home""#, &["u2"]),
                (r#"emails.type ne "other""#, &["u1", "u2", "u3"]),
                ("emails.type pr", &["u1", "u2", "u3"]),
                (r#"emails.display eq "babs""#, &["u1"]),
                ("emails.primary eq true", &["u1"]),
                ("emails.primary eq false", &["u2"]),
            ],
        );
    }

    #[test]
    fn value_paths_filter_one_element_at_a_time() {
        let c = db();
        check(
            &c,
            &[
                // Side table.
                (
                    r#"emails[type eq "work" and value co "example"]"#,
                    &["u1", "u2"],
                ),
                (r#"emails[type eq "home" and value co "example"]"#, &[]),
                (r#"emails[primary eq true and value ew ".com"]"#, &["u1"]),
                (
                    r#"emails[not (type eq "home") and value pr]"#,
                    &["u1", "u2", "U4"],
                ),
                (r#"emails[value sw "x_"]"#, &["U4"]),
                // JSON elements (no value, display, primary false).
                (r#"emails[type eq "home"]"#, &["u1", "u3"]),
                (r#"emails[not (type eq "work")]"#, &["u1", "u3", "U4"]),
                (r#"emails[display pr]"#, &["u1"]),
                (r#"emails[primary eq false]"#, &["u2"]),
                (
                    r#"emails[type eq "home" or value eq "x_y@z.org"]"#,
                    &["u1", "u3", "U4"],
                ),
                (
                    r#"phoneNumbers[type eq "mobile" and value sw "555"]"#,
                    &["u2"],
                ),
                (
                    r#"addresses[primary eq true and locality eq "paris"]"#,
                    &["U4"],
                ),
                (r#"addresses[primary eq true and locality eq "lyon"]"#, &[]),
                // Singular complex.
                (r#"name[givenName sw "bar"]"#, &["u1"]),
                (r#"name[not (givenName pr)]"#, &["u2"]),
            ],
        );
        assert!(err(r#"emails[shoe eq "x"]"#).contains("unknown attribute 'emails.shoe'"));
        assert!(err(r#"userName[value eq "x"]"#).contains("not a complex attribute"));
    }

    #[test]
    fn json_attributes_and_extensions() {
        let c = db();
        check(
            &c,
            &[
                (r#"name.familyName eq "JENSEN""#, &["u1"]),
                (r#"name.familyName ne "jensen""#, &["u2"]),
                (r#"name.givenName eq null"#, &["u2", "u3", "U4"]),
                (r#"title co "GUIDE""#, &["u1"]),
                (r#"title pr"#, &["u1", "u3"]),
                (r#"title ne "boss""#, &["u1"]),
                (r#"employeeNumber eq "701984""#, &["u1"]),
                (&format!(r#"{ENT}:employeeNumber eq "42""#), &["u2"]),
                (&format!(r#"{ENT}:employeeNumber eq 42"#), &["u2"]),
                (&format!(r#"{ENT}:employeeNumber gt "5""#), &["u1"]),
                (&format!(r#"{ENT}:manager.value eq "U3""#), &["u1"]),
                (&format!("{ENT}:manager pr"), &["u1"]),
                (&format!(r#"{ENT}:manager eq "u3""#), &["u1"]),
                (r#"manager.displayName eq "boss""#, &["u1"]),
                (r#"nickName eq "x""#, &[]),
                ("nickName eq null", &["u1", "u2", "u3", "U4"]),
            ],
        );
    }

    #[test]
    fn user_groups_come_from_the_membership_table_with_nesting() {
        let c = db();
        check(
            &c,
            &[
                (r#"groups.value eq "g1""#, &["u1", "U4"]),
                (r#"groups eq "g2""#, &["U4"]),
                (r#"groups.value eq "G1""#, &[]),
                (r#"groups.value ne "g2""#, &["u1"]),
                (r#"groups.display eq "STAFF""#, &["U4"]),
                (r#"groups[display sw "adm"]"#, &["u1", "U4"]),
                ("groups pr", &["u1", "U4"]),
                ("not (groups pr)", &["u2", "u3"]),
                (r#"groups.value eq "g1b""#, &[]),
            ],
        );
        assert!(err(r#"groups.type eq "direct""#).contains("groups.type"));
        assert!(err(r#"groups[type eq "direct"]"#).contains("'value' or 'display'"));
    }

    #[test]
    fn group_filters() {
        let c = db();
        let cases: &[(&str, &[&str])] = &[
            (r#"displayName eq "ADMINS""#, &["g1", "g3"]),
            (r#"displayName sw "st""#, &["g2"]),
            (r#"externalId eq "gx-1""#, &["g1"]),
            (r#"externalId eq "GX-1""#, &[]),
            (r#"id eq "g2""#, &["g2"]),
            (r#"members.value eq "u1""#, &["g1"]),
            (r#"members.value eq "g2""#, &["g1"]),
            (r#"members eq "U4""#, &["g2"]),
            (r#"members.value eq "u1b""#, &[]),
            (r#"members[type eq "group"]"#, &["g1"]),
            (r#"members[type eq "User" and value eq "U4"]"#, &["g2"]),
            (r#"members.type eq "user""#, &["g1", "g2"]),
            ("members pr", &["g1", "g2"]),
            ("not (members pr)", &["g3"]),
            (
                r#"meta.lastModified gt "2026-01-02T00:00:00Z""#,
                &["g2", "g3"],
            ),
            (r#"meta.resourceType eq "Group""#, &["g1", "g2", "g3"]),
            (
                r#"displayName eq "Admins" and members.value eq "u1""#,
                &["g1"],
            ),
        ];
        for (filter, want) in cases {
            assert_eq!(group_ids(&c, filter), *want, "filter: {filter}");
        }
        for (bad, needle) in [
            (r#"userName eq "x""#, "userName"),
            (r#"members.display eq "x""#, "members.display"),
            (r#"members[display eq "x"]"#, "'value' or 'type'"),
            (r#"members gt "x""#, "members"),
        ] {
            let e = compile_groups(&parse(bad).unwrap()).expect_err(bad);
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidFilter)
            );
            assert!(e.detail.contains(needle), "{bad}: {}", e.detail);
        }
    }

    #[test]
    fn logic_and_precedence() {
        let c = db();
        check(
            &c,
            &[
                (
                    r#"title pr and userName sw "b" or id eq "u2""#,
                    &["u1", "u2"],
                ),
                (r#"title pr and (userName sw "b" or id eq "u2")"#, &["u1"]),
                (r#"not (title eq "boss")"#, &["u1", "u2", "U4"]),
                (r#"not (title ne "boss")"#, &["u2", "u3", "U4"]),
                (r#"not (not (title ne "boss"))"#, &["u1"]),
                (
                    r#"not (externalId eq "ext-1") and active eq true"#,
                    &["u3", "U4"],
                ),
                (
                    r#"emails.value eq "babs@home.org" or userName eq "jsmith""#,
                    &["u1", "u2"],
                ),
            ],
        );
    }

    #[test]
    fn errors_name_the_attribute() {
        assert_eq!(
            err(r#"shoeSize eq "x""#),
            "unknown attribute 'shoeSize' in filter (at column 1)"
        );
        assert!(err(r#"userName eq "a" and name.shoe pr"#)
            .starts_with("unknown attribute 'name.shoe' in filter (at column 21)"));
        assert!(err(r#"urn:example:x:userName eq "a""#).contains("unknown attribute"));
        assert!(err(r#"password eq "secret""#).contains("'password' is never returned"));
        assert!(err(r#"name gt "a""#).contains("complex"));
        assert!(err(r#"name eq "a""#).contains("complex"));
        assert!(err(r#"x509Certificates.value gt "a""#).contains("binary"));
        assert!(err("userName eq true").contains("compare it with a string"));
    }

    #[test]
    fn no_client_text_reaches_the_sql() {
        let nasty = r#"x'); DROP TABLE scim_user; --"#;
        let c = db();
        for f in [
            format!(r#"USERNAME eq "{nasty}""#),
            format!(r#"title co "{nasty}""#),
            format!(r#"emails[TYPE eq "{nasty}" and value sw "{nasty}"]"#),
            format!(
                r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER ew "{nasty}""#
            ),
        ] {
            let w = compile_users(&parse(&f).unwrap()).unwrap();
            for bad in [
                "DROP",
                "USERNAME",
                "TYPE",
                "EMPLOYEENUMBER",
                "employeeNumber",
                "\"",
            ] {
                // `"` appears only in the constant meta.version expression.
                assert!(!w.sql.contains(bad), "{bad} in {}", w.sql);
            }
            assert_eq!(run(&c, &w).unwrap(), Vec::<String>::new());
        }
        let n: i64 = c
            .query_row("SELECT count(*) FROM scim_user", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 5);
    }

    #[test]
    fn params_follow_text_order_after_the_integration_id() {
        let w = compile_users(&parse(r#"title eq "a" and emails.value eq "b""#).unwrap()).unwrap();
        assert_eq!(
            w.sql,
            "(lower(json_extract(u.resource, ?)) = ? AND (u.id IN (SELECT s.id FROM scim_user_email e JOIN scim_user s ON s.seq = e.user_seq WHERE e.integration_id = ?1 AND e.value_fold = ?)))"
        );
        assert_eq!(
            w.params,
            vec![
                SqlValue::Text("$.\"title\"".into()),
                SqlValue::Text("a".into()),
                SqlValue::Text("b".into()),
            ]
        );
    }

    // -------------------------------------------------------- query plans

    fn plan(conn: &Connection, sql: &str, params: &[SqlValue]) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut all = vec![SqlValue::Text("int_a".into())];
        all.extend(params.iter().cloned());
        let rows = stmt
            .query_map(params_from_iter(all), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows.join("\n")
    }

    fn assert_indexed(filter: &str, index: &str) {
        let c = db();
        let w = compile_users(&parse(filter).unwrap()).unwrap();
        for tail in ["", " ORDER BY u.seq LIMIT 100"] {
            let sql = format!(
                "SELECT u.id FROM scim_user u WHERE u.integration_id = ?1 AND ({}){tail}",
                w.sql
            );
            let p = plan(&c, &sql, &w.params);
            // A scan, or a search on the integration id alone (every user of
            // the integration), is a miss.
            let miss = p.lines().any(|l| {
                l.starts_with("SCAN u")
                    || l.starts_with("SCAN s")
                    || l.starts_with("SCAN e")
                    || l.starts_with("SCAN scim_user")
                    || (l.starts_with("SEARCH u") && l.ends_with("(integration_id=?)"))
            });
            assert!(!miss, "{filter}{tail}: reads every user\n{p}");
            assert!(
                p.contains(&format!("USING INDEX {index}"))
                    || p.contains(&format!("USING COVERING INDEX {index}")),
                "{filter}{tail}: expected {index}\n{p}"
            );
        }
    }

    fn assert_group_indexed(c: &Connection, filter: &str, index: &str) {
        let w = compile_groups(&parse(filter).unwrap()).unwrap();
        for tail in ["", " ORDER BY g.seq LIMIT 100"] {
            let sql = format!(
                "SELECT g.id FROM scim_group g WHERE g.integration_id = ?1 AND ({}){tail}",
                w.sql
            );
            let p = plan(c, &sql, &w.params);
            let miss = p.lines().any(|l| {
                l.starts_with("SCAN g")
                    || l.starts_with("SCAN s")
                    || l.starts_with("SCAN m")
                    || (l.starts_with("SEARCH g") && l.ends_with("(integration_id=?)"))
            });
            assert!(!miss, "{filter}{tail}: reads every group\n{p}");
            assert!(
                p.contains(&format!("INDEX {index}")),
                "{filter}{tail}: expected {index}\n{p}"
            );
        }
    }

    /// Adds 20 000 users (with emails), 200 groups and their memberships to
    /// `int_a`, then `ANALYZE`: statistics shaped like a real deployment's
    /// (one integration holding everything, ids and names unique).
    fn large_stats(c: &Connection) {
        c.execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO scim_user(integration_id, id, user_name, user_name_fold, external_id,
                 primary_email, display_name, active, created, last_modified, resource)
             SELECT 'int_a', 'x' || i, 'user' || i, 'user' || i, 'ext' || i,
                 'user' || i || '@example.com', 'User ' || (i % 5000), i % 2,
                 '2026-01-01T00:00:00.000Z', printf('2026-01-%02dT00:00:00.000Z', i % 28 + 1), '{}'
             FROM n;
             INSERT INTO scim_user_email(user_seq, integration_id, value_fold, type, is_primary)
             SELECT seq, integration_id, primary_email, 'work', 1 FROM scim_user WHERE id LIKE 'x%';
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
             INSERT INTO scim_group(integration_id, id, display_name, external_id, created, last_modified, resource)
             SELECT 'int_a', 'grp' || i, 'Group ' || i, 'gext' || i,
                 '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '{}'
             FROM n;
             INSERT INTO membership(group_seq, member_user_seq)
             SELECT g.seq, u.seq FROM scim_user u JOIN scim_group g
               ON g.id = 'grp' || (u.seq % 200 + 1) WHERE u.id LIKE 'x%';
             INSERT INTO membership(group_seq, member_group_seq)
             SELECT g.seq, h.seq FROM scim_group g JOIN scim_group h
               ON h.id = 'grp' || (substr(g.id, 4) + 100) WHERE g.id LIKE 'grp%' AND substr(g.id, 4) <= 100;
             ANALYZE;",
        )
        .unwrap();
    }

    #[test]
    fn group_hot_eq_filters_use_their_index() {
        for analyzed in [false, true] {
            let c = db();
            if analyzed {
                large_stats(&c);
            }
            assert_group_indexed(&c, r#"displayName eq "Admins""#, "scim_group_display_name");
            assert_group_indexed(&c, r#"externalId eq "gx-1""#, "scim_group_external_id");
            assert_group_indexed(&c, r#"id eq "g1""#, "scim_group_id");
            assert_group_indexed(&c, r#"members.value eq "u1""#, "scim_user_id");
            assert_group_indexed(&c, r#"members.value eq "u1""#, "membership_by_user");
            assert_group_indexed(&c, r#"members[value eq "g2"]"#, "membership_by_group");
        }
    }

    #[test]
    fn user_eq_filters_use_their_index_with_statistics() {
        let c = db();
        large_stats(&c);
        for (filter, index) in [
            (r#"userName eq "bjensen""#, "scim_user_name"),
            (r#"externalId eq "ext-1""#, "scim_user_external_id"),
            (
                r#"userName eq "bjensen" or externalId eq "ext-1""#,
                "scim_user_external_id",
            ),
            (r#"displayName eq "babs jensen""#, "scim_user_display_name"),
            (
                r#"emails.value eq "bjensen@example.com""#,
                "scim_user_email_value",
            ),
            (r#"groups.value eq "g1""#, "scim_group_id"),
            (
                r#"meta.lastModified gt "2026-01-28T00:00:00Z""#,
                "scim_user_last_modified",
            ),
        ] {
            let w = compile_users(&parse(filter).unwrap()).unwrap();
            let sql = format!(
                "SELECT u.id FROM scim_user u WHERE u.integration_id = ?1 AND ({}) ORDER BY u.seq LIMIT 100",
                w.sql
            );
            let p = plan(&c, &sql, &w.params);
            assert!(p.contains(index), "{filter}: expected {index}\n{p}");
            assert!(
                !p.lines().any(|l| l.starts_with("SCAN u")),
                "{filter}: scans\n{p}"
            );
        }
    }

    #[test]
    fn hot_eq_filters_use_their_index() {
        assert_indexed(r#"userName eq "bjensen""#, "scim_user_name");
        assert_indexed(r#"userName sw "bj""#, "scim_user_name");
        assert_indexed(r#"externalId eq "ext-1""#, "scim_user_external_id");
        assert_indexed(r#"id eq "u1""#, "scim_user_id");
        assert_indexed(
            r#"emails.value eq "bjensen@example.com""#,
            "scim_user_email_value",
        );
        assert_indexed(
            r#"emails[type eq "work" and value eq "bjensen@example.com"]"#,
            "scim_user_email_value",
        );
        assert_indexed(r#"displayName eq "babs jensen""#, "scim_user_display_name");
        assert_indexed(r#"displayName sw "babs""#, "scim_user_display_name");
        assert_indexed(
            r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
            "scim_user_last_modified",
        );
    }

    // -------------------------------------------------------- sortBy

    fn sorted(conn: &Connection, by: &str, desc: bool) -> Vec<String> {
        let k = sort_key_users(&AttrPath::parse(by).unwrap()).unwrap();
        let dir = if desc {
            "DESC NULLS FIRST"
        } else {
            "ASC NULLS LAST"
        };
        let sql = format!(
            "SELECT u.id FROM scim_user u WHERE u.integration_id = ?1 ORDER BY {} {dir}, u.id",
            k.sql
        );
        let mut params = vec![SqlValue::Text("int_a".into())];
        params.extend(k.params);
        let mut stmt = conn
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{by}: {e}\n{sql}"));
        let rows = stmt
            .query_map(params_from_iter(params), |r| r.get::<_, String>(0))
            .unwrap();
        rows.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn sort_keys() {
        let c = db();
        let cases: &[(&str, &[&str])] = &[
            ("userName", &["U4", "u1", "u2", "u3"]),
            ("displayName", &["u1", "u2", "U4", "u3"]),
            ("externalId", &["u2", "u1", "U4", "u3"]),
            ("name.familyName", &["u1", "u2", "U4", "u3"]),
            ("title", &["u3", "u1", "U4", "u2"]),
            ("emails", &["u1", "u2", "U4", "u3"]),
            ("emails.value", &["u1", "u2", "U4", "u3"]),
            ("emails.type", &["u3", "u1", "u2", "U4"]),
            ("addresses.locality", &["U4", "u1", "u2", "u3"]),
            ("meta.lastModified", &["u1", "u2", "u3", "U4"]),
            ("meta.version", &["u2", "u3", "U4", "u1"]),
            ("active", &["u2", "U4", "u1", "u3"]),
            (&format!("{ENT}:employeeNumber"), &["u2", "u1", "U4", "u3"]),
            ("manager.value", &["u1", "U4", "u2", "u3"]),
        ];
        for (by, want) in cases {
            assert_eq!(sorted(&c, by, false), *want, "sortBy {by}");
        }
        assert_eq!(
            sorted(&c, "meta.lastModified", true),
            ["U4", "u3", "u2", "u1"]
        );
        for bad in ["shoeSize", "password", "name", "meta.location"] {
            let e = sort_key_users(&AttrPath::parse(bad).unwrap()).expect_err(bad);
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidValue)
            );
            assert!(e.detail.contains(bad), "{}", e.detail);
        }
    }

    #[test]
    fn sort_by_user_name_walks_the_index() {
        let c = db();
        let k = sort_key_users(&AttrPath::parse("userName").unwrap()).unwrap();
        let p = plan(
            &c,
            &format!(
                "SELECT u.id FROM scim_user u WHERE u.integration_id = ?1 ORDER BY {} ASC NULLS LAST, u.id LIMIT 10",
                k.sql
            ),
            &k.params,
        );
        assert!(p.contains("scim_user_name"), "{p}");
    }

    // -------------------------------------------------------- properties

    fn known_path() -> impl Strategy<Value = AttrPath> {
        let names = vec![
            "userName",
            "USERNAME",
            "displayName",
            "externalId",
            "id",
            "active",
            "title",
            "nickName",
            "name",
            "name.familyName",
            "name.givenName",
            "emails",
            "emails.value",
            "emails.type",
            "emails.primary",
            "emails.display",
            "phoneNumbers.value",
            "addresses.locality",
            "addresses.primary",
            "x509Certificates.value",
            "groups.value",
            "groups.$ref",
            "meta",
            "meta.created",
            "meta.lastModified",
            "meta.version",
            "meta.resourceType",
            "meta.location",
            "password",
            "shoeSize",
            "employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.$ref",
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        ];
        prop::sample::select(names).prop_map(|s| AttrPath::parse(s).unwrap())
    }

    fn inner_path() -> impl Strategy<Value = AttrPath> {
        prop::sample::select(vec![
            "value", "type", "primary", "display", "locality", "nope",
        ])
        .prop_map(AttrPath::simple)
    }

    fn literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "", "b", "J", "jensen", "example", "@", "work", "%", "_", "\\", "'", "é",
                "2026-02-10T12:00:00Z", "2026-01-05T00:00:00.0001+01:00", "True", "42",
            ]).prop_map(|s| Literal::Str(s.to_string())),
            1 => any::<String>().prop_map(Literal::Str),
            1 => prop_oneof![
                any::<i64>().prop_map(serde_json::Number::from),
                any::<u64>().prop_map(serde_json::Number::from),
                (-1e6f64..1e6).prop_filter_map("finite", serde_json::Number::from_f64),
            ].prop_map(Literal::Num),
            1 => any::<bool>().prop_map(Literal::Bool),
            1 => Just(Literal::Null),
        ]
    }

    fn op() -> impl Strategy<Value = CompareOp> {
        prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ])
    }

    fn leaf(path: BoxedStrategy<AttrPath>) -> BoxedStrategy<Filter> {
        prop_oneof![
            1 => path.clone().prop_map(|path| Filter::Present { path, col: 0 }),
            4 => (path, op(), literal())
                .prop_map(|(path, op, value)| Filter::Compare { path, op, value, col: 0 }),
        ]
        .boxed()
    }

    fn tree(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
        leaf.prop_recursive(depth, 16, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                inner.prop_map(|a| Filter::Not(Box::new(a))),
            ]
        })
        .boxed()
    }

    fn any_filter() -> BoxedStrategy<Filter> {
        let vp = (
            prop::sample::select(vec![
                "emails",
                "addresses",
                "phoneNumbers",
                "name",
                "meta",
                "userName",
            ]),
            tree(leaf(inner_path().boxed()), 2),
        )
            .prop_map(|(p, f)| Filter::ValuePath {
                path: AttrPath::simple(p),
                filter: Box::new(f),
                col: 0,
            });
        let top = prop_oneof![3 => leaf(known_path().boxed()), 1 => vp].boxed();
        tree(top, 3)
    }

    /// String-only filters over attributes where SQL and the in-memory
    /// matcher must agree exactly (ASCII data, string literals).
    fn agreeing_filter() -> BoxedStrategy<Filter> {
        let path = prop::sample::select(vec![
            "userName",
            "displayName",
            "externalId",
            "id",
            "title",
            "nickName",
            "name.familyName",
            "name.givenName",
            "emails.value",
            "emails.type",
            "emails.display",
            "phoneNumbers.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ])
        .prop_map(|s| AttrPath::parse(s).unwrap());
        let text = prop_oneof![
            6 => prop::sample::select(vec![
                "", "b", "j", "J", "jensen", "Jensen", "example", "EXAMPLE.COM", "@", "work",
                "home", "%", "_", "\\", "u1", "U4", "ext-1", "EXT-2", "42", "5", "smith",
                "babs jensen", "555", "boss", "a%b", "x_y@z.org", "mgr_100%",
            ]).prop_map(|s| Literal::Str(s.to_string())),
            1 => Just(Literal::Null),
        ];
        let cmp = (path, op(), text.clone()).prop_filter_map(
            "no ordering by null",
            |(path, op, value)| {
                (!(op.is_ordering() && value == Literal::Null)).then_some(Filter::Compare {
                    path,
                    op,
                    value,
                    col: 0,
                })
            },
        );
        let top_leaf = prop_oneof![
            4 => cmp,
            1 => prop::sample::select(vec!["title", "emails", "name", "emails.type", "displayName"])
                .prop_map(|s| Filter::Present { path: AttrPath::parse(s).unwrap(), col: 0 }),
        ]
        .boxed();
        let inner_cmp = (
            prop::sample::select(vec!["value", "type", "display"]).prop_map(AttrPath::simple),
            op(),
            text,
        )
            .prop_filter_map("no ordering by null", |(path, op, value)| {
                (!(op.is_ordering() && value == Literal::Null)).then_some(Filter::Compare {
                    path,
                    op,
                    value,
                    col: 0,
                })
            });
        let inner_leaf = prop_oneof![
            4 => inner_cmp,
            1 => prop::sample::select(vec!["value", "type", "display"])
                .prop_map(|s| Filter::Present { path: AttrPath::simple(s), col: 0 }),
            1 => prop::sample::select(vec![
                (CompareOp::Eq, true), (CompareOp::Eq, false), (CompareOp::Ne, true), (CompareOp::Ne, false),
            ]).prop_map(|(op, v)| Filter::Compare {
                path: AttrPath::simple("primary"), op, value: Literal::Bool(v), col: 0,
            }),
        ]
        .boxed();
        let vp = tree(inner_leaf, 2).prop_map(|f| Filter::ValuePath {
            path: AttrPath::simple("emails"),
            filter: Box::new(f),
            col: 0,
        });
        tree(prop_oneof![4 => top_leaf, 1 => vp].boxed(), 3)
    }

    fn in_memory(filter: &Filter) -> Vec<String> {
        users()
            .into_iter()
            .filter(|u| u.int == "int_a")
            .filter(|u| {
                let mut doc = u.resource.clone();
                doc["id"] = json!(u.id);
                crate::scim::filter::matches_element(filter, &doc, &|n: &str| {
                    n == "id" || n == "externalId"
                })
            })
            .map(|u| u.id.to_string())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn compiled_sql_always_prepares_and_runs(f in any_filter()) {
            let c = db();
            if let Ok(w) = compile_users(&f) {
                let res = run(&c, &w);
                prop_assert!(res.is_ok(), "{f}\n{}\n{:?}", w.sql, res);
            }
        }

        #[test]
        fn sql_agrees_with_the_in_memory_matcher(f in agreeing_filter()) {
            let c = db();
            let w = compile_users(&f).map_err(|e| TestCaseError::fail(format!("{f}: {e}")))?;
            let got = run(&c, &w).map_err(|e| TestCaseError::fail(format!("{f}: {e}")))?;
            prop_assert_eq!(got, in_memory(&f), "filter {} compiled to {}", f, w.sql);
        }
    }
}
