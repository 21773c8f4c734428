//! Selftest profiles: an IdP's requests as data (`selftest/<name>.json`,
//! embedded at build time), the tiny templating that threads ids from one
//! step into the next (`{{user.id}}`, `{{run}}`), and the checks on each
//! answer. Pure: no sockets, no database; `selftest/mod.rs` sends the
//! requests. A new IdP profile is a new JSON file and one line in `PROFILES`.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// (name, JSON) of every embedded profile.
pub const PROFILES: [(&str, &str); 3] = [
    ("okta", include_str!("../../../selftest/okta.json")),
    ("entra", include_str!("../../../selftest/entra.json")),
    ("generic", include_str!("../../../selftest/generic.json")),
];

pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|(n, _)| *n).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub profile: String,
    pub description: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub method: String,
    /// Under the integration's base (`/Users?…`), with `{{…}}` references.
    pub path: String,
    #[serde(default)]
    pub body: Option<Value>,
    pub expect: Expect,
    /// Keep the response body under this name for later `{{name.field}}`.
    #[serde(default)]
    pub save: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// One status or any of several.
    pub status: Statuses,
    /// JSON pointer → the value it must hold (strings templated).
    #[serde(default)]
    pub body: Map<String, Value>,
    /// JSON pointers that must exist.
    #[serde(default)]
    pub present: Vec<String>,
    /// JSON pointers that must not exist.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Response headers that must be there.
    #[serde(default)]
    pub headers: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Statuses {
    One(u16),
    Any(Vec<u16>),
}

impl Statuses {
    fn allows(&self, status: u16) -> bool {
        match self {
            Statuses::One(s) => *s == status,
            Statuses::Any(all) => all.contains(&status),
        }
    }

    fn describe(&self) -> String {
        match self {
            Statuses::One(s) => s.to_string(),
            Statuses::Any(all) => all
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

/// Parses the embedded profile `name`.
pub fn load(name: &str) -> Result<Profile, String> {
    let (_, json) = PROFILES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
        format!(
            "no selftest profile '{name}'; one of {}",
            names().join(", ")
        )
    })?;
    serde_json::from_str(json).map_err(|e| format!("selftest profile '{name}' is broken: {e}"))
}

/// What earlier steps left for later ones: `run` (a per-run suffix that
/// keeps names unique) and each saved response body.
#[derive(Debug, Default)]
pub struct Scope {
    pub run: String,
    pub saved: HashMap<String, Value>,
}

impl Scope {
    /// Replaces every `{{ref}}` in `s`; an unknown reference is an error
    /// naming it (an earlier step failed to provide it).
    pub fn fill(&self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in {s:?}"))?;
            out.push_str(&self.lookup(after[..end].trim())?);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(&self, reference: &str) -> Result<String, String> {
        if reference == "run" {
            return Ok(self.run.clone());
        }
        let missing = || format!("needs {{{{{reference}}}}}, which no earlier step provided");
        let mut parts = reference.split('.');
        let first = parts.next().unwrap_or("");
        let mut v = self.saved.get(first).ok_or_else(missing)?;
        for p in parts {
            v = match v {
                Value::Object(m) => m.get(p),
                Value::Array(a) => p.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            }
            .ok_or_else(missing)?;
        }
        Ok(match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// `fill` on every string of a JSON value (keys stay as they are).
    pub fn fill_json(&self, v: &Value) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(self.fill(s)?),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.fill_json(x))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    out.insert(k.clone(), self.fill_json(x)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

/// A response, as the checks see it.
pub struct Answer<'a> {
    pub status: u16,
    /// Lower-case header names.
    pub headers: &'a [String],
    pub body: &'a Value,
    /// The raw body, for the failure message.
    pub text: &'a str,
}

/// Checks an answer against the step's expectations; the error says the
/// first thing that is wrong, with what the server said.
pub fn check(expect: &Expect, scope: &Scope, a: &Answer<'_>) -> Result<(), String> {
    if !expect.status.allows(a.status) {
        let said = a.body["detail"]
            .as_str()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(format!(
            "expected HTTP {}, got {}{said}",
            expect.status.describe(),
            a.status
        ));
    }
    for h in &expect.headers {
        if !a.headers.iter().any(|x| x.eq_ignore_ascii_case(h)) {
            return Err(format!("no {h} header in the answer"));
        }
    }
    for (pointer, want) in &expect.body {
        let want = scope.fill_json(want)?;
        match a.body.pointer(pointer) {
            Some(got) if *got == want => {}
            Some(got) => return Err(format!("{pointer} is {got}, expected {want}")),
            None => {
                return Err(format!(
                    "{pointer} is missing, expected {want}; body: {}",
                    short(a.text)
                ))
            }
        }
    }
    for pointer in &expect.present {
        if a.body.pointer(pointer).is_none() {
            return Err(format!("{pointer} is missing; body: {}", short(a.text)));
        }
    }
    for pointer in &expect.absent {
        if let Some(got) = a.body.pointer(pointer) {
            return Err(format!("{pointer} should be absent, is {got}"));
        }
    }
    Ok(())
}

fn short(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() {
        return "(empty)".into();
    }
    match t.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        let mut s = Scope {
            run: "r1".into(),
            ..Scope::default()
        };
        s.saved.insert(
            "user".into(),
            json!({"id": "u-9", "emails": [{"value": "a@x"}]}),
        );
        s
    }

    #[test]
    fn every_embedded_profile_parses_and_has_steps() {
        for name in names() {
            let p = load(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.profile, name);
            assert!(!p.steps.is_empty());
        }
        assert!(load("nope")
            .unwrap_err()
            .contains("one of okta, entra, generic"));
    }

    #[test]
    fn references_fill_from_saved_bodies_and_the_run() {
        let s = scope();
        assert_eq!(
            s.fill("/Users/{{user.id}}?x={{run}}").unwrap(),
            "/Users/u-9?x=r1"
        );
        assert_eq!(s.fill("{{ user.emails.0.value }}").unwrap(), "a@x");
        assert_eq!(
            s.fill_json(&json!({"members": [{"value": "{{user.id}}"}]}))
                .unwrap(),
            json!({"members": [{"value": "u-9"}]})
        );
    }

    #[test]
    fn a_reference_no_step_provided_is_an_error_naming_it() {
        let err = scope().fill("/Groups/{{group.id}}").unwrap_err();
        assert!(err.contains("{{group.id}}"), "{err}");
        assert!(scope().fill("{{user.nope}}").is_err());
        assert!(scope().fill("{{user.id").is_err());
    }

    fn expect(v: Value) -> Expect {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn checks_status_headers_and_body_pointers() {
        let s = scope();
        let body = json!({"id": "u-9", "active": false, "detail": "nope"});
        let headers = vec!["etag".to_string()];
        let a = Answer {
            status: 200,
            headers: &headers,
            body: &body,
            text: "",
        };
        let ok = expect(json!({"status": [200, 204], "headers": ["ETag"],
            "body": {"/id": "{{user.id}}", "/active": false}, "present": ["/id"], "absent": ["/members"]}));
        assert_eq!(check(&ok, &s, &a), Ok(()));
        let wrong = expect(json!({"status": 201}));
        assert_eq!(
            check(&wrong, &s, &a).unwrap_err(),
            "expected HTTP 201, got 200: nope"
        );
        let value = expect(json!({"status": 200, "body": {"/active": true}}));
        assert!(check(&value, &s, &a)
            .unwrap_err()
            .contains("/active is false"));
        let header = expect(json!({"status": 200, "headers": ["Location"]}));
        assert!(check(&header, &s, &a).unwrap_err().contains("Location"));
        let absent = expect(json!({"status": 200, "absent": ["/id"]}));
        assert!(check(&absent, &s, &a).is_err());
    }
}
