//! Login alerts: each auth record keeps its few most recent login origins (a fingerprint of
//! IP and User-Agent in `_authOrigins`); a login from an origin not seen before mails the
//! owner, unless it is the record's very first login.

use std::sync::Arc;

use kb_core::Collection;
use kb_query::plan::{MAIN, SortKey, Term};
use kb_store::{ListQuery, RequestInfo, Row, SortSpec};
use md5::{Digest, Md5};
use serde_json::Value;

use crate::app::{App, row_text as text};
use crate::auth::equals;
use crate::error::{AppError, AppResult};

const AUTH_ORIGINS: &str = "_authOrigins";
/// How many origins a record keeps; the least recently used one makes room for a new one.
const MAX_ORIGINS: usize = 5;
/// User agents are cut to this many characters before fingerprinting.
const MAX_USER_AGENT: usize = 200;

/// Where a login comes from.
#[derive(Debug, Clone, Default)]
pub struct LoginOrigin {
    pub ip: String,
    pub user_agent: String,
}

impl LoginOrigin {
    fn user_agent(&self) -> String {
        match self.user_agent.char_indices().nth(MAX_USER_AGENT) {
            Some((cut, _)) => format!("{}...", &self.user_agent[..cut]),
            None => self.user_agent.clone(),
        }
    }

    /// The hex MD5 of IP and user agent, the fingerprint PocketBase stores too (so origins
    /// imported from it keep matching).
    fn fingerprint(&self) -> String {
        let digest = Md5::digest(format!("{}{}", self.ip, self.user_agent()).as_bytes());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }
}

impl App {
    /// Remember where `record` just logged in from and, for a new origin after the first
    /// login, queue a "new location" mail. Failures are logged: the login itself stands.
    pub(crate) async fn note_login_origin(
        &self,
        collection: &Arc<Collection>,
        record: &Row,
        origin: &LoginOrigin,
    ) {
        let Some(options) = collection.auth_options().filter(|o| o.auth_alert.enabled) else {
            return;
        };
        match self.save_login_origin(collection, record, origin).await {
            Ok(OriginKind::New) => {
                let email = text(record, "email");
                if !email.is_empty() {
                    let info = format!(
                        "{} - {} {}",
                        kb_core::datetime::now(),
                        origin.ip,
                        origin.user_agent()
                    );
                    self.send_template(
                        record,
                        &options.auth_alert.email_template,
                        &email,
                        &[("ALERT_INFO", &info)],
                    );
                }
            }
            Ok(OriginKind::First | OriginKind::Known) => {}
            Err(error) => tracing::warn!(%error, "could not record a login origin"),
        }
    }

    /// Insert or touch the origin row in one write transaction; trims to [`MAX_ORIGINS`].
    async fn save_login_origin(
        &self,
        collection: &Arc<Collection>,
        record: &Row,
        origin: &LoginOrigin,
    ) -> AppResult<OriginKind> {
        let origins = self
            .schema()
            .by_name(AUTH_ORIGINS)
            .cloned()
            .ok_or_else(|| AppError::Internal("the _authOrigins collection is missing".into()))?;
        let (collection_id, record_id) = (collection.id.clone(), text(record, "id"));
        let fingerprint = origin.fingerprint();
        self.store
            .write(move |w| {
                let by_collection = equals("collectionRef", &collection_id);
                let by_record = equals("recordRef", &record_id);
                let recent = SortKey::Value {
                    joins: Vec::new(),
                    term: Term::Column {
                        alias: MAIN,
                        column: "updated".into(),
                    },
                };
                let query = ListQuery {
                    collection: &origins,
                    conditions: vec![&by_collection, &by_record],
                    sort: vec![SortSpec {
                        key: &recent,
                        descending: true,
                    }],
                    limit: None,
                    offset: 0,
                };
                let known = w.list(&query, &RequestInfo::default())?;
                let now = kb_core::datetime::now();
                if let Some(mut row) = known
                    .iter()
                    .find(|row| text(row, "fingerprint") == fingerprint)
                    .cloned()
                {
                    let id = text(&row, "id");
                    row.insert("updated".into(), Value::String(now));
                    w.update(&origins, &id, &row)?;
                    return Ok(OriginKind::Known);
                }
                for stale in known.iter().skip(MAX_ORIGINS - 1) {
                    w.delete(&origins, &text(stale, "id"))?;
                }
                let mut row = kb_core::record::new_record(&origins);
                for (key, value) in [
                    ("id", kb_core::id::new_record_id()),
                    ("collectionRef", collection_id),
                    ("recordRef", record_id),
                    ("fingerprint", fingerprint),
                    ("created", now.clone()),
                    ("updated", now),
                ] {
                    row.insert(key.into(), Value::String(value));
                }
                w.insert(&origins, &row)?;
                Ok(if known.is_empty() {
                    OriginKind::First
                } else {
                    OriginKind::New
                })
            })
            .await
    }
}

enum OriginKind {
    /// The record's first login ever: nothing to compare with, so no alert.
    First,
    Known,
    New,
}
