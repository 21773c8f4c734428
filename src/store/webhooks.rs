//! The webhook tables: hooks (where an integration's events go, with which
//! signing secret) and their delivery rows (the outbox). Which event types
//! a hook asks for is a list of patterns (`user.*`, `membership.added`,
//! `*`), matched here with plain string rules so the outbox and the CLI
//! agree on them. Sending is not done here: the delivery task reads the due
//! rows and reports back what each attempt did.

use super::feed::EventType;
use super::{Result, StoreError};
use crate::scim::error::ScimError;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// The prefix of every event name on the wire; patterns may carry it or not.
pub const EVENT_PREFIX: &str = "platform.scim.";
/// The prefix under which a signing secret is shown (Standard Webhooks).
pub const SECRET_PREFIX: &str = "whsec_";

/// Event patterns, normalised (no `platform.scim.` prefix) and each known
/// to match at least one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns(Vec<String>);

impl Patterns {
    /// Parses `user.*,platform.scim.membership.*` (comma-separated). A
    /// pattern that matches no event is refused: it is almost surely a typo
    /// that would silently deliver nothing.
    pub fn parse(list: &str) -> std::result::Result<Patterns, String> {
        let mut out = Vec::new();
        for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let p = p
                .strip_prefix(EVENT_PREFIX)
                .unwrap_or(p)
                .to_ascii_lowercase();
            if !EventType::ALL
                .iter()
                .any(|t| pattern_matches(&p, t.as_str()))
            {
                let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                return Err(format!(
                    "event pattern '{p}' matches no event; events are {} (a pattern may end in .* or be *)",
                    known.join(", ")
                ));
            }
            if !out.contains(&p) {
                out.push(p);
            }
        }
        if out.is_empty() {
            return Err("give at least one event pattern, or * for every event".to_string());
        }
        Ok(Patterns(out))
    }

    pub fn all() -> Patterns {
        Patterns(vec!["*".to_string()])
    }

    pub fn matches(&self, kind: EventType) -> bool {
        self.0.iter().any(|p| pattern_matches(p, kind.as_str()))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// `*` matches everything, `a.*` every type under `a.`, anything else only
/// itself. `kind` is the type without the `platform.scim.` prefix.
pub fn pattern_matches(pattern: &str, kind: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(stem) if stem.ends_with('.') => kind.starts_with(stem),
        _ => pattern == kind,
    }
}

/// A hook as listed: never its secret.
#[derive(Debug, Clone, Serialize)]
pub struct Hook {
    pub id: String,
    pub integration: String,
    pub url: String,
    pub events: Vec<String>,
    pub include_pin: bool,
    /// Whether a private CA replaces the system roots for this hook.
    pub custom_ca: bool,
    pub created: String,
    pub enabled: bool,
}

/// What the outbox needs to know of each hook of an integration.
#[derive(Debug, Clone)]
pub struct Target {
    pub id: String,
    pub patterns: Patterns,
    pub include_pin: bool,
}

/// What `add` stores.
pub struct NewHook<'a> {
    pub url: &'a str,
    pub patterns: &'a Patterns,
    pub include_pin: bool,
    pub ca_pem: Option<&'a str>,
}

fn random_id(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        Alphanumeric.sample_string(&mut OsRng, 20).to_lowercase()
    )
}

/// 32 random bytes as standard base64: the part after `whsec_`.
fn new_secret() -> String {
    use base64::Engine;
    let mut key = [0u8; 32];
    OsRng.fill_bytes(&mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

pub fn not_found(integration: &str, hook: &str) -> StoreError {
    StoreError::Scim(ScimError::not_found(format!(
        "no webhook {hook} in integration {integration}; `scimd webhook list {integration}` shows them"
    )))
}

/// Stores a hook; returns it and its secret (`whsec_…`), shown only now.
pub fn add(conn: &Connection, integration: &str, new: &NewHook) -> Result<(Hook, String)> {
    super::integrations::get(conn, integration)?;
    let id = random_id("wh_");
    let secret = new_secret();
    let created = crate::clock::now_string();
    conn.execute(
        "INSERT INTO webhook(id, integration_id, url, secret, events, include_pin, ca_pem, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            integration,
            new.url,
            secret,
            serde_json::to_string(new.patterns.as_slice())?,
            new.include_pin,
            new.ca_pem,
            created
        ],
    )?;
    let hook = Hook {
        id,
        integration: integration.to_string(),
        url: new.url.to_string(),
        events: new.patterns.as_slice().to_vec(),
        include_pin: new.include_pin,
        custom_ca: new.ca_pem.is_some(),
        created,
        enabled: true,
    };
    Ok((hook, format!("{SECRET_PREFIX}{secret}")))
}

fn hook_row(r: &Row) -> rusqlite::Result<(Hook, String)> {
    Ok((
        Hook {
            id: r.get(0)?,
            integration: r.get(1)?,
            url: r.get(2)?,
            events: Vec::new(),
            include_pin: r.get(4)?,
            custom_ca: r.get::<_, Option<String>>(5)?.is_some(),
            created: r.get(6)?,
            enabled: r.get(7)?,
        },
        r.get(3)?,
    ))
}

const HOOK_COLUMNS: &str =
    "id, integration_id, url, events, include_pin, ca_pem, created, enabled FROM webhook";

fn with_events((mut hook, events): (Hook, String)) -> Result<Hook> {
    hook.events = serde_json::from_str(&events)?;
    Ok(hook)
}

pub fn list(conn: &Connection, integration: &str) -> Result<Vec<Hook>> {
    super::integrations::get(conn, integration)?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {HOOK_COLUMNS} WHERE integration_id = ?1 ORDER BY created, id"
    ))?;
    let rows = stmt
        .query_map([integration], hook_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(with_events).collect()
}

/// Removes a hook and its deliveries (pending ones are dropped).
pub fn remove(conn: &Connection, integration: &str, hook: &str) -> Result<()> {
    let n = conn.execute(
        "DELETE FROM webhook WHERE integration_id = ?1 AND id = ?2",
        params![integration, hook],
    )?;
    if n == 0 {
        return Err(not_found(integration, hook));
    }
    Ok(())
}

/// Where and how to send: one hook's URL, secret and trust roots.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    /// The key bytes as base64 (without `whsec_`).
    pub secret: String,
    pub ca_pem: Option<String>,
}

pub fn endpoint(conn: &Connection, integration: &str, hook: &str) -> Result<Endpoint> {
    conn.query_row(
        "SELECT url, secret, ca_pem FROM webhook WHERE integration_id = ?1 AND id = ?2",
        params![integration, hook],
        |r| {
            Ok(Endpoint {
                url: r.get(0)?,
                secret: r.get(1)?,
                ca_pem: r.get(2)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| not_found(integration, hook))
}

/// The enabled hooks of an integration. Asked by every change through the
/// outbox, so it is one cached statement over an index.
pub fn targets(conn: &Connection, integration: &str) -> Result<Vec<Target>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, events, include_pin FROM webhook WHERE integration_id = ?1 AND enabled = 1",
    )?;
    let rows = stmt
        .query_map([integration], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, events, include_pin)| {
            Ok(Target {
                id,
                patterns: Patterns(serde_json::from_str(&events)?),
                include_pin,
            })
        })
        .collect()
}

/// One delivery row to write.
pub struct NewDelivery<'a> {
    pub webhook_id: &'a str,
    pub event_seq: Option<i64>,
    pub event_type: &'a str,
    pub resource_id: &'a str,
    pub payload: &'a str,
    pub created: &'a str,
}

pub fn insert_delivery(conn: &Connection, d: &NewDelivery) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_delivery(id, webhook_id, event_seq, event_type, resource_id,
            payload, next_attempt, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        random_id("msg_"),
        d.webhook_id,
        d.event_seq,
        d.event_type,
        d.resource_id,
        d.payload,
        d.created
    ])?;
    Ok(())
}

/// A delivery whose time has come, with where to send it.
#[derive(Debug, Clone)]
pub struct Due {
    pub seq: i64,
    /// The `webhook-id` header: the same on every attempt, so a receiver
    /// can drop a repeat.
    pub id: String,
    pub webhook_id: String,
    pub payload: String,
    pub attempts: u32,
    pub created: String,
    pub endpoint: Endpoint,
}

/// Up to `limit` pending deliveries due at `now`, longest due first, none
/// of which has an earlier pending delivery of the same (hook, resource): a
/// later change of a resource never overtakes an earlier one.
pub fn due(conn: &Connection, now: &str, limit: usize) -> Result<Vec<Due>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.seq, d.id, d.webhook_id, d.payload, d.attempts, d.created, w.url, w.secret, w.ca_pem
         FROM webhook_delivery d JOIN webhook w ON w.id = d.webhook_id
         WHERE d.state = 'pending' AND d.next_attempt <= ?1 AND w.enabled = 1
           AND NOT EXISTS (
             SELECT 1 FROM webhook_delivery e
             WHERE e.state = 'pending' AND e.webhook_id = d.webhook_id
               AND e.resource_id = d.resource_id AND e.seq < d.seq)
         ORDER BY d.next_attempt, d.seq LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| {
            Ok(Due {
                seq: r.get(0)?,
                id: r.get(1)?,
                webhook_id: r.get(2)?,
                payload: r.get(3)?,
                attempts: r.get(4)?,
                created: r.get(5)?,
                endpoint: Endpoint {
                    url: r.get(6)?,
                    secret: r.get(7)?,
                    ca_pem: r.get(8)?,
                },
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Delivered,
    /// Try again at this time (`clock::format`).
    RetryAt(String),
    /// Given up: past the retry window.
    Failed,
}

#[derive(Debug, Clone)]
pub struct Attempt {
    pub seq: i64,
    /// The receiver's HTTP status, when it answered at all.
    pub status: Option<u16>,
    /// Why it did not count as delivered (transport error or status).
    pub error: Option<String>,
    pub verdict: Verdict,
}

/// Records one attempt. A row that is no longer pending (its hook was
/// removed meanwhile, or a concurrent sender finished it) is left alone.
pub fn finish(conn: &Connection, a: &Attempt) -> Result<()> {
    let (state, next) = match &a.verdict {
        Verdict::Delivered => ("delivered", None),
        Verdict::RetryAt(at) => ("pending", Some(at.as_str())),
        Verdict::Failed => ("failed", None),
    };
    conn.prepare_cached(
        "UPDATE webhook_delivery
         SET attempts = attempts + 1, last_status = ?2, last_error = ?3, state = ?4,
             next_attempt = coalesce(?5, next_attempt)
         WHERE seq = ?1 AND state = 'pending'",
    )?
    .execute(params![a.seq, a.status, a.error, state, next])?;
    Ok(())
}

/// A delivery as `webhook deliveries` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryInfo {
    pub id: String,
    pub webhook: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub resource_id: String,
    pub state: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub next_attempt: Option<String>,
    pub created: String,
}

/// The newest `limit` deliveries of the integration's hooks (only failed
/// ones with `failed_only`), newest first.
pub fn deliveries(
    conn: &Connection,
    integration: &str,
    failed_only: bool,
    limit: i64,
) -> Result<Vec<DeliveryInfo>> {
    super::integrations::get(conn, integration)?;
    let mut stmt = conn.prepare(
        "SELECT d.id, d.webhook_id, d.event_type, d.resource_id, d.state, d.attempts,
                d.last_status, d.last_error, d.next_attempt, d.created
         FROM webhook w JOIN webhook_delivery d ON d.webhook_id = w.id
         WHERE w.integration_id = ?1 AND (?2 = 0 OR d.state = 'failed')
         ORDER BY d.seq DESC LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![integration, failed_only, limit], |r| {
            let state: String = r.get(4)?;
            let next: String = r.get(8)?;
            Ok(DeliveryInfo {
                id: r.get(0)?,
                webhook: r.get(1)?,
                event_type: format!("{EVENT_PREFIX}{}", r.get::<_, String>(2)?),
                resource_id: r.get(3)?,
                next_attempt: (state == "pending").then_some(next),
                state,
                attempts: r.get(5)?,
                last_status: r.get(6)?,
                last_error: r.get(7)?,
                created: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The newest seq among the oldest `PRUNE_BATCH` deliveries that were
/// made before `cutoff`: what one [`prune`] may remove. Reads a bounded
/// number of rows, so it can run often on a large table.
pub fn prune_bound(conn: &Connection, cutoff: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT max(seq) FROM (SELECT seq, created FROM webhook_delivery ORDER BY seq LIMIT ?2)
             WHERE created < ?1",
        )?
        .query_row(params![cutoff, PRUNE_BATCH], |r| r.get(0))?)
}

/// Deliveries removed by one [`prune`] at most.
pub const PRUNE_BATCH: i64 = 1000;

/// Removes finished (delivered or failed) deliveries up to `upto`: a rowid
/// range of at most [`PRUNE_BATCH`] rows, so the writer is held briefly.
pub fn prune(conn: &Connection, upto: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM webhook_delivery WHERE seq <= ?1 AND state <> 'pending'")?
        .execute([upto])?)
}

/// Pending deliveries over every hook: the `/metrics` backlog.
pub fn backlog(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM webhook_delivery WHERE state = 'pending'")?
        .query_row([], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_removes_old_finished_deliveries_and_keeps_pending_ones() {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        crate::store::integrations::create(&c, "int_a", "a").unwrap();
        let patterns = Patterns::all();
        let new = NewHook {
            url: "http://127.0.0.1:9/",
            patterns: &patterns,
            include_pin: false,
            ca_pem: None,
        };
        let hook = add(&c, "int_a", &new).unwrap().0.id;
        for (i, created) in [
            "2020-01-01T00:00:00.000Z",
            "2020-01-02T00:00:00.000Z",
            "2030-01-01T00:00:00.000Z",
        ]
        .iter()
        .enumerate()
        {
            let d = NewDelivery {
                webhook_id: &hook,
                event_seq: None,
                event_type: "user.created",
                resource_id: &format!("u{i}"),
                payload: "{}",
                created,
            };
            insert_delivery(&c, &d).unwrap();
        }
        let delivered = Attempt {
            seq: 1,
            status: Some(200),
            error: None,
            verdict: Verdict::Delivered,
        };
        finish(&c, &delivered).unwrap();
        let upto = prune_bound(&c, "2025-01-01T00:00:00.000Z").unwrap();
        assert_eq!(upto, Some(2));
        assert_eq!(prune(&c, 2).unwrap(), 1, "the old pending row stays");
        let left: Vec<i64> = c
            .prepare("SELECT seq FROM webhook_delivery ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(left, vec![2, 3]);
    }

    #[test]
    fn a_star_pattern_matches_every_event() {
        for t in EventType::ALL {
            assert!(Patterns::all().matches(t));
        }
    }

    #[test]
    fn a_dotted_star_matches_the_types_under_its_stem_only() {
        assert!(pattern_matches("user.*", "user.created"));
        assert!(pattern_matches("user.*", "user.deleted"));
        assert!(!pattern_matches("user.*", "group.created"));
        assert!(!pattern_matches("user.*", "users.created"));
    }

    #[test]
    fn an_exact_pattern_matches_only_itself() {
        assert!(pattern_matches("token.created", "token.created"));
        assert!(!pattern_matches("token.created", "token.revoked"));
        assert!(!pattern_matches("token", "token.created"));
    }

    #[test]
    fn patterns_accept_the_platform_prefix_and_drop_duplicates() {
        let p = Patterns::parse("platform.scim.membership.*, membership.*,Token.Created").unwrap();
        assert_eq!(p.as_slice(), ["membership.*", "token.created"]);
        assert!(p.matches(EventType::MembershipRemoved));
        assert!(p.matches(EventType::TokenCreated));
        assert!(!p.matches(EventType::UserCreated));
    }

    #[test]
    fn a_pattern_matching_no_event_is_refused_by_name() {
        let e = Patterns::parse("user.*,usr.created").unwrap_err();
        assert!(e.contains("usr.created"), "{e}");
        assert!(Patterns::parse(" , ").is_err());
        assert!(Patterns::parse("user*").is_err());
    }
}
