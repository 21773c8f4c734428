//! The admission state shared by every connection: the token bucket per
//! integration, the failed-authentication throttle per client address, the
//! requests in flight per integration, and the tokens seen valid recently.
//!
//! The bucket and the throttle are plain structs over an injected `Instant`,
//! so their arithmetic is unit-tested without sleeping.

use crate::domain::Domain;
use crate::scim::error::ScimError;
use crate::store::settings;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long cached rate settings are used before they are read again, so a
/// `scimd integration set` reaches a running server within this time.
pub const SETTINGS_TTL: Duration = Duration::from_secs(1);
/// Failed authentications from one address tolerated per window.
pub const AUTH_FAILURES_ALLOWED: u32 = 20;
pub const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked by the throttle at most; the oldest window goes first.
pub const AUTH_TRACKED_MAX: usize = 4096;
/// Integrations tracked by the limiter at most (they exist only after a
/// successful authentication, so this is never reached in practice).
const RATE_TRACKED_MAX: usize = 4096;
/// Requests of one integration in flight at most, even when it is alone:
/// far more than an IdP uses (8 connections is a busy one), few enough that
/// the readers and the writer queue are never all one integration's.
pub const INFLIGHT_MAX: usize = 64;
/// Under contention each integration keeps at least this many in flight.
pub const FAIR_SHARE_MIN: usize = 8;
/// How often a throttled address may still have an unknown token looked up.
pub const BLOCKED_LOOKUP_EVERY: Duration = Duration::from_millis(200);
/// Recently valid token hashes remembered at most, and for how long.
const GOOD_TOKENS_MAX: usize = 4096;
const GOOD_TOKEN_TTL: Duration = Duration::from_secs(3600);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain numbers behind: keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds until `wait` has passed, rounded up, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    s.max(1)
}

/// `rate` tokens a second, at most `burst` saved up; a request takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Takes one token, or says in how many whole seconds (≥ 1) one will be
    /// there. The rate and burst are passed on every call, so a settings
    /// change applies to the existing bucket (a lower burst caps it).
    pub fn take(&mut self, now: Instant, rate: u32, burst: u32) -> Result<(), u64> {
        let rate = f64::from(rate.max(1));
        let burst = f64::from(burst.max(1));
        if now > self.last {
            let elapsed = now.duration_since(self.last).as_secs_f64();
            self.tokens += elapsed * rate;
            self.last = now;
        }
        self.tokens = self.tokens.min(burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / rate;
            Err((wait.ceil() as u64).max(1))
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
    /// While over the allowance: when the last token lookup was let through.
    last_lookup: Option<Instant>,
}

/// Failed authentications per client address in fixed one-minute windows
/// opened by the first failure. Bounded: at most `cap` addresses.
#[derive(Debug)]
pub struct AuthThrottle {
    windows: HashMap<IpAddr, Window>,
    cap: usize,
    allowed: u32,
    window: Duration,
}

impl AuthThrottle {
    pub fn new(cap: usize, allowed: u32, window: Duration) -> AuthThrottle {
        AuthThrottle {
            windows: HashMap::new(),
            cap: cap.max(1),
            allowed,
            window,
        }
    }

    /// Counts one failure from `ip`. Returns `Some(seconds)` left in the
    /// window when the address is over its allowance (answer 429), None
    /// when the failure is still within it (answer 401).
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> Option<u64> {
        if !self.windows.contains_key(&ip) && self.windows.len() >= self.cap {
            self.make_room(now);
        }
        let window = self.window;
        let w = self.windows.entry(ip).or_insert(Window {
            start: now,
            failures: 0,
            last_lookup: None,
        });
        if now.saturating_duration_since(w.start) >= window {
            *w = Window {
                start: now,
                failures: 0,
                last_lookup: None,
            };
        }
        w.failures = w.failures.saturating_add(1);
        if w.failures > self.allowed {
            let left = (w.start + window).saturating_duration_since(now);
            Some(whole_seconds(left))
        } else {
            None
        }
    }

    /// Whether `ip` is over its allowance now, without counting anything:
    /// `Some(seconds left)` if so.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        let w = self.windows.get(&ip)?;
        let end = w.start + self.window;
        (w.failures > self.allowed && now < end)
            .then(|| whole_seconds(end.saturating_duration_since(now)))
    }

    /// While `ip` is over its allowance, a token that is well formed but not
    /// known valid still gets a lookup at most every `BLOCKED_LOOKUP_EVERY`:
    /// enough for an IdP behind a throttled proxy to get its token checked,
    /// too few for a flood to cost the database anything.
    pub fn lookup_allowed(&mut self, ip: IpAddr, now: Instant) -> bool {
        let Some(w) = self.windows.get_mut(&ip) else {
            return true;
        };
        let due = w
            .last_lookup
            .is_none_or(|at| now.saturating_duration_since(at) >= BLOCKED_LOOKUP_EVERY);
        if due {
            w.last_lookup = Some(now);
        }
        due
    }

    /// Drops expired windows; if none expired, the oldest one.
    fn make_room(&mut self, now: Instant) {
        let window = self.window;
        self.windows
            .retain(|_, w| now.saturating_duration_since(w.start) < window);
        if self.windows.len() >= self.cap {
            if let Some(oldest) = self
                .windows
                .iter()
                .min_by_key(|(_, w)| w.start)
                .map(|(ip, _)| *ip)
            {
                self.windows.remove(&oldest);
            }
        }
    }

    pub fn tracked(&self) -> usize {
        self.windows.len()
    }
}

/// How many requests an integration may have in flight while `others`
/// other integrations have requests in flight too: all of `INFLIGHT_MAX`
/// alone, an equal share of it under contention, never below
/// `FAIR_SHARE_MIN`.
pub fn fair_share(others: usize) -> usize {
    (INFLIGHT_MAX / (others + 1)).max(FAIR_SHARE_MIN)
}

/// Requests in flight per integration, past authentication.
#[derive(Debug, Default)]
struct InFlight {
    by_integration: HashMap<String, usize>,
}

impl InFlight {
    /// Counts one more request for `id`, or says why not.
    fn enter(&mut self, id: &str) -> Result<(), (usize, usize)> {
        let mine = self.by_integration.get(id).copied().unwrap_or(0);
        let others = self.by_integration.len() - usize::from(mine > 0);
        let share = fair_share(others);
        if mine >= share {
            return Err((mine, others));
        }
        *self.by_integration.entry(id.to_string()).or_insert(0) += 1;
        Ok(())
    }

    fn leave(&mut self, id: &str) {
        if let Some(n) = self.by_integration.get_mut(id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_integration.remove(id);
            }
        }
    }
}

#[derive(Debug)]
struct Rate {
    bucket: TokenBucket,
    rate: u32,
    burst: u32,
    read_at: Instant,
    used_at: Instant,
}

/// The server's admission state, shared by every connection.
#[derive(Debug)]
pub struct Guard {
    rates: Mutex<HashMap<String, Rate>>,
    auth: Mutex<AuthThrottle>,
    inflight: Mutex<InFlight>,
    /// Hashes of tokens that authenticated recently, and when: a throttled
    /// address holding one still gets its lookup (revocation applies to
    /// every request), so one IdP behind a shared proxy is never locked out
    /// by another's stale token.
    good: Mutex<HashMap<Vec<u8>, Instant>>,
    /// Tokens known valid, so a request with one needs no database read.
    tokens: Mutex<super::token_cache::TokenCache>,
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            rates: Mutex::new(HashMap::new()),
            auth: Mutex::new(AuthThrottle::new(
                AUTH_TRACKED_MAX,
                AUTH_FAILURES_ALLOWED,
                AUTH_WINDOW,
            )),
            inflight: Mutex::new(InFlight::default()),
            good: Mutex::new(HashMap::new()),
            tokens: Mutex::new(Default::default()),
        }
    }
}

impl Guard {
    /// See `AuthThrottle::lookup_allowed`.
    pub fn blocked_lookup_allowed(&self, ip: IpAddr, now: Instant) -> bool {
        lock(&self.auth).lookup_allowed(ip, now)
    }

    /// See `AuthThrottle::blocked`.
    pub fn auth_blocked(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        lock(&self.auth).blocked(ip, now)
    }

    /// The token cache, for `auth` (the lock is never held across an await).
    pub fn token_cache(&self) -> MutexGuard<'_, super::token_cache::TokenCache> {
        lock(&self.tokens)
    }

    pub fn known_good(&self, hash: &[u8]) -> bool {
        lock(&self.good).contains_key(hash)
    }

    /// Remembers a token hash that authenticated; bounded, oldest first out.
    pub fn remember_good(&self, hash: Vec<u8>, now: Instant) {
        let mut good = lock(&self.good);
        if !good.contains_key(&hash) && good.len() >= GOOD_TOKENS_MAX {
            let cutoff = now.checked_sub(GOOD_TOKEN_TTL).unwrap_or(now);
            good.retain(|_, at| *at > cutoff);
            if good.len() >= GOOD_TOKENS_MAX {
                if let Some(oldest) = good
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(h, _)| h.clone())
                {
                    good.remove(&oldest);
                }
            }
        }
        good.insert(hash, now);
    }

    /// Counts one more request in flight for `id`, or says (its count, the
    /// other busy integrations) why not.
    pub fn enter(&self, id: &str) -> Result<(), (usize, usize)> {
        lock(&self.inflight).enter(id)
    }

    /// Gives back a place taken by `enter`.
    pub fn leave(&self, id: &str) {
        lock(&self.inflight).leave(id);
    }

    /// Counts a failed authentication; see `AuthThrottle::failed`.
    pub fn auth_failed(&self, ip: IpAddr, now: Instant) -> Option<u64> {
        lock(&self.auth).failed(ip, now)
    }

    /// Takes a token from the integration's bucket, reading its settings at
    /// most once per `SETTINGS_TTL` (the request that finds them stale reads
    /// them; concurrent ones use the previous values meanwhile).
    pub async fn take(&self, domain: &Domain, integration_id: &str) -> Result<(), ScimError> {
        let now = crate::clock::instant();
        let cached = {
            let mut rates = lock(&self.rates);
            match rates.get_mut(integration_id) {
                Some(r) if now.saturating_duration_since(r.read_at) < SETTINGS_TTL => {
                    Some((r.rate, r.burst))
                }
                Some(r) => {
                    // Claim the refresh, so one request reads and the rest go on.
                    r.read_at = now;
                    None
                }
                None => None,
            }
        };
        let fresh = match cached {
            Some(_) => None,
            None => match domain.settings(integration_id).await {
                Ok(s) => Some((s.rate_limit, s.rate_burst)),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read rate settings; keeping the previous ones");
                    None
                }
            },
        };
        let now = crate::clock::instant();
        let mut rates = lock(&self.rates);
        if !rates.contains_key(integration_id) && rates.len() >= RATE_TRACKED_MAX {
            let cutoff = now.checked_sub(Duration::from_secs(3600)).unwrap_or(now);
            rates.retain(|_, r| r.used_at > cutoff);
        }
        let (rate, burst) = fresh
            .or(cached)
            .or_else(|| rates.get(integration_id).map(|r| (r.rate, r.burst)))
            .unwrap_or_else(|| {
                let d = settings::Settings::default();
                (d.rate_limit, d.rate_burst)
            });
        let r = rates
            .entry(integration_id.to_string())
            .or_insert_with(|| Rate {
                bucket: TokenBucket::new(burst, now),
                rate,
                burst,
                read_at: now,
                used_at: now,
            });
        if fresh.is_some() {
            r.read_at = now;
        }
        r.rate = rate;
        r.burst = burst;
        r.used_at = now;
        r.bucket.take(now, rate, burst).map_err(|secs| {
            ScimError::too_many_requests(
                format!(
                    "rate limit of this integration exceeded ({rate} requests/s, burst {burst}); retry in {secs} s"
                ),
                secs,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_full_bucket_allows_the_burst_then_refuses() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0, 1, 3), Ok(()));
        }
        assert_eq!(b.take(t0, 1, 3), Err(1));
    }

    #[test]
    fn the_bucket_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, t0);
        assert!(b.take(t0, 2, 2).is_ok());
        assert!(b.take(t0, 2, 2).is_ok());
        assert!(b.take(t0, 2, 2).is_err());
        // 2/s: one token after 500 ms.
        assert!(b.take(at(t0, 499), 2, 2).is_err());
        assert!(b.take(at(t0, 500), 2, 2).is_ok());
        assert!(b.take(at(t0, 500), 2, 2).is_err());
        // Long idle: capped at the burst.
        let late = at(t0, 60_000);
        assert!(b.take(late, 2, 2).is_ok());
        assert!(b.take(late, 2, 2).is_ok());
        assert!(b.take(late, 2, 2).is_err());
    }

    #[test]
    fn retry_after_is_whole_seconds_until_a_token() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1, t0);
        assert!(b.take(t0, 1, 1).is_ok());
        assert_eq!(b.take(t0, 1, 1), Err(1));
        // Rates are whole requests per second, so the wait is never above 1 s.
        assert_eq!(b.take(at(t0, 100), 1, 1), Err(1));
        let mut fast = TokenBucket::new(1, t0);
        assert!(fast.take(t0, 1000, 1).is_ok());
        assert_eq!(fast.take(t0, 1000, 1), Err(1));
        assert!(fast.take(at(t0, 1), 1000, 1).is_ok());
    }

    #[test]
    fn a_lower_burst_caps_a_saved_up_bucket_and_time_never_goes_back() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, t0);
        assert!(b.take(t0, 1, 2).is_ok());
        assert!(b.take(t0, 1, 2).is_ok());
        assert!(b.take(t0, 1, 2).is_err());
        let mut b = TokenBucket::new(1, at(t0, 1000));
        assert!(b.take(t0, 1, 1).is_ok());
        assert!(b.take(t0, 1, 1).is_err());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn twenty_failures_are_tolerated_the_twenty_first_is_throttled() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(16, 20, Duration::from_secs(60));
        for i in 0..20 {
            assert_eq!(
                t.failed(ip("192.0.2.1"), at(t0, i * 100)),
                None,
                "failure {i}"
            );
        }
        assert_eq!(t.failed(ip("192.0.2.1"), at(t0, 2_000)), Some(58));
        assert_eq!(t.failed(ip("192.0.2.1"), at(t0, 59_500)), Some(1));
        // Another address is unaffected.
        assert_eq!(t.failed(ip("192.0.2.2"), at(t0, 2_000)), None);
        // A new window after a minute.
        assert_eq!(t.failed(ip("192.0.2.1"), at(t0, 60_000)), None);
    }

    #[test]
    fn blocked_reports_an_address_over_its_allowance_without_counting() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(16, 2, Duration::from_secs(60));
        let a = ip("192.0.2.1");
        assert_eq!(t.blocked(a, t0), None);
        t.failed(a, t0);
        t.failed(a, t0);
        assert_eq!(
            t.blocked(a, t0),
            None,
            "two failures are within the allowance"
        );
        assert!(t.failed(a, t0).is_some());
        assert_eq!(t.blocked(a, at(t0, 10_000)), Some(50));
        assert_eq!(t.blocked(a, at(t0, 60_000)), None, "the window is over");
    }

    #[test]
    fn a_blocked_address_gets_a_lookup_at_most_every_interval() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(16, 0, Duration::from_secs(60));
        let a = ip("192.0.2.1");
        t.failed(a, t0);
        assert!(t.lookup_allowed(a, t0));
        assert!(!t.lookup_allowed(a, at(t0, 100)));
        assert!(t.lookup_allowed(a, at(t0, 200)));
        // An address with no window is not blocked at all.
        assert!(t.lookup_allowed(ip("192.0.2.9"), t0));
    }

    #[test]
    fn the_throttle_tracks_a_bounded_number_of_addresses() {
        let t0 = Instant::now();
        let mut t = AuthThrottle::new(3, 1, Duration::from_secs(60));
        for (i, a) in ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
            .iter()
            .enumerate()
        {
            t.failed(ip(a), at(t0, i as u64));
        }
        assert_eq!(t.tracked(), 3);
        // The oldest (10.0.0.1) was evicted: it starts over.
        assert_eq!(t.failed(ip("10.0.0.1"), at(t0, 10)), None);
        // 10.0.0.3 was kept; its second failure is over an allowance of 1.
        assert!(t.failed(ip("10.0.0.3"), at(t0, 10)).is_some());
        // Expired windows are dropped first.
        let late = at(t0, 120_000);
        t.failed(ip("10.0.0.9"), late);
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn an_integration_alone_may_use_the_whole_in_flight_allowance() {
        let mut f = InFlight::default();
        for _ in 0..INFLIGHT_MAX {
            assert!(f.enter("a").is_ok());
        }
        assert_eq!(f.enter("a"), Err((INFLIGHT_MAX, 0)));
    }

    #[test]
    fn under_contention_each_integration_gets_an_equal_share() {
        let mut f = InFlight::default();
        for _ in 0..INFLIGHT_MAX / 2 {
            assert!(f.enter("a").is_ok());
        }
        // b arrives while a is busy: b is admitted, a is held to half.
        assert!(f.enter("b").is_ok());
        assert_eq!(f.enter("a"), Err((INFLIGHT_MAX / 2, 1)));
        // When b is done, a may grow again.
        f.leave("b");
        assert!(f.enter("a").is_ok());
    }

    #[test]
    fn the_share_never_drops_below_the_floor() {
        assert_eq!(fair_share(0), INFLIGHT_MAX);
        assert_eq!(fair_share(1), INFLIGHT_MAX / 2);
        assert_eq!(fair_share(1000), FAIR_SHARE_MIN);
    }

    #[test]
    fn leaving_forgets_idle_integrations() {
        let mut f = InFlight::default();
        assert!(f.enter("a").is_ok());
        f.leave("a");
        f.leave("a");
        assert!(f.by_integration.is_empty());
    }

    #[test]
    fn whole_seconds_round_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(58)), 58);
    }
}
