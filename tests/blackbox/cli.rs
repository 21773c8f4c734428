//! The admin CLI on its own (no server running): `integration` and `token`
//! subcommands, their `--json` shapes, exit codes, and that no secret is ever
//! printed after creation. How a running server sees CLI changes is
//! `lifecycle`'s business.

use std::process::Output;

use serde_json::Value;

use crate::harness::{cli_command, looks_like_rfc3339, parse_stdout_json, TestDir};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status; stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
}

#[track_caller]
fn assert_one_line_error(out: &Output) {
    assert_exit(out, 1);
    let err = stderr(out);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line message on stderr: {err:?}"
    );
    assert!(!err.trim().is_empty(), "empty stderr");
}

fn list(dir: &TestDir) -> Vec<Value> {
    dir.scimd_json(&["integration", "list", "--json"])
        .as_array()
        .expect("list --json is an array")
        .clone()
}

// ---- integration create ----

#[test]
fn integration_create_json_prints_exactly_one_object() {
    let dir = TestDir::new();
    let out = dir.scimd(&["integration", "create", "okta", "--json"]);
    assert_exit(&out, 0);
    let v = parse_stdout_json(&out, &["integration", "create"]);
    let obj = v.as_object().expect("an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["endpoint", "id", "name", "token"]);
    assert_eq!(v["name"], "okta");
}

#[test]
fn integration_id_starts_with_int_and_endpoint_ends_with_scim_id() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    assert!(i.id.starts_with("int_") && i.id.len() > 4, "id: {}", i.id);
    let suffix = format!("/scim/{}", i.id);
    assert!(
        i.endpoint.ends_with(&suffix),
        "endpoint {} should end with {suffix}",
        i.endpoint
    );
}

#[test]
fn integration_token_is_prefixed_and_long() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let secret = i
        .token
        .strip_prefix("scimd_")
        .unwrap_or_else(|| panic!("token prefix: {}", i.token));
    assert!(
        secret.len() >= 43,
        "token secret too short: {} chars",
        secret.len()
    );
    assert!(
        secret.chars().all(is_token_char),
        "token charset: {}",
        i.token
    );
}

#[test]
fn integrations_get_distinct_ids_and_tokens() {
    let dir = TestDir::new();
    let a = dir.create_integration("a");
    let b = dir.create_integration("b");
    assert_ne!(a.id, b.id);
    assert_ne!(a.token, b.token);
}

// ---- integration list / show ----

#[test]
fn integration_list_json_has_every_integration() {
    let dir = TestDir::new();
    let a = dir.create_integration("alpha");
    let b = dir.create_integration("beta");
    let all = list(&dir);
    assert_eq!(all.len(), 2, "{all:?}");
    for (i, name) in [(&a, "alpha"), (&b, "beta")] {
        let row = all
            .iter()
            .find(|r| r["id"] == i.id.as_str())
            .unwrap_or_else(|| panic!("{} missing from {all:?}", i.id));
        assert_eq!(row["name"], name);
        assert_eq!(row["enabled"], true);
        assert_eq!(row["users"], 0);
        assert_eq!(row["groups"], 0);
        assert!(
            row["created"].as_str().is_some_and(looks_like_rfc3339),
            "created: {row}"
        );
    }
}

#[test]
fn integration_list_json_on_empty_database_is_empty_array() {
    let dir = TestDir::new();
    assert!(list(&dir).is_empty());
}

#[test]
fn integration_list_never_prints_a_token() {
    let dir = TestDir::new();
    let i = dir.create_integration("alpha");
    for args in [
        &["integration", "list", "--json"][..],
        &["integration", "list"][..],
    ] {
        let out = dir.scimd(args);
        assert_exit(&out, 0);
        assert!(
            !stdout(&out).contains(&i.token),
            "{args:?} printed the token"
        );
    }
}

#[test]
fn integration_show_json_has_every_field() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let v = dir.scimd_json(&["integration", "show", &i.id, "--json"]);
    assert_eq!(v["id"], i.id.as_str());
    assert_eq!(v["name"], "okta");
    assert_eq!(v["enabled"], true);
    assert_eq!(v["users"], 0);
    assert_eq!(v["groups"], 0);
    assert!(
        v["created"].as_str().is_some_and(looks_like_rfc3339),
        "created: {v}"
    );
    let endpoint = v["endpoint"].as_str().expect("endpoint");
    assert!(
        endpoint.ends_with(&format!("/scim/{}", i.id)),
        "endpoint: {endpoint}"
    );
}

#[test]
fn integration_show_lists_the_token_prefix_only() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let out = dir.scimd(&["integration", "show", &i.id, "--json"]);
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains(&i.token), "show printed the token");
    let v = parse_stdout_json(&out, &["integration", "show"]);
    let tokens = v["tokens"].as_array().expect("tokens array");
    assert_eq!(tokens.len(), 1, "{v}");
    let t = &tokens[0];
    assert_eq!(t["prefix"], &i.token[..10]);
    assert!(
        t["created"].as_str().is_some_and(looks_like_rfc3339),
        "created: {t}"
    );
    assert!(t.get("last_used").is_some(), "last_used key: {t}");
    assert!(t.get("expires").is_some(), "expires key: {t}");
}

#[test]
fn integration_show_text_never_prints_the_token() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let out = dir.scimd(&["integration", "show", &i.id]);
    assert_exit(&out, 0);
    assert!(!stdout(&out).contains(&i.token), "show printed the token");
    assert!(!stderr(&out).contains(&i.token), "show logged the token");
}

#[test]
fn integration_show_of_unknown_id_exits_1_with_one_line() {
    let dir = TestDir::new();
    dir.create_integration("okta");
    assert_one_line_error(&dir.scimd(&["integration", "show", "int_nosuch", "--json"]));
}

// ---- disable / enable / delete ----

#[test]
fn integration_disable_then_enable_shows_in_list() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    assert_exit(&dir.scimd(&["integration", "disable", &i.id]), 0);
    assert_eq!(list(&dir)[0]["enabled"], false);
    assert_exit(&dir.scimd(&["integration", "enable", &i.id]), 0);
    assert_eq!(list(&dir)[0]["enabled"], true);
}

#[test]
fn integration_delete_without_yes_exits_1_and_deletes_nothing() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let out = dir.scimd(&["integration", "delete", &i.id]);
    assert_exit(&out, 1);
    let all = list(&dir);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["id"], i.id.as_str());
}

#[test]
fn integration_delete_with_yes_removes_it() {
    let dir = TestDir::new();
    let gone = dir.create_integration("gone");
    let kept = dir.create_integration("kept");
    assert_exit(&dir.scimd(&["integration", "delete", &gone.id, "--yes"]), 0);
    let all = list(&dir);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["id"], kept.id.as_str());
    assert_one_line_error(&dir.scimd(&["integration", "show", &gone.id, "--json"]));
}

#[test]
fn integration_disable_of_unknown_id_exits_1() {
    let dir = TestDir::new();
    assert_one_line_error(&dir.scimd(&["integration", "disable", "int_nosuch"]));
}

// ---- tokens ----

#[test]
fn token_rotate_json_has_new_token_and_grace_end() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let v = dir.scimd_json(&["token", "rotate", &i.id, "--json"]);
    assert_eq!(v["id"], i.id.as_str());
    let token = v["token"].as_str().expect("token");
    assert!(token.starts_with("scimd_"), "{token}");
    assert_ne!(token, i.token);
    let until = v["old_token_valid_until"]
        .as_str()
        .expect("old_token_valid_until string");
    assert!(looks_like_rfc3339(until), "not RFC 3339: {until}");
}

#[test]
fn token_rotate_with_grace_0_has_null_valid_until() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let v = dir.scimd_json(&["token", "rotate", &i.id, "--grace", "0", "--json"]);
    assert!(v["old_token_valid_until"].is_null(), "{v}");
    assert!(v.get("old_token_valid_until").is_some(), "key present: {v}");
}

#[test]
fn token_rotate_accepts_duration_units() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    for grace in ["30s", "5m", "1h", "2d"] {
        let out = dir.scimd(&["token", "rotate", &i.id, "--grace", grace, "--json"]);
        assert_exit(&out, 0);
    }
}

#[test]
fn token_rotate_with_bad_duration_fails() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let out = dir.scimd(&["token", "rotate", &i.id, "--grace", "soon", "--json"]);
    assert!(
        !out.status.success(),
        "bad duration accepted: {}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("scimd_"), "printed a token");
}

#[test]
fn token_rotate_of_unknown_id_exits_1_with_one_line() {
    let dir = TestDir::new();
    assert_one_line_error(&dir.scimd(&["token", "rotate", "int_nosuch", "--json"]));
}

#[test]
fn token_list_json_shows_prefix_and_dates_without_secret() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let out = dir.scimd(&["token", "list", &i.id, "--json"]);
    assert_exit(&out, 0);
    assert!(
        !stdout(&out).contains(&i.token),
        "token list printed the token"
    );
    let v = parse_stdout_json(&out, &["token", "list"]);
    let tokens = v.as_array().expect("array");
    assert_eq!(tokens.len(), 1, "{v}");
    let t = tokens[0].as_object().expect("object");
    let mut keys: Vec<&str> = t.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["created", "expires", "last_used", "prefix"]);
    assert_eq!(t["prefix"], &i.token[..10]);
    assert!(t["last_used"].is_null(), "never used yet: {v}");
}

#[test]
fn token_list_after_rotate_with_grace_has_two_tokens() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let rotated = dir.scimd_json(&["token", "rotate", &i.id, "--json"]);
    let new = rotated["token"].as_str().unwrap();
    let tokens = dir.scimd_json(&["token", "list", &i.id, "--json"]);
    let tokens = tokens.as_array().expect("array");
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    let prefixes: Vec<&str> = tokens.iter().filter_map(|t| t["prefix"].as_str()).collect();
    assert!(prefixes.contains(&&i.token[..10]), "{prefixes:?}");
    assert!(prefixes.contains(&&new[..10]), "{prefixes:?}");
    let old = tokens
        .iter()
        .find(|t| t["prefix"] == i.token[..10])
        .unwrap();
    assert!(
        old["expires"].as_str().is_some_and(looks_like_rfc3339),
        "old expires: {old}"
    );
}

#[test]
fn token_list_after_rotate_with_grace_0_has_one_token() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let rotated = dir.scimd_json(&["token", "rotate", &i.id, "--grace", "0", "--json"]);
    let new = rotated["token"].as_str().unwrap();
    let tokens = dir.scimd_json(&["token", "list", &i.id, "--json"]);
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
    assert_eq!(tokens[0]["prefix"], &new[..10]);
}

#[test]
fn token_revoke_with_yes_leaves_no_token() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    dir.scimd_json(&["token", "rotate", &i.id, "--json"]);
    assert_exit(&dir.scimd(&["token", "revoke", &i.id, "--yes"]), 0);
    let tokens = dir.scimd_json(&["token", "list", &i.id, "--json"]);
    assert_eq!(tokens, Value::Array(vec![]));
    let show = dir.scimd_json(&["integration", "show", &i.id, "--json"]);
    assert_eq!(show["tokens"], Value::Array(vec![]));
}

// ---- global flags, env, exit codes ----

#[test]
fn unknown_flag_exits_2() {
    let dir = TestDir::new();
    assert_exit(&dir.scimd(&["integration", "list", "--no-such-flag"]), 2);
}

#[test]
fn unknown_subcommand_exits_2() {
    let dir = TestDir::new();
    assert_exit(&dir.scimd(&["frobnicate"]), 2);
}

#[test]
fn db_flag_after_subcommand_selects_the_same_database() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let out = cli_command()
        .args(["integration", "list", "--json", "--db"])
        .arg(dir.db())
        .output()
        .expect("run scimd");
    assert_exit(&out, 0);
    let v = parse_stdout_json(&out, &["integration", "list"]);
    assert_eq!(v[0]["id"], i.id.as_str());
}

#[test]
fn scimd_db_env_selects_the_database() {
    let dir = TestDir::new();
    let i = dir.create_integration("okta");
    let out = cli_command()
        .env("SCIMD_DB", dir.db())
        .args(["integration", "list", "--json"])
        .output()
        .expect("run scimd");
    assert_exit(&out, 0);
    let v = parse_stdout_json(&out, &["integration", "list"]);
    assert_eq!(v[0]["id"], i.id.as_str());
}

#[test]
fn first_use_creates_the_database_file() {
    let dir = TestDir::new();
    assert!(!dir.db().exists());
    dir.create_integration("okta");
    assert!(dir.db().exists());
}

#[test]
fn help_lists_serve_integration_and_token() {
    let out = cli_command().arg("--help").output().expect("run scimd");
    assert_exit(&out, 0);
    let help = stdout(&out);
    for sub in ["serve", "integration", "token"] {
        assert!(help.contains(sub), "--help lacks {sub}:\n{help}");
    }
}
