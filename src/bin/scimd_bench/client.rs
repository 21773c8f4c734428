//! The benchmark's HTTPS client: one hyper HTTP/1.1 connection over
//! tokio-rustls per worker, kept alive across requests, as an IdP's sync job
//! holds its connections open. It only ever talks to the loopback server the
//! benchmark started, and it accepts exactly the certificate whose
//! fingerprint that server printed — the self-signed certificate is pinned,
//! not blindly trusted.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A request that takes longer than this is counted as an error and its
/// connection is replaced, so one stuck request cannot stall a scenario.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts the one certificate the benchmark's own server announced.
#[derive(Debug)]
struct PinnedCert {
    /// Upper-case hex SHA-256 of the leaf's DER, without colons.
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

fn normalise_fingerprint(f: &str) -> String {
    f.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen = normalise_fingerprint(&scimd::server::tls::fingerprint(end_entity.as_ref()));
        if seen == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "certificate fingerprint {seen} is not the one the server printed"
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS client configuration that accepts only the certificate with this
/// fingerprint and offers these ALPN protocols.
pub fn pinned_config(fingerprint: &str, alpn: Vec<Vec<u8>>) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCert {
        fingerprint: normalise_fingerprint(fingerprint),
        provider: provider.clone(),
    });
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    Ok(config)
}

/// Where and how to reach the server; cheap to clone into every worker.
#[derive(Clone)]
pub struct Target {
    addr: SocketAddr,
    /// None: plain HTTP/1.1 (`serve --insecure-http`, the Python peer).
    tls: Option<TlsConnector>,
    authorization: String,
    host: String,
    /// `/scim/<integration>`.
    pub base_path: String,
    /// The local address to connect from (None: the system's choice,
    /// 127.0.0.1 on loopback).
    source: Option<std::net::IpAddr>,
    /// Open a new connection, without counting an error, when the server
    /// closed the last one after answering (HTTP/1.0 servers such as
    /// Python's wsgiref, which scim2-server runs on, close every time).
    reopen_closed: bool,
}

impl Target {
    pub fn new(
        addr: SocketAddr,
        fingerprint: &str,
        token: &str,
        integration_id: &str,
    ) -> Result<Target, String> {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "refusing to benchmark a non-loopback address {addr}"
            ));
        }
        // HTTP/1.1 only: what most IdP SCIM clients speak.
        let config = pinned_config(fingerprint, vec![b"http/1.1".to_vec()])?;
        Ok(Target {
            addr,
            tls: Some(TlsConnector::from(Arc::new(config))),
            authorization: format!("Bearer {token}"),
            host: addr.to_string(),
            base_path: format!("/scim/{integration_id}"),
            source: None,
            reopen_closed: false,
        })
    }

    /// A plain-HTTP server whose SCIM resources live under `base_path`
    /// (e.g. `/v2`), with this bearer token.
    pub fn plain(addr: SocketAddr, token: &str, base_path: &str) -> Result<Target, String> {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "refusing to benchmark a non-loopback address {addr}"
            ));
        }
        Ok(Target {
            addr,
            tls: None,
            authorization: format!("Bearer {token}"),
            host: addr.to_string(),
            base_path: base_path.to_string(),
            source: None,
            reopen_closed: false,
        })
    }

    /// The same target, reconnecting as a browser or wrk would when the
    /// server closes the connection after each answer.
    pub fn reopening_closed(self) -> Target {
        Target {
            reopen_closed: true,
            ..self
        }
    }

    /// The same server and integration with another bearer token.
    pub fn with_token(&self, token: &str) -> Target {
        Target {
            authorization: format!("Bearer {token}"),
            ..self.clone()
        }
    }

    /// The same server, another integration and its token.
    pub fn for_integration(&self, integration_id: &str, token: &str) -> Target {
        Target {
            authorization: format!("Bearer {token}"),
            base_path: format!("/scim/{integration_id}"),
            ..self.clone()
        }
    }

    /// A TLS connection from `source` with nothing on it yet, for requests
    /// written by hand.
    pub async fn raw_tls_from(
        &self,
        source: std::net::IpAddr,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let socket = tokio::net::TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| format!("bind {source}: {e}"))?;
        let tcp = socket
            .connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let tls = self.tls.as_ref().ok_or("not a TLS target")?;
        tls.connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))
    }

    /// An HTTP/1.1 request head (no body) for `path` under the integration.
    pub fn request_head(&self, method: &str, path: &str) -> String {
        format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nAccept: application/scim+json\r\n\r\n",
            self.base_path, self.host, self.authorization
        )
    }

    /// The same target, connecting from `source` (another loopback address).
    pub fn connecting_from(&self, source: std::net::IpAddr) -> Target {
        Target {
            source: Some(source),
            ..self.clone()
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn connect(&self) -> Result<Conn, String> {
        let work = async {
            let tcp = match self.source {
                None => TcpStream::connect(self.addr).await,
                Some(source) => {
                    let socket =
                        tokio::net::TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
                    socket
                        .bind(SocketAddr::new(source, 0))
                        .map_err(|e| format!("bind {source}: {e}"))?;
                    socket.connect(self.addr).await
                }
            }
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
            // Small requests and responses: do not let Nagle add 40 ms.
            tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
            let Some(tls) = &self.tls else {
                let (sender, connection) = http1::handshake(TokioIo::new(tcp))
                    .await
                    .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                return Ok::<_, String>(sender);
            };
            let name = ServerName::IpAddress(self.addr.ip().into());
            let tls = tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let (sender, connection) = http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
            // The connection future drives the socket; it ends when the
            // sender is dropped or the server closes.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, String>(sender)
        };
        let sender = tokio::time::timeout(CONNECT_TIMEOUT, work)
            .await
            .map_err(|_| "connect timed out".to_string())??;
        Ok(Conn {
            sender,
            target: self.clone(),
        })
    }
}

/// One request as the scenarios describe it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Relative to the integration base, e.g. `/Users?filter=…`.
    pub path: String,
    pub body: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Call {
    pub fn get(path: String) -> Call {
        Call {
            method: Method::GET,
            path,
            body: None,
            headers: Vec::new(),
        }
    }

    pub fn post(path: String, body: String) -> Call {
        Call {
            method: Method::POST,
            path,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn patch(path: String, body: String) -> Call {
        Call {
            method: Method::PATCH,
            path,
            body: Some(body),
            headers: Vec::new(),
        }
    }
}

/// What came back, with the time from sending to the last body byte.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub elapsed: Duration,
}

/// A kept-alive connection; reconnects by itself after a failure.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    target: Target,
}

impl Conn {
    pub async fn send(&mut self, call: &Call) -> Result<Reply, String> {
        if self.target.reopen_closed && self.sender.ready().await.is_err() {
            *self = self.target.connect().await?;
        }
        let result = tokio::time::timeout(REQUEST_TIMEOUT, self.send_once(call)).await;
        let failure = match result {
            Ok(Ok(reply)) => return Ok(reply),
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()),
        };
        // The connection may be half-used or closed: start a fresh one for
        // the next request, and report this one as failed.
        if let Ok(fresh) = self.target.connect().await {
            *self = fresh;
        }
        Err(failure)
    }

    async fn send_once(&mut self, call: &Call) -> Result<Reply, String> {
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection not ready: {e}"))?;
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(format!("{}{}", self.target.base_path, call.path))
            .header(hyper::header::HOST, &self.target.host)
            .header(hyper::header::AUTHORIZATION, &self.target.authorization)
            .header(hyper::header::ACCEPT, "application/scim+json");
        if call.body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/scim+json");
        }
        for (name, value) in &call.headers {
            builder = builder.header(*name, value);
        }
        let body = Full::new(Bytes::from(call.body.clone().unwrap_or_default()));
        let request = builder
            .body(body)
            .map_err(|e| format!("bad request {}: {e}", call.path))?;
        let started = Instant::now();
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            body,
            elapsed: started.elapsed(),
        })
    }
}

/// Percent-encodes a query value: everything but RFC 3986 unreserved bytes.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
