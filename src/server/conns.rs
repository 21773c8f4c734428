//! Connection bookkeeping for the listener: every live connection is
//! registered with its client address, when it opened, when it last did
//! anything, and how many requests it has in flight. The registry enforces
//! the per-address cap (IPv6 peers counted per /64) and, when the global cap
//! is reached, picks the idle connection to close so that a newcomer gets its
//! slot: first connections that never sent a request, oldest first, then the
//! one idle the longest. `verdict` is the pure policy that says when a
//! connection has outlived one of its timeouts. No I/O here: the listener
//! acts on what this module decides.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long each phase of a connection may last. The defaults are the
/// documented ones (README "Bounds", `packaging/scimd.env`).
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// From accept to the end of the TLS handshake.
    pub tls_handshake: Duration,
    /// From the end of the handshake to the first complete request head
    /// (HTTP/1 headers or an HTTP/2 HEADERS frame).
    pub first_request: Duration,
    /// HTTP/1: reading one request head, and waiting for the next request on
    /// a kept-alive connection.
    pub http1_idle: Duration,
    /// HTTP/2: how long a connection with no request in flight stays open
    /// (then GOAWAY), pings or not.
    pub http2_idle: Duration,
    /// Age after which a connection is closed gracefully: HTTP/1 after its
    /// current response, HTTP/2 with GOAWAY.
    pub max_age: Duration,
    /// A write that makes no progress for this long (the client stopped
    /// reading its response) drops the connection.
    pub write_stall: Duration,
    /// After a graceful close starts, in-flight requests get this long.
    pub close_grace: Duration,
    /// After a refusal with `Connection: close`, the rest of the request body
    /// is read and discarded for at most this long.
    pub linger: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tls_handshake: Duration::from_secs(10),
            first_request: Duration::from_secs(10),
            http1_idle: Duration::from_secs(10),
            http2_idle: Duration::from_secs(30),
            max_age: Duration::from_secs(600),
            write_stall: Duration::from_secs(30),
            close_grace: Duration::from_secs(10),
            linger: Duration::from_secs(2),
        }
    }
}

/// The unit the per-address cap counts: an IPv4 address, or an IPv6 /64
/// (one host usually owns a whole /64, so counting single IPv6 addresses
/// would be no cap at all). IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrKey {
    V4(u32),
    V6(u64),
}

impl AddrKey {
    pub fn of(ip: IpAddr) -> AddrKey {
        match ip {
            IpAddr::V4(v4) => AddrKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddrKey::V4(u32::from(v4)),
                None => AddrKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TLS handshake not finished yet.
    Handshake,
    Http1,
    Http2,
}

/// What a connection's watchdog sees at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub protocol: Protocol,
    pub opened: Instant,
    /// Start of the HTTP phase, or of the last request, or the end of the
    /// last request, whichever is latest.
    pub last_active: Instant,
    pub in_flight: u32,
    pub served: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No request head within `first_request`: dropped at once.
    NoRequest,
    /// Nothing in flight for the protocol's idle timeout: graceful close.
    Idle,
    /// Older than `max_age`: graceful close.
    MaxAge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do before this instant; look again then.
    Wait(Instant),
    Close(Why),
}

/// The timeout policy of one connection in the HTTP phase (the handshake
/// has its own timer in the listener).
pub fn verdict(s: &Snapshot, t: &Timeouts, now: Instant) -> Verdict {
    let aged = s.opened + t.max_age;
    if now >= aged {
        return Verdict::Close(Why::MaxAge);
    }
    if s.in_flight > 0 {
        // Look again later: the request may end long before max age.
        let idle = match s.protocol {
            Protocol::Http2 => t.http2_idle,
            _ => t.http1_idle,
        };
        return Verdict::Wait(aged.min(now + idle));
    }
    let (limit, why) = match (s.served, s.protocol) {
        (0, _) => (t.first_request, Why::NoRequest),
        (_, Protocol::Http2) => (t.http2_idle, Why::Idle),
        _ => (t.http1_idle, Why::Idle),
    };
    let due = s.last_active + limit;
    if now >= due {
        Verdict::Close(why)
    } else {
        Verdict::Wait(due.min(aged))
    }
}

/// One live connection, shared by the registry and the connection's task.
pub struct Conn {
    id: u64,
    key: AddrKey,
    epoch: Instant,
    opened: Instant,
    /// Milliseconds since `epoch`.
    last_active_ms: AtomicU64,
    in_flight: AtomicU32,
    served: AtomicU64,
    /// 0 handshake, 1 HTTP/1, 2 HTTP/2.
    protocol: AtomicU32,
    /// The response carried `Connection: close` and the request body may be
    /// unread: bytes to read and discard before closing (0: none).
    linger: AtomicU64,
    kill: Notify,
}

impl Conn {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let protocol = match self.protocol.load(Ordering::Relaxed) {
            1 => Protocol::Http1,
            2 => Protocol::Http2,
            _ => Protocol::Handshake,
        };
        Snapshot {
            protocol,
            opened: self.opened,
            last_active: self.epoch
                + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed)),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
        }
    }

    /// The HTTP phase begins: the first-request timer starts now.
    pub fn set_protocol(&self, p: Protocol) {
        let n = match p {
            Protocol::Handshake => 0,
            Protocol::Http1 => 1,
            Protocol::Http2 => 2,
        };
        self.protocol.store(n, Ordering::Relaxed);
        self.touch();
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    pub fn want_linger(&self, bytes: u64) {
        self.linger.store(bytes, Ordering::Relaxed);
    }

    /// Bytes to drain before closing, if the last response asked for it.
    pub fn linger_budget(&self) -> Option<u64> {
        Some(self.linger.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// Resolves when the registry chose this connection to make room.
    pub async fn evicted(&self) {
        self.kill.notified().await
    }
}

/// Counts a request in flight on its connection until dropped.
pub struct Busy {
    conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn.touch();
        self.conn.in_flight.fetch_sub(1, Ordering::Relaxed);
        // An idle connection can now be evicted for a waiting newcomer.
        self.registry.changed.notify_one();
    }
}

/// A connection's registration; dropping it frees the slot.
pub struct Ticket {
    pub conn: Arc<Conn>,
    registry: Arc<Registry>,
}

impl Ticket {
    /// A request head arrived: count it until the returned guard drops.
    pub fn begin(&self) -> Busy {
        self.conn.served.fetch_add(1, Ordering::Relaxed);
        self.conn.in_flight.fetch_add(1, Ordering::Relaxed);
        self.conn.touch();
        Busy {
            conn: self.conn.clone(),
            registry: self.registry.clone(),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.release(self.conn.id, self.conn.key);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client's address (or /64) already holds its cap.
    PerAddress,
    /// The global cap is reached and every connection has a request in
    /// flight: wait for `Registry::changed` and try again.
    Full,
}

struct Inner {
    next_id: u64,
    live: HashMap<u64, Arc<Conn>>,
    per_key: HashMap<AddrKey, usize>,
}

pub struct Registry {
    max_total: usize,
    max_per_key: usize,
    epoch: Instant,
    inner: Mutex<Inner>,
    /// A slot was freed or a connection became idle.
    changed: Notify,
}

impl Registry {
    pub fn new(max_total: usize, max_per_key: usize) -> Arc<Registry> {
        Arc::new(Registry {
            max_total: max_total.max(1),
            max_per_key: max_per_key.max(1),
            epoch: Instant::now(),
            inner: Mutex::new(Inner {
                next_id: 0,
                live: HashMap::new(),
                per_key: HashMap::new(),
            }),
            changed: Notify::new(),
        })
    }

    /// Registers a connection from `ip`. `exempt` peers (trusted proxies,
    /// which carry many clients) are not held to the per-address cap. At the
    /// global cap the idle connection chosen by `victim` is evicted: it is
    /// unregistered at once and told to close.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, exempt: bool) -> Result<Ticket, Refusal> {
        let key = AddrKey::of(ip);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let holding = inner.per_key.get(&key).copied().unwrap_or(0);
        if !exempt && holding >= self.max_per_key {
            return Err(Refusal::PerAddress);
        }
        if inner.live.len() >= self.max_total {
            let victim = victim(inner.live.values().map(|c| (c.id, c.snapshot())))
                .and_then(|id| inner.live.remove(&id))
                .ok_or(Refusal::Full)?;
            decrement(&mut inner.per_key, victim.key);
            victim.kill.notify_one();
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let now = Instant::now();
        let conn = Arc::new(Conn {
            id,
            key,
            epoch: self.epoch,
            opened: now,
            last_active_ms: AtomicU64::new(now.duration_since(self.epoch).as_millis() as u64),
            in_flight: AtomicU32::new(0),
            served: AtomicU64::new(0),
            protocol: AtomicU32::new(0),
            linger: AtomicU64::new(0),
            kill: Notify::new(),
        });
        inner.live.insert(id, conn.clone());
        *inner.per_key.entry(key).or_insert(0) += 1;
        Ok(Ticket {
            conn,
            registry: self.clone(),
        })
    }

    fn release(&self, id: u64, key: AddrKey) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // An evicted connection was unregistered already.
        if inner.live.remove(&id).is_some() {
            decrement(&mut inner.per_key, key);
        }
        drop(inner);
        self.changed.notify_one();
    }

    /// Resolves after a slot is freed or a connection goes idle.
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    pub fn live(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .live
            .len()
    }
}

fn decrement(per_key: &mut HashMap<AddrKey, usize>, key: AddrKey) {
    if let Some(n) = per_key.get_mut(&key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            per_key.remove(&key);
        }
    }
}

/// The connection to close for a newcomer: none with a request in flight;
/// among the rest, those that never sent a request first (oldest first),
/// then the one whose last activity is oldest. An IdP between two requests
/// of a sync has just been active, so an attacker's idle sockets go first.
pub fn victim(conns: impl Iterator<Item = (u64, Snapshot)>) -> Option<u64> {
    conns
        .filter(|(_, s)| s.in_flight == 0)
        .min_by_key(|(id, s)| (s.served > 0, s.last_active, *id))
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn snap(protocol: Protocol, opened: Instant, idle_since: Instant, served: u64) -> Snapshot {
        Snapshot {
            protocol,
            opened,
            last_active: idle_since,
            in_flight: 0,
            served,
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn ipv6_peers_in_one_slash_64_share_a_key() {
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(AddrKey::of(a.into()), AddrKey::of(b.into()));
        assert_ne!(AddrKey::of(a.into()), AddrKey::of(c.into()));
    }

    #[test]
    fn ipv4_mapped_ipv6_counts_as_the_ipv4_address() {
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(
            AddrKey::of(v4.to_ipv6_mapped().into()),
            AddrKey::of(v4.into())
        );
    }

    #[test]
    fn a_connection_without_a_request_is_dropped_after_the_first_request_timeout() {
        let t = Timeouts::default();
        let t0 = Instant::now();
        let s = snap(Protocol::Http2, t0, t0, 0);
        assert_eq!(
            verdict(&s, &t, t0 + secs(1)),
            Verdict::Wait(t0 + t.first_request)
        );
        assert_eq!(
            verdict(&s, &t, t0 + t.first_request),
            Verdict::Close(Why::NoRequest)
        );
    }

    #[test]
    fn an_http2_connection_with_no_open_stream_closes_after_its_idle_timeout() {
        let t = Timeouts::default();
        let t0 = Instant::now();
        let s = snap(Protocol::Http2, t0, t0 + secs(5), 3);
        assert_eq!(
            verdict(&s, &t, t0 + secs(6)),
            Verdict::Wait(t0 + secs(5) + t.http2_idle)
        );
        assert_eq!(
            verdict(&s, &t, t0 + secs(5) + t.http2_idle),
            Verdict::Close(Why::Idle)
        );
    }

    #[test]
    fn an_idle_http1_connection_closes_after_the_keep_alive_timeout() {
        let t = Timeouts::default();
        let t0 = Instant::now();
        let s = snap(Protocol::Http1, t0, t0, 1);
        assert_eq!(
            verdict(&s, &t, t0 + t.http1_idle),
            Verdict::Close(Why::Idle)
        );
    }

    #[test]
    fn a_busy_connection_is_never_idle_but_still_ages_out() {
        let t = Timeouts::default();
        let t0 = Instant::now();
        let mut s = snap(Protocol::Http2, t0, t0, 1);
        s.in_flight = 2;
        let later = t0 + t.http2_idle * 3;
        assert!(matches!(verdict(&s, &t, later), Verdict::Wait(_)));
        assert_eq!(verdict(&s, &t, t0 + t.max_age), Verdict::Close(Why::MaxAge));
    }

    #[test]
    fn the_victim_is_a_connection_that_never_sent_a_request_before_an_idle_client() {
        let t0 = Instant::now();
        let client = snap(Protocol::Http1, t0, t0, 5);
        let silent = snap(Protocol::Http1, t0 + secs(3), t0 + secs(3), 0);
        let older_silent = snap(Protocol::Handshake, t0 + secs(1), t0 + secs(1), 0);
        let chosen = victim([(1, client), (2, silent), (3, older_silent)].into_iter());
        assert_eq!(chosen, Some(3));
    }

    #[test]
    fn among_clients_the_longest_idle_is_the_victim_and_busy_ones_are_spared() {
        let t0 = Instant::now();
        let recent = snap(Protocol::Http1, t0, t0 + secs(9), 5);
        let stale = snap(Protocol::Http1, t0, t0 + secs(2), 5);
        let mut busy = snap(Protocol::Http1, t0, t0, 0);
        busy.in_flight = 1;
        assert_eq!(
            victim([(1, recent), (2, stale), (3, busy)].into_iter()),
            Some(2)
        );
        assert_eq!(victim([(3, busy)].into_iter()), None);
    }

    #[tokio::test]
    async fn the_per_address_cap_refuses_the_next_connection_from_that_address() {
        let r = Registry::new(100, 2);
        let a: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
        let _one = r.admit(a, false).unwrap();
        let two = r.admit(a, false).unwrap();
        assert_eq!(r.admit(a, false).err(), Some(Refusal::PerAddress));
        assert!(r.admit(Ipv4Addr::new(127, 0, 0, 3).into(), false).is_ok());
        assert!(r.admit(a, true).is_ok(), "trusted proxies are exempt");
        drop(two);
        assert!(
            r.admit(a, false).is_ok(),
            "a closed connection frees its slot"
        );
    }

    #[tokio::test]
    async fn at_the_global_cap_an_idle_connection_is_evicted_and_a_busy_one_is_not() {
        let r = Registry::new(2, 10);
        let ip: IpAddr = Ipv4Addr::LOCALHOST.into();
        let idle = r.admit(ip, false).unwrap();
        let busy = r.admit(ip, false).unwrap();
        let _request = busy.begin();
        let newcomer = r.admit(ip, false).unwrap();
        // The evicted connection's notification is waiting for it.
        tokio::time::timeout(Duration::from_secs(1), idle.conn.evicted())
            .await
            .expect("the idle connection was told to close");
        assert_eq!(r.live(), 2);
        let _request2 = newcomer.begin();
        assert_eq!(r.admit(ip, false).err(), Some(Refusal::Full));
    }
}
