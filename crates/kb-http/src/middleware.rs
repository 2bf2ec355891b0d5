//! Cross-cutting behaviour of every response: PocketBase's default security headers, CORS,
//! a JSON 500 for panics, and request tracing.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;

const ALLOWED_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE";

fn set(response: &mut Response, name: &'static str, value: &'static str) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
}

/// CORS as PocketBase answers it (any origin), and the default headers on everything else.
async fn headers_and_cors(request: Request, next: Next) -> Response {
    let origin = request.headers().contains_key(header::ORIGIN);
    if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        if origin {
            headers.append(
                header::VARY,
                HeaderValue::from_static("Access-Control-Request-Method"),
            );
            headers.append(
                header::VARY,
                HeaderValue::from_static("Access-Control-Request-Headers"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            if let Some(requested) = request
                .headers()
                .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
            }
        }
        return response;
    }
    let mut response = next.run(request).await;
    set(&mut response, "x-xss-protection", "1; mode=block");
    set(&mut response, "x-content-type-options", "nosniff");
    set(&mut response, "x-frame-options", "SAMEORIGIN");
    set(&mut response, "cross-origin-opener-policy", "same-origin");
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    if origin {
        set(&mut response, "access-control-allow-origin", "*");
    }
    response
}

fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong while processing your request.",
    )
    .into_response()
}

pub fn wrap(router: Router) -> Router {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn(headers_and_cors))
        .layer(TraceLayer::new_for_http())
}
