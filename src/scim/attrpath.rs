//! Attribute paths as clients write them (RFC 7644 §3.10): an optional schema
//! URN, an attribute name and an optional sub-attribute, e.g. `name.familyName`
//! or `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
//! Parsing only: whether the attribute exists is the schema's business. Pure.

use crate::scim::error::ScimError;
use std::fmt;

/// `[urn ":"] name ["." sub]`, with the client's spelling preserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn simple(name: &str) -> Self {
        AttrPath {
            urn: None,
            name: name.to_string(),
            sub: None,
        }
    }

    /// Parses a whole string as one attribute path. Errors are `invalidPath`-free
    /// plain messages; callers wrap them in the `scimType` their context needs.
    pub fn parse(input: &str) -> Result<AttrPath, String> {
        let s = input.trim();
        if s.is_empty() {
            return Err("empty attribute path".into());
        }
        // A URN prefix ends at the last ':'; attribute names never contain one,
        // and the URN itself may contain dots ("2.0"), so split there first.
        // `get` rather than `[..4]`: byte 4 need not be a char boundary.
        let has_urn = s.len() > 4 && s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"));
        let (urn, rest) = if has_urn {
            match s.rfind(':') {
                Some(i) if i + 1 < s.len() => (Some(s[..i].to_string()), &s[i + 1..]),
                _ => return Err(format!("'{s}' has a schema URN but no attribute name")),
            }
        } else {
            (None, s)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, sub)) => (n, Some(sub)),
            None => (rest, None),
        };
        check_name(name, s)?;
        if let Some(sub) = sub {
            check_name(sub, s)?;
        }
        Ok(AttrPath {
            urn,
            name: name.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// Parses a comma-separated list such as the `attributes` query parameter.
    pub fn parse_list(input: &str) -> Result<Vec<AttrPath>, ScimError> {
        input
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| AttrPath::parse(p).map_err(ScimError::invalid_value))
            .collect()
    }
}

/// ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA (RFC 7643 §2.1).
/// `$ref` is the one reserved name that starts with '$'.
pub fn is_attr_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_name(name: &str, whole: &str) -> Result<(), String> {
    if is_attr_name(name) {
        Ok(())
    } else {
        Err(format!(
            "'{name}' in '{whole}' is not a valid attribute name"
        ))
    }
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_sub_attribute() {
        let p = AttrPath::parse("name.familyName").unwrap();
        assert_eq!(p.urn, None);
        assert_eq!(p.name, "name");
        assert_eq!(p.sub.as_deref(), Some("familyName"));
    }

    #[test]
    fn urn_with_dotted_version_splits_at_last_colon() {
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub.as_deref(), Some("value"));
    }

    #[test]
    fn rejects_bad_names() {
        assert!(AttrPath::parse("1abc").is_err());
        assert!(AttrPath::parse("a.b.c").is_err());
        assert!(AttrPath::parse("").is_err());
        assert!(AttrPath::parse("urn:x:").is_err());
    }

    #[test]
    fn non_ascii_within_first_four_bytes_is_an_error_not_a_panic() {
        assert!(AttrPath::parse("ab€x").is_err());
        assert!(AttrPath::parse("é").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["userName", "emails.value", "urn:a:b:User:employeeNumber"] {
            assert_eq!(AttrPath::parse(s).unwrap().to_string(), s);
        }
    }
}
