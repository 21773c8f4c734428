//! The IdP dialects ("quirks") accepted while one request was served, for
//! the request log. They are noticed in two places that share no call
//! stack: the HTTP edge (filter dialects) and the domain layer on the
//! writer thread (body and PATCH dialects), which knows the request only by
//! its id (`Actor::request_id`). So the edge *watches* a request id while
//! it serves it, every quirk site *notes* against that id, and the edge
//! *takes* the list when the response is ready ([`Watch`] does both, and
//! forgets the id if the request is dropped half-way, e.g. the client hung
//! up). Only watched requests are kept (the request log is on), so the map
//! holds at most the requests in flight, and a note for any other id costs
//! one atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

static WATCHING: AtomicUsize = AtomicUsize::new(0);

fn watched() -> &'static Mutex<HashMap<String, Vec<&'static str>>> {
    static MAP: OnceLock<Mutex<HashMap<String, Vec<&'static str>>>> = OnceLock::new();
    MAP.get_or_init(Mutex::default)
}

/// Starts collecting the quirks of `request_id`. Pair with [`take`].
pub fn watch(request_id: &str) {
    let mut map = watched().lock().unwrap_or_else(|e| e.into_inner());
    if map.insert(request_id.to_string(), Vec::new()).is_none() {
        WATCHING.fetch_add(1, Ordering::Relaxed);
    }
}

/// One IdP dialect accepted for a request: counted in `/metrics` for the
/// integration, and kept for the request log if the request is watched.
/// Every place that accepts a dialect calls this, so the two never differ.
pub fn accepted(integration: &str, request_id: Option<&str>, quirk: &'static str) {
    crate::metrics::global().quirk(integration, quirk);
    note(request_id, quirk);
}

/// Records one quirk applied while serving `request_id`, if it is watched.
fn note(request_id: Option<&str>, quirk: &'static str) {
    let Some(id) = request_id else { return };
    if WATCHING.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut map = watched().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(list) = map.get_mut(id) {
        if !list.contains(&quirk) {
            list.push(quirk);
        }
    }
}

/// Stops watching `request_id` and returns its quirks, in the order first seen.
pub fn take(request_id: &str) -> Vec<&'static str> {
    let mut map = watched().lock().unwrap_or_else(|e| e.into_inner());
    match map.remove(request_id) {
        Some(list) => {
            WATCHING.fetch_sub(1, Ordering::Relaxed);
            list
        }
        None => Vec::new(),
    }
}

/// Watches one request id for as long as it lives.
pub struct Watch {
    request_id: String,
}

impl Watch {
    pub fn new(request_id: &str) -> Watch {
        watch(request_id);
        Watch {
            request_id: request_id.to_string(),
        }
    }

    /// The quirks noted so far; stops watching.
    pub fn finish(self) -> Vec<&'static str> {
        take(&self.request_id)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // After `finish` this finds nothing; otherwise the request was
        // dropped and its entry must not outlive it.
        take(&self.request_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quirks_of_a_watched_request_are_collected_once_each() {
        watch("req-quirks-a");
        note(Some("req-quirks-a"), "op_case");
        note(Some("req-quirks-a"), "dotted_key");
        note(Some("req-quirks-a"), "op_case");
        note(Some("req-quirks-other"), "empty_path");
        assert_eq!(take("req-quirks-a"), ["op_case", "dotted_key"]);
        assert!(take("req-quirks-a").is_empty());
    }

    #[test]
    fn a_watch_dropped_before_it_finishes_forgets_its_request() {
        let w = Watch::new("req-quirks-dropped");
        note(Some("req-quirks-dropped"), "op_case");
        drop(w);
        let map = watched().lock().unwrap();
        assert!(!map.contains_key("req-quirks-dropped"));
    }

    #[test]
    fn quirks_of_a_request_nobody_watches_are_dropped() {
        note(Some("req-quirks-unwatched"), "op_case");
        note(None, "op_case");
        assert!(take("req-quirks-unwatched").is_empty());
    }
}
