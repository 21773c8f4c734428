//! One webhook POST: HTTP/1.1 over a fresh TCP connection, with TLS
//! (rustls, ring) for `https://` URLs, trusting the system's roots or the
//! hook's own CA. Plain `http://` is for receivers on the same machine.
//! The whole exchange is bounded by [`TIMEOUT`]; only the status is read,
//! and a redirect is an answer like any other non-2xx (never followed: the
//! signed body must only reach the URL the admin configured).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Connect, TLS, request and response headers, all together.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A URL taken apart for connecting.
#[derive(Debug, PartialEq)]
struct Target {
    https: bool,
    /// For connecting and for TLS server names: IPv6 without brackets.
    host: String,
    port: u16,
    /// The `Host` header.
    authority: String,
    path: String,
}

fn target(url: &str) -> Result<Target, String> {
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("'{url}' is not a URL: {e}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(format!(
                "'{url}': a webhook URL starts with https:// (or http:// for a receiver on this machine)"
            ))
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("'{url}' names no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!(
            "'{url}': user:password in the URL is not supported; the signature authenticates scimd"
        ));
    }
    let host = authority.host();
    if host.is_empty() {
        return Err(format!("'{url}' names no host"));
    }
    Ok(Target {
        https,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
        authority: authority.as_str().to_string(),
        path: uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.as_str().to_string()),
    })
}

/// Whether `url` is one scimd can deliver to, with the reason if not.
pub fn check_url(url: &str) -> Result<(), String> {
    target(url).map(|_| ())
}

/// The certificates of a `--ca-file`, refusing a file that holds none.
pub fn check_ca(pem: &str) -> Result<(), String> {
    roots_from_pem(pem).map(|_| ())
}

fn roots_from_pem(pem: &str) -> Result<RootCertStore, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("CA file: {e}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err("the CA file holds no usable PEM certificate".to_string());
    }
    Ok(roots)
}

fn config(roots: RootCertStore) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The system roots, read once per process: the files may be large, and a
/// package update mid-run is picked up at the next restart.
fn system_config() -> Result<Arc<ClientConfig>, String> {
    static SYSTEM: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(format!(
                    "no system CA certificates found (install ca-certificates, or give the hook --ca-file){}",
                    found
                        .errors
                        .first()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ));
            }
            config(roots)
        })
        .clone()
}

/// POSTs `body` as JSON with `headers`; the receiver's status, or why there
/// is none.
pub async fn post(
    url: &str,
    ca_pem: Option<&str>,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<u16, String> {
    match tokio::time::timeout(TIMEOUT, exchange(url, ca_pem, headers, body)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer within {} s from {url}",
            TIMEOUT.as_secs()
        )),
    }
}

async fn exchange(
    url: &str,
    ca_pem: Option<&str>,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Result<u16, String> {
    let t = target(url)?;
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(&t.path)
        .header(HOST, &t.authority)
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("scimd/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("building the request: {e}"))?;
    let tcp = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| format!("connecting to {}: {e}", t.authority))?;
    if !t.https {
        return send(tcp, req).await;
    }
    let config = match ca_pem {
        Some(pem) => config(roots_from_pem(pem)?)?,
        None => system_config()?,
    };
    let name = ServerName::try_from(t.host.clone())
        .map_err(|e| format!("'{}' is not a TLS server name: {e}", t.host))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", t.authority))?;
    send(tls, req).await
}

async fn send<S>(io: S, req: Request<Full<Bytes>>) -> Result<u16, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection is driven beside the request and dropped with it: one
    // request per connection, so nothing is pooled across hooks.
    let driver = tokio::spawn(conn);
    let answer = sender.send_request(req).await;
    driver.abort();
    answer
        .map(|r| r.status().as_u16())
        .map_err(|e| format!("HTTP: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_https_url_defaults_to_port_443_and_keeps_its_query() {
        let t = target("https://hooks.example.com/scim?x=1").unwrap();
        assert!(t.https);
        assert_eq!(t.host, "hooks.example.com");
        assert_eq!(t.port, 443);
        assert_eq!(t.path, "/scim?x=1");
        assert_eq!(t.authority, "hooks.example.com");
    }

    #[test]
    fn an_ipv6_host_loses_its_brackets_for_connecting_only() {
        let t = target("http://[::1]:8080").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.port, 8080);
        assert_eq!(t.authority, "[::1]:8080");
        assert_eq!(t.path, "/");
    }

    #[test]
    fn other_schemes_and_credentials_are_refused() {
        assert!(check_url("ftp://example.com/").is_err());
        assert!(check_url("example.com/hook").is_err());
        assert!(check_url("https://user:pw@example.com/").is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        assert!(check_ca("not a pem").is_err());
    }
}
