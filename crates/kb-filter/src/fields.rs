//! The `fields` query parameter, which trims any JSON response down to the picked keys:
//! `fields=id,title,expand.author.name,body:excerpt(200,true)`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::ast::Span;
use crate::error::{SyntaxError, quote_snippet};
use crate::excerpt::excerpt;

/// Most segments in one `fields` path. Far beyond any real response, but it bounds the
/// recursion of [`FieldsPicker::apply`] (and of dropping the picker).
pub const MAX_FIELDS_DEPTH: usize = 32;

/// A parsed `fields` parameter. Build it with [`parse_fields`] and apply it to a response
/// body with [`FieldsPicker::apply`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldsPicker {
    root: Level,
}

/// The picks for the keys of one object.
#[derive(Debug, Clone, PartialEq, Default)]
struct Level {
    keys: BTreeMap<String, Pick>,
    /// Entries whose segment at this level is `*`; used for keys without an own entry.
    wildcard: Option<Box<Pick>>,
}

/// What to keep of one key's value.
#[derive(Debug, Clone, PartialEq, Default)]
struct Pick {
    /// Some entry ends at this key, so its value is kept whole (nested entries for the
    /// same key add nothing to that).
    whole: bool,
    /// The `:excerpt` of the last entry ending at this key, if it had one.
    excerpt: Option<Excerpt>,
    /// Entries that continue below this key.
    nested: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Excerpt {
    max: usize,
    ellipsis: bool,
}

impl FieldsPicker {
    /// Whether the picker keeps everything (an empty `fields` parameter).
    pub fn is_empty(&self) -> bool {
        self.root.is_empty()
    }

    /// Removes every key of `value` that was not picked, recursing into nested paths.
    /// An array is handled element by element; scalars are left alone, so does a path that
    /// goes deeper than the value. `:excerpt` turns picked string values into plain-text
    /// excerpts and leaves other values unchanged.
    pub fn apply(&self, value: &mut Value) {
        if !self.is_empty() {
            self.root.apply(value);
        }
    }

    fn insert(&mut self, path: &[&str], excerpt: Option<Excerpt>) {
        let mut level = &mut self.root;
        let mut segments = path.iter();
        let Some(last) = segments.next_back() else {
            return;
        };
        for segment in segments {
            level = &mut level.pick_mut(segment).nested;
        }
        let pick = level.pick_mut(last);
        pick.whole = true;
        pick.excerpt = excerpt;
    }
}

impl Level {
    fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.wildcard.is_none()
    }

    fn pick_mut(&mut self, segment: &str) -> &mut Pick {
        if segment == "*" {
            self.wildcard.get_or_insert_default()
        } else {
            self.keys.entry(segment.to_owned()).or_default()
        }
    }

    fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) => self.apply_to_object(map),
            Value::Array(items) => {
                // Nested arrays are walked with an explicit stack: their depth is up to
                // the data, not to the picker.
                let mut pending: Vec<&mut Value> = items.iter_mut().collect();
                while let Some(item) = pending.pop() {
                    match item {
                        Value::Object(map) => self.apply_to_object(map),
                        Value::Array(inner) => pending.extend(inner.iter_mut()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn apply_to_object(&self, map: &mut Map<String, Value>) {
        map.retain(|key, value| {
            // An explicit entry for a key replaces the wildcard for it entirely.
            match self.keys.get(key).or(self.wildcard.as_deref()) {
                Some(pick) => {
                    pick.apply(value);
                    true
                }
                None => false,
            }
        });
    }
}

impl Pick {
    fn apply(&self, value: &mut Value) {
        if !self.whole {
            self.nested.apply(value);
        } else if let (Some(Excerpt { max, ellipsis }), Value::String(s)) = (self.excerpt, value) {
            *s = excerpt(s, max, ellipsis);
        }
    }
}

/// Parses a `fields` parameter: a comma list (commas inside parentheses do not split) of
/// dot paths whose segments are keys or `*` (all keys at that level). The last segment
/// may carry the modifier `:excerpt(max, withEllipsis?)`. Whitespace around entries is
/// ignored and empty entries are skipped, so an empty string keeps everything. When the
/// same path is given twice, the last entry decides its modifier.
pub fn parse_fields(src: &str) -> Result<FieldsPicker, SyntaxError> {
    let mut picker = FieldsPicker::default();
    for (entry, span) in split_entries(src)? {
        let (path, modifier) = match entry.split_once(':') {
            Some((path, modifier)) => {
                let modifier_start = span.start + path.len() + 1;
                (path.trim_end(), Some((modifier, modifier_start)))
            }
            None => (entry, None),
        };
        let segments: Vec<&str> = path.split('.').collect();
        if segments.iter().any(|s| !is_key(s)) {
            return Err(SyntaxError::new(
                format!(
                    "invalid fields path {} at {}",
                    quote_snippet(path),
                    span.start
                ),
                Span::new(span.start, span.start + path.len()),
            ));
        }
        if segments.len() > MAX_FIELDS_DEPTH {
            return Err(SyntaxError::new(
                format!(
                    "fields path at {} is nested too deeply (max {MAX_FIELDS_DEPTH} levels)",
                    span.start
                ),
                span,
            ));
        }
        let excerpt = match modifier {
            Some((modifier, start)) => Some(parse_modifier(modifier, Span::new(start, span.end))?),
            None => None,
        };
        picker.insert(&segments, excerpt);
    }
    Ok(picker)
}

/// A key segment: anything but whitespace and parentheses (the splitting already
/// removed `,`, `.` and `:`). JSON keys need not be identifiers, so this stays lenient.
fn is_key(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c == '(' || c == ')')
}

/// Splits on commas outside parentheses; entries are trimmed and empty ones skipped.
fn split_entries(src: &str) -> Result<Vec<(&str, Span)>, SyntaxError> {
    let mut entries = Vec::new();
    let mut depth = 0usize;
    let mut open_at = 0;
    let mut entry_start = 0;
    let mut push = |start: usize, end: usize| {
        let part = &src[start..end];
        let trimmed = part.trim();
        if !trimmed.is_empty() {
            let at = start + (part.len() - part.trim_start().len());
            entries.push((trimmed, Span::new(at, at + trimmed.len())));
        }
    };
    for (i, b) in src.bytes().enumerate() {
        match b {
            b'(' => {
                if depth == 0 {
                    open_at = i;
                }
                depth += 1;
            }
            b')' if depth == 0 => {
                return Err(SyntaxError::new(
                    format!("unmatched \")\" at {i}"),
                    Span::new(i, i + 1),
                ));
            }
            b')' => depth -= 1,
            b',' if depth == 0 => {
                push(entry_start, i);
                entry_start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(SyntaxError::new(
            format!("missing \")\" for \"(\" at {open_at}"),
            Span::new(open_at, open_at + 1),
        ));
    }
    push(entry_start, src.len());
    Ok(entries)
}

/// Parses the text after `:`, e.g. `excerpt(200, true)`; `span` covers it in the source.
fn parse_modifier(modifier: &str, span: Span) -> Result<Excerpt, SyntaxError> {
    let error = |message: String| Err(SyntaxError::new(message, span));
    let modifier = modifier.trim();
    let (name, args) = match modifier.split_once('(') {
        Some((name, args)) => (name.trim_end(), Some(args)),
        None => (modifier, None),
    };
    if name != "excerpt" {
        return error(format!(
            "unknown fields modifier {} at {} (supported: excerpt)",
            quote_snippet(name),
            span.start
        ));
    }
    let Some(args) = args.and_then(|a| a.strip_suffix(')')) else {
        return error(format!(
            "invalid excerpt modifier at {}, expected excerpt(max, withEllipsis?)",
            span.start
        ));
    };
    let args: Vec<&str> = args.split(',').map(str::trim).collect();
    let (max, ellipsis) = match args.as_slice() {
        [max] => (*max, None),
        [max, ellipsis] => (*max, Some(*ellipsis)),
        _ => {
            return error(format!(
                "invalid excerpt modifier at {}, expected excerpt(max, withEllipsis?)",
                span.start
            ));
        }
    };
    let max = match max.parse::<usize>() {
        Ok(max) if max > 0 => max,
        _ => {
            return error(format!(
                "invalid excerpt max length {} at {} (expected a positive integer)",
                quote_snippet(max),
                span.start
            ));
        }
    };
    let ellipsis = match ellipsis.map(parse_bool) {
        None => false,
        Some(Some(ellipsis)) => ellipsis,
        Some(None) => {
            return error(format!(
                "invalid excerpt withEllipsis value {} at {} (expected true or false)",
                quote_snippet(ellipsis.unwrap_or_default()),
                span.start
            ));
        }
    };
    Ok(Excerpt { max, ellipsis })
}

/// The spellings Go's `strconv.ParseBool` accepts, which is what PocketBase uses here.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn picked(fields: &str, mut value: Value) -> Value {
        parse_fields(fields)
            .unwrap_or_else(|e| panic!("{fields:?}: {e}"))
            .apply(&mut value);
        value
    }

    fn error(src: &str) -> String {
        parse_fields(src).unwrap_err().message
    }

    fn record() -> Value {
        json!({
            "id": "r1",
            "title": "Hello",
            "body": "<p>Hello <b>bold</b> world and more</p>",
            "views": 10,
            "expand": {
                "author": {"id": "u1", "name": "Ann", "email": "a@x.io"},
                "tags": [
                    {"id": "t1", "name": "red", "color": "#f00"},
                    {"id": "t2", "name": "blue", "color": "#00f"}
                ]
            }
        })
    }

    #[test]
    fn empty_picker_keeps_everything() {
        for src in ["", "  ", " , ,"] {
            let picker = parse_fields(src).unwrap();
            assert!(picker.is_empty());
            let mut value = record();
            picker.apply(&mut value);
            assert_eq!(value, record());
        }
        assert!(!parse_fields("id").unwrap().is_empty());
    }

    #[test]
    fn top_level_keys() {
        assert_eq!(
            picked("id, title ,missing", record()),
            json!({"id": "r1", "title": "Hello"})
        );
    }

    #[test]
    fn keeps_source_key_order() {
        let value = picked("views,id", record());
        let keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["id", "views"]);
    }

    #[test]
    fn nested_paths_and_arrays() {
        assert_eq!(
            picked("id,expand.author.name,expand.tags.name", record()),
            json!({
                "id": "r1",
                "expand": {
                    "author": {"name": "Ann"},
                    "tags": [{"name": "red"}, {"name": "blue"}]
                }
            })
        );
        // The value itself may be a list; so may lists be nested.
        assert_eq!(
            picked(
                "id",
                json!([{"id": 1, "x": 2}, [{"id": 3, "y": 4}], "s", 5])
            ),
            json!([{"id": 1}, [{"id": 3}], "s", 5])
        );
        // A path deeper than the data keeps the scalar it ran into.
        assert_eq!(
            picked("title.x,views.y", record()),
            json!({"title": "Hello", "views": 10})
        );
        // The same for auth responses.
        assert_eq!(
            picked(
                "token,record.id",
                json!({"token": "t", "record": {"id": "u1", "email": "e"}, "meta": {}})
            ),
            json!({"token": "t", "record": {"id": "u1"}})
        );
    }

    #[test]
    fn whole_key_wins_over_nested_entries() {
        let full = record()["expand"].clone();
        assert_eq!(
            picked("expand.author.id,expand", record()),
            json!({"expand": full})
        );
        assert_eq!(
            picked("expand,expand.author.id", record()),
            json!({"expand": full})
        );
    }

    #[test]
    fn wildcard() {
        assert_eq!(picked("*", record()), record());
        // Explicit entries override `*` for their key.
        let mut expected = record();
        expected["expand"] = json!({"author": {"name": "Ann"}});
        assert_eq!(picked("*,expand.author.name", record()), expected);
        assert_eq!(
            picked("id,expand.*", record()),
            json!({"id": "r1", "expand": record()["expand"]})
        );
        // `*` in the middle of a path applies the rest to every key at that level.
        assert_eq!(
            picked("expand.*.id", record()),
            json!({"expand": {"author": {"id": "u1"}, "tags": [{"id": "t1"}, {"id": "t2"}]}})
        );
        assert_eq!(
            picked("expand.*.id,expand.author.name", record()),
            json!({"expand": {"author": {"name": "Ann"}, "tags": [{"id": "t1"}, {"id": "t2"}]}})
        );
    }

    #[test]
    fn excerpt_modifier() {
        assert_eq!(
            picked("id,body:excerpt(12,true)", record()),
            json!({"id": "r1", "body": "Hello bold w..."})
        );
        assert_eq!(
            picked("body:excerpt( 12 )", record()),
            json!({"body": "Hello bold w"})
        );
        assert_eq!(
            picked("body : excerpt (12, 0)", record()),
            json!({"body": "Hello bold w"})
        );
        assert_eq!(
            picked("body:excerpt(1000,true)", record()),
            json!({"body": "Hello bold world and more"})
        );
        // Non-string values are left as they are.
        assert_eq!(
            picked("views:excerpt(1,true),expand:excerpt(1)", record()),
            json!({"views": 10, "expand": record()["expand"]})
        );
        // On the wildcard: every string at that level.
        assert_eq!(
            picked(
                "*:excerpt(2,true),views",
                json!({"a": "abc", "b": "de", "views": "xyz"})
            ),
            json!({"a": "ab...", "b": "de", "views": "xyz"})
        );
        // The last entry for a path decides.
        assert_eq!(
            picked("title:excerpt(2,true),title", record()),
            json!({"title": "Hello"})
        );
        assert_eq!(
            picked("title,title:excerpt(2,true)", record()),
            json!({"title": "He..."})
        );
        // Nested, and through arrays.
        assert_eq!(
            picked("expand.tags.name:excerpt(2,t)", record()),
            json!({"expand": {"tags": [{"name": "re..."}, {"name": "bl..."}]}})
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(error("a,b)"), "unmatched \")\" at 3");
        assert_eq!(error("a,b:excerpt(1"), "missing \")\" for \"(\" at 11");
        assert_eq!(error("a..b"), "invalid fields path \"a..b\" at 0");
        assert_eq!(error("x, a b"), "invalid fields path \"a b\" at 3");
        assert_eq!(error("a(1)"), "invalid fields path \"a(1)\" at 0");
        assert_eq!(error(":excerpt(1)"), "invalid fields path \"\" at 0");
        assert_eq!(
            error("a:lower"),
            "unknown fields modifier \"lower\" at 2 (supported: excerpt)"
        );
        assert_eq!(
            error("a:excerpt"),
            "invalid excerpt modifier at 2, expected excerpt(max, withEllipsis?)"
        );
        for src in [
            "a:excerpt()",
            "a:excerpt(1,true,3)",
            "a:excerpt(1)x",
            "a:excerpt(1):b",
        ] {
            assert!(error(src).starts_with("invalid excerpt"), "{src:?}");
        }
        assert_eq!(
            error("a:excerpt(0)"),
            "invalid excerpt max length \"0\" at 2 (expected a positive integer)"
        );
        for src in [
            "a:excerpt(-1)",
            "a:excerpt(1.5)",
            "a:excerpt(x)",
            "a:excerpt(99999999999999999999999)",
        ] {
            assert!(
                error(src).starts_with("invalid excerpt max length"),
                "{src:?}"
            );
        }
        assert_eq!(
            error("a:excerpt(1, yes)"),
            "invalid excerpt withEllipsis value \"yes\" at 2 (expected true or false)"
        );
        let deep = vec!["a"; MAX_FIELDS_DEPTH + 1].join(".");
        assert_eq!(
            error(&deep),
            "fields path at 0 is nested too deeply (max 32 levels)"
        );
        assert!(parse_fields(&vec!["a"; MAX_FIELDS_DEPTH].join(".")).is_ok());
    }

    #[test]
    fn error_spans() {
        assert_eq!(parse_fields("id, a b").unwrap_err().span, Span::new(4, 7));
        assert_eq!(
            parse_fields("id,a:nope(1)").unwrap_err().span,
            Span::new(5, 12)
        );
    }
}
