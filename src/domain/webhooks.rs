//! Webhooks in the domain layer: the CLI's hook changes (functions of a
//! transaction) and the delivery task's reads and writes of the outbox,
//! which go through the reader pool and the writer like every other
//! server access. What a hook is owed is written by `store::outbox`,
//! inside each change's own transaction.

use super::Domain;
use crate::store::webhooks::{self, Attempt, Due, Hook, NewHook};
use crate::store::Result;
use rusqlite::Connection;

/// Adds a hook; returns it and its signing secret (`whsec_…`), shown once.
pub fn add_webhook(c: &Connection, integration: &str, new: &NewHook) -> Result<(Hook, String)> {
    webhooks::add(c, integration, new)
}

/// Removes a hook with its deliveries, pending ones included.
pub fn remove_webhook(c: &Connection, integration: &str, hook: &str) -> Result<()> {
    webhooks::remove(c, integration, hook)
}

impl Domain {
    /// Up to `limit` deliveries due now, none overtaking an earlier pending
    /// one of the same (hook, resource).
    pub async fn due_deliveries(&self, limit: usize) -> Result<Vec<Due>> {
        let now = crate::clock::now_string();
        self.readers
            .run(move |c| webhooks::due(c, &now, limit))
            .await
    }

    /// Records a batch of attempts in one small writer job.
    pub async fn finish_deliveries(&self, attempts: Vec<Attempt>) -> Result<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            for a in &attempts {
                webhooks::finish(c, a)?;
            }
            Ok(())
        })
        .await
    }

    /// Removes up to one batch of finished deliveries made before
    /// `cutoff`; how many went.
    pub async fn prune_deliveries(&self, cutoff: String) -> Result<usize> {
        let Some(upto) = self
            .readers
            .run(move |c| webhooks::prune_bound(c, &cutoff))
            .await?
        else {
            return Ok(0);
        };
        self.write(move |c| webhooks::prune(c, upto)).await
    }

    /// Deliveries still pending, over every hook: `/metrics`.
    pub async fn webhook_backlog(&self) -> Result<i64> {
        self.readers.run(webhooks::backlog).await
    }
}
