//! Filter to SQL, executed: a filter (and a sortBy path) parsed as the
//! server parses them, compiled by `store::search` and run against an
//! in-memory database migrated with `schema.sql` and holding a few users and
//! groups. A filter may be refused only with a 4xx `ScimError`; any SQLite
//! error (a statement that does not prepare, a bad parameter count, a type
//! error at run time) is a bug in the compiler.
//!
//! Input: the first byte holds flags (bit 0: Groups, bit 1: descending,
//! bit 2: cursor paging); the rest is the filter, then optionally a newline
//! and the sortBy path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusqlite::Connection;
use scimd::scim::attrpath::AttrPath;
use scimd::scim::filter::parse_with_dialects;
use scimd::scim::schema::{GROUP_TYPE, USER_TYPE};
use scimd::scim::{intake, resource};
use scimd::store::audit::Actor;
use scimd::store::search::{self, Query, Window};
use scimd::store::{groups, integrations, migrate, sql_filter, users, StoreError};
use serde_json::json;

fn database() -> Connection {
    let conn = Connection::open_in_memory().expect("in-memory database");
    migrate::apply(&conn).expect("schema.sql applies");
    let actor = Actor::scim("fuzz");
    for int in ["int_a", "int_b"] {
        integrations::create(&conn, int, int).expect("integration");
    }
    let people = [
        json!({"userName": "BJensen", "externalId": "ext-1", "displayName": "Babs Jensen",
               "name": {"familyName": "Jensen", "givenName": "Barbara"}, "title": "Tour Guide",
               "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                          {"value": "babs@home.org", "type": "home"}],
               "phoneNumbers": [{"value": "555-0100", "type": "mobile"}],
               "addresses": [{"locality": "Paris", "primary": true}],
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                   {"employeeNumber": "701984", "manager": {"value": "u3"}}}),
        json!({"userName": "jsmith", "active": false, "emails": [{"value": "J@Example.com"}]}),
        json!({"userName": "a%b_c\\d", "displayName": "élodie", "title": "boss"}),
    ];
    let mut ids = Vec::new();
    for (n, p) in people.iter().enumerate() {
        let body = intake::read(&USER_TYPE, p).expect("seed").body;
        let r = resource::normalize(&USER_TYPE, &body).expect("seed user");
        let id = format!("u{n}");
        users::insert(&conn, "int_a", &id, &r, &actor).expect("insert user");
        ids.push(id);
    }
    let g = resource::normalize(&GROUP_TYPE, &json!({"displayName": "Admins"})).expect("group");
    let members: Vec<_> = ids
        .iter()
        .map(|id| scimd::scim::patch::MemberRef {
            value: id.clone(),
            kind: Some("User".into()),
        })
        .collect();
    groups::insert(&conn, "int_a", "g1", &g, &members, &actor).expect("insert group");
    let g2 = resource::normalize(
        &GROUP_TYPE,
        &json!({"displayName": "Staff", "externalId": "x"}),
    )
    .expect("group");
    groups::insert(&conn, "int_a", "g2", &g2, &[], &actor).expect("insert group");
    conn
}

thread_local! {
    static DB: Connection = database();
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (filter_text, sort_text) = match text.split_once('\n') {
        Some((f, s)) => (f, Some(s)),
        None => (text, None),
    };
    let filter = match parse_with_dialects(filter_text) {
        Ok((f, _)) => f,
        Err(_) => return,
    };
    let sort_by = sort_text.and_then(|s| AttrPath::parse(s).ok());
    let table = if flags & 1 == 0 {
        &sql_filter::USERS
    } else {
        &sql_filter::GROUPS
    };
    let columns = if flags & 1 == 0 { "u.id" } else { "g.id" };
    let window = if flags & 4 == 0 {
        Window::Offset {
            offset: 0,
            limit: 50,
        }
    } else {
        Window::After {
            after: None,
            limit: 50,
        }
    };
    let q = Query {
        filter: Some(&filter),
        sort_by: sort_by.as_ref(),
        descending: flags & 2 != 0,
        window,
    };
    DB.with(|conn| {
        match search::run(conn, table, columns, "int_a", &q, |r| r.get::<_, String>(0)) {
            Ok(_) => {}
            Err(StoreError::Scim(e)) => {
                assert!((400..500).contains(&e.status), "{filter}: {e}")
            }
            Err(e) => panic!("{filter} (sortBy {sort_by:?}): {e}"),
        }
    });
});
