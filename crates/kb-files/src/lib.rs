//! File storage: record files and their thumbnails on local disk or in any S3-compatible
//! object store, behind one [`FileStorage`] handle.
//!
//! Keys follow PocketBase's layout, `<collectionId>/<recordId>/<filename>` and
//! `<collectionId>/<recordId>/thumbs_<filename>/<size>_<filename>`, under
//! `<data dir>/storage` locally or at the bucket root on S3. The backend in use follows the
//! `s3` settings and is swapped atomically when they change ([`FileStorage::configure`]);
//! requests already streaming keep the backend they started with.
//!
//! Writes stream: a file goes to storage in bounded chunks (a multipart upload on S3, a
//! staged file renamed into place on disk), never whole in memory.

pub mod content;
pub mod thumb;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use kb_core::file_name::{ThumbSize, is_safe_file_name};
use kb_core::settings::S3Settings;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use parking_lot::Mutex;
use tempfile::TempPath;

pub use content::{SNIFF_BYTES, content_type, detect_extension, is_inline, sniff_mime};

/// Size of each part sent to storage while streaming (S3's minimum part size is 5 MiB).
const CHUNK_BYTES: usize = 5 << 20;
/// Parts in flight at once while streaming; with the one being filled this bounds the
/// memory an upload holds to about `(PARTS_IN_FLIGHT + 1) × CHUNK_BYTES`.
const PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("file not found")]
    NotFound,
    /// A key that could leave its directory or is not a plain storage path.
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    /// A byte range that starts past the end of the file.
    #[error("the requested range is not satisfiable")]
    InvalidRange,
    /// The S3 settings cannot make a client (bad endpoint and the like).
    #[error("{0}")]
    Config(String),
    /// The data could not be read (the upload stream failed).
    #[error("reading the data failed: {0}")]
    Source(String),
    #[error("image processing failed: {0}")]
    Image(String),
    /// Anything the backend reported.
    #[error("{0}")]
    Storage(String),
}

impl From<object_store::Error> for FileError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => FileError::NotFound,
            object_store::Error::InvalidPath { .. } => FileError::InvalidKey(error.to_string()),
            other => {
                let text = other.to_string();
                // object_store reports an unsatisfiable range as text only (the local
                // backend's own error, or the server's 416).
                let range_error = ["Requested range was invalid", "InvalidRange", "416"]
                    .iter()
                    .any(|needle| text.contains(needle));
                if range_error {
                    FileError::InvalidRange
                } else {
                    FileError::Storage(text)
                }
            }
        }
    }
}

/// What storage knows about a stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    pub last_modified: SystemTime,
    /// The backend's entity tag, without quotes (if it has one).
    pub etag: Option<String>,
}

/// A stored file being read: what it is, and the bytes of the requested range.
pub struct Download {
    pub info: FileInfo,
    /// The byte range `body` yields.
    pub range: Range<u64>,
    pub body: BoxStream<'static, Result<Bytes, FileError>>,
}

/// Which backend is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Local,
    S3,
}

struct Backend {
    store: Arc<dyn ObjectStore>,
    /// The S3 settings the backend was made from; `None` for local disk.
    s3: Option<S3Settings>,
}

/// Record files and thumbnails, on the backend the settings choose.
pub struct FileStorage {
    local_root: PathBuf,
    current: ArcSwap<Backend>,
    /// Thumbnails being generated, by key: concurrent requests for the same missing
    /// thumbnail wait for one generation instead of each making it.
    generating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Thumbnails made since start (a metric, and how tests see generation happen once).
    thumbs_made: AtomicU64,
}

impl FileStorage {
    /// Storage on local disk under `root` (created if missing), until
    /// [`configure`](Self::configure) says otherwise.
    pub fn open_local(root: impl Into<PathBuf>) -> Result<FileStorage, FileError> {
        let local_root = root.into();
        let backend = local_backend(&local_root)?;
        Ok(FileStorage {
            local_root,
            current: ArcSwap::from_pointee(backend),
            generating: Mutex::new(HashMap::new()),
            thumbs_made: AtomicU64::new(0),
        })
    }

    /// Use S3 when `s3.enabled`, local disk otherwise. Unchanged settings keep the current
    /// backend (and its connections); on error the current backend stays.
    pub fn configure(&self, s3: &S3Settings) -> Result<(), FileError> {
        let current = self.current.load();
        let wanted = s3.enabled.then_some(s3);
        if current.s3.as_ref() == wanted {
            return Ok(());
        }
        let backend = match wanted {
            Some(s3) => Backend {
                store: Arc::new(s3_store(s3)?),
                s3: Some(s3.clone()),
            },
            None => local_backend(&self.local_root)?,
        };
        self.current.store(Arc::new(backend));
        Ok(())
    }

    /// How many thumbnails this storage has generated since it was opened.
    pub fn thumbnails_made(&self) -> u64 {
        self.thumbs_made.load(Ordering::Relaxed)
    }

    pub fn backend_kind(&self) -> BackendKind {
        if self.current.load().s3.is_some() {
            BackendKind::S3
        } else {
            BackendKind::Local
        }
    }

    /// The directory local files live in (whether or not S3 is in use now).
    pub fn local_root(&self) -> &FsPath {
        &self.local_root
    }

    /// Store the bytes of `body` under `key`, replacing any file there; returns the size.
    /// The data streams through in bounded chunks; if `body` fails, nothing is stored.
    pub async fn put<S, E>(&self, key: &str, body: S) -> Result<u64, FileError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let path = key_path(key)?;
        let store = self.current.load_full().store.clone();
        put_stream(&*store, &path, body).await
    }

    /// Store `data` under `key`.
    pub async fn put_bytes(&self, key: &str, data: impl Into<Bytes>) -> Result<u64, FileError> {
        let path = key_path(key)?;
        let data: Bytes = data.into();
        let size = data.len() as u64;
        let store = self.current.load_full().store.clone();
        store.put(&path, PutPayload::from(data)).await?;
        Ok(size)
    }

    /// Store the file at `source` (e.g. an upload's temporary file) under `key`, streaming.
    pub async fn put_file(&self, key: &str, source: &FsPath) -> Result<u64, FileError> {
        let file = tokio::fs::File::open(source)
            .await
            .map_err(|e| FileError::Source(e.to_string()))?;
        let stream = futures::stream::try_unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = BytesMut::with_capacity(256 << 10);
            let read = file.read_buf(&mut buf).await?;
            Ok::<_, std::io::Error>((read > 0).then(|| (buf.freeze(), file)))
        });
        self.put(key, stream).await
    }

    /// Where uploads wait on disk until they are stored: inside the local root, so that
    /// storing one on local disk is a rename, never a copy.
    pub fn staging_dir(&self) -> PathBuf {
        self.local_root.join(".staging")
    }

    /// Store an upload waiting at `staged` under `key`: moved into place on local disk,
    /// streamed to S3 (the staged file is removed either way).
    pub async fn store_upload(&self, key: &str, staged: TempPath) -> Result<(), FileError> {
        let path = key_path(key)?;
        if self.current.load().s3.is_some() {
            self.put_file(key, &staged).await?;
            return Ok(());
        }
        let target = self.local_root.join(path.as_ref());
        let moved = tokio::task::spawn_blocking(move || {
            match target.parent().map_or(Ok(()), std::fs::create_dir_all) {
                Ok(()) => staged.persist(&target).map_err(|e| e.path),
                Err(_) => Err(staged),
            }
        });
        match moved.await {
            Ok(Ok(())) => Ok(()),
            // Not movable (e.g. the staging dir is on another filesystem): copy instead.
            Ok(Err(staged)) => self.put_file(key, &staged).await.map(drop),
            Err(error) => Err(FileError::Storage(error.to_string())),
        }
    }

    /// Size, modification time and entity tag of `key`.
    pub async fn head(&self, key: &str) -> Result<FileInfo, FileError> {
        let path = key_path(key)?;
        let store = self.current.load_full().store.clone();
        Ok(info_of(&store.head(&path).await?))
    }

    pub async fn exists(&self, key: &str) -> Result<bool, FileError> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(FileError::NotFound) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The file's info and its first bytes (at most `max`), in one read where possible:
    /// enough to recognise its type.
    pub async fn peek(&self, key: &str, max: usize) -> Result<(FileInfo, Bytes), FileError> {
        let path = key_path(key)?;
        let store = self.current.load_full().store.clone();
        let options = GetOptions {
            range: Some(GetRange::Bounded(0..max.max(1) as u64)),
            ..Default::default()
        };
        match store.get_opts(&path, options).await {
            Ok(result) => {
                let info = info_of(&result.meta);
                Ok((info, result.bytes().await?))
            }
            // An empty file has no byte 0 to start a range at.
            Err(error) => match FileError::from(error) {
                FileError::InvalidRange => Ok((info_of(&store.head(&path).await?), Bytes::new())),
                other => Err(other),
            },
        }
    }

    /// Read `key`, all of it or the byte `range` (clamped to the file's end).
    pub async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<Download, FileError> {
        let path = key_path(key)?;
        let store = self.current.load_full().store.clone();
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = store.get_opts(&path, options).await?;
        let info = info_of(&result.meta);
        let range = result.range.clone();
        let body = result.into_stream().map_err(FileError::from).boxed();
        Ok(Download { info, range, body })
    }

    /// The whole file in memory (for small files such as thumbnail sources).
    pub async fn read(&self, key: &str) -> Result<Bytes, FileError> {
        let path = key_path(key)?;
        let store = self.current.load_full().store.clone();
        Ok(store.get(&path).await?.bytes().await?)
    }

    /// The files at the top level (not in directories), with their info, by key.
    pub async fn list_top_level(&self) -> Result<Vec<(String, FileInfo)>, FileError> {
        let store = self.current.load_full().store.clone();
        let listing = store.list_with_delimiter(None).await?;
        Ok(listing
            .objects
            .iter()
            .map(|meta| (meta.location.as_ref().to_owned(), info_of(meta)))
            .collect())
    }

    /// Where `key` lies on local disk, when the storage is local disk (it can then be read
    /// in place, without a copy); `None` on S3.
    pub fn local_file(&self, key: &str) -> Result<Option<PathBuf>, FileError> {
        let path = key_path(key)?;
        let on_disk = self.current.load().s3.is_none();
        Ok(on_disk.then(|| self.local_root.join(path.as_ref())))
    }

    /// Copy `key` into the new local file `target`, streaming, and sync it.
    pub async fn copy_to_file(&self, key: &str, target: &FsPath) -> Result<(), FileError> {
        use tokio::io::AsyncWriteExt;
        let local = |e: std::io::Error| FileError::Storage(e.to_string());
        let mut body = self.get(key, None).await?.body;
        let mut file = tokio::fs::File::create(target).await.map_err(local)?;
        while let Some(chunk) = body.try_next().await? {
            file.write_all(&chunk).await.map_err(local)?;
        }
        file.sync_all().await.map_err(local)
    }

    /// Delete `key`; a missing file is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), FileError> {
        let path = key_path(key)?;
        let store = self.current.load_full().store.clone();
        match store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Delete everything under the directory `prefix` (a record's `<collectionId>/<recordId>`
    /// or a collection's `<collectionId>`), thumbnails included.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<(), FileError> {
        let path = key_path(prefix)?;
        let backend = self.current.load_full();
        if backend.s3.is_none() {
            // On disk the directories go too, which the object API would leave behind.
            let dir = self.local_root.join(path.as_ref());
            return match tokio::fs::remove_dir_all(&dir).await {
                Ok(()) => Ok(()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(error) => Err(FileError::Storage(error.to_string())),
            };
        }
        let store = backend.store.clone();
        let locations = store.list(Some(&path)).map_ok(|meta| meta.location).boxed();
        let mut deleted = store.delete_stream(locations);
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Make the thumbnail `thumb_key` of the image at `original_key` unless it exists.
    /// Concurrent calls for the same thumbnail generate it once; decoding and resizing run
    /// on a blocking thread.
    pub async fn thumbnail(
        &self,
        original_key: &str,
        thumb_key: &str,
        size: ThumbSize,
    ) -> Result<(), FileError> {
        key_path(thumb_key)?;
        let lock = self
            .generating
            .lock()
            .entry(thumb_key.to_owned())
            .or_default()
            .clone();
        let result = async {
            let _guard = lock.lock().await;
            if self.exists(thumb_key).await? {
                return Ok(());
            }
            let info = self.head(original_key).await?;
            if info.size > thumb::MAX_SOURCE_BYTES {
                return Err(FileError::Image("the original is too large".into()));
            }
            let original = self.read(original_key).await?;
            let data = tokio::task::spawn_blocking(move || thumb::make_thumbnail(&original, size))
                .await
                .map_err(|e| FileError::Image(e.to_string()))??;
            self.put_bytes(thumb_key, data).await?;
            self.thumbs_made.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        .await;
        let mut generating = self.generating.lock();
        // Only the map and this call hold the lock now: nobody else is waiting on it.
        if Arc::strong_count(&lock) == 2 {
            generating.remove(thumb_key);
        }
        result
    }

    /// Check that `s3` works: write a small file, then delete it (PocketBase's
    /// `POST /api/settings/test/s3`). The error text is the backend's.
    pub async fn test_s3(s3: &S3Settings) -> Result<(), FileError> {
        // Someone is waiting on the answer: fail fast instead of retrying for minutes.
        let retry = object_store::RetryConfig {
            max_retries: 1,
            retry_timeout: std::time::Duration::from_secs(10),
            ..Default::default()
        };
        let store = s3_builder(s3)?
            .with_retry(retry)
            .build()
            .map_err(|e| FileError::Config(e.to_string()))?;
        let key = format!(
            "pb_settings_test_{}/test.txt",
            kb_core::id::random_string(5, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        );
        let path = Path::from(key.as_str());
        store
            .put(&path, PutPayload::from_static(b"test"))
            .await
            .map_err(|e| FileError::Storage(format!("failed to upload a test file: {e}")))?;
        store
            .delete(&path)
            .await
            .map_err(|e| FileError::Storage(format!("failed to delete a test file: {e}")))?;
        Ok(())
    }
}

/// The storage key of a record's file.
pub fn file_key(collection_id: &str, record_id: &str, filename: &str) -> String {
    format!("{collection_id}/{record_id}/{filename}")
}

/// The storage key of a thumbnail (`size` as written, e.g. `100x100t`).
pub fn thumb_key(collection_id: &str, record_id: &str, filename: &str, size: &str) -> String {
    format!("{collection_id}/{record_id}/thumbs_{filename}/{size}_{filename}")
}

/// The directory of one file's thumbnails.
pub fn thumbs_prefix(collection_id: &str, record_id: &str, filename: &str) -> String {
    format!("{collection_id}/{record_id}/thumbs_{filename}")
}

/// The directory of a record's files.
pub fn record_prefix(collection_id: &str, record_id: &str) -> String {
    format!("{collection_id}/{record_id}")
}

/// A key as an object path, refused unless every segment is a plain name: no empty
/// segments, no `.`/`..`, no backslashes or control characters. Keys are built from
/// validated ids and stored file names, and this is the last check before a path exists.
fn key_path(key: &str) -> Result<Path, FileError> {
    let valid = !key.is_empty() && key.split('/').all(is_safe_file_name);
    if !valid {
        return Err(FileError::InvalidKey(key.to_owned()));
    }
    Path::parse(key).map_err(|_| FileError::InvalidKey(key.to_owned()))
}

fn info_of(meta: &object_store::ObjectMeta) -> FileInfo {
    FileInfo {
        size: meta.size,
        last_modified: meta.last_modified.into(),
        etag: meta
            .e_tag
            .as_ref()
            .map(|tag| tag.trim_matches('"').to_owned()),
    }
}

fn local_backend(root: &FsPath) -> Result<Backend, FileError> {
    std::fs::create_dir_all(root).map_err(|e| FileError::Storage(e.to_string()))?;
    let store = LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true);
    Ok(Backend {
        store: Arc::new(store),
        s3: None,
    })
}

/// An S3 client for the settings. Path-style requests put the bucket in the path;
/// otherwise it goes in front of the endpoint's host, as S3 and most compatible services
/// expect.
fn s3_store(s3: &S3Settings) -> Result<object_store::aws::AmazonS3, FileError> {
    s3_builder(s3)?
        .build()
        .map_err(|e| FileError::Config(e.to_string()))
}

fn s3_builder(s3: &S3Settings) -> Result<AmazonS3Builder, FileError> {
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&s3.bucket)
        .with_region(&s3.region)
        .with_access_key_id(&s3.access_key)
        .with_secret_access_key(&s3.secret)
        .with_allow_http(true);
    let endpoint = s3.endpoint.trim().trim_end_matches('/');
    if !endpoint.is_empty() {
        let endpoint = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("https://{endpoint}")
        };
        let (scheme, host) = endpoint
            .split_once("://")
            .ok_or_else(|| FileError::Config(format!("invalid endpoint {endpoint:?}")))?;
        // A bucket cannot be a subdomain of an IP address or of localhost: such endpoints
        // (MinIO and the like on a LAN) are always addressed by path.
        let path_style = s3.force_path_style || is_ip_or_localhost(host);
        let endpoint = if path_style {
            endpoint.clone()
        } else {
            format!("{scheme}://{}.{host}", s3.bucket)
        };
        // object_store panics on a request URL it cannot parse: refuse such an endpoint here.
        url::Url::parse(&endpoint)
            .map_err(|e| FileError::Config(format!("invalid endpoint {endpoint:?}: {e}")))?;
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(!path_style);
    } else if !s3.force_path_style {
        builder = builder.with_virtual_hosted_style_request(true);
    }
    Ok(builder)
}

/// Whether the host part of `host_and_path` (`host[:port][/…]`) is an IP address or localhost.
fn is_ip_or_localhost(host_and_path: &str) -> bool {
    let authority = host_and_path.split('/').next().unwrap_or_default();
    if authority.starts_with('[') {
        return true;
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok()
}

/// Stream `body` into `path`: one plain put when it fits in a chunk, a multipart upload
/// (aborted on failure) otherwise.
async fn put_stream<S, E>(store: &dyn ObjectStore, path: &Path, body: S) -> Result<u64, FileError>
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let mut body = pin!(body);
    let mut first = BytesMut::new();
    let mut ended = false;
    while first.len() < CHUNK_BYTES {
        match body.next().await {
            Some(Ok(bytes)) => first.extend_from_slice(&bytes),
            Some(Err(error)) => return Err(FileError::Source(error.to_string())),
            None => {
                ended = true;
                break;
            }
        }
    }
    let mut size = first.len() as u64;
    if ended {
        store.put(path, PutPayload::from(first.freeze())).await?;
        return Ok(size);
    }
    let upload = store.put_multipart(path).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK_BYTES);
    writer.write(&first);
    drop(first);
    let outcome = async {
        while let Some(item) = body.next().await {
            let bytes = item.map_err(|e| FileError::Source(e.to_string()))?;
            writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
            writer.write(&bytes);
            size += bytes.len() as u64;
        }
        Ok::<_, FileError>(())
    }
    .await;
    match outcome {
        Ok(()) => {
            writer.finish().await?;
            Ok(size)
        }
        Err(error) => {
            if let Err(abort) = writer.abort().await {
                tracing::warn!(%abort, "could not abort a failed upload");
            }
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape() {
        assert!(key_path("c/r/file_abc.png").is_ok());
        assert!(key_path("c/r/thumbs_a.png/10x10_a.png").is_ok());
        for bad in [
            "", "c//a", "../a", "c/../a", "c/./a", "/a", "a/", "c/r/a\\b", "c/\0",
        ] {
            assert!(
                matches!(key_path(bad), Err(FileError::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }
}
