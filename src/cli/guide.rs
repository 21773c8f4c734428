//! `scimd integration guide`: the setup steps for an integration's IdP with
//! its real values (id, base URL, delete mode), or with `--template IDP` the
//! placeholder version that `docs/idp/` holds. The text itself lives in
//! `guide/`; this file only finds the values.

use super::{message, open};
use crate::guide::{self, Deprovision, Format, Values};
use crate::scim::idp::Idp;
use crate::store::{integrations, settings};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::Path;

pub struct Options {
    /// The integration; None with `template`.
    pub id: Option<String>,
    pub template: Option<Idp>,
    /// `--public-url`, else `SCIMD_PUBLIC_URL`, both through clap.
    pub public_url: Option<String>,
    /// `SCIMD_LISTEN` (or its default): the URL's last resort.
    pub listen: SocketAddr,
    pub format: Option<Format>,
}

pub fn run(db: &Path, o: Options) -> Result<(), String> {
    let format = o.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Text
    } else {
        Format::Markdown
    });
    if let Some(idp) = o.template {
        print!("{}", guide::render(idp, &Values::template(), format));
        return Ok(());
    }
    let id =
        o.id.ok_or("give an integration ID (or --template IDP for the docs' version)")?;
    let conn = open(db)?;
    let integration = integrations::get(&conn, &id).map_err(message)?;
    let s = settings::get(&conn, &id).map_err(message)?;
    let (public_url, url_note) = public_url(o.public_url.as_deref(), o.listen);
    let values = Values {
        integration_id: integration.id,
        public_url,
        deprovision: match s.delete_mode {
            settings::DeleteMode::Deactivate => Deprovision::Deactivate,
            settings::DeleteMode::Delete => Deprovision::Delete,
        },
        url_note,
    };
    print!("{}", guide::render(integration.idp, &values, format));
    Ok(())
}

/// The public URL and, when it is only the listen address, a note saying
/// so: an IdP in the cloud can rarely reach that address as it is.
fn public_url(given: Option<&str>, listen: SocketAddr) -> (String, Option<String>) {
    if let Some(url) = given.map(str::trim).filter(|u| !u.is_empty()) {
        return (url.trim_end_matches('/').to_string(), None);
    }
    let host = if listen.ip().is_unspecified() {
        "<HOST>".to_string()
    } else {
        match listen {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    };
    let url = format!("https://{host}:{}", listen.port());
    let note = format!(
        "This URL comes from the listen address ({listen}){}. Give the address the IdP \
         reaches with `--public-url https://scim.example.com` or `SCIMD_PUBLIC_URL`.",
        if host == "<HOST>" {
            ": replace <HOST> with this machine's name as the IdP sees it"
        } else {
            ""
        }
    );
    (url, Some(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_public_url_wins_and_loses_its_trailing_slash() {
        let listen: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        let (url, note) = public_url(Some("https://scim.example.com/"), listen);
        assert_eq!(url, "https://scim.example.com");
        assert_eq!(note, None);
    }

    #[test]
    fn the_listen_address_is_the_last_resort_and_says_so() {
        let any: SocketAddr = "0.0.0.0:8443".parse().unwrap();
        let (url, note) = public_url(None, any);
        assert_eq!(url, "https://<HOST>:8443");
        assert!(note.unwrap().contains("replace <HOST>"));
        let local: SocketAddr = "127.0.0.1:9443".parse().unwrap();
        assert_eq!(public_url(Some(" "), local).0, "https://127.0.0.1:9443");
    }
}
