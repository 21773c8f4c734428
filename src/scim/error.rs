//! The SCIM error value (RFC 7644 §3.12). Every failure the protocol layer can
//! report is a `ScimError` that knows its HTTP status, its `scimType` and a
//! human `detail` naming the field or value at fault. The server layer turns it
//! into a response body; nothing here touches I/O.

use serde_json::{json, Value};
use std::fmt;

/// The `scimType` keywords of RFC 7644 §3.12 (plus RFC 9865's `invalidCursor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimType {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    InvalidCursor,
}

impl ScimType {
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
        }
    }
}

/// The stable codes rejected requests are audited with; admins look them up
/// in the README's troubleshooting table, so they never change.
pub mod code {
    pub const UNAUTHORIZED: &str = "SCIM_UNAUTHORIZED";
    pub const USER_CONFLICT: &str = "SCIM_USER_CONFLICT";
    pub const INVALID_FILTER: &str = "SCIM_INVALID_FILTER";
    pub const SCHEMA_MISMATCH: &str = "SCIM_SCHEMA_MISMATCH";
    pub const RATE_LIMITED: &str = "SCIM_RATE_LIMITED";
    pub const INVALID_REQUEST: &str = "SCIM_INVALID_REQUEST";
}

/// A client-facing SCIM error: HTTP status, optional `scimType`, and detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<ScimType>,
    pub detail: String,
    /// An audit code chosen where the error was made, when status and
    /// `scimType` alone would not tell (`SCIM_SCHEMA_MISMATCH`).
    pub code: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ScimError {
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
            code: None,
            retry_after: None,
        }
    }

    /// Sets the audit code explicitly (see `audit_code`).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 429 with a `Retry-After` of `seconds` (at least 1).
    pub fn too_many_requests(detail: impl Into<String>, seconds: u64) -> Self {
        let mut e = Self::new(429, None, detail);
        e.retry_after = Some(seconds.max(1));
        e
    }

    /// The stable audit code of a refused request; None for success codes
    /// and server failures, which are not client rejections.
    pub fn audit_code(&self) -> Option<&'static str> {
        if !(400..500).contains(&self.status) {
            return None;
        }
        if let Some(c) = self.code {
            return Some(c);
        }
        Some(match (self.status, self.scim_type) {
            (401, _) => code::UNAUTHORIZED,
            (429, _) => code::RATE_LIMITED,
            (409, Some(ScimType::Uniqueness)) => code::USER_CONFLICT,
            (400, Some(ScimType::InvalidFilter)) => code::INVALID_FILTER,
            _ => code::INVALID_REQUEST,
        })
    }

    /// 400 with a `scimType`.
    pub fn bad(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidFilter, detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidValue, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidSyntax, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::InvalidPath, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::NoTarget, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::Mutability, detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad(ScimType::TooMany, detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(401, None, detail)
    }
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, None, detail)
    }
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(413, None, detail)
    }
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(415, None, detail)
    }
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }

    /// The RFC 7644 §3.12 body; `status` is a string as the RFC's examples show.
    pub fn to_body(&self) -> Value {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = Value::String(t.as_str().to_string());
        }
        body
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scim_type {
            Some(t) => write!(f, "{} {}: {}", self.status, t.as_str(), self.detail),
            None => write!(f, "{}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_status_as_string_and_scim_type() {
        let body = ScimError::uniqueness("userName 'bjensen' is taken").to_body();
        assert_eq!(body["status"], "409");
        assert_eq!(body["scimType"], "uniqueness");
        assert_eq!(
            body["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:Error"
        );
    }

    #[test]
    fn audit_codes_follow_status_and_scim_type() {
        assert_eq!(
            ScimError::unauthorized("x").audit_code(),
            Some(code::UNAUTHORIZED)
        );
        assert_eq!(
            ScimError::uniqueness("x").audit_code(),
            Some(code::USER_CONFLICT)
        );
        assert_eq!(
            ScimError::invalid_filter("x").audit_code(),
            Some(code::INVALID_FILTER)
        );
        assert_eq!(
            ScimError::too_many_requests("x", 3).audit_code(),
            Some(code::RATE_LIMITED)
        );
        for e in [
            ScimError::invalid_syntax("x"),
            ScimError::invalid_value("x"),
            ScimError::not_found("x"),
            ScimError::precondition_failed("x"),
            ScimError::payload_too_large("x"),
            ScimError::unsupported_media_type("x"),
            ScimError::new(409, None, "x"),
        ] {
            assert_eq!(e.audit_code(), Some(code::INVALID_REQUEST), "{e}");
        }
        assert_eq!(ScimError::internal("x").audit_code(), None);
        assert_eq!(ScimError::new(501, None, "x").audit_code(), None);
    }

    #[test]
    fn an_explicit_code_wins_but_only_for_client_errors() {
        let e = ScimError::invalid_syntax("anything at all").with_code(code::SCHEMA_MISMATCH);
        assert_eq!(e.audit_code(), Some(code::SCHEMA_MISMATCH));
        let e = ScimError::internal("x").with_code(code::SCHEMA_MISMATCH);
        assert_eq!(e.audit_code(), None);
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        assert_eq!(ScimError::too_many_requests("x", 0).retry_after, Some(1));
        assert_eq!(ScimError::too_many_requests("x", 7).retry_after, Some(7));
        assert_eq!(ScimError::too_many_requests("x", 7).status, 429);
    }

    #[test]
    fn body_omits_scim_type_when_none() {
        let body = ScimError::not_found("no such user").to_body();
        assert!(body.get("scimType").is_none());
        assert_eq!(body["status"], "404");
    }
}
