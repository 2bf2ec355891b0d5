//! `/api/backups`: list, create, upload, download, delete and restore backups, and
//! `/api/crons`, whose one job is the automatic backup (superusers
//! only; downloads take a superuser's file token in the query, so a plain link works).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use kb_app::App;

use crate::error::ApiResult;
use crate::files::{header_value, quoted_name, respond};
use crate::handlers::LOAD_ERROR;
use crate::request::{Auth, JsonBody, Params, read_body};
use crate::response::{json_ok, no_content};
use crate::upload::{FileParts, Multipart};

type AppState = State<Arc<App>>;

/// `GET /api/backups`.
pub async fn list(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    json_ok(app.list_backups(&requester).await?, &params)
}

/// `POST /api/backups {name?}`.
pub async fn create(
    State(app): AppState,
    Auth(requester): Auth,
    body: JsonBody,
) -> ApiResult<Response> {
    kb_app::require_superuser(&requester)?;
    let body = body.object(LOAD_ERROR)?;
    app.create_backup(&requester, &body).await?;
    Ok(no_content())
}

/// `POST /api/backups/upload` (multipart, the archive in `file`; no size limit, as in
/// PocketBase: it streams to disk).
pub async fn upload(
    State(app): AppState,
    Auth(requester): Auth,
    request: Request,
) -> ApiResult<Response> {
    kb_app::require_superuser(&requester)?;
    let staging = app.backup_staging_dir()?;
    let Multipart { files, .. } = read_body(request, FileParts::Store(&staging), u64::MAX)
        .await
        .map_err(|e| e.into_api(LOAD_ERROR))?;
    let file = files.into_iter().find(|f| f.key == "file");
    app.upload_backup(&requester, file).await?;
    Ok(no_content())
}

/// `GET /api/backups/{key}?token=`.
pub async fn download(
    State(app): AppState,
    Path(key): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (served, storage) = app.serve_backup(&key, params.get("token")).await?;
    let mut response = respond(storage, &served, &headers).await?;
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!(
            "attachment; filename=\"{}\"",
            quoted_name(&served.name)
        )),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

/// `DELETE /api/backups/{key}`.
pub async fn delete(
    State(app): AppState,
    Auth(requester): Auth,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    app.delete_backup(&requester, &key).await?;
    Ok(no_content())
}

/// `POST /api/backups/{key}/restore`: answers, then the server restarts to apply it.
pub async fn restore(
    State(app): AppState,
    Auth(requester): Auth,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    app.restore_backup(&requester, &key).await?;
    Ok(no_content())
}

/// `GET /api/crons`.
pub async fn crons(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    json_ok(app.cron_jobs(&requester)?, &params)
}

/// `POST /api/crons/{id}`: the job starts in the background.
pub async fn run_cron(
    State(app): AppState,
    Auth(requester): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    app.run_cron_job(&requester, &id)?;
    Ok(no_content())
}
