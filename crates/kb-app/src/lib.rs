//! The application layer: what a request can do, independent of HTTP. Records and
//! collections under their rules, settings, password auth and tokens. It talks to storage
//! only through `kb_store::Store`.

mod account;
mod app;
mod auth;
mod auth_alert;
mod auth_cache;
mod auth_options;
mod auth_records;
pub mod backups;
mod batch;
mod collections;
mod error;
mod expand;
mod files;
mod install;
pub mod logs;
mod mfa;
mod oauth2;
mod otp;
mod password;
mod ratelimit;
pub mod realtime;
mod record_events;
mod records;
mod remote;
mod settings;
pub mod system;
mod tokens;
mod uploads;

pub use app::{App, RequestMeta, Requester};
pub use auth::AuthResponse;
pub use auth_alert::LoginOrigin;
pub use batch::{BatchError, BatchRequest, BatchResponse, BatchSender};
pub use collections::require_superuser;
pub use error::{AppError, AppResult};
pub use files::{FileRequest, ServedFile};
pub use logs::{Logs, RequestError, RequestLog};
pub use oauth2::{OAuth2Login, apple_client_secret, oauth2_catalogue};
pub use ratelimit::RateTarget;
pub use realtime::{Broadcaster, Limits as RealtimeLimits, Message, Realtime};
pub use records::{ListParams, MAX_PER_PAGE, Page};
pub use uploads::{RecordBody, UploadedFile, new_staging_file};
