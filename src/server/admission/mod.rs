//! Request admission after routing to an integration: authentication, the
//! failed-authentication throttle per client address, the fair share of
//! requests in flight and the token bucket per integration (their state is
//! `guard`). Also the audit of refused requests (aggregated rows, written off
//! the request path).
//!
//! May import the rest of `server/` below it (auth, state, netaddr) and the
//! domain; `guard` imports nothing of `server/`.

pub mod guard;
pub mod token_cache;

use super::state::AppState;
use super::{auth, netaddr, rejections};
use crate::scim::error::ScimError;
use crate::store::audit;
use hyper::HeaderMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Longest `detail` kept in a rejection row.
const DETAIL_MAX: usize = 300;

/// An admitted request's place in its integration's share; given back when
/// the request ends, however it ends.
pub struct Ticket {
    state: Arc<AppState>,
    integration_id: String,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.state.guard.leave(&self.integration_id);
    }
}

/// Authenticates the request for `integration_id` (unless its address is
/// already over its failed-authentication allowance and its token is not
/// one seen valid recently: then 429 without touching the database), then
/// applies the rate limits: the integration's fair share of requests in flight, then its
/// token bucket. A failed authentication from an address over its allowance
/// is a 429 instead of a 401; a valid token is never refused by that rule,
/// only by the integration's own limits.
pub async fn admit(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    integration_id: &str,
    client: IpAddr,
) -> Result<Ticket, ScimError> {
    let block = netaddr::counted_block(client);
    let bearer = auth::bearer(headers);
    let presented = bearer.map(crate::secret::token_hash);
    let now = crate::clock::instant();
    if let Some(secs) = state.guard.auth_blocked(block, now) {
        let known = presented
            .as_ref()
            .is_some_and(|h| state.guard.known_good(h));
        let worth_a_look = bearer.is_some_and(crate::secret::looks_like_token)
            && state.guard.blocked_lookup_allowed(block, now);
        if !known && !worth_a_look {
            // Counted like any refusal, but no database work at all.
            state.guard.auth_failed(block, now);
            return Err(throttled(client, secs));
        }
    }
    if let Err(e) = auth::authenticate(state, headers, integration_id).await {
        if e.status == 401 {
            if let Some(secs) = state.guard.auth_failed(block, crate::clock::instant()) {
                return Err(throttled(client, secs));
            }
        }
        return Err(e);
    }
    if let Some(h) = presented {
        state.guard.remember_good(h, crate::clock::instant());
    }
    let entered = state.guard.enter(integration_id);
    if let Err((mine, others)) = entered {
        return Err(ScimError::too_many_requests(
            format!(
                "this integration already has {mine} requests in flight, its fair share while {others} other integration(s) are busy; retry in 1 s"
            ),
            1,
        ));
    }
    let ticket = Ticket {
        state: state.clone(),
        integration_id: integration_id.to_string(),
    };
    state.guard.take(&state.domain, integration_id).await?;
    Ok(ticket)
}

fn throttled(client: IpAddr, secs: u64) -> ScimError {
    ScimError::too_many_requests(
        format!(
            "too many failed authentications from {}; retry in {secs} s",
            netaddr::block_label(client)
        ),
        secs,
    )
}

/// Keeps at most `DETAIL_MAX` characters.
fn clip(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(DETAIL_MAX) {
        s.truncate(i);
        s.push('…');
    }
    s
}

/// Audits a refused request (4xx) in the background: one upsert through the
/// writer, never delaying or failing the response. `detail` is the error's
/// own detail (never a secret: auth failures have a fixed text).
pub fn audit_rejection(
    state: &Arc<AppState>,
    e: &ScimError,
    integration_id: Option<&str>,
    client: IpAddr,
    request_id: &str,
    what: &str,
) {
    let Some(code) = e.audit_code() else {
        return;
    };
    state.rejections.record(audit::Rejection {
        integration_id: integration_id.map(str::to_string),
        code,
        source: netaddr::block_label(client),
        time: crate::clock::now_string(),
        request_id: request_id.to_string(),
        detail: clip(format!("{what}: {} {}", e.status, e.detail)),
        count: 1,
    });
}

/// Writes the refusals gathered in memory every `rejections::FLUSH_EVERY`,
/// as one writer job, until the server stops; then once more.
pub async fn flush_rejections(state: Arc<AppState>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut stop = stop;
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep(rejections::FLUSH_EVERY) => false,
            _ = stop.changed() => true,
        };
        let rows = state.rejections.take(&crate::clock::now_string());
        if !rows.is_empty() {
            let n = rows.len();
            let written = state.domain.record_rejections(rows).await;
            if let Err(e) = written {
                tracing::warn!(error = %e, rows = n, "could not audit refused requests");
            }
        }
        if stopping || *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_details_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(clip("short".into()), "short");
        let long = "é".repeat(DETAIL_MAX + 10);
        let c = clip(long);
        assert_eq!(c.chars().count(), DETAIL_MAX + 1);
        assert!(c.ends_with('…'));
    }
}
