//! The ways out to local applications and admins: `scimd export` (CSV,
//! JSON, JSON lines, `--entitled-only`, `--output`), the SQL views read
//! from the file while the server runs, the push status in `integration
//! show`, and the request log (`scimd requests`, `--request-log`).
//!
//! Push status and the request log are written every 2 s and at shutdown;
//! the tests stop the server before reading them, so no test waits on time.

use crate::harness::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;

const OKTA_UA: &str = "Okta SCIM Client 1.0.0";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `body` as `method` with Okta's User-Agent.
fn okta_send(server: &TestServer, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let auth = format!("Bearer {}", server.token());
    let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
    server.raw(
        method,
        path,
        &[
            ("Authorization", &auth),
            ("User-Agent", OKTA_UA),
            ("Content-Type", "application/scim+json"),
        ],
        bytes.as_deref(),
    )
}

// ---- export ----

#[test]
fn export_csv_has_the_exact_header_and_quotes_a_field_with_a_comma_a_quote_and_a_newline() {
    let server = TestServer::start();
    let mut body = user("ann");
    body["displayName"] = json!("Ann, \"the\" admin\nof doors");
    let created = server.create_user(&body);
    let id = server.integration.id.clone();
    let out = server.scimd_ok(&["export", &id, "--format", "csv"]);
    let text = stdout(&out);
    let mut lines = text.splitn(2, '\n');
    assert_eq!(
        lines.next(),
        Some("id,userName,externalId,displayName,email,active,entitled,held,roles,pin")
    );
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "{},ann,,\"Ann, \"\"the\"\" admin\nof doors\",,true,true,false,,\n",
                created["id"].as_str().unwrap()
            )
            .as_str()
        )
    );
}

#[test]
fn export_json_is_one_array_and_jsonl_one_object_a_line() {
    let server = TestServer::start();
    server.create_user(&user("ann"));
    server.create_user(&user("bob"));
    let id = server.integration.id.clone();
    let array = server.scimd_json(&["export", &id, "--format", "json"]);
    let names: Vec<&str> = array
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ann", "bob"]);
    assert_eq!(array[0]["roles"], json!([]));
    assert_eq!(array[0]["held"], json!(false));
    let lines = stdout(&server.scimd_ok(&["export", &id, "--format", "jsonl"]));
    let rows: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["userName"], "bob");
}

#[test]
fn export_entitled_only_leaves_out_users_without_a_mapped_role() {
    let server = TestServer::start();
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "set", &id, "--require-mapping", "true"]);
    server.scimd_ok(&["mapping", "add", &id, "--group", "staff", "--role", "door"]);
    let ann = server.create_user(&user("ann"));
    server.create_user(&user("bob"));
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "staff",
        "members": [{"value": ann["id"]}],
    });
    server
        .post_json(&server.scim("/Groups"), server.token(), &group)
        .expect(201);
    let rows = server.scimd_json(&["export", &id, "--format", "json", "--entitled-only"]);
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["userName"], "ann");
    assert_eq!(rows[0]["roles"], json!(["door"]));
    let all = server.scimd_json(&["export", &id, "--format", "json"]);
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}

#[test]
fn export_to_a_file_writes_it_whole_readable_by_its_owner_only() {
    let server = TestServer::start();
    server.create_user(&user("ann"));
    let id = server.integration.id.clone();
    let file = server.dir.path().join("users.jsonl");
    let file_arg = file.display().to_string();
    server.scimd_ok(&["export", &id, "--format", "jsonl", "--output", &file_arg]);
    let text = std::fs::read_to_string(&file).expect("the export file");
    assert_eq!(text.lines().count(), 1);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(server.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn export_of_an_unknown_integration_fails_without_creating_the_file() {
    let server = TestServer::start();
    let file = server.dir.path().join("out.csv");
    let out = server.scimd(&[
        "export",
        "int_nope",
        "--format",
        "csv",
        "--output",
        &file.display().to_string(),
    ]);
    assert!(!out.status.success());
    assert!(!file.exists());
}

// ---- SQL views ----

#[test]
fn the_views_are_readable_from_a_read_only_connection_while_the_server_runs() {
    let server = TestServer::start();
    server.create_user(&user("ann"));
    let uri = format!("file:{}?mode=ro", server.dir.db().display());
    let conn = rusqlite::Connection::open_with_flags(
        &uri,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .expect("open the database read-only");
    let names: Vec<String> = conn
        .prepare("SELECT user_name FROM v_users WHERE integration_id = ?1")
        .unwrap()
        .query_map([&server.integration.id], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(names, ["ann"]);
    let entitled: i64 = conn
        .query_row(
            "SELECT count(*) FROM v_entitlements WHERE integration_id = ?1 AND role IS NULL",
            [&server.integration.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(entitled, 1, "an entitled user without roles is one row");
    // A write through this connection is refused, and the server goes on.
    assert!(conn.execute("DELETE FROM scim_user", []).is_err());
    server.create_user(&user("bob"));
    let n: i64 = conn
        .query_row("SELECT count(*) FROM v_users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
}

// ---- push status ----

#[test]
fn integration_show_reports_the_last_pushes_the_detected_idp_counts_and_errors() {
    let mut server = TestServer::start();
    okta_send(&server, "POST", &server.scim("/Users"), Some(&user("ann"))).expect(201);
    okta_send(&server, "POST", &server.scim("/Users"), Some(&user("ann")))
        .expect_error(409, Some("uniqueness"));
    okta_send(&server, "GET", &server.scim("/Users?count=1"), None).expect(200);
    server.stop();
    let id = server.integration.id.clone();
    let shown = server.scimd_json(&["integration", "show", &id, "--json"]);
    let push = &shown["push"];
    assert_eq!(push["user_agent"], OKTA_UA);
    assert_eq!(push["detected_idp"], "okta");
    assert!(looks_like_rfc3339(
        push["last_request"].as_str().unwrap_or("")
    ));
    assert!(looks_like_rfc3339(
        push["last_change"].as_str().unwrap_or("")
    ));
    assert_eq!(push["counts"]["active"], 1);
    assert_eq!(push["counts"]["inactive"], 0);
    assert_eq!(push["counts"]["entitled"], 1);
    let errors = push["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{push}");
    assert_eq!(errors[0]["status"], 409);
    assert_eq!(errors[0]["scimType"], "uniqueness");
    assert!(errors[0]["detail"].as_str().unwrap().contains("ann"));
    let text = stdout(&server.scimd_ok(&["integration", "show", &id]));
    assert!(text.contains("detected IdP:  Okta"), "{text}");
    assert!(text.contains("409 uniqueness POST"), "{text}");
}

#[test]
fn requests_refused_before_authentication_leave_the_push_status_alone() {
    let mut server = TestServer::start();
    server
        .raw(
            "GET",
            &server.scim("/Users"),
            &[
                ("Authorization", "Bearer scimd_wrong"),
                ("User-Agent", OKTA_UA),
            ],
            None,
        )
        .expect(401);
    server.stop();
    let id = server.integration.id.clone();
    let shown = server.scimd_json(&["integration", "show", &id, "--json"]);
    assert_eq!(shown["push"]["last_request"], Value::Null);
    assert_eq!(shown["push"]["errors"], json!([]));
    let log = stdout(&server.scimd_ok(&["requests", &id, "--json"]));
    assert!(log.trim().is_empty(), "{log}");
}

// ---- request log ----

fn logged(server: &TestServer) -> (String, Vec<Value>) {
    let id = server.integration.id.clone();
    let text = stdout(&server.scimd_ok(&["requests", &id, "--json", "--limit", "100"]));
    let rows = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    (text, rows)
}

#[test]
fn the_request_log_redacts_passwords_and_the_bearer_token() {
    let mut server = TestServer::start();
    let mut body = user("ann");
    body["password"] = json!("hunter2-secret");
    let ann = server.create_user(&body);
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "password", "value": "hunter3-secret"}],
    });
    let path = server.scim(&format!("/Users/{}", ann["id"].as_str().unwrap()));
    server
        .send_json("PATCH", &path, server.token(), &patch)
        .expect(200);
    server.stop();
    let (text, rows) = logged(&server);
    assert_eq!(rows.len(), 2, "{text}");
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(!text.contains("hunter3-secret"), "{text}");
    assert!(!text.contains(server.token()), "{text}");
    assert_eq!(
        rows[0]["request_headers"]["authorization"],
        "Bearer [redacted]"
    );
    let sent: Value = serde_json::from_str(rows[0]["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["password"], "[redacted]");
    assert_eq!(sent["userName"], "ann");
    assert_eq!(rows[0]["method"], "POST");
    assert_eq!(rows[0]["status"], 201);
    assert!(rows[0]["response_body"]
        .as_str()
        .unwrap()
        .contains("\"ann\""));
}

#[test]
fn the_request_log_lists_the_idp_dialects_accepted() {
    let mut server = TestServer::start();
    let ann = server.create_user(&user("ann"));
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "Ann"}],
    });
    let path = server.scim(&format!("/Users/{}", ann["id"].as_str().unwrap()));
    server
        .send_json("PATCH", &path, server.token(), &patch)
        .expect(200);
    server.stop();
    let (text, rows) = logged(&server);
    let patched = rows
        .iter()
        .find(|r| r["method"] == "PATCH")
        .unwrap_or_else(|| panic!("no PATCH logged: {text}"));
    assert_eq!(patched["quirks"], json!(["op_case"]));
    assert_eq!(rows[0]["quirks"], json!([]));
}

#[test]
fn request_log_zero_records_no_request_but_keeps_the_push_status() {
    let mut server = TestServer::start_with(&["--request-log", "0"], &[]);
    server.create_user(&user("ann"));
    server
        .get(&server.scim("/Users"), server.token())
        .expect(200);
    server.stop();
    let (text, rows) = logged(&server);
    assert!(rows.is_empty(), "{text}");
    let id = server.integration.id.clone();
    let shown = server.scimd_json(&["integration", "show", &id, "--json"]);
    assert!(shown["push"]["last_request"].is_string(), "{shown}");
}

#[test]
fn the_request_log_keeps_only_the_newest_n_requests() {
    let mut server = TestServer::start_with(&["--request-log", "2"], &[]);
    for name in ["a1", "a2", "a3"] {
        server.create_user(&user(name));
    }
    server.stop();
    let (text, rows) = logged(&server);
    assert_eq!(rows.len(), 2, "{text}");
    assert!(rows[0]["request_body"].as_str().unwrap().contains("a2"));
    assert!(rows[1]["request_body"].as_str().unwrap().contains("a3"));
}
