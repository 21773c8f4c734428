//! Handlers for the discovery endpoints. The documents themselves are built
//! by the pure `scim::discovery` module from the schema definitions; this
//! file only says which features are on and wraps them in responses.

use super::ctx::Ctx;
use super::http::{json_response, Body};
use super::state::Limits;
use crate::scim::discovery::{self as docs, Features};
use crate::scim::error::ScimError;
use crate::scim::list::list_response;
use crate::scim::schema::{self, ResourceType, SchemaDef};
use hyper::Response;

/// What is implemented today.
fn features(limits: &Limits) -> Features {
    let page = |n: i64| usize::try_from(n.max(1)).unwrap_or(1);
    Features {
        patch: true,
        bulk: Some((crate::scim::bulk::MAX_OPERATIONS, limits.max_body_bytes)),
        filter_max_results: Some(page(limits.max_page_size)),
        default_page_size: Some(page(limits.default_page_size)),
        sort: true,
        etag: true,
        cursor: true,
    }
}

fn resource_types_served() -> [&'static ResourceType; 2] {
    [&schema::USER_TYPE, &schema::GROUP_TYPE]
}

fn schemas_served() -> Vec<&'static SchemaDef> {
    let mut out = Vec::new();
    for rt in resource_types_served() {
        out.push(rt.schema);
        out.extend(rt.extensions.iter().copied());
    }
    out
}

pub fn service_provider_config(ctx: &Ctx) -> Response<Body> {
    json_response(
        200,
        &docs::service_provider_config(&features(&ctx.state.limits), &ctx.base_url),
    )
}

pub fn resource_types(ctx: &Ctx) -> Response<Body> {
    let docs: Vec<_> = resource_types_served()
        .iter()
        .map(|rt| docs::resource_type_doc(rt, &ctx.base_url))
        .collect();
    json_response(200, &list_response(docs.len() as i64, 1, docs))
}

pub fn resource_type(ctx: &Ctx, name: &str) -> Result<Response<Body>, ScimError> {
    resource_types_served()
        .iter()
        .find(|rt| rt.name.eq_ignore_ascii_case(name))
        .map(|rt| json_response(200, &docs::resource_type_doc(rt, &ctx.base_url)))
        .ok_or_else(|| ScimError::not_found(format!("no resource type named '{name}'")))
}

pub fn schemas(ctx: &Ctx) -> Response<Body> {
    let docs: Vec<_> = schemas_served()
        .iter()
        .map(|s| docs::schema_doc(s, &ctx.base_url))
        .collect();
    json_response(200, &list_response(docs.len() as i64, 1, docs))
}

pub fn schema(ctx: &Ctx, urn: &str) -> Result<Response<Body>, ScimError> {
    schemas_served()
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(urn))
        .map(|s| json_response(200, &docs::schema_doc(s, &ctx.base_url)))
        .ok_or_else(|| ScimError::not_found(format!("no schema with id '{urn}'")))
}

/// The OpenAPI document of this API (`docs/openapi.json`, built in), its
/// `servers` naming the integration's own base URL so tools pointed at
/// `<base>/openapi.json` call the right integration.
pub fn openapi(ctx: &Ctx) -> Response<Body> {
    static DOC: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| {
        // Checked by the router's unit tests, so this cannot fail in a build that passed them.
        serde_json::from_str(OPENAPI_JSON).unwrap_or_default()
    });
    let mut doc = doc.clone();
    doc["servers"] = serde_json::json!([{ "url": ctx.base_url }]);
    let mut resp = json_response(200, &doc);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

/// `docs/openapi.json`, as shipped in the binary.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");
