//! Multi-factor authentication: when a collection's MFA applies to a record, the first
//! login method only earns an `mfaId`; a second, different method that presents it finishes
//! the login.

use std::sync::Arc;

use kb_core::Collection;
use kb_store::{RequestInfo, Row};
use serde_json::Value;

use crate::app::{App, RuleKind, row_text as text};
use crate::error::{AppError, AppResult};

const MFAS: &str = "_mfas";

impl App {
    /// Pass when MFA does not apply or `mfa_id` completes it; otherwise record this first
    /// factor and answer with its `mfaId`.
    pub(crate) async fn check_mfa(
        &self,
        collection: &Arc<Collection>,
        record: &Row,
        method: &str,
        mfa_id: Option<&str>,
    ) -> AppResult<()> {
        let Some(options) = collection.auth_options().filter(|o| o.mfa.enabled) else {
            return Ok(());
        };
        if !self.satisfies(collection, record, RuleKind::Mfa).await? {
            return Ok(());
        }
        let mfas = self
            .schema()
            .by_name(MFAS)
            .cloned()
            .ok_or_else(|| AppError::Internal("the _mfas collection is missing".into()))?;
        let record_id = text(record, "id");
        match mfa_id.filter(|id| !id.is_empty()) {
            Some(mfa_id) => {
                let (lookup, id) = (mfas.clone(), mfa_id.to_owned());
                let session = self
                    .store
                    .read(move |r| {
                        Ok::<_, AppError>(r.get(&lookup, &id, &[], &RequestInfo::default())?)
                    })
                    .await?;
                let expired_or_missing =
                    || AppError::bad_request("Invalid or expired MFA session.");
                let session = session.ok_or_else(expired_or_missing)?;
                if text(&session, "collectionRef") != collection.id
                    || text(&session, "recordRef") != record_id
                {
                    return Err(AppError::bad_request("Invalid MFA session."));
                }
                let age = kb_core::datetime::parse(&text(&session, "created"))
                    .map_or(i64::MAX, |created| {
                        jiff::Timestamp::now().as_second() - created.as_second()
                    });
                if age > options.mfa.duration as i64 {
                    return Err(expired_or_missing());
                }
                if text(&session, "method") == method {
                    return Err(AppError::bad_request(
                        "A different authentication method is required.",
                    ));
                }
                let id = mfa_id.to_owned();
                self.store
                    .write(move |w| Ok::<_, AppError>(w.delete(&mfas, &id)?))
                    .await?;
                Ok(())
            }
            None => {
                let id = kb_core::id::new_record_id();
                let now = kb_core::datetime::now();
                let mut row = kb_core::record::new_record(&mfas);
                for (key, value) in [
                    ("id", id.clone()),
                    ("collectionRef", collection.id.clone()),
                    ("recordRef", record_id),
                    ("method", method.to_owned()),
                    ("created", now.clone()),
                    ("updated", now),
                ] {
                    row.insert(key.into(), Value::String(value));
                }
                self.store
                    .write(move |w| Ok::<_, AppError>(w.insert(&mfas, &row)?))
                    .await?;
                Err(AppError::MfaRequired(id))
            }
        }
    }
}
