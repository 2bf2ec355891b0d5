//! The SQL the SQLite dialect renders for representative filters: every value a numbered
//! parameter, identifiers quoted, joins shared between comparisons on the same path.

use kb_core::Schema;
use kb_core::collection::Collection;
use kb_query::plan::{ParamSource, Value as PlanValue};
use kb_query::{ResolveOptions, resolve_filter};
use kb_store::sql::{Param, select_records};
use kb_store::sqlite::Sqlite;
use serde_json::json;

fn schema() -> Schema {
    let users: Collection = serde_json::from_value(json!({
        "id": "users0000000001", "name": "users", "type": "base",
        "fields": [{"name": "id", "type": "text", "primaryKey": true}, {"name": "name", "type": "text"}]
    }))
    .unwrap();
    let posts: Collection = serde_json::from_value(json!({
        "id": "posts0000000001", "name": "posts", "type": "base",
        "fields": [
            {"name": "id", "type": "text", "primaryKey": true},
            {"name": "title", "type": "text"},
            {"name": "views", "type": "number"},
            {"name": "author", "type": "relation", "collectionId": "users0000000001", "maxSelect": 1},
            {"name": "tags", "type": "select", "values": ["a", "b"], "maxSelect": 5},
            {"name": "meta", "type": "json"}
        ]
    }))
    .unwrap();
    let members: Collection = serde_json::from_value(json!({
        "id": "membr0000000001", "name": "members", "type": "base",
        "fields": [
            {"name": "id", "type": "text", "primaryKey": true},
            {"name": "user", "type": "relation", "collectionId": "users0000000001", "maxSelect": 1},
            {"name": "post", "type": "relation", "collectionId": "posts0000000001", "maxSelect": 1}
        ]
    }))
    .unwrap();
    Schema::new(vec![users, posts, members], 1)
}

fn render(filter: &str) -> (String, Vec<Param>) {
    render_in(&Sqlite, filter)
}

fn render_in(dialect: &dyn kb_store::dialect::Dialect, filter: &str) -> (String, Vec<Param>) {
    let schema = schema();
    let posts = schema.by_name("posts").unwrap();
    let expr = kb_filter::parse_filter(filter).unwrap().unwrap();
    let options = ResolveOptions {
        allow_hidden: true,
        allow_request: true,
        auth_collection: None,
        respect_list_rules: false,
    };
    let plan = resolve_filter(&expr, &schema, posts, &options).unwrap();
    let statement = select_records(dialect, posts, &[&plan], &[], None, 0);
    let where_at = statement.sql.find(" WHERE ").unwrap();
    (statement.sql[where_at + 7..].to_owned(), statement.params)
}

fn text(value: &str) -> Param {
    Param::Source(ParamSource::Value(PlanValue::Text(value.into())))
}

#[test]
fn plain_comparisons_bind_every_value() {
    let (sql, params) = render("title = 'x' && views > 10");
    assert_eq!(sql, r#"(("_r0"."title" = ?1) AND ("_r0"."views" > ?2))"#);
    assert_eq!(
        params,
        vec![
            text("x"),
            Param::Source(ParamSource::Value(PlanValue::Number(10.0)))
        ]
    );
}

#[test]
fn empty_string_matches_empty_and_null() {
    let (sql, params) = render("title = '' || title != null");
    assert_eq!(
        sql,
        r#"((("_r0"."title" = '' OR "_r0"."title" IS NULL)) OR (("_r0"."title" != '' AND "_r0"."title" IS NOT NULL)))"#
    );
    assert!(params.is_empty());
}

#[test]
fn like_escapes_and_wraps_literals() {
    let (sql, params) = render("title ~ '50%_off'");
    assert_eq!(sql, r#"("_r0"."title" LIKE ?1 ESCAPE '\')"#);
    assert_eq!(params, vec![text("50%_off")]);
    let (_, params) = render("title ~ 'a_b'");
    assert_eq!(params, vec![text("%a\\_b%")]);
}

#[test]
fn relation_paths_join_once_per_path() {
    let (sql, _) = render("author.name = 'a' && author.id != ''");
    assert_eq!(
        sql,
        concat!(
            r#"EXISTS (SELECT 1 FROM (SELECT 1) AS "_d" LEFT JOIN "users" AS "_r1" ON "_r1"."id" = "_r0"."author" "#,
            r#"WHERE (("_r1"."name" = ?1) AND (("_r1"."id" != '' AND "_r1"."id" IS NOT NULL))))"#
        )
    );
}

#[test]
fn collection_references_share_one_row() {
    let (sql, _) = render("@collection.members.user ?= 'u1' && @collection.members.post ?= id");
    assert_eq!(sql.matches("LEFT JOIN \"members\"").count(), 1, "{sql}");
}

#[test]
fn plain_operators_on_many_values_check_every_value() {
    let (sql, _) = render("tags:each = 'a'");
    assert!(
        sql.contains("NOT EXISTS (SELECT 1 FROM (SELECT 1) AS \"_d\" LEFT JOIN json_each("),
        "{sql}"
    );
    assert!(sql.contains("IS NOT TRUE"), "{sql}");
    let (any_sql, _) = render("tags:each ?= 'a'");
    assert!(!any_sql.contains("NOT EXISTS"), "{any_sql}");
}

#[test]
fn json_paths_are_bound_parameters() {
    let (sql, params) = render("meta.a.0 = 1");
    assert_eq!(
        sql,
        r#"((CASE WHEN json_valid("_r0"."meta") THEN json_extract("_r0"."meta", ?1) END) = ?2)"#
    );
    assert_eq!(
        params[0],
        Param::Bound(kb_store::SqlValue::Text("$.\"a\"[0]".into()))
    );
}

#[test]
fn injection_attempts_stay_values() {
    let (sql, params) = render(r#"title = "x'; DROP TABLE posts; --""#);
    assert_eq!(sql, r#"("_r0"."title" = ?1)"#);
    assert_eq!(params, vec![text("x'; DROP TABLE posts; --")]);
}

#[test]
fn equality_with_a_literal_is_plain_so_postgres_generic_plans_use_indexes() {
    use kb_store::postgres::Postgres;
    // A literal (or a date macro) is never NULL: plain `=` is null-safe against it.
    let (sql, _) = render_in(&Postgres, "title = 'x'");
    assert_eq!(sql, r#"("_r0"."title" = $1)"#);
    let (sql, _) = render_in(&Postgres, "'x' = title");
    assert_eq!(sql, r#"($1 = "_r0"."title")"#);
    // A request value may be NULL (a guest's auth id): the null-safe form stays.
    let (sql, _) = render_in(&Postgres, "title = @request.auth.id");
    assert!(sql.contains("IS NULL AND"), "{sql}");
    let (sql, _) = render("title = @request.auth.id");
    assert!(sql.contains(" IS ?1"), "{sql}");
    // Inequality keeps its null-safe form on both.
    let (sql, _) = render_in(&Postgres, "title != 'x'");
    assert!(sql.contains("IS DISTINCT FROM"), "{sql}");
}
