//! Login with OAuth2 providers: the providers an auth collection configures (validation and
//! the `auth-methods` listing), and auth-with-oauth2: exchange the code for the provider's
//! user, then find the linked record, link an existing one, or sign a new one up.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kb_core::{Collection, FieldError, FieldKind, ValidationErrors};
use kb_oauth2::{AuthUser, OAuth2Error, Provider, ProviderConfig};
use kb_store::{ListQuery, Reader, RequestInfo, Row, Writer};
use serde_json::{Map, Value, json};

use crate::app::{App, RequestMeta, Requester, RuleKind, row_text as text};
use crate::auth::{AuthResponse, equals, find_by};
use crate::auth_alert::LoginOrigin;
use crate::error::{AppError, AppResult, LOAD_ERROR};
use crate::records::WriteRequest;
use crate::system::{self, SUPERUSERS};
use crate::uploads::{RecordBody, download_upload};

const EXTERNAL_AUTHS: &str = "_externalAuths";
/// Length of the random password a record signed up through OAuth2 gets.
const RANDOM_PASSWORD_LENGTH: usize = 30;
/// How long an avatar download may take before the sign-up goes on without it.
const AVATAR_TIMEOUT: Duration = Duration::from_secs(15);

/// A password nobody knows, for records that sign in through a provider only.
fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    kb_core::id::random_string(RANDOM_PASSWORD_LENGTH, ALPHABET)
}

/// One pooled client for all provider calls; each call also has its own timeout.
fn http_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default()
    })
}

fn configs(providers: &[Value]) -> impl Iterator<Item = (usize, ProviderConfig)> + '_ {
    providers
        .iter()
        .enumerate()
        .map(|(i, raw)| (i, serde_json::from_value(raw.clone()).unwrap_or_default()))
}

/// Every provider a collection can configure (`GET /api/collections/meta/oauth2-providers`).
pub fn oauth2_catalogue() -> Value {
    kb_oauth2::providers()
        .iter()
        .map(|p| json!({"name": p.name, "displayName": p.display_name, "logo": p.logo}))
        .collect()
}

/// Errors of an auth collection's `oauth2.providers` list, by index and key.
pub(crate) fn validate_providers(providers: &[Value]) -> ValidationErrors {
    let configs: Vec<ProviderConfig> = configs(providers).map(|(_, c)| c).collect();
    let mut by_index: Vec<ValidationErrors> = Vec::new();
    by_index.resize_with(configs.len(), ValidationErrors::new);
    for (i, key, code, message) in kb_oauth2::validate_providers(&configs) {
        let mut error = FieldError::new(code, message);
        if matches!(
            code,
            "validation_missing_provider" | "validation_duplicated_provider"
        ) {
            error = error.with_param("name", configs[i].name.as_str());
        }
        by_index[i].add(key, error);
    }
    let mut errors = ValidationErrors::new();
    for (i, own) in by_index.into_iter().enumerate() {
        errors.add_group(i.to_string(), own);
    }
    errors
}

/// The `oauth2.providers` list of `auth-methods`: each provider with a fresh state and, when
/// it uses PKCE, a fresh verifier and its challenge. Misconfigured providers are left out.
pub(crate) fn provider_listing(providers: &[Value]) -> Vec<Value> {
    configs(providers)
        .filter_map(|(_, config)| {
            let provider = Provider::new(&config).ok()?;
            let state = kb_oauth2::random_state();
            let (verifier, challenge, method) = if provider.pkce() {
                let (verifier, challenge) = kb_oauth2::pkce_pair();
                (verifier, challenge, "S256")
            } else {
                (String::new(), String::new(), "")
            };
            let url = provider.auth_url(&state, (!challenge.is_empty()).then_some(&challenge));
            let display_name = match provider.display_name() {
                "" => config.name.clone(),
                name => name.to_owned(),
            };
            Some(json!({
                "name": config.name,
                "displayName": display_name,
                "logo": provider.logo(),
                "state": state,
                "authURL": url,
                "authUrl": url,
                "codeVerifier": verifier,
                "codeChallenge": challenge,
                "codeChallengeMethod": method,
            }))
        })
        .collect()
}

/// The submitted auth-with-oauth2 form.
struct LoginForm {
    config: ProviderConfig,
    code: String,
    code_verifier: String,
    redirect_url: String,
    create_data: Map<String, Value>,
}

impl LoginForm {
    fn parse(body: &Map<String, Value>, providers: &[Value]) -> AppResult<LoginForm> {
        let text = |key: &str| -> AppResult<String> {
            match body.get(key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(AppError::bad_request(LOAD_ERROR)),
            }
        };
        let create_data = match body.get("createData") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(data)) => data.clone(),
            Some(_) => return Err(AppError::bad_request(LOAD_ERROR)),
        };
        let (name, code) = (text("provider")?, text("code")?);
        let mut redirect_url = text("redirectURL")?;
        if redirect_url.is_empty() {
            redirect_url = text("redirectUrl")?;
        }
        let mut errors = ValidationErrors::new();
        let config = configs(providers)
            .map(|(_, config)| config)
            .find(|config| config.name == name);
        if name.is_empty() {
            errors.add("provider", FieldError::required());
        } else if name.chars().count() > 100 {
            errors.add("provider", FieldError::length_between(0, 100));
        } else if config.is_none() {
            errors.add(
                "provider",
                FieldError::new(
                    "validation_invalid_provider",
                    format!("Provider with name {name} is missing or is not enabled."),
                )
                .with_param("name", name.as_str()),
            );
        }
        if code.is_empty() {
            errors.add("code", FieldError::required());
        }
        if !errors.is_empty() {
            return Err(AppError::invalid(LOAD_ERROR, errors));
        }
        Ok(LoginForm {
            config: config.unwrap_or_default(),
            code,
            code_verifier: text("codeVerifier")?,
            redirect_url,
            create_data,
        })
    }
}

fn is_verified(row: &Row) -> bool {
    row.get("verified")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The `meta` of an OAuth2 auth response: the provider's user and whether the record is
/// new, keys in alphabetical order as PocketBase writes them.
fn meta_json(user: &AuthUser, is_new: bool) -> Value {
    let mut meta = user.meta_json();
    meta.insert("isNew".into(), Value::Bool(is_new));
    meta.sort_keys();
    Value::Object(meta)
}

fn provider_error(error: OAuth2Error) -> AppError {
    match error {
        OAuth2Error::Token(detail) => {
            tracing::debug!(%detail, "OAuth2 token exchange failed");
            AppError::bad_request("Failed to fetch OAuth2 token.")
        }
        OAuth2Error::User(detail) => {
            tracing::debug!(%detail, "OAuth2 user fetch failed");
            AppError::bad_request("Failed to fetch OAuth2 user.")
        }
        OAuth2Error::UnknownProvider(name) => {
            AppError::Internal(format!("OAuth2 provider {name} cannot be set up"))
        }
    }
}

/// The `_externalAuths` rows of a record, or the one of a provider account.
fn find_links(
    r: &mut dyn Reader,
    links: &Collection,
    conditions: &[(&str, &str)],
) -> Result<Vec<Row>, kb_store::StoreError> {
    let plans: Vec<_> = conditions.iter().map(|(k, v)| equals(k, v)).collect();
    let query = ListQuery {
        collection: links,
        conditions: plans.iter().collect(),
        sort: Vec::new(),
        limit: None,
        offset: 0,
    };
    r.list(&query, &RequestInfo::default())
}

fn insert_link(
    w: &mut dyn Writer,
    links: &Collection,
    collection_id: &str,
    record_id: &str,
    provider: &str,
    provider_id: &str,
) -> Result<(), kb_store::StoreError> {
    let now = kb_core::datetime::now();
    let mut row = kb_core::record::new_record(links);
    for (key, value) in [
        ("id", kb_core::id::new_record_id()),
        ("collectionRef", collection_id.to_owned()),
        ("recordRef", record_id.to_owned()),
        ("provider", provider.to_owned()),
        ("providerId", provider_id.to_owned()),
        ("created", now.clone()),
        ("updated", now),
    ] {
        row.insert(key.into(), Value::String(value));
    }
    w.insert(links, &row)
}

/// How long a name from a provider's redirect waits for its code to be exchanged.
const PENDING_NAME_TTL: Duration = Duration::from_secs(60);
/// At most this many names wait at once; the oldest make room.
const MAX_PENDING_NAMES: usize = 10_000;

/// Names some providers (Apple) send only with the redirect, keyed by the code that the
/// client exchanges moments later.
#[derive(Default)]
pub(crate) struct PendingNames(HashMap<String, (String, Instant)>);

impl PendingNames {
    fn expire(&mut self, now: Instant) {
        self.0
            .retain(|_, (_, at)| now.duration_since(*at) < PENDING_NAME_TTL);
        while self.0.len() >= MAX_PENDING_NAMES {
            let Some(oldest) = self
                .0
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.0.remove(&oldest);
        }
    }
}

/// Who is logging in, and from where.
pub struct OAuth2Login<'a> {
    pub requester: &'a Requester,
    pub meta: &'a RequestMeta,
    pub mfa_id: Option<&'a str>,
    pub origin: &'a LoginOrigin,
}

impl App {
    /// Keep the user's name that a provider sent with its redirect (Apple's `user` form
    /// field: `{"name":{"firstName","lastName"}}`) until `code` is exchanged.
    pub fn remember_oauth2_name(&self, code: &str, user: &str) {
        let Some(name) = kb_oauth2::apple_redirect_name(user).filter(|_| !code.is_empty()) else {
            return;
        };
        let now = Instant::now();
        let mut names = self.oauth2_names.lock();
        names.expire(now);
        names.0.insert(code.to_owned(), (name, now));
    }

    fn take_oauth2_name(&self, code: &str) -> Option<String> {
        let mut names = self.oauth2_names.lock();
        names.expire(Instant::now());
        names.0.remove(code).map(|(name, _)| name)
    }

    /// `POST …/auth-with-oauth2`.
    pub async fn auth_with_oauth2(
        &self,
        login: OAuth2Login<'_>,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<AuthResponse> {
        let collection = self.auth_collection(collection)?;
        let options = collection
            .auth_options()
            .ok_or_else(|| AppError::Internal("not an auth collection".into()))?;
        if !options.oauth2.enabled {
            return Err(AppError::Forbidden(
                "The collection is not configured to allow OAuth2 authentication.".into(),
            ));
        }
        let form = LoginForm::parse(body, &options.oauth2.providers)?;
        let provider = Provider::new(&form.config).map_err(provider_error)?;
        let mut user = provider
            .authenticate(
                http_client(),
                &form.code,
                &form.code_verifier,
                &form.redirect_url,
            )
            .await
            .map_err(provider_error)?;
        if user.name.is_empty()
            && let Some(name) = self.take_oauth2_name(&form.code)
        {
            user.name = name;
        }
        let links = self
            .schema()
            .by_name(EXTERNAL_AUTHS)
            .cloned()
            .ok_or_else(|| AppError::Internal("the _externalAuths collection is missing".into()))?;

        // The record this provider account belongs to: an existing link, else the record
        // logged in right now, else the record with the provider's (verified) email.
        let logged_in = match login.requester {
            Requester::Auth {
                collection: c,
                record,
                ..
            } if c.id == collection.id => Some(Row::clone(record)),
            _ => None,
        };
        let (target, links_for_read) = (collection.clone(), links.clone());
        let (provider_name, provider_id, email) = (
            form.config.name.clone(),
            user.id.clone(),
            user.email.clone(),
        );
        let (link, candidate) = self
            .store
            .read(move |r| {
                let link = find_links(
                    r,
                    &links_for_read,
                    &[
                        ("collectionRef", &target.id),
                        ("provider", &provider_name),
                        ("providerId", &provider_id),
                    ],
                )?
                .into_iter()
                .next();
                let candidate = match &link {
                    Some(link) => r.get(
                        &target,
                        &text(link, "recordRef"),
                        &[],
                        &RequestInfo::default(),
                    )?,
                    None => match logged_in {
                        Some(record) => Some(record),
                        None if !email.is_empty() => find_by(r, &target, "email", &email)?,
                        None => None,
                    },
                };
                Ok::<_, AppError>((link, candidate))
            })
            .await?;

        let (record, is_new) = match candidate {
            Some(record) => {
                let record = self
                    .update_linked_record(&collection, &links, &form, &user, record, link, &login)
                    .await?;
                (record, false)
            }
            None => {
                let record = self
                    .sign_up_with_oauth2(&collection, &links, form, &user, &login)
                    .await?;
                (record, true)
            }
        };
        let mut response = self
            .finish_auth(&collection, &record, "oauth2", login.mfa_id, login.origin)
            .await?;
        response.meta = Some(meta_json(&user, is_new));
        Ok(response)
    }

    /// Link a provider account to an existing record. An unverified record could have been
    /// created by someone else to hijack the account later: its password is replaced and
    /// its other links dropped before it is marked verified by this provider's email.
    #[allow(clippy::too_many_arguments)]
    async fn update_linked_record(
        &self,
        collection: &Arc<Collection>,
        links: &Arc<Collection>,
        form: &LoginForm,
        user: &AuthUser,
        record: Row,
        link: Option<Row>,
        login: &OAuth2Login<'_>,
    ) -> AppResult<Row> {
        let record_id = text(&record, "id");
        let is_logged_in = matches!(login.requester, Requester::Auth { collection: c, record: r, .. }
            if c.id == collection.id && text(r, "id") == record_id);
        let new_password = if !is_logged_in && !is_verified(&record) {
            let random = random_password();
            Some(crate::password::hash_off_thread(random).await?)
        } else {
            None
        };
        let (target, links) = (collection.clone(), links.clone());
        let (provider, provider_id, provider_email) = (
            form.config.name.clone(),
            user.id.clone(),
            user.email.clone(),
        );
        self.store
            .write(move |w| {
                let mut row = w
                    .get(&target, &record_id, &[], &RequestInfo::default())?
                    .ok_or_else(|| AppError::bad_request("Failed to authenticate."))?;
                let mut changed = false;
                let mut link = link;
                if let Some(hash) = new_password {
                    row.insert("password".into(), Value::String(hash));
                    row.insert("tokenKey".into(), Value::String(system::new_token_key()));
                    changed = true;
                }
                if !is_verified(&row) {
                    for stale in find_links(
                        w,
                        &links,
                        &[("collectionRef", &target.id), ("recordRef", &record_id)],
                    )? {
                        w.delete(&links, &text(&stale, "id"))?;
                    }
                    link = None;
                }
                if text(&row, "email").is_empty() && !provider_email.is_empty() {
                    row.insert("email".into(), Value::String(provider_email.clone()));
                    changed = true;
                }
                let email = text(&row, "email");
                if !is_verified(&row) && (email.is_empty() || email == provider_email) {
                    row.insert("verified".into(), Value::Bool(true));
                    changed = true;
                }
                if changed {
                    row.insert("updated".into(), Value::String(kb_core::datetime::now()));
                    w.update(&target, &record_id, &row)
                        .map_err(|_| AppError::bad_request("Failed to authenticate."))?;
                }
                if link.is_none() {
                    insert_link(w, &links, &target.id, &record_id, &provider, &provider_id)?;
                }
                Ok::<_, AppError>(row)
            })
            .await
    }

    /// Create a record for a provider account through the normal create path (create rule,
    /// validation, context `oauth2`), filled from `createData` and the mapped fields, then
    /// link it, all in one transaction.
    async fn sign_up_with_oauth2(
        &self,
        collection: &Arc<Collection>,
        links: &Arc<Collection>,
        form: LoginForm,
        user: &AuthUser,
        login: &OAuth2Login<'_>,
    ) -> AppResult<Row> {
        if collection.name == SUPERUSERS {
            return Err(AppError::bad_request("Failed to authenticate."));
        }
        let body = self
            .sign_up_payload(collection, form.create_data, user)
            .await?;
        let writable = self.writable(login.requester, &collection.name, RuleKind::Create)?;
        let (target, links) = (collection.clone(), links.clone());
        let (provider, provider_id, provider_email) =
            (form.config.name, user.id.clone(), user.email.clone());
        let request = WriteRequest::new(login.requester, login.meta, "oauth2");
        let id = self
            .insert_record(request, writable, body, move |w, row| {
                let id = text(row, "id");
                if text(row, "email") == provider_email && !is_verified(row) {
                    let mut verified = row.clone();
                    verified.insert("verified".into(), Value::Bool(true));
                    w.update(&target, &id, &verified)?;
                }
                insert_link(w, &links, &target.id, &id, &provider, &provider_id)?;
                Ok(id)
            })
            .await?;
        let target = collection.clone();
        self.store
            .read(move |r| Ok::<_, AppError>(r.get(&target, &id, &[], &RequestInfo::default())?))
            .await?
            .ok_or_else(|| AppError::bad_request("Failed to authenticate."))
    }

    /// `createData` plus the provider's email and the collection's mapped fields (each
    /// only when not submitted), and a random password when none was given. An avatar
    /// mapped to a file field is downloaded as an upload.
    async fn sign_up_payload(
        &self,
        collection: &Arc<Collection>,
        mut payload: Map<String, Value>,
        user: &AuthUser,
    ) -> AppResult<RecordBody> {
        let mut files = Vec::new();
        let mapped = collection
            .auth_options()
            .map(|o| o.oauth2.mapped_fields.clone())
            .unwrap_or_default();
        if payload
            .get("email")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            payload.insert("email".into(), Value::String(user.email.clone()));
        }
        for (field, value) in [(&mapped.id, &user.id), (&mapped.name, &user.name)] {
            if !field.is_empty() && !payload.contains_key(field.as_str()) {
                payload.insert(field.clone(), Value::String(value.clone()));
            }
        }
        if !mapped.username.is_empty()
            && !payload.contains_key(mapped.username.as_str())
            && self
                .username_is_free(collection, &mapped.username, &user.username)
                .await?
        {
            payload.insert(
                mapped.username.clone(),
                Value::String(user.username.clone()),
            );
        }
        if !mapped.avatar_url.is_empty()
            && !payload.contains_key(mapped.avatar_url.as_str())
            && !user.avatar_url.is_empty()
        {
            match collection.field(&mapped.avatar_url).map(|f| &f.kind) {
                Some(FieldKind::File(options)) => {
                    let limit = options.max_file_size();
                    let staging = self.files().staging_dir();
                    let download = download_upload(
                        http_client(),
                        &user.avatar_url,
                        &mapped.avatar_url,
                        &staging,
                        limit,
                    );
                    match tokio::time::timeout(AVATAR_TIMEOUT, download).await {
                        Ok(Ok(avatar)) => files.push(avatar),
                        // As PocketBase does, the sign-up goes on without the avatar.
                        Ok(Err(error)) => {
                            tracing::warn!(%error, "could not download an OAuth2 avatar")
                        }
                        Err(_) => tracing::warn!("downloading an OAuth2 avatar timed out"),
                    }
                }
                _ => {
                    payload.insert(
                        mapped.avatar_url.clone(),
                        Value::String(user.avatar_url.clone()),
                    );
                }
            }
        }
        if !payload.contains_key("password") {
            let random = Value::String(random_password());
            payload.insert("password".into(), random.clone());
            payload.insert("passwordConfirm".into(), random);
        }
        Ok(RecordBody {
            values: payload,
            files,
        })
    }

    /// Whether the provider's username may go into `field`: valid for it and, when the
    /// field is unique, not taken yet.
    async fn username_is_free(
        &self,
        collection: &Arc<Collection>,
        field: &str,
        username: &str,
    ) -> AppResult<bool> {
        let Some(definition) = collection.field(field) else {
            return Ok(false);
        };
        if matches!(definition.kind, FieldKind::Text(_))
            && kb_core::value::validate(definition, &Value::String(username.to_owned())).is_err()
        {
            return Ok(false);
        }
        let (target, field, username) = (collection.clone(), field.to_owned(), username.to_owned());
        let taken = self
            .store
            .read(move |r| Ok::<_, AppError>(find_by(r, &target, &field, &username)?.is_some()))
            .await?;
        Ok(!taken)
    }
}

/// Longest life of an Apple client secret Apple accepts: six months, in seconds.
const APPLE_SECRET_MAX_SECONDS: i64 = 15_777_000;

/// `POST /api/settings/apple/generate-client-secret {clientId, teamId, keyId, privateKey,
/// duration}`: the ES256 JWT Apple takes as the client secret, checked as PocketBase checks
/// the input.
pub fn apple_client_secret(body: &Map<String, Value>) -> AppResult<Value> {
    let string_field = |key: &str| match body.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(AppError::bad_request(LOAD_ERROR)),
    };
    let (client_id, team_id, key_id, private_key) = (
        string_field("clientId")?,
        string_field("teamId")?,
        string_field("keyId")?,
        string_field("privateKey")?,
    );
    let duration = match body.get("duration") {
        None | Some(Value::Null) => 0,
        Some(value) => value
            .as_i64()
            .ok_or_else(|| AppError::bad_request(LOAD_ERROR))?,
    };
    let mut errors = ValidationErrors::new();
    if client_id.is_empty() {
        errors.add("clientId", FieldError::required());
    }
    for (key, value) in [("teamId", &team_id), ("keyId", &key_id)] {
        if value.is_empty() {
            errors.add(key, FieldError::required());
        } else if value.chars().count() != 10 {
            errors.add(
                key,
                FieldError::new(
                    "validation_length_invalid",
                    "The length must be exactly 10.",
                )
                .with_param("max", 10)
                .with_param("min", 10),
            );
        }
    }
    let trimmed = private_key.trim();
    if trimmed.is_empty() {
        errors.add("privateKey", FieldError::required());
    } else if !(trimmed.starts_with("-----BEGIN PRIVATE KEY-----")
        && trimmed.ends_with("-----END PRIVATE KEY-----"))
    {
        errors.add(
            "privateKey",
            FieldError::new("validation_match_invalid", "Must be in a valid format."),
        );
    }
    if duration == 0 {
        errors.add("duration", FieldError::required());
    } else if duration < 1 {
        errors.add(
            "duration",
            FieldError::new(
                "validation_min_greater_equal_than_required",
                "Must be no less than 1.",
            )
            .with_param("threshold", 1),
        );
    } else if duration > APPLE_SECRET_MAX_SECONDS {
        errors.add(
            "duration",
            FieldError::new(
                "validation_max_less_equal_than_required",
                format!("Must be no greater than {APPLE_SECRET_MAX_SECONDS}."),
            )
            .with_param("threshold", APPLE_SECRET_MAX_SECONDS),
        );
    }
    if !errors.is_empty() {
        return Err(AppError::invalid("Invalid client secret data.", errors));
    }
    let now = jiff::Timestamp::now().as_second();
    kb_oauth2::apple_client_secret(&client_id, &team_id, &key_id, trimmed, duration, now)
        .map(|secret| json!({ "secret": secret }))
        .map_err(|e| {
            AppError::bad_request(format!(
                "Failed to generate client secret. Raw error: \n{e}."
            ))
        })
}
