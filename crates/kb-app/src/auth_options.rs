//! Validation of an auth collection's options that needs more than the options alone: the
//! schema (identity fields, the MFA rule), the system collection they belong to, and the
//! catalogue of OAuth2 providers.

use kb_core::index::IndexDef;
use kb_core::{Collection, FieldError, Schema, ValidationErrors};

use crate::collections::check_rule;

/// Add the errors of `collection`'s auth options (nothing for other collections).
///
/// As PocketBase does, the cross-checks (enough login methods for MFA, the MFA rule,
/// identity fields) only run once the options themselves are valid, and each reports
/// its first problem only.
pub(crate) fn validate(
    collection: &Collection,
    old: Option<&Collection>,
    after: &Schema,
    errors: &mut ValidationErrors,
) {
    let Some(options) = collection.auth_options() else {
        return;
    };
    let mut own = options.validate();
    if let Some(previous) = old.filter(|o| o.system).and_then(|o| o.auth_options()) {
        for (key, changed) in [
            ("authRule", previous.auth_rule != options.auth_rule),
            ("manageRule", previous.manage_rule != options.manage_rule),
        ] {
            if changed {
                own.add(key, system_rule_change());
            }
        }
    }
    if options.oauth2.enabled {
        let mut oauth2 = ValidationErrors::new();
        oauth2.add_group(
            "providers",
            crate::oauth2::validate_providers(&options.oauth2.providers),
        );
        own.add_group("oauth2", oauth2);
    }
    if !own.is_empty() || errors.contains("authRule") || errors.contains("manageRule") {
        errors.merge(own);
        return;
    }
    if options.mfa.enabled {
        if options.enabled_methods() < 2 {
            let error = FieldError::new(
                "validation_mfa_not_enough_auths",
                "MFA requires at least 2 auth methods to be enabled.",
            );
            errors.add_group("mfa", ValidationErrors::single("enabled", error));
            return;
        }
        let rule_changed = old
            .filter(|o| o.system)
            .and_then(|o| o.auth_options())
            .is_some_and(|previous| previous.mfa.rule != options.mfa.rule);
        let rule_error = if rule_changed {
            Some(system_rule_change())
        } else if options.mfa.rule.is_empty() {
            None
        } else {
            check_rule(&options.mfa.rule, collection, after)
        };
        if let Some(error) = rule_error {
            errors.add_group("mfa", ValidationErrors::single("rule", error));
            return;
        }
    }
    if options.password_auth.enabled
        && let Some(error) =
            identity_fields_error(collection, &options.password_auth.identity_fields)
    {
        errors.add_group(
            "passwordAuth",
            ValidationErrors::single("identityFields", error),
        );
    }
}

fn system_rule_change() -> FieldError {
    FieldError::new(
        "validation_collection_system_rule_change",
        "System collection API rule cannot be changed.",
    )
}

/// The first identity field that does not exist or lacks a single-column unique index:
/// logins look records up by these fields, so each must identify one record.
fn identity_fields_error(collection: &Collection, names: &[String]) -> Option<FieldError> {
    names.iter().find_map(|name| {
        if collection.field(name).is_none() {
            return Some(
                FieldError::new(
                    "validation_missing_field",
                    format!("Invalid or missing field {name}."),
                )
                .with_param("fieldName", name.as_str()),
            );
        }
        let unique = collection.indexes.iter().any(|text| {
            IndexDef::parse(text).is_ok_and(|index| index.is_single_column_unique(name))
        });
        (!unique).then(|| {
            FieldError::new(
                "validation_missing_unique_constraint",
                format!("The field {name} doesn't have a UNIQUE constraint."),
            )
            .with_param("fieldName", name.as_str())
        })
    })
}
