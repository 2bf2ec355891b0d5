//! One provider as a collection configures it (`oauth2.providers[]`), and its validation.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::catalogue::provider_info;

/// One entry of a collection's `oauth2.providers`, with PocketBase's JSON keys.
///
/// Empty strings mean "use the built-in default". `clientSecret` is left out of the JSON
/// when empty (callers redact it before showing a collection); `null` is read as the
/// default for every key.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ProviderConfig {
    /// Overrides the provider's PKCE default when set.
    pub pkce: Option<bool>,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub client_id: String,
    #[serde(
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub client_secret: String,
    #[serde(rename = "authURL", deserialize_with = "null_as_default")]
    pub auth_url: String,
    #[serde(rename = "tokenURL", deserialize_with = "null_as_default")]
    pub token_url: String,
    #[serde(rename = "userInfoURL", deserialize_with = "null_as_default")]
    pub user_info_url: String,
    #[serde(deserialize_with = "null_as_default")]
    pub display_name: String,
    /// Provider-specific options: `jwksURL` and `issuers` (OIDC, Apple's `jwksURL`),
    /// `idTokenEmailClaim` (Microsoft).
    #[serde(deserialize_with = "null_as_default")]
    pub extra: Map<String, Value>,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

const BLANK: &str = "Cannot be blank.";
const NOT_URL: &str = "Must be a valid URL.";

impl ProviderConfig {
    /// Field errors for collection validation, keyed by the JSON key: `(key, code, message)`,
    /// in PocketBase's order (`name`, `clientId`, `clientSecret`, `authURL`, `tokenURL`,
    /// `userInfoURL`). As PocketBase 0.40.6 answers:
    ///
    /// * `name`: `validation_required` "Cannot be blank." when empty;
    ///   `validation_missing_provider` "Invalid or missing provider with name {name}." for an
    ///   unknown name (PocketBase adds `"params":{"name":…}` to that error);
    /// * `clientId`, `clientSecret`: `validation_required` when empty (whitespace is not empty);
    /// * the three URLs: `validation_is_url` "Must be a valid URL." when set and not a URL by
    ///   PocketBase's URL rule (`example.com` and `localhost:8090/x` pass; `http://`,
    ///   `not a url`, `x.y` fail).
    pub fn validate(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut errors = Vec::new();
        if self.name.is_empty() {
            errors.push(("name", "validation_required", BLANK.to_owned()));
        } else if provider_info(&self.name).is_none() {
            errors.push((
                "name",
                "validation_missing_provider",
                format!("Invalid or missing provider with name {}.", self.name),
            ));
        }
        if self.client_id.is_empty() {
            errors.push(("clientId", "validation_required", BLANK.to_owned()));
        }
        if self.client_secret.is_empty() {
            errors.push(("clientSecret", "validation_required", BLANK.to_owned()));
        }
        for (key, url) in [
            ("authURL", &self.auth_url),
            ("tokenURL", &self.token_url),
            ("userInfoURL", &self.user_info_url),
        ] {
            if !url.is_empty() && !is_url(url) {
                errors.push((key, "validation_is_url", NOT_URL.to_owned()));
            }
        }
        errors
    }
}

/// Validation of a whole `oauth2.providers` list, as PocketBase does it when
/// `oauth2.enabled` is true (it skips the list entirely otherwise): `(index, key, code,
/// message)`.
///
/// A repeated name wins over everything else: PocketBase then reports only the first
/// repeat, as `name` / `validation_duplicated_provider` "The provider {name} is already
/// registered." (with `"params":{"name":…}`), and no per-entry errors. Otherwise each
/// entry's [`ProviderConfig::validate`] errors, by index.
pub fn validate_providers(
    configs: &[ProviderConfig],
) -> Vec<(usize, &'static str, &'static str, String)> {
    let mut seen = std::collections::HashSet::new();
    for (index, config) in configs.iter().enumerate() {
        if config.name.is_empty() {
            continue;
        }
        if !seen.insert(config.name.as_str()) {
            return vec![(
                index,
                "name",
                "validation_duplicated_provider",
                format!("The provider {} is already registered.", config.name),
            )];
        }
    }
    configs
        .iter()
        .enumerate()
        .flat_map(|(index, config)| {
            config
                .validate()
                .into_iter()
                .map(move |(key, code, message)| (index, key, code, message))
        })
        .collect()
}

/// PocketBase's URL rule (the one its `url` fields use), through kb-core.
fn is_url(text: &str) -> bool {
    use kb_core::field::{Field, FieldKind};
    let field = Field::new("url", FieldKind::Url(Default::default()));
    kb_core::value::validate(&field, &Value::String(text.to_owned())).is_ok()
}
