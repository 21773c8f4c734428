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

impl Engine<'_> {
    fn quirk(&mut self, name: &'static str) {
        if !self.quirks.contains(&name) {
            self.quirks.push(name);
        }
    }

    /// `schemas` should be exactly the PatchOp URN; a missing one or extra
    /// ones (Entra adds its custom schemas) are accepted and noted.
    fn check_schemas(&mut self, body: &Map<String, Value>) {
        let schemas = get_ci(body, "schemas").and_then(Value::as_array);
        let has_patch_op = schemas.is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_URN))
            })
        });
        if !has_patch_op {
            self.quirk("missing_patchop_schema");
        }
        if schemas.is_some_and(|s| s.len() > usize::from(has_patch_op)) {
            self.quirk("extra_schema_uris");
        }
    }

    fn operations<'b>(&mut self, body: &'b Map<String, Value>) -> Result<&'b [Value], ScimError> {
        let Some((key, ops)) = body
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        else {
            return Err(ScimError::invalid_syntax(
                "a PATCH body needs an 'Operations' array",
            ));
        };
        if key != "Operations" {
            self.quirk("operations_key_case");
        }
        let Value::Array(ops) = ops else {
            return Err(ScimError::invalid_syntax("'Operations' must be an array"));
        };
        if ops.is_empty() {
            // Microsoft's validator sends it; there is nothing to refuse.
            self.quirk("empty_operations");
        }
        if ops.len() > MAX_OPERATIONS {
            return Err(ScimError::too_many(format!(
                "{} operations in one PATCH; at most {MAX_OPERATIONS} are accepted",
                ops.len()
            )));
        }
        Ok(ops)
    }

    fn operation(&mut self, raw: &Value) -> Result<(), ScimError> {
        let Value::Object(obj) = raw else {
            return Err(ScimError::invalid_syntax("an operation must be an object"));
        };
        let op = match get_ci(obj, "op") {
            Some(Value::String(s)) => {
                let op = match s.to_ascii_lowercase().as_str() {
                    "add" => Op::Add,
                    "replace" => Op::Replace,
                    "remove" => Op::Remove,
                    _ => {
                        return Err(ScimError::invalid_syntax(format!(
                            "unknown op '{}'; expected add, replace or remove",
                            shorten(s)
                        )))
                    }
                };
                if s != op.as_str() {
                    self.quirk("op_case");
                }
                op
            }
            Some(_) => return Err(ScimError::invalid_syntax("'op' must be a string")),
            None => return Err(ScimError::invalid_syntax("operation has no 'op'")),
        };
        let path = match get_ci(obj, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => {
                self.quirk("empty_path");
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(ScimError::invalid_path("'path' must be a string")),
        };
        let value = get_ci(obj, "value");
        if op != Op::Remove && value.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "{} operation has no 'value'",
                op.as_str()
            )));
        }
        let null = Value::Null;
        match (op, path) {
            (Op::Remove, None) => Err(ScimError::no_target("remove operation needs a 'path'")),
            (_, None) => self.no_path(op, value.unwrap_or(&null)),
            (_, Some(p)) => match self.target(p)? {
                Some(target) => self.apply_target(op, target, value),
                None => Ok(()),
            },
        }
    }

    /// Resolves a path string against the schema, refusing readOnly
    /// attributes. `None`: the path names an attribute the schema does not
    /// have, and the operation is to be skipped.
    fn target(&mut self, text: &str) -> Result<Option<Target>, ScimError> {
        let (mut pp, dialects) = parse_patch_path_with_dialects(text)?;
        for d in dialects {
            self.quirk(d);
        }
        if pp.filter.is_none() {
            if let Some(ext) = extension_for_path(self.rt, &pp.attr) {
                return Ok(Some(Target::Extension(ext)));
            }
        }
        let Some(r) = resolve(self.rt, &pp.attr) else {
            self.quirk("unknown_attribute_ignored");
            return Ok(None);
        };
        let sub = match (&pp.sub, r.sub) {
            (Some(name), _) => match r.attr.sub(name) {
                Some(s) => Some(s),
                None => {
                    self.quirk("unknown_attribute_ignored");
                    return Ok(None);
                }
            },
            (None, s) => s,
        };
        let ext = r.extension(self.rt);
        let mut label = match ext {
            Some(urn) => format!("{urn}:{}", r.attr.name),
            None => r.attr.name.to_string(),
        };
        if let Some(f) = &pp.filter {
            if !r.attr.multi_valued {
                return Err(ScimError::invalid_path(format!(
                    "'{label}' is not multi-valued, so it cannot take a value filter"
                )));
            }
            check_filter(r.attr, f, &label)?;
        }
        if let Some(f) = &mut pp.filter {
            if bool_strings_to_bools(r.attr, f) {
                self.quirk("boolean_string_in_filter");
            }
            label.push_str(&format!("[{f}]"));
        }
        if let Some(s) = sub {
            label.push('.');
            label.push_str(s.name);
        }
        let read_only = r.attr.mutability == Mutability::ReadOnly
            || sub.is_some_and(|s| s.mutability == Mutability::ReadOnly);
        if read_only {
            return Err(ScimError::mutability(format!(
                "'{label}' is readOnly and cannot be changed"
            )));
        }
        Ok(Some(Target::Attr(AttrTarget {
            ext,
            attr: r.attr,
            sub,
            filter: pp.filter,
            label,
        })))
    }

    fn apply_target(
        &mut self,
        op: Op,
        target: Target,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        match target {
            Target::Extension(ext) => self.extension(op, ext, value),
            Target::Attr(t) if self.is_members(&t) => self.members(op, &t, value),
            Target::Attr(t) => match op {
                Op::Remove => self.remove(&t, value),
                _ => self.set(op, &t, value.unwrap_or(&Value::Null)),
            },
        }
    }

    fn is_members(&self, t: &AttrTarget) -> bool {
        t.ext.is_none() && self.rt.schema.id == GROUP_URN && t.attr.name == "members"
    }

    /// A path-less add/replace: each key of the value object is a path of its
    /// own: a canonical or any-case name, a dotted sub-attribute (Entra), a
    /// URN-prefixed attribute (Entra) or a whole extension under its URN.
    fn no_path(&mut self, op: Op, value: &Value) -> Result<(), ScimError> {
        let Value::Object(map) = value else {
            return Err(ScimError::invalid_value(format!(
                "{} without a 'path' needs an object value, got {}",
                op.as_str(),
                show(value)
            )));
        };
        for (key, v) in map {
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if let Some(ext) = extension_by_urn(self.rt, key) {
                self.extension(op, ext, Some(v))?;
                continue;
            }
            let path = AttrPath::parse(key).map_err(|e| {
                ScimError::invalid_path(format!("'{}' is not an attribute: {e}", shorten(key)))
            })?;
            if path.sub.is_some() {
                self.quirk("dotted_key");
            }
            if path.urn.is_some() {
                self.quirk("urn_key");
            }
            let Some(r) = resolve(self.rt, &path) else {
                self.quirk("unknown_attribute_ignored");
                continue;
            };
            if !r.attr.client_writable() || !r.sub.is_none_or(|s| s.client_writable()) {
                // PUT ignores readOnly values (RFC 7644 §3.5.1); Okta puts the
                // group's `id` into its rename. Password is accepted unstored.
                if r.attr.mutability == Mutability::ReadOnly
                    || r.sub.is_some_and(|s| s.mutability == Mutability::ReadOnly)
                {
                    self.quirk("read_only_in_value_ignored");
                }
                continue;
            }
            let ext = r.extension(self.rt);
            let label = match ext {
                Some(u) => format!("{u}:{}", path_label(r.attr, r.sub)),
                None => path_label(r.attr, r.sub),
            };
            let t = AttrTarget {
                ext,
                attr: r.attr,
                sub: r.sub,
                filter: None,
                label,
            };
            self.apply_target(op, Target::Attr(t), Some(v))?;
        }
        Ok(())
    }

    /// A whole extension: remove drops it; add/replace treat each key of the
    /// object as an attribute of the extension (the extension is a complex
    /// value, so replace merges like §3.5.2.3 says for complex attributes).
    fn extension(
        &mut self,
        op: Op,
        ext: &'static SchemaDef,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
        let value = match (op, value) {
            (Op::Remove, _) => None,
            (_, Some(v)) if is_blank(v) => {
                self.quirk("empty_value_clears");
                None
            }
            (_, v) => v,
        };
        let Some(value) = value else {
            self.doc.remove(ext.id);
            return Ok(());
        };
        let Value::Object(map) = value else {
            return Err(ScimError::invalid_value(format!(
                "'{}' must be an object, got {}",
                ext.id,
                show(value)
            )));
        };
        for (key, v) in map {
            // Clients that build the value from a full resource model repeat
            // the extension's `schemas` inside it; it carries no attribute.
            if key.eq_ignore_ascii_case("schemas") {
                self.quirk("extension_value_schemas");
                continue;
            }
            let path = AttrPath::parse(key).map_err(|e| {
                ScimError::invalid_path(format!(
                    "'{}:{}' is not an attribute: {e}",
                    ext.id,
                    shorten(key)
                ))
            })?;
            let attr = ext.attr(&path.name).filter(|_| path.urn.is_none());
            let sub = match (attr, &path.sub) {
                (Some(a), Some(s)) => a.sub(s).map(Some),
                (Some(_), None) => Some(None),
                (None, _) => None,
            };
            let (Some(attr), Some(sub)) = (attr, sub) else {
                self.quirk("unknown_attribute_ignored");
                continue;
            };
            if !attr.client_writable() || !sub.is_none_or(|s| s.client_writable()) {
                self.quirk("read_only_in_value_ignored");
                continue;
            }
            let t = AttrTarget {
                ext: Some(ext.id),
                attr,
                sub,
                filter: None,
                label: format!("{}:{}", ext.id, path_label(attr, sub)),
            };
            self.apply_target(op, Target::Attr(t), Some(v))?;
        }
        Ok(())
    }

    // ------------------------------------------------------------ add/replace

    fn set(&mut self, op: Op, t: &AttrTarget, raw: &Value) -> Result<(), ScimError> {
        note_bool_strings(self, t.sub.unwrap_or(t.attr), raw);
        if is_blank(raw) {
            self.quirk("empty_value_clears");
            if t.attr.required && t.sub.is_none() {
                return Err(required_error(&t.label));
            }
            if t.filter.is_some() && self.matching(t).is_empty() {
                // Nothing to clear and nothing to create.
                return Ok(());
            }
            return self.remove(t, None);
        }
        match (&t.filter, t.sub) {
            (None, None) if t.attr.multi_valued => self.set_multi(op, t, raw),
            (None, None) if t.attr.ty == AttrType::Complex => self.set_complex(t, raw),
            (None, None) => {
                match self.coerce(t, raw)? {
                    Some(v) => {
                        scope_mut(&mut self.doc, t.ext).insert(t.attr.name.to_string(), v);
                    }
                    None if t.attr.required => return Err(required_error(&t.label)),
                    None => {}
                }
                Ok(())
            }
            (None, Some(sub)) if !t.attr.multi_valued => {
                let v = self.coerce(t, raw)?;
                let scope = scope_mut(&mut self.doc, t.ext);
                let mut obj = scope
                    .get(t.attr.name)
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                let old_value = obj.get("value").cloned();
                match v {
                    Some(v) => obj.insert(sub.name.to_string(), v),
                    None => obj.remove(sub.name),
                };
                drop_stale_ref(t.attr, &mut obj, old_value.as_ref(), false);
                put_or_remove(scope, t.attr.name, obj);
                Ok(())
            }
            (None, Some(sub)) => {
                // `emails.value` with no filter: every element, or a new one.
                let v = self.coerce(t, raw)?;
                let mut items = self.elements(t);
                if items.is_empty() {
                    let Some(v) = v else { return Ok(()) };
                    let mut one = Map::new();
                    one.insert(sub.name.to_string(), v);
                    items.push(Value::Object(one));
                } else {
                    for item in items.iter_mut() {
                        set_sub(item, sub.name, v.clone());
                    }
                }
                let touched: Vec<usize> = (0..items.len()).collect();
                self.put_elements(t, items, &touched);
                Ok(())
            }
            (Some(filter), sub) => {
                let matched = self.matching(t);
                let mut items = self.elements(t);
                if matched.is_empty() {
                    let Some(mut created) = element_from_filter(t.attr, filter) else {
                        return Err(ScimError::no_target(format!(
                            "'{}' matches no value, and an element can only be created from 'eq' comparisons joined by 'and'",
                            t.label
                        )));
                    };
                    self.quirk(match op {
                        Op::Replace => "replace_creates_filtered_element",
                        _ => "add_creates_filtered_element",
                    });
                    let v = self.coerce_one(t, raw)?;
                    match (sub, v) {
                        (Some(sub), Some(v)) => {
                            created.insert(sub.name.to_string(), v);
                        }
                        (None, Some(Value::Object(o))) => created.extend(o),
                        (_, _) => return Ok(()),
                    }
                    items.push(Value::Object(created));
                    let touched = [items.len() - 1];
                    self.put_elements(t, items, &touched);
                    return Ok(());
                }
                let v = self.coerce_one(t, raw)?;
                for &i in &matched {
                    let Some(item) = items.get_mut(i) else {
                        continue;
                    };
                    match (sub, op, &v) {
                        (Some(sub), _, v) => set_sub(item, sub.name, v.clone()),
                        (None, Op::Add, Some(Value::Object(o))) => {
                            if let Value::Object(existing) = item {
                                existing.extend(o.clone());
                            }
                        }
                        (None, _, Some(new)) => *item = new.clone(),
                        (None, _, None) => *item = Value::Object(Map::new()),
                    }
                }
                self.put_elements(t, items, &matched);
                Ok(())
            }
        }
    }

    /// Whole multi-valued attribute: add merges, replace swaps the array.
    fn set_multi(&mut self, op: Op, t: &AttrTarget, raw: &Value) -> Result<(), ScimError> {
        let new = match self.coerce(t, raw)? {
            Some(Value::Array(new)) => new,
            _ => {
                if op == Op::Replace {
                    scope_mut(&mut self.doc, t.ext).remove(t.attr.name);
                }
                return Ok(());
            }
        };
        if new.len() > MAX_MULTI_VALUES {
            return Err(too_many_values(&t.label));
        }
        if op == Op::Replace {
            scope_mut(&mut self.doc, t.ext).insert(t.attr.name.to_string(), Value::Array(new));
            return Ok(());
        }
        let mut items = self.elements(t);
        if items.len() + new.len() > MAX_MULTI_VALUES {
            return Err(too_many_values(&t.label));
        }
        let mut touched = Vec::new();
        for el in new {
            match items.iter().position(|e| same_element(t.attr, e, &el)) {
                Some(i) => {
                    if let (Some(Value::Object(existing)), Value::Object(el)) =
                        (items.get_mut(i), &el)
                    {
                        existing.extend(el.clone());
                    }
                    touched.push(i);
                }
                None => {
                    items.push(el);
                    touched.push(items.len() - 1);
                }
            }
        }
        self.put_elements(t, items, &touched);
        Ok(())
    }

    /// Singular complex (`name`, `manager`): merge sub-attributes; a blank
    /// sub-attribute value clears that sub-attribute.
    fn set_complex(&mut self, t: &AttrTarget, raw: &Value) -> Result<(), ScimError> {
        let raw = self.value_shorthand(t, raw)?;
        if is_blank(&raw) {
            scope_mut(&mut self.doc, t.ext).remove(t.attr.name);
            return Ok(());
        }
        let coerced = self.coerce(t, &raw)?;
        let scope = scope_mut(&mut self.doc, t.ext);
        let mut obj = scope
            .get(t.attr.name)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let old_value = obj.get("value").cloned();
        if let Value::Object(raw) = &raw {
            for (k, v) in raw {
                if let Some(sub) = t.attr.sub(k).filter(|s| s.client_writable()) {
                    if is_blank(v) {
                        obj.remove(sub.name);
                    }
                }
            }
        }
        let mut ref_given = false;
        if let Some(Value::Object(c)) = coerced {
            ref_given = c.contains_key("$ref");
            obj.extend(c);
        }
        drop_stale_ref(t.attr, &mut obj, old_value.as_ref(), ref_given);
        put_or_remove(scope, t.attr.name, obj);
        Ok(())
    }

    /// `manager` as IdPs send it: a bare id, `{"value": id}` or a one-element
    /// array of either. Applies to any singular complex attribute with a
    /// `value` sub-attribute; in scimd's schemas that is `manager` alone.
    fn value_shorthand(&mut self, t: &AttrTarget, raw: &Value) -> Result<Value, ScimError> {
        if t.attr.sub("value").is_none() {
            return Ok(raw.clone());
        }
        match raw {
            Value::String(s) if !s.is_empty() => {
                self.quirk("manager_bare_id");
                let mut m = Map::new();
                m.insert("value".into(), raw.clone());
                Ok(Value::Object(m))
            }
            Value::Array(items) => match items.as_slice() {
                [] => Ok(Value::Null),
                [one] => {
                    self.quirk("manager_array");
                    self.value_shorthand(t, one)
                }
                _ => Err(ScimError::invalid_value(format!(
                    "'{}' takes one value, got an array of {}",
                    t.label,
                    items.len()
                ))),
            },
            other => Ok(other.clone()),
        }
    }

    // ----------------------------------------------------------------- remove

    fn remove(&mut self, t: &AttrTarget, value: Option<&Value>) -> Result<(), ScimError> {
        if t.attr.required && t.sub.is_none() && t.filter.is_none() {
            return Err(required_error(&t.label));
        }
        match (&t.filter, t.sub) {
            (None, None) => {
                let selectors = value.filter(|v| !v.is_null());
                if let (true, Some(sel)) = (t.attr.multi_valued, selectors) {
                    // `{"op":"remove","path":"emails","value":[{…}]}`: the
                    // value selects which elements go, as Entra does for members.
                    self.quirk("remove_value_array");
                    let Some(Value::Array(sel)) = self.coerce(t, sel)? else {
                        return Ok(());
                    };
                    if sel.len() > MAX_MULTI_VALUES {
                        return Err(too_many_values(&t.label));
                    }
                    let items: Vec<Value> = self
                        .elements(t)
                        .into_iter()
                        .filter(|e| !sel.iter().any(|s| same_element(t.attr, e, s)))
                        .collect();
                    self.put_elements(t, items, &[]);
                } else {
                    scope_mut(&mut self.doc, t.ext).remove(t.attr.name);
                }
            }
            (None, Some(sub)) if !t.attr.multi_valued => {
                let scope = scope_mut(&mut self.doc, t.ext);
                if let Some(Value::Object(obj)) = scope.get_mut(t.attr.name) {
                    obj.remove(sub.name);
                    if sub.name == "value" {
                        obj.remove("$ref");
                    }
                    if obj.is_empty() {
                        scope.remove(t.attr.name);
                    }
                }
            }
            (None, Some(sub)) => {
                let mut items = self.elements(t);
                for item in items.iter_mut() {
                    set_sub(item, sub.name, None);
                }
                self.put_elements(t, items, &[]);
            }
            (Some(_), sub) => {
                let matched = self.matching(t);
                let mut items = self.elements(t);
                match sub {
                    Some(sub) => {
                        for &i in &matched {
                            if let Some(item) = items.get_mut(i) {
                                set_sub(item, sub.name, None);
                            }
                        }
                    }
                    None => {
                        let mut i = 0;
                        items.retain(|_| {
                            i += 1;
                            !matched.contains(&(i - 1))
                        });
                    }
                }
                self.put_elements(t, items, &[]);
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- members

    fn members(&mut self, op: Op, t: &AttrTarget, value: Option<&Value>) -> Result<(), ScimError> {
        if let Some(sub) = t.sub {
            return Err(ScimError::mutability(format!(
                "'members.{}' cannot be changed in place; add or remove the member instead",
                sub.name
            )));
        }
        if let Some(filter) = &t.filter {
            if op != Op::Remove {
                return Err(ScimError::invalid_path(format!(
                    "'{}': a filter on members is only supported for remove",
                    t.label
                )));
            }
            match value_eq_ids(filter) {
                Some(ids) => {
                    self.quirk("members_value_filter_remove");
                    self.member_ops.push(MemberOp::Remove(ids));
                }
                None => self
                    .member_ops
                    .push(MemberOp::RemoveMatching(filter.clone())),
            }
            return Ok(());
        }
        // null and "" say "no members" (clear), like any other attribute.
        let value = match value {
            Some(v) if is_blank(v) => {
                self.quirk("empty_value_clears");
                None
            }
            v => v,
        };
        match op {
            Op::Add => {
                let refs = match value {
                    Some(v) => self.member_refs(v)?,
                    None => Vec::new(),
                };
                if !refs.is_empty() {
                    self.member_ops.push(MemberOp::Add(refs));
                }
            }
            Op::Replace => {
                let refs = match value {
                    Some(v) => self.member_refs(v)?,
                    None => Vec::new(),
                };
                self.member_ops.push(MemberOp::ReplaceAll(refs));
            }
            Op::Remove => match value {
                Some(v) => {
                    self.quirk("members_remove_value_array");
                    let ids = self.member_refs(v)?.into_iter().map(|r| r.value).collect();
                    self.member_ops.push(MemberOp::Remove(ids));
                }
                None => self.member_ops.push(MemberOp::RemoveAll),
            },
        }
        Ok(())
    }

    /// `[{"value": id, "type": "User"}, …]`; also a lone object or bare id
    /// strings. `display` and `$ref` are ignored: the store knows both.
    fn member_refs(&mut self, v: &Value) -> Result<Vec<MemberRef>, ScimError> {
        let items = match v {
            Value::Array(items) => items.as_slice(),
            single => std::slice::from_ref(single),
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let (value, kind) = match item {
                Value::String(s) => {
                    self.quirk("members_bare_id");
                    (Some(s.as_str()), None)
                }
                Value::Object(m) => {
                    let value = match get_ci(m, "value") {
                        Some(Value::String(s)) => Some(s.as_str()),
                        None | Some(Value::Null) => None,
                        Some(other) => {
                            return Err(ScimError::invalid_value(format!(
                                "'members.value' must be a string, got {}",
                                show(other)
                            )))
                        }
                    };
                    let kind = match get_ci(m, "type") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) if s.is_empty() => None,
                        Some(Value::String(s)) if s.eq_ignore_ascii_case("User") => Some("User"),
                        Some(Value::String(s)) if s.eq_ignore_ascii_case("Group") => Some("Group"),
                        Some(other) => {
                            return Err(ScimError::invalid_value(format!(
                                "'members.type' must be \"User\" or \"Group\", got {}",
                                show(other)
                            )))
                        }
                    };
                    (value, kind)
                }
                other => {
                    return Err(ScimError::invalid_value(format!(
                        "'members' values must be objects with a 'value', got {}",
                        show(other)
                    )))
                }
            };
            let Some(value) = value.filter(|s| !s.is_empty()) else {
                return Err(ScimError::invalid_value(
                    "'members.value' is required for each member",
                ));
            };
            out.push(MemberRef {
                value: value.to_string(),
                kind: kind.map(str::to_string),
            });
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- helpers

    /// Type-checks and canonicalises the value for `t` (the whole attribute, or
    /// one sub-attribute value) by running it through `normalize` inside the
    /// smallest resource it accepts, so PATCH shares POST's type rules and
    /// error details. `None`: no value (null, "", [] or {}).
    fn coerce(&self, t: &AttrTarget, raw: &Value) -> Result<Option<Value>, ScimError> {
        let inner = match t.sub {
            None => raw.clone(),
            Some(sub) => {
                let mut one = Map::new();
                one.insert(sub.name.to_string(), raw.clone());
                if t.attr.multi_valued {
                    Value::Array(vec![Value::Object(one)])
                } else {
                    Value::Object(one)
                }
            }
        };
        let mut body = Map::new();
        for req in self.rt.schema.attributes.iter().filter(|a| a.required) {
            // Any string satisfies the required check; it is read back out
            // of nothing but this throwaway resource.
            body.insert(req.name.to_string(), Value::String("placeholder".into()));
        }
        match t.ext {
            None => {
                body.insert(t.attr.name.to_string(), inner);
            }
            Some(urn) => {
                let mut ext = Map::new();
                ext.insert(t.attr.name.to_string(), inner);
                body.insert(urn.to_string(), Value::Object(ext));
            }
        }
        let out = normalize(self.rt, &Value::Object(body))?;
        let scope = match t.ext {
            None => Some(&out),
            Some(urn) => out.get(urn),
        };
        let v = scope.and_then(|s| s.get(t.attr.name));
        Ok(match t.sub {
            None => v.cloned(),
            Some(sub) if t.attr.multi_valued => v
                .and_then(|a| a.get(0))
                .and_then(|e| e.get(sub.name))
                .cloned(),
            Some(sub) => v.and_then(|o| o.get(sub.name)).cloned(),
        })
    }

    /// For a filtered target: the value of the sub-attribute, or without one
    /// the single element that goes where the filter points.
    fn coerce_one(&self, t: &AttrTarget, raw: &Value) -> Result<Option<Value>, ScimError> {
        if t.sub.is_some() {
            return self.coerce(t, raw);
        }
        if !raw.is_object() {
            return Err(ScimError::invalid_value(format!(
                "'{}' selects single values of '{}', so the value must be an object, got {}",
                t.label,
                t.attr.name,
                show(raw)
            )));
        }
        Ok(match self.coerce(t, raw)? {
            Some(Value::Array(mut items)) if !items.is_empty() => Some(items.swap_remove(0)),
            _ => None,
        })
    }

    fn elements(&self, t: &AttrTarget) -> Vec<Value> {
        scope(&self.doc, t.ext)
            .and_then(|s| s.get(t.attr.name))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// Indexes of the elements the target's filter selects.
    fn matching(&self, t: &AttrTarget) -> Vec<usize> {
        let Some(filter) = &t.filter else {
            return Vec::new();
        };
        let attr = t.attr;
        let case_exact = |name: &str| attr.sub(name).is_some_and(|s| s.case_exact);
        self.elements(t)
            .iter()
            .enumerate()
            .filter(|(_, e)| matches_element(filter, e, &case_exact))
            .map(|(i, _)| i)
            .collect()
    }

    /// Stores the elements back, enforcing "at most one primary": when a
    /// touched element is primary, every other element loses its flag.
    fn put_elements(&mut self, t: &AttrTarget, mut items: Vec<Value>, touched: &[usize]) {
        let is_primary = |v: &Value| v.get("primary") == Some(&Value::Bool(true));
        let new_primary = touched
            .iter()
            .any(|&i| items.get(i).is_some_and(is_primary));
        if new_primary {
            for (i, item) in items.iter_mut().enumerate() {
                if !touched.contains(&i) {
                    if let Value::Object(m) = item {
                        m.remove("primary");
                    }
                }
            }
        }
        items.retain(|v| !v.as_object().is_some_and(Map::is_empty));
        let scope = scope_mut(&mut self.doc, t.ext);
        if items.is_empty() {
            scope.remove(t.attr.name);
        } else {
            scope.insert(t.attr.name.to_string(), Value::Array(items));
        }
    }
}

/// Every attribute path inside a value filter must name a sub-attribute of
/// the filtered attribute; a typo would otherwise match nothing silently.
fn check_filter(attr: &AttrDef, f: &Filter, label: &str) -> Result<(), ScimError> {
    match f {
        Filter::Compare { path, .. } | Filter::Present { path, .. } => {
            if path.urn.is_some() || path.sub.is_some() || attr.sub(&path.name).is_none() {
                return Err(ScimError::invalid_path(format!(
                    "'{path}' is not a sub-attribute of '{label}'"
                )));
            }
            Ok(())
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            check_filter(attr, a, label)?;
            check_filter(attr, b, label)
        }
        Filter::Not(a) => check_filter(attr, a, label),
        Filter::ValuePath { path, .. } => Err(ScimError::invalid_path(format!(
            "'{path}[…]' cannot be nested inside '{label}[…]'"
        ))),
    }
}

/// Turns `"True"`/`"False"` (any case) compared with a boolean sub-attribute
/// into booleans, as `?filter=` reads them; true if it changed anything.
/// Runs after `check_filter`, so every path names a sub-attribute.
fn bool_strings_to_bools(attr: &AttrDef, f: &mut Filter) -> bool {
    match f {
        Filter::Compare { path, value, .. } => {
            let boolean = attr
                .sub(&path.name)
                .is_some_and(|s| s.ty == AttrType::Boolean);
            let b = match &*value {
                Literal::Str(s) if boolean && s.eq_ignore_ascii_case("true") => true,
                Literal::Str(s) if boolean && s.eq_ignore_ascii_case("false") => false,
                _ => return false,
            };
            *value = Literal::Bool(b);
            true
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            let left = bool_strings_to_bools(attr, a);
            bool_strings_to_bools(attr, b) || left
        }
        Filter::Not(a) => bool_strings_to_bools(attr, a),
        Filter::Present { .. } | Filter::ValuePath { .. } => false,
    }
}

/// The element an `add` to `attr[type eq "mobile"]` creates: possible only
/// when the filter is `eq` comparisons on simple writable sub-attributes
/// joined by `and`, and they do not contradict each other.
fn element_from_filter(attr: &AttrDef, f: &Filter) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
            ..
        } if path.urn.is_none() && path.sub.is_none() => {
            let sub = attr.sub(&path.name)?;
            if sub.ty == AttrType::Complex || sub.multi_valued || !sub.client_writable() {
                return None;
            }
            let v = match value {
                Literal::Str(s) => Value::String(s.clone()),
                Literal::Num(n) => Value::Number(n.clone()),
                Literal::Bool(b) => Value::Bool(*b),
                Literal::Null => return None,
            };
            let mut m = Map::new();
            m.insert(sub.name.to_string(), v);
            Some(m)
        }
        Filter::And(a, b) => {
            let mut left = element_from_filter(attr, a)?;
            for (k, v) in element_from_filter(attr, b)? {
                match left.get(&k) {
                    Some(existing) if *existing != v => return None,
                    _ => {
                        left.insert(k, v);
                    }
                }
            }
            Some(left)
        }
        _ => None,
    }
}

/// `value eq "a"` or `value eq "a" or value eq "b"`: the ids, so the store
/// can delete by key; anything else goes to the store as a filter.
fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: Literal::Str(s),
            ..
        } if path.urn.is_none()
            && path.sub.is_none()
            && path.name.eq_ignore_ascii_case("value") =>
        {
            Some(vec![s.clone()])
        }
        Filter::Or(a, b) => {
            let mut ids = value_eq_ids(a)?;
            ids.extend(value_eq_ids(b)?);
            Some(ids)
        }
        _ => None,
    }
}

/// Two elements of a multi-valued attribute are the same value when their
/// `value`s are equal (case-insensitively unless caseExact); attributes
/// without a `value` sub-attribute (addresses) compare whole elements.
fn same_element(attr: &AttrDef, a: &Value, b: &Value) -> bool {
    if let Some(vdef) = attr.sub("value") {
        if let (Some(x), Some(y)) = (a.get("value"), b.get("value")) {
            return match (x, y) {
                (Value::String(x), Value::String(y)) if !vdef.case_exact => {
                    x.to_lowercase() == y.to_lowercase()
                }
                _ => x == y,
            };
        }
    }
    a == b
}

/// A `$ref` points at the `value` it was sent with; once `value` changes
/// without a new `$ref`, the old one is wrong.
fn drop_stale_ref(
    attr: &AttrDef,
    obj: &mut Map<String, Value>,
    old_value: Option<&Value>,
    ref_given: bool,
) {
    if !ref_given && attr.sub("$ref").is_some() && obj.get("value") != old_value {
        obj.remove("$ref");
    }
}

fn set_sub(item: &mut Value, name: &str, v: Option<Value>) {
    if let Value::Object(m) = item {
        match v {
            Some(v) => {
                m.insert(name.to_string(), v);
            }
            None => {
                m.remove(name);
            }
        }
    }
}

fn put_or_remove(scope: &mut Map<String, Value>, name: &str, obj: Map<String, Value>) {
    if obj.is_empty() {
        scope.remove(name);
    } else {
        scope.insert(name.to_string(), Value::Object(obj));
    }
}

fn scope<'a>(doc: &'a Map<String, Value>, ext: Option<&str>) -> Option<&'a Map<String, Value>> {
    match ext {
        None => Some(doc),
        Some(urn) => doc.get(urn).and_then(Value::as_object),
    }
}

/// The map an attribute lives in, creating the extension object if needed
/// (normalize drops it again if it stays empty).
fn scope_mut<'a>(doc: &'a mut Map<String, Value>, ext: Option<&str>) -> &'a mut Map<String, Value> {
    let Some(urn) = ext else {
        return doc;
    };
    let slot = doc
        .entry(urn.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    // Not input-dependent: the slot was made an object just above.
    slot.as_object_mut().expect("extension slot is an object")
}

/// Records Entra's `"True"`/`"False"` wherever a boolean is expected.
fn note_bool_strings(engine: &mut Engine<'_>, def: &AttrDef, raw: &Value) {
    let found = match (def.ty, raw) {
        (AttrType::Boolean, Value::String(_)) => true,
        (AttrType::Complex, Value::Array(items)) => items.iter().any(|i| has_bool_string(def, i)),
        (AttrType::Complex, v) => has_bool_string(def, v),
        _ => false,
    };
    if found {
        engine.quirk("boolean_string");
    }
}

fn has_bool_string(def: &AttrDef, v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.iter().any(|(k, v)| {
            def.sub(k)
                .is_some_and(|s| s.ty == AttrType::Boolean && v.is_string())
        })
    })
}

fn required_error(label: &str) -> ScimError {
    ScimError::mutability(format!("'{label}' is required and cannot be removed"))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{ENTERPRISE_USER_URN as ENT, GROUP_TYPE, USER_TYPE, USER_URN};
    use proptest::prelude::*;
    use serde_json::json;

    fn stored_user() -> Value {
        normalize(
            &USER_TYPE,
            &json!({
                "userName": "bjensen@example.com",
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "displayName": "Babs Jensen",
                "active": true,
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@jensen.org", "type": "home"},
                ],
                "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
                ENT: {"employeeNumber": "701984", "department": "Tour Operations"},
            }),
        )
        .unwrap()
    }

    fn stored_group() -> Value {
        normalize(&GROUP_TYPE, &json!({"displayName": "Tour Guides"})).unwrap()
    }

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP_URN], "Operations": ops})
    }

    fn patch_user(ops: Value) -> Patched {
        apply(&USER_TYPE, &stored_user(), &body(ops)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn user_err(ops: Value) -> ScimError {
        match apply(&USER_TYPE, &stored_user(), &body(ops)) {
            Ok(p) => panic!("expected an error, got {}", p.resource),
            Err(e) => e,
        }
    }

    fn patch_group(ops: Value) -> Patched {
        apply(&GROUP_TYPE, &stored_group(), &body(ops)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn group_err(ops: Value) -> ScimError {
        apply(&GROUP_TYPE, &stored_group(), &body(ops)).unwrap_err()
    }

    fn assert_err(e: &ScimError, t: ScimType, needle: &str) {
        assert_eq!(e.status, 400, "{e}");
        assert_eq!(e.scim_type, Some(t), "{e}");
        assert!(e.detail.contains(needle), "{:?} lacks {needle:?}", e.detail);
    }

    fn member(id: &str) -> MemberRef {
        MemberRef {
            value: id.into(),
            kind: None,
        }
    }

    // ------------------------------------------------------- request shape

    #[test]
    fn body_without_operations_is_invalid_syntax() {
        let e = apply(
            &USER_TYPE,
            &stored_user(),
            &json!({"schemas": [PATCH_OP_URN]}),
        )
        .unwrap_err();
        assert_err(&e, ScimType::InvalidSyntax, "Operations");
        let e = apply(&USER_TYPE, &stored_user(), &json!([])).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
    }

    #[test]
    fn empty_operations_change_nothing() {
        let p = patch_user(json!([]));
        assert_eq!(p.resource, stored_user());
        assert!(p.member_ops.is_empty());
        assert!(p.quirks.contains(&"empty_operations"));
    }

    #[test]
    fn operations_over_limit_are_too_many() {
        let ops = vec![json!({"op": "replace", "path": "title", "value": "x"}); MAX_OPERATIONS + 1];
        assert_err(&user_err(Value::Array(ops)), ScimType::TooMany, "1001");
    }

    #[test]
    fn operations_at_limit_are_accepted() {
        let ops = vec![json!({"op": "replace", "path": "title", "value": "x"}); MAX_OPERATIONS];
        assert_eq!(patch_user(Value::Array(ops)).resource["title"], "x");
    }

    #[test]
    fn operations_key_is_case_insensitive() {
        // ssoready's capture of an Entra-style body used "operations".
        let b = json!({"operations": [{"op": "replace", "path": "title", "value": "Boss"}]});
        let p = apply(&USER_TYPE, &stored_user(), &b).unwrap();
        assert_eq!(p.resource["title"], "Boss");
        assert!(p.quirks.contains(&"operations_key_case"));
    }

    #[test]
    fn missing_patchop_schema_is_accepted() {
        let b = json!({"Operations": [{"op": "replace", "path": "title", "value": "Boss"}]});
        let p = apply(&USER_TYPE, &stored_user(), &b).unwrap();
        assert_eq!(p.resource["title"], "Boss");
        assert!(p.quirks.contains(&"missing_patchop_schema"));
    }

    #[test]
    fn unknown_extra_schema_uris_are_ignored() {
        let b = json!({
            "schemas": [PATCH_OP_URN, "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:Group"],
            "Operations": [{"op": "Replace", "path": "displayName", "value": "Guides"}],
        });
        let p = apply(&GROUP_TYPE, &stored_group(), &b).unwrap();
        assert_eq!(p.resource["displayName"], "Guides");
        assert!(p.quirks.contains(&"extra_schema_uris"));
    }

    #[test]
    fn op_names_in_any_case_are_accepted() {
        let p = patch_user(json!([
            {"op": "Replace", "path": "title", "value": "Boss"},
            {"op": "ADD", "path": "nickName", "value": "Babs"},
            {"op": "Remove", "path": "displayName"},
        ]));
        assert_eq!(p.resource["title"], "Boss");
        assert_eq!(p.resource["nickName"], "Babs");
        assert!(p.resource.get("displayName").is_none());
        assert_eq!(p.quirks, ["op_case"]);
    }

    #[test]
    fn unknown_op_is_invalid_syntax() {
        let e = user_err(json!([{"op": "merge", "path": "title", "value": "x"}]));
        assert_err(&e, ScimType::InvalidSyntax, "'merge'");
        let e = user_err(json!([{"path": "title", "value": "x"}]));
        assert_err(&e, ScimType::InvalidSyntax, "no 'op'");
    }

    #[test]
    fn add_without_value_is_invalid_syntax() {
        let e = user_err(json!([{"op": "add", "path": "title"}]));
        assert_err(&e, ScimType::InvalidSyntax, "no 'value'");
    }

    #[test]
    fn errors_name_the_failing_operation() {
        let e = user_err(json!([
            {"op": "replace", "path": "title", "value": "x"},
            {"op": "replace", "path": "emails[", "value": 44},
        ]));
        assert!(e.detail.starts_with("operation 2: "), "{}", e.detail);
    }

    // ------------------------------------------------------- add / replace

    #[test]
    fn replace_simple_attribute() {
        let p = patch_user(json!([{"op": "replace", "path": "displayName", "value": "B. Jensen"}]));
        assert_eq!(p.resource["displayName"], "B. Jensen");
        assert!(p.quirks.is_empty());
    }

    #[test]
    fn replace_sub_attribute_keeps_siblings() {
        let p = patch_user(json!([{"op": "replace", "path": "name.givenName", "value": "Babs"}]));
        assert_eq!(
            p.resource["name"],
            json!({"givenName": "Babs", "familyName": "Jensen"})
        );
    }

    #[test]
    fn replace_complex_attribute_merges_sub_attributes() {
        let p = patch_user(
            json!([{"op": "replace", "path": "name", "value": {"familyName": "Smith"}}]),
        );
        assert_eq!(
            p.resource["name"],
            json!({"givenName": "Barbara", "familyName": "Smith"})
        );
    }

    #[test]
    fn entra_replace_filtered_sub_attribute() {
        // Microsoft's documented user update request.
        let p = patch_user(json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
        ]));
        assert_eq!(
            p.resource["emails"][0]["value"],
            "updatedEmail@microsoft.com"
        );
        assert_eq!(p.resource["emails"][0]["primary"], true);
        assert_eq!(p.resource["emails"][1]["value"], "babs@jensen.org");
        assert_eq!(p.resource["name"]["familyName"], "updatedFamilyName");
    }

    #[test]
    fn sub_attribute_path_without_filter_sets_every_element() {
        let p = patch_user(json!([{"op": "replace", "path": "emails.type", "value": "other"}]));
        let types: Vec<_> = p.resource["emails"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].clone())
            .collect();
        assert_eq!(types, [json!("other"), json!("other")]);
    }

    #[test]
    fn add_enterprise_attribute_by_urn_path() {
        let p = patch_user(json!([
            {"op": "add", "path": format!("{ENT}:employeeNumber"), "value": "42"},
            {"op": "add", "path": format!("{ENT}:costCenter"), "value": "4130"},
        ]));
        assert_eq!(p.resource[ENT]["employeeNumber"], "42");
        assert_eq!(p.resource[ENT]["costCenter"], "4130");
        assert_eq!(p.resource[ENT]["department"], "Tour Operations");
    }

    #[test]
    fn add_whole_extension_with_object_value() {
        let p = patch_user(
            json!([{"op": "add", "path": ENT, "value": {"division": "Theme Park", "manager": {"value": "m1"}}}]),
        );
        assert_eq!(
            p.resource[ENT],
            json!({"employeeNumber": "701984", "division": "Theme Park", "department": "Tour Operations", "manager": {"value": "m1"}})
        );
    }

    #[test]
    fn extension_attribute_added_to_user_without_extension_lists_its_schema() {
        let stored = normalize(&USER_TYPE, &json!({"userName": "b"})).unwrap();
        let b = body(json!([{"op": "add", "path": format!("{ENT}:department"), "value": "Sales"}]));
        let p = apply(&USER_TYPE, &stored, &b).unwrap();
        assert_eq!(p.resource["schemas"], json!([USER_URN, ENT]));
        assert_eq!(p.resource[ENT], json!({"department": "Sales"}));
    }

    #[test]
    fn okta_no_path_replace_deactivates_user() {
        // Okta's documented deprovisioning request.
        let p = patch_user(json!([{"op": "replace", "value": {"active": false}}]));
        assert_eq!(p.resource["active"], false);
        assert!(p.quirks.is_empty());
    }

    #[test]
    fn no_path_add_with_any_case_keys_per_rfc_example() {
        let p = patch_user(json!([{"op": "add", "value": {
            "emails": [{"value": "babs@example.org", "type": "home"}],
            "NICKNAME": "Babs",
        }}]));
        assert_eq!(p.resource["nickName"], "Babs");
        assert_eq!(p.resource["emails"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn entra_no_path_replace_with_dotted_keys() {
        let p = patch_user(json!([{"op": "replace", "value": {
            "displayName": "Bjfe",
            "name.givenName": "Kkom",
            "name.familyName": "Unua",
        }}]));
        assert_eq!(
            p.resource["name"],
            json!({"givenName": "Kkom", "familyName": "Unua"})
        );
        assert_eq!(p.resource["displayName"], "Bjfe");
        assert!(p.quirks.contains(&"dotted_key"));
    }

    #[test]
    fn entra_no_path_replace_with_urn_prefixed_keys() {
        let p = patch_user(json!([{"op": "replace", "value": {
            format!("{ENT}:employeeNumber"): "Aklq",
            format!("{ENT}:manager"): "m7",
        }}]));
        assert_eq!(p.resource[ENT]["employeeNumber"], "Aklq");
        assert_eq!(p.resource[ENT]["manager"], json!({"value": "m7"}));
        assert!(p.quirks.contains(&"urn_key"));
    }

    #[test]
    fn no_path_value_with_extension_object_under_urn_key() {
        let p = patch_user(json!([{"op": "replace", "value": {ENT: {"department": "Sales"}}}]));
        assert_eq!(p.resource[ENT]["department"], "Sales");
        assert_eq!(p.resource[ENT]["employeeNumber"], "701984");
    }

    #[test]
    fn no_path_value_must_be_an_object() {
        let e = user_err(json!([{"op": "replace", "value": "x"}]));
        assert_err(&e, ScimType::InvalidValue, "object");
    }

    #[test]
    fn add_multi_valued_merges_without_duplicates() {
        let p = patch_user(json!([{"op": "add", "path": "emails", "value": [
            {"value": "babs@jensen.org", "type": "home"},
            {"value": "b@new.example", "type": "other"},
            {"value": "b@new.example", "type": "other"},
        ]}]));
        let emails = p.resource["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 3);
        assert_eq!(emails[2]["value"], "b@new.example");
    }

    #[test]
    fn add_equal_value_differing_in_case_merges_into_existing() {
        let p = patch_user(json!([{"op": "add", "path": "emails", "value": [
            {"value": "BABS@jensen.org", "display": "Babs"},
        ]}]));
        let emails = p.resource["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 2);
        assert_eq!(emails[1]["display"], "Babs");
        assert_eq!(emails[1]["type"], "home");
    }

    #[test]
    fn add_multi_valued_without_value_key_compares_whole_elements() {
        let addr = json!({"type": "work", "locality": "Hollywood"});
        let p = patch_user(json!([
            {"op": "add", "path": "addresses", "value": [addr.clone()]},
            {"op": "add", "path": "addresses", "value": [addr]},
        ]));
        assert_eq!(p.resource["addresses"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn replace_multi_valued_without_filter_replaces_array() {
        let p = patch_user(
            json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com"}]}]),
        );
        assert_eq!(p.resource["emails"], json!([{"value": "only@example.com"}]));
    }

    #[test]
    fn new_primary_clears_old_primary() {
        let p = patch_user(json!([{"op": "add", "path": "emails", "value": [
            {"value": "new@example.com", "type": "work", "primary": true},
        ]}]));
        let emails = p.resource["emails"].as_array().unwrap();
        assert_eq!(emails.len(), 3);
        assert!(emails[0].get("primary").is_none(), "{}", emails[0]);
        assert_eq!(emails[2]["primary"], true);
    }

    #[test]
    fn primary_set_through_filter_clears_old_primary() {
        let p = patch_user(
            json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
        );
        assert!(p.resource["emails"][0].get("primary").is_none());
        assert_eq!(p.resource["emails"][1]["primary"], true);
    }

    #[test]
    fn two_primaries_in_one_value_are_invalid_value() {
        let e = user_err(json!([{"op": "replace", "path": "emails", "value": [
            {"value": "a@example.com", "primary": true},
            {"value": "b@example.com", "primary": true},
        ]}]));
        assert_err(&e, ScimType::InvalidValue, "'emails'");
    }

    #[test]
    fn replace_filtered_element_replaces_it_whole() {
        let p = patch_user(
            json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "h@example.com", "type": "home"}}]),
        );
        assert_eq!(
            p.resource["emails"][1],
            json!({"value": "h@example.com", "type": "home"})
        );
    }

    #[test]
    fn replace_filtered_path_matching_nothing_creates_the_element() {
        // Entra's update of a user who has no work address or mobile yet.
        let p = patch_user(json!([
            {"op": "Replace", "path": "emails[type eq \"other\"].value", "value": "x@example.com"},
            {"op": "Replace", "path": "addresses[type eq \"work\"].formatted", "value": "1 Main St"},
            {"op": "Replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"},
        ]));
        assert_eq!(
            p.resource["emails"][2],
            json!({"type": "other", "value": "x@example.com"})
        );
        assert_eq!(
            p.resource["addresses"],
            json!([{"type": "work", "formatted": "1 Main St"}])
        );
        assert_eq!(
            p.resource["phoneNumbers"][1],
            json!({"type": "mobile", "value": "555"})
        );
        assert!(p.quirks.contains(&"replace_creates_filtered_element"));
        assert!(!p.quirks.contains(&"add_creates_filtered_element"));
    }

    #[test]
    fn replace_filtered_path_matching_nothing_is_no_target_when_it_cannot_create() {
        let e = user_err(
            json!([{"op": "replace", "path": "emails[type sw \"oth\"].value", "value": "x@example.com"}]),
        );
        assert_err(&e, ScimType::NoTarget, "emails[type sw \"oth\"].value");
    }

    #[test]
    fn clearing_replace_on_filtered_path_matching_nothing_changes_nothing() {
        let p = patch_user(
            json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": ""}]),
        );
        assert_eq!(p.resource, stored_user());
    }

    #[test]
    fn add_to_missing_filtered_element_creates_it() {
        let p = patch_user(
            json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "555"}]),
        );
        assert_eq!(
            p.resource["phoneNumbers"],
            json!([{"value": "555-555-8377", "type": "work"}, {"type": "mobile", "value": "555"}])
        );
        assert!(p.quirks.contains(&"add_creates_filtered_element"));
    }

    #[test]
    fn add_to_missing_filtered_element_with_and_filter_creates_it() {
        let p = patch_user(
            json!([{"op": "Add", "path": "addresses[type eq \"work\" and primary eq true].locality", "value": "Redmond"}]),
        );
        assert_eq!(
            p.resource["addresses"],
            json!([{"type": "work", "primary": true, "locality": "Redmond"}])
        );
    }

    #[test]
    fn add_to_missing_element_with_non_eq_filter_is_no_target() {
        let e = user_err(
            json!([{"op": "add", "path": "phoneNumbers[type sw \"mob\"].value", "value": "555"}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        let e = user_err(
            json!([{"op": "add", "path": "phoneNumbers[type eq \"a\" or type eq \"b\"].value", "value": "555"}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn add_to_existing_filtered_element_sets_sub_attribute() {
        let p = patch_user(
            json!([{"op": "add", "path": "phoneNumbers[type eq \"work\"].display", "value": "desk"}]),
        );
        assert_eq!(
            p.resource["phoneNumbers"],
            json!([{"value": "555-555-8377", "type": "work", "display": "desk"}])
        );
    }

    #[test]
    fn filtered_value_without_sub_attribute_must_be_an_object() {
        let e = user_err(
            json!([{"op": "replace", "path": "emails[type eq \"work\"]", "value": "x@example.com"}]),
        );
        assert_err(&e, ScimType::InvalidValue, "object");
    }

    // ----------------------------------------------------------------- remove

    #[test]
    fn remove_without_path_is_no_target() {
        let e = user_err(json!([{"op": "remove", "value": {"title": "x"}}]));
        assert_err(&e, ScimType::NoTarget, "path");
    }

    #[test]
    fn remove_simple_attribute() {
        let p = patch_user(json!([{"op": "remove", "path": "displayName"}]));
        assert!(p.resource.get("displayName").is_none());
    }

    #[test]
    fn remove_sub_attribute_of_complex() {
        let p = patch_user(json!([{"op": "remove", "path": "name.givenName"}]));
        assert_eq!(p.resource["name"], json!({"familyName": "Jensen"}));
    }

    #[test]
    fn remove_with_filter_removes_matching_elements() {
        let p = patch_user(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]));
        assert_eq!(p.resource["emails"].as_array().unwrap().len(), 1);
        assert_eq!(p.resource["emails"][0]["type"], "work");
    }

    #[test]
    fn remove_filtered_sub_attribute_keeps_the_element() {
        let p = patch_user(json!([{"op": "remove", "path": "emails[type eq \"work\"].value"}]));
        assert_eq!(
            p.resource["emails"][0],
            json!({"type": "work", "primary": true})
        );
    }

    #[test]
    fn remove_last_element_unassigns_attribute() {
        let p = patch_user(json!([{"op": "remove", "path": "phoneNumbers[type eq \"work\"]"}]));
        assert!(p.resource.get("phoneNumbers").is_none());
    }

    #[test]
    fn remove_filter_matching_nothing_changes_nothing() {
        let p = patch_user(json!([{"op": "remove", "path": "emails[type eq \"other\"]"}]));
        assert_eq!(p.resource, stored_user());
    }

    #[test]
    fn remove_multi_valued_with_value_array_removes_those_values() {
        let p = patch_user(
            json!([{"op": "remove", "path": "emails", "value": [{"value": "babs@jensen.org"}]}]),
        );
        assert_eq!(p.resource["emails"].as_array().unwrap().len(), 1);
        assert!(p.quirks.contains(&"remove_value_array"));
    }

    #[test]
    fn schemas_key_inside_extension_value_is_ignored() {
        let stored = json!({"schemas": [USER_URN], "userName": "a"});
        let body = json!({"Operations": [{"op": "add", "path": ENT,
            "value": {"schemas": [ENT], "employeeNumber": "7"}}]});
        let out = apply(&USER_TYPE, &stored, &body).unwrap();
        assert_eq!(out.resource[ENT]["employeeNumber"], "7");
    }

    #[test]
    fn adding_more_than_the_value_bound_is_invalid_value() {
        let stored = json!({"schemas": [USER_URN], "userName": "a"});
        let emails: Vec<Value> = (0..=MAX_MULTI_VALUES)
            .map(|i| json!({"value": format!("u{i}@example.com")}))
            .collect();
        let body = json!({"Operations": [{"op": "add", "path": "emails", "value": emails}]});
        let e = apply(&USER_TYPE, &stored, &body).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("at most 1000"), "{}", e.detail);
    }

    #[test]
    fn remove_whole_extension() {
        let p = patch_user(json!([{"op": "remove", "path": ENT}]));
        assert!(p.resource.get(ENT).is_none());
        assert_eq!(p.resource["schemas"], json!([USER_URN]));
    }

    #[test]
    fn remove_required_attribute_is_mutability() {
        let e = user_err(json!([{"op": "remove", "path": "userName"}]));
        assert_err(&e, ScimType::Mutability, "'userName'");
        let e = group_err(json!([{"op": "remove", "path": "displayName"}]));
        assert_err(&e, ScimType::Mutability, "'displayName'");
    }

    #[test]
    fn clearing_required_attribute_with_empty_value_is_mutability() {
        let e = user_err(json!([{"op": "replace", "path": "userName", "value": ""}]));
        assert_err(&e, ScimType::Mutability, "'userName'");
        let e = user_err(json!([{"op": "replace", "value": {"userName": null}}]));
        assert_err(&e, ScimType::Mutability, "'userName'");
    }

    #[test]
    fn password_is_accepted_and_not_stored() {
        let p = patch_user(json!([
            {"op": "replace", "path": "password", "value": "hunter2"},
            {"op": "replace", "value": {"password": "hunter3"}},
        ]));
        assert!(!p.resource.to_string().contains("hunter"));
    }

    // ------------------------------------------------------ errors by rule

    #[test]
    fn read_only_attribute_path_is_mutability() {
        for path in [
            "id",
            "meta.created",
            "groups",
            format!("{ENT}:manager.displayName").as_str(),
        ] {
            let e = user_err(json!([{"op": "replace", "path": path, "value": "x"}]));
            assert_err(&e, ScimType::Mutability, "readOnly");
        }
        let e = group_err(
            json!([{"op": "replace", "path": "members[value eq \"u1\"].display", "value": "x"}]),
        );
        assert_err(&e, ScimType::Mutability, "members[value eq \"u1\"].display");
    }

    #[test]
    fn read_only_keys_in_no_path_value_are_ignored() {
        let p = patch_user(
            json!([{"op": "replace", "value": {"id": "abc", "meta": {}, "title": "Boss"}}]),
        );
        assert_eq!(p.resource["title"], "Boss");
        assert!(p.resource.get("id").is_none());
        assert!(p.quirks.contains(&"read_only_in_value_ignored"));
    }

    #[test]
    fn unknown_attribute_in_path_skips_the_operation() {
        let p = patch_user(json!([
            {"op": "add", "path": "shoeSize", "value": 44},
            {"op": "replace", "path": "title", "value": "Boss"},
            {"op": "add", "path": "name.nickname2", "value": "x"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:badgeId", "value": "1"},
            {"op": "remove", "path": "nickName2"},
            {"op": "replace", "path": "emails[type eq \"work\"].label", "value": "x"},
        ]));
        let mut want = stored_user();
        want["title"] = json!("Boss");
        assert_eq!(p.resource, want);
        assert!(p.quirks.contains(&"unknown_attribute_ignored"));
    }

    #[test]
    fn unparsable_path_stays_invalid_path() {
        let e = user_err(json!([{"op": "add", "path": "shoe size", "value": 44}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
        let e = user_err(json!([{"op": "add", "path": "urn:x:", "value": 44}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    }

    #[test]
    fn unknown_key_in_no_path_value_is_skipped() {
        let p = patch_user(json!([{"op": "add", "value": {
            "title": "x",
            "shoeSize": 44,
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User:badgeId": "b1",
            "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User": {"badgeId": "b1"},
            ENT: {"department": "Sales", "costCentre": "9"},
        }}]));
        assert_eq!(p.resource["title"], "x");
        assert_eq!(p.resource[ENT]["department"], "Sales");
        assert!(p.resource[ENT].get("costCentre").is_none());
        assert!(p.resource.get("shoeSize").is_none());
        assert!(p.quirks.contains(&"unknown_attribute_ignored"));
    }

    #[test]
    fn unknown_attribute_in_value_filter_is_invalid_path() {
        let e = user_err(
            json!([{"op": "replace", "path": "emails[tpye eq \"work\"].value", "value": "x"}]),
        );
        assert_err(&e, ScimType::InvalidPath, "'tpye'");
    }

    #[test]
    fn value_filter_on_single_valued_attribute_is_invalid_path() {
        let e = user_err(
            json!([{"op": "replace", "path": "name[givenName eq \"B\"].familyName", "value": "x"}]),
        );
        assert_err(&e, ScimType::InvalidPath, "not multi-valued");
    }

    #[test]
    fn malformed_path_is_invalid_path() {
        let e = user_err(json!([{"op": "replace", "path": "emails[type eq", "value": "x"}]));
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    }

    #[test]
    fn bad_value_type_is_invalid_value_naming_attribute() {
        let e = user_err(json!([{"op": "replace", "path": "active", "value": "maybe"}]));
        assert_err(&e, ScimType::InvalidValue, "'active'");
        let e = user_err(
            json!([{"op": "replace", "path": "emails[type eq \"work\"].primary", "value": "yes"}]),
        );
        assert_err(&e, ScimType::InvalidValue, "'emails.primary'");
        let e = user_err(json!([{"op": "replace", "path": "name.givenName", "value": 5}]));
        assert_err(&e, ScimType::InvalidValue, "'name.givenName'");
        let e = user_err(json!([{"op": "replace", "path": "name", "value": "Barbara"}]));
        assert_err(&e, ScimType::InvalidValue, "'name'");
    }

    // --------------------------------------------------------------- dialects

    #[test]
    fn entra_boolean_strings_are_accepted() {
        let p = patch_user(json!([
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "roles", "value": [{"primary": "True", "value": "Admin"}]},
        ]));
        assert_eq!(p.resource["active"], false);
        assert_eq!(
            p.resource["roles"],
            json!([{"primary": true, "value": "Admin"}])
        );
        assert!(p.quirks.contains(&"boolean_string"));
    }

    #[test]
    fn entra_boolean_string_in_path_filter_matches_the_boolean() {
        let stored = normalize(
            &USER_TYPE,
            &json!({"userName": "b", "roles": [{"value": "Admin", "primary": true}]}),
        )
        .unwrap();
        let b = body(json!([
            {"op": "Replace", "path": "roles[primary eq \"True\"].value", "value": "User"},
        ]));
        let p = apply(&USER_TYPE, &stored, &b).unwrap();
        assert_eq!(
            p.resource["roles"],
            json!([{"value": "User", "primary": true}])
        );
        assert!(p.quirks.contains(&"boolean_string_in_filter"));
    }

    #[test]
    fn boolean_string_in_path_filter_creates_a_boolean() {
        let p = patch_user(json!([
            {"op": "Add", "path": "roles[primary eq \"True\"].value", "value": "Admin"},
        ]));
        assert_eq!(
            p.resource["roles"],
            json!([{"primary": true, "value": "Admin"}])
        );
    }

    #[test]
    fn string_in_path_filter_on_a_string_sub_attribute_stays_a_string() {
        let p = patch_user(json!([
            {"op": "add", "path": "emails[type eq \"true\"].value", "value": "t@example.com"},
        ]));
        assert_eq!(
            p.resource["emails"][2],
            json!({"type": "true", "value": "t@example.com"})
        );
        assert!(!p.quirks.contains(&"boolean_string_in_filter"));
    }

    #[test]
    fn unquoted_value_in_path_filter_is_reported() {
        let p = patch_user(
            json!([{"op": "replace", "path": "emails[type eq home].value", "value": "h@example.com"}]),
        );
        assert_eq!(p.resource["emails"][1]["value"], "h@example.com");
        assert!(p.quirks.contains(&"unquoted_value"));
    }

    #[test]
    fn manager_bare_id_is_normalised() {
        // Entra's manager update.
        let p = patch_user(
            json!([{"op": "Add", "path": format!("{ENT}:manager"), "value": "2819c223-7f76-453a-919d-413861904646"}]),
        );
        assert_eq!(
            p.resource[ENT]["manager"],
            json!({"value": "2819c223-7f76-453a-919d-413861904646"})
        );
        assert!(p.quirks.contains(&"manager_bare_id"));
    }

    #[test]
    fn manager_value_object_is_kept() {
        let p = patch_user(
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": {"value": "m1"}}]),
        );
        assert_eq!(p.resource[ENT]["manager"], json!({"value": "m1"}));
        assert!(p.quirks.is_empty());
    }

    #[test]
    fn manager_one_element_array_is_normalised() {
        let p = patch_user(
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": [{"value": "m1"}]}]),
        );
        assert_eq!(p.resource[ENT]["manager"], json!({"value": "m1"}));
        let p = patch_user(
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": ["m2"]}]),
        );
        assert_eq!(p.resource[ENT]["manager"], json!({"value": "m2"}));
        assert!(p.quirks.contains(&"manager_array"));
    }

    #[test]
    fn manager_array_of_two_is_invalid_value() {
        let e = user_err(
            json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": ["a", "b"]}]),
        );
        assert_err(&e, ScimType::InvalidValue, "manager");
    }

    #[test]
    fn manager_change_drops_stale_ref() {
        let stored = normalize(
            &USER_TYPE,
            &json!({"userName": "b", ENT: {"manager": {"value": "m1", "$ref": "https://x/Users/m1"}}}),
        )
        .unwrap();
        let b = body(json!([{"op": "replace", "path": format!("{ENT}:manager"), "value": "m2"}]));
        let p = apply(&USER_TYPE, &stored, &b).unwrap();
        assert_eq!(p.resource[ENT]["manager"], json!({"value": "m2"}));
    }

    #[test]
    fn empty_string_value_clears_attribute() {
        let p = patch_user(json!([{"op": "replace", "path": "displayName", "value": ""}]));
        assert!(p.resource.get("displayName").is_none());
        assert!(p.quirks.contains(&"empty_value_clears"));
    }

    #[test]
    fn null_value_clears_attribute() {
        let p = patch_user(json!([
            {"op": "add", "path": format!("{ENT}:department"), "value": null},
            {"op": "replace", "value": {"name.givenName": null}},
        ]));
        assert!(p.resource[ENT].get("department").is_none());
        assert_eq!(p.resource["name"], json!({"familyName": "Jensen"}));
    }

    #[test]
    fn entra_empty_manager_value_clears_manager() {
        let stored = normalize(
            &USER_TYPE,
            &json!({"userName": "b", ENT: {"manager": {"value": "m1"}}}),
        )
        .unwrap();
        let b = body(
            json!([{"op": "Replace", "path": format!("{ENT}:manager"), "value": {"value": ""}}]),
        );
        let p = apply(&USER_TYPE, &stored, &b).unwrap();
        assert!(p.resource.get(ENT).is_none(), "{}", p.resource);
    }

    #[test]
    fn empty_path_string_means_no_path() {
        let p = patch_user(json!([{"op": "replace", "path": "", "value": {"title": "Boss"}}]));
        assert_eq!(p.resource["title"], "Boss");
        assert!(p.quirks.contains(&"empty_path"));
    }

    // -------------------------------------------------------------- semantics

    #[test]
    fn operation_that_changes_nothing_is_ok() {
        let p =
            patch_user(json!([{"op": "replace", "path": "displayName", "value": "Babs Jensen"}]));
        assert_eq!(p.resource, stored_user());
    }

    #[test]
    fn error_in_a_later_operation_applies_nothing() {
        let stored = stored_user();
        let b = body(json!([
            {"op": "replace", "path": "title", "value": "Boss"},
            {"op": "remove", "path": "userName"},
        ]));
        assert!(apply(&USER_TYPE, &stored, &b).is_err());
        assert!(stored.get("title").is_none());
    }

    #[test]
    fn operations_apply_in_order() {
        let p = patch_user(json!([
            {"op": "add", "path": "title", "value": "Boss"},
            {"op": "remove", "path": "title"},
            {"op": "add", "path": "nickName", "value": "B"},
        ]));
        assert!(p.resource.get("title").is_none());
        assert_eq!(p.resource["nickName"], "B");
    }

    #[test]
    fn result_is_in_normalized_form() {
        let p = patch_user(
            json!([{"op": "add", "value": {"TITLE": "Boss", "emails": {"value": "x@example.com"}}}]),
        );
        assert_eq!(normalize(&USER_TYPE, &p.resource).unwrap(), p.resource);
        assert_eq!(p.resource["title"], "Boss");
    }

    #[test]
    fn quirks_are_listed_once() {
        let p = patch_user(json!([
            {"op": "Replace", "path": "title", "value": "a"},
            {"op": "Replace", "path": "title", "value": "b"},
        ]));
        assert_eq!(p.quirks, ["op_case"]);
    }

    // ----------------------------------------------------------------- groups

    #[test]
    fn okta_members_value_eq_remove_becomes_member_remove() {
        let p = patch_group(
            json!([{"op": "remove", "path": "members[value eq \"89bb1940-b905-4575-9e7f-6f887cfb368e\"]"}]),
        );
        assert_eq!(
            p.member_ops,
            [MemberOp::Remove(vec![
                "89bb1940-b905-4575-9e7f-6f887cfb368e".into()
            ])]
        );
        assert!(p.quirks.contains(&"members_value_filter_remove"));
    }

    #[test]
    fn entra_members_remove_with_value_array_becomes_member_remove() {
        let p = patch_group(
            json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": "f648f8d5ea4e4cd38e9c"}]}]),
        );
        assert_eq!(
            p.member_ops,
            [MemberOp::Remove(vec!["f648f8d5ea4e4cd38e9c".into()])]
        );
        assert!(p.quirks.contains(&"members_remove_value_array"));
    }

    #[test]
    fn members_add_becomes_member_add_with_kind() {
        // Okta's push and Entra's add, with `display` and a null `$ref`.
        let p = patch_group(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1", "display": "test.user@okta.local"}]},
            {"op": "Add", "path": "members", "value": [{"$ref": null, "value": "g2", "type": "group"}]},
        ]));
        assert_eq!(
            p.member_ops,
            [
                MemberOp::Add(vec![member("u1")]),
                MemberOp::Add(vec![MemberRef {
                    value: "g2".into(),
                    kind: Some("Group".into())
                }]),
            ]
        );
    }

    #[test]
    fn member_ops_never_touch_resource_members() {
        let p = patch_group(json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "replace", "value": {"members": [{"value": "u2"}]}},
        ]));
        assert!(p.resource.get("members").is_none());
        assert_eq!(p.resource, stored_group());
    }

    #[test]
    fn remove_members_path_is_remove_all() {
        let p = patch_group(json!([{"op": "remove", "path": "members"}]));
        assert_eq!(p.member_ops, [MemberOp::RemoveAll]);
    }

    #[test]
    fn okta_replace_members_with_empty_array_is_replace_all_empty() {
        let p = patch_group(json!([{"op": "replace", "path": "members", "value": []}]));
        assert_eq!(p.member_ops, [MemberOp::ReplaceAll(vec![])]);
    }

    #[test]
    fn okta_group_rename_with_id_in_no_path_value() {
        let p = patch_group(
            json!([{"op": "replace", "value": {"id": "abf4dd94-a4c0-4f67-89c9-76b03340cb9b", "displayName": "Test SCIMv2"}}]),
        );
        assert_eq!(p.resource["displayName"], "Test SCIMv2");
        assert!(p.member_ops.is_empty());
    }

    #[test]
    fn no_path_replace_with_members_key_is_replace_all() {
        let p = patch_group(
            json!([{"op": "replace", "value": {"displayName": "G", "members": [{"value": "u1", "type": "User"}]}}]),
        );
        assert_eq!(
            p.member_ops,
            [MemberOp::ReplaceAll(vec![MemberRef {
                value: "u1".into(),
                kind: Some("User".into())
            }])]
        );
    }

    #[test]
    fn null_members_replace_clears_membership() {
        let p = patch_group(json!([{"op": "replace", "path": "members", "value": null}]));
        assert_eq!(p.member_ops, [MemberOp::ReplaceAll(vec![])]);
        assert!(p.quirks.contains(&"empty_value_clears"));
    }

    #[test]
    fn members_or_of_value_eq_removes_each() {
        let p = patch_group(
            json!([{"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"}]),
        );
        assert_eq!(
            p.member_ops,
            [MemberOp::Remove(vec!["a".into(), "b".into()])]
        );
    }

    #[test]
    fn other_members_filter_is_remove_matching() {
        let p = patch_group(json!([{"op": "remove", "path": "members[type eq \"Group\"]"}]));
        let [MemberOp::RemoveMatching(f)] = p.member_ops.as_slice() else {
            panic!("{:?}", p.member_ops);
        };
        assert_eq!(f.to_string(), "type eq \"Group\"");
    }

    #[test]
    fn member_without_value_is_invalid_value() {
        let e = group_err(json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]));
        assert_err(&e, ScimType::InvalidValue, "'members.value'");
    }

    #[test]
    fn member_with_unknown_type_is_invalid_value() {
        let e = group_err(
            json!([{"op": "add", "path": "members", "value": [{"value": "x", "type": "Robot"}]}]),
        );
        assert_err(&e, ScimType::InvalidValue, "'members.type'");
    }

    #[test]
    fn members_sub_attribute_path_is_mutability() {
        let e = group_err(
            json!([{"op": "replace", "path": "members[value eq \"u1\"].value", "value": "u2"}]),
        );
        assert_err(&e, ScimType::Mutability, "members.value");
    }

    #[test]
    fn members_filter_on_add_is_invalid_path() {
        let e = group_err(
            json!([{"op": "add", "path": "members[value eq \"u1\"]", "value": {"value": "u1"}}]),
        );
        assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
    }

    #[test]
    fn members_on_user_is_an_unknown_attribute_and_skipped() {
        let p = patch_user(json!([{"op": "add", "path": "members", "value": [{"value": "u1"}]}]));
        assert_eq!(p.resource, stored_user());
        assert!(p.member_ops.is_empty());
        assert!(p.quirks.contains(&"unknown_attribute_ignored"));
    }

    // ---------------------------------------------------------------- fuzzing

    fn arb_path() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop::sample::select(vec![
            "userName".to_string(),
            "displayName".into(),
            "active".into(),
            "name".into(),
            "name.givenName".into(),
            "emails".into(),
            "emails.value".into(),
            "emails[type eq \"work\"]".into(),
            "emails[type eq \"work\"].value".into(),
            "emails[type eq \"home\" and primary eq true].primary".into(),
            "phoneNumbers[type eq \"mobile\"].value".into(),
            "addresses[type eq \"work\"].locality".into(),
            "members".into(),
            "members[value eq \"u1\"]".into(),
            "members[type eq \"User\"]".into(),
            "groups".into(),
            "id".into(),
            "password".into(),
            ENT.into(),
            format!("{ENT}:manager"),
            format!("{ENT}:manager.value"),
            format!("{ENT}:department"),
            "shoeSize".into(),
            "emails[".into(),
        ]))
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            prop::sample::select(vec!["", "True", "false", "work", "u1", "x@example.com"])
                .prop_map(|s| json!(s)),
        ];
        let keys = prop::sample::select(vec![
            "value",
            "type",
            "primary",
            "display",
            "givenName",
            "displayName",
            "title",
            "name.givenName",
            "members",
            "id",
            "active",
            "department",
        ]);
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec((keys.clone(), inner), 0..4).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    fn arb_op() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["add", "Replace", "remove", "bogus"]),
            arb_path(),
            prop::option::of(arb_value()),
        )
            .prop_map(|(op, path, value)| {
                let mut m = Map::new();
                m.insert("op".into(), json!(op));
                if let Some(p) = path {
                    m.insert("path".into(), json!(p));
                }
                if let Some(v) = value {
                    m.insert("value".into(), v);
                }
                Value::Object(m)
            })
    }

    proptest! {
        #[test]
        fn random_op_lists_never_panic_and_stay_normalized(
            ops in prop::collection::vec(arb_op(), 1..6),
        ) {
            for (rt, stored) in [(&USER_TYPE, stored_user()), (&GROUP_TYPE, stored_group())] {
                if let Ok(p) = apply(rt, &stored, &body(Value::Array(ops.clone()))) {
                    prop_assert_eq!(&normalize(rt, &p.resource).unwrap(), &p.resource);
                    prop_assert!(p.resource.get("members").is_none());
                }
            }
        }
    }
}
