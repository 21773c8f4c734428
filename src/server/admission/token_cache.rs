//! Tokens seen valid, kept in memory so a request with a known token is
//! authenticated without a database read (and without the thread hop a read
//! costs). Pure: the caller passes the wall time, the monotonic time and the
//! access generation (`store::tokens::Generation`, which the CLI moves after
//! every change to who may authenticate).
//!
//! Correctness rests on three rules:
//! * a new generation empties the cache before anything is looked up;
//! * a database answer is remembered only under the generation read *before*
//!   that read, so an answer that raced a CLI change is never kept;
//! * an entry is trusted for `REVALIDATE_EVERY` at most, and never past the
//!   token's own expiry: a change made behind scimd's back (SQL by hand, a
//!   crashed CLI that committed but could not append to the marker) still
//!   applies within that time.

use crate::store::tokens::Generation;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// How long a cached answer is trusted without asking the database again.
pub const REVALIDATE_EVERY: Duration = Duration::from_secs(300);
/// Tokens remembered at most; an IdP has one or two, so this is only a bound.
const ENTRIES_MAX: usize = 4096;
/// How stale `last_used` may get before a request refreshes it; keeps a busy
/// IdP from turning every read into a write.
pub const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

#[derive(Debug)]
struct Entry {
    integration_id: String,
    expires: Option<OffsetDateTime>,
    /// When the database last said this token is valid.
    checked: Instant,
    /// The `last_used` the database holds, as far as this server knows.
    touched: Option<OffsetDateTime>,
}

/// What the cache knows about a presented token.
#[derive(Debug, PartialEq, Eq)]
pub enum Cached {
    /// Valid for the integration asked; `touch`: record its use now.
    Valid { touch: bool },
    /// Valid, but for another integration: refuse like an unknown token.
    OtherIntegration,
    /// Not known (or no longer trusted): ask the database.
    Unknown,
}

#[derive(Debug, Default)]
pub struct TokenCache {
    generation: Option<Generation>,
    entries: HashMap<Vec<u8>, Entry>,
}

impl TokenCache {
    /// Moves to `generation`, forgetting everything if it is new.
    fn observe(&mut self, generation: Generation) {
        if self.generation != Some(generation) {
            self.entries.clear();
            self.generation = Some(generation);
        }
    }

    pub fn check(
        &mut self,
        generation: Generation,
        hash: &[u8],
        integration_id: &str,
        now: OffsetDateTime,
        at: Instant,
    ) -> Cached {
        self.observe(generation);
        let Some(e) = self.entries.get_mut(hash) else {
            return Cached::Unknown;
        };
        let stale = at.saturating_duration_since(e.checked) >= REVALIDATE_EVERY;
        let expired = e.expires.is_some_and(|t| t <= now);
        if stale || expired {
            self.entries.remove(hash);
            return Cached::Unknown;
        }
        if e.integration_id != integration_id {
            return Cached::OtherIntegration;
        }
        let touch = e.touched.is_none_or(|t| now - t > TOUCH_EVERY);
        if touch {
            e.touched = Some(now);
        }
        Cached::Valid { touch }
    }

    /// Remembers what the database said about a valid token, if no access
    /// change was seen since `read_under` was read (before the lookup).
    pub fn remember(
        &mut self,
        read_under: Generation,
        hash: &[u8],
        integration_id: &str,
        expires: Option<OffsetDateTime>,
        touched: Option<OffsetDateTime>,
        at: Instant,
    ) {
        if self.generation != Some(read_under) {
            return;
        }
        if !self.entries.contains_key(hash) && self.entries.len() >= ENTRIES_MAX {
            self.entries
                .retain(|_, e| at.saturating_duration_since(e.checked) < REVALIDATE_EVERY);
            if self.entries.len() >= ENTRIES_MAX {
                if let Some(oldest) = self
                    .entries
                    .iter()
                    .min_by_key(|(_, e)| e.checked)
                    .map(|(h, _)| h.clone())
                {
                    self.entries.remove(&oldest);
                }
            }
        }
        self.entries.insert(
            hash.to_vec(),
            Entry {
                integration_id: integration_id.to_string(),
                expires,
                checked: at,
                touched,
            },
        );
    }

    /// Records that the caller refreshed the token's `last_used` itself.
    pub fn touched(&mut self, hash: &[u8], now: OffsetDateTime) {
        if let Some(e) = self.entries.get_mut(hash) {
            e.touched = Some(now);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tokens::generation;

    /// Two distinct generations, read from real marker files.
    fn generations() -> (Generation, Generation) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "scimd-token-cache-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let _ = std::fs::remove_file(crate::store::tokens::access_marker(&db));
        let before = generation(&db).unwrap();
        crate::store::tokens::announce_access_change(&db).unwrap();
        let after = generation(&db).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_ne!(before, after);
        (before, after)
    }

    fn wall() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_remembered_token_is_valid_for_its_integration_only() {
        let (g, _) = generations();
        let (t0, now) = (Instant::now(), wall());
        let mut c = TokenCache::default();
        assert_eq!(c.check(g, b"h", "int_a", now, t0), Cached::Unknown);
        c.remember(g, b"h", "int_a", None, Some(now), t0);
        assert_eq!(
            c.check(g, b"h", "int_a", now, t0),
            Cached::Valid { touch: false }
        );
        assert_eq!(c.check(g, b"h", "int_b", now, t0), Cached::OtherIntegration);
    }

    #[test]
    fn a_new_generation_forgets_every_token() {
        let (g1, g2) = generations();
        let (t0, now) = (Instant::now(), wall());
        let mut c = TokenCache::default();
        c.check(g1, b"h", "int_a", now, t0);
        c.remember(g1, b"h", "int_a", None, Some(now), t0);
        assert_eq!(c.check(g2, b"h", "int_a", now, t0), Cached::Unknown);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn an_answer_read_before_an_access_change_is_not_kept() {
        let (g1, g2) = generations();
        let (t0, now) = (Instant::now(), wall());
        let mut c = TokenCache::default();
        // Request A reads g1 and goes to the database; request B sees g2.
        c.check(g1, b"h", "int_a", now, t0);
        c.check(g2, b"other", "int_a", now, t0);
        c.remember(g1, b"h", "int_a", None, None, t0);
        assert_eq!(c.check(g2, b"h", "int_a", now, t0), Cached::Unknown);
    }

    #[test]
    fn an_expired_token_is_asked_about_again() {
        let (g, _) = generations();
        let (t0, now) = (Instant::now(), wall());
        let mut c = TokenCache::default();
        c.check(g, b"h", "int_a", now, t0);
        let expires = now + time::Duration::seconds(10);
        c.remember(g, b"h", "int_a", Some(expires), Some(now), t0);
        assert!(matches!(
            c.check(g, b"h", "int_a", now, t0),
            Cached::Valid { .. }
        ));
        assert_eq!(c.check(g, b"h", "int_a", expires, t0), Cached::Unknown);
    }

    #[test]
    fn an_entry_is_trusted_for_a_limited_time() {
        let (g, _) = generations();
        let (t0, now) = (Instant::now(), wall());
        let mut c = TokenCache::default();
        c.check(g, b"h", "int_a", now, t0);
        c.remember(g, b"h", "int_a", None, Some(now), t0);
        let later = t0 + REVALIDATE_EVERY;
        assert_eq!(c.check(g, b"h", "int_a", now, later), Cached::Unknown);
    }

    #[test]
    fn use_is_recorded_once_per_interval() {
        let (g, _) = generations();
        let (t0, now) = (Instant::now(), wall());
        let mut c = TokenCache::default();
        c.check(g, b"h", "int_a", now, t0);
        c.remember(g, b"h", "int_a", None, None, t0);
        assert_eq!(
            c.check(g, b"h", "int_a", now, t0),
            Cached::Valid { touch: true }
        );
        assert_eq!(
            c.check(g, b"h", "int_a", now, t0),
            Cached::Valid { touch: false }
        );
        let next = now + TOUCH_EVERY + time::Duration::seconds(1);
        assert_eq!(
            c.check(g, b"h", "int_a", next, t0),
            Cached::Valid { touch: true }
        );
    }
}
