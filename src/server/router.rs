//! Turns method + path into a typed `Endpoint` before any handler runs, so
//! handlers match on an enum and the routing table can be read (and tested)
//! in one place, without sockets. Paths are `/scim/<integration>/<rest>`.

use crate::scim::error::ScimError;
use hyper::Method;

pub use crate::domain::Kind;

fn kind_of_segment(s: &str) -> Option<Kind> {
    match s {
        "Users" => Some(Kind::Users),
        "Groups" => Some(Kind::Groups),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ServiceProviderConfig,
    ResourceTypes,
    ResourceType(String),
    Schemas,
    Schema(String),
    List(Kind),
    Create(Kind),
    Search(Kind),
    /// `POST /.search` across resource types.
    SearchAll,
    Get(Kind, String),
    Replace(Kind, String),
    Patch(Kind, String),
    Delete(Kind, String),
    Bulk,
    /// `GET /openapi.json`: docs/openapi.json with this integration's base URL.
    OpenApi,
}

impl Endpoint {
    /// A short stable name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::ServiceProviderConfig => "ServiceProviderConfig",
            Endpoint::ResourceTypes | Endpoint::ResourceType(_) => "ResourceTypes",
            Endpoint::Schemas | Endpoint::Schema(_) => "Schemas",
            Endpoint::List(Kind::Users) => "ListUsers",
            Endpoint::List(Kind::Groups) => "ListGroups",
            Endpoint::Create(Kind::Users) => "CreateUser",
            Endpoint::Create(Kind::Groups) => "CreateGroup",
            Endpoint::Search(Kind::Users) => "SearchUsers",
            Endpoint::Search(Kind::Groups) => "SearchGroups",
            Endpoint::Get(Kind::Users, _) => "GetUser",
            Endpoint::Get(Kind::Groups, _) => "GetGroup",
            Endpoint::Replace(Kind::Users, _) => "ReplaceUser",
            Endpoint::Replace(Kind::Groups, _) => "ReplaceGroup",
            Endpoint::Patch(Kind::Users, _) => "PatchUser",
            Endpoint::Patch(Kind::Groups, _) => "PatchGroup",
            Endpoint::Delete(Kind::Users, _) => "DeleteUser",
            Endpoint::Delete(Kind::Groups, _) => "DeleteGroup",
            Endpoint::Bulk => "Bulk",
            Endpoint::SearchAll => "Search",
            Endpoint::OpenApi => "OpenApi",
        }
    }
}

/// Collapses runs of `/` into one, so `/scim/<id>//Users` (a base URL pasted
/// with a trailing slash) reaches `/Users`.
pub fn squeeze_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out
}

/// Splits `/scim/<integration>/<rest>` into the integration id and the rest
/// (without its leading slash). None when the path is not a SCIM path.
pub fn split_integration(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/scim/")?;
    let (id, rest) = rest.split_once('/').unwrap_or((rest, ""));
    if id.is_empty() {
        return None;
    }
    Some((id, rest))
}

/// A path segment with its `%XX` escapes decoded: clients may escape any
/// character of an id or URN (`Schemas/urn%3Aietf%3A…`) and mean the same
/// resource. A segment whose escapes do not decode to UTF-8 is kept as sent,
/// so it names nothing and is a 404 like any unknown id.
fn decode_segment(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_string();
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_string())
}

fn not_allowed(method: &Method, what: &str) -> ScimError {
    ScimError::method_not_allowed(format!("{method} is not allowed on {what}"))
}

/// Routes the part of the path after the integration id.
pub fn route(method: &Method, rest: &str) -> Result<Endpoint, ScimError> {
    let rest = rest.trim_end_matches('/');
    let segments: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let read_only = |e: Endpoint, what: &str| {
        if method == Method::GET {
            Ok(e)
        } else {
            Err(not_allowed(method, what))
        }
    };
    if let Some(kind) = segments.first().and_then(|s| kind_of_segment(s)) {
        return route_collection(method, kind, &segments[1..], rest);
    }
    match segments.as_slice() {
        ["ServiceProviderConfig"] => {
            read_only(Endpoint::ServiceProviderConfig, "/ServiceProviderConfig")
        }
        ["ResourceTypes"] => read_only(Endpoint::ResourceTypes, "/ResourceTypes"),
        ["ResourceTypes", name] => read_only(
            Endpoint::ResourceType(decode_segment(name)),
            "/ResourceTypes",
        ),
        ["Schemas"] => read_only(Endpoint::Schemas, "/Schemas"),
        ["Schemas", urn] => read_only(Endpoint::Schema(decode_segment(urn)), "/Schemas"),
        [".search"] => match *method {
            Method::POST => Ok(Endpoint::SearchAll),
            _ => Err(not_allowed(method, "/.search")),
        },
        ["openapi.json"] => read_only(Endpoint::OpenApi, "/openapi.json"),
        ["Bulk"] => match *method {
            Method::POST => Ok(Endpoint::Bulk),
            _ => Err(not_allowed(method, "/Bulk")),
        },
        _ => Err(ScimError::not_found(format!(
            "no SCIM endpoint at '/{rest}'"
        ))),
    }
}

fn route_collection(
    method: &Method,
    kind: Kind,
    tail: &[&str],
    rest: &str,
) -> Result<Endpoint, ScimError> {
    let collection = kind.collection();
    match tail {
        [] => match *method {
            Method::GET => Ok(Endpoint::List(kind)),
            Method::POST => Ok(Endpoint::Create(kind)),
            _ => Err(not_allowed(method, &format!("/{collection}"))),
        },
        [".search"] => match *method {
            Method::POST => Ok(Endpoint::Search(kind)),
            _ => Err(not_allowed(method, &format!("/{collection}/.search"))),
        },
        [id] => {
            let id = decode_segment(id);
            match *method {
                Method::GET => Ok(Endpoint::Get(kind, id)),
                Method::PUT => Ok(Endpoint::Replace(kind, id)),
                Method::PATCH => Ok(Endpoint::Patch(kind, id)),
                Method::DELETE => Ok(Endpoint::Delete(kind, id)),
                _ => Err(not_allowed(method, &format!("/{collection}/{{id}}"))),
            }
        }
        _ => Err(ScimError::not_found(format!(
            "no SCIM endpoint at '/{rest}'"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_integration_from_rest() {
        assert_eq!(
            split_integration("/scim/int_a/Users/x"),
            Some(("int_a", "Users/x"))
        );
        assert_eq!(split_integration("/scim/int_a"), Some(("int_a", "")));
        assert_eq!(split_integration("/scim/"), None);
        assert_eq!(split_integration("/other"), None);
    }

    #[test]
    fn repeated_slashes_collapse_to_one() {
        assert_eq!(squeeze_slashes("/scim/int_a//Users"), "/scim/int_a/Users");
        assert_eq!(
            squeeze_slashes("//scim///int_a/Users//x/"),
            "/scim/int_a/Users/x/"
        );
        assert_eq!(squeeze_slashes("/scim/int_a/Users"), "/scim/int_a/Users");
    }

    #[test]
    fn users_collection_routes_by_method() {
        assert_eq!(
            route(&Method::GET, "Users").unwrap(),
            Endpoint::List(Kind::Users)
        );
        assert_eq!(
            route(&Method::POST, "Users/").unwrap(),
            Endpoint::Create(Kind::Users)
        );
        assert_eq!(route(&Method::DELETE, "Users").unwrap_err().status, 405);
    }

    #[test]
    fn user_by_id_routes_by_method() {
        assert_eq!(
            route(&Method::PUT, "Users/abc").unwrap(),
            Endpoint::Replace(Kind::Users, "abc".into())
        );
        assert_eq!(
            route(&Method::DELETE, "Users/abc").unwrap(),
            Endpoint::Delete(Kind::Users, "abc".into())
        );
        assert_eq!(route(&Method::POST, "Users/abc").unwrap_err().status, 405);
    }

    #[test]
    fn discovery_endpoints_are_read_only() {
        assert_eq!(
            route(&Method::GET, "ServiceProviderConfig").unwrap(),
            Endpoint::ServiceProviderConfig
        );
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(route(&m, "ServiceProviderConfig").unwrap_err().status, 405);
            assert_eq!(route(&m, "Schemas").unwrap_err().status, 405);
            assert_eq!(route(&m, "ResourceTypes/User").unwrap_err().status, 405);
        }
    }

    #[test]
    fn schema_by_urn_keeps_colons() {
        assert_eq!(
            route(
                &Method::GET,
                "Schemas/urn:ietf:params:scim:schemas:core:2.0:User"
            )
            .unwrap(),
            Endpoint::Schema("urn:ietf:params:scim:schemas:core:2.0:User".into())
        );
    }

    #[test]
    fn escaped_ids_and_urns_are_decoded() {
        assert_eq!(
            route(
                &Method::GET,
                "Schemas/urn%3Aietf%3Aparams%3Ascim%3Aschemas%3Acore%3A2.0%3AUser"
            )
            .unwrap(),
            Endpoint::Schema("urn:ietf:params:scim:schemas:core:2.0:User".into())
        );
        assert_eq!(
            route(&Method::DELETE, "Users/a%20b%C3%A9").unwrap(),
            Endpoint::Delete(Kind::Users, "a bé".into())
        );
        // Broken escapes name nothing: kept as sent.
        assert_eq!(
            route(&Method::GET, "Users/50%zz%C3").unwrap(),
            Endpoint::Get(Kind::Users, "50%zz%C3".into())
        );
        assert_eq!(
            route(&Method::GET, "ResourceTypes/Us%65r").unwrap(),
            Endpoint::ResourceType("User".into())
        );
    }

    #[test]
    fn groups_route_like_users() {
        assert_eq!(
            route(&Method::GET, "Groups").unwrap(),
            Endpoint::List(Kind::Groups)
        );
        assert_eq!(
            route(&Method::PATCH, "Groups/g1").unwrap(),
            Endpoint::Patch(Kind::Groups, "g1".into())
        );
        assert_eq!(
            route(&Method::POST, "Groups/.search").unwrap(),
            Endpoint::Search(Kind::Groups)
        );
    }

    #[test]
    fn unknown_paths_are_404() {
        assert_eq!(route(&Method::GET, "Nope").unwrap_err().status, 404);
        assert_eq!(route(&Method::GET, "Users/a/b").unwrap_err().status, 404);
        assert_eq!(route(&Method::GET, "").unwrap_err().status, 404);
    }

    /// Every endpoint, one value per variant. The match fails to compile when
    /// a variant is added, as a reminder to list it here too.
    fn every_endpoint() -> Vec<Endpoint> {
        let all = vec![
            Endpoint::ServiceProviderConfig,
            Endpoint::ResourceTypes,
            Endpoint::ResourceType("User".into()),
            Endpoint::Schemas,
            Endpoint::Schema("x".into()),
            Endpoint::List(Kind::Users),
            Endpoint::List(Kind::Groups),
            Endpoint::Create(Kind::Users),
            Endpoint::Create(Kind::Groups),
            Endpoint::Search(Kind::Users),
            Endpoint::Search(Kind::Groups),
            Endpoint::SearchAll,
            Endpoint::Get(Kind::Users, "x".into()),
            Endpoint::Get(Kind::Groups, "x".into()),
            Endpoint::Replace(Kind::Users, "x".into()),
            Endpoint::Replace(Kind::Groups, "x".into()),
            Endpoint::Patch(Kind::Users, "x".into()),
            Endpoint::Patch(Kind::Groups, "x".into()),
            Endpoint::Delete(Kind::Users, "x".into()),
            Endpoint::Delete(Kind::Groups, "x".into()),
            Endpoint::Bulk,
            Endpoint::OpenApi,
        ];
        for e in &all {
            match e {
                Endpoint::ServiceProviderConfig
                | Endpoint::ResourceTypes
                | Endpoint::ResourceType(_)
                | Endpoint::Schemas
                | Endpoint::Schema(_)
                | Endpoint::List(_)
                | Endpoint::Create(_)
                | Endpoint::Search(_)
                | Endpoint::SearchAll
                | Endpoint::Get(..)
                | Endpoint::Replace(..)
                | Endpoint::Patch(..)
                | Endpoint::Delete(..)
                | Endpoint::Bulk
                | Endpoint::OpenApi => {}
            }
        }
        all
    }

    /// The documented operations: (method, path with its parameters filled in).
    fn documented() -> Vec<(Method, String)> {
        let doc: serde_json::Value =
            serde_json::from_str(crate::server::discovery::OPENAPI_JSON).expect("valid JSON");
        let mut out = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            let path = template.replace("{id}", "x1").replace("{name}", "User");
            for method in item.as_object().expect("path item").keys() {
                if method == "parameters" {
                    continue;
                }
                let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                out.push((m, path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_documented_operation_routes() {
        for (method, path) in documented() {
            let routed = route(&method, path.trim_start_matches('/'));
            assert!(
                routed.is_ok(),
                "{method} {path} is documented but not routed"
            );
        }
    }

    #[test]
    fn every_route_is_documented() {
        let documented = documented();
        let mut reached: Vec<&str> = Vec::new();
        for (_, path) in &documented {
            for m in [
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ] {
                if let Ok(e) = route(&m, path.trim_start_matches('/')) {
                    assert!(
                        documented.contains(&(m.clone(), path.clone())),
                        "{m} {path} routes to {} but is not documented",
                        e.name()
                    );
                    reached.push(e.name());
                }
            }
        }
        for e in every_endpoint() {
            assert!(
                reached.contains(&e.name()),
                "{} is not reached by any documented path",
                e.name()
            );
        }
    }

    #[test]
    fn openapi_document_is_served_read_only() {
        assert_eq!(
            route(&Method::GET, "openapi.json").unwrap(),
            Endpoint::OpenApi
        );
        assert_eq!(
            route(&Method::POST, "openapi.json").unwrap_err().status,
            405
        );
    }
}
