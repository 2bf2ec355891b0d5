//! HTML → plain text for the `text/plain` alternative of a message.
//!
//! Deliberately small (no DOM): good enough for email templates, never panics, linear time.

/// Elements whose content is dropped entirely.
const SKIPPED: &[&str] = &[
    "head", "title", "style", "script", "iframe", "applet", "object", "svg", "template",
    "textarea", "select", "option", "button",
];

/// Elements that do not start a new line (everything else does).
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i", "img",
    "input", "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike", "strong",
    "sub", "sup", "time", "tt", "u", "var", "wbr",
];

/// Converts an HTML document to readable plain text, the way PocketBase derives the plain
/// part of a mail:
///
/// * tags are removed; `head`, `style`, `script` and similar elements are dropped with
///   their content; comments are dropped;
/// * a link becomes `[text](href)` (just the URL when the text is the URL itself or empty);
/// * block elements (`p`, `div`, `tr`, headings, ...) start a new line, `<br>` always
///   breaks the line, list items are prefixed with `- `;
/// * character references (`&amp;`, `&#39;`, `&#x1F600;`, `&nbsp;`, ...) are decoded;
/// * runs of whitespace collapse to one space, lines are trimmed, and so is the result.
pub fn html_to_text(html: &str) -> String {
    let mut w = Writer::default();
    let bytes = html.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            let end = memchr(b'<', bytes, i).unwrap_or(bytes.len());
            w.text(&decode_entities(&html[i..end]));
            i = end;
            continue;
        }
        let rest = &html[i..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            i = comment.find("-->").map_or(bytes.len(), |p| i + 4 + p + 3);
        } else if rest.starts_with("<!") || rest.starts_with("<?") {
            i = memchr(b'>', bytes, i).map_or(bytes.len(), |p| p + 1);
        } else if rest.starts_with("</") && rest[2..].starts_with(|c: char| c.is_ascii_alphabetic())
        {
            let (name, _) = tag_name(&html[i + 2..]);
            w.close(&name);
            i = memchr(b'>', bytes, i).map_or(bytes.len(), |p| p + 1);
        } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            let tag = parse_open_tag(html, i + 1);
            i = tag.end;
            if SKIPPED.contains(&tag.name.as_str()) && !tag.self_closing {
                i = skip_element(html, i, &tag.name);
            } else {
                w.open(&tag);
            }
        } else {
            w.text("<");
            i += 1;
        }
    }
    w.finish()
}

#[derive(Default)]
struct Writer {
    out: String,
    pending_space: bool,
    /// Open links: (href, where their text starts in `out`).
    links: Vec<(Option<String>, usize)>,
}

impl Writer {
    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn flush_space(&mut self) {
        if self.pending_space && !self.at_line_start() {
            self.out.push(' ');
        }
        self.pending_space = false;
    }

    fn text(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.pending_space = true;
            } else {
                self.flush_space();
                self.out.push(c);
            }
        }
    }

    fn trim_line_end(&mut self) {
        let len = self.out.trim_end_matches([' ', '\t']).len();
        self.out.truncate(len);
    }

    fn soft_newline(&mut self) {
        self.pending_space = false;
        self.trim_line_end();
        if !self.at_line_start() {
            self.out.push('\n');
        }
    }

    fn hard_newline(&mut self) {
        self.pending_space = false;
        self.trim_line_end();
        self.out.push('\n');
    }

    fn open(&mut self, tag: &Tag) {
        match tag.name.as_str() {
            "br" => self.hard_newline(),
            "a" => {
                self.flush_space();
                if !tag.self_closing {
                    self.links.push((tag.href.clone(), self.out.len()));
                }
            }
            "li" => {
                self.soft_newline();
                self.out.push_str("- ");
            }
            name if INLINE.contains(&name) => {}
            _ => self.soft_newline(),
        }
    }

    fn close(&mut self, name: &str) {
        match name {
            "a" => {
                let Some((href, start)) = self.links.pop() else {
                    return;
                };
                let start = start.min(self.out.len());
                let label: String = self.out[start..]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                self.out.truncate(start);
                match href.filter(|h| !h.is_empty()) {
                    Some(href) if label.is_empty() || label == href => self.out.push_str(&href),
                    Some(href) => {
                        self.out.push('[');
                        self.out.push_str(&label);
                        self.out.push_str("](");
                        self.out.push_str(&href);
                        self.out.push(')');
                    }
                    None => self.out.push_str(&label),
                }
            }
            "br" => {}
            name if INLINE.contains(&name) => {}
            _ => self.soft_newline(),
        }
    }

    fn finish(mut self) -> String {
        self.trim_line_end();
        self.out.trim().to_owned()
    }
}

struct Tag {
    name: String,
    href: Option<String>,
    self_closing: bool,
    /// Byte index just past the closing `>`.
    end: usize,
}

fn memchr(needle: u8, haystack: &[u8], from: usize) -> Option<usize> {
    haystack[from..]
        .iter()
        .position(|&b| b == needle)
        .map(|p| p + from)
}

/// Reads a tag name (ASCII letters, digits, `-`, `:`), lower-cased.
fn tag_name(s: &str) -> (String, usize) {
    let len = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
        .unwrap_or(s.len());
    (s[..len].to_ascii_lowercase(), len)
}

/// Parses `name attr=value ... >` starting at `start` (just after `<`).
fn parse_open_tag(html: &str, start: usize) -> Tag {
    let bytes = html.as_bytes();
    let (name, len) = tag_name(&html[start..]);
    let mut i = start + len;
    let mut href = None;
    let mut self_closing = false;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            self_closing = bytes[i] == b'/';
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        if bytes[i] == b'>' {
            i += 1;
            break;
        }
        self_closing = false;
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let attr = html[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let value_start = i + 1;
                let value_end = memchr(quote, bytes, value_start).unwrap_or(bytes.len());
                i = (value_end + 1).min(bytes.len());
                &html[value_start..value_end]
            } else {
                let value_start = i;
                while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                &html[value_start..i]
            };
            if attr == "href" && href.is_none() {
                href = Some(decode_entities(value).trim().to_owned());
            }
        } else if i == name_start {
            // A stray character (`=` without a name): step over it.
            i += 1;
        }
    }
    Tag {
        name,
        href,
        self_closing,
        end: i,
    }
}

/// Skips to just past `</name ...>` (ASCII case-insensitive), or to the end.
fn skip_element(html: &str, from: usize, name: &str) -> usize {
    let bytes = html.as_bytes();
    let mut i = from;
    while let Some(p) = memchr(b'<', bytes, i) {
        let rest = &bytes[p..];
        if rest.len() >= 2 + name.len()
            && rest[1] == b'/'
            && rest[2..2 + name.len()].eq_ignore_ascii_case(name.as_bytes())
            && rest
                .get(2 + name.len())
                .is_none_or(|b| !b.is_ascii_alphanumeric())
        {
            return memchr(b'>', bytes, p).map_or(bytes.len(), |e| e + 1);
        }
        i = p + 1;
    }
    bytes.len()
}

/// Decodes HTML character references; unknown ones are kept as written.
pub(crate) fn decode_entities(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('&') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(p) = rest.find('&') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map_or(rest.len(), |e| e + 1);
        let entity = &rest[1..end];
        match entity_char(entity) {
            Some(c) => {
                out.push(c);
                rest = &rest[end..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn entity_char(entity: &str) -> Option<char> {
    if let Some(num) = entity.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|&c| c != '\0');
    }
    Some(match entity {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "laquo" => '«',
        "raquo" => '»',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "bull" => '•',
        "middot" => '·',
        "euro" => '€',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_and_collapses_whitespace() {
        let html = "<html><head><title>T</title><style>p { color: red }</style></head>\n\
                    <body>\n  <p>Hello,\n     <strong>world</strong>!</p>\n\n\n<div>Second   line</div></body></html>";
        assert_eq!(html_to_text(html), "Hello, world!\nSecond line");
    }

    #[test]
    fn keeps_link_urls() {
        let html = r#"<p>Click <a href="https://example.com/verify?a=1&amp;b=2" class="btn">Verify
            email</a> to continue.</p><p><a href="https://x.y/">https://x.y/</a></p><a href="">bare</a>"#;
        assert_eq!(
            html_to_text(html),
            "Click [Verify email](https://example.com/verify?a=1&b=2) to continue.\nhttps://x.y/\nbare"
        );
    }

    #[test]
    fn breaks_lists_and_entities() {
        let html = "<ul><li>one</li><li>two &amp; three</li></ul>a<br>b<br/><br>c &lt;tag&gt; &#39;q&#x27; &euro;&unknown; &";
        assert_eq!(
            html_to_text(html),
            "- one\n- two & three\na\nb\n\nc <tag> 'q' €&unknown; &"
        );
    }

    #[test]
    fn drops_comments_scripts_and_survives_garbage() {
        let html = "<!DOCTYPE html><!-- secret --><script>alert('<p>x</p>')</script>ok <SCRIPT>x</SCRIPT>fine";
        assert_eq!(html_to_text(html), "ok fine");
        for garbage in [
            "<",
            "<a",
            "<a href=",
            "<a href='x",
            "</",
            "&#xFFFFFFFF;",
            "<!--",
            "a < b > c",
            "<p/>",
        ] {
            let _ = html_to_text(garbage);
        }
        assert_eq!(html_to_text("a < b"), "a < b");
        assert_eq!(html_to_text("<script>never closed"), "");
    }
}
