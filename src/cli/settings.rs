//! `scimd integration set`: change an integration's settings. Roles,
//! entitlement and PINs are recomputed right after, in chunks of users each
//! in its own transaction, so a large integration never holds the write
//! lock long enough to make the running server wait.

use super::{message, open};
use crate::domain::admin;
use crate::store::audit::Actor;
use crate::store::settings::Change;
use crate::store::{self, entitlement};
use std::path::Path;

pub fn set(db: &Path, id: &str, change: &Change) -> Result<(), String> {
    if change.is_empty() {
        return Err("nothing to change; see `scimd integration set --help`".into());
    }
    let conn = open(db)?;
    let (old, new) = store::in_transaction(&conn, |c| {
        admin::set_settings(c, id, change, &Actor::cli()).map(|done| done.value)
    })
    .map_err(message)?;
    let affects_entitlement = new.require_mapping != old.require_mapping
        || new.groups_as_roles != old.groups_as_roles
        || new.pin_digits != old.pin_digits;
    if affects_entitlement {
        // After the commit, in chunks: see `entitlement::recompute_integration`.
        entitlement::recompute_integration(&conn, id).map_err(message)?;
    }
    println!(
        "integration {id}: delete-mode={} unique-email={} require-mapping={} groups-as-roles={} pin-digits={} rate-limit={} rate-burst={} breaker={} breaker-percent={} breaker-min={} breaker-window={}",
        new.delete_mode.as_str(),
        new.unique_email,
        new.require_mapping,
        new.groups_as_roles,
        new.pin_digits,
        new.rate_limit,
        new.rate_burst,
        if new.breaker.on { "on" } else { "off" },
        new.breaker.percent,
        new.breaker.min,
        duration(new.breaker.window_secs)
    );
    Ok(())
}

/// Seconds in the largest unit that divides them: `15m`, `1h`, `90s`, as
/// `--breaker-window` takes them.
pub fn duration(secs: i64) -> String {
    [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(unit, _)| secs != 0 && secs % unit == 0)
        .map_or_else(
            || format!("{secs}s"),
            |(unit, name)| format!("{}{name}", secs / unit),
        )
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_print_in_the_largest_exact_unit() {
        assert_eq!(duration(900), "15m");
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(90), "90s");
        assert_eq!(duration(172_800), "2d");
    }
}
