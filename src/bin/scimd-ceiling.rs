//! `scimd-ceiling`: what an HTTPS request costs on this machine with no work
//! behind it (issue 15). A bare hyper 1.x server on the same crates, TLS
//! configuration (scimd's own `server::tls`, so the same protocol versions,
//! cipher suites and ALPN `h2`/`http/1.1`) and connection builders as scimd's
//! listener, that answers every request with one fixed SCIM User of about
//! 400 bytes. `scimd-bench compare` runs the same workloads against it and
//! against scimd; the ratio is how close scimd comes to free.
//!
//! `scimd-ceiling [--listen 127.0.0.1:0] [--insecure-http]` prints the same
//! start-up lines as `scimd serve` (`certificate sha256 fingerprint: …`,
//! `listening on https://…`) so the benchmark reads both alike.

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// The one answer: a plausible core User, as scimd would render it.
const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"5f0c2a8e-3b1d-4c6e-9a7f-2d8b1e4c6a90","userName":"bjensen@example.com","name":{"givenName":"Barbara","familyName":"Jensen"},"displayName":"Babs Jensen","active":true,"emails":[{"value":"bjensen@example.com","type":"work","primary":true}],"meta":{"resourceType":"User","created":"2026-11-27T10:00:00.000Z","lastModified":"2026-11-27T10:00:00.000Z","version":"W/\"1\""}}"#;

/// Same idle bound as scimd's default HTTP/1.1 header read timeout.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A server that does nothing but answer, for the benchmark's ceiling row.
#[derive(Parser)]
#[command(name = "scimd-ceiling")]
struct Cli {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Plain HTTP/1.1 instead of TLS, as `scimd serve --insecure-http`.
    #[arg(long)]
    insecure_http: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("scimd-ceiling: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scimd-ceiling: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A fresh self-signed pair, loaded through scimd's own TLS setup.
fn tls_config() -> Result<(tokio_rustls::TlsAcceptor, String), String> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".into()])
            .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    let dir = std::env::temp_dir().join(format!(
        "scimd-ceiling-{}-{}",
        std::process::id(),
        scimd::secret::new_request_id()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let written = std::fs::write(&cert, generated.cert.pem())
        .and_then(|()| std::fs::write(&key, generated.key_pair.serialize_pem()));
    let loaded = written
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|()| scimd::server::tls::from_files(&cert, &key));
    let _ = std::fs::remove_dir_all(&dir);
    let loaded = loaded?;
    Ok((
        tokio_rustls::TlsAcceptor::from(loaded.config),
        loaded.fingerprint,
    ))
}

async fn answer(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from_static(USER.as_bytes())));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/scim+json"),
    );
    Ok(resp)
}

async fn serve(cli: Cli) -> Result<(), String> {
    let tls = if cli.insecure_http {
        None
    } else {
        let (acceptor, fingerprint) = tls_config()?;
        println!("certificate sha256 fingerprint: {fingerprint}");
        Some(Arc::new(acceptor))
    };
    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("no local address: {e}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{local}");
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off, never stop.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => http1_conn(TokioIo::new(stream)).await,
                Some(acceptor) => {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    if h2 {
                        let mut builder = http2::Builder::new(TokioExecutor::new());
                        builder
                            .timer(TokioTimer::new())
                            .max_concurrent_streams(64)
                            .keep_alive_interval(Some(Duration::from_secs(30)))
                            .keep_alive_timeout(Duration::from_secs(10));
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service_fn(answer))
                            .await;
                    } else {
                        http1_conn(TokioIo::new(stream)).await;
                    }
                }
            }
        });
    }
}

async fn http1_conn<I>(io: I)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(64 * 1024);
    let _ = builder.serve_connection(io, service_fn(answer)).await;
}
