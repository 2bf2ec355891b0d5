//! Login with OAuth2 providers: the providers an auth collection configures, and
//! auth-with-oauth2 (exchange the code, find or create the linked record).

use kb_core::{FieldError, ValidationErrors};
use serde_json::Value;

/// Errors of an auth collection's `oauth2.providers` list: a provider configured twice
/// first (on the later copy), otherwise each provider's own problems.
pub(crate) fn validate_providers(providers: &[Value]) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let name_of = |p: &Value| {
        p.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    for (i, provider) in providers.iter().enumerate() {
        let name = name_of(provider);
        if !name.is_empty() && providers[..i].iter().any(|p| name_of(p) == name) {
            let error = FieldError::new(
                "validation_duplicated_provider",
                format!("The provider {name} is already registered."),
            )
            .with_param("name", name);
            errors.add_group(i.to_string(), ValidationErrors::single("name", error));
        }
    }
    errors
}
