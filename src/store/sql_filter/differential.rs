//! Differential property: on random users and random filters, the compiled
//! SQL (run by `store::search` against an in-memory database migrated with
//! `schema.sql`, the users inserted by `store::users::insert`) selects
//! exactly the users the in-memory matcher (`scim::filter::matches_element`)
//! selects. Data and literals come from one small ASCII alphabet so that
//! comparisons often hit, and the filters stay inside the semantics both
//! sides document as shared (strings; no `active`, no direct comparison of a
//! complex attribute, no coercion of literals).

use super::USERS;
use crate::scim::attrpath::AttrPath;
use crate::scim::filter::{matches_element, CompareOp, Filter, Literal};
use crate::scim::resource::normalize;
use crate::scim::schema::{ENTERPRISE_USER_URN, USER_TYPE};
use crate::store::audit::Actor;
use crate::store::search::{self, Query, Window};
use crate::store::{integrations, migrate, users};
use proptest::prelude::*;
use rusqlite::Connection;
use serde_json::{json, Map, Value};

const WORDS: [&str; 14] = [
    "", "a", "A", "ab", "aB", "b", "ba", "%", "_", "a_b", "a%", "x@y.org", "X@y.ORG", "\\",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(WORDS.to_vec()).prop_map(str::to_string),
        1 => "[abAB%_@.]{0,3}",
    ]
}

#[derive(Debug, Clone)]
struct Email {
    value: Option<String>,
    ty: Option<String>,
    display: Option<String>,
    primary: bool,
}

fn email() -> impl Strategy<Value = Email> {
    (
        prop::option::of(word()),
        prop::option::of(prop::sample::select(vec!["work", "home", "Work", "a"])),
        prop::option::of(word()),
        any::<bool>(),
    )
        .prop_map(|(value, ty, display, primary)| Email {
            value,
            ty: ty.map(str::to_string),
            display,
            primary,
        })
}

/// A user body: every optional attribute may be missing.
fn user() -> impl Strategy<Value = Value> {
    (
        word(),
        prop::option::of(word()),
        prop::option::of(word()),
        prop::option::of(word()),
        (prop::option::of(word()), prop::option::of(word())),
        prop::collection::vec(email(), 0..3),
        prop::option::of(word()),
        prop::option::of(word()),
    )
        .prop_map(
            |(user_name, display, external, title, (given, family), emails, phone, employee)| {
                let mut u = Map::new();
                u.insert("userName".into(), json!(user_name));
                let mut put = |k: &str, v: Option<String>| {
                    if let Some(v) = v {
                        u.insert(k.into(), json!(v));
                    }
                };
                put("displayName", display);
                put("externalId", external);
                put("title", title);
                let mut name = Map::new();
                if let Some(g) = given {
                    name.insert("givenName".into(), json!(g));
                }
                if let Some(f) = family {
                    name.insert("familyName".into(), json!(f));
                }
                u.insert("name".into(), Value::Object(name));
                let emails: Vec<Value> = emails
                    .into_iter()
                    .map(|e| {
                        let mut m = Map::new();
                        if let Some(v) = e.value {
                            m.insert("value".into(), json!(v));
                        }
                        if let Some(t) = e.ty {
                            m.insert("type".into(), json!(t));
                        }
                        if let Some(d) = e.display {
                            m.insert("display".into(), json!(d));
                        }
                        if e.primary {
                            m.insert("primary".into(), json!(true));
                        }
                        Value::Object(m)
                    })
                    .collect();
                u.insert("emails".into(), Value::Array(emails));
                if let Some(p) = phone {
                    u.insert("phoneNumbers".into(), json!([{"value": p}]));
                }
                if let Some(n) = employee {
                    u.insert(ENTERPRISE_USER_URN.into(), json!({"employeeNumber": n}));
                }
                Value::Object(u)
            },
        )
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

fn compare(paths: Vec<&'static str>) -> BoxedStrategy<Filter> {
    let value = prop_oneof![6 => word().prop_map(Literal::Str), 1 => Just(Literal::Null)];
    (prop::sample::select(paths), op(), value)
        .prop_filter_map("no ordering by null", |(path, op, value)| {
            (!(op.is_ordering() && value == Literal::Null)).then(|| Filter::Compare {
                path: AttrPath::parse(path).expect("a valid path"),
                op,
                value,
                col: 0,
            })
        })
        .boxed()
}

fn tree(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
    .boxed()
}

fn filter() -> BoxedStrategy<Filter> {
    let top = compare(vec![
        "userName",
        "displayName",
        "externalId",
        "title",
        "name.givenName",
        "name.familyName",
        "emails.value",
        "emails.type",
        "emails.display",
        "phoneNumbers.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    ]);
    let present = prop::sample::select(vec![
        "title",
        "emails",
        "name",
        "name.givenName",
        "emails.value",
        "emails.display",
        "phoneNumbers",
        "displayName",
    ])
    .prop_map(|p| Filter::Present {
        path: AttrPath::parse(p).expect("a valid path"),
        col: 0,
    });
    let primary = prop::sample::select(vec![
        (CompareOp::Eq, true),
        (CompareOp::Eq, false),
        (CompareOp::Ne, true),
        (CompareOp::Ne, false),
    ])
    .prop_map(|(op, v)| Filter::Compare {
        path: AttrPath::simple("primary"),
        op,
        value: Literal::Bool(v),
        col: 0,
    });
    let inner_leaf = prop_oneof![
        4 => compare(vec!["value", "type", "display"]),
        1 => prop::sample::select(vec!["value", "type", "display", "primary"])
            .prop_map(|p| Filter::Present { path: AttrPath::simple(p), col: 0 }),
        1 => primary,
    ]
    .boxed();
    let value_path = tree(inner_leaf, 2).prop_map(|f| Filter::ValuePath {
        path: AttrPath::simple("emails"),
        filter: Box::new(f),
        col: 0,
    });
    tree(
        prop_oneof![4 => top, 1 => present, 1 => value_path].boxed(),
        3,
    )
}

/// Inserts what normalises and is accepted (userNames are unique
/// case-insensitively, so some random users are refused); returns each
/// stored user as the in-memory matcher sees it (with its id).
fn load(conn: &Connection, bodies: &[Value]) -> Vec<(String, Value)> {
    migrate::apply(conn).expect("schema.sql applies");
    integrations::create(conn, "int_a", "A").expect("integration");
    let actor = Actor::scim("proptest");
    let mut stored = Vec::new();
    for (n, body) in bodies.iter().enumerate() {
        let Ok(resource) = normalize(&USER_TYPE, body) else {
            continue;
        };
        let id = format!("u{n}");
        if users::insert(conn, "int_a", &id, &resource, &actor).is_ok() {
            let mut doc = resource;
            doc["id"] = json!(id);
            stored.push((id, doc));
        }
    }
    stored
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sql_agrees_with_the_in_memory_matcher_on_random_users(
        bodies in prop::collection::vec(user(), 1..8),
        filters in prop::collection::vec(filter(), 1..8),
    ) {
        let conn = Connection::open_in_memory().expect("in-memory database");
        let stored = load(&conn, &bodies);
        for f in &filters {
            let q = Query {
                filter: Some(f),
                sort_by: None,
                descending: false,
                window: Window::Offset { offset: 0, limit: 100 },
            };
            let page = search::run(&conn, &USERS, "u.id", "int_a", &q, |r| r.get::<_, String>(0))
                .map_err(|e| TestCaseError::fail(format!("{f}: {e}")))?;
            let mut got = page.items;
            got.sort();
            let mut want: Vec<String> = stored
                .iter()
                .filter(|(_, doc)| {
                    matches_element(f, doc, &|n: &str| n == "id" || n == "externalId")
                })
                .map(|(id, _)| id.clone())
                .collect();
            want.sort();
            prop_assert_eq!(
                &got, &want,
                "filter {} over {}", f, serde_json::to_string(&stored.iter().map(|s| &s.1).collect::<Vec<_>>()).unwrap_or_default()
            );
            prop_assert_eq!(page.total as usize, want.len());
        }
    }
}
