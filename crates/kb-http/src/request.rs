//! Extracting what handlers need from a request: the requester, query parameters, the
//! request meta rules read, and bodies (JSON, multipart, url-encoded) as one JSON object.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use kb_app::{App, LoginOrigin, RequestMeta, Requester};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::upload::{FileParts, Multipart, read_multipart};

/// Largest request body accepted (PocketBase's default).
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// The authenticated requester (a guest when the token is missing or invalid).
pub struct Auth(pub Requester);

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        // The rate-limit middleware has authenticated the request already.
        if let Some(requester) = parts.extensions.get::<Requester>() {
            return Ok(Auth(requester.clone()));
        }
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Ok(Auth(app.authenticate(token).await))
    }
}

/// The user's address: the peer's, or the one a trusted proxy reports
/// (`settings.trustedProxy`). The rate-limit middleware resolves it once per request.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    pub fn resolve(app: &App, peer: IpAddr, headers: &HeaderMap) -> ClientIp {
        ClientIp::resolve_with(app, peer, |name| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect()
        })
    }

    /// As [`resolve`](Self::resolve), with `header` answering a header's values.
    pub fn resolve_with<'a>(
        app: &App,
        peer: IpAddr,
        header: impl Fn(&str) -> Vec<&'a str>,
    ) -> ClientIp {
        ClientIp(app.settings().trusted_proxy.client_ip(peer, header))
    }
}

impl FromRequestParts<Arc<App>> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<ClientIp>() {
            return Ok(*client);
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |ConnectInfo(peer)| peer.ip());
        Ok(ClientIp::resolve(app, peer, &parts.headers))
    }
}

/// Where the request comes from (user IP and User-Agent), for login alerts.
pub struct Origin(pub LoginOrigin);

impl FromRequestParts<Arc<App>> for Origin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, app).await?;
        let ip = ip.to_string();
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Origin(LoginOrigin { ip, user_agent }))
    }
}

/// Query parameters (first value of each key) plus the request meta for rules.
pub struct Params {
    pub query: HashMap<String, String>,
    pub meta: RequestMeta,
}

fn snake_header(name: &str) -> String {
    name.to_ascii_lowercase().replace('-', "_")
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let pairs: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let mut query = HashMap::new();
        let mut query_json = Map::new();
        for (key, value) in pairs {
            query_json
                .entry(key.clone())
                .or_insert_with(|| Value::String(value.clone()));
            query.entry(key).or_insert(value);
        }
        let mut headers = Map::new();
        for (name, value) in &parts.headers {
            if let Ok(value) = value.to_str() {
                headers
                    .entry(snake_header(name.as_str()))
                    .or_insert_with(|| Value::String(value.to_owned()));
            }
        }
        Ok(Params {
            query,
            meta: RequestMeta {
                method: parts.method.as_str().into(),
                query: Arc::new(query_json),
                headers: Arc::new(headers),
            },
        })
    }
}

impl Params {
    pub fn get(&self, key: &str) -> &str {
        self.query.get(key).map(String::as_str).unwrap_or_default()
    }

    /// A non-negative integer parameter; absent → 0; anything else → 400.
    pub fn integer(&self, key: &str) -> ApiResult<u64> {
        match self.query.get(key).map(|v| v.trim()) {
            None | Some("") => Ok(0),
            Some(v) => v.parse::<i64>().map(|n| n.max(0) as u64).map_err(|_| {
                ApiError::bad_request("Something went wrong while processing your request.")
            }),
        }
    }

    /// A boolean parameter in Go's `strconv.ParseBool` forms; absent → false.
    pub fn boolean(&self, key: &str) -> ApiResult<bool> {
        match self.query.get(key).map(String::as_str) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(_) => Err(ApiError::bad_request(
                "Something went wrong while processing your request.",
            )),
        }
    }

    pub fn list_params(&self) -> ApiResult<kb_app::ListParams> {
        Ok(kb_app::ListParams {
            page: self.integer("page")?,
            per_page: self.integer("perPage")?,
            sort: self.get("sort").to_owned(),
            filter: self.get("filter").to_owned(),
            expand: self.get("expand").to_owned(),
            skip_total: self.boolean("skipTotal")?,
        })
    }
}

/// Why a body could not be read. Each endpoint words the 400 its own way, so the handler
/// picks the message.
#[derive(Debug)]
pub enum BodyError {
    Malformed,
    UnsupportedType,
    TooLarge,
    /// An upload could not be written to temporary storage (our failure, not the client's).
    Storage,
}

/// A request body as one JSON object (empty when there is none).
pub struct JsonBody(pub Result<Map<String, Value>, BodyError>);

impl BodyError {
    /// The API error, with this endpoint's message for a malformed body.
    pub fn into_api(self, malformed_message: &str) -> ApiError {
        match self {
            BodyError::Malformed => ApiError::bad_request(malformed_message),
            BodyError::UnsupportedType => ApiError::bad_request("Unsupported Content-Type."),
            BodyError::TooLarge => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large.")
            }
            BodyError::Storage => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong while processing your request.",
            ),
        }
    }
}

impl JsonBody {
    /// The object, or the API error for a bad body with this endpoint's message.
    pub fn object(self, malformed_message: &str) -> ApiResult<Map<String, Value>> {
        self.0.map_err(|e| e.into_api(malformed_message))
    }
}

/// A form value as PocketBase infers it: `"true"`/`"false"` → bool, a string that is
/// exactly a number's canonical text → number, anything else stays a string.
pub fn infer_form_value(text: &str) -> Value {
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(number) = text.parse::<f64>()
        && number.is_finite()
        && let Some(n) = serde_json::Number::from_f64(number)
    {
        let canonical = if number.fract() == 0.0 && number.abs() < 1e15 {
            format!("{}", number as i64)
        } else {
            number.to_string()
        };
        if canonical == text {
            return if number.fract() == 0.0 && number.abs() < 1e15 {
                Value::Number((number as i64).into())
            } else {
                Value::Number(n)
            };
        }
    }
    Value::String(text.to_owned())
}

pub(crate) fn push_form_value(map: &mut Map<String, Value>, key: String, value: Value) {
    match map.get_mut(&key) {
        Some(Value::Array(items)) => items.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None => {
            map.insert(key, value);
        }
    }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Read a body of at most `limit` bytes as values (JSON, url-encoded form or multipart)
/// and, for multipart, files handled as `files` says. Multipart streams through, so an
/// upload is never held in memory.
pub(crate) async fn read_body(
    request: Request,
    files: FileParts<'_>,
    limit: u64,
) -> Result<Multipart, BodyError> {
    let (parts, body) = request.into_parts();
    let kind = content_type(&parts.headers);
    if kind.starts_with("multipart/form-data") {
        // The boundary is case-sensitive: take it from the header as sent.
        let raw = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let boundary = multer::parse_boundary(raw).map_err(|_| BodyError::Malformed)?;
        return read_multipart(body.into_data_stream(), &boundary, files, limit).await;
    }
    let bytes = axum::body::to_bytes(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .await
        .map_err(|_| BodyError::TooLarge)?;
    let mut values = Map::new();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Multipart::default());
    }
    if kind.starts_with("application/x-www-form-urlencoded") {
        for (key, value) in form_urlencoded::parse(&bytes) {
            push_form_value(&mut values, key.into_owned(), infer_form_value(&value));
        }
    } else if kind.is_empty() || kind.starts_with("application/json") || kind.contains("+json") {
        match strict_json(&bytes) {
            Ok(Value::Object(map)) => values = map,
            Ok(Value::Null) => {}
            _ => return Err(BodyError::Malformed),
        }
    } else {
        return Err(BodyError::UnsupportedType);
    }
    Ok(Multipart {
        values,
        files: Vec::new(),
    })
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        // Endpoints that read their body this way take no files.
        let body = read_body(request, FileParts::Skip, MAX_BODY_BYTES as u64).await;
        Ok(JsonBody(body.map(|b| b.values)))
    }
}

/// The body of a record create or update: its values and the files uploaded with it,
/// staged on disk. The limit grows with what the collection's file fields may hold.
pub async fn record_body(
    app: &App,
    collection: &str,
    request: Request,
    malformed_message: &str,
) -> ApiResult<kb_app::RecordBody> {
    let limit = MAX_BODY_BYTES as u64 + app.upload_capacity(collection);
    let staging = app.files().staging_dir();
    let Multipart { values, files } = read_body(request, FileParts::Store(&staging), limit)
        .await
        .map_err(|e| e.into_api(malformed_message))?;
    Ok(kb_app::RecordBody { values, files })
}

/// Parse JSON rejecting duplicate object keys (which a lenient parser would silently
/// resolve to the last value, hiding a client bug).
pub fn strict_json(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

    struct Strict(Value);
    struct StrictVisitor;

    impl<'de> Deserialize<'de> for Strict {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(StrictVisitor).map(Strict)
        }
    }

    impl<'de> Visitor<'de> for StrictVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E: Error>(self, v: f64) -> Result<Value, E> {
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .ok_or_else(|| E::custom("number out of range"))
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::new();
            while let Some(Strict(item)) = seq.next_element()? {
                items.push(item);
            }
            Ok(Value::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut object = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                if object.contains_key(&key) {
                    return Err(A::Error::custom(format!("duplicate key {key:?}")));
                }
                let Strict(value) = map.next_value()?;
                object.insert(key, value);
            }
            Ok(Value::Object(object))
        }
    }

    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let Strict(value) = Strict::deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_json_rejects_duplicate_keys_and_overflow() {
        assert!(strict_json(br#"{"a":1,"a":2}"#).is_err());
        assert!(strict_json(br#"{"a":1e400}"#).is_err());
        assert!(strict_json(br#"{"a":1} x"#).is_err());
        assert_eq!(
            strict_json(br#"{"a":[1,{"b":null}]}"#).unwrap(),
            json!({"a":[1,{"b":null}]})
        );
    }

    #[tokio::test]
    async fn multipart_values_are_inferred_merged_and_repeated() {
        let boundary = "----FormBoundaryAbC";
        let part = |name: &str, value: &str| {
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
        };
        let body = [
            part("title", "Hello"),
            part("views", "12"),
            part("tags", "a"),
            part("tags", "b"),
            part("@jsonPayload", r#"{"meta":{"k":[1,2]}}"#),
            format!("--{boundary}--\r\n"),
        ]
        .concat();
        let request = Request::builder()
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(axum::body::Body::from(body))
            .unwrap();
        let parsed = read_body(request, FileParts::Skip, 1 << 20).await.unwrap();
        assert_eq!(
            Value::Object(parsed.values),
            json!({"title": "Hello", "views": 12, "tags": ["a", "b"], "meta": {"k": [1, 2]}})
        );
    }

    #[test]
    fn form_values_are_inferred_like_pocketbase() {
        assert_eq!(infer_form_value("true"), json!(true));
        assert_eq!(infer_form_value("12.5"), json!(12.5));
        assert_eq!(infer_form_value("-3"), json!(-3));
        assert_eq!(infer_form_value("012"), json!("012"));
        assert_eq!(infer_form_value("1e3"), json!("1e3"));
        assert_eq!(infer_form_value(""), json!(""));
        assert_eq!(infer_form_value("abc"), json!("abc"));
    }
}
