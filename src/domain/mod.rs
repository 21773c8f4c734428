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
pub mod groups;
pub mod resources;
pub mod search;
pub mod users;

pub use change::{Change, Outcome, Subject};

use crate::store::{connection, migrate, readers::Readers, writer::Writer, Result};
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;

/// The resource collections scimd serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

impl Domain {
    /// Opens (creating and migrating if needed) the file and starts the writer.
    pub fn open(path: &Path, readers: usize) -> Result<Domain> {
        let conn = connection::open_write(path)?;
        migrate::apply(&conn)?;
        connection::refresh_statistics(&conn)?;
        let writer = Writer::start(conn)?;
        Ok(Domain {
            writer: Arc::new(writer),
            readers: Readers::new(path.to_path_buf(), readers),
        })
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
