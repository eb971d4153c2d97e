//! An in-process DynamoDB-compatible server (dynoxide) for the local run and the tests,
//! reached over HTTP with the real SDK like any other endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running embedded server. Dropping it stops the server.
#[derive(Debug)]
pub struct EmbeddedDynamo {
    endpoint: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), String>>>,
    /// The SQLite file's write-ahead log, when the database is a file.
    wal: Option<PathBuf>,
}

impl EmbeddedDynamo {
    /// Serve on `address` (port 0 picks a free one) with an in-memory database, or with the
    /// SQLite file `path` (created if missing; survives restarts).
    pub async fn start(address: SocketAddr, path: Option<&Path>) -> std::io::Result<Self> {
        let db = match path {
            Some(path) => dynoxide::Database::new(&path.to_string_lossy()),
            None => dynoxide::Database::memory(),
        }
        .map_err(|e| std::io::Error::other(format!("cannot open the local database: {e}")))?;
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(dynoxide::server::serve_with_shutdown(listener, db, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            endpoint: format!("http://{address}"),
            shutdown: Some(shutdown),
            task: Some(task),
            wal: path.map(|p| {
                let mut wal = p.as_os_str().to_owned();
                wal.push("-wal");
                PathBuf::from(wal)
            }),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stop accepting requests and wait for the server to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        // The database closes when the last connection task lets go of it, which can be just
        // after the server returns; SQLite then folds the write-ahead log into the file and
        // deletes it. Wait for that (bounded), so that the file alone is the database when
        // this returns (erased values must not linger in a WAL the caller then reads).
        if let Some(wal) = &self.wal {
            for _ in 0..500 {
                if !wal.exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

impl Drop for EmbeddedDynamo {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
