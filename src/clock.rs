//! Time as scimd stores and prints it: UTC RFC 3339 with millisecond precision
//! and a fixed width, so that text order in SQLite is time order. Also the
//! human durations the CLI takes (`30s`, `5m`, `1h`, `2d`). `now()` (wall
//! time) and `instant()` (monotonic time, for rate windows) are the only
//! functions here that read the clock, and the only clock scimd reads for
//! anything a test may want to wait out.
//!
//! Test builds only (`cfg(debug_assertions)`): `SCIMD_TEST_CLOCK=FILE` moves
//! both forward by the number of milliseconds FILE holds, read at every
//! reading (missing or unreadable: 0). The black-box tests step over rate
//! windows, token grace periods and audit minutes by writing a larger number
//! instead of sleeping. Release builds ignore the variable.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc() + skew()
}

/// Monotonic time for windows and buckets, moved like `now()`.
pub fn instant() -> std::time::Instant {
    std::time::Instant::now() + skew()
}

/// How far `SCIMD_TEST_CLOCK` moves the clock forward.
#[cfg(debug_assertions)]
fn skew() -> std::time::Duration {
    use std::path::PathBuf;
    use std::sync::OnceLock;
    static FILE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let file = FILE.get_or_init(|| std::env::var_os("SCIMD_TEST_CLOCK").map(PathBuf::from));
    file.as_ref()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_millis)
}

#[cfg(not(debug_assertions))]
fn skew() -> std::time::Duration {
    std::time::Duration::ZERO
}

/// `2026-11-23T09:06:30.123Z`: always 24 characters.
pub fn format(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

pub fn now_string() -> String {
    format(now())
}

/// Parses any RFC 3339 timestamp (any offset, any fraction) into UTC.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .ok()
        .map(|t| t.to_offset(UtcOffset::UTC))
}

/// The longest duration the CLI takes. Durations are added to or subtracted
/// from now, and a timestamp past year 9999 cannot be represented (adding
/// one panics); a century is longer than any sensible grace period or
/// retention and keeps every result far inside the range.
pub const MAX_DURATION_DAYS: i64 = 36_500;

/// Parses `0`, `90`, `30s`, `5m`, `1h`, `2d` (a bare number is seconds), at
/// most [`MAX_DURATION_DAYS`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let not_a_duration = || format!("'{s}' is not a duration (try 0, 30s, 5m, 1h or 2d)");
    let too_long = || format!("'{s}' is too long: durations are at most {MAX_DURATION_DAYS}d");
    let n: i64 = match num.parse() {
        Ok(n) => n,
        // All digits but no i64: a number, just far too large.
        Err(_) if !num.is_empty() => return Err(too_long()),
        Err(_) => return Err(not_a_duration()),
    };
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(not_a_duration()),
    };
    match n.checked_mul(unit_secs) {
        Some(secs) if secs <= MAX_DURATION_DAYS * 86_400 => Ok(Duration::seconds(secs)),
        _ => Err(too_long()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_fixed_width_utc_with_millis() {
        let t = parse("2026-01-02T03:04:05.6+02:00").unwrap();
        assert_eq!(format(t), "2026-01-02T01:04:05.600Z");
    }

    #[test]
    fn durations_accept_units_and_bare_seconds() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("90").unwrap(), Duration::seconds(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::minutes(5));
        assert_eq!(parse_duration("1h").unwrap(), Duration::hours(1));
        assert_eq!(parse_duration("2d").unwrap(), Duration::days(2));
    }

    #[test]
    fn durations_reject_garbage() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn durations_beyond_a_century_are_refused_by_name() {
        assert_eq!(
            parse_duration("36500d").unwrap(),
            Duration::days(MAX_DURATION_DAYS)
        );
        for s in [
            "36501d",
            "99999999999d",
            "99999999999999999999999",
            "876001h",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("too long"), "{s}: {e}");
        }
    }
}
