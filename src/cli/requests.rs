//! `scimd requests ID [--follow] [--json] [--limit N]`: the integration's
//! request log, oldest first: what the IdP sent (method, path, headers and
//! body, secrets redacted), what scimd answered, how long it took and
//! which IdP dialects it accepted. `--follow` keeps printing new requests
//! as the server writes them (every 2 s) until interrupted.

use super::{message, open};
use crate::store::integrations;
use crate::store::request_log::{self, Logged};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Requests shown without `--limit`.
pub const DEFAULT_LIMIT: i64 = 20;

/// How often `--follow` looks for new requests.
const POLL: Duration = Duration::from_millis(500);

fn print_text(out: &mut impl Write, r: &Logged) -> std::io::Result<()> {
    let quirks = if r.quirks.is_empty() {
        String::new()
    } else {
        format!("  quirks: {}", r.quirks.join(","))
    };
    writeln!(
        out,
        "{}  {} {}  {}  {:.1} ms  {}{quirks}",
        r.time, r.method, r.path, r.status, r.latency_ms, r.request_id
    )?;
    if let Some(ua) = r.request_headers.get("user-agent").and_then(|v| v.as_str()) {
        writeln!(out, "  user-agent: {ua}")?;
    }
    if !r.request_body.is_empty() {
        writeln!(out, "  > {}", r.request_body)?;
    }
    if !r.response_body.is_empty() {
        writeln!(out, "  < {}", r.response_body)?;
    }
    Ok(())
}

fn print(rows: &[Logged], as_json: bool) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let written = rows.iter().try_for_each(|r| {
        if as_json {
            serde_json::to_writer(&mut out, r)?;
            writeln!(out)
        } else {
            print_text(&mut out, r)
        }
    });
    written
        .and_then(|_| out.flush())
        .map_err(|e| format!("cannot print: {e}"))
}

pub fn run(db: &Path, id: &str, follow: bool, as_json: bool, limit: i64) -> Result<(), String> {
    let conn = open(db)?;
    integrations::get(&conn, id).map_err(message)?;
    let rows = request_log::list(&conn, id, 0, limit.max(0)).map_err(message)?;
    if rows.is_empty() && !follow && !as_json {
        println!("no requests logged for {id} (is `serve --request-log` 0?)");
    }
    print(&rows, as_json)?;
    if !follow {
        return Ok(());
    }
    let mut last = rows.last().map_or(0, |r| r.seq);
    if last == 0 {
        // Start from what is there now: --follow shows new requests.
        last = request_log::list(&conn, id, 0, 1)
            .map_err(message)?
            .last()
            .map_or(0, |r| r.seq);
    }
    loop {
        std::thread::sleep(POLL);
        let rows = request_log::list(&conn, id, last, i64::MAX).map_err(message)?;
        if let Some(r) = rows.last() {
            last = r.seq;
        }
        print(&rows, as_json)?;
    }
}
