//! Resolution of a parsed filter against the schema: field paths become columns and joins,
//! `@request.*` references become late-bound parameters, macros become dated parameters.

use std::collections::HashMap;

use kb_core::field::FieldKind;
use kb_core::{Collection, Schema};
use kb_filter::ast::{Comparison, Expr, OpKind, Operand};

use crate::plan::*;

/// Most relation hops one path may take (`a.b.c.d.e.f.name`).
pub const MAX_RELATION_DEPTH: usize = 6;
/// Most joins one SELECT may hold: SQLite allows 64 tables, one is the dummy row the joins
/// hang from.
pub const MAX_JOINS: usize = 63;
/// Most arguments of `strftime`.
const MAX_STRFTIME_ARGS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ResolveError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, ResolveError> {
    Err(ResolveError(message.into()))
}

/// What the filter may reach.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveOptions<'a> {
    /// Hidden fields may be referenced (superusers and API rules).
    pub allow_hidden: bool,
    /// `@request.*` and `@collection.*` may be referenced (API rules, superuser filters).
    pub allow_request: bool,
    /// The requester's auth collection, to follow `@request.auth.<relation>...` paths.
    pub auth_collection: Option<&'a Collection>,
    /// Relation paths only reach records the related collection's list rule shows the
    /// requester (a non-superuser's own filter).
    pub respect_list_rules: bool,
}

/// Resolve `expr`, evaluated for records of `collection`.
pub fn resolve_filter(
    expr: &Expr,
    schema: &Schema,
    collection: &Collection,
    options: &ResolveOptions<'_>,
) -> Result<FilterPlan, ResolveError> {
    let mut resolver = Resolver {
        schema,
        collection,
        options,
        next_alias: MAIN + 1,
    };
    let mut scope = Scope::default();
    let cond = resolver.expr(expr, &mut scope)?;
    Ok(FilterPlan {
        joins: scope.joins,
        cond,
    })
}

/// Resolve a sort field (`title`, `author.name`, `@random`, `@rowid`).
pub fn resolve_sort_key(
    path: &str,
    schema: &Schema,
    collection: &Collection,
    options: &ResolveOptions<'_>,
) -> Result<SortKey, ResolveError> {
    match path {
        "@random" => return Ok(SortKey::Random),
        "@rowid" => return Ok(SortKey::RowId),
        _ => {}
    }
    let mut resolver = Resolver {
        schema,
        collection,
        options,
        next_alias: MAIN + 1,
    };
    let mut scope = Scope::default();
    let resolved = resolver.identifier(path, &mut scope)?;
    if resolved.multi {
        return fail(format!("cannot sort by {path}: it has multiple values"));
    }
    Ok(SortKey::Value {
        joins: scope.joins,
        term: resolved.term,
    })
}

/// Joins of one condition, deduplicated by the path that produced them.
#[derive(Default)]
struct Scope {
    joins: Vec<Join>,
    by_key: HashMap<String, Alias>,
}

struct Resolved {
    term: Term,
    /// The operand stands for several values (it went through a fan-out join).
    multi: bool,
    /// The operand is a text literal (matters for `~`).
    literal_text: bool,
}

impl Resolved {
    fn single(term: Term) -> Self {
        Resolved {
            term,
            multi: false,
            literal_text: false,
        }
    }
}

struct Resolver<'a> {
    schema: &'a Schema,
    collection: &'a Collection,
    options: &'a ResolveOptions<'a>,
    next_alias: Alias,
}

/// A walk along a field path, from a row of a known collection.
struct Walk<'c> {
    key: String,
    alias: Alias,
    collection: &'c Collection,
    multi: bool,
    hops: usize,
}

fn split_modifier(segment: &str) -> (&str, Option<&str>) {
    match segment.split_once(':') {
        Some((name, modifier)) => (name, Some(modifier)),
        None => (segment, None),
    }
}

fn date_macro(name: &str) -> Option<DateMacro> {
    Some(match name {
        "@now" => DateMacro::Now,
        "@yesterday" => DateMacro::Yesterday,
        "@tomorrow" => DateMacro::Tomorrow,
        "@todayStart" => DateMacro::TodayStart,
        "@todayEnd" => DateMacro::TodayEnd,
        "@monthStart" => DateMacro::MonthStart,
        "@monthEnd" => DateMacro::MonthEnd,
        "@yearStart" => DateMacro::YearStart,
        "@yearEnd" => DateMacro::YearEnd,
        "@second" => DateMacro::Second,
        "@minute" => DateMacro::Minute,
        "@hour" => DateMacro::Hour,
        "@day" => DateMacro::Day,
        "@month" => DateMacro::Month,
        "@weekday" => DateMacro::Weekday,
        "@year" => DateMacro::Year,
        _ => return None,
    })
}

/// Escape LIKE wildcards in a literal and wrap it for "contains", unless the client wrote
/// an unescaped `%` itself, in which case the literal is used as its own pattern.
fn like_pattern(text: &str) -> String {
    let mut has_wildcard = false;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '%' {
            has_wildcard = true;
        }
    }
    if has_wildcard {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn request_param(path: Vec<String>, read: RequestRead) -> Term {
    Term::Param(ParamSource::Request(RequestRef { path, read }))
}

impl<'a> Resolver<'a> {
    fn alias(&mut self) -> Alias {
        let alias = self.next_alias;
        self.next_alias += 1;
        alias
    }

    /// The rows of `target` a relation path may reach: everything for superusers and rules,
    /// otherwise what `target`'s list rule shows the requester.
    fn visibility(
        &mut self,
        target: &Collection,
        joined: Alias,
    ) -> Result<Visibility, ResolveError> {
        if !self.options.respect_list_rules {
            return Ok(Visibility::All);
        }
        let Some(rule) = target.rules.list_rule.as_deref() else {
            // As PocketBase: a locked collection cannot be filtered through at all.
            return fail(format!(
                "only superusers can filter by the records of {}",
                target.name
            ));
        };
        // A stored rule that no longer compiles shows nothing.
        let Ok(parsed) = kb_filter::parse_filter(rule) else {
            return Ok(Visibility::Never);
        };
        let Some(expr) = parsed else {
            return Ok(Visibility::All);
        };
        let options = ResolveOptions {
            allow_hidden: true,
            allow_request: true,
            auth_collection: self.options.auth_collection,
            respect_list_rules: false,
        };
        let Ok(plan) = resolve_filter(&expr, self.schema, target, &options) else {
            return Ok(Visibility::Never);
        };
        // The rule's own aliases move past every alias in use; its main row is the joined row.
        let offset = self.next_alias;
        self.next_alias += plan.max_alias() + 1;
        Ok(Visibility::Rule(Box::new(plan.renamed(&|alias| {
            if alias == MAIN {
                joined
            } else {
                alias + offset
            }
        }))))
    }

    /// Join the rows of `target` (once per path), limited to what the requester may see.
    fn join_collection(
        &mut self,
        scope: &mut Scope,
        key: String,
        target: &Collection,
        on: JoinOn,
    ) -> Result<Alias, ResolveError> {
        if let Some(&alias) = scope.by_key.get(&key) {
            return Ok(alias);
        }
        if scope.joins.len() >= MAX_JOINS {
            return fail(format!("the filter needs more than {MAX_JOINS} joins"));
        }
        let alias = self.alias();
        let visible = self.visibility(target, alias)?;
        scope.joins.push(Join {
            alias,
            source: JoinSource::Table {
                table: target.name.clone(),
                on,
                visible,
            },
        });
        scope.by_key.insert(key, alias);
        Ok(alias)
    }

    fn join(
        &mut self,
        scope: &mut Scope,
        key: String,
        source: JoinSource,
    ) -> Result<Alias, ResolveError> {
        if let Some(&alias) = scope.by_key.get(&key) {
            return Ok(alias);
        }
        if scope.joins.len() >= MAX_JOINS {
            return fail(format!("the filter needs more than {MAX_JOINS} joins"));
        }
        let alias = self.alias();
        scope.joins.push(Join { alias, source });
        scope.by_key.insert(key, alias);
        Ok(alias)
    }

    fn expr(&mut self, expr: &Expr, scope: &mut Scope) -> Result<Cond, ResolveError> {
        Ok(match expr {
            Expr::And(a, b) => Cond::And(
                Box::new(self.expr(a, scope)?),
                Box::new(self.expr(b, scope)?),
            ),
            Expr::Or(a, b) => Cond::Or(
                Box::new(self.expr(a, scope)?),
                Box::new(self.expr(b, scope)?),
            ),
            Expr::Compare(c) => Cond::Compare(Box::new(self.compare(c, scope)?)),
        })
    }

    fn compare(&mut self, c: &Comparison, scope: &mut Scope) -> Result<Compare, ResolveError> {
        let left = self
            .operand(&c.left, scope)
            .map_err(|e| operand_error("left", &c.left, e))?;
        let right = self
            .operand(&c.right, scope)
            .map_err(|e| operand_error("right", &c.right, e))?;
        let like = matches!(c.op.kind, OpKind::Like | OpKind::NotLike);
        let every = if !c.op.any && (left.multi || right.multi) {
            let mut fresh = Scope::default();
            let l = if left.multi {
                self.operand(&c.left, &mut fresh)?.term
            } else {
                left.term.clone()
            };
            let r = if right.multi {
                self.operand(&c.right, &mut fresh)?
            } else {
                Resolved {
                    term: right.term.clone(),
                    multi: false,
                    literal_text: right.literal_text,
                }
            };
            Some(EveryCheck {
                joins: fresh.joins,
                left: l,
                right: if like { like_right(r) } else { r.term },
            })
        } else {
            None
        };
        Ok(Compare {
            left: left.term,
            op: c.op.kind,
            right: if like { like_right(right) } else { right.term },
            every,
        })
    }

    fn operand(&mut self, operand: &Operand, scope: &mut Scope) -> Result<Resolved, ResolveError> {
        self.operand_at_depth(operand, scope, 0)
    }

    fn operand_at_depth(
        &mut self,
        operand: &Operand,
        scope: &mut Scope,
        depth: usize,
    ) -> Result<Resolved, ResolveError> {
        match operand {
            Operand::Number { value, .. } => {
                Ok(Resolved::single(Term::param(Value::Number(*value))))
            }
            Operand::Text { value, .. } => Ok(Resolved {
                term: Term::param(Value::Text(value.clone())),
                multi: false,
                literal_text: true,
            }),
            Operand::Identifier { name, .. } => self.identifier(name, scope),
            Operand::Function { name, args, .. } => {
                if depth >= 2 {
                    return fail("functions may be nested at most 2 levels deep");
                }
                let mut terms = Vec::with_capacity(args.len());
                let mut multi = false;
                for arg in args {
                    let resolved = self.operand_at_depth(arg, scope, depth + 1)?;
                    multi |= resolved.multi;
                    terms.push(resolved.term);
                }
                let term = match name.as_str() {
                    "geoDistance" => match <[Term; 4]>::try_from(terms) {
                        Ok(four) => Term::GeoDistance(Box::new(four)),
                        Err(_) => {
                            return fail(
                                "geoDistance expects 4 arguments (lonA, latA, lonB, latB)",
                            );
                        }
                    },
                    "strftime" => {
                        if terms.is_empty() || terms.len() > MAX_STRFTIME_ARGS {
                            return fail("strftime expects 1 to 10 arguments");
                        }
                        if !matches!(args[0], Operand::Text { .. }) {
                            return fail("the first strftime argument must be a text format");
                        }
                        Term::Strftime(terms)
                    }
                    other => return fail(format!("unknown function {other}")),
                };
                Ok(Resolved {
                    term,
                    multi,
                    literal_text: false,
                })
            }
        }
    }

    fn identifier(&mut self, name: &str, scope: &mut Scope) -> Result<Resolved, ResolveError> {
        match name.to_ascii_lowercase().as_str() {
            "null" => return Ok(Resolved::single(Term::Null)),
            "true" => return Ok(Resolved::single(Term::param(Value::Bool(true)))),
            "false" => return Ok(Resolved::single(Term::param(Value::Bool(false)))),
            _ => {}
        }
        if let Some(m) = date_macro(name) {
            return Ok(Resolved::single(Term::Param(ParamSource::Macro(m))));
        }
        if let Some(rest) = name.strip_prefix("@request.") {
            if !self.options.allow_request {
                return fail("Only superusers can filter by @request.");
            }
            return self.request(rest, scope);
        }
        if let Some(rest) = name.strip_prefix("@collection.") {
            if !self.options.allow_request {
                return fail("Only superusers can filter by @collection.");
            }
            return self.collection_ref(rest, scope);
        }
        if name.starts_with('@') || name.starts_with('#') {
            return fail(format!("unknown identifier {name}"));
        }
        let segments: Vec<&str> = name.split('.').collect();
        let walk = Walk {
            key: String::new(),
            alias: MAIN,
            collection: self.collection,
            multi: false,
            hops: 0,
        };
        self.walk(walk, &segments, scope)
    }

    fn collection_ref(&mut self, rest: &str, scope: &mut Scope) -> Result<Resolved, ResolveError> {
        let segments: Vec<&str> = rest.split('.').collect();
        if segments.len() < 2 {
            return fail(format!("invalid @collection reference @collection.{rest}"));
        }
        let (name, alias_name) = split_modifier(segments[0]);
        let schema = self.schema;
        let Some(target) = schema.by_name(name) else {
            return fail(format!("unknown collection {name}"));
        };
        let key = format!("@collection.{}:{}", target.name, alias_name.unwrap_or(""));
        let alias = self.join(
            scope,
            key.clone(),
            JoinSource::Table {
                table: target.name.clone(),
                on: JoinOn::True,
                visible: Visibility::All,
            },
        )?;
        let walk = Walk {
            key,
            alias,
            collection: target,
            multi: true,
            hops: 0,
        };
        self.walk(walk, &segments[1..], scope)
    }

    fn request(&mut self, rest: &str, scope: &mut Scope) -> Result<Resolved, ResolveError> {
        let segments: Vec<&str> = rest.split('.').collect();
        let (section, section_modifier) = split_modifier(segments[0]);
        match section {
            "method" | "context" if segments.len() == 1 => {
                let term = request_param(vec![section.to_owned()], RequestRead::Value);
                self.apply_request_modifier(vec![section.to_owned()], term, section_modifier, scope)
            }
            "query" | "headers" if segments.len() == 2 && section_modifier.is_none() => {
                let (key, modifier) = split_modifier(segments[1]);
                let path = vec![section.to_owned(), key.to_owned()];
                let term = request_param(path.clone(), RequestRead::Value);
                self.apply_request_modifier(path, term, modifier, scope)
            }
            "auth" if segments.len() >= 2 && section_modifier.is_none() => {
                self.request_auth(&segments[1..], scope)
            }
            "body" if segments.len() >= 2 && section_modifier.is_none() => {
                self.request_body(&segments[1..], scope)
            }
            _ => fail(format!("unknown identifier @request.{rest}")),
        }
    }

    /// `:isset`, `:length`, `:each` and `:lower` on a request value.
    fn apply_request_modifier(
        &mut self,
        path: Vec<String>,
        term: Term,
        modifier: Option<&str>,
        scope: &mut Scope,
    ) -> Result<Resolved, ResolveError> {
        Ok(match modifier {
            None => Resolved::single(term),
            Some("lower") => Resolved::single(Term::Lower(Box::new(term))),
            Some("isset") => Resolved::single(request_param(path, RequestRead::IsSet)),
            Some("length") => Resolved::single(request_param(path, RequestRead::Length)),
            Some("each") => {
                let key = format!("@request.{}:each", path.join("."));
                let array = request_param(path, RequestRead::JsonArray);
                let alias = self.join(scope, key, JoinSource::JsonEach { array })?;
                Resolved {
                    term: Term::EachValue(alias),
                    multi: true,
                    literal_text: false,
                }
            }
            Some(other) => return fail(format!("unsupported modifier :{other}")),
        })
    }

    fn request_auth(
        &mut self,
        segments: &[&str],
        scope: &mut Scope,
    ) -> Result<Resolved, ResolveError> {
        let (first, modifier) = split_modifier(segments[0]);
        if segments.len() == 1 {
            let path = vec!["auth".to_owned(), first.to_owned()];
            let term = request_param(path.clone(), RequestRead::Value);
            return self.apply_request_modifier(path, term, modifier, scope);
        }
        let Some(auth) = self.options.auth_collection else {
            // A guest has no auth record, so every path through it is empty.
            return Ok(Resolved::single(Term::Null));
        };
        // A requester from a collection without that field has nothing there either.
        if auth.field(split_modifier(segments[0]).0).is_none() {
            return Ok(Resolved::single(Term::Null));
        }
        let key = "@request.auth".to_owned();
        let alias = self.join(
            scope,
            key.clone(),
            JoinSource::Table {
                table: auth.name.clone(),
                on: JoinOn::IdEq(request_param(
                    vec!["auth".into(), "id".into()],
                    RequestRead::Value,
                )),
                visible: Visibility::All,
            },
        )?;
        let walk = Walk {
            key,
            alias,
            collection: auth,
            multi: false,
            hops: 0,
        };
        self.walk(walk, segments, scope)
    }

    fn request_body(
        &mut self,
        segments: &[&str],
        scope: &mut Scope,
    ) -> Result<Resolved, ResolveError> {
        let (name, modifier) = split_modifier(segments[0]);
        let path = vec!["body".to_owned(), name.to_owned()];
        if segments.len() == 1 {
            if modifier == Some("changed") {
                let Some(field) = self.collection.field(name) else {
                    return fail(format!(
                        "unknown field {name} in @request.body.{name}:changed"
                    ));
                };
                return Ok(Resolved::single(Term::Changed {
                    sent: Box::new(request_param(path.clone(), RequestRead::IsSet)),
                    new: Box::new(request_param(path, RequestRead::Value)),
                    old: Box::new(Term::Column {
                        alias: MAIN,
                        column: field.name.clone(),
                    }),
                }));
            }
            let term = request_param(path.clone(), RequestRead::Value);
            return self.apply_request_modifier(path, term, modifier, scope);
        }
        if modifier.is_some() {
            return fail(format!(
                "modifiers are not allowed in the middle of @request.body.{name}"
            ));
        }
        let collection = self.collection;
        let Some(field) = collection.field(name) else {
            return fail(format!("unknown field {name} in @request.body"));
        };
        let Some(relation) = field.relation() else {
            return fail(format!("@request.body.{name} is not a relation"));
        };
        let Some(target) = self.schema.by_id(&relation.collection_id) else {
            return fail(format!("relation {name} points to a missing collection"));
        };
        let key = format!("@request.body.{name}");
        let (alias, multi) = if field.kind.is_multiple() {
            let each = self.join(
                scope,
                format!("{key}:each"),
                JoinSource::JsonEach {
                    array: request_param(path, RequestRead::JsonArray),
                },
            )?;
            let alias = self.join(
                scope,
                key.clone(),
                JoinSource::Table {
                    table: target.name.clone(),
                    on: JoinOn::IdEq(Term::EachValue(each)),
                    visible: Visibility::All,
                },
            )?;
            (alias, true)
        } else {
            let alias = self.join(
                scope,
                key.clone(),
                JoinSource::Table {
                    table: target.name.clone(),
                    on: JoinOn::IdEq(request_param(path, RequestRead::Value)),
                    visible: Visibility::All,
                },
            )?;
            (alias, false)
        };
        let walk = Walk {
            key,
            alias,
            collection: target,
            multi,
            hops: 1,
        };
        self.walk(walk, &segments[1..], scope)
    }

    /// Follow `segments` from a row of `walk.collection`: relations and back-relations
    /// join further tables, the last segment names a column (or a JSON path inside one).
    fn walk(
        &mut self,
        mut walk: Walk<'a>,
        segments: &[&str],
        scope: &mut Scope,
    ) -> Result<Resolved, ResolveError> {
        let schema = self.schema;
        for (i, segment) in segments.iter().enumerate() {
            let (name, modifier) = split_modifier(segment);
            let last = i + 1 == segments.len();
            if walk.hops > MAX_RELATION_DEPTH {
                return fail(format!(
                    "relation paths may be at most {MAX_RELATION_DEPTH} levels deep"
                ));
            }
            if let Some((source_name, field_name)) = name.split_once("_via_") {
                if modifier.is_some() {
                    return fail(format!("modifiers are not supported on {name}"));
                }
                let Some(source) = schema.by_name(source_name) else {
                    return fail(format!("unknown collection {source_name} in {name}"));
                };
                let Some(field) = source.field(field_name) else {
                    return fail(format!("unknown field {field_name} in {name}"));
                };
                if field
                    .relation()
                    .is_none_or(|r| r.collection_id != walk.collection.id)
                {
                    return fail(format!(
                        "{name} is not a relation to {}",
                        walk.collection.name
                    ));
                }
                let id = Term::Column {
                    alias: walk.alias,
                    column: "id".into(),
                };
                let on = if field.kind.is_multiple() {
                    JoinOn::ArrayContains {
                        column: field.name.clone(),
                        value: id,
                    }
                } else {
                    JoinOn::ColumnEq {
                        column: field.name.clone(),
                        value: id,
                    }
                };
                let unique = !field.kind.is_multiple()
                    && source.indexes.iter().any(|text| {
                        kb_core::index::IndexDef::parse(text)
                            .is_ok_and(|idx| idx.is_single_column_unique(&field.name))
                    });
                walk.key = format!("{}.{name}", walk.key);
                walk.alias = self.join_collection(scope, walk.key.clone(), source, on)?;
                walk.collection = source;
                walk.multi |= !unique;
                walk.hops += 1;
                if last {
                    return Ok(Resolved {
                        term: Term::Column {
                            alias: walk.alias,
                            column: "id".into(),
                        },
                        multi: walk.multi,
                        literal_text: false,
                    });
                }
                continue;
            }
            let Some(field) = walk.collection.field(name) else {
                return fail(format!("unknown field \"{name}\""));
            };
            if field.hidden && !self.options.allow_hidden {
                return fail(format!("field \"{name}\" is hidden and cannot be filtered"));
            }
            let column = Term::Column {
                alias: walk.alias,
                column: field.name.clone(),
            };
            if last {
                // An auth record's email is only visible to others when it is marked so.
                let column = if walk.collection.is_auth()
                    && field.name == "email"
                    && !self.options.allow_hidden
                {
                    Term::WhenTrue {
                        condition: Box::new(Term::Column {
                            alias: walk.alias,
                            column: "emailVisibility".into(),
                        }),
                        value: Box::new(column),
                    }
                } else {
                    column
                };
                return self.column_modifier(walk, field, column, modifier, scope);
            }
            match &field.kind {
                FieldKind::Relation(relation) => {
                    if modifier.is_some() {
                        return fail(format!(
                            "modifiers are not allowed in the middle of a path ({segment})"
                        ));
                    }
                    let Some(target) = schema.by_id(&relation.collection_id) else {
                        return fail(format!("relation {name} points to a missing collection"));
                    };
                    let key = format!("{}.{name}", walk.key);
                    let on = if field.kind.is_multiple() {
                        let each = self.join(
                            scope,
                            format!("{key}:each"),
                            JoinSource::JsonEach { array: column },
                        )?;
                        walk.multi = true;
                        JoinOn::IdEq(Term::EachValue(each))
                    } else {
                        JoinOn::IdEq(column)
                    };
                    walk.alias = self.join_collection(scope, key.clone(), target, on)?;
                    walk.key = key;
                    walk.collection = target;
                    walk.hops += 1;
                }
                FieldKind::Json(_) | FieldKind::GeoPoint(_) => {
                    return self.json_path(walk, column, &segments[i + 1..]);
                }
                _ => {
                    return fail(format!(
                        "field \"{name}\" is not a relation, so \"{segment}.\" cannot be followed"
                    ));
                }
            }
        }
        fail("empty field path")
    }

    fn json_path(
        &mut self,
        walk: Walk<'a>,
        column: Term,
        segments: &[&str],
    ) -> Result<Resolved, ResolveError> {
        let mut path = Vec::with_capacity(segments.len());
        let mut lower = false;
        for (i, segment) in segments.iter().enumerate() {
            let (key, modifier) = split_modifier(segment);
            match modifier {
                None => {}
                Some("lower") if i + 1 == segments.len() => lower = true,
                Some(other) => {
                    return fail(format!("unsupported modifier :{other} in a JSON path"));
                }
            }
            if key.is_empty() {
                return fail("empty key in a JSON path");
            }
            path.push(match key.parse::<u64>() {
                Ok(index) => JsonStep::Index(index),
                Err(_) => JsonStep::Key(key.to_owned()),
            });
        }
        let term = Term::JsonPath {
            base: Box::new(column),
            path,
        };
        Ok(Resolved {
            term: if lower {
                Term::Lower(Box::new(term))
            } else {
                term
            },
            multi: walk.multi,
            literal_text: false,
        })
    }

    fn column_modifier(
        &mut self,
        walk: Walk<'a>,
        field: &kb_core::Field,
        column: Term,
        modifier: Option<&str>,
        scope: &mut Scope,
    ) -> Result<Resolved, ResolveError> {
        let term = match modifier {
            None => column,
            Some("lower") => Term::Lower(Box::new(column)),
            Some("length") if field.kind.is_multiple() => Term::ArrayLength(Box::new(column)),
            Some("each") if field.kind.is_multiple() => {
                let key = format!("{}.{}:each", walk.key, field.name);
                let alias = self.join(scope, key, JoinSource::JsonEach { array: column })?;
                return Ok(Resolved {
                    term: Term::EachValue(alias),
                    multi: true,
                    literal_text: false,
                });
            }
            Some(m @ ("length" | "each")) => {
                return fail(format!(
                    ":{m} needs a field with multiple values, \"{}\" has one",
                    field.name
                ));
            }
            Some(other) => {
                return fail(format!(
                    "unsupported modifier :{other} on field \"{}\"",
                    field.name
                ));
            }
        };
        Ok(Resolved {
            term,
            multi: walk.multi,
            literal_text: false,
        })
    }
}

/// Say which operand failed, in PocketBase's wording (`invalid left operand "x" - …`).
fn operand_error(side: &str, operand: &Operand, error: ResolveError) -> ResolveError {
    let written = match operand {
        Operand::Identifier { name, .. } | Operand::Function { name, .. } => name.clone(),
        Operand::Number { raw, .. } => raw.clone(),
        Operand::Text { value, .. } => value.clone(),
    };
    ResolveError(format!(
        "invalid {side} operand \"{written}\" - {}",
        error.0
    ))
}

/// The right side of `~`/`!~`: a literal becomes a "contains" pattern, anything else is
/// wrapped in `%` at run time.
fn like_right(right: Resolved) -> Term {
    match right.term {
        Term::Param(ParamSource::Value(Value::Text(text))) if right.literal_text => {
            Term::param(Value::Text(like_pattern(&text)))
        }
        Term::Param(ParamSource::Value(Value::Number(n))) => {
            Term::param(Value::Text(like_pattern(&n.to_string())))
        }
        other => Term::LikeContains(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        let collection = |value| serde_json::from_value::<Collection>(value).unwrap();
        Schema::new(
            vec![
                collection(
                    json!({"id": "u", "name": "users", "type": "base", "fields": [
                    {"name": "id", "type": "text"}, {"name": "name", "type": "text"},
                    {"name": "secret", "type": "text", "hidden": true},
                    {"name": "boss", "type": "relation", "collectionId": "u", "maxSelect": 1}]}),
                ),
                collection(
                    json!({"id": "p", "name": "posts", "type": "base", "fields": [
                    {"name": "id", "type": "text"}, {"name": "title", "type": "text"},
                    {"name": "author", "type": "relation", "collectionId": "u", "maxSelect": 1},
                    {"name": "editors", "type": "relation", "collectionId": "u", "maxSelect": 9},
                    {"name": "meta", "type": "json"}]}),
                ),
                collection(
                    json!({"id": "c", "name": "comments", "type": "base", "fields": [
                    {"name": "id", "type": "text"}, {"name": "text", "type": "text"},
                    {"name": "post", "type": "relation", "collectionId": "p", "maxSelect": 1}]}),
                ),
            ],
            1,
        )
    }

    fn resolve(filter: &str, options: ResolveOptions<'_>) -> Result<FilterPlan, ResolveError> {
        let schema = schema();
        let posts = schema.by_name("posts").unwrap().clone();
        resolve_filter(
            &kb_filter::parse_filter(filter).unwrap().unwrap(),
            &schema,
            &posts,
            &options,
        )
    }

    fn guest(filter: &str) -> Result<FilterPlan, ResolveError> {
        resolve(filter, ResolveOptions::default())
    }

    fn rule(filter: &str) -> Result<FilterPlan, ResolveError> {
        resolve(
            filter,
            ResolveOptions {
                allow_hidden: true,
                allow_request: true,
                auth_collection: None,
                respect_list_rules: false,
            },
        )
    }

    #[test]
    fn unknown_fields_name_the_operand() {
        assert_eq!(
            guest("nosuch = 1").unwrap_err().0,
            "invalid left operand \"nosuch\" - unknown field \"nosuch\""
        );
        assert!(
            guest("1 = author.nosuch")
                .unwrap_err()
                .0
                .starts_with("invalid right operand")
        );
    }

    #[test]
    fn hidden_fields_and_request_data_need_privileges() {
        assert!(guest("author.secret = 'x'").is_err());
        assert!(rule("author.secret = 'x'").is_ok());
        assert_eq!(
            guest("@request.auth.id != ''").unwrap_err().0,
            "invalid left operand \"@request.auth.id\" - Only superusers can filter by @request."
        );
        assert!(guest("@collection.users.name ?= 'x'").is_err());
        assert!(rule("@collection.users:u.name ?= 'x'").is_ok());
    }

    #[test]
    fn multi_valued_paths_fan_out() {
        let plan = guest("editors.name = 'x'").unwrap();
        let Cond::Compare(compare) = &plan.cond else {
            panic!("not a comparison")
        };
        assert!(
            compare.every.is_some(),
            "plain = over many values checks every value"
        );
        let plan = guest("editors.name ?= 'x'").unwrap();
        let Cond::Compare(compare) = &plan.cond else {
            panic!("not a comparison")
        };
        assert!(compare.every.is_none());
        assert_eq!(plan.joins.len(), 2, "json_each + users");
    }

    #[test]
    fn back_relations_must_point_here() {
        assert!(guest("comments_via_post.text ?~ 'hi'").is_ok());
        assert!(guest("posts_via_author.title = 'x'").is_err());
        assert!(guest("nosuch_via_post.text = 'x'").is_err());
    }

    #[test]
    fn one_select_holds_at_most_63_joins() {
        let filter = |n: usize| {
            (0..n)
                .map(|i| format!("@collection.users:a{i}.id ?= id"))
                .collect::<Vec<_>>()
                .join(" && ")
        };
        assert!(rule(&filter(MAX_JOINS)).is_ok());
        let error = rule(&filter(MAX_JOINS + 1)).unwrap_err();
        assert!(error.0.contains("more than 63 joins"), "{}", error.0);
    }

    #[test]
    fn relation_depth_is_limited() {
        assert!(guest("author.boss.boss.boss.boss.boss.name = 'x'").is_ok());
        assert!(guest("author.boss.boss.boss.boss.boss.boss.boss.name = 'x'").is_err());
    }

    #[test]
    fn modifiers_are_checked() {
        assert!(guest("editors:length > 1").is_ok());
        assert!(guest("title:length > 1").is_err());
        assert!(guest("title:each = 'a'").is_err());
        assert!(guest("title:lower = 'a'").is_ok());
        assert!(
            rule("@request.body.title:isset = true && @request.body.title:changed = false").is_ok()
        );
        assert!(guest("meta.a.b.0 = 1").is_ok());
        assert!(guest("title.x = 1").is_err());
    }

    #[test]
    fn functions_and_literals() {
        assert!(guest("geoDistance(1, 2, 3, 4) < 10").is_ok());
        assert!(guest("geoDistance(1, 2, 3) < 10").is_err());
        assert!(guest("strftime('%Y', title) = '2024'").is_ok());
        assert!(guest("strftime(title) = '2024'").is_err());
        assert!(guest("nosuchfn(1) = 1").is_err());
        let plan = guest("title = null && null = true").unwrap();
        assert!(matches!(plan.cond, Cond::And(..)));
    }

    #[test]
    fn like_patterns() {
        assert_eq!(like_pattern("abc"), "%abc%");
        assert_eq!(like_pattern("a_b\\c"), "%a\\_b\\\\c%");
        assert_eq!(like_pattern("Post%"), "Post%");
        assert_eq!(like_pattern("100\\%"), "%100\\\\\\%%");
    }
}
