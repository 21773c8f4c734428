//! What IdPs send that the RFC does not quite say, read into its one
//! obvious meaning and named as a quirk: path-less values with dotted or
//! URN-prefixed keys and whole extension objects, `manager` as a bare id,
//! values coerced through `normalize` as POST reads them, and `"True"`/
//! `"False"` where a boolean is expected.

use super::*;

impl Engine<'_> {
    /// A path-less add/replace: each key of the value object is a path of its
    /// own: a canonical or any-case name, a dotted sub-attribute (Entra), a
    /// URN-prefixed attribute (Entra) or a whole extension under its URN.
    pub(super) fn no_path(&mut self, op: Op, value: &Value) -> Result<(), ScimError> {
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
    pub(super) fn extension(
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

    /// `manager` as IdPs send it: a bare id, `{"value": id}` or a one-element
    /// array of either. Applies to any singular complex attribute with a
    /// `value` sub-attribute; in scimd's schemas that is `manager` alone.
    pub(super) fn value_shorthand(
        &mut self,
        t: &AttrTarget,
        raw: &Value,
    ) -> Result<Value, ScimError> {
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

    // ---------------------------------------------------------------- helpers

    /// Type-checks and canonicalises the value for `t` (the whole attribute, or
    /// one sub-attribute value) by running it through `normalize` inside the
    /// smallest resource it accepts, so PATCH shares POST's type rules and
    /// error details. `None`: no value (null, "", [] or {}).
    pub(super) fn coerce(&self, t: &AttrTarget, raw: &Value) -> Result<Option<Value>, ScimError> {
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
    pub(super) fn coerce_one(
        &self,
        t: &AttrTarget,
        raw: &Value,
    ) -> Result<Option<Value>, ScimError> {
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
}

/// Turns `"True"`/`"False"` (any case) compared with a boolean sub-attribute
/// into booleans, as `?filter=` reads them; true if it changed anything.
/// Runs after `check_filter`, so every path names a sub-attribute.
pub(super) fn bool_strings_to_bools(attr: &AttrDef, f: &mut Filter) -> bool {
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

/// Records Entra's `"True"`/`"False"` wherever a boolean is expected.
pub(super) fn note_bool_strings(engine: &mut Engine<'_>, def: &AttrDef, raw: &Value) {
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

pub(super) fn has_bool_string(def: &AttrDef, v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.iter().any(|(k, v)| {
            def.sub(k)
                .is_some_and(|s| s.ty == AttrType::Boolean && v.is_string())
        })
    })
}
