//! Queries over the wire (issue 4): filters on GET /Users and /Groups, sortBy
//! and sortOrder, index and cursor paging, POST /.search on one type and
//! across types, and the invariant that deprovisioned users never appear.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::HashSet;

const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// Percent-encodes a query parameter value (everything but RFC 3986
/// unreserved characters).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// GET /Users?<query>, asserting 200 and a ListResponse.
fn list(s: &TestServer, collection: &str, query: &str) -> Value {
    let r = s.get(&s.scim(&format!("/{collection}?{query}")), s.token());
    r.expect(200);
    assert_eq!(r.body["schemas"], json!([LIST_RESPONSE]), "{}", r.text);
    r.body
}

/// The userNames a filter selects, in response order.
fn names(s: &TestServer, filter: &str) -> Vec<String> {
    let body = list(s, "Users", &format!("filter={}", enc(filter)));
    let found = user_names(&body);
    assert_eq!(body["totalResults"], json!(found.len()), "{filter}: {body}");
    found
}

fn user_names(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .expect("Resources")
        .iter()
        .map(|u| u["userName"].as_str().expect("userName").to_string())
        .collect()
}

fn filter_error(s: &TestServer, filter: &str) -> String {
    let r = s.get(
        &s.scim(&format!("/Users?filter={}", enc(filter))),
        s.token(),
    );
    r.expect_error(400, Some("invalidFilter"));
    r.detail()
}

/// Five users with varied attributes, created in this order.
fn people(s: &TestServer) -> Vec<Value> {
    let bodies = [
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER],
            "userName": "bjensen@example.com",
            "externalId": "Ext-1",
            "displayName": "Babs Jensen",
            "title": "Tour Guide",
            "active": true,
            "name": {"familyName": "Jensen", "givenName": "Barbara"},
            "emails": [
                {"value": "bjensen@example.com", "type": "work", "primary": true},
                {"value": "babs@home.example.org", "type": "home"}
            ],
            ENTERPRISE_USER: {"employeeNumber": "701984", "manager": {"value": "boss-1"}}
        }),
        json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER],
            "userName": "jsmith@example.com",
            "externalId": "ext-2",
            "displayName": "John Smith",
            "active": false,
            "name": {"familyName": "Smith"},
            "emails": [{"value": "john@other.example.net", "type": "work"}],
            ENTERPRISE_USER: {"employeeNumber": "42"}
        }),
        json!({
            "schemas": [USER_SCHEMA],
            "userName": "mlee@example.com",
            "displayName": "Mary Lee",
            "title": "Boss",
        }),
        json!({
            "schemas": [USER_SCHEMA],
            "userName": "zed@example.org",
            "displayName": "babs jensen",
            "emails": [{"value": "zed@example.org", "type": "home"}],
        }),
        json!({
            "schemas": [USER_SCHEMA],
            "userName": "anon@example.org",
        }),
    ];
    bodies.iter().map(|b| s.create_user(b)).collect()
}

#[test]
fn each_filter_operator_on_users() {
    let s = TestServer::start();
    people(&s);
    let cases: &[(&str, &[&str])] = &[
        (
            r#"displayName eq "Babs Jensen""#,
            &["bjensen@example.com", "zed@example.org"],
        ),
        (
            r#"displayName ne "babs jensen""#,
            &["jsmith@example.com", "mlee@example.com"],
        ),
        (r#"title co "GUIDE""#, &["bjensen@example.com"]),
        (r#"userName sw "J""#, &["jsmith@example.com"]),
        (
            r#"userName ew ".org""#,
            &["zed@example.org", "anon@example.org"],
        ),
        ("title pr", &["bjensen@example.com", "mlee@example.com"]),
        (
            r#"userName gt "m""#,
            &["mlee@example.com", "zed@example.org"],
        ),
        (
            r#"userName ge "mlee@example.com""#,
            &["mlee@example.com", "zed@example.org"],
        ),
        (r#"userName lt "b""#, &["anon@example.org"]),
        (
            r#"userName le "bjensen@example.com""#,
            &["bjensen@example.com", "anon@example.org"],
        ),
        ("active eq false", &["jsmith@example.com"]),
        (
            r#"title pr and not (title eq "boss")"#,
            &["bjensen@example.com"],
        ),
        (
            r#"userName sw "z" or userName sw "a" and displayName pr"#,
            &["zed@example.org"],
        ),
        (
            r#"(userName sw "z" or userName sw "a") and not (displayName pr)"#,
            &["anon@example.org"],
        ),
        (r#"name.familyName eq "SMITH""#, &["jsmith@example.com"]),
        (r#"emails.value ew "example.com""#, &["bjensen@example.com"]),
        (
            "emails pr",
            &[
                "bjensen@example.com",
                "jsmith@example.com",
                "zed@example.org",
            ],
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(names(&s, filter), *want, "filter: {filter}");
    }
}

#[test]
fn idp_lookups_user_name_is_case_insensitive_external_id_is_exact() {
    let s = TestServer::start();
    people(&s);
    // Okta and Entra look users up before creating them.
    assert_eq!(
        names(&s, r#"userName eq "BJensen@Example.COM""#),
        ["bjensen@example.com"]
    );
    assert_eq!(
        names(&s, r#"USERNAME EQ "jsmith@example.com""#),
        ["jsmith@example.com"]
    );
    assert_eq!(
        names(&s, r#"externalId eq "Ext-1""#),
        ["bjensen@example.com"]
    );
    assert!(names(&s, r#"externalId eq "ext-1""#).is_empty());
    assert!(names(&s, r#"externalId eq "EXT-2""#).is_empty());
    assert!(names(&s, r#"userName eq "nobody@example.com""#).is_empty());
    // The Entra probe: an unknown user is an empty 200 list, not a 404.
    let body = list(
        &s,
        "Users",
        &format!("filter={}", enc(r#"userName eq "new@example.com""#)),
    );
    assert_eq!(body["totalResults"], 0);
    assert_eq!(body["Resources"], json!([]));
}

#[test]
fn value_path_enterprise_and_meta_filters() {
    let s = TestServer::start();
    let created = people(&s);
    assert_eq!(
        names(&s, r#"emails[type eq "work" and value co "@example.com"]"#),
        ["bjensen@example.com"]
    );
    assert_eq!(
        names(&s, r#"emails[type eq "home"]"#),
        ["bjensen@example.com", "zed@example.org"]
    );
    assert_eq!(
        names(&s, r#"emails[type eq "work" and value ew ".net"]"#),
        ["jsmith@example.com"]
    );
    assert_eq!(
        names(&s, &format!(r#"{ENTERPRISE_USER}:employeeNumber eq "42""#)),
        ["jsmith@example.com"]
    );
    assert_eq!(
        names(
            &s,
            &format!(r#"{ENTERPRISE_USER}:manager.value eq "boss-1""#)
        ),
        ["bjensen@example.com"]
    );
    assert_eq!(names(&s, r#"employeeNumber pr"#).len(), 2);
    // meta.lastModified compares as time: everything after the third user.
    let third = created[2]["meta"]["lastModified"]
        .as_str()
        .unwrap()
        .to_string();
    s.advance_clock(std::time::Duration::from_millis(20));
    s.create_user(&user("late@example.com"));
    let later = names(&s, &format!(r#"meta.lastModified gt "{third}""#));
    assert!(later.contains(&"late@example.com".to_string()), "{later:?}");
    assert!(
        !later.contains(&"bjensen@example.com".to_string()),
        "{later:?}"
    );
    assert!(
        !later.contains(&"mlee@example.com".to_string()),
        "{later:?}"
    );
    assert_eq!(
        names(&s, r#"meta.created lt "2000-01-01T00:00:00Z""#),
        Vec::<String>::new()
    );
    assert_eq!(names(&s, r#"meta.resourceType eq "User""#).len(), 6);
    let id = id_of(&created[1]);
    assert_eq!(
        names(&s, &format!(r#"id eq "{id}""#)),
        ["jsmith@example.com"]
    );
}

#[test]
fn invalid_filters_are_400_invalid_filter_naming_the_problem() {
    let s = TestServer::start();
    let d = filter_error(&s, r#"userName zz "x""#);
    assert!(d.contains("column 10"), "{d}");
    let d = filter_error(&s, r#"shoeSize eq "9""#);
    assert!(d.contains("shoeSize"), "{d}");
    let d = filter_error(&s, r#"emails[shoe eq "x"]"#);
    assert!(d.contains("emails.shoe"), "{d}");
    let d = filter_error(&s, "active gt 1");
    assert!(d.contains("active"), "{d}");
    let d = filter_error(&s, r#"meta.lastModified gt "yesterday""#);
    assert!(d.contains("meta.lastModified"), "{d}");
    filter_error(&s, r#"userName eq "unterminated"#);
    filter_error(&s, "password pr");
    // Bounds: length, nesting, number of comparisons.
    let long = format!(r#"userName eq "{}""#, "x".repeat(5000));
    let r = s.post_json(
        &s.scim("/Users/.search"),
        s.token(),
        &json!({"schemas": [SEARCH_REQUEST], "filter": long}),
    );
    r.expect_error(400, Some("invalidFilter"));
    let deep = format!("{}title pr{}", "(".repeat(40), ")".repeat(40));
    let d = filter_error(&s, &deep);
    assert!(d.contains("deeper"), "{d}");
    let many = vec![r#"title eq "x""#; 60].join(" or ");
    let d = filter_error(&s, &many);
    assert!(d.contains("comparisons"), "{d}");
}

#[test]
fn sort_by_ascending_descending_with_stable_ties() {
    let s = TestServer::start();
    for (name, display) in [
        ("u1", Some("beta")),
        ("u2", None),
        ("u3", Some("Alpha")),
        ("u4", Some("beta")),
        ("u5", Some("alpha")),
        ("u6", Some("BETA")),
    ] {
        let mut body = user(name);
        if let Some(d) = display {
            body["displayName"] = json!(d);
        }
        s.create_user(&body);
    }
    let asc = user_names(&list(&s, "Users", "sortBy=displayName"));
    // Case-insensitive, ties in creation order, missing values last.
    assert_eq!(asc, ["u3", "u5", "u1", "u4", "u6", "u2"]);
    let asc2 = user_names(&list(&s, "Users", "sortBy=displayName&sortOrder=ascending"));
    assert_eq!(asc2, asc);
    let desc = user_names(&list(
        &s,
        "Users",
        "sortBy=DISPLAYNAME&sortOrder=descending",
    ));
    let mut rev = asc.clone();
    rev.reverse();
    assert_eq!(desc, rev);
    let by_name = user_names(&list(
        &s,
        "Users",
        &format!(
            "sortBy=userName&sortOrder=descending&filter={}",
            enc(r#"userName ne "u3""#)
        ),
    ));
    assert_eq!(by_name, ["u6", "u5", "u4", "u2", "u1"]);
    let by_meta = user_names(&list(&s, "Users", "sortBy=meta.created&count=2"));
    assert_eq!(by_meta, ["u1", "u2"]);
    s.get(&s.scim("/Users?sortBy=displayName&sortOrder=up"), s.token())
        .expect_error(400, Some("invalidValue"));
    let r = s.get(&s.scim("/Users?sortBy=shoeSize"), s.token());
    r.expect_error(400, Some("invalidValue"));
    assert!(r.detail().contains("shoeSize"), "{}", r.text);
}

#[test]
fn index_paging_edges() {
    let s = TestServer::start();
    for i in 0..5 {
        s.create_user(&user(&format!("p{i}")));
    }
    let b = list(&s, "Users", "startIndex=0&count=2");
    assert_eq!(b["startIndex"], 1);
    assert_eq!(b["itemsPerPage"], 2);
    assert_eq!(b["totalResults"], 5);
    assert_eq!(user_names(&b), ["p0", "p1"]);
    let b = list(&s, "Users", "startIndex=4&count=2");
    assert_eq!(user_names(&b), ["p3", "p4"]);
    assert_eq!(b["startIndex"], 4);
    let b = list(&s, "Users", "count=0");
    assert_eq!(b["totalResults"], 5);
    assert_eq!(b["itemsPerPage"], 0);
    assert_eq!(b["Resources"], json!([]));
    let b = list(&s, "Users", "count=-3");
    assert_eq!(b["itemsPerPage"], 0);
    assert_eq!(b["totalResults"], 5);
    let b = list(&s, "Users", "count=100000");
    assert_eq!(b["itemsPerPage"], 5);
    let b = list(&s, "Users", "startIndex=99");
    assert_eq!(
        (b["totalResults"].clone(), b["itemsPerPage"].clone()),
        (json!(5), json!(0))
    );
    let b = list(
        &s,
        "Users",
        &format!("filter={}&startIndex=2&count=1", enc(r#"userName sw "p""#)),
    );
    assert_eq!(user_names(&b), ["p1"]);
    assert_eq!(b["totalResults"], 5);
    s.get(&s.scim("/Users?count=many"), s.token())
        .expect_error(400, Some("invalidValue"));
    // The advertised maximum.
    let spc = s.get(&s.scim("/ServiceProviderConfig"), s.token()).body;
    assert_eq!(
        spc["filter"],
        json!({"supported": true, "maxResults": 1000})
    );
    assert_eq!(spc["sort"], json!({"supported": true}));
    assert_eq!(spc["pagination"]["cursor"], true);
    assert_eq!(spc["pagination"]["index"], true);
    assert_eq!(spc["pagination"]["maxPageSize"], 1000);
    assert_eq!(spc["pagination"]["defaultPageSize"], 100);
    assert!(spc["pagination"]["cursorTimeout"].as_u64().unwrap() > 0);
}

/// A page that is not full ends the result, so its total is the rows
/// before it plus its own (no separate count); a full page, or an empty one
/// past the end, still reports the exact total.
#[test]
fn totals_of_filtered_pages_are_exact_whether_or_not_the_page_is_full() {
    let s = TestServer::start();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(id_of(&s.create_user(&user(&format!("t{i}")))));
    }
    s.create_user(&user("other"));
    s.delete(&s.scim(&format!("/Users/{}", ids[0])), s.token())
        .expect(204);
    let sw = enc(r#"userName sw "t""#);
    let total_and_names = |query: &str| {
        let b = list(&s, "Users", query);
        (b["totalResults"].clone(), user_names(&b))
    };
    assert_eq!(
        total_and_names(&format!("filter={}", enc(r#"userName eq "T2""#))),
        (json!(1), vec!["t2".to_string()])
    );
    assert_eq!(
        total_and_names(&format!("filter={}", enc(r#"userName eq "t0""#))),
        (json!(0), vec![])
    );
    assert_eq!(
        total_and_names(&format!("filter={sw}&startIndex=3&count=10")),
        (json!(4), vec!["t3".to_string(), "t4".to_string()])
    );
    assert_eq!(
        total_and_names(&format!("filter={sw}&startIndex=2&count=2")),
        (json!(4), vec!["t2".to_string(), "t3".to_string()])
    );
    assert_eq!(
        total_and_names(&format!("filter={sw}&startIndex=9&count=10")),
        (json!(4), vec![])
    );
}

#[test]
fn cursor_walk_returns_every_user_once_despite_inserts() {
    let s = TestServer::start();
    let mut original = HashSet::new();
    for i in 0..7 {
        original.insert(id_of(&s.create_user(&user(&format!("c{i}")))));
    }
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let b = list(&s, "Users", &format!("cursor={cursor}&count=2"));
        assert!(b.get("startIndex").is_none(), "{b}");
        assert!(b["itemsPerPage"].as_u64().unwrap() <= 2);
        assert!(b["totalResults"].as_u64().unwrap() >= 7);
        seen.extend(b["Resources"].as_array().unwrap().iter().map(id_of));
        pages += 1;
        assert!(pages < 50, "the walk does not end");
        // Someone creates a user between every two pages.
        s.create_user(&user(&format!("new{pages}")));
        match b["nextCursor"].as_str() {
            Some(next) => {
                assert!(
                    next.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c)),
                    "{next}"
                );
                cursor = next.to_string();
            }
            None => break,
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user came twice: {seen:?}");
    for id in &original {
        assert!(seen.contains(id), "{id} missing from the walk: {seen:?}");
    }
    // With a filter and a sort, through /.search as well.
    let body = json!({
        "schemas": [SEARCH_REQUEST],
        "filter": "userName sw \"c\"",
        "sortBy": "userName",
        "sortOrder": "descending",
        "cursor": "",
        "count": 3,
    });
    let mut all = Vec::new();
    let mut body = body;
    loop {
        let r = s.post_json(&s.scim("/Users/.search"), s.token(), &body);
        r.expect(200);
        all.extend(user_names(&r.body));
        match r.body["nextCursor"].as_str() {
            Some(next) => body["cursor"] = json!(next),
            None => break,
        }
    }
    assert_eq!(all, ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]);
}

#[test]
fn bad_cursors_are_400_invalid_cursor() {
    let s = TestServer::start();
    for i in 0..3 {
        s.create_user(&user(&format!("k{i}")));
    }
    for garbled in ["garbage", "AAAA", "eyJ4IjoxfQ", "%21%21"] {
        let r = s.get(
            &s.scim(&format!("/Users?cursor={garbled}&count=1")),
            s.token(),
        );
        r.expect_error(400, Some("invalidCursor"));
    }
    let b = list(&s, "Users", "cursor=&count=1");
    let next = b["nextCursor"].as_str().expect("nextCursor").to_string();
    // Bound to the query: another filter, sort or endpoint refuses it.
    let other = format!("cursor={next}&count=1&filter={}", enc("userName pr"));
    let r = s.get(&s.scim(&format!("/Users?{other}")), s.token());
    r.expect_error(400, Some("invalidCursor"));
    assert!(r.detail().contains("different query"), "{}", r.text);
    s.get(
        &s.scim(&format!("/Users?cursor={next}&sortBy=userName")),
        s.token(),
    )
    .expect_error(400, Some("invalidCursor"));
    s.get(&s.scim(&format!("/Groups?cursor={next}")), s.token())
        .expect_error(400, Some("invalidCursor"));
    // The same query takes it.
    let b = list(&s, "Users", &format!("cursor={next}&count=1"));
    assert_eq!(user_names(&b), ["k1"]);
    s.get(
        &s.scim(&format!("/Users?cursor={next}&startIndex=2")),
        s.token(),
    )
    .expect_error(400, Some("invalidValue"));
}

#[test]
fn search_endpoints_match_get_semantics() {
    let s = TestServer::start();
    people(&s);
    let g = s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "Babs Fans"}),
    );
    g.expect(201);
    let r = s.post_json(
        &s.scim("/Users/.search"),
        s.token(),
        &json!({
            "schemas": [SEARCH_REQUEST],
            "attributes": ["userName", "emails.value"],
            "filter": "userName ew \"example.com\"",
            "sortBy": "userName",
            "startIndex": 1,
            "count": 2,
        }),
    );
    r.expect(200);
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(
        user_names(&r.body),
        ["bjensen@example.com", "jsmith@example.com"]
    );
    let first = &r.body["Resources"][0];
    assert!(first.get("displayName").is_none(), "{first}");
    assert!(first.get("meta").is_none(), "{first}");
    assert!(first["id"].is_string());
    assert_eq!(first["emails"][0].as_object().unwrap().len(), 1, "{first}");
    // Comma-separated strings work too, and a missing schemas is accepted.
    let r = s.post_json(
        &s.scim("/Users/.search"),
        s.token(),
        &json!({"excludedAttributes": "emails,name", "filter": "title pr"}),
    );
    r.expect(200);
    assert_eq!(r.body["totalResults"], 2);
    assert!(r.body["Resources"][0].get("emails").is_none());
    s.post_json(
        &s.scim("/Users/.search"),
        s.token(),
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
    )
    .expect_error(400, Some("invalidSyntax"));
    s.post_json(
        &s.scim("/Users/.search"),
        s.token(),
        &json!({"filter": "userName eq"}),
    )
    .expect_error(400, Some("invalidFilter"));
    // Across types: totals add up, users then groups.
    let r = s.post_json(
        &s.scim("/.search"),
        s.token(),
        &json!({"schemas": [SEARCH_REQUEST]}),
    );
    r.expect(200);
    assert_eq!(r.body["totalResults"], 6);
    let types: Vec<&str> = r.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["meta"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["User", "User", "User", "User", "User", "Group"]);
    let r = s.post_json(
        &s.scim("/.search"),
        s.token(),
        &json!({"filter": "displayName co \"babs\"", "sortBy": "displayName"}),
    );
    r.expect(200);
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(r.body["Resources"][2]["displayName"], "Babs Fans");
    // A filter only Users understand searches only Users.
    let r = s.post_json(
        &s.scim("/.search"),
        s.token(),
        &json!({"filter": "userName sw \"z\""}),
    );
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1);
    // Index paging across the boundary, then a cursor walk across it.
    let r = s.post_json(
        &s.scim("/.search"),
        s.token(),
        &json!({"startIndex": 5, "count": 2}),
    );
    assert_eq!(r.body["Resources"][0]["meta"]["resourceType"], "User");
    assert_eq!(r.body["Resources"][1]["meta"]["resourceType"], "Group");
    let mut body = json!({"cursor": "", "count": 5});
    let mut kinds = Vec::new();
    loop {
        let r = s.post_json(&s.scim("/.search"), s.token(), &body);
        r.expect(200);
        assert_eq!(r.body["totalResults"], 6);
        for v in r.body["Resources"].as_array().unwrap() {
            kinds.push(v["meta"]["resourceType"].as_str().unwrap().to_string());
        }
        match r.body["nextCursor"].as_str() {
            Some(next) => body["cursor"] = json!(next),
            None => break,
        }
    }
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    let r = s.post_json(
        &s.scim("/Groups/.search"),
        s.token(),
        &json!({"filter": "displayName eq \"babs fans\""}),
    );
    r.expect(200);
    assert_eq!(r.body["totalResults"], 1);
}

#[test]
fn group_filters_by_display_name_and_members() {
    let s = TestServer::start();
    let a = s.create_user(&user("a@example.com"));
    let b = s.create_user(&user("b@example.com"));
    let group = |name: &str, members: Vec<&Value>| {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": id_of(m)})).collect();
        let r = s.post_json(
            &s.scim("/Groups"),
            s.token(),
            &json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": members}),
        );
        r.expect(201);
        r.body
    };
    let eng = group("Engineering", vec![&a, &b]);
    let ops = group("Ops", vec![&b]);
    let empty = group("engineering", vec![]);
    let outer = s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "All", "members": [{"value": id_of(&ops), "type": "Group"}]}),
    );
    outer.expect(201);
    let found = |filter: &str| -> Vec<String> {
        let b = list(&s, "Groups", &format!("filter={}", enc(filter)));
        b["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["displayName"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        found(r#"displayName eq "ENGINEERING""#),
        ["Engineering", "engineering"]
    );
    assert_eq!(
        found(&format!(r#"members.value eq "{}""#, id_of(&a))),
        ["Engineering"]
    );
    assert_eq!(
        found(&format!(r#"members[value eq "{}"]"#, id_of(&b))),
        ["Engineering", "Ops"]
    );
    assert_eq!(
        found(&format!(r#"members.value eq "{}""#, id_of(&ops))),
        ["All"]
    );
    assert_eq!(found(r#"members[type eq "Group"]"#), ["All"]);
    assert_eq!(found("not (members pr)"), ["engineering"]);
    assert_eq!(
        found(&format!(
            r#"externalId eq "x" or id eq "{}""#,
            id_of(&empty)
        )),
        ["engineering"]
    );
    // excludedAttributes=members leaves them out of every listed group.
    let b = list(
        &s,
        "Groups",
        &format!("excludedAttributes=members&filter={}", enc("members pr")),
    );
    assert_eq!(b["totalResults"], 3);
    for g in b["Resources"].as_array().unwrap() {
        assert!(g.get("members").is_none(), "{g}");
    }
    let b = list(
        &s,
        "Groups",
        &format!("filter={}", enc(r#"displayName eq "Engineering""#)),
    );
    assert_eq!(b["Resources"][0]["members"].as_array().unwrap().len(), 2);
    // Users by group, directly or through a nested group.
    assert_eq!(
        names(&s, &format!(r#"groups.value eq "{}""#, id_of(&eng))),
        ["a@example.com", "b@example.com"]
    );
    let all_id = id_of(&outer.body);
    assert_eq!(
        names(&s, &format!(r#"groups eq "{all_id}""#)),
        ["b@example.com"]
    );
    let d = {
        let r = s.get(
            &s.scim(&format!("/Groups?filter={}", enc(r#"userName eq "x""#))),
            s.token(),
        );
        r.expect_error(400, Some("invalidFilter"));
        r.detail()
    };
    assert!(d.contains("userName"), "{d}");
}

#[test]
fn deprovisioned_users_never_appear() {
    let s = TestServer::start();
    s.scimd_ok(&[
        "integration",
        "set",
        &s.integration.id,
        "--delete-mode",
        "deactivate",
    ]);
    let gone = s.create_user(&json!({
        "schemas": [USER_SCHEMA],
        "userName": "gone@example.com",
        "externalId": "gone-1",
        "emails": [{"value": "gone@example.com"}],
    }));
    s.create_user(&user("stays@example.com"));
    let g = s.post_json(
        &s.scim("/Groups"),
        s.token(),
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "G", "members": [{"value": id_of(&gone)}]}),
    );
    g.expect(201);
    s.delete(&s.scim(&format!("/Users/{}", id_of(&gone))), s.token())
        .expect(204);
    for filter in [
        r#"userName eq "gone@example.com""#.to_string(),
        r#"externalId eq "gone-1""#.to_string(),
        r#"emails.value eq "gone@example.com""#.to_string(),
        r#"active eq false"#.to_string(),
        format!(r#"id eq "{}""#, id_of(&gone)),
        format!(r#"groups.value eq "{}""#, id_of(&g.body)),
    ] {
        assert!(
            names(&s, &filter).is_empty(),
            "{filter} found a deprovisioned user"
        );
    }
    let b = list(&s, "Users", "");
    assert_eq!(b["totalResults"], 1);
    assert_eq!(user_names(&b), ["stays@example.com"]);
    let b = list(&s, "Users", "cursor=");
    assert_eq!(user_names(&b), ["stays@example.com"]);
    let r = s.post_json(
        &s.scim("/.search"),
        s.token(),
        &json!({"filter": "userName pr"}),
    );
    assert_eq!(r.body["totalResults"], 1);
    let b = list(
        &s,
        "Groups",
        &format!(
            "filter={}",
            enc(&format!(r#"members.value eq "{}""#, id_of(&gone)))
        ),
    );
    assert_eq!(b["totalResults"], 0);
}
