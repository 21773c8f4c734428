//! The parameters of a query (RFC 7644 §3.4.2, §3.4.3; RFC 9865), read from
//! a GET query string or a POST `/.search` body into one form, then checked:
//! the filter parsed, `sortBy` and `sortOrder` validated, paging clamped.
//! GET and POST then share every later step. Pure.
//!
//! Decisions: a SearchRequest body without `schemas` is accepted (liberal),
//! one whose `schemas` names something else is a 400 `invalidSyntax`;
//! `attributes` and `excludedAttributes` may be arrays or comma-separated
//! strings; `startIndex` and `count` may be numbers or numeric strings;
//! unknown members are ignored; `sortOrder` is `ascending` or `descending`
//! (any case) and means nothing without `sortBy`; `startIndex` together with
//! `cursor` is a 400, as the two paging methods cannot be mixed.

use crate::scim::attrpath::AttrPath;
use crate::scim::cursor;
use crate::scim::error::ScimError;
use crate::scim::filter::{self, Filter};
use crate::scim::list::Paging;
use crate::scim::schema::SEARCH_REQUEST_URN;
use serde_json::Value;

/// The raw parameters, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchParams {
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub cursor: Option<String>,
}

/// How the client pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    Index(Paging),
    /// RFC 9865: `cursor` as sent (empty: first page) and the clamped count.
    Cursor {
        cursor: String,
        count: i64,
    },
}

/// A checked query.
#[derive(Debug, Clone)]
pub struct Search {
    pub filter: Option<Filter>,
    /// IdP dialects the filter parser accepted (`filter::parse_with_dialects`).
    pub filter_dialects: Vec<&'static str>,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub pagination: Pagination,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl SearchParams {
    /// From a query string (`get` looks a parameter up by name).
    pub fn from_query<'a>(get: impl Fn(&str) -> Option<&'a str>) -> SearchParams {
        let s = |name: &str| get(name).map(str::to_string);
        SearchParams {
            attributes: s("attributes"),
            excluded_attributes: s("excludedAttributes"),
            filter: s("filter"),
            sort_by: s("sortBy"),
            sort_order: s("sortOrder"),
            start_index: s("startIndex"),
            count: s("count"),
            cursor: s("cursor"),
        }
    }

    /// From a SearchRequest body (RFC 7644 §3.4.3). Member names compare
    /// case-insensitively, as attribute names do.
    pub fn from_body(body: &Value) -> Result<SearchParams, ScimError> {
        let obj = body.as_object().ok_or_else(|| {
            ScimError::invalid_syntax("a SearchRequest body must be a JSON object")
        })?;
        let get = |name: &str| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
                .filter(|v| !v.is_null())
        };
        match get("schemas") {
            None => {}
            Some(Value::Array(list)) if list.is_empty() => {}
            Some(Value::Array(list))
                if list.iter().any(|s| {
                    s.as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_URN))
                }) => {}
            Some(Value::String(s)) if s.eq_ignore_ascii_case(SEARCH_REQUEST_URN) => {}
            Some(other) => {
                return Err(ScimError::invalid_syntax(format!(
                    "schemas must be [\"{SEARCH_REQUEST_URN}\"], got {}",
                    crate::scim::filter::shorten(&other.to_string())
                )))
            }
        }
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_syntax(format!(
                    "SearchRequest '{name}' must be a string"
                ))),
            }
        };
        let list = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_string).ok_or_else(|| {
                            ScimError::invalid_syntax(format!(
                                "SearchRequest '{name}' must list attribute names as strings"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|names| Some(names.join(","))),
                Some(_) => Err(ScimError::invalid_syntax(format!(
                    "SearchRequest '{name}' must be an array of attribute names"
                ))),
            }
        };
        let number = |name: &str| -> Result<Option<String>, ScimError> {
            match get(name) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(ScimError::invalid_value(format!(
                    "SearchRequest '{name}' must be an integer"
                ))),
            }
        };
        Ok(SearchParams {
            attributes: list("attributes")?,
            excluded_attributes: list("excludedAttributes")?,
            filter: text("filter")?,
            sort_by: text("sortBy")?,
            sort_order: text("sortOrder")?,
            start_index: number("startIndex")?,
            count: number("count")?,
            cursor: text("cursor")?,
        })
    }

    /// Checks everything; `default` and `max` are the page sizes.
    pub fn check(&self, default: i64, max: i64) -> Result<Search, ScimError> {
        fn present(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        let (filter, filter_dialects) = match present(&self.filter) {
            Some(text) => {
                let (f, dialects) = filter::parse_with_dialects(text)?;
                (Some(f), dialects)
            }
            None => (None, Vec::new()),
        };
        let sort_by = present(&self.sort_by)
            .map(|s| {
                AttrPath::parse(s).map_err(|e| ScimError::invalid_value(format!("sortBy: {e}")))
            })
            .transpose()?;
        let descending = match present(&self.sort_order) {
            None => false,
            Some(o) if o.eq_ignore_ascii_case("ascending") => false,
            Some(o) if o.eq_ignore_ascii_case("descending") => true,
            Some(o) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder must be 'ascending' or 'descending', not '{}'",
                    filter::shorten(o)
                )))
            }
        };
        let pagination = match &self.cursor {
            Some(c) => {
                if present(&self.start_index).is_some() {
                    return Err(ScimError::invalid_value(
                        "startIndex and cursor cannot be combined: page by index or by cursor",
                    ));
                }
                let count = Paging::parse(None, self.count.as_deref(), default, max)?.count;
                Pagination::Cursor {
                    cursor: c.trim().to_string(),
                    count,
                }
            }
            None => Pagination::Index(Paging::parse(
                self.start_index.as_deref(),
                self.count.as_deref(),
                default,
                max,
            )?),
        };
        Ok(Search {
            filter,
            filter_dialects,
            sort_by,
            descending,
            pagination,
            attributes: self.attributes.clone(),
            excluded_attributes: self.excluded_attributes.clone(),
        })
    }
}

impl Search {
    /// What a cursor of this query is bound to: the endpoint (`scope`), the
    /// integration, the filter, the sort and its direction.
    pub fn cursor_binding(&self, scope: &str, integration_id: &str) -> String {
        let filter = self
            .filter
            .as_ref()
            .map(Filter::to_string)
            .unwrap_or_default();
        let sort = self
            .sort_by
            .as_ref()
            .map(|p| p.to_string().to_ascii_lowercase())
            .unwrap_or_default();
        let order = if self.descending && self.sort_by.is_some() {
            "descending"
        } else {
            "ascending"
        };
        cursor::binding(&[scope, integration_id, &filter, &sort, order])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use serde_json::json;

    fn check(p: &SearchParams) -> Result<Search, ScimError> {
        p.check(100, 1000)
    }

    #[test]
    fn body_lists_and_numbers_become_the_query_form() {
        let p = SearchParams::from_body(&json!({
            "schemas": [SEARCH_REQUEST_URN],
            "attributes": ["userName", "emails.value"],
            "excludedattributes": "groups",
            "filter": "userName sw \"b\"",
            "sortBy": "userName",
            "sortOrder": "Descending",
            "startIndex": 3,
            "count": "7",
            "extra": true,
        }))
        .unwrap();
        assert_eq!(p.attributes.as_deref(), Some("userName,emails.value"));
        assert_eq!(p.excluded_attributes.as_deref(), Some("groups"));
        let s = check(&p).unwrap();
        assert!(s.descending);
        assert_eq!(
            s.pagination,
            Pagination::Index(Paging {
                start_index: 3,
                count: 7
            })
        );
        assert_eq!(s.filter.unwrap().to_string(), "userName sw \"b\"");
    }

    #[test]
    fn schemas_may_be_missing_but_not_wrong() {
        assert!(SearchParams::from_body(&json!({"filter": "id pr"})).is_ok());
        assert!(SearchParams::from_body(&json!({"schemas": []})).is_ok());
        let e = SearchParams::from_body(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]
        }))
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert!(SearchParams::from_body(&json!([1])).is_err());
        assert!(SearchParams::from_body(&json!({"filter": 3})).is_err());
        assert!(SearchParams::from_body(&json!({"attributes": [1]})).is_err());
    }

    #[test]
    fn sort_order_is_checked() {
        let p = SearchParams {
            sort_by: Some("userName".into()),
            sort_order: Some("sideways".into()),
            ..Default::default()
        };
        let e = check(&p).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains("sideways"));
    }

    #[test]
    fn cursor_paging_clamps_count_and_refuses_start_index() {
        let p = SearchParams {
            cursor: Some(String::new()),
            count: Some("5000".into()),
            ..Default::default()
        };
        assert_eq!(
            check(&p).unwrap().pagination,
            Pagination::Cursor {
                cursor: String::new(),
                count: 1000
            }
        );
        let p = SearchParams {
            start_index: Some("2".into()),
            ..p
        };
        assert_eq!(
            check(&p).unwrap_err().scim_type,
            Some(ScimType::InvalidValue)
        );
    }

    #[test]
    fn bindings_differ_by_query_and_ignore_spelling() {
        let q = |f: &str, sort: Option<&str>, order: Option<&str>| {
            check(&SearchParams {
                filter: Some(f.into()),
                sort_by: sort.map(str::to_string),
                sort_order: order.map(str::to_string),
                cursor: Some(String::new()),
                ..Default::default()
            })
            .unwrap()
            .cursor_binding("Users", "int_a")
        };
        let base = q("userName sw \"a\"", None, None);
        assert_eq!(base, q("userName  SW  \"a\"", None, Some("descending")));
        assert_ne!(base, q("userName sw \"b\"", None, None));
        assert_ne!(base, q("userName sw \"a\"", Some("userName"), None));
        assert_ne!(
            q("userName sw \"a\"", Some("userName"), None),
            q("userName sw \"a\"", Some("userName"), Some("descending"))
        );
    }
}
