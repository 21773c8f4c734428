//! Group membership: `members` never lives in the JSON. Member operations
//! (add, remove by id or by filter, replace all) become `MemberOp`s for the
//! store, which changes single rows.

use super::*;

impl Engine<'_> {
    pub(super) fn is_members(&self, t: &AttrTarget) -> bool {
        t.ext.is_none() && self.rt.schema.id == GROUP_URN && t.attr.name == "members"
    }

    // ---------------------------------------------------------------- members

    pub(super) fn members(
        &mut self,
        op: Op,
        t: &AttrTarget,
        value: Option<&Value>,
    ) -> Result<(), ScimError> {
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
    pub(super) fn member_refs(&mut self, v: &Value) -> Result<Vec<MemberRef>, ScimError> {
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
}

/// `value eq "a"` or `value eq "a" or value eq "b"`: the ids, so the store
/// can delete by key; anything else goes to the store as a filter.
pub(super) fn value_eq_ids(f: &Filter) -> Option<Vec<String>> {
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
