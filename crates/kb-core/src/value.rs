//! Per-field value semantics: the zero value of each field type, the lenient coercion of client
//! input into the canonical API form, the field's own constraints, and the `+`/`-` modifiers.
//!
//! Every rule here reproduces what PocketBase 0.40.6 was observed to do (black-box probing of
//! the binary; the tests name the observations). PocketBase is written in Go and much of its
//! leniency is Go's: numbers parse like `strconv.ParseFloat`, numbers print like
//! `strconv.FormatFloat(f, 'f', -1, 64)`, URLs go through `net/url` and a third-party URL
//! pattern, messages carry numbers formatted by `%v`. The [`go`] helpers below re-create just
//! enough of that behaviour.
//!
//! Canonical values (what [`normalize`] returns and [`validate`] expects):
//!
//! | type | value |
//! |---|---|
//! | text, editor, email, url, password | string |
//! | number | JSON number (integral values as integers); `"NaN"`, `"+Inf"`, `"-Inf"` when the client sent such a number (JSON has no literal for them; [`validate`] rejects them) |
//! | bool | bool |
//! | date, autodate | `YYYY-MM-DD HH:MM:SS.mmmZ` or `""` |
//! | select, relation, file | string when `maxSelect <= 1`, array of strings otherwise |
//! | json | any JSON value |
//! | geoPoint | `{"lon": number, "lat": number}` |
//!
//! A password value is the new plain text after a client sets it, or the stored hash of a
//! loaded record; [`is_password_hash`] tells them apart so unchanged passwords are not
//! re-validated.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, PoisonError};

use jiff::{Timestamp, tz::Offset};
use regex::Regex;
use serde_json::{Map, Value};

use crate::datetime;
use crate::error::FieldError;
use crate::field::{
    DateOptions, DomainOptions, Field, FieldKind, NumberOptions, PasswordOptions, RelationOptions,
    SelectOptions, TextOptions,
};

/// Text `max` used when the option is 0.
pub const DEFAULT_TEXT_MAX: u64 = 5000;
/// Editor `maxSize` (bytes) used when the option is 0.
pub const DEFAULT_EDITOR_MAX_SIZE: u64 = 5 << 20;
/// File `maxSize` (bytes per file) used when the option is 0.
pub const DEFAULT_FILE_MAX_SIZE: u64 = 5 << 20;
/// JSON `maxSize` (bytes) used when the option is 0.
pub const DEFAULT_JSON_MAX_SIZE: u64 = 1 << 20;
/// Password `max` (characters) used when the option is 0; PocketBase also refuses a larger one.
pub const DEFAULT_PASSWORD_MAX: u64 = 71;
/// bcrypt hashes at most this many bytes; PocketBase rejects longer passwords outright.
pub const PASSWORD_MAX_BYTES: usize = 72;

/// A write modifier in a request body key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modifier {
    /// `name+`: append (select/relation/file) or add (number).
    Append,
    /// `+name`: prepend (select/relation/file).
    Prepend,
    /// `name-`: remove (select/relation/file) or subtract (number).
    Remove,
}

impl Modifier {
    /// Split a body key into the field name and its modifier: `tags+`, `+tags`, `tags-`.
    /// `None` for a key without one.
    pub fn split_key(key: &str) -> Option<(&str, Modifier)> {
        if let Some(name) = key.strip_suffix('+') {
            Some((name, Modifier::Append))
        } else if let Some(name) = key.strip_suffix('-') {
            Some((name, Modifier::Remove))
        } else {
            key.strip_prefix('+').map(|name| (name, Modifier::Prepend))
        }
    }
}

/// Whether a field type takes a modifier; PocketBase ignores the key otherwise.
pub fn supports_modifier(kind: &FieldKind, modifier: Modifier) -> bool {
    match kind {
        FieldKind::Select(_) | FieldKind::Relation(_) | FieldKind::File(_) => true,
        FieldKind::Number(_) => modifier != Modifier::Prepend,
        _ => false,
    }
}

/// The value of a field nobody has set.
pub fn zero_value(field: &Field) -> Value {
    match &field.kind {
        FieldKind::Number(_) => Value::from(0),
        FieldKind::Bool(_) => Value::Bool(false),
        FieldKind::Json(_) => Value::Null,
        FieldKind::GeoPoint(_) => geo_point_value(0.0, 0.0),
        kind if kind.is_multiple() => Value::Array(Vec::new()),
        _ => Value::String(String::new()),
    }
}

/// Coerce a client-supplied value into the field's canonical form, as leniently as PocketBase:
/// unusable input becomes the zero value rather than an error.
pub fn normalize(field: &Field, raw: &Value) -> Value {
    match &field.kind {
        FieldKind::Text(_)
        | FieldKind::Editor(_)
        | FieldKind::Email(_)
        | FieldKind::Url(_)
        | FieldKind::Password(_) => Value::String(go::to_string(raw)),
        FieldKind::Number(_) => number_value(to_number(raw)),
        FieldKind::Bool(_) => Value::Bool(to_bool(raw)),
        FieldKind::Date(_) | FieldKind::Autodate(_) => Value::String(normalize_date(raw)),
        FieldKind::Select(_) | FieldKind::Relation(_) | FieldKind::File(_) => {
            list_value(&field.kind, to_string_list(raw))
        }
        FieldKind::Json(_) => normalize_json(raw),
        FieldKind::GeoPoint(_) => {
            let (lon, lat) = to_geo_point(raw);
            geo_point_value(lon, lat)
        }
    }
}

/// Apply a modifier to the current value. Types or modifiers that do not combine (see
/// [`supports_modifier`]) leave the value unchanged.
pub fn apply_modifier(field: &Field, current: &Value, modifier: Modifier, raw: &Value) -> Value {
    if !supports_modifier(&field.kind, modifier) {
        return current.clone();
    }
    if let FieldKind::Number(_) = field.kind {
        let delta = to_number(raw);
        let base = to_number(current);
        return number_value(match modifier {
            Modifier::Remove => base - delta,
            _ => base + delta,
        });
    }
    let current = to_string_list(current);
    let operand = to_string_list(raw);
    let combined = match modifier {
        Modifier::Append => [current, operand].concat(),
        Modifier::Prepend => [operand, current].concat(),
        Modifier::Remove => current
            .into_iter()
            .filter(|v| !operand.contains(v))
            .collect(),
    };
    list_value(&field.kind, unique_non_empty(combined))
}

/// Check a canonical value against the field's own constraints. Relation ids, uniqueness and
/// uploaded files are checked elsewhere.
pub fn validate(field: &Field, value: &Value) -> Result<(), FieldError> {
    match &field.kind {
        FieldKind::Text(o) => validate_text(o, &go::to_string(value)),
        FieldKind::Editor(o) => {
            let text = go::to_string(value);
            check_required(o.required, text.is_empty())?;
            let max = non_zero_or(o.max_size, DEFAULT_EDITOR_MAX_SIZE);
            if text.len() as u64 > max {
                return Err(FieldError::new(
                    "validation_content_size_limit",
                    format!("The maximum allowed content size is {max} bytes."),
                )
                .with_param("maxSize", max));
            }
            Ok(())
        }
        FieldKind::Number(o) => validate_number(o, value),
        FieldKind::Bool(o) => check_required(o.required, !to_bool(value)),
        FieldKind::Email(o) => validate_email(o, &go::to_string(value)),
        FieldKind::Url(o) => validate_url(o, &go::to_string(value)),
        FieldKind::Date(o) => validate_date(o, &go::to_string(value)),
        FieldKind::Autodate(_) => Ok(()),
        FieldKind::Select(o) => validate_select(o, &to_string_list(value)),
        FieldKind::Relation(o) => validate_relation(o, &to_string_list(value)),
        FieldKind::File(o) => {
            let names = to_string_list(value);
            check_required(o.required, names.is_empty())?;
            let max = o.max_select.max(1);
            if names.len() as u64 > max {
                return Err(FieldError::new(
                    "validation_too_many_files",
                    format!("The maximum allowed files is {max}."),
                )
                .with_param("maxSelect", max));
            }
            Ok(())
        }
        FieldKind::Json(o) => {
            let blank = match value {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            check_required(o.required, blank)?;
            let max = non_zero_or(o.max_size, DEFAULT_JSON_MAX_SIZE);
            if go::json_len(value) as u64 > max {
                return Err(FieldError::new(
                    "validation_json_size_limit",
                    format!("The maximum allowed JSON size is {max} bytes."),
                )
                .with_param("maxSize", max));
            }
            Ok(())
        }
        FieldKind::Password(o) => validate_password(o, &go::to_string(value)),
        FieldKind::GeoPoint(o) => {
            let (lon, lat) = to_geo_point(value);
            check_required(o.required, lon == 0.0 && lat == 0.0)?;
            if !(-90.0..=90.0).contains(&lat) {
                return Err(FieldError::new(
                    "validation_invalid_latitude",
                    "Latitude must be between -90 and 90 degrees.",
                ));
            }
            if !(-180.0..=180.0).contains(&lon) {
                return Err(FieldError::new(
                    "validation_invalid_longitude",
                    "Longitude must be between -180 and 180 degrees.",
                ));
            }
            Ok(())
        }
    }
}

/// True when a password value is a stored hash (bcrypt as PocketBase writes it, or argon2)
/// rather than a plain text a client just submitted.
pub fn is_password_hash(value: &str) -> bool {
    let bcrypt = value.len() == 60
        && ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|prefix| value.starts_with(prefix));
    bcrypt || value.starts_with("$argon2")
}

/// The items of a select/relation/file value (or of any value coerced to one), in order,
/// without empty strings or duplicates.
pub fn to_string_list(raw: &Value) -> Vec<String> {
    let items = match raw {
        Value::Null => Vec::new(),
        Value::String(s) if s.contains('[') => string_array_prefix(s),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(go::to_string).collect(),
        Value::Object(_) => Vec::new(),
        scalar => vec![go::to_string(scalar)],
    };
    unique_non_empty(items)
}

/// The error of a file field that names files the record does not have (new files only come
/// as uploads).
pub fn invalid_files_error(names: &[String]) -> FieldError {
    FieldError::new(
        "validation_invalid_file",
        format!("Invalid new files: [{}].", names.join(" ")),
    )
    .with_param("invalidFiles", names.to_vec())
}

/// A JSON array of strings sent as text (the form multipart clients use). PocketBase decodes it
/// as far as it is an array of strings and nulls, keeps what it decoded, and adds the whole
/// text as one more item when decoding stopped early: `'["a"] x'` gives `["a", "[\"a\"] x"]`.
fn string_array_prefix(text: &str) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

    struct Prefix<'a>(&'a mut Vec<String>);

    impl<'de> DeserializeSeed<'de> for Prefix<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
            deserializer.deserialize_seq(self)
        }
    }

    impl<'de> Visitor<'de> for Prefix<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(item) = seq.next_element::<Value>()? {
                match item {
                    Value::String(s) => self.0.push(s),
                    Value::Null => self.0.push(String::new()),
                    _ => return Err(serde::de::Error::custom("not a string")),
                }
            }
            Ok(())
        }
    }

    let mut items = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let complete = Prefix(&mut items).deserialize(&mut de).is_ok() && de.end().is_ok();
    if !complete {
        items.push(text.to_owned());
    }
    items
}

fn unique_non_empty(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// A list in the field's shape: the array itself when multiple, else its last item (PocketBase
/// keeps the last of several values given to a single select/relation/file).
fn list_value(kind: &FieldKind, items: Vec<String>) -> Value {
    if kind.is_multiple() {
        Value::Array(items.into_iter().map(Value::String).collect())
    } else {
        Value::String(items.into_iter().next_back().unwrap_or_default())
    }
}

/// A number the way clients send it: JSON numbers, bools as 1/0, numeric text parsed like Go's
/// `strconv.ParseFloat`; everything else is 0.
fn to_number(raw: &Value) -> f64 {
    match raw {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => go::parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// The canonical number value: integral floats as JSON integers (as PocketBase prints them),
/// non-finite ones as the text Go prints for them.
fn number_value(f: f64) -> Value {
    const EXACT_INT: f64 = 9_007_199_254_740_992.0;
    if f.is_nan() {
        Value::String("NaN".into())
    } else if f.is_infinite() {
        Value::String(if f > 0.0 { "+Inf" } else { "-Inf" }.into())
    } else if f.fract() == 0.0 && f.abs() < EXACT_INT {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::from(0), Value::Number)
    }
}

/// Go's `strconv.ParseBool` for text (`1`, `t`, `T`, `TRUE`, `true`, `True`), non-zero for
/// numbers; anything else is false.
fn to_bool(raw: &Value) -> bool {
    match raw {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.as_str(), "1" | "t" | "T" | "TRUE" | "true" | "True"),
        _ => false,
    }
}

fn normalize_date(raw: &Value) -> String {
    let Value::String(text) = raw else {
        return String::new();
    };
    parse_date(text).map(datetime::format).unwrap_or_default()
}

/// A date value as PocketBase reads it: text with surrounding whitespace is not a date, and
/// Go's zero time (`0001-01-01 00:00:00Z`) is the empty date.
fn parse_date(text: &str) -> Option<Timestamp> {
    const GO_ZERO_TIME: i64 = -62_135_596_800;
    if text.trim() != text {
        return None;
    }
    datetime::parse(text)
        .filter(|ts| ts.as_nanosecond() != i128::from(GO_ZERO_TIME) * 1_000_000_000)
}

/// JSON field input: values are kept as they are; text holding valid JSON is decoded (unless it
/// starts with whitespace, which PocketBase keeps as text), other text stays a JSON string.
fn normalize_json(raw: &Value) -> Value {
    match raw {
        Value::String(text) if !text.starts_with([' ', '\t', '\n', '\r']) => {
            serde_json::from_str(text).unwrap_or_else(|_| raw.clone())
        }
        _ => raw.clone(),
    }
}

fn geo_point_value(lon: f64, lat: f64) -> Value {
    let mut point = Map::new();
    point.insert("lon".into(), number_value(lon));
    point.insert("lat".into(), number_value(lat));
    Value::Object(point)
}

/// `{"lon","lat"}` from an object or from JSON text. Keys are exact; a key of any type other
/// than number or null makes the whole point `(0, 0)`, as PocketBase does.
fn to_geo_point(raw: &Value) -> (f64, f64) {
    let decoded;
    let object = match raw {
        Value::Object(o) => o,
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(o)) => {
                decoded = o;
                &decoded
            }
            _ => return (0.0, 0.0),
        },
        _ => return (0.0, 0.0),
    };
    let coordinate = |key: &str| match object.get(key) {
        None | Some(Value::Null) => Some(0.0),
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => None,
    };
    match (coordinate("lon"), coordinate("lat")) {
        (Some(lon), Some(lat)) => (lon, lat),
        _ => (0.0, 0.0),
    }
}

fn non_zero_or(value: u64, default: u64) -> u64 {
    if value == 0 { default } else { value }
}

fn check_required(required: bool, blank: bool) -> Result<(), FieldError> {
    if required && blank {
        Err(FieldError::required())
    } else {
        Ok(())
    }
}

/// Go's `Sentenize`, which PocketBase applies to every message: trimmed, and a final `.`
/// unless it already ends with `.`, `!` or `?`.
fn sentenize(message: &str) -> String {
    let trimmed = message.trim();
    if trimmed.is_empty() || trimmed.ends_with(['.', '!', '?']) {
        trimmed.to_owned()
    } else {
        format!("{trimmed}.")
    }
}

fn invalid_value(value: &str) -> FieldError {
    FieldError::new(
        "validation_invalid_value",
        sentenize(&format!("Invalid value {value}")),
    )
    .with_param("value", value)
}

fn invalid_format() -> FieldError {
    FieldError::new("validation_invalid_format", "Invalid value format.")
}

/// Whether the text matches a field's `pattern`. A pattern the `regex` crate cannot compile is
/// refused when the collection is saved; should one reach here, the value is treated as not
/// matching rather than let through unchecked.
fn matches_pattern(pattern: &str, text: &str) -> bool {
    compiled_pattern(pattern).is_some_and(|re| re.is_match(text))
}

/// Field patterns compiled once: every record write checks at least the `id` pattern. The
/// patterns come from collection schemas, so the cache stays small; it is emptied if a long
/// series of schema changes ever fills it.
fn compiled_pattern(pattern: &str) -> Option<Regex> {
    static CACHE: LazyLock<Mutex<HashMap<String, Option<Regex>>>> = LazyLock::new(Mutex::default);
    const CAPACITY: usize = 512;
    let mut cache = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(compiled) = cache.get(pattern) {
        return compiled.clone();
    }
    if cache.len() >= CAPACITY {
        cache.clear();
    }
    let compiled = Regex::new(pattern).ok();
    cache.insert(pattern.to_owned(), compiled.clone());
    compiled
}

fn validate_text(o: &TextOptions, text: &str) -> Result<(), FieldError> {
    check_required(o.required, text.is_empty())?;
    if text.is_empty() {
        return Ok(());
    }
    let chars = text.chars().count() as u64;
    if o.min > 0 && chars < o.min {
        return Err(FieldError::new(
            "validation_min_text_constraint",
            format!("Must be at least {} character(s).", o.min),
        )
        .with_param("min", o.min));
    }
    let max = non_zero_or(o.max, DEFAULT_TEXT_MAX);
    if chars > max {
        return Err(FieldError::new(
            "validation_max_text_constraint",
            format!("Must be no more than {max} character(s)."),
        )
        .with_param("max", max));
    }
    if !o.pattern.is_empty() && !matches_pattern(&o.pattern, text) {
        return Err(invalid_format());
    }
    Ok(())
}

fn validate_number(o: &NumberOptions, value: &Value) -> Result<(), FieldError> {
    let Some(n) = value.as_f64() else {
        return Err(FieldError::new(
            "validation_not_a_number",
            "The submitted number is not properly formatted.",
        ));
    };
    check_required(o.required, n == 0.0)?;
    if n == 0.0 {
        return Ok(());
    }
    if o.only_int && n.fract() != 0.0 {
        return Err(FieldError::new(
            "validation_only_int_constraint",
            "Decimal numbers are not allowed.",
        ));
    }
    if let Some(min) = o.min.filter(|&min| n < min) {
        return Err(FieldError::new(
            "validation_min_number_constraint",
            format!("Must be greater or equal than {}.", go::format_g(min)),
        )
        .with_param("min", min));
    }
    if let Some(max) = o.max.filter(|&max| n > max) {
        return Err(FieldError::new(
            "validation_max_number_constraint",
            format!("Must be less or equal than {}.", go::format_g(max)),
        )
        .with_param("max", max));
    }
    Ok(())
}

fn domain_error(kind: &str) -> FieldError {
    let (code, message) = match kind {
        "email" => (
            "validation_email_domain_not_allowed",
            "Email domain is not allowed.",
        ),
        _ => (
            "validation_url_domain_not_allowed",
            "Url domain is not allowed.",
        ),
    };
    FieldError::new(code, message)
}

/// `onlyDomains` / `exceptDomains`: exact, case-sensitive comparison, as PocketBase does.
fn check_domain(o: &DomainOptions, domain: &str, kind: &str) -> Result<(), FieldError> {
    let listed = |list: &[String]| list.iter().any(|d| d == domain);
    if (!o.only_domains.is_empty() && !listed(&o.only_domains)) || listed(&o.except_domains) {
        return Err(domain_error(kind));
    }
    Ok(())
}

fn validate_email(o: &DomainOptions, text: &str) -> Result<(), FieldError> {
    check_required(o.required, text.is_empty())?;
    if text.is_empty() {
        return Ok(());
    }
    if !EMAIL.as_ref().is_some_and(|re| re.is_match(text)) {
        return Err(FieldError::new(
            "validation_is_email",
            "Must be a valid email address.",
        ));
    }
    let domain = text.rsplit_once('@').map_or("", |(_, domain)| domain);
    check_domain(o, domain, "email")
}

fn validate_url(o: &DomainOptions, text: &str) -> Result<(), FieldError> {
    check_required(o.required, text.is_empty())?;
    if text.is_empty() {
        return Ok(());
    }
    if !go::is_url(text) {
        return Err(FieldError::new(
            "validation_invalid_url",
            "Must be a valid url.",
        ));
    }
    // The domain compared is Go's `url.Host`: without user info, with the port.
    let host = go::parse_url(text).map(|u| u.host).unwrap_or_default();
    check_domain(o, &String::from_utf8_lossy(&host), "url")
}

fn validate_date(o: &DateOptions, text: &str) -> Result<(), FieldError> {
    let value = parse_date(text);
    check_required(o.required, value.is_none())?;
    let Some(value) = value else {
        return Ok(());
    };
    if let Some(min) = datetime::parse(&o.min).filter(|&min| value < min) {
        return Err(FieldError::new(
            "validation_min_greater_equal_than_required",
            format!("Must be no less than {}.", go::time_string(min)),
        )
        .with_param("threshold", go::time_rfc3339_nano(min)));
    }
    if let Some(max) = datetime::parse(&o.max).filter(|&max| value > max) {
        return Err(FieldError::new(
            "validation_max_less_equal_than_required",
            format!("Must be no greater than {}.", go::time_string(max)),
        )
        .with_param("threshold", go::time_rfc3339_nano(max)));
    }
    Ok(())
}

fn too_many_values(max: u64) -> FieldError {
    FieldError::new(
        "validation_too_many_values",
        format!("Select no more than {max}."),
    )
    .with_param("maxSelect", max)
}

fn validate_select(o: &SelectOptions, items: &[String]) -> Result<(), FieldError> {
    check_required(o.required, items.is_empty())?;
    let max = o.max_select.max(1);
    if items.len() as u64 > max {
        return Err(too_many_values(max));
    }
    match items.iter().find(|item| !o.values.contains(item)) {
        Some(item) => Err(invalid_value(item)),
        None => Ok(()),
    }
}

fn validate_relation(o: &RelationOptions, ids: &[String]) -> Result<(), FieldError> {
    check_required(o.required, ids.is_empty())?;
    if ids.is_empty() {
        return Ok(());
    }
    if (ids.len() as u64) < o.min_select {
        return Err(FieldError::new(
            "validation_not_enough_values",
            format!("Select at least {}.", o.min_select),
        )
        .with_param("minSelect", o.min_select));
    }
    let max = o.max_select.max(1);
    if ids.len() as u64 > max {
        return Err(too_many_values(max));
    }
    Ok(())
}

/// Password checks run on the plain text; a stored hash (an unchanged password) passes. The
/// messages differ from the text field's and carry no params.
fn validate_password(o: &PasswordOptions, text: &str) -> Result<(), FieldError> {
    check_required(o.required, text.is_empty())?;
    if text.is_empty() || is_password_hash(text) {
        return Ok(());
    }
    if text.len() > PASSWORD_MAX_BYTES {
        return Err(FieldError::new(
            "validation_invalid_value",
            "Invalid value.",
        ));
    }
    let chars = text.chars().count() as u64;
    if o.min > 0 && chars < o.min {
        return Err(FieldError::new(
            "validation_min_text_constraint",
            format!("Must be at least {} character(s).", o.min),
        ));
    }
    let max = non_zero_or(o.max, DEFAULT_PASSWORD_MAX);
    if chars > max {
        return Err(FieldError::new(
            "validation_max_text_constraint",
            format!("Must be less than {max} character(s)."),
        ));
    }
    if !o.pattern.is_empty() && !matches_pattern(&o.pattern, text) {
        return Err(invalid_format());
    }
    Ok(())
}

/// Characters beyond ASCII that the email grammar accepts as letters.
const EMAIL_UNICODE: &str = r"\x{A0}-\x{D7FF}\x{F900}-\x{FDCF}\x{FDF0}-\x{FFEF}";

/// The email grammar PocketBase validates with (the HTML5-style pattern of its validation
/// library): a dot-atom or a quoted local part, then dot-separated labels ending in a
/// letter-only-edged top-level label and an optional final dot. The library's quoted-string
/// rule is unusual (each quoted character is preceded by its own `"`), and so is reproduced.
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let u = EMAIL_UNICODE;
    let atext = format!(r"[a-zA-Z0-9!#$%&'*+\-/=?^_`{{|}}~{u}]");
    let fws = r"(?:(?:[ \t]*\r\n)?[ \t]+)";
    let qtext = format!(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\x21\x23-\x5b\x5d-\x7e{u}]");
    let quoted_pair = format!(r"\([\x01-\x09\x0b\x0c\x0d-\x7f]|[{u}]");
    let local =
        format!(r#"(?:{atext}+(?:\.{atext}+)*|(?:"{fws}?(?:{qtext}|{quoted_pair}))*{fws}?")"#);
    let alnum = format!("[a-zA-Z0-9{u}]");
    let label = format!(r"(?:{alnum}|{alnum}[a-zA-Z0-9\-._~{u}]*{alnum})");
    let alpha = format!("[a-zA-Z{u}]");
    let top = format!(r"(?:{alpha}|{alpha}[a-zA-Z0-9\-_~{u}]*{alpha})");
    Regex::new(&format!(r"^{local}@(?:{label}\.)+{top}\.?$")).ok()
});

/// Re-creations of the Go standard library behaviour PocketBase's leniency comes from.
mod go {
    use super::*;

    /// `cast.ToString` as PocketBase uses it on field input: numbers in shortest plain
    /// decimal (`1e21` → `1000000000000000000000`), bools as `true`/`false`, null, arrays and
    /// objects as `""`.
    pub(super) fn to_string(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.as_f64().map(format_f).unwrap_or_default(),
            Value::Bool(b) => b.to_string(),
            _ => String::new(),
        }
    }

    /// `strconv.FormatFloat(f, 'f', -1, 64)`: Rust's `Display` for `f64` is the same shortest
    /// round-trip decimal without exponent.
    pub(super) fn format_f(f: f64) -> String {
        format!("{f}")
    }

    /// `%v` of a `float64`: shortest digits, in exponent form (`1e+06`, `1.5e-07`) when the
    /// decimal exponent is below -4 or at least 6, and otherwise plain.
    pub(super) fn format_g(f: f64) -> String {
        if !f.is_finite() {
            return format_f(f);
        }
        let exponent_form = format!("{f:e}");
        let (mantissa, exp) = exponent_form
            .split_once('e')
            .unwrap_or((exponent_form.as_str(), "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        if f != 0.0 && !(-4..6).contains(&exp) {
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
        } else {
            format_f(f)
        }
    }

    /// `strconv.ParseFloat(s, 64)`, with PocketBase's fallback folded in: `None` for text Go
    /// rejects or whose value is out of range (PocketBase then uses 0). `Inf`, `Infinity`
    /// (any case, optional sign) and `NaN` (no sign) parse to the non-finite values.
    pub(super) fn parse_float(s: &str) -> Option<f64> {
        let (negative, unsigned) = match s.as_bytes().first() {
            Some(b'+') => (false, &s[1..]),
            Some(b'-') => (true, &s[1..]),
            _ => (false, s),
        };
        let sign = if negative { -1.0 } else { 1.0 };
        if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
            return Some(sign * f64::INFINITY);
        }
        if s.eq_ignore_ascii_case("nan") {
            return Some(f64::NAN);
        }
        if s.contains('_') && !underscores_ok(unsigned) {
            return None;
        }
        let digits: String = unsigned.chars().filter(|&c| c != '_').collect();
        let magnitude = match digits
            .strip_prefix("0x")
            .or_else(|| digits.strip_prefix("0X"))
        {
            Some(hex) => parse_hex_float(hex)?,
            None if is_decimal_float(&digits) => digits.parse::<f64>().ok()?,
            None => return None,
        };
        magnitude.is_finite().then_some(sign * magnitude)
    }

    /// Go's digit-separator rule: each `_` sits between two digits (a base prefix counts as a
    /// digit).
    fn underscores_ok(s: &str) -> bool {
        let bytes = s.as_bytes();
        let hex = bytes.len() >= 2 && bytes[0] == b'0' && bytes[1].eq_ignore_ascii_case(&b'x');
        let mut i = 0;
        // `saw` is the class of the previous character: '^' start, '0' digit, '_', '!' other.
        let mut saw = '^';
        if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'b' | b'o' | b'x') {
            i = 2;
            saw = '0';
        }
        for &b in &bytes[i..] {
            if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
                saw = '0';
            } else if b == b'_' {
                if saw != '0' {
                    return false;
                }
                saw = '_';
            } else {
                if saw == '_' {
                    return false;
                }
                saw = '!';
            }
        }
        saw != '_'
    }

    /// `digits [. digits] [e [sign] digits]` with at least one mantissa digit: the decimal
    /// syntax Go and Rust share (Rust's parser alone would also take `inf`/`nan`).
    fn is_decimal_float(s: &str) -> bool {
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        let mantissa_ok =
            all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty());
        let exponent_ok = exponent.is_none_or(|e| {
            let e = e.strip_prefix(['+', '-']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        });
        mantissa_ok && exponent_ok
    }

    /// The part of a Go hex float after `0x`: hex digits with an optional `.`, then a
    /// mandatory binary exponent `p[sign]digits`.
    fn parse_hex_float(s: &str) -> Option<f64> {
        let (mantissa, exponent) = s.split_once(['p', 'P'])?;
        let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
        if exponent.is_empty() || exponent.starts_with('+') {
            return None;
        }
        let mut exp: i64 = exponent.parse().ok()?;
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut bits: u64 = 0;
        for (i, c) in int.chars().chain(frac.chars()).enumerate() {
            let digit = u64::from(c.to_digit(16)?);
            if bits >> 60 == 0 {
                bits = bits << 4 | digit;
                if i >= int.len() {
                    exp -= 4;
                }
            } else if i < int.len() {
                exp += 4;
            }
        }
        let exp = i32::try_from(exp.clamp(-4000, 4000)).ok()?;
        Some(scale_by_power_of_two(bits as f64, exp))
    }

    fn scale_by_power_of_two(mut x: f64, mut exp: i32) -> f64 {
        while exp > 1000 {
            x *= 2f64.powi(1000);
            exp -= 1000;
        }
        while exp < -1000 {
            x *= 2f64.powi(-1000);
            exp += 1000;
        }
        x * 2f64.powi(exp)
    }

    /// Length of `json.Marshal(value)` in Go: compact, with `<`, `>`, `&`, U+2028 and U+2029
    /// escaped, and numbers printed as `float64` (PocketBase decodes request JSON that way).
    pub(super) fn json_len(value: &Value) -> usize {
        match value {
            Value::Null => 4,
            Value::Bool(true) => 4,
            Value::Bool(false) => 5,
            Value::Number(n) => json_number(n.as_f64().unwrap_or(0.0)).len(),
            Value::String(s) => json_string_len(s),
            Value::Array(items) => {
                2 + items.iter().map(json_len).sum::<usize>() + items.len().saturating_sub(1)
            }
            Value::Object(map) => {
                2 + map
                    .iter()
                    .map(|(k, v)| json_string_len(k) + 1 + json_len(v))
                    .sum::<usize>()
                    + map.len().saturating_sub(1)
            }
        }
    }

    fn json_number(f: f64) -> String {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            let text = format!("{f:e}");
            match text.split_once('e') {
                Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
                _ => text,
            }
        } else {
            format_f(f)
        }
    }

    fn json_string_len(s: &str) -> usize {
        2 + s
            .chars()
            .map(|c| match c {
                '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => 6,
                c if (c as u32) < 0x20 => 6,
                c => c.len_utf8(),
            })
            .sum::<usize>()
    }

    /// Go's `time.Time.String()` for a UTC time: `2020-01-01 00:00:00.5 +0000 UTC`.
    pub(super) fn time_string(ts: Timestamp) -> String {
        let dt = Offset::UTC.to_datetime(ts);
        format!(
            "{}{} +0000 UTC",
            dt.strftime("%Y-%m-%d %H:%M:%S"),
            fraction(dt.subsec_nanosecond())
        )
    }

    /// A UTC time as Go's JSON encoding writes it (RFC 3339 with trimmed nanoseconds).
    pub(super) fn time_rfc3339_nano(ts: Timestamp) -> String {
        let dt = Offset::UTC.to_datetime(ts);
        format!(
            "{}{}Z",
            dt.strftime("%Y-%m-%dT%H:%M:%S"),
            fraction(dt.subsec_nanosecond())
        )
    }

    fn fraction(nanos: i32) -> String {
        if nanos <= 0 {
            return String::new();
        }
        let digits = format!("{nanos:09}");
        format!(".{}", digits.trim_end_matches('0'))
    }

    /// What `url.Parse` yields that PocketBase looks at.
    pub(super) struct Url {
        /// The host with its port, `%`-decoded.
        pub(super) host: Vec<u8>,
        pub(super) path: Vec<u8>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Part {
        Host,
        Zone,
        Other,
    }

    /// Go's `url.Parse`: `None` where it returns an error.
    pub(super) fn parse_url(raw: &str) -> Option<Url> {
        let (rest, fragment) = match raw.split_once('#') {
            Some((rest, fragment)) => (rest, Some(fragment)),
            None => (raw, None),
        };
        let url = parse_url_without_fragment(rest)?;
        if let Some(fragment) = fragment {
            unescape(fragment, Part::Other)?;
        }
        Some(url)
    }

    fn parse_url_without_fragment(raw: &str) -> Option<Url> {
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return None;
        }
        if raw == "*" {
            return Some(Url {
                host: Vec::new(),
                path: b"*".to_vec(),
            });
        }
        let (scheme, mut rest) = split_scheme(raw)?;
        rest = match rest.strip_suffix('?') {
            Some(stripped) if !stripped.contains('?') => stripped,
            _ => rest.split_once('?').map_or(rest, |(before, _)| before),
        };
        if !rest.starts_with('/') {
            if !scheme.is_empty() {
                // An opaque URL such as `mailto:x`: no host, no path.
                return Some(Url {
                    host: Vec::new(),
                    path: Vec::new(),
                });
            }
            if rest
                .split('/')
                .next()
                .is_some_and(|segment| segment.contains(':'))
            {
                return None;
            }
        }
        let mut host = Vec::new();
        if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let after = &rest[2..];
            let (authority, path) = after.find('/').map_or((after, ""), |i| after.split_at(i));
            host = parse_authority(authority)?;
            rest = path;
        }
        Some(Url {
            host,
            path: unescape(rest, Part::Other)?,
        })
    }

    /// `None` for the "missing protocol scheme" error (a leading `:`).
    fn split_scheme(raw: &str) -> Option<(&str, &str)> {
        for (i, b) in raw.bytes().enumerate() {
            match b {
                b if b.is_ascii_alphabetic() => {}
                b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
                b':' if i == 0 => return None,
                b':' => return Some((&raw[..i], &raw[i + 1..])),
                _ => return Some(("", raw)),
            }
        }
        Some(("", raw))
    }

    fn parse_authority(authority: &str) -> Option<Vec<u8>> {
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let host = parse_host(host)?;
        if let Some(userinfo) = userinfo {
            let valid = userinfo
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c));
            if !valid {
                return None;
            }
            unescape(userinfo, Part::Other)?;
        }
        Some(host)
    }

    fn parse_host(host: &str) -> Option<Vec<u8>> {
        if host.starts_with('[') {
            let close = host.rfind(']')?;
            if !valid_optional_port(&host[close + 1..]) {
                return None;
            }
            if let Some(zone) = host[..close].find("%25") {
                let mut out = unescape(&host[..zone], Part::Host)?;
                out.extend(unescape(&host[zone..close], Part::Zone)?);
                out.extend(unescape(&host[close..], Part::Host)?);
                return Some(out);
            }
        } else if let Some(colon) = host.rfind(':')
            && !valid_optional_port(&host[colon..])
        {
            return None;
        }
        unescape(host, Part::Host)
    }

    fn valid_optional_port(port: &str) -> bool {
        port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The ASCII characters a host may hold unescaped.
    fn host_char_ok(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&b)
    }

    fn unescape(s: &str, part: Part) -> Option<Vec<u8>> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'%' {
                let hi = bytes.get(i + 1).and_then(|&h| (h as char).to_digit(16))?;
                let lo = bytes.get(i + 2).and_then(|&l| (l as char).to_digit(16))?;
                let escape = &s[i..i + 3];
                let decoded = (hi * 16 + lo) as u8;
                // In a host only non-ASCII bytes may be escaped (and `%25`, the zone marker).
                if part == Part::Host && hi < 8 && escape != "%25" {
                    return None;
                }
                if part == Part::Zone
                    && escape != "%25"
                    && decoded != b' '
                    && !host_char_ok(decoded)
                {
                    return None;
                }
                out.push(decoded);
                i += 3;
            } else {
                if part != Part::Other && b < 0x80 && !host_char_ok(b) {
                    return None;
                }
                out.push(b);
                i += 1;
            }
        }
        Some(out)
    }

    /// The URL check PocketBase uses (`govalidator.IsURL` of the version it ships): length
    /// bounds, `url.Parse` (with `http://` prepended when there is a `:` but no `://`), a host
    /// not starting with `.`, a host or a dotted path, and finally [`URL_PATTERN`] on the
    /// original text.
    pub(super) fn is_url(s: &str) -> bool {
        if s.len() <= 3 || s.chars().count() >= 2083 || s.starts_with('.') {
            return false;
        }
        let prefixed;
        let parse_target = if s.contains(':') && !s.contains("://") {
            prefixed = format!("http://{s}");
            prefixed.as_str()
        } else {
            s
        };
        let Some(url) = parse_url(parse_target) else {
            return false;
        };
        if url.host.starts_with(b".") {
            return false;
        }
        if url.host.is_empty() && !url.path.is_empty() && !url.path.contains(&b'.') {
            return false;
        }
        URL_PATTERN.as_ref().is_some_and(|re| re.is_match(s))
    }

    /// The URL grammar of that validator: optional `ftp|tcp|udp|ws(s)|http(s)://`, optional
    /// `user[:pass]@`, a host (dotted IPv4 outside 0.x and multicast, a bracketed IPv6, or
    /// DNS-like labels where only the last two may be non-ASCII), optional final `.`, port of
    /// up to five digits, and a path/query/fragment without whitespace. Go's `\S`/`\s`/`\d` are
    /// ASCII-only, hence the explicit classes.
    static URL_PATTERN: LazyLock<Option<Regex>> = LazyLock::new(|| {
        let not_space = r"[^\t\n\f\r ]";
        let ipv4_first = r"(?:[1-9][0-9]?|1[0-9][0-9]|2[01][0-9]|22[0-3]|24[0-9]|25[0-5])";
        let ipv4_mid = r"(?:[0-9]{1,2}|1[0-9][0-9]|2[0-4][0-9]|25[0-5])";
        let ipv4_last = r"(?:[0-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5])";
        let ipv4 = format!(r"{ipv4_first}(?:\.{ipv4_mid}){{2}}\.{ipv4_last}");
        let wide = r"a-zA-Z\x{a1}-\x{ffff}0-9";
        let dotted_host = r"[a-zA-Z0-9](?:[a-zA-Z0-9_-]+)?[a-zA-Z0-9](?:[-.][a-zA-Z0-9]+)*";
        let subdomain = r"(?:www\.|[a-zA-Z0-9]+(?:[-_.]?[a-zA-Z0-9])*[a-zA-Z0-9]\.[a-zA-Z0-9]+)";
        let name = format!(
            r"(?:{dotted_host}|{subdomain}?)?(?:[{wide}]+-?-?)*[{wide}]+(?:\.[a-zA-Z\x{{a1}}-\x{{ffff}}]+)?"
        );
        let pattern = format!(
            r"^(?:(?:ftp|tcp|udp|wss?|https?)://)?(?:{not_space}+(?::{not_space}*)?@)?(?:{ipv4}|\[{ipv6}\]|{name})\.?(?::[0-9]{{1,5}})?(?:[/?#]{not_space}*)?$",
            ipv6 = ipv6_pattern(),
        );
        Regex::new(&pattern).ok()
    });

    /// The usual alternation of IPv6 text forms (full, `::`-compressed at each position,
    /// link-local with zone, IPv4-mapped and -embedded).
    fn ipv6_pattern() -> String {
        let h = "[0-9a-fA-F]{1,4}";
        let octet = "(?:25[0-5]|(?:2[0-4]|1?[0-9])?[0-9])";
        let v4 = format!(r"(?:{octet}\.){{3}}{octet}");
        let forms = [
            format!("(?:{h}:){{7}}{h}"),
            format!("(?:{h}:){{1,7}}:"),
            format!("(?:{h}:){{1,6}}:{h}"),
            format!("(?:{h}:){{1,5}}(?::{h}){{1,2}}"),
            format!("(?:{h}:){{1,4}}(?::{h}){{1,3}}"),
            format!("(?:{h}:){{1,3}}(?::{h}){{1,4}}"),
            format!("(?:{h}:){{1,2}}(?::{h}){{1,5}}"),
            format!("{h}:(?::{h}){{1,6}}"),
            format!(":(?:(?::{h}){{1,7}}|:)"),
            "fe80:(?::[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]+".to_owned(),
            format!("::(?:ffff(?::0{{1,4}})?:)?{v4}"),
            format!("(?:{h}:){{1,4}}:{v4}"),
        ];
        format!("(?:{})", forms.join("|"))
    }
}

#[cfg(test)]
mod tests {
    //! Expected values are PocketBase 0.40.6's answers to the same input (probed through
    //! `POST /api/collections/{c}/records`).

    use super::*;
    use serde_json::json;

    fn field(definition: Value) -> Field {
        let mut definition = definition;
        definition["name"] = json!("f");
        serde_json::from_value(definition).expect("field definition")
    }

    fn err(field: &Field, raw: Value) -> FieldError {
        validate(field, &normalize(field, &raw)).expect_err("should fail")
    }

    fn ok(field: &Field, raw: Value) {
        let value = normalize(field, &raw);
        assert_eq!(validate(field, &value), Ok(()), "{raw} → {value}");
    }

    fn error_json(error: &FieldError) -> Value {
        serde_json::to_value(error).expect("serializable")
    }

    #[test]
    fn zero_values_per_type() {
        let cases = [
            (json!({"type": "text"}), json!("")),
            (json!({"type": "editor"}), json!("")),
            (json!({"type": "number"}), json!(0)),
            (json!({"type": "bool"}), json!(false)),
            (json!({"type": "email"}), json!("")),
            (json!({"type": "url"}), json!("")),
            (json!({"type": "date"}), json!("")),
            (json!({"type": "autodate"}), json!("")),
            (json!({"type": "select", "maxSelect": 1}), json!("")),
            (json!({"type": "select", "maxSelect": 2}), json!([])),
            (json!({"type": "relation", "maxSelect": 5}), json!([])),
            (json!({"type": "file"}), json!("")),
            (json!({"type": "file", "maxSelect": 3}), json!([])),
            (json!({"type": "json"}), json!(null)),
            (json!({"type": "password"}), json!("")),
            (json!({"type": "geoPoint"}), json!({"lon": 0, "lat": 0})),
        ];
        for (definition, zero) in cases {
            assert_eq!(zero_value(&field(definition.clone())), zero, "{definition}");
        }
    }

    #[test]
    fn number_input_is_parsed_like_go_parse_float_and_garbage_is_zero() {
        let n = field(json!({"type": "number"}));
        let cases = [
            (json!("abc"), json!(0)),
            (json!("12.5"), json!(12.5)),
            (json!(" 12 "), json!(0)),
            (json!("1e3"), json!(1000)),
            (json!("+5"), json!(5)),
            (json!(".5"), json!(0.5)),
            (json!("5."), json!(5)),
            (json!("012"), json!(12)),
            (json!("1_000"), json!(1000)),
            (json!("1__0"), json!(0)),
            (json!("_1"), json!(0)),
            (json!("1_0.5"), json!(10.5)),
            (json!("0x10"), json!(0)),
            (json!("0x1p4"), json!(16)),
            (json!("0X1P-2"), json!(0.25)),
            (json!("0x1.8p1"), json!(3)),
            (json!("0b101"), json!(0)),
            (json!("1,5"), json!(0)),
            (json!("1e400"), json!(0)),
            (json!("1e-400"), json!(0)),
            (json!("1.7976931348623159e308"), json!(0)),
            (json!("+nan"), json!(0)),
            (json!("infin"), json!(0)),
            (json!("٣"), json!(0)),
            (json!(""), json!(0)),
            (json!(null), json!(0)),
            (json!(true), json!(1)),
            (json!(false), json!(0)),
            (json!([1, 2]), json!(0)),
            (json!({"a": 1}), json!(0)),
            (json!(-0.0), json!(0)),
            (json!(12.5), json!(12.5)),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&n, &raw), want, "{raw}");
        }
    }

    #[test]
    fn number_inf_and_nan_text_fail_with_not_a_number() {
        let n = field(json!({"type": "number", "required": true}));
        for raw in ["Inf", "-inf", "+Infinity", "infinity", "NaN", "nan"] {
            let error = err(&n, json!(raw));
            assert_eq!(
                error_json(&error),
                json!({"code": "validation_not_a_number", "message": "The submitted number is not properly formatted."}),
                "{raw}"
            );
        }
    }

    #[test]
    fn number_constraints_in_pocketbase_order_with_go_formatted_bounds() {
        let n = field(json!({"type": "number", "min": 1, "max": 10, "onlyInt": true}));
        ok(&n, json!(0)); // zero skips every constraint unless required
        ok(&n, json!(1));
        ok(&n, json!(10));
        assert_eq!(
            error_json(&err(&n, json!(11.5))),
            json!({"code": "validation_only_int_constraint", "message": "Decimal numbers are not allowed."})
        );
        assert_eq!(
            error_json(&err(&n, json!(11))),
            json!({"code": "validation_max_number_constraint", "message": "Must be less or equal than 10.", "params": {"max": 10}})
        );
        assert_eq!(
            error_json(&err(&n, json!(-3))),
            json!({"code": "validation_min_number_constraint", "message": "Must be greater or equal than 1.", "params": {"min": 1}})
        );
        for (bound, text) in [
            (json!({"min": 1e21}), "Must be greater or equal than 1e+21."),
            (json!({"max": 0.00001}), "Must be less or equal than 1e-05."),
            (
                json!({"max": 123456789.125}),
                "Must be less or equal than 1.23456789125e+08.",
            ),
            (json!({"min": -5.5}), "Must be greater or equal than -5.5."),
            (json!({"max": 1e-7}), "Must be less or equal than 1e-07."),
        ] {
            let mut definition = json!({"type": "number"});
            definition
                .as_object_mut()
                .unwrap()
                .extend(bound.as_object().unwrap().clone());
            let raw = if definition.get("min").is_some() {
                json!(-1000)
            } else {
                json!(1e9)
            };
            assert_eq!(err(&field(definition), raw).message, text);
        }
    }

    #[test]
    fn number_required_means_non_zero() {
        let n = field(json!({"type": "number", "required": true}));
        for raw in [json!(0), json!(null), json!(""), json!(-0.0), json!("abc")] {
            assert_eq!(err(&n, raw.clone()), FieldError::required(), "{raw}");
        }
        ok(&n, json!(2));
    }

    #[test]
    fn text_stringifies_scalars_like_go_and_blanks_the_rest() {
        let t = field(json!({"type": "text"}));
        let cases = [
            (json!(12.5), "12.5"),
            (json!(1e21), "1000000000000000000000"),
            (json!(0.00001), "0.00001"),
            (json!(-0.0), "-0"),
            (json!(1.0), "1"),
            (json!(123456789012345678u64), "123456789012345680"),
            (json!(true), "true"),
            (json!(false), "false"),
            (json!(null), ""),
            (json!(["a", "b"]), ""),
            (json!({"a": 1}), ""),
            (json!("  spaced  "), "  spaced  "),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&t, &raw), json!(want), "{raw}");
        }
    }

    #[test]
    fn text_min_max_pattern_count_characters_and_check_in_order() {
        let t = field(json!({"type": "text", "min": 3, "max": 5, "pattern": "^[a-z]+$"}));
        ok(&t, json!("")); // empty skips the constraints when not required
        ok(&t, json!("abc"));
        assert_eq!(
            error_json(&err(&t, json!("ab"))),
            json!({"code": "validation_min_text_constraint", "message": "Must be at least 3 character(s).", "params": {"min": 3}})
        );
        assert_eq!(
            error_json(&err(&t, json!("abcdefg!"))),
            json!({"code": "validation_max_text_constraint", "message": "Must be no more than 5 character(s).", "params": {"max": 5}})
        );
        for raw in ["ABC", "ééé", "abcd\n"] {
            assert_eq!(
                error_json(&err(&t, json!(raw))),
                json!({"code": "validation_invalid_format", "message": "Invalid value format."}),
                "{raw}"
            );
        }
    }

    #[test]
    fn text_max_zero_means_5000_characters() {
        let t = field(json!({"type": "text"}));
        ok(&t, json!("a".repeat(5000)));
        ok(&t, json!("é".repeat(2501)));
        assert_eq!(
            error_json(&err(&t, json!("é".repeat(5001)))),
            json!({"code": "validation_max_text_constraint", "message": "Must be no more than 5000 character(s).", "params": {"max": 5000}})
        );
    }

    #[test]
    fn text_required_accepts_whitespace() {
        let t = field(json!({"type": "text", "required": true}));
        ok(&t, json!("   "));
        assert_eq!(err(&t, json!("")), FieldError::required());
        assert_eq!(err(&t, json!(null)), FieldError::required());
    }

    #[test]
    fn text_with_an_uncompilable_pattern_fails_instead_of_panicking() {
        let t = field(json!({"type": "text", "pattern": "([a-z"}));
        assert_eq!(err(&t, json!("abc")).code, "validation_invalid_format");
    }

    #[test]
    fn editor_limits_bytes_with_a_5_mib_default() {
        let e = field(json!({"type": "editor", "maxSize": 10}));
        ok(&e, json!("<p>x</p>"));
        assert_eq!(normalize(&e, &json!(12.5)), json!("12.5"));
        assert_eq!(
            error_json(&err(&e, json!("é".repeat(6)))),
            json!({"code": "validation_content_size_limit", "message": "The maximum allowed content size is 10 bytes.", "params": {"maxSize": 10}})
        );
        let default = field(json!({"type": "editor"}));
        ok(&default, json!("a".repeat(5 << 20)));
        assert_eq!(
            err(&default, json!("a".repeat((5 << 20) + 1))).message,
            "The maximum allowed content size is 5242880 bytes."
        );
    }

    #[test]
    fn bool_input_follows_go_parse_bool_and_required_means_true() {
        let b = field(json!({"type": "bool"}));
        for raw in ["true", "TRUE", "True", "1", "t", "T"] {
            assert_eq!(normalize(&b, &json!(raw)), json!(true), "{raw}");
        }
        for raw in [
            json!("yes"),
            json!("on"),
            json!("tRuE"),
            json!(" true"),
            json!("2"),
            json!("1.0"),
            json!(""),
            json!(null),
            json!(["true"]),
            json!({}),
        ] {
            assert_eq!(normalize(&b, &raw), json!(false), "{raw}");
        }
        for raw in [json!(1), json!(2), json!(-1), json!(0.5)] {
            assert_eq!(normalize(&b, &raw), json!(true), "{raw}");
        }
        let required = field(json!({"type": "bool", "required": true}));
        assert_eq!(err(&required, json!(false)), FieldError::required());
        assert_eq!(err(&required, json!("false")), FieldError::required());
        ok(&required, json!(true));
    }

    #[test]
    fn email_format_matches_pocketbase() {
        let e = field(json!({"type": "email"}));
        for good in [
            "a@b.c",
            "A@B.COM",
            "\"a\"@b.com",
            "a@b.com.",
            "a@b.c-d",
            "a@1.com",
            "a@b.co1m",
            "a+b@c.com",
            "a!#$%&'*+/=?^_`{|}~-@b.com",
            "a@b.c_d",
            "a@b~c.com",
            "日本@例え.jp",
            "ü@b.com",
            "a@ü.com",
            "a@b_c.com",
            "a@b.c.",
        ] {
            ok(&e, json!(good));
        }
        for bad in [
            "nope",
            "a@b",
            " a@b.com",
            "a@b.com ",
            "a b@c.com",
            "a@[1.2.3.4]",
            "a@localhost",
            "a@b..com",
            "a.@b.com",
            ".a@b.com",
            "a..b@c.com",
            "Name <a@b.com>",
            "a@-b.com",
            "a@b.1com",
            "a@b.c1",
            "a@b-.com",
            "a@b.com-",
            "a@.b.com",
            "@b.com",
            "a@@b.com",
            "a@b.c..",
            "\"a b\"@c.com",
            "a@b.com\n",
        ] {
            assert_eq!(
                error_json(&err(&e, json!(bad))),
                json!({"code": "validation_is_email", "message": "Must be a valid email address."}),
                "{bad}"
            );
        }
        // Numbers are stringified first, so they fail the format check.
        assert_eq!(err(&e, json!(12)).code, "validation_is_email");
        assert_eq!(normalize(&e, &json!(["a@b.com"])), json!(""));
    }

    #[test]
    fn email_domains_compare_exactly() {
        let except = field(json!({"type": "email", "exceptDomains": ["bad.com"]}));
        assert_eq!(
            error_json(&err(&except, json!("a@bad.com"))),
            json!({"code": "validation_email_domain_not_allowed", "message": "Email domain is not allowed."})
        );
        ok(&except, json!("a@BAD.com"));
        ok(&except, json!("a@sub.bad.com"));
        let only = field(json!({"type": "email", "onlyDomains": ["good.com", "Other.org"]}));
        ok(&only, json!("x@good.com"));
        for bad in ["x@GOOD.com", "x@other.org", "x@sub.good.com", "x@bad.com"] {
            assert_eq!(
                err(&only, json!(bad)).code,
                "validation_email_domain_not_allowed",
                "{bad}"
            );
        }
    }

    #[test]
    fn url_format_matches_pocketbase() {
        let u = field(json!({"type": "url"}));
        for good in [
            "https://example.com",
            "http://a",
            "example.com",
            "ftp://x.org/a",
            "mailto:a@b.com",
            "http://localhost:3000",
            "http://127.0.0.1",
            "abc.d",
            "https://例え.jp",
            "http://[::1]:80/",
            "https://example.com?q=1#f",
            "www.example.com",
            "https://a_b.com",
            "http://example",
            "https://example.com.",
            "ws://x.io",
            "a.com:80",
            "http//example.com",
            "https://ü.com",
            "https://x.com:99999",
            "http://a--b.com",
            "https://x.com/é",
            "http://a@b@c.com",
            "a.com/b:c",
            "foo:bar@a.com",
            "a.co",
        ] {
            ok(&u, json!(good));
        }
        for bad in [
            "nope",
            "http://",
            "//example.com",
            "https://exa mple.com",
            "javascript:alert(1)",
            "https://example.com/path with space",
            "file:///etc/passwd",
            "a.b",
            "ab",
            "custom://foo.bar",
            "https://-a.com",
            "HTTP://EXAMPLE.COM",
            "x:1",
            "https://üa.üb.com",
            "http://a.b.c.d.e.f",
            "https://example.com/%zz",
            "https://exa%41mple.com",
            "https://x.com:123456",
            "https://x.com:",
            "http://256.1.1.1",
            "http://0.1.1.1",
            "http://a..b.com",
            "http://a-.com",
            "http://x.y#frag ment",
            ".x.com",
            "https://.x.com",
            "http://x.com\\y",
            "http://[::1",
            "http://a b@c.com",
            "httpx://a.com",
            "aaaa",
            "http://_a.com",
            "http://a_.com",
        ] {
            assert_eq!(
                error_json(&err(&u, json!(bad))),
                json!({"code": "validation_invalid_url", "message": "Must be a valid url."}),
                "{bad}"
            );
        }
        assert_eq!(err(&u, json!(12)).code, "validation_invalid_url");
    }

    #[test]
    fn url_domain_is_the_host_with_port_without_user_info() {
        let except = field(json!({"type": "url", "exceptDomains": ["bad.com"]}));
        for bad in ["https://bad.com/x", "http://user:pw@bad.com"] {
            assert_eq!(
                error_json(&err(&except, json!(bad))),
                json!({"code": "validation_url_domain_not_allowed", "message": "Url domain is not allowed."}),
                "{bad}"
            );
        }
        for allowed in [
            "https://BAD.com",
            "https://sub.bad.com",
            "https://bad.com:8080",
        ] {
            ok(&except, json!(allowed));
        }
        let only = field(json!({"type": "url", "onlyDomains": ["good.com"]}));
        ok(&only, json!("https://good.com"));
        for bad in [
            "https://GOOD.com",
            "https://sub.good.com",
            "https://good.com:80/x",
            "good.com",
        ] {
            assert_eq!(
                err(&only, json!(bad)).code,
                "validation_url_domain_not_allowed",
                "{bad}"
            );
        }
    }

    #[test]
    fn date_input_normalizes_to_the_api_format_or_empty() {
        let d = field(json!({"type": "date"}));
        let cases = [
            (json!("2024-05-06"), "2024-05-06 00:00:00.000Z"),
            (json!("2024-05-06 07:08:09"), "2024-05-06 07:08:09.000Z"),
            (
                json!("2024-05-06T07:08:09.123456Z"),
                "2024-05-06 07:08:09.123Z",
            ),
            (
                json!("2024-05-06T09:08:09+02:00"),
                "2024-05-06 07:08:09.000Z",
            ),
            (
                json!("2024-05-06T07:08:09.5+05:30"),
                "2024-05-06 01:38:09.500Z",
            ),
            (
                json!("2024-05-06 07:08:09.1234567"),
                "2024-05-06 07:08:09.123Z",
            ),
            (json!("garbage"), ""),
            (json!("2024-13-01"), ""),
            (json!("2024-02-30"), ""),
            (json!(" 2024-05-06 "), ""),
            (json!("0001-01-01 00:00:00.000Z"), ""),
            (json!(1700000000), ""),
            (json!("1700000000"), ""),
            (json!(true), ""),
            (json!(null), ""),
            (json!(["2024-01-01"]), ""),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&d, &raw), json!(want), "{raw}");
        }
    }

    #[test]
    fn date_bounds_report_go_time_text_and_an_rfc3339_threshold() {
        let d = field(
            json!({"type": "date", "min": "2020-01-01 00:00:00.5Z", "max": "2020-01-02 10:11:12.123Z"}),
        );
        assert_eq!(
            error_json(&err(&d, json!("2019-01-01"))),
            json!({
                "code": "validation_min_greater_equal_than_required",
                "message": "Must be no less than 2020-01-01 00:00:00.5 +0000 UTC.",
                "params": {"threshold": "2020-01-01T00:00:00.5Z"}
            })
        );
        assert_eq!(
            error_json(&err(&d, json!("2021-01-01"))),
            json!({
                "code": "validation_max_less_equal_than_required",
                "message": "Must be no greater than 2020-01-02 10:11:12.123 +0000 UTC.",
                "params": {"threshold": "2020-01-02T10:11:12.123Z"}
            })
        );
        ok(&d, json!("2020-01-01 00:00:00.500Z"));
        ok(&d, json!(""));
        let whole = field(json!({"type": "date", "min": "2020-01-01 00:00:00.000Z"}));
        assert_eq!(
            err(&whole, json!("2019-12-31 23:59:59.999Z")).message,
            "Must be no less than 2020-01-01 00:00:00 +0000 UTC."
        );
        let required = field(json!({"type": "date", "required": true}));
        assert_eq!(err(&required, json!("garbage")), FieldError::required());
    }

    #[test]
    fn multiple_select_coerces_strings_arrays_and_scalars_and_dedupes() {
        let tags =
            field(json!({"type": "select", "values": ["a", "b", "c", "d", "1"], "maxSelect": 3}));
        let cases = [
            (json!("a"), json!(["a"])),
            (json!(["a", "a", "b"]), json!(["a", "b"])),
            (json!(["b", "a"]), json!(["b", "a"])),
            (json!(["a", "a", "a", "a", "b"]), json!(["a", "b"])),
            (json!(""), json!([])),
            (json!(null), json!([])),
            (json!(1), json!(["1"])),
            (json!([1]), json!(["1"])),
            (json!([1.5]), json!(["1.5"])),
            (json!(true), json!(["true"])),
            (json!(false), json!(["false"])),
            (json!([true]), json!(["true"])),
            (json!([null]), json!([])),
            (json!(["", "a"]), json!(["a"])),
            (json!([["a"]]), json!([])),
            (json!([{"a": 1}]), json!([])),
            (json!({"x": "a"}), json!([])),
            (json!("a,b"), json!(["a,b"])),
            (json!("null"), json!(["null"])),
            (json!("[\"a\",\"b\"]"), json!(["a", "b"])),
            (json!(" [\"a\"]"), json!(["a"])),
            (json!("[\"a\"]\n"), json!(["a"])),
            (json!("[\"a\",null]"), json!(["a"])),
            (json!("[ \"a\" , \"b\" ]"), json!(["a", "b"])),
            (json!("[\"a\\u0062\"]"), json!(["ab"])),
            (json!("[]"), json!([])),
            (json!("\"a\""), json!(["\"a\""])),
            (json!("[1,2]"), json!(["[1,2]"])),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&tags, &raw), want, "{raw}");
        }
    }

    #[test]
    fn string_arrays_that_stop_decoding_keep_the_prefix_and_the_whole_text() {
        let tags = field(json!({"type": "select", "values": ["a", "b", "c"], "maxSelect": 3}));
        let cases = [
            ("[\"a\"] x", json!(["a", "[\"a\"] x"])),
            ("[\"z\"]x", json!(["z", "[\"z\"]x"])),
            ("[\"a\"", json!(["a", "[\"a\""])),
            ("[\"a\",]", json!(["a", "[\"a\",]"])),
            ("[\"a\",1]", json!(["a", "[\"a\",1]"])),
            ("[1,\"a\"]", json!(["[1,\"a\"]"])),
            ("[\"a\\x\"]", json!(["[\"a\\x\"]"])),
            ("x [\"a\"]", json!(["x [\"a\"]"])),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&tags, &json!(raw)), want, "{raw}");
        }
        // So PocketBase reports `z` here, the first item not among the values.
        assert_eq!(err(&tags, json!("[\"z\"]x")).message, "Invalid value z.");
    }

    #[test]
    fn single_select_keeps_the_last_value() {
        let s = field(
            json!({"type": "select", "values": ["a", "b", "c", "1", "true"], "maxSelect": 1}),
        );
        let cases = [
            (json!(["a", "b"]), "b"),
            (json!(["b", "a"]), "a"),
            (json!(["", "a"]), "a"),
            (json!(["a", ""]), "a"),
            (json!([]), ""),
            (json!(1), "1"),
            (json!(true), "true"),
            (json!("[\"a\",\"b\"]"), "b"),
            (json!({"a": 1}), ""),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&s, &raw), json!(want), "{raw}");
        }
    }

    #[test]
    fn single_select_holding_a_broken_array_text_counts_as_several_values() {
        // PocketBase: `{"s": "[\"a\"] x"}` on a single select ⇒ too many values.
        let s = field(json!({"type": "select", "values": ["a", "b"]}));
        for raw in ["[\"a\"] x", "[\"a\"", "[\"a\",1]", "[\"a\",\"b\"]]"] {
            assert_eq!(
                error_json(&err(&s, json!(raw))),
                json!({"code": "validation_too_many_values", "message": "Select no more than 1.", "params": {"maxSelect": 1}}),
                "{raw}"
            );
        }
        assert_eq!(err(&s, json!("[1]")).message, "Invalid value [1].");
    }

    #[test]
    fn select_checks_count_before_membership() {
        let tags = field(json!({"type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 3}));
        assert_eq!(
            error_json(&err(&tags, json!(["z", "y", "x", "w"]))),
            json!({"code": "validation_too_many_values", "message": "Select no more than 3.", "params": {"maxSelect": 3}})
        );
        assert_eq!(
            error_json(&err(&tags, json!(["a", "z"]))),
            json!({"code": "validation_invalid_value", "message": "Invalid value z.", "params": {"value": "z"}})
        );
        assert_eq!(
            err(&tags, json!([1e21])).message,
            "Invalid value 1000000000000000000000."
        );
    }

    #[test]
    fn invalid_value_messages_are_sentenized() {
        let s = field(json!({"type": "select", "values": ["a"], "maxSelect": 1}));
        let cases = [
            ("z.", "Invalid value z."),
            ("z!", "Invalid value z!"),
            ("z?", "Invalid value z?"),
            ("z\n", "Invalid value z."),
            ("z;", "Invalid value z;."),
            ("z...", "Invalid value z..."),
            (" ", "Invalid value."),
            ("a ", "Invalid value a."),
        ];
        for (raw, message) in cases {
            let error = err(&s, json!(raw));
            assert_eq!(error.message, message, "{raw:?}");
            assert_eq!(error.params["value"], json!(raw));
        }
    }

    #[test]
    fn select_required_means_at_least_one_value() {
        let s = field(json!({"type": "select", "values": ["a"], "maxSelect": 1, "required": true}));
        let multi =
            field(json!({"type": "select", "values": ["a"], "maxSelect": 2, "required": true}));
        for raw in [json!(""), json!(null), json!([]), json!([""])] {
            assert_eq!(err(&s, raw.clone()), FieldError::required(), "{raw}");
            assert_eq!(err(&multi, raw.clone()), FieldError::required(), "{raw}");
        }
        assert_eq!(err(&s, json!("z")).code, "validation_invalid_value");
    }

    #[test]
    fn relation_counts_without_checking_ids() {
        let r =
            field(json!({"type": "relation", "collectionId": "c", "minSelect": 2, "maxSelect": 3}));
        ok(&r, json!([])); // empty skips min when not required
        ok(&r, json!(["x", "y"]));
        ok(&r, json!(["nope", "nope2"]));
        assert_eq!(
            error_json(&err(&r, json!("x"))),
            json!({"code": "validation_not_enough_values", "message": "Select at least 2.", "params": {"minSelect": 2}})
        );
        assert_eq!(
            error_json(&err(&r, json!(["a", "b", "c", "d"]))),
            json!({"code": "validation_too_many_values", "message": "Select no more than 3.", "params": {"maxSelect": 3}})
        );
        assert_eq!(normalize(&r, &json!(["x", "x", "y"])), json!(["x", "y"]));
        let single = field(json!({"type": "relation", "collectionId": "c"}));
        assert_eq!(normalize(&single, &json!(["x", "y"])), json!("y"));
        assert_eq!(
            err(&single, json!("[\"a\"")).message,
            "Select no more than 1."
        );
        let required = field(json!({"type": "relation", "collectionId": "c", "required": true}));
        assert_eq!(err(&required, json!([])), FieldError::required());
    }

    #[test]
    fn file_counts_and_the_invalid_files_error() {
        let f = field(json!({"type": "file", "maxSelect": 2}));
        assert_eq!(
            error_json(&err(&f, json!(["a", "b", "c"]))),
            json!({"code": "validation_too_many_files", "message": "The maximum allowed files is 2.", "params": {"maxSelect": 2}})
        );
        assert_eq!(
            error_json(&invalid_files_error(&["a.png".into(), "b.png".into()])),
            json!({"code": "validation_invalid_file", "message": "Invalid new files: [a.png b.png].", "params": {"invalidFiles": ["a.png", "b.png"]}})
        );
        let required = field(json!({"type": "file", "required": true}));
        assert_eq!(err(&required, json!(null)), FieldError::required());
    }

    #[test]
    fn json_text_is_decoded_unless_invalid_or_starting_with_whitespace() {
        let j = field(json!({"type": "json"}));
        let cases = [
            (json!("abc"), json!("abc")),
            (json!("{\"a\":1}"), json!({"a": 1})),
            (json!("[1,2]"), json!([1, 2])),
            (json!("123"), json!(123)),
            (json!("true"), json!(true)),
            (json!("null"), json!(null)),
            (json!("\"quoted\""), json!("quoted")),
            (json!(""), json!("")),
            (json!(" {\"a\": 1} "), json!(" {\"a\": 1} ")),
            (json!("\n5"), json!("\n5")),
            (json!("5 "), json!(5)),
            (json!("[1]\n"), json!([1])),
            (json!("{bad"), json!("{bad")),
            (json!("NaN"), json!("NaN")),
            (json!("01"), json!("01")),
            (json!("[1,]"), json!("[1,]")),
            (json!(null), json!(null)),
            (json!(0), json!(0)),
            (json!(false), json!(false)),
            (
                json!({"a": [1, {"b": null}]}),
                json!({"a": [1, {"b": null}]}),
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&j, &raw), want, "{raw}");
        }
    }

    #[test]
    fn json_required_treats_empty_containers_as_blank_but_not_zero_or_false() {
        let j = field(json!({"type": "json", "required": true}));
        for raw in [
            json!(null),
            json!(""),
            json!([]),
            json!({}),
            json!("null"),
            json!("\"\""),
            json!("[]"),
            json!("{}"),
        ] {
            assert_eq!(err(&j, raw.clone()), FieldError::required(), "{raw}");
        }
        for raw in [
            json!(0),
            json!(false),
            json!("0"),
            json!("false"),
            json!(" "),
        ] {
            ok(&j, raw);
        }
    }

    #[test]
    fn json_size_is_that_of_go_marshal() {
        let j = field(json!({"type": "json", "maxSize": 10}));
        ok(&j, json!("123456789"));
        ok(&j, json!("a b"));
        ok(&j, json!("éééé")); // "\"éééé\"" is 10 bytes
        for raw in [
            json!({"a": "1234"}),
            json!([1, 2, 3, 4, 5]),
            json!("abcdefghi"),
            json!({"a": "ééé"}),
        ] {
            assert_eq!(
                error_json(&err(&j, raw.clone())),
                json!({"code": "validation_json_size_limit", "message": "The maximum allowed JSON size is 10 bytes.", "params": {"maxSize": 10}}),
                "{raw}"
            );
        }
        // Go escapes `<`, `>`, `&` as \u003c… so "<>" weighs 14 bytes.
        assert_eq!(go::json_len(&json!("<>")), 14);
        assert_eq!(
            go::json_len(&json!([1e21, 0.0000001, 2.0, "\n\u{1}"])),
            "[1e+21,1e-7,2,\"\\n\\u0001\"]".len()
        );
        let default = field(json!({"type": "json"}));
        ok(&default, json!("a".repeat((1 << 20) - 2)));
        assert_eq!(
            err(&default, json!("a".repeat((1 << 20) - 1))).message,
            "The maximum allowed JSON size is 1048576 bytes."
        );
    }

    #[test]
    fn password_checks_the_plain_text_with_its_own_messages() {
        let p = field(json!({"type": "password", "min": 3, "max": 10, "pattern": "^[a-z]+$"}));
        assert_eq!(
            error_json(&err(&p, json!("ab"))),
            json!({"code": "validation_min_text_constraint", "message": "Must be at least 3 character(s)."})
        );
        assert_eq!(
            error_json(&err(&p, json!("ABCDEFGHIJK"))),
            json!({"code": "validation_max_text_constraint", "message": "Must be less than 10 character(s)."})
        );
        assert_eq!(err(&p, json!("ABC")).code, "validation_invalid_format");
        assert_eq!(err(&p, json!(12345)).code, "validation_invalid_format");
        ok(&p, json!("abc"));
        ok(&p, json!(true)); // "true"
        ok(&p, json!(["abc"])); // ""
    }

    #[test]
    fn password_max_defaults_to_71_characters_and_72_bytes_is_the_hard_limit() {
        let p = field(json!({"type": "password"}));
        ok(&p, json!("a".repeat(71)));
        ok(&p, json!("é".repeat(36)));
        assert_eq!(
            err(&p, json!("a".repeat(72))).message,
            "Must be less than 71 character(s)."
        );
        for raw in ["a".repeat(73), "é".repeat(37)] {
            assert_eq!(
                error_json(&err(&p, json!(raw))),
                json!({"code": "validation_invalid_value", "message": "Invalid value."})
            );
        }
    }

    #[test]
    fn stored_password_hashes_are_not_revalidated() {
        let p =
            field(json!({"type": "password", "min": 8, "pattern": "^[a-z]+$", "required": true}));
        let bcrypt = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        assert!(is_password_hash(bcrypt));
        assert!(is_password_hash(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
        ));
        assert!(!is_password_hash("$2a$short"));
        ok(&p, json!(bcrypt));
        assert_eq!(err(&p, json!("")), FieldError::required());
        // PocketBase stringifies before the required check, so 0 and false are not blank.
        let required = field(json!({"type": "password", "required": true}));
        ok(&required, json!(0));
        ok(&required, json!(false));
    }

    #[test]
    fn geo_point_accepts_objects_and_json_text_with_exact_numeric_keys() {
        let g = field(json!({"type": "geoPoint"}));
        let cases = [
            (json!({"lon": 1, "lat": 2}), json!({"lon": 1, "lat": 2})),
            (json!("{\"lon\":1,\"lat\":2}"), json!({"lon": 1, "lat": 2})),
            (
                json!(" {\"lon\":1.5,\"lat\":2}"),
                json!({"lon": 1.5, "lat": 2}),
            ),
            (json!({"lon": 1}), json!({"lon": 1, "lat": 0})),
            (json!({"lon": null, "lat": 2}), json!({"lon": 0, "lat": 2})),
            (
                json!({"lon": 1, "lat": 2, "x": 3}),
                json!({"lon": 1, "lat": 2}),
            ),
            (json!({"lon": "1", "lat": "2"}), json!({"lon": 0, "lat": 0})),
            (json!({"lon": "abc", "lat": 2}), json!({"lon": 0, "lat": 0})),
            (json!({"lon": true, "lat": 2}), json!({"lon": 0, "lat": 0})),
            (json!({"LON": 1, "Lat": 2}), json!({"lon": 0, "lat": 0})),
            (
                json!("{\"lon\":\"5\",\"lat\":2}"),
                json!({"lon": 0, "lat": 0}),
            ),
            (json!("garbage"), json!({"lon": 0, "lat": 0})),
            (json!("[1,2]"), json!({"lon": 0, "lat": 0})),
            (json!([1, 2]), json!({"lon": 0, "lat": 0})),
            (json!(5), json!({"lon": 0, "lat": 0})),
            (json!(null), json!({"lon": 0, "lat": 0})),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(&g, &raw), want, "{raw}");
        }
    }

    #[test]
    fn geo_point_checks_latitude_before_longitude() {
        let g = field(json!({"type": "geoPoint"}));
        ok(&g, json!({"lon": 180, "lat": 90}));
        ok(&g, json!({"lon": -180, "lat": -90}));
        assert_eq!(
            error_json(&err(&g, json!({"lon": -181, "lat": -91}))),
            json!({"code": "validation_invalid_latitude", "message": "Latitude must be between -90 and 90 degrees."})
        );
        assert_eq!(
            error_json(&err(&g, json!({"lon": 1.5e300, "lat": 2}))),
            json!({"code": "validation_invalid_longitude", "message": "Longitude must be between -180 and 180 degrees."})
        );
        let required = field(json!({"type": "geoPoint", "required": true}));
        assert_eq!(
            err(&required, json!({"lon": 0, "lat": 0})),
            FieldError::required()
        );
        ok(&required, json!({"lon": 0, "lat": 1}));
    }

    #[test]
    fn modifier_keys_split_into_name_and_modifier() {
        assert_eq!(
            Modifier::split_key("tags+"),
            Some(("tags", Modifier::Append))
        );
        assert_eq!(
            Modifier::split_key("+tags"),
            Some(("tags", Modifier::Prepend))
        );
        assert_eq!(
            Modifier::split_key("tags-"),
            Some(("tags", Modifier::Remove))
        );
        assert_eq!(Modifier::split_key("tags"), None);
        assert_eq!(Modifier::split_key("-tags"), None);
    }

    #[test]
    fn list_modifiers_append_prepend_remove_and_dedupe() {
        let tags = field(json!({"type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 4}));
        let cases = [
            (
                json!(["a", "b"]),
                Modifier::Append,
                json!("c"),
                json!(["a", "b", "c"]),
            ),
            (
                json!(["a"]),
                Modifier::Append,
                json!(["d", "c", "a"]),
                json!(["a", "d", "c"]),
            ),
            (
                json!(["a"]),
                Modifier::Prepend,
                json!(["c", "d"]),
                json!(["c", "d", "a"]),
            ),
            (
                json!(["a", "b"]),
                Modifier::Prepend,
                json!(["b"]),
                json!(["b", "a"]),
            ),
            (
                json!(["a", "b"]),
                Modifier::Remove,
                json!("a"),
                json!(["b"]),
            ),
            (
                json!(["a", "b", "c"]),
                Modifier::Remove,
                json!("[\"a\",\"b\"]"),
                json!(["c"]),
            ),
            (json!(["c"]), Modifier::Remove, json!(null), json!(["c"])),
            (json!(["a"]), Modifier::Remove, json!(["z"]), json!(["a"])),
            (
                json!(["a", "b", "c", "d"]),
                Modifier::Append,
                json!("a"),
                json!(["a", "b", "c", "d"]),
            ),
        ];
        for (current, modifier, raw, want) in cases {
            assert_eq!(
                apply_modifier(&tags, &current, modifier, &raw),
                want,
                "{current} {modifier:?} {raw}"
            );
        }
    }

    #[test]
    fn single_value_modifiers_keep_the_last_item() {
        // PocketBase: t1 = "a"; `t1+` "b" ⇒ "b"; `+t1` "c" ⇒ "b"; `t1+` ["a","b"] on "b" ⇒ "a".
        let t1 = field(json!({"type": "select", "values": ["a", "b", "c", "d"], "maxSelect": 1}));
        assert_eq!(
            apply_modifier(&t1, &json!("a"), Modifier::Append, &json!("b")),
            json!("b")
        );
        assert_eq!(
            apply_modifier(&t1, &json!("b"), Modifier::Prepend, &json!("c")),
            json!("b")
        );
        assert_eq!(
            apply_modifier(&t1, &json!("b"), Modifier::Append, &json!(["a", "b"])),
            json!("a")
        );
        assert_eq!(
            apply_modifier(&t1, &json!("b"), Modifier::Remove, &json!("b")),
            json!("")
        );
    }

    #[test]
    fn number_modifiers_add_and_subtract_leniently() {
        let n = field(json!({"type": "number"}));
        assert_eq!(
            apply_modifier(&n, &json!(0), Modifier::Append, &json!(2)),
            json!(2)
        );
        assert_eq!(
            apply_modifier(&n, &json!(2), Modifier::Remove, &json!("1.5")),
            json!(0.5)
        );
        assert_eq!(
            apply_modifier(&n, &json!(1), Modifier::Append, &json!("abc")),
            json!(1)
        );
        assert_eq!(
            apply_modifier(&n, &json!(1), Modifier::Append, &json!(null)),
            json!(1)
        );
        assert_eq!(
            apply_modifier(&n, &json!(4), Modifier::Append, &json!(true)),
            json!(5)
        );
        assert_eq!(
            apply_modifier(&n, &json!(5), Modifier::Append, &json!([5])),
            json!(5)
        );
        // `+n` is not a number modifier: the key is ignored.
        assert_eq!(
            apply_modifier(&n, &json!(5), Modifier::Prepend, &json!(100)),
            json!(5)
        );
        let inf = apply_modifier(&n, &json!(5), Modifier::Append, &json!("Inf"));
        assert_eq!(inf, json!("+Inf"));
        assert_eq!(
            validate(&n, &inf).unwrap_err().code,
            "validation_not_a_number"
        );
        assert_eq!(
            apply_modifier(&n, &inf, Modifier::Remove, &json!(1)),
            json!("+Inf")
        );
    }

    #[test]
    fn other_types_ignore_modifiers() {
        let t = field(json!({"type": "text"}));
        assert!(!supports_modifier(&t.kind, Modifier::Append));
        assert_eq!(
            apply_modifier(&t, &json!("x"), Modifier::Append, &json!("more")),
            json!("x")
        );
        let file = field(json!({"type": "file"}));
        assert!(supports_modifier(&file.kind, Modifier::Prepend));
    }

    #[test]
    fn go_float_formats() {
        for (f, g) in [
            (10.0, "10"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-0.5, "-0.5"),
            (0.0, "0"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
        ] {
            assert_eq!(go::format_g(f), g, "{f}");
        }
        assert_eq!(go::parse_float("0x1p-1074"), Some(5e-324));
        assert_eq!(go::parse_float("0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(go::parse_float("0x1p99999"), None);
        assert_eq!(go::parse_float("1e5_0"), Some(1e50));
        assert_eq!(go::parse_float("1_e5"), None);
    }
}
