//! Backups (PocketBase's `/api/backups`): zip archives of the data directory — `data.db` and
//! `auxiliary.db` as consistent snapshots taken while the server runs, and the local
//! `storage` directory — kept in `<data dir>/backups`, or in the bucket of
//! `settings.backups.s3`.
//!
//! A restore checks and unpacks an archive beside the data, then asks the server to restart
//! ([`Backups::restart_requested`]). The data is swapped only at the next start, before any
//! database is opened ([`apply_pending_restore`]), and the data it replaces is kept in a
//! directory of its own, so a restore never loses what was there.
//!
//! Backups copy SQLite files: with PostgreSQL the database's own tools do this job, and the
//! endpoints say so.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use kb_core::file_name::is_safe_file_name;
use kb_core::settings::Settings;
use kb_core::{FieldError, ValidationErrors};
use kb_files::{FileError, FileStorage};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::sync::Notify;
use zip::write::SimpleFileOptions;

use crate::error::{LOAD_ERROR, VALIDATION_ERROR};
use crate::{App, AppError, AppResult, Requester, ServedFile, UploadedFile};

/// Where things live in a data directory (the server opens the same paths).
pub mod layout {
    pub const DATA_DB: &str = "data.db";
    pub const AUXILIARY_DB: &str = "auxiliary.db";
    pub const STORAGE_DIR: &str = "storage";
    pub const BACKUPS_DIR: &str = "backups";
}

/// An archive unpacked and checked, waiting for the next start to be swapped in.
const PENDING_DIR: &str = ".kb_restore_pending";
/// Where an archive is unpacked before it is complete (renamed to `PENDING_DIR` after).
const UNPACKING_DIR: &str = ".kb_restore_unpacking";
/// Prefix of the directory that keeps the data a restore replaced.
const REPLACED_PREFIX: &str = ".kb_replaced_by_restore_";
/// Time between answering a restore and the restart, so the answer reaches the client.
const RESTART_DELAY: Duration = Duration::from_secs(1);
const MAX_NAME_CHARS: usize = 150;
/// Names of the backups the schedule makes (and prunes).
const AUTO_PREFIX: &str = "@auto_";
/// PocketBase's id of the automatic backup job in `/api/crons`.
const AUTO_BACKUP_JOB: &str = "__pbAutoBackup__";
const ZIP_MAGIC: [&[u8]; 3] = [b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"];
const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

const BUSY: &str = "Try again later - another backup/restore operation has already been started.";
const NOT_AVAILABLE: &str = "Backups copy the SQLite data directory; this server keeps its records in \
     PostgreSQL, so back it up with PostgreSQL's tools (pg_dump) and the files with their storage's.";

/// The backups of one data directory, and the one operation that may run on them.
#[derive(Default)]
pub struct Backups {
    place: OnceLock<Place>,
    /// The key an operation (create or restore) is using; one at a time.
    busy: Mutex<Option<String>>,
    restart: Arc<Notify>,
}

struct Place {
    data_dir: PathBuf,
    storage: FileStorage,
}

/// Marks the operation in progress until dropped.
struct BusyGuard<'a>(&'a Mutex<Option<String>>);

impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        *self.0.lock() = None;
    }
}

impl Backups {
    /// Keep backups of `app`'s data directory `data_dir` (SQLite servers only); they go to
    /// `<data_dir>/backups` until the settings choose S3, and are made automatically on
    /// `settings.backups.cron` (checked at the start of every minute, in UTC). Must run
    /// inside a Tokio runtime. A second call is ignored.
    pub fn attach(app: &Arc<App>, data_dir: &Path) -> Result<(), FileError> {
        let storage = FileStorage::open_local(data_dir.join(layout::BACKUPS_DIR))?;
        configure(&storage, &app.settings());
        let place = Place {
            data_dir: data_dir.to_owned(),
            storage,
        };
        if app.backups.place.set(place).is_ok() {
            tokio::spawn(run_on_schedule(Arc::downgrade(app)));
        }
        Ok(())
    }

    /// Whether a backup could start now (`canBackup` of the health check).
    pub fn can_start(&self) -> bool {
        self.place.get().is_some() && self.busy.lock().is_none()
    }

    /// Resolves when a restore has been prepared and the server should restart to apply it.
    pub async fn restart_requested(&self) {
        self.restart.notified().await;
    }

    pub(crate) fn settings_changed(&self, settings: &Settings) {
        if let Some(place) = self.place.get() {
            configure(&place.storage, settings);
        }
    }

    fn place(&self) -> AppResult<&Place> {
        self.place
            .get()
            .ok_or_else(|| AppError::bad_request(NOT_AVAILABLE))
    }

    fn begin(&self, key: &str) -> AppResult<BusyGuard<'_>> {
        let mut busy = self.busy.lock();
        if busy.is_some() {
            return Err(AppError::bad_request(BUSY));
        }
        *busy = Some(key.to_owned());
        Ok(BusyGuard(&self.busy))
    }
}

fn configure(storage: &FileStorage, settings: &Settings) {
    crate::app::configure_storage(storage, &settings.backups.s3, "backups");
}

/// The stored backups whose keys `wanted` accepts, newest first.
async fn newest_first(
    storage: &FileStorage,
    wanted: impl Fn(&str) -> bool,
) -> AppResult<Vec<(String, kb_files::FileInfo)>> {
    let mut listed = storage.list_top_level().await.map_err(storage_error)?;
    listed.retain(|(key, _)| wanted(key));
    listed.sort_by_key(|(_, info)| std::cmp::Reverse(info.last_modified));
    Ok(listed)
}

fn storage_error(error: FileError) -> AppError {
    AppError::Internal(format!("backup storage: {error}"))
}

fn io_error(error: io::Error) -> AppError {
    AppError::Internal(format!("backup: {error}"))
}

fn name_error(code: &str, message: &str) -> AppError {
    AppError::invalid(
        VALIDATION_ERROR,
        ValidationErrors::single("name", FieldError::new(code, message)),
    )
}

fn file_error(code: &str, message: String) -> AppError {
    AppError::invalid(
        VALIDATION_ERROR,
        ValidationErrors::single("file", FieldError::new(code, message)),
    )
}

/// `^[a-z0-9_-]+\.zip$`, as PocketBase asks of a new backup's name.
fn is_valid_new_name(name: &str) -> bool {
    name.len() <= MAX_NAME_CHARS
        && name.strip_suffix(".zip").is_some_and(|stem| {
            !stem.is_empty()
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// An existing backup's key: one plain file name (uploads keep the name they came with).
fn is_backup_key(key: &str) -> bool {
    is_safe_file_name(key) && !key.starts_with('.') && key.chars().count() <= MAX_NAME_CHARS
}

/// `pb_backup_<app name in snake case>_<UTC YYYYMMDDhhmmss>.zip`, PocketBase's default.
fn default_name(app_name: &str, now: jiff::Timestamp) -> String {
    let mut snake = String::new();
    for c in app_name.chars() {
        if c.is_ascii_alphanumeric() {
            snake.push(c.to_ascii_lowercase());
        } else if !snake.is_empty() && !snake.ends_with('_') {
            snake.push('_');
        }
    }
    let snake = snake.trim_end_matches('_');
    let stamp = now.strftime("%Y%m%d%H%M%S");
    if snake.is_empty() {
        format!("pb_backup_{stamp}.zip")
    } else {
        format!("pb_backup_{snake}_{stamp}.zip")
    }
}

impl App {
    /// `GET /api/backups`: every backup, newest first.
    pub async fn list_backups(&self, requester: &Requester) -> AppResult<Value> {
        crate::collections::require_superuser(requester)?;
        let place = self.backups.place()?;
        Ok(newest_first(&place.storage, is_backup_key)
            .await?
            .into_iter()
            .map(|(key, info)| {
                let modified = jiff::Timestamp::try_from(info.last_modified)
                    .map(kb_core::datetime::format)
                    .unwrap_or_default();
                json!({"key": key, "size": info.size, "modified": modified})
            })
            .collect())
    }

    /// `POST /api/backups {name?}`: snapshot the databases, pack them with the local files
    /// and store the archive. Answers when the archive is stored.
    pub async fn create_backup(
        &self,
        requester: &Requester,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        crate::collections::require_superuser(requester)?;
        let place = self.backups.place()?;
        let name = match body.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            None | Some(Value::Null | Value::String(_)) => {
                default_name(&self.settings().meta.app_name, jiff::Timestamp::now())
            }
            Some(_) => return Err(AppError::bad_request(LOAD_ERROR)),
        };
        if !is_valid_new_name(&name) {
            return Err(name_error(
                "validation_match_invalid",
                "Must be in a valid format.",
            ));
        }
        if place.storage.exists(&name).await.map_err(storage_error)? {
            return Err(name_error(
                "validation_backup_name_exists",
                "The backup file name is invalid or already exists.",
            ));
        }
        self.make_backup(place, &name).await
    }

    /// Snapshot, pack and store a backup named `name`.
    async fn make_backup(&self, place: &Place, name: &str) -> AppResult<()> {
        let _busy = self.backups.begin(name)?;
        let work = tempfile::TempDir::new_in(&place.data_dir).map_err(io_error)?;
        let data = work.path().join(layout::DATA_DB);
        self.store.snapshot_into(data.clone()).await?;
        let mut databases = vec![(layout::DATA_DB, data)];
        if let Ok(logs) = self.logs.store() {
            let auxiliary = work.path().join(layout::AUXILIARY_DB);
            logs.snapshot_into(auxiliary.clone()).await?;
            databases.push((layout::AUXILIARY_DB, auxiliary));
        }
        let archive = work.path().join("archive.zip");
        let storage_root = self.files.local_root().to_owned();
        let target = archive.clone();
        tokio::task::spawn_blocking(move || write_archive(&target, &databases, &storage_root))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(io_error)?;
        place
            .storage
            .put_file(name, &archive)
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// The scheduled backup (`@auto_pb_backup_…`), then the oldest scheduled ones beyond
    /// `settings.backups.cronMaxKeep` deleted (0 keeps them all). Backups made by hand or
    /// uploaded are never deleted here.
    pub async fn run_auto_backup(&self) -> AppResult<()> {
        let place = self.backups.place()?;
        let settings = self.settings();
        let name = format!(
            "{AUTO_PREFIX}{}",
            default_name(&settings.meta.app_name, jiff::Timestamp::now())
        );
        self.make_backup(place, &name).await?;
        let keep = usize::try_from(settings.backups.cron_max_keep).unwrap_or(0);
        if keep == 0 {
            return Ok(());
        }
        let automatic = newest_first(&place.storage, |key| key.starts_with(AUTO_PREFIX)).await?;
        for (key, _) in automatic.into_iter().skip(keep) {
            place.storage.delete(&key).await.map_err(storage_error)?;
        }
        Ok(())
    }

    /// The automatic backup's schedule, when this server makes backups and one is set.
    fn auto_backup_schedule(&self) -> Option<String> {
        let cron = &self.settings().backups.cron;
        (self.backups.place.get().is_some() && !cron.is_empty()).then(|| cron.clone())
    }

    /// `GET /api/crons`: the scheduled jobs; here only the automatic backup, when it is on.
    pub fn cron_jobs(&self, requester: &Requester) -> AppResult<Value> {
        crate::collections::require_superuser(requester)?;
        let jobs = self
            .auto_backup_schedule()
            .map(|cron| json!({"id": AUTO_BACKUP_JOB, "expression": cron}));
        Ok(Value::Array(jobs.into_iter().collect()))
    }

    /// `POST /api/crons/{id}`: start a job now, in the background.
    pub fn run_cron_job(self: &Arc<Self>, requester: &Requester, id: &str) -> AppResult<()> {
        crate::collections::require_superuser(requester)?;
        if id != AUTO_BACKUP_JOB || self.auto_backup_schedule().is_none() {
            return Err(AppError::NotFound("Missing or invalid cron job.".into()));
        }
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(error) = app.run_auto_backup().await {
                tracing::error!(%error, "the automatic backup failed");
            }
        });
        Ok(())
    }

    /// `POST /api/backups/upload`: store an archive made elsewhere, under its own name.
    pub async fn upload_backup(
        &self,
        requester: &Requester,
        file: Option<UploadedFile>,
    ) -> AppResult<()> {
        crate::collections::require_superuser(requester)?;
        let place = self.backups.place()?;
        let Some(file) = file else {
            return Err(AppError::invalid(
                VALIDATION_ERROR,
                ValidationErrors::single("file", FieldError::required()),
            ));
        };
        let name = file.original_name.clone();
        if !ZIP_MAGIC.iter().any(|magic| file.head.starts_with(magic)) {
            return Err(file_error(
                "validation_invalid_mime_type",
                format!("\"{name}\" mime type must be one of: application/zip."),
            ));
        }
        if !is_backup_key(&name) {
            return Err(file_error(
                "validation_invalid_file_name",
                format!("\"{name}\" is not a valid backup file name."),
            ));
        }
        if place.storage.exists(&name).await.map_err(storage_error)? {
            return Err(file_error(
                "validation_backup_name_exists",
                "Backup file with the specified name already exists.".into(),
            ));
        }
        place
            .storage
            .store_upload(&name, file.path)
            .await
            .map_err(storage_error)
    }

    /// Where uploaded archives wait while they arrive (beside the backups on local disk).
    pub fn backup_staging_dir(&self) -> AppResult<PathBuf> {
        Ok(self.backups.place()?.storage.staging_dir())
    }

    /// `GET /api/backups/{key}?token=`: a superuser's file token is the only way in, so a
    /// download link works without headers.
    pub async fn serve_backup(
        &self,
        key: &str,
        token: &str,
    ) -> AppResult<(ServedFile, &FileStorage)> {
        let requester = self.file_token_requester(token).await;
        if !requester.is_superuser() {
            return Err(AppError::Forbidden(
                "Insufficient permissions to access the resource.".into(),
            ));
        }
        let place = self.backups.place()?;
        if !is_backup_key(key) {
            return Err(AppError::not_found());
        }
        let info = place.storage.head(key).await.map_err(|error| match error {
            FileError::NotFound => AppError::not_found(),
            other => storage_error(other),
        })?;
        let served = ServedFile {
            key: key.to_owned(),
            name: key.to_owned(),
            content_type: "application/zip".into(),
            inline: false,
            info,
            head: bytes::Bytes::new(),
        };
        Ok((served, &place.storage))
    }

    /// `DELETE /api/backups/{key}`.
    pub async fn delete_backup(&self, requester: &Requester, key: &str) -> AppResult<()> {
        crate::collections::require_superuser(requester)?;
        let place = self.backups.place()?;
        if self.backups.busy.lock().as_deref() == Some(key) {
            return Err(AppError::bad_request(format!(
                "The backup {key} is currently being used and cannot be deleted."
            )));
        }
        let exists =
            is_backup_key(key) && place.storage.exists(key).await.map_err(storage_error)?;
        if !exists {
            return Err(AppError::bad_request(
                "Invalid or already deleted backup file.",
            ));
        }
        place.storage.delete(key).await.map_err(storage_error)
    }

    /// `POST /api/backups/{key}/restore`: check and unpack the archive beside the data, then
    /// restart (shortly after answering) to swap it in.
    pub async fn restore_backup(&self, requester: &Requester, key: &str) -> AppResult<()> {
        const MISSING: &str = "Missing or invalid backup file.";
        crate::collections::require_superuser(requester)?;
        let place = self.backups.place()?;
        if !is_backup_key(key) || !place.storage.exists(key).await.map_err(storage_error)? {
            return Err(AppError::bad_request(MISSING));
        }
        let _busy = self.backups.begin(key)?;
        let work = tempfile::TempDir::new_in(&place.data_dir).map_err(io_error)?;
        // On local disk the archive is read where it is (the busy mark keeps it from being
        // deleted meanwhile); from S3 it is fetched first.
        let archive = match place.storage.local_file(key).map_err(storage_error)? {
            Some(path) => path,
            None => {
                let copy = work.path().join("archive.zip");
                place
                    .storage
                    .copy_to_file(key, &copy)
                    .await
                    .map_err(storage_error)?;
                copy
            }
        };
        let data_dir = place.data_dir.clone();
        tokio::task::spawn_blocking(move || prepare_restore(&archive, &data_dir))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(|error| match error {
                RestoreError::Invalid(reason) => AppError::bad_request(format!(
                    "{MISSING} The archive cannot be restored: {reason}."
                )),
                RestoreError::Io(error) => io_error(error),
            })?;
        tracing::warn!(
            backup = key,
            "a backup is ready to restore: restarting to apply it"
        );
        let restart = self.backups.restart.clone();
        tokio::spawn(async move {
            tokio::time::sleep(RESTART_DELAY).await;
            restart.notify_one();
        });
        Ok(())
    }
}

/// Run the automatic backup whenever `settings.backups.cron` is due, checked at the start of
/// each minute; ends when the application is gone.
async fn run_on_schedule(app: Weak<App>) {
    loop {
        let into_minute = jiff::Timestamp::now().as_millisecond().rem_euclid(60_000);
        let to_next_minute = u64::try_from(60_000 - into_minute).unwrap_or(60_000);
        tokio::time::sleep(Duration::from_millis(to_next_minute)).await;
        let Some(app) = app.upgrade() else {
            return;
        };
        let due = kb_core::cron::Schedule::parse(&app.settings().backups.cron)
            .is_ok_and(|schedule| schedule.is_due(jiff::Timestamp::now()));
        if due && let Err(error) = app.run_auto_backup().await {
            tracing::error!(%error, "the automatic backup failed");
        }
    }
}

/// Pack the database snapshots and every file under `storage_root` (hidden entries, such as
/// upload staging, left out) into the zip `target`.
fn write_archive(
    target: &Path,
    databases: &[(&str, PathBuf)],
    storage_root: &Path,
) -> io::Result<()> {
    let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(target)?));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for (name, path) in databases {
        zip.start_file(*name, options).map_err(io::Error::other)?;
        io::copy(&mut File::open(path)?, &mut zip)?;
    }
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let entries = match std::fs::read_dir(storage_root.join(&relative)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| !n.starts_with('.')) else {
                continue;
            };
            let path = relative.join(name);
            if entry.file_type()?.is_dir() {
                pending.push(path);
                continue;
            }
            let mut archived = String::from(layout::STORAGE_DIR);
            for part in path.iter() {
                archived.push('/');
                archived.push_str(&part.to_string_lossy());
            }
            zip.start_file(archived, options)
                .map_err(io::Error::other)?;
            io::copy(&mut File::open(entry.path())?, &mut zip)?;
        }
    }
    zip.finish().map_err(io::Error::other)?.flush()
}

#[derive(Debug, thiserror::Error)]
enum RestoreError {
    /// The archive is not one this server can restore (the text says why).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Unpack `archive` into the data directory's pending-restore directory: `data.db` (which
/// must be there and be a SQLite database), `auxiliary.db` and `storage/…`; anything else
/// in the archive is skipped, and an entry whose path could leave the directory refuses
/// the whole archive.
fn prepare_restore(archive: &Path, data_dir: &Path) -> Result<(), RestoreError> {
    let mut zip = zip::ZipArchive::new(File::open(archive)?)
        .map_err(|_| RestoreError::Invalid("it is not a zip file".into()))?;
    let unpacking = data_dir.join(UNPACKING_DIR);
    remove_dir_if_present(&unpacking)?;
    std::fs::create_dir(&unpacking)?;
    if let Err(error) = unpack(&mut zip, &unpacking) {
        remove_dir_if_present(&unpacking)?;
        return Err(error);
    }
    let pending = data_dir.join(PENDING_DIR);
    remove_dir_if_present(&pending)?;
    std::fs::rename(&unpacking, &pending)?;
    Ok(())
}

fn unpack(zip: &mut zip::ZipArchive<File>, unpacking: &Path) -> Result<(), RestoreError> {
    let invalid = |reason: &str| RestoreError::Invalid(reason.to_owned());
    let mut has_data = false;
    for index in 0..zip.len() {
        let mut entry = zip
            .by_index(index)
            .map_err(|_| invalid("an entry cannot be read"))?;
        let Some(path) = entry.enclosed_name() else {
            return Err(invalid("an entry's path leaves the archive"));
        };
        let kept = path == Path::new(layout::DATA_DB)
            || path == Path::new(layout::AUXILIARY_DB)
            || path.starts_with(layout::STORAGE_DIR);
        if !kept {
            continue;
        }
        let target = unpacking.join(&path);
        if entry.is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if path == Path::new(layout::DATA_DB) {
            let mut magic = [0u8; 16];
            entry
                .read_exact(&mut magic)
                .map_err(|_| invalid("its data.db is not a SQLite database"))?;
            if magic != SQLITE_MAGIC {
                return Err(invalid("its data.db is not a SQLite database"));
            }
            let mut out = File::create(&target)?;
            out.write_all(&magic)?;
            io::copy(&mut entry, &mut out)?;
            out.sync_all()?;
            has_data = true;
        } else {
            let mut out = File::create(&target)?;
            io::copy(&mut entry, &mut out).map_err(|_| invalid("an entry cannot be unpacked"))?;
        }
    }
    if has_data {
        Ok(())
    } else {
        Err(invalid("it has no data.db"))
    }
}

fn remove_dir_if_present(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Swap in a restore prepared before the last restart, if there is one: the current
/// databases (with their WAL files) and `storage` move to a new
/// `.kb_replaced_by_restore_<time>` directory, and the unpacked archive takes their place.
/// Must run before anything opens the data directory. Returns where the replaced data went.
pub fn apply_pending_restore(data_dir: &Path) -> io::Result<Option<PathBuf>> {
    let pending = data_dir.join(PENDING_DIR);
    if !pending.join(layout::DATA_DB).is_file() {
        return Ok(None);
    }
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%d%H%M%S%.3f")
        .to_string();
    let replaced = data_dir.join(format!("{REPLACED_PREFIX}{stamp}"));
    std::fs::create_dir(&replaced)?;
    let current = [
        layout::DATA_DB,
        "data.db-wal",
        "data.db-shm",
        layout::AUXILIARY_DB,
        "auxiliary.db-wal",
        "auxiliary.db-shm",
        layout::STORAGE_DIR,
    ];
    for name in current {
        let path = data_dir.join(name);
        if path.symlink_metadata().is_ok() {
            std::fs::rename(&path, replaced.join(name))?;
        }
    }
    for entry in std::fs::read_dir(&pending)? {
        let entry = entry?;
        std::fs::rename(entry.path(), data_dir.join(entry.file_name()))?;
    }
    std::fs::remove_dir(&pending)?;
    Ok(Some(replaced))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_names_follow_pocketbase_pattern() {
        assert!(is_valid_new_name("my_bk-1.zip"));
        for bad in [
            "Bad.zip",
            "x.tar",
            ".zip",
            "a b.zip",
            "a/b.zip",
            "ok.zip.zip2",
        ] {
            assert!(!is_valid_new_name(bad), "{bad}");
        }
        assert!(!is_valid_new_name(&format!(
            "{}.zip",
            "a".repeat(MAX_NAME_CHARS)
        )));
    }

    #[test]
    fn default_names_snake_case_the_app_name() {
        let at: jiff::Timestamp = "2026-11-22T03:31:53Z".parse().unwrap();
        assert_eq!(
            default_name("Acme", at),
            "pb_backup_acme_20261122033153.zip"
        );
        assert_eq!(
            default_name("My  App!", at),
            "pb_backup_my_app_20261122033153.zip"
        );
        assert_eq!(default_name("Ünï", at), "pb_backup_n_20261122033153.zip");
        assert_eq!(default_name("", at), "pb_backup_20261122033153.zip");
        assert!(is_valid_new_name(&default_name("My  App!", at)));
    }

    fn zip_with(entries: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut zip = zip::ZipWriter::new(File::create(file.path()).unwrap());
        for (name, data) in entries {
            zip.start_file(*name, SimpleFileOptions::default()).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
        file
    }

    #[test]
    fn a_restore_is_unpacked_then_swapped_in_keeping_the_old_data() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path();
        std::fs::write(data_dir.join("data.db"), b"old data").unwrap();
        std::fs::create_dir_all(data_dir.join("storage/c1")).unwrap();
        std::fs::write(data_dir.join("storage/c1/old.txt"), b"old file").unwrap();
        let mut db = SQLITE_MAGIC.to_vec();
        db.extend_from_slice(b"new data");
        let archive = zip_with(&[
            ("data.db", &db),
            ("storage/c2/r1/new.txt", b"new file"),
            ("types.d.ts", b"skipped"),
        ]);
        prepare_restore(archive.path(), data_dir).unwrap();
        // Nothing changes until the next start.
        assert_eq!(
            std::fs::read(data_dir.join("data.db")).unwrap(),
            b"old data"
        );

        let replaced = apply_pending_restore(data_dir).unwrap().unwrap();
        assert_eq!(std::fs::read(data_dir.join("data.db")).unwrap(), db);
        assert_eq!(
            std::fs::read(data_dir.join("storage/c2/r1/new.txt")).unwrap(),
            b"new file"
        );
        assert!(!data_dir.join("storage/c1").exists());
        assert!(!data_dir.join("types.d.ts").exists());
        assert_eq!(
            std::fs::read(replaced.join("data.db")).unwrap(),
            b"old data"
        );
        assert_eq!(
            std::fs::read(replaced.join("storage/c1/old.txt")).unwrap(),
            b"old file"
        );
        assert_eq!(apply_pending_restore(data_dir).unwrap(), None);
    }

    #[test]
    fn archives_that_cannot_be_restored_are_refused_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = SQLITE_MAGIC.to_vec();
        db.push(0);
        let cases: Vec<(tempfile::NamedTempFile, &str)> = vec![
            (zip_with(&[("storage/a.txt", b"x")]), "it has no data.db"),
            (
                zip_with(&[("data.db", b"not sqlite at all")]),
                "its data.db is not a SQLite database",
            ),
            (
                zip_with(&[("data.db", &db), ("../escape.txt", b"x")]),
                "an entry's path leaves the archive",
            ),
        ];
        for (archive, reason) in cases {
            match prepare_restore(archive.path(), dir.path()) {
                Err(RestoreError::Invalid(text)) => assert_eq!(text, reason),
                other => panic!("{reason}: {other:?}"),
            }
            assert!(!dir.path().join(PENDING_DIR).exists());
        }
        let not_zip = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(not_zip.path(), b"hello").unwrap();
        assert!(matches!(
            prepare_restore(not_zip.path(), dir.path()),
            Err(RestoreError::Invalid(_))
        ));
        assert_eq!(apply_pending_restore(dir.path()).unwrap(), None);
        assert!(!dir.path().join("escape.txt").exists());
    }
}
