//! Opaque cursors for RFC 9865 cursor paging. A cursor is a keyset position
//! (the sort key and insertion sequence of the last resource returned, and
//! for `/.search` which resource type it was in) plus a short hash binding it
//! to the query that produced it, as base64url without padding: only RFC 3986
//! unreserved characters, as RFC 9865 requires.
//!
//! Decisions: cursors never expire (a position stays meaningful however long
//! the client waits, and however the data changes; rows inserted meanwhile
//! have higher seqs); a cursor used with a different filter, sortBy,
//! sortOrder, endpoint or integration is refused with 400 `invalidCursor`, as
//! is anything that does not decode. A client can forge a position, which
//! only moves where its own query resumes. Pure: no I/O.

use crate::scim::error::{ScimError, ScimType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const VERSION: i64 = 1;

/// The sort key of the last row returned, as SQLite gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// Where the next page starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// Which resource type of a cross-type search (0 for a single type).
    pub part: u8,
    /// (key, seq) of the last row returned; None: the start of `part`.
    pub after: Option<(Key, i64)>,
}

/// A short hash of everything a cursor must be used with again.
pub fn binding(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..8])
}

pub fn encode(binding: &str, c: &Cursor) -> String {
    let (seq, key) = match &c.after {
        None => (Value::Null, Value::Null),
        Some((key, seq)) => (
            json!(seq),
            match key {
                Key::Null => Value::Null,
                Key::Int(n) => json!(n),
                // Bits, so the value comes back exactly.
                Key::Real(r) => json!({ "r": r.to_bits().to_string() }),
                Key::Text(t) => json!(t),
            },
        ),
    };
    let doc = json!([VERSION, binding, c.part, seq, key]);
    base64url_encode(doc.to_string().as_bytes())
}

fn invalid(detail: &str) -> ScimError {
    ScimError::bad(ScimType::InvalidCursor, detail)
}

/// Decodes a client's `cursor`: empty means the first page (None).
pub fn decode(raw: &str, binding: &str) -> Result<Option<Cursor>, ScimError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let garbled = || {
        invalid(
            "cursor is not a value this server returned (garbled or truncated); \
             send an empty cursor for the first page, then each nextCursor as returned",
        )
    };
    let bytes = base64url_decode(raw).ok_or_else(garbled)?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|_| garbled())?;
    let [version, hash, part, seq, key] = doc.as_array().map(Vec::as_slice).unwrap_or(&[]) else {
        return Err(garbled());
    };
    if version.as_i64() != Some(VERSION) {
        return Err(garbled());
    }
    if hash.as_str() != Some(binding) {
        return Err(invalid(
            "cursor belongs to a different query; repeat the filter, sortBy and sortOrder \
             of the request that returned it, on the same endpoint",
        ));
    }
    let part = part
        .as_u64()
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(garbled)?;
    let after = match seq {
        Value::Null => None,
        s => {
            let seq = s.as_i64().ok_or_else(garbled)?;
            let key = match key {
                Value::Null => Key::Null,
                Value::String(t) => Key::Text(t.clone()),
                Value::Number(n) => Key::Int(n.as_i64().ok_or_else(garbled)?),
                Value::Object(o) => {
                    let bits = o
                        .get("r")
                        .and_then(Value::as_str)
                        .and_then(|b| b.parse::<u64>().ok())
                        .ok_or_else(garbled)?;
                    Key::Real(f64::from_bits(bits))
                }
                _ => return Err(garbled()),
            };
            Some((key, seq))
        }
    };
    Ok(Some(Cursor { part, after }))
}

fn base64url_encode(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b() -> String {
        binding(&["Users", "int_a", "userName sw \"a\"", "", "a"])
    }

    #[test]
    fn round_trips_every_key_kind() {
        for after in [
            None,
            Some((Key::Null, 7)),
            Some((Key::Int(-3), 1)),
            Some((Key::Real(0.1 + 0.2), 2)),
            Some((Key::Text("bjensen é \"x\"".into()), i64::MAX)),
        ] {
            let c = Cursor { part: 1, after };
            let s = encode(&b(), &c);
            assert!(
                s.bytes()
                    .all(|x| x.is_ascii_alphanumeric() || x == b'-' || x == b'_'),
                "{s}"
            );
            assert_eq!(decode(&s, &b()).unwrap(), Some(c));
        }
    }

    #[test]
    fn empty_is_the_start() {
        assert_eq!(decode("", &b()).unwrap(), None);
        assert_eq!(decode("  ", &b()).unwrap(), None);
    }

    #[test]
    fn garbled_and_foreign_cursors_are_invalid_cursor() {
        let good = encode(
            &b(),
            &Cursor {
                part: 0,
                after: Some((Key::Null, 5)),
            },
        );
        let other = binding(&["Users", "int_a", "userName sw \"b\"", "", "a"]);
        for (raw, bind) in [
            ("not a cursor!", b()),
            ("AAAA", b()),
            ("A", b()),
            (&good[..good.len() - 3], b()),
            ("W10", b()),
            (good.as_str(), other),
        ] {
            let e = decode(raw, &bind).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.scim_type, Some(ScimType::InvalidCursor), "{raw}");
        }
        let e = decode(&good, &binding(&["x"])).unwrap_err();
        assert!(e.detail.contains("different query"), "{}", e.detail);
    }

    proptest! {
        #[test]
        fn base64url_round_trips(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(base64url_decode(&base64url_encode(&data)), Some(data));
        }

        #[test]
        fn decode_never_panics(raw in ".{0,80}") {
            let _ = decode(&raw, &b());
        }
    }
}
