//! Bearer-token authentication. The token must belong to the integration
//! named in the path; every failure gives the same 401 so a caller learns
//! nothing about integrations it has no token for. A token seen valid is
//! answered from memory (`admission::token_cache`) without a database read;
//! the CLI's marker file (`store::tokens::generation`) empties that memory
//! at once when access changes, so a rotation or revocation still applies
//! to the very next request.

use super::admission::token_cache::{Cached, TOUCH_EVERY};
use super::state::AppState;
use crate::scim::error::ScimError;
use hyper::header::AUTHORIZATION;
use hyper::HeaderMap;
use std::sync::Arc;

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
    let token = bearer(headers).ok_or_else(refused)?;
    let hash = crate::secret::token_hash(token);
    // No generation (the marker cannot be read): no cache, every request asks.
    let generation = match state.domain.access_generation() {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the access marker; tokens are not cached");
            None
        }
    };
    if let Some(g) = generation {
        let now = crate::clock::now();
        let cached =
            state
                .guard
                .token_cache()
                .check(g, &hash, integration_id, now, crate::clock::instant());
        match cached {
            Cached::Valid { touch } => {
                if touch {
                    record_use(state, hash, now);
                }
                return Ok(());
            }
            Cached::OtherIntegration => return Err(refused()),
            Cached::Unknown => {}
        }
    }
    let found = state
        .domain
        .authenticate(token.to_string())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token lookup failed");
            ScimError::internal("token lookup failed")
        })?;
    let Some(found) = found else {
        return Err(refused());
    };
    let now = crate::clock::now();
    let last_used = found.last_used.as_deref().and_then(crate::clock::parse);
    let stale = last_used.is_none_or(|t| now - t > TOUCH_EVERY);
    if let Some(g) = generation {
        state.guard.token_cache().remember(
            g,
            &hash,
            &found.integration_id,
            found.expires.as_deref().and_then(crate::clock::parse),
            if stale { Some(now) } else { last_used },
            crate::clock::instant(),
        );
    }
    if found.integration_id != integration_id {
        return Err(refused());
    }
    if stale {
        record_use(state, found.hash, now);
    }
    Ok(())
}

/// Records the token's use in the background: bookkeeping must not delay or
/// fail the request.
fn record_use(state: &Arc<AppState>, hash: Vec<u8>, now: time::OffsetDateTime) {
    let domain = state.domain.clone();
    let when = crate::clock::format(now);
    tokio::spawn(async move {
        if let Err(e) = domain.touch_token(hash, when).await {
            tracing::warn!(error = %e, "could not record token use");
        }
    });
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
