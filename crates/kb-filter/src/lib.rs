//! The syntax layer of PocketBase's query languages: the `filter` expressions (also used
//! by API rules), and the `sort`, `expand` and `fields` query parameters.
//!
//! Everything here is pure: strings go in, typed values or a [`SyntaxError`] come out.
//! Nothing is resolved against a schema yet; that is the job of the layers that turn a
//! filter into SQL or walk relations. The parsers accept arbitrary input (they are fuzzed)
//! and never panic; nesting and sizes are capped so no input can exhaust the stack.
//!
//! ```
//! use kb_filter::{Expr, parse_filter, parse_sort};
//!
//! let filter = parse_filter("views > 10 && (tags ~ 'c' || title ~ \"Hello\")")?.unwrap();
//! assert!(matches!(filter, Expr::And(..)));
//! assert_eq!(filter.to_string(), "views > 10 && (tags ~ \"c\" || title ~ \"Hello\")");
//!
//! let sort = parse_sort("-created,title")?;
//! assert!(sort[0].descending);
//! # Ok::<(), kb_filter::SyntaxError>(())
//! ```

pub mod ast;
mod error;
mod excerpt;
mod expand;
mod fields;
mod lexer;
mod list;
mod parser;
mod sort;

pub use ast::{Comparison, Expr, Op, OpKind, Operand, Span};
pub use error::SyntaxError;
pub use expand::{MAX_EXPAND_DEPTH, parse_expand};
pub use fields::{FieldsPicker, MAX_FIELDS_DEPTH, parse_fields};
pub use parser::{MAX_DEPTH, MAX_EXPRESSIONS, MAX_FILTER_LEN, MAX_FUNCTION_DEPTH, parse_filter};
pub use sort::{MAX_SORT_FIELD_LEN, MAX_SORT_ITEMS, SortItem, parse_sort};
