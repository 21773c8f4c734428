//! Hostile clients (issue 10): connections that hold slots without asking
//! for anything, oversized uploads, and the caps that contain them. These
//! tests talk raw TLS (rustls, no certificate verification) so they can
//! stop at any point of a connection, bind other loopback addresses as
//! source, and see exactly when the server closes.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use serde_json::Value;

use crate::harness::{TestServer, SCIM_ERROR};

/// Accepts any certificate: the server's is self-signed and these tests are
/// about connections, not trust.
#[derive(Debug)]
struct AnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config(alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

fn server_addr(server: &TestServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.serve().port()))
}

/// A TCP connection from `source` (any 127.0.0.0/8 address on Linux).
fn tcp_from(source: Ipv4Addr, to: SocketAddr) -> io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let std = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
        socket.connect(to).await?.into_std()
    })?;
    std.set_nonblocking(false)?;
    Ok(std)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A completed TLS handshake from `source`, offering `alpn`.
fn tls_from(source: Ipv4Addr, to: SocketAddr, alpn: &[&[u8]]) -> io::Result<Tls> {
    let mut tcp = tcp_from(source, to)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::IpAddress(to.ip().into());
    let mut conn = ClientConnection::new(tls_config(alpn), name).map_err(io::Error::other)?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// Reads until the server closes (clean or not) or `within` passes;
/// returns what arrived and whether the connection was closed.
fn read_until_close(tls: &mut Tls, within: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (got, false);
        }
        let _ = tls.sock.set_read_timeout(Some(left));
        match tls.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return (got, false)
            }
            Err(_) => return (got, true),
        }
    }
}

/// Whether the server has closed `tls`, waiting at most `within`.
fn closed_within(tls: &mut Tls, within: Duration) -> bool {
    read_until_close(tls, within).1
}

/// Status and JSON body of one HTTP/1.1 response held in `bytes`.
fn parse_response(bytes: &[u8]) -> Option<(u16, String, Value)> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((
        status,
        head.to_ascii_lowercase(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    ))
}

/// POSTs a `size`-byte body in one write and reads the answer to the end.
fn post_oversized(server: &TestServer, size: usize) -> Result<(u16, String, Value), String> {
    let addr = server_addr(server);
    let mut tls = tls_from(Ipv4Addr::LOCALHOST, addr, &[b"http/1.1"]).map_err(|e| e.to_string())?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: {size}\r\n\r\n",
        server.scim("/Users"),
        server.token()
    );
    let mut request = head.into_bytes();
    request.resize(request.len() + size, b'a');
    tls.write_all(&request)
        .and_then(|()| tls.flush())
        .map_err(|e| format!("sending the body: {e}"))?;
    let (bytes, _) = read_until_close(&mut tls, Duration::from_secs(20));
    parse_response(&bytes).ok_or_else(|| format!("no complete response; got {} bytes", bytes.len()))
}

#[test]
fn oversized_bodies_over_http1_get_a_readable_413_every_time() {
    let server = TestServer::start();
    for size in [2 << 20, 5 << 20] {
        for round in 0..20 {
            let (status, head, body) = post_oversized(&server, size)
                .unwrap_or_else(|e| panic!("{size}-byte body, round {round}: {e}"));
            assert_eq!(status, 413, "{size}-byte body, round {round}: {body}");
            assert!(head.contains("connection: close"), "{head}");
            assert_eq!(body["schemas"], serde_json::json!([SCIM_ERROR]), "{body}");
            assert!(
                body["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("larger")),
                "{body}"
            );
        }
    }
}

#[test]
fn a_connection_that_sends_no_request_is_closed_after_the_first_request_timeout() {
    let server = TestServer::start();
    let addr = server_addr(&server);
    let started = Instant::now();
    let mut h2 = tls_from(Ipv4Addr::LOCALHOST, addr, &[b"h2"]).expect("h2 handshake");
    let mut none = tls_from(Ipv4Addr::LOCALHOST, addr, &[]).expect("handshake");
    assert!(
        closed_within(&mut h2, Duration::from_secs(20)),
        "h2 kept open"
    );
    assert!(
        closed_within(&mut none, Duration::from_secs(20)),
        "HTTP/1 kept open"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(8),
        "closed after {took:?}: a silent connection gets its 10 s"
    );
}

#[test]
fn a_half_sent_client_hello_is_dropped_after_the_handshake_timeout() {
    let server = TestServer::start();
    let mut tcp = tcp_from(Ipv4Addr::LOCALHOST, server_addr(&server)).expect("connect");
    // A TLS handshake record header announcing 512 bytes, and 10 of them.
    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 1, 0, 1, 252, 3])
        .expect("write");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    let closed = loop {
        match tcp.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    assert!(closed, "still open after {:?}", started.elapsed());
}

#[test]
fn alpn_h2_is_served_as_http2_without_waiting_for_client_bytes() {
    let server = TestServer::start();
    let mut tls = tls_from(Ipv4Addr::LOCALHOST, server_addr(&server), &[b"h2"]).expect("handshake");
    assert_eq!(tls.conn.alpn_protocol(), Some(b"h2".as_slice()));
    // HTTP/2's server preface is a SETTINGS frame: type 0x4 on stream 0.
    let mut head = [0u8; 9];
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    tls.read_exact(&mut head).expect("the server's first frame");
    assert_eq!(head[3], 0x4, "first frame type; header {head:?}");
    assert_eq!(&head[5..9], &[0, 0, 0, 0]);
}

#[test]
fn no_alpn_is_served_as_http1() {
    let server = TestServer::start();
    let addr = server_addr(&server);
    let mut tls = tls_from(Ipv4Addr::LOCALHOST, addr, &[]).expect("handshake");
    assert_eq!(tls.conn.alpn_protocol(), None);
    let get = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        server.scim("/ServiceProviderConfig"),
        server.token()
    );
    tls.write_all(get.as_bytes()).expect("write");
    let (bytes, _) = read_until_close(&mut tls, Duration::from_secs(10));
    let (status, head, _) = parse_response(&bytes).expect("a response");
    assert_eq!(status, 200);
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[test]
fn the_per_address_cap_turns_away_one_more_connection_but_not_other_addresses() {
    let server = TestServer::start_with(&["--max-connections-per-ip", "3"], &[]);
    let addr = server_addr(&server);
    let crowd = Ipv4Addr::new(127, 0, 0, 2);
    let _held: Vec<Tls> = (0..3)
        .map(|_| tls_from(crowd, addr, &[]).expect("within the cap"))
        .collect();
    assert!(
        tls_from(crowd, addr, &[]).is_err(),
        "a fourth connection from the same address completed its handshake"
    );
    // The harness connects from 127.0.0.1: another address, not capped.
    server
        .get(&server.scim("/ServiceProviderConfig"), server.token())
        .expect(200);
}

#[test]
fn the_per_address_cap_comes_from_the_environment_too() {
    let server = TestServer::start_with(&[], &[("SCIMD_MAX_CONNECTIONS_PER_IP", "1")]);
    let addr = server_addr(&server);
    let source = Ipv4Addr::new(127, 0, 0, 3);
    let _one = tls_from(source, addr, &[]).expect("the first connection");
    assert!(tls_from(source, addr, &[]).is_err());
}

#[test]
fn at_the_global_cap_the_oldest_idle_connection_makes_room() {
    let server = TestServer::start_with(&["--max-connections", "3"], &[]);
    let addr = server_addr(&server);
    let mut idle: Vec<Tls> = (1..=3)
        .map(|n| tls_from(Ipv4Addr::new(127, 0, 0, 10 + n), addr, &[]).expect("handshake"))
        .collect();
    // A newcomer is served although every slot is taken...
    server
        .get(&server.scim("/ServiceProviderConfig"), server.token())
        .expect(200);
    // ...because the oldest idle connection was closed for it, and only that
    // one: the youngest still answers (checked first, well inside its
    // first-request timeout even on a loaded machine).
    let get = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        server.scim("/ServiceProviderConfig"),
        server.token()
    );
    idle[2]
        .write_all(get.as_bytes())
        .expect("the youngest is still open");
    let (bytes, _) = read_until_close(&mut idle[2], Duration::from_secs(10));
    let (status, _, _) = parse_response(&bytes).expect("a response on the youngest");
    assert_eq!(status, 200);
    // One of the two older idle connections made room (normally the oldest;
    // on a loaded machine their registration order can tie).
    let mut closed = 0;
    for t in idle.iter_mut().take(2) {
        if closed_within(t, Duration::from_secs(3)) {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no older idle connection was closed");
}

/// The short version of `scimd-bench attack`: every connection attack with
/// 200 attackers for a few seconds each, a global cap of 128 so that the
/// botnet rows must evict, and generous bounds for a debug build on a
/// shared machine.
#[test]
fn connection_attacks_leave_a_well_behaved_client_fast() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimd-bench"))
        .args([
            "--seconds",
            "3",
            "attack",
            "--attackers",
            "200",
            "--users",
            "200",
            "--json",
            "--serve-arg=--max-connections=128",
            "--only=idle-tls-h2",
            "--only=idle-tls",
            "--only=half-hello",
            "--only=silent",
            "--only=slowloris",
            "--only=h2-no-stream",
        ])
        .output()
        .expect("run scimd-bench");
    let (rows, stdout) = attack_rows(&out);
    assert_eq!(
        rows.len(),
        13,
        "baseline + 6 attacks × 2 spreads:\n{stdout}"
    );
    assert_good_client_unharmed(&rows);
}

/// The short version of the request floods of `scimd-bench attack`: wrong
/// tokens from one address and from an IPv6 /64 behind a trusted proxy, and
/// integration B's Bulk chains, slow filters and unread group pages, each
/// while the good client reads integration A's users.
#[test]
fn request_floods_leave_a_well_behaved_client_fast_and_the_database_small() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scimd-bench"))
        .args([
            "--seconds",
            "3",
            "attack",
            "--users",
            "200",
            "--json",
            "--b-users",
            "3000",
            "--b-groups",
            "3",
            "--b-group-size",
            "2000",
            "--wrong-tokens",
            "3000",
            "--only=wrong-token",
            "--only=wrong-token-v6",
            "--only=bulk-chain",
            "--only=slow-filters",
            "--only=unread-groups",
            // The database growth measured is the refusals': the good
            // client's own requests would otherwise fill the request log.
            "--serve-arg=--request-log=0",
        ])
        .output()
        .expect("run scimd-bench");
    let (rows, stdout) = attack_rows(&out);
    assert_eq!(rows.len(), 6, "baseline + 5 floods:\n{stdout}");
    assert_good_client_unharmed(&rows);
    for row in rows.iter().filter(|r| {
        r["attack"]
            .as_str()
            .is_some_and(|a| a.starts_with("wrong-token"))
    }) {
        let note = row["note"].as_str().unwrap_or("");
        // "…; database +12.1 KiB": far below a megabyte for 3000 refusals.
        let kib: f64 = note
            .rsplit('+')
            .next()
            .and_then(|t| t.trim_end_matches(" KiB").parse().ok())
            .unwrap_or(f64::MAX);
        assert!(kib < 1024.0, "{row}");
        assert!(note.contains("429: "), "{row}");
    }
}

/// The JSON rows `scimd-bench attack --json` printed, and its stdout.
fn attack_rows(out: &std::process::Output) -> (Vec<Value>, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "scimd-bench attack failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON row per line"))
        .collect();
    (rows, stdout)
}

/// The generous CI bounds: no error, p99 under 2 s, server RSS under 200 MB.
fn assert_good_client_unharmed(rows: &[Value]) {
    for row in rows {
        assert_eq!(row["errors"], 0, "{row}");
        assert!(row["requests"].as_u64().unwrap_or(0) > 10, "{row}");
        let p99 = row["p99_ms"].as_f64().unwrap_or(f64::MAX);
        assert!(p99 < 2000.0, "{row}");
        let rss = row["peak_rss_kib"].as_u64().unwrap_or(u64::MAX);
        assert!(rss < 200 * 1024, "{row}");
    }
}
