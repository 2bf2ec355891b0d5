//! `POST /api/batch`: the body read under the batch's own limit (JSON, or multipart with
//! `@jsonPayload` as the SDK sends it), the inner requests handed to `App::batch`, and the
//! answer in PocketBase's shape.
//! File parts (`requests.N.field`) are staged on disk like a single write's uploads.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use kb_app::{App, BatchError, BatchRequest, BatchSender};
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::request::{Auth, BodyError, ClientIp, Params, read_body};
use crate::response::json_ok;
use crate::upload::{FileParts, Multipart};

const READ_ERROR: &str = "Failed to read the submitted batch data.";

pub async fn batch(
    State(app): State<Arc<App>>,
    Auth(requester): Auth,
    ClientIp(client): ClientIp,
    params: Params,
    request: Request,
) -> ApiResult<Response> {
    // Refused before a byte of the body is read, as PocketBase refuses it.
    let limit = app.batch_body_limit()?;
    let body = read_batch_body(&app, request, limit)
        .await
        .map_err(|e| e.into_api(READ_ERROR))?;
    let requests = parse_requests(&body.values).ok_or_else(|| ApiError::bad_request(READ_ERROR))?;
    let client = client.to_string();
    let sender = BatchSender {
        requester: &requester,
        meta: &params.meta,
        client: &client,
    };
    match app.batch(sender, requests, body.files).await {
        Ok(responses) => {
            let items = responses
                .into_iter()
                .map(|r| json!({"status": r.status, "body": r.body}))
                .collect();
            json_ok(Value::Array(items), &params)
        }
        Err(BatchError::Batch(error)) => Err(error.into()),
        Err(BatchError::Request { index, error }) => Err(request_failed(index, error)),
    }
}

/// The 400 of a batch that failed at request `index`, with that request's own error
/// response inside.
fn request_failed(index: usize, error: kb_app::AppError) -> ApiError {
    let response = ApiError::from(error).body();
    let mut requests = Map::new();
    requests.insert(
        index.to_string(),
        json!({
            "code": "batch_request_failed",
            "message": "Batch request failed.",
            "response": response,
        }),
    );
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: "Batch transaction failed.".into(),
        data: json!({ "requests": requests }),
    }
}

/// The batch body, at most `limit` bytes: JSON, or multipart with its files staged.
async fn read_batch_body(app: &App, request: Request, limit: u64) -> Result<Multipart, BodyError> {
    let url_encoded = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let staging = app.files().staging_dir();
    match read_body(request, FileParts::Store(&staging), limit).await {
        // PocketBase binds a batch from JSON or multipart only; anything else cannot
        // carry the list of requests.
        Ok(_) if url_encoded => Err(BodyError::Malformed),
        Err(BodyError::UnsupportedType) => Err(BodyError::Malformed),
        other => other,
    }
}

/// The value of `key` in `object`: the exact key, else one that differs only in case (as
/// PocketBase's JSON binding matches struct fields).
fn field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// A string field (`null` or absent → empty); `None` when it has another type.
fn text(object: &Map<String, Value>, key: &str) -> Option<String> {
    match field(object, key) {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => None,
    }
}

/// An object field (`null` or absent → empty); `None` when it has another type.
fn object(object: &Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
    match field(object, key) {
        None | Some(Value::Null) => Some(Map::new()),
        Some(Value::Object(map)) => Some(map.clone()),
        Some(_) => None,
    }
}

/// The inner requests of a batch body; `None` when a value has the wrong type (a string
/// where a list belongs, a number as a method, a header that is not text…).
fn parse_requests(body: &Map<String, Value>) -> Option<Vec<BatchRequest>> {
    let items = match field(body, "requests") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    items
        .iter()
        .map(|item| {
            let item = item.as_object()?;
            let headers = object(item, "headers")?;
            if !headers.values().all(Value::is_string) {
                return None;
            }
            Some(BatchRequest {
                method: text(item, "method")?,
                url: text(item, "url")?,
                headers,
                body: object(item, "body")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Option<Vec<BatchRequest>> {
        parse_requests(value.as_object().unwrap())
    }

    #[test]
    fn requests_are_read_with_their_types_checked() {
        let parsed = parse(json!({"Requests": [{"METHOD": "POST", "url": "/x",
            "headers": {"X-A": "1"}, "body": {"title": "t"}}]}))
        .unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].method, "POST");
        assert_eq!(parsed[0].headers["X-A"], "1");
        assert_eq!(parsed[0].body["title"], "t");
        assert_eq!(parse(json!({})).unwrap().len(), 0);
        assert_eq!(parse(json!({"requests": null})).unwrap().len(), 0);
        let nulls = parse(json!({"requests": [{"method": null, "body": null, "headers": null}]}));
        assert_eq!(nulls.unwrap()[0].method, "");
        for bad in [
            json!({"requests": "x"}),
            json!({"requests": {"a": 1}}),
            json!({"requests": [1]}),
            json!({"requests": [{"method": 5}]}),
            json!({"requests": [{"url": []}]}),
            json!({"requests": [{"body": [1]}]}),
            json!({"requests": [{"body": "x"}]}),
            json!({"requests": [{"headers": [1]}]}),
            json!({"requests": [{"headers": {"x": 1}}]}),
        ] {
            assert!(parse(bad.clone()).is_none(), "{bad}");
        }
    }
}
