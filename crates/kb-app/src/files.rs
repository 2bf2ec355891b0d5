//! Record files: which stored file a download names and who may read it, thumbnails, file
//! tokens, the S3 settings test, and removing a deleted record's files.
//!
//! A download must name a file the record's file fields hold; a protected field's files
//! need the collection's view rule to pass for the auth of `?token=` (a short-lived file
//! token, context `protectedFile`). Thumbnails are made only in sizes the field declares
//! (and `100x100`), only from png/jpg/jpeg/gif/webp originals; otherwise the original is
//! served, as PocketBase does.

use std::sync::Arc;

use bytes::Bytes;
use kb_core::file_name::{ThumbSize, has_thumbable_ext, is_safe_file_name};
use kb_core::{Collection, FieldError, FieldKind, ValidationErrors};
use kb_files::{FileError, FileInfo, FileStorage};
use kb_store::{Change, ChangeKind, ChangeObserver, RequestInfo, Row};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use crate::app::{Access, App, RequestMeta, Requester, RuleKind, row_text};
use crate::error::{AppError, AppResult};
use crate::tokens::{self, Claims};

/// The `type` claim of file tokens.
pub const FILE_TOKEN: &str = "file";
/// The thumbnail size every image field allows.
const DEFAULT_THUMB: &str = "100x100";

/// A file about to be served: where it is, what it is, and what to call it.
#[derive(Debug, Clone)]
pub struct ServedFile {
    /// The storage key to read (the thumbnail's, when one is served).
    pub key: String,
    /// The name to give the download (`<size>_<filename>` for a thumbnail).
    pub name: String,
    pub content_type: String,
    /// Whether the type is safe to show inline on our origin.
    pub inline: bool,
    pub info: FileInfo,
    /// The first bytes of the file (at most [`kb_files::SNIFF_BYTES`]).
    pub head: Bytes,
}

/// A download request: `/api/files/{collection}/{record}/{filename}?thumb=&token=`.
#[derive(Debug, Clone, Default)]
pub struct FileRequest<'a> {
    pub collection: &'a str,
    pub record_id: &'a str,
    pub filename: &'a str,
    pub thumb: &'a str,
    pub token: &'a str,
}

fn file_error(error: FileError) -> AppError {
    match error {
        FileError::NotFound | FileError::InvalidKey(_) => AppError::not_found(),
        other => AppError::Internal(other.to_string()),
    }
}

impl App {
    /// The file storage (local disk or S3, as the settings say).
    pub fn files(&self) -> &Arc<FileStorage> {
        &self.files
    }

    /// Resolve a download: the record must exist and hold the file in one of its file
    /// fields; protected files need view access for the file token's auth.
    pub async fn serve_file(
        &self,
        meta: &RequestMeta,
        request: &FileRequest<'_>,
    ) -> AppResult<ServedFile> {
        let collection = self
            .schema()
            .get(request.collection)
            .cloned()
            .ok_or_else(|| AppError::NotFound("Missing or invalid collection context.".into()))?;
        if collection.is_view()
            || !is_safe_file_name(request.record_id)
            || !is_safe_file_name(request.filename)
        {
            return Err(AppError::not_found());
        }
        let lookup = collection.clone();
        let id = request.record_id.to_owned();
        let record = self
            .store
            .read(move |r| Ok::<_, AppError>(r.get(&lookup, &id, &[], &RequestInfo::default())?))
            .await?
            .ok_or_else(AppError::not_found)?;
        let options = file_field_holding(&collection, &record, request.filename)
            .ok_or_else(AppError::not_found)?;
        if options.protected {
            let requester = self.file_token_requester(request.token).await;
            self.check_protected_access(&requester, meta, &collection, request.record_id)
                .await?;
        }
        let original = kb_files::file_key(&collection.id, request.record_id, request.filename);
        let mut served = (original.clone(), request.filename.to_owned());
        if let Some(size) = self.allowed_thumb(&options, request.thumb, request.filename) {
            let thumb = kb_files::thumb_key(
                &collection.id,
                request.record_id,
                request.filename,
                request.thumb,
            );
            match self.files.thumbnail(&original, &thumb, size).await {
                Ok(()) => served = (thumb, format!("{}_{}", request.thumb, request.filename)),
                // The original is served instead, as PocketBase does.
                Err(FileError::NotFound) => {}
                Err(error) => tracing::warn!(%error, key = %original, "thumbnail failed"),
            }
        }
        let (key, name) = served;
        let (info, head) = self
            .files
            .peek(&key, kb_files::SNIFF_BYTES)
            .await
            .map_err(file_error)?;
        let content_type = kb_files::content_type(&name, &head);
        Ok(ServedFile {
            inline: kb_files::is_inline(&content_type),
            key,
            name,
            content_type,
            info,
            head,
        })
    }

    /// The thumbnail size to serve, if `thumb` is one the field allows for this file.
    fn allowed_thumb(
        &self,
        options: &kb_core::field::FileOptions,
        thumb: &str,
        filename: &str,
    ) -> Option<ThumbSize> {
        if thumb.is_empty() || !has_thumbable_ext(filename) {
            return None;
        }
        if thumb != DEFAULT_THUMB && !options.thumbs.iter().any(|t| t == thumb) {
            return None;
        }
        ThumbSize::parse(thumb)
    }

    /// 404 unless `requester` may view the record (context `protectedFile`).
    async fn check_protected_access(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: &Arc<Collection>,
        record_id: &str,
    ) -> AppResult<()> {
        let plan = match self.access(requester, collection, RuleKind::View) {
            Access::All => return Ok(()),
            Access::SuperusersOnly => return Err(AppError::not_found()),
            Access::Rule(plan) => plan,
        };
        let request = self.request_info(requester, meta, None, "protectedFile");
        let (target, id) = (collection.clone(), record_id.to_owned());
        let visible = self
            .store
            .read(move |r| Ok::<_, AppError>(r.get(&target, &id, &[&plan], &request)?))
            .await?;
        visible.map(|_| ()).ok_or_else(AppError::not_found)
    }

    /// `POST /api/files/token`: a short-lived token for protected files, for any auth record.
    pub fn file_token(&self, requester: &Requester) -> AppResult<String> {
        let Requester::Auth {
            collection, record, ..
        } = requester
        else {
            return Err(AppError::Unauthorized(
                "The request requires valid record authorization token.".into(),
            ));
        };
        let options = collection.auth_options().ok_or_else(|| {
            AppError::Internal("an auth record outside an auth collection".into())
        })?;
        let claims = Claims {
            id: row_text(record, "id"),
            collection_id: collection.id.clone(),
            kind: FILE_TOKEN.into(),
            refreshable: None,
            email: None,
            new_email: None,
            exp: tokens::expiry(options.file_token.duration),
        };
        let key = format!(
            "{}{}",
            row_text(record, "tokenKey"),
            options.file_token.secret
        );
        tokens::sign(&claims, &key).map_err(AppError::Internal)
    }

    /// The auth record a file token stands for; a guest for any missing, invalid or expired
    /// token (or one of another type).
    pub(crate) async fn file_token_requester(&self, token: &str) -> Requester {
        let Some(claims) = tokens::unverified(token).filter(|c| c.kind == FILE_TOKEN) else {
            return Requester::Guest;
        };
        let Some(collection) = self.schema().by_id(&claims.collection_id).cloned() else {
            return Requester::Guest;
        };
        let Some(secret) = collection
            .auth_options()
            .map(|o| o.file_token.secret.clone())
        else {
            return Requester::Guest;
        };
        let (lookup, id) = (collection.clone(), claims.id.clone());
        let record = self
            .store
            .read(move |r| Ok::<_, AppError>(r.get(&lookup, &id, &[], &RequestInfo::default())?))
            .await;
        let Ok(Some(record)) = record else {
            return Requester::Guest;
        };
        let token_key = row_text(&record, "tokenKey");
        if token_key.is_empty() || tokens::verify(token, &format!("{token_key}{secret}")).is_none()
        {
            return Requester::Guest;
        }
        Requester::auth(collection, record)
    }

    /// `POST /api/settings/test/s3`: write and delete a test file with the stored settings
    /// of the `storage` or `backups` filesystem.
    pub async fn test_s3(&self, requester: &Requester, body: &Map<String, Value>) -> AppResult<()> {
        const FAILED: &str = "Failed to test the S3 filesystem.";
        crate::collections::require_superuser(requester)?;
        let filesystem = body
            .get("filesystem")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let settings = self.settings();
        let s3 = match filesystem {
            "storage" => &settings.s3,
            "backups" => &settings.backups.s3,
            "" => {
                return Err(AppError::invalid(
                    FAILED,
                    ValidationErrors::single("filesystem", FieldError::required()),
                ));
            }
            _ => {
                return Err(AppError::invalid(
                    FAILED,
                    ValidationErrors::single(
                        "filesystem",
                        FieldError::new("validation_in_invalid", "Must be a valid value."),
                    ),
                ));
            }
        };
        let raw = if !s3.enabled {
            "S3 storage filesystem is not enabled.".to_owned()
        } else {
            match FileStorage::test_s3(s3).await {
                Ok(()) => return Ok(()),
                Err(error) => format!("{error}."),
            }
        };
        Err(AppError::bad_request(format!(
            "{FAILED} Raw error: \n{raw}"
        )))
    }
}

/// The options of the file field of `record` that holds `filename`, if one does.
fn file_field_holding(
    collection: &Collection,
    record: &Row,
    filename: &str,
) -> Option<kb_core::field::FileOptions> {
    collection.fields.iter().find_map(|field| {
        let FieldKind::File(options) = &field.kind else {
            return None;
        };
        let holds = match record.get(&field.name) {
            Some(Value::String(name)) => name == filename,
            Some(Value::Array(names)) => names.iter().any(|n| n.as_str() == Some(filename)),
            _ => false,
        };
        holds.then(|| options.clone())
    })
}

/// Deletes a deleted record's files (and thumbnails) once the delete has committed, in the
/// background, whatever deleted it (API, cascade, batch).
pub(crate) struct FileCleanup {
    queue: mpsc::UnboundedSender<String>,
}

impl FileCleanup {
    /// Observe `app`'s store and start the task that deletes the files.
    pub(crate) fn start(app: &Arc<App>) {
        let (queue, mut prefixes) = mpsc::unbounded_channel::<String>();
        let files = app.files.clone();
        tokio::spawn(async move {
            while let Some(prefix) = prefixes.recv().await {
                if let Err(error) = files.delete_prefix(&prefix).await {
                    tracing::error!(%error, %prefix, "could not delete a deleted record's files");
                }
            }
        });
        app.store.observe(Arc::new(FileCleanup { queue }));
    }
}

impl ChangeObserver for FileCleanup {
    fn watches(&self, collection: &Collection) -> bool {
        !collection.is_view()
            && collection
                .fields
                .iter()
                .any(|f| matches!(f.kind, FieldKind::File(_)))
    }

    fn wants(&self, kind: ChangeKind) -> bool {
        kind == ChangeKind::Delete
    }

    fn committed(&self, changes: Vec<Change>) {
        for change in changes {
            let id = row_text(&change.record, "id");
            if change.kind != ChangeKind::Delete || !is_safe_file_name(&id) {
                continue;
            }
            // The receiver lives as long as the runtime.
            let _ = self
                .queue
                .send(kb_files::record_prefix(&change.collection_id, &id));
        }
    }
}
