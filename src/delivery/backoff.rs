//! When to try a failed delivery again: exponential backoff from 5 s,
//! doubling up to 1 h, with jitter so many deliveries failing together
//! (a receiver restarting) do not come back together; and never past 24 h
//! after the event, when the delivery is marked failed. Pure: the caller
//! passes the times and the random draw.

use std::time::Duration;
use time::OffsetDateTime;

pub const BASE: Duration = Duration::from_secs(5);
pub const CAP: Duration = Duration::from_secs(3600);
/// How long after its event a delivery is still tried.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// The wait after the `failures`-th failed attempt (1 for the first):
/// `min(BASE·2^(failures-1), CAP)`, of which a random half is dropped
/// (`jitter` in [0, 1) picks where in the upper half it lands).
pub fn delay(failures: u32, jitter: f64) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    let full = BASE.saturating_mul(1u32 << doublings).min(CAP);
    let jitter = jitter.clamp(0.0, 1.0);
    full / 2 + full.mul_f64(jitter / 2.0)
}

/// After the `failures`-th failure at `now` of an event made at `created`:
/// when to try again, or None to give up. The last try is at the end of the
/// window, however the backoff falls.
pub fn next(
    created: OffsetDateTime,
    now: OffsetDateTime,
    failures: u32,
    jitter: f64,
) -> Option<OffsetDateTime> {
    let deadline = created + WINDOW;
    if now >= deadline {
        return None;
    }
    Some((now + delay(failures, jitter)).min(deadline))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retry_comes_within_five_seconds() {
        assert_eq!(delay(1, 0.0), Duration::from_millis(2500));
        assert!(delay(1, 0.999) <= BASE);
    }

    #[test]
    fn the_delay_doubles_with_each_failure() {
        assert_eq!(delay(2, 0.0), Duration::from_secs(5));
        assert_eq!(delay(3, 0.0), Duration::from_secs(10));
        assert_eq!(delay(4, 0.0), Duration::from_secs(20));
    }

    #[test]
    fn the_delay_stops_growing_at_one_hour() {
        assert!(delay(12, 0.999) <= CAP);
        assert_eq!(delay(40, 0.0), CAP / 2);
        assert_eq!(delay(u32::MAX, 0.0), CAP / 2);
    }

    #[test]
    fn jitter_spreads_retries_over_the_upper_half() {
        assert!(delay(5, 0.9) > delay(5, 0.1));
    }

    #[test]
    fn no_retry_is_scheduled_past_the_window() {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let late = t0 + WINDOW - time::Duration::seconds(1);
        assert_eq!(next(t0, late, 30, 0.5), Some(t0 + WINDOW));
        assert_eq!(next(t0, t0 + WINDOW, 30, 0.5), None);
        let early = next(t0, t0, 1, 0.0).unwrap();
        assert_eq!(early, t0 + time::Duration::milliseconds(2500));
    }
}
