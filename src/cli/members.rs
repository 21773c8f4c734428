//! `scimd members`: the local side of the directory — who is entitled, with
//! which roles and PIN — as a table, JSON or CSV. A member whose revocation
//! the mass-deactivation breaker holds is still listed, marked `held`.

use super::{message, open, print_json};
use crate::store::entitlement;
use std::path::Path;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn members(db: &Path, id: &str, role: Option<&str>, format: Format) -> Result<(), String> {
    let conn = open(db)?;
    let list = entitlement::members(&conn, id, role).map_err(message)?;
    match format {
        Format::Json => print_json(&list),
        Format::Csv => {
            // The CSV columns are a stable contract for scripts: `held` is
            // in the table and the JSON.
            println!("id,userName,externalId,displayName,email,active,roles,pin");
            for m in list {
                let fields = [
                    m.id,
                    m.user_name,
                    m.external_id.unwrap_or_default(),
                    m.display_name.unwrap_or_default(),
                    m.email.unwrap_or_default(),
                    m.active.to_string(),
                    m.roles.join(";"),
                    m.pin.unwrap_or_default(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                println!("{}", line.join(","));
            }
            Ok(())
        }
        Format::Table => {
            if list.is_empty() {
                println!("no entitled members in {id}");
            }
            for m in list {
                println!(
                    "{:<36} {:<32} {:<24} {}{}",
                    m.id,
                    m.user_name,
                    m.roles.join(","),
                    m.pin.as_deref().unwrap_or("-"),
                    if m.held { "  held" } else { "" }
                );
            }
            Ok(())
        }
    }
}
