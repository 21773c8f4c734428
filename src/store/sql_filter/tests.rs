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
    conn.execute_batch(include_str!("../../../schema.sql"))
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
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
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
    let cmp =
        (path, op(), text.clone()).prop_filter_map("no ordering by null", |(path, op, value)| {
            (!(op.is_ordering() && value == Literal::Null)).then_some(Filter::Compare {
                path,
                op,
                value,
                col: 0,
            })
        });
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
