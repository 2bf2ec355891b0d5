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
    /// Rows of a collection's table.
    Table { table: String, on: JoinOn },
    /// One row per element of a JSON array (`json_each` / `jsonb_array_elements_text`),
    /// exposing the element as [`Term::EachValue`].
    JsonEach { array: Term },
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
