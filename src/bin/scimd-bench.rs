//! `scimd-bench`: the load benchmark of issues 4 and 5. It bulk-loads a
//! synthetic directory straight into a new SQLite file (no HTTP), starts the
//! real `scimd serve` on 127.0.0.1:0, and measures over HTTPS with
//! keep-alive connections: p50/p99 latency and requests/s per scenario,
//! printed as a table with the database size and user count, then one
//! MET/MISSED line per target. It prints numbers; it is not a test and
//! always exits 0 once the numbers are printed, whatever they are — only a
//! setup failure (no server binary, no disk) is an error exit.
//!
//! `cargo run --release --bin scimd-bench -- filters [--users 1000000]`
//! `cargo run --release --bin scimd-bench -- members`
//! `cargo run --release --bin scimd-bench -- --connections 8 import`
//! `cargo run --release --bin scimd-bench -- attack [--attackers 2000]`
//! `cargo run --release --bin scimd-bench -- --connections 8 compare [--big]`
//! `cargo run --release --bin scimd-bench -- crash --rounds 1000`
//!
//! `crash` is the exception to "numbers, not verdicts": it exits 1 when an
//! acknowledged write was lost or `scimd check` failed, so a test can run it.

#[path = "scimd_bench/attack.rs"]
mod attack;
#[path = "scimd_bench/client.rs"]
mod client;
#[path = "scimd_bench/compare.rs"]
mod compare;
#[path = "scimd_bench/compare_stats.rs"]
mod compare_stats;
#[path = "scimd_bench/crash.rs"]
mod crash;
#[path = "scimd_bench/database.rs"]
mod database;
#[path = "scimd_bench/filters.rs"]
mod filters;
#[path = "scimd_bench/flood.rs"]
mod flood;
#[path = "scimd_bench/import.rs"]
mod import;
#[path = "scimd_bench/loader.rs"]
mod loader;
#[path = "scimd_bench/measure.rs"]
mod measure;
#[path = "scimd_bench/members.rs"]
mod members;
#[path = "scimd_bench/server.rs"]
mod server;

use clap::{Args, Parser, Subcommand};
use measure::{Outcome, Plan};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Load benchmark for scimd: bulk-loads a database, starts the server, and
/// measures over HTTPS.
#[derive(Parser)]
#[command(name = "scimd-bench")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Concurrent keep-alive connections per scenario.
    #[arg(long, global = true, default_value_t = 4)]
    connections: usize,
    /// Time limit of each scenario, in seconds.
    #[arg(long, global = true, default_value_t = 5)]
    seconds: u64,
    /// Iteration limit of each scenario.
    #[arg(long, global = true, default_value_t = 20_000)]
    max_requests: u64,
    /// Keep the database at this path, and reuse it if it already exists
    /// (default: a temporary file removed at the end).
    #[arg(long, global = true)]
    db: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Filter, sort and cursor queries over many users (issue 4).
    Filters {
        /// Users to load.
        #[arg(long, default_value_t = 1_000_000)]
        users: u64,
        /// Time limit of the cursor walk, in seconds.
        #[arg(long, default_value_t = 120)]
        cursor_seconds: u64,
    },
    /// Adding and removing one member in groups of 0, 1 000 and 100 000 (issue 5).
    Members {
        /// Users to load; at least 100 000 members plus outsiders to add.
        #[arg(long, default_value_t = 110_000)]
        users: u64,
    },
    /// An IdP's first import on default settings: creates, then paging
    /// through them all; counts 429 answers (issue 9).
    Import {
        /// Users to create over HTTPS.
        #[arg(long, default_value_t = 10_000)]
        users: u64,
    },
    /// Hostile connections against a fresh server per attack while a
    /// well-behaved client reads users (issue 10).
    Attack(AttackArgs),
    /// scimd against scim2-server (the peer, over HTTP) and the ceiling (a
    /// bare hyper + rustls server), same workloads, one run; writes
    /// `bench/results/<date>.md` (issue 15).
    Compare(compare::CompareArgs),
    /// The kill -9 soak (issue 16): writers, a SIGKILL at a random moment,
    /// a restart, and a check that every acknowledged write is there.
    Crash(CrashArgs),
}

#[derive(Args)]
struct CrashArgs {
    /// Kill-and-restart rounds.
    #[arg(long, default_value_t = 20)]
    rounds: u64,
    /// Concurrent writers, each on its own connection.
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Earliest kill after the writers start, in milliseconds.
    #[arg(long, default_value_t = 50)]
    kill_min_ms: u64,
    /// Latest kill after the writers start, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    kill_max_ms: u64,
    /// The server binary (default: `scimd` beside this benchmark).
    #[arg(long)]
    scimd: Option<PathBuf>,
    /// One line per round.
    #[arg(long)]
    verbose: bool,
}

#[derive(Args)]
struct AttackArgs {
    /// Hostile connections per attack.
    #[arg(long, default_value_t = 2000)]
    attackers: usize,
    /// Users to load; the good client reads them by id.
    #[arg(long, default_value_t = 1000)]
    users: u64,
    /// Milliseconds an attacker waits after the server closed its connection
    /// before opening the next.
    #[arg(long, default_value_t = 1000)]
    reconnect_ms: u64,
    /// Run only this attack (repeatable); the baseline row always runs.
    #[arg(long = "only", value_name = "NAME")]
    only: Vec<String>,
    /// The server binary (default: `scimd` beside this benchmark).
    #[arg(long)]
    scimd: Option<PathBuf>,
    /// An extra argument for `scimd serve` (repeatable), e.g.
    /// `--serve-arg=--max-connections=128`.
    #[arg(long = "serve-arg", value_name = "ARG", allow_hyphen_values = true)]
    serve_args: Vec<String>,
    /// One JSON object per row on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Wrong-token requests per flood row.
    #[arg(long, default_value_t = 100_000)]
    wrong_tokens: u64,
    /// Users of integration B (the costly requests' integration).
    #[arg(long, default_value_t = 300_000)]
    b_users: u64,
    /// Groups of integration B, each with `--b-group-size` members.
    #[arg(long, default_value_t = 20)]
    b_groups: u64,
    #[arg(long, default_value_t = 100_000)]
    b_group_size: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scimd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let plan = Plan {
        workers: cli.common.connections.max(1),
        max_iterations: cli.common.max_requests.max(1),
        duration: Duration::from_secs(cli.common.seconds.max(1)),
    };
    let workspace = database::Workspace::new(cli.common.db.clone())?;
    // The client runs on one thread: the machine is small and the server
    // under test should get the rest of it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    match cli.command {
        Command::Filters {
            users,
            cursor_seconds,
        } => run_filters(&workspace, &runtime, plan, users, cursor_seconds),
        Command::Members { users } => run_members(&workspace, &runtime, plan, users),
        Command::Import { users } => run_import(&workspace, &runtime, plan, users),
        Command::Attack(args) => run_attack(&workspace, &runtime, plan, args),
        Command::Compare(args) => compare::run(&runtime, args, cli.common.connections),
        Command::Crash(args) => run_crash(&workspace, &runtime, args),
    }
}

fn print_header(
    what: &str,
    workspace: &database::Workspace,
    facts: &database::Facts,
    load_time: Option<Duration>,
    plan: Plan,
) {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("scimd-bench {what}");
    println!(
        "database: {} (+ {} WAL) at {}",
        measure::human_bytes(facts.db_bytes),
        measure::human_bytes(facts.wal_bytes),
        workspace.db.display()
    );
    println!(
        "users: {}, groups: {}, memberships: {}",
        facts.users, facts.groups, facts.memberships
    );
    match load_time {
        Some(t) => println!(
            "bulk load: {:.1} s ({:.0} users/s)",
            t.as_secs_f64(),
            facts.users as f64 / t.as_secs_f64().max(1e-9)
        ),
        None => println!("bulk load: reused an existing database"),
    }
    println!(
        "client: {} keep-alive HTTPS/1.1 connections, each scenario ≤ {} s or ≤ {} iterations, after a short warm-up; {cpus} CPUs shared by client and server",
        plan.workers,
        plan.duration.as_secs(),
        plan.max_iterations
    );
    println!();
}

fn start_server(
    workspace: &database::Workspace,
    integration: &loader::BenchIntegration,
) -> Result<(server::Server, client::Target), String> {
    let server = server::start(&workspace.db)?;
    let target = client::Target::new(
        server.addr,
        &server.fingerprint,
        &integration.token,
        &integration.id,
    )?;
    eprintln!(
        "server ready on {} (log: {})",
        server.addr,
        server.log.display()
    );
    Ok((server, target))
}

fn p99(o: &Outcome) -> Option<f64> {
    if o.errors > 0 {
        None
    } else {
        o.p99_ms()
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a (errors)".to_string(), |x| format!("{x:.2} ms"))
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}

fn run_filters(
    workspace: &database::Workspace,
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    users: u64,
    cursor_seconds: u64,
) -> Result<(), String> {
    let prepared = database::prepare(&workspace.db, users.max(1), |_, _| Ok(()))?;
    let facts = database::facts(&workspace.db, &prepared.integration.id)?;
    if facts.users == 0 {
        return Err("the database holds no users".into());
    }
    // An incremental-sync window: users changed in the last day of the data.
    let since = facts
        .newest_modified
        .as_deref()
        .and_then(scimd::clock::parse)
        .map(|t| scimd::clock::format(t - time::Duration::days(1)))
        .unwrap_or_else(|| "2000-01-01T00:00:00.000Z".to_string());
    let window_total =
        database::count_modified_since(&workspace.db, &prepared.integration.id, &since)?;
    let (server, target) = start_server(workspace, &prepared.integration)?;
    let results = runtime.block_on(filters::run(
        &target,
        facts.users,
        &since,
        window_total,
        plan,
        Duration::from_secs(cursor_seconds),
    ));
    drop(server);
    let after = database::facts(&workspace.db, &prepared.integration.id)?;

    print_header("filters", workspace, &after, prepared.load_time, plan);
    measure::print_table(&results.rows);
    println!();

    let eqs = [
        ("userName eq", &results.user_name_eq),
        ("externalId eq", &results.external_id_eq),
        ("emails.value eq", &results.email_eq),
    ];
    let worst = eqs
        .iter()
        .map(|(_, o)| p99(o))
        .try_fold(0.0f64, |m, p| p.map(|p| m.max(p)));
    let scale = if after.users >= 1_000_000 {
        String::new()
    } else {
        format!(
            "; measured at {} users, the target is stated at 1M",
            after.users
        )
    };
    println!(
        "target eq lookups p99 < 2 ms at 1M users: {} ({}{scale})",
        verdict(worst.is_some_and(|w| w < 2.0) && after.users >= 1_000_000),
        eqs.iter()
            .map(|(n, o)| format!("{n} p99 {}", fmt_ms(p99(o))))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // "Flat with depth": the deep page may cost at most twice the first one.
    let (first, deep) = (
        results
            .sort_first
            .p50_ms()
            .filter(|_| results.sort_first.errors == 0),
        results
            .sort_deep
            .p50_ms()
            .filter(|_| results.sort_deep.errors == 0),
    );
    let ratio = first.zip(deep).map(|(f, d)| d / f.max(1e-9));
    println!(
        "target paging cost flat with depth (sortBy=userName p50 at startIndex {} ≤ 2× startIndex 1): {} (startIndex 1 {}, startIndex {} {}, ratio {})",
        results.deep_start,
        verdict(ratio.is_some_and(|r| r <= 2.0)),
        fmt_ms(first),
        results.deep_start,
        fmt_ms(deep),
        ratio.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}×")),
    );
    Ok(())
}

fn run_members(
    workspace: &database::Workspace,
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    users: u64,
) -> Result<(), String> {
    let largest = members::GROUPS.iter().map(|g| g.1).max().unwrap_or(0);
    let users = users.max(members::FIRST_OUTSIDER.max(largest) + 100);
    let prepared = database::prepare(&workspace.db, users, |loader, integration| {
        for (name, size) in members::GROUPS {
            loader
                .group(&integration.id, name, 0..size)
                .map_err(|e| format!("loading group '{name}': {e}"))?;
        }
        Ok(())
    })?;
    let mut group_ids = Vec::new();
    for (name, size) in members::GROUPS {
        let id = loader::find_group(&workspace.db, &prepared.integration.id, name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "{} has no group '{name}': not a members benchmark database",
                    workspace.db.display()
                )
            })?;
        group_ids.push((size, id));
    }
    let facts = database::facts(&workspace.db, &prepared.integration.id)?;
    let (server, target) = start_server(workspace, &prepared.integration)?;
    let results = runtime.block_on(members::run(&target, facts.users, &group_ids, plan));
    drop(server);
    let after = database::facts(&workspace.db, &prepared.integration.id)?;

    print_header("members", workspace, &after, prepared.load_time, plan);
    measure::print_table(&results.rows);
    println!();

    let worst = results
        .groups
        .iter()
        .flat_map(|g| [&g.add, &g.remove])
        .map(p99)
        .try_fold(0.0f64, |m, p| p.map(|p| m.max(p)));
    println!(
        "target membership change p99 < 5 ms: {} (worst p99 over add/remove in all groups: {})",
        verdict(worst.is_some_and(|w| w < 5.0)),
        fmt_ms(worst)
    );
    let empty = results.groups.iter().find(|g| g.size == 0);
    let big = results.groups.iter().max_by_key(|g| g.size);
    if let (Some(empty), Some(big)) = (empty, big) {
        let ratio = |a: &Outcome, b: &Outcome, p: fn(&Outcome) -> Option<f64>| {
            if a.errors > 0 || b.errors > 0 {
                return None;
            }
            p(a).zip(p(b)).map(|(x, y)| x / y.max(1e-9))
        };
        let add50 = ratio(&big.add, &empty.add, Outcome::p50_ms);
        let rem50 = ratio(&big.remove, &empty.remove, Outcome::p50_ms);
        let add99 = ratio(&big.add, &empty.add, Outcome::p99_ms);
        let rem99 = ratio(&big.remove, &empty.remove, Outcome::p99_ms);
        let show = |r: Option<f64>| r.map_or_else(|| "n/a".to_string(), |r| format!("{r:.2}×"));
        println!(
            "target {} members within 2× of empty (judged on p50): {} (add p50 ratio {}, remove p50 ratio {}; p99 ratios add {}, remove {})",
            big.size,
            verdict(add50.is_some_and(|r| r <= 2.0) && rem50.is_some_and(|r| r <= 2.0)),
            show(add50),
            show(rem50),
            show(add99),
            show(rem99),
        );
    }
    Ok(())
}

fn run_import(
    workspace: &database::Workspace,
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    users: u64,
) -> Result<(), String> {
    if workspace.db.exists() {
        return Err(format!(
            "{} exists: the import needs an empty database",
            workspace.db.display()
        ));
    }
    // An empty database: `serve` creates the integration with the default
    // settings, exactly as a new install gets them.
    let server = server::start(&workspace.db)?;
    let (id, token) = server
        .first_integration
        .clone()
        .ok_or("the server created no integration on the empty database")?;
    let target = client::Target::new(server.addr, &server.fingerprint, &token, &id)?;
    let results = runtime.block_on(import::run(&target, users.max(1), plan));
    drop(server);
    let facts = database::facts(&workspace.db, &id)?;
    println!("scimd-bench import");
    println!(
        "database: {} (+ {} WAL), users: {}; client: {} keep-alive HTTPS/1.1 connections",
        measure::human_bytes(facts.db_bytes),
        measure::human_bytes(facts.wal_bytes),
        facts.users,
        plan.workers
    );
    println!();
    measure::print_table(&results.rows);
    println!();
    println!(
        "target 0 answers 429 on default settings: {} ({} answers 429; {} created at {:.0}/s, {} pages at {:.0}/s)",
        verdict(results.throttled == 0),
        results.throttled,
        results.created.latencies.len(),
        results.created.per_second(),
        results.paged.latencies.len(),
        results.paged.per_second(),
    );
    Ok(())
}

fn run_crash(
    workspace: &database::Workspace,
    runtime: &tokio::runtime::Runtime,
    args: CrashArgs,
) -> Result<(), String> {
    if workspace.db.exists() {
        return Err(format!(
            "{} exists: the soak needs an empty database",
            workspace.db.display()
        ));
    }
    let options = crash::Options {
        rounds: args.rounds.max(1),
        writers: args.writers.max(1),
        kill_after_ms: (args.kill_min_ms, args.kill_max_ms.max(args.kill_min_ms)),
        scimd: args.scimd,
        verbose: args.verbose,
    };
    let totals = crash::run(runtime, &workspace.db, &options)?;
    println!("scimd-bench crash");
    println!(
        "rounds: {}, writers: {}, writes acknowledged: {}, unanswered (killed in flight): {}, refused: {}",
        totals.rounds, options.writers, totals.acknowledged, totals.unanswered, totals.refused
    );
    println!(
        "writes lost: {}, failed checks: {}, time: {:.1} s",
        totals.lost,
        totals.checks_failed,
        totals.elapsed.as_secs_f64()
    );
    for p in &totals.problems {
        println!("problem: {p}");
    }
    if totals.lost > 0 || totals.checks_failed > 0 {
        return Err(format!(
            "{} acknowledged writes lost, {} failed checks",
            totals.lost, totals.checks_failed
        ));
    }
    Ok(())
}

/// The targets of issue 10.
const ATTACK_MAX_P99_MS: f64 = 500.0;
const ATTACK_MAX_RSS_MIB: u64 = 200;

fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn run_attack(
    workspace: &database::Workspace,
    runtime: &tokio::runtime::Runtime,
    plan: Plan,
    args: AttackArgs,
) -> Result<(), String> {
    let is_flood = |n: &String| flood::FLOODS.iter().any(|(f, _)| f == n);
    let conn_only: Vec<String> = args.only.iter().filter(|n| !is_flood(n)).cloned().collect();
    let rows = if !args.only.is_empty() && conn_only.is_empty() {
        vec![(None, attack::Spread::Botnet)]
    } else {
        attack::plan(&conn_only)?
    };
    let floods: Vec<(&str, flood::Flood)> = flood::FLOODS
        .iter()
        .filter(|(name, _)| args.only.is_empty() || args.only.iter().any(|n| n == name))
        .copied()
        .collect();
    // The tool cannot raise its own limit (no libc dependency); the server
    // inherits it too. Say so rather than fail obscurely with EMFILE.
    if let Some(limit) = open_files_limit() {
        if limit < args.attackers as u64 + 256 {
            eprintln!(
                "warning: open-files limit {limit} is below {} attackers + headroom; run `ulimit -n 20000` first",
                args.attackers
            );
        }
    }
    // Integration B, for the costly-request floods: made only in a new file.
    let second: std::cell::RefCell<Option<flood::Second>> = std::cell::RefCell::new(None);
    let prepared = database::prepare(&workspace.db, args.users.max(1), |loader, _| {
        if floods.is_empty() {
            return Ok(());
        }
        let b = loader.integration("bench B").map_err(|e| e.to_string())?;
        let n = args.b_users.max(args.b_group_size);
        eprintln!(
            "loading integration B: {n} users, {} groups of {}",
            args.b_groups, args.b_group_size
        );
        loader
            .users(&b.id, 0..n, n, |_| {})
            .map_err(|e| e.to_string())?;
        for g in 0..args.b_groups {
            loader
                .group(&b.id, &format!("bench B group {g}"), 0..args.b_group_size)
                .map_err(|e| e.to_string())?;
        }
        *second.borrow_mut() = Some(flood::Second {
            id: b.id,
            token: b.token,
        });
        Ok(())
    })?;
    let second = second.into_inner();
    let opts = attack::Options {
        attackers: args.attackers.max(1),
        duration: plan.duration,
        reconnect: Duration::from_millis(args.reconnect_ms),
        users: args.users.max(1),
    };
    let mut results = Vec::new();
    for (which, spread) in rows {
        let server = server::start_with(&workspace.db, args.scimd.as_deref(), &args.serve_args)?;
        let target = client::Target::new(
            server.addr,
            &server.fingerprint,
            &prepared.integration.token,
            &prepared.integration.id,
        )?;
        eprintln!(
            "{} ({spread:?}) against the server on {}",
            which.map_or("baseline", |a| a.about),
            server.addr
        );
        let row = attack::run_row(
            runtime,
            &target,
            &server.fingerprint,
            server.pid(),
            which,
            spread,
            &opts,
        )?;
        drop(server);
        if args.json {
            println!("{}", row.json());
        }
        results.push(row);
    }
    if !floods.is_empty() {
        let settings = flood::Settings {
            wrong_tokens: args.wrong_tokens,
            duration: plan.duration,
            users: args.users.max(1),
            db: workspace.db.clone(),
        };
        for (name, which) in floods {
            // Integration B is made only in a new file; the wrong-token
            // floods do without it.
            let b = match (&second, which.needs_second()) {
                (Some(b), _) => b.clone(),
                (None, false) => flood::Second {
                    id: prepared.integration.id.clone(),
                    token: prepared.integration.token.clone(),
                },
                (None, true) => {
                    eprintln!(
                        "skipping {name}: {} was reused and has no integration B (delete it to load afresh)",
                        workspace.db.display()
                    );
                    continue;
                }
            };
            let mut serve_args = args.serve_args.clone();
            serve_args.extend(which.serve_args());
            let server = server::start_with(&workspace.db, args.scimd.as_deref(), &serve_args)?;
            let target = client::Target::new(
                server.addr,
                &server.fingerprint,
                &prepared.integration.token,
                &prepared.integration.id,
            )?;
            eprintln!("flood {name} against the server on {}", server.addr);
            let row = flood::run_row(runtime, &target, &b, server.pid(), which, name, &settings)?;
            drop(server);
            if args.json {
                println!("{}", row.json());
            }
            results.push(row);
        }
    }
    if !args.json {
        println!("scimd-bench attack");
        attack::print(&results, &opts, ATTACK_MAX_P99_MS, ATTACK_MAX_RSS_MIB);
    }
    Ok(())
}
