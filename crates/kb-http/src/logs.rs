//! The logs API (superusers only) and the layer that logs every API request once its
//! response is ready, handing the log to the application's background writer.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use kb_app::{App, RequestError, RequestLog, Requester, require_superuser};
use serde_json::{Map, Value};

use crate::error::ApiResult;
use crate::handlers::page_json;
use crate::request::{Auth, ClientIp, Params};
use crate::response::{json_ok, no_content};

type AppState = State<Arc<App>>;

/// Error bodies larger than this are logged without their message (ours are tiny).
const MAX_ERROR_BODY: u64 = 1 << 20;

pub async fn list(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    let page = app.list_logs(params.list_params()?).await?;
    json_ok(page_json(page), &params)
}

pub async fn stats(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    json_ok(app.log_stats(params.get("filter")).await?, &params)
}

pub async fn view(
    State(app): AppState,
    Auth(requester): Auth,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    require_superuser(&requester)?;
    json_ok(app.view_log(&id).await?, &params)
}

pub async fn delete_all(State(app): AppState, Auth(requester): Auth) -> ApiResult<Response> {
    require_superuser(&requester)?;
    app.delete_logs().await?;
    Ok(no_content())
}

/// Where the authenticating middleware leaves the requester's auth collection and id for
/// the log (the log layer runs outside it, so that rate-limited requests are logged too).
#[derive(Clone, Default)]
pub(crate) struct LoggedAuth(Arc<OnceLock<(String, String)>>);

impl LoggedAuth {
    pub(crate) fn set(&self, requester: &Requester) {
        if let Requester::Auth {
            collection, record, ..
        } = requester
        {
            let id = record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let _ = self.0.set((collection.name.clone(), id));
        }
    }
}

/// Successful requests PocketBase leaves out of the logs: reading or clearing the logs
/// themselves (they would drown everything else) and realtime connections.
fn skipped_when_successful(method: &Method, path: &str) -> bool {
    path == "/api/logs"
        || path.starts_with("/api/logs/")
        || (method == Method::GET && path == "/api/realtime")
}

fn header_text(request: &Request, name: header::HeaderName) -> String {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A field error object (`{"code","message"}`, possibly nested) as the short reasons
/// PocketBase logs (`"cannot be blank"`): lower-case first letter, no final period.
fn details_of(data: &Value) -> Value {
    match data {
        Value::Object(map) if map.is_empty() => Value::Null,
        Value::Object(map) => {
            if let Some(Value::String(message)) = map.get("message")
                && map.get("code").is_some_and(Value::is_string)
            {
                let message = message.strip_suffix('.').unwrap_or(message);
                let mut chars = message.chars();
                return Value::String(match chars.next() {
                    Some(first) => first.to_lowercase().chain(chars).collect(),
                    None => String::new(),
                });
            }
            Value::Object(
                map.iter()
                    .map(|(key, value)| (key.clone(), details_of(value)))
                    .collect::<Map<_, _>>(),
            )
        }
        _ => Value::Null,
    }
}

/// Read an error response's message and field errors, and rebuild the response.
async fn error_of(response: Response) -> (Response, RequestError) {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let small = axum::body::HttpBody::size_hint(response.body())
        .upper()
        .is_some_and(|n| n <= MAX_ERROR_BODY);
    if !is_json || !small {
        return (response, RequestError::default());
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_ERROR_BODY as usize)
        .await
        .unwrap_or_default();
    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let error = RequestError {
        message: parsed
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        details: parsed.get("data").map_or(Value::Null, details_of),
    };
    (Response::from_parts(parts, Body::from(bytes)), error)
}

/// Log the request after its response is produced. The log is built and queued without
/// waiting (the application's writer stores it later, in a batch).
pub(crate) async fn log_requests(
    State(app): State<Arc<App>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let url = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let referer = header_text(&request, header::REFERER);
    let user_agent = header_text(&request, header::USER_AGENT);
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(peer)| peer.ip());
    let ClientIp(user_ip) = ClientIp::resolve(&app, peer, request.headers());
    let auth = LoggedAuth::default();
    request.extensions_mut().insert(auth.clone());

    let response = next.run(request).await;
    let exec_time_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status();
    let failed = status.is_client_error() || status.is_server_error();
    if !failed && skipped_when_successful(&method, &path) {
        return response;
    }
    let (response, error) = if failed {
        let (response, error) = error_of(response).await;
        (response, Some(error))
    } else {
        (response, None)
    };
    let auth = auth.0.get().cloned();
    app.log_request(RequestLog {
        method: method.as_str().to_owned(),
        url,
        status: status.as_u16(),
        exec_time_ms,
        referer,
        user_agent,
        remote_ip: peer.to_string(),
        user_ip: user_ip.to_string(),
        auth,
        error,
    });
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn field_errors_become_short_reasons() {
        let data = json!({
            "password": {"code": "validation_required", "message": "Cannot be blank."},
            "logs": {"maxDays": {"code": "x", "message": "Must be no less than 0.", "params": {}}},
        });
        assert_eq!(
            details_of(&data),
            json!({"password": "cannot be blank", "logs": {"maxDays": "must be no less than 0"}})
        );
        assert_eq!(details_of(&json!({})), Value::Null);
    }

    #[test]
    fn logs_and_realtime_successes_are_skipped() {
        assert!(skipped_when_successful(&Method::GET, "/api/logs"));
        assert!(skipped_when_successful(&Method::DELETE, "/api/logs"));
        assert!(skipped_when_successful(&Method::GET, "/api/logs/stats"));
        assert!(skipped_when_successful(&Method::GET, "/api/realtime"));
        assert!(!skipped_when_successful(&Method::POST, "/api/realtime"));
        assert!(!skipped_when_successful(&Method::GET, "/api/logsx"));
    }
}
