//! What the server saw of each IdP's pushes, written as one writer job per
//! batch: the push status (last request, last change, User-Agent, detected
//! IdP, last errors) and the request log, pruned to its size in the same
//! transaction. The edge gathers both in memory and calls [`Domain::
//! record_pushes`] every couple of seconds, so no request pays for a write
//! of its own.

use super::Domain;
use crate::store::request_log::{self, Logged};
use crate::store::status::{self, Seen};
use crate::store::Result;

/// One flush: per integration, what was seen and the requests to log.
#[derive(Debug, Default)]
pub struct PushBatch {
    pub seen: Vec<Seen>,
    /// (integration, requests oldest first).
    pub requests: Vec<(String, Vec<Logged>)>,
    /// Requests kept per integration (`serve --request-log N`).
    pub keep: usize,
}

impl PushBatch {
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty() && self.requests.is_empty()
    }
}

impl Domain {
    /// Writes one batch as one writer job.
    pub async fn record_pushes(&self, batch: PushBatch) -> Result<()> {
        self.write(move |c| {
            for seen in &batch.seen {
                status::record(c, seen)?;
            }
            for (integration, rows) in &batch.requests {
                request_log::append(c, integration, rows, batch.keep)?;
            }
            Ok(())
        })
        .await
    }
}
