//! The request's query string: `application/x-www-form-urlencoded` pairs,
//! percent-decoded. Filters carry quotes, spaces and brackets, so decoding
//! must be exact; invalid UTF-8 is a client error, not a panic.
//!
//! Decoded by hand on purpose: `form_urlencoded` and `percent-encoding` pass
//! a malformed escape (`%zz`, a lone `%`) through as text and replace invalid
//! UTF-8, so a broken filter would run as a different filter. Here either is
//! a 400 naming the spot.

use crate::scim::error::ScimError;

#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Result<Query, ScimError> {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            pairs.push((decode(k)?, decode(v)?));
        }
        Ok(Query { pairs })
    }

    /// First value of a parameter; names compare case-insensitively because
    /// IdPs disagree on `startIndex` vs `startindex`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn decode(s: &str) -> Result<String, ScimError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        ScimError::invalid_syntax(format!(
                            "bad percent-escape in query string near '{s}'"
                        ))
                    })?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ScimError::invalid_syntax("query string is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_and_plus() {
        let q = Query::parse(Some("filter=userName%20eq%20%22a+b%22&count=2")).unwrap();
        assert_eq!(q.get("filter"), Some("userName eq \"a b\""));
        assert_eq!(q.get("COUNT"), Some("2"));
    }

    #[test]
    fn bad_escape_is_an_error_not_a_panic() {
        assert!(Query::parse(Some("a=%zz")).is_err());
        assert!(Query::parse(Some("a=%")).is_err());
        assert!(Query::parse(Some("a=%ff")).is_err());
    }
}
