//! Semantic layer of the query languages: a parsed filter or sort, checked against the
//! schema and turned into a [`plan::FilterPlan`] / sort terms that any SQL dialect can
//! render. Pure: no I/O and no SQL text.

pub mod plan;
pub mod resolve;

pub use plan::{FilterPlan, ParamSource, SortKey, Term};
pub use resolve::{ResolveError, ResolveOptions, resolve_filter, resolve_sort_key};
