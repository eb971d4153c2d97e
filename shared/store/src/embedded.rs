//! In-process DynamoDB- and S3-compatible servers (dynoxide, s3s-fs) for the local run and
//! the tests, reached over HTTP with the real SDK like any other endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server's task and the signal that stops it. Dropping it sends the signal.
#[derive(Debug)]
struct Serving<T> {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<T>>,
}

impl<T> Serving<T> {
    fn new(shutdown: oneshot::Sender<()>, task: JoinHandle<T>) -> Self {
        Self {
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Signal the server to stop and wait for its task to finish.
    async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<T> Drop for Serving<T> {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A runtime of the server's own, shut down without blocking when dropped (a runtime may not
/// be dropped, blocking, inside another's tasks).
#[derive(Debug)]
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A running embedded server. Dropping it stops the server.
///
/// It runs on threads of its own: dynoxide runs SQLite synchronously on the threads that
/// poll it, behind a blocking lock, so on the caller's runtime a busy database would stall
/// every other task there (the API's, the signer's calls to its witnesses) — as a DynamoDB
/// endpoint never stalls its clients.
#[derive(Debug)]
pub struct EmbeddedDynamo {
    endpoint: String,
    serving: Serving<Result<(), String>>,
    /// The SQLite file's write-ahead log, when the database is a file.
    wal: Option<PathBuf>,
    /// Declared last: dropped after the server's stop signal is sent.
    _runtime: OwnRuntime,
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("embedded-dynamodb")
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
            dynoxide::server::serve_with_shutdown(listener, db, async move {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Self {
            _runtime: OwnRuntime(Some(runtime)),
            endpoint: format!("http://{address}"),
            serving: Serving::new(shutdown, task),
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
        self.serving.stop().await;
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

/// A running embedded S3-compatible server (s3s-fs): objects are files under a directory. It
/// checks every request's signature (or presigned link) against
/// [`crate::LOCAL_S3_ACCESS_KEY`] and [`crate::LOCAL_S3_SECRET_KEY`], as S3 would against the
/// signer's credentials. Dropping it stops the server.
#[derive(Debug)]
pub struct EmbeddedS3 {
    endpoint: String,
    serving: Serving<()>,
}

impl EmbeddedS3 {
    /// Serve on `address` (port 0 picks a free one) the buckets under `root` (created if
    /// missing; each bucket is a directory).
    pub async fn start(address: SocketAddr, root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| std::io::Error::other(format!("cannot serve {}: {e:?}", root.display())))?;
        let mut builder = s3s::service::S3ServiceBuilder::new(WholeReads {
            fs,
            root: root.canonicalize()?,
        });
        builder.set_auth(s3s::auth::SimpleAuth::from_single(
            crate::LOCAL_S3_ACCESS_KEY,
            crate::LOCAL_S3_SECRET_KEY,
        ));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let (shutdown, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let http = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                    _ = &mut stopped => return,
                };
                let connection = http
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        Ok(Self {
            endpoint: format!("http://{address}"),
            serving: Serving::new(shutdown, task),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stop accepting requests.
    pub async fn stop(mut self) {
        self.serving.stop().await;
    }
}

/// s3s-fs, answering a GET of a whole object from one read of its file. s3s-fs streams a file
/// in 4 KB reads, each a trip to tokio's blocking pool: some 75 for one entry tile (measured:
/// a sync of 100,000 entries took 1.03 s instead of 0.2 s). Everything else is s3s-fs's own,
/// and the GET is too (its checks, errors and headers); only the body is read at once. It
/// serves what ledgerdesk asks of a bucket: make it, put, get, list the signer's copies by
/// version and (the tests) delete objects.
struct WholeReads {
    fs: s3s_fs::FileSystem,
    root: PathBuf,
}

impl WholeReads {
    /// The file of `bucket`/`key`, for keys of plain segments only (anything else keeps
    /// s3s-fs's own streaming, which confines paths to the root itself).
    fn file(&self, bucket: &str, key: &str) -> Option<PathBuf> {
        let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\\');
        (plain(bucket) && key.split('/').all(plain)).then(|| self.root.join(bucket).join(key))
    }
}

type S3Result<T> = s3s::S3Result<s3s::S3Response<T>>;

#[async_trait::async_trait]
impl s3s::S3 for WholeReads {
    async fn create_bucket(
        &self,
        req: s3s::S3Request<s3s::dto::CreateBucketInput>,
    ) -> S3Result<s3s::dto::CreateBucketOutput> {
        self.fs.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: s3s::S3Request<s3s::dto::HeadBucketInput>,
    ) -> S3Result<s3s::dto::HeadBucketOutput> {
        self.fs.head_bucket(req).await
    }

    async fn put_object(&self, req: s3s::S3Request<s3s::dto::PutObjectInput>) -> S3Result<s3s::dto::PutObjectOutput> {
        self.fs.put_object(req).await
    }

    async fn delete_object(
        &self,
        req: s3s::S3Request<s3s::dto::DeleteObjectInput>,
    ) -> S3Result<s3s::dto::DeleteObjectOutput> {
        self.fs.delete_object(req).await
    }

    /// The versions of what `prefix` holds, as S3 lists them for a bucket that keeps none:
    /// each object once, as its latest. (The signer lists its signed copies by version so
    /// that, in AWS, a delete marker over a locked copy cannot hide it.)
    async fn list_object_versions(
        &self,
        req: s3s::S3Request<s3s::dto::ListObjectVersionsInput>,
    ) -> S3Result<s3s::dto::ListObjectVersionsOutput> {
        let listed = self
            .fs
            .list_objects_v2(req.map_input(|input| s3s::dto::ListObjectsV2Input {
                bucket: input.bucket,
                prefix: input.prefix,
                start_after: input.key_marker,
                max_keys: input.max_keys,
                ..Default::default()
            }))
            .await?
            .output;
        let contents = listed.contents.unwrap_or_default();
        // Where the next page starts, as S3 says it for a truncated listing: after the last
        // key of this one.
        let next_key_marker = listed
            .is_truncated
            .unwrap_or(false)
            .then(|| contents.last().and_then(|o| o.key.clone()))
            .flatten();
        let versions = contents
            .into_iter()
            .map(|object| s3s::dto::ObjectVersion {
                key: object.key,
                size: object.size,
                e_tag: object.e_tag,
                last_modified: object.last_modified,
                is_latest: Some(true),
                version_id: Some("null".into()),
                ..Default::default()
            })
            .collect();
        Ok(s3s::S3Response::new(s3s::dto::ListObjectVersionsOutput {
            name: listed.name,
            prefix: listed.prefix,
            max_keys: listed.max_keys,
            is_truncated: listed.is_truncated,
            next_key_marker,
            next_version_id_marker: None,
            versions: Some(versions),
            ..Default::default()
        }))
    }

    async fn get_object(&self, req: s3s::S3Request<s3s::dto::GetObjectInput>) -> S3Result<s3s::dto::GetObjectOutput> {
        let whole = req
            .input
            .range
            .is_none()
            .then(|| self.file(&req.input.bucket, &req.input.key));
        let mut response = self.fs.get_object(req).await?;
        if let Some(Some(path)) = whole
            && let Ok(bytes) = tokio::fs::read(&path).await
            && response.output.content_length == i64::try_from(bytes.len()).ok()
        {
            let chunk: Result<bytes::Bytes, std::io::Error> = Ok(bytes::Bytes::from(bytes));
            response.output.body = Some(s3s::dto::StreamingBlob::wrap(futures::stream::iter([chunk])));
        }
        Ok(response)
    }
}
