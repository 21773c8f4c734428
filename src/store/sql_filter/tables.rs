//! The tables a filter runs over: which attributes have indexed columns
//! (and how they compare), which live in a side table, and how a path
//! resolves to one of them or to the resource JSON.

use super::*;

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

impl TableDef {
    pub(super) fn hot_column(&self, r: &Resolved) -> Option<&'static HotColumn> {
        if r.extension(self.rt).is_some() {
            return None;
        }
        let sub = r.sub.map(|s| s.name);
        let hot: &'static [HotColumn] = self.hot;
        hot.iter().find(|h| h.attr == r.attr.name && h.sub == sub)
    }

    pub(super) fn side_table(&self, attr: &AttrDef, r: &Resolved) -> Option<&'static SideTable> {
        if r.extension(self.rt).is_some() || !attr.multi_valued {
            return None;
        }
        let side: &'static [SideTable] = self.side;
        side.iter().find(|s| s.attr == attr.name)
    }

    /// Where the values of a resolved (top-level) path live. `Err` is a
    /// detail for a 400.
    pub(super) fn target(&self, r: &Resolved, label: String) -> Result<Target, String> {
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
