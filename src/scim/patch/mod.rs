//! The PATCH engine (RFC 7644 §3.5.2): applies a PatchOp request body to a
//! stored resource and returns the new resource, the group-membership changes
//! for the store to make, and the IdP dialects it had to accept on the way.
//! Pure: JSON in, JSON out; no I/O, no clock. All operations apply to a private
//! copy, so an error anywhere means nothing at all was applied (atomicity), and
//! the result is passed through `resource::normalize` again, so the type rules
//! of POST and PUT hold for PATCH too, with one implementation of them.
//!
//! Decisions where the RFC leaves room or the IdPs disagree with it:
//! * Removing (or clearing with `null`/`""`) a required attribute (`userName`,
//!   Group `displayName`) is 400 `mutability`: the attribute may be changed but
//!   not unassigned, which is a question of what may be done to it, not of a
//!   malformed value.
//! * A path naming a readOnly attribute is 400 `mutability`; readOnly keys in
//!   a path-less value (`id` in Okta's group rename, `meta`, `groups`) are
//!   ignored, as RFC 7644 §3.5.1 has PUT ignore them.
//! * An operation whose path names an unknown attribute or sub-attribute
//!   (an admin's custom `urn:…:CustomExtensionName:2.0:User:badgeId`) is
//!   skipped and the rest applied, as POST drops unknown attributes; so is an
//!   unknown key of a path-less value or of an extension object. A path that
//!   does not parse stays 400 `invalidPath`, and so does an unknown name
//!   inside a value filter (`emails[tpye eq "work"]`), which is a typo in a
//!   known attribute's selector rather than data scimd does not keep.
//! * `add` and `replace` on a singular complex attribute (`name`, `manager`)
//!   merge sub-attributes (RFC 7644 §3.5.2.3: sub-attributes not given are left
//!   unchanged); when that changes `value`, a `$ref` not re-sent is dropped
//!   because it pointed at the old value.
//! * `remove` with a filter that matches nothing succeeds and changes nothing:
//!   IdPs retry removals, and a repeat must not fail. `add` and `replace` with
//!   a filter that matches nothing create the element the filter describes
//!   when it is `eq` comparisons joined by `and` (Entra replaces
//!   `emails[type eq "work"].value` on users who have no work email), and are
//!   400 `noTarget` otherwise; a clearing value (`null`, `""`) then changes
//!   nothing.
//! * String literals `"True"`/`"False"` in a path filter on a boolean
//!   sub-attribute (Entra's `roles[primary eq "True"]`) are booleans.
//! * `"Operations": []` changes nothing and succeeds.
//! * A sub-attribute path on a multi-valued attribute without a filter
//!   (`emails.value`) addresses every element; with no elements, add/replace
//!   create one.
//! * `add` on a multi-valued attribute merges an element equal to an existing
//!   one (same `value`, honouring caseExact; deep equality when the attribute
//!   has no `value`) into it instead of appending a duplicate.

use crate::scim::attrpath::AttrPath;
use crate::scim::error::ScimError;
use crate::scim::filter::{matches_element, CompareOp, Filter, Literal};
use crate::scim::path::parse_patch_path_with_dialects;
use crate::scim::resource::{check_immutable, normalize};
use crate::scim::schema::{
    extension_by_urn, extension_for_path, resolve, AttrDef, AttrType, Mutability, ResourceType,
    SchemaDef, GROUP_URN, PATCH_OP_URN,
};
use serde_json::{Map, Value};

mod dialects;
mod engine;
mod members;
#[cfg(test)]
mod tests;

/// Most operations accepted in one PATCH request (DESIGN principle 7).
pub const MAX_OPERATIONS: usize = 1000;

/// Most values one multi-valued attribute (other than `members`, which lives
/// in a table) may hold or be patched with. Matching new values against old
/// ones is pairwise, and the PATCH runs inside the single writer; without a
/// bound one request of 40 000 emails held every integration's writes for
/// half a minute.
pub const MAX_MULTI_VALUES: usize = 1000;

fn too_many_values(label: &str) -> ScimError {
    ScimError::invalid_value(format!(
        "'{label}' may hold at most {MAX_MULTI_VALUES} values"
    ))
}

/// One requested change to a group's membership; memberships live in a table,
/// not in the JSON, so the engine hands these to the store instead of editing
/// a `members` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    /// Add these (dedupe is the store's job).
    Add(Vec<MemberRef>),
    /// Remove members with these ids (`value`).
    Remove(Vec<String>),
    /// `members[<filter other than value eq>]`: the store evaluates it per
    /// member with `filter::matches_element`.
    RemoveMatching(Filter),
    /// `remove` of path `members`.
    RemoveAll,
    /// `replace` of path `members`, or a path-less replace with a `members` key.
    ReplaceAll(Vec<MemberRef>),
}

/// A member as a PATCH names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub value: String,
    /// `"User"` or `"Group"` from `type`, canonical spelling.
    pub kind: Option<String>,
}

/// The outcome of a successful PATCH.
#[derive(Debug, Clone, PartialEq)]
pub struct Patched {
    /// The new stored form (normalize's output).
    pub resource: Value,
    /// Membership changes, in request order.
    pub member_ops: Vec<MemberOp>,
    /// Short names of the IdP dialects seen, each once, for debug logging.
    pub quirks: Vec<&'static str>,
}

/// Apply a PatchOp request body to a stored resource (normalize's format).
/// For a Group, operations on `members` become [`MemberOp`]s and never touch
/// `resource["members"]`. Atomic: on any error nothing is returned but the
/// error.
pub fn apply(rt: &ResourceType, stored: &Value, body: &Value) -> Result<Patched, ScimError> {
    let Value::Object(body) = body else {
        return Err(ScimError::invalid_syntax(
            "a PATCH body must be a JSON object with 'Operations'",
        ));
    };
    let Value::Object(doc) = stored else {
        return Err(ScimError::internal("stored resource is not a JSON object"));
    };
    let mut engine = Engine {
        rt,
        doc: doc.clone(),
        member_ops: Vec::new(),
        quirks: Vec::new(),
    };
    engine.check_schemas(body);
    let ops = engine.operations(body)?;
    for (i, op) in ops.iter().enumerate() {
        engine.operation(op).map_err(|e| ScimError {
            detail: format!("operation {}: {}", i + 1, e.detail),
            ..e
        })?;
    }
    let resource = normalize(rt, &Value::Object(engine.doc))?;
    check_immutable(rt, stored, &resource)?;
    Ok(Patched {
        resource,
        member_ops: engine.member_ops,
        quirks: engine.quirks,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Replace => "replace",
            Op::Remove => "remove",
        }
    }
}

/// What a path names, resolved against the schema.
enum Target {
    /// A whole extension (`urn:…:enterprise:2.0:User`).
    Extension(&'static SchemaDef),
    Attr(AttrTarget),
}

struct AttrTarget {
    /// Extension URN the attribute lives under; `None` at the top level.
    ext: Option<&'static str>,
    attr: &'static AttrDef,
    sub: Option<&'static AttrDef>,
    filter: Option<Filter>,
    /// Canonical spelling for error details.
    label: String,
}

struct Engine<'r> {
    rt: &'r ResourceType,
    doc: Map<String, Value>,
    member_ops: Vec<MemberOp>,
    quirks: Vec<&'static str>,
}

// ------------------------------------------------ shared by the phases

fn path_label(attr: &AttrDef, sub: Option<&AttrDef>) -> String {
    match sub {
        Some(s) => format!("{}.{}", attr.name, s.name),
        None => attr.name.to_string(),
    }
}

/// `null` and `""`: what IdPs send to clear an attribute.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// Client text for an error detail, cut short.
fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn show(v: &Value) -> String {
    shorten(&v.to_string())
}
