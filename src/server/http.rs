//! HTTP plumbing shared by the handlers: reading a bounded JSON body,
//! checking its content type, and building `application/scim+json`
//! responses and SCIM error responses.

use crate::scim::error::ScimError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

pub type Body = Full<Bytes>;

pub const SCIM_JSON: &str = "application/scim+json";

/// A body that has not arrived by then is abandoned.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

pub fn json_response(status: u16, body: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(bytes)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    resp
}

pub fn empty_response(status: u16) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT);
    resp
}

pub fn error_response(e: &ScimError) -> Response<Body> {
    let mut resp = json_response(e.status, &e.to_body());
    if e.status == 401 {
        resp.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"scimd\""),
        );
    }
    if let Some(secs) = e.retry_after {
        resp.headers_mut()
            .insert(hyper::header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    resp
}

/// Only JSON is accepted; a missing content type is tolerated because some
/// IdPs omit it on small bodies.
pub fn check_content_type(req: &Request<Incoming>) -> Result<(), ScimError> {
    let Some(ct) = req.headers().get(CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct.to_str().unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/scim+json" || mime == "application/json" {
        Ok(())
    } else {
        Err(ScimError::unsupported_media_type(format!(
            "content type '{ct}' is not supported; send application/scim+json or application/json"
        )))
    }
}

/// Reads at most `limit` bytes; a declared or actual larger body is a 413 and
/// is not read further.
pub async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, ScimError> {
    let too_large =
        || ScimError::payload_too_large(format!("request body is larger than {limit} bytes"));
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limit);
    match tokio::time::timeout(BODY_READ_TIMEOUT, body.collect()).await {
        Err(_) => Err(ScimError::new(
            408,
            None,
            "request body was not received in time",
        )),
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(too_large())
            } else {
                Err(ScimError::invalid_syntax(format!(
                    "could not read request body: {e}"
                )))
            }
        }
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

pub fn parse_json(bytes: &[u8]) -> Result<Value, ScimError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "request body is empty; a JSON object is required",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("request body is not valid JSON: {e}")))
}

/// A request header as text; a non-ASCII value counts as absent.
pub fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The detail of the refusal of a SCIM 1.x body.
pub const SCIM_1_DETAIL: &str = "SCIM 1.1 is not supported; send SCIM 2.0";

/// Refuses a body whose `schemas` names a SCIM 1.x URN
/// (`urn:scim:schemas:core:1.0`, `urn:scim:schemas:extension:…`). A body
/// without `schemas` is taken as SCIM 2.0.
pub fn reject_scim_1(body: &Value) -> Result<(), ScimError> {
    let is_1x = |v: &Value| {
        v.as_str().is_some_and(|s| {
            s.trim()
                .get(..17)
                .is_some_and(|p| p.eq_ignore_ascii_case("urn:scim:schemas:"))
        })
    };
    let hit = match body.get("schemas") {
        Some(Value::Array(items)) => items.iter().any(is_1x),
        Some(v) => is_1x(v),
        None => false,
    };
    if hit {
        return Err(ScimError::invalid_syntax(SCIM_1_DETAIL)
            .with_code(crate::scim::error::code::SCHEMA_MISMATCH));
    }
    Ok(())
}

/// Checks the content type, reads the bounded body, parses it as JSON and
/// refuses SCIM 1.x bodies.
pub async fn read_json(req: Request<Incoming>, limit: usize) -> Result<Value, ScimError> {
    check_content_type(&req)?;
    let bytes = read_body(req, limit).await?;
    let body = parse_json(&bytes)?;
    reject_scim_1(&body)?;
    Ok(body)
}

/// Adds the weak ETag header of a resource version.
pub fn with_etag(mut resp: Response<Body>, etag: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(hyper::header::ETAG, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::code;
    use serde_json::json;

    #[test]
    fn scim_1_bodies_are_refused_with_their_own_code() {
        for body in [
            json!({"schemas": ["urn:scim:schemas:core:1.0"], "userName": "a"}),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:scim:schemas:extension:enterprise:1.0"]}),
            json!({"schemas": "URN:SCIM:SCHEMAS:core:1.0"}),
        ] {
            let e = reject_scim_1(&body).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidSyntax)
            );
            assert_eq!(e.detail, SCIM_1_DETAIL);
            assert_eq!(e.audit_code(), Some(code::SCHEMA_MISMATCH));
        }
    }

    #[test]
    fn scim_2_and_schemaless_bodies_pass() {
        for body in [
            json!({"userName": "a"}),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}),
            json!({"schemas": []}),
            json!([1, 2]),
        ] {
            assert!(reject_scim_1(&body).is_ok(), "{body}");
        }
    }

    #[test]
    fn retry_after_becomes_a_header() {
        let resp = error_response(&ScimError::too_many_requests("slow down", 4));
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()[hyper::header::RETRY_AFTER], "4");
        let resp = error_response(&ScimError::not_found("x"));
        assert!(resp.headers().get(hyper::header::RETRY_AFTER).is_none());
    }
}
