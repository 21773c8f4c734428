//! Refused requests, counted in memory and written to the audit table in
//! batches. A flood of bad tokens must cost no database write per request:
//! each refusal only bumps a counter here, and a background task writes
//! what has gathered every `FLUSH_EVERY` as one writer job. Memory and rows
//! are both bounded: at most `ROWS_PER_SCOPE_MINUTE` distinct client blocks
//! per integration and minute, and `ROWS_PER_MINUTE` in all; the rest fold
//! into one row whose source is `OVERFLOW_SOURCE`.

use crate::store::audit::Rejection;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How often gathered refusals reach the audit table.
pub const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Distinct client blocks recorded per integration (as named in the path)
/// and minute; more fold into the overflow row.
pub const ROWS_PER_SCOPE_MINUTE: usize = 100;
/// Distinct rows per minute over all integrations.
pub const ROWS_PER_MINUTE: usize = 1000;
/// The `source` of the row that counts refusals beyond the caps.
pub const OVERFLOW_SOURCE: &str = "(other addresses)";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    integration: Option<String>,
    code: &'static str,
    source: String,
    minute: String,
}

#[derive(Debug, Default)]
struct Pending {
    rows: HashMap<Key, Rejection>,
    /// Distinct non-overflow rows seen per (integration, minute) and per
    /// minute; kept across flushes, pruned when the minute is over.
    per_scope: HashMap<(Option<String>, String), usize>,
    per_minute: HashMap<String, usize>,
}

#[derive(Debug, Default)]
pub struct Rejections {
    pending: Mutex<Pending>,
}

fn minute_of(time: &str) -> String {
    time.get(..16).unwrap_or(time).to_string()
}

impl Rejections {
    /// Counts one refusal.
    pub fn record(&self, mut r: Rejection) {
        let minute = minute_of(&r.time);
        let mut key = Key {
            integration: r.integration_id.clone(),
            code: r.code,
            source: r.source.clone(),
            minute: minute.clone(),
        };
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(row) = p.rows.get_mut(&key) {
            row.count += 1;
            return;
        }
        let scope = (key.integration.clone(), minute.clone());
        let in_scope = p.per_scope.get(&scope).copied().unwrap_or(0);
        let in_minute = p.per_minute.get(&minute).copied().unwrap_or(0);
        if in_scope >= ROWS_PER_SCOPE_MINUTE || in_minute >= ROWS_PER_MINUTE {
            key.source = OVERFLOW_SOURCE.to_string();
            r.source = OVERFLOW_SOURCE.to_string();
            if in_minute >= ROWS_PER_MINUTE {
                // Past the global cap even the integration is folded, so
                // made-up integration ids cannot multiply rows either.
                key.integration = None;
                r.integration_id = None;
            }
            if let Some(row) = p.rows.get_mut(&key) {
                row.count += 1;
                return;
            }
        } else {
            *p.per_scope.entry(scope).or_insert(0) += 1;
            *p.per_minute.entry(minute).or_insert(0) += 1;
        }
        r.count = 1;
        p.rows.insert(key, r);
    }

    /// Takes what has gathered since the last call, and forgets the caps of
    /// minutes before `now_minute`.
    pub fn take(&self, now_time: &str) -> Vec<Rejection> {
        let now_minute = minute_of(now_time);
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        p.per_scope.retain(|(_, m), _| *m >= now_minute);
        p.per_minute.retain(|m, _| *m >= now_minute);
        p.rows.drain().map(|(_, r)| r).collect()
    }

    /// Rows waiting to be written (for tests and metrics).
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .map(|p| p.rows.len())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rej(integration: &str, source: &str, time: &str) -> Rejection {
        Rejection {
            integration_id: Some(integration.into()),
            code: "SCIM_UNAUTHORIZED",
            source: source.into(),
            time: time.into(),
            request_id: "r".into(),
            detail: "d".into(),
            count: 1,
        }
    }

    const T: &str = "2026-01-01T10:00:05.000Z";

    #[test]
    fn refusals_with_the_same_key_are_one_row_with_a_count() {
        let r = Rejections::default();
        for _ in 0..1000 {
            r.record(rej("int_a", "10.0.0.1", T));
        }
        let rows = r.take(T);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].count, 1000);
        assert!(r.take(T).is_empty());
    }

    #[test]
    fn distinct_sources_beyond_the_cap_fold_into_the_overflow_row() {
        let r = Rejections::default();
        for i in 0..(ROWS_PER_SCOPE_MINUTE + 50) {
            r.record(rej("int_a", &format!("10.0.{}.{}", i / 256, i % 256), T));
        }
        let rows = r.take(T);
        assert_eq!(rows.len(), ROWS_PER_SCOPE_MINUTE + 1);
        let overflow: Vec<_> = rows
            .iter()
            .filter(|x| x.source == OVERFLOW_SOURCE)
            .collect();
        assert_eq!(overflow.len(), 1);
        assert_eq!(overflow[0].count, 50);
        // The cap holds across flushes within the minute...
        r.record(rej("int_a", "10.9.9.9", T));
        assert_eq!(r.take(T)[0].source, OVERFLOW_SOURCE);
        // ...and starts over in the next one.
        let next = "2026-01-01T10:01:00.000Z";
        r.record(rej("int_a", "10.9.9.9", next));
        assert_eq!(r.take(next)[0].source, "10.9.9.9");
    }

    #[test]
    fn made_up_integrations_cannot_multiply_rows_past_the_global_cap() {
        let r = Rejections::default();
        for i in 0..(ROWS_PER_MINUTE * 3) {
            r.record(rej(&format!("int_fake{i}"), "10.0.0.1", T));
        }
        let rows = r.take(T);
        assert_eq!(rows.len(), ROWS_PER_MINUTE + 1);
        let total: u64 = rows.iter().map(|x| x.count).sum();
        assert_eq!(total, (ROWS_PER_MINUTE * 3) as u64);
    }
}
