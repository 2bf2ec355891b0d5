//! Validation errors in the shape the API reports them: one `{code, message, params}` per
//! field (or per nested key), collected into a map.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One failed check on one value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub params: Map<String, Value>,
}

impl FieldError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        FieldError {
            code: code.to_owned(),
            message: message.into(),
            params: Map::new(),
        }
    }

    pub fn with_param(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.params
            .insert(key.to_owned(), crate::number::normalize(value.into()));
        self
    }

    pub fn required() -> Self {
        FieldError::new("validation_required", "Cannot be blank.")
    }

    /// A number below its allowed minimum.
    pub fn at_least(threshold: i64) -> Self {
        FieldError::new(
            "validation_min_greater_equal_than_required",
            format!("Must be no less than {threshold}."),
        )
        .with_param("threshold", threshold)
    }

    /// A number above its allowed maximum.
    pub fn at_most(threshold: i64) -> Self {
        FieldError::new(
            "validation_max_less_equal_than_required",
            format!("Must be no greater than {threshold}."),
        )
        .with_param("threshold", threshold)
    }

    /// A text whose length (in characters) is outside `min..=max`.
    pub fn length_between(min: usize, max: usize) -> Self {
        FieldError::new(
            "validation_length_out_of_range",
            format!("The length must be between {min} and {max}."),
        )
        .with_param("max", max)
        .with_param("min", min)
    }

    pub fn invalid_value(value: impl std::fmt::Display) -> Self {
        FieldError::new(
            "validation_invalid_value",
            format!("Invalid value {value}."),
        )
        .with_param("value", value.to_string())
    }
}

/// An error tree: leaves are [`FieldError`]s, inner nodes group errors of nested values
/// (`fields.2.name`, `indexes.0`, `smtp.host`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ErrorNode {
    Leaf(FieldError),
    Group(BTreeMap<String, ErrorNode>),
}

/// The `data` object of a 400 response: field name → error.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(pub BTreeMap<String, ErrorNode>);

impl ValidationErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(key: impl Into<String>, error: FieldError) -> Self {
        let mut errors = Self::new();
        errors.add(key, error);
        errors
    }

    /// Record an error for `key`; the first error of a key wins, as only one is reported.
    pub fn add(&mut self, key: impl Into<String>, error: FieldError) {
        self.0.entry(key.into()).or_insert(ErrorNode::Leaf(error));
    }

    /// Nest a group of errors under `key` (e.g. the errors of one field definition).
    pub fn add_group(&mut self, key: impl Into<String>, group: ValidationErrors) {
        if !group.is_empty() {
            self.0
                .entry(key.into())
                .or_insert(ErrorNode::Group(group.0));
        }
    }

    /// Add `other`'s errors for keys that have none yet.
    pub fn merge(&mut self, other: ValidationErrors) {
        for (key, node) in other.0 {
            self.0.entry(key).or_insert(node);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.0.keys().map(String::as_str).collect();
        write!(f, "invalid values for: {}", keys.join(", "))
    }
}

impl std::error::Error for ValidationErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_params_are_written_as_integers() {
        let error = FieldError::new(
            "validation_min_number_constraint",
            "Must be greater or equal than 1.",
        )
        .with_param("min", 1.0)
        .with_param("ratio", 0.5);
        assert_eq!(
            serde_json::to_string(&error).unwrap(),
            r#"{"code":"validation_min_number_constraint","message":"Must be greater or equal than 1.","params":{"min":1,"ratio":0.5}}"#
        );
    }
}
