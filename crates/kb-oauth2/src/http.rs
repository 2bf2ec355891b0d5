//! Small HTTP helpers: Go-compatible query encoding (so authorization URLs match
//! PocketBase's byte for byte) and bounded response bodies.

use std::time::Duration;

/// Every outbound request gives up after this long.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest response body read from a provider.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// Sent on every request (GitHub's API refuses requests without a User-Agent).
pub(crate) const USER_AGENT: &str = concat!("Keelbase/", env!("CARGO_PKG_VERSION"));

/// Go's `url.QueryEscape`: unreserved `A-Z a-z 0-9 - _ . ~` as is, space as `+`, every
/// other byte as `%XX` (upper-case hex).
pub(crate) fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

/// Go's `url.Values.Encode`: pairs sorted by key (stable for equal keys), `k=v` joined
/// with `&`.
pub(crate) fn encode_sorted(pairs: &mut [(&str, &str)]) -> String {
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A response read to the end, at most [`MAX_BODY`] bytes.
pub(crate) struct Body {
    pub status: u16,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Reads a whole response, refusing bodies over [`MAX_BODY`].
pub(crate) async fn read_body(mut response: reqwest::Response) -> Result<Body, String> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY as u64)
    {
        return Err(format!("response body over {MAX_BODY} bytes"));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the response failed: {e}"))?
    {
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(format!("response body over {MAX_BODY} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Body {
        status,
        content_type,
        bytes,
    })
}

/// Sends a request with the timeout and User-Agent, and reads its bounded body.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<Body, String> {
    let response = request
        .timeout(TIMEOUT)
        .header(reqwest::header::USER_AGENT, USER_AGENT)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    read_body(response).await
}

/// Parses `application/x-www-form-urlencoded` text into a JSON object of strings (the
/// last value wins for a repeated key).
pub(crate) fn parse_form(bytes: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    let text = String::from_utf8_lossy(bytes);
    let mut map = serde_json::Map::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        map.insert(form_unescape(k), form_unescape(v).into());
    }
    map
}

fn form_unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_escape_matches_go() {
        assert_eq!(
            query_escape("read:user user:email"),
            "read%3Auser+user%3Aemail"
        );
        assert_eq!(query_escape("a~b*c/d[e]"), "a~b%2Ac%2Fd%5Be%5D");
        assert_eq!(query_escape("é"), "%C3%A9");
    }

    #[test]
    fn form_round_trip() {
        let map = parse_form(b"access_token=a%2Bb&scope=x+y&bad=%zz&tail=%4");
        assert_eq!(map["access_token"], "a+b");
        assert_eq!(map["scope"], "x y");
        assert_eq!(map["bad"], "%zz");
        assert_eq!(map["tail"], "%4");
    }
}
