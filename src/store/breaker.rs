//! The mass-deactivation circuit breaker. When deactivations plus deletions
//! within an integration's window exceed both its thresholds (a percentage of
//! the entitled users and a minimum count), the breaker trips: SCIM still
//! accepts every change (the IdP is the source of truth), but the resulting
//! entitlement revocations are held (the user keeps `entitled = 1` and gets
//! `held = 1`) until an admin runs `scimd breaker release`. While tripped, every
//! revocation is held, whatever its cause. A misconfigured IdP then cannot
//! lock a whole office out of its doors in one sync.
//!
//! The count comes from the feed itself (`user.deactivated` and
//! `user.deleted` rows in the window, through a partial index), and is read
//! only when a user is about to lose entitlement, so other writes pay
//! nothing for the breaker.

use super::entitlement::{self, Hold};
use super::feed::{self, EventType};
use super::settings::{self, Breaker, DeleteMode};
use super::Result;
use rusqlite::{params, Connection};
use serde_json::json;

/// Whether `removed` users deactivated or deleted within the window, out of
/// `entitled` entitled at its start, trip the breaker: at least `min`, and
/// more than `percent`% of them.
pub fn trips(removed: u64, entitled: u64, b: &Breaker) -> bool {
    removed >= u64::from(b.min) && removed * 100 > u64::from(b.percent) * entitled
}

/// The breaker's state, for `integration show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct State {
    /// When it tripped; None when it is not tripped.
    pub tripped: Option<String>,
    /// Users whose revocation it holds.
    pub held: i64,
}

pub fn state(conn: &Connection, integration_id: &str) -> Result<State> {
    Ok(conn.query_row(
        "SELECT breaker_tripped,
                (SELECT count(*) FROM scim_user WHERE integration_id = ?1 AND held = 1)
         FROM integration WHERE id = ?1",
        [integration_id],
        |r| {
            Ok(State {
                tripped: r.get(0)?,
                held: r.get(1)?,
            })
        },
    )?)
}

/// Called when an entitled user is about to lose entitlement: whether the
/// revocation must be held. `removal` says the user was deactivated or
/// deleted, the changes the breaker counts; this one may trip it.
pub fn holds(conn: &Connection, integration_id: &str, b: &Breaker, removal: bool) -> Result<bool> {
    let (tripped, released): (Option<String>, Option<String>) = conn
        .prepare_cached("SELECT breaker_tripped, breaker_released FROM integration WHERE id = ?1")?
        .query_row([integration_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if tripped.is_some() {
        return Ok(true);
    }
    if !b.on || !removal {
        return Ok(false);
    }
    let now = crate::clock::now();
    let mut since = crate::clock::format(now - time::Duration::seconds(b.window_secs));
    // A release starts the count afresh.
    if let Some(r) = released.filter(|r| *r > since) {
        since = r;
    }
    // This user's own deactivation or deletion row is not written yet.
    // `users purge` removes records deleted long ago: not a removal now.
    let earlier: u64 = conn
        .prepare_cached(
            "SELECT count(DISTINCT resource_id) FROM changes
             WHERE integration_id = ?1 AND time >= ?2
               AND type IN ('user.deactivated', 'user.deleted')
               AND json_extract(data, '$.purged') IS NULL",
        )?
        .query_row(params![integration_id, since], |r| r.get(0))?;
    let removed = earlier + 1;
    if removed < u64::from(b.min) {
        return Ok(false);
    }
    // Entitled at the window's start, approximately: those entitled now
    // (this user still is) plus those removed earlier in the window.
    let entitled_now: u64 = conn
        .prepare_cached(
            "SELECT count(*) FROM scim_user WHERE integration_id = ?1 AND entitled = 1",
        )?
        .query_row([integration_id], |r| r.get(0))?;
    if !trips(removed, entitled_now + earlier, b) {
        return Ok(false);
    }
    trip(conn, integration_id, removed, entitled_now + earlier, b)?;
    Ok(true)
}

fn trip(
    conn: &Connection,
    integration_id: &str,
    removed: u64,
    entitled: u64,
    b: &Breaker,
) -> Result<()> {
    let now = crate::clock::now_string();
    conn.execute(
        "UPDATE integration SET breaker_tripped = ?2 WHERE id = ?1",
        params![integration_id, now],
    )?;
    tracing::warn!(
        integration = %integration_id,
        removed,
        entitled,
        percent = b.percent,
        min = b.min,
        window_secs = b.window_secs,
        "mass-deactivation breaker tripped: entitlement revocations are held until `scimd breaker release {integration_id}`"
    );
    let data = json!({
        "integration": integration_id,
        "tripped": now,
        "removed": removed,
        "entitled": entitled,
        "percent": b.percent,
        "min": b.min,
        "windowSeconds": b.window_secs,
    });
    feed::record(
        conn,
        integration_id,
        EventType::BreakerTripped,
        integration_id,
        data,
    )?;
    Ok(())
}

/// `scimd breaker release`: resets the trip, restarts the window, and applies
/// every held revocation (each an `entitlement.revoked` row); with
/// `--delete-mode delete`, the held records of deleted users then go.
/// Returns how many users were released.
pub fn release(conn: &Connection, integration_id: &str) -> Result<usize> {
    let s = settings::get(conn, integration_id)?;
    conn.execute(
        "UPDATE integration SET breaker_tripped = NULL, breaker_released = ?2 WHERE id = ?1",
        params![integration_id, crate::clock::now_string()],
    )?;
    let held = conn
        .prepare("SELECT seq FROM scim_user WHERE integration_id = ?1 AND held = 1 ORDER BY seq")?
        .query_map([integration_id], |r| r.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    for seq in &held {
        entitlement::recompute(conn, integration_id, *seq, &s, Hold::Never)?;
    }
    if s.delete_mode == DeleteMode::Delete {
        // Users deleted while held were kept deprovisioned for the hold; the
        // delete mode says they go (their `user.deleted` row is written).
        let mut gone = conn
            .prepare_cached("DELETE FROM scim_user WHERE seq = ?1 AND deprovisioned IS NOT NULL")?;
        for seq in &held {
            gone.execute([seq])?;
        }
    }
    Ok(held.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(percent: u32, min: u32) -> Breaker {
        Breaker {
            on: true,
            percent,
            min,
            window_secs: 900,
        }
    }

    #[test]
    fn the_defaults_trip_on_more_than_a_quarter_and_at_least_ten() {
        let b = Breaker::default();
        assert!(!trips(9, 20, &b), "9 of 20 is 45% but fewer than 10");
        assert!(trips(10, 20, &b));
        assert!(!trips(25, 100, &b), "exactly 25% is not more than 25%");
        assert!(trips(26, 100, &b));
    }

    #[test]
    fn both_thresholds_must_be_exceeded() {
        let b = breaker(25, 3);
        assert!(!trips(2, 4, &b), "50% but below the minimum");
        assert!(!trips(3, 1000, &b), "the minimum but 0.3%");
        assert!(trips(3, 8, &b));
    }

    #[test]
    fn a_hundred_percent_never_trips_however_many_leave() {
        let b = breaker(100, 1);
        assert!(!trips(50, 50, &b));
    }

    #[test]
    fn no_entitled_users_at_all_still_needs_the_minimum() {
        let b = breaker(25, 10);
        assert!(!trips(5, 0, &b));
        assert!(trips(10, 0, &b));
    }

    #[test]
    fn large_counts_do_not_overflow() {
        let b = breaker(25, 10);
        assert!(trips(u64::from(u32::MAX), u64::from(u32::MAX), &b));
    }
}
