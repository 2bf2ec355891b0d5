//! Cross-cutting behaviour of every response: PocketBase's default security headers, CORS,
//! a JSON 500 for panics, and request tracing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use kb_app::{App, RateTarget};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::request::ClientIp;

const ALLOWED_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE";

/// The security headers of every response, as PocketBase sends them.
pub(crate) const DEFAULT_HEADERS: &[(&str, &str)] = &[
    ("x-xss-protection", "1; mode=block"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "SAMEORIGIN"),
    ("cross-origin-opener-policy", "same-origin"),
];

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
    for (name, value) in DEFAULT_HEADERS {
        set(&mut response, name, value);
    }
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

/// Whether the request is a sign-in to the `_superusers` collection (by name or id), which
/// `superuserIPs` closes to other addresses as well.
fn signs_in_a_superuser(app: &App, method: &Method, path: &str) -> bool {
    action_of(app, method, path).is_some_and(|(collection, action)| {
        collection == kb_app::system::SUPERUSERS && action.starts_with("authWith")
    })
}

/// The record or auth action a path names, for `<collection>:<action>` labels.
fn action_of(app: &App, method: &Method, path: &str) -> Option<(String, String)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (collection, rest) = match segments.as_slice() {
        ["api", "collections", collection, rest @ ..] => (*collection, rest),
        ["api", "files", collection, ..] => (*collection, &["file"][..]),
        _ => return None,
    };
    let action = match (rest, method.as_str()) {
        (["records"], "GET") => "list",
        (["records"], "POST") => "create",
        (["records", _], "GET") => "view",
        (["records", _], "PATCH") => "update",
        (["records", _], "DELETE") => "delete",
        (["file"], _) => "file",
        (["auth-methods"], _) => "listAuthMethods",
        (["auth-refresh"], _) => "authRefresh",
        (["auth-with-password"], _) => "authWithPassword",
        (["auth-with-otp"], _) => "authWithOTP",
        (["auth-with-oauth2"], _) => "authWithOAuth2",
        (["request-otp"], _) => "requestOTP",
        (["request-password-reset"], _) => "requestPasswordReset",
        (["confirm-password-reset"], _) => "confirmPasswordReset",
        (["request-verification"], _) => "requestVerification",
        (["confirm-verification"], _) => "confirmVerification",
        (["request-email-change"], _) => "requestEmailChange",
        (["confirm-email-change"], _) => "confirmEmailChange",
        _ => return None,
    };
    let name = app.schema().get(collection)?.name.clone();
    Some((name, action.to_owned()))
}

/// Authenticate once (handlers reuse the requester) and apply the rate limits.
async fn rate_limit(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let requester = app.authenticate(token).await;
    if let Some(logged) = request.extensions().get::<crate::logs::LoggedAuth>() {
        logged.set(&requester);
    }
    let client = ClientIp::resolve(&app, peer.ip(), request.headers());
    let settings = app.settings();
    if !settings.superuser_ip_allowed(client.0)
        && (requester.is_superuser()
            || signs_in_a_superuser(&app, request.method(), request.uri().path()))
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "You are not allowed to perform this request.",
        )
        .into_response();
    }
    // Describing the request costs allocations; most servers run without limits.
    if settings.rate_limits.enabled {
        let target = RateTarget {
            method: request.method().as_str().to_owned(),
            path: request.uri().path().to_owned(),
            action: action_of(&app, request.method(), request.uri().path()),
            client: client.0.to_string(),
        };
        if let Err(error) = app.check_rate_limit(&requester, &target).await {
            return ApiError::from(error).into_response();
        }
    }
    request.extensions_mut().insert(requester);
    request.extensions_mut().insert(client);
    next.run(request).await
}

/// The rate-limit layer for the API routes (it needs the application state).
pub fn rate_limited(router: Router<Arc<App>>, app: Arc<App>) -> Router<Arc<App>> {
    router.layer(middleware::from_fn_with_state(app, rate_limit))
}

pub fn wrap(router: Router, app: Arc<App>) -> Router {
    router
        .layer(CatchPanicLayer::custom(panic_response))
        // Inside CORS, so preflights are not logged (PocketBase does not log them), and
        // outside the panic guard, so a panic is logged as the 500 it becomes.
        .layer(middleware::from_fn_with_state(
            app,
            crate::logs::log_requests,
        ))
        .layer(middleware::from_fn(headers_and_cors))
        .layer(TraceLayer::new_for_http())
}
