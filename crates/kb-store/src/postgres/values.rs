//! Conversions between [`SqlValue`] and PostgreSQL's wire values. Parameters take the type
//! the server inferred for their placeholder and are converted the way SQLite's column
//! affinity would convert them, so a filter compares the same on both backends.

use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use crate::values::SqlValue;

type BoxError = Box<dyn Error + Sync + Send>;

/// A parameter value already converted to the placeholder's type.
#[derive(Debug)]
pub enum PgParam {
    Null,
    Bool(bool),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Text(String),
    Json(serde_json::Value),
}

impl ToSql for PgParam {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            PgParam::Null => Ok(IsNull::Yes),
            PgParam::Bool(v) => v.to_sql(ty, out),
            PgParam::Int2(v) => v.to_sql(ty, out),
            PgParam::Int4(v) => v.to_sql(ty, out),
            PgParam::Int8(v) => v.to_sql(ty, out),
            PgParam::Float4(v) => v.to_sql(ty, out),
            PgParam::Float8(v) => v.to_sql(ty, out),
            PgParam::Text(v) => v.to_sql(ty, out),
            PgParam::Json(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn as_f64(value: &SqlValue) -> Option<f64> {
    match value {
        SqlValue::Null => None,
        SqlValue::Integer(i) => Some(*i as f64),
        SqlValue::Real(r) => Some(*r),
        // Text that is no number compares like SQLite's text against a number: never equal,
        // greater than every number; NaN does exactly that in PostgreSQL.
        SqlValue::Text(t) => Some(t.trim().parse().unwrap_or(f64::NAN)),
    }
}

fn as_i64(value: &SqlValue) -> Option<i64> {
    match value {
        SqlValue::Null => None,
        SqlValue::Integer(i) => Some(*i),
        SqlValue::Real(r) => Some(*r as i64),
        SqlValue::Text(t) => t.trim().parse().ok(),
    }
}

fn as_text(value: SqlValue) -> Option<String> {
    match value {
        SqlValue::Null => None,
        SqlValue::Integer(i) => Some(i.to_string()),
        SqlValue::Real(r) => Some(kb_core::number::to_json(r).to_string()),
        SqlValue::Text(t) => Some(t),
    }
}

/// Convert a value for a placeholder of type `ty`.
pub fn param(value: SqlValue, ty: &Type) -> PgParam {
    let converted =
        match *ty {
            Type::BOOL => match &value {
                SqlValue::Text(t) => match t.as_str() {
                    "1" | "true" | "TRUE" => Some(PgParam::Bool(true)),
                    "0" | "false" | "FALSE" => Some(PgParam::Bool(false)),
                    _ => None,
                },
                other => as_f64(other).map(|n| PgParam::Bool(n != 0.0)),
            },
            Type::INT2 => as_i64(&value)
                .map(|n| PgParam::Int2(n.clamp(i16::MIN.into(), i16::MAX.into()) as i16)),
            Type::INT4 => as_i64(&value)
                .map(|n| PgParam::Int4(n.clamp(i32::MIN.into(), i32::MAX.into()) as i32)),
            Type::INT8 => as_i64(&value).map(PgParam::Int8),
            Type::FLOAT4 => as_f64(&value).map(|n| PgParam::Float4(n as f32)),
            Type::FLOAT8 => as_f64(&value).map(PgParam::Float8),
            // JSON text as stored by `values::encode`; anything else is a JSON scalar.
            Type::JSONB | Type::JSON => match value {
                SqlValue::Null => None,
                SqlValue::Integer(i) => Some(PgParam::Json(i.into())),
                SqlValue::Real(r) => Some(PgParam::Json(kb_core::number::to_json(r))),
                SqlValue::Text(t) => Some(PgParam::Json(
                    serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)),
                )),
            },
            _ => as_text(value).map(PgParam::Text),
        };
    converted.unwrap_or(PgParam::Null)
}

/// A column read back as a [`SqlValue`], whatever its PostgreSQL type (a view may compute
/// anything).
pub struct Cell(pub SqlValue);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let value = match *ty {
            Type::BOOL => SqlValue::Integer(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => SqlValue::Integer(i16::from_sql(ty, raw)?.into()),
            Type::INT4 => SqlValue::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT8 => SqlValue::Integer(i64::from_sql(ty, raw)?),
            Type::FLOAT4 => SqlValue::Real(f32::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => SqlValue::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw).map_or(SqlValue::Null, SqlValue::Real),
            // jsonb's binary form is a version byte, then the JSON text.
            Type::JSONB => SqlValue::Text(
                String::from_utf8_lossy(raw.get(1..).unwrap_or_default()).into_owned(),
            ),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
                SqlValue::Text(String::from_utf8_lossy(raw).into_owned())
            }
            _ => SqlValue::Null,
        };
        Ok(Cell(value))
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(SqlValue::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `numeric` in binary form (base-10000 digits) as a float; `None` for NaN or malformed.
fn numeric(raw: &[u8]) -> Option<f64> {
    let word = |i: usize| raw.get(i..i + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let (count, weight, sign) = (word(0)?, word(2)?, word(4)? as u16);
    if sign == 0xC000 {
        return None;
    }
    let mut value = 0f64;
    for i in 0..usize::try_from(count).ok()? {
        let digit = f64::from(word(8 + 2 * i)?);
        value += digit * 10_000f64.powi(i32::from(weight) - i as i32);
    }
    Some(if sign == 0x4000 { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_no_number_binds_as_nan() {
        assert!(
            matches!(param(SqlValue::Text("abc".into()), &Type::FLOAT8), PgParam::Float8(n) if n.is_nan())
        );
        assert!(
            matches!(param(SqlValue::Text(" 12 ".into()), &Type::FLOAT8), PgParam::Float8(n) if n == 12.0)
        );
    }

    #[test]
    fn numbers_bind_as_text_the_way_they_print() {
        assert!(matches!(param(SqlValue::Real(2.5), &Type::TEXT), PgParam::Text(t) if t == "2.5"));
        assert!(matches!(
            param(SqlValue::Integer(1), &Type::BOOL),
            PgParam::Bool(true)
        ));
    }

    #[test]
    fn numeric_decodes_base_10000_digits() {
        // 12345.5: digits [1, 2345, 5000], weight 1, positive, scale 1.
        let raw = [0, 3, 0, 1, 0, 0, 0, 1, 0, 1, 0x09, 0x29, 0x13, 0x88];
        assert_eq!(numeric(&raw), Some(12345.5));
    }
}
