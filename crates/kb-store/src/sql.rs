//! Rendering of query plans and record statements to SQL text with numbered placeholders,
//! shared by every dialect (dialect differences go through [`Dialect`]).
//!
//! Identifiers come only from the validated schema and are always quoted; every value is a
//! bound parameter. Rendering is deterministic, so the same query shape always yields the
//! same text and hits the driver's prepared-statement cache.

use kb_core::Collection;
use kb_core::index::IndexDef;
use kb_filter::ast::OpKind;
use kb_query::SortKey;
use kb_query::plan::{
    Alias, Cond, FilterPlan, Join, JoinOn, JoinSource, ParamSource, Term, Value as PlanValue,
    Visibility,
};

use crate::StoreError;
use crate::dialect::Dialect;
use crate::values::SqlValue;

/// A parameter of a rendered statement: a value known now, or one read from the request.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Bound(SqlValue),
    Source(ParamSource),
}

/// SQL text plus its parameters, in placeholder order.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

pub struct Renderer<'d> {
    dialect: &'d dyn Dialect,
    sql: String,
    params: Vec<Param>,
}

fn alias_name(alias: Alias) -> String {
    format!("_r{alias}")
}

fn is_empty_value(term: &Term) -> bool {
    matches!(
        term,
        Term::Null | Term::Param(ParamSource::Value(PlanValue::Null))
    ) || matches!(term, Term::Param(ParamSource::Value(PlanValue::Text(t))) if t.is_empty())
}

/// A bound value known, when the statement is rendered, not to be NULL: a filter's literal
/// or a date macro.
fn is_known_value(term: &Term) -> bool {
    match term {
        Term::Param(ParamSource::Value(value)) => !matches!(value, PlanValue::Null),
        Term::Param(ParamSource::Macro(_)) => true,
        _ => false,
    }
}

/// Whether the operand types of a comparison are known only when it runs: a side is a
/// value taken out of JSON, or both sides are bound values.
fn runtime_typed(left: &Term, right: &Term) -> bool {
    let from_json = |t: &Term| matches!(t, Term::JsonPath { .. } | Term::EachValue(_));
    from_json(left)
        || from_json(right)
        || (matches!(left, Term::Param(_)) && matches!(right, Term::Param(_)))
}

/// A count as SQL's signed integer (a huge page number must not wrap to a negative offset).
fn clamp_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One ORDER BY entry.
pub struct SortSpec<'a> {
    pub key: &'a SortKey,
    pub descending: bool,
}

impl<'d> Renderer<'d> {
    pub fn new(dialect: &'d dyn Dialect) -> Self {
        Renderer {
            dialect,
            sql: String::with_capacity(256),
            params: Vec::new(),
        }
    }

    pub fn finish(self) -> Statement {
        Statement {
            sql: self.sql,
            params: self.params,
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    pub fn ident(&mut self, name: &str) -> &mut Self {
        self.dialect.quote(name, &mut self.sql);
        self
    }

    fn alias(&mut self, alias: Alias) -> &mut Self {
        self.dialect.quote(&alias_name(alias), &mut self.sql);
        self
    }

    fn column(&mut self, alias: Alias, column: &str) -> &mut Self {
        self.alias(alias).push(".").ident(column)
    }

    pub fn param(&mut self, param: Param) -> &mut Self {
        self.params.push(param);
        self.dialect.placeholder(self.params.len(), &mut self.sql);
        self
    }

    pub fn bound(&mut self, value: SqlValue) -> &mut Self {
        self.param(Param::Bound(value))
    }

    /// Render into a separate string (parameters keep their numbering), for dialect hooks
    /// that arrange sub-expressions themselves.
    fn sub(&mut self, render: impl FnOnce(&mut Self)) -> String {
        let outer = std::mem::take(&mut self.sql);
        render(self);
        std::mem::replace(&mut self.sql, outer)
    }

    fn term(&mut self, term: &Term) {
        let d = self.dialect;
        match term {
            Term::Column { alias, column } => {
                self.column(*alias, column);
            }
            Term::EachValue(alias) => d.each_value(&alias_name(*alias), &mut self.sql),
            Term::Param(source) => {
                self.param(Param::Source(source.clone()));
            }
            Term::Null => {
                self.push("NULL");
            }
            Term::JsonPath { base, path } => {
                let base = self.sub(|r| r.term(base));
                let path = self.sub(|r| {
                    r.bound(SqlValue::Text(d.json_path(path)));
                });
                d.json_extract(&base, &path, &mut self.sql);
            }
            Term::ArrayLength(inner) => {
                let inner = self.sub(|r| r.term(inner));
                d.array_length(&inner, &mut self.sql);
            }
            Term::Lower(inner) => {
                self.push("LOWER(");
                self.term(inner);
                self.push(")");
            }
            Term::LikeContains(inner) => {
                self.push("('%' || ");
                self.term(inner);
                self.push(" || '%')");
            }
            Term::Changed { sent, new, old } => {
                let sent = self.sub(|r| r.term(sent));
                let new = self.sub(|r| r.term(new));
                let old = self.sub(|r| r.term(old));
                self.push("(CASE WHEN ").push(&sent).push(" THEN ");
                d.null_safe_eq(true, &new, &old, &mut self.sql);
                self.push(" ELSE FALSE END)");
            }
            Term::WhenTrue { condition, value } => {
                self.push("(CASE WHEN ");
                self.term(condition);
                self.push(" THEN ");
                self.term(value);
                self.push(" END)");
            }
            Term::GeoDistance(args) => {
                let [a, b, c, e] = &**args;
                let rendered = [
                    self.sub(|r| r.term(a)),
                    self.sub(|r| r.term(b)),
                    self.sub(|r| r.term(c)),
                    self.sub(|r| r.term(e)),
                ];
                d.geo_distance(
                    [&rendered[0], &rendered[1], &rendered[2], &rendered[3]],
                    &mut self.sql,
                );
            }
            Term::Strftime(args) => {
                let rendered: Vec<String> = args.iter().map(|a| self.sub(|r| r.term(a))).collect();
                d.strftime(&rendered, &mut self.sql);
            }
        }
    }

    fn compare(&mut self, left: &Term, op: OpKind, right: &Term) {
        let d = self.dialect;
        match op {
            OpKind::Eq | OpKind::NotEq => {
                let negated = op == OpKind::NotEq;
                // `x = ""` and `x = null` both mean "x is empty": '' or NULL.
                let (empty_left, empty_right) = (is_empty_value(left), is_empty_value(right));
                if empty_left && empty_right {
                    self.push(if negated { "1=0" } else { "1=1" });
                } else if empty_left || empty_right {
                    let other = if empty_left { right } else { left };
                    let x = self.sub(|r| r.term(other));
                    d.is_empty(negated, &x, &mut self.sql);
                } else if !negated && (is_known_value(left) || is_known_value(right)) {
                    // Against a value that is never NULL, plain `=` is the null-safe
                    // comparison, and PostgreSQL's generic plans can use an index for it
                    // (the null-safe form made them scan every match and sort).
                    self.term(left);
                    self.push(" = ");
                    self.term(right);
                } else {
                    let l = self.sub(|r| r.term(left));
                    let r = self.sub(|r| r.term(right));
                    d.null_safe_eq(negated, &l, &r, &mut self.sql);
                }
            }
            OpKind::Like | OpKind::NotLike => {
                let l = self.sub(|r| r.term(left));
                let r = self.sub(|r| r.term(right));
                d.like(op == OpKind::NotLike, &l, &r, &mut self.sql);
            }
            OpKind::Gt | OpKind::Gte | OpKind::Lt | OpKind::Lte => {
                let symbol = match op {
                    OpKind::Gt => " > ",
                    OpKind::Gte => " >= ",
                    OpKind::Lt => " < ",
                    _ => " <= ",
                };
                if runtime_typed(left, right) {
                    let l = self.sub(|r| r.term(left));
                    let r = self.sub(|r| r.term(right));
                    d.dynamic_ordering(&l, symbol, &r, &mut self.sql);
                } else {
                    self.term(left);
                    self.push(symbol);
                    self.term(right);
                }
            }
        }
    }

    fn cond(&mut self, cond: &Cond) {
        match cond {
            Cond::And(a, b) | Cond::Or(a, b) => {
                self.push("(");
                self.cond(a);
                self.push(if matches!(cond, Cond::And(..)) {
                    " AND "
                } else {
                    " OR "
                });
                self.cond(b);
                self.push(")");
            }
            Cond::Compare(c) => {
                self.push("(");
                self.compare(&c.left, c.op, &c.right);
                if let Some(every) = &c.every {
                    self.push(" AND NOT EXISTS (SELECT 1 FROM (SELECT 1) AS \"_d\"");
                    self.joins(&every.joins);
                    self.push(" WHERE (");
                    self.compare(&every.left, c.op, &every.right);
                    self.push(") IS NOT TRUE)");
                }
                self.push(")");
            }
        }
    }

    fn joins(&mut self, joins: &[Join]) {
        let d = self.dialect;
        for join in joins {
            match &join.source {
                JoinSource::Table { table, on, visible } => {
                    self.push(" LEFT JOIN ")
                        .ident(table)
                        .push(" AS ")
                        .alias(join.alias)
                        .push(" ON ");
                    match on {
                        JoinOn::True => {
                            self.push("1=1");
                        }
                        JoinOn::IdEq(value) => {
                            self.column(join.alias, "id").push(" = ");
                            self.term(value);
                        }
                        JoinOn::ColumnEq { column, value } => {
                            self.column(join.alias, column).push(" = ");
                            self.term(value);
                        }
                        JoinOn::ArrayContains { column, value } => {
                            let array = self.sub(|r| {
                                r.column(join.alias, column);
                            });
                            let value = self.sub(|r| r.term(value));
                            d.array_contains(&array, &value, &mut self.sql);
                        }
                    }
                    match visible {
                        Visibility::All => {}
                        Visibility::Never => {
                            self.push(" AND 1=0");
                        }
                        Visibility::Rule(rule) => {
                            self.push(" AND (");
                            self.filter(rule);
                            self.push(")");
                        }
                    }
                }
                JoinSource::JsonEach { array } => {
                    let array = self.sub(|r| r.term(array));
                    self.push(" LEFT JOIN ");
                    d.json_each(&array, &alias_name(join.alias), &mut self.sql);
                    self.push(" ON 1=1");
                }
            }
        }
    }

    /// A filter as a boolean expression over the main row.
    pub fn filter(&mut self, plan: &FilterPlan) -> &mut Self {
        if plan.joins.is_empty() {
            self.cond(&plan.cond);
        } else {
            // The joins start from a one-row dummy so that an empty relation still yields
            // one row of NULLs, which is how `rel.field = ""` matches a record without one.
            self.push("EXISTS (SELECT 1 FROM (SELECT 1) AS \"_d\"");
            self.joins(&plan.joins);
            self.push(" WHERE ");
            self.cond(&plan.cond);
            self.push(")");
        }
        self
    }

    fn sort_key(&mut self, key: &SortKey) {
        match key {
            SortKey::Random => self.dialect.random(&mut self.sql),
            SortKey::RowId => self
                .dialect
                .rowid(&alias_name(kb_query::plan::MAIN), &mut self.sql),
            SortKey::Value { joins, term } if joins.is_empty() => self.term(term),
            SortKey::Value { joins, term } => {
                self.push("(SELECT ");
                self.term(term);
                self.push(" FROM (SELECT 1) AS \"_d\"");
                self.joins(joins);
                self.push(" LIMIT 1)");
            }
        }
    }

    fn select_columns(&mut self, collection: &Collection) {
        for (i, field) in collection.fields.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.column(kb_query::plan::MAIN, &field.name);
        }
    }

    fn push_from(&mut self, collection: &Collection) {
        self.push(" FROM ")
            .ident(&collection.name)
            .push(" AS ")
            .alias(kb_query::plan::MAIN);
    }

    fn where_all(&mut self, conditions: &[&FilterPlan], id: Option<&str>) {
        let mut first = true;
        let mut and = |r: &mut Self| {
            r.push(if first { " WHERE " } else { " AND " });
            first = false;
        };
        if let Some(id) = id {
            and(self);
            self.column(kb_query::plan::MAIN, "id").push(" = ");
            self.bound(SqlValue::Text(id.to_owned()));
        }
        for plan in conditions {
            and(self);
            self.filter(plan);
        }
    }

    /// ` LIMIT <n>`, written as a literal: SQLite plans with a LIMIT it can read, and
    /// marks a statement whose LIMIT is a parameter to be prepared again whenever that
    /// parameter is bound, which is every time it runs. The number is ours (a clamped
    /// integer), never client text; the page sizes in use are few, so the statement
    /// cache holds them all.
    fn limit(&mut self, limit: u64) {
        self.push(" LIMIT ");
        self.push(&clamp_i64(limit).to_string());
    }

    /// ` WHERE` the main record's id is among `ids` and `conditions` hold (one id is
    /// compared directly, several are looked up in a bound JSON array).
    fn where_among(&mut self, ids: &[String], conditions: &[&FilterPlan]) {
        if let [id] = ids {
            return self.where_all(conditions, Some(id));
        }
        self.push(" WHERE ");
        let ids_json = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
        let array = self.sub(|r| {
            r.bound(SqlValue::Text(ids_json));
        });
        let id = self.sub(|r| {
            r.column(kb_query::plan::MAIN, "id");
        });
        self.dialect.array_contains(&array, &id, &mut self.sql);
        for plan in conditions {
            self.push(" AND ");
            self.filter(plan);
        }
    }
}

/// `SELECT <all fields> FROM <collection> WHERE <conditions…> ORDER BY … LIMIT … OFFSET …`.
pub fn select_records(
    dialect: &dyn Dialect,
    collection: &Collection,
    conditions: &[&FilterPlan],
    sort: &[SortSpec<'_>],
    limit: Option<u64>,
    offset: u64,
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("SELECT ");
    r.select_columns(collection);
    r.push_from(collection);
    r.where_all(conditions, None);
    for (i, spec) in sort.iter().enumerate() {
        r.push(if i == 0 { " ORDER BY " } else { ", " });
        r.sort_key(spec.key);
        dialect.sort_direction(spec.descending, &mut r.sql);
    }
    if let Some(limit) = limit {
        r.limit(limit);
        r.push(" OFFSET ")
            .bound(SqlValue::Integer(clamp_i64(offset)));
    }
    r.finish()
}

/// `SELECT COUNT(*) FROM <collection> WHERE <id among…> AND <conditions…>`.
pub fn count_records(
    dialect: &dyn Dialect,
    collection: &Collection,
    among: Option<&[String]>,
    conditions: &[&FilterPlan],
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("SELECT COUNT(*)");
    r.push_from(collection);
    match among {
        Some(ids) => r.where_among(ids, conditions),
        None => r.where_all(conditions, None),
    }
    r.finish()
}

/// One record by id, if it also satisfies `conditions`.
pub fn select_record(
    dialect: &dyn Dialect,
    collection: &Collection,
    id: &str,
    conditions: &[&FilterPlan],
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("SELECT ");
    r.select_columns(collection);
    r.push_from(collection);
    r.where_all(conditions, Some(id));
    r.finish()
}

/// Records whose id is in `ids` (bound as one JSON array parameter, so the statement text
/// does not depend on how many ids there are).
pub fn select_records_by_ids(
    dialect: &dyn Dialect,
    collection: &Collection,
    ids: &[String],
    conditions: &[&FilterPlan],
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("SELECT ");
    r.select_columns(collection);
    r.push_from(collection);
    r.where_among(ids, conditions);
    r.finish()
}

/// Records of `collection` whose relation `field` holds `id` (and satisfy `conditions`).
pub fn select_referencing(
    dialect: &dyn Dialect,
    collection: &Collection,
    field: &kb_core::Field,
    id: &str,
    conditions: &[&FilterPlan],
    limit: Option<u64>,
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("SELECT ");
    r.select_columns(collection);
    r.push_from(collection);
    r.push(" WHERE ");
    if field.kind.is_multiple() {
        let array = r.sub(|r| {
            r.column(kb_query::plan::MAIN, &field.name);
        });
        let value = r.sub(|r| {
            r.bound(SqlValue::Text(id.to_owned()));
        });
        dialect.array_contains(&array, &value, &mut r.sql);
    } else {
        r.column(kb_query::plan::MAIN, &field.name).push(" = ");
        r.bound(SqlValue::Text(id.to_owned()));
    }
    for plan in conditions {
        r.push(" AND ");
        r.filter(plan);
    }
    if let Some(limit) = limit {
        r.limit(limit);
    }
    r.finish()
}

/// `1` when a record with the given values satisfies every condition. The values stand in
/// for the collection's table (a CTE of the same name shadows it within the statement), so
/// a record that is not stored, or no longer is, can be checked against a rule: a delete
/// another node committed, say. Relations the conditions follow are read as stored.
pub fn select_satisfied(
    dialect: &dyn Dialect,
    collection: &Collection,
    record: &crate::Row,
    conditions: &[&FilterPlan],
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("WITH ").ident(&collection.name).push(" AS (SELECT ");
    for (i, field) in collection.fields.iter().enumerate() {
        if i > 0 {
            r.push(", ");
        }
        let value = record.get(&field.name).unwrap_or(&serde_json::Value::Null);
        r.bound(crate::values::encode(field, value));
        dialect.column_type_cast(field, &mut r.sql);
        r.push(" AS ").ident(&field.name);
    }
    r.push(") SELECT 1");
    r.push_from(collection);
    r.where_all(conditions, None);
    r.finish()
}

/// `INSERT INTO <collection> (<columns>) VALUES (…)`.
pub fn insert_record(
    dialect: &dyn Dialect,
    table: &str,
    columns: &[(&str, SqlValue)],
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("INSERT INTO ").ident(table).push(" (");
    for (i, (column, _)) in columns.iter().enumerate() {
        if i > 0 {
            r.push(", ");
        }
        r.ident(column);
    }
    r.push(") VALUES (");
    for (i, (_, value)) in columns.iter().enumerate() {
        if i > 0 {
            r.push(", ");
        }
        r.bound(value.clone());
    }
    r.push(")");
    r.finish()
}

/// `UPDATE <collection> SET … WHERE id = ?`.
pub fn update_record(
    dialect: &dyn Dialect,
    table: &str,
    id: &str,
    columns: &[(&str, SqlValue)],
) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("UPDATE ").ident(table).push(" SET ");
    for (i, (column, value)) in columns.iter().enumerate() {
        if i > 0 {
            r.push(", ");
        }
        r.ident(column).push(" = ");
        r.bound(value.clone());
    }
    r.push(" WHERE ").ident("id").push(" = ");
    r.bound(SqlValue::Text(id.to_owned()));
    r.finish()
}

/// `DELETE FROM <collection> WHERE id = ?`.
pub fn delete_record(dialect: &dyn Dialect, table: &str, id: &str) -> Statement {
    let mut r = Renderer::new(dialect);
    r.push("DELETE FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident("id")
        .push(" = ");
    r.bound(SqlValue::Text(id.to_owned()));
    r.finish()
}

/// The parsed index definitions of a collection.
pub fn parsed_indexes(collection: &Collection) -> Result<Vec<IndexDef>, StoreError> {
    collection
        .indexes
        .iter()
        .map(|text| {
            IndexDef::parse(text).map_err(|e| StoreError::Invalid(format!("invalid index: {e}")))
        })
        .collect()
}

/// Index DDL rendered from the parsed definition, never from the client's text.
pub fn create_index(dialect: &dyn Dialect, collection: &Collection, index: &IndexDef) -> String {
    let mut sql = String::from("CREATE ");
    if index.unique {
        sql.push_str("UNIQUE ");
    }
    sql.push_str("INDEX ");
    dialect.quote(&index.name, &mut sql);
    sql.push_str(" ON ");
    dialect.quote(&collection.name, &mut sql);
    sql.push_str(" (");
    for (i, column) in index.columns.iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        dialect.index_column(&column.name, column.collation, &mut sql);
        // The same direction (NULL placement included) as the ORDER BY the renderer writes,
        // so a sort on the indexed columns reads the index forwards or backwards instead of
        // sorting every match (PostgreSQL's default NULL placement is the opposite).
        dialect.sort_direction(column.descending, &mut sql);
    }
    sql.push(')');
    if let Some(condition) = &index.where_clause {
        sql.push_str(" WHERE ");
        condition.write(&mut sql, |column, out| dialect.quote(column, out));
    }
    sql
}

/// For each top-level item of the (first) select list: is it a `count(...)` aggregate?
/// Only a hint for field inference; an unusual query just gets `json` fields. Works on bytes
/// so no input can split a multi-byte character.
pub fn count_columns(query: &str) -> Vec<bool> {
    let lower = query.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let Some(start) = lower.find("select") else {
        return Vec::new();
    };
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut current = Vec::new();
    let mut depth = 0usize;
    let mut i = start + "select".len();
    while i < bytes.len() {
        match bytes[i] {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                i += 1;
                continue;
            }
            _ if depth == 0 && bytes[i..].starts_with(b" from ") => break,
            _ => {}
        }
        current.push(bytes[i]);
        i += 1;
    }
    items.push(current);
    items
        .iter()
        .map(|item| {
            let item = String::from_utf8_lossy(item);
            item.trim()
                .trim_start_matches("distinct ")
                .starts_with("count(")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_columns_finds_top_level_counts() {
        assert_eq!(
            count_columns("SELECT id, count(*) as c, lower(x) FROM posts GROUP BY id"),
            vec![false, true, false]
        );
        assert_eq!(
            count_columns("select (select count(*) from a) as n from b"),
            vec![false]
        );
    }

    #[test]
    fn the_limit_is_a_literal_and_the_offset_a_parameter() {
        let posts: Collection = serde_json::from_value(serde_json::json!({
            "id": "pbc_1", "name": "posts", "type": "base",
            "fields": [{"name": "id", "type": "text", "primaryKey": true}]
        }))
        .unwrap();
        let statement = select_records(&crate::sqlite::Sqlite, &posts, &[], &[], Some(20), 40);
        assert!(
            statement.sql.ends_with(" LIMIT 20 OFFSET ?1"),
            "{}",
            statement.sql
        );
        assert_eq!(statement.params.len(), 1);
    }
}
