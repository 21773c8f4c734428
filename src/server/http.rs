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
    json_bytes_response(status, serde_json::to_vec(body).unwrap_or_default())
}

/// `json_response` for a body already serialised.
pub fn json_bytes_response(status: u16, bytes: Vec<u8>) -> Response<Body> {
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
        Ok(Ok(collected)) => {
            let bytes = collected.to_bytes();
            super::pushes::request_body(&bytes);
            Ok(bytes)
        }
    }
}

/// The response's body bytes, and the response rebuilt around them (a
/// `Full` body is already in memory: this copies no bytes).
pub async fn response_bytes(resp: Response<Body>) -> (Response<Body>, Bytes) {
    let (parts, body) = resp.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    (Response::from_parts(parts, Full::new(bytes.clone())), bytes)
}

/// A request header as text; a non-ASCII value counts as absent.
pub fn header(req: &Request<Incoming>, name: hyper::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Checks the content type, reads the bounded body, parses it as strict
/// JSON and refuses bodies written for SCIM 1.x. Resource bodies get their
/// own `schemas` check later, against their resource type.
pub async fn read_json(req: Request<Incoming>, limit: usize) -> Result<Value, ScimError> {
    check_content_type(&req)?;
    let bytes = read_body(req, limit).await?;
    let body = crate::scim::json::parse_body(&bytes)?;
    crate::scim::intake::check_message_schemas(&body)?;
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

    #[test]
    fn retry_after_becomes_a_header() {
        let resp = error_response(&ScimError::too_many_requests("slow down", 4));
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()[hyper::header::RETRY_AFTER], "4");
        let resp = error_response(&ScimError::not_found("x"));
        assert!(resp.headers().get(hyper::header::RETRY_AFTER).is_none());
    }
}
