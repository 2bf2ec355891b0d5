//! What a stored file is: its content type (from its first bytes, then its name) and whether
//! a browser may show it inline on our origin.

/// How many leading bytes are read to recognise a file.
pub const SNIFF_BYTES: usize = 8192;

/// Content types shown inline; everything else is sent as an attachment, so no uploaded
/// document, script or markup ever renders as a page of ours.
const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpg",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
    "video/webm",
    "video/mp4",
    "video/3gpp",
    "video/quicktime",
    "video/x-ms-wmv",
    "audio/basic",
    "audio/aiff",
    "audio/x-aiff",
    "audio/mpeg",
    "audio/midi",
    "audio/x-midi",
    "audio/mp3",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-mpeg",
    "audio/x-m4a",
    "audio/m4a",
    "audio/aac",
    "audio/ogg",
    "application/pdf",
    "application/x-pdf",
];

/// The `Content-Type` of a stored file named `name` whose content starts with `head`.
///
/// Binary formats are recognised by their signature first, so an image type (one that is
/// shown inline) is only ever claimed for content that is one. A few text formats are
/// named by extension, as browsers need them so; other text is typed by its extension
/// with a UTF-8 charset, and unrecognised binary content is `application/octet-stream`.
pub fn content_type(name: &str, head: &[u8]) -> String {
    let ext = extension(name);
    match ext.as_str() {
        "svg" => return "image/svg+xml".into(),
        "css" => return "text/css".into(),
        "js" | "mjs" => return "text/javascript".into(),
        _ => {}
    }
    if let Some(kind) = infer::get(head) {
        let mime = kind.mime_type();
        return if mime.starts_with("text/") {
            format!("{mime}; charset=utf-8")
        } else {
            mime.to_owned()
        };
    }
    if looks_like_text(head) {
        let guessed = mime_guess::from_ext(&ext)
            .iter()
            .find(|m| is_textual(m.essence_str()))
            .map(|m| m.essence_str().to_owned());
        let essence = guessed.unwrap_or_else(|| "text/plain".into());
        return format!("{essence}; charset=utf-8");
    }
    "application/octet-stream".into()
}

/// Whether a response of this content type may be displayed inline.
pub fn is_inline(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    INLINE_TYPES.contains(&essence.as_str())
}

/// The extension to give an upload whose name has none, from its first bytes
/// (`txt` for text).
pub fn detect_extension(head: &[u8]) -> Option<&'static str> {
    if let Some(kind) = infer::get(head) {
        return Some(kind.extension());
    }
    (!head.is_empty() && looks_like_text(head)).then_some("txt")
}

/// The content type an upload's bytes show, whatever its name claims: what a file field's
/// `mimeTypes` are checked against. Binary formats by signature; text as HTML, XML, SVG,
/// JSON or plain text.
pub fn sniff_mime(head: &[u8]) -> &'static str {
    let is_text = looks_like_text(head);
    let mentions_svg = || is_text && head.windows(4).any(|w| w.eq_ignore_ascii_case(b"<svg"));
    match infer::get(head).map(|kind| kind.mime_type()) {
        Some("text/xml" | "application/xml") if mentions_svg() => "image/svg+xml",
        Some(mime) => mime,
        None if !is_text => "application/octet-stream",
        None if mentions_svg() => "image/svg+xml",
        None if looks_like_json(head) => "application/json",
        None => "text/plain",
    }
}

/// A whole JSON object or array (a file longer than the sniffed head is not judged JSON).
fn looks_like_json(head: &[u8]) -> bool {
    let trimmed = head.trim_ascii_start();
    matches!(trimmed.first(), Some(b'{' | b'['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok()
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_textual(essence: &str) -> bool {
    essence.starts_with("text/")
        || matches!(
            essence,
            "application/json" | "application/xml" | "application/javascript"
        )
        || essence.ends_with("+xml")
        || essence.ends_with("+json")
}

/// UTF-8 without NUL bytes (a multi-byte character cut at the end of `head` is fine).
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(error) => error.error_len().is_none() && head.len() - error.valid_up_to() < 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn types_as_pocketbase_serves_them() {
        assert_eq!(content_type("a.png", PNG), "image/png");
        assert_eq!(content_type("a.PNG", PNG), "image/png");
        assert_eq!(content_type("noext", PNG), "image/png");
        assert_eq!(
            content_type("p.html", b"<html></html>"),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type("n.txt", b"hello"), "text/plain; charset=utf-8");
        assert_eq!(content_type("s.svg", b"<svg/>"), "image/svg+xml");
        assert_eq!(content_type("s.css", b"body{}"), "text/css");
        assert_eq!(content_type("a.js", b"x"), "text/javascript");
        assert_eq!(content_type("a.mjs", b"x"), "text/javascript");
        assert_eq!(
            content_type("b.bin", &[0, 1, 2, 0xff, 0xfe]),
            "application/octet-stream"
        );
        // A page disguised as an image is not typed as one.
        assert_eq!(
            content_type("x.png", b"<script>"),
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn inline_only_for_safe_types() {
        assert!(is_inline("image/png") && is_inline("application/pdf") && is_inline("video/mp4"));
        for unsafe_type in [
            "text/html; charset=utf-8",
            "image/svg+xml",
            "text/plain; charset=utf-8",
            "text/javascript",
            "application/octet-stream",
        ] {
            assert!(!is_inline(unsafe_type), "{unsafe_type}");
        }
    }

    #[test]
    fn mime_types_from_content_alone() {
        assert_eq!(sniff_mime(PNG), "image/png");
        assert_eq!(sniff_mime(b"hello"), "text/plain");
        assert_eq!(sniff_mime(b""), "text/plain");
        assert_eq!(sniff_mime(b" {\"a\": [1]}"), "application/json");
        assert_eq!(sniff_mime(b"{\"a\": "), "text/plain");
        assert_eq!(sniff_mime(b"<html><body>x</body></html>"), "text/html");
        assert_eq!(
            sniff_mime(b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            "image/svg+xml"
        );
        assert_eq!(sniff_mime(b"<svg></svg>"), "image/svg+xml");
        assert_eq!(sniff_mime(&[0, 1, 2, 0xff]), "application/octet-stream");
    }

    #[test]
    fn extensions_from_content() {
        assert_eq!(detect_extension(PNG), Some("png"));
        assert_eq!(detect_extension(b"data\n"), Some("txt"));
        assert_eq!(detect_extension(&[0, 159, 146, 150]), None);
        assert_eq!(detect_extension(b""), None);
    }
}
