use super::*;
use crate::scim::strategies::*;
use proptest::prelude::*;
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn p(s: &str) -> Filter {
    parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn err(s: &str) -> String {
    match parse(s) {
        Ok(f) => panic!("{s:?} should not parse, got {f:?}"),
        Err(e) => {
            assert_eq!(e.status, 400);
            assert_eq!(
                e.scim_type,
                Some(crate::scim::error::ScimType::InvalidFilter)
            );
            e.detail
        }
    }
}

fn path(s: &str) -> AttrPath {
    AttrPath::parse(s).unwrap()
}

fn cmp(a: &str, op: CompareOp, v: Literal) -> Filter {
    Filter::Compare {
        path: path(a),
        op,
        value: v,
        col: 0,
    }
}

fn s(v: &str) -> Literal {
    Literal::Str(v.into())
}

fn pr(a: &str) -> Filter {
    Filter::Present {
        path: path(a),
        col: 0,
    }
}

fn and(a: Filter, b: Filter) -> Filter {
    Filter::And(Box::new(a), Box::new(b))
}

fn or(a: Filter, b: Filter) -> Filter {
    Filter::Or(Box::new(a), Box::new(b))
}

fn not(a: Filter) -> Filter {
    Filter::Not(Box::new(a))
}

fn vp(a: &str, f: Filter) -> Filter {
    Filter::ValuePath {
        path: path(a),
        filter: Box::new(f),
        col: 0,
    }
}

#[test]
fn parses_every_example_of_rfc_7644_section_3_4_2_2() {
    let examples = [
        r#"userName Eq "john""#,
        r#"Username eq "john""#,
        r#"userName eq "bjensen""#,
        r#"name.familyName co "O'Malley""#,
        r#"userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"title pr"#,
        r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        r#"title pr and userType eq "Employee""#,
        r#"title pr or userType eq "Intern""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    ];
    for e in examples {
        let f = p(e);
        assert_eq!(p(&f.to_string()), f, "{e}");
    }
}

#[test]
fn and_binds_tighter_than_or() {
    assert_eq!(
        p("a pr or b pr and c pr"),
        or(pr("a"), and(pr("b"), pr("c")))
    );
    assert_eq!(
        p("a pr and b pr or c pr"),
        or(and(pr("a"), pr("b")), pr("c"))
    );
}

#[test]
fn not_binds_tighter_than_and() {
    assert_eq!(p("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
}

#[test]
fn parentheses_override_precedence() {
    assert_eq!(
        p("(a pr or b pr) and c pr"),
        and(or(pr("a"), pr("b")), pr("c"))
    );
}

#[test]
fn and_and_or_are_left_associative() {
    assert_eq!(
        p("a pr and b pr and c pr"),
        and(and(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(p("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
}

#[test]
fn every_operator_parses_case_insensitively() {
    for (word, op) in [
        ("eq", CompareOp::Eq),
        ("NE", CompareOp::Ne),
        ("Co", CompareOp::Co),
        ("sW", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("GT", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("Lt", CompareOp::Lt),
        ("lE", CompareOp::Le),
    ] {
        assert_eq!(p(&format!("a {word} \"x\"")), cmp("a", op, s("x")));
        assert_eq!(CompareOp::from_keyword(op.as_str()), Some(op));
    }
    assert_eq!(p("a PR"), pr("a"));
    assert_eq!(
        p("a pr AND b pr Or NOT (c pr)"),
        or(and(pr("a"), pr("b")), not(pr("c")))
    );
}

#[test]
fn literals_are_case_insensitive_keywords() {
    assert_eq!(p("a eq TRUE"), cmp("a", CompareOp::Eq, Literal::Bool(true)));
    assert_eq!(
        p("a eq False"),
        cmp("a", CompareOp::Eq, Literal::Bool(false))
    );
    assert_eq!(p("a ne NuLL"), cmp("a", CompareOp::Ne, Literal::Null));
}

#[test]
fn numbers_are_json_numbers() {
    assert_eq!(
        p("a gt 42"),
        cmp("a", CompareOp::Gt, Literal::Num(42.into()))
    );
    assert_eq!(
        p("a lt -7"),
        cmp("a", CompareOp::Lt, Literal::Num((-7).into()))
    );
    let Filter::Compare {
        value: Literal::Num(n),
        ..
    } = p("a ge 1.5e3")
    else {
        panic!("not a number comparison")
    };
    assert_eq!(n.as_f64(), Some(1500.0));
    for bad in ["01", "1.", "+1", "-", "1e", "1e999", "0x10"] {
        let d = err(&format!("a eq {bad}"));
        assert!(
            d.contains("not a valid JSON number") || d.contains("expected a value"),
            "{bad}: {d}"
        );
    }
    assert_eq!(
        err("a eq .5"),
        "expected a value (a string in double quotes, a number, true, false or null) after 'eq' at column 6, found '.5'"
    );
}

#[test]
fn pr_takes_no_value() {
    assert_eq!(
        err(r#"title pr "x""#),
        "expected 'and' or 'or' at column 10, found a string"
    );
    assert_eq!(
        err("title pr true"),
        "expected 'and' or 'or' at column 10, found 'true'"
    );
}

#[test]
fn ordering_operators_reject_booleans_and_null() {
    for op in ["gt", "ge", "lt", "le"] {
        for v in ["true", "false", "null"] {
            let d = err(&format!("active {op} {v}"));
            assert!(
                d.starts_with(&format!("'{op}' at column 8 cannot compare with {v}")),
                "{d}"
            );
        }
    }
    p("active eq true");
    p("manager ne null");
}

#[test]
fn string_escapes_decode_as_json() {
    assert_eq!(
        p(r#"a eq "q\"b\\s\/b\bf\fn\nr\rt\t""#),
        cmp("a", CompareOp::Eq, s("q\"b\\s/b\u{8}f\u{c}n\nr\rt\t"))
    );
    assert_eq!(
        p(r#"a eq "\u00e9\u00C9""#),
        cmp("a", CompareOp::Eq, s("éÉ"))
    );
    assert_eq!(
        p(r#"a eq "\ud83d\ude00""#),
        cmp("a", CompareOp::Eq, s("😀"))
    );
    assert_eq!(
        p(r#"a eq "raw é 😀""#),
        cmp("a", CompareOp::Eq, s("raw é 😀"))
    );
}

#[test]
fn bad_escapes_are_rejected_with_their_column() {
    assert_eq!(err(r#"a eq "x\q""#), "invalid escape '\\q' at column 8");
    assert_eq!(
        err(r#"a eq "\u12""#),
        "invalid \\u escape at column 7: expected four hex digits"
    );
    assert_eq!(
        err(r#"a eq "\ud83d""#),
        "unpaired UTF-16 surrogate in \\u escape at column 7"
    );
    assert_eq!(
        err(r#"a eq "\ud83d\u0041""#),
        "unpaired UTF-16 surrogate in \\u escape at column 7"
    );
    assert_eq!(
        err(r#"a eq "\ude00""#),
        "unpaired UTF-16 surrogate in \\u escape at column 7"
    );
}

#[test]
fn unterminated_string_names_its_start_column() {
    assert_eq!(
        err(r#"userName eq "bjensen"#),
        "unterminated string starting at column 13"
    );
    assert_eq!(
        err(r#"userName eq "bj\"#),
        "unterminated string starting at column 13"
    );
}

#[test]
fn schema_urn_qualified_attribute_paths() {
    let f = p(&format!(
        "{ENTERPRISE}:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\""
    ));
    let Filter::Compare { path, .. } = &f else {
        panic!("{f:?}")
    };
    assert_eq!(path.urn.as_deref(), Some(ENTERPRISE));
    assert_eq!(path.name, "manager");
    assert_eq!(path.sub.as_deref(), Some("value"));
    assert_eq!(
        f.to_string(),
        format!("{ENTERPRISE}:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\"")
    );
}

#[test]
fn value_path_filters_parse_with_relative_paths() {
    assert_eq!(
        p(r#"emails[type eq "work" and value co "@x.com"]"#),
        vp(
            "emails",
            and(
                cmp("type", CompareOp::Eq, s("work")),
                cmp("value", CompareOp::Co, s("@x.com"))
            )
        )
    );
    assert_eq!(
        p(r#"emails[not (type eq "work")] and x pr"#),
        and(
            vp("emails", not(cmp("type", CompareOp::Eq, s("work")))),
            pr("x")
        )
    );
    assert_eq!(
        p(&format!("{ENTERPRISE}:manager[value pr]")).to_string(),
        format!("{ENTERPRISE}:manager[value pr]")
    );
}

fn dialects(s: &str) -> Vec<&'static str> {
    parse_with_dialects(s)
        .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
        .1
}

#[test]
fn sub_attribute_after_value_filter_is_read_as_the_bracket_form() {
    let entra = r#"emails[type eq "work"].value eq "ana@example.com""#;
    let bracket = r#"emails[type eq "work" and value eq "ana@example.com"]"#;
    assert_eq!(p(entra), p(bracket));
    assert_eq!(p(entra).to_string(), bracket);
    assert_eq!(dialects(entra), ["value_filter_sub_attribute"]);
    assert!(dialects(bracket).is_empty());
}

#[test]
fn present_sub_attribute_after_value_filter_is_read_as_the_bracket_form() {
    assert_eq!(
        p(r#"emails[type eq "work"].value pr"#),
        vp(
            "emails",
            and(cmp("type", CompareOp::Eq, s("work")), pr("value"))
        )
    );
}

#[test]
fn sub_attribute_after_an_or_value_filter_keeps_the_or_together() {
    let f = p(r#"emails[type eq "work" or type eq "home"].value co "@x""#);
    assert_eq!(
        f,
        vp(
            "emails",
            and(
                or(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("type", CompareOp::Eq, s("home"))
                ),
                cmp("value", CompareOp::Co, s("@x"))
            )
        )
    );
    assert_eq!(
        f.to_string(),
        r#"emails[(type eq "work" or type eq "home") and value co "@x"]"#
    );
    assert_eq!(p(&f.to_string()), f);
}

#[test]
fn sub_attribute_after_value_filter_combines_with_logical_operators() {
    assert_eq!(
        p(r#"userName pr and emails[type eq "work"].value ew "@x" or title pr"#),
        or(
            and(
                pr("userName"),
                vp(
                    "emails",
                    and(
                        cmp("type", CompareOp::Eq, s("work")),
                        cmp("value", CompareOp::Ew, s("@x"))
                    )
                )
            ),
            pr("title")
        )
    );
}

#[test]
fn sub_attribute_after_value_filter_needs_a_comparison() {
    assert_eq!(
        err(r#"emails[type eq "work"].value"#),
        "expected a comparison operator after 'value' at column 29, found the end of the input"
    );
    assert_eq!(
        err(r#"emails[type eq "work"].value "x""#),
        "expected a comparison operator after 'value' at column 30, found a string"
    );
}

#[test]
fn invalid_sub_attribute_after_value_filter_is_rejected() {
    assert_eq!(
        err(r#"emails[type eq "work"].1x eq "a""#),
        "'1x' at column 24 is not a valid sub-attribute name after a value filter"
    );
    assert_eq!(
        err(r#"emails[type eq "work"].value.x eq "a""#),
        "'value.x' at column 24 is not a valid sub-attribute name after a value filter"
    );
    assert_eq!(
        err(r#"emails[type eq "work"]. eq "a""#),
        "'' at column 24 is not a valid sub-attribute name after a value filter"
    );
}

#[test]
fn sub_attribute_after_value_filter_counts_against_the_bounds() {
    let or_at_depth = |n: usize| format!("x[{}a pr{} or b pr].c pr", "(".repeat(n), ")".repeat(n));
    // The printed form adds a '(' around the or.
    let ok = p(&or_at_depth(MAX_DEPTH - 2));
    assert_eq!(p(&ok.to_string()), ok);
    assert!(err(&or_at_depth(MAX_DEPTH - 1)).starts_with("filter nests deeper than 10 levels"));
    let many = format!("x[{}].c pr", vec!["a pr"; MAX_COMPARISONS].join(" and "));
    assert!(err(&many).starts_with("filter has more than 50 comparisons"));
}

#[test]
fn unquoted_word_is_a_string_value() {
    assert_eq!(p("userName eq bjensen"), p(r#"userName eq "bjensen""#));
    assert_eq!(p("userName sw O"), cmp("userName", CompareOp::Sw, s("O")));
    assert_eq!(
        p("userName eq bjensen@example.com and active eq true"),
        and(
            cmp("userName", CompareOp::Eq, s("bjensen@example.com")),
            cmp("active", CompareOp::Eq, Literal::Bool(true))
        )
    );
    assert_eq!(
        p("emails[type eq work]"),
        vp("emails", cmp("type", CompareOp::Eq, s("work")))
    );
    assert_eq!(dialects("userName eq bjensen"), ["unquoted_value"]);
    assert_eq!(
        p("userName eq bjensen").to_string(),
        r#"userName eq "bjensen""#
    );
}

#[test]
fn quoted_values_and_keywords_use_no_dialect() {
    assert!(dialects(r#"userName eq "bjensen" and active eq True"#).is_empty());
    assert!(dialects("a eq null or b gt 3").is_empty());
}

#[test]
fn unquoted_value_leaves_other_broken_values_refused() {
    assert_eq!(
        err("userName eq and b pr"),
        "expected a value (a string in double quotes, a number, true, false or null) after 'eq' at column 13, found 'and'"
    );
    assert_eq!(
        err("userName eq 'bjensen'"),
        "strings must be in double quotes: found 'bjensen' at column 13"
    );
    assert_eq!(
        err("userName eq bjensen and"),
        "expected an attribute path, 'not' or '(' at column 24, found the end of the input"
    );
    assert_eq!(
        err("userName eq b jensen"),
        "expected 'and' or 'or' at column 15, found 'jensen'"
    );
    assert!(err("a eq 0x10").contains("not a valid JSON number"));
}

#[test]
fn nested_value_paths_are_rejected() {
    assert_eq!(
        err(r#"groups[members[value eq "x"]]"#),
        "value filters cannot be nested: '[' at column 15 is inside another value filter"
    );
}

#[test]
fn value_path_after_sub_attribute_is_rejected() {
    assert_eq!(
        err(r#"name.x[type eq "a"]"#),
        "a value filter '[' must follow an attribute without a sub-attribute, but 'name.x' at column 1 has '.x'"
    );
}

#[test]
fn missing_closing_bracket_names_the_opening_one() {
    assert_eq!(
        err(r#"emails[type eq "work""#),
        "missing ']' for the '[' at column 7"
    );
    assert_eq!(
        err(r#"emails[type eq "work")"#),
        "expected 'and', 'or' or ']' at column 22, found ')' (the '[' at column 7 is still open)"
    );
}

#[test]
fn error_names_column_of_missing_operator() {
    assert_eq!(
        err(r#"userName "bjensen""#),
        "expected a comparison operator after 'userName' at column 10, found a string"
    );
    assert_eq!(
        err("userName"),
        "expected a comparison operator after 'userName' at column 9, found the end of the input"
    );
    assert_eq!(
        err("userName is 3"),
        "expected a comparison operator after 'userName' at column 10, found 'is'"
    );
}

#[test]
fn error_names_column_of_missing_value() {
    assert_eq!(
        err("userName eq"),
        "expected a value (a string in double quotes, a number, true, false or null) after 'eq' at column 10, found the end of the input"
    );
    assert_eq!(
        err("userName eq 'x'"),
        "strings must be in double quotes: found 'x' at column 13"
    );
}

#[test]
fn unexpected_close_paren_names_its_column() {
    assert_eq!(err("a pr  )"), "unexpected ')' at column 7");
    assert_eq!(
        err("()"),
        "expected an attribute path, 'not' or '(' at column 2, found ')'"
    );
    assert_eq!(err("a pr]"), "unexpected ']' at column 5");
}

#[test]
fn missing_close_paren_names_the_opening_one() {
    assert_eq!(
        err("x pr and (a pr"),
        "missing ')' for the '(' at column 10"
    );
    assert_eq!(
        err("(a pr b pr)"),
        "expected 'and', 'or' or ')' at column 7, found 'b' (the '(' at column 1 is still open)"
    );
}

#[test]
fn dangling_logical_operator_is_an_error() {
    assert_eq!(
        err("a pr and"),
        "expected an attribute path, 'not' or '(' at column 9, found the end of the input"
    );
    assert_eq!(
        err("a pr and or b pr"),
        "expected a comparison operator after 'or' at column 13, found 'b'"
    );
}

#[test]
fn not_requires_parentheses() {
    assert_eq!(
        err(r#"not userName eq "x""#),
        "'not' at column 1 must be followed by a filter in parentheses, e.g. not (title pr); found 'userName' at column 5"
    );
    assert_eq!(p("not(a pr)"), not(pr("a")));
}

#[test]
fn attributes_may_be_named_like_keywords() {
    assert_eq!(p("not pr"), pr("not"));
    assert_eq!(p(r#"not eq "x""#), cmp("not", CompareOp::Eq, s("x")));
    assert_eq!(p("and pr and or pr"), and(pr("and"), pr("or")));
}

#[test]
fn empty_and_blank_filters_are_rejected() {
    assert_eq!(err(""), "filter is empty");
    assert_eq!(err(" \t "), "filter is empty");
}

#[test]
fn invalid_attribute_names_are_rejected_with_column() {
    let d = err("a pr and 1abc pr");
    assert!(d.contains("'1abc'") && d.ends_with("(at column 10)"), "{d}");
    assert!(err("é pr").contains("(at column 1)"));
}

#[test]
fn whitespace_is_liberal() {
    let f = p("  userName\t eq \n\"x\"   and\t(title  pr )  ");
    assert_eq!(f, and(cmp("userName", CompareOp::Eq, s("x")), pr("title")));
    assert_eq!(
        p(r#"a eq"x"and(b pr)"#),
        and(cmp("a", CompareOp::Eq, s("x")), pr("b"))
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let f = p(r#"title eq "ééé" and  nick pr"#);
    let Filter::And(l, r) = &f else {
        panic!("{f:?}")
    };
    assert_eq!(l.col(), 1);
    assert_eq!(r.col(), 21);
    assert_eq!(f.col(), 1);
    assert_eq!(err(r#"title eq "ééé" )"#), "unexpected ')' at column 16");
}

#[test]
fn equality_ignores_columns() {
    assert_eq!(p("a pr"), p("   a pr"));
    assert_ne!(p("a pr"), p("b pr"));
    assert_ne!(p("a pr and b pr"), p("a pr or b pr"));
}

#[test]
fn display_is_canonical() {
    for (input, out) in [
        (r#"userName EQ "x""#, r#"userName eq "x""#),
        ("((a pr))", "a pr"),
        ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
        ("(a pr and b pr) and c pr", "a pr and b pr and c pr"),
        ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
        ("a pr or (b pr and c pr)", "a pr or b pr and c pr"),
        ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
        ("NOT(a pr)", "not (a pr)"),
        (r#"a eq "x\u0001\"""#, r#"a eq "x\u0001\"""#),
        ("a eq TRUE", "a eq true"),
        (r#"a eq "\/""#, r#"a eq "/""#),
        (r#"emails[ type eq "w" ]"#, r#"emails[type eq "w"]"#),
    ] {
        assert_eq!(p(input).to_string(), out, "{input}");
    }
}

#[test]
fn length_limit_is_4096_characters() {
    let ok = format!("{} pr", "a".repeat(MAX_FILTER_LEN - 3));
    assert_eq!(ok.chars().count(), 4096);
    p(&ok);
    let long = format!("{} pr", "a".repeat(MAX_FILTER_LEN - 2));
    assert_eq!(err(&long), "filter is longer than 4096 characters");
    // Characters, not bytes: 4096 two-byte characters are within the limit.
    let wide = format!(r#"a eq "{}""#, "é".repeat(MAX_FILTER_LEN - 7));
    p(&wide);
}

#[test]
fn depth_limit_is_10_levels() {
    let nest = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    p(&nest(MAX_DEPTH));
    assert_eq!(
        err(&nest(MAX_DEPTH + 1)),
        "filter nests deeper than 10 levels (at column 11)"
    );
    let nots = |n: usize| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
    p(&nots(MAX_DEPTH));
    assert!(err(&nots(MAX_DEPTH + 1)).starts_with("filter nests deeper than 10 levels"));
    let mixed = format!("x[{}a pr{}]", "(".repeat(9), ")".repeat(9));
    p(&mixed);
    let mixed = format!("x[{}a pr{}]", "(".repeat(10), ")".repeat(10));
    assert!(err(&mixed).starts_with("filter nests deeper than 10 levels"));
}

#[test]
fn deepest_possible_input_errors_without_overflowing_the_stack() {
    let f = "(".repeat(MAX_FILTER_LEN);
    assert!(err(&f).starts_with("filter nests deeper than 10 levels"));
    let f = "not (".repeat(MAX_FILTER_LEN / 5);
    assert!(err(&f).starts_with("filter nests deeper than 10 levels"));
}

#[test]
fn comparison_limit_is_50() {
    let many = |n: usize| vec!["a pr"; n].join(" and ");
    p(&many(MAX_COMPARISONS));
    assert_eq!(
        err(&many(MAX_COMPARISONS + 1)),
        "filter has more than 50 comparisons (the next one is at column 451)"
    );
    let inside = format!("x[{}]", vec![r#"a eq 1"#; 51].join(" or "));
    assert!(err(&inside).starts_with("filter has more than 50 comparisons"));
}

#[test]
fn long_words_are_cut_in_error_messages() {
    let d = err(&format!("a {} 1", "z".repeat(200)));
    assert!(d.len() < 150, "{d}");
    assert!(d.contains('…'));
}

// ------------------------------------------------------------ evaluator

fn ci(_: &str) -> bool {
    false
}

fn m(filter: &str, element: Value) -> bool {
    matches_element(&p(filter), &element, &ci)
}

#[test]
fn evaluator_eq_is_case_insensitive_by_default() {
    let e = json!({"type": "Work", "value": "A@X.com"});
    assert!(m(r#"type eq "work""#, e.clone()));
    assert!(m(r#"TYPE eq "WORK""#, e.clone()));
    assert!(!m(r#"type eq "home""#, e));
}

#[test]
fn evaluator_honours_case_exact_attributes() {
    let exact = |name: &str| name == "value";
    let e = json!({"value": "AbC", "display": "AbC"});
    let f = p(r#"value eq "abc""#);
    assert!(!matches_element(&f, &e, &exact));
    assert!(matches_element(&p(r#"value eq "AbC""#), &e, &exact));
    assert!(matches_element(&p(r#"display eq "abc""#), &e, &exact));
}

#[test]
fn evaluator_substring_operators() {
    let e = json!({"value": "bjensen@example.com"});
    assert!(m(r#"value co "@EXAMPLE""#, e.clone()));
    assert!(m(r#"value sw "BJ""#, e.clone()));
    assert!(m(r#"value ew ".com""#, e.clone()));
    assert!(!m(r#"value sw "example""#, e.clone()));
    assert!(!m(r#"value ew "example""#, e));
}

#[test]
fn evaluator_orders_strings_and_numbers() {
    let e = json!({"s": "b", "n": 10, "f": 2.5});
    assert!(m(r#"s gt "A""#, e.clone()));
    assert!(m(r#"s ge "B""#, e.clone()));
    assert!(m(r#"s lt "c""#, e.clone()));
    assert!(!m(r#"s le "a""#, e.clone()));
    assert!(m("n gt 9", e.clone()));
    assert!(m("n ge 10", e.clone()));
    assert!(!m("n lt 10", e.clone()));
    assert!(m("n le 10.0", e.clone()));
    assert!(m("n eq 10", e.clone()));
    assert!(m("f gt 2", e.clone()));
    assert!(m("f lt 2.6", e.clone()));
    // A number never equals its spelling as a string.
    assert!(!m(r#"n eq "10""#, e));
}

#[test]
fn evaluator_matches_booleans() {
    let e = json!({"type": "work", "primary": true});
    assert!(m(r#"type eq "work" and primary eq true"#, e.clone()));
    assert!(!m("primary eq false", e.clone()));
    assert!(m("primary ne false", e));
}

#[test]
fn evaluator_missing_attribute_matches_only_under_not() {
    let e = json!({"value": "x"});
    assert!(!m(r#"type eq "work""#, e.clone()));
    assert!(!m(r#"type ne "work""#, e.clone()));
    assert!(!m(r#"type co "w""#, e.clone()));
    assert!(!m("type pr", e.clone()));
    assert!(m(r#"not (type eq "work")"#, e.clone()));
    assert!(m("not (type pr)", e.clone()));
    assert!(!m(r#"type ne "work""#, json!({"type": null})));
}

#[test]
fn evaluator_null_means_unassigned() {
    assert!(m("type eq null", json!({"value": "x"})));
    assert!(m("type eq null", json!({"type": null})));
    assert!(m("type eq null", json!({"type": ""})));
    assert!(!m("type eq null", json!({"type": "work"})));
    assert!(m("type ne null", json!({"type": "work"})));
    assert!(!m("type ne null", json!({"type": []})));
}

#[test]
fn evaluator_present_needs_a_non_empty_value() {
    assert!(m("display pr", json!({"display": "x"})));
    assert!(m("primary pr", json!({"primary": false})));
    assert!(!m("display pr", json!({"display": ""})));
    assert!(!m("display pr", json!({"display": null})));
    assert!(!m("tags pr", json!({"tags": []})));
    assert!(!m("obj pr", json!({"obj": {}})));
}

#[test]
fn evaluator_primitive_element_is_its_own_value() {
    assert!(m(r#"value eq "ADMIN""#, json!("admin")));
    assert!(m(r#"value sw "ad""#, json!("admin")));
    assert!(m("value gt 3", json!(4)));
    assert!(!m(r#"type eq "admin""#, json!("admin")));
    assert!(m("value pr", json!("admin")));
}

#[test]
fn evaluator_and_or_not_combine() {
    let e = json!({"type": "work", "value": "a@x.com", "primary": false});
    assert!(m(r#"type eq "home" or value ew "x.com""#, e.clone()));
    assert!(!m(r#"type eq "home" or value ew "y.com""#, e.clone()));
    assert!(m(r#"type eq "work" and not (primary eq true)"#, e.clone()));
    assert!(!m(
        r#"(type eq "work" or type eq "home") and primary eq true"#,
        e
    ));
}

#[test]
fn evaluator_follows_sub_attributes_and_urns() {
    let e = json!({
        "name": {"givenName": "Barbara"},
        "roles": [{"value": "a"}, {"value": "b"}],
        ENTERPRISE: {"manager": {"value": "m1"}},
    });
    assert!(m(r#"name.givenName eq "barbara""#, e.clone()));
    assert!(m(r#"roles.value eq "b""#, e.clone()));
    assert!(!m(r#"roles.value eq "c""#, e.clone()));
    assert!(m(r#"roles.value ne "c""#, e.clone()));
    assert!(!m(r#"roles.value ne "a""#, e.clone()));
    assert!(m(
        &format!("{ENTERPRISE}:manager.value eq \"M1\""),
        e.clone()
    ));
    assert!(m(r#"roles[value eq "a"]"#, e.clone()));
    assert!(!m(r#"roles[value eq "z"]"#, e));
}

#[test]
fn evaluator_matches_any_value_of_a_multi_valued_attribute() {
    let e = json!({"tags": ["Red", "green"]});
    assert!(m(r#"tags eq "red""#, e.clone()));
    assert!(m(r#"tags eq "GREEN""#, e.clone()));
    assert!(!m(r#"tags eq "blue""#, e.clone()));
    assert!(m(r#"tags ne "blue""#, e.clone()));
    assert!(!m(r#"tags ne "red""#, e));
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn filterish_token_soup_never_panics(s in filterish()) {
        if let Ok(f) = parse(&s) {
            // Whatever parses must print to something that parses the same.
            prop_assert_eq!(parse(&f.to_string()).ok(), Some(f));
        }
    }

    #[test]
    fn printed_filter_parses_back_to_the_same_tree(f in arb_filter()) {
        let text = f.to_string();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&f), "printed as {}: {:?}", text, back);
    }

    #[test]
    fn sub_attribute_after_value_filter_parses_as_the_bracket_form(
        path in arb_attr_path_no_sub(),
        inner in arb_value_filter(),
        (name, op, value) in (arb_name(), arb_op(), arb_literal()),
    ) {
        let op = if op.is_ordering() && matches!(value, Literal::Bool(_) | Literal::Null) {
            CompareOp::Eq
        } else {
            op
        };
        let text = format!("{path}[{inner}].{name} {op} {value}");
        let sub = Filter::Compare { path: AttrPath::simple(&name), op, value, col: 0 };
        let want = Filter::ValuePath {
            path,
            filter: Box::new(Filter::And(Box::new(inner), Box::new(sub))),
            col: 0,
        };
        prop_assume!(within_bounds(&want));
        let got = parse(&text);
        prop_assert_eq!(got.as_ref().ok(), Some(&want), "{}: {:?}", text, got);
        prop_assert_eq!(parse(&want.to_string()).ok(), Some(want));
    }

    #[test]
    fn evaluator_never_panics(f in arb_value_filter(), v in any::<String>()) {
        let element = json!({"value": v, "type": "work", "primary": true, "n": 3});
        let _ = matches_element(&f, &element, &ci);
        let _ = matches_element(&f, &Value::String(v), &ci);
    }
}

/// Found by the `filter_parse` fuzz target: a number of more digits than a
/// double holds printed as a float that read back one unit away.
#[test]
fn long_numbers_print_as_what_they_parse_to() {
    for text in [
        "n ge 10333333333333333333333333333333333333333333333333333333333333",
        "ty eq 444444444444444444444444444444444442222",
        "x lt 0.10000000000000000555111512312578270211815834045410156250001",
    ] {
        let f = p(text);
        assert_eq!(p(&f.to_string()), f, "{text} printed as {f}");
    }
}
