//! `scimd export ID --format csv|json|jsonl [--entitled-only] [--output
//! FILE]`: one row per live user with its local state (entitled, held,
//! roles, PIN), for local applications that want a file rather than the
//! feed or the SQL views.
//!
//! Rows stream from one read transaction straight into a buffered writer:
//! memory stays flat however many users there are (the JSON array is
//! written by hand around streamed objects). A file is written beside its
//! destination and renamed into place only when complete, so a failed
//! export never leaves half a file; it is created 0600 because it holds
//! PINs. A progress bar appears on stderr only when writing to a file with
//! stderr on a terminal.
//!
//! CSV is quoted by hand, with the same rule as `scimd members --csv`
//! (RFC 4180: a field holding a comma, quote, CR or LF is quoted and its
//! quotes doubled): one rule, no dependency for it.

use super::{message, open};
use crate::store::export::{self, UserRow};
use crate::store::integrations;
use serde_json::json;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Json,
    Jsonl,
}

/// The CSV header, in column order.
pub const CSV_HEADER: &str =
    "id,userName,externalId,displayName,email,active,entitled,held,roles,pin";

/// How often (in rows) the progress bar is advanced.
const PROGRESS_STEP: u64 = 4096;

fn csv_field(out: &mut impl Write, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(out, "\"{}\"", s.replace('"', "\"\""))
    } else {
        out.write_all(s.as_bytes())
    }
}

fn csv_row(out: &mut impl Write, r: &UserRow) -> io::Result<()> {
    let roles = r.roles.join(";");
    let fields: [&str; 10] = [
        &r.id,
        &r.user_name,
        r.external_id.as_deref().unwrap_or(""),
        r.display_name.as_deref().unwrap_or(""),
        r.email.as_deref().unwrap_or(""),
        if r.active { "true" } else { "false" },
        if r.entitled { "true" } else { "false" },
        if r.held { "true" } else { "false" },
        &roles,
        r.pin.as_deref().unwrap_or(""),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        csv_field(out, f)?;
    }
    out.write_all(b"\n")
}

fn json_row(r: &UserRow) -> serde_json::Value {
    json!({
        "id": r.id,
        "userName": r.user_name,
        "externalId": r.external_id,
        "displayName": r.display_name,
        "email": r.email,
        "active": r.active,
        "entitled": r.entitled,
        "held": r.held,
        "roles": r.roles,
        "pin": r.pin,
    })
}

/// Writes every row through `out`; returns how many.
fn write_rows(
    conn: &rusqlite::Connection,
    id: &str,
    entitled_only: bool,
    format: Format,
    out: &mut impl Write,
    progress: &Option<indicatif::ProgressBar>,
) -> Result<u64, String> {
    let io_err = |e: io::Error| format!("cannot write the export: {e}");
    match format {
        Format::Csv => writeln!(out, "{CSV_HEADER}").map_err(io_err)?,
        Format::Json => out.write_all(b"[").map_err(io_err)?,
        Format::Jsonl => {}
    }
    let mut n: u64 = 0;
    let walked = export::for_each_user(conn, id, entitled_only, |r| {
        match format {
            Format::Csv => csv_row(out, &r)?,
            Format::Json => {
                out.write_all(if n == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut *out, &json_row(&r))?;
            }
            Format::Jsonl => {
                serde_json::to_writer(&mut *out, &json_row(&r))?;
                out.write_all(b"\n")?;
            }
        }
        n += 1;
        if n.is_multiple_of(PROGRESS_STEP) {
            if let Some(p) = progress {
                p.inc(PROGRESS_STEP);
            }
        }
        Ok::<(), io::Error>(())
    })
    .map_err(message)?;
    walked.map_err(io_err)?;
    if format == Format::Json {
        out.write_all(if n == 0 { b"]\n" } else { b"\n]\n" })
            .map_err(io_err)?;
    }
    out.flush().map_err(io_err)?;
    Ok(n)
}

/// `<file>.<pid>.tmp` beside the destination, so the rename stays on one
/// file system.
fn temp_path(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    file.with_file_name(name)
}

fn create_private(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

pub fn run(
    db: &Path,
    id: &str,
    format: Format,
    entitled_only: bool,
    output: Option<&Path>,
) -> Result<(), String> {
    let conn = open(db)?;
    integrations::get(&conn, id).map_err(message)?;
    // One snapshot for the count and the rows, however long the export takes.
    conn.execute_batch("BEGIN")
        .map_err(|e| format!("cannot start a read transaction: {e}"))?;
    let Some(file) = output else {
        let stdout = io::stdout();
        let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
        return write_rows(&conn, id, entitled_only, format, &mut out, &None).map(|_| ());
    };
    let progress = if io::stderr().is_terminal() {
        let total = export::count(&conn, id, entitled_only).map_err(message)?;
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total.max(0) as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} users ({per_sec}, {eta} left)",
        ) {
            bar.set_style(style);
        }
        Some(bar)
    } else {
        None
    };
    let tmp = temp_path(file);
    let written = create_private(&tmp)
        .map_err(|e| format!("cannot create {}: {e}", tmp.display()))
        .and_then(|f| {
            let mut out = BufWriter::with_capacity(1 << 16, f);
            let n = write_rows(&conn, id, entitled_only, format, &mut out, &progress)?;
            let f = out
                .into_inner()
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            f.sync_all()
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, file).map_err(|e| {
                format!("cannot rename {} to {}: {e}", tmp.display(), file.display())
            })?;
            Ok(n)
        });
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    match written {
        Ok(n) => {
            eprintln!("exported {n} users to {}", file.display());
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> UserRow {
        UserRow {
            id: "u1".into(),
            user_name: "ann".into(),
            external_id: None,
            display_name: Some("Ann, \"the\" admin\nsecond line".into()),
            email: Some("ann@example.com".into()),
            active: true,
            entitled: true,
            held: false,
            roles: vec!["door".into(), "desk".into()],
            pin: Some("0042".into()),
        }
    }

    #[test]
    fn csv_quotes_fields_with_commas_quotes_and_newlines() {
        let mut out = Vec::new();
        csv_row(&mut out, &row()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "u1,ann,,\"Ann, \"\"the\"\" admin\nsecond line\",ann@example.com,true,true,false,door;desk,0042\n"
        );
    }

    #[test]
    fn json_rows_keep_types_and_nulls() {
        let v = json_row(&row());
        assert_eq!(v["externalId"], serde_json::Value::Null);
        assert_eq!(v["roles"], json!(["door", "desk"]));
        assert_eq!(v["pin"], "0042");
        assert_eq!(v["held"], false);
    }

    #[test]
    fn the_temporary_file_sits_beside_the_destination() {
        let tmp = temp_path(Path::new("/var/lib/x/users.csv"));
        assert_eq!(tmp.parent(), Some(Path::new("/var/lib/x")));
        assert!(tmp.to_string_lossy().ends_with(".tmp"));
    }
}
