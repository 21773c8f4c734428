//! Index paging by `startIndex` (issue 15): scimd answers the page after one
//! it has just served with a keyset seek instead of OFFSET. These tests hold
//! it to what OFFSET gives: a walk by startIndex returns every user exactly
//! once, in the order of one big page, with and without sortBy and a
//! filter, and a write between pages never leaves a stale page behind.

use crate::harness::*;
use serde_json::{json, Value};

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

fn ids(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|u| u["id"].as_str().expect("id").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// One page, as ids; `query` carries the filter and sort.
fn page(s: &TestServer, query: &str, start: usize, count: usize) -> Vec<String> {
    let r = s.get(
        &s.scim(&format!("/Users?{query}&startIndex={start}&count={count}")),
        s.token(),
    );
    r.expect(200);
    assert_eq!(r.body["startIndex"], json!(start), "{}", r.text);
    ids(&r.body)
}

/// Every page in order by startIndex, as an IdP walks.
fn walk(s: &TestServer, query: &str, count: usize) -> Vec<String> {
    let mut all = Vec::new();
    loop {
        let p = page(s, query, all.len() + 1, count);
        if p.is_empty() {
            return all;
        }
        assert!(all.len() < 1000, "the walk does not end");
        all.extend(p);
    }
}

/// Users whose displayName order differs from their creation order, with
/// ties, so a sort has something to do.
fn people(s: &TestServer, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let body = json!({
                "schemas": [USER_SCHEMA],
                "userName": format!("p{i:02}"),
                "displayName": format!("d{}", (i * 7) % 5),
                "active": i % 3 != 0,
            });
            s.create_user(&body)["id"].as_str().expect("id").to_string()
        })
        .collect()
}

#[test]
fn walking_pages_by_start_index_returns_every_user_once_as_one_big_page_would() {
    let s = TestServer::start();
    let created = people(&s, 23);
    let queries = [
        String::new(),
        format!("sortBy=displayName&filter={}", enc("active eq true")),
        "sortBy=userName&sortOrder=descending".to_string(),
        format!(
            "sortBy=displayName&sortOrder=descending&filter={}",
            enc("userName sw \"p1\"")
        ),
    ];
    for query in &queries {
        let whole = page(&s, query, 1, 1000);
        for count in [1, 4, 7] {
            let walked = walk(&s, query, count);
            assert_eq!(walked, whole, "{query} by {count}");
        }
    }
    let mut unsorted = walk(&s, "", 5);
    unsorted.sort();
    let mut all = created;
    all.sort();
    assert_eq!(unsorted, all);
}

#[test]
fn the_same_page_asked_twice_is_the_same_page() {
    let s = TestServer::start();
    people(&s, 12);
    let query = "sortBy=displayName";
    let first = page(&s, query, 6, 4);
    assert_eq!(page(&s, query, 6, 4), first);
    assert_eq!(page(&s, query, 1, 100)[5..9], first[..]);
}

#[test]
fn a_write_between_pages_gives_the_page_of_the_new_data() {
    let s = TestServer::start();
    let ids_made = people(&s, 12);
    let query = "sortBy=displayName";
    page(&s, query, 1, 4);
    page(&s, query, 5, 4);
    // A user that sorts first, and one deleted from the middle: every later
    // row moves, so a remembered boundary would now be wrong.
    s.create_user(&json!({"schemas": [USER_SCHEMA], "userName": "first", "displayName": "a"}));
    s.delete(&s.scim(&format!("/Users/{}", ids_made[3])), s.token())
        .expect(204);
    let whole = page(&s, query, 1, 100);
    assert_eq!(page(&s, query, 9, 4), whole[8..12]);
    assert_eq!(page(&s, query, 5, 4), whole[4..8]);
    // A change to a sort key alone moves rows too.
    let r = s.send_json(
        "PATCH",
        &s.scim(&format!("/Users/{}", whole[0])),
        s.token(),
        &json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "zzz"}],
        }),
    );
    r.expect(200);
    let whole = page(&s, query, 1, 100);
    assert_eq!(page(&s, query, 9, 4), whole[8..12]);
}
