//! Collections: the schema of one table of records, in the API's JSON shape.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{FieldError, ValidationErrors};
use crate::field::{Field, FieldKind};
use crate::id::crc32_of;

/// A collection definition. Serialises to exactly the JSON the API returns, except that token
/// secrets are included (see [`Collection::to_api_json`] for the public form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(flatten)]
    pub rules: Rules,
    #[serde(flatten)]
    pub kind: CollectionKind,
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default)]
    pub indexes: Vec<String>,
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub updated: String,
    #[serde(default)]
    pub system: bool,
}

/// The five API rules. `None` locks the action to superusers, `""` opens it to everyone,
/// anything else is a filter expression the request must satisfy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rules {
    pub list_rule: Option<String>,
    pub view_rule: Option<String>,
    pub create_rule: Option<String>,
    pub update_rule: Option<String>,
    pub delete_rule: Option<String>,
}

/// The collection type with its type-specific options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum CollectionKind {
    Base,
    View(ViewOptions),
    Auth(Box<AuthOptions>),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ViewOptions {
    pub view_query: String,
}

/// Options of auth collections (used by the auth issue; held by the model already).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthOptions {
    pub auth_rule: Option<String>,
    pub manage_rule: Option<String>,
    pub auth_alert: AuthAlert,
    pub oauth2: OAuth2Options,
    pub password_auth: PasswordAuth,
    pub mfa: MfaOptions,
    pub otp: OtpOptions,
    pub auth_token: TokenConfig,
    pub password_reset_token: TokenConfig,
    pub email_change_token: TokenConfig,
    pub verification_token: TokenConfig,
    pub file_token: TokenConfig,
    pub verification_template: EmailTemplate,
    pub reset_password_template: EmailTemplate,
    pub confirm_email_change_template: EmailTemplate,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthAlert {
    pub enabled: bool,
    pub email_template: EmailTemplate,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmailTemplate {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OAuth2Options {
    pub providers: Vec<Value>,
    pub mapped_fields: OAuth2MappedFields,
    pub enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OAuth2MappedFields {
    pub id: String,
    pub name: String,
    pub username: String,
    #[serde(rename = "avatarURL")]
    pub avatar_url: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PasswordAuth {
    pub enabled: bool,
    pub identity_fields: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MfaOptions {
    pub enabled: bool,
    pub duration: u64,
    pub rule: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OtpOptions {
    pub enabled: bool,
    pub duration: u64,
    pub length: u64,
    pub email_template: EmailTemplate,
}

/// A token kind's signing secret (never shown by the API) and lifetime in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenConfig {
    pub secret: String,
    pub duration: u64,
}

/// Longest token lifetime an auth collection accepts: about three years, in seconds.
const MAX_TOKEN_DURATION: i64 = 94_670_856;
/// Longest OTP or MFA session, in seconds.
const MAX_SESSION_DURATION: i64 = 86_400;

impl AuthOptions {
    /// The checks that need nothing but the options themselves: token secrets and
    /// lifetimes, OTP/MFA settings, email templates, and an empty `manageRule`.
    /// Rules, identity fields and OAuth2 providers need the schema or the provider list
    /// and are checked by the application layer.
    pub fn validate(&self) -> ValidationErrors {
        let mut errors = ValidationErrors::new();
        if self.manage_rule.as_deref() == Some("") {
            errors.add(
                "manageRule",
                FieldError::new("validation_nil_or_not_empty_required", "Cannot be blank."),
            );
        }
        errors.add_group("authAlert", {
            let mut alert = ValidationErrors::new();
            alert.add_group("emailTemplate", self.auth_alert.email_template.validate());
            alert
        });
        if self.password_auth.enabled && self.password_auth.identity_fields.is_empty() {
            errors.add_group(
                "passwordAuth",
                ValidationErrors::single("identityFields", FieldError::required()),
            );
        }
        let mut otp = ValidationErrors::new();
        if self.otp.enabled {
            check_duration(&mut otp, self.otp.duration, 10, MAX_SESSION_DURATION);
            if self.otp.length == 0 {
                otp.add("length", FieldError::required());
            } else if self.otp.length < 4 {
                otp.add("length", FieldError::at_least(4));
            }
        }
        otp.add_group("emailTemplate", self.otp.email_template.validate());
        errors.add_group("otp", otp);
        if self.mfa.enabled {
            let mut mfa = ValidationErrors::new();
            check_duration(&mut mfa, self.mfa.duration, 10, MAX_SESSION_DURATION);
            errors.add_group("mfa", mfa);
        }
        for (key, token) in [
            ("authToken", &self.auth_token),
            ("passwordResetToken", &self.password_reset_token),
            ("emailChangeToken", &self.email_change_token),
            ("verificationToken", &self.verification_token),
            ("fileToken", &self.file_token),
        ] {
            let mut group = ValidationErrors::new();
            let secret_length = token.secret.chars().count();
            if secret_length == 0 {
                group.add("secret", FieldError::required());
            } else if !(30..=255).contains(&secret_length) {
                group.add("secret", FieldError::length_between(30, 255));
            }
            check_duration(&mut group, token.duration, 10, MAX_TOKEN_DURATION);
            errors.add_group(key, group);
        }
        for (key, template) in [
            ("verificationTemplate", &self.verification_template),
            ("resetPasswordTemplate", &self.reset_password_template),
            (
                "confirmEmailChangeTemplate",
                &self.confirm_email_change_template,
            ),
        ] {
            errors.add_group(key, template.validate());
        }
        errors
    }

    /// How many login methods are switched on (MFA needs two).
    pub fn enabled_methods(&self) -> usize {
        [
            self.password_auth.enabled,
            self.oauth2.enabled,
            self.otp.enabled,
        ]
        .into_iter()
        .filter(|&on| on)
        .count()
    }
}

impl EmailTemplate {
    fn validate(&self) -> ValidationErrors {
        let mut errors = ValidationErrors::new();
        if self.subject.is_empty() {
            errors.add("subject", FieldError::required());
        }
        if self.body.is_empty() {
            errors.add("body", FieldError::required());
        }
        errors
    }
}

/// A lifetime in seconds: required (non-zero) and within `min..=max`.
fn check_duration(errors: &mut ValidationErrors, seconds: u64, min: i64, max: i64) {
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
    if seconds == 0 {
        errors.add("duration", FieldError::required());
    } else if seconds < min {
        errors.add("duration", FieldError::at_least(min));
    } else if seconds > max {
        errors.add("duration", FieldError::at_most(max));
    }
}

impl CollectionKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            CollectionKind::Base => "base",
            CollectionKind::View(_) => "view",
            CollectionKind::Auth(_) => "auth",
        }
    }
}

impl Collection {
    /// The id PocketBase derives for a new collection: `pbc_` + crc32(type + name).
    pub fn default_id(type_name: &str, name: &str) -> String {
        format!("pbc_{}", crc32_of(&format!("{type_name}{name}")))
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Field lookup as the API does it for request bodies: case-insensitive.
    pub fn field_ci(&self, name: &str) -> Option<&Field> {
        self.field(name).or_else(|| {
            self.fields
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
        })
    }

    pub fn is_auth(&self) -> bool {
        matches!(self.kind, CollectionKind::Auth(_))
    }

    pub fn is_view(&self) -> bool {
        matches!(self.kind, CollectionKind::View(_))
    }

    pub fn auth_options(&self) -> Option<&AuthOptions> {
        match &self.kind {
            CollectionKind::Auth(o) => Some(o),
            _ => None,
        }
    }

    pub fn view_query(&self) -> Option<&str> {
        match &self.kind {
            CollectionKind::View(o) => Some(&o.view_query),
            _ => None,
        }
    }

    /// Relation fields of this collection that point at `target_id`.
    pub fn relations_to<'a>(&'a self, target_id: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(
            move |f| matches!(&f.kind, FieldKind::Relation(o) if o.collection_id == target_id),
        )
    }

    /// The JSON the API returns: the collection without any token secret.
    pub fn to_api_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(obj) = value.as_object_mut() {
            for key in [
                "authToken",
                "passwordResetToken",
                "emailChangeToken",
                "verificationToken",
                "fileToken",
            ] {
                if let Some(token) = obj.get_mut(key).and_then(Value::as_object_mut) {
                    token.remove("secret");
                }
            }
            if let Some(providers) = obj
                .get_mut("oauth2")
                .and_then(|o| o.get_mut("providers"))
                .and_then(Value::as_array_mut)
            {
                for provider in providers.iter_mut().filter_map(Value::as_object_mut) {
                    provider.remove("clientSecret");
                }
            }
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base_collection_json_has_type_and_rules() {
        let c: Collection = serde_json::from_value(json!({
            "name": "posts", "type": "base", "listRule": "", "fields": [{"name": "title", "type": "text"}]
        }))
        .unwrap();
        assert_eq!(c.kind, CollectionKind::Base);
        assert_eq!(c.rules.list_rule.as_deref(), Some(""));
        assert_eq!(c.rules.view_rule, None);
        let out = c.to_api_json();
        assert_eq!(out["type"], "base");
        assert_eq!(out["viewRule"], Value::Null);
        assert!(out.get("viewQuery").is_none());
    }

    #[test]
    fn view_and_auth_options_are_flat() {
        let v: Collection = serde_json::from_value(json!({
            "name": "v", "type": "view", "viewQuery": "SELECT id FROM posts"
        }))
        .unwrap();
        assert_eq!(v.view_query(), Some("SELECT id FROM posts"));
        let a: Collection = serde_json::from_value(json!({
            "name": "members", "type": "auth", "authToken": {"secret": "s3cr3t", "duration": 60}
        }))
        .unwrap();
        let out = a.to_api_json();
        assert_eq!(out["authToken"], json!({"duration": 60}));
    }

    #[test]
    fn default_collection_id_matches_pocketbase() {
        assert_eq!(Collection::default_id("base", "posts"), "pbc_1125843985");
    }
}
