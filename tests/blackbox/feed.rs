//! The change feed (`scimd feed`) and the mass-deactivation breaker
//! (`integration set --breaker-*`, `breaker release`), seen from outside: SCIM
//! changes go in over HTTPS, and the feed's JSON lines, `members` and
//! `integration show` say what local applications learn.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{cli_command, user, TestServer};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// `scimd feed ID [ARGS…]`, one parsed JSON object per line.
fn feed(server: &TestServer, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["feed", server.integration.id.as_str()];
    all.extend_from_slice(args);
    let out = server.scimd_ok(&all);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn types(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["type"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The feed rows about one resource, as their types.
fn types_for(rows: &[Value], id: &str) -> Vec<String> {
    let about: Vec<Value> = rows.iter().filter(|r| r["id"] == id).cloned().collect();
    types(&about)
}

fn seq(row: &Value) -> i64 {
    row["seq"].as_i64().expect("seq is an integer")
}

fn set_active(server: &TestServer, id: &str, active: bool) {
    let body = json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": active}]
    });
    server
        .send_json(
            "PATCH",
            &server.scim(&format!("/Users/{id}")),
            server.token(),
            &body,
        )
        .expect(200);
}

fn create_user(server: &TestServer, name: &str) -> String {
    server.create_user(&user(name))["id"]
        .as_str()
        .expect("id")
        .to_string()
}

#[test]
fn rows_have_the_documented_shape_and_the_user_state() {
    let server = TestServer::start();
    server.scimd_ok(&[
        "integration",
        "set",
        &server.integration.id,
        "--pin-digits",
        "6",
    ]);
    let id = create_user(&server, "bjensen");
    let rows = feed(&server, &[]);
    let created = &rows[0];
    assert_eq!(created["type"], "user.created");
    assert_eq!(created["id"], id.as_str());
    assert!(seq(created) > 0);
    assert!(created["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    let data = &created["data"];
    assert_eq!(data["userName"], "bjensen");
    assert_eq!(data["active"], true);
    assert_eq!(data["entitled"], true);
    assert_eq!(data["held"], false);
    assert_eq!(data["roles"], json!([]));
    assert_eq!(data["pin"].as_str().map(str::len), Some(6));
    let keys: Vec<&str> = created
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["seq", "time", "type", "id", "data"]);
}

#[test]
fn a_user_lifecycle_is_created_deactivated_reactivated_deleted() {
    let server = TestServer::start();
    let id = create_user(&server, "bjensen");
    set_active(&server, &id, false);
    set_active(&server, &id, true);
    let mut renamed = user("bjensen");
    renamed["displayName"] = json!("Barbara");
    server
        .put_json(
            &server.scim(&format!("/Users/{id}")),
            server.token(),
            &renamed,
        )
        .expect(200);
    server
        .delete(&server.scim(&format!("/Users/{id}")), server.token())
        .expect(204);
    assert_eq!(
        types_for(&feed(&server, &[]), &id),
        [
            "user.created",
            "entitlement.granted",
            "user.deactivated",
            "entitlement.revoked",
            "user.reactivated",
            "entitlement.granted",
            "user.updated",
            "user.deleted",
            "entitlement.revoked",
        ]
    );
}

#[test]
fn a_put_that_changes_nothing_emits_nothing() {
    let server = TestServer::start();
    let id = create_user(&server, "bjensen");
    let before = feed(&server, &[]).len();
    let path = server.scim(&format!("/Users/{id}"));
    let mut same = user("bjensen");
    same["active"] = json!(true);
    server.put_json(&path, server.token(), &same).expect(200);
    assert_eq!(feed(&server, &[]).len(), before);
}

#[test]
fn member_changes_are_one_row_per_member_on_the_group() {
    let server = TestServer::start();
    let a = create_user(&server, "alice");
    let b = create_user(&server, "bob");
    let group = server
        .post_json(
            &server.scim("/Groups"),
            server.token(),
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "doors"}),
        )
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = server.scim(&format!("/Groups/{group}"));
    let add = json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": a}, {"value": b}]}]
    });
    server
        .send_json("PATCH", &path, server.token(), &add)
        .expect(204);
    // Adding a member again changes nothing, so writes nothing. (A group
    // PATCH answers 204 unless asked for attributes.)
    server
        .send_json("PATCH", &path, server.token(), &add)
        .expect(204);
    let remove = json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "remove", "path": format!("members[value eq \"{a}\"]")}]
    });
    server
        .send_json("PATCH", &path, server.token(), &remove)
        .expect(204);
    let rows = feed(&server, &[]);
    let about_group: Vec<&Value> = rows.iter().filter(|r| r["id"] == group.as_str()).collect();
    let seen: Vec<(String, String)> = about_group
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap_or("").to_string(),
                r["data"]["member"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("group.created".to_string(), String::new()),
            ("membership.added".to_string(), a.clone()),
            ("membership.added".to_string(), b.clone()),
            ("membership.removed".to_string(), a.clone()),
        ]
    );
    assert_eq!(about_group[1]["data"]["memberType"], "User");
}

#[test]
fn a_mapped_group_change_tells_the_users_roles() {
    let server = TestServer::start();
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "set", &id, "--require-mapping", "true"]);
    server.scimd_ok(&["mapping", "add", &id, "--group", "doors", "--role", "door"]);
    let a = create_user(&server, "alice");
    server
        .post_json(
            &server.scim("/Groups"),
            server.token(),
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "doors", "members": [{"value": a}]}),
        )
        .expect(201);
    let rows = feed(&server, &[]);
    assert_eq!(
        types_for(&rows, &a),
        ["user.created", "entitlement.granted", "roles.changed"]
    );
    let last = rows.last().expect("rows");
    assert_eq!(last["data"]["roles"], json!(["door"]));
    assert_eq!(last["data"]["entitled"], true);
}

#[test]
fn the_feed_continues_across_a_restart_and_since_repeats_nothing() {
    let mut server = TestServer::start();
    create_user(&server, "before");
    let first = feed(&server, &[]);
    let last = seq(first.last().expect("rows before the restart"));
    server.restart();
    let after_id = create_user(&server, "after");
    let next = feed(&server, &["--since", &last.to_string()]);
    assert!(!next.is_empty());
    assert!(
        next.iter().all(|r| seq(r) > last),
        "nothing repeated: {next:?}"
    );
    assert_eq!(next[0]["id"], after_id.as_str());
    assert_eq!(next[0]["type"], "user.created");
    let all = feed(&server, &[]);
    assert_eq!(all.len(), first.len() + next.len());
    let seqs: Vec<i64> = all.iter().map(seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in seq order: {seqs:?}"
    );
}

#[test]
fn limit_caps_the_rows_printed() {
    let server = TestServer::start();
    create_user(&server, "a");
    create_user(&server, "b");
    let rows = feed(&server, &["--limit", "3"]);
    assert_eq!(rows.len(), 3);
    let rest = feed(&server, &["--since", &seq(&rows[2]).to_string()]);
    assert_eq!(rest.len(), 1);
}

#[test]
fn the_feed_of_an_unknown_integration_is_an_error() {
    let server = TestServer::start();
    let out = server.scimd(&["feed", "int_nope"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("int_nope"), "names the integration: {err}");
}

#[test]
fn follow_prints_a_change_made_after_it_started() {
    let server = TestServer::start();
    let first = create_user(&server, "first");
    let mut child = cli_command()
        .arg("--db")
        .arg(server.dir.db())
        .args(["feed", &server.integration.id, "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn feed --follow");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<Value>();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    let wait_for = |id: &str| loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(row) if row["id"] == id && row["type"] == "user.created" => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    };
    // The existing row is printed first: the follower is running.
    assert!(wait_for(&first), "the existing change is printed");
    let later = create_user(&server, "later");
    let printed = wait_for(&later);
    let _ = child.kill();
    let _ = child.wait();
    assert!(printed, "a change made after --follow started is printed");
}

// ---- the breaker ----

/// A server whose breaker trips at 3 users and more than 25%, with `n`
/// users, all entitled.
fn breaker_server(n: usize) -> (TestServer, Vec<String>) {
    let server = TestServer::start();
    server.scimd_ok(&[
        "integration",
        "set",
        &server.integration.id,
        "--breaker-min",
        "3",
        "--breaker-percent",
        "25",
        "--breaker-window",
        "15m",
    ]);
    let ids = (0..n)
        .map(|i| create_user(&server, &format!("u{i}")))
        .collect();
    (server, ids)
}

fn members(server: &TestServer) -> Vec<Value> {
    server
        .scimd_json(&["members", &server.integration.id, "--json"])
        .as_array()
        .expect("members --json is an array")
        .clone()
}

fn held_ids(server: &TestServer) -> Vec<String> {
    members(server)
        .iter()
        .filter(|m| m["held"] == true)
        .map(|m| m["id"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn the_breaker_trips_at_the_threshold_and_holds_revocations() {
    let (server, ids) = breaker_server(8);
    // Two of eight: below the minimum of three; revoked at once.
    set_active(&server, &ids[0], false);
    set_active(&server, &ids[1], false);
    assert_eq!(members(&server).len(), 6);
    // The third of eight is 3 >= 3 and 37% > 25%: tripped, and held.
    set_active(&server, &ids[2], false);
    // While tripped, a deletion is held too; SCIM still succeeds.
    server
        .delete(&server.scim(&format!("/Users/{}", ids[3])), server.token())
        .expect(204);
    assert_eq!(held_ids(&server), [ids[2].clone(), ids[3].clone()]);
    assert_eq!(members(&server).len(), 6, "held users stay entitled");
    let rows = feed(&server, &[]);
    assert_eq!(
        types_for(&rows, &ids[2]),
        ["user.created", "entitlement.granted", "user.deactivated"],
        "no entitlement.revoked while held"
    );
    let deactivated = rows
        .iter()
        .find(|r| r["id"] == ids[2].as_str() && r["type"] == "user.deactivated")
        .expect("the deactivation row");
    assert_eq!(deactivated["data"]["held"], true);
    assert_eq!(deactivated["data"]["entitled"], true);
    assert_eq!(deactivated["data"]["active"], false);
    assert!(
        !types(&rows).contains(&"breaker.tripped".to_string()),
        "breaker.tripped is for webhooks only"
    );
    let show = server.scimd_json(&["integration", "show", &server.integration.id, "--json"]);
    assert!(show["breaker"]["tripped"].as_str().is_some(), "{show}");
    assert_eq!(show["breaker"]["held"], 2);
    let text = server.scimd_ok(&["integration", "show", &server.integration.id]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("TRIPPED since"), "{text}");
    assert!(text.contains("2 revocation(s) held"), "{text}");
    assert!(
        server
            .serve()
            .log()
            .contains("mass-deactivation breaker tripped"),
        "a warning in the log"
    );
}

#[test]
fn breaker_release_applies_the_held_revocations() {
    let (server, ids) = breaker_server(8);
    for id in &ids[..4] {
        set_active(&server, id, false);
    }
    assert_eq!(held_ids(&server).len(), 2);
    let last = seq(feed(&server, &[]).last().expect("rows"));
    let out = server.scimd_ok(&["breaker", "release", &server.integration.id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 held revocation(s) applied"), "{text}");
    let released = feed(&server, &["--since", &last.to_string()]);
    assert_eq!(
        types(&released),
        ["entitlement.revoked", "entitlement.revoked"]
    );
    assert!(released.iter().all(|r| r["data"]["held"] == false));
    assert!(released.iter().all(|r| r["data"]["entitled"] == false));
    assert!(held_ids(&server).is_empty());
    assert_eq!(members(&server).len(), 4);
    let show = server.scimd_json(&["integration", "show", &server.integration.id, "--json"]);
    assert_eq!(show["breaker"]["tripped"], Value::Null);
    assert_eq!(show["breaker"]["held"], 0);
    // Released, the window counts afresh: one more is revoked at once.
    set_active(&server, &ids[4], false);
    assert!(held_ids(&server).is_empty());
}

#[test]
fn a_breaker_turned_off_never_trips() {
    let (server, ids) = breaker_server(6);
    server.scimd_ok(&[
        "integration",
        "set",
        &server.integration.id,
        "--breaker",
        "off",
    ]);
    for id in &ids {
        set_active(&server, id, false);
    }
    assert!(members(&server).is_empty());
    let show = server.scimd_json(&["integration", "show", &server.integration.id, "--json"]);
    assert_eq!(show["breaker"]["tripped"], Value::Null);
    assert_eq!(show["settings"]["breaker"]["on"], false);
}

#[test]
fn deactivations_older_than_the_window_do_not_count() {
    let (server, ids) = breaker_server(8);
    set_active(&server, &ids[0], false);
    set_active(&server, &ids[1], false);
    server.advance_clock(Duration::from_secs(16 * 60));
    set_active(&server, &ids[2], false);
    assert!(held_ids(&server).is_empty(), "one in the window, not three");
}

#[test]
fn a_deletion_for_good_is_held_and_completed_on_release() {
    let (server, ids) = breaker_server(8);
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "set", &id, "--delete-mode", "delete"]);
    for user_id in &ids[..4] {
        let path = server.scim(&format!("/Users/{user_id}"));
        server.delete(&path, server.token()).expect(204);
        server.get(&path, server.token()).expect(404);
    }
    assert_eq!(held_ids(&server), [ids[2].clone(), ids[3].clone()]);
    server.scimd_ok(&["breaker", "release", &id]);
    assert!(held_ids(&server).is_empty());
    assert_eq!(members(&server).len(), 4);
    // The record is gone for good: the same userName is a new user, not a
    // revival of the held record.
    let again = create_user(&server, "u3");
    assert_ne!(again, ids[3]);
}
