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
}
