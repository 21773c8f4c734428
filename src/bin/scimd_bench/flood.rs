//! The request-level attacks of `scimd-bench attack` (issue 10), beside the
//! connection attacks of `attack.rs`: requests that authenticate wrongly
//! (from one address, and from a whole IPv6 /64 behind a trusted proxy), and
//! costly requests from a second integration B holding a valid token (a
//! 1 MiB Bulk with a reversed chain of 1000 operations, eight expensive
//! filters at once, pages of large groups that are never read). The good
//! client reads users of integration A meanwhile; each row reports its
//! latency, the server's peak RSS, and what the attack did.

use crate::attack::{self, RowResult};
use crate::client::{Call, Target};
use crate::measure::Outcome;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// Requests with wrong tokens, all from 127.0.0.2.
    WrongTokenSingle,
    /// Requests with wrong tokens through a trusted proxy, each naming a
    /// different address of one IPv6 /64 in `X-Forwarded-For`.
    WrongTokenV6,
    /// Integration B: 1 MiB Bulks, each a reversed chain of 1000 operations.
    BulkChain,
    /// Integration B: eight unindexed filters over all its users at once.
    ExpensiveFilters,
    /// Integration B: pages of its largest groups, members included, never read.
    UnreadGroups,
}

pub const FLOODS: &[(&str, Flood)] = &[
    ("wrong-token", Flood::WrongTokenSingle),
    ("wrong-token-v6", Flood::WrongTokenV6),
    ("bulk-chain", Flood::BulkChain),
    ("slow-filters", Flood::ExpensiveFilters),
    ("unread-groups", Flood::UnreadGroups),
];

impl Flood {
    /// Whether the row needs integration B (the costly-request floods).
    pub fn needs_second(self) -> bool {
        !matches!(self, Flood::WrongTokenSingle | Flood::WrongTokenV6)
    }

    /// `serve` flags the row needs.
    pub fn serve_args(self) -> Vec<String> {
        match self {
            Flood::WrongTokenV6 => vec!["--trusted-proxy".into(), "127.0.0.0/8".into()],
            _ => Vec::new(),
        }
    }
}

/// Integration B of the database and how big it was made.
#[derive(Clone)]
pub struct Second {
    pub id: String,
    pub token: String,
}

pub struct Settings {
    /// Wrong-token requests per flood row.
    pub wrong_tokens: u64,
    pub duration: Duration,
    pub users: u64,
    /// The database file, whose growth the wrong-token rows report.
    pub db: std::path::PathBuf,
}

#[derive(Default)]
struct Count {
    sent: AtomicU64,
    unauthorized: AtomicU64,
    throttled: AtomicU64,
    other: AtomicU64,
}

impl Count {
    fn record(&self, status: u16) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let slot = match status {
            401 => &self.unauthorized,
            429 => &self.throttled,
            _ => &self.other,
        };
        slot.fetch_add(1, Ordering::Relaxed);
    }

    fn line(&self) -> String {
        format!(
            "{} attack requests (401: {}, 429: {}, other: {})",
            self.sent.load(Ordering::Relaxed),
            self.unauthorized.load(Ordering::Relaxed),
            self.throttled.load(Ordering::Relaxed),
            self.other.load(Ordering::Relaxed)
        )
    }
}

fn file_bytes(db: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let wal = db.with_extension("db-wal");
    size(db) + size(&wal)
}

/// A reversed chain: operation k names operation k+1's group as its member,
/// so the last one must run first. Display names are padded to about 1 MiB.
fn bulk_chain(round: u64) -> String {
    let pad = "x".repeat(900);
    let ops: Vec<serde_json::Value> = (0..1000u64)
        .map(|k| {
            let mut data = serde_json::json!({"displayName": format!("chain {round}.{k} {pad}")});
            if k < 999 {
                data["members"] =
                    serde_json::json!([{"value": format!("bulkId:r{round}g{}", k + 1)}]);
            }
            serde_json::json!({
                "method": "POST",
                "path": "/Groups",
                "bulkId": format!("r{round}g{k}"),
                "data": data,
            })
        })
        .collect();
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": ops,
    })
    .to_string()
}

/// Runs one flood row: the attack on its own thread, the good client here.
pub fn run_row(
    runtime: &tokio::runtime::Runtime,
    good: &Target,
    second: &Second,
    server_pid: u32,
    flood: Flood,
    name: &str,
    settings: &Settings,
) -> Result<RowResult, String> {
    let count = Arc::new(Count::default());
    let (stop, stopped) = watch::channel(false);
    let db = settings.db.as_path();
    let before = file_bytes(db);
    let wrong = good.with_token("scimd_wrongwrongwrongwrongwrongwrongwrongwrongwro");
    let b = good.for_integration(&second.id, &second.token);
    let thread = {
        let (count, settings_total) = (count.clone(), settings.wrong_tokens);
        std::thread::Builder::new()
            .name("flood".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(flood_loop(flood, wrong, b, count, settings_total, stopped));
            })
            .map_err(|e| format!("cannot start the flood thread: {e}"))?
    };
    // Let the attack get going before the good client measures.
    std::thread::sleep(Duration::from_millis(500));
    let good_outcome: Outcome =
        runtime.block_on(attack::good_client(good, settings.users, settings.duration));
    let peak = attack::peak_rss_kib(server_pid);
    let _ = stop.send(true);
    let _ = thread.join();
    // Refusals reach the audit table within two seconds.
    std::thread::sleep(Duration::from_millis(2500));
    let grown = file_bytes(db).saturating_sub(before);
    let mut note = count.line();
    if matches!(flood, Flood::WrongTokenSingle | Flood::WrongTokenV6) {
        note.push_str(&format!("; database +{:.1} KiB", grown as f64 / 1024.0));
    }
    Ok(RowResult {
        attack: name.to_string(),
        spread: match flood {
            Flood::WrongTokenSingle => "single",
            Flood::WrongTokenV6 => "v6 /64",
            _ => "int B",
        }
        .to_string(),
        good: good_outcome,
        peak_rss_kib: peak,
        held: 0,
        failed: 0,
        closed: 0,
        note,
    })
}

async fn flood_loop(
    flood: Flood,
    wrong: Target,
    b: Target,
    count: Arc<Count>,
    wrong_total: u64,
    stop: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let workers = match flood {
        Flood::WrongTokenSingle | Flood::WrongTokenV6 => 32,
        Flood::BulkChain => 2,
        Flood::ExpensiveFilters => 8,
        Flood::UnreadGroups => 4,
    };
    let next = Arc::new(AtomicU64::new(0));
    for w in 0..workers {
        let (wrong, b, count, next, mut stop) = (
            wrong.clone(),
            b.clone(),
            count.clone(),
            next.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            let work = async {
                match flood {
                    Flood::WrongTokenSingle | Flood::WrongTokenV6 => {
                        let source: IpAddr = if flood == Flood::WrongTokenSingle {
                            Ipv4Addr::new(127, 0, 0, 2).into()
                        } else {
                            Ipv4Addr::new(127, 0, 0, 3).into()
                        };
                        let target = wrong.connecting_from(source);
                        let mut conn = None;
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            if k >= wrong_total {
                                return;
                            }
                            if conn.is_none() {
                                conn = target.connect().await.ok();
                            }
                            let Some(c) = conn.as_mut() else {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                continue;
                            };
                            let mut call = Call::get("/Users?count=1".into());
                            if flood == Flood::WrongTokenV6 {
                                call.headers.push((
                                    "x-forwarded-for",
                                    format!("2001:db8:1:2:{:x}:{:x}::{:x}", k >> 16, k & 0xffff, w),
                                ));
                            }
                            match c.send(&call).await {
                                Ok(reply) => count.record(reply.status),
                                Err(_) => conn = None,
                            }
                        }
                    }
                    Flood::BulkChain => {
                        // Written by hand on a fresh connection each time,
                        // like a simple script would; read to the end.
                        for round in (w as u64 * 1_000_000).. {
                            let status = raw_request(
                                &b,
                                Ipv4Addr::new(127, 0, 0, 4).into(),
                                "POST",
                                "/Bulk",
                                &bulk_chain(round),
                            )
                            .await;
                            count.record(status.unwrap_or(0));
                        }
                    }
                    Flood::ExpensiveFilters => {
                        let filter = "/Users?count=100&filter=title%20co%20%22zz%22%20or%20nickName%20ew%20%22q%22%20or%20addresses.locality%20co%20%22nowhere%22";
                        let mut conn = None;
                        loop {
                            if conn.is_none() {
                                conn = b.connecting_from(Ipv4Addr::new(127, 0, 0, 5).into()).connect().await.ok();
                            }
                            let Some(c) = conn.as_mut() else { return };
                            match c.send(&Call::get(filter.into())).await {
                                Ok(reply) => count.record(reply.status),
                                Err(_) => conn = None,
                            }
                        }
                    }
                    Flood::UnreadGroups => loop {
                        // Ask for a page of large groups and never read it.
                        raw_unread_get(
                            &b,
                            Ipv4Addr::new(127, 0, 0, 6).into(),
                            "/Groups?count=20",
                            &count,
                        )
                        .await;
                    },
                }
            };
            tokio::select! {
                _ = work => {},
                _ = stop.changed() => {},
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// One request with `Connection: close` on a fresh TLS connection; the
/// status of the answer, read to the end.
async fn raw_request(
    target: &Target,
    source: IpAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let mut tls = target.raw_tls_from(source).await.ok()?;
    let head = target.request_head(method, path);
    let head = head.trim_end_matches("\r\n").to_string();
    let request = format!(
        "{head}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(answer.get(..32.min(answer.len()))?);
    text.split(' ').nth(1)?.parse().ok()
}

/// Sends one GET over a fresh TLS connection and then never reads: the
/// server's answer sits in the socket buffers until its write timeout. The
/// connection is held until the row ends (the caller's task is cancelled).
async fn raw_unread_get(target: &Target, source: IpAddr, path: &str, count: &Count) -> bool {
    let Ok(mut tls) = target.raw_tls_from(source).await else {
        tokio::time::sleep(Duration::from_millis(200)).await;
        return false;
    };
    let request = target.request_head("GET", path);
    if tls.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    // Counted as sent; its status is never read.
    count.record(0);
    let held_from = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        if held_from.elapsed() > Duration::from_secs(3600) {
            return true;
        }
    }
}
