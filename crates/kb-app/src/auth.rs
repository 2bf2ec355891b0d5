//! Password authentication, token refresh and superuser management.

use std::sync::Arc;

use kb_core::record::{self, ApplyOptions};
use kb_core::{Collection, FieldError, ValidationErrors};
use kb_filter::ast::OpKind;
use kb_query::plan::{Compare, Cond, FilterPlan, MAIN, Term, Value as PlanValue};
use kb_store::{ListQuery, Reader, RequestInfo, Row};
use serde_json::{Map, Value, json};

use crate::app::{Access, App, RequestMeta, Requester, RuleKind};
use crate::auth_alert::LoginOrigin;
use crate::error::{AppError, AppResult};
use crate::password;
use crate::records::delete_cascading;
use crate::system::{self, SUPERUSERS};
use crate::tokens::{self, Claims};

/// A successful authentication: `{token, record}`.
#[derive(Debug, Clone)]
pub struct AuthResponse {
    pub token: String,
    pub record: Value,
    /// OAuth2 logins only: the provider's user.
    pub meta: Option<Value>,
}

impl AuthResponse {
    pub fn to_json(&self) -> Value {
        let mut json = json!({"token": self.token, "record": self.record});
        if let Some(meta) = &self.meta {
            json["meta"] = meta.clone();
        }
        json
    }
}

/// A plan for `field = value`.
pub(crate) fn equals(field: &str, value: &str) -> FilterPlan {
    FilterPlan {
        joins: Vec::new(),
        cond: Cond::Compare(Box::new(Compare {
            left: Term::Column {
                alias: MAIN,
                column: field.to_owned(),
            },
            op: OpKind::Eq,
            right: Term::param(PlanValue::Text(value.to_owned())),
            every: None,
        })),
    }
}

pub(crate) fn find_by(
    reader: &mut dyn Reader,
    collection: &Collection,
    field: &str,
    value: &str,
) -> Result<Option<Row>, kb_store::StoreError> {
    let plan = equals(field, value);
    let query = ListQuery {
        collection,
        conditions: vec![&plan],
        sort: Vec::new(),
        limit: Some(1),
        offset: 0,
    };
    Ok(reader
        .list(&query, &RequestInfo::default())?
        .into_iter()
        .next())
}

/// The requester's own record, which must belong to `collection` (401 for guests, 403 for
/// records of another collection).
pub(crate) fn own_record<'a>(
    requester: &'a Requester,
    collection: &Collection,
) -> AppResult<&'a Row> {
    let Requester::Auth {
        collection: own,
        record,
        ..
    } = requester
    else {
        return Err(AppError::Unauthorized(
            "The request requires valid record authorization token.".into(),
        ));
    };
    if own.id != collection.id {
        return Err(AppError::Forbidden(format!(
            "The request requires auth record from {} collection.",
            own.name
        )));
    }
    Ok(record)
}

fn auth_collection_context() -> AppError {
    AppError::NotFound("Missing or invalid auth collection context.".into())
}

/// A stand-in hash (with the parameters of new hashes), verified when the identity is
/// unknown so both paths cost the same.
const DUMMY_HASH: &str = "$argon2id$v=19$m=47104,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$3Yh2qZ1m3J1G8m0cC7O0m0o9wJk5f3mS3mZcL8m6aVQ";

impl App {
    pub(crate) fn auth_collection(&self, id_or_name: &str) -> AppResult<Arc<Collection>> {
        let collection =
            self.schema().get(id_or_name).cloned().ok_or_else(|| {
                AppError::NotFound("Missing or invalid collection context.".into())
            })?;
        if !collection.is_auth() {
            return Err(auth_collection_context());
        }
        Ok(collection)
    }

    /// Sign a new auth token for `record`.
    pub(crate) fn auth_token(&self, collection: &Collection, record: &Row) -> AppResult<String> {
        let duration = collection
            .auth_options()
            .ok_or_else(auth_collection_context)?
            .auth_token
            .duration;
        self.sign_auth_token(collection, record, duration, true)
    }

    /// An auth token for `record` valid `duration` seconds; impersonation tokens are not
    /// refreshable.
    fn sign_auth_token(
        &self,
        collection: &Collection,
        record: &Row,
        duration: u64,
        refreshable: bool,
    ) -> AppResult<String> {
        let options = collection
            .auth_options()
            .ok_or_else(auth_collection_context)?;
        let token_key = record
            .get("tokenKey")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let claims = Claims {
            id: record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            collection_id: collection.id.clone(),
            kind: tokens::AUTH.into(),
            refreshable: Some(refreshable),
            email: None,
            new_email: None,
            exp: tokens::expiry(duration),
        };
        tokens::sign(
            &claims,
            &format!("{token_key}{}", options.auth_token.secret),
        )
        .map_err(AppError::Internal)
    }

    /// The auth record as auth responses show it: always with its email.
    pub(crate) fn auth_record_json(collection: &Collection, record: &Row) -> Value {
        let mut json = record::to_api_json(collection, record.clone(), false);
        if let Some(email) = record.get("email") {
            json.insert("email".into(), email.clone());
        }
        Value::Object(json)
    }

    pub async fn auth_with_password(
        &self,
        collection: &str,
        body: &Map<String, Value>,
        mfa_id: Option<&str>,
        origin: &LoginOrigin,
    ) -> AppResult<AuthResponse> {
        let collection = self.auth_collection(collection)?;
        let options = collection
            .auth_options()
            .ok_or_else(auth_collection_context)?
            .clone();
        if !options.password_auth.enabled {
            return Err(AppError::Forbidden(
                "The collection is not configured to allow password authentication.".into(),
            ));
        }
        let text = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (identity, password, identity_field) =
            (text("identity"), text("password"), text("identityField"));
        let mut errors = ValidationErrors::new();
        for (key, value) in [("identity", &identity), ("password", &password)] {
            if value.is_empty() {
                errors.add(key, FieldError::required());
            } else if value.chars().count() > 255 {
                errors.add(key, FieldError::length_between(1, 255));
            }
        }
        if !errors.is_empty() {
            return Err(AppError::invalid(
                "An error occurred while validating the submitted data.",
                errors,
            ));
        }
        let fields: Vec<String> = if identity_field.is_empty() {
            let mut fields = options.password_auth.identity_fields.clone();
            // Email first, and only for identities that look like one.
            fields.sort_by_key(|f| f != "email");
            fields.retain(|f| f != "email" || identity.contains('@'));
            fields
        } else if options
            .password_auth
            .identity_fields
            .contains(&identity_field)
        {
            vec![identity_field]
        } else {
            return Err(AppError::invalid(
                "An error occurred while validating the submitted data.",
                ValidationErrors::single(
                    "identityField",
                    FieldError::new("validation_in_invalid", "Must be a valid value."),
                ),
            ));
        };
        let lookup = collection.clone();
        let found = self
            .store
            .read(move |r| {
                for field in &fields {
                    if lookup.field(field).is_none() {
                        continue;
                    }
                    if let Some(row) = find_by(r, &lookup, field, &identity)? {
                        return Ok::<_, AppError>(Some(row));
                    }
                }
                Ok(None)
            })
            .await?;
        let failed = || AppError::bad_request("Failed to authenticate.");
        let stored = found
            .as_ref()
            .and_then(|r| r.get("password"))
            .and_then(Value::as_str)
            .unwrap_or(DUMMY_HASH)
            .to_owned();
        let matches = password::verify_off_thread(password.clone(), stored.clone()).await?;
        let Some(mut record) = found.filter(|_| matches) else {
            return Err(failed());
        };
        if password::needs_rehash(&stored) {
            let hashed = password::hash_off_thread(password.clone()).await?;
            record.insert("password".into(), Value::String(hashed));
            let (target, row) = (collection.clone(), record.clone());
            let id = row
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            self.store
                .write(move |w| w.update(&target, &id, &row).map_err(AppError::from))
                .await?;
        }
        self.finish_auth(&collection, &record, "password", mfa_id, origin)
            .await
    }

    /// The end of every login: the auth rule, the second factor when MFA applies, then a
    /// fresh token. `method` names the factor just passed (`password`, `otp`).
    pub(crate) async fn finish_auth(
        &self,
        collection: &Arc<Collection>,
        record: &Row,
        method: &str,
        mfa_id: Option<&str>,
        origin: &LoginOrigin,
    ) -> AppResult<AuthResponse> {
        if !self.satisfies(collection, record, RuleKind::Auth).await? {
            return Err(AppError::Forbidden(
                "The request doesn't satisfy the collection requirements to authenticate.".into(),
            ));
        }
        self.check_mfa(collection, record, method, mfa_id).await?;
        let token = self.auth_token(collection, record)?;
        self.note_login_origin(collection, record, origin).await;
        Ok(AuthResponse {
            token,
            record: Self::auth_record_json(collection, record),
            meta: None,
        })
    }

    /// Whether `record` itself satisfies one of its collection's record-level rules
    /// (`authRule`, `mfa.rule`): `null` nobody, `""` everybody, else the expression, with the
    /// record as `@request.auth`.
    pub(crate) async fn satisfies(
        &self,
        collection: &Arc<Collection>,
        record: &Row,
        kind: RuleKind,
    ) -> AppResult<bool> {
        let plan = match self.access(&Requester::Guest, collection, kind) {
            Access::All => return Ok(true),
            Access::SuperusersOnly => return Ok(false),
            Access::Rule(plan) => plan,
        };
        let (target, id) = (
            collection.clone(),
            record
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        );
        let requester = Requester::auth(collection.clone(), record.clone());
        let request =
            crate::app::request_info(&requester, &RequestMeta::default(), None, "default");
        self.store
            .read(move |r| {
                Ok::<_, AppError>(r.get(&target, &id, &[plan.as_ref()], &request)?.is_some())
            })
            .await
    }

    /// The login methods an auth collection offers (`GET …/auth-methods`).
    pub fn auth_methods(&self, collection: &str) -> AppResult<Value> {
        let collection = self.auth_collection(collection)?;
        let options = collection
            .auth_options()
            .ok_or_else(auth_collection_context)?;
        let password = &options.password_auth;
        let identity =
            |field: &str| password.enabled && password.identity_fields.iter().any(|f| f == field);
        let duration = |enabled: bool, duration: u64| if enabled { duration } else { 0 };
        let providers = if options.oauth2.enabled {
            crate::oauth2::provider_listing(&options.oauth2.providers)
        } else {
            Vec::new()
        };
        // The pre-0.23 copy, without logos.
        let legacy_providers: Vec<Value> = providers
            .iter()
            .cloned()
            .map(|mut p| {
                p["logo"] = json!("");
                p
            })
            .collect();
        Ok(json!({
            // A disabled password login lists no identity fields.
            "password": {
                "enabled": password.enabled,
                "identityFields": if password.enabled { password.identity_fields.clone() } else { Vec::new() },
            },
            "oauth2": {"enabled": options.oauth2.enabled, "providers": providers},
            "mfa": {"enabled": options.mfa.enabled, "duration": duration(options.mfa.enabled, options.mfa.duration)},
            "otp": {"enabled": options.otp.enabled, "duration": duration(options.otp.enabled, options.otp.duration)},
            "authProviders": legacy_providers,
            "usernamePassword": identity("username"),
            "emailPassword": identity("email"),
        }))
    }

    /// A superuser signs in as another record (`POST …/impersonate/{id}`): a token that
    /// cannot be refreshed, valid `duration` seconds (0: the collection's token duration).
    pub async fn impersonate(
        &self,
        requester: &Requester,
        collection: &str,
        id: &str,
        body: &Map<String, Value>,
    ) -> AppResult<AuthResponse> {
        crate::collections::require_superuser(requester)?;
        let collection = self.auth_collection(collection)?;
        let duration = match body.get("duration") {
            None | Some(Value::Null) => 0,
            Some(value) => match value.as_f64() {
                Some(seconds) if seconds >= 0.0 => seconds as u64,
                _ => {
                    return Err(AppError::invalid(
                        "An error occurred while validating the submitted data.",
                        ValidationErrors::single("duration", FieldError::at_least(0)),
                    ));
                }
            },
        };
        let (target, record_id) = (collection.clone(), id.to_owned());
        let record = self
            .store
            .read(move |r| {
                Ok::<_, AppError>(r.get(&target, &record_id, &[], &RequestInfo::default())?)
            })
            .await?
            .ok_or_else(AppError::not_found)?;
        let duration = match duration {
            0 => collection
                .auth_options()
                .map_or(0, |o| o.auth_token.duration),
            seconds => seconds,
        };
        Ok(AuthResponse {
            token: self.sign_auth_token(&collection, &record, duration, false)?,
            record: Self::auth_record_json(&collection, &record),
            meta: None,
        })
    }

    /// A fresh token for the requester (`POST …/auth-refresh`). An impersonation token is not
    /// refreshable: it comes back unchanged.
    pub async fn auth_refresh(
        &self,
        requester: &Requester,
        collection: &str,
        token: &str,
    ) -> AppResult<AuthResponse> {
        let collection = self.auth_collection(collection)?;
        let record = own_record(requester, &collection)?;
        if !self.satisfies(&collection, record, RuleKind::Auth).await? {
            return Err(AppError::Forbidden(
                "The request doesn't satisfy the collection requirements to authenticate.".into(),
            ));
        }
        let bare = crate::app::bare_token(token);
        let token = match tokens::unverified(bare) {
            Some(claims) if claims.refreshable == Some(false) => bare.to_owned(),
            _ => self.auth_token(&collection, record)?,
        };
        Ok(AuthResponse {
            token,
            record: Self::auth_record_json(&collection, record),
            meta: None,
        })
    }

    /// Create a superuser, or set the password of an existing one (which signs out its
    /// sessions, as the token key rotates).
    pub async fn upsert_superuser(&self, email: &str, password: &str) -> AppResult<()> {
        let collection = self.auth_collection(SUPERUSERS)?;
        let (email, password) = (email.to_owned(), password.to_owned());
        // Hashed up front: the write job runs on the database's writer thread.
        let hashed = password::hash_off_thread(password.clone()).await?;
        self.store
            .write(move |w| {
                let existing = find_by(w, &collection, "email", &email)?;
                let is_new = existing.is_none();
                let mut data = existing
                    .clone()
                    .unwrap_or_else(|| record::new_record(&collection));
                let mut body = Map::new();
                body.insert("email".into(), Value::String(email.clone()));
                body.insert("password".into(), Value::String(password.clone()));
                body.insert("verified".into(), Value::Bool(true));
                let options = ApplyOptions {
                    is_new,
                    is_superuser: true,
                    uploaded: &[],
                };
                let invalid = |e| AppError::invalid("Failed to save the superuser.", e);
                record::apply_body(&collection, &mut data, &body, &options).map_err(invalid)?;
                data.insert("tokenKey".into(), Value::String(system::new_token_key()));
                let now = kb_core::datetime::now();
                if is_new {
                    data.insert("id".into(), Value::String(kb_core::id::new_record_id()));
                    data.insert("created".into(), Value::String(now.clone()));
                }
                data.insert("updated".into(), Value::String(now));
                record::validate_record(&collection, &data).map_err(invalid)?;
                data.insert("password".into(), Value::String(hashed));
                match existing {
                    Some(row) => {
                        let id = row
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned();
                        w.update(&collection, &id, &data)?;
                    }
                    None => w.insert(&collection, &data)?,
                }
                Ok::<_, AppError>(())
            })
            .await
    }

    /// Delete the superuser with this email; false if there is none. The last superuser
    /// cannot be deleted.
    pub async fn delete_superuser(&self, email: &str) -> AppResult<bool> {
        let collection = self.auth_collection(SUPERUSERS)?;
        let schema = self.schema();
        let email = email.to_owned();
        self.store
            .write(move |w| {
                let Some(row) = find_by(w, &collection, "email", &email)? else {
                    return Ok(false);
                };
                let id = row
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                delete_cascading(w, &schema, &collection, &id, 0)?;
                Ok::<_, AppError>(true)
            })
            .await
    }

    /// Whether any superuser exists (the dashboard's first-run check).
    pub async fn has_superusers(&self) -> AppResult<bool> {
        let collection = self.auth_collection(SUPERUSERS)?;
        self.store
            .read(move |r| {
                Ok::<_, AppError>(r.count(&collection, None, &[], &RequestInfo::default())? > 0)
            })
            .await
    }
}
