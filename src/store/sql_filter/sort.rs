//! `sortBy` as an ORDER BY key: an indexed column when the attribute has
//! one, otherwise the JSON value, with nulls last either way.

use super::compile::Compiler;
use super::*;

/// A `sortBy` key: the expression, and whether it can be NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub key: SqlWhere,
    pub nullable: bool,
}

/// The ORDER BY expression for `sortBy` on Users (any attribute, including
/// sub-attributes and extension attributes); text built only from constants,
/// JSON paths as anonymous `?` params. Multi-valued attributes sort by their
/// primary value (else the first). The caller adds direction, `NULLS LAST`
/// (ascending) and the tie-breaker. Errors are 400 `invalidValue`.
pub fn sort_key_users(path: &AttrPath) -> Result<SqlWhere, ScimError> {
    sort_key(&USERS, path)
}

/// [`sort_key_users`] for Groups.
pub fn sort_key_groups(path: &AttrPath) -> Result<SqlWhere, ScimError> {
    sort_key(&GROUPS, path)
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
    pub(super) fn done(b: Sql, nullable: bool) -> Result<SortKey, ScimError> {
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
