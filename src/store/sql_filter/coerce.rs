//! A filter literal fitted to the attribute's type where the meaning is
//! unambiguous (`active eq "True"`, `employeeNumber eq 42`, dateTimes in
//! the forms IdPs send), refused where it is not.

use super::*;

/// Checks the operator against the attribute's type and converts the literal,
/// adding to `dialects` the name of any liberty it took.
pub(super) fn coerce(
    t: &Target,
    op: CompareOp,
    lit: &Literal,
    dialects: &mut Vec<&'static str>,
) -> Result<Lit, String> {
    let label = &t.label;
    let ty = t.def.ty.as_str();
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    let refuse_substring = || {
        Err(format!(
            "'{label}' is a {ty}; '{op}' needs a string attribute"
        ))
    };
    match t.def.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => {
            if op.is_ordering() && t.def.ty == AttrType::Binary {
                return Err(format!("'{label}' is binary; '{op}' cannot order it"));
            }
            match lit {
                Literal::Str(s) => Ok(Lit::Text(s.clone())),
                // Liberal: an unquoted identifier means its digits.
                Literal::Num(n) => Ok(Lit::Text(n.to_string())),
                other => Err(format!(
                    "'{label}' is a {ty}; compare it with a string, not {other}"
                )),
            }
        }
        AttrType::Boolean => {
            if op.is_ordering() {
                return Err(format!("'{label}' is a boolean; '{op}' cannot order it"));
            }
            if substring {
                return refuse_substring();
            }
            match lit {
                Literal::Bool(v) => Ok(Lit::Bool(*v)),
                Literal::Str(s) if s.eq_ignore_ascii_case("true") => Ok(Lit::Bool(true)),
                Literal::Str(s) if s.eq_ignore_ascii_case("false") => Ok(Lit::Bool(false)),
                other => Err(format!(
                    "'{label}' is a boolean; compare it with true or false, not {}",
                    shorten(&other.to_string())
                )),
            }
        }
        AttrType::Integer | AttrType::Decimal => {
            if substring {
                return refuse_substring();
            }
            let n = match lit {
                Literal::Num(n) => Some(n.clone()),
                Literal::Str(s) => serde_json::from_str::<serde_json::Number>(s.trim()).ok(),
                _ => None,
            };
            let n = n.ok_or_else(|| {
                format!(
                    "'{label}' is a number; {} is not one",
                    shorten(&lit.to_string())
                )
            })?;
            Ok(Lit::Num(match n.as_i64() {
                Some(i) => SqlValue::Integer(i),
                None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
            }))
        }
        AttrType::DateTime => {
            if substring {
                return refuse_substring();
            }
            let parsed = match lit {
                Literal::Str(s) => parse_time(s, dialects),
                _ => None,
            };
            let t = parsed.ok_or_else(|| {
                format!(
                    "'{label}' is a dateTime; {} is not one (expected RFC 3339, e.g. \"2026-01-01T00:00:00Z\")",
                    shorten(&lit.to_string())
                )
            })?;
            let exact = t.nanosecond() % 1_000_000 == 0;
            Ok(Lit::Time(crate::clock::format(t), exact))
        }
        AttrType::Complex => Err(format!("'{label}' is a complex attribute")),
    }
}

/// An RFC 3339 dateTime, or one that lacks only its offset
/// (`2024-01-01T10:00:00`), read as UTC: the one meaning a delta query
/// written without a zone can have, since scimd stores and shows UTC.
pub(super) fn parse_time(
    s: &str,
    dialects: &mut Vec<&'static str>,
) -> Option<time::OffsetDateTime> {
    if let Some(t) = crate::clock::parse(s) {
        return Some(t);
    }
    // A text that already ends in an offset cannot parse with a second one,
    // so only a missing offset succeeds here.
    let t = crate::clock::parse(&format!("{}Z", s.trim()))?;
    dialects.push("datetime_without_offset");
    Some(t)
}
