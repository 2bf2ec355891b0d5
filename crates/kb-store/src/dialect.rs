//! What differs between SQL dialects, as small rendering hooks. Everything else about a
//! query (its shape, aliases, parameter order) is shared in [`crate::sql`].

/// Rendering hooks of one SQL dialect. Each method appends to `out`.
pub trait Dialect: Send + Sync + 'static {
    /// Quote an identifier that came from the validated schema.
    fn quote(&self, ident: &str, out: &mut String) {
        out.push('"');
        out.push_str(&ident.replace('"', "\"\""));
        out.push('"');
    }

    /// One column of an index definition, with its collation.
    fn index_column(
        &self,
        column: &str,
        collation: Option<kb_core::index::Collation>,
        out: &mut String,
    ) {
        self.quote(column, out);
        if let Some(collation) = collation {
            out.push_str(" COLLATE ");
            out.push_str(collation.keyword());
        }
    }

    /// `value` is empty (`''` or NULL), or with `negated` it is neither.
    fn is_empty(&self, negated: bool, value: &str, out: &mut String) {
        if negated {
            out.push_str(&format!("({value} != '' AND {value} IS NOT NULL)"));
        } else {
            out.push_str(&format!("({value} = '' OR {value} IS NULL)"));
        }
    }

    /// A table-valued expansion of the JSON array `array` into rows with one text column
    /// reachable through [`Dialect::each_value`], for use after `LEFT JOIN`.
    fn json_each(&self, array: &str, alias: &str, out: &mut String);

    /// The element column of a [`Dialect::json_each`] row.
    fn each_value(&self, alias: &str, out: &mut String);

    /// `value` is an element of the JSON array `array`.
    fn array_contains(&self, array: &str, value: &str, out: &mut String);

    /// The value at `path` (a bound parameter holding the dialect's path text) in JSON `base`.
    fn json_extract(&self, base: &str, path_param: &str, out: &mut String);

    /// The dialect's path text for a JSON path, to be bound as a parameter.
    fn json_path(&self, steps: &[kb_query::plan::JsonStep]) -> String;

    /// An ordering comparison (`symbol` is ` > `, ` <= `, …) whose operand types are known
    /// only when it runs (a value out of JSON, or two bound values): numbers must order as
    /// numbers, whichever side holds them.
    fn dynamic_ordering(&self, left: &str, symbol: &str, right: &str, out: &mut String) {
        out.push_str(left);
        out.push_str(symbol);
        out.push_str(right);
    }

    /// The number of elements of the JSON array `array` (0 for anything else).
    fn array_length(&self, array: &str, out: &mut String);

    /// Null-safe equality (`IS` / `IS NOT DISTINCT FROM`).
    fn null_safe_eq(&self, negated: bool, left: &str, right: &str, out: &mut String);

    /// `left LIKE right` with `\` as the escape character, ASCII case-insensitive.
    fn like(&self, negated: bool, left: &str, right: &str, out: &mut String);

    /// Great-circle distance in km between two (lon, lat) points.
    fn geo_distance(&self, args: [&str; 4], out: &mut String);

    /// SQLite-compatible `strftime(format, time, modifiers...)`.
    fn strftime(&self, args: &[String], out: &mut String);

    /// The direction of an ORDER BY entry; NULLs come first in ascending order (SQLite's).
    fn sort_direction(&self, descending: bool, out: &mut String) {
        out.push_str(if descending { " DESC" } else { " ASC" });
    }

    /// An expression giving insertion order, for `@rowid` sorts.
    fn rowid(&self, alias: &str, out: &mut String);

    /// A random ordering key, for `@random` sorts.
    fn random(&self, out: &mut String);

    /// The placeholder for the `n`-th (1-based) bound parameter. Numbered placeholders let
    /// the hooks above place sub-expressions in any order.
    fn placeholder(&self, n: usize, out: &mut String);

    /// What turns a bound parameter into a value of `field`'s column type, where the
    /// dialect needs that said (nothing for dynamically typed ones).
    fn column_type_cast(&self, _field: &kb_core::Field, _out: &mut String) {}
}
