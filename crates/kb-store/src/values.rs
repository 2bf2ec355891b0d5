//! Values crossing the storage boundary: what a column or parameter holds, independent of
//! the driver, and the conversions between them and the API's canonical JSON values.

use kb_core::field::{Field, StorageClass};
use kb_query::plan::{DateMacro, ParamSource, RequestRead, RequestRef, Value as PlanValue};
use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

/// A SQL value, as bound to a parameter or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
}

/// Encode a field's canonical JSON value for its column.
pub fn encode(field: &Field, value: &Value) -> SqlValue {
    match field.kind.storage_class() {
        StorageClass::Text => match value {
            Value::String(s) => SqlValue::Text(s.clone()),
            Value::Null => SqlValue::Text(String::new()),
            other => SqlValue::Text(other.to_string()),
        },
        StorageClass::Number => match value.as_f64() {
            Some(n) => number_value(n),
            None => SqlValue::Integer(0),
        },
        StorageClass::Bool => SqlValue::Integer(i64::from(value.as_bool().unwrap_or(false))),
        StorageClass::JsonArray => match value {
            Value::Array(_) => SqlValue::Text(value.to_string()),
            _ => SqlValue::Text("[]".into()),
        },
        StorageClass::Json => match value {
            Value::Null => SqlValue::Null,
            other => SqlValue::Text(other.to_string()),
        },
        StorageClass::GeoPoint => SqlValue::Text(value.to_string()),
    }
}

/// Integral floats are stored as integers so they read back (and print) as `12`, not `12.0`.
fn number_value(n: f64) -> SqlValue {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        SqlValue::Integer(n as i64)
    } else {
        SqlValue::Real(n)
    }
}

/// Decode a column into the field's canonical JSON value. Anything a foreign writer may
/// have stored (NULLs, wrong types, malformed JSON) decodes to the field's zero form rather
/// than failing the read.
pub fn decode(field: &Field, value: SqlValue) -> Value {
    match field.kind.storage_class() {
        StorageClass::Text => match value {
            SqlValue::Text(s) => Value::String(s),
            SqlValue::Integer(i) => Value::String(i.to_string()),
            SqlValue::Real(r) => Value::String(r.to_string()),
            SqlValue::Null => Value::String(String::new()),
        },
        StorageClass::Number => match value {
            SqlValue::Integer(i) => Value::Number(i.into()),
            SqlValue::Real(r) => kb_core::number::to_json(r),
            SqlValue::Text(t) => kb_core::number::to_json(t.trim().parse().unwrap_or(0.0)),
            SqlValue::Null => Value::Number(0.into()),
        },
        StorageClass::Bool => Value::Bool(match value {
            SqlValue::Integer(i) => i != 0,
            SqlValue::Real(r) => r != 0.0,
            SqlValue::Text(t) => t == "1" || t.eq_ignore_ascii_case("true"),
            SqlValue::Null => false,
        }),
        StorageClass::JsonArray => match value {
            SqlValue::Text(t) => match serde_json::from_str::<Value>(&t) {
                Ok(Value::Array(items)) => Value::Array(items),
                Ok(Value::String(s)) if !s.is_empty() => Value::Array(vec![Value::String(s)]),
                _ if !t.is_empty() && !t.starts_with('[') => Value::Array(vec![Value::String(t)]),
                _ => Value::Array(Vec::new()),
            },
            _ => Value::Array(Vec::new()),
        },
        StorageClass::Json => match value {
            SqlValue::Text(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
            SqlValue::Integer(i) => Value::Number(i.into()),
            SqlValue::Real(r) => kb_core::number::to_json(r),
            SqlValue::Null => Value::Null,
        },
        StorageClass::GeoPoint => {
            // Always `{lon, lat}` in that order, whatever order the database keeps the keys in.
            let point = match value {
                SqlValue::Text(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
                _ => Value::Null,
            };
            let coordinate = |key: &str| point.get(key).cloned().unwrap_or(Value::from(0));
            serde_json::json!({"lon": coordinate("lon"), "lat": coordinate("lat")})
        }
    }
}

/// Values a filter can read from the request (`@request.auth`, `.body`, `.query`,
/// `.headers`, `.method`, `.context`). The parts are shared: the API layer builds them once
/// per request, and the request info of each statement only counts references.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    /// The auth record with `collectionId` and `collectionName` (empty ids for a guest).
    pub auth: Arc<Value>,
    /// The submitted body; `None` reads as `{}`.
    pub body: Option<Arc<Map<String, Value>>>,
    pub query: Arc<Map<String, Value>>,
    /// Header names in snake case (`user_agent`).
    pub headers: Arc<Map<String, Value>>,
    pub method: Arc<str>,
    pub context: &'static str,
}

impl RequestInfo {
    fn lookup(&self, path: &[String]) -> Option<Cow<'_, Value>> {
        let (part, rest) = path.split_first()?;
        match part.as_str() {
            "auth" => walk(&self.auth, rest).map(Cow::Borrowed),
            "body" => match &self.body {
                Some(body) => walk_map(body, rest),
                None if rest.is_empty() => Some(Cow::Owned(Value::Object(Map::new()))),
                None => None,
            },
            "query" => walk_map(&self.query, rest),
            "headers" => walk_map(&self.headers, rest),
            "method" if rest.is_empty() => Some(Cow::Owned(Value::from(&*self.method))),
            "context" if rest.is_empty() => Some(Cow::Owned(Value::from(self.context))),
            _ => None,
        }
    }
}

/// The value at `path` inside `map`; the map itself (as an object) for an empty path.
fn walk_map<'a>(map: &'a Map<String, Value>, path: &[String]) -> Option<Cow<'a, Value>> {
    match path.split_first() {
        None => Some(Cow::Owned(Value::Object(map.clone()))),
        Some((key, rest)) => walk(map.get(key)?, rest).map(Cow::Borrowed),
    }
}

/// The value at `path` inside `value` (object keys only).
fn walk<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = value;
    for key in path {
        current = current.as_object()?.get(key)?;
    }
    Some(current)
}

/// The time macros are evaluated against, fixed once per statement.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub jiff::Timestamp);

fn plan_value(value: &PlanValue) -> SqlValue {
    match value {
        PlanValue::Null => SqlValue::Null,
        PlanValue::Text(t) => SqlValue::Text(t.clone()),
        PlanValue::Number(n) => number_value(*n),
        PlanValue::Bool(b) => SqlValue::Integer(i64::from(*b)),
    }
}

fn json_to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

fn request_value(request: &RequestInfo, reference: &RequestRef) -> SqlValue {
    let found = request.lookup(&reference.path);
    let found = found.as_deref();
    match reference.read {
        RequestRead::Value => found.map(json_to_sql).unwrap_or(SqlValue::Null),
        RequestRead::IsSet => SqlValue::Integer(i64::from(found.is_some())),
        RequestRead::Length => SqlValue::Integer(match found {
            None | Some(Value::Null) => 0,
            Some(Value::Array(items)) => items.len() as i64,
            Some(Value::String(s)) if s.is_empty() => 0,
            Some(_) => 1,
        }),
        RequestRead::JsonArray => SqlValue::Text(match found {
            None | Some(Value::Null) => "[]".into(),
            Some(array @ Value::Array(_)) => array.to_string(),
            Some(Value::String(s)) if s.is_empty() => "[]".into(),
            Some(scalar) => Value::Array(vec![scalar.clone()]).to_string(),
        }),
    }
}

fn macro_value(m: DateMacro, clock: Clock) -> SqlValue {
    use jiff::{ToSpan, tz::TimeZone};
    let now = clock.0.to_zoned(TimeZone::UTC);
    let day_start = now.start_of_day().unwrap_or_else(|_| now.clone());
    let text = |z: &jiff::Zoned| SqlValue::Text(kb_core::datetime::format(z.timestamp()));
    let minus_ms = |z: jiff::Zoned| z.checked_sub(1.millisecond()).unwrap_or(z);
    match m {
        DateMacro::Now => text(&now),
        DateMacro::Yesterday => text(&now.checked_sub(1.day()).unwrap_or(now.clone())),
        DateMacro::Tomorrow => text(&now.checked_add(1.day()).unwrap_or(now.clone())),
        DateMacro::TodayStart => text(&day_start),
        DateMacro::TodayEnd => text(&minus_ms(
            day_start.checked_add(1.day()).unwrap_or(day_start.clone()),
        )),
        DateMacro::MonthStart => text(
            &now.first_of_month()
                .and_then(|d| d.start_of_day())
                .unwrap_or(day_start.clone()),
        ),
        DateMacro::MonthEnd => text(&minus_ms(
            now.first_of_month()
                .and_then(|d| d.start_of_day())
                .and_then(|d| d.checked_add(1.month()))
                .unwrap_or(day_start.clone()),
        )),
        DateMacro::YearStart => text(
            &now.first_of_year()
                .and_then(|d| d.start_of_day())
                .unwrap_or(day_start.clone()),
        ),
        DateMacro::YearEnd => text(&minus_ms(
            now.first_of_year()
                .and_then(|d| d.start_of_day())
                .and_then(|d| d.checked_add(1.year()))
                .unwrap_or(day_start.clone()),
        )),
        DateMacro::Second => SqlValue::Integer(now.second().into()),
        DateMacro::Minute => SqlValue::Integer(now.minute().into()),
        DateMacro::Hour => SqlValue::Integer(now.hour().into()),
        DateMacro::Day => SqlValue::Integer(now.day().into()),
        DateMacro::Month => SqlValue::Integer(now.month().into()),
        DateMacro::Weekday => SqlValue::Integer(now.weekday().to_sunday_zero_offset().into()),
        DateMacro::Year => SqlValue::Integer(now.year().into()),
    }
}

/// The value to bind for a parameter source.
pub fn param_value(source: &ParamSource, request: &RequestInfo, clock: Clock) -> SqlValue {
    match source {
        ParamSource::Value(v) => plan_value(v),
        ParamSource::Request(r) => request_value(request, r),
        ParamSource::Macro(m) => macro_value(*m, clock),
    }
}
