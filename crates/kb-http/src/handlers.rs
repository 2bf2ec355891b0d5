//! Route handlers: extract → call the application → map. Nothing else.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kb_app::{App, OAuth2Login, Page, require_superuser};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::request::{Auth, JsonBody, Origin, Params, record_body};
use crate::response::{json_ok, no_content};

type AppState = State<Arc<App>>;

const RECORD_BODY_ERROR: &str = "Something went wrong while processing your request.";
/// PocketBase's message for a body that is not the expected JSON shape.
pub(crate) const LOAD_ERROR: &str = "An error occurred while loading the submitted data.";
const COLLECTION_BODY_ERROR: &str =
    "Failed to load the collection type data due to invalid formatting.";

/// The `mfaId` of a second factor: a query parameter (what the SDK sends) or a body field.
fn mfa_id(params: &Params, body: &serde_json::Map<String, Value>) -> Option<String> {
    let from_query = params.get("mfaId");
    if !from_query.is_empty() {
        return Some(from_query.to_owned());
    }
    body.get("mfaId").and_then(Value::as_str).map(str::to_owned)
}

/// A page of a listing (records, logs) in the API's shape.
pub(crate) fn page_json(page: Page) -> Value {
    let mut json = json!({
        "page": page.page,
        "perPage": page.per_page,
        "totalItems": page.total_items,
        "totalPages": page.total_pages,
    });
    // Moved in, not through `json!`, which would copy every item.
    json["items"] = Value::Array(page.items);
    json
}

pub async fn health(
    State(app): AppState,
    Auth(requester): Auth,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    params: Params,
) -> ApiResult<Response> {
    let data = if requester.is_superuser() {
        json!({"canBackup": app.backups.can_start(), "realIP": peer.ip().to_string(), "possibleProxyHeader": ""})
    } else {
        json!({})
    };
    json_ok(
        json!({"message": "API is healthy.", "code": 200, "data": data}),
        &params,
    )
}

pub async fn list_records(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let list = params.list_params()?;
    let page = app
        .list_records(&requester, &params.meta, &collection, list)
        .await?;
    json_ok(page_json(page), &params)
}

pub async fn view_record(
    State(app): AppState,
    Auth(requester): Auth,
    Path((collection, id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let record = app
        .view_record(
            &requester,
            &params.meta,
            &collection,
            &id,
            params.get("expand"),
        )
        .await?;
    json_ok(record, &params)
}

pub async fn create_record(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let body = record_body(&app, &collection, request, RECORD_BODY_ERROR).await?;
    let record = app
        .create_record(
            &requester,
            &params.meta,
            &collection,
            body,
            params.get("expand"),
        )
        .await?;
    json_ok(record, &params)
}

pub async fn update_record(
    State(app): AppState,
    Auth(requester): Auth,
    Path((collection, id)): Path<(String, String)>,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    let body = record_body(&app, &collection, request, RECORD_BODY_ERROR).await?;
    let record = app
        .update_record(
            &requester,
            &params.meta,
            &collection,
            &id,
            body,
            params.get("expand"),
        )
        .await?;
    json_ok(record, &params)
}

pub async fn delete_record(
    State(app): AppState,
    Auth(requester): Auth,
    Path((collection, id)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    app.delete_record(&requester, &params.meta, &collection, &id)
        .await?;
    Ok(no_content())
}

pub async fn auth_with_oauth2(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
    Origin(origin): Origin,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.object(LOAD_ERROR)?;
    let mfa_id = mfa_id(&params, &body);
    let login = OAuth2Login {
        requester: &requester,
        meta: &params.meta,
        mfa_id: mfa_id.as_deref(),
        origin: &origin,
    };
    let auth = app.auth_with_oauth2(login, &collection, &body).await?;
    json_ok(auth.to_json(), &params)
}

pub async fn auth_methods(
    State(app): AppState,
    Path(collection): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    json_ok(app.auth_methods(&collection)?, &params)
}

pub async fn impersonate(
    State(app): AppState,
    Auth(requester): Auth,
    Path((collection, id)): Path<(String, String)>,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.object(LOAD_ERROR)?;
    let auth = app.impersonate(&requester, &collection, &id, &body).await?;
    json_ok(auth.to_json(), &params)
}

/// `POST /api/install`: the first superuser, with the one-time token `serve` printed.
pub async fn install(State(app): AppState, params: Params, body: JsonBody) -> ApiResult<Response> {
    let body = body.object(LOAD_ERROR)?;
    let auth = app.install(&params.meta, body).await?;
    json_ok(auth.to_json(), &params)
}

/// The login endpoints that take credentials in the body (and an `mfaId` for a second
/// factor): the auth response out.
macro_rules! login_endpoint {
    ($name:ident) => {
        pub async fn $name(
            State(app): AppState,
            Path(collection): Path<String>,
            Origin(origin): Origin,
            params: Params,
            body: JsonBody,
        ) -> ApiResult<Response> {
            let body = body.object(LOAD_ERROR)?;
            let mfa_id = mfa_id(&params, &body);
            let auth = app
                .$name(&collection, &body, mfa_id.as_deref(), &origin)
                .await?;
            json_ok(auth.to_json(), &params)
        }
    };
}

login_endpoint!(auth_with_password);
login_endpoint!(auth_with_otp);

/// The account email endpoints: a JSON body in, 204 out.
macro_rules! account_endpoint {
    ($name:ident, $method:ident) => {
        pub async fn $name(
            State(app): AppState,
            Path(collection): Path<String>,
            body: JsonBody,
        ) -> ApiResult<Response> {
            let body = body.object(LOAD_ERROR)?;
            app.$method(&collection, &body).await?;
            Ok(no_content())
        }
    };
}

account_endpoint!(request_verification, request_verification);
account_endpoint!(confirm_verification, confirm_verification);
account_endpoint!(request_password_reset, request_password_reset);
account_endpoint!(confirm_password_reset, confirm_password_reset);
account_endpoint!(confirm_email_change, confirm_email_change);

pub async fn request_otp(
    State(app): AppState,
    Path(collection): Path<String>,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.object(LOAD_ERROR)?;
    json_ok(app.request_otp(&collection, &body).await?, &params)
}

pub async fn request_email_change(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = body.object(LOAD_ERROR)?;
    app.request_email_change(&requester, &collection, &body)
        .await?;
    Ok(no_content())
}

pub async fn auth_refresh(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let token = params
        .meta
        .headers
        .get("authorization")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let auth = app.auth_refresh(&requester, &collection, token).await?;
    json_ok(auth.to_json(), &params)
}

pub async fn list_collections(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let page = app.list_collections(params.list_params()?).await?;
    json_ok(page_json(page), &params)
}

pub async fn view_collection(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    json_ok(app.view_collection(&collection)?, &params)
}

pub async fn create_collection(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let body = body.object(COLLECTION_BODY_ERROR)?;
    let dry_run = params.boolean("dryRun")?;
    json_ok(
        app.create_collection(Value::Object(body), dry_run).await?,
        &params,
    )
}

pub async fn update_collection(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let body = body.object(COLLECTION_BODY_ERROR)?;
    let dry_run = params.boolean("dryRun")?;
    json_ok(
        app.update_collection(&collection, Value::Object(body), dry_run)
            .await?,
        &params,
    )
}

pub async fn delete_collection(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    app.delete_collection(&collection).await?;
    Ok(no_content())
}

pub async fn truncate_collection(
    State(app): AppState,
    Auth(requester): Auth,
    Path(collection): Path<String>,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    app.truncate_collection(&collection).await?;
    Ok(no_content())
}

pub async fn import_collections(
    State(app): AppState,
    Auth(requester): Auth,
    body: JsonBody,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let body = body.object(COLLECTION_BODY_ERROR)?;
    app.import_collections(Value::Object(body)).await?;
    Ok(no_content())
}

pub async fn scaffolds(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    json_ok(app.scaffolds(), &params)
}

/// `POST /api/settings/apple/generate-client-secret`.
pub async fn apple_client_secret(
    Auth(requester): Auth,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let body = body.object(LOAD_ERROR)?;
    json_ok(kb_app::apple_client_secret(&body)?, &params)
}

/// `POST /api/collections/meta/dry-run-view`.
pub async fn dry_run_view(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let body = body.object(LOAD_ERROR)?;
    json_ok(app.dry_run_view(&body).await?, &params)
}

pub async fn oauth2_providers(Auth(requester): Auth, params: Params) -> ApiResult<Response> {
    require_superuser(&requester)?;
    json_ok(kb_app::oauth2_catalogue(), &params)
}

pub async fn get_settings(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    json_ok(app.settings_json(), &params)
}

pub async fn update_settings(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
    body: JsonBody,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let body = body.object(LOAD_ERROR)?;
    json_ok(app.update_settings(Value::Object(body)).await?, &params)
}

pub async fn send_test_email(
    State(app): AppState,
    Auth(requester): Auth,
    body: JsonBody,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let body = body.object(LOAD_ERROR)?;
    app.send_test_email(&requester, &body).await?;
    Ok(no_content())
}

/// Unknown paths: GETs fall through to the (static) file handler, as in PocketBase.
pub async fn fallback(method: axum::http::Method) -> Response {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        ApiError::new(StatusCode::NOT_FOUND, "File not found.").into_response()
    } else {
        ApiError::not_found().into_response()
    }
}

/// A known path with an unsupported method answers 404, like PocketBase (not 405).
pub async fn method_not_allowed() -> Response {
    ApiError::not_found().into_response()
}
