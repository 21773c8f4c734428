//! Groups: the typed operations (create, replace, patch, delete, member
//! changes). Members travel in the JSON but live in the membership table: a
//! body's `members` become membership rows, PATCH member operations become
//! single-row inserts and deletes, and members are read only when the
//! response will show them.

use super::change::{Change, Outcome, Subject};
use super::events;
use super::resources::{log_quirks, normalize, Resource};
use super::Kind;
use crate::scim::patch::{self, MemberOp};
use crate::scim::schema::GROUP_TYPE;
use crate::store::audit::Actor;
use crate::store::feed;
use crate::store::groups::{self, StoredGroup};
use crate::store::{Result, StoreError};
use rusqlite::Connection;
use serde_json::Value;

fn current(c: &Connection, integration: &str, id: &str) -> Result<StoredGroup> {
    groups::get(c, integration, id, false)?.ok_or_else(|| groups::not_found(id))
}

/// The outcome, with its feed events written.
fn outcome(
    c: &Connection,
    integration: &str,
    old: Option<Value>,
    (group, deferred): (StoredGroup, feed::Deferred),
    members: Vec<MemberOp>,
) -> Result<Outcome<StoredGroup>> {
    let mut change = Change::new(
        integration,
        Subject::Group,
        &group.id,
        old,
        Some(group.resource.clone()),
    );
    change.members = members;
    events::group_written(c, &change, &deferred)?;
    Ok(Outcome {
        value: group,
        change,
    })
}

pub fn create(
    c: &Connection,
    integration: &str,
    body: &Value,
    actor: &Actor,
) -> Result<Outcome<StoredGroup>> {
    let mut resource = normalize(&GROUP_TYPE, body, integration, actor)?;
    let members = groups::take_members(&mut resource);
    let id = crate::secret::new_resource_id();
    let group =
        feed::deferring(|| groups::insert(c, integration, &id, &resource, &members, actor))?;
    let ops = if members.is_empty() {
        Vec::new()
    } else {
        vec![MemberOp::Add(members)]
    };
    outcome(c, integration, None, group, ops)
}

pub fn replace(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Outcome<StoredGroup>> {
    let mut resource = normalize(&GROUP_TYPE, body, integration, actor)?;
    let members = groups::take_members(&mut resource);
    let old = current(c, integration, id)?;
    let ops = vec![MemberOp::ReplaceAll(members)];
    let group =
        feed::deferring(|| groups::update(c, integration, id, &resource, &ops, if_match, actor))?;
    outcome(c, integration, Some(old.resource), group, ops)
}

/// A PATCH: attribute changes edit the JSON, member operations the table.
pub fn patch(
    c: &Connection,
    integration: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Outcome<StoredGroup>> {
    let old = current(c, integration, id)?;
    let patched = patch::apply(&GROUP_TYPE, &old.resource, body)?;
    log_quirks(&patched, integration, actor);
    let group = feed::deferring(|| {
        groups::update(
            c,
            integration,
            id,
            &patched.resource,
            &patched.member_ops,
            if_match,
            actor,
        )
    })?;
    outcome(
        c,
        integration,
        Some(old.resource),
        group,
        patched.member_ops,
    )
}

pub fn delete(
    c: &Connection,
    integration: &str,
    id: &str,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<Change> {
    let old = current(c, integration, id)?;
    let ((), deferred) = feed::deferring(|| groups::delete(c, integration, id, if_match, actor))?;
    let change = Change::new(integration, Subject::Group, id, Some(old.resource), None);
    events::group_written(c, &change, &deferred)?;
    Ok(change)
}

/// Re-reads a group after a change when the response shows members.
fn reread(
    c: &Connection,
    integration: &str,
    group: StoredGroup,
    want: bool,
) -> Result<StoredGroup> {
    if !want {
        return Ok(group);
    }
    Ok(groups::get(c, integration, &group.id, true)?.unwrap_or(group))
}

fn with_members(
    c: &Connection,
    integration: &str,
    done: Outcome<StoredGroup>,
    want: bool,
) -> Result<Outcome<StoredGroup>> {
    done.try_map(|group| reread(c, integration, group, want))
}

impl Resource for StoredGroup {
    const KIND: Kind = Kind::Groups;

    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> i64 {
        self.version
    }
    fn not_found(id: &str) -> StoreError {
        groups::not_found(id)
    }
    fn load(c: &Connection, integration: &str, id: &str, computed: bool) -> Result<Option<Self>> {
        groups::get(c, integration, id, computed)
    }
    fn create(
        c: &Connection,
        integration: &str,
        body: &Value,
        actor: &Actor,
        computed: bool,
    ) -> Result<Outcome<Self>> {
        let done = create(c, integration, body, actor)?;
        with_members(c, integration, done, computed)
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
        let done = replace(c, integration, id, body, if_match, actor)?;
        with_members(c, integration, done, computed)
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
        let done = patch(c, integration, id, body, if_match, actor)?;
        with_members(c, integration, done, computed)
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
    use crate::scim::schema::GROUP_URN;
    use serde_json::json;

    #[test]
    fn a_member_patch_records_its_member_operations_beside_the_states() {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        crate::store::integrations::create(&c, "int_a", "a").unwrap();
        let actor = Actor::scim("r1");
        let body = json!({"schemas": [GROUP_URN], "displayName": "staff"});
        let group = create(&c, "int_a", &body, &actor).unwrap().value;
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": "members[value eq \"u1\"]"}]
        });
        let done = patch(&c, "int_a", &group.id, &body, None, &actor).unwrap();
        assert_eq!(done.change.subject, Subject::Group);
        assert_eq!(done.change.old, done.change.new);
        assert_eq!(
            done.change.members,
            vec![MemberOp::Remove(vec!["u1".into()])]
        );
    }

    #[test]
    fn a_member_patch_that_fails_halfway_leaves_no_feed_row() {
        let c = Connection::open_in_memory().unwrap();
        crate::store::migrate::apply(&c).unwrap();
        crate::store::integrations::create(&c, "int_a", "a").unwrap();
        let actor = Actor::scim("r1");
        let body = json!({"schemas": [crate::scim::schema::USER_URN], "userName": "alice"});
        let alice = super::super::users::create(&c, "int_a", &body, &actor)
            .unwrap()
            .value;
        let body = json!({"schemas": [GROUP_URN], "displayName": "staff"});
        let group = create(&c, "int_a", &body, &actor).unwrap().value;
        let rows = |c: &Connection| crate::store::feed::read(c, "int_a", 0, 100).unwrap().len();
        let before = rows(&c);
        let last = crate::store::feed::last_seq(&c, "int_a").unwrap();
        // Alice is added (a membership row, held back), then the unknown
        // member fails the operation: its savepoint and its rows go.
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members",
                            "value": [{"value": alice.id}, {"value": "nope"}]}]
        });
        let failed = crate::store::writer::nested(&c, |c| {
            patch(c, "int_a", &group.id, &body, None, &actor).map(|_| ())
        });
        assert!(failed.is_err());
        assert_eq!(rows(&c), before);
        // The next operation writes only its own rows.
        let body = json!({"schemas": [GROUP_URN], "displayName": "other"});
        create(&c, "int_a", &body, &actor).unwrap();
        let kinds: Vec<String> = crate::store::feed::read(&c, "int_a", last, 100)
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(kinds, ["group.created"]);
    }
}
