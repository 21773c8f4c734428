//! A POST/PUT body as the server reads it: strict JSON (`json::parse_body`),
//! then `intake::read` (schemas, IdP body dialects), then
//! `resource::normalize`, for Users and Groups. Never a panic, every refusal
//! a 4xx, and the stored form is a fixed point: normalising it again (as a
//! later PUT of what a GET returned would) changes nothing.
//!
//! Input: the first byte picks the resource type (even: User, odd: Group),
//! the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimd::scim::schema::{GROUP_TYPE, USER_TYPE};
use scimd::scim::{intake, json, resource};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let rt = if pick % 2 == 0 {
        &USER_TYPE
    } else {
        &GROUP_TYPE
    };
    let refused = |e: scimd::scim::error::ScimError| {
        assert!((400..500).contains(&e.status), "{e}");
    };
    let value = match json::parse_body(body) {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    let read = match intake::read(rt, &value) {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let stored = match resource::normalize(rt, &read.body) {
        Ok(v) => v,
        Err(e) => return refused(e),
    };
    let again = resource::normalize(rt, &stored)
        .unwrap_or_else(|e| panic!("the stored form {stored} is refused: {e}"));
    assert_eq!(stored, again, "normalize is not a fixed point");
    let text = serde_json::to_vec(&stored).expect("a Value always serialises");
    assert_eq!(
        json::parse_body(&text).expect("the stored form reads back"),
        stored
    );
});
