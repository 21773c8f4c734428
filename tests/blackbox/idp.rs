//! The configured IdP (`--idp`), `scimd integration guide` and `scimd
//! selftest`, through the real binary.

use crate::harness::{assert_success, cli_command, TestDir, TestServer};
use std::process::Output;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The names of every integration `integration list --json` shows.
fn integration_names(dir: &TestDir) -> Vec<String> {
    let all = dir.scimd_json(&["integration", "list", "--json"]);
    all.as_array()
        .expect("a JSON array")
        .iter()
        .map(|i| i["name"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn integration_created_with_idp_entra_shows_it_in_show_and_list() {
    let dir = TestDir::new();
    let created = dir.scimd_json(&["integration", "create", "corp", "--idp", "entra", "--json"]);
    let id = created["id"].as_str().expect("id").to_string();

    let shown = dir.scimd_json(&["integration", "show", &id, "--json"]);
    assert_eq!(shown["idp"], "entra");
    let text = dir.scimd(&["integration", "show", &id]);
    assert_success(&text, &["integration", "show"]);
    assert!(
        stdout(&text).contains("idp:      entra (Microsoft Entra ID)"),
        "{}",
        stdout(&text)
    );

    let listed = dir.scimd_json(&["integration", "list", "--json"]);
    assert_eq!(listed[0]["idp"], "entra");
    let list_text = stdout(&dir.scimd(&["integration", "list"]));
    assert!(list_text.contains(" entra "), "{list_text}");
}

#[test]
fn integration_without_idp_is_generic() {
    let dir = TestDir::new();
    let i = dir.create_integration("plain");
    let shown = dir.scimd_json(&["integration", "show", &i.id, "--json"]);
    assert_eq!(shown["idp"], "generic");
}

#[test]
fn integration_set_idp_changes_it_and_an_unknown_name_is_a_usage_error() {
    let dir = TestDir::new();
    let i = dir.create_integration("corp");
    let out = dir.scimd(&["integration", "set", &i.id, "--idp", "okta"]);
    assert_success(&out, &["integration", "set", "--idp", "okta"]);
    let shown = dir.scimd_json(&["integration", "show", &i.id, "--json"]);
    assert_eq!(shown["idp"], "okta");

    let bad = dir.scimd(&["integration", "set", &i.id, "--idp", "azure"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("okta, entra"));
}

#[test]
fn guide_contains_the_real_integration_id_and_base_url() {
    let dir = TestDir::new();
    let i = dir.create_integration("corp");
    let args = [
        "integration",
        "guide",
        &i.id,
        "--public-url",
        "https://scim.example.com/",
        "--format",
        "text",
    ];
    let out = dir.scimd(&args);
    assert_success(&out, &args);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("https://scim.example.com/scim/{}", i.id)),
        "{text}"
    );
    assert!(text.contains(&format!("scimd token rotate {}", i.id)));
    assert!(!text.contains(&i.token), "the guide printed the token");
    assert!(!text.contains("<INTEGRATION_ID>"));
}

#[test]
fn guide_follows_the_configured_idp_and_public_url_variable() {
    let dir = TestDir::new();
    let created = dir.scimd_json(&["integration", "create", "corp", "--idp", "okta", "--json"]);
    let id = created["id"].as_str().expect("id");
    let out = cli_command()
        .env("SCIMD_PUBLIC_URL", "https://idp-facing.example.net")
        .arg("--db")
        .arg(dir.db())
        .args(["integration", "guide", id, "--format", "markdown"])
        .output()
        .expect("run scimd");
    assert_success(&out, &["integration", "guide"]);
    let md = stdout(&out);
    assert!(md.starts_with("<!--"), "{md}");
    assert!(md.contains("# Set up Okta for scimd"));
    assert!(md.contains("SCIM connector base URL"));
    assert!(md.contains(&format!("`https://idp-facing.example.net/scim/{id}`")));
    assert!(md.contains("delete mode is `deactivate`"));
}

#[test]
fn guide_template_is_the_committed_doc() {
    let dir = TestDir::new();
    for idp in ["okta", "entra"] {
        let args = [
            "integration",
            "guide",
            "--template",
            idp,
            "--format",
            "markdown",
        ];
        let out = dir.scimd(&args);
        assert_success(&out, &args);
        let path = format!("{}/docs/idp/{idp}.md", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).expect("read the committed doc");
        assert_eq!(stdout(&out), committed, "{path} differs from the generator");
    }
}

/// The scratch integration's id, from selftest's first line, and a check
/// that nothing of it is left: not the integration, not its audit trail.
fn assert_scratch_gone(dir: &TestDir, selftest_stdout: &str) {
    let id = selftest_stdout
        .split_whitespace()
        .skip_while(|w| *w != "integration")
        .nth(1)
        .unwrap_or_else(|| panic!("no scratch integration named in:\n{selftest_stdout}"));
    assert!(id.starts_with("int_"), "{selftest_stdout}");
    assert_eq!(integration_names(dir), vec!["primary".to_string()]);
    let audit = dir.scimd(&["audit", id]);
    assert_eq!(audit.status.code(), Some(1), "{}", stdout(&audit));
    assert!(String::from_utf8_lossy(&audit.stderr).contains("no integration"));
}

/// Runs `scimd selftest --url <server> --profile P EXTRA…`, asserts exit 0
/// and PASS lines only, and that the scratch integration is gone after.
fn selftest_passes(profile: &str, extra: &[&str]) {
    let server = TestServer::start();
    let mut args = vec!["selftest", "--url", server.url(), "--profile", profile];
    args.extend_from_slice(extra);
    let out = server.scimd(&args);
    let text = stdout(&out);
    assert_success(&out, &args);
    assert!(text.lines().any(|l| l.starts_with("PASS ")), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("steps passed"), "{text}");
    assert_scratch_gone(&server.dir, &text);
}

#[test]
fn selftest_entra_passes_against_the_real_server_and_leaves_nothing() {
    selftest_passes("entra", &[]);
}

#[test]
fn selftest_okta_passes_against_the_real_server_and_leaves_nothing() {
    selftest_passes("okta", &[]);
}

#[test]
fn selftest_generic_passes_with_insecure_too() {
    selftest_passes("generic", &["--insecure"]);
}

#[test]
fn selftest_against_a_wrong_path_fails_and_still_removes_its_integration() {
    let server = TestServer::start();
    let url = format!("{}/not-scimd", server.url());
    let args = ["selftest", "--url", &url, "--profile", "entra"];
    let out = server.scimd(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.lines().any(|l| l.starts_with("FAIL ")), "{text}");
    assert!(text.contains("expected HTTP 200, got 404"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("steps failed"));
    assert_scratch_gone(&server.dir, &text);
}

#[test]
fn selftest_refuses_a_server_whose_certificate_is_not_the_stored_one() {
    let real = TestServer::start();
    // Another install's database: its stored certificate is not `real`'s.
    let other = TestServer::start();
    let args = ["selftest", "--url", real.url(), "--profile", "generic"];
    let out = other.scimd(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("not the one stored in the database"),
        "{text}"
    );
    assert!(!text.contains("PASS"), "{text}");
    assert_scratch_gone(&other.dir, &text);
}

#[test]
fn selftest_interrupted_mid_step_still_removes_its_integration() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::process::Stdio;

    let dir = TestDir::new();
    // A server that accepts and never answers: the first step hangs.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    let mut child = cli_command()
        .arg("--db")
        .arg(dir.db())
        .args(["selftest", "--url", &url, "--profile", "generic"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn selftest");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("read");
    assert!(first.contains("scratch integration int_"), "{first}");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{rest:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(rest.iter().any(|l| l.contains("deleted")), "{rest:?}");
    let all = dir.scimd_json(&["integration", "list", "--json"]);
    assert_eq!(all, serde_json::json!([]));
}

#[test]
fn selftest_with_another_servers_database_fails_with_401_and_says_why() {
    let real = TestServer::start();
    let other = TestServer::start();
    let args = [
        "selftest",
        "--url",
        real.url(),
        "--profile",
        "okta",
        "--insecure",
    ];
    let out = other.scimd(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("got 401"), "{text}");
    assert!(
        text.contains("is --db the database this server uses?"),
        "{text}"
    );
    assert_scratch_gone(&other.dir, &text);
}
