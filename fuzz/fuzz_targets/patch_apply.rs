//! PATCH application: a request body (strict JSON) applied to one of a few
//! stored resources, as `domain::users::patch` does before the store.
//! Never a panic, every refusal a 4xx, and a successful result is a stored
//! form (normalising it again changes nothing).
//!
//! Input: the first byte picks the stored resource, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimd::scim::schema::{ResourceType, GROUP_TYPE, USER_TYPE};
use scimd::scim::{json, patch, resource};
use serde_json::{json, Value};
use std::sync::OnceLock;

fn stored() -> &'static [(&'static ResourceType, Value)] {
    static STORED: OnceLock<Vec<(&'static ResourceType, Value)>> = OnceLock::new();
    STORED.get_or_init(|| {
        let users = [
            json!({"userName": "bjensen"}),
            json!({
                "userName": "bjensen@example.com",
                "externalId": "ext-1",
                "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen"},
                "displayName": "Babs Jensen",
                "active": true,
                "title": "Tour Guide",
                "emails": [
                    {"value": "bjensen@example.com", "type": "work", "primary": true},
                    {"value": "babs@home.org", "type": "home"}
                ],
                "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
                "addresses": [{"type": "work", "locality": "Hollywood", "primary": true}],
                "roles": [{"value": "admin", "primary": "True"}],
                "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAwTjELMAkGA1UEBhMCVVMx"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                    "employeeNumber": "701984",
                    "department": "Tours",
                    "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
                }
            }),
        ];
        let groups = [
            json!({"displayName": "Admins"}),
            json!({"displayName": "Tour Guides", "externalId": "g-ext"}),
        ];
        let mut out = Vec::new();
        for u in users {
            out.push((&USER_TYPE, resource::normalize(&USER_TYPE, &u).expect("seed user")));
        }
        for g in groups {
            out.push((&GROUP_TYPE, resource::normalize(&GROUP_TYPE, &g).expect("seed group")));
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let all = stored();
    let (rt, old) = &all[pick as usize % all.len()];
    let body = match json::parse_body(body) {
        Ok(v) => v,
        Err(e) => return assert_eq!(e.status, 400, "{e}"),
    };
    match patch::apply(rt, old, &body) {
        Ok(p) => {
            let again = resource::normalize(rt, &p.resource)
                .unwrap_or_else(|e| panic!("patched form {} is refused: {e}", p.resource));
            assert_eq!(p.resource, again, "a patched resource is not a stored form");
        }
        Err(e) => assert!((400..500).contains(&e.status), "{e}"),
    }
});
