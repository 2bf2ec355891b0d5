//! Numbers on the wire. The API's numbers are float64, but an integral value is written as
//! an integer (`12`, not `12.0`), as PocketBase writes them.

use serde::Serializer;
use serde_json::{Number, Value};

/// Largest magnitude up to which every integer is exactly representable as an f64.
const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;

/// The JSON form of a number: an integer when it is one, `null` for NaN and infinities.
pub fn to_json(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() <= EXACT_INTEGER_LIMIT {
        Value::Number((n as i64).into())
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// Normalise a JSON value's float numbers that are integral to integers, recursively.
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) if n.is_f64() => n.as_f64().map_or(Value::Null, to_json),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}

/// `serialize_with` for optional numbers of options (`min`, `max`).
pub fn serialize_option<S: Serializer>(
    value: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(n) => serde::Serialize::serialize(&to_json(*n), serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integral_floats_are_integers() {
        assert_eq!(to_json(12.0).to_string(), "12");
        assert_eq!(to_json(-3.0).to_string(), "-3");
        assert_eq!(to_json(12.5).to_string(), "12.5");
        assert_eq!(to_json(f64::NAN), Value::Null);
        assert_eq!(
            normalize(json!({"a": [1.0, 2.5]})).to_string(),
            r#"{"a":[1,2.5]}"#
        );
    }
}
