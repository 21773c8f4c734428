//! The one log line per request (at info), what goes into it, and the
//! request's count in the metrics. The IdP is guessed from the User-Agent
//! (a pure function). The line carries identifiers only, never a header
//! value that could hold a secret (no Authorization, no body, no query
//! string: a filter may name a user).

/// Which identity provider a User-Agent belongs to (`scim::idp::detect`,
/// from the User-Agent alone); anything else, or none, is `other`.
pub fn idp(user_agent: Option<&str>) -> &'static str {
    use crate::scim::idp::{detect, Hints, Idp};
    detect(user_agent, Hints::default()).map_or("other", Idp::as_str)
}

/// What the request line says; every field is either ours or bounded.
pub struct Line<'a> {
    pub request_id: &'a str,
    pub integration: Option<&'a str>,
    /// A bounded label (`metrics::method_label`).
    pub method: &'static str,
    pub route: &'static str,
    pub status: u16,
    pub latency: std::time::Duration,
    pub idp: &'static str,
}

/// Counts the request in the metrics and writes its log line.
pub fn record(line: &Line<'_>) {
    let registry = crate::metrics::global();
    match (line.status, line.integration) {
        (401, Some(id)) => registry.auth_failure(id),
        (429, id) => registry.rate_limited(id.unwrap_or("none")),
        _ => {}
    }
    registry.request(line.route, line.method, line.status, line.latency);
    emit(line);
}

fn emit(line: &Line<'_>) {
    let latency_ms = line.latency.as_secs_f64() * 1000.0;
    tracing::info!(
        request_id = line.request_id,
        integration = line.integration.unwrap_or("-"),
        method = line.method,
        route = line.route,
        status = line.status,
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        idp = line.idp,
        "request"
    );
}

#[cfg(test)]
mod tests {
    use super::idp;

    #[test]
    fn okta_is_recognised_whatever_the_case_and_version() {
        assert_eq!(idp(Some("Okta SCIM Client 1.0.0")), "okta");
        assert_eq!(idp(Some("okta scim client 2.3")), "okta");
    }

    #[test]
    fn both_entra_user_agents_are_entra() {
        assert_eq!(
            idp(Some("Microsoft Azure AD SCIM provisioning 1.0.0")),
            "entra"
        );
        assert_eq!(idp(Some("Microsoft.Azure.ActiveDirectory/1.0")), "entra");
    }

    #[test]
    fn the_other_providers_are_named() {
        assert_eq!(idp(Some("JumpCloud SCIM")), "jumpcloud");
        assert_eq!(idp(Some("OneLogin SCIM Client")), "onelogin");
        assert_eq!(idp(Some("PingFederate/11")), "ping");
        assert_eq!(idp(Some("Google-Workspace-Provisioning")), "google");
    }

    #[test]
    fn unknown_or_missing_user_agents_are_other() {
        assert_eq!(idp(Some("curl/8.5.0")), "other");
        assert_eq!(idp(None), "other");
    }
}
