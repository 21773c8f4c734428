//! The accept loop and the life of each connection. Every phase is bounded
//! (`conns::Timeouts`): TLS handshake, first request, HTTP/1 header read and
//! keep-alive, HTTP/2 idle, connection age, stalled response writes. The
//! protocol comes from ALPN (`h2` is HTTP/2, anything else HTTP/1.1; plain
//! HTTP is HTTP/1.1), so no bytes are read to guess it. The connection
//! registry caps connections per client address and in total; at the total
//! cap the oldest idle connection makes room instead of the listener
//! stopping. Accept errors (EMFILE and friends) are logged and backed off,
//! never fatal. On shutdown the listener closes and connections finish their
//! in-flight requests within a grace period.

use super::conns::{self, Protocol, Refusal, Registry, Ticket, Timeouts, Verdict};
use super::handler;
use super::socket::{self, Socket, WriteDeadline};
use super::state::AppState;
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;

const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// An evicted connection that had served requests gets this long to finish
/// the one it may have just begun; one that never sent a request is dropped.
const EVICT_GRACE: Duration = Duration::from_secs(1);

/// What every connection task shares.
struct Shared {
    state: Arc<AppState>,
    /// Read per connection, so a SIGHUP reload applies to the next one.
    tls: Option<Arc<super::tls::Reloadable>>,
    timeouts: Timeouts,
    /// Becomes true on shutdown. The listener waits for every receiver
    /// (one per connection) to be dropped.
    shutdown: watch::Receiver<bool>,
}

pub async fn run(
    listener: TcpListener,
    tls: Option<Arc<super::tls::Reloadable>>,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) {
    let registry = Registry::new(
        state.limits.max_connections,
        state.limits.max_connections_per_ip,
    );
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(Shared {
        state: state.clone(),
        tls,
        timeouts: Timeouts::default(),
        shutdown: stopped,
    });
    tokio::pin!(shutdown);
    'accept: loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; backing off");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let exempt = state.trusted_proxies.iter().any(|c| c.contains(peer.ip()));
        let ticket = loop {
            match registry.admit(peer.ip(), exempt) {
                Ok(ticket) => break ticket,
                Err(Refusal::PerAddress) => {
                    tracing::debug!(%peer, "refused: this address holds its connection cap");
                    continue 'accept;
                }
                // Every slot has a request in flight: wait for one to end.
                Err(Refusal::Full) => tokio::select! {
                    _ = registry.changed() => {}
                    _ = &mut shutdown => break 'accept,
                },
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, peer, ticket, shared.clone()));
    }
    drop(listener);
    let _ = stop.send(true);
    drop(shared);
    if tokio::time::timeout(SHUTDOWN_GRACE, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still busy after {SHUTDOWN_GRACE:?}; closing them");
    }
}

async fn connection(stream: TcpStream, peer: SocketAddr, ticket: Ticket, shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.clone();
    let Some(acceptor) = shared.tls.as_ref().map(|cell| cell.acceptor()) else {
        ticket.conn.set_protocol(Protocol::Http1);
        return serve(stream, false, peer, ticket, &shared, &mut shutdown).await;
    };
    let handshake = tokio::time::timeout(shared.timeouts.tls_handshake, acceptor.accept(stream));
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        },
        _ = ticket.conn.evicted() => return tracing::debug!(%peer, "evicted during the TLS handshake"),
        _ = shutdown.wait_for(|stop| *stop) => return,
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
    ticket
        .conn
        .set_protocol(if h2 { Protocol::Http2 } else { Protocol::Http1 });
    serve(tls, h2, peer, ticket, &shared, &mut shutdown).await;
}

type Reply = Pin<Box<dyn Future<Output = Result<Response<super::http::Body>, Infallible>> + Send>>;

async fn serve<S: Socket>(
    io: S,
    h2: bool,
    peer: SocketAddr,
    ticket: Ticket,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
) {
    let ticket = Arc::new(ticket);
    let service = {
        let (state, ticket) = (shared.state.clone(), ticket.clone());
        service_fn(move |req: Request<Incoming>| -> Reply {
            let (state, ticket) = (state.clone(), ticket.clone());
            Box::pin(async move {
                let _busy = ticket.begin();
                let declared = req
                    .headers()
                    .get(hyper::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                let limit = state.limits.max_body_bytes as u64;
                let resp = handler::handle(state, req, peer).await;
                let closes = resp
                    .headers()
                    .get(hyper::header::CONNECTION)
                    .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                if closes {
                    ticket.conn.want_linger(drain_budget(declared, limit));
                }
                Ok(resp)
            })
        })
    };
    let io = TokioIo::new(WriteDeadline::new(io, shared.timeouts.write_stall));
    let t = &shared.timeouts;
    if h2 {
        let mut builder = http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(64)
            .keep_alive_interval(Some(Duration::from_secs(30)))
            .keep_alive_timeout(Duration::from_secs(10));
        let mut conn = Http2(Box::pin(builder.serve_connection(io, service)));
        if let Err(e) = drive(&mut conn, &ticket, t, shutdown).await {
            tracing::debug!(%peer, error = %e, "HTTP/2 connection ended");
        }
        return;
    }
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(t.http1_idle)
        .max_buf_size(64 * 1024);
    let mut conn = Http1(builder.serve_connection(io, service));
    match drive(&mut conn, &ticket, t, shutdown).await {
        Ok(()) => match ticket.conn.linger_budget() {
            Some(budget) => {
                let io = conn.0.into_parts().io.into_inner().into_inner();
                socket::linger(io, budget, t.linger).await;
            }
            None => {
                let mut io = conn.0.into_parts().io.into_inner();
                let shut = tokio::io::AsyncWriteExt::shutdown(&mut io);
                let _ = tokio::time::timeout(t.linger, shut).await;
            }
        },
        Err(e) => tracing::debug!(%peer, error = %e, "HTTP/1 connection ended"),
    }
}

/// How much of a refused upload to read and discard before closing: its
/// declared length, at most 16 times the body limit (4 times when the length
/// is not declared), and at least 64 KiB for whatever follows it.
pub fn drain_budget(declared: Option<u64>, limit: u64) -> u64 {
    declared.unwrap_or(4 * limit).min(16 * limit).max(64 * 1024)
}

/// A hyper connection driven by `drive`: polled to completion, and asked to
/// close gracefully when a timeout, an eviction or shutdown says so.
trait Served {
    fn poll_served(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>>;
    fn begin_close(&mut self);
}

struct Http1<C>(C);
struct Http2<C>(Pin<Box<C>>);

impl<I, S> Served for Http1<http1::Connection<I, S>>
where
    S: hyper::service::HttpService<Incoming, ResBody = super::http::Body> + Unpin,
    S::Future: Unpin,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    fn poll_served(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        // Without shutdown: the socket is taken back for the lingering close.
        self.0.poll_without_shutdown(cx).map_err(|e| e.to_string())
    }

    fn begin_close(&mut self) {
        Pin::new(&mut self.0).graceful_shutdown();
    }
}

impl<C, E> Served for Http2<C>
where
    C: hyper_util::server::graceful::GracefulConnection<Error = E>,
    E: std::fmt::Display,
{
    fn poll_served(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        self.0.as_mut().poll(cx).map_err(|e| e.to_string())
    }

    fn begin_close(&mut self) {
        self.0.as_mut().graceful_shutdown();
    }
}

/// Runs a connection until it ends or a bound closes it. A connection that
/// never sent a request is dropped outright when its time is up or it is
/// evicted; one that did is closed gracefully (HTTP/1 after the response in
/// progress, HTTP/2 with GOAWAY) and dropped if that takes too long.
async fn drive<C: Served>(
    conn: &mut C,
    ticket: &Ticket,
    t: &Timeouts,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let mut closing: Option<Instant> = None;
    loop {
        let wake = match closing {
            Some(deadline) => deadline,
            None => match conns::verdict(&ticket.conn.snapshot(), t, Instant::now().into_std()) {
                Verdict::Wait(at) => Instant::from_std(at),
                Verdict::Close(conns::Why::NoRequest) => {
                    return Err("no request before the first-request timeout".into())
                }
                Verdict::Close(why) => {
                    tracing::debug!(?why, "closing the connection gracefully");
                    conn.begin_close();
                    closing = Some(Instant::now() + t.close_grace);
                    continue;
                }
            },
        };
        let mut close_within = None;
        tokio::select! {
            done = std::future::poll_fn(|cx| conn.poll_served(cx)) => return done,
            _ = tokio::time::sleep_until(wake) => {
                if closing.is_some() {
                    return Err("still open after the close grace period".into());
                }
            }
            _ = ticket.conn.evicted() => {
                if ticket.conn.served() == 0 {
                    return Err("evicted to make room for a new connection".into());
                }
                close_within = Some(EVICT_GRACE);
            }
            _ = shutdown.wait_for(|stop| *stop), if closing.is_none() => {
                close_within = Some(t.close_grace);
            }
        }
        if let Some(grace) = close_within {
            conn.begin_close();
            let deadline = Instant::now() + grace;
            closing = Some(closing.map_or(deadline, |c| c.min(deadline)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::drain_budget;

    #[test]
    fn a_refused_upload_is_drained_up_to_its_declared_length_within_bounds() {
        let mib = 1 << 20;
        assert_eq!(drain_budget(Some(5 * mib), mib), 5 * mib);
        assert_eq!(drain_budget(Some(100 * mib), mib), 16 * mib);
        assert_eq!(drain_budget(None, mib), 4 * mib);
        assert_eq!(drain_budget(Some(2), mib), 64 * 1024);
    }
}
