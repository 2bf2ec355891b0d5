//! The `expand` query parameter: `author,comments_via_post.user,tags.parent`.

use std::collections::HashSet;

use crate::error::{SyntaxError, quote_snippet};
use crate::list::entries;

/// Deepest accepted relation path (PocketBase's limit).
pub const MAX_EXPAND_DEPTH: usize = 6;

/// Parses a comma list of relation paths into their segments, in order of first
/// appearance. Every segment must match `^\w+$` (ASCII letters, digits, `_`), as field
/// and collection names do; the relations themselves are resolved later. Whitespace
/// around entries is ignored, empty entries are skipped and repeated paths kept once.
pub fn parse_expand(src: &str) -> Result<Vec<Vec<String>>, SyntaxError> {
    let mut paths = Vec::new();
    let mut seen = HashSet::new();
    for (entry, span) in entries(src) {
        let segments: Vec<&str> = entry.split('.').collect();
        if let Some(bad) = segments.iter().find(|s| !is_name(s)) {
            let message = if bad.is_empty() {
                format!(
                    "empty segment in expand path {} at {}",
                    quote_snippet(entry),
                    span.start
                )
            } else {
                format!(
                    "invalid expand path {} at {}",
                    quote_snippet(entry),
                    span.start
                )
            };
            return Err(SyntaxError::new(message, span));
        }
        if segments.len() > MAX_EXPAND_DEPTH {
            return Err(SyntaxError::new(
                format!(
                    "expand path at {} is nested too deeply (max {MAX_EXPAND_DEPTH} levels)",
                    span.start
                ),
                span,
            ));
        }
        if seen.insert(entry) {
            paths.push(segments.into_iter().map(str::to_owned).collect());
        }
    }
    Ok(paths)
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Span;

    fn paths(src: &str) -> Vec<Vec<String>> {
        parse_expand(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
    }

    fn error(src: &str) -> String {
        parse_expand(src).unwrap_err().message
    }

    #[test]
    fn paths_in_order() {
        assert_eq!(
            paths("author,comments_via_post.user,tags.parent"),
            vec![
                vec!["author"],
                vec!["comments_via_post", "user"],
                vec!["tags", "parent"],
            ]
        );
    }

    #[test]
    fn whitespace_empty_entries_and_duplicates() {
        assert_eq!(paths(""), Vec::<Vec<String>>::new());
        assert_eq!(paths(" ,, "), Vec::<Vec<String>>::new());
        assert_eq!(paths(" a.b , a, a.b,,a "), vec![vec!["a", "b"], vec!["a"]]);
    }

    #[test]
    fn invalid_segments() {
        assert_eq!(error("a,b.c-d"), "invalid expand path \"b.c-d\" at 2");
        assert_eq!(error("a..b"), "empty segment in expand path \"a..b\" at 0");
        assert_eq!(error(".a"), "empty segment in expand path \".a\" at 0");
        assert_eq!(error("a."), "empty segment in expand path \"a.\" at 0");
        for src in ["a b", "a:each", "@request", "é", "a(b)", "'a'", "a*"] {
            assert!(error(src).starts_with("invalid expand path"), "{src:?}");
        }
    }

    #[test]
    fn depth_limit() {
        assert_eq!(paths("a.b.c.d.e.f")[0].len(), MAX_EXPAND_DEPTH);
        let err = parse_expand("x, a.b.c.d.e.f.g").unwrap_err();
        assert_eq!(
            err.message,
            "expand path at 3 is nested too deeply (max 6 levels)"
        );
        assert_eq!(err.span, Span::new(3, 16));
    }
}
