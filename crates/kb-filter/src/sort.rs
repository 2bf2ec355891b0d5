//! The `sort` query parameter: `-created,title,+author.name,@random`.

use crate::ast::Span;
use crate::error::{SyntaxError, quote_snippet};
use crate::lexer::is_identifier;
use crate::list::entries;

/// Most sort entries per request (PocketBase's limit).
pub const MAX_SORT_ITEMS: usize = 8;
/// Longest accepted sort field, in characters (PocketBase's limit).
pub const MAX_SORT_FIELD_LEN: usize = 255;

/// One `ORDER BY` term. `field` is an identifier as the filter lexer defines it (a field
/// path such as `author.name`, or a special such as `@random` / `@rowid`), still
/// unresolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortItem {
    pub field: String,
    pub descending: bool,
    /// The entry in the source, including its `-`/`+` prefix.
    pub span: Span,
}

/// Parses a comma list of sort fields: `-field` sorts descending, `field` or `+field`
/// ascending. Whitespace around entries is ignored and empty entries are skipped, so an
/// empty string yields no sorting.
pub fn parse_sort(src: &str) -> Result<Vec<SortItem>, SyntaxError> {
    // An empty entry (`title,,views`) names no field; PocketBase refuses it too.
    if !src.trim().is_empty() && src.split(',').any(|part| part.trim().is_empty()) {
        return Err(SyntaxError::new(
            "empty sort field",
            Span::new(0, src.len()),
        ));
    }
    let mut items = Vec::new();
    for (entry, span) in entries(src) {
        if items.len() == MAX_SORT_ITEMS {
            return Err(SyntaxError::new(
                format!("too many sort fields (max {MAX_SORT_ITEMS})"),
                span,
            ));
        }
        let (field, descending) = if let Some(field) = entry.strip_prefix('-') {
            (field, true)
        } else {
            (entry.strip_prefix('+').unwrap_or(entry), false)
        };
        if field.chars().count() > MAX_SORT_FIELD_LEN {
            return Err(SyntaxError::new(
                format!(
                    "sort field at {} is too long (max {MAX_SORT_FIELD_LEN} characters)",
                    span.start
                ),
                span,
            ));
        }
        if !is_identifier(field) {
            return Err(SyntaxError::new(
                format!(
                    "invalid sort field {} at {}",
                    quote_snippet(entry),
                    span.start
                ),
                span,
            ));
        }
        items.push(SortItem {
            field: field.to_owned(),
            descending,
            span,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(src: &str) -> Vec<(String, bool)> {
        parse_sort(src)
            .unwrap_or_else(|e| panic!("{src:?}: {e}"))
            .into_iter()
            .map(|item| (item.field, item.descending))
            .collect()
    }

    fn error(src: &str) -> String {
        parse_sort(src).unwrap_err().message
    }

    #[test]
    fn directions_and_specials() {
        assert_eq!(
            fields("-created,title,+author.name,@random,-@rowid,name:lower"),
            vec![
                ("created".to_owned(), true),
                ("title".to_owned(), false),
                ("author.name".to_owned(), false),
                ("@random".to_owned(), false),
                ("@rowid".to_owned(), true),
                ("name:lower".to_owned(), false),
            ]
        );
    }

    #[test]
    fn whitespace_and_empty_entries() {
        assert_eq!(fields(""), vec![]);
        assert_eq!(fields("   "), vec![]);
        assert_eq!(
            fields(" -a , b "),
            vec![("a".to_owned(), true), ("b".to_owned(), false)]
        );
        let items = parse_sort(" -a , b ").unwrap();
        assert_eq!(items[0].span, Span::new(1, 3));
        assert_eq!(items[1].span, Span::new(6, 7));
        for src in [" , ,", "a,,b", "a,", ",a"] {
            assert_eq!(error(src), "empty sort field", "{src:?}");
        }
    }

    #[test]
    fn invalid_fields() {
        assert_eq!(error("a,'b'"), "invalid sort field \"'b'\" at 2");
        assert_eq!(error("a b"), "invalid sort field \"a b\" at 0");
        assert_eq!(error("- a"), "invalid sort field \"- a\" at 0");
        for src in [
            "\"title\"",
            "random()",
            "a;drop",
            "-",
            "+",
            "--a",
            "-+a",
            "1a",
            "a-b",
            "(a)",
            "a/*x*/",
        ] {
            assert!(
                error(src).starts_with("invalid sort field"),
                "{src:?} should fail"
            );
        }
    }

    #[test]
    fn limits() {
        let eight = ["a"; MAX_SORT_ITEMS].join(",");
        assert_eq!(fields(&eight).len(), MAX_SORT_ITEMS);
        let nine = format!("{eight},b");
        let err = parse_sort(&nine).unwrap_err();
        assert_eq!(err.message, "too many sort fields (max 8)");
        assert_eq!(err.span, Span::new(16, 17));

        let longest = "é".repeat(MAX_SORT_FIELD_LEN);
        assert_eq!(
            fields(&format!("-{longest}")),
            vec![(longest.clone(), true)]
        );
        assert_eq!(
            error(&format!("a,{longest}x")),
            "sort field at 2 is too long (max 255 characters)"
        );
    }
}
