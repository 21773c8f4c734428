//! The change feed: one `changes` row per change a local application must
//! learn of, written inside the transaction that made the change, plus the
//! webhook outbox rows for the same event (`outbox::enqueue`). Every event
//! scimd emits, whether it goes to the feed, to webhooks or to both, passes
//! through [`record`], so ordering and atomicity live in one place.
//!
//! The local-state events (`entitlement.*`, `roles.changed`, `pin.set`) and
//! `membership.*` come from deep in the store (`entitlement::recompute_user`,
//! the membership writes), in the middle of the operation that caused them.
//! So that the cause's own event (`user.deactivated`, `group.updated`) comes
//! first in the feed, the domain layer runs each operation inside
//! [`deferring`], which holds those effects back (per thread: the writer
//! thread, or the CLI's) and hands them over to be written after it; outside
//! it (the CLI's chunked recomputes) they are written at once. The user's
//! resulting state travels with them, so the cause's event costs no extra
//! read either.

use super::Result;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::RefCell;

/// What happened. The feed's `type` column and the webhook event name
/// (`platform.scim.` + the same string) come from [`EventType::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeactivated,
    UserReactivated,
    UserDeleted,
    GroupCreated,
    GroupUpdated,
    GroupDeleted,
    MembershipAdded,
    MembershipRemoved,
    EntitlementGranted,
    EntitlementRevoked,
    RolesChanged,
    PinSet,
    TokenCreated,
    TokenRevoked,
    BreakerTripped,
}

impl EventType {
    pub const ALL: [EventType; 17] = [
        EventType::UserCreated,
        EventType::UserUpdated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserDeleted,
        EventType::GroupCreated,
        EventType::GroupUpdated,
        EventType::GroupDeleted,
        EventType::MembershipAdded,
        EventType::MembershipRemoved,
        EventType::EntitlementGranted,
        EventType::EntitlementRevoked,
        EventType::RolesChanged,
        EventType::PinSet,
        EventType::TokenCreated,
        EventType::TokenRevoked,
        EventType::BreakerTripped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserUpdated => "user.updated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserDeleted => "user.deleted",
            EventType::GroupCreated => "group.created",
            EventType::GroupUpdated => "group.updated",
            EventType::GroupDeleted => "group.deleted",
            EventType::MembershipAdded => "membership.added",
            EventType::MembershipRemoved => "membership.removed",
            EventType::EntitlementGranted => "entitlement.granted",
            EventType::EntitlementRevoked => "entitlement.revoked",
            EventType::RolesChanged => "roles.changed",
            EventType::PinSet => "pin.set",
            EventType::TokenCreated => "token.created",
            EventType::TokenRevoked => "token.revoked",
            EventType::BreakerTripped => "breaker.tripped",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the change feed carries this type. Token and breaker events
    /// are for webhooks only: the feed describes resources and local state.
    pub fn in_feed(self) -> bool {
        !matches!(
            self,
            EventType::TokenCreated | EventType::TokenRevoked | EventType::BreakerTripped
        )
    }
}

/// One event, as [`record`] stores it and the outbox delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub integration: String,
    pub kind: EventType,
    pub resource_id: String,
    /// The event's JSON payload. For user events it holds the user's
    /// resulting local state, including `pin`; the outbox strips the PIN for
    /// hooks without `--include-pin`.
    pub data: Value,
    /// The feed's seq, once [`record`] has written the row (None for events
    /// that are not in the feed).
    pub seq: Option<i64>,
    /// When it happened, as `clock::format` writes it.
    pub time: String,
}

/// Writes the event's feed row (if its type is in the feed) and its webhook
/// deliveries, inside the caller's transaction. Returns the feed seq.
pub fn record(
    conn: &Connection,
    integration: &str,
    kind: EventType,
    resource_id: &str,
    data: Value,
) -> Result<Option<i64>> {
    let mut event = Event {
        integration: integration.to_string(),
        kind,
        resource_id: resource_id.to_string(),
        data,
        seq: None,
        time: crate::clock::format(crate::clock::now()),
    };
    if kind.in_feed() {
        conn.prepare_cached(
            "INSERT INTO changes(integration_id, time, type, resource_id, data)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            event.integration,
            event.time,
            kind.as_str(),
            event.resource_id,
            serde_json::to_string(&event.data)?
        ])?;
        event.seq = Some(conn.last_insert_rowid());
    }
    super::outbox::enqueue(conn, &event)?;
    Ok(event.seq)
}

/// A user as every user event's `data` shows it: who, and the resulting
/// local state (entitled, held by the breaker, roles, PIN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserState {
    pub id: String,
    #[serde(rename = "userName")]
    pub user_name: String,
    #[serde(rename = "externalId")]
    pub external_id: Option<String>,
    #[serde(rename = "displayName")]
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub active: bool,
    pub entitled: bool,
    pub held: bool,
    pub roles: Vec<String>,
    pub pin: Option<String>,
}

impl UserState {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The local part, to compare before and after.
    pub fn local(&self) -> Local {
        Local {
            entitled: self.entitled,
            held: self.held,
            roles: self.roles.clone(),
            pin: self.pin.clone(),
        }
    }
}

/// The local state of a user that local applications act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Local {
    pub entitled: bool,
    pub held: bool,
    pub roles: Vec<String>,
    pub pin: Option<String>,
}

/// One user's local state before and after a recomputation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recomputed {
    pub before: Local,
    pub after: UserState,
}

impl Recomputed {
    pub fn changed(&self) -> bool {
        self.before != self.after.local()
    }
}

/// An effect held back by [`deferring`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Local(Recomputed),
    Member {
        added: bool,
        group_id: String,
        member_id: String,
        kind: &'static str,
    },
}

/// What [`deferring`] collected: the effects that change something, in the
/// order they happened, and the last user state recomputed (the operation's
/// own user, for a user operation), changed or not.
#[derive(Debug, Default)]
pub struct Deferred {
    pub effects: Vec<Effect>,
    pub last_user: Option<UserState>,
}

thread_local! {
    /// A stack, so an operation inside another still collects its own.
    static DEFERRED: RefCell<Vec<Deferred>> = const { RefCell::new(Vec::new()) };
}

/// Pops the frame [`deferring`] pushed, even when the operation panics (the
/// writer contains panics to one job).
struct Frame;

impl Drop for Frame {
    fn drop(&mut self) {
        DEFERRED.with(|d| d.borrow_mut().pop());
    }
}

/// Runs `f`, holding back the effects it causes; the caller writes its own
/// event, then [`write_deferred`].
pub fn deferring<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Deferred)> {
    DEFERRED.with(|d| d.borrow_mut().push(Deferred::default()));
    let frame = Frame;
    let out = f();
    let collected = DEFERRED.with(|d| d.borrow_mut().last_mut().map(std::mem::take));
    drop(frame);
    Ok((out?, collected.unwrap_or_default()))
}

/// Holds `effect` back when an operation is [`deferring`]; else None.
fn defer(effect: Effect, user: Option<&UserState>) -> Option<Effect> {
    DEFERRED.with(|d| match d.borrow_mut().last_mut() {
        Some(frame) => {
            if let Some(u) = user {
                frame.last_user = Some(u.clone());
            }
            frame.effects.push(effect);
            None
        }
        None => Some(effect),
    })
}

/// A user's local state was recomputed: its events now, or later.
pub fn recomputed(conn: &Connection, integration: &str, r: Recomputed) -> Result<()> {
    if !r.changed() {
        // Nothing to write, but a deferring operation wants the state.
        DEFERRED.with(|d| {
            if let Some(frame) = d.borrow_mut().last_mut() {
                frame.last_user = Some(r.after.clone());
            }
        });
        return Ok(());
    }
    let after = r.after.clone();
    match defer(Effect::Local(r), Some(&after)) {
        Some(effect) => write_effect(conn, integration, &effect),
        None => Ok(()),
    }
}

/// A member was added to or removed from a group: its event now, or later.
pub fn membership(
    conn: &Connection,
    integration: &str,
    group_id: &str,
    added: bool,
    member_id: &str,
    kind: &'static str,
) -> Result<()> {
    let effect = Effect::Member {
        added,
        group_id: group_id.to_string(),
        member_id: member_id.to_string(),
        kind,
    };
    match defer(effect, None) {
        Some(effect) => write_effect(conn, integration, &effect),
        None => Ok(()),
    }
}

/// Writes what [`deferring`] held back, in order.
pub fn write_deferred(conn: &Connection, integration: &str, deferred: &Deferred) -> Result<()> {
    for effect in &deferred.effects {
        write_effect(conn, integration, effect)?;
    }
    Ok(())
}

fn write_effect(conn: &Connection, integration: &str, effect: &Effect) -> Result<()> {
    match effect {
        Effect::Member {
            added,
            group_id,
            member_id,
            kind,
        } => {
            let t = if *added {
                EventType::MembershipAdded
            } else {
                EventType::MembershipRemoved
            };
            let data = json!({"id": group_id, "member": member_id, "memberType": kind});
            record(conn, integration, t, group_id, data).map(|_| ())
        }
        Effect::Local(r) => {
            for t in local_events(&r.before, &r.after.local()) {
                record(conn, integration, t, &r.after.id, r.after.to_json())?;
            }
            Ok(())
        }
    }
}

/// The events a change of local state owes, in the order written. A
/// revocation held by the breaker is no revocation (the user stays
/// entitled); its release is.
pub fn local_events(before: &Local, after: &Local) -> Vec<EventType> {
    let mut out = Vec::new();
    if before.entitled != after.entitled {
        out.push(if after.entitled {
            EventType::EntitlementGranted
        } else {
            EventType::EntitlementRevoked
        });
    }
    if before.roles != after.roles {
        out.push(EventType::RolesChanged);
    }
    if after.pin.is_some() && before.pin != after.pin {
        out.push(EventType::PinSet);
    }
    out
}

/// One feed row as `scimd feed` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub seq: i64,
    pub time: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub data: Value,
}

/// The integration's feed rows after `after`, in seq order, at most `limit`.
pub fn read(conn: &Connection, integration: &str, after: i64, limit: i64) -> Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, time, type, resource_id, data FROM changes
         WHERE integration_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![integration, after, limit], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, time, kind, id, data) = row?;
        out.push(Row {
            seq,
            time,
            kind,
            id,
            data: serde_json::from_str(&data)?,
        });
    }
    Ok(out)
}

/// The integration's last seq (0 when its feed is empty).
pub fn last_seq(conn: &Connection, integration: &str) -> Result<i64> {
    Ok(conn
        .query_row(
            "SELECT max(seq) FROM changes WHERE integration_id = ?1",
            [integration],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()?
        .flatten()
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_parses_back_from_its_name() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("user.exploded"), None);
    }

    #[test]
    fn token_and_breaker_events_stay_out_of_the_feed() {
        assert!(EventType::UserCreated.in_feed());
        assert!(EventType::PinSet.in_feed());
        assert!(!EventType::TokenCreated.in_feed());
        assert!(!EventType::BreakerTripped.in_feed());
    }

    #[test]
    fn recorded_feed_events_get_increasing_seqs() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&conn).unwrap();
        let a = record(&conn, "i1", EventType::UserCreated, "u1", Value::Null).unwrap();
        let b = record(&conn, "i1", EventType::UserUpdated, "u1", Value::Null).unwrap();
        let t = record(&conn, "i1", EventType::TokenCreated, "i1", Value::Null).unwrap();
        assert!(a.unwrap() < b.unwrap());
        assert_eq!(t, None);
    }
}
