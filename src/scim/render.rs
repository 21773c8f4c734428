//! Builds the full client-facing resource from what the store keeps (the
//! canonical attributes) plus the server-owned facts (`id`, `meta`). Key
//! order follows the RFC examples: schemas, id, attributes, meta. Pure.

use serde_json::{json, Map, Value};

/// The server-owned facts about one stored resource.
pub struct Meta<'a> {
    pub resource_type: &'a str,
    pub id: &'a str,
    pub created: &'a str,
    pub last_modified: &'a str,
    /// Already formatted as a weak ETag, `W/"3"`.
    pub version: &'a str,
    /// Absolute URL of the resource.
    pub location: &'a str,
}

pub fn full_resource(stored: &Value, meta: &Meta<'_>) -> Value {
    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        stored.get("schemas").cloned().unwrap_or_else(|| json!([])),
    );
    out.insert("id".into(), Value::String(meta.id.to_string()));
    if let Some(attrs) = stored.as_object() {
        for (k, v) in attrs {
            if k != "schemas" && k != "id" && k != "meta" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert(
        "meta".into(),
        json!({
            "resourceType": meta.resource_type,
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": meta.location,
            "version": meta.version,
        }),
    );
    Value::Object(out)
}

/// Adds a computed attribute (`groups`, `members`) keeping `meta` last.
pub fn insert_before_meta(resource: &mut Value, key: &str, value: Value) {
    if let Some(obj) = resource.as_object_mut() {
        let meta = obj.remove("meta");
        obj.insert(key.to_string(), value);
        if let Some(meta) = meta {
            obj.insert("meta".into(), meta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_meta_are_added_and_client_copies_ignored() {
        let stored = json!({"schemas": ["s"], "userName": "a", "id": "evil", "meta": {"x": 1}});
        let out = full_resource(
            &stored,
            &Meta {
                resource_type: "User",
                id: "real",
                created: "c",
                last_modified: "m",
                version: "W/\"1\"",
                location: "https://h/scim/i/Users/real",
            },
        );
        assert_eq!(out["id"], "real");
        assert_eq!(out["meta"]["resourceType"], "User");
        assert_eq!(out["meta"]["version"], "W/\"1\"");
        assert_eq!(out["userName"], "a");
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["schemas", "id", "userName", "meta"]);
    }
}
