//! The filter parser on any text: never a panic, every refusal a 400, and
//! whatever parses prints to a form that parses back to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimd::scim::filter::{parse, parse_with_dialects};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text) {
        Ok(f) => {
            let printed = f.to_string();
            // The printed form may exceed a bound the input met (it adds
            // spaces and parentheses); when it parses, it must say the same.
            if let Ok(again) = parse(&printed) {
                assert_eq!(f, again, "{text:?} printed as {printed:?}");
            }
        }
        Err(e) => assert_eq!(e.status, 400, "{text:?}: {e}"),
    }
    match parse_with_dialects(text) {
        Ok((f, _)) => {
            // Dialects are read into the ordinary tree: its print is plain SCIM.
            if let Ok(again) = parse(&f.to_string()) {
                assert_eq!(f, again, "{text:?} (with dialects)");
            }
        }
        Err(e) => assert_eq!(e.status, 400, "{text:?}: {e}"),
    }
});
