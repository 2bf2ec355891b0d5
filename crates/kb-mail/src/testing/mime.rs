//! A small MIME reader for what the sink receives: header unfolding, RFC 2047 encoded
//! words, `multipart/*` bodies, quoted-printable and base64 transfer encodings, UTF-8 /
//! US-ASCII / ISO-8859-1 charsets. Enough to read lettre's output; not a general parser.

use base64::Engine as _;

use crate::message::Address;

/// The decoded parts of a message.
pub(crate) struct Parsed {
    /// Unfolded headers, values decoded from RFC 2047.
    pub headers: Vec<(String, String)>,
    pub from: Option<Address>,
    pub to: Vec<Address>,
    pub text: Option<String>,
    pub html: Option<String>,
}

pub(crate) fn parse(raw: &[u8]) -> Parsed {
    let raw = String::from_utf8_lossy(raw);
    let (head, body) = split_head_body(&raw);
    let raw_headers = unfold(head);
    let to = raw_headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("To"))
        .flat_map(|(_, v)| parse_address_list(v))
        .collect();
    let from = header(&raw_headers, "From").and_then(|v| parse_address_list(v).into_iter().next());
    let mut parsed = Parsed {
        headers: raw_headers
            .iter()
            .map(|(n, v)| (n.clone(), decode_words(v)))
            .collect(),
        from,
        to,
        text: None,
        html: None,
    };
    walk(&raw_headers, body, &mut parsed, 0);
    parsed
}

fn split_head_body(raw: &str) -> (&str, &str) {
    match (raw.find("\r\n\r\n"), raw.find("\n\n")) {
        (Some(crlf), lf) if lf.is_none_or(|lf| crlf < lf) => (&raw[..crlf], &raw[crlf + 4..]),
        (_, Some(lf)) => (&raw[..lf], &raw[lf + 2..]),
        _ => (raw, ""),
    }
}

/// Header lines → `(name, raw value)`, continuation lines joined.
fn unfold(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `type/subtype; a=b; c="d"` → (lower-cased type, parameters with lower-cased names).
fn content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = split_outside_quotes(value, ';').into_iter();
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), unquote(v.trim())))
        })
        .collect();
    (mime, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn walk(headers: &[(String, String)], body: &str, out: &mut Parsed, depth: usize) {
    let (mime, params) = content_type(header(headers, "Content-Type").unwrap_or("text/plain"));
    if mime.starts_with("multipart/") {
        let Some(boundary) = param(&params, "boundary") else {
            return;
        };
        if depth > 8 {
            return;
        }
        for part in split_multipart(body, boundary) {
            let (head, body) = split_head_body_part(part);
            walk(&unfold(head), body, out, depth + 1);
        }
        return;
    }
    let is_attachment = header(headers, "Content-Disposition").is_some_and(|d| {
        d.trim_start()
            .to_ascii_lowercase()
            .starts_with("attachment")
    });
    let slot = match mime.as_str() {
        "text/plain" if !is_attachment => &mut out.text,
        "text/html" if !is_attachment => &mut out.html,
        _ => return,
    };
    if slot.is_none() {
        let encoding = header(headers, "Content-Transfer-Encoding").unwrap_or("7bit");
        let bytes = decode_transfer(body, encoding);
        let text = decode_charset(&bytes, param(&params, "charset").unwrap_or("utf-8"));
        // Trailing line breaks are framing (lettre ends every part with CRLF, and
        // the DATA terminator adds one), not content.
        let text = text.replace("\r\n", "\n");
        *slot = Some(text.trim_end_matches('\n').to_owned());
    }
}

/// A part may start directly with its body (no headers): then the head is empty.
fn split_head_body_part(part: &str) -> (&str, &str) {
    if let Some(body) = part.strip_prefix("\r\n") {
        ("", body)
    } else if let Some(body) = part.strip_prefix('\n') {
        ("", body)
    } else {
        split_head_body(part)
    }
}

/// The parts between `--boundary` lines, up to `--boundary--`.
fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut current: Option<usize> = None;
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed == delimiter || trimmed == format!("{delimiter}--") {
            if let Some(start) = current {
                let part = &body[start..offset];
                let part = part
                    .strip_suffix("\r\n")
                    .or_else(|| part.strip_suffix('\n'))
                    .unwrap_or(part);
                parts.push(part);
            }
            if trimmed.ends_with("--") && trimmed != delimiter {
                return parts;
            }
            current = Some(offset + line.len());
        }
        offset += line.len();
    }
    parts
}

fn decode_transfer(body: &str, encoding: &str) -> Vec<u8> {
    match encoding.trim().to_ascii_lowercase().as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact.as_bytes())
                .unwrap_or_else(|_| body.as_bytes().to_vec())
        }
        _ => body.as_bytes().to_vec(),
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` escapes, `=` at a line end is a soft break.
pub(crate) fn decode_quoted_printable(body: &str) -> Vec<u8> {
    let bytes = body.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'=' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0));
                i += 3;
            }
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

fn decode_charset(bytes: &[u8], charset: &str) -> String {
    let charset = charset.trim().to_ascii_lowercase();
    if matches!(
        charset.as_str(),
        "iso-8859-1" | "latin1" | "latin-1" | "iso8859-1"
    ) {
        bytes.iter().map(|&b| char::from(b)).collect()
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`) in a header
/// value; whitespace between adjacent encoded words is dropped, as the RFC says.
pub(crate) fn decode_words(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_charset = String::new();
    let mut rest = value;
    let mut after_word = false;
    let flush = |out: &mut String, pending: &mut Vec<u8>, charset: &str| {
        if !pending.is_empty() {
            out.push_str(&decode_charset(pending, charset));
            pending.clear();
        }
    };
    while let Some(start) = rest.find("=?") {
        let Some((charset, bytes, len)) = encoded_word(&rest[start..]) else {
            flush(&mut out, &mut pending, &pending_charset);
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            after_word = false;
            continue;
        };
        let between = &rest[..start];
        if !(after_word && between.trim().is_empty()) {
            flush(&mut out, &mut pending, &pending_charset);
            out.push_str(between);
        }
        if charset != pending_charset {
            flush(&mut out, &mut pending, &pending_charset);
            pending_charset = charset;
        }
        pending.extend_from_slice(&bytes);
        rest = &rest[start + len..];
        after_word = true;
    }
    flush(&mut out, &mut pending, &pending_charset);
    out.push_str(rest);
    out
}

/// Parses one `=?charset?enc?text?=` at the start of `s`: (charset, bytes, length).
fn encoded_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    if charset.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    let len = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    let bytes = match encoding {
        "b" | "B" => base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .ok()?,
        "q" | "Q" => decode_quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    let charset = charset
        .split('*')
        .next()
        .unwrap_or(charset)
        .to_ascii_lowercase();
    Some((charset, bytes, len))
}

fn split_outside_quotes(s: &str, separator: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut angle = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                escaped = true;
                current.push(c);
                continue;
            }
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            c if c == separator && !quoted && !angle => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

fn unquote(s: &str) -> String {
    match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if escaped || c != '\\' {
                    out.push(c);
                    escaped = false;
                } else {
                    escaped = true;
                }
            }
            out
        }
        None => s.to_owned(),
    }
}

/// `"Name" <a@b>, =?utf-8?b?...?= <c@d>, e@f` → addresses (names decoded).
pub(crate) fn parse_address_list(value: &str) -> Vec<Address> {
    split_outside_quotes(value, ',')
        .into_iter()
        .filter_map(|mailbox| {
            let mailbox = mailbox.trim();
            if mailbox.is_empty() {
                return None;
            }
            Some(match (mailbox.rfind('<'), mailbox.rfind('>')) {
                (Some(open), Some(close)) if open < close => Address::new(
                    unquote(decode_words(mailbox[..open].trim()).trim()),
                    mailbox[open + 1..close].trim(),
                ),
                _ => Address::email(mailbox),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_encoded_words() {
        assert_eq!(decode_words("plain"), "plain");
        assert_eq!(decode_words("=?utf-8?b?SGVsbG8gd8O2cmxk?="), "Hello wörld");
        assert_eq!(
            decode_words("=?UTF-8?Q?Gr=C3=BC=C3=9Fe_dich?="),
            "Grüße dich"
        );
        // Adjacent words: the space between them disappears; a split character survives.
        assert_eq!(decode_words("=?utf-8?b?w7Y=?= =?utf-8?b?w7Y=?= x"), "öö x");
        assert_eq!(decode_words("=?utf-8?q?=C3?=\r\n =?utf-8?q?=B6?="), "ö");
        assert_eq!(decode_words("a =?utf-8?q?b?= c"), "a b c");
        assert_eq!(decode_words("=?bogus"), "=?bogus");
        assert_eq!(decode_words("=?iso-8859-1?q?caf=E9?="), "café");
    }

    #[test]
    fn decodes_quoted_printable() {
        assert_eq!(
            decode_quoted_printable("a=3Db=\r\nc=C3=A9 =XY="),
            "a=bcé =XY=".as_bytes()
        );
    }

    #[test]
    fn parses_address_lists() {
        let list = parse_address_list(
            r#""Doe, John" <john@x.test>, =?utf-8?b?SsO2cmc=?= <j@x.test>, bare@x.test"#,
        );
        assert_eq!(
            list,
            vec![
                Address::new("Doe, John", "john@x.test"),
                Address::new("Jörg", "j@x.test"),
                Address::email("bare@x.test"),
            ]
        );
    }

    #[test]
    fn parses_multipart_alternative() {
        let raw = "Subject: =?utf-8?b?w5w=?=\r\nTo: a@b.c\r\nContent-Type: multipart/alternative;\r\n boundary=\"XYZ\"\r\n\r\n\
                   --XYZ\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHi =C3=BC\r\n\
                   --XYZ\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+SGk8L3A+\r\n--XYZ--\r\n";
        let parsed = parse(raw.as_bytes());
        assert_eq!(parsed.text.as_deref(), Some("Hi ü"));
        assert_eq!(parsed.html.as_deref(), Some("<p>Hi</p>"));
        assert_eq!(parsed.to, vec![Address::email("a@b.c")]);
        assert!(parsed.headers.contains(&("Subject".into(), "Ü".into())));
    }

    #[test]
    fn parses_a_single_part_message() {
        let parsed = parse(b"Subject: x\n\nline 1\nline 2\n");
        assert_eq!(parsed.text.as_deref(), Some("line 1\nline 2"));
        assert_eq!(parsed.html, None);
    }
}
