//! The application: the current schema and settings snapshots, compiled rules, and who is
//! asking. The services (records, collections, settings, auth) are `impl App` blocks in
//! their own modules.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use kb_core::settings::Settings;
use kb_core::{Collection, Schema};
use kb_filter::parse_filter;
use kb_query::{FilterPlan, ResolveOptions, resolve_filter};
use kb_store::{RequestInfo, Row, Store};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use crate::auth_cache::AuthCache;
use crate::error::{AppError, AppResult};
use crate::system::{self, SUPERUSERS_ID};
use crate::tokens;

/// Who is making a request.
#[derive(Debug, Clone)]
pub enum Requester {
    Guest,
    /// A record of an auth collection, authenticated by its token.
    Auth {
        collection: Arc<Collection>,
        record: Arc<Row>,
        /// `@request.auth`, built once (see [`Requester::auth`]).
        info: Arc<Value>,
    },
}

impl Requester {
    /// The requester a record of `collection` is.
    pub fn auth(collection: Arc<Collection>, record: Row) -> Requester {
        let mut info = record.clone();
        info.insert("collectionId".into(), collection.id.clone().into());
        info.insert("collectionName".into(), collection.name.clone().into());
        Requester::Auth {
            collection,
            record: Arc::new(record),
            info: Arc::new(Value::Object(info)),
        }
    }

    pub fn is_superuser(&self) -> bool {
        matches!(self, Requester::Auth { collection, .. } if collection.id == SUPERUSERS_ID)
    }

    pub fn auth_collection(&self) -> Option<&Collection> {
        match self {
            Requester::Auth { collection, .. } => Some(collection),
            Requester::Guest => None,
        }
    }

    /// The `auth` part of the request info rules read: every field of the auth record plus
    /// its collection; a guest has empty ids, so `@request.auth.id = ""` holds.
    fn info(&self) -> Arc<Value> {
        static GUEST: LazyLock<Arc<Value>> =
            LazyLock::new(|| Arc::new(json!({"id": "", "collectionId": "", "collectionName": ""})));
        match self {
            Requester::Guest => GUEST.clone(),
            Requester::Auth { info, .. } => info.clone(),
        }
    }
}

/// What the HTTP layer knows about a request, for `@request.*` in rules.
#[derive(Debug, Clone, Default)]
/// Shared, so every statement's request info can point at it.
pub struct RequestMeta {
    pub method: Arc<str>,
    pub query: Arc<Map<String, Value>>,
    /// Header names in snake case (`user_agent`).
    pub headers: Arc<Map<String, Value>>,
}

/// One of a collection's API rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    List,
    View,
    Create,
    Update,
    Delete,
    /// Auth collections: who may authenticate.
    Auth,
    /// Auth collections: who may manage other records (email, verified, password).
    Manage,
    /// Auth collections: whose logins need a second factor (when MFA is on).
    Mfa,
}

impl RuleKind {
    fn text(self, collection: &Collection) -> Option<&str> {
        let rules = &collection.rules;
        match self {
            RuleKind::List => rules.list_rule.as_deref(),
            RuleKind::View => rules.view_rule.as_deref(),
            RuleKind::Create => rules.create_rule.as_deref(),
            RuleKind::Update => rules.update_rule.as_deref(),
            RuleKind::Delete => rules.delete_rule.as_deref(),
            RuleKind::Auth => collection.auth_options()?.auth_rule.as_deref(),
            // An empty manage rule grants nothing: only superusers manage.
            RuleKind::Mfa => collection
                .auth_options()
                .map(|o| o.mfa.rule.as_str())
                .filter(|_| collection.auth_options().is_some_and(|o| o.mfa.enabled)),
            RuleKind::Manage => collection
                .auth_options()?
                .manage_rule
                .as_deref()
                .filter(|rule| !rule.trim().is_empty()),
        }
    }
}

/// The outcome of looking up a rule for a requester.
#[derive(Debug, Clone)]
pub enum Access {
    /// No condition applies (superuser, or an empty rule).
    All,
    /// The rule is `null`: superusers only.
    SuperusersOnly,
    /// Records must satisfy this compiled rule.
    Rule(Arc<FilterPlan>),
}

type RuleKey = (String, RuleKind, String);

/// Compiled rules of one schema version; `None` marks a rule that no longer compiles.
#[derive(Default)]
struct RuleCache {
    version: u64,
    plans: HashMap<RuleKey, Option<Arc<FilterPlan>>>,
}

pub struct App {
    pub(crate) store: Store,
    schema: ArcSwap<Schema>,
    settings: ArcSwap<Settings>,
    /// Compiled rules of the current schema version, by (collection, rule, auth collection).
    rules: Mutex<RuleCache>,
    /// Serialises schema changes, so each one starts from the schema the previous produced.
    pub(crate) schema_change: tokio::sync::Mutex<()>,
    /// Account emails go out through here, in the background.
    pub(crate) outbox: kb_mail::Outbox,
    /// Names Apple sends only on the first redirect, waiting for the code's exchange.
    pub(crate) oauth2_names: Mutex<crate::oauth2::PendingNames>,
    /// Realtime (SSE) clients and their subscriptions.
    pub realtime: Arc<crate::realtime::Realtime>,
    /// OAuth2 redirects passed to other nodes, waiting for their answer.
    pub(crate) deliveries: crate::remote::Deliveries,
    /// Request logs, written in the background to their own store (see `logs`).
    pub logs: crate::logs::Logs,
    /// Record files (local disk or S3, following `settings.s3`; see `files`).
    pub(crate) files: Arc<kb_files::FileStorage>,
    /// Tokens already verified, with their auth records (see `auth_cache`).
    pub(crate) auth_cache: Arc<AuthCache>,
    /// The first-run token that may create the first superuser (see `install`).
    pub(crate) install_token: crate::install::InstallToken,
    /// Backups of the data directory (SQLite servers; see `backups`).
    pub backups: crate::backups::Backups,
}

impl App {
    /// Open the application on a store and a file storage: load (or create) the schema and
    /// settings.
    pub async fn open(store: Store, files: Arc<kb_files::FileStorage>) -> AppResult<Arc<App>> {
        let (collections, settings) = store
            .read(|r| Ok::<_, AppError>((r.load_collections()?, r.load_settings()?)))
            .await?;
        let collections = if collections.is_empty() {
            let now = kb_core::datetime::now();
            let initial: Vec<Collection> = system::initial_collections()
                .into_iter()
                .map(|mut c| {
                    c.created = now.clone();
                    c.updated = now.clone();
                    c
                })
                .collect();
            // Another node starting on the same empty database may get there first.
            store
                .write(move |w| {
                    w.lock_schema()?;
                    let existing = w.load_collections()?;
                    if !existing.is_empty() {
                        return Ok::<_, AppError>(existing);
                    }
                    for collection in &initial {
                        w.save_collection(collection, None)?;
                    }
                    w.save_settings(&Settings::default())?;
                    Ok(initial)
                })
                .await?
        } else {
            collections
        };
        let settings = settings.unwrap_or_default();
        configure_files(&files, &settings);
        let outbox = kb_mail::Outbox::new(crate::account::mailer_for(&settings));
        let app = Arc::new(App {
            store,
            schema: ArcSwap::from_pointee(Schema::new(collections, 1)),
            settings: ArcSwap::from_pointee(settings),
            rules: Mutex::new(RuleCache::default()),
            schema_change: tokio::sync::Mutex::new(()),
            outbox,
            oauth2_names: Mutex::new(Default::default()),
            realtime: Arc::default(),
            deliveries: Default::default(),
            logs: Default::default(),
            files,
            auth_cache: Arc::default(),
            install_token: Default::default(),
            backups: Default::default(),
        });
        AuthCache::start(&app);
        crate::record_events::RecordEvents::start(&app);
        crate::files::FileCleanup::start(&app);
        crate::remote::follow(&app);
        Ok(app)
    }

    pub fn schema(&self) -> Arc<Schema> {
        self.schema.load_full()
    }

    pub(crate) fn replace_schema(&self, collections: Vec<Collection>) {
        let version = self.schema.load().version + 1;
        self.schema
            .store(Arc::new(Schema::new(collections, version)));
    }

    pub fn settings(&self) -> Arc<Settings> {
        self.settings.load_full()
    }

    pub(crate) fn replace_settings(&self, settings: Settings) {
        self.outbox
            .replace_mailer(crate::account::mailer_for(&settings));
        configure_files(&self.files, &settings);
        self.backups.settings_changed(&settings);
        self.settings.store(Arc::new(settings));
    }

    /// Recent email delivery failures (they are also logged).
    pub fn mail_failures(&self) -> Vec<kb_mail::Failure> {
        self.outbox.failures()
    }

    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The collection `{collectionIdOrName}` names, or the API's 404.
    pub fn collection(&self, id_or_name: &str) -> AppResult<Arc<Collection>> {
        self.schema()
            .get(id_or_name)
            .cloned()
            .ok_or_else(|| AppError::NotFound("Missing collection context.".into()))
    }

    /// The access a requester has under one rule of a collection. Rules are compiled once
    /// per schema version (and auth collection, which `@request.auth.*` paths depend on).
    pub fn access(&self, requester: &Requester, collection: &Collection, kind: RuleKind) -> Access {
        if requester.is_superuser() {
            return Access::All;
        }
        let Some(text) = kind.text(collection) else {
            return Access::SuperusersOnly;
        };
        if text.trim().is_empty() {
            return Access::All;
        }
        let schema = self.schema();
        let auth_id = requester
            .auth_collection()
            .map(|c| c.id.clone())
            .unwrap_or_default();
        let key = (collection.id.clone(), kind, auth_id);
        {
            let mut cache = self.rules.lock();
            if cache.version != schema.version {
                *cache = RuleCache {
                    version: schema.version,
                    plans: HashMap::new(),
                };
            }
            if let Some(plan) = cache.plans.get(&key) {
                return plan.clone().map_or(Access::SuperusersOnly, Access::Rule);
            }
        }
        let plan = compile_rule(text, &schema, collection, requester.auth_collection());
        if plan.is_none() {
            tracing::error!(collection = %collection.name, rule = ?kind, "a stored rule does not compile; only superusers pass it");
        }
        let mut cache = self.rules.lock();
        if cache.version == schema.version {
            cache.plans.insert(key, plan.clone());
        }
        plan.map_or(Access::SuperusersOnly, Access::Rule)
    }

    /// The request info rules and filters read.
    pub fn request_info(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        body: Option<&Map<String, Value>>,
        context: &'static str,
    ) -> RequestInfo {
        request_info(requester, meta, body, context)
    }

    /// Who a token belongs to. Any invalid, expired or revoked token means a guest.
    pub async fn authenticate(&self, token: &str) -> Requester {
        let token = bare_token(token);
        if token.is_empty() {
            return Requester::Guest;
        }
        let Some(claims) = tokens::unverified(token) else {
            return Requester::Guest;
        };
        if claims.kind != tokens::AUTH || claims.exp < jiff::Timestamp::now().as_second() {
            return Requester::Guest;
        }
        let schema = self.schema();
        let key = (claims.collection_id, claims.id);
        if let Some(requester) = self.auth_cache.get(&key, schema.version, token) {
            return requester;
        }
        let (generation, read_at) = (self.auth_cache.generation(), std::time::Instant::now());
        let Some(collection) = schema.by_id(&key.0).cloned() else {
            return Requester::Guest;
        };
        let Some(options) = collection.auth_options() else {
            return Requester::Guest;
        };
        let secret = options.auth_token.secret.clone();
        let lookup = collection.clone();
        let id = key.1.clone();
        let record = self
            .store
            .read(move |r| {
                r.get(&lookup, &id, &[], &RequestInfo::default())
                    .map_err(AppError::from)
            })
            .await;
        let Ok(Some(record)) = record else {
            return Requester::Guest;
        };
        let token_key = record
            .get("tokenKey")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if token_key.is_empty() || tokens::verify(token, &format!("{token_key}{secret}")).is_none()
        {
            return Requester::Guest;
        }
        let requester = Requester::auth(collection, record);
        self.auth_cache
            .insert(key, schema.version, generation, read_at, token, &requester);
        requester
    }
}

/// Point the file storage at S3 or local disk as the settings say. A failure (an endpoint
/// no client can be made for) keeps the previous backend; the settings test reports why.
fn configure_files(files: &kb_files::FileStorage, settings: &Settings) {
    configure_storage(files, &settings.s3, "file storage");
}

/// Point `storage` (record files, or backups: `purpose`) at the S3 bucket `s3` describes, or
/// at local disk when it is off; on failure the previous backend stays and the error is logged.
pub(crate) fn configure_storage(
    storage: &kb_files::FileStorage,
    s3: &kb_core::settings::S3Settings,
    purpose: &str,
) {
    if let Err(error) = storage.configure(s3) {
        tracing::error!(%error, purpose, "cannot use the S3 settings");
    }
}

/// The JWT of an `Authorization` header value, with or without a `Bearer ` prefix.
pub fn bare_token(header: &str) -> &str {
    let token = header.trim();
    match token.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => token[7..].trim(),
        _ => token,
    }
}

/// The request info (`@request.*`) of a request.
pub fn request_info(
    requester: &Requester,
    meta: &RequestMeta,
    body: Option<&Map<String, Value>>,
    context: &'static str,
) -> RequestInfo {
    RequestInfo {
        auth: requester.info(),
        body: body.cloned().map(Arc::new),
        query: meta.query.clone(),
        headers: meta.headers.clone(),
        method: meta.method.clone(),
        context,
    }
}

/// Parse and resolve a stored rule; `None` if it no longer compiles.
fn compile_rule(
    text: &str,
    schema: &Schema,
    collection: &Collection,
    auth: Option<&Collection>,
) -> Option<Arc<FilterPlan>> {
    let expr = parse_filter(text).ok()??;
    let options = ResolveOptions {
        allow_hidden: true,
        allow_request: true,
        auth_collection: auth,
        respect_list_rules: false,
    };
    resolve_filter(&expr, schema, collection, &options)
        .ok()
        .map(Arc::new)
}

/// A text field of a stored row (`""` when missing or not text).
pub(crate) fn row_text(row: &Row, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
