//! Index paging (RFC 7644 §3.4.2.4) and the ListResponse envelope. Pure.

use crate::scim::error::ScimError;
use serde_json::{json, Value};

pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

/// Paging as the client asked for it, already clamped to what we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based.
    pub start_index: i64,
    pub count: i64,
}

impl Paging {
    /// `startIndex` < 1 is treated as 1; `count` < 0 as 0, above `max` as
    /// `max`; missing `count` means `default`. Non-numbers are a 400.
    pub fn parse(
        start_index: Option<&str>,
        count: Option<&str>,
        default: i64,
        max: i64,
    ) -> Result<Paging, ScimError> {
        let num = |name: &str, v: Option<&str>| -> Result<Option<i64>, ScimError> {
            v.map(|s| {
                s.trim().parse::<i64>().map_err(|_| {
                    ScimError::invalid_value(format!("{name} must be an integer, got '{s}'"))
                })
            })
            .transpose()
        };
        let start_index = num("startIndex", start_index)?.unwrap_or(1).max(1);
        let count = num("count", count)?.unwrap_or(default).clamp(0, max);
        Ok(Paging { start_index, count })
    }

    pub fn offset(&self) -> i64 {
        self.start_index - 1
    }
}

pub fn list_response(total: i64, start_index: i64, resources: Vec<Value>) -> Value {
    let mut v = json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": resources.len(),
    });
    // Moved in: `json!` would serialise a copy of the page, and a page with
    // a large group's members is tens of MB.
    v["Resources"] = Value::Array(resources);
    v
}

/// A page of RFC 9865 cursor paging: no `startIndex`; `nextCursor` unless
/// this is the last page.
pub fn cursor_list_response(
    total: i64,
    resources: Vec<Value>,
    next_cursor: Option<String>,
) -> Value {
    let mut v = json!({
        "schemas": [LIST_RESPONSE_URN],
        "totalResults": total,
        "itemsPerPage": resources.len(),
    });
    if let Some(c) = next_cursor {
        v["nextCursor"] = Value::String(c);
    }
    v["Resources"] = Value::Array(resources);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_index_below_one_is_one() {
        let p = Paging::parse(Some("0"), None, 100, 1000).unwrap();
        assert_eq!(p.start_index, 1);
        let p = Paging::parse(Some("-5"), None, 100, 1000).unwrap();
        assert_eq!(p.offset(), 0);
    }

    #[test]
    fn count_is_clamped_to_zero_and_max() {
        assert_eq!(Paging::parse(None, Some("-1"), 100, 1000).unwrap().count, 0);
        assert_eq!(
            Paging::parse(None, Some("5000"), 100, 1000).unwrap().count,
            1000
        );
        assert_eq!(Paging::parse(None, None, 100, 1000).unwrap().count, 100);
    }

    #[test]
    fn non_numeric_paging_is_invalid_value() {
        let e = Paging::parse(Some("x"), None, 100, 1000).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("startIndex"));
    }

    #[test]
    fn cursor_pages_carry_next_cursor_until_the_last() {
        let v = cursor_list_response(3, vec![json!({})], Some("abc".into()));
        assert_eq!(v["nextCursor"], "abc");
        assert!(v.get("startIndex").is_none());
        let v = cursor_list_response(3, vec![json!({})], None);
        assert!(v.get("nextCursor").is_none());
        assert_eq!(v["itemsPerPage"], 1);
    }

    #[test]
    fn list_response_counts_items() {
        let v = list_response(7, 3, vec![json!({}), json!({})]);
        assert_eq!(v["totalResults"], 7);
        assert_eq!(v["itemsPerPage"], 2);
        assert_eq!(v["startIndex"], 3);
    }
}
