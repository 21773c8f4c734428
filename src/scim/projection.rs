//! Output shaping: the `attributes` and `excludedAttributes` query parameters
//! (RFC 7644 §3.4.2.5, §3.9) combined with each attribute's `returned` rule
//! (RFC 7643 §2.2). A stored resource goes in whole; the client's view comes
//! out. `includes` answers the same question per top-level attribute ahead of
//! time, so the store can skip loading a large member list nobody asked for.
//! Pure: no I/O.
//!
//! Decisions where the RFCs are silent: unknown names in either parameter are
//! ignored (a syntactically bad name is 400 invalidValue); both parameters may
//! be given, and then the exclusions apply to what `attributes` selected;
//! naming an extension URN in `attributes` selects the whole extension; an
//! extension object left empty by projection is dropped and so is its URN in
//! `schemas`, which RFC 7643 §3 defines as the schemas of the attributes
//! present; stored keys that no schema defines are never returned.

use crate::scim::attrpath::AttrPath;
use crate::scim::error::ScimError;
use crate::scim::filter::{self, Filter};
use crate::scim::path::parse_patch_path;
use crate::scim::schema::{
    common_attributes, extension_by_urn, extension_for_path, resolve, AttrDef, ResourceType,
    Returned,
};
use serde_json::{Map, Value};

/// What one parameter entry names, in canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A whole extension, by URN.
    Extension(&'static str),
    /// An attribute or sub-attribute; `ext` is the extension URN, `None` for
    /// core and common attributes (both sit at the top level). `filter` is a
    /// value filter (`emails[type eq "work"]`): only the elements it matches
    /// are selected, or excluded.
    Attr {
        ext: Option<&'static str>,
        attr: &'static str,
        sub: Option<&'static str>,
        filter: Option<Filter>,
    },
}

/// How much of one attribute a parameter list names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pick {
    No,
    Whole,
    Subs(Vec<&'static str>),
}

impl Pick {
    fn names(&self, sub: &str) -> bool {
        matches!(self, Pick::Subs(names) if names.contains(&sub))
    }
}

/// A parsed `attributes` / `excludedAttributes` pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    /// `Some` when `attributes` was given: only these (plus `always`).
    include: Option<Vec<Target>>,
    exclude: Vec<Target>,
}

impl Projection {
    /// Parses both query parameters against `rt`. An empty parameter counts as
    /// absent.
    pub fn parse(
        rt: &ResourceType,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Result<Projection, ScimError> {
        let include = match attributes.map(str::trim).filter(|s| !s.is_empty()) {
            Some(list) => Some(targets(rt, "attributes", list)?),
            None => None,
        };
        let exclude = match excluded {
            Some(list) => targets(rt, "excludedAttributes", list)?,
            None => Vec::new(),
        };
        Ok(Projection { include, exclude })
    }

    /// Neither parameter: every `always` and `default` attribute.
    pub fn all() -> Projection {
        Projection::default()
    }

    /// Whether top-level attribute `name` (canonical, e.g. "members",
    /// "groups", or an extension URN) can appear in the output.
    pub fn includes(&self, rt: &ResourceType, name: &str) -> bool {
        if name.eq_ignore_ascii_case("schemas") {
            return true;
        }
        if let Some(ext) = extension_by_urn(rt, name) {
            let scope = Some(ext.id);
            let excluded = self.exclude.contains(&Target::Extension(ext.id));
            return !excluded
                && match &self.include {
                    None => true,
                    Some(list) => list.iter().any(|t| in_scope(t, scope)),
                };
        }
        match top_def(rt, name) {
            Some(def) => self.decide(None, def).is_some(),
            None => false,
        }
    }

    /// Whether top-level attribute `name` is shown exactly as rendered: every
    /// element, every sub-attribute. Then a caller may write it out itself
    /// (a group's members, straight to bytes) instead of passing it through
    /// `apply`.
    pub fn keeps_whole(&self, rt: &ResourceType, name: &str) -> bool {
        let Some(def) = top_def(rt, name) else {
            return false;
        };
        let Some((inc, exc)) = self.decide(None, def) else {
            return false;
        };
        let (wanted, unwanted) = self.element_filters(None, def.name);
        inc == Pick::Whole
            && exc == Pick::No
            && wanted.is_none()
            && unwanted.is_empty()
            && def
                .sub_attributes
                .iter()
                .all(|s| matches!(s.returned, Returned::Default | Returned::Always))
    }

    /// Shapes a full stored resource (id, schemas, meta and every attribute)
    /// into the client's view.
    ///
    /// It takes the resource by value and moves what it keeps: a group
    /// rendered with 100 000 members is tens of MB, and a copy of it would
    /// double the peak memory of the response.
    pub fn apply(&self, rt: &ResourceType, resource: Value) -> Value {
        let Value::Object(obj) = resource else {
            return resource;
        };
        let mut out = Map::new();
        let mut dropped: Vec<&str> = Vec::new();
        for (key, value) in obj {
            if key == "schemas" {
                out.insert(key, value);
            } else if let Some(ext) = extension_by_urn(rt, &key) {
                let kept = match value {
                    Value::Object(inner) => {
                        let mut m = Map::new();
                        for (k, v) in inner {
                            let Some(def) = ext.attr(&k) else { continue };
                            if let Some(v) = self.project_attr(Some(ext.id), def, v) {
                                m.insert(k, v);
                            }
                        }
                        Some(m)
                    }
                    _ => None,
                };
                match kept {
                    Some(m) if !m.is_empty() => {
                        out.insert(key, Value::Object(m));
                    }
                    _ => dropped.push(ext.id),
                }
            } else if let Some(def) = top_def(rt, &key) {
                if let Some(v) = self.project_attr(None, def, value) {
                    out.insert(key, v);
                }
            }
        }
        if let Some(Value::Array(schemas)) = out.get_mut("schemas") {
            schemas.retain(|s| {
                !s.as_str()
                    .is_some_and(|s| dropped.iter().any(|d| d.eq_ignore_ascii_case(s)))
            });
        }
        Value::Object(out)
    }

    /// What is selected and what is excluded for one attribute, or `None`
    /// when it does not appear at all.
    fn decide(&self, scope: Option<&str>, def: &AttrDef) -> Option<(Pick, Pick)> {
        match def.returned {
            Returned::Never => return None,
            Returned::Always => return Some((Pick::Whole, Pick::No)),
            Returned::Default | Returned::Request => {}
        }
        let inc = match &self.include {
            Some(list) => pick(list, scope, def.name, false),
            None if def.returned == Returned::Request => Pick::No,
            None => Pick::Whole,
        };
        let exc = pick(&self.exclude, scope, def.name, true);
        if inc == Pick::No || exc == Pick::Whole {
            return None;
        }
        Some((inc, exc))
    }

    fn project_attr(&self, scope: Option<&str>, def: &AttrDef, value: Value) -> Option<Value> {
        let (inc, exc) = self.decide(scope, def)?;
        if def.sub_attributes.is_empty() {
            return Some(value);
        }
        let untouched = inc == Pick::Whole
            && exc == Pick::No
            && def
                .sub_attributes
                .iter()
                .all(|s| matches!(s.returned, Returned::Default | Returned::Always));
        let keep = |k: &str| match def.sub(k) {
            None => false,
            Some(s) => match s.returned {
                Returned::Never => false,
                Returned::Always => true,
                Returned::Request => inc.names(s.name) && !exc.names(s.name),
                Returned::Default => {
                    (inc == Pick::Whole || inc.names(s.name)) && !exc.names(s.name)
                }
            },
        };
        let (wanted, unwanted) = self.element_filters(scope, def.name);
        let case_exact = |name: &str| def.sub(name).is_some_and(|s| s.case_exact);
        let chosen = |item: &Value| {
            wanted.as_ref().is_none_or(|fs| {
                fs.iter()
                    .any(|f| filter::matches_element(f, item, &case_exact))
            }) && !unwanted
                .iter()
                .any(|f| filter::matches_element(f, item, &case_exact))
        };
        let filter = |o: Map<String, Value>| -> Option<Value> {
            if untouched && o.keys().all(|k| def.sub(k).is_some()) {
                return Some(Value::Object(o));
            }
            let m: Map<String, Value> = o.into_iter().filter(|(k, _)| keep(k)).collect();
            (!m.is_empty()).then_some(Value::Object(m))
        };
        match value {
            Value::Object(o) => filter(o),
            Value::Array(items) => {
                let kept: Vec<Value> = items
                    .into_iter()
                    .filter(|item| chosen(item))
                    .filter_map(|item| match item {
                        Value::Object(o) => filter(o),
                        other => Some(other),
                    })
                    .collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            }
            other => Some(other),
        }
    }
}

impl Projection {
    /// The value filters that select elements of `attr` (None: every element)
    /// and those that exclude elements of it.
    fn element_filters(
        &self,
        scope: Option<&str>,
        attr: &str,
    ) -> (Option<Vec<&Filter>>, Vec<&Filter>) {
        let of_attr = |list| filters_of(list, scope, attr);
        let wanted = self.include.as_deref().map(of_attr).and_then(|fs| {
            // One mention without a filter selects every element.
            fs.iter()
                .all(Option::is_some)
                .then(|| fs.into_iter().flatten().collect())
        });
        let wanted = wanted.filter(|fs: &Vec<&Filter>| !fs.is_empty());
        let unwanted = of_attr(&self.exclude).into_iter().flatten().collect();
        (wanted, unwanted)
    }
}

/// The value filters of the entries of `list` naming `attr` (None for an
/// entry without one).
fn filters_of<'t>(list: &'t [Target], scope: Option<&str>, attr: &str) -> Vec<Option<&'t Filter>> {
    list.iter()
        .filter_map(|t| match t {
            Target::Attr {
                ext,
                attr: a,
                filter,
                ..
            } if *ext == scope && *a == attr => Some(filter.as_ref()),
            _ => None,
        })
        .collect()
}

/// Splits a parameter list on the commas outside `[…]` and strings, so a
/// value filter may hold commas and spaces.
fn split_list(list: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut start) = (0usize, false, false, 0);
    for (i, c) in list.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&list[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn targets(rt: &ResourceType, param: &str, list: &str) -> Result<Vec<Target>, ScimError> {
    let bad = |e: ScimError| ScimError::invalid_value(format!("{param}: {}", e.detail));
    let mut out = Vec::new();
    for item in split_list(list) {
        // `emails[type eq "work"]` and `emails[type eq "work"].value`: not in
        // the RFC, but Microsoft's reference tests send them.
        let (p, filter) = if item.contains('[') {
            let parsed = parse_patch_path(item).map_err(bad)?;
            let mut p = parsed.attr;
            p.sub = parsed.sub;
            (p, parsed.filter)
        } else {
            (
                AttrPath::parse(item).map_err(|e| bad(ScimError::invalid_value(e)))?,
                None,
            )
        };
        if let Some(ext) = extension_for_path(rt, &p) {
            out.push(Target::Extension(ext.id));
        } else if let Some(r) = resolve(rt, &p) {
            out.push(Target::Attr {
                ext: r.extension(rt),
                attr: r.attr.name,
                sub: r.sub.map(|s| s.name),
                filter: filter.filter(|_| r.attr.multi_valued),
            });
        }
    }
    Ok(out)
}

/// `exclude` is true for `excludedAttributes`, where a filtered entry drops
/// elements (see `element_filters`), not the attribute.
fn pick(list: &[Target], scope: Option<&str>, attr: &str, exclude: bool) -> Pick {
    let mut subs = Vec::new();
    for t in list {
        match t {
            Target::Extension(urn) if scope == Some(*urn) => return Pick::Whole,
            Target::Attr {
                ext,
                attr: a,
                sub,
                filter,
            } if *ext == scope && *a == attr && !(exclude && filter.is_some()) => match sub {
                None => return Pick::Whole,
                Some(s) => subs.push(*s),
            },
            _ => {}
        }
    }
    if subs.is_empty() {
        Pick::No
    } else {
        Pick::Subs(subs)
    }
}

fn in_scope(t: &Target, scope: Option<&str>) -> bool {
    match t {
        Target::Extension(urn) => scope == Some(*urn),
        Target::Attr { ext, .. } => *ext == scope,
    }
}

/// A top-level attribute: core schema first, then the common attributes.
fn top_def(rt: &ResourceType, name: &str) -> Option<&'static AttrDef> {
    rt.schema.attr(name).or_else(|| {
        common_attributes()
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::schema::{
        AttrType, Mutability, SchemaDef, Uniqueness, ENTERPRISE_USER_URN, GROUP_TYPE, GROUP_URN,
        USER_TYPE, USER_URN,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn stored_user() -> Value {
        json!({
            "schemas": [USER_URN, ENTERPRISE_USER_URN],
            "id": "u1",
            "externalId": "e1",
            "userName": "bjensen",
            "name": {"givenName": "Barbara", "familyName": "Jensen"},
            "active": true,
            "password": "should-never-be-here",
            "emails": [
                {"value": "b@example.com", "type": "work", "primary": true},
                {"value": "b@home.example", "type": "home"},
            ],
            "groups": [{"value": "g1", "display": "Admins"}],
            ENTERPRISE_USER_URN: {"employeeNumber": "7", "manager": {"value": "m1"}},
            "meta": {"resourceType": "User", "location": "https://x/Users/u1"},
        })
    }

    fn stored_group() -> Value {
        json!({
            "schemas": [GROUP_URN],
            "id": "g1",
            "displayName": "Admins",
            "members": [{"value": "u1", "display": "Barbara"}],
            "meta": {"resourceType": "Group"},
        })
    }

    fn project(attrs: Option<&str>, excl: Option<&str>) -> Value {
        Projection::parse(&USER_TYPE, attrs, excl)
            .unwrap()
            .apply(&USER_TYPE, stored_user())
    }

    fn keys(v: &Value) -> Vec<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn all_returns_every_default_attribute() {
        let out = Projection::all().apply(&USER_TYPE, stored_user());
        let mut expected = stored_user();
        expected.as_object_mut().unwrap().remove("password");
        assert_eq!(out, expected);
    }

    #[test]
    fn a_value_filter_in_attributes_selects_matching_elements_only() {
        let out = project(Some(r#"emails[type eq "work"]"#), None);
        assert_eq!(
            out["emails"],
            json!([{"value": "b@example.com", "type": "work", "primary": true}])
        );
        assert!(out.get("userName").is_none());
    }

    #[test]
    fn a_value_filter_with_a_sub_attribute_selects_that_sub_attribute() {
        let out = project(Some(r#"userName,emails[type eq "work"].value"#), None);
        assert_eq!(out["emails"], json!([{"value": "b@example.com"}]));
        assert_eq!(out["userName"], "bjensen");
    }

    #[test]
    fn a_value_filter_may_hold_commas_and_or() {
        let out = project(Some(r#"emails[type eq "a,b" or type eq "home"]"#), None);
        assert_eq!(
            out["emails"],
            json!([{"value": "b@home.example", "type": "home"}])
        );
    }

    #[test]
    fn the_attribute_named_without_a_filter_as_well_selects_every_element() {
        let out = project(Some(r#"emails[type eq "work"],emails"#), None);
        assert_eq!(out["emails"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn a_value_filter_in_excluded_attributes_drops_matching_elements_only() {
        let out = project(None, Some(r#"emails[type eq "work"]"#));
        assert_eq!(
            out["emails"],
            json!([{"value": "b@home.example", "type": "home"}])
        );
        assert_eq!(out["userName"], "bjensen");
    }

    #[test]
    fn a_value_filter_matching_nothing_leaves_the_attribute_out() {
        let out = project(Some(r#"emails[type eq "other"]"#), None);
        assert!(out.get("emails").is_none());
    }

    #[test]
    fn a_broken_value_filter_is_invalid_value_naming_the_parameter() {
        let e = Projection::parse(&USER_TYPE, Some(r#"emails[type eq]"#), None).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.starts_with("attributes: "), "{}", e.detail);
    }

    #[test]
    fn never_returned_attributes_are_dropped() {
        let out = project(Some("password,userName"), None);
        assert!(out.get("password").is_none());
    }

    #[test]
    fn attributes_keeps_only_named_plus_always() {
        let out = project(Some("userName"), None);
        assert_eq!(keys(&out), ["schemas", "id", "userName"]);
        assert_eq!(out["schemas"], json!([USER_URN]));
    }

    #[test]
    fn attribute_parameter_names_are_case_insensitive() {
        let out = project(Some("USERNAME,Name.GivenName"), None);
        assert_eq!(out["userName"], "bjensen");
        assert_eq!(out["name"], json!({"givenName": "Barbara"}));
    }

    #[test]
    fn naming_a_sub_attribute_keeps_only_that_sub_attribute() {
        let out = project(Some("name.familyName,emails.value"), None);
        assert_eq!(out["name"], json!({"familyName": "Jensen"}));
        assert_eq!(
            out["emails"],
            json!([{"value": "b@example.com"}, {"value": "b@home.example"}])
        );
    }

    #[test]
    fn naming_an_extension_urn_keeps_the_whole_extension() {
        let out = project(Some(ENTERPRISE_USER_URN), None);
        assert_eq!(out[ENTERPRISE_USER_URN], stored_user()[ENTERPRISE_USER_URN]);
        assert_eq!(out["schemas"], json!([USER_URN, ENTERPRISE_USER_URN]));
        assert!(out.get("userName").is_none());
    }

    #[test]
    fn naming_an_extension_attribute_keeps_only_it() {
        let out = project(Some(&format!("{ENTERPRISE_USER_URN}:manager.value")), None);
        assert_eq!(
            out[ENTERPRISE_USER_URN],
            json!({"manager": {"value": "m1"}})
        );
        let out = project(Some("employeeNumber"), None);
        assert_eq!(out[ENTERPRISE_USER_URN], json!({"employeeNumber": "7"}));
    }

    #[test]
    fn meta_is_returned_by_default_but_not_when_unrequested() {
        assert!(project(None, None).get("meta").is_some());
        assert!(project(Some("userName"), None).get("meta").is_none());
        assert!(project(Some("meta.location"), None)["meta"]
            .get("resourceType")
            .is_none());
    }

    #[test]
    fn excluded_attributes_remove_default_ones() {
        let out = Projection::parse(&GROUP_TYPE, None, Some("members"))
            .unwrap()
            .apply(&GROUP_TYPE, stored_group());
        assert_eq!(keys(&out), ["schemas", "id", "displayName", "meta"]);
    }

    #[test]
    fn excluded_attributes_never_remove_id() {
        let out = project(None, Some("id,schemas,userName"));
        assert_eq!(out["id"], "u1");
        assert!(out.get("schemas").is_some());
        assert!(out.get("userName").is_none());
    }

    #[test]
    fn excluding_a_sub_attribute_removes_only_it() {
        let out = project(None, Some("emails.type,name.givenName"));
        assert_eq!(out["name"], json!({"familyName": "Jensen"}));
        assert_eq!(
            out["emails"][0],
            json!({"value": "b@example.com", "primary": true})
        );
    }

    #[test]
    fn excluding_an_extension_drops_it_and_its_urn() {
        let out = project(None, Some(ENTERPRISE_USER_URN));
        assert!(out.get(ENTERPRISE_USER_URN).is_none());
        assert_eq!(out["schemas"], json!([USER_URN]));
    }

    #[test]
    fn emptied_extension_is_dropped_from_schemas() {
        let out = project(None, Some("employeeNumber,manager"));
        assert!(out.get(ENTERPRISE_USER_URN).is_none());
        assert_eq!(out["schemas"], json!([USER_URN]));
    }

    #[test]
    fn attributes_and_excluded_attributes_combine() {
        let out = project(Some("name,emails"), Some("name.givenName,emails"));
        assert_eq!(keys(&out), ["schemas", "id", "name"]);
        assert_eq!(out["name"], json!({"familyName": "Jensen"}));
    }

    #[test]
    fn unknown_names_are_ignored() {
        let p = Projection::parse(&USER_TYPE, None, Some("shoeSize,name.shoe")).unwrap();
        assert_eq!(p, Projection::all());
        let out = project(Some("shoeSize"), None);
        assert_eq!(keys(&out), ["schemas", "id"]);
    }

    #[test]
    fn syntactically_bad_name_is_invalid_value() {
        let e = Projection::parse(&USER_TYPE, Some("userName,1bad"), None).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.starts_with("attributes: "), "{}", e.detail);
        let e = Projection::parse(&USER_TYPE, None, Some("a.b.c")).unwrap_err();
        assert!(e.detail.starts_with("excludedAttributes: "), "{}", e.detail);
    }

    #[test]
    fn empty_attributes_parameter_counts_as_absent() {
        assert_eq!(
            Projection::parse(&USER_TYPE, Some(" "), Some("")).unwrap(),
            Projection::all()
        );
    }

    #[test]
    fn stored_keys_outside_every_schema_are_not_returned() {
        let mut stored = stored_user();
        stored["internalFlag"] = json!(1);
        stored["urn:example:other:2.0:User"] = json!({"x": 1});
        stored["name"]["shoe"] = json!(44);
        let out = Projection::all().apply(&USER_TYPE, stored.clone());
        assert!(out.get("internalFlag").is_none());
        assert!(out.get("urn:example:other:2.0:User").is_none());
        assert!(out["name"].get("shoe").is_none());
    }

    #[test]
    fn includes_reports_top_level_attributes() {
        let all = Projection::all();
        assert!(all.includes(&GROUP_TYPE, "members"));
        assert!(all.includes(&USER_TYPE, "groups"));
        assert!(!all.includes(&USER_TYPE, "password"));
        let no_members = Projection::parse(&GROUP_TYPE, None, Some("members")).unwrap();
        assert!(!no_members.includes(&GROUP_TYPE, "members"));
        assert!(no_members.includes(&GROUP_TYPE, "id"));
        let only_name = Projection::parse(&USER_TYPE, Some("userName"), None).unwrap();
        assert!(!only_name.includes(&USER_TYPE, "groups"));
        assert!(only_name.includes(&USER_TYPE, "id"));
        assert!(only_name.includes(&USER_TYPE, "schemas"));
        let member_ids = Projection::parse(&GROUP_TYPE, Some("members.value"), None).unwrap();
        assert!(member_ids.includes(&GROUP_TYPE, "members"));
    }

    #[test]
    fn includes_reports_extensions() {
        let urn = ENTERPRISE_USER_URN;
        assert!(Projection::all().includes(&USER_TYPE, urn));
        let p = Projection::parse(&USER_TYPE, Some("userName"), None).unwrap();
        assert!(!p.includes(&USER_TYPE, urn));
        let p = Projection::parse(&USER_TYPE, Some("employeeNumber"), None).unwrap();
        assert!(p.includes(&USER_TYPE, urn));
        let p = Projection::parse(&USER_TYPE, None, Some(urn)).unwrap();
        assert!(!p.includes(&USER_TYPE, urn));
    }

    const BASE: AttrDef = AttrDef {
        name: "",
        ty: AttrType::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description: "",
    };
    static SECRETIVE_SCHEMA: SchemaDef = SchemaDef {
        id: "urn:example:secretive",
        name: "Secretive",
        description: "",
        attributes: &[
            AttrDef {
                name: "plain",
                ..BASE
            },
            AttrDef {
                name: "onDemand",
                returned: Returned::Request,
                ..BASE
            },
            AttrDef {
                name: "badge",
                ty: AttrType::Complex,
                sub_attributes: &[
                    AttrDef {
                        name: "label",
                        ..BASE
                    },
                    AttrDef {
                        name: "serial",
                        returned: Returned::Request,
                        ..BASE
                    },
                    AttrDef {
                        name: "kind",
                        returned: Returned::Always,
                        ..BASE
                    },
                ],
                ..BASE
            },
        ],
    };
    static SECRETIVE: ResourceType = ResourceType {
        name: "Secretive",
        endpoint: "/Secretive",
        description: "",
        schema: &SECRETIVE_SCHEMA,
        extensions: &[],
    };

    fn secretive(attrs: Option<&str>, excl: Option<&str>) -> Value {
        let stored = json!({
            "id": "s1",
            "plain": "p",
            "onDemand": "o",
            "badge": {"label": "l", "serial": "s", "kind": "k"},
        });
        Projection::parse(&SECRETIVE, attrs, excl)
            .unwrap()
            .apply(&SECRETIVE, stored.clone())
    }

    #[test]
    fn request_returned_attributes_appear_only_when_named() {
        let out = secretive(None, None);
        assert!(out.get("onDemand").is_none());
        assert_eq!(out["badge"], json!({"label": "l", "kind": "k"}));
        let out = secretive(Some("onDemand,badge.serial"), None);
        assert_eq!(out["onDemand"], "o");
        assert_eq!(out["badge"], json!({"serial": "s", "kind": "k"}));
        assert!(!Projection::all().includes(&SECRETIVE, "onDemand"));
    }

    #[test]
    fn always_returned_sub_attributes_survive_exclusion() {
        let out = secretive(None, Some("badge.kind,badge.label"));
        assert_eq!(out["badge"], json!({"kind": "k"}));
    }

    fn arb_list() -> impl Strategy<Value = Option<String>> {
        let names = prop_oneof![
            Just("id"),
            Just("userName"),
            Just("name.givenName"),
            Just("emails.value"),
            Just("emails"),
            Just("meta"),
            Just("groups"),
            Just("password"),
            Just(ENTERPRISE_USER_URN),
            Just("employeeNumber"),
            Just("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"),
            Just("shoeSize"),
        ];
        prop::option::of(prop::collection::vec(names, 0..5).prop_map(|v| v.join(",")))
    }

    proptest! {
        #[test]
        fn id_and_schemas_survive_any_projection(attrs in arb_list(), excl in arb_list()) {
            let p = Projection::parse(&USER_TYPE, attrs.as_deref(), excl.as_deref()).unwrap();
            let out = p.apply(&USER_TYPE, stored_user());
            prop_assert_eq!(&out["id"], &json!("u1"));
            prop_assert_eq!(&out["schemas"][0], &json!(USER_URN));
            prop_assert!(out.get("password").is_none());
            for key in keys(&out) {
                prop_assert!(key == "schemas" || p.includes(&USER_TYPE, &key), "{}", key);
            }
        }
    }
}
