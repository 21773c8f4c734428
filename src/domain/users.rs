//! Users: the typed operations (create, replace, patch, delete) and the view
//! the server renders, a stored user with its computed `groups` (direct and
//! through nested groups), read only when the response will show them.

use super::change::{Change, Outcome, Subject};
use super::events;
use super::resources::{log_quirks, normalize, Resource};
use super::Kind;
use crate::scim::etag::check_if_match;
use crate::scim::patch;
use crate::scim::resource;
use crate::scim::schema::USER_TYPE;
use crate::store::audit::Actor;
use crate::store::feed::{self, EventType};
use crate::store::settings::{self, DeleteMode};
use crate::store::users::{self, StoredUser};
use crate::store::{breaker, entitlement, groups, Result, StoreError};
use rusqlite::Connection;
use serde_json::Value;

/// A user with its computed `groups` (id, displayName, `direct` or
/// `indirect`), when the response shows them.
pub struct UserView {
    pub user: StoredUser,
    pub groups: Option<Vec<(String, String, &'static str)>>,
}

/// Adds the user's groups when `want`.
pub(super) fn with_groups(
    c: &Connection,
    integration: &str,
    user: StoredUser,
    want: bool,
) -> Result<UserView> {
    let groups = if want {
        Some(groups::groups_of_user(c, integration, &user.id)?)
    } else {
        None
    };
    Ok(UserView { user, groups })
}

fn change(integration: &str, id: &str, old: Option<Value>, new: Option<Value>) -> Change {
    Change::new(integration, Subject::User, id, old, new)
}

fn current(c: &Connection, integration: &str, id: &str) -> Result<StoredUser> {
    users::get(c, integration, id)?.ok_or_else(|| users::not_found(id))
}

pub fn create(
    c: &Connection,
    integration: &str,
    body: &Value,
    actor: &Actor,
) -> Result<Outcome<StoredUser>> {
    let resource = normalize(&USER_TYPE, body, integration, actor)?;
    let id = crate::secret::new_resource_id();
    let (user, deferred) =
        feed::deferring(|| users::insert(c, integration, &id, &resource, actor))?;
    // A revived deprovisioned record keeps its own id.
    let change = change(integration, &user.id, None, Some(user.resource.clone()));
    events::user_written(c, &change, &deferred)?;
    Ok(Outcome {
        change,
        value: user,
    })
}

pub fn replace(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Outcome<StoredUser>> {
    let resource = normalize(&USER_TYPE, body, integration, actor)?;
    let old = current(c, integration, id)?;
    resource::check_immutable(&USER_TYPE, &old.resource, &resource)?;
    let (user, deferred) =
        feed::deferring(|| users::replace(c, integration, id, &resource, if_match, actor))?;
    let change = change(
        integration,
        id,
        Some(old.resource),
        Some(user.resource.clone()),
    );
    events::user_written(c, &change, &deferred)?;
    Ok(Outcome {
        change,
        value: user,
    })
}

pub fn patch(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Outcome<StoredUser>> {
    let old = current(c, integration, id)?;
    check_if_match(if_match, old.version)?;
    let patched = patch::apply(&USER_TYPE, &old.resource, body)?;
    log_quirks(&patched, integration, actor);
    resource::check_immutable(&USER_TYPE, &old.resource, &patched.resource)?;
    let (user, deferred) =
        feed::deferring(|| users::replace(c, integration, id, &patched.resource, None, actor))?;
    let change = change(
        integration,
        id,
        Some(old.resource),
        Some(user.resource.clone()),
    );
    events::user_written(c, &change, &deferred)?;
    Ok(Outcome {
        change,
        value: user,
    })
}

/// Deletes or deprovisions, as the integration's settings say; either way
/// the SCIM view is gone.
pub fn delete(
    c: &Connection,
    integration: &str,
    id: &str,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Change> {
    let old = current(c, integration, id)?;
    // What the delete ends, read before it: direct memberships, and the
    // state of a user deleted for good (a deprovisioned one is recomputed).
    let groups = groups::groups_of_user(c, integration, id)?;
    let s = settings::get(c, integration)?;
    let before = match s.delete_mode {
        DeleteMode::Delete => entitlement::user_state(c, integration, id, &s)?,
        DeleteMode::Deactivate => None,
    };
    let mut mode = s.delete_mode;
    if before.as_ref().is_some_and(|b| b.entitled)
        && breaker::holds(c, integration, &s.breaker, true)?
    {
        // A held revocation needs its record: kept deprovisioned (SCIM sees
        // it gone either way) until `breaker release` removes it.
        mode = DeleteMode::Deactivate;
    }
    let ((), deferred) =
        feed::deferring(|| users::delete_as(c, integration, id, if_match, actor, &s, mode))?;
    let change = change(integration, id, Some(old.resource), None);
    events::user_deleted(c, &change, before, &deferred)?;
    for (group_id, _, how) in groups {
        if how == "direct" {
            let data = serde_json::json!({"id": group_id, "member": id, "memberType": "User"});
            feed::record(
                c,
                integration,
                EventType::MembershipRemoved,
                &group_id,
                data,
            )?;
        }
    }
    Ok(change)
}

impl Resource for UserView {
    const KIND: Kind = Kind::Users;

    fn id(&self) -> &str {
        &self.user.id
    }
    fn version(&self) -> i64 {
        self.user.version
    }
    fn not_found(id: &str) -> StoreError {
        users::not_found(id)
    }
    fn load(c: &Connection, integration: &str, id: &str, computed: bool) -> Result<Option<Self>> {
        users::get(c, integration, id)?
            .map(|u| with_groups(c, integration, u, computed))
            .transpose()
    }
    fn create(
        c: &Connection,
        integration: &str,
        body: &Value,
        actor: &Actor,
        _: bool,
    ) -> Result<Outcome<Self>> {
        // A new user belongs to no group yet.
        create(c, integration, body, actor)?.try_map(|user| Ok(UserView { user, groups: None }))
    }
    fn replace(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>> {
        replace(c, integration, id, body, if_match, actor)?
            .try_map(|user| with_groups(c, integration, user, computed))
    }
    fn patch(
        c: &Connection,
        integration: &str,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>> {
        patch(c, integration, id, body, if_match, actor)?
            .try_map(|user| with_groups(c, integration, user, computed))
    }
    fn delete(
        c: &Connection,
        integration: &str,
        id: &str,
        if_match: Option<&str>,
        actor: &Actor,
    ) -> Result<Change> {
        delete(c, integration, id, if_match, actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::USER_URN;
    use serde_json::json;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        crate::store::integrations::create(&c, "int_a", "a").unwrap();
        c
    }

    fn bjensen(c: &Connection) -> StoredUser {
        let body = json!({"schemas": [USER_URN], "userName": "bjensen"});
        create(c, "int_a", &body, &Actor::scim("r1")).unwrap().value
    }

    #[test]
    fn a_create_records_no_old_state_and_the_stored_new_one() {
        let c = db();
        let body = json!({"schemas": [USER_URN], "userName": "bjensen"});
        let done = create(&c, "int_a", &body, &Actor::scim("r1")).unwrap();
        let change = done.change;
        assert_eq!(
            (change.subject, change.integration.as_str()),
            (Subject::User, "int_a")
        );
        assert_eq!(change.id, done.value.id);
        assert_eq!(change.old, None);
        // The stored form, with the defaulted `active`.
        assert_eq!(change.new.unwrap()["active"], json!(true));
    }

    #[test]
    fn a_patch_records_the_state_before_and_after() {
        let c = db();
        let user = bjensen(&c);
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": false}]
        });
        let done = patch(&c, "int_a", &user.id, &body, None, &Actor::scim("r2")).unwrap();
        assert_eq!(done.change.old.unwrap()["active"], json!(true));
        assert_eq!(done.change.new.unwrap()["active"], json!(false));
        assert_eq!(done.value.version, user.version + 1);
    }

    #[test]
    fn a_delete_records_the_last_state_and_no_new_one() {
        let c = db();
        let user = bjensen(&c);
        let change = delete(&c, "int_a", &user.id, None, &Actor::scim("r3")).unwrap();
        assert_eq!(change.old.unwrap()["userName"], json!("bjensen"));
        assert_eq!(change.new, None);
    }

    fn feed_types(c: &Connection) -> Vec<String> {
        crate::store::feed::read(c, "int_a", 0, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect()
    }

    #[test]
    fn a_delete_for_good_writes_deleted_then_the_revocation() {
        let c = db();
        c.execute("UPDATE integration SET delete_mode = 'delete'", [])
            .unwrap();
        let user = bjensen(&c);
        delete(&c, "int_a", &user.id, None, &Actor::scim("r5")).unwrap();
        assert_eq!(
            feed_types(&c),
            [
                "user.created",
                "entitlement.granted",
                "user.deleted",
                "entitlement.revoked"
            ]
        );
        let rows = crate::store::feed::read(&c, "int_a", 0, 100).unwrap();
        assert_eq!(rows[2].data["entitled"], json!(false));
        assert_eq!(rows[2].data["userName"], json!("bjensen"));
    }

    #[test]
    fn a_pin_reset_writes_pin_set_with_the_new_pin() {
        let c = db();
        c.execute("UPDATE integration SET pin_digits = 6", [])
            .unwrap();
        let user = bjensen(&c);
        let (_, pin) =
            crate::store::entitlement::reset_pin(&c, "int_a", &user.id, &Actor::cli()).unwrap();
        let rows = crate::store::feed::read(&c, "int_a", 0, 100).unwrap();
        let last = rows.last().unwrap();
        assert_eq!(last.kind, "pin.set");
        assert_eq!(last.data["pin"], json!(pin));
    }

    #[test]
    fn a_replace_with_a_stale_if_match_is_a_412() {
        let c = db();
        let user = bjensen(&c);
        let body = json!({"schemas": [USER_URN], "userName": "other"});
        let e = replace(
            &c,
            "int_a",
            &user.id,
            &body,
            Some("W/\"99\""),
            &Actor::scim("r4"),
        )
        .err()
        .unwrap();
        assert!(matches!(e, StoreError::Scim(e) if e.status == 412));
    }
}
