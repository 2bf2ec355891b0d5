//! Keelbase outgoing mail: everything needed to send account emails (verification,
//! password reset, email change, OTP, login alerts), with no knowledge of HTTP or storage.
//!
//! * [`Message`] and the object-safe [`Mailer`] trait; errors are [`MailError`].
//! * [`SmtpMailer`]: lettre's pooled async SMTP transport, configured from
//!   [`SmtpConfig`] (PocketBase's `smtp` settings and sender).
//! * [`MemoryMailer`]: the in-memory test double.
//! * [`Outbox`]: a bounded queue and a background task, so requests never wait on SMTP;
//!   failures are logged and kept for the admin UI; the mailer can be swapped at runtime.
//! * [`render_template`], [`render_template_raw`], [`render_plain`]: PocketBase's
//!   `{APP_NAME}`-style placeholders, with the escaping rule documented in [`template`].
//! * [`html_to_text`]: the plain-text alternative of an HTML body.
//! * `testing::SmtpSink` (cargo feature `testing`): an in-process SMTP server for tests.

mod html_text;
mod memory;
mod message;
mod outbox;
mod smtp;
pub mod template;

#[cfg(feature = "testing")]
pub mod testing;

pub use html_text::html_to_text;
pub use memory::MemoryMailer;
pub use message::{Address, BoxFuture, MailError, Mailer, Message};
pub use outbox::{DEFAULT_CAPACITY, FAILURES_KEPT, Failure, Full, Outbox};
pub use smtp::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_SEND_TIMEOUT, SmtpAuthMethod, SmtpConfig, SmtpMailer,
};
pub use template::{escape_html, render_plain, render_template, render_template_raw};
