//! The application's error type. The HTTP layer maps each variant to a status code and the
//! API's error JSON in one place.

use kb_core::ValidationErrors;
use kb_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400 with a message and per-field errors (`data`).
    #[error("{message}")]
    BadRequest {
        message: String,
        data: ValidationErrors,
    },
    /// 401: authentication is required.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, or not, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 401 `{"mfaId"}`: the first factor passed, a second one is needed.
    #[error("a second authentication factor is required")]
    MfaRequired(String),
    /// 429: a rate or attempt limit was reached.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: a failure that is ours, not the client's. The cause is logged, not returned.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type AppResult<T> = Result<T, AppError>;

/// PocketBase's message for a body that is not the expected JSON shape.
pub(crate) const LOAD_ERROR: &str = "An error occurred while loading the submitted data.";
/// PocketBase's message for field errors of a request body.
pub(crate) const VALIDATION_ERROR: &str = "An error occurred while validating the submitted data.";

impl AppError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        AppError::BadRequest {
            message: message.into(),
            data: ValidationErrors::new(),
        }
    }

    pub fn invalid(message: impl Into<String>, data: ValidationErrors) -> Self {
        AppError::BadRequest {
            message: message.into(),
            data,
        }
    }

    pub fn not_found() -> Self {
        AppError::NotFound("The requested resource wasn't found.".into())
    }

    pub fn superusers_only() -> Self {
        AppError::Forbidden("Only superusers can perform this action.".into())
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Invalid(message) => AppError::bad_request(message),
            other => AppError::Internal(other.to_string()),
        }
    }
}
