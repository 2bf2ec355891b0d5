//! One-time passwords by email: `request-otp` mails a code, `auth-with-otp` trades it for a
//! token. At most a few wrong attempts per record and window, whatever the rate limits say.

use std::sync::Arc;
use std::time::Duration;

use kb_core::{Collection, FieldError, ValidationErrors};
use kb_store::RequestInfo;
use serde_json::{Map, Value, json};

use crate::app::{App, row_text as text};
use crate::auth::AuthResponse;
use crate::auth_alert::LoginOrigin;
use crate::error::{AppError, AppResult};
use crate::password;
use crate::system;

/// Attempts per record and window before `auth-with-otp` refuses even a correct code.
const MAX_ATTEMPTS: u64 = 5;
const ATTEMPT_WINDOW: Duration = Duration::from_secs(180);
const OTPS: &str = "_otps";

fn disabled() -> AppError {
    AppError::Forbidden("The collection is not configured to allow OTP authentication.".into())
}

fn invalid_otp() -> AppError {
    AppError::bad_request("Invalid or expired OTP.")
}

impl App {
    fn otp_collection(&self, collection: &str) -> AppResult<(Arc<Collection>, Arc<Collection>)> {
        let collection = self.auth_collection(collection)?;
        if !collection.auth_options().is_some_and(|o| o.otp.enabled) {
            return Err(disabled());
        }
        let otps = self
            .schema()
            .by_name(OTPS)
            .cloned()
            .ok_or_else(|| AppError::Internal("the _otps collection is missing".into()))?;
        Ok((collection, otps))
    }

    /// Mail a one-time code to the record with this email; unknown addresses get an id too,
    /// so the answer does not tell whether the account exists.
    pub async fn request_otp(
        &self,
        collection: &str,
        body: &Map<String, Value>,
    ) -> AppResult<Value> {
        let (collection, otps) = self.otp_collection(collection)?;
        let email = crate::account::email_field(body, "email")?;
        let otp_id = kb_core::id::new_record_id();
        let Some(record) = self.find_account(&collection, &email).await? else {
            return Ok(json!({"otpId": otp_id}));
        };
        let options = collection.auth_options().ok_or_else(disabled)?;
        let length = options.otp.length.clamp(4, 32) as usize;
        let code = kb_core::id::random_string(length, b"0123456789");
        let plain = code.clone();
        let hash = password::hash_off_thread(plain).await?;
        let now = kb_core::datetime::now();
        let mut row = kb_core::record::new_record(&otps);
        for (key, value) in [
            ("id", otp_id.clone()),
            ("collectionRef", collection.id.clone()),
            ("recordRef", text(&record, "id")),
            ("password", hash),
            ("sentTo", email.clone()),
            ("created", now.clone()),
            ("updated", now),
        ] {
            row.insert(key.into(), Value::String(value));
        }
        self.store
            .write(move |w| w.insert(&otps, &row).map_err(AppError::from))
            .await?;
        self.send_template(
            &record,
            &options.otp.email_template,
            &email,
            &[("OTP", &code), ("OTP_ID", &otp_id)],
        );
        Ok(json!({"otpId": otp_id}))
    }

    /// Trade an emailed code for an auth token.
    pub async fn auth_with_otp(
        &self,
        collection: &str,
        body: &Map<String, Value>,
        mfa_id: Option<&str>,
        origin: &LoginOrigin,
    ) -> AppResult<AuthResponse> {
        let (collection, otps) = self.otp_collection(collection)?;
        let field = |key: &str| {
            body.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let (otp_id, code) = (field("otpId"), field("password"));
        let mut errors = ValidationErrors::new();
        for (key, value) in [("otpId", &otp_id), ("password", &code)] {
            if value.is_empty() {
                errors.add(key, FieldError::required());
            }
        }
        if !errors.is_empty() {
            return Err(AppError::invalid(
                "An error occurred while validating the submitted data.",
                errors,
            ));
        }
        let lookup = otps.clone();
        let otp = self
            .store
            .read(move |r| {
                Ok::<_, AppError>(r.get(&lookup, &otp_id, &[], &RequestInfo::default())?)
            })
            .await?
            .filter(|otp| text(otp, "collectionRef") == collection.id)
            .ok_or_else(invalid_otp)?;
        let record_id = text(&otp, "recordRef");
        self.count_otp_attempt(&record_id).await?;
        let options = collection.auth_options().ok_or_else(disabled)?;
        let expired = kb_core::datetime::parse(&text(&otp, "created")).is_none_or(|created| {
            jiff::Timestamp::now().as_second() - created.as_second() > options.otp.duration as i64
        });
        let stored = text(&otp, "password");
        let matches = password::verify_off_thread(code, stored).await?;
        if expired || !matches {
            return Err(invalid_otp());
        }
        let (target, id) = (collection.clone(), record_id.clone());
        let mut record = self
            .store
            .read(move |r| Ok::<_, AppError>(r.get(&target, &id, &[], &RequestInfo::default())?))
            .await?
            .ok_or_else(invalid_otp)?;
        // A code sent to the record's own address proves the address: the record becomes
        // verified, and an account that never chose a password it could prove gets a fresh
        // random one, so a password set by whoever signed up with that address stops working.
        let mut changes = Map::new();
        if record.get("verified") != Some(&Value::Bool(true))
            && text(&otp, "sentTo") == text(&record, "email")
        {
            changes.insert("verified".into(), Value::Bool(true));
            if !options.mfa.enabled {
                let random = kb_core::id::random_string(
                    30,
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
                );
                let hash = password::hash_off_thread(random).await?;
                changes.insert("password".into(), Value::String(hash));
                changes.insert("tokenKey".into(), Value::String(system::new_token_key()));
            }
        }
        let (target, otp_id, id) = (collection.clone(), text(&otp, "id"), record_id.clone());
        let updated = self
            .store
            .write(move |w| {
                w.delete(&otps, &otp_id)?;
                let mut row = w
                    .get(&target, &id, &[], &RequestInfo::default())?
                    .ok_or_else(invalid_otp)?;
                if !changes.is_empty() {
                    row.extend(changes);
                    w.update(&target, &id, &row)?;
                }
                Ok::<_, AppError>(row)
            })
            .await?;
        record.clone_from(&updated);
        self.finish_auth(&collection, &record, "otp", mfa_id, origin)
            .await
    }

    /// Count an attempt for the record; refuse once the window holds too many.
    async fn count_otp_attempt(&self, record_id: &str) -> AppResult<()> {
        let key = format!("otp|{record_id}");
        let counters = self.store.counters();
        if counters.hit(&key, ATTEMPT_WINDOW, MAX_ATTEMPTS).await? {
            return Ok(());
        }
        Err(AppError::TooManyRequests(
            "Too many attempts, please try again later with a new OTP.".into(),
        ))
    }
}
