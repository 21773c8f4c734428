//! A small pool of read-only connections. Each read runs on tokio's blocking
//! thread pool, never on an async worker; a semaphore bounds how many run at
//! once, and idle connections are kept for reuse.

use super::{connection, Result, StoreError};
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct Readers {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub fn new(path: PathBuf, size: usize) -> Readers {
        Readers {
            inner: Arc::new(Inner {
                path,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(size.max(1))),
            }),
        }
    }

    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match inner.take() {
                Ok(c) => c,
                Err(e) => return Err(e.into()),
            };
            let result = f(&conn);
            inner.give_back(conn);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("read task failed: {e}")))?
    }
}

impl Inner {
    fn take(&self) -> rusqlite::Result<Connection> {
        let pooled = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        match pooled {
            Some(c) => Ok(c),
            None => connection::open_read(&self.path),
        }
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }
}
