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

/// What stands in the log and the metrics for a path segment that is not
/// an integration id.
const NOT_AN_ID: &str = "(not an integration id)";

/// The integration as the log and the metrics may show it. The segment comes
/// from the client: an IdP admin who pasted the token into the base URL sends
/// a secret there, so only the shape of our own ids (`int_` and letters or
/// digits) is shown as it is.
fn shown_integration(segment: &str) -> &str {
    let shaped = segment.len() <= 64
        && segment.strip_prefix("int_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if shaped {
        segment
    } else {
        NOT_AN_ID
    }
}

/// Counts the request in the metrics and writes its log line.
pub fn record(line: &Line<'_>) {
    let registry = crate::metrics::global();
    let shown = line.integration.map(shown_integration);
    let line = &Line {
        integration: shown,
        ..*line
    };
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
    use super::{idp, shown_integration, NOT_AN_ID};

    #[test]
    fn an_integration_id_is_shown_as_it_is() {
        assert_eq!(
            shown_integration("int_k2j4abc09xyz1234"),
            "int_k2j4abc09xyz1234"
        );
    }

    #[test]
    fn a_token_pasted_where_the_integration_id_goes_is_not_shown() {
        let token = crate::secret::new_token();
        assert_eq!(shown_integration(&token), NOT_AN_ID);
        assert_eq!(shown_integration("int_"), NOT_AN_ID);
        assert_eq!(shown_integration("int_a b"), NOT_AN_ID);
        assert_eq!(
            shown_integration(&format!("int_{}", "a".repeat(80))),
            NOT_AN_ID
        );
    }

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
