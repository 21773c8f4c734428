//! The filter tree to SQL: each comparison on its column, side table or
//! JSON path, value filters as one EXISTS over the element, all text from
//! `&'static str` pieces and every value a parameter.

use super::coerce::coerce;
use super::*;

/// Compiles a parsed filter for the Users table (alias `u`). The result is a
/// boolean expression that is true exactly for matching rows (it may be NULL
/// where it means false, which `WHERE` treats as false; wrap it in
/// `(...) IS TRUE` before negating it yourself). Parameters: see the module
/// docs (`?1` is the integration id, the rest are anonymous `?` in text
/// order). Errors are 400 `invalidFilter` naming the attribute.
pub fn compile_users(filter: &Filter) -> Result<SqlWhere, ScimError> {
    compile(&USERS, filter)
}

/// [`compile_users`] for Groups (alias `g`).
pub fn compile_groups(filter: &Filter) -> Result<SqlWhere, ScimError> {
    compile(&GROUPS, filter)
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

// ------------------------------------------------------------ compiler

pub(super) struct Compiler<'t> {
    pub(super) t: &'t TableDef,
    /// Dialects met so far (see [`compile_with_dialects`]); a cell because
    /// compiling only reads the compiler otherwise.
    pub(super) dialects: RefCell<Vec<&'static str>>,
}

pub(super) enum Leaf<'f> {
    Present,
    Compare(CompareOp, &'f Literal),
}

impl Compiler<'_> {
    pub(super) fn filter(&self, b: &mut Sql, f: &Filter, scope: &Scope) -> Result<(), ScimError> {
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

    pub(super) fn resolve_top(
        &self,
        path: &AttrPath,
        col: usize,
    ) -> Result<(Resolved, String), ScimError> {
        let label = label_of(path);
        let r = crate::scim::schema::resolve(self.t.rt, path)
            .ok_or_else(|| filter_err(format!("unknown attribute '{label}' in filter"), col))?;
        check_returned(&r).map_err(|d| filter_err(d, col))?;
        Ok((r, label))
    }

    /// A path inside `parent[...]`: a plain sub-attribute name.
    pub(super) fn resolve_inner(
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

    pub(super) fn leaf(
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

    pub(super) fn value_path(
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

    pub(super) fn emit(&self, b: &mut Sql, x: &Scalar) {
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

    pub(super) fn each_open(&self, b: &mut Sql, array: &str) {
        b.s("EXISTS (SELECT 1 FROM json_each(")
            .s(self.t.resource)
            .s(", ")
            .text_param(array)
            .s(") j WHERE ");
    }

    pub(super) fn side_open(&self, b: &mut Sql, side: &SideTable, negated: bool) {
        b.s(side.key)
            .s(if negated { " NOT IN (" } else { " IN (" })
            .s(side.select)
            .s(" AND ");
    }

    /// Present: not null and not empty.
    pub(super) fn present_scalar(&self, b: &mut Sql, x: &Scalar) {
        b.s("COALESCE(");
        self.emit(b, x);
        b.s(", '') <> ''");
    }

    pub(super) fn present(&self, b: &mut Sql, t: &Target) {
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

    pub(super) fn compare(&self, b: &mut Sql, t: &Target, op: CompareOp, lit: &Lit) {
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
    pub(super) fn cmp(&self, b: &mut Sql, x: &Scalar, kind: Kind, op: CompareOp, lit: &Lit) {
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

    pub(super) fn cmp_text(&self, b: &mut Sql, x: &Scalar, kind: Kind, op: CompareOp, text: &str) {
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
pub(super) fn side_ok(side: &SideTable, f: &Filter) -> bool {
    pub(super) fn leaves_ok(side: &SideTable, f: &Filter) -> bool {
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
    pub(super) fn needs_value(f: &Filter) -> bool {
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
pub(super) fn side_names(side: &SideTable) -> String {
    let names: Vec<String> = side
        .columns
        .iter()
        .map(|c| format!("'{}'", c.sub))
        .collect();
    names.join(" or ")
}
