//! What is special about writing records of auth collections: passwords are confirmed and
//! hashed (off the writer thread), owners need their old password and cannot change their
//! own email or verified state, and a new password or email rotates the token key so every
//! earlier token stops working.

use std::collections::HashMap;

use kb_core::field::FieldKind;
use kb_core::{Collection, FieldError, ValidationErrors};
use kb_store::{RequestInfo, Row};
use serde_json::{Map, Value};

use crate::app::App;
use crate::error::{AppError, AppResult};
use crate::password;
use crate::system;

/// Password work done before a write job, on a blocking thread, so the writer thread never
/// spends time on a slow hash.
#[derive(Default)]
pub(crate) struct PasswordWork {
    /// Password field → (submitted plain text, its hash).
    hashes: HashMap<String, (String, String)>,
    /// The stored hash `oldPassword` was checked against, and whether it matched.
    old_password: Option<(String, bool)>,
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn mismatch() -> FieldError {
    FieldError::new("validation_values_mismatch", "Values don't match.")
}

impl App {
    /// Hash every password the body sets and, for an update that brings `oldPassword`,
    /// check it against the stored hash.
    pub(crate) async fn password_work(
        &self,
        collection: &Collection,
        body: &Map<String, Value>,
        record_id: Option<&str>,
    ) -> AppResult<PasswordWork> {
        let plains: Vec<(String, String)> = collection
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Password(_)))
            .filter_map(|f| text(body, &f.name).map(|p| (f.name.clone(), p.to_owned())))
            .collect();
        let stored = match (record_id, text(body, "oldPassword")) {
            (Some(id), Some(_)) if collection.is_auth() => {
                let (target, id) = (collection.clone(), id.to_owned());
                self.store
                    .read(move |r| {
                        Ok::<_, AppError>(r.get(&target, &id, &[], &RequestInfo::default())?)
                    })
                    .await?
                    .and_then(|row| {
                        row.get("password")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
            }
            _ => None,
        };
        let old = text(body, "oldPassword").map(str::to_owned);
        password::off_thread(move || {
            let mut work = PasswordWork::default();
            for (field, plain) in plains {
                let hash = password::hash(&plain).map_err(AppError::Internal)?;
                work.hashes.insert(field, (plain, hash));
            }
            if let (Some(old), Some(stored)) = (old, stored) {
                let matches = password::verify(&old, &stored);
                work.old_password = Some((stored, matches));
            }
            Ok(work)
        })
        .await?
    }
}

impl PasswordWork {
    /// Replace the plain text of passwords that were set by their hashes.
    pub(crate) fn apply_hashes(&self, data: &mut Row) {
        for (field, (plain, hash)) in &self.hashes {
            if data.get(field).and_then(Value::as_str) == Some(plain.as_str()) {
                data.insert(field.clone(), Value::String(hash.clone()));
            }
        }
    }
}

/// The auth-collection rules of a write, checked before the record's own fields (PocketBase
/// reports these alone when they fail). `original` is the stored record of an update;
/// `manager` is true for superusers and requesters satisfying the manage rule.
pub(crate) fn enforce(
    collection: &Collection,
    body: &Map<String, Value>,
    data: &mut Row,
    original: Option<&Row>,
    manager: bool,
    work: &PasswordWork,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    if !collection.is_auth() {
        return errors;
    }
    let new_password = text(body, "password");
    let confirm = text(body, "passwordConfirm");
    let Some(original) = original else {
        // A new account: its password and the confirmation first.
        if let Some(field) = collection.field("password")
            && let Err(error) =
                kb_core::value::validate(field, data.get("password").unwrap_or(&Value::Null))
        {
            errors.add("password", error);
        }
        match (new_password, confirm) {
            (_, None) => errors.add("passwordConfirm", FieldError::required()),
            (Some(password), Some(confirm)) if confirm != password => {
                errors.add("passwordConfirm", mismatch())
            }
            _ => {}
        }
        // Only managers create verified records.
        if !manager
            && data.get("verified") == Some(&Value::Bool(true))
            && collection.id != system::SUPERUSERS_ID
        {
            errors.add("verified", mismatch());
        }
        return errors;
    };
    if let Some(password) = new_password {
        match confirm {
            None => errors.add("passwordConfirm", FieldError::required()),
            Some(confirm) if confirm != password => errors.add("passwordConfirm", mismatch()),
            Some(_) => {}
        }
    }
    if new_password.is_some() && !manager {
        let stored = original
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match &work.old_password {
            _ if text(body, "oldPassword").is_none() => {
                errors.add("oldPassword", FieldError::required())
            }
            Some((checked, true)) if checked == stored => {}
            _ => errors.add(
                "oldPassword",
                FieldError::new(
                    "validation_invalid_old_password",
                    "Missing or invalid old password.",
                ),
            ),
        }
    }
    if !manager {
        for field in ["email", "verified"] {
            if data.get(field) != original.get(field) {
                errors.add(field, mismatch());
            }
        }
    }
    if new_password.is_some() || data.get("email") != original.get("email") {
        data.insert("tokenKey".into(), Value::String(system::new_token_key()));
    }
    errors
}
