//! What the request log may keep of a request: bodies, headers and query
//! strings with every secret replaced by `[redacted]`, and bodies cut to a
//! size. A secret is a password, a PIN or an Authorization value, wherever
//! it sits: a key of any case at any depth (`password`, `PIN`, a schema-
//! qualified `urn:…:User:password`), or the `value` of a PATCH operation
//! whose `path` names one. Pure: no I/O.

use serde_json::Value;

pub const REDACTED: &str = "[redacted]";

/// Bodies larger than this are not parsed for redaction: no SCIM request
/// scimd accepts is that large, and a response that is carries no secret.
const PARSE_LIMIT: usize = 4 * 1024 * 1024;

/// Names whose values are secret, compared case-insensitively on the last
/// segment of an attribute name (after a schema URN's last `:`).
const SECRET_NAMES: [&str; 5] = [
    "password",
    "pin",
    "authorization",
    "proxy-authorization",
    "access_token",
];

fn is_secret_name(name: &str) -> bool {
    let last = name.rsplit(':').next().unwrap_or(name).trim();
    SECRET_NAMES.iter().any(|s| s.eq_ignore_ascii_case(last))
}

/// Whether a PATCH path (`password`, `urn:…:User:password`,
/// `emails[type eq "work"].value`) addresses a secret attribute.
fn path_is_secret(path: &str) -> bool {
    // A filter may hold a colon or a dot of its own: only what is outside
    // brackets names the attribute.
    let mut outside = String::with_capacity(path.len());
    let mut depth = 0usize;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if depth == 0 => outside.push(c),
            _ => {}
        }
    }
    let attr = outside.rsplit(':').next().unwrap_or(&outside);
    attr.split('.').any(is_secret_name)
}

/// Replaces every secret in `v`, in place.
pub fn redact_json(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let secret_value = map.iter().any(|(k, p)| {
                k.eq_ignore_ascii_case("path") && p.as_str().is_some_and(path_is_secret)
            });
            for (k, child) in map.iter_mut() {
                if is_secret_name(k) || (secret_value && k.eq_ignore_ascii_case("value")) {
                    *child = Value::String(REDACTED.into());
                } else {
                    redact_json(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// Cuts `s` to at most `cap` bytes on a character boundary, saying so.
pub fn cap(mut s: String, cap: usize) -> String {
    if s.len() <= cap {
        return s;
    }
    let total = s.len();
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&format!("…[truncated: {total} bytes in all]"));
    s
}

/// A body as the log keeps it: JSON redacted and re-serialised, cut to
/// `max` bytes. A body that is not JSON cannot be redacted reliably, so it
/// is kept only when nothing in it looks like a secret's name.
pub fn body_for_log(bytes: &[u8], max: usize) -> String {
    if bytes.is_empty() {
        return String::new();
    }
    if bytes.len() <= PARSE_LIMIT {
        if let Ok(mut v) = serde_json::from_slice::<Value>(bytes) {
            redact_json(&mut v);
            return cap(v.to_string(), max);
        }
    }
    // Only what would be kept is looked at: a huge body costs no more.
    let kept = &bytes[..bytes.len().min(max)];
    let lower = String::from_utf8_lossy(kept).to_lowercase();
    if SECRET_NAMES.iter().any(|s| lower.contains(s)) {
        return format!(
            "[{} bytes that are not JSON, not kept: they may hold a secret]",
            bytes.len()
        );
    }
    let mut text = String::from_utf8_lossy(kept).into_owned();
    if kept.len() < bytes.len() {
        text.push_str(&format!("…[truncated: {} bytes in all]", bytes.len()));
    }
    text
}

/// A request header's value as the log keeps it. Credentials keep only
/// their scheme (`Bearer [redacted]`), so the log still shows whether the
/// IdP sent a bearer token or basic credentials; cookies go entirely.
pub fn header_for_log(name: &str, value: &str) -> String {
    if name.eq_ignore_ascii_case("authorization")
        || name.eq_ignore_ascii_case("proxy-authorization")
    {
        return match value.trim().split_once(' ') {
            Some((scheme, _)) => format!("{scheme} {REDACTED}"),
            None => REDACTED.into(),
        };
    }
    if name.eq_ignore_ascii_case("cookie") || name.eq_ignore_ascii_case("set-cookie") {
        return REDACTED.into();
    }
    value.to_string()
}

/// A query string with the value of any secret-named parameter
/// (`access_token=…`, `password=…`) replaced.
pub fn query_for_log(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}={REDACTED}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn redacted(mut v: Value) -> Value {
        redact_json(&mut v);
        v
    }

    #[test]
    fn a_top_level_password_is_redacted() {
        let v = redacted(json!({"userName": "a", "password": "hunter2"}));
        assert_eq!(v, json!({"userName": "a", "password": REDACTED}));
    }

    #[test]
    fn secret_keys_are_found_whatever_their_case() {
        let v = redacted(json!({"PassWord": "x", "PIN": "1234", "Authorization": "Bearer t"}));
        assert_eq!(
            v,
            json!({"PassWord": REDACTED, "PIN": REDACTED, "Authorization": REDACTED})
        );
    }

    #[test]
    fn nested_and_schema_qualified_secrets_are_redacted() {
        let v = redacted(json!({
            "Operations": [{"op": "add", "value": {
                "urn:ietf:params:scim:schemas:core:2.0:User:password": "x",
                "nested": {"deeper": [{"password": "y", "keep": "z"}]}
            }}]
        }));
        let value = &v["Operations"][0]["value"];
        assert_eq!(
            value["urn:ietf:params:scim:schemas:core:2.0:User:password"],
            REDACTED
        );
        assert_eq!(value["nested"]["deeper"][0]["password"], REDACTED);
        assert_eq!(value["nested"]["deeper"][0]["keep"], "z");
    }

    #[test]
    fn a_patch_operation_whose_path_names_the_password_loses_its_value() {
        let v = redacted(json!({"Operations": [
            {"op": "Replace", "path": "password", "value": "x"},
            {"op": "replace", "Path": "urn:ietf:params:scim:schemas:core:2.0:User:Password", "Value": "y"},
            {"op": "replace", "path": "displayName", "value": "Ann"}
        ]}));
        assert_eq!(v["Operations"][0]["value"], REDACTED);
        assert_eq!(v["Operations"][1]["Value"], REDACTED);
        assert_eq!(v["Operations"][2]["value"], "Ann");
    }

    #[test]
    fn a_filter_in_a_patch_path_does_not_hide_or_fake_the_attribute() {
        assert!(!path_is_secret("emails[value eq \"password\"].value"));
        assert!(path_is_secret("x[type eq \"a:b\"].pin"));
    }

    #[test]
    fn bodies_are_redacted_and_capped() {
        let body =
            serde_json::to_vec(&json!({"password": "hunter2", "pad": "a".repeat(100)})).unwrap();
        let logged = body_for_log(&body, 40);
        assert!(!logged.contains("hunter2"));
        assert!(logged.contains("[truncated:"));
        assert!(logged.len() < 40 + 40);
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_only_without_secret_names() {
        assert_eq!(body_for_log(b"{not json", 100), "{not json");
        let hidden = body_for_log(b"{\"password\": \"hunter2\"", 100);
        assert!(!hidden.contains("hunter2"));
        assert!(hidden.contains("not kept"));
    }

    #[test]
    fn a_long_body_that_is_not_json_is_cut_to_the_cap() {
        let body = "x".repeat(1000);
        let logged = body_for_log(body.as_bytes(), 10);
        assert_eq!(logged, "xxxxxxxxxx…[truncated: 1000 bytes in all]");
    }

    #[test]
    fn capping_never_splits_a_character() {
        let s = cap("é".repeat(10), 5);
        assert!(s.starts_with("éé"));
        assert!(!s.starts_with("ééé"));
    }

    #[test]
    fn credentials_keep_only_their_scheme() {
        assert_eq!(
            header_for_log("Authorization", "Bearer scimd_secret"),
            "Bearer [redacted]"
        );
        assert_eq!(header_for_log("authorization", "opaque"), REDACTED);
        assert_eq!(header_for_log("Cookie", "s=1"), REDACTED);
        assert_eq!(header_for_log("User-Agent", "Okta"), "Okta");
    }

    #[test]
    fn secret_query_parameters_are_redacted() {
        assert_eq!(
            query_for_log("filter=userName%20eq%20%22a%22&access_token=abc&Password=x"),
            "filter=userName%20eq%20%22a%22&access_token=[redacted]&Password=[redacted]"
        );
    }
}
