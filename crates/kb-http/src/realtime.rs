//! Realtime over Server-Sent Events (`GET`/`POST /api/realtime`) and the OAuth2 redirect
//! that hands a provider's answer to a waiting realtime client (`/api/oauth2-redirect`).

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::StreamExt;
use kb_app::realtime::{CONNECT_EVENT, Connection, Limits};
use kb_app::{App, Requester};
use serde_json::{Map, Value, json};
use tokio::time::{Instant, Sleep};

use crate::error::{ApiError, ApiResult};
use crate::request::{BodyError, ClientIp, JsonBody, Params};
use crate::response::no_content;

type AppState = State<Arc<App>>;

const BAD_BODY: &str = "Something went wrong while processing your request.";
const REDIRECT_SUCCESS: &str = "../_/#/auth/oauth2-redirect-success";
const REDIRECT_FAILURE: &str = "../_/#/auth/oauth2-redirect-failure";

/// One SSE event as PocketBase writes it: `id:`, `event:`, `data:` lines (no space after the
/// colon) and a blank line. Line breaks cannot appear in the name (they would start a new
/// field), and each line of the data gets its own `data:` field.
fn frame(client_id: &str, name: &str, data: &str) -> Bytes {
    let mut out = String::with_capacity(client_id.len() + name.len() + data.len() + 24);
    out.push_str("id:");
    out.push_str(client_id);
    out.push_str("\nevent:");
    out.extend(name.chars().filter(|c| !matches!(c, '\r' | '\n')));
    out.push('\n');
    for line in data.split('\n') {
        out.push_str("data:");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// What the response stream owns: the client's registration (dropped with the stream, which
/// unregisters it), its idle timer and its hard deadline.
struct Stream {
    connection: Connection,
    client_id: String,
    limits: Limits,
    first: Option<Bytes>,
    idle: Pin<Box<Sleep>>,
    deadline: Pin<Box<Sleep>>,
}

/// `GET /api/realtime` through the router (HTTP/2, or a request the dedicated HTTP/1.1
/// path in `serve` did not take).
pub async fn connect(State(app): AppState, ClientIp(ip): ClientIp) -> Response {
    let mut response = Response::new(Body::from_stream(
        event_stream(&app, ip).map(Ok::<_, std::convert::Infallible>),
    ));
    let headers = response.headers_mut();
    for (name, value) in STREAM_HEADERS {
        headers.insert(*name, HeaderValue::from_static(value));
    }
    response
}

/// The response headers of an event stream (besides the defaults every response gets).
pub(crate) const STREAM_HEADERS: &[(&str, &str)] = &[
    ("content-type", "text/event-stream"),
    ("cache-control", "no-store"),
    ("x-accel-buffering", "no"),
];

/// Register a client connecting from `ip` and stream its frames, starting with
/// `PB_CONNECT`. The stream ends after the idle timeout without a message, at the maximum
/// lifetime, when the hub drops the client, or when the consumer drops it (the peer went
/// away), which unregisters the client.
pub(crate) fn event_stream(
    app: &App,
    ip: IpAddr,
) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
    let connection = app.realtime.connect(ip);
    let client_id = connection.client_id().to_owned();
    let limits = connection.limits();
    let first = frame(
        &client_id,
        CONNECT_EVENT,
        &json!({"clientId": client_id}).to_string(),
    );
    let now = Instant::now();
    let state = Stream {
        connection,
        client_id,
        limits,
        first: Some(first),
        idle: Box::pin(tokio::time::sleep_until(now + limits.idle_timeout)),
        deadline: Box::pin(tokio::time::sleep_until(now + limits.max_lifetime)),
    };
    futures_util::stream::unfold(state, |mut s| async move {
        if let Some(first) = s.first.take() {
            return Some((first, s));
        }
        tokio::select! {
            message = s.connection.next() => {
                let message = message?;
                let idle = s.limits.idle_timeout;
                s.idle.as_mut().reset(Instant::now() + idle);
                let bytes = frame(&s.client_id, &message.name, &message.data);
                Some((bytes, s))
            }
            _ = s.idle.as_mut() => None,
            _ = s.deadline.as_mut() => None,
        }
    })
}

fn is_form(headers: &HeaderMap) -> bool {
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    kind.starts_with("application/x-www-form-urlencoded") || kind.starts_with("multipart/form-data")
}

/// A form value as text again (form bodies infer numbers and booleans from text).
fn form_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `clientId` and `subscriptions` of a subscription request. JSON must carry the right
/// types; a form sends one topic as a single value.
fn subscription_input(body: &Map<String, Value>, form: bool) -> Option<(String, Vec<String>)> {
    let text = |value: &Value| {
        if form {
            form_text(value)
        } else {
            value.as_str().map(str::to_owned)
        }
    };
    let client_id = match body.get("clientId") {
        None | Some(Value::Null) => String::new(),
        Some(value) => text(value)?,
    };
    let topics = match body.get("subscriptions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(text).collect::<Option<Vec<_>>>()?,
        Some(value) if form => vec![text(value)?],
        Some(_) => return None,
    };
    Some((client_id, topics))
}

/// `POST /api/realtime`: replace a client's subscriptions and bind the request's auth.
pub async fn set_subscriptions(
    State(app): AppState,
    ClientIp(ip): ClientIp,
    requester: Option<Extension<Requester>>,
    headers: HeaderMap,
    body: JsonBody,
) -> ApiResult<Response> {
    let body = match body.0 {
        Ok(body) => body,
        Err(BodyError::Malformed | BodyError::UnsupportedType) => {
            return Err(ApiError::bad_request(BAD_BODY));
        }
        Err(BodyError::TooLarge | BodyError::Storage) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request entity too large.",
            ));
        }
    };
    let (client_id, topics) = subscription_input(&body, is_form(&headers))
        .ok_or_else(|| ApiError::bad_request(BAD_BODY))?;
    // The rate-limit middleware authenticated the request already.
    let requester = match requester {
        Some(Extension(requester)) => requester,
        None => Requester::Guest,
    };
    app.realtime
        .set_subscriptions(&client_id, ip, &requester, topics)?;
    Ok(no_content())
}

/// The OAuth2 redirect: deliver `state`/`code`/`error` to the realtime client named by
/// `state`, then send the browser to the UI's success or failure page.
async fn oauth2_redirect(
    app: &App,
    ip: IpAddr,
    fields: &Map<String, Value>,
    post: bool,
) -> Response {
    let text = |key: &str| fields.get(key).and_then(form_text).unwrap_or_default();
    // Apple sends the user's name only here, on the first consent; keep it for the
    // exchange of this code.
    let user = text("user");
    if !user.is_empty() {
        app.remember_oauth2_name(&text("code"), &user);
    }
    let success = app
        .oauth2_redirect(ip, &text("state"), &text("code"), &text("error"))
        .await;
    let location = if success {
        REDIRECT_SUCCESS
    } else {
        REDIRECT_FAILURE
    };
    if post {
        // Apple posts a form: 303 makes the browser follow with a GET.
        Redirect::to(location).into_response()
    } else {
        Redirect::temporary(location).into_response()
    }
}

/// `GET /api/oauth2-redirect?state=…&code=…`.
pub async fn oauth2_redirect_get(
    State(app): AppState,
    ClientIp(ip): ClientIp,
    params: Params,
) -> Response {
    oauth2_redirect(&app, ip, &params.meta.query, false).await
}

/// `POST /api/oauth2-redirect` with a form (or JSON) body; the query is not read.
pub async fn oauth2_redirect_post(
    State(app): AppState,
    ClientIp(ip): ClientIp,
    body: JsonBody,
) -> Response {
    let fields = body.0.unwrap_or_default();
    oauth2_redirect(&app, ip, &fields, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_written_like_pocketbase() {
        assert_eq!(
            frame("abc", "PB_CONNECT", r#"{"clientId":"abc"}"#),
            Bytes::from("id:abc\nevent:PB_CONNECT\ndata:{\"clientId\":\"abc\"}\n\n")
        );
        assert_eq!(
            frame("abc", "t\r\nx", "a\r\nb"),
            Bytes::from("id:abc\nevent:tx\ndata:a\ndata:b\n\n")
        );
    }

    #[test]
    fn subscription_input_types() {
        let body = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(
            subscription_input(
                &body(json!({"clientId": "c", "subscriptions": ["a", "b"]})),
                false
            ),
            Some(("c".into(), vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            subscription_input(&body(json!({"clientId": "c"})), false),
            Some(("c".into(), vec![]))
        );
        assert_eq!(
            subscription_input(&body(json!({"clientId": 1})), false),
            None
        );
        assert_eq!(
            subscription_input(&body(json!({"clientId": "c", "subscriptions": "a"})), false),
            None
        );
        assert_eq!(
            subscription_input(&body(json!({"clientId": "c", "subscriptions": [1]})), false),
            None
        );
        assert_eq!(
            subscription_input(&body(json!({"clientId": 12, "subscriptions": 3})), true),
            Some(("12".into(), vec!["3".into()]))
        );
    }
}
