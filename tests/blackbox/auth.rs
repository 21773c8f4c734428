//! Bearer-token authentication of SCIM requests: who gets in, who gets a 401,
//! and that a 401 tells nothing about other integrations. CLI-driven token
//! changes are only used here to produce a refused token; their timing on a
//! running server is `lifecycle`'s business.

use crate::harness::{user, TestServer};

const WWW_AUTHENTICATE: &str = "Bearer realm=\"scimd\"";

#[track_caller]
fn assert_unauthorized(resp: &crate::harness::Resp) {
    resp.expect_error(401, None);
    assert_eq!(
        resp.header("www-authenticate"),
        Some(WWW_AUTHENTICATE),
        "WWW-Authenticate header"
    );
    assert!(
        resp.body.get("scimType").is_none(),
        "401 has no scimType: {}",
        resp.text
    );
}

#[test]
fn own_token_is_200() {
    let server = TestServer::start();
    server
        .get(&server.scim("/Users"), server.token())
        .expect(200);
}

#[test]
fn request_without_authorization_is_401() {
    let server = TestServer::start();
    let resp = server.raw("GET", &server.scim("/Users"), &[], None);
    assert_unauthorized(&resp);
}

#[test]
fn basic_authorization_is_401() {
    let server = TestServer::start();
    let resp = server.raw(
        "GET",
        &server.scim("/Users"),
        &[("Authorization", "Basic dXNlcjpwYXNz")],
        None,
    );
    assert_unauthorized(&resp);
}

#[test]
fn wrong_token_is_401() {
    let server = TestServer::start();
    let wrong = format!("scimd_{}", "A".repeat(43));
    assert_unauthorized(&server.get(&server.scim("/Users"), &wrong));
}

#[test]
fn token_with_one_character_changed_is_401() {
    let server = TestServer::start();
    let mut wrong = server.token().to_string();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'x' { 'y' } else { 'x' });
    assert_unauthorized(&server.get(&server.scim("/Users"), &wrong));
}

#[test]
fn token_of_other_integration_is_401() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    assert_unauthorized(&server.get(&server.scim("/Users"), &other.token));
}

#[test]
fn token_of_other_integration_cannot_create_users() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    let resp = server.post_json(&server.scim("/Users"), &other.token, &user("intruder"));
    assert_unauthorized(&resp);
    let list = server.get(&server.scim("/Users"), server.token());
    assert_eq!(list.expect(200).body["totalResults"], 0);
}

#[test]
fn token_of_other_integration_gets_same_body_as_wrong_token() {
    let server = TestServer::start();
    let other = server.create_integration("other");
    let wrong = format!("scimd_{}", "B".repeat(43));
    let with_other = server.get(&server.scim("/Users"), &other.token);
    let with_wrong = server.get(&server.scim("/Users"), &wrong);
    assert_eq!(with_other.status, with_wrong.status);
    assert_eq!(with_other.body, with_wrong.body);
}

#[test]
fn unknown_integration_id_is_401() {
    let server = TestServer::start();
    let resp = server.get("/scim/int_doesnotexist/Users", server.token());
    assert_unauthorized(&resp);
}

#[test]
fn unknown_integration_gets_same_body_as_wrong_token() {
    let server = TestServer::start();
    let wrong = format!("scimd_{}", "C".repeat(43));
    let unknown = server.get("/scim/int_doesnotexist/Users", &wrong);
    let known = server.get(&server.scim("/Users"), &wrong);
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.body, known.body);
}

#[test]
fn discovery_without_token_is_401() {
    let server = TestServer::start();
    let resp = server.raw("GET", &server.scim("/ServiceProviderConfig"), &[], None);
    assert_unauthorized(&resp);
}

#[test]
fn revoked_token_is_401() {
    let server = TestServer::start();
    let id = server.integration.id.clone();
    server.scimd_ok(&["token", "revoke", &id, "--yes"]);
    assert_unauthorized(&server.get(&server.scim("/Users"), server.token()));
}

#[test]
fn token_of_disabled_integration_is_401() {
    let server = TestServer::start();
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "disable", &id]);
    assert_unauthorized(&server.get(&server.scim("/Users"), server.token()));
}

#[test]
fn token_after_integration_delete_is_401() {
    let server = TestServer::start();
    let id = server.integration.id.clone();
    server.scimd_ok(&["integration", "delete", &id, "--yes"]);
    assert_unauthorized(&server.get(&server.scim("/Users"), server.token()));
}

#[test]
fn token_never_appears_in_logs() {
    let server = TestServer::start_with(&[], &[("SCIMD_LOG", "debug")]);
    let token = server.token().to_string();
    server.create_user(&user("logged"));
    server.get(&server.scim("/Users"), &token).expect(200);
    // A failed attempt with a near-miss token must not be logged in full either.
    let near_miss = format!("{token}x");
    server.get(&server.scim("/Users"), &near_miss).expect(401);
    let log = server.serve().log();
    assert!(
        !log.trim().is_empty(),
        "SCIMD_LOG=debug logged nothing: the check would be vacuous"
    );
    assert!(!log.contains(&token), "full token in the log:\n{log}");
    assert!(
        !log.contains(&near_miss),
        "full presented token in the log:\n{log}"
    );
}
