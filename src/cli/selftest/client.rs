//! The selftest's HTTPS client: one request per connection (as simple as an
//! IdP's connector, and no state carried between steps), hyper's HTTP/1.1
//! client over tokio-rustls. The server's certificate is checked against
//! the one scimd stored in the database (pinned: the self-signed one has no
//! CA to chain to), against a CA file, or not at all with `--insecure`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Longest a step may take, connection included.
const STEP_DEADLINE: Duration = Duration::from_secs(15);

/// Where the server is: `https://host:port[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// A path before `/scim/…` (a proxy's), without a trailing slash.
    pub prefix: String,
}

impl Target {
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

pub fn parse_url(url: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("--url {url:?}: {why}");
    let uri: hyper::Uri = url.trim().parse().map_err(|_| bad("not a URL"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad("give https://HOST:PORT (or http:// behind a proxy)")),
    };
    let host = uri
        .host()
        .ok_or_else(|| bad("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    if uri.query().is_some() {
        return Err(bad("no query string, please"));
    }
    Ok(Target {
        https,
        host,
        port,
        prefix: uri.path().trim_end_matches('/').to_string(),
    })
}

/// How the server's certificate is checked.
pub enum Trust {
    /// `--insecure`: any certificate.
    Any,
    /// Exactly this certificate (the one scimd keeps in its database).
    Pinned(CertificateDer<'static>),
    /// Chains to one of these CAs and names the host.
    Roots(RootCertStore),
}

/// Accepts the pinned certificate (or any, when none is pinned) and checks
/// the handshake signatures as usual, so the peer does hold its key.
#[derive(Debug)]
struct PinnedVerifier {
    pinned: Option<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.pinned {
            Some(p) if p.as_ref() != end_entity.as_ref() => Err(rustls::Error::General(
                "the server's certificate is not the one stored in the database \
                 (a --tls-cert server? use --ca-file or --insecure)"
                    .into(),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A response, read whole.
pub struct Response {
    pub status: u16,
    /// Lower-case header names.
    pub headers: Vec<String>,
    pub text: String,
    /// The body as JSON, or Null when empty or not JSON.
    pub body: Value,
}

pub struct Client {
    target: Target,
    tls: Option<TlsConnector>,
    user_agent: String,
}

impl Client {
    pub fn new(target: Target, trust: Trust, user_agent: String) -> Result<Client, String> {
        let tls = if target.https {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let algorithms = provider.signature_verification_algorithms;
            let builder = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS setup: {e}"))?;
            let mut config = match trust {
                Trust::Roots(roots) => builder.with_root_certificates(roots),
                Trust::Any => builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                        pinned: None,
                        algorithms,
                    })),
                Trust::Pinned(cert) => {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                            pinned: Some(cert),
                            algorithms,
                        }))
                }
            }
            .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(TlsConnector::from(Arc::new(config)))
        } else {
            None
        };
        Ok(Client {
            target,
            tls,
            user_agent,
        })
    }

    /// Sends one request to `prefix + path` with the bearer token.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Response, String> {
        match tokio::time::timeout(STEP_DEADLINE, self.exchange(method, path, token, body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", STEP_DEADLINE.as_secs())),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<Response, String> {
        let t = &self.target;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", t.prefix))
            .header(hyper::header::HOST, t.authority())
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(hyper::header::USER_AGENT, &self.user_agent)
            .header(hyper::header::ACCEPT, "application/scim+json");
        let bytes = match body {
            Some(v) => {
                req = req.header(hyper::header::CONTENT_TYPE, "application/scim+json");
                Bytes::from(serde_json::to_vec(v).map_err(|e| e.to_string())?)
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", t.authority()))?;
        match &self.tls {
            Some(connector) => {
                let name = ServerName::try_from(t.host.clone())
                    .map_err(|_| format!("'{}' is not a valid server name", t.host))?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", t.authority()))?;
                round_trip(TokioIo::new(stream), req).await
            }
            None => round_trip(TokioIo::new(tcp), req).await,
        }
    }
}

async fn round_trip<I>(io: I, req: Request<Full<Bytes>>) -> Result<Response, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    // The connection is driven beside the request and ends with it.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("no response: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .keys()
        .map(|k| k.as_str().to_ascii_lowercase())
        .collect();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Ok(Response {
        status,
        headers,
        text,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_scheme_host_port_and_prefix() {
        assert_eq!(
            parse_url("https://127.0.0.1:8443").unwrap(),
            Target {
                https: true,
                host: "127.0.0.1".into(),
                port: 8443,
                prefix: String::new()
            }
        );
        let t = parse_url("http://[::1]/proxy/").unwrap();
        assert_eq!((t.https, t.host.as_str(), t.port), (false, "::1", 80));
        assert_eq!(t.prefix, "/proxy");
        assert_eq!(t.authority(), "[::1]:80");
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("127.0.0.1:8443").is_err());
    }
}
