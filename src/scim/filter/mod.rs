//! The SCIM filter language of RFC 7644 §3.4.2.2, one phase a file: `lex`
//! cuts the text into tokens, `parse` builds a [`Filter`] tree by recursive
//! descent, `print` writes the canonical form that the parser reads back,
//! and `eval` matches a filter against one element of a multi-valued
//! attribute (the one place filters run outside SQL: PATCH value filters).
//! The tree itself lives here. Parsing is bounded in length, nesting and
//! number of comparisons so no client input can exhaust the stack, and every
//! error names the column at fault. Where an IdP breaks the grammar in a way
//! that has one obvious meaning (see [`parse_with_dialects`]), the parser
//! reads that meaning into the ordinary tree and reports the dialect by name.
//!
//! Pure: no I/O; may import `scim::attrpath` and `scim::error` only. The SQL
//! compiler lives in the store.

mod eval;
mod lex;
mod parse;
mod print;
#[cfg(test)]
mod tests;

pub use eval::matches_element;
pub(crate) use lex::{describe, shorten, tokenize, Tok, Token};
pub(crate) use parse::{check_length, parse_attr_path, Parser};
pub use parse::{parse, parse_with_dialects};

use crate::scim::attrpath::AttrPath;
use serde_json::Number;

/// Longest filter accepted, in characters.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of `(…)`, `not (…)` and `[…]` accepted.
pub const MAX_DEPTH: usize = 10;
/// Most attribute expressions (comparisons and `pr`) in one filter.
pub const MAX_COMPARISONS: usize = 50;

/// The comparison operators of RFC 7644 Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator a keyword names, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| word.eq_ignore_ascii_case(op.as_str()))
    }

    /// `gt ge lt le`: the operators that need an ordered value.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

/// `compValue` of the ABNF. Dates are strings here; the schema decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

/// A parsed filter. `col` is the 1-based character column where the node's
/// attribute path starts, kept for error messages of later stages (unknown
/// attribute, unsupported comparison).
///
/// Equality (`==`) ignores `col`: two filters are equal when they say the same
/// thing, wherever it was written.
#[derive(Debug, Clone)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Literal,
        col: usize,
    },
    Present {
        path: AttrPath,
        col: usize,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `path[filter]`: `path.sub` is `None` and the paths inside `filter` are
    /// relative to one element of the multi-valued attribute.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
        col: usize,
    },
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        use Filter::*;
        match (self, other) {
            (
                Compare {
                    path: p1,
                    op: o1,
                    value: v1,
                    ..
                },
                Compare {
                    path: p2,
                    op: o2,
                    value: v2,
                    ..
                },
            ) => p1 == p2 && o1 == o2 && v1 == v2,
            (Present { path: p1, .. }, Present { path: p2, .. }) => p1 == p2,
            (And(a1, b1), And(a2, b2)) | (Or(a1, b1), Or(a2, b2)) => a1 == a2 && b1 == b2,
            (Not(a1), Not(a2)) => a1 == a2,
            (
                ValuePath {
                    path: p1,
                    filter: f1,
                    ..
                },
                ValuePath {
                    path: p2,
                    filter: f2,
                    ..
                },
            ) => p1 == p2 && f1 == f2,
            _ => false,
        }
    }
}

impl Eq for Filter {}

impl Filter {
    /// Column of the first attribute path in this node.
    pub fn col(&self) -> usize {
        match self {
            Filter::Compare { col, .. }
            | Filter::Present { col, .. }
            | Filter::ValuePath { col, .. } => *col,
            Filter::And(a, _) | Filter::Or(a, _) | Filter::Not(a) => a.col(),
        }
    }
}
