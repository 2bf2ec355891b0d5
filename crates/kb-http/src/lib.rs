//! The HTTP edge: the axum router, PocketBase's wire format (paths, status codes, error JSON,
//! default headers, CORS) and nothing else. Handlers extract, call `kb_app`, and map.

mod backups;
mod batch;
mod dashboard;
mod error;
mod files;
mod handlers;
mod logs;
mod middleware;
mod realtime;
mod request;
mod response;
mod serve;
pub mod upload;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use kb_app::App;

pub use error::ApiError;
pub use request::MAX_BODY_BYTES;
pub use serve::serve;

/// The whole API as one router.
pub fn router(app: Arc<App>) -> Router {
    use handlers::*;
    let api = Router::new()
        .route("/api/health", get(health))
        .route("/api/install", post(install))
        .route("/api/settings", get(get_settings).patch(update_settings))
        .route("/api/settings/test/email", post(send_test_email))
        .route("/api/settings/test/s3", post(files::test_s3))
        .route(
            "/api/settings/apple/generate-client-secret",
            post(apple_client_secret),
        )
        .route("/api/files/token", post(files::token))
        .route(
            "/api/files/{collection}/{record}/{filename}",
            get(files::download),
        )
        .route(
            "/api/collections",
            get(list_collections).post(create_collection),
        )
        .route("/api/collections/import", put(import_collections))
        .route("/api/collections/meta/scaffolds", get(scaffolds))
        .route("/api/collections/meta/dry-run-view", post(dry_run_view))
        .route(
            "/api/collections/meta/oauth2-providers",
            get(oauth2_providers),
        )
        .route(
            "/api/collections/{collection}",
            get(view_collection)
                .patch(update_collection)
                .delete(delete_collection),
        )
        .route(
            "/api/collections/{collection}/truncate",
            axum::routing::delete(truncate_collection),
        )
        .route(
            "/api/collections/{collection}/auth-with-password",
            post(auth_with_password),
        )
        .route(
            "/api/collections/{collection}/auth-refresh",
            post(auth_refresh),
        )
        .route(
            "/api/collections/{collection}/auth-methods",
            get(auth_methods),
        )
        .route(
            "/api/collections/{collection}/request-otp",
            post(request_otp),
        )
        .route(
            "/api/collections/{collection}/auth-with-otp",
            post(auth_with_otp),
        )
        .route(
            "/api/collections/{collection}/auth-with-oauth2",
            post(auth_with_oauth2),
        )
        .route(
            "/api/collections/{collection}/request-verification",
            post(request_verification),
        )
        .route(
            "/api/collections/{collection}/confirm-verification",
            post(confirm_verification),
        )
        .route(
            "/api/collections/{collection}/request-password-reset",
            post(request_password_reset),
        )
        .route(
            "/api/collections/{collection}/confirm-password-reset",
            post(confirm_password_reset),
        )
        .route(
            "/api/collections/{collection}/request-email-change",
            post(request_email_change),
        )
        .route(
            "/api/collections/{collection}/confirm-email-change",
            post(confirm_email_change),
        )
        .route(
            "/api/collections/{collection}/impersonate/{id}",
            post(impersonate),
        )
        .route(
            "/api/collections/{collection}/records",
            get(list_records).post(create_record),
        )
        .route(
            "/api/collections/{collection}/records/{id}",
            get(view_record).patch(update_record).delete(delete_record),
        )
        .route("/api/batch", post(batch::batch))
        .route("/api/backups", get(backups::list).post(backups::create))
        .route("/api/backups/upload", post(backups::upload))
        .route(
            "/api/backups/{key}",
            get(backups::download).delete(backups::delete),
        )
        .route("/api/backups/{key}/restore", post(backups::restore))
        .route("/api/crons", get(backups::crons))
        .route("/api/crons/{id}", post(backups::run_cron))
        .route("/api/logs", get(logs::list).delete(logs::delete_all))
        .route("/api/logs/stats", get(logs::stats))
        .route("/api/logs/{id}", get(logs::view))
        .route(
            "/api/realtime",
            get(realtime::connect).post(realtime::set_subscriptions),
        )
        .route(
            "/api/oauth2-redirect",
            get(realtime::oauth2_redirect_get).post(realtime::oauth2_redirect_post),
        )
        .route("/_", get(dashboard::to_mount))
        .route("/_/", get(dashboard::index))
        .route("/_/assets/{version}/{*path}", get(dashboard::asset))
        .route("/_/{*path}", get(dashboard::index))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(fallback);
    let api = middleware::rate_limited(api, app.clone()).with_state(app.clone());
    middleware::wrap(api, app).layer(axum::middleware::map_response(files::without_frame_options))
}
