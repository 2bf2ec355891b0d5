//! Files uploaded with a record write. The HTTP layer streams each file part to a staging
//! file; here uploads are matched to the collection's file fields and named, their names
//! are merged into the body (so the write job treats them like any other value), and they
//! are stored under the record *before* the write job runs: a committed record never
//! points at a missing file. What the job did decides what goes afterwards: on failure the
//! stored uploads; on success the files the record let go of and the uploads it did not
//! keep (a single-file field keeps only the last one sent).

use std::collections::HashSet;
use std::path::Path;

use kb_core::field::FieldKind;
use kb_core::file_name::{is_safe_file_name, normalize_file_name};
use kb_core::record::{self, UploadCheck};
use kb_core::value::to_string_list;
use kb_core::{Collection, FieldError, ValidationErrors};
use kb_files::FileStorage;
use kb_store::Row;
use serde_json::{Map, Value};
use tempfile::TempPath;

use crate::error::{AppError, AppResult};

/// What a create or update sends: the values, and the files uploaded with them.
#[derive(Debug, Default)]
pub struct RecordBody {
    pub values: Map<String, Value>,
    pub files: Vec<UploadedFile>,
}

/// One uploaded file, waiting in a staging file until its record is written.
#[derive(Debug)]
pub struct UploadedFile {
    /// The form key it came in (`avatar`, `images+`, `+images`…).
    pub key: String,
    /// The name the client gave it.
    pub original_name: String,
    pub size: u64,
    /// Its first bytes (up to `kb_files::SNIFF_BYTES`), for content sniffing.
    pub head: Vec<u8>,
    /// The staging file (removed when dropped, unless stored).
    pub path: TempPath,
}

/// What the write job knows of a request's uploads: their stored names and what
/// validation needs.
#[derive(Debug, Clone, Default)]
pub(crate) struct UploadSet {
    names: Vec<String>,
    files: Vec<UploadInfo>,
}

#[derive(Debug, Clone)]
struct UploadInfo {
    field: String,
    original_name: String,
    size: u64,
    mime: &'static str,
}

impl UploadSet {
    /// The stored names, the only new names file fields accept.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Check the uploads the record holds against their fields' limits.
    pub(crate) fn validate(&self, collection: &Collection, record: &Row) -> ValidationErrors {
        let checks: Vec<UploadCheck<'_>> = self
            .names
            .iter()
            .zip(&self.files)
            .map(|(name, info)| UploadCheck {
                field: &info.field,
                name,
                original_name: &info.original_name,
                size: info.size,
                mime: info.mime,
            })
            .collect();
        record::validate_uploads(collection, record, &checks)
            .err()
            .unwrap_or_default()
    }

    /// The files to delete once a write of record `id` has committed: those the record
    /// held `before` and no longer holds, and uploads it did not keep.
    pub(crate) fn leftovers(
        &self,
        collection: &Collection,
        id: &str,
        before: Option<&Row>,
        after: &Row,
    ) -> FileDeletions {
        let held_after = file_names(collection, after);
        let released = before
            .map(|row| file_names(collection, row))
            .unwrap_or_default()
            .into_iter()
            .chain(self.names.iter().cloned())
            .filter(|name| !held_after.contains(name));
        FileDeletions::of(collection, id, released)
    }
}

/// Every file name a record's file fields hold.
fn file_names(collection: &Collection, row: &Row) -> HashSet<String> {
    collection
        .fields
        .iter()
        .filter(|f| matches!(f.kind, FieldKind::File(_)))
        .filter_map(|f| row.get(&f.name))
        .flat_map(to_string_list)
        .collect()
}

/// A request's uploads, named and merged into its body, not stored yet.
pub(crate) struct Staged {
    set: UploadSet,
    paths: Vec<TempPath>,
}

impl Staged {
    /// Match `uploads` to the file fields of `collection` by key (`field`, `field+`,
    /// `+field`; anything else is dropped) and name them. Each key's names go into `body`:
    /// after the names the body already lists under a plain key (so sending files never
    /// drops the files the client kept), in place of any value under a modifier key.
    pub(crate) fn new(
        collection: &Collection,
        body: &mut Map<String, Value>,
        uploads: Vec<UploadedFile>,
    ) -> Staged {
        let mut staged = Staged {
            set: UploadSet::default(),
            paths: Vec::new(),
        };
        let mut keys: Vec<(String, Vec<String>)> = Vec::new();
        for upload in uploads {
            let Some(field) = file_field_of(collection, &upload.key) else {
                continue;
            };
            let name = normalize_file_name(
                &upload.original_name,
                kb_files::detect_extension(&upload.head),
            );
            staged.set.files.push(UploadInfo {
                field: field.to_owned(),
                original_name: upload.original_name,
                size: upload.size,
                mime: kb_files::sniff_mime(&upload.head),
            });
            staged.set.names.push(name.clone());
            staged.paths.push(upload.path);
            match keys.iter_mut().find(|(key, _)| *key == upload.key) {
                Some((_, names)) => names.push(name),
                None => keys.push((upload.key, vec![name])),
            }
        }
        for (key, names) in keys {
            let mut value: Vec<String> = Vec::new();
            if collection.field(&key).is_some() {
                for kept in body.get(&key).map(to_string_list).unwrap_or_default() {
                    if !value.contains(&kept) {
                        value.push(kept);
                    }
                }
            }
            value.extend(names);
            body.insert(
                key,
                Value::Array(value.into_iter().map(Value::String).collect()),
            );
        }
        staged
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    pub(crate) fn set(&self) -> UploadSet {
        self.set.clone()
    }

    /// Store every upload under record `id` (a new record's when `is_new`); if one cannot
    /// be stored, none stays. An id that is no plain name cannot hold files: invalid for a
    /// new record, and no existing record has one.
    pub(crate) async fn store(
        self,
        files: &FileStorage,
        collection: &Collection,
        id: &str,
        is_new: bool,
    ) -> AppResult<FileDeletions> {
        let stored = FileDeletions::of(collection, id, self.set.names.iter().cloned());
        if self.is_empty() {
            return Ok(stored);
        }
        if !is_safe_file_name(id) {
            if !is_new {
                return Err(AppError::not_found());
            }
            return Err(AppError::invalid(
                "Failed to create record.",
                ValidationErrors::single(
                    "id",
                    FieldError::new("validation_invalid_format", "Invalid value format."),
                ),
            ));
        }
        for (name, path) in self.set.names.iter().zip(self.paths) {
            let key = kb_files::file_key(&collection.id, id, name);
            if let Err(error) = files.store_upload(&key, path).await {
                stored.run(files).await;
                return Err(AppError::Internal(format!(
                    "storing an upload failed: {error}"
                )));
            }
        }
        Ok(stored)
    }
}

/// The file field a form key writes to (`field`, `field+` or `+field`).
fn file_field_of<'c>(collection: &'c Collection, key: &str) -> Option<&'c str> {
    let name = key
        .strip_prefix('+')
        .or_else(|| key.strip_suffix('+'))
        .unwrap_or(key);
    collection
        .field(name)
        .filter(|f| matches!(f.kind, FieldKind::File(_)))
        .map(|f| f.name.as_str())
}

/// Stored files of one or more records to delete, each with its thumbnails.
#[derive(Debug, Default)]
#[must_use = "files are only deleted when the deletions are run"]
pub(crate) struct FileDeletions {
    /// (file key, thumbnails prefix)
    files: Vec<(String, String)>,
}

impl FileDeletions {
    fn of(collection: &Collection, id: &str, names: impl Iterator<Item = String>) -> Self {
        let files = names
            .filter(|name| is_safe_file_name(name) && is_safe_file_name(id))
            .map(|name| {
                (
                    kb_files::file_key(&collection.id, id, &name),
                    kb_files::thumbs_prefix(&collection.id, id, &name),
                )
            })
            .collect();
        FileDeletions { files }
    }

    pub(crate) fn extend(&mut self, other: FileDeletions) {
        self.files.extend(other.files);
    }

    /// Delete the files; a failure is logged (the write they follow stands).
    pub(crate) async fn run(self, files: &FileStorage) {
        for (key, thumbs) in self.files {
            if let Err(error) = files.delete(&key).await {
                tracing::error!(%error, %key, "could not delete a released file");
            }
            if let Err(error) = files.delete_prefix(&thumbs).await {
                tracing::error!(%error, %thumbs, "could not delete a released file's thumbnails");
            }
        }
    }
}

/// Download `url` into a staging file in `staging` as an upload for form key `key`
/// (PocketBase's "file from URL": named after the URL's last path segment). At most
/// `max_bytes + 1` bytes are read, enough for validation to refuse a larger file.
pub(crate) async fn download_upload(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    staging: &Path,
    max_bytes: u64,
) -> Result<UploadedFile, String> {
    use tokio::io::AsyncWriteExt;
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?;
    let original_name = response
        .url()
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .map(|segment| {
            form_urlencoded::parse(format!("n={segment}").as_bytes())
                .next()
                .map(|(_, name)| name.into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let path = new_staging_file(staging).await?;
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|e| e.to_string())?;
    let (mut size, mut head) = (0u64, Vec::new());
    while size <= max_bytes {
        let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? else {
            break;
        };
        let take = chunk.len().min((max_bytes + 1 - size) as usize);
        let chunk = &chunk[..take];
        if head.len() < kb_files::SNIFF_BYTES {
            let more = (kb_files::SNIFF_BYTES - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..more]);
        }
        file.write_all(chunk).await.map_err(|e| e.to_string())?;
        size += chunk.len() as u64;
    }
    file.flush().await.map_err(|e| e.to_string())?;
    Ok(UploadedFile {
        key: key.to_owned(),
        original_name,
        size,
        head,
        path,
    })
}

/// A new, empty staging file under `dir`, removed again when its path is dropped.
pub async fn new_staging_file(dir: &Path) -> Result<TempPath, String> {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        tempfile::Builder::new()
            .prefix("upload_")
            .tempfile_in(&dir)
            .map(tempfile::NamedTempFile::into_temp_path)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())
}

/// The id a new record with uploads will have: the body's, or one generated now (the
/// files are stored under it before the record is written).
pub(crate) fn new_record_id(collection: &Collection, body: &Map<String, Value>) -> String {
    match body.get("id") {
        Some(Value::String(id)) if !id.is_empty() => return id.clone(),
        Some(Value::Number(n)) => return n.to_string(),
        _ => {}
    }
    let mut scratch = record::new_record(collection);
    record::fill_autogenerated(collection, &mut scratch);
    scratch
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map_or_else(kb_core::id::new_record_id, str::to_owned)
}

impl crate::app::App {
    /// How many bytes of files one write to `collection` may upload: what its file fields
    /// can hold (0 for a collection without any, or none of that name).
    pub fn upload_capacity(&self, collection: &str) -> u64 {
        let Some(collection) = self.schema().get(collection).cloned() else {
            return 0;
        };
        collection
            .fields
            .iter()
            .filter_map(|field| match &field.kind {
                FieldKind::File(options) => Some(
                    options
                        .max_file_size()
                        .saturating_mul(options.max_select.max(1)),
                ),
                _ => None,
            })
            .fold(0, u64::saturating_add)
    }
}
