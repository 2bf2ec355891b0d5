//! `/_/`: the dashboard's shell page and its versioned assets (see `kb_dashboard`), with a
//! Content-Security-Policy that lets the page run only its own scripts and styles and talk
//! only to this server.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

/// No inline script or style, no other origin: the page is ours alone. Images may also be
/// `blob:` (previews of files about to be uploaded) and `data:`.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Asset URLs change with their content, so browsers may keep them for good.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn with_headers(mut response: Response, cache_control: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// `GET /_`: to the mount point, so relative URLs resolve the same way.
pub async fn to_mount() -> Redirect {
    Redirect::permanent(kb_dashboard::MOUNT)
}

/// `GET /_/` and any other page path: the shell, never cached (it names the asset version).
pub async fn index() -> Response {
    let page = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        kb_dashboard::index_html(),
    );
    with_headers(page.into_response(), "no-cache")
}

/// `GET /_/assets/{version}/{path}`: a file of the current version; any other version is
/// gone (404), so a stale page never mixes old and new modules.
pub async fn asset(Path((version, path)): Path<(String, String)>) -> Response {
    let asset = (version == kb_dashboard::version())
        .then(|| kb_dashboard::asset(&path))
        .flatten();
    match asset {
        Some(asset) => with_headers(
            ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response(),
            IMMUTABLE,
        ),
        None => (StatusCode::NOT_FOUND, "Not found.").into_response(),
    }
}
