//! The discovery documents of RFC 7643 §5–§7 (ServiceProviderConfig,
//! ResourceType, Schema), generated from the definitions in `schema` so that
//! what scimd advertises cannot drift from what it enforces. The caller passes
//! the integration's base URL and feature switches. Pure: no I/O.

use crate::scim::schema::{
    resource_types, schemas, AttrDef, AttrType, ResourceType, SchemaDef, RESOURCE_TYPE_URN,
    SCHEMA_URN, SPC_URN,
};
use serde_json::{json, Map, Value};

/// How long a cursor is guaranteed to stay valid between page requests,
/// advertised as RFC 9865's `cursorTimeout`. scimd's cursors are keyset
/// positions and never expire (see `scim::cursor`); a day is what is promised.
pub const CURSOR_TIMEOUT_SECS: u64 = 86_400;

/// What this deployment supports, as advertised in ServiceProviderConfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Features {
    pub patch: bool,
    /// `(maxOperations, maxPayloadSize)` when bulk is enabled.
    pub bulk: Option<(usize, usize)>,
    /// The filter result cap when filtering is supported; also the maximum
    /// page size.
    pub filter_max_results: Option<usize>,
    /// The page size when a query gives no `count`; None: the maximum.
    pub default_page_size: Option<usize>,
    pub sort: bool,
    pub etag: bool,
    /// RFC 9865 cursor pagination alongside index pagination.
    pub cursor: bool,
}

/// RFC 7643 §5 ServiceProviderConfig.
pub fn service_provider_config(f: &Features, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let (bulk_ops, bulk_bytes) = f.bulk.unwrap_or((0, 0));
    let mut doc = json!({
        "schemas": [SPC_URN],
        "patch": {"supported": f.patch},
        "bulk": {
            "supported": f.bulk.is_some(),
            "maxOperations": bulk_ops,
            "maxPayloadSize": bulk_bytes,
        },
        "filter": {
            "supported": f.filter_max_results.is_some(),
            "maxResults": f.filter_max_results.unwrap_or(0),
        },
        // scimd never stores passwords, so it cannot change one.
        "changePassword": {"supported": false},
        "sort": {"supported": f.sort},
        "etag": {"supported": f.etag},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token issued per integration by the scimd administrator",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
    });
    if f.cursor {
        let mut p = Map::new();
        p.insert("cursor".into(), Value::Bool(true));
        p.insert("index".into(), Value::Bool(true));
        p.insert("defaultPaginationMethod".into(), json!("index"));
        if let Some(n) = f.filter_max_results {
            p.insert(
                "defaultPageSize".into(),
                json!(f.default_page_size.unwrap_or(n)),
            );
            p.insert("maxPageSize".into(), json!(n));
        }
        p.insert("cursorTimeout".into(), json!(CURSOR_TIMEOUT_SECS));
        doc["pagination"] = Value::Object(p);
    }
    doc["meta"] = json!({
        "resourceType": "ServiceProviderConfig",
        "location": format!("{base}/ServiceProviderConfig"),
    });
    doc
}

/// RFC 7643 §6 ResourceType. Every extension is advertised as optional.
pub fn resource_type_doc(rt: &ResourceType, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    let mut doc = json!({
        "schemas": [RESOURCE_TYPE_URN],
        "id": rt.name,
        "name": rt.name,
        "endpoint": rt.endpoint,
        "description": rt.description,
        "schema": rt.schema.id,
    });
    if !rt.extensions.is_empty() {
        doc["schemaExtensions"] = rt
            .extensions
            .iter()
            .map(|e| json!({"schema": e.id, "required": false}))
            .collect();
    }
    doc["meta"] = json!({
        "resourceType": "ResourceType",
        "location": format!("{base}/ResourceTypes/{}", rt.name),
    });
    doc
}

/// RFC 7643 §7 Schema, listing every attribute with all its properties. The
/// common attributes (id, externalId, meta) belong to no schema and are not
/// listed, as in RFC 7643 §8.7.1.
pub fn schema_doc(s: &SchemaDef, base_url: &str) -> Value {
    let base = base_url.trim_end_matches('/');
    json!({
        "schemas": [SCHEMA_URN],
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "attributes": s.attributes.iter().map(attr_doc).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base}/Schemas/{}", s.id),
        },
    })
}

/// Every resource type document, for `GET /ResourceTypes`.
pub fn resource_type_docs(base_url: &str) -> Vec<Value> {
    resource_types()
        .into_iter()
        .map(|rt| resource_type_doc(rt, base_url))
        .collect()
}

/// Every schema document, for `GET /Schemas`.
pub fn schema_docs(base_url: &str) -> Vec<Value> {
    schemas()
        .into_iter()
        .map(|s| schema_doc(s, base_url))
        .collect()
}

fn attr_doc(a: &AttrDef) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(a.name));
    m.insert("type".into(), json!(a.ty.as_str()));
    if a.ty == AttrType::Complex {
        m.insert(
            "subAttributes".into(),
            a.sub_attributes.iter().map(attr_doc).collect(),
        );
    }
    m.insert("multiValued".into(), json!(a.multi_valued));
    m.insert("description".into(), json!(a.description));
    m.insert("required".into(), json!(a.required));
    m.insert("caseExact".into(), json!(a.case_exact));
    if !a.canonical_values.is_empty() {
        m.insert("canonicalValues".into(), json!(a.canonical_values));
    }
    if a.ty == AttrType::Reference {
        m.insert("referenceTypes".into(), json!(a.reference_types));
    }
    m.insert("mutability".into(), json!(a.mutability.as_str()));
    m.insert("returned".into(), json!(a.returned.as_str()));
    m.insert("uniqueness".into(), json!(a.uniqueness.as_str()));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema::{
        ENTERPRISE_USER_SCHEMA, ENTERPRISE_USER_URN, GROUP_SCHEMA, GROUP_TYPE, USER_SCHEMA,
        USER_TYPE, USER_URN,
    };

    const BASE: &str = "https://scim.example.com/scim/int_1";

    fn features() -> Features {
        Features {
            patch: true,
            bulk: Some((1000, 1_048_576)),
            filter_max_results: Some(200),
            default_page_size: None,
            sort: true,
            etag: false,
            cursor: false,
        }
    }

    fn attr<'a>(doc: &'a Value, name: &str) -> &'a Value {
        doc["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
    }

    fn sub<'a>(attr: &'a Value, name: &str) -> &'a Value {
        attr["subAttributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
    }

    #[test]
    fn spc_advertises_features() {
        let doc = service_provider_config(&features(), BASE);
        assert_eq!(doc["schemas"], json!([SPC_URN]));
        assert_eq!(doc["patch"], json!({"supported": true}));
        assert_eq!(
            doc["bulk"],
            json!({"supported": true, "maxOperations": 1000, "maxPayloadSize": 1_048_576})
        );
        assert_eq!(doc["filter"], json!({"supported": true, "maxResults": 200}));
        assert_eq!(doc["sort"], json!({"supported": true}));
        assert_eq!(doc["etag"], json!({"supported": false}));
    }

    #[test]
    fn spc_change_password_is_unsupported() {
        let doc = service_provider_config(&features(), BASE);
        assert_eq!(doc["changePassword"], json!({"supported": false}));
    }

    #[test]
    fn spc_disabled_bulk_and_filter_still_carry_required_numbers() {
        let f = Features {
            bulk: None,
            filter_max_results: None,
            ..features()
        };
        let doc = service_provider_config(&f, BASE);
        assert_eq!(
            doc["bulk"],
            json!({"supported": false, "maxOperations": 0, "maxPayloadSize": 0})
        );
        assert_eq!(doc["filter"], json!({"supported": false, "maxResults": 0}));
    }

    #[test]
    fn spc_has_one_primary_bearer_token_scheme() {
        let doc = service_provider_config(&features(), BASE);
        let schemes = doc["authenticationSchemes"].as_array().unwrap();
        assert_eq!(schemes.len(), 1);
        assert_eq!(schemes[0]["type"], "oauthbearertoken");
        assert_eq!(schemes[0]["name"], "OAuth Bearer Token");
        assert_eq!(schemes[0]["primary"], true);
        assert!(schemes[0]["description"].as_str().unwrap().len() > 10);
    }

    #[test]
    fn spc_meta_points_at_itself_without_double_slash() {
        let doc = service_provider_config(&features(), &format!("{BASE}/"));
        assert_eq!(
            doc["meta"],
            json!({
                "resourceType": "ServiceProviderConfig",
                "location": format!("{BASE}/ServiceProviderConfig"),
            })
        );
    }

    #[test]
    fn spc_pagination_appears_only_with_cursor_support() {
        let doc = service_provider_config(&features(), BASE);
        assert!(doc.get("pagination").is_none());
        let f = Features {
            cursor: true,
            ..features()
        };
        let doc = service_provider_config(&f, BASE);
        assert_eq!(
            doc["pagination"],
            json!({
                "cursor": true,
                "index": true,
                "defaultPaginationMethod": "index",
                "defaultPageSize": 200,
                "maxPageSize": 200,
                "cursorTimeout": CURSOR_TIMEOUT_SECS,
            })
        );
        let f = Features {
            default_page_size: Some(50),
            ..f
        };
        let doc = service_provider_config(&f, BASE);
        assert_eq!(doc["pagination"]["defaultPageSize"], 50);
        assert_eq!(doc["pagination"]["maxPageSize"], 200);
    }

    #[test]
    fn resource_type_doc_for_user_lists_optional_enterprise_extension() {
        let doc = resource_type_doc(&USER_TYPE, BASE);
        assert_eq!(
            doc,
            json!({
                "schemas": [RESOURCE_TYPE_URN],
                "id": "User",
                "name": "User",
                "endpoint": "/Users",
                "description": "User Account",
                "schema": USER_URN,
                "schemaExtensions": [{"schema": ENTERPRISE_USER_URN, "required": false}],
                "meta": {
                    "resourceType": "ResourceType",
                    "location": format!("{BASE}/ResourceTypes/User"),
                },
            })
        );
    }

    #[test]
    fn resource_type_doc_for_group_has_no_extensions() {
        let doc = resource_type_doc(&GROUP_TYPE, BASE);
        assert_eq!(doc["endpoint"], "/Groups");
        assert!(doc.get("schemaExtensions").is_none());
        assert_eq!(
            doc["meta"]["location"],
            format!("{BASE}/ResourceTypes/Group")
        );
    }

    #[test]
    fn schema_doc_lists_every_user_attribute() {
        let doc = schema_doc(&USER_SCHEMA, BASE);
        let names: Vec<_> = doc["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        let defined: Vec<_> = USER_SCHEMA.attributes.iter().map(|a| a.name).collect();
        assert_eq!(names, defined);
        assert_eq!(names.len(), 21);
        assert!(!names.contains(&"id"));
    }

    #[test]
    fn schema_doc_carries_every_attribute_property() {
        let doc = schema_doc(&USER_SCHEMA, BASE);
        let user_name = attr(&doc, "userName");
        for key in [
            "name",
            "type",
            "multiValued",
            "description",
            "required",
            "caseExact",
            "mutability",
            "returned",
            "uniqueness",
        ] {
            assert!(user_name.get(key).is_some(), "{key}");
        }
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["uniqueness"], "server");
        let password = attr(&doc, "password");
        assert_eq!(password["mutability"], "writeOnly");
        assert_eq!(password["returned"], "never");
    }

    #[test]
    fn schema_doc_includes_sub_attributes_canonical_values_and_reference_types() {
        let doc = schema_doc(&USER_SCHEMA, BASE);
        let emails = attr(&doc, "emails");
        assert_eq!(emails["type"], "complex");
        assert_eq!(emails["multiValued"], true);
        assert_eq!(
            sub(emails, "type")["canonicalValues"],
            json!(["work", "home", "other"])
        );
        let groups = attr(&doc, "groups");
        assert_eq!(
            sub(groups, "$ref")["referenceTypes"],
            json!(["User", "Group"])
        );
        assert_eq!(groups["mutability"], "readOnly");
        assert!(attr(&doc, "userName").get("subAttributes").is_none());
        assert!(attr(&doc, "userName").get("referenceTypes").is_none());
    }

    #[test]
    fn schema_doc_for_enterprise_and_group() {
        let ent = schema_doc(&ENTERPRISE_USER_SCHEMA, BASE);
        assert_eq!(ent["name"], "EnterpriseUser");
        assert_eq!(
            sub(attr(&ent, "manager"), "displayName")["mutability"],
            "readOnly"
        );
        assert_eq!(
            ent["meta"],
            json!({
                "resourceType": "Schema",
                "location": format!("{BASE}/Schemas/{ENTERPRISE_USER_URN}"),
            })
        );
        let grp = schema_doc(&GROUP_SCHEMA, BASE);
        let members = attr(&grp, "members");
        assert_eq!(sub(members, "value")["mutability"], "immutable");
        assert_eq!(
            sub(members, "type")["canonicalValues"],
            json!(["User", "Group"])
        );
    }

    #[test]
    fn list_helpers_cover_every_type_and_schema() {
        assert_eq!(resource_type_docs(BASE).len(), 2);
        let ids: Vec<_> = schema_docs(BASE)
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().any(|i| i == ENTERPRISE_USER_URN));
    }
}
