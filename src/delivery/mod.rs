//! Webhook delivery: the task inside `serve` that sends what the outbox
//! owes (`store::outbox`, written in each change's transaction), signed the
//! Standard Webhooks way (`sign`), over HTTP(S) (`client`), retried with
//! backoff (`backoff`) until delivered or 24 h old. At least once: a row is
//! marked delivered only after a 2xx, so a crash between the answer and
//! the mark sends it again (receivers drop repeats by `webhook-id`). In
//! order per (hook, resource): the database hands out a resource's next
//! delivery only when no earlier one is pending. Finished deliveries are
//! kept 30 days for `webhook deliveries`, then pruned in small batches.
//!
//! Reads and writes go through the domain layer (`Domain::due_deliveries`,
//! `Domain::finish_deliveries`): small batches, so the writer is never held
//! long. Used by `server` (the task) and `cli` (`webhook test`).

pub mod backoff;
pub mod client;
pub mod sign;

use crate::clock;
use crate::domain::Domain;
use crate::store::webhooks::{Attempt, Due, Verdict};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Deliveries sent at once: also the most rows one writer job updates.
pub const BATCH: usize = 16;
/// How often the outbox is looked at when it had nothing due. Changes made
/// by the offline CLI (token rotation) reach the file without telling the
/// server, so the task polls rather than waits to be told.
const TICK: Duration = Duration::from_millis(500);
/// Finished deliveries are kept this long for `webhook deliveries`.
pub const KEEP: Duration = Duration::from_secs(30 * 24 * 3600);
/// How often old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often the backlog shown in `/metrics` is counted.
const COUNT_EVERY: Duration = Duration::from_secs(5);

/// Runs until `stop` turns true (or its sender is gone). A batch in flight
/// at the stop is abandoned: its rows stay pending and the next start
/// sends them again.
pub async fn run(domain: Domain, mut stop: watch::Receiver<bool>) {
    let mut counted: Option<tokio::time::Instant> = None;
    let mut pruned: Option<tokio::time::Instant> = None;
    loop {
        if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            let cutoff = clock::format(clock::now() - KEEP);
            match domain.prune_deliveries(cutoff).await {
                // A full batch: more may be left, so look again next tick.
                Ok(n) if n as i64 >= crate::store::webhooks::PRUNE_BATCH => {}
                Ok(_) => pruned = Some(tokio::time::Instant::now()),
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot prune old deliveries");
                    pruned = Some(tokio::time::Instant::now());
                }
            }
        }
        if counted.is_none_or(|t| t.elapsed() >= COUNT_EVERY) {
            if let Ok(n) = domain.webhook_backlog().await {
                crate::metrics::global().set_webhook_backlog(u64::try_from(n).unwrap_or(0));
            }
            counted = Some(tokio::time::Instant::now());
        }
        let due = match domain.due_deliveries(BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: cannot read the outbox");
                Vec::new()
            }
        };
        let full = due.len() == BATCH;
        if !due.is_empty() {
            let attempts = tokio::select! {
                done = attempt_all(due) => done,
                _ = stop.changed() => return,
            };
            if let Err(e) = domain.finish_deliveries(attempts).await {
                tracing::warn!(error = %e, "webhooks: cannot record delivery attempts");
            }
        }
        if *stop.borrow() {
            return;
        }
        if full {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn attempt_all(due: Vec<Due>) -> Vec<Attempt> {
    let mut set = JoinSet::new();
    for d in due {
        set.spawn(attempt(d));
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        match done {
            Ok(a) => out.push(a),
            // A panicked send is a bug; its row stays pending and is retried.
            Err(e) => tracing::error!(error = %e, "webhooks: a delivery task failed"),
        }
    }
    out
}

/// One signed POST of one delivery, and what to do next.
async fn attempt(d: Due) -> Attempt {
    let result = match sign::key(&d.endpoint.secret) {
        Ok(key) => {
            let timestamp = clock::now().unix_timestamp();
            let body = d.payload.as_bytes();
            let headers = sign::headers(&key, &d.id, timestamp, body);
            client::post(
                &d.endpoint.url,
                d.endpoint.ca_pem.as_deref(),
                &headers,
                body.to_vec(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (status, error) = match result {
        Ok(s) if (200..300).contains(&s) => (Some(s), None),
        Ok(s) => (Some(s), Some(format!("the receiver answered HTTP {s}"))),
        Err(e) => (None, Some(e)),
    };
    let verdict = match &error {
        None => {
            tracing::debug!(delivery = %d.id, webhook = %d.webhook_id, "webhook delivered");
            Verdict::Delivered
        }
        Some(why) => {
            let now = clock::now();
            let created = clock::parse(&d.created).unwrap_or(now);
            let verdict = match backoff::next(created, now, d.attempts + 1, rand::random()) {
                Some(at) => Verdict::RetryAt(clock::format(at)),
                None => Verdict::Failed,
            };
            tracing::warn!(
                delivery = %d.id,
                webhook = %d.webhook_id,
                url = %d.endpoint.url,
                attempts = d.attempts + 1,
                next = ?verdict,
                "webhook not delivered: {why}"
            );
            verdict
        }
    };
    Attempt {
        seq: d.seq,
        status,
        error,
        verdict,
    }
}
