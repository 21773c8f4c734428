//! Discovery documents (RFC 7643 §5–7): ServiceProviderConfig, ResourceTypes
//! and Schemas. Checks their shapes and key fields, never the values of the
//! `supported` flags (later issues turn features on), and that they refuse
//! mutation with 405.

use serde_json::{json, Value};

use crate::harness::{TestServer, ENTERPRISE_USER, LIST_RESPONSE, SPC_SCHEMA, USER_SCHEMA};

const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

fn get_ok(server: &TestServer, rest: &str) -> Value {
    let resp = server.get(&server.scim(rest), server.token());
    resp.expect(200);
    let ct = resp.header("content-type").unwrap_or("");
    assert!(
        ct.starts_with("application/scim+json"),
        "{rest}: Content-Type {ct}"
    );
    resp.body
}

fn resources(list: &Value) -> &Vec<Value> {
    list["Resources"]
        .as_array()
        .unwrap_or_else(|| panic!("no Resources: {list}"))
}

#[test]
fn service_provider_config_has_rfc_shape() {
    let server = TestServer::start();
    let spc = get_ok(&server, "/ServiceProviderConfig");
    assert_eq!(spc["schemas"], json!([SPC_SCHEMA]), "{spc}");
    for feature in ["patch", "bulk", "filter", "changePassword", "sort", "etag"] {
        assert!(
            spc[feature]["supported"].is_boolean(),
            "{feature}.supported: {spc}"
        );
    }
    assert!(
        spc["bulk"]["maxOperations"].is_u64(),
        "bulk.maxOperations: {spc}"
    );
    assert!(
        spc["bulk"]["maxPayloadSize"].is_u64(),
        "bulk.maxPayloadSize: {spc}"
    );
    assert!(
        spc["filter"]["maxResults"].is_u64(),
        "filter.maxResults: {spc}"
    );
}

#[test]
fn service_provider_config_lists_authentication_schemes() {
    let server = TestServer::start();
    let spc = get_ok(&server, "/ServiceProviderConfig");
    let schemes = spc["authenticationSchemes"]
        .as_array()
        .expect("authenticationSchemes");
    assert!(!schemes.is_empty(), "{spc}");
    for s in schemes {
        for key in ["type", "name", "description"] {
            assert!(s[key].is_string(), "authenticationSchemes[].{key}: {s}");
        }
    }
}

#[test]
fn resource_types_lists_user_with_enterprise_extension() {
    let server = TestServer::start();
    let list = get_ok(&server, "/ResourceTypes");
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]), "{list}");
    let all = resources(&list);
    assert_eq!(list["totalResults"], json!(all.len()), "{list}");
    let user = all
        .iter()
        .find(|r| r["name"] == "User")
        .unwrap_or_else(|| panic!("no User resource type: {list}"));
    assert_eq!(user["endpoint"], "/Users", "{user}");
    assert_eq!(user["schema"], USER_SCHEMA, "{user}");
    let extensions = user["schemaExtensions"]
        .as_array()
        .expect("schemaExtensions");
    let enterprise = extensions
        .iter()
        .find(|e| e["schema"] == ENTERPRISE_USER)
        .unwrap_or_else(|| panic!("no enterprise extension: {user}"));
    assert!(enterprise["required"].is_boolean(), "{enterprise}");
}

#[test]
fn resource_type_user_is_200() {
    let server = TestServer::start();
    let rt = get_ok(&server, "/ResourceTypes/User");
    let schemas = rt["schemas"].as_array().expect("schemas");
    assert!(schemas.contains(&json!(RESOURCE_TYPE_SCHEMA)), "{rt}");
    assert_eq!(rt["name"], "User");
    assert_eq!(rt["endpoint"], "/Users");
    assert_eq!(rt["schema"], USER_SCHEMA);
}

#[test]
fn unknown_resource_type_is_404() {
    let server = TestServer::start();
    server
        .get(&server.scim("/ResourceTypes/Widget"), server.token())
        .expect_error(404, None);
}

#[test]
fn schemas_lists_user_and_enterprise_user() {
    let server = TestServer::start();
    let list = get_ok(&server, "/Schemas");
    assert_eq!(list["schemas"], json!([LIST_RESPONSE]), "{list}");
    let all = resources(&list);
    assert_eq!(list["totalResults"], json!(all.len()), "{list}");
    for urn in [USER_SCHEMA, ENTERPRISE_USER] {
        assert!(
            all.iter().any(|s| s["id"] == urn),
            "{urn} missing from /Schemas"
        );
    }
}

#[test]
fn user_schema_has_username_attribute() {
    let server = TestServer::start();
    let schema = get_ok(&server, &format!("/Schemas/{USER_SCHEMA}"));
    let schemas = schema["schemas"].as_array().expect("schemas");
    assert!(schemas.contains(&json!(SCHEMA_SCHEMA)), "{schema}");
    assert_eq!(schema["id"], USER_SCHEMA);
    let attributes = schema["attributes"].as_array().expect("attributes");
    let user_name = attributes
        .iter()
        .find(|a| a["name"] == "userName")
        .unwrap_or_else(|| panic!("no userName attribute: {schema}"));
    assert_eq!(user_name["type"], "string", "{user_name}");
    assert_eq!(user_name["required"], true, "{user_name}");
    assert_eq!(user_name["uniqueness"], "server", "{user_name}");
}

#[test]
fn user_schema_says_password_is_never_returned() {
    let server = TestServer::start();
    let schema = get_ok(&server, &format!("/Schemas/{USER_SCHEMA}"));
    let attributes = schema["attributes"].as_array().expect("attributes");
    let password = attributes
        .iter()
        .find(|a| a["name"] == "password")
        .unwrap_or_else(|| panic!("no password attribute: {schema}"));
    assert_eq!(password["returned"], "never", "{password}");
    assert_eq!(password["mutability"], "writeOnly", "{password}");
}

#[test]
fn enterprise_user_schema_is_200() {
    let server = TestServer::start();
    let schema = get_ok(&server, &format!("/Schemas/{ENTERPRISE_USER}"));
    assert_eq!(schema["id"], ENTERPRISE_USER);
    let attributes = schema["attributes"].as_array().expect("attributes");
    assert!(
        attributes.iter().any(|a| a["name"] == "employeeNumber"),
        "{schema}"
    );
}

#[test]
fn unknown_schema_is_404() {
    let server = TestServer::start();
    server
        .get(&server.scim("/Schemas/urn:example:nope"), server.token())
        .expect_error(404, None);
}

#[test]
fn mutating_discovery_endpoints_is_405() {
    let server = TestServer::start();
    let paths = [
        "/ServiceProviderConfig".to_string(),
        "/ResourceTypes".to_string(),
        "/ResourceTypes/User".to_string(),
        "/Schemas".to_string(),
        format!("/Schemas/{USER_SCHEMA}"),
    ];
    let auth = format!("Bearer {}", server.token());
    for path in &paths {
        for method in ["POST", "PUT", "DELETE"] {
            let body: Option<&[u8]> = (method != "DELETE").then_some(b"{}");
            let resp = server.raw(
                method,
                &server.scim(path),
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/scim+json"),
                ],
                body,
            );
            assert_eq!(resp.status, 405, "{method} {path}: {}", resp.text);
            resp.expect_error(405, None);
        }
    }
}

#[test]
fn openapi_document_is_served_with_the_integration_base_url_behind_auth() {
    let server = TestServer::start();
    let resp = server.get(&server.scim("/openapi.json"), server.token());
    resp.expect(200);
    let ct = resp.header("content-type").unwrap_or("");
    assert!(ct.starts_with("application/json"), "Content-Type {ct}");
    assert_eq!(resp.body["openapi"], "3.1.0", "{}", resp.body);
    let base = resp.body["servers"][0]["url"].as_str().unwrap_or("");
    assert!(base.ends_with(&server.scim("")), "servers: {base}");
    assert!(resp.body["paths"]["/Users/{id}"]["patch"].is_object());

    server
        .raw("GET", &server.scim("/openapi.json"), &[], None)
        .expect_error(401, None);
}

#[test]
fn schema_urn_with_escaped_colons_is_found() {
    let server = TestServer::start();
    let escaped = USER_SCHEMA.replace(':', "%3A");
    let doc = get_ok(&server, &format!("/Schemas/{escaped}"));
    assert_eq!(doc["id"], USER_SCHEMA, "{doc}");
}
