//! The change feed: one `changes` row per change a local application must
//! learn of, written inside the transaction that made the change, plus the
//! webhook outbox rows for the same event (`outbox::enqueue`). Every event
//! scimd emits, whether it goes to the feed, to webhooks or to both, passes
//! through [`record`], so ordering and atomicity live in one place.

use super::Result;
use rusqlite::{params, Connection};
use serde_json::Value;

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
