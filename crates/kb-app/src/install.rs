//! First run. While no superuser exists, `serve` opens a one-time install token and prints a
//! dashboard link holding it; `POST /api/install` with that token creates the first
//! superuser and signs it in. Nobody else can create a superuser without being one.

use kb_core::{FieldError, ValidationErrors};
use parking_lot::Mutex;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::app::{Access, App, RequestMeta, Requester};
use crate::auth::AuthResponse;
use crate::error::{AppError, AppResult};
use crate::records::WriteRequest;
use crate::system::{SECRET_ALPHABET, SUPERUSERS};
use crate::uploads::RecordBody;

/// The open install token, if any (in this process only: the node that printed it).
#[derive(Default)]
pub(crate) struct InstallToken(Mutex<Option<String>>);

impl InstallToken {
    /// Takes the token if `candidate` is it, so two requests cannot both use it.
    fn take_if(&self, candidate: &str) -> Option<String> {
        let mut open = self.0.lock();
        let matches = open
            .as_deref()
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(candidate.as_bytes())));
        if matches { open.take() } else { None }
    }

    fn put_back(&self, token: String) {
        self.0.lock().get_or_insert(token);
    }
}

fn invalid_token() -> AppError {
    AppError::invalid(
        "The install link is invalid or was already used.",
        ValidationErrors::single(
            "token",
            FieldError::new(
                "validation_invalid_install_token",
                "This install link is invalid or was already used. Restart the server for a new one, or run `keelbase superuser upsert`.",
            ),
        ),
    )
}

impl App {
    /// A new one-time install token when no superuser exists yet; `None` otherwise.
    pub async fn open_install(&self) -> AppResult<Option<String>> {
        if self.has_superusers().await? {
            return Ok(None);
        }
        let token = kb_core::id::random_string(40, SECRET_ALPHABET);
        *self.install_token.0.lock() = Some(token.clone());
        Ok(Some(token))
    }

    /// `POST /api/install`: `{token, email, password, passwordConfirm}` creates the first
    /// superuser, validated like any superuser record, and answers as a sign-in does.
    pub async fn install(
        &self,
        meta: &RequestMeta,
        mut body: Map<String, Value>,
    ) -> AppResult<AuthResponse> {
        let candidate = match body.remove("token") {
            Some(Value::String(token)) => token,
            _ => String::new(),
        };
        let token = self
            .install_token
            .take_if(&candidate)
            .ok_or_else(invalid_token)?;
        let created = self.create_first_superuser(meta, body).await;
        match created {
            Ok(response) => Ok(response),
            Err(err) => {
                // A mistyped password must not burn the link; a superuser made meanwhile
                // (by the CLI) must.
                if !matches!(self.has_superusers().await, Ok(true)) {
                    self.install_token.put_back(token);
                }
                Err(err)
            }
        }
    }

    async fn create_first_superuser(
        &self,
        meta: &RequestMeta,
        body: Map<String, Value>,
    ) -> AppResult<AuthResponse> {
        if self.has_superusers().await? {
            return Err(invalid_token());
        }
        let collection = self.collection(SUPERUSERS)?;
        let values: Map<String, Value> = body
            .into_iter()
            .filter(|(key, _)| matches!(key.as_str(), "email" | "password" | "passwordConfirm"))
            .collect();
        // The requester is nobody: the token, not a rule, grants this one create.
        let request = WriteRequest::new(&Requester::Guest, meta, "default");
        let row = self
            .insert_record(
                request,
                (collection.clone(), Access::All),
                RecordBody {
                    values,
                    files: Vec::new(),
                },
                |_, row| Ok(row.clone()),
            )
            .await?;
        Ok(AuthResponse {
            token: self.auth_token(&collection, &row)?,
            record: Self::auth_record_json(&collection, &row),
            meta: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_taken_once_and_only_when_it_matches() {
        let token = InstallToken::default();
        assert_eq!(token.take_if("anything"), None, "nothing open");
        *token.0.lock() = Some("secret".into());
        assert_eq!(token.take_if("secre"), None);
        assert_eq!(token.take_if("secret!"), None);
        assert_eq!(token.take_if(""), None);
        assert_eq!(token.take_if("secret").as_deref(), Some("secret"));
        assert_eq!(token.take_if("secret"), None, "used up");
        token.put_back("secret".into());
        assert_eq!(token.take_if("secret").as_deref(), Some("secret"));
    }
}
