//! PostgreSQL's rendering hooks. The JSON helpers (`kb_json_array`, `kb_json`,
//! `kb_geo_distance`, `kb_strftime`) are SQL functions created by [`super::ddl::bootstrap`],
//! each with a `jsonb` and a `text` overload so the same SQL works on a typed column, a
//! view's computed text and a bound parameter.

use kb_core::index::Collation;
use kb_query::plan::JsonStep;

use crate::dialect::Dialect;

/// The hidden column holding insertion order (`@rowid`); never part of a collection's fields.
pub const ROWID_COLUMN: &str = "_kb_rowid";

pub struct Postgres;

fn push_all(out: &mut String, parts: &[&str]) {
    for part in parts {
        out.push_str(part);
    }
}

/// An element of a PostgreSQL text-array literal (`{"a","0"}`), quoted and escaped.
fn array_element(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Dialect for Postgres {
    fn index_column(&self, column: &str, collation: Option<Collation>, out: &mut String) {
        // PostgreSQL has no NOCASE/RTRIM collations: index the folded expression instead, so
        // a unique index still compares the way SQLite's collation does.
        let function = match collation {
            Some(Collation::NoCase) => Some("lower"),
            Some(Collation::RTrim) => Some("rtrim"),
            Some(Collation::Binary) | None => None,
        };
        match function {
            Some(function) => {
                out.push_str(function);
                out.push('(');
                self.quote(column, out);
                out.push(')');
            }
            None => self.quote(column, out),
        }
    }

    fn is_empty(&self, negated: bool, value: &str, out: &mut String) {
        // Compared as text, so a number, boolean or jsonb operand is never parsed as `''`.
        if negated {
            push_all(
                out,
                &[
                    "(CAST(",
                    value,
                    " AS text) != '' AND ",
                    value,
                    " IS NOT NULL)",
                ],
            );
        } else {
            push_all(
                out,
                &["(CAST(", value, " AS text) = '' OR ", value, " IS NULL)"],
            );
        }
    }

    fn json_each(&self, array: &str, alias: &str, out: &mut String) {
        push_all(
            out,
            &["jsonb_array_elements_text(kb_json_array(", array, ")) AS "],
        );
        self.quote(alias, out);
        out.push_str(" (\"value\")");
    }

    fn each_value(&self, alias: &str, out: &mut String) {
        self.quote(alias, out);
        out.push_str(".\"value\"");
    }

    fn array_contains(&self, array: &str, value: &str, out: &mut String) {
        push_all(
            out,
            &["(kb_json_array(", array, ") ? CAST(", value, " AS text))"],
        );
    }

    fn json_extract(&self, base: &str, path_param: &str, out: &mut String) {
        push_all(
            out,
            &[
                "(kb_json(",
                base,
                ") #>> CAST(CAST(",
                path_param,
                " AS text) AS text[]))",
            ],
        );
    }

    fn json_path(&self, steps: &[JsonStep]) -> String {
        let mut path = String::from("{");
        for (i, step) in steps.iter().enumerate() {
            if i > 0 {
                path.push(',');
            }
            match step {
                JsonStep::Key(key) => array_element(key, &mut path),
                JsonStep::Index(index) => array_element(&index.to_string(), &mut path),
            }
        }
        path.push('}');
        path
    }

    fn dynamic_ordering(&self, left: &str, symbol: &str, right: &str, out: &mut String) {
        // Extracted JSON and untyped parameters are text here: compare as jsonb, numeric
        // text as a number.
        push_all(
            out,
            &[
                "kb_json_order(",
                left,
                ")",
                symbol,
                "kb_json_order(",
                right,
                ")",
            ],
        );
    }

    fn array_length(&self, array: &str, out: &mut String) {
        push_all(out, &["jsonb_array_length(kb_json_array(", array, "))"]);
    }

    fn null_safe_eq(&self, negated: bool, left: &str, right: &str, out: &mut String) {
        if negated {
            push_all(out, &[left, " IS DISTINCT FROM ", right]);
        } else {
            // `IS NOT DISTINCT FROM` cannot use an index; this can. It is NULL rather than
            // false when one side alone is NULL, which the renderer never tells apart: it
            // only combines comparisons with AND, OR, WHERE and `IS NOT TRUE`.
            push_all(
                out,
                &[
                    "(",
                    left,
                    " = ",
                    right,
                    " OR (",
                    left,
                    " IS NULL AND ",
                    right,
                    " IS NULL))",
                ],
            );
        }
    }

    fn like(&self, negated: bool, left: &str, right: &str, out: &mut String) {
        push_all(
            out,
            &[
                "(CAST(",
                left,
                if negated {
                    " AS text) NOT ILIKE CAST("
                } else {
                    " AS text) ILIKE CAST("
                },
                right,
                " AS text) ESCAPE '\\')",
            ],
        );
    }

    fn geo_distance(&self, args: [&str; 4], out: &mut String) {
        out.push_str("kb_geo_distance(");
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_all(out, &["CAST(", arg, " AS double precision)"]);
        }
        out.push(')');
    }

    fn strftime(&self, args: &[String], out: &mut String) {
        out.push_str("kb_strftime(");
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            push_all(out, &["CAST(", arg, " AS text)"]);
        }
        out.push(')');
    }

    fn sort_direction(&self, descending: bool, out: &mut String) {
        // PostgreSQL puts NULLs last when ascending; SQLite puts them first.
        out.push_str(if descending {
            " DESC NULLS LAST"
        } else {
            " ASC NULLS FIRST"
        });
    }

    fn rowid(&self, alias: &str, out: &mut String) {
        self.quote(alias, out);
        out.push('.');
        self.quote(ROWID_COLUMN, out);
    }

    fn random(&self, out: &mut String) {
        out.push_str("random()");
    }

    fn placeholder(&self, n: usize, out: &mut String) {
        out.push('$');
        out.push_str(&n.to_string());
    }

    fn column_type_cast(&self, field: &kb_core::Field, out: &mut String) {
        use kb_core::field::StorageClass;
        out.push_str(match field.kind.storage_class() {
            StorageClass::Text => "::text COLLATE \"C\"",
            StorageClass::Json => "::text",
            StorageClass::Number => "::double precision",
            StorageClass::Bool => "::boolean",
            StorageClass::JsonArray | StorageClass::GeoPoint => "::jsonb",
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_are_escaped_text_arrays() {
        let path = Postgres.json_path(&[
            JsonStep::Key("a\"b".into()),
            JsonStep::Index(2),
            JsonStep::Key("c\\".into()),
        ]);
        assert_eq!(path, r#"{"a\"b","2","c\\"}"#);
    }

    #[test]
    fn equality_stays_indexable() {
        let mut out = String::new();
        Postgres.null_safe_eq(false, r#""t"."u""#, "$1", &mut out);
        assert_eq!(out, r#"("t"."u" = $1 OR ("t"."u" IS NULL AND $1 IS NULL))"#);
    }

    #[test]
    fn nocase_indexes_fold_case() {
        let mut out = String::new();
        Postgres.index_column("email", Some(Collation::NoCase), &mut out);
        assert_eq!(out, r#"lower("email")"#);
    }
}
