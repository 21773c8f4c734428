//! The audit trail: one row per change, written in the change's own
//! transaction so the trail and the data can never disagree.

use super::Result;
use rusqlite::{params, Connection};

pub const USER_CREATED: &str = "ACCOUNT_SCIM_USER_CREATED";
pub const USER_UPDATED: &str = "ACCOUNT_SCIM_USER_UPDATED";
pub const USER_DEACTIVATED: &str = "ACCOUNT_SCIM_USER_DEACTIVATED";
pub const USER_REACTIVATED: &str = "ACCOUNT_SCIM_USER_REACTIVATED";
pub const USER_DELETED: &str = "ACCOUNT_SCIM_USER_DELETED";
pub const TOKEN_CREATED: &str = "TENANT_SCIM_TOKEN_CREATED";
pub const TOKEN_REVOKED: &str = "TENANT_SCIM_TOKEN_REVOKED";

/// Who caused a change and under which request.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    /// `scim` for IdP pushes, `cli:<os user>` for admin commands.
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    pub fn scim(request_id: &str) -> Actor {
        Actor {
            name: "scim".into(),
            request_id: Some(request_id.to_string()),
        }
    }

    /// The OS user running the CLI, read without NSS so static builds work.
    pub fn cli() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/self/status")
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("Uid:"))
                            .and_then(|rest| {
                                rest.split_whitespace().next().map(|u| format!("uid {u}"))
                            })
                    })
            })
            .unwrap_or_else(|| "unknown".into());
        Actor {
            name: format!("cli:{user}"),
            request_id: None,
        }
    }
}

/// One audit row.
pub struct Entry<'a> {
    pub integration_id: &'a str,
    pub event: &'a str,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

pub fn record(conn: &Connection, actor: &Actor, e: Entry<'_>) -> Result<()> {
    conn.execute(
        "INSERT INTO audit(time, integration_id, event, resource_type, resource_id,
                           external_id, request_id, actor, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            crate::clock::now_string(),
            e.integration_id,
            e.event,
            e.resource_type,
            e.resource_id,
            e.external_id,
            actor.request_id,
            actor.name,
            e.detail,
        ],
    )?;
    Ok(())
}
