//! The message model, the `Mailer` trait and its error type.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::html_text::html_to_text;

/// A boxed, sendable future; the same type as `futures::future::BoxFuture`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A mailbox: an optional display name and an email address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Address {
    /// Display name; empty for none.
    pub name: String,
    /// The address itself (`user@example.com`).
    pub email: String,
}

impl Address {
    /// An address with a display name (`name` may be empty).
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }

    /// An address without a display name.
    pub fn email(email: impl Into<String>) -> Self {
        Self::new(String::new(), email)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "<{}>", self.email)
        } else {
            write!(f, "{:?} <{}>", self.name, self.email)
        }
    }
}

/// One email. The sender is not part of it unless `from` is set: a mailer uses its
/// configured sender (PocketBase's `meta.senderName` / `meta.senderAddress`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Overrides the mailer's configured sender when set.
    pub from: Option<Address>,
    /// Recipients (at least one).
    pub to: Vec<Address>,
    /// Subject line (plain text; a line break is sent as a space).
    pub subject: String,
    /// HTML body.
    pub html: String,
    /// Plain-text alternative; derived from `html` with [`html_to_text`] when `None`.
    pub text: Option<String>,
    /// Extra headers, in order (for example `Reply-To`). Names must be printable ASCII
    /// without `:`; values must not contain line breaks. Headers that define the
    /// message's structure or envelope (`From`, `To`, `Cc`, `Bcc`, `Subject`, `Date`,
    /// `MIME-Version`, `Content-*`) are rejected by the SMTP mailer.
    pub headers: Vec<(String, String)>,
}

impl Message {
    /// A message to one recipient with an HTML body.
    pub fn new(to: Address, subject: impl Into<String>, html: impl Into<String>) -> Self {
        Self {
            to: vec![to],
            subject: subject.into(),
            html: html.into(),
            ..Self::default()
        }
    }

    /// Sets the plain-text alternative.
    #[must_use]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Adds an extra header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The plain-text alternative: `text` if given, else derived from `html`.
    pub fn plain_text(&self) -> Cow<'_, str> {
        match &self.text {
            Some(text) => Cow::Borrowed(text),
            None => Cow::Owned(html_to_text(&self.html)),
        }
    }

    /// The recipients' addresses joined with `", "` (for logs: no names, no bodies).
    pub fn recipients(&self) -> String {
        let emails: Vec<&str> = self.to.iter().map(|a| a.email.as_str()).collect();
        emails.join(", ")
    }

    /// The value of the first extra header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a message could not be sent. Display texts never contain credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// A sender or recipient address is not a valid email address.
    #[error("invalid email address {address:?}: {reason}")]
    InvalidAddress { address: String, reason: String },
    /// The message has no recipient.
    #[error("the message has no recipients")]
    NoRecipients,
    /// An extra header has an invalid name or value, or is reserved.
    #[error("invalid header {name:?}: {reason}")]
    InvalidHeader { name: String, reason: String },
    /// The mailer's settings are unusable (empty host, port 0, bad sender, ...).
    #[error("invalid mail settings: {0}")]
    Config(String),
    /// The message could not be assembled.
    #[error("could not build the message: {0}")]
    Build(String),
    /// The SMTP exchange failed (connection, TLS, authentication, or a rejection).
    #[error("SMTP: {message}")]
    Smtp {
        message: String,
        /// The server answered with a permanent (5xx) error.
        permanent: bool,
    },
    /// Sending took longer than the configured limit.
    #[error("sending timed out after {0:?}")]
    Timeout(Duration),
    /// Any other failure (test doubles, custom mailers).
    #[error("{0}")]
    Other(String),
}

/// Something that delivers messages. Object-safe: Keelbase holds an `Arc<dyn Mailer>`.
pub trait Mailer: Send + Sync {
    /// Sends one message; resolves when the server has accepted it (or failed).
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), MailError>>;
}

impl<M: Mailer + ?Sized> Mailer for std::sync::Arc<M> {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), MailError>> {
        (**self).send(message)
    }
}

impl<M: Mailer + ?Sized> Mailer for Box<M> {
    fn send(&self, message: Message) -> BoxFuture<'_, Result<(), MailError>> {
        (**self).send(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_derived_from_html_unless_given() {
        let m = Message::new(Address::email("a@b.c"), "s", "<p>Hello <b>you</b></p>");
        assert_eq!(m.plain_text(), "Hello you");
        let m = m.with_text("own");
        assert_eq!(m.plain_text(), "own");
    }

    #[test]
    fn mailer_is_dyn_compatible() {
        fn takes(_: &dyn Mailer) {}
        let m = crate::MemoryMailer::new();
        takes(&m);
        let arc: std::sync::Arc<dyn Mailer> = std::sync::Arc::new(m);
        takes(&arc);
    }
}
