//! Success responses: JSON with the `fields` picker applied, and empty 204s.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::ApiResult;
use crate::request::Params;

/// 200 with `value`, trimmed by the `fields` query parameter. On a page of records the
/// picker applies to each item, keeping the paging keys.
pub fn json_ok(mut value: Value, params: &Params) -> ApiResult<Response> {
    // A picker that cannot be parsed is ignored, as PocketBase ignores unknown fields.
    if let Ok(picker) = kb_filter::parse_fields(params.get("fields")) {
        let is_page =
            value.get("items").is_some_and(Value::is_array) && value.get("perPage").is_some();
        match value.get_mut("items") {
            Some(Value::Array(items)) if is_page => {
                items.iter_mut().for_each(|item| picker.apply(item))
            }
            _ => picker.apply(&mut value),
        }
    }
    Ok((StatusCode::OK, Json(value)).into_response())
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
