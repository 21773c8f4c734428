//! The identity providers scimd knows by name: the type an admin configures
//! on an integration (`--idp`), and the one recognised from traffic. Each has
//! a CLI name, a display name, and (for detection) the marks its requests
//! carry.

/// An identity provider, or `Generic` for anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Idp {
    Okta,
    Entra,
    JumpCloud,
    OneLogin,
    Ping,
    Google,
    Generic,
}

impl Idp {
    pub const ALL: [Idp; 7] = [
        Idp::Okta,
        Idp::Entra,
        Idp::JumpCloud,
        Idp::OneLogin,
        Idp::Ping,
        Idp::Google,
        Idp::Generic,
    ];

    /// The name the CLI takes and prints (`--idp entra`).
    pub fn as_str(self) -> &'static str {
        match self {
            Idp::Okta => "okta",
            Idp::Entra => "entra",
            Idp::JumpCloud => "jumpcloud",
            Idp::OneLogin => "onelogin",
            Idp::Ping => "ping",
            Idp::Google => "google",
            Idp::Generic => "generic",
        }
    }

    /// The product's own name, for people.
    pub fn display_name(self) -> &'static str {
        match self {
            Idp::Okta => "Okta",
            Idp::Entra => "Microsoft Entra ID",
            Idp::JumpCloud => "JumpCloud",
            Idp::OneLogin => "OneLogin",
            Idp::Ping => "Ping Identity",
            Idp::Google => "Google Workspace",
            Idp::Generic => "a generic SCIM client",
        }
    }

    pub fn parse(s: &str) -> Option<Idp> {
        Idp::ALL
            .into_iter()
            .find(|i| i.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// What a request shows besides its User-Agent that only one IdP sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints<'a> {
    /// The raw query string, if any.
    pub query: Option<&'a str>,
}

/// Marks in a lower-cased User-Agent, first match wins. Okta sends
/// "Okta SCIM Client 1.0.0"; Entra's provisioning service "Microsoft Azure AD
/// SCIM provisioning 1.0.0" (older agents "Microsoft.Azure.ActiveDirectory");
/// PingFederate's and PingOne's connectors name the product. JumpCloud,
/// OneLogin and Google name themselves but publish no exact string, so the
/// product name alone is the mark. A bare Java client ("Apache-HttpClient",
/// which PingFederate also sends) is deliberately not Ping: too many other
/// clients send it.
const USER_AGENT_MARKS: [(&str, Idp); 12] = [
    ("okta", Idp::Okta),
    ("azure ad scim", Idp::Entra),
    ("azure active directory", Idp::Entra),
    ("microsoft.azure.activedirectory", Idp::Entra),
    ("microsoft entra", Idp::Entra),
    ("jumpcloud", Idp::JumpCloud),
    ("onelogin", Idp::OneLogin),
    ("pingfederate", Idp::Ping),
    ("pingone", Idp::Ping),
    ("ping identity", Idp::Ping),
    ("google", Idp::Google),
    ("gsuite", Idp::Google),
];

/// The IdP a request comes from, from its User-Agent and, failing that, the
/// shape of the request: Entra's SCIM-compliance flag `aadOptscim062020`,
/// which admins add to the tenant URL and no other IdP sends. None when
/// nothing is known (Generic is a configured type, never a detection).
pub fn detect(user_agent: Option<&str>, hints: Hints<'_>) -> Option<Idp> {
    if let Some(ua) = user_agent {
        let ua = ua.to_ascii_lowercase();
        let found = USER_AGENT_MARKS
            .iter()
            .find(|(mark, _)| ua.contains(mark))
            .map(|(_, idp)| *idp);
        if found.is_some() {
            return found;
        }
    }
    let entra_flag = hints
        .query
        .is_some_and(|q| q.to_ascii_lowercase().contains("aadoptscim062020"));
    entra_flag.then_some(Idp::Entra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_idp_parses_back_from_its_cli_name() {
        for idp in Idp::ALL {
            assert_eq!(Idp::parse(idp.as_str()), Some(idp));
        }
        assert_eq!(Idp::parse(" Entra "), Some(Idp::Entra));
        assert_eq!(Idp::parse("azure"), None);
    }

    fn ua(s: &str) -> Option<Idp> {
        detect(Some(s), Hints::default())
    }

    #[test]
    fn okta_is_detected_from_its_scim_client_user_agent() {
        assert_eq!(ua("Okta SCIM Client 1.0.0"), Some(Idp::Okta));
        assert_eq!(ua("okta scim client 2.3"), Some(Idp::Okta));
    }

    #[test]
    fn entra_is_detected_from_the_provisioning_service_user_agents() {
        assert_eq!(
            ua("Microsoft Azure AD SCIM provisioning 1.0.0"),
            Some(Idp::Entra)
        );
        assert_eq!(ua("Microsoft.Azure.ActiveDirectory/1.0"), Some(Idp::Entra));
    }

    #[test]
    fn entra_is_detected_from_its_compliance_flag_without_a_user_agent() {
        let hints = Hints {
            query: Some("aadOptscim062020&filter=userName%20eq%20%22a%22"),
        };
        assert_eq!(detect(None, hints), Some(Idp::Entra));
        assert_eq!(detect(Some("curl/8.5.0"), hints), Some(Idp::Entra));
    }

    #[test]
    fn jumpcloud_is_detected_from_its_name() {
        assert_eq!(ua("JumpCloud SCIM/1.0"), Some(Idp::JumpCloud));
    }

    #[test]
    fn onelogin_is_detected_from_its_name() {
        assert_eq!(ua("OneLogin SCIM Client"), Some(Idp::OneLogin));
    }

    #[test]
    fn ping_is_detected_from_pingfederate_and_pingone() {
        assert_eq!(ua("PingFederate/11.3"), Some(Idp::Ping));
        assert_eq!(ua("PingOne Provisioning"), Some(Idp::Ping));
    }

    #[test]
    fn a_bare_java_http_client_is_not_taken_for_ping() {
        assert_eq!(ua("Apache-HttpClient/4.5.13 (Java/11.0.2)"), None);
    }

    #[test]
    fn google_is_detected_from_its_name() {
        assert_eq!(ua("Google-Workspace-Provisioning"), Some(Idp::Google));
    }

    #[test]
    fn unknown_or_missing_user_agents_detect_nothing() {
        assert_eq!(ua("curl/8.5.0"), None);
        assert_eq!(ua(""), None);
        assert_eq!(detect(None, Hints::default()), None);
        assert_eq!(
            detect(
                None,
                Hints {
                    query: Some("filter=x")
                }
            ),
            None
        );
    }
}
