//! The PATCH path parser on any text: never a panic, every refusal a 400,
//! and a parsed path prints to a form that parses back to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimd::scim::path::parse_patch_path_with_dialects;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_patch_path_with_dialects(text) {
        Ok((p, _)) => {
            let printed = p.to_string();
            if let Ok((again, _)) = parse_patch_path_with_dialects(&printed) {
                assert_eq!(p, again, "{text:?} printed as {printed:?}");
            }
        }
        Err(e) => assert_eq!(e.status, 400, "{text:?}: {e}"),
    }
});
