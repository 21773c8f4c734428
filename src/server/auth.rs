//! Bearer-token authentication. The token must belong to the integration
//! named in the path; every failure gives the same 401 so a caller learns
//! nothing about integrations it has no token for. Tokens are looked up on
//! every request, so a CLI rotation or revocation applies at once.

use super::state::AppState;
use crate::scim::error::ScimError;
use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use std::sync::Arc;
use time::Duration;

/// How stale `last_used` may get before a request refreshes it; keeps a busy
/// IdP from turning every read into a write.
const TOUCH_EVERY: Duration = Duration::seconds(60);

fn refused() -> ScimError {
    ScimError::unauthorized(
        "missing, invalid, expired or revoked bearer token for this integration",
    )
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

pub async fn authenticate(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    integration_id: &str,
) -> Result<(), ScimError> {
    let token = bearer(headers).ok_or_else(refused)?.to_string();
    let found = state.domain.authenticate(token).await.map_err(|e| {
        tracing::error!(error = %e, "token lookup failed");
        ScimError::internal("token lookup failed")
    })?;
    let Some(found) = found.filter(|f| f.integration_id == integration_id) else {
        return Err(refused());
    };
    let now = crate::clock::now();
    let stale = found
        .last_used
        .as_deref()
        .and_then(crate::clock::parse)
        .is_none_or(|t| now - t > TOUCH_EVERY);
    if stale {
        let domain = state.domain.clone();
        let when = crate::clock::format(now);
        // Fire and forget: bookkeeping must not delay or fail the request.
        tokio::spawn(async move {
            if let Err(e) = domain.touch_token(found.hash, when).await {
                tracing::warn!(error = %e, "could not record token use");
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&h), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused() {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }
}
