//! The one error type shared by the four parsers.

use crate::ast::Span;

/// A filter, sort, expand or fields string that does not follow its grammar or limits.
///
/// `message` is meant for API clients and already names the position ("... at 5") where
/// that helps; positions are 0-based byte offsets into the source, like `span`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

impl SyntaxError {
    pub(crate) fn new(message: impl Into<String>, span: Span) -> Self {
        SyntaxError {
            message: message.into(),
            span,
        }
    }
}

/// Quotes a piece of source for an error message, shortened so that a 3500-character text
/// literal does not end up verbatim in the response.
pub(crate) fn quote_snippet(s: &str) -> String {
    const MAX_CHARS: usize = 40;
    match s.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{:?}", format!("{}...", &s[..cut])),
        None => format!("{s:?}"),
    }
}
