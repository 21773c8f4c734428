//! Proptest strategies shared by the property tests of the protocol layer:
//! attribute paths, literals and filter trees within the parser's bounds,
//! and text made of pieces of filter syntax. Test-only.

use crate::scim::attrpath::AttrPath;
use crate::scim::filter::{CompareOp, Filter, Literal, MAX_COMPARISONS, MAX_DEPTH, MAX_FILTER_LEN};
use proptest::prelude::*;
use serde_json::Number;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

pub(crate) fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        1 => Just("$ref".to_string()),
        1 => prop::sample::select(vec!["not", "and", "or", "pr", "eq", "true", "null", "urn"])
            .prop_map(str::to_string),
    ]
}

pub(crate) fn arb_urn() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(ENTERPRISE.to_string())),
        1 => Just(Some("urn:ietf:params:scim:schemas:core:2.0:User".to_string())),
        1 => Just(Some("URN:example:x-1".to_string())),
    ]
}

pub(crate) fn arb_attr_path() -> impl Strategy<Value = AttrPath> {
    (arb_urn(), arb_name(), prop::option::of(arb_name())).prop_map(|(urn, name, sub)| AttrPath {
        urn,
        name,
        sub,
    })
}

pub(crate) fn arb_attr_path_no_sub() -> impl Strategy<Value = AttrPath> {
    (arb_urn(), arb_name()).prop_map(|(urn, name)| AttrPath {
        urn,
        name,
        sub: None,
    })
}

/// Decimals with few digits and small exponents: serde_json without its
/// `float_roundtrip` feature reads those back exactly.
pub(crate) fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (-999_999_999i64..999_999_999, 0u32..6, -15i32..15).prop_filter_map(
            "finite",
            |(m, frac, exp)| {
                let text = format!("{}e{exp}", m as f64 / 10f64.powi(frac as i32));
                serde_json::from_str::<Number>(&text).ok()
            }
        ),
    ]
}

pub(crate) fn arb_literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        4 => any::<String>().prop_map(Literal::Str),
        2 => arb_number().prop_map(Literal::Num),
        1 => any::<bool>().prop_map(Literal::Bool),
        1 => Just(Literal::Null),
    ]
}

pub(crate) fn arb_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

pub(crate) fn arb_leaf() -> BoxedStrategy<Filter> {
    prop_oneof![
        1 => arb_attr_path().prop_map(|path| Filter::Present { path, col: 0 }),
        3 => (arb_attr_path(), arb_op(), arb_literal()).prop_map(|(path, op, value)| {
            // Ordering a boolean or null is rejected by the parser.
            let op = if op.is_ordering() && matches!(value, Literal::Bool(_) | Literal::Null) {
                CompareOp::Eq
            } else {
                op
            };
            Filter::Compare { path, op, value, col: 0 }
        }),
    ]
    .boxed()
}

pub(crate) fn combine(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
    leaf.prop_recursive(depth, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Filter::Not(Box::new(a))),
        ]
    })
    .boxed()
}

/// Filters valid inside `[…]`: no value paths.
pub(crate) fn arb_value_filter() -> BoxedStrategy<Filter> {
    combine(arb_leaf(), 3)
}

pub(crate) fn comparisons(f: &Filter) -> usize {
    match f {
        Filter::Compare { .. } | Filter::Present { .. } => 1,
        Filter::And(a, b) | Filter::Or(a, b) => comparisons(a) + comparisons(b),
        Filter::Not(a) => comparisons(a),
        Filter::ValuePath { filter, .. } => comparisons(filter),
    }
}

/// Nesting levels of the printed form (see `Display for Filter`).
pub(crate) fn printed_depth(f: &Filter) -> usize {
    let wrapped = |x: &Filter, yes: bool| printed_depth(x) + usize::from(yes);
    match f {
        Filter::Compare { .. } | Filter::Present { .. } => 0,
        Filter::ValuePath { filter, .. } => 1 + printed_depth(filter),
        Filter::Not(a) => 1 + printed_depth(a),
        Filter::And(l, r) => wrapped(l, matches!(**l, Filter::Or(..)))
            .max(wrapped(r, matches!(**r, Filter::And(..) | Filter::Or(..)))),
        Filter::Or(l, r) => printed_depth(l).max(wrapped(r, matches!(**r, Filter::Or(..)))),
    }
}

pub(crate) fn within_bounds(f: &Filter) -> bool {
    comparisons(f) <= MAX_COMPARISONS
        && printed_depth(f) <= MAX_DEPTH
        && f.to_string().chars().count() <= MAX_FILTER_LEN
}

pub(crate) fn arb_filter() -> BoxedStrategy<Filter> {
    let value_path =
        (arb_attr_path_no_sub(), arb_value_filter()).prop_map(|(path, f)| Filter::ValuePath {
            path,
            filter: Box::new(f),
            col: 0,
        });
    let leaf = prop_oneof![3 => arb_leaf(), 1 => value_path].boxed();
    combine(leaf, 4)
        .prop_filter("within parser bounds", within_bounds)
        .boxed()
}

/// Strings made of pieces of filter syntax, glued with or without spaces,
/// reach far deeper into the parser than random text.
pub(crate) fn filterish() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "userName",
        "emails",
        "name.familyName",
        "urn:ietf:params:scim:schemas:core:2.0:User:",
        "manager.value",
        ".value",
        "eq",
        "NE",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "pr",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        "\"",
        "\"x\"",
        "\"\\u",
        "\\",
        "\\ud83d",
        "\"é\"",
        "true",
        "null",
        "12",
        "-1.5e3",
        "1e999",
        "é",
        "😀",
        ":",
        ".",
        " ",
        "\t",
    ]);
    (prop::collection::vec(piece, 0..40), any::<bool>())
        .prop_map(|(v, spaced)| v.join(if spaced { " " } else { "" }))
}
