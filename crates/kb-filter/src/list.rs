//! Splitting of the comma lists used by `sort` and `expand`.

use crate::ast::Span;

/// The comma-separated entries of `src`, trimmed, with empty ones skipped, each with its
/// span in `src`.
pub(crate) fn entries(src: &str) -> impl Iterator<Item = (&str, Span)> {
    let mut offset = 0;
    src.split(',').filter_map(move |part| {
        let part_start = offset;
        offset += part.len() + 1;
        let trimmed = part.trim();
        if trimmed.is_empty() {
            return None;
        }
        let start = part_start + (part.len() - part.trim_start().len());
        Some((trimmed, Span::new(start, start + trimmed.len())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_skips_empty_entries() {
        let got: Vec<_> = entries(" a , ,b,, c d ,").collect();
        assert_eq!(
            got,
            vec![
                ("a", Span::new(1, 2)),
                ("b", Span::new(6, 7)),
                ("c d", Span::new(10, 13)),
            ]
        );
        assert_eq!(entries("").count(), 0);
        assert_eq!(entries(" , ,").count(), 0);
    }
}
