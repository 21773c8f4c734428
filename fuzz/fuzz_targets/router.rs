//! The request line as the handler reads it before any I/O: the path's
//! slashes squeezed, the integration split off, the rest routed
//! (`router::route`), the query string decoded (`query::Query`) and the
//! search parameters checked. Never a panic; a refusal is a 404 or 405 from
//! the router and a 400 from the query.
//!
//! Input: a request line without the version, `METHOD /path?query` (a line
//! without a space is a GET of that target).
#![no_main]

use hyper::Method;
use libfuzzer_sys::fuzz_target;
use scimd::scim::search::SearchParams;
use scimd::server::query::Query;
use scimd::server::router;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let (method, target) = line.split_once(' ').unwrap_or(("GET", line));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let path = router::squeeze_slashes(path);
    assert!(!path.contains("//"), "{path:?}");
    if let Some((id, rest)) = router::split_integration(&path) {
        assert!(!id.is_empty() && !id.contains('/'), "{id:?}");
        match router::route(&method, rest) {
            Ok(endpoint) => {
                assert!(!endpoint.name().is_empty());
            }
            Err(e) => assert!(matches!(e.status, 404 | 405), "{method} {rest:?}: {e}"),
        }
    }
    match Query::parse(query) {
        Ok(q) => {
            let params = SearchParams::from_query(|name| q.get(name));
            if let Err(e) = params.check(100, 1000) {
                assert_eq!(e.status, 400, "{e}");
            }
        }
        Err(e) => assert_eq!(e.status, 400, "{e}"),
    }
});
