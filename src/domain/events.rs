//! The change feed's view of a domain operation: which event a [`Change`]
//! is (`user.deactivated`, `group.updated`, …), written first, then the
//! effects the store held back while the operation ran (memberships,
//! entitlement, roles, PINs; see `store::feed::deferring`), all inside the
//! operation's transaction. A change that changed nothing writes nothing.

use super::change::{Change, Subject};
use crate::store::feed::{self, Deferred, EventType, UserState};
use crate::store::{entitlement, settings, Result};
use rusqlite::Connection;
use serde_json::{json, Value};

fn active(resource: &Value) -> bool {
    resource
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true)
}

/// The event a user or group change is, if any: pure.
pub fn kind_of(change: &Change) -> Option<EventType> {
    let user = change.subject == Subject::User;
    match (&change.old, &change.new) {
        (None, Some(_)) if user => Some(EventType::UserCreated),
        (None, Some(_)) => Some(EventType::GroupCreated),
        (Some(_), None) if user => Some(EventType::UserDeleted),
        (Some(_), None) => Some(EventType::GroupDeleted),
        (Some(old), Some(new)) if old == new => None,
        (Some(old), Some(new)) if user => Some(match (active(old), active(new)) {
            (true, false) => EventType::UserDeactivated,
            (false, true) => EventType::UserReactivated,
            _ => EventType::UserUpdated,
        }),
        (Some(_), Some(_)) => Some(EventType::GroupUpdated),
        (None, None) => None,
    }
}

/// After a user create, replace or patch: the user's event with its
/// resulting state, then the held-back effects.
pub fn user_written(c: &Connection, change: &Change, deferred: &Deferred) -> Result<()> {
    if let Some(kind) = kind_of(change) {
        let state = match &deferred.last_user {
            Some(s) if s.id == change.id => Some(s.clone()),
            // Every write recomputes the user, so this is a fallback.
            _ => {
                let s = settings::get(c, &change.integration)?;
                entitlement::user_state(c, &change.integration, &change.id, &s)?
            }
        };
        if let Some(state) = state {
            feed::record(c, &change.integration, kind, &change.id, state.to_json())?;
        }
    }
    feed::write_deferred(c, &change.integration, deferred)
}

/// After a user delete: `user.deleted` with the resulting state. A
/// deprovisioned user was recomputed (its state is in `deferred`); a user
/// deleted for good was not, so its state is `before` with nothing left, and
/// its revocation is written here.
pub fn user_deleted(
    c: &Connection,
    change: &Change,
    before: Option<UserState>,
    deferred: &Deferred,
) -> Result<()> {
    let integration = &change.integration;
    let recomputed = deferred
        .last_user
        .as_ref()
        .filter(|s| s.id == change.id)
        .cloned();
    match (recomputed, before) {
        (Some(state), _) => {
            feed::record(
                c,
                integration,
                EventType::UserDeleted,
                &change.id,
                state.to_json(),
            )?;
            feed::write_deferred(c, integration, deferred)
        }
        (None, Some(before)) => {
            let gone = UserState {
                active: false,
                entitled: false,
                held: false,
                roles: Vec::new(),
                pin: None,
                ..before.clone()
            };
            feed::record(
                c,
                integration,
                EventType::UserDeleted,
                &change.id,
                gone.to_json(),
            )?;
            feed::write_deferred(c, integration, deferred)?;
            for kind in feed::local_events(&before.local(), &gone.local()) {
                feed::record(c, integration, kind, &change.id, gone.to_json())?;
            }
            Ok(())
        }
        (None, None) => feed::write_deferred(c, integration, deferred),
    }
}

/// After a group create, replace, patch or delete: the group's event (none
/// when only its members changed), then the held-back effects.
pub fn group_written(c: &Connection, change: &Change, deferred: &Deferred) -> Result<()> {
    if let Some(kind) = kind_of(change) {
        let resource = change.new.as_ref().or(change.old.as_ref());
        let field = |name: &str| resource.and_then(|r| r.get(name)).cloned();
        let data = json!({
            "id": change.id,
            "displayName": field("displayName"),
            "externalId": field("externalId"),
        });
        feed::record(c, &change.integration, kind, &change.id, data)?;
    }
    feed::write_deferred(c, &change.integration, deferred)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_change(old: Option<Value>, new: Option<Value>) -> Change {
        Change::new("int_a", Subject::User, "u1", old, new)
    }

    #[test]
    fn active_going_false_is_a_deactivation_and_back_a_reactivation() {
        let on = json!({"userName": "a", "active": true});
        let off = json!({"userName": "a", "active": false});
        assert_eq!(
            kind_of(&user_change(Some(on.clone()), Some(off.clone()))),
            Some(EventType::UserDeactivated)
        );
        assert_eq!(
            kind_of(&user_change(Some(off), Some(on))),
            Some(EventType::UserReactivated)
        );
    }

    #[test]
    fn a_change_that_changes_nothing_is_no_event() {
        let same = json!({"userName": "a"});
        assert_eq!(kind_of(&user_change(Some(same.clone()), Some(same))), None);
    }

    #[test]
    fn a_missing_active_counts_as_active() {
        let implicit = json!({"userName": "a"});
        let renamed = json!({"userName": "b", "active": true});
        assert_eq!(
            kind_of(&user_change(Some(implicit), Some(renamed))),
            Some(EventType::UserUpdated)
        );
    }

    #[test]
    fn groups_are_created_updated_and_deleted() {
        let g = |old, new| Change::new("int_a", Subject::Group, "g1", old, new);
        let a = json!({"displayName": "a"});
        let b = json!({"displayName": "b"});
        assert_eq!(
            kind_of(&g(None, Some(a.clone()))),
            Some(EventType::GroupCreated)
        );
        assert_eq!(
            kind_of(&g(Some(a.clone()), Some(b))),
            Some(EventType::GroupUpdated)
        );
        assert_eq!(kind_of(&g(Some(a), None)), Some(EventType::GroupDeleted));
    }
}
