//! `scimd-bench compare` (issue 15): the same workloads, from the same load
//! generator, against scim2-server (the reference peer, from PyPI, over
//! HTTP), the ceiling (`scimd-ceiling`: a bare hyper + rustls server with
//! scimd's TLS settings, HTTP and HTTPS) and scimd itself (HTTP and HTTPS),
//! one server after another in one run on one machine. Only ratios measured
//! in one run mean anything on a shared machine, so the table carries them:
//! scimd over HTTP ÷ the peer, scimd over HTTPS ÷ the ceiling over HTTPS.
//!
//! The load generator is this process: `--connections` kept-alive HTTP/1.1
//! connections on one thread, each sending its next request as soon as the
//! previous answer is read, for `--duration` seconds after a short warm-up;
//! latencies go to a histogram per workload. Every server gets the same
//! synthetic users (the loader's), the same request bodies and the same
//! group size; scimd's file is bulk-loaded, the peer's users are POSTed.
//! Peak RSS is VmHWM of the server's process (for the peer, the Python
//! interpreter) read just before it is stopped.

use crate::client::{Call, Target};
use crate::compare_stats::{self, Cell, Column, Histogram, Ratio};
use crate::loader::{self, synthetic_user, user_body, Loader};
use crate::measure::pick;
use crate::{database, server};
use clap::Args;
use hyper::Method;
use serde_json::{json, Value};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Users outside the big group that one scimd run may add, so every add is
/// a real insert rather than a no-op on an existing member.
const OUTSIDERS: u64 = 25_000;
/// Members each request adds while the peer's big group is built: it is
/// single-threaded and slow with large groups, and one giant request would
/// keep it busy long after the client gave up on it.
const PEER_GROUP_CHUNK: u64 = 2_000;
const PEER_TOKEN: &str = "scimd-bench-compare";
const READY_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Args)]
pub struct CompareArgs {
    /// Seconds each workload runs against each server (after a warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Users every server holds before the workloads.
    #[arg(long, default_value_t = 1000)]
    users: u64,
    /// Members of the group one member is added to.
    #[arg(long, default_value_t = 100_000)]
    group_size: u64,
    /// Also the 1M-user workloads (userName eq, startIndex 1 and 500 000),
    /// on scimd and the ceiling only; loads `--big-db` once, then reuses it.
    #[arg(long)]
    big: bool,
    /// The cached database of `--big`.
    #[arg(long, default_value = "target/bench-cache/compare-1m.db")]
    big_db: PathBuf,
    /// Users in the `--big` database when it is first made.
    #[arg(long, default_value_t = 1_000_000)]
    big_users: u64,
    /// Seconds scim2-server may spend building its big group (it slows as
    /// the group grows); the size reached is noted under the table.
    #[arg(long, default_value_t = 120)]
    peer_group_seconds: u64,
    /// Leave scim2-server out (no Python needed).
    #[arg(long)]
    skip_peer: bool,
    /// The virtualenv scim2-server is installed into (made if missing).
    #[arg(long, default_value = "target/bench-venv")]
    venv: PathBuf,
    /// Where the results table is written, as `<date>.md`.
    #[arg(long, default_value = "bench/results")]
    out_dir: PathBuf,
}

/// The workloads, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Create,
    Get,
    Eq,
    Put,
    Patch,
    AddMember,
    List,
    EqBig,
    SortFirst,
    SortDeep,
}

const SMALL: [Workload; 7] = [
    Workload::Create,
    Workload::Get,
    Workload::Eq,
    Workload::Put,
    Workload::Patch,
    Workload::AddMember,
    Workload::List,
];
const BIG: [Workload; 3] = [Workload::EqBig, Workload::SortFirst, Workload::SortDeep];
/// `startIndex` of the deep page, as in the issue.
const DEEP: u64 = 500_000;

impl Workload {
    fn name(self, a: &CompareArgs) -> String {
        match self {
            Workload::Create => "POST /Users".into(),
            Workload::Get => "GET /Users/{id}".into(),
            Workload::Eq => format!("filter userName eq ({} users)", a.users),
            Workload::Put => "PUT /Users/{id}".into(),
            Workload::Patch => "PATCH replace displayName".into(),
            Workload::AddMember => format!("PATCH add 1 member ({} members)", a.group_size),
            Workload::List => "GET /Users count=100".into(),
            Workload::EqBig => format!("filter userName eq ({} users)", a.big_users),
            Workload::SortFirst => "sortBy=userName startIndex=1 count=100".into(),
            Workload::SortDeep => {
                format!("sortBy=userName startIndex={DEEP}+ count=100 (walk, after its 1st page)")
            }
        }
    }

    /// What a real server must answer; the ceiling answers 200 to all.
    fn statuses(self) -> &'static [u16] {
        match self {
            Workload::Create => &[201],
            Workload::Patch | Workload::AddMember => &[200, 204],
            _ => &[200],
        }
    }
}

/// A server under test and the data it holds.
struct Subject {
    title: String,
    /// The ceiling answers everything with 200.
    ceiling: bool,
    target: Target,
    /// Where the big group lives (scimd: another integration).
    group_target: Target,
    /// Ids and userNames of the seeded users, by synthetic index.
    ids: Vec<String>,
    names: Vec<String>,
    group: Option<String>,
    /// Users not in the group, to add one per request.
    outsiders: Vec<String>,
    /// Unique per server run, so creates never collide.
    label: String,
    /// The population the big workloads pick from (0: none).
    big_users: u64,
}

impl Subject {
    /// The request of iteration `i` of worker `w` (`k`: a run-wide counter).
    fn call(&self, wl: Workload, w: usize, i: u64, k: u64) -> (bool, Call) {
        let n = self.ids.len().max(1) as u64;
        let at = pick(k, wl as u64, n) as usize;
        let id = self.ids.get(at).map_or("none", String::as_str);
        let on_group = wl == Workload::AddMember;
        let call = match wl {
            Workload::Create => {
                let name = format!("cmp-{}-{w}-{i}@example.com", self.label);
                Call::post(
                    "/Users".into(),
                    json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": name,
                        "name": {"givenName": "Bench", "familyName": format!("W{w}")},
                        "displayName": format!("Bench {w} {i}"),
                        "emails": [{"value": name, "type": "work", "primary": true}],
                        "active": true,
                    })
                    .to_string(),
                )
            }
            Workload::Get => Call::get(format!("/Users/{id}")),
            Workload::Eq => Call::get(eq_path(self.names.get(at).map_or("x", String::as_str))),
            Workload::Put => {
                let mut body = user_body(at as u64, &synthetic_user(at as u64));
                body["displayName"] = json!(format!("Put {k}"));
                Call {
                    method: Method::PUT,
                    path: format!("/Users/{id}"),
                    body: Some(body.to_string()),
                    headers: Vec::new(),
                }
            }
            Workload::Patch => Call::patch(
                format!("/Users/{id}"),
                json!({
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "replace", "path": "displayName", "value": format!("Patch {k}")}],
                })
                .to_string(),
            ),
            Workload::AddMember => {
                let o = self.outsiders.len().max(1);
                let member = self.outsiders.get(k as usize % o).map_or("none", String::as_str);
                Call::patch(
                    format!(
                        "/Groups/{}?excludedAttributes=members",
                        self.group.as_deref().unwrap_or("none")
                    ),
                    json!({
                        "schemas": [PATCH_OP],
                        "Operations": [{"op": "add", "path": "members", "value": [{"value": member}]}],
                    })
                    .to_string(),
                )
            }
            Workload::List => Call::get("/Users?startIndex=1&count=100".into()),
            Workload::EqBig => {
                let u = synthetic_user(pick(k, 77, self.big_users.max(1)));
                Call::get(eq_path(&u.user_name))
            }
            Workload::SortFirst => Call::get("/Users?sortBy=userName&startIndex=1&count=100".into()),
            Workload::SortDeep => {
                // Each connection walks its own stretch in order, as an IdP
                // reading page after page does.
                let start = DEEP + (w as u64) * 20_000 + (i % 200) * 100;
                Call::get(format!(
                    "/Users?sortBy=userName&startIndex={start}&count=100"
                ))
            }
        };
        (on_group, call)
    }

    fn runs(&self, wl: Workload) -> bool {
        match wl {
            Workload::AddMember => self.group.is_some(),
            Workload::EqBig | Workload::SortFirst | Workload::SortDeep => self.big_users > 0,
            _ => true,
        }
    }
}

fn eq_path(user_name: &str) -> String {
    let filter = format!("userName eq \"{user_name}\"");
    format!("/Users?filter={}", crate::client::encode(&filter))
}

/// Runs one workload on `conns` connections for `duration` after a warm-up.
async fn measure(subject: &Arc<Subject>, wl: Workload, conns: usize, duration: Duration) -> Cell {
    let warm_up = (duration / 5).min(Duration::from_secs(1));
    let counter = Arc::new(AtomicUsize::new(0));
    let merged = Arc::new(Mutex::new(Cell::default()));
    let started = Instant::now();
    let measuring_from = started + warm_up;
    let deadline = measuring_from + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..conns.max(1) {
        let (subject, counter, merged) = (subject.clone(), counter.clone(), merged.clone());
        tasks.spawn(async move {
            let mut ok = Histogram::default();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut note = |e: String, errors: &mut u64| {
                *errors += 1;
                first_error.get_or_insert(e);
            };
            let (probe_on_group, _) = subject.call(wl, w, 0, 0);
            let target = if probe_on_group {
                &subject.group_target
            } else {
                &subject.target
            };
            match target.connect().await {
                Err(e) => note(e, &mut errors),
                Ok(mut conn) => {
                    let mut i = 0u64;
                    loop {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        let k = counter.fetch_add(1, Ordering::Relaxed) as u64;
                        let (_, call) = subject.call(wl, w, i, k);
                        // A walk's first page is reached by OFFSET; the row
                        // is about the pages after it, so that one page
                        // warms up like the rest of the warm-up.
                        let walk_start = wl == Workload::SortDeep && i == 0;
                        i += 1;
                        let counted = now >= measuring_from && !walk_start;
                        match conn.send(&call).await {
                            Ok(reply) => {
                                let good = if subject.ceiling {
                                    reply.status == 200
                                } else {
                                    wl.statuses().contains(&reply.status)
                                };
                                if !counted {
                                    continue;
                                }
                                if good {
                                    ok.record(reply.elapsed);
                                } else {
                                    note(crate::measure::status_error(&reply), &mut errors);
                                }
                            }
                            Err(e) if counted => note(e, &mut errors),
                            Err(_) => {}
                        }
                    }
                }
            }
            if let Ok(mut m) = merged.lock() {
                m.ok.merge(&ok);
                m.errors += errors;
                if m.first_error.is_none() {
                    m.first_error = first_error;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let measured = Instant::now().saturating_duration_since(measuring_from);
    let mut cell = merged.lock().map(|c| c.clone()).unwrap_or_default();
    cell.elapsed = measured;
    cell
}

/// Sends `calls` over `conns` connections; the JSON answers in call order
/// (None where a call failed), and the first failure.
async fn send_all(
    target: &Target,
    calls: Vec<Call>,
    conns: usize,
    want: u16,
) -> (Vec<Option<Value>>, Option<String>) {
    let calls = Arc::new(calls);
    let answers = Arc::new(Mutex::new(vec![None; calls.len()]));
    let failure = Arc::new(Mutex::new(None::<String>));
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns.max(1) {
        let (target, calls, answers, failure, next) = (
            target.clone(),
            calls.clone(),
            answers.clone(),
            failure.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            let fail = |e: String| {
                if let Ok(mut f) = failure.lock() {
                    f.get_or_insert(e);
                }
            };
            let mut conn = match target.connect().await {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(call) = calls.get(at) else { return };
                match conn.send(call).await {
                    Ok(r) if r.status == want => {
                        let v = serde_json::from_slice::<Value>(&r.body).ok();
                        if let Ok(mut a) = answers.lock() {
                            a[at] = v;
                        }
                    }
                    Ok(r) => fail(crate::measure::status_error(&r)),
                    Err(e) => fail(e),
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let answers = answers.lock().map(|a| a.clone()).unwrap_or_default();
    let failure = failure.lock().ok().and_then(|f| f.clone());
    (answers, failure)
}

/// Builds the peer's big group a chunk of members at a time, within
/// `budget`; its id and the size it reached.
async fn peer_group(target: &Target, size: u64, budget: Duration) -> (Option<String>, u64) {
    let create = Call::post(
        "/Groups".into(),
        json!({"schemas": [GROUP_URN], "displayName": "bench big group"}).to_string(),
    );
    let (made, _) = send_all(target, vec![create], 1, 201).await;
    let Some(id) = made
        .into_iter()
        .next()
        .flatten()
        .and_then(|v| v["id"].as_str().map(str::to_string))
    else {
        return (None, 0);
    };
    let deadline = Instant::now() + budget;
    let mut reached = 0;
    while reached < size && Instant::now() < deadline {
        let end = (reached + PEER_GROUP_CHUNK).min(size);
        let members: Vec<Value> = (reached..end)
            .map(|i| json!({"value": format!("{:032x}", i + 1)}))
            .collect();
        let add = Call::patch(
            format!("/Groups/{id}?excludedAttributes=members"),
            json!({
                "schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "members", "value": members}],
            })
            .to_string(),
        );
        let (_, failed) = send_all(target, vec![add], 1, 200).await;
        if let Some(e) = failed {
            eprintln!("scim2-server: adding members {reached}..{end}: {e}");
            break;
        }
        reached = end;
    }
    (Some(id), reached)
}

/// A child process that is killed when dropped.
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    compare_stats::vm_hwm_bytes(&status)
}

/// Makes the virtualenv and installs scim2-server when it is not there yet;
/// returns the installed version.
fn install_peer(venv: &Path) -> Result<String, String> {
    let bin = venv.join("bin");
    if !bin.join("scim2-server").is_file() {
        eprintln!("installing scim2-server into {}", venv.display());
        let run = |cmd: &mut Command, what: &str| -> Result<(), String> {
            let status = cmd
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("{what}: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("{what} failed ({status})"))
            }
        };
        run(
            Command::new("python3").args(["-m", "venv"]).arg(venv),
            "python3 -m venv",
        )?;
        run(
            Command::new(bin.join("pip")).args(["install", "--quiet", "scim2-server"]),
            "pip install scim2-server",
        )?;
    }
    let out = Command::new(bin.join("pip"))
        .args(["show", "scim2-server"])
        .output()
        .map_err(|e| format!("pip show: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap_or("unknown")
        .to_string())
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Starts scim2-server on 127.0.0.1 and waits until it accepts connections
/// (it prints no address for port 0, so the port is chosen here).
fn start_peer(venv: &Path, log: &Path) -> Result<(Process, SocketAddr), String> {
    let port = free_port()?;
    let log_file =
        std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err_file = log_file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let child = Command::new(venv.join("bin").join("scim2-server"))
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
        .args(["--bearer-token", PEER_TOKEN])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(err_file))
        .spawn()
        .map_err(|e| format!("cannot start scim2-server: {e}"))?;
    let mut process = Process { child };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok((process, addr));
        }
        if let Ok(Some(status)) = process.child.try_wait() {
            return Err(format!(
                "scim2-server exited ({status}); see {}",
                log.display()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "scim2-server did not listen on {addr} within {} s",
                READY_TIMEOUT.as_secs()
            ));
        }
        // Polling a connect: the peer prints nothing we could wait on.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The scimd and scimd-ceiling binaries beside this one, built first when
/// missing (with this build's profile).
fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let found = || {
        Ok::<_, String>((
            server::sibling_binary("scimd")?,
            server::sibling_binary("scimd-ceiling")?,
        ))
    };
    if let Ok(both) = found() {
        return Ok(both);
    }
    let release = !cfg!(debug_assertions);
    eprintln!("building scimd and scimd-ceiling");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(["build", "--bin", "scimd", "--bin", "scimd-ceiling"]);
    if release {
        cargo.arg("--release");
    }
    let status = cargo
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    found()
}

fn set_rates(scimd: &Path, db: &Path, integration: &str) -> Result<(), String> {
    let out = Command::new(scimd)
        .arg("--db")
        .arg(db)
        .args(["integration", "set", integration])
        .args(["--rate-limit", "1000000", "--rate-burst", "1000000"])
        .output()
        .map_err(|e| format!("scimd integration set: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scimd integration set {integration}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// scimd's file: integration A with the users, integration B with the big
/// group and outsiders for two runs.
struct ScimdData {
    a: loader::BenchIntegration,
    b: loader::BenchIntegration,
    group: String,
}

fn load_scimd(db: &Path, a: &CompareArgs) -> Result<ScimdData, String> {
    let started = Instant::now();
    let s = |e: scimd::store::StoreError| e.to_string();
    let loader = Loader::create(db).map_err(s)?;
    let ia = loader.integration(database::INTEGRATION_NAME).map_err(s)?;
    loader
        .users(&ia.id, 0..a.users, a.users, |_| {})
        .map_err(s)?;
    let ib = loader.integration("bench B").map_err(s)?;
    let b_users = a.group_size + 2 * OUTSIDERS;
    loader
        .users(&ib.id, 0..b_users, b_users, |_| {})
        .map_err(s)?;
    let group = loader
        .group(&ib.id, "bench big group", 0..a.group_size)
        .map_err(s)?;
    loader.finish().map_err(s)?;
    eprintln!(
        "loaded scimd's file: {} users, and {} users with a {}-member group, in {:.1} s",
        a.users,
        b_users,
        a.group_size,
        started.elapsed().as_secs_f64()
    );
    Ok(ScimdData {
        a: ia,
        b: ib,
        group,
    })
}

fn seeded(users: u64) -> (Vec<String>, Vec<String>) {
    (0..users)
        .map(|i| {
            let u = synthetic_user(i);
            (u.id, u.user_name)
        })
        .unzip()
}

/// Runs `workloads` on `subject` and fills its column.
fn run_all(
    runtime: &tokio::runtime::Runtime,
    subject: Subject,
    workloads: &[Workload],
    all: &[Workload],
    conns: usize,
    duration: Duration,
    column: &mut Column,
) {
    let subject = Arc::new(subject);
    for wl in workloads {
        if !subject.runs(*wl) {
            continue;
        }
        eprintln!("{}: {:?}", subject.title, wl);
        let cell = runtime.block_on(measure(&subject, *wl, conns, duration));
        if let Some(at) = all.iter().position(|w| w == wl) {
            column.cells[at] = Some(cell);
        }
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    format!("{cpus} CPUs ({model}), Linux {kernel}")
}

fn commit() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = run(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty {
        format!("{head} (with uncommitted changes)")
    } else {
        head
    }
}

pub fn run(
    runtime: &tokio::runtime::Runtime,
    args: CompareArgs,
    connections: usize,
) -> Result<(), String> {
    let duration = Duration::from_secs(args.duration.max(1));
    let conns = connections.max(1);
    let (scimd_bin, ceiling_bin) = binaries()?;
    let workspace = database::Workspace::new(None)?;
    let dir = workspace
        .db
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);

    let mut workloads: Vec<Workload> = SMALL.to_vec();
    if args.big {
        workloads.extend(BIG);
    }
    let titles = [
        "scim2-server HTTP",
        "ceiling HTTP",
        "ceiling HTTPS",
        "scimd HTTP",
        "scimd HTTPS",
    ];
    let mut columns: Vec<Column> = titles
        .iter()
        .map(|t| Column {
            title: t.to_string(),
            rss_bytes: None,
            cells: vec![None; workloads.len()],
        })
        .collect();
    let (seed_ids, seed_names) = seeded(args.users);
    let mut notes: Vec<String> = Vec::new();

    // The peer.
    let mut peer_version = None;
    if args.skip_peer {
        notes.push("scim2-server: skipped (--skip-peer)".into());
    } else {
        let version = install_peer(&args.venv)?;
        peer_version = Some(version.clone());
        let (process, addr) = start_peer(&args.venv, &dir.join("peer.log"))?;
        let target = Target::plain(addr, PEER_TOKEN, "/v2")?.reopening_closed();
        eprintln!(
            "scim2-server {version} on {addr}: creating {} users",
            args.users
        );
        let bodies = (0..args.users)
            .map(|i| {
                Call::post(
                    "/Users".into(),
                    user_body(i, &synthetic_user(i)).to_string(),
                )
            })
            .collect();
        let (made, failed) = runtime.block_on(send_all(&target, bodies, conns, 201));
        if let Some(e) = failed {
            return Err(format!("creating the peer's users: {e}"));
        }
        let ids: Vec<String> = made
            .iter()
            .map(|v| {
                v.as_ref()
                    .and_then(|v| v["id"].as_str())
                    .unwrap_or("missing")
                    .to_string()
            })
            .collect();
        // The group's members need not be users the peer holds: it is an
        // in-memory store and the cost looked at is that of the add.
        let budget = Duration::from_secs(args.peer_group_seconds);
        let (group, reached) = runtime.block_on(peer_group(&target, args.group_size, budget));
        if group.is_none() || reached < args.group_size {
            notes.push(format!(
                "scim2-server: its group reached {reached} of {} members within {} s; its member-add row is at that size",
                args.group_size,
                budget.as_secs()
            ));
        }
        let subject = Subject {
            title: titles[0].into(),
            ceiling: false,
            target: target.clone(),
            group_target: target,
            ids: ids.clone(),
            names: seed_names.clone(),
            group,
            outsiders: ids,
            label: "peer".into(),
            big_users: 0,
        };
        run_all(
            runtime,
            subject,
            &SMALL,
            &workloads,
            conns,
            duration,
            &mut columns[0],
        );
        columns[0].rss_bytes = peak_rss(process.child.id());
        drop(process);
    }

    // The ceiling, over HTTP and HTTPS: it answers the big workloads too.
    for (col, insecure) in [(1usize, true), (2usize, false)] {
        let mut command = Command::new(&ceiling_bin);
        command.args(["--listen", "127.0.0.1:0"]);
        if insecure {
            command.arg("--insecure-http");
        }
        let srv =
            server::start_command(command, &ceiling_bin, dir.join(format!("ceiling{col}.log")))?;
        let target = if srv.tls {
            Target::new(srv.addr, &srv.fingerprint, "none", "ceiling")?
        } else {
            Target::plain(srv.addr, "none", "/scim/ceiling")?
        };
        let subject = Subject {
            title: titles[col].into(),
            ceiling: true,
            target: target.clone(),
            group_target: target,
            ids: seed_ids.clone(),
            names: seed_names.clone(),
            group: Some("ceiling-group".into()),
            outsiders: seed_ids.clone(),
            label: format!("ceiling{col}"),
            big_users: if args.big { args.big_users } else { 0 },
        };
        run_all(
            runtime,
            subject,
            &workloads,
            &workloads,
            conns,
            duration,
            &mut columns[col],
        );
        columns[col].rss_bytes = peak_rss(srv.pid());
    }

    // scimd, over HTTP then HTTPS, on one file.
    let data = load_scimd(&workspace.db, &args)?;
    set_rates(&scimd_bin, &workspace.db, &data.a.id)?;
    set_rates(&scimd_bin, &workspace.db, &data.b.id)?;
    for (run, (col, insecure)) in [(3usize, true), (4usize, false)].into_iter().enumerate() {
        let extra: Vec<String> = if insecure {
            vec!["--insecure-http".into()]
        } else {
            Vec::new()
        };
        let srv = server::start_with(&workspace.db, Some(&scimd_bin), &extra)?;
        let targets = |i: &loader::BenchIntegration| {
            if srv.tls {
                Target::new(srv.addr, &srv.fingerprint, &i.token, &i.id)
            } else {
                Target::plain(srv.addr, &i.token, &format!("/scim/{}", i.id))
            }
        };
        let first_outsider = args.group_size + run as u64 * OUTSIDERS;
        let subject = Subject {
            title: titles[col].into(),
            ceiling: false,
            target: targets(&data.a)?,
            group_target: targets(&data.b)?,
            ids: seed_ids.clone(),
            names: seed_names.clone(),
            group: Some(data.group.clone()),
            outsiders: (first_outsider..first_outsider + OUTSIDERS)
                .map(|i| synthetic_user(i).id)
                .collect(),
            label: format!("scimd{col}"),
            big_users: 0,
        };
        run_all(
            runtime,
            subject,
            &SMALL,
            &workloads,
            conns,
            duration,
            &mut columns[col],
        );
        columns[col].rss_bytes = peak_rss(srv.pid());
    }

    // The 1M-user file, scimd only.
    let mut big_rss = Vec::new();
    if args.big {
        if let Some(parent) = args.big_db.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let prepared = database::prepare(&args.big_db, args.big_users, |_, _| Ok(()))?;
        let facts = database::facts(&args.big_db, &prepared.integration.id)?;
        set_rates(&scimd_bin, &args.big_db, &prepared.integration.id)?;
        for (col, insecure) in [(3usize, true), (4usize, false)] {
            let extra: Vec<String> = if insecure {
                vec!["--insecure-http".into()]
            } else {
                Vec::new()
            };
            let srv = server::start_with(&args.big_db, Some(&scimd_bin), &extra)?;
            let i = &prepared.integration;
            let target = if srv.tls {
                Target::new(srv.addr, &srv.fingerprint, &i.token, &i.id)?
            } else {
                Target::plain(srv.addr, &i.token, &format!("/scim/{}", i.id))?
            };
            let subject = Subject {
                title: titles[col].into(),
                ceiling: false,
                target: target.clone(),
                group_target: target,
                ids: Vec::new(),
                names: Vec::new(),
                group: None,
                outsiders: Vec::new(),
                label: format!("big{col}"),
                big_users: facts.users,
            };
            run_all(
                runtime,
                subject,
                &BIG,
                &workloads,
                conns,
                duration,
                &mut columns[col],
            );
            big_rss.push(format!(
                "{} {}",
                titles[col],
                peak_rss(srv.pid()).map_or_else(
                    || "–".to_string(),
                    |b| format!("{:.1} MiB", b as f64 / 1048576.0)
                )
            ));
        }
        notes.push(format!(
            "scimd peak RSS on the {}-user file: {}",
            facts.users,
            big_rss.join(", ")
        ));
    }

    let names: Vec<String> = workloads.iter().map(|w| w.name(&args)).collect();
    let ratios = [
        Ratio {
            title: "scimd HTTP ÷ scim2-server".into(),
            num: 3,
            den: 0,
        },
        Ratio {
            title: "scimd HTTPS ÷ ceiling HTTPS".into(),
            num: 4,
            den: 2,
        },
    ];
    let table = compare_stats::render_table(&names, &columns, &ratios);
    let now = scimd::clock::now_string();
    let mut report = String::new();
    report.push_str(&format!("# scimd-bench compare, {now}\n\n"));
    report.push_str(&format!("- commit: {}\n", commit()));
    report.push_str(&format!("- machine: {}\n", machine()));
    report.push_str(&format!(
        "- command: `{}`\n",
        std::env::args().collect::<Vec<_>>().join(" ")
    ));
    report.push_str(&format!(
        "- load: {conns} keep-alive HTTP/1.1 connections from one client thread, {} s per workload after a warm-up; {} users; group of {} members\n",
        duration.as_secs(),
        args.users,
        args.group_size
    ));
    if let Some(v) = &peer_version {
        report.push_str(&format!(
            "- peer: scim2-server {v} (PyPI), in memory, over HTTP\n"
        ));
    }
    report.push_str(
        "- cells: requests/s answered as expected, p50 and p99 latency; ratios are of requests/s\n",
    );
    for n in &notes {
        report.push_str(&format!("- {n}\n"));
    }
    report.push('\n');
    report.push_str(&table);
    println!("{report}");
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.out_dir.display()))?;
    let date = now.get(..10).unwrap_or("undated");
    let mut path = args.out_dir.join(format!("{date}.md"));
    if path.exists() {
        let time = now.get(11..19).unwrap_or("later").replace(':', "");
        path = args.out_dir.join(format!("{date}-{time}.md"));
    }
    std::fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!("written to {}", path.display());
    Ok(())
}
