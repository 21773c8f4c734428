//! `scimd-bench attack`: hostile clients against a fresh server each, while
//! one well-behaved client reads users by id over a kept-alive HTTPS/1.1
//! connection from 127.0.0.1. Attackers bind their sockets to other
//! loopback addresses (Linux routes all of 127.0.0.0/8 to lo): spread over
//! 127.0.1.1–250 ("botnet"), or all from 127.0.0.2 ("single"), which the
//! per-address cap must contain. Each attacker holds its connection the way
//! its attack says and, once the server closes it, opens another after a
//! pause. One row per attack and spread: the good client's p50/p99 and
//! errors, the server's peak RSS (VmHWM), and what the attackers saw.
//!
//! An attack is one entry in `ATTACKS`; its behaviour is one arm of
//! `hold`. Attackers run on their own thread and runtime so their TLS work
//! does not delay the good client's measurements in the same event loop.

use crate::client::{self, Call, Target};
use crate::loader::synthetic_user;
use crate::measure::{self, Outcome};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;

/// What a hostile connection does once connected.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Completes the TLS handshake (offering `h2`, or no ALPN) and sends
    /// nothing.
    IdleTls { h2: bool },
    /// Sends the first half of a TLS ClientHello, then nothing.
    HalfHello,
    /// Connects and sends nothing at all.
    Silent,
    /// HTTP/1.1 request headers, one line every two seconds, never ending.
    Slowloris,
    /// HTTP/2 preface and SETTINGS, answers pings and SETTINGS, opens no
    /// stream.
    H2Idle,
}

pub struct Attack {
    pub name: &'static str,
    pub about: &'static str,
    pub behaviour: Behaviour,
}

/// Every attack the tool knows; `--only NAME` picks some.
pub const ATTACKS: &[Attack] = &[
    Attack {
        name: "idle-tls-h2",
        about: "TLS handshake with ALPN h2, then silence",
        behaviour: Behaviour::IdleTls { h2: true },
    },
    Attack {
        name: "idle-tls",
        about: "TLS handshake without ALPN, then silence",
        behaviour: Behaviour::IdleTls { h2: false },
    },
    Attack {
        name: "half-hello",
        about: "half a TLS ClientHello, then silence",
        behaviour: Behaviour::HalfHello,
    },
    Attack {
        name: "silent",
        about: "TCP connect, then silence",
        behaviour: Behaviour::Silent,
    },
    Attack {
        name: "slowloris",
        about: "HTTP/1.1 headers, one line every 2 s",
        behaviour: Behaviour::Slowloris,
    },
    Attack {
        name: "h2-no-stream",
        about: "HTTP/2 preface + SETTINGS, pings answered, no stream",
        behaviour: Behaviour::H2Idle,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// 127.0.1.1 to 127.0.1.250, round robin.
    Botnet,
    /// Every connection from 127.0.0.2.
    Single,
}

impl Spread {
    fn name(self) -> &'static str {
        match self {
            Spread::Botnet => "botnet",
            Spread::Single => "single",
        }
    }

    fn source(self, i: usize) -> IpAddr {
        match self {
            Spread::Botnet => Ipv4Addr::new(127, 0, 1, (i % 250) as u8 + 1).into(),
            Spread::Single => Ipv4Addr::new(127, 0, 0, 2).into(),
        }
    }
}

pub struct Options {
    pub attackers: usize,
    pub duration: Duration,
    pub reconnect: Duration,
    pub users: u64,
}

/// What the attackers of one row saw.
#[derive(Default)]
struct Tally {
    /// Connections that reached the attack's holding phase.
    held: AtomicU64,
    /// Connections refused, reset or failed before holding.
    failed: AtomicU64,
    /// Held connections the server ended.
    closed: AtomicU64,
}

pub struct RowResult {
    pub attack: String,
    pub spread: String,
    pub good: Outcome,
    pub peak_rss_kib: Option<u64>,
    pub held: u64,
    pub failed: u64,
    pub closed: u64,
    /// What a request-level attack did (requests sent, database growth).
    pub note: String,
}

impl RowResult {
    pub fn met(&self, max_p99_ms: f64, max_rss_mib: u64) -> bool {
        self.good.errors == 0
            && !self.good.latencies.is_empty()
            && self.good.p99_ms().is_some_and(|p| p < max_p99_ms)
            && self.peak_rss_kib.is_some_and(|k| k < max_rss_mib * 1024)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "attack": self.attack,
            "spread": self.spread,
            "requests": self.good.requests(),
            "errors": self.good.errors,
            "first_error": self.good.first_error,
            "p50_ms": self.good.p50_ms(),
            "p99_ms": self.good.p99_ms(),
            "peak_rss_kib": self.peak_rss_kib,
            "attackers_held": self.held,
            "attackers_failed": self.failed,
            "attackers_closed_by_server": self.closed,
            "note": self.note,
        })
    }
}

/// Peak resident set of a process, from `/proc/<pid>/status`.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The rows to run: a baseline without attack, then every chosen attack
/// from a botnet and from a single address.
pub fn plan(only: &[String]) -> Result<Vec<(Option<&'static Attack>, Spread)>, String> {
    for name in only {
        if !ATTACKS.iter().any(|a| a.name == name) {
            let known: Vec<_> = ATTACKS.iter().map(|a| a.name).collect();
            return Err(format!(
                "unknown attack '{name}'; known: {}",
                known.join(", ")
            ));
        }
    }
    let mut rows = vec![(None, Spread::Botnet)];
    for attack in ATTACKS {
        if only.is_empty() || only.iter().any(|n| n == attack.name) {
            rows.push((Some(attack), Spread::Botnet));
            rows.push((Some(attack), Spread::Single));
        }
    }
    Ok(rows)
}

/// Runs one row against a server that is already up: starts the attackers,
/// lets them settle, measures the good client, stops the attackers.
pub fn run_row(
    runtime: &tokio::runtime::Runtime,
    target: &Target,
    fingerprint: &str,
    server_pid: u32,
    attack: Option<&'static Attack>,
    spread: Spread,
    opts: &Options,
) -> Result<RowResult, String> {
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = watch::channel(false);
    let mut thread = None;
    if let Some(attack) = attack {
        let ctx = Hostile {
            addr: target.addr(),
            h2: TlsConnector::from(Arc::new(client::pinned_config(
                fingerprint,
                vec![b"h2".to_vec()],
            )?)),
            h1: TlsConnector::from(Arc::new(client::pinned_config(
                fingerprint,
                vec![b"http/1.1".to_vec()],
            )?)),
            bare: Arc::new(client::pinned_config(fingerprint, Vec::new())?),
            reconnect: opts.reconnect,
            tally: tally.clone(),
        };
        let (n, behaviour) = (opts.attackers, attack.behaviour);
        thread = Some(
            std::thread::Builder::new()
                .name("attackers".into())
                .spawn(move || attackers(ctx, behaviour, spread, n, stopped))
                .map_err(|e| format!("cannot start the attackers' thread: {e}"))?,
        );
        // Let the attackers take their positions: every one connected or
        // refused, or 5 s, whichever first.
        let settle = Instant::now() + Duration::from_secs(5);
        while Instant::now() < settle
            && tally.held.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed)
                < opts.attackers as u64
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let good = runtime.block_on(good_client(target, opts.users, opts.duration));
    let peak = peak_rss_kib(server_pid);
    let _ = stop.send(true);
    if let Some(t) = thread {
        let _ = t.join();
    }
    Ok(RowResult {
        attack: attack.map_or("none (baseline)", |a| a.name).to_string(),
        spread: if attack.is_some() {
            spread.name().to_string()
        } else {
            "-".to_string()
        },
        good,
        peak_rss_kib: peak,
        held: tally.held.load(Ordering::Relaxed),
        failed: tally.failed.load(Ordering::Relaxed),
        closed: tally.closed.load(Ordering::Relaxed),
        note: String::new(),
    })
}

/// GET /Users/{id} back to back on one kept-alive connection for
/// `duration`; a failed connect or request is an error, and the next
/// request uses a fresh connection.
pub async fn good_client(target: &Target, users: u64, duration: Duration) -> Outcome {
    let mut outcome = Outcome::default();
    let started = Instant::now();
    let deadline = started + duration;
    let mut conn = None;
    let mut k = 0u64;
    while Instant::now() < deadline {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match target.connect().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    outcome.record(Err(e), 0);
                    continue;
                }
            },
        };
        let user = synthetic_user(measure::pick(k, 11, users.max(1)));
        k += 1;
        match c.send(&Call::get(format!("/Users/{}", user.id))).await {
            Ok(reply) if reply.status == 200 => outcome.record(Ok(reply.elapsed), reply.body.len()),
            Ok(reply) => outcome.record(Err(measure::status_error(&reply)), reply.body.len()),
            Err(e) => outcome.record(Err(e), 0),
        }
    }
    outcome.latencies.sort_unstable();
    outcome.elapsed = started.elapsed();
    outcome
}

/// Everything an attacker needs; cloned into each.
#[derive(Clone)]
struct Hostile {
    addr: SocketAddr,
    h2: TlsConnector,
    h1: TlsConnector,
    bare: Arc<ClientConfig>,
    reconnect: Duration,
    tally: Arc<Tally>,
}

fn attackers(
    ctx: Hostile,
    behaviour: Behaviour,
    spread: Spread,
    n: usize,
    stop: watch::Receiver<bool>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return eprintln!("attackers: cannot start a runtime: {e}"),
    };
    runtime.block_on(async move {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (ctx, mut stop) = (ctx.clone(), stop.clone());
            let source = spread.source(i);
            tasks.spawn(async move {
                // Spread the first connects over a moment, as a real
                // attacker's would be.
                tokio::time::sleep(Duration::from_micros(500 * i as u64)).await;
                loop {
                    tokio::select! {
                        _ = one(&ctx, behaviour, source) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(ctx.reconnect) => {}
                        _ = stop.wait_for(|s| *s) => return,
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    });
}

async fn connect_from(source: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(addr).await
}

/// One hostile connection, from connect to the server's close.
async fn one(ctx: &Hostile, behaviour: Behaviour, source: IpAddr) {
    let tally = &ctx.tally;
    let Ok(tcp) = connect_from(source, ctx.addr).await else {
        tally.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let name = ServerName::IpAddress(ctx.addr.ip().into());
    let held = match behaviour {
        Behaviour::Silent => hold_silent(tcp, tally).await,
        Behaviour::HalfHello => half_hello(tcp, ctx, name, tally).await,
        Behaviour::IdleTls { h2 } => {
            let connector = if h2 {
                ctx.h2.clone()
            } else {
                TlsConnector::from(ctx.bare.clone())
            };
            match connector.connect(name, tcp).await {
                Ok(tls) => hold_silent(tls, tally).await,
                Err(_) => false,
            }
        }
        Behaviour::Slowloris => match ctx.h1.connect(name, tcp).await {
            Ok(tls) => slowloris(tls, tally).await,
            Err(_) => false,
        },
        Behaviour::H2Idle => match ctx.h2.connect(name, tcp).await {
            Ok(tls) => h2_no_stream(tls, tally).await,
            Err(_) => false,
        },
    };
    if held {
        tally.closed.fetch_add(1, Ordering::Relaxed);
    } else {
        tally.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads and discards until the server closes; true once held.
async fn hold_silent<S: AsyncRead + Unpin>(mut io: S, tally: &Tally) -> bool {
    tally.held.fetch_add(1, Ordering::Relaxed);
    let mut buf = [0u8; 4096];
    while let Ok(n) = io.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    true
}

async fn half_hello(
    mut tcp: TcpStream,
    ctx: &Hostile,
    name: ServerName<'static>,
    tally: &Tally,
) -> bool {
    let Ok(mut tls) = rustls::ClientConnection::new(ctx.bare.clone(), name) else {
        return false;
    };
    let mut hello = Vec::new();
    if tls.write_tls(&mut hello).is_err() || hello.len() < 2 {
        return false;
    }
    if tcp.write_all(&hello[..hello.len() / 2]).await.is_err() {
        return false;
    }
    hold_silent(tcp, tally).await
}

async fn slowloris<S: AsyncRead + AsyncWrite + Unpin>(io: S, tally: &Tally) -> bool {
    let (mut rd, mut wr) = tokio::io::split(io);
    if wr
        .write_all(b"GET /scim/x/Users HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .is_err()
    {
        return false;
    }
    tally.held.fetch_add(1, Ordering::Relaxed);
    let dribble = async {
        for n in 0u64.. {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if wr
                .write_all(format!("X-Slow-{n}: still coming\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let mut buf = [0u8; 4096];
    let closed = async {
        while let Ok(n) = rd.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::select! {
        _ = dribble => {}
        _ = closed => {}
    }
    true
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A polite HTTP/2 peer that never asks for anything.
async fn h2_no_stream<S: AsyncRead + AsyncWrite + Unpin>(mut io: S, tally: &Tally) -> bool {
    let mut hello = H2_PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, &[]));
    if io.write_all(&hello).await.is_err() {
        return false;
    }
    tally.held.fetch_add(1, Ordering::Relaxed);
    let mut head = [0u8; 9];
    let mut payload = Vec::new();
    while io.read_exact(&mut head).await.is_ok() {
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        if len > 1 << 20 {
            break;
        }
        payload.resize(len, 0);
        if io.read_exact(&mut payload).await.is_err() {
            break;
        }
        let (kind, flags) = (head[3], head[4]);
        let answer = match kind {
            SETTINGS if flags & ACK == 0 => Some(frame(SETTINGS, ACK, &[])),
            PING if flags & ACK == 0 => Some(frame(PING, ACK, &payload)),
            _ => None,
        };
        if let Some(answer) = answer {
            if io.write_all(&answer).await.is_err() {
                break;
            }
        }
    }
    true
}

/// Prints the rows as a table, then one verdict line.
pub fn print(rows: &[RowResult], opts: &Options, max_p99_ms: f64, max_rss_mib: u64) {
    println!(
        "{:<16}  {:<7}  {:>8}  {:>6}  {:>8}  {:>8}  {:>8}  {:>15}  note",
        "attack", "spread", "requests", "errors", "p50 ms", "p99 ms", "RSS MiB", "held/fail/shut"
    );
    println!("{}", "-".repeat(104));
    for r in rows {
        let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |x| format!("{x:.2}"));
        let mut note = r.note.clone();
        if let Some(e) = r.good.first_error.as_deref() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!("first error: {}", measure::truncate(e, 80)));
        }
        println!(
            "{:<16}  {:<7}  {:>8}  {:>6}  {:>8}  {:>8}  {:>8}  {:>15}  {}",
            r.attack,
            r.spread,
            r.good.requests(),
            r.good.errors,
            cell(r.good.p50_ms()),
            cell(r.good.p99_ms()),
            r.peak_rss_kib
                .map_or_else(|| "-".to_string(), |k| format!("{:.1}", k as f64 / 1024.0)),
            format!("{}/{}/{}", r.held, r.failed, r.closed),
            note
        );
    }
    println!();
    let missed: Vec<String> = rows
        .iter()
        .filter(|r| !r.met(max_p99_ms, max_rss_mib))
        .map(|r| format!("{} ({})", r.attack, r.spread))
        .collect();
    println!(
        "attackers: {} connections per attack, reconnecting {} ms after the server closes one; good client: 1 keep-alive HTTPS/1.1 connection from 127.0.0.1, {} s per row",
        opts.attackers,
        opts.reconnect.as_millis(),
        opts.duration.as_secs()
    );
    println!(
        "target good client p99 < {max_p99_ms} ms, 0 errors, server peak RSS < {max_rss_mib} MB under every attack: {}{}",
        if missed.is_empty() { "MET" } else { "MISSED" },
        if missed.is_empty() {
            String::new()
        } else {
            format!(" (missed: {})", missed.join(", "))
        }
    );
}
