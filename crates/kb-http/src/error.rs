//! The one mapping from application errors to HTTP: status code + the API's error JSON.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kb_app::AppError;
use serde_json::{Value, json};

/// An error response in the API's shape: `{"status", "message", "data"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub data: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            data: json!({}),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found() -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "The requested resource wasn't found.",
        )
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::BadRequest { message, data } => ApiError {
                status: StatusCode::BAD_REQUEST,
                message: if message.is_empty() {
                    "Something went wrong while processing your request.".into()
                } else {
                    message
                },
                data: serde_json::to_value(data).unwrap_or_else(|_| json!({})),
            },
            AppError::Unauthorized(message) => ApiError::new(StatusCode::UNAUTHORIZED, message),
            AppError::Forbidden(message) => ApiError::new(StatusCode::FORBIDDEN, message),
            AppError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, message),
            AppError::MfaRequired(mfa_id) => ApiError {
                status: StatusCode::UNAUTHORIZED,
                message: String::new(),
                data: json!({"mfaId": mfa_id}),
            },
            AppError::TooManyRequests(message) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, message)
            }
            AppError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong while processing your request.",
                )
            }
        }
    }
}

impl ApiError {
    /// The JSON body of the answer.
    pub(crate) fn body(self) -> Value {
        // The second-factor answer is exactly `{"mfaId": …}`, without the error envelope.
        if self.status == StatusCode::UNAUTHORIZED && self.data.get("mfaId").is_some() {
            self.data
        } else {
            json!({"status": self.status.as_u16(), "message": self.message, "data": self.data})
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, Json(self.body())).into_response();
        // The rest of an oversized body was never read, so this connection cannot carry
        // another request: say so, or a keep-alive client would send its next one into it.
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
