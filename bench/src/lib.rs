//! What the harness and the raw floor server share: the deterministic data set, so every
//! server holds the same rows under the same ids.

pub mod dataset;
