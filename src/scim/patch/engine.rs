//! The engine proper: the request's shape and schemas, each operation's
//! path resolved against the schema, and add, replace and remove on
//! singular, complex and multi-valued attributes, honouring mutability
//! and value filters.

use super::dialects::{bool_strings_to_bools, note_bool_strings};
use super::*;

impl Engine<'_> {
    pub(super) fn quirk(&mut self, name: &'static str) {
        if !self.quirks.contains(&name) {
            self.quirks.push(name);
        }
    }

    /// `schemas` should be exactly the PatchOp URN; a missing one or extra
    /// ones (Entra adds its custom schemas) are accepted and noted.
    pub(super) fn check_schemas(&mut self, body: &Map<String, Value>) {
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

    pub(super) fn operations<'b>(
        &mut self,
        body: &'b Map<String, Value>,
    ) -> Result<&'b [Value], ScimError> {
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

    pub(super) fn operation(&mut self, raw: &Value) -> Result<(), ScimError> {
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
    pub(super) fn target(&mut self, text: &str) -> Result<Option<Target>, ScimError> {
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

    pub(super) fn apply_target(
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

    // ------------------------------------------------------------ add/replace

    pub(super) fn set(&mut self, op: Op, t: &AttrTarget, raw: &Value) -> Result<(), ScimError> {
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
    pub(super) fn set_multi(
        &mut self,
        op: Op,
        t: &AttrTarget,
        raw: &Value,
    ) -> Result<(), ScimError> {
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
    pub(super) fn set_complex(&mut self, t: &AttrTarget, raw: &Value) -> Result<(), ScimError> {
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

    // ----------------------------------------------------------------- remove

    pub(super) fn remove(
        &mut self,
        t: &AttrTarget,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
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

    pub(super) fn elements(&self, t: &AttrTarget) -> Vec<Value> {
        scope(&self.doc, t.ext)
            .and_then(|s| s.get(t.attr.name))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// Indexes of the elements the target's filter selects.
    pub(super) fn matching(&self, t: &AttrTarget) -> Vec<usize> {
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
    pub(super) fn put_elements(
        &mut self,
        t: &AttrTarget,
        mut items: Vec<Value>,
        touched: &[usize],
    ) {
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
pub(super) fn check_filter(attr: &AttrDef, f: &Filter, label: &str) -> Result<(), ScimError> {
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

/// The element an `add` to `attr[type eq "mobile"]` creates: possible only
/// when the filter is `eq` comparisons on simple writable sub-attributes
/// joined by `and`, and they do not contradict each other.
pub(super) fn element_from_filter(attr: &AttrDef, f: &Filter) -> Option<Map<String, Value>> {
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

/// Two elements of a multi-valued attribute are the same value when their
/// `value`s are equal (case-insensitively unless caseExact); attributes
/// without a `value` sub-attribute (addresses) compare whole elements.
pub(super) fn same_element(attr: &AttrDef, a: &Value, b: &Value) -> bool {
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
pub(super) fn drop_stale_ref(
    attr: &AttrDef,
    obj: &mut Map<String, Value>,
    old_value: Option<&Value>,
    ref_given: bool,
) {
    if !ref_given && attr.sub("$ref").is_some() && obj.get("value") != old_value {
        obj.remove("$ref");
    }
}

pub(super) fn set_sub(item: &mut Value, name: &str, v: Option<Value>) {
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

pub(super) fn put_or_remove(scope: &mut Map<String, Value>, name: &str, obj: Map<String, Value>) {
    if obj.is_empty() {
        scope.remove(name);
    } else {
        scope.insert(name.to_string(), Value::Object(obj));
    }
}

pub(super) fn scope<'a>(
    doc: &'a Map<String, Value>,
    ext: Option<&str>,
) -> Option<&'a Map<String, Value>> {
    match ext {
        None => Some(doc),
        Some(urn) => doc.get(urn).and_then(Value::as_object),
    }
}

/// The map an attribute lives in, creating the extension object if needed
/// (normalize drops it again if it stays empty).
pub(super) fn scope_mut<'a>(
    doc: &'a mut Map<String, Value>,
    ext: Option<&str>,
) -> &'a mut Map<String, Value> {
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

pub(super) fn required_error(label: &str) -> ScimError {
    ScimError::mutability(format!("'{label}' is required and cannot be removed"))
}
