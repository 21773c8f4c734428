//! Command-line definitions and dispatch; nothing else lives here.

use clap::{Args, CommandFactory, Parser, Subcommand};
use scimd::cli;
use scimd::guide as cli_guide;
use scimd::scim::idp::Idp;
use scimd::server::{self, state::Limits, ServeOptions, TlsMode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// scimd: a SCIM 2.0 receiver for identity providers, in one binary.
#[derive(Parser)]
#[command(name = "scimd", version, about)]
struct Cli {
    /// The SQLite database file; created and migrated on first use.
    #[arg(long, global = true, env = "SCIMD_DB", default_value = "./scimd.db")]
    db: PathBuf,

    /// Log format on stderr: human-readable text or one JSON object a line.
    #[arg(long, global = true, env = "SCIMD_LOG_FORMAT", value_enum, default_value_t = cli::LogFormat::Text)]
    log_format: cli::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve SCIM over HTTPS.
    Serve(ServeArgs),
    /// Create, list, inspect, enable, disable and delete integrations.
    #[command(subcommand)]
    Integration(IntegrationCmd),
    /// Rotate, revoke and list an integration's bearer tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Map IdP groups to local roles.
    #[command(subcommand)]
    Mapping(MappingCmd),
    /// List the entitled members of an integration (the local view).
    Members {
        id: String,
        /// Only members holding this role.
        #[arg(long)]
        role: Option<String>,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// Member PINs.
    #[command(subcommand)]
    Pin(PinCmd),
    /// Maintenance of stored users.
    #[command(subcommand)]
    Users(UsersCmd),
    /// Show an integration's audit trail, newest first (refused requests included).
    Audit {
        id: String,
        /// Only entries at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Most entries shown.
        #[arg(long, default_value_t = cli::audit::DEFAULT_LIMIT)]
        limit: i64,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Print an integration's change feed as JSON lines, oldest first.
    Feed {
        id: String,
        /// Only changes after this seq (the last one a consumer saw).
        #[arg(long, default_value_t = 0)]
        since: i64,
        /// Most changes printed.
        #[arg(long, value_parser = clap::value_parser!(i64).range(1..))]
        limit: Option<i64>,
        /// Keep printing new changes until interrupted.
        #[arg(long)]
        follow: bool,
    },
    /// The mass-deactivation breaker.
    #[command(subcommand)]
    Breaker(BreakerCmd),
    /// Export an integration's live users with roles and PIN (CSV, JSON or JSON lines).
    Export {
        id: String,
        #[arg(long, value_enum)]
        format: cli::export::Format,
        /// Only entitled users (held ones included).
        #[arg(long)]
        entitled_only: bool,
        /// Write to this file (replaced only once complete) instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Show an integration's request log, oldest first (bodies redacted).
    Requests {
        id: String,
        /// Keep printing new requests until interrupted.
        #[arg(long)]
        follow: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// Most requests shown (the newest).
        #[arg(long, default_value_t = cli::requests::DEFAULT_LIMIT)]
        limit: i64,
    },
    /// Write a consistent, verified copy of the database (safe while serving).
    Backup(BackupArgs),
    /// Replace the database with a backup; the server must be stopped.
    Restore {
        /// The backup to restore.
        file: PathBuf,
        /// Confirm the replacement (the old file is kept as <db>.before-restore).
        #[arg(long)]
        yes: bool,
    },
    /// Check the database: integrity, foreign keys, orphaned rows, schema, WAL size.
    Check {
        /// The full `integrity_check` (every index against its table) instead of `quick_check`.
        #[arg(long)]
        full: bool,
        #[arg(long)]
        json: bool,
    },
    /// Signed webhooks to local applications: add, list, remove, test, deliveries.
    #[command(subcommand)]
    Webhook(WebhookCmd),
    /// Check a running server the way an IdP would: a scratch integration,
    /// the IdP's connection test and a pilot lifecycle, PASS/FAIL per step.
    Selftest {
        /// The server (default: the listen address, on loopback).
        #[arg(long)]
        url: Option<String>,
        /// Whose requests to replay.
        #[arg(long, value_parser = cli::selftest::profile::names(), default_value = "generic")]
        profile: String,
        /// Accept any server certificate.
        #[arg(long, conflicts_with = "ca_file")]
        insecure: bool,
        /// Check the server's certificate against these CAs (PEM) instead of
        /// the self-signed one stored in the database.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// The server's listen address, for the URL when none is given.
        #[arg(long, env = "SCIMD_LISTEN", default_value = "0.0.0.0:8443")]
        listen: SocketAddr,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff) to stdout.
    Man,
}

#[derive(Args)]
struct BackupArgs {
    /// Write the backup to this file (replaced atomically if it exists).
    #[arg(required_unless_present = "dir", conflicts_with = "dir")]
    file: Option<PathBuf>,
    /// Write scimd-YYYYMMDDTHHMMSSZ.db (UTC) into this directory instead.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// With --dir: keep only the newest N backups there.
    #[arg(long, requires = "dir", conflicts_with = "file", value_parser = clap::value_parser!(u32).range(1..))]
    keep: Option<u32>,
    /// Print {"file","bytes","seconds"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "SCIMD_LISTEN", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// PEM certificate chain (with --tls-key).
    #[arg(long, env = "SCIMD_TLS_CERT", requires = "tls_key", conflicts_with_all = ["self_signed", "insecure_http"])]
    tls_cert: Option<PathBuf>,
    /// PEM private key (with --tls-cert).
    #[arg(long, env = "SCIMD_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Use a self-signed certificate kept in the database (the default).
    #[arg(long, conflicts_with = "insecure_http")]
    self_signed: bool,
    /// Serve plain HTTP, for use behind a TLS-terminating proxy.
    #[arg(long)]
    insecure_http: bool,
    /// Public base URL for meta.location and Location (default: from Host).
    #[arg(long, env = "SCIMD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "SCIMD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Most connections open at once; at the cap the oldest idle one is
    /// closed to make room for a newcomer.
    #[arg(long, env = "SCIMD_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
    /// Most connections open at once from one client address (IPv6: one /64);
    /// trusted proxies are exempt.
    #[arg(long, env = "SCIMD_MAX_CONNECTIONS_PER_IP", default_value_t = 64)]
    max_connections_per_ip: usize,
    /// A proxy (CIDR or address) whose X-Forwarded-For names the client; repeatable.
    #[arg(
        long = "trusted-proxy",
        value_name = "CIDR",
        env = "SCIMD_TRUSTED_PROXY",
        value_delimiter = ','
    )]
    trusted_proxy: Vec<server::netaddr::Cidr>,
    /// Never checkpoint the WAL: for Litestream, which then owns checkpoints.
    #[arg(long, env = "SCIMD_NO_CHECKPOINT")]
    no_checkpoint: bool,
    /// Serve GET /metrics on the main listener to bearers of the token in this file.
    #[arg(long, env = "SCIMD_METRICS_TOKEN_FILE")]
    metrics_token_file: Option<PathBuf>,
    /// Serve GET /metrics without authentication on this plain-HTTP address (e.g. 127.0.0.1:9100).
    #[arg(long, env = "SCIMD_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Keep the last N SCIM requests of each integration, bodies redacted
    /// (`scimd requests ID`); 0 records none.
    #[arg(long, env = "SCIMD_REQUEST_LOG", value_name = "N", default_value_t = server::pushes::DEFAULT_REQUEST_LOG)]
    request_log: usize,
}

#[derive(Subcommand)]
enum IntegrationCmd {
    /// Create an integration and print its endpoint and first token (shown once).
    Create {
        name: String,
        /// The identity provider that will push to it (picks the setup guide).
        #[arg(long, value_parser = idp, default_value = "generic")]
        idp: Idp,
        #[arg(long)]
        json: bool,
    },
    /// List integrations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one integration with its counts and token prefixes.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Refuse the integration's tokens until enabled again.
    Disable { id: String },
    /// Accept the integration's tokens again.
    Enable { id: String },
    /// Change settings; each takes effect on a running server at once.
    Set(SetArgs),
    /// Print the setup steps for the integration's IdP, with its values filled in.
    Guide {
        /// The integration.
        #[arg(required_unless_present = "template")]
        id: Option<String>,
        /// The HTTPS base URL the IdP reaches (default: SCIMD_PUBLIC_URL, then the listen address).
        #[arg(long, env = "SCIMD_PUBLIC_URL")]
        public_url: Option<String>,
        /// The server's listen address, for the URL when no public URL is given.
        #[arg(long, env = "SCIMD_LISTEN", default_value = "0.0.0.0:8443")]
        listen: SocketAddr,
        /// Output format (default: text on a terminal, Markdown otherwise).
        #[arg(long, value_enum)]
        format: Option<cli_guide::Format>,
        /// The docs' version of IDP's guide, with placeholders (regenerates docs/idp/).
        #[arg(long, value_parser = idp, hide = true, conflicts_with = "id")]
        template: Option<Idp>,
    },
    /// Delete the integration with all its tokens, users and groups.
    Delete {
        id: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Args)]
struct SetArgs {
    id: String,
    /// The identity provider that pushes to it: okta, entra, jumpcloud, onelogin, ping, google, generic.
    #[arg(long, value_parser = idp)]
    idp: Option<Idp>,
    /// What DELETE does: keep the record deprovisioned (deactivate) or remove it (delete).
    #[arg(long, value_parser = ["deactivate", "delete"])]
    delete_mode: Option<String>,
    /// Refuse a user whose email another live user already has.
    #[arg(long)]
    unique_email: Option<bool>,
    /// Only users with at least one mapped role are entitled.
    #[arg(long)]
    require_mapping: Option<bool>,
    /// Every group's displayName is also a role.
    #[arg(long)]
    groups_as_roles: Option<bool>,
    /// PIN length for entitled members: 0 (off) or 4 to 8.
    #[arg(long)]
    pin_digits: Option<u8>,
    /// Requests per second allowed for this integration.
    #[arg(long)]
    rate_limit: Option<u32>,
    /// Requests allowed in a burst above the rate.
    #[arg(long)]
    rate_burst: Option<u32>,
    /// The mass-deactivation breaker: on (the default) or off.
    #[arg(long, value_parser = ["on", "off"])]
    breaker: Option<String>,
    /// Breaker: trip on deactivations + deletions above this % of entitled users (default 25).
    #[arg(long)]
    breaker_percent: Option<u32>,
    /// Breaker: and at least this many users (default 10).
    #[arg(long)]
    breaker_min: Option<u32>,
    /// Breaker: within this window (default 15m).
    #[arg(long, value_parser = duration)]
    breaker_window: Option<time::Duration>,
}

#[derive(Subcommand)]
enum MappingCmd {
    /// Map a group (by id, externalId or displayName) to a role.
    Add {
        id: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        role: String,
    },
    /// List mappings and the groups they match now.
    List {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a group's mappings (only to ROLE when given).
    Remove {
        id: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        role: Option<String>,
    },
}

#[derive(Subcommand)]
enum PinCmd {
    /// Draw a new PIN for a user (by id or userName).
    Reset {
        id: String,
        user: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BreakerCmd {
    /// Apply the revocations the tripped breaker holds, and reset it.
    Release { id: String },
}

#[derive(Subcommand)]
enum UsersCmd {
    /// Remove deprovisioned users for good.
    Purge {
        id: String,
        /// Only those deprovisioned longer ago than this (e.g. 30d).
        #[arg(long, value_parser = duration)]
        deprovisioned_before: time::Duration,
        /// Confirm the purge.
        #[arg(long)]
        yes: bool,
    },
}

/// IdP names are parsed by clap, so a misspelt one is a usage error (exit 2)
/// that lists the names.
fn idp(s: &str) -> Result<Idp, String> {
    Idp::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Idp::ALL.iter().map(|i| i.as_str()).collect();
        format!("unknown IdP '{s}'; one of {}", names.join(", "))
    })
}

/// Durations are parsed by clap, so an unreadable or out-of-range one is a
/// usage error (exit 2) like any other bad argument.
fn duration(s: &str) -> Result<time::Duration, String> {
    scimd::clock::parse_duration(s)
}

fn settings_change(a: &SetArgs) -> Result<scimd::store::settings::Change, String> {
    use scimd::store::settings::{Change, DeleteMode};
    Ok(Change {
        delete_mode: a
            .delete_mode
            .as_deref()
            .map(DeleteMode::parse)
            .transpose()?,
        unique_email: a.unique_email,
        require_mapping: a.require_mapping,
        groups_as_roles: a.groups_as_roles,
        pin_digits: a.pin_digits,
        rate_limit: a.rate_limit,
        rate_burst: a.rate_burst,
        breaker_on: a.breaker.as_deref().map(|b| b == "on"),
        breaker_percent: a.breaker_percent,
        breaker_min: a.breaker_min,
        breaker_window_secs: a.breaker_window.map(|d| d.whole_seconds()),
    })
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Issue a new token (shown once); older tokens stay valid for the grace period.
    Rotate {
        id: String,
        /// How long older tokens stay valid: 0, 30s, 5m, 1h, 2d.
        #[arg(long, default_value = "1h", value_parser = duration)]
        grace: time::Duration,
        #[arg(long)]
        json: bool,
    },
    /// Revoke every token of the integration at once.
    Revoke {
        id: String,
        /// Confirm the revocation.
        #[arg(long)]
        yes: bool,
    },
    /// List token prefixes and dates (never a secret).
    List {
        id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum WebhookCmd {
    /// Add a hook for an integration's events; prints its signing secret once.
    Add {
        id: String,
        /// Where to POST: https://… (or http://… for a receiver on this machine).
        url: String,
        /// Event patterns, comma-separated: user.*, membership.added, token.*, * (default *).
        #[arg(long, value_name = "PATTERN,…")]
        events: Option<String>,
        /// Keep the user's PIN in event data (left out otherwise).
        #[arg(long)]
        include_pin: bool,
        /// Trust this PEM CA file instead of the system roots.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List an integration's hooks (never their secrets).
    List {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a hook and its pending deliveries.
    Remove { id: String, hook: String },
    /// POST a signed platform.scim.test event to a hook now and print the answer.
    Test { id: String, hook: String },
    /// Show the newest deliveries of an integration's hooks.
    Deliveries {
        id: String,
        /// Only deliveries given up on (24 h of retries).
        #[arg(long)]
        failed: bool,
        #[arg(long)]
        json: bool,
    },
}

fn webhook(db: &std::path::Path, c: WebhookCmd) -> Result<(), String> {
    use cli::webhook;
    match c {
        WebhookCmd::Add {
            id,
            url,
            events,
            include_pin,
            ca_file,
            json,
        } => webhook::add(
            db,
            &id,
            &webhook::Add {
                url: &url,
                events: events.as_deref(),
                include_pin,
                ca_file: ca_file.as_deref(),
                json,
            },
        ),
        WebhookCmd::List { id, json } => webhook::list(db, &id, json),
        WebhookCmd::Remove { id, hook } => webhook::remove(db, &id, &hook),
        WebhookCmd::Test { id, hook } => webhook::test(db, &id, &hook),
        WebhookCmd::Deliveries { id, failed, json } => webhook::deliveries(db, &id, failed, json),
    }
}

fn serve(db: &std::path::Path, a: ServeArgs) -> Result<(), String> {
    let tls = match (a.tls_cert, a.tls_key, a.insecure_http) {
        (Some(cert), Some(key), _) => TlsMode::Files { cert, key },
        (_, _, true) => TlsMode::Insecure,
        _ => TlsMode::SelfSigned,
    };
    if a.no_checkpoint {
        scimd::store::connection::set_auto_checkpoint(false);
    }
    let limits = Limits {
        max_body_bytes: a.max_body_bytes,
        max_connections: a.max_connections.max(1),
        max_connections_per_ip: a.max_connections_per_ip.max(1),
        ..Limits::default()
    };
    server::serve(
        db,
        ServeOptions {
            listen: a.listen,
            tls,
            public_url: a.public_url,
            limits,
            readers: 8,
            trusted_proxies: a.trusted_proxy,
            metrics_token_file: a.metrics_token_file,
            metrics_listen: a.metrics_listen,
            checkpoints: !a.no_checkpoint,
            request_log: a.request_log,
        },
    )
}

fn main() -> ExitCode {
    let args = Cli::parse();
    cli::init_logging(args.log_format);
    cli::warn_unknown_env(&Cli::command(), std::env::vars_os().map(|(k, _)| k));
    let db = args.db;
    let result = match args.command {
        Command::Serve(a) => serve(&db, a),
        Command::Integration(c) => match c {
            IntegrationCmd::Create { name, idp, json } => {
                cli::integration::create(&db, &name, idp, json)
            }
            IntegrationCmd::List { json } => cli::integration::list(&db, json),
            IntegrationCmd::Show { id, json } => cli::integration::show(&db, &id, json),
            IntegrationCmd::Disable { id } => cli::integration::set_enabled(&db, &id, false),
            IntegrationCmd::Enable { id } => cli::integration::set_enabled(&db, &id, true),
            IntegrationCmd::Delete { id, yes } => cli::integration::delete(&db, &id, yes),
            IntegrationCmd::Guide {
                id,
                public_url,
                listen,
                format,
                template,
            } => cli::guide::run(
                &db,
                cli::guide::Options {
                    id,
                    template,
                    public_url,
                    listen,
                    format,
                },
            ),
            IntegrationCmd::Set(a) => settings_change(&a)
                .and_then(|change| cli::integration::set(&db, &a.id, a.idp, &change)),
        },
        Command::Token(c) => match c {
            TokenCmd::Rotate { id, grace, json } => cli::token::rotate(&db, &id, grace, json),
            TokenCmd::Revoke { id, yes } => cli::token::revoke(&db, &id, yes),
            TokenCmd::List { id, json } => cli::token::list(&db, &id, json),
        },
        Command::Mapping(c) => match c {
            MappingCmd::Add { id, group, role } => cli::mapping::add(&db, &id, &group, &role),
            MappingCmd::List { id, json } => cli::mapping::list(&db, &id, json),
            MappingCmd::Remove { id, group, role } => {
                cli::mapping::remove(&db, &id, &group, role.as_deref())
            }
        },
        Command::Members {
            id,
            role,
            json,
            csv,
        } => {
            use cli::members::Format;
            let format = match (json, csv) {
                (true, _) => Format::Json,
                (_, true) => Format::Csv,
                _ => Format::Table,
            };
            cli::members::members(&db, &id, role.as_deref(), format)
        }
        Command::Pin(PinCmd::Reset { id, user, json }) => cli::pin::reset(&db, &id, &user, json),
        Command::Users(UsersCmd::Purge {
            id,
            deprovisioned_before,
            yes,
        }) => cli::users::purge(&db, &id, deprovisioned_before, yes),
        Command::Audit {
            id,
            since,
            limit,
            json,
        } => cli::audit::run(&db, &id, since.as_deref(), limit, json),
        Command::Feed {
            id,
            since,
            limit,
            follow,
        } => cli::feed::run(&db, &id, since, limit, follow),
        Command::Breaker(BreakerCmd::Release { id }) => cli::breaker::release(&db, &id),
        Command::Export {
            id,
            format,
            entitled_only,
            output,
        } => cli::export::run(&db, &id, format, entitled_only, output.as_deref()),
        Command::Requests {
            id,
            follow,
            json,
            limit,
        } => cli::requests::run(&db, &id, follow, json, limit),
        Command::Backup(a) => {
            let target = match (a.file, a.dir) {
                (_, Some(dir)) => Ok(cli::backup::Target::Dir {
                    dir,
                    keep: a.keep.map_or(usize::MAX, |k| k as usize),
                }),
                (Some(file), None) => Ok(cli::backup::Target::File(file)),
                (None, None) => Err("give a FILE or --dir DIR".to_string()),
            };
            target.and_then(|t| cli::backup::run(&db, t, a.json))
        }
        Command::Restore { file, yes } => {
            if !yes {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::MissingRequiredArgument,
                        format!(
                            "restore replaces {} with {}: add --yes to confirm",
                            db.display(),
                            file.display()
                        ),
                    )
                    .exit();
            }
            cli::restore::run(&db, &file)
        }
        Command::Webhook(c) => webhook(&db, c),
        Command::Check { full, json } => cli::check::run(&db, full, json),
        Command::Selftest {
            url,
            profile,
            insecure,
            ca_file,
            listen,
        } => cli::selftest::run(
            &db,
            cli::selftest::Options {
                url,
                listen,
                profile,
                insecure,
                ca_file,
            },
        ),
        Command::Completions { shell } => cli::completions::completions(Cli::command(), shell),
        Command::Man => cli::completions::man(Cli::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scimd: {message}");
            ExitCode::from(1)
        }
    }
}
