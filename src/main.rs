//! Command-line definitions and dispatch; nothing else lives here.

use clap::{Args, Parser, Subcommand};
use scimd::cli;
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
    /// Most connections open at once.
    #[arg(long, env = "SCIMD_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,
}

#[derive(Subcommand)]
enum IntegrationCmd {
    /// Create an integration and print its endpoint and first token (shown once).
    Create {
        name: String,
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
    /// Delete the integration with all its tokens, users and groups.
    Delete {
        id: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Issue a new token (shown once); older tokens stay valid for the grace period.
    Rotate {
        id: String,
        /// How long older tokens stay valid: 0, 30s, 5m, 1h, 2d.
        #[arg(long, default_value = "1h")]
        grace: String,
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

fn serve(db: &std::path::Path, a: ServeArgs) -> Result<(), String> {
    let tls = match (a.tls_cert, a.tls_key, a.insecure_http) {
        (Some(cert), Some(key), _) => TlsMode::Files { cert, key },
        (_, _, true) => TlsMode::Insecure,
        _ => TlsMode::SelfSigned,
    };
    let limits = Limits {
        max_body_bytes: a.max_body_bytes,
        max_connections: a.max_connections.max(1),
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
        },
    )
}

fn main() -> ExitCode {
    let args = Cli::parse();
    cli::init_logging();
    let db = args.db;
    let result = match args.command {
        Command::Serve(a) => serve(&db, a),
        Command::Integration(c) => match c {
            IntegrationCmd::Create { name, json } => cli::integration::create(&db, &name, json),
            IntegrationCmd::List { json } => cli::integration::list(&db, json),
            IntegrationCmd::Show { id, json } => cli::integration::show(&db, &id, json),
            IntegrationCmd::Disable { id } => cli::integration::set_enabled(&db, &id, false),
            IntegrationCmd::Enable { id } => cli::integration::set_enabled(&db, &id, true),
            IntegrationCmd::Delete { id, yes } => cli::integration::delete(&db, &id, yes),
        },
        Command::Token(c) => match c {
            TokenCmd::Rotate { id, grace, json } => cli::token::rotate(&db, &id, &grace, json),
            TokenCmd::Revoke { id, yes } => cli::token::revoke(&db, &id, yes),
            TokenCmd::List { id, json } => cli::token::list(&db, &id, json),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scimd: {message}");
            ExitCode::from(1)
        }
    }
}
