//! The domain layer: the one place where scimd changes anything. Every
//! create, replace, patch or delete of a user or group, every member change,
//! and the settings, mapping and token changes the CLI makes, is a typed
//! operation here that runs inside one transaction (the writer thread's for
//! the server, `store::in_transaction` for the offline CLI), returns a typed
//! outcome, and reports what changed as one [`Change`]. Reads the server
//! needs go through here too, so the HTTP edge never sees SQL.
//!
//! May import `scim/` (validation, PATCH, ETags) and `store/` (the SQL);
//! never `server/` or `cli/`, which import it. [`Domain`] owns the writer and
//! the reader pool; only this layer can run a job on them.

pub mod admin;
pub mod bulk;
pub mod change;
pub mod events;
pub mod groups;
pub mod housekeeping;
pub mod pushes;
pub mod resources;
pub mod search;
pub mod users;
pub mod webhooks;

pub use change::{Change, Outcome, Subject};

use crate::store::{connection, migrate, readers::Readers, writer::Writer, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The resource collections scimd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Users,
    Groups,
}

impl Kind {
    /// The collection's name in URLs (`/Users`, `/Groups`).
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Users => "Users",
            Kind::Groups => "Groups",
        }
    }
}

/// The server's handle on the file: one writer thread and a pool of readers.
/// Its jobs are private to this layer; the server calls the typed operations.
#[derive(Clone)]
pub struct Domain {
    writer: Arc<Writer>,
    readers: Readers,
    path: PathBuf,
    /// Where recent startIndex pages ended, so the next one is a seek.
    boundaries: Arc<search::Boundaries>,
}

impl Domain {
    /// Opens (creating and migrating if needed) the file and starts the writer.
    pub fn open(path: &Path, readers: usize) -> Result<Domain> {
        let conn = connection::open_writer(path)?;
        migrate::apply(&conn)?;
        // Statistics are refreshed after the ready line
        // (`housekeeping::statistics`): on a big file that takes seconds.
        // Dropping old STAT4 samples is cheap and must precede any reader.
        connection::forget_samples(&conn)?;
        let writer = Writer::start(conn)?;
        Ok(Domain {
            writer: Arc::new(writer),
            readers: Readers::new(path.to_path_buf(), readers),
            path: path.to_path_buf(),
            boundaries: Arc::new(search::Boundaries::new(search::BOUNDARIES)),
        })
    }

    /// A domain whose writer runs on an in-memory database and whose readers
    /// open `path`, for tests of the edge (e.g. a health check on a file that
    /// is gone).
    #[cfg(test)]
    pub(crate) fn for_tests(path: &Path) -> Result<Domain> {
        Ok(Domain {
            writer: Arc::new(Writer::start(Connection::open_in_memory()?)?),
            readers: Readers::new(path.to_path_buf(), 1),
            path: path.to_path_buf(),
            boundaries: Arc::new(search::Boundaries::new(search::BOUNDARIES)),
        })
    }

    /// Whether the file answers a trivial read (the priority lane, so a busy
    /// server still says it is alive): `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        self.read_priority(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
            .await
            .map(|_| ())
    }

    /// Waits until every write queued before this call has committed: the
    /// last step of a graceful stop.
    pub async fn drain_writer(&self) -> Result<()> {
        self.writer.outside(|_| Ok(())).await
    }

    /// The writer's counters, for `/metrics`.
    pub fn writer_stats(&self) -> &crate::store::writer::Stats {
        self.writer.stats()
    }

    /// The database file, for its size in `/metrics`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.writer.run(f).await
    }

    /// A read on behalf of one integration, within its share of readers.
    async fn read_for<T, F>(&self, integration_id: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers.run_for(integration_id, f).await
    }

    /// Token and settings lookups, which never wait behind searches.
    async fn read_priority<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.readers.run_priority(f).await
    }
}
