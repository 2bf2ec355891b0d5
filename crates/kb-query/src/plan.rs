//! The dialect-neutral query plan a filter resolves to.
//!
//! A plan names tables and columns only through the validated schema and carries every value
//! as a [`ParamSource`] to be bound at execution, so a renderer can turn it into SQL for any
//! dialect without ever pasting client text.

use kb_filter::ast::OpKind;

/// A table alias inside a rendered query. [`MAIN`] is the row being filtered.
pub type Alias = u32;

/// The alias of the record row the filter is evaluated for.
pub const MAIN: Alias = 0;

/// A resolved filter: joins shared by all of its comparisons, then the condition.
///
/// Comparisons that reach the same relation path share one join, so
/// `@collection.members.user ?= @request.auth.id && @collection.members.room ?= room` asks
/// for one `members` row satisfying both, as PocketBase does.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterPlan {
    pub joins: Vec<Join>,
    pub cond: Cond,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Compare(Box<Compare>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    pub left: Term,
    pub op: OpKind,
    pub right: Term,
    /// For a plain (non-`?`) operator on a multi-valued operand: the "every value" check,
    /// `NOT EXISTS (rows of its own joins WHERE (left op right) IS NOT TRUE)`.
    pub every: Option<EveryCheck>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EveryCheck {
    pub joins: Vec<Join>,
    pub left: Term,
    pub right: Term,
}

/// A LEFT JOIN of the plan. Joins are rendered in order; each may refer to earlier aliases.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub alias: Alias,
    pub source: JoinSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinSource {
    /// Rows of a collection's table, limited to those the requester may see.
    Table {
        table: String,
        on: JoinOn,
        visible: Visibility,
    },
    /// One row per element of a JSON array (`json_each` / `jsonb_array_elements_text`),
    /// exposing the element as [`Term::EachValue`].
    JsonEach { array: Term },
}

/// Which rows of a joined collection a filter may reach: a non-superuser's filter only
/// reaches related records that the related collection's list rule shows them.
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    All,
    /// The list rule is `null`: no rows.
    Never,
    /// Rows satisfying the list rule (its main alias is the joined row).
    Rule(Box<FilterPlan>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinOn {
    /// Every row (a `@collection.*` reference).
    True,
    /// `alias.id = term` (following a single relation).
    IdEq(Term),
    /// `alias.column = term` (a back-relation through a single relation field).
    ColumnEq { column: String, value: Term },
    /// `term` is an element of the JSON array in `alias.column` (a back-relation through a
    /// multiple relation field).
    ArrayContains { column: String, value: Term },
}

/// A value expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    Column {
        alias: Alias,
        column: String,
    },
    /// The element of a [`JoinSource::JsonEach`] row.
    EachValue(Alias),
    Param(ParamSource),
    Null,
    /// A value inside a JSON column: `base` at `path` (object keys and array indexes).
    JsonPath {
        base: Box<Term>,
        path: Vec<JsonStep>,
    },
    /// Number of elements of a JSON array value.
    ArrayLength(Box<Term>),
    Lower(Box<Term>),
    /// `'%' || term || '%'`: the right side of `~` when it is not a literal.
    LikeContains(Box<Term>),
    /// `@request.body.field:changed`: sent and different from the stored value (1 or 0).
    Changed {
        sent: Box<Term>,
        new: Box<Term>,
        old: Box<Term>,
    },
    /// `value` where `condition` holds, NULL elsewhere.
    WhenTrue {
        condition: Box<Term>,
        value: Box<Term>,
    },
    /// Haversine distance in km between (lon, lat) pairs.
    GeoDistance(Box<[Term; 4]>),
    /// SQLite-style `strftime(format, time, modifiers...)`.
    Strftime(Vec<Term>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonStep {
    Key(String),
    Index(u64),
}

/// Where a bound value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSource {
    Value(Value),
    /// Read from the request at execution (so a compiled rule is reusable across requests).
    Request(RequestRef),
    Macro(DateMacro),
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Number(f64),
    Bool(bool),
}

/// A path into the request info (`{auth, body, query, headers, method, context}`).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRef {
    pub path: Vec<String>,
    pub read: RequestRead,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRead {
    /// The value itself (NULL when absent).
    Value,
    /// Whether the key was sent (`:isset`).
    IsSet,
    /// The number of elements (`:length`); 0 when absent, 1 for a scalar.
    Length,
    /// The value as JSON array text, for iterating it (`:each`).
    JsonArray,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateMacro {
    Now,
    Yesterday,
    Tomorrow,
    TodayStart,
    TodayEnd,
    MonthStart,
    MonthEnd,
    YearStart,
    YearEnd,
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Weekday,
    Year,
}

impl Term {
    pub fn param(value: Value) -> Term {
        Term::Param(ParamSource::Value(value))
    }
}

/// One resolved sort key.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// A single-valued expression, with the joins it needs.
    Value { joins: Vec<Join>, term: Term },
    /// `@random`.
    Random,
    /// `@rowid`: insertion order.
    RowId,
}

impl FilterPlan {
    /// The same plan with every alias renamed through `rename`.
    pub fn renamed(&self, rename: &impl Fn(Alias) -> Alias) -> FilterPlan {
        FilterPlan {
            joins: self.joins.iter().map(|j| j.renamed(rename)).collect(),
            cond: self.cond.renamed(rename),
        }
    }

    /// The largest alias the plan uses.
    pub fn max_alias(&self) -> Alias {
        self.joins.iter().map(|j| j.alias).max().unwrap_or(MAIN)
    }
}

impl Cond {
    fn renamed(&self, rename: &impl Fn(Alias) -> Alias) -> Cond {
        match self {
            Cond::And(a, b) => Cond::And(Box::new(a.renamed(rename)), Box::new(b.renamed(rename))),
            Cond::Or(a, b) => Cond::Or(Box::new(a.renamed(rename)), Box::new(b.renamed(rename))),
            Cond::Compare(c) => Cond::Compare(Box::new(Compare {
                left: c.left.renamed(rename),
                op: c.op,
                right: c.right.renamed(rename),
                every: c.every.as_ref().map(|e| EveryCheck {
                    joins: e.joins.iter().map(|j| j.renamed(rename)).collect(),
                    left: e.left.renamed(rename),
                    right: e.right.renamed(rename),
                }),
            })),
        }
    }
}

impl Join {
    fn renamed(&self, rename: &impl Fn(Alias) -> Alias) -> Join {
        Join {
            alias: rename(self.alias),
            source: match &self.source {
                JoinSource::Table { table, on, visible } => JoinSource::Table {
                    table: table.clone(),
                    on: match on {
                        JoinOn::True => JoinOn::True,
                        JoinOn::IdEq(t) => JoinOn::IdEq(t.renamed(rename)),
                        JoinOn::ColumnEq { column, value } => JoinOn::ColumnEq {
                            column: column.clone(),
                            value: value.renamed(rename),
                        },
                        JoinOn::ArrayContains { column, value } => JoinOn::ArrayContains {
                            column: column.clone(),
                            value: value.renamed(rename),
                        },
                    },
                    visible: match visible {
                        Visibility::Rule(plan) => Visibility::Rule(Box::new(plan.renamed(rename))),
                        other => other.clone(),
                    },
                },
                JoinSource::JsonEach { array } => JoinSource::JsonEach {
                    array: array.renamed(rename),
                },
            },
        }
    }
}

impl Term {
    fn renamed(&self, rename: &impl Fn(Alias) -> Alias) -> Term {
        let boxed = |t: &Term| Box::new(t.renamed(rename));
        match self {
            Term::Column { alias, column } => Term::Column {
                alias: rename(*alias),
                column: column.clone(),
            },
            Term::EachValue(alias) => Term::EachValue(rename(*alias)),
            Term::Param(_) | Term::Null => self.clone(),
            Term::JsonPath { base, path } => Term::JsonPath {
                base: boxed(base),
                path: path.clone(),
            },
            Term::ArrayLength(t) => Term::ArrayLength(boxed(t)),
            Term::Lower(t) => Term::Lower(boxed(t)),
            Term::LikeContains(t) => Term::LikeContains(boxed(t)),
            Term::Changed { sent, new, old } => Term::Changed {
                sent: boxed(sent),
                new: boxed(new),
                old: boxed(old),
            },
            Term::WhenTrue { condition, value } => Term::WhenTrue {
                condition: boxed(condition),
                value: boxed(value),
            },
            Term::GeoDistance(args) => {
                Term::GeoDistance(Box::new(args.clone().map(|t| t.renamed(rename))))
            }
            Term::Strftime(args) => {
                Term::Strftime(args.iter().map(|t| t.renamed(rename)).collect())
            }
        }
    }
}
