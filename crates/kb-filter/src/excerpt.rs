//! Plain-text excerpts of HTML for the `fields` modifier `:excerpt(max, withEllipsis?)`.
//!
//! This is a small, forgiving tag stripper rather than a full HTML parser: it only has to
//! produce readable text from rich-text field values, never fail, and run in linear time
//! on hostile input. Every position it slices at was found by searching for an ASCII
//! byte, so it can never cut a multi-byte character.

/// Elements whose content is never text: scripts, styles, embedded media, forms and other
/// widgets. Their content is dropped entirely.
const NON_TEXT: &[&str] = &[
    "applet", "audio", "button", "canvas", "dialog", "embed", "form", "head", "iframe", "img",
    "input", "map", "math", "noembed", "noframes", "noscript", "object", "option", "picture",
    "script", "select", "style", "svg", "template", "textarea", "title", "video", "xmp",
];

/// Elements whose content HTML does not parse for tags, so `<` inside them is not markup.
const RAW_TEXT: &[&str] = &[
    "iframe", "noembed", "noframes", "noscript", "script", "style", "textarea", "title", "xmp",
];

/// Elements that never have content or an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements that sit inside a line of text; every other element separates words, so
/// `<p>a</p><p>b</p>` reads "a b" while `a<b>b</b>` stays "ab".
const INLINE: &[&str] = &[
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "dfn", "em", "font",
    "i", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike", "strong", "sub",
    "sup", "time", "tt", "u", "var",
];

/// The visible text of `html` with whitespace collapsed, cut to at most `max` characters;
/// `...` is appended when something was cut and `ellipsis` is set.
pub(crate) fn excerpt(html: &str, max: usize, ellipsis: bool) -> String {
    let text = collapse_whitespace(&html_to_text(html));
    match text.char_indices().nth(max) {
        None => text,
        Some((cut, _)) => {
            let mut out = text[..cut].trim_end().to_owned();
            if ellipsis {
                out.push_str("...");
            }
            out
        }
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    // While inside a non-text element: its name and how many of them are open, so that
    // `<svg><svg></svg> hidden </svg>` stays hidden.
    let mut skipping: Option<(String, usize)> = None;
    let mut rest = html;
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            if skipping.is_none() {
                decode_entities_into(rest, &mut out);
            }
            break;
        };
        if skipping.is_none() {
            decode_entities_into(&rest[..lt], &mut out);
        }
        let (markup, after) = read_markup(&rest[lt..]);
        rest = after;
        match markup {
            Markup::LiteralLt => {
                if skipping.is_none() {
                    out.push('<');
                }
            }
            Markup::Ignored => {}
            Markup::Start { name, self_closing } => {
                if let Some((skipped, open)) = &mut skipping {
                    if *skipped == name && !self_closing {
                        *open += 1;
                    }
                    continue;
                }
                let tag = name.as_str();
                if !INLINE.contains(&tag) {
                    out.push(' ');
                }
                if RAW_TEXT.contains(&tag) {
                    rest = skip_raw_text(rest, tag);
                } else if NON_TEXT.contains(&tag) && !VOID.contains(&tag) && !self_closing {
                    skipping = Some((name, 1));
                }
            }
            Markup::End { name } => {
                if let Some((skipped, open)) = &mut skipping {
                    if *skipped == name {
                        *open -= 1;
                        if *open == 0 {
                            skipping = None;
                        }
                    }
                    continue;
                }
                if !INLINE.contains(&name.as_str()) {
                    out.push(' ');
                }
            }
        }
    }
    out
}

enum Markup {
    /// A `<` that does not open markup and so is text.
    LiteralLt,
    /// A comment, doctype, processing instruction or malformed end tag.
    Ignored,
    Start {
        name: String,
        self_closing: bool,
    },
    End {
        name: String,
    },
}

/// Reads the markup at the start of `s` (which starts with `<`), returning it and the
/// input after it. Unterminated markup swallows the rest of the input, as in browsers.
fn read_markup(s: &str) -> (Markup, &str) {
    let body = &s[1..];
    if let Some(comment) = body.strip_prefix("!--") {
        return (Markup::Ignored, after_needle(comment, "-->"));
    }
    if body.starts_with('!') || body.starts_with('?') {
        return (Markup::Ignored, after_needle(body, ">"));
    }
    if let Some(end) = body.strip_prefix('/') {
        if !end.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return (Markup::Ignored, after_needle(end, ">"));
        }
        let (name, attrs) = split_tag_name(end);
        return (Markup::End { name }, after_needle(attrs, ">"));
    }
    if !body.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return (Markup::LiteralLt, body);
    }
    let (name, attrs) = split_tag_name(body);
    let (self_closing, after) = skip_attributes(attrs);
    (Markup::Start { name, self_closing }, after)
}

/// Splits a tag name (lowercased) from what follows it.
fn split_tag_name(s: &str) -> (String, &str) {
    let len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
        .unwrap_or(s.len());
    (s[..len].to_ascii_lowercase(), &s[len..])
}

/// Skips attributes up to and including the closing `>`, honouring quoted values (which
/// may contain `>`). Returns whether the tag ended with `/>`.
fn skip_attributes(s: &str) -> (bool, &str) {
    let mut quote: Option<u8> = None;
    let mut last_unquoted = None;
    for (i, b) in s.bytes().enumerate() {
        match quote {
            Some(q) => {
                if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'>' => return (last_unquoted == Some(b'/'), &s[i + 1..]),
                b if !b.is_ascii_whitespace() => last_unquoted = Some(b),
                _ => {}
            },
        }
    }
    (false, "")
}

/// Skips the content of a raw-text element up to and including its end tag.
fn skip_raw_text<'a>(s: &'a str, name: &str) -> &'a str {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(found) = s.get(from..).and_then(|r| r.find("</")) {
        let at = from + found;
        let name_start = at + 2;
        let name_end = name_start + name.len();
        let matches_name = bytes
            .get(name_start..name_end)
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(name.as_bytes()));
        let terminated = bytes
            .get(name_end)
            .is_none_or(|b| b.is_ascii_whitespace() || *b == b'/' || *b == b'>');
        if matches_name && terminated {
            return after_needle(s.get(name_end..).unwrap_or(""), ">");
        }
        from = name_start;
    }
    ""
}

/// The part of `s` after the first `needle`, or nothing if it does not occur.
fn after_needle<'a>(s: &'a str, needle: &str) -> &'a str {
    match s.find(needle) {
        Some(i) => &s[i + needle.len()..],
        None => "",
    }
}

/// Appends `text` with character references (`&amp;`, `&#39;`, `&#x2014;`, ...) decoded.
/// Unknown or malformed references are kept as written.
fn decode_entities_into(text: &str, out: &mut String) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match decode_reference(after) {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// Decodes the reference at the start of `s` (just after `&`): the character and how many
/// bytes it spans. Numeric references may omit the `;`, as browsers allow.
fn decode_reference(s: &str) -> Option<(char, usize)> {
    if let Some(numeric) = s.strip_prefix('#') {
        let (radix, digits_at) = match numeric.strip_prefix(['x', 'X']) {
            Some(_) => (16, 2),
            None => (10, 1),
        };
        let digits = &s[digits_at..];
        let len = digits
            .find(|c: char| !c.is_digit(radix))
            .unwrap_or(digits.len());
        if len == 0 {
            return None;
        }
        let code = u32::from_str_radix(&digits[..len], radix).unwrap_or(u32::MAX);
        let c = match code {
            0 => '\u{FFFD}',
            code => char::from_u32(code).unwrap_or('\u{FFFD}'),
        };
        let semicolon = usize::from(digits[len..].starts_with(';'));
        return Some((c, digits_at + len + semicolon));
    }
    // Only look as far as the longest known name, so text full of `&` stays linear.
    let len = s.bytes().take(8).position(|b| b == b';')?;
    let c = match &s[..len] {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "bull" => '•',
        "middot" => '·',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        _ => return None,
    };
    Some((c, len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        collapse_whitespace(&html_to_text(html))
    }

    #[test]
    fn pocketbase_example() {
        assert_eq!(
            excerpt("<p>Hello <b>bold</b> world and more</p>", 12, true),
            "Hello bold w..."
        );
        assert_eq!(
            excerpt("<p>Hello <b>bold</b> world and more</p>", 12, false),
            "Hello bold w"
        );
    }

    #[test]
    fn truncation() {
        assert_eq!(excerpt("short", 5, true), "short");
        assert_eq!(excerpt("short", 100, true), "short");
        assert_eq!(excerpt("shorter", 5, true), "short...");
        assert_eq!(excerpt("ééééé", 3, true), "ééé...");
        // No dangling space before the ellipsis.
        assert_eq!(excerpt("Hello bold world", 11, true), "Hello bold...");
        assert_eq!(excerpt("abc", 0, true), "...");
        assert_eq!(excerpt("", 0, true), "");
    }

    #[test]
    fn strips_tags_and_collapses_whitespace() {
        assert_eq!(text("<p>a</p><p>b</p>"), "a b");
        assert_eq!(text("a<b>b</b>c"), "abc");
        assert_eq!(text("line<br>break<br/>x"), "line break x");
        assert_eq!(text("  a \n\t b  "), "a b");
        assert_eq!(text("<DIV CLASS=\"x\">Up</DIV>"), "Up");
        assert_eq!(text("<a href=\"x>y\" title='a>b'>link</a>"), "link");
        assert_eq!(
            text("<!-- hidden --> shown <!DOCTYPE html><?xml x?>"),
            "shown"
        );
        assert_eq!(text("1 < 2 and 3 <4"), "1 < 2 and 3 <4");
        assert_eq!(text("a </ b> c </>d"), "a c d");
        assert_eq!(text("unterminated <b"), "unterminated");
        assert_eq!(text("unterminated <!-- comment"), "unterminated");
    }

    #[test]
    fn drops_non_text_elements() {
        assert_eq!(text("a<script>if (x < y) { s = '</p>' }</script>b"), "a b");
        assert_eq!(text("a<style>p { color: red }</STYLE >b"), "a b");
        assert_eq!(text("a<img src=x alt=\"pic\">b"), "a b");
        assert_eq!(text("a<svg><svg><text>x</text></svg>y</svg>b"), "a b");
        assert_eq!(text("a<form><input><button>Go</button></form>b"), "a b");
        assert_eq!(text("a<svg/>b"), "a b");
        assert_eq!(text("a<script>never closed"), "a");
        assert_eq!(text("a<scripts>x</scripts>"), "a x");
        assert_eq!(text("<script>x</scriptx>y</script>z"), "z");
    }

    #[test]
    fn decodes_entities() {
        assert_eq!(
            text("&lt;b&gt; &amp; &quot;q&quot; &apos;a&#39; &#x2014;&#8212;&#X41"),
            "<b> & \"q\" 'a' ——A"
        );
        assert_eq!(text("a&nbsp;&nbsp;b"), "a b");
        assert_eq!(
            text("&unknown; & &amp &#; &#x; &#0; &#99999999999; &#xD800;"),
            "&unknown; & &amp &#; &#x; \u{FFFD} \u{FFFD} \u{FFFD}"
        );
        // Entities never become markup.
        assert_eq!(text("&lt;script&gt;x"), "<script>x");
    }
}
