//! File downloads as PocketBase serves them (HTTP caching, byte ranges, the headers that
//! keep uploaded content from running on our origin), file tokens and the S3 test.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::TryStreamExt;
use kb_app::{App, FileRequest, ServedFile};
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::request::{Auth, JsonBody, Params};
use crate::response::{json_ok, no_content};

type AppState = State<Arc<App>>;

/// Scripts, frames, forms and plugins stay off in anything a browser renders from here.
const CSP: &str = "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox";
const CACHE_CONTROL: &str = "max-age=2592000, stale-while-revalidate=86400";

/// Marks a file response, so the outer layer can drop `X-Frame-Options` (media must be
/// embeddable in the application's own pages; the CSP sandbox guards them instead).
#[derive(Clone, Copy)]
struct FileResponse;

/// `GET /api/files/{collection}/{recordId}/{filename}`.
pub async fn download(
    State(app): AppState,
    Path((collection, record_id, filename)): Path<(String, String, String)>,
    params: Params,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let request = FileRequest {
        collection: &collection,
        record_id: &record_id,
        filename: &filename,
        thumb: params.get("thumb"),
        token: params.get("token"),
    };
    let served = app.serve_file(&params.meta, &request).await?;
    let download = parse_bool(params.get("download"));
    let disposition = if served.inline && !download {
        "inline"
    } else {
        "attachment"
    };
    let mut response = respond(app.files(), &served, &headers).await?;
    let out = response.headers_mut();
    out.insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!(
            "{disposition}; filename=\"{}\"",
            quoted_name(&served.name)
        )),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response.extensions_mut().insert(FileResponse);
    Ok(response)
}

/// The answer to a download from `storage` after the conditional and range headers: 304,
/// 416, 206 or 200.
pub(crate) async fn respond(
    storage: &kb_files::FileStorage,
    served: &ServedFile,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let size = served.info.size;
    let etag = served.info.etag.as_ref().map(|tag| format!("\"{tag}\""));
    let modified = whole_seconds(served.info.last_modified);
    let mut common = HeaderMap::new();
    common.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    common.insert(
        header::LAST_MODIFIED,
        header_value(&httpdate::fmt_http_date(modified)),
    );
    if let Some(etag) = &etag {
        common.insert(header::ETAG, header_value(etag));
    }

    if not_modified(headers, etag.as_deref(), modified) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().extend(common);
        return Ok(response);
    }
    common.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    let wanted = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| if_range_holds(headers, etag.as_deref(), modified));
    let range = match wanted.map(|spec| parse_range(spec, size)) {
        None | Some(RangeAnswer::Whole) => None,
        Some(RangeAnswer::Part(range)) => Some(range),
        Some(RangeAnswer::Unsatisfiable) => {
            let mut response = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "invalid range: failed to overlap",
            )
                .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{size}")),
            );
            return Ok(response);
        }
    };

    let (status, length, body) = match &range {
        // An empty file has nothing to read.
        None if size == 0 => (StatusCode::OK, 0, Body::empty()),
        _ => {
            let download = storage
                .get(&served.key, range.clone())
                .await
                .map_err(|error| match error {
                    kb_files::FileError::NotFound => ApiError::not_found(),
                    other => ApiError::from(kb_app::AppError::Internal(other.to_string())),
                })?;
            let status = if range.is_some() {
                StatusCode::PARTIAL_CONTENT
            } else {
                StatusCode::OK
            };
            let length = download.range.end - download.range.start;
            let stream = download.body.map_err(std::io::Error::other);
            (status, length, Body::from_stream(stream))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let out = response.headers_mut();
    out.extend(common);
    out.insert(header::CONTENT_TYPE, header_value(&served.content_type));
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if let Some(range) = range {
        out.insert(
            header::CONTENT_RANGE,
            header_value(&format!(
                "bytes {}-{}/{size}",
                range.start,
                range.end.saturating_sub(1)
            )),
        );
    }
    Ok(response)
}

/// `If-None-Match` (entity tags, weakly compared) decides when present; otherwise
/// `If-Modified-Since` (to the second, as HTTP dates are).
fn not_modified(headers: &HeaderMap, etag: Option<&str>, modified: SystemTime) -> bool {
    if let Some(candidates) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        return etag.is_some_and(|etag| etag_listed(candidates, etag));
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| modified <= since)
}

/// `If-Range`: the range applies only if the validator still matches.
fn if_range_holds(headers: &HeaderMap, etag: Option<&str>, modified: SystemTime) -> bool {
    let Some(validator) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let validator = validator.trim();
    if validator.starts_with('"') {
        // Ranges need a strong match.
        return etag == Some(validator);
    }
    httpdate::parse_http_date(validator).is_ok_and(|date| date == modified)
}

fn etag_listed(candidates: &str, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    candidates
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(etag))
}

#[derive(Debug, PartialEq)]
enum RangeAnswer {
    /// Serve everything (several ranges, or ranges adding up to more than the file).
    Whole,
    Part(Range<u64>),
    /// 416: malformed, or nothing of the file.
    Unsatisfiable,
}

/// A `Range: bytes=…` header against a file of `size` bytes.
fn parse_range(spec: &str, size: u64) -> RangeAnswer {
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Unsatisfiable;
    };
    let mut ranges = Vec::new();
    let mut overlapping = false;
    for part in set.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((start, end)) = part.split_once('-') else {
            return RangeAnswer::Unsatisfiable;
        };
        let (start, end) = (start.trim(), end.trim());
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        let range = if start.is_empty() {
            // The last `end` bytes.
            let Some(suffix) = number(end) else {
                return RangeAnswer::Unsatisfiable;
            };
            if suffix == 0 {
                continue;
            }
            size.saturating_sub(suffix)..size
        } else {
            let Some(first) = number(start) else {
                return RangeAnswer::Unsatisfiable;
            };
            let last = if end.is_empty() {
                size.saturating_sub(1)
            } else {
                match number(end) {
                    Some(last) if last >= first => last.min(size.saturating_sub(1)),
                    _ => return RangeAnswer::Unsatisfiable,
                }
            };
            if first >= size {
                continue;
            }
            first..last + 1
        };
        overlapping = true;
        ranges.push(range);
    }
    if !overlapping {
        return RangeAnswer::Unsatisfiable;
    }
    let total: u64 = ranges.iter().map(|r| r.end - r.start).sum();
    match ranges.as_slice() {
        [one] if total <= size => RangeAnswer::Part(one.clone()),
        // One range is what clients ask for; several get the whole file (allowed, and
        // simpler than multipart/byteranges).
        _ => RangeAnswer::Whole,
    }
}

/// Go's `strconv.ParseBool` truths: `1`, `t`, `T`, `TRUE`, `true`, `True`.
fn parse_bool(text: &str) -> bool {
    matches!(text, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// The name as it can stand inside a quoted header parameter.
pub(crate) fn quoted_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

pub(crate) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// HTTP dates have whole seconds; comparisons must too.
fn whole_seconds(time: SystemTime) -> SystemTime {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// Drop `X-Frame-Options` from file responses (the default headers add it to everything).
pub(crate) async fn without_frame_options(mut response: Response) -> Response {
    if response.extensions().get::<FileResponse>().is_some() {
        response.headers_mut().remove(header::X_FRAME_OPTIONS);
    }
    response
}

/// `POST /api/files/token`.
pub async fn token(
    State(app): AppState,
    Auth(requester): Auth,
    params: Params,
) -> ApiResult<Response> {
    let token = app.file_token(&requester)?;
    json_ok(json!({ "token": token }), &params)
}

/// `POST /api/settings/test/s3`.
pub async fn test_s3(
    State(app): AppState,
    Auth(requester): Auth,
    body: JsonBody,
) -> ApiResult<Response> {
    kb_app::require_superuser(&requester)?;
    let body = body.object(crate::handlers::LOAD_ERROR)?;
    app.test_s3(&requester, &body).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        assert_eq!(parse_range("bytes=10-19", 5000), Part(10..20));
        assert_eq!(parse_range("bytes=10-", 5000), Part(10..5000));
        assert_eq!(parse_range("bytes=-10", 5000), Part(4990..5000));
        assert_eq!(parse_range("bytes=4990-9999", 5000), Part(4990..5000));
        assert_eq!(parse_range("bytes=-9999", 50), Part(0..50));
        assert_eq!(parse_range("bytes=0-1,5-6", 5000), Whole);
        assert_eq!(parse_range("bytes=6000-", 5000), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 5000), Unsatisfiable);
        assert_eq!(parse_range("items=0-1", 5000), Unsatisfiable);
        assert_eq!(parse_range("bytes=a-b", 5000), Unsatisfiable);
    }

    #[test]
    fn etags_and_bools() {
        assert!(etag_listed("\"a\", \"b\"", "\"b\""));
        assert!(etag_listed("W/\"b\"", "\"b\""));
        assert!(etag_listed("*", "\"b\""));
        assert!(!etag_listed("\"a\"", "\"b\""));
        assert!(parse_bool("1") && parse_bool("t") && parse_bool("True"));
        assert!(!parse_bool("yes") && !parse_bool("0") && !parse_bool(""));
        assert_eq!(quoted_name("a\"b\\c\u{e9}.png"), "a_b_c_.png");
    }
}
