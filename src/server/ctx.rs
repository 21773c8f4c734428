//! What a request handler knows besides the request itself (the app state,
//! the integration, the base URL, the request id and the query), and how a
//! domain failure becomes the client's error at this boundary.

use super::query::Query;
use super::router::Kind;
use super::state::AppState;
use crate::scim::error::ScimError;
use crate::store::StoreError;
use std::sync::Arc;

/// What a handler knows about the request besides its body.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub integration_id: String,
    /// `https://host/scim/<integration>`, used for `meta.location`.
    pub base_url: String,
    pub request_id: String,
    pub query: Query,
}

impl Ctx {
    pub fn location(&self, kind: Kind, id: &str) -> String {
        format!("{}/{}/{id}", self.base_url, kind.collection())
    }
}

/// Converts a store failure at the boundary: client-facing refusals pass
/// through, everything else is logged and becomes a 500 without internals.
pub fn from_store(e: StoreError) -> ScimError {
    match e {
        StoreError::Scim(e) => e,
        StoreError::Busy => {
            let mut e = ScimError::new(503, None, "the server is busy writing; retry in a second");
            e.retry_after = Some(1);
            e
        }
        // 507 (RFC 4918), with the cause in the detail: the operator, not
        // the IdP, has to act, and the write can be retried afterwards.
        full if full.is_disk_full() => {
            tracing::error!(error = %full, "the disk holding the database is full");
            ScimError::new(
                507,
                None,
                "the server's disk is full: the change was not stored; retry after the operator frees space",
            )
        }
        other => {
            tracing::error!(error = %other, "storage failure");
            ScimError::internal("the server could not complete the request; see its log")
        }
    }
}
