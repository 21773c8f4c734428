//! `scimd selftest`: checks a running install the way an IdP would, before
//! any real user is pushed. It creates a scratch integration and token in
//! the database file (so it needs the file, like every admin command),
//! replays a profile's requests over HTTPS against the server, prints PASS
//! or FAIL per step, and always removes the scratch integration with
//! everything it left (also after a failure or Ctrl-C). The requests are
//! data (`profile`), the transport is `client`.

mod client;
pub mod profile;

use super::{message, open};
use crate::scim::idp::Idp;
use crate::store::{self, audit::Actor, certificate, integrations, tokens};
use client::{Client, Trust};
use profile::{Answer, Profile, Scope};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub struct Options {
    pub url: Option<String>,
    /// `SCIMD_LISTEN` (or its default): where the server is when no URL is given.
    pub listen: SocketAddr,
    pub profile: String,
    pub insecure: bool,
    pub ca_file: Option<PathBuf>,
}

/// The URL of a server listening on `listen`, reached from this machine.
fn default_url(listen: SocketAddr) -> String {
    match listen {
        SocketAddr::V4(a) if a.ip().is_unspecified() => format!("https://127.0.0.1:{}", a.port()),
        SocketAddr::V4(a) => format!("https://{a}"),
        SocketAddr::V6(a) if a.ip().is_unspecified() => format!("https://[::1]:{}", a.port()),
        SocketAddr::V6(a) => format!("https://[{}]:{}", a.ip(), a.port()),
    }
}

fn trust(conn: &rusqlite::Connection, o: &Options) -> Result<Trust, String> {
    if o.insecure {
        return Ok(Trust::Any);
    }
    if let Some(file) = &o.ca_file {
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", file.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{} holds no certificate", file.display()));
        }
        return Ok(Trust::Roots(roots));
    }
    match certificate::get(conn).map_err(message)? {
        Some((pem, _)) => CertificateDer::from_pem_slice(pem.as_bytes())
            .map(|c| Trust::Pinned(c.into_owned()))
            .map_err(|e| format!("the stored certificate does not parse: {e}")),
        None => Err(
            "the database holds no self-signed certificate to check the server \
             against (it serves --tls-cert?): give --ca-file PEM, or --insecure"
                .into(),
        ),
    }
}

pub fn run(db: &Path, o: Options) -> Result<(), String> {
    let profile = profile::load(&o.profile)?;
    let url = o.url.clone().unwrap_or_else(|| default_url(o.listen));
    let target = client::parse_url(&url)?;
    let conn = open(db)?;
    let trust = if target.https {
        trust(&conn, &o)?
    } else {
        Trust::Any
    };
    let client = Client::new(
        target,
        trust,
        format!(
            "scimd-selftest/{} (profile {})",
            env!("CARGO_PKG_VERSION"),
            profile.profile
        ),
    )?;
    // The runtime and the signal watchers come before the scratch
    // integration, so a Ctrl-C (or SIGTERM) at any moment after it exists
    // ends in the cleanup below instead of killing the process.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _in_runtime = rt.enter();
        let watch = |kind| signal(kind).map_err(|e| format!("cannot watch signals: {e}"));
        (
            watch(SignalKind::interrupt())?,
            watch(SignalKind::terminate())?,
        )
    };
    let run = hex::encode(rand::random::<[u8; 4]>());
    let name = format!("selftest-{run}");
    let idp = Idp::parse(&profile.profile).unwrap_or(Idp::Generic);
    let (id, token) = store::in_transaction(&conn, |c| {
        let id = crate::secret::new_integration_id();
        integrations::create(c, &id, &name)?;
        integrations::set_idp(c, &id, idp)?;
        let token = tokens::issue(c, &id, &Actor::cli())?;
        Ok((id, token))
    })
    .map_err(message)?;
    println!(
        "selftest: profile {} against {url}, scratch integration {id}",
        profile.profile
    );
    println!("{}", profile.description);

    let outcome = rt.block_on(async {
        tokio::select! {
            tally = replay(&client, &profile, &id, &token, run) => Some(tally),
            _ = interrupt.recv() => None,
            _ = terminate.recv() => None,
        }
    });

    // Whatever happened above, the scratch integration goes.
    let cleaned =
        store::in_transaction(&conn, |c| integrations::delete_scratch(c, &id)).map_err(message);
    match &cleaned {
        Ok(()) => println!("scratch integration {id} deleted"),
        Err(e) => println!("could not delete scratch integration {id}: {e}"),
    }
    let (passed, total) = match outcome {
        Some(tally) => tally,
        None => return Err("interrupted".into()),
    };
    cleaned?;
    if passed == total {
        println!("all {total} steps passed");
        Ok(())
    } else {
        Err(format!(
            "selftest failed: {} of {total} steps failed",
            total - passed
        ))
    }
}

/// Runs every step in order; returns (passed, total).
async fn replay(
    client: &Client,
    profile: &Profile,
    integration: &str,
    token: &str,
    run: String,
) -> (usize, usize) {
    let mut scope = Scope {
        run,
        ..Scope::default()
    };
    let total = profile.steps.len();
    let mut passed = 0;
    for (n, step) in profile.steps.iter().enumerate() {
        let result = one_step(client, step, integration, token, &mut scope).await;
        match result {
            Ok(()) => {
                passed += 1;
                println!("PASS {:>2}/{total} {}", n + 1, step.name);
            }
            Err(why) => println!("FAIL {:>2}/{total} {}: {why}", n + 1, step.name),
        }
    }
    (passed, total)
}

async fn one_step(
    client: &Client,
    step: &profile::Step,
    integration: &str,
    token: &str,
    scope: &mut Scope,
) -> Result<(), String> {
    let path = format!("/scim/{integration}{}", scope.fill(&step.path)?);
    let body = step.body.as_ref().map(|b| scope.fill_json(b)).transpose()?;
    let resp = client
        .send(&step.method, &path, token, body.as_ref())
        .await?;
    profile::check(
        &step.expect,
        scope,
        &Answer {
            status: resp.status,
            headers: &resp.headers,
            body: &resp.body,
            text: &resp.text,
        },
    )
    .map_err(|why| {
        // The scratch token lives in --db: a server on another file cannot know it.
        if resp.status == 401 {
            format!("{why} (is --db the database this server uses?)")
        } else {
            why
        }
    })?;
    if let Some(name) = &step.save {
        scope.saved.insert(name.clone(), resp.body);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_reaches_a_wildcard_listener_on_loopback() {
        assert_eq!(
            default_url("0.0.0.0:8443".parse().unwrap()),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            default_url("[::]:9443".parse().unwrap()),
            "https://[::1]:9443"
        );
        assert_eq!(
            default_url("10.0.0.5:8443".parse().unwrap()),
            "https://10.0.0.5:8443"
        );
    }
}
