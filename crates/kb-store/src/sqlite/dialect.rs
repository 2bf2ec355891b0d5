//! SQLite's rendering hooks.

use kb_query::plan::JsonStep;

use crate::dialect::Dialect;

/// Name of the scalar function registered on every connection for `geoDistance`.
pub const GEO_DISTANCE_FN: &str = "kb_geo_distance";

pub struct Sqlite;

/// `value` as a JSON array text whatever it holds, so the JSON functions never fail on it:
/// NULL and `''` are empty, a JSON array stays, other JSON and plain text become a
/// one-element array. (A view's computed column or a foreign writer may store anything.)
fn as_json_array(value: &str, out: &mut String) {
    out.push_str("(CASE WHEN ");
    out.push_str(value);
    out.push_str(" IS NULL OR ");
    out.push_str(value);
    out.push_str(" = '' THEN '[]' WHEN json_valid(");
    out.push_str(value);
    out.push_str(") THEN (CASE WHEN json_type(");
    out.push_str(value);
    out.push_str(") = 'array' THEN ");
    out.push_str(value);
    out.push_str(" ELSE json_array(json(");
    out.push_str(value);
    out.push_str(")) END) ELSE json_array(");
    out.push_str(value);
    out.push_str(") END)");
}

impl Dialect for Sqlite {
    fn json_each(&self, array: &str, alias: &str, out: &mut String) {
        out.push_str("json_each(");
        as_json_array(array, out);
        out.push_str(") AS ");
        self.quote(alias, out);
    }

    fn each_value(&self, alias: &str, out: &mut String) {
        self.quote(alias, out);
        out.push_str(".value");
    }

    fn array_contains(&self, array: &str, value: &str, out: &mut String) {
        out.push_str(value);
        out.push_str(" IN (SELECT value FROM json_each(");
        as_json_array(array, out);
        out.push_str("))");
    }

    fn json_extract(&self, base: &str, path_param: &str, out: &mut String) {
        // Text that is not JSON has no inside: the path is NULL there.
        out.push_str("(CASE WHEN json_valid(");
        out.push_str(base);
        out.push_str(") THEN json_extract(");
        out.push_str(base);
        out.push_str(", ");
        out.push_str(path_param);
        out.push_str(") END)");
    }

    fn json_path(&self, steps: &[JsonStep]) -> String {
        let mut path = String::from("$");
        for step in steps {
            match step {
                JsonStep::Key(key) => {
                    path.push_str(".\"");
                    path.push_str(&key.replace('"', ""));
                    path.push('"');
                }
                JsonStep::Index(i) => {
                    path.push('[');
                    path.push_str(&i.to_string());
                    path.push(']');
                }
            }
        }
        path
    }

    fn array_length(&self, array: &str, out: &mut String) {
        out.push_str("json_array_length(");
        as_json_array(array, out);
        out.push(')');
    }

    fn null_safe_eq(&self, negated: bool, left: &str, right: &str, out: &mut String) {
        out.push_str(left);
        out.push_str(if negated { " IS NOT " } else { " IS " });
        out.push_str(right);
    }

    fn like(&self, negated: bool, left: &str, right: &str, out: &mut String) {
        out.push_str(left);
        out.push_str(if negated { " NOT LIKE " } else { " LIKE " });
        out.push_str(right);
        out.push_str(" ESCAPE '\\'");
    }

    fn geo_distance(&self, args: [&str; 4], out: &mut String) {
        out.push_str(GEO_DISTANCE_FN);
        out.push('(');
        out.push_str(&args.join(", "));
        out.push(')');
    }

    fn strftime(&self, args: &[String], out: &mut String) {
        out.push_str("strftime(");
        out.push_str(&args.join(", "));
        out.push(')');
    }

    fn rowid(&self, alias: &str, out: &mut String) {
        self.quote(alias, out);
        out.push_str(".rowid");
    }

    fn random(&self, out: &mut String) {
        out.push_str("RANDOM()");
    }

    fn placeholder(&self, n: usize, out: &mut String) {
        out.push('?');
        out.push_str(&n.to_string());
    }
}

/// Haversine distance in km, registered as [`GEO_DISTANCE_FN`].
pub fn register_functions(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        GEO_DISTANCE_FN,
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let mut v = [0f64; 4];
            for (i, slot) in v.iter_mut().enumerate() {
                match ctx.get::<Option<f64>>(i) {
                    Ok(Some(x)) => *slot = x,
                    _ => return Ok(None),
                }
            }
            Ok(Some(haversine_km(v[0], v[1], v[2], v[3])))
        },
    )
}

fn haversine_km(lon_a: f64, lat_a: f64, lon_b: f64, lat_b: f64) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6371.0;
    let (phi_a, phi_b) = (lat_a.to_radians(), lat_b.to_radians());
    let d_phi = (lat_b - lat_a).to_radians();
    let d_lambda = (lon_b - lon_a).to_radians();
    let h =
        (d_phi / 2.0).sin().powi(2) + phi_a.cos() * phi_b.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_sofia_plovdiv() {
        let km = haversine_km(23.3219, 42.6977, 24.7453, 42.1354);
        assert!((km - 132.0).abs() < 3.0, "{km}");
    }
}
