//! PATCH operation paths (RFC 7644 §3.5.2): `attrPath` or
//! `valuePath [subAttr]`, e.g. `name.givenName`, `members[value eq "2819c223"]`
//! or `emails[type eq "work"].value`. The bracketed filter is read by the
//! filter module's tokenizer and parser, so both places accept exactly the
//! same filter language. Parsing only: whether the attribute exists, and
//! whether a bare schema URN was meant, is the schema's business. Pure: no I/O.

use crate::scim::attrpath::{is_attr_name, AttrPath};
use crate::scim::error::ScimError;
use crate::scim::filter::{self, Filter, Parser, Tok, Token};
use std::fmt;

/// A parsed PATCH `path`. When `filter` is set, `attr.sub` is `None` and `sub`
/// (if any) names the sub-attribute of each matching element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

/// Parses a PATCH operation's `path`. Errors are 400 `invalidPath` with a
/// detail naming the problem and its column, including errors inside the
/// bracketed filter.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, ScimError> {
    parse_patch_path_with_dialects(input).map(|(p, _)| p)
}

/// [`parse_patch_path`], also returning the filter dialects accepted inside
/// the brackets (see `filter::parse_with_dialects`), for the caller to log.
pub fn parse_patch_path_with_dialects(
    input: &str,
) -> Result<(PatchPath, Vec<&'static str>), ScimError> {
    parse_path(input).map_err(ScimError::invalid_path)
}

fn parse_path(input: &str) -> Result<(PatchPath, Vec<&'static str>), String> {
    let len = filter::check_length(input, "path")?;
    let toks = filter::tokenize(input)?;
    let mut p = Parser::new(&toks, len + 1);
    let (word, col) = match p.bump() {
        Some(Token {
            tok: Tok::Word(w),
            col,
        }) => (w, *col),
        None => return Err("path is empty".into()),
        Some(t) => {
            return Err(format!(
                "expected an attribute path at column {}, found {}",
                t.col,
                filter::describe(Some(t))
            ))
        }
    };
    let attr = filter::parse_attr_path(word, col)?;
    let mut value_filter = None;
    let mut sub = None;
    if let Some(Token {
        tok: Tok::LBracket,
        col: open_col,
    }) = p.peek()
    {
        if let Some(s) = &attr.sub {
            return Err(format!(
                "a value filter '[' (column {open_col}) must follow an attribute without a sub-attribute, but '{}' at column {col} has '.{s}'",
                filter::shorten(word)
            ));
        }
        value_filter = Some(p.bracket()?);
        if let Some(Token {
            tok: Tok::Word(w),
            col: sub_col,
        }) = p.peek()
        {
            if let Some(name) = w.strip_prefix('.') {
                if !is_attr_name(name) {
                    return Err(format!(
                        "'{}' at column {} is not a valid sub-attribute name",
                        filter::shorten(name),
                        sub_col + 1
                    ));
                }
                sub = Some(name.to_string());
                p.bump();
            }
        }
    }
    if let Some(t) = p.peek() {
        return Err(format!(
            "unexpected {} at column {} after the path",
            filter::describe(Some(t)),
            t.col
        ));
    }
    Ok((
        PatchPath {
            attr,
            filter: value_filter,
            sub,
        },
        p.dialects,
    ))
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::error::ScimType;
    use crate::scim::filter::{CompareOp, Literal};
    use crate::scim::strategies::{
        arb_attr_path, arb_attr_path_no_sub, arb_name, arb_value_filter, filterish, within_bounds,
    };
    use proptest::prelude::*;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn pp(s: &str) -> PatchPath {
        parse_patch_path(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn err(s: &str) -> String {
        match parse_patch_path(s) {
            Ok(p) => panic!("{s:?} should not parse, got {p:?}"),
            Err(e) => {
                assert_eq!(e.status, 400);
                assert_eq!(e.scim_type, Some(ScimType::InvalidPath));
                e.detail
            }
        }
    }

    #[test]
    fn plain_attribute() {
        let p = pp("userName");
        assert_eq!(p.attr, AttrPath::simple("userName"));
        assert_eq!((p.filter, p.sub), (None, None));
    }

    #[test]
    fn sub_attribute_stays_in_the_attr_path() {
        let p = pp("name.givenName");
        assert_eq!(p.attr.name, "name");
        assert_eq!(p.attr.sub.as_deref(), Some("givenName"));
        assert_eq!((p.filter, p.sub), (None, None));
    }

    #[test]
    fn urn_qualified_attribute() {
        let p = pp(&format!("{ENTERPRISE}:manager"));
        assert_eq!(p.attr.urn.as_deref(), Some(ENTERPRISE));
        assert_eq!(p.attr.name, "manager");
        let p = pp(&format!("{ENTERPRISE}:manager.value"));
        assert_eq!(p.attr.sub.as_deref(), Some("value"));
    }

    #[test]
    fn bare_schema_urn_splits_at_its_last_colon() {
        let p = pp(ENTERPRISE);
        assert_eq!(
            p.attr.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0")
        );
        assert_eq!(p.attr.name, "User");
    }

    #[test]
    fn value_path_with_sub_attribute() {
        let p = pp(r#"emails[type eq "work"].value"#);
        assert_eq!(p.attr, AttrPath::simple("emails"));
        assert_eq!(
            p.filter,
            Some(Filter::Compare {
                path: AttrPath::simple("type"),
                op: CompareOp::Eq,
                value: Literal::Str("work".into()),
                col: 0,
            })
        );
        assert_eq!(p.sub.as_deref(), Some("value"));
    }

    #[test]
    fn value_path_without_sub_attribute() {
        let p = pp(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#);
        assert_eq!(p.attr.name, "members");
        assert!(p.filter.is_some());
        assert_eq!(p.sub, None);
        let p = pp(r#"emails[type eq "work" and primary eq true]"#);
        assert!(matches!(p.filter, Some(Filter::And(..))));
    }

    #[test]
    fn unquoted_value_in_the_filter_is_a_string_and_reported() {
        let (p, dialects) = parse_patch_path_with_dialects("emails[type eq work].value").unwrap();
        assert_eq!(p, pp(r#"emails[type eq "work"].value"#));
        assert_eq!(dialects, ["unquoted_value"]);
        let (_, dialects) = parse_patch_path_with_dialects(r#"emails[type eq "work"]"#).unwrap();
        assert!(dialects.is_empty());
    }

    #[test]
    fn filter_columns_are_columns_of_the_whole_path() {
        let p = pp(r#"emails[type eq "work"]"#);
        assert_eq!(p.filter.map(|f| f.col()), Some(8));
    }

    #[test]
    fn value_path_on_sub_attribute_is_rejected() {
        assert_eq!(
            err(r#"name.givenName[value eq "x"]"#),
            "a value filter '[' (column 15) must follow an attribute without a sub-attribute, but 'name.givenName' at column 1 has '.givenName'"
        );
    }

    #[test]
    fn nested_value_paths_are_rejected() {
        assert_eq!(
            err(r#"groups[members[value eq "x"]]"#),
            "value filters cannot be nested: '[' at column 15 is inside another value filter"
        );
    }

    #[test]
    fn filter_errors_name_their_column() {
        assert_eq!(
            err(r#"emails[type "work"]"#),
            "expected a comparison operator after 'type' at column 13, found a string"
        );
        assert_eq!(
            err(r#"emails[type eq "work""#),
            "missing ']' for the '[' at column 7"
        );
        assert_eq!(
            err(r#"emails[type eq "work].value"#),
            "unterminated string starting at column 16"
        );
    }

    #[test]
    fn invalid_sub_attribute_after_filter_is_rejected() {
        assert_eq!(
            err(r#"emails[type eq "work"].1x"#),
            "'1x' at column 24 is not a valid sub-attribute name"
        );
        assert_eq!(
            err(r#"emails[type eq "work"]."#),
            "'' at column 24 is not a valid sub-attribute name"
        );
        assert_eq!(
            err(r#"emails[type eq "work"].value.x"#),
            "'value.x' at column 24 is not a valid sub-attribute name"
        );
    }

    #[test]
    fn trailing_text_is_rejected() {
        assert_eq!(
            err("name.givenName extra"),
            "unexpected 'extra' at column 16 after the path"
        );
        assert_eq!(
            err(r#"emails[type eq "w"] value"#),
            "unexpected 'value' at column 21 after the path"
        );
        assert_eq!(err("emails]"), "unexpected ']' at column 7 after the path");
    }

    #[test]
    fn empty_and_malformed_paths_are_rejected() {
        assert_eq!(err(""), "path is empty");
        assert_eq!(err("   "), "path is empty");
        assert_eq!(
            err("[x pr]"),
            "expected an attribute path at column 1, found '['"
        );
        assert!(err("1abc").ends_with("(at column 1)"));
        assert!(err("a.b.c").contains("not a valid attribute name"));
        assert!(err("urn:x:").contains("no attribute name"));
    }

    #[test]
    fn length_limit_applies() {
        let long = format!("a{}", "b".repeat(filter::MAX_FILTER_LEN));
        assert_eq!(err(&long), "path is longer than 4096 characters");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "userName",
            "name.givenName",
            r#"emails[type eq "work"].value"#,
            r#"members[value eq "x" or value eq "y"]"#,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ] {
            assert_eq!(pp(s).to_string(), s);
        }
        assert_eq!(
            pp(r#" emails[ TYPE EQ "work" ].value "#).to_string(),
            r#"emails[TYPE eq "work"].value"#
        );
    }

    fn arb_patch_path() -> impl Strategy<Value = PatchPath> {
        let plain = arb_attr_path().prop_map(|attr| PatchPath {
            attr,
            filter: None,
            sub: None,
        });
        let filtered = (
            arb_attr_path_no_sub(),
            arb_value_filter().prop_filter("within parser bounds", |f| {
                // The brackets add one level.
                within_bounds(&Filter::Not(Box::new(f.clone())))
            }),
            prop::option::of(arb_name()),
        )
            .prop_map(|(attr, f, sub)| PatchPath {
                attr,
                filter: Some(f),
                sub,
            });
        prop_oneof![plain, filtered]
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in any::<String>()) {
            let _ = parse_patch_path(&s);
        }

        #[test]
        fn filterish_token_soup_never_panics(s in filterish()) {
            if let Ok(p) = parse_patch_path(&s) {
                prop_assert_eq!(parse_patch_path(&p.to_string()).ok(), Some(p));
            }
        }

        #[test]
        fn printed_path_parses_back_to_the_same_value(p in arb_patch_path()) {
            let text = p.to_string();
            let back = parse_patch_path(&text);
            prop_assert_eq!(back.as_ref().ok(), Some(&p), "printed as {}: {:?}", text, back);
        }
    }

    /// Found by the `patch_path` fuzz target: a long number in the filter
    /// printed as a float that read back as another one.
    #[test]
    fn a_long_number_in_the_filter_prints_as_what_it_parses_to() {
        let p = pp("mails[ty eq 444444444444444444444444444444444442222]");
        assert_eq!(pp(&p.to_string()), p, "printed as {p}");
    }
}
