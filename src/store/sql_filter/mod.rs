//! Compiles a parsed SCIM filter ([`Filter`]) into one parameterised SQL
//! boolean expression over a resource table, and a `sortBy` path into an
//! ORDER BY key (DESIGN.md principle 3: filters run in SQL, no client text is
//! ever concatenated into SQL). One phase a file: `tables` says what each
//! table keeps where and resolves a path to it, `compile` turns the filter
//! tree into SQL, `coerce` fits a literal to the attribute's type, `sort`
//! builds the ORDER BY key. The SQL builder and the shapes the phases share
//! live here. May import `scim/` only.
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

mod coerce;
mod compile;
#[cfg(test)]
mod differential;
mod sort;
mod tables;
#[cfg(test)]
mod tests;

pub use compile::{compile, compile_groups, compile_users, compile_with_dialects};
pub use sort::{sort_key, sort_key_groups, sort_key_users, sort_spec, SortKey};
pub use tables::{HotColumn, Kind, SideColumn, SideTable, TableDef, GROUPS, USERS};

/// A piece of SQL and its parameters, in text order (see the module docs for
/// how placeholders are numbered).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlWhere {
    pub sql: String,
    pub params: Vec<SqlValue>,
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
