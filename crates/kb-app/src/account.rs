//! Account emails: verification, password reset and email change. Each request answers the
//! same whether or not the address belongs to an account (no enumeration); the mail goes
//! out in the background through the outbox.

use std::sync::Arc;
use std::time::Duration;

use kb_core::collection::{EmailTemplate, TokenConfig};
use kb_core::settings::Settings;
use kb_core::{Collection, FieldError, ValidationErrors};
use kb_mail::{Address, Mailer, Message, SmtpAuthMethod, SmtpConfig, SmtpMailer};
use kb_store::{RequestInfo, Row};
use serde_json::{Map, Value};

use crate::app::{App, Requester, row_text as text_of};
use crate::error::{AppError, AppResult};
use crate::password;
use crate::system::{self, SUPERUSERS_ID};
use crate::tokens::{self, Claims};

/// The mailer the settings ask for; with SMTP off, every send fails with a logged reason.
pub(crate) fn mailer_for(settings: &Settings) -> Arc<dyn Mailer> {
    let smtp = &settings.smtp;
    if !smtp.enabled {
        return Arc::new(SmtpOff);
    }
    let config = SmtpConfig {
        host: smtp.host.clone(),
        port: u16::try_from(smtp.port).unwrap_or(587),
        username: smtp.username.clone(),
        password: smtp.password.clone(),
        auth_method: smtp.auth_method.parse().unwrap_or(SmtpAuthMethod::Plain),
        tls: smtp.tls,
        local_name: smtp.local_name.clone(),
        sender_name: settings.meta.sender_name.clone(),
        sender_address: settings.meta.sender_address.clone(),
        ..SmtpConfig::default()
    };
    match SmtpMailer::new(config) {
        Ok(mailer) => Arc::new(mailer),
        Err(error) => {
            tracing::error!(%error, "the SMTP settings are unusable; emails will fail");
            Arc::new(SmtpOff)
        }
    }
}

/// The mailer while SMTP is disabled.
struct SmtpOff;

impl Mailer for SmtpOff {
    fn send(&self, _message: Message) -> kb_mail::BoxFuture<'_, Result<(), kb_mail::MailError>> {
        Box::pin(async {
            Err(kb_mail::MailError::Config(
                "SMTP is not enabled in the settings".into(),
            ))
        })
    }
}

fn field_text<'a>(body: &'a Map<String, Value>, key: &str) -> &'a str {
    body.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn invalid(key: &str, error: FieldError) -> AppError {
    AppError::invalid(
        "An error occurred while validating the submitted data.",
        ValidationErrors::single(key, error),
    )
}

fn invalid_token() -> AppError {
    invalid(
        "token",
        FieldError::new("validation_invalid_token", "Invalid or expired token."),
    )
}

/// A submitted email address: present and well formed.
pub(crate) fn email_field(body: &Map<String, Value>, key: &str) -> AppResult<String> {
    let email = field_text(body, key).trim().to_owned();
    if email.is_empty() {
        return Err(invalid(key, FieldError::required()));
    }
    let probe = kb_core::Field::new(key, kb_core::FieldKind::Email(Default::default()));
    kb_core::value::validate(&probe, &Value::String(email.clone())).map_err(|e| invalid(key, e))?;
    Ok(email)
}

/// The account mails that carry a token.
#[derive(Debug, Clone, Copy)]
enum TokenMail {
    Verification,
    PasswordReset,
    EmailChange,
}

/// How long a verification or password-reset mail blocks another one to the same record.
const RESEND_AFTER: Duration = Duration::from_secs(120);

impl App {
    /// Whether a `kind` mail may go to `record` now: one went in the last [`RESEND_AFTER`]
    /// otherwise. Asking again within that time answers the same 204 but sends nothing, so
    /// nobody can flood a mailbox.
    async fn may_send(
        &self,
        kind: &'static str,
        collection: &Collection,
        record: &Row,
    ) -> AppResult<bool> {
        let key = format!("mail|{kind}|{}/{}", collection.id, text_of(record, "id"));
        Ok(self.store.counters().hit(&key, RESEND_AFTER, 1).await?)
    }

    pub(crate) fn find_account(
        &self,
        collection: &Arc<Collection>,
        email: &str,
    ) -> impl Future<Output = AppResult<Option<Row>>> + use<> {
        let (target, email) = (collection.clone(), email.to_owned());
        let store = self.store.clone();
        async move {
            store
                .read(move |r| {
                    let rows = crate::auth::find_by(r, &target, "email", &email)?;
                    Ok::<_, AppError>(rows)
                })
                .await
        }
    }

    /// A token of `kind` for `record`, signed with its token key and the collection's secret
    /// for that kind.
    fn account_token(
        &self,
        collection: &Collection,
        record: &Row,
        kind: &str,
        config: &TokenConfig,
        new_email: Option<String>,
    ) -> AppResult<String> {
        let claims = Claims {
            id: text_of(record, "id"),
            collection_id: collection.id.clone(),
            kind: kind.to_owned(),
            refreshable: None,
            email: Some(text_of(record, "email")),
            new_email,
            exp: tokens::expiry(config.duration),
        };
        tokens::sign(
            &claims,
            &format!("{}{}", text_of(record, "tokenKey"), config.secret),
        )
        .map_err(AppError::Internal)
    }

    /// The record a token of `kind` belongs to, if the token is genuine, unexpired and still
    /// matches the record's email.
    async fn redeem(
        &self,
        collection: &Arc<Collection>,
        token: &str,
        kind: &str,
        secret: impl Fn(&Collection) -> Option<String>,
    ) -> AppResult<(Row, Claims)> {
        // Garbage, or a token of another kind (an auth token, say), lacks the address claim.
        let Some(claims) =
            tokens::unverified(token).filter(|c| c.email.as_deref().is_some_and(|e| !e.is_empty()))
        else {
            return Err(invalid(
                "token",
                FieldError::new(
                    "validation_invalid_token_claims",
                    "Missing email token claim.",
                ),
            ));
        };
        if claims.collection_id != collection.id {
            return Err(invalid(
                "token",
                FieldError::new(
                    "validation_token_collection_mismatch",
                    "The provided token is for different auth collection.",
                ),
            ));
        }
        if claims.kind != kind {
            return Err(invalid_token());
        }
        let (target, id) = (collection.clone(), claims.id.clone());
        let record = self
            .store
            .read(move |r| Ok::<_, AppError>(r.get(&target, &id, &[], &RequestInfo::default())?))
            .await?
            .ok_or_else(invalid_token)?;
        let secret = secret(collection).ok_or_else(invalid_token)?;
        let verified = tokens::verify(
            token,
            &format!("{}{}", text_of(&record, "tokenKey"), secret),
        )
        .ok_or_else(invalid_token)?;
        if verified.email.as_deref() != Some(text_of(&record, "email").as_str()) {
            return Err(invalid_token());
        }
        Ok((record, verified))
    }

    /// Render a collection email template for `record` and queue it to `to`.
    pub(crate) fn send_template(
        &self,
        record: &Row,
        template: &EmailTemplate,
        to: &str,
        extra: &[(&str, &str)],
    ) {
        self.enqueue(self.template_message(record, template, to, extra));
    }

    fn enqueue(&self, message: Message) {
        let recipients = message.recipients();
        if self.outbox.enqueue(message).is_err() {
            tracing::error!(
                %recipients,
                "the mail outbox is full; an account email was dropped"
            );
        }
    }

    /// A mail carrying a token of `mail`'s kind for `record`, rendered from the collection's
    /// template for it and addressed to `to`.
    fn token_message(
        &self,
        collection: &Collection,
        record: &Row,
        mail: TokenMail,
        to: &str,
        new_email: Option<String>,
    ) -> AppResult<Message> {
        let options = collection.auth_options().ok_or_else(AppError::not_found)?;
        let (kind, config, template) = match mail {
            TokenMail::Verification => (
                tokens::VERIFICATION,
                &options.verification_token,
                &options.verification_template,
            ),
            TokenMail::PasswordReset => (
                tokens::PASSWORD_RESET,
                &options.password_reset_token,
                &options.reset_password_template,
            ),
            TokenMail::EmailChange => (
                tokens::EMAIL_CHANGE,
                &options.email_change_token,
                &options.confirm_email_change_template,
            ),
        };
        let token = self.account_token(collection, record, kind, config, new_email)?;
        Ok(self.template_message(record, template, to, &[("TOKEN", &token)]))
    }

    /// A collection email template rendered for `record`, addressed to `to`.
    fn template_message(
        &self,
        record: &Row,
        template: &EmailTemplate,
        to: &str,
        extra: &[(&str, &str)],
    ) -> Message {
        let settings = self.settings();
        let mut owned: Vec<(String, String)> = vec![
            ("APP_NAME".into(), settings.meta.app_name.clone()),
            (
                "APP_URL".into(),
                settings.meta.app_url.trim_end_matches('/').to_owned(),
            ),
        ];
        owned.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        for (key, value) in record {
            if let Some(text) = value.as_str()
                && key != "password"
                && key != "tokenKey"
            {
                owned.push((format!("RECORD:{key}"), text.to_owned()));
            }
        }
        let vars: Vec<(&str, &str)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Message::new(
            Address::email(to),
            // PocketBase escapes the values in the subject as well as in the body.
            kb_mail::render_template_raw(&template.subject, &vars, &["APP_URL"]),
            kb_mail::render_template_raw(&template.body, &vars, &["APP_URL"]),
        )
    }

    /// `POST /api/settings/test/email`: one of an auth collection's templates (default
    /// `_superusers`), rendered for a stand-in record, sent at once through the current
    /// SMTP settings; a delivery failure is the answer.
    pub async fn send_test_email(
        &self,
        requester: &Requester,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        const FAILED: &str = "Failed to send the test email.";
        const TEMPLATES: &[&str] = &[
            "verification",
            "password-reset",
            "email-change",
            "otp",
            "login-alert",
        ];
        crate::collections::require_superuser(requester)?;
        let mut errors = ValidationErrors::new();
        let email = field_text(body, "email").trim().to_owned();
        if email.is_empty() {
            errors.add("email", FieldError::required());
        } else if email_field(body, "email").is_err() {
            errors.add(
                "email",
                FieldError::new("validation_is_email", "Must be a valid email address."),
            );
        }
        let template_name = field_text(body, "template");
        if template_name.is_empty() {
            errors.add("template", FieldError::required());
        } else if !TEMPLATES.contains(&template_name) {
            errors.add(
                "template",
                FieldError::new("validation_in_invalid", "Must be a valid value."),
            );
        }
        let wanted = match field_text(body, "collection") {
            "" => SUPERUSERS_ID,
            name => name,
        };
        let collection = self.schema().get(wanted).filter(|c| c.is_auth()).cloned();
        if collection.is_none() {
            errors.add(
                "collection",
                FieldError::new(
                    "validation_invalid_auth_collection",
                    "Must be a valid auth collection id or name.",
                ),
            );
        }
        let (Some(collection), true) = (collection, errors.is_empty()) else {
            return Err(AppError::invalid(FAILED, errors));
        };
        let options = collection.auth_options().ok_or_else(AppError::not_found)?;
        // A stand-in record: every visible field shows its own name.
        let mut record = kb_core::record::new_record(&collection);
        for field in collection.fields.iter().filter(|f| !f.hidden) {
            record.insert(
                field.name.clone(),
                Value::String(format!("__test_{}__", field.name)),
            );
        }
        record.insert("tokenKey".into(), Value::String(system::new_token_key()));
        record.insert("email".into(), Value::String(email.clone()));
        let token_mail = |mail| self.token_message(&collection, &record, mail, &email, None);
        let message = match template_name {
            "verification" => token_mail(TokenMail::Verification)?,
            "password-reset" => token_mail(TokenMail::PasswordReset)?,
            "email-change" => self.token_message(
                &collection,
                &record,
                TokenMail::EmailChange,
                &email,
                Some(email.clone()),
            )?,
            "otp" => self.template_message(
                &record,
                &options.otp.email_template,
                &email,
                &[("OTP", "123456"), ("OTP_ID", "test_otp_id")],
            ),
            _ => {
                let info = format!("{} - TEST_IP TEST_USER_AGENT", kb_core::datetime::now());
                self.template_message(
                    &record,
                    &options.auth_alert.email_template,
                    &email,
                    &[("ALERT_INFO", &info)],
                )
            }
        };
        mailer_for(&self.settings())
            .send(message)
            .await
            .map_err(|error| AppError::bad_request(format!("{FAILED} Raw error: {error}")))
    }

    /// Store changed fields of an account record (a fresh read inside the transaction, so
    /// nothing else the record holds is overwritten).
    async fn update_account(
        &self,
        collection: &Arc<Collection>,
        id: &str,
        changes: Map<String, Value>,
    ) -> AppResult<()> {
        let (target, id) = (collection.clone(), id.to_owned());
        self.store
            .write(move |w| {
                let mut row = w
                    .get(&target, &id, &[], &RequestInfo::default())?
                    .ok_or_else(AppError::not_found)?;
                row.extend(changes);
                row.insert("updated".into(), Value::String(kb_core::datetime::now()));
                w.update(&target, &id, &row).map_err(|e| match e {
                    kb_store::StoreError::Unique { .. } => invalid(
                        "email",
                        FieldError::new("validation_not_unique", "Value must be unique."),
                    ),
                    other => other.into(),
                })?;
                Ok::<_, AppError>(())
            })
            .await
    }

    pub async fn request_verification(
        &self,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        let collection = self.auth_collection(collection)?;
        if collection.id == SUPERUSERS_ID {
            return Err(AppError::bad_request(
                "All superusers are verified by default.",
            ));
        }
        let email = email_field(body, "email")?;
        let Some(record) = self.find_account(&collection, &email).await? else {
            return Ok(());
        };
        if record.get("verified").and_then(Value::as_bool) == Some(true)
            || !self
                .may_send(tokens::VERIFICATION, &collection, &record)
                .await?
        {
            return Ok(());
        }
        self.enqueue(self.token_message(
            &collection,
            &record,
            TokenMail::Verification,
            &email,
            None,
        )?);
        Ok(())
    }

    pub async fn confirm_verification(
        &self,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        let collection = self.auth_collection(collection)?;
        if collection.id == SUPERUSERS_ID {
            return Err(AppError::bad_request(
                "All superusers are verified by default.",
            ));
        }
        let token = field_text(body, "token");
        if token.is_empty() {
            return Err(invalid("token", FieldError::required()));
        }
        let (record, _) = self
            .redeem(&collection, token, tokens::VERIFICATION, |c| {
                c.auth_options()
                    .map(|o| o.verification_token.secret.clone())
            })
            .await?;
        let mut changes = Map::new();
        changes.insert("verified".into(), Value::Bool(true));
        self.update_account(&collection, &text_of(&record, "id"), changes)
            .await
    }

    pub async fn request_password_reset(
        &self,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        let collection = self.auth_collection(collection)?;
        let options = collection.auth_options().ok_or_else(AppError::not_found)?;
        if !options.password_auth.enabled {
            return Err(AppError::bad_request(
                "The collection is not configured to allow password authentication.",
            ));
        }
        let email = email_field(body, "email")?;
        let Some(record) = self.find_account(&collection, &email).await? else {
            return Ok(());
        };
        if !self
            .may_send(tokens::PASSWORD_RESET, &collection, &record)
            .await?
        {
            return Ok(());
        }
        self.enqueue(self.token_message(
            &collection,
            &record,
            TokenMail::PasswordReset,
            &email,
            None,
        )?);
        Ok(())
    }

    pub async fn confirm_password_reset(
        &self,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        let collection = self.auth_collection(collection)?;
        let (token, new_password, confirm) = (
            field_text(body, "token"),
            field_text(body, "password"),
            field_text(body, "passwordConfirm"),
        );
        let mut errors = ValidationErrors::new();
        if token.is_empty() {
            errors.add("token", FieldError::required());
        }
        let min = match collection.field("password").map(|f| &f.kind) {
            Some(kb_core::FieldKind::Password(options)) if options.min > 0 => options.min,
            _ => 8,
        };
        let length = new_password.chars().count() as u64;
        if new_password.is_empty() {
            errors.add("password", FieldError::required());
        } else if length < min || length > 255 {
            errors.add("password", FieldError::length_between(min as usize, 255));
        }
        if confirm.is_empty() {
            errors.add("passwordConfirm", FieldError::required());
        } else if confirm != new_password {
            errors.add(
                "passwordConfirm",
                FieldError::new("validation_values_mismatch", "Values don't match."),
            );
        }
        if !errors.is_empty() {
            return Err(AppError::invalid(
                "An error occurred while validating the submitted data.",
                errors,
            ));
        }
        // Unlike verification, a reset token that names no address is simply invalid.
        if tokens::unverified(token).is_none_or(|c| c.email.is_none_or(|e| e.is_empty())) {
            return Err(invalid_token());
        }
        let (record, claims) = self
            .redeem(&collection, token, tokens::PASSWORD_RESET, |c| {
                c.auth_options()
                    .map(|o| o.password_reset_token.secret.clone())
            })
            .await?;
        let plain = new_password.to_owned();
        let hash = password::hash_off_thread(plain).await?;
        let mut changes = Map::new();
        changes.insert("password".into(), Value::String(hash));
        changes.insert("tokenKey".into(), Value::String(system::new_token_key()));
        if claims.email.as_deref() == Some(text_of(&record, "email").as_str()) {
            changes.insert("verified".into(), Value::Bool(true));
        }
        self.update_account(&collection, &text_of(&record, "id"), changes)
            .await
    }

    pub async fn request_email_change(
        &self,
        requester: &Requester,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        let collection = self.auth_collection(collection)?;
        let record = crate::auth::own_record(requester, &collection)?;
        if collection.id == SUPERUSERS_ID {
            return Err(AppError::bad_request(
                "All superusers can change their emails directly.",
            ));
        }
        let new_email = email_field(body, "newEmail")?;
        if new_email == text_of(record, "email") {
            return Err(invalid(
                "newEmail",
                FieldError::new("validation_not_in_invalid", "Must not be in list."),
            ));
        }
        if self.find_account(&collection, &new_email).await?.is_some() {
            return Err(invalid(
                "newEmail",
                FieldError::new("validation_invalid_new_email", "Invalid new email address."),
            ));
        }
        let message = self.token_message(
            &collection,
            record,
            TokenMail::EmailChange,
            &new_email,
            Some(new_email.clone()),
        )?;
        self.enqueue(message);
        Ok(())
    }

    pub async fn confirm_email_change(
        &self,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<()> {
        let collection = self.auth_collection(collection)?;
        let (token, given_password) = (field_text(body, "token"), field_text(body, "password"));
        let mut errors = ValidationErrors::new();
        if token.is_empty() {
            errors.add("token", FieldError::required());
        }
        if given_password.is_empty() {
            errors.add("password", FieldError::required());
        }
        if !errors.is_empty() {
            return Err(AppError::invalid(
                "An error occurred while validating the submitted data.",
                errors,
            ));
        }
        // A token without a new address cannot name a record to check the password of:
        // both checks fail, as PocketBase reports it. A well-formed token that does not
        // redeem (used, expired, forged) is simply an invalid token.
        let readable = tokens::unverified(token)
            .is_some_and(|claims| claims.new_email.is_some_and(|e| !e.is_empty()));
        if !readable {
            let mut errors = ValidationErrors::new();
            errors.add(
                "token",
                FieldError::new(
                    "validation_invalid_token_payload",
                    "Invalid token payload - newEmail must be set.",
                ),
            );
            errors.add(
                "password",
                FieldError::new(
                    "validation_invalid_password",
                    "Missing or invalid auth record password.",
                ),
            );
            return Err(AppError::invalid(
                "An error occurred while validating the submitted data.",
                errors,
            ));
        }
        let (record, claims) = self
            .redeem(&collection, token, tokens::EMAIL_CHANGE, |c| {
                c.auth_options()
                    .map(|o| o.email_change_token.secret.clone())
            })
            .await?;
        let new_email = claims.new_email.filter(|e| !e.is_empty()).ok_or_else(|| {
            invalid(
                "token",
                FieldError::new(
                    "validation_invalid_token_payload",
                    "Invalid token payload - newEmail must be set.",
                ),
            )
        })?;
        let (plain, stored) = (given_password.to_owned(), text_of(&record, "password"));
        let matches = password::verify_off_thread(plain, stored).await?;
        if !matches {
            return Err(invalid(
                "password",
                FieldError::new(
                    "validation_invalid_password",
                    "Missing or invalid auth record password.",
                ),
            ));
        }
        let mut changes = Map::new();
        changes.insert("email".into(), Value::String(new_email));
        changes.insert("verified".into(), Value::Bool(true));
        changes.insert("tokenKey".into(), Value::String(system::new_token_key()));
        self.update_account(&collection, &text_of(&record, "id"), changes)
            .await
    }
}
