//! Per-integration settings (`scimd integration set`): delete mode, email
//! uniqueness, mapping requirement, groups as roles, PIN length and rate
//! limits, and the mass-deactivation breaker's thresholds. Stored as columns of `integration`, read when a request needs them,
//! so a change applies to a running server at once.

use super::{Result, StoreError};
use crate::scim::error::ScimError;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteMode {
    /// DELETE hides the user from SCIM but keeps the record (the default).
    Deactivate,
    /// DELETE removes the user for good.
    Delete,
}

impl DeleteMode {
    pub fn parse(s: &str) -> std::result::Result<DeleteMode, String> {
        match s {
            "deactivate" => Ok(DeleteMode::Deactivate),
            "delete" => Ok(DeleteMode::Delete),
            _ => Err(format!(
                "delete mode must be 'deactivate' or 'delete', got '{s}'"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeleteMode::Deactivate => "deactivate",
            DeleteMode::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub delete_mode: DeleteMode,
    pub unique_email: bool,
    pub require_mapping: bool,
    pub groups_as_roles: bool,
    pub pin_digits: u8,
    pub rate_limit: u32,
    pub rate_burst: u32,
    pub breaker: Breaker,
}

/// When the mass-deactivation breaker trips (see `store::breaker`): more
/// than `percent`% of entitled users and at least `min` users deactivated
/// or deleted within `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Breaker {
    pub on: bool,
    pub percent: u32,
    pub min: u32,
    pub window_secs: i64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            on: true,
            percent: 25,
            min: 10,
            window_secs: 15 * 60,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delete_mode: DeleteMode::Deactivate,
            unique_email: false,
            require_mapping: false,
            groups_as_roles: false,
            pin_digits: 0,
            // A ceiling above what this server can write (see the README's
            // Rate limits): fairness comes from the in-flight share.
            rate_limit: 5000,
            rate_burst: 10000,
            breaker: Breaker::default(),
        }
    }
}

/// A partial update: None leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub delete_mode: Option<DeleteMode>,
    pub unique_email: Option<bool>,
    pub require_mapping: Option<bool>,
    pub groups_as_roles: Option<bool>,
    pub pin_digits: Option<u8>,
    pub rate_limit: Option<u32>,
    pub rate_burst: Option<u32>,
    pub breaker_on: Option<bool>,
    pub breaker_percent: Option<u32>,
    pub breaker_min: Option<u32>,
    pub breaker_window_secs: Option<i64>,
}

impl Change {
    pub fn is_empty(&self) -> bool {
        self.delete_mode.is_none()
            && self.unique_email.is_none()
            && self.require_mapping.is_none()
            && self.groups_as_roles.is_none()
            && self.pin_digits.is_none()
            && self.rate_limit.is_none()
            && self.rate_burst.is_none()
            && self.breaker_on.is_none()
            && self.breaker_percent.is_none()
            && self.breaker_min.is_none()
            && self.breaker_window_secs.is_none()
    }

    pub fn apply(&self, s: &Settings) -> std::result::Result<Settings, String> {
        let out = Settings {
            delete_mode: self.delete_mode.unwrap_or(s.delete_mode),
            unique_email: self.unique_email.unwrap_or(s.unique_email),
            require_mapping: self.require_mapping.unwrap_or(s.require_mapping),
            groups_as_roles: self.groups_as_roles.unwrap_or(s.groups_as_roles),
            pin_digits: self.pin_digits.unwrap_or(s.pin_digits),
            rate_limit: self.rate_limit.unwrap_or(s.rate_limit),
            rate_burst: self.rate_burst.unwrap_or(s.rate_burst),
            breaker: Breaker {
                on: self.breaker_on.unwrap_or(s.breaker.on),
                percent: self.breaker_percent.unwrap_or(s.breaker.percent),
                min: self.breaker_min.unwrap_or(s.breaker.min),
                window_secs: self.breaker_window_secs.unwrap_or(s.breaker.window_secs),
            },
        };
        if out.pin_digits != 0 && !(4..=8).contains(&out.pin_digits) {
            return Err(format!(
                "--pin-digits must be 0 (off) or 4 to 8, got {}",
                out.pin_digits
            ));
        }
        if out.rate_limit == 0 || out.rate_burst == 0 {
            return Err("--rate-limit and --rate-burst must be at least 1".into());
        }
        if !(1..=100).contains(&out.breaker.percent) {
            return Err(format!(
                "--breaker-percent must be 1 to 100, got {}",
                out.breaker.percent
            ));
        }
        if out.breaker.min == 0 || out.breaker.window_secs <= 0 {
            return Err("--breaker-min and --breaker-window must be at least 1".into());
        }
        Ok(out)
    }
}

pub fn get(conn: &Connection, integration_id: &str) -> Result<Settings> {
    conn.prepare_cached(
        "SELECT delete_mode, unique_email, require_mapping, groups_as_roles, pin_digits,
                rate_limit, rate_burst, breaker_on, breaker_percent, breaker_min, breaker_window
         FROM integration WHERE id = ?1",
    )?
    .query_row([integration_id], |r| {
        let mode: String = r.get(0)?;
        Ok(Settings {
            delete_mode: DeleteMode::parse(&mode).unwrap_or(DeleteMode::Deactivate),
            unique_email: r.get(1)?,
            require_mapping: r.get(2)?,
            groups_as_roles: r.get(3)?,
            pin_digits: r.get(4)?,
            rate_limit: r.get(5)?,
            rate_burst: r.get(6)?,
            breaker: Breaker {
                on: r.get(7)?,
                percent: r.get(8)?,
                min: r.get(9)?,
                window_secs: r.get(10)?,
            },
        })
    })
    .optional()?
    .ok_or_else(|| {
        StoreError::Scim(ScimError::not_found(format!(
            "no integration with id '{integration_id}'"
        )))
    })
}

pub fn put(conn: &Connection, integration_id: &str, s: &Settings) -> Result<()> {
    conn.prepare_cached(
        "UPDATE integration SET delete_mode = ?2, unique_email = ?3, require_mapping = ?4,
             groups_as_roles = ?5, pin_digits = ?6, rate_limit = ?7, rate_burst = ?8,
             breaker_on = ?9, breaker_percent = ?10, breaker_min = ?11, breaker_window = ?12
         WHERE id = ?1",
    )?
    .execute(params![
        integration_id,
        s.delete_mode.as_str(),
        s.unique_email,
        s.require_mapping,
        s.groups_as_roles,
        s.pin_digits,
        s.rate_limit,
        s.rate_burst,
        s.breaker.on,
        s.breaker.percent,
        s.breaker.min,
        s.breaker.window_secs
    ])?;
    Ok(())
}
