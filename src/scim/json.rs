//! Reading a request body as JSON, stricter and more forgiving than
//! `serde_json::from_slice` in the two places that matter for SCIM: a key
//! repeated in one object is refused (serde_json would keep the last one, so
//! `{"userName":"a","userName":"b"}` would silently create `b`), and a UTF-8
//! byte-order mark in front of the text, which some Windows tools write, is
//! skipped. Pure: bytes in, a `Value` or a `ScimError` out.

use crate::scim::error::ScimError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a request body. An empty body, malformed JSON and a duplicate key
/// are all 400 `invalidSyntax` with a detail that says which and where.
pub fn parse_body(bytes: &[u8]) -> Result<Value, ScimError> {
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "request body is empty; a JSON object is required",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v.0))
        .map_err(|e| ScimError::invalid_syntax(format!("request body is not valid JSON: {e}")))?;
    Ok(value)
}

/// A `serde_json::Value` whose objects may not repeat a key.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // serde_json never produces a non-finite float from text.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key '{}' in one object",
                    crate::scim::filter::shorten(&key)
                )));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use serde_json::json;

    #[test]
    fn a_repeated_key_is_invalid_syntax_naming_the_key() {
        let e = parse_body(br#"{"userName":"a","userName":"b"}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert!(
            e.detail.contains("duplicate key 'userName'"),
            "{}",
            e.detail
        );
    }

    #[test]
    fn a_repeated_key_in_a_nested_object_is_refused_too() {
        let e = parse_body(br#"{"name":{"givenName":"a","givenName":"b"}}"#).unwrap_err();
        assert!(e.detail.contains("'givenName'"), "{}", e.detail);
        let e = parse_body(br#"{"emails":[{"value":"a","value":"b"}]}"#).unwrap_err();
        assert!(e.detail.contains("'value'"), "{}", e.detail);
    }

    #[test]
    fn keys_differing_only_in_case_are_not_duplicates_here() {
        // Case-insensitive attribute names are the schema layer's business.
        let v = parse_body(br#"{"userName":"a","USERNAME":"b"}"#).unwrap();
        assert_eq!(v.as_object().map(Map::len), Some(2));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let mut body = UTF8_BOM.to_vec();
        body.extend_from_slice(br#"{"userName":"bom"}"#);
        assert_eq!(parse_body(&body).unwrap(), json!({"userName": "bom"}));
    }

    #[test]
    fn empty_and_whitespace_bodies_are_refused() {
        for body in [&b""[..], b"  \n", UTF8_BOM] {
            let e = parse_body(body).unwrap_err();
            assert!(e.detail.contains("empty"), "{}", e.detail);
        }
    }

    #[test]
    fn trailing_text_is_refused() {
        let e = parse_body(br#"{"a":1} x"#).unwrap_err();
        assert!(e.detail.contains("trailing"), "{}", e.detail);
    }

    #[test]
    fn values_read_the_same_as_serde_json() {
        let text = br#"{"a":[1,-2,3.5,true,null,"x\u00e9"],"b":{"c":{}},"d":18446744073709551615}"#;
        let ours = parse_body(text).unwrap();
        let theirs: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let body = "[".repeat(100_000);
        assert_eq!(parse_body(body.as_bytes()).unwrap_err().status, 400);
    }
}
