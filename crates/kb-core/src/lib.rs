//! Keelbase's domain model, free of I/O: collections and their fields, record values and
//! their validation, ids and datetimes, settings, and the schema a filter resolves against.
//!
//! Everything here is plain data and pure functions, so the HTTP layer, the storage
//! backends and the tests can all share one definition of what a valid record is.

pub mod collection;
pub mod cron;
pub mod datetime;
pub mod error;
pub mod field;
pub mod file_name;
pub mod id;
pub mod index;
pub mod number;
pub mod record;
pub mod schema;
pub mod settings;
pub mod value;

pub use collection::{Collection, CollectionKind, Rules};
pub use error::{ErrorNode, FieldError, ValidationErrors};
pub use field::{Field, FieldKind, StorageClass};
pub use schema::Schema;
