//! The canonical form of a filter: lower-case keywords, one space between
//! tokens, JSON string escapes, and parentheses only where the tree's shape
//! differs from what precedence gives. `parse` reads it back to the same tree.

use super::{CompareOp, Filter, Literal};
use std::fmt;

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_json_string(f, s),
            Literal::Num(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// Prints the canonical form: lower-case keywords, one space between tokens,
/// and parentheses exactly where the tree's shape differs from what
/// precedence (not > and > or) and left-associativity would give.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare {
                path, op, value, ..
            } => write!(f, "{path} {op} {value}"),
            Filter::Present { path, .. } => write!(f, "{path} pr"),
            Filter::ValuePath { path, filter, .. } => write!(f, "{path}[{filter}]"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::And(l, r) => {
                write_operand(f, l, !matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, r, !matches!(**r, Filter::And(..) | Filter::Or(..)))
            }
            Filter::Or(l, r) => {
                write_operand(f, l, true)?;
                f.write_str(" or ")?;
                write_operand(f, r, !matches!(**r, Filter::Or(..)))
            }
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, x: &Filter, bare: bool) -> fmt::Result {
    if bare {
        write!(f, "{x}")
    } else {
        write!(f, "({x})")
    }
}
