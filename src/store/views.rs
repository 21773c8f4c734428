//! The read-only SQL views of `schema.sql` (migration 7): `v_users`,
//! `v_groups`, `v_memberships` and `v_entitlements`, the stable interface
//! for local applications that open the file directly (README, "SQL
//! views"). scimd itself never reads them; this module holds their tests,
//! which pin the columns and the rules (live records only, one entitlement
//! row per role, a role-less entitled user as one row with role NULL).

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection};

    /// Two integrations; in `int_a`: ann (entitled, roles door+desk, PIN),
    /// bob (entitled, no role), cy (not entitled), dee (deprovisioned),
    /// eve (entitled and held); group staff holds ann, dee and group ops.
    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        crate::store::integrations::create(&conn, "int_a", "a").unwrap();
        crate::store::integrations::create(&conn, "int_b", "b").unwrap();
        let user = |seq: i64,
                    integration: &str,
                    name: &str,
                    entitled: i64,
                    roles: &str,
                    pin: Option<&str>,
                    held: i64,
                    deprov: Option<&str>| {
            conn.execute(
                "INSERT INTO scim_user(seq, integration_id, id, user_name, user_name_fold, primary_email,
                     display_name, created, last_modified, resource, entitled, roles, pin, held, deprovisioned)
                 VALUES (?1, ?2, 'u-' || ?3, ?3, lower(?3), ?3 || '@example.com', upper(?3), 't', 't', '{}',
                         ?4, ?5, ?6, ?7, ?8)",
                params![seq, integration, name, entitled, roles, pin, held, deprov],
            )
            .unwrap();
        };
        user(
            1,
            "int_a",
            "ann",
            1,
            r#"["desk","door"]"#,
            Some("0042"),
            0,
            None,
        );
        user(2, "int_a", "bob", 1, "[]", None, 0, None);
        user(3, "int_a", "cy", 0, "[]", None, 0, None);
        user(
            4,
            "int_a",
            "dee",
            1,
            r#"["door"]"#,
            None,
            0,
            Some("2026-01-01T00:00:00.000Z"),
        );
        user(5, "int_a", "eve", 1, r#"["door"]"#, None, 1, None);
        user(6, "int_b", "ann", 1, r#"["door"]"#, None, 0, None);
        let group = |seq: i64, id: &str| {
            conn.execute(
                "INSERT INTO scim_group(seq, integration_id, id, display_name, created, last_modified, resource)
                 VALUES (?1, 'int_a', ?2, ?2, 't', 't', '{}')",
                params![seq, id],
            )
            .unwrap();
        };
        group(1, "staff");
        group(2, "ops");
        for (user_seq, group_seq) in [(Some(1), None), (Some(4), None), (None, Some(2))] {
            conn.execute(
                "INSERT INTO membership(group_seq, member_user_seq, member_group_seq) VALUES (1, ?1, ?2)",
                params![user_seq, group_seq],
            )
            .unwrap();
        }
        conn
    }

    fn strings(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn v_users_shows_live_users_with_their_local_state() {
        let conn = db();
        let names = strings(
            &conn,
            "SELECT user_name FROM v_users WHERE integration_id = 'int_a' ORDER BY user_name",
        );
        assert_eq!(names, ["ann", "bob", "cy", "eve"]);
        let (email, entitled, held, roles, pin): (String, bool, bool, String, String) = conn
            .query_row(
                "SELECT email, entitled, held, roles, pin FROM v_users
                 WHERE integration_id = 'int_a' AND id = 'u-ann'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(email, "ann@example.com");
        assert!(entitled && !held);
        assert_eq!(roles, r#"["desk","door"]"#);
        assert_eq!(pin, "0042");
    }

    #[test]
    fn v_groups_lists_each_group_once() {
        let conn = db();
        let groups = strings(&conn, "SELECT id FROM v_groups ORDER BY id");
        assert_eq!(groups, ["ops", "staff"]);
    }

    #[test]
    fn v_memberships_shows_user_and_group_members_but_not_deprovisioned_users() {
        let conn = db();
        let rows = strings(
            &conn,
            "SELECT group_id || ':' || member_type || ':' || member_id FROM v_memberships
             WHERE integration_id = 'int_a' ORDER BY 1",
        );
        assert_eq!(rows, ["staff:Group:ops", "staff:User:u-ann"]);
    }

    #[test]
    fn v_entitlements_has_one_row_per_role_and_one_null_role_row_for_a_roleless_user() {
        let conn = db();
        let rows = strings(
            &conn,
            "SELECT user_name || ':' || ifnull(role, 'NULL') || ':' || held FROM v_entitlements
             WHERE integration_id = 'int_a' ORDER BY 1",
        );
        assert_eq!(
            rows,
            ["ann:desk:0", "ann:door:0", "bob:NULL:0", "eve:door:1"]
        );
    }

    #[test]
    fn every_view_is_scoped_by_integration_id() {
        let conn = db();
        for view in ["v_users", "v_groups", "v_memberships", "v_entitlements"] {
            let n: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM {view} WHERE integration_id = 'int_b'"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            let expected = if matches!(view, "v_users" | "v_entitlements") {
                1
            } else {
                0
            };
            assert_eq!(n, expected, "{view}");
        }
    }
}
