//! Versions as entity tags (RFC 7644 §3.14): the weak ETag a version is
//! shown as, and the weak comparison If-Match and If-None-Match make. Pure:
//! the store keeps an integer version and the edge sets the headers.

use super::error::ScimError;

/// The weak ETag of a version, as sent in `ETag` and `meta.version`.
/// `store::sql_filter` compiles `meta.version` filters against this shape.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// RFC 7232 If-Match: `*` or a list of entity tags, compared weakly. No
/// header means no precondition.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> Result<(), ScimError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let current = etag(version);
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let matches = header
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(&current));
    if matches {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match {header} does not match the current version {current}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_shown_as_a_weak_etag() {
        assert_eq!(etag(7), "W/\"7\"");
    }

    #[test]
    fn no_if_match_header_is_no_precondition() {
        assert!(check_if_match(None, 3).is_ok());
    }

    #[test]
    fn if_match_compares_weakly_and_accepts_a_list_or_a_star() {
        assert!(check_if_match(Some("\"3\""), 3).is_ok());
        assert!(check_if_match(Some("W/\"1\", W/\"3\""), 3).is_ok());
        assert!(check_if_match(Some("*"), 3).is_ok());
    }

    #[test]
    fn a_stale_if_match_is_a_412_naming_both_versions() {
        let e = check_if_match(Some("W/\"2\""), 3).unwrap_err();
        assert_eq!(e.status, 412);
        assert!(e.detail.contains("W/\"2\"") && e.detail.contains("W/\"3\""));
    }
}
