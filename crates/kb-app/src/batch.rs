//! The batch API: record creates, upserts, updates and deletes sent together and run as one
//! store job, so they commit together or not at all (and realtime reports them only after
//! that commit). Each inner request runs as the records API would run it alone, under the
//! collection's rules for the batch's requester, with `@request.context = "batch"`.
//!
//! Everything slow or asynchronous (password hashing, rule lookup, storing uploads, counting
//! each request against its rate limit) happens before the job; the job itself runs the
//! prepared steps in order and stops at the first failure, which rolls back everything
//! before it. A step's rate-limit verdict is reported when its turn comes, so failures
//! show in request order as PocketBase reports them (PocketBase counts a request only when
//! its turn comes; here the requests after a failed one have been counted too).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kb_core::{Collection, FieldError, ValidationErrors};
use kb_store::{RequestInfo, StoreError, Writer};
use serde_json::{Map, Value};

use crate::app::{Access, App, RequestMeta, Requester, RuleKind};
use crate::error::{AppError, AppResult};
use crate::ratelimit::RateTarget;
use crate::records::{
    PreparedCreate, PreparedDelete, PreparedUpdate, Presentation, WriteRequest, row_id,
};
use crate::uploads::{FileDeletions, Staged, UploadedFile, new_record_id};

/// The body limit of a batch when `settings.batch.maxBodySize` is 0.
const DEFAULT_MAX_BODY: u64 = 128 << 20;
/// The time limit of a batch when `settings.batch.timeout` is not positive.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// The methods an inner request may name; only some of them name an action.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
const CONTEXT: &str = "batch";

/// One request of a batch, as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct BatchRequest {
    pub method: String,
    /// `/api/collections/{collection}/records[/{id}][?query]`.
    pub url: String,
    /// Merged over the batch request's own headers (what `@request.headers` shows).
    pub headers: Map<String, Value>,
    pub body: Map<String, Value>,
}

/// The answer to one request of a committed batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub status: u16,
    /// The record as the API shows it (`fields` applied), `null` for a delete.
    pub body: Value,
}

/// Why a batch wrote nothing.
#[derive(Debug)]
pub enum BatchError {
    /// The batch as a whole was refused: disabled, invalid data, out of time.
    Batch(AppError),
    /// Request `index` failed with `error`, and everything was rolled back.
    Request { index: usize, error: AppError },
}

impl From<AppError> for BatchError {
    fn from(error: AppError) -> Self {
        BatchError::Batch(error)
    }
}

impl From<StoreError> for BatchError {
    fn from(error: StoreError) -> Self {
        BatchError::Batch(error.into())
    }
}

/// Who sends a batch.
#[derive(Clone, Copy)]
pub struct BatchSender<'a> {
    pub requester: &'a Requester,
    /// The batch request's own meta: its headers are the base of every inner request's.
    pub meta: &'a RequestMeta,
    /// The client address, for the inner requests' rate limits.
    pub client: &'a str,
}

/// The action an inner request's method and URL name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Create,
    /// `PUT …/records`: update the record the body's `id` names if it exists, else create.
    Upsert,
    Update(String),
    Delete(String),
}

/// An inner request's action, collection and query string, or `None` when the pair names
/// nothing a batch may do. Path segments are taken as sent (not percent-decoded), as
/// PocketBase matches them.
fn parse_action<'u>(method: &str, url: &'u str) -> Option<(Action, &'u str, &'u str)> {
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path, query),
        None => (url, ""),
    };
    // PocketBase matches the whole request line with a pattern whose `.` stops at a
    // newline; a line break anywhere names no action.
    if url.contains(['\n', '\r']) {
        return None;
    }
    let rest = path.strip_prefix("/api/collections/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let (collection, action) = match (method, segments.as_slice()) {
        ("POST", [collection, "records"]) => (*collection, Action::Create),
        ("PUT", [collection, "records"]) => (*collection, Action::Upsert),
        ("PATCH", [collection, "records", id]) if !id.is_empty() => {
            (*collection, Action::Update((*id).to_owned()))
        }
        ("DELETE", [collection, "records", id]) if !id.is_empty() => {
            (*collection, Action::Delete((*id).to_owned()))
        }
        _ => return None,
    };
    if collection.is_empty() {
        return None;
    }
    Some((action, collection, query))
}

/// `requests` is required, at most `max` long; each has a known method and a URL.
fn validate(requests: &[BatchRequest], max: i64) -> AppResult<()> {
    let invalid = |errors| AppError::invalid("Invalid batch request data.", errors);
    if requests.is_empty() {
        return Err(invalid(ValidationErrors::single(
            "requests",
            FieldError::required(),
        )));
    }
    if requests.len() as i64 > max {
        let error = FieldError::new(
            "validation_length_too_long",
            format!("The length must be no more than {max}."),
        )
        .with_param("max", max)
        .with_param("min", 0);
        return Err(invalid(ValidationErrors::single("requests", error)));
    }
    let mut items = ValidationErrors::new();
    for (index, request) in requests.iter().enumerate() {
        let mut item = ValidationErrors::new();
        if request.method.is_empty() {
            item.add("method", FieldError::required());
        } else if !METHODS.contains(&request.method.as_str()) {
            item.add(
                "method",
                FieldError::new("validation_in_invalid", "Must be a valid value."),
            );
        }
        if request.url.is_empty() {
            item.add("url", FieldError::required());
        }
        if !item.is_empty() {
            items.add_group(index.to_string(), item);
        }
    }
    if items.is_empty() {
        Ok(())
    } else {
        let mut errors = ValidationErrors::new();
        errors.add_group("requests", items);
        Err(invalid(errors))
    }
}

/// The request meta an inner request's rules read: its own method and query, and the
/// batch request's headers with its own merged over them.
fn inner_meta(
    outer: &RequestMeta,
    method: &str,
    query: &str,
    headers: &Map<String, Value>,
) -> RequestMeta {
    let mut query_json = Map::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        query_json
            .entry(key.into_owned())
            .or_insert_with(|| Value::String(value.into_owned()));
    }
    let mut merged = Map::clone(&outer.headers);
    for (name, value) in headers {
        merged.insert(name.to_ascii_lowercase().replace('-', "_"), value.clone());
    }
    RequestMeta {
        method: method.into(),
        query: Arc::new(query_json),
        headers: Arc::new(merged),
    }
}

fn query_text(meta: &RequestMeta, key: &str) -> String {
    meta.query
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// What a record-returning step answers with.
struct Answer {
    presentation: Presentation,
    /// The inner request's `fields` picker.
    fields: String,
}

impl Answer {
    fn record(&self, w: &mut dyn Writer, id: &str) -> AppResult<BatchResponse> {
        let mut body = self.presentation.present_in(w, id)?;
        // As on a single request, a picker that cannot be parsed picks nothing away.
        if let Ok(picker) = kb_filter::parse_fields(&self.fields) {
            picker.apply(&mut body);
        }
        Ok(BatchResponse { status: 200, body })
    }
}

/// A write whose preparation may have failed; the failure is reported when the step's
/// turn comes (after its rate limit), so earlier failures win as they would in order.
type Prepared<T> = AppResult<T>;

/// Both sides of an upsert; which one runs is decided in the job.
struct Upsert {
    collection: Arc<Collection>,
    id: String,
    create: Prepared<PreparedCreate>,
    update: Prepared<PreparedUpdate>,
    answer: Answer,
}

/// One inner request, prepared outside the store job.
enum Step {
    /// Fails before its rate limit is counted: no such collection, a view, no action.
    Fail(AppError),
    Create {
        collection: String,
        create: Prepared<PreparedCreate>,
        answer: Answer,
    },
    Update {
        collection: String,
        update: Prepared<PreparedUpdate>,
        answer: Answer,
    },
    Upsert(Box<Upsert>),
    Delete {
        collection: String,
        delete: Prepared<PreparedDelete>,
    },
}

impl App {
    /// The largest body a batch may send; 403 when batches are disabled.
    pub fn batch_body_limit(&self) -> AppResult<u64> {
        let batch = &self.settings().batch;
        if !batch.enabled || batch.max_requests <= 0 {
            return Err(AppError::Forbidden(
                "Batch requests are not allowed.".into(),
            ));
        }
        Ok(match batch.max_body_size {
            size if size > 0 => size as u64,
            _ => DEFAULT_MAX_BODY,
        })
    }

    /// Run a batch in one transaction: every response in request order, or nothing
    /// written at all. `uploads` are the files of all requests, keyed
    /// `requests.<index>.<field>`.
    pub async fn batch(
        self: &Arc<Self>,
        sender: BatchSender<'_>,
        requests: Vec<BatchRequest>,
        uploads: Vec<UploadedFile>,
    ) -> Result<Vec<BatchResponse>, BatchError> {
        let settings = self.settings();
        self.batch_body_limit()?;
        validate(&requests, settings.batch.max_requests)?;
        let timeout = match settings.batch.timeout {
            secs if secs > 0 => Duration::from_secs(secs as u64),
            _ => DEFAULT_TIMEOUT,
        };
        let deadline = Instant::now() + timeout;
        let mut steps = Vec::with_capacity(requests.len());
        let mut stored = FileDeletions::default();
        let uploads = uploads_by_request(uploads, requests.len());
        for (request, uploads) in requests.into_iter().zip(uploads) {
            let step = self
                .prepare_step(sender, request, uploads, &mut stored)
                .await;
            let limit = self.limit_step(sender, &step).await;
            steps.push((step, limit));
            if Instant::now() >= deadline {
                stored.run(self.files()).await;
                return Err(timed_out());
            }
        }
        let app = self.clone();
        let written = self
            .store
            .write(move |w| {
                let mut responses = Vec::with_capacity(steps.len());
                let mut leftovers = FileDeletions::default();
                for (index, (step, limit)) in steps.into_iter().enumerate() {
                    if Instant::now() >= deadline {
                        return Err(timed_out());
                    }
                    let response = app
                        .run_step(w, step, limit, &mut leftovers)
                        .map_err(|error| BatchError::Request { index, error })?;
                    responses.push(response);
                }
                // Finished, but too late: PocketBase gives up on the whole batch then too.
                if Instant::now() >= deadline {
                    return Err(timed_out());
                }
                Ok((responses, leftovers))
            })
            .await;
        self.settle_files(written, stored).await
    }

    /// Prepare one inner request; the files uploaded with it are stored now (and noted in
    /// `stored`, to delete if the batch fails).
    async fn prepare_step(
        &self,
        sender: BatchSender<'_>,
        mut request: BatchRequest,
        uploads: Vec<UploadedFile>,
        stored: &mut FileDeletions,
    ) -> Step {
        let Some((action, name, query)) = parse_action(&request.method, &request.url) else {
            return Step::Fail(AppError::bad_request(""));
        };
        let (name, query) = (name.to_owned(), query.to_owned());
        let query = query.as_str();
        let collection = match self.collection(&name) {
            Ok(collection) => collection,
            Err(error) => return Step::Fail(error),
        };
        if collection.is_view() {
            return Step::Fail(AppError::bad_request("Unsupported collection type."));
        }
        let requester = sender.requester;
        let name = collection.name.clone();
        let meta_for = |method| inner_meta(sender.meta, method, query, &request.headers);
        let access = |kind| match self.access(requester, &collection, kind) {
            Access::SuperusersOnly => Err(AppError::superusers_only()),
            access => Ok(access),
        };
        let answer = |meta: &RequestMeta| Answer {
            presentation: self.presentation(
                requester,
                meta,
                collection.clone(),
                &query_text(meta, "expand"),
            ),
            fields: query_text(meta, "fields"),
        };
        // A delete takes no files.
        let uploads = match action {
            Action::Delete(_) => Vec::new(),
            _ => uploads,
        };
        let staged = Staged::new(&collection, &mut request.body, uploads);
        let set = staged.set();
        let record_id = match &action {
            Action::Update(id) | Action::Delete(id) => id.clone(),
            Action::Create | Action::Upsert => new_record_id(&collection, &request.body),
        };
        let is_new = !matches!(action, Action::Update(_));
        match staged
            .store(self.files(), &collection, &record_id, is_new)
            .await
        {
            Ok(files) => stored.extend(files),
            Err(error) => return Step::Fail(error),
        }
        match action {
            Action::Create => {
                let meta = meta_for("POST");
                let create = match access(RuleKind::Create) {
                    Ok(access) => {
                        let write = WriteRequest::new(requester, &meta, CONTEXT);
                        self.prepare_create(write, collection.clone(), access, request.body, None)
                            .await
                            .map(|create| create.with_uploads(set, record_id))
                    }
                    Err(error) => Err(error),
                };
                Step::Create {
                    collection: name,
                    answer: answer(&meta),
                    create,
                }
            }
            Action::Update(id) => {
                let meta = meta_for("PATCH");
                let update = match access(RuleKind::Update) {
                    Ok(access) => {
                        let write = WriteRequest::new(requester, &meta, CONTEXT);
                        self.prepare_update(
                            write,
                            collection.clone(),
                            access,
                            &id,
                            request.body,
                            None,
                        )
                        .await
                        .map(|update| update.with_uploads(set))
                    }
                    Err(error) => Err(error),
                };
                Step::Update {
                    collection: name,
                    answer: answer(&meta),
                    update,
                }
            }
            Action::Delete(id) => {
                let meta = meta_for("DELETE");
                let delete = access(RuleKind::Delete).map(|access| {
                    let write = WriteRequest::new(requester, &meta, CONTEXT);
                    self.prepare_delete(write, collection.clone(), access, &id)
                });
                Step::Delete {
                    collection: name,
                    delete,
                }
            }
            Action::Upsert => {
                let uploads = Uploads { set, id: record_id };
                self.prepare_upsert(sender, collection, request, query, uploads)
                    .await
            }
        }
    }

    /// Both sides of an upsert are prepared; the job decides which one runs, by whether
    /// the record exists at that point of the transaction.
    async fn prepare_upsert(
        &self,
        sender: BatchSender<'_>,
        collection: Arc<Collection>,
        request: BatchRequest,
        query: &str,
        uploads: Uploads,
    ) -> Step {
        let requester = sender.requester;
        let id = match request.body.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        };
        let create_meta = inner_meta(sender.meta, "POST", query, &request.headers);
        let update_meta = inner_meta(sender.meta, "PATCH", query, &request.headers);
        let work = self
            .password_work(
                &collection,
                &request.body,
                (!id.is_empty()).then_some(id.as_str()),
            )
            .await
            .map(Arc::new);
        let access = |kind| match self.access(requester, &collection, kind) {
            Access::SuperusersOnly => Err(AppError::superusers_only()),
            access => Ok(access),
        };
        let create = match (access(RuleKind::Create), &work) {
            (Ok(access), Ok(work)) => {
                let write = WriteRequest::new(requester, &create_meta, CONTEXT);
                let body = request.body.clone();
                self.prepare_create(write, collection.clone(), access, body, Some(work.clone()))
                    .await
                    .map(|create| create.with_uploads(uploads.set.clone(), uploads.id))
            }
            (Err(error), _) => Err(error),
            (_, Err(error)) => Err(AppError::Internal(error.to_string())),
        };
        let update = match (access(RuleKind::Update), &work) {
            (Ok(access), Ok(work)) if !id.is_empty() => {
                let write = WriteRequest::new(requester, &update_meta, CONTEXT);
                let body = request.body;
                self.prepare_update(
                    write,
                    collection.clone(),
                    access,
                    &id,
                    body,
                    Some(work.clone()),
                )
                .await
                .map(|update| update.with_uploads(uploads.set))
            }
            (Err(error), _) => Err(error),
            (_, Err(error)) => Err(AppError::Internal(error.to_string())),
            // No id: only the create side can run.
            _ => Err(AppError::not_found()),
        };
        Step::Upsert(Box::new(Upsert {
            answer: Answer {
                presentation: self.presentation(
                    requester,
                    &create_meta,
                    collection.clone(),
                    &query_text(&create_meta, "expand"),
                ),
                fields: query_text(&create_meta, "fields"),
            },
            collection,
            id,
            create,
            update,
        }))
    }

    /// Count an inner request against its rate limit (`<collection>:<action>`,
    /// `*:<action>`), as PocketBase counts each request of a batch. A step that fails
    /// before its action is known is not counted; an upsert counts as the action it will
    /// take as things stand.
    async fn limit_step(&self, sender: BatchSender<'_>, step: &Step) -> AppResult<()> {
        let (collection, action) = match step {
            Step::Fail(_) => return Ok(()),
            Step::Create { collection, .. } => (collection.clone(), "create"),
            Step::Update { collection, .. } => (collection.clone(), "update"),
            Step::Delete { collection, .. } => (collection.clone(), "delete"),
            Step::Upsert(upsert) => {
                let (target, id) = (upsert.collection.clone(), upsert.id.clone());
                let exists = !id.is_empty()
                    && self
                        .store
                        .read(move |r| r.get(&target, &id, &[], &RequestInfo::default()))
                        .await?
                        .is_some();
                let action = if exists { "update" } else { "create" };
                (upsert.collection.name.clone(), action)
            }
        };
        let target = RateTarget {
            method: String::new(),
            path: String::new(),
            action: Some((collection, action.to_owned())),
            client: sender.client.to_owned(),
        };
        self.check_rate_limit(sender.requester, &target).await
    }

    /// Run one prepared step; `limit` is its rate-limit verdict, reported first.
    fn run_step(
        &self,
        w: &mut dyn Writer,
        step: Step,
        limit: AppResult<()>,
        leftovers: &mut FileDeletions,
    ) -> AppResult<BatchResponse> {
        limit?;
        match step {
            Step::Fail(error) => Err(error),
            Step::Create { create, answer, .. } => {
                let create = create?;
                let saved = create.create_in(w)?;
                leftovers.extend(create.leftovers(&saved));
                answer.record(w, &row_id(&saved.after))
            }
            Step::Update { update, answer, .. } => {
                let update = update?;
                let saved = update.update_in(w)?;
                leftovers.extend(update.leftovers(&saved));
                answer.record(w, update.id())
            }
            Step::Upsert(upsert) => {
                let Upsert {
                    collection,
                    id,
                    create,
                    update,
                    answer,
                } = *upsert;
                let exists = !id.is_empty()
                    && w.get(&collection, &id, &[], &RequestInfo::default())?
                        .is_some();
                if exists {
                    let update = update?;
                    let saved = update.update_in(w)?;
                    leftovers.extend(update.leftovers(&saved));
                    answer.record(w, &id)
                } else {
                    let create = create?;
                    let saved = create.create_in(w)?;
                    leftovers.extend(create.leftovers(&saved));
                    answer.record(w, &row_id(&saved.after))
                }
            }
            Step::Delete { delete, .. } => {
                delete?.delete_in(w)?;
                Ok(BatchResponse {
                    status: 204,
                    body: Value::Null,
                })
            }
        }
    }
}

/// The uploads of an upsert and the id they are stored under (the create side's id when
/// the body names none).
struct Uploads {
    set: crate::uploads::UploadSet,
    id: String,
}

/// The uploads of each request, by their `requests.<index>.` key prefix (which is
/// removed); files for no request are dropped.
fn uploads_by_request(uploads: Vec<UploadedFile>, count: usize) -> Vec<Vec<UploadedFile>> {
    let mut out: Vec<Vec<UploadedFile>> = (0..count).map(|_| Vec::new()).collect();
    for mut upload in uploads {
        let Some((index, key)) = upload
            .key
            .strip_prefix("requests.")
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        if let Some(list) = index.parse::<usize>().ok().and_then(|i| out.get_mut(i)) {
            upload.key = key.to_owned();
            // PocketBase names a batch's files once when it splits the batch up and again
            // when the record takes them (`a.png` → `a_<random>_<random>.png`).
            upload.original_name = kb_core::file_name::normalize_file_name(
                &upload.original_name,
                kb_files::detect_extension(&upload.head),
            );
            list.push(upload);
        }
    }
    out
}

fn timed_out() -> BatchError {
    BatchError::Batch(AppError::bad_request("Batch transaction failed."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_record_writes_are_actions() {
        let ok = |m, u| parse_action(m, u).map(|(a, c, q)| (a, c.to_owned(), q.to_owned()));
        assert_eq!(
            ok("POST", "/api/collections/posts/records?fields=id"),
            Some((Action::Create, "posts".into(), "fields=id".into()))
        );
        assert_eq!(
            ok("PUT", "/api/collections/posts/records"),
            Some((Action::Upsert, "posts".into(), String::new()))
        );
        assert_eq!(
            ok("PATCH", "/api/collections/p/records/abc?expand=x"),
            Some((Action::Update("abc".into()), "p".into(), "expand=x".into()))
        );
        assert_eq!(
            ok("DELETE", "/api/collections/p/records/abc"),
            Some((Action::Delete("abc".into()), "p".into(), String::new()))
        );
        for (method, url) in [
            ("GET", "/api/collections/posts/records"),
            ("POST", "/api/collections/posts/records/abc"),
            ("PUT", "/api/collections/posts/records/abc"),
            ("PATCH", "/api/collections/posts/records"),
            ("PATCH", "/api/collections/posts/records/"),
            ("DELETE", "/api/collections/posts/records/a/b"),
            ("POST", "/api/collections//records"),
            ("POST", "/api/collections/posts/records/"),
            ("POST", "http://host/api/collections/posts/records"),
            ("POST", "/api/health"),
            ("POST", "/api/collections/posts/records?a=\n"),
            ("POST", "api/collections/posts/records"),
        ] {
            assert_eq!(parse_action(method, url), None, "{method} {url}");
        }
    }

    #[test]
    fn invalid_batches_name_each_problem() {
        let request = |method: &str, url: &str| BatchRequest {
            method: method.into(),
            url: url.into(),
            ..Default::default()
        };
        let message = |r: AppResult<()>| match r {
            Err(AppError::BadRequest { message, data }) => {
                (message, serde_json::to_value(data).unwrap())
            }
            other => panic!("{other:?}"),
        };
        let (text, data) = message(validate(&[], 5));
        assert_eq!(text, "Invalid batch request data.");
        assert_eq!(data["requests"]["code"], "validation_required");
        let (_, data) = message(validate(&vec![request("POST", "/x"); 3], 2));
        assert_eq!(
            data["requests"],
            serde_json::json!({"code": "validation_length_too_long",
                "message": "The length must be no more than 2.", "params": {"max": 2, "min": 0}})
        );
        let (_, data) = message(validate(&[request("", ""), request("post", "/x")], 5));
        assert_eq!(
            data["requests"]["0"]["method"]["code"],
            "validation_required"
        );
        assert_eq!(data["requests"]["0"]["url"]["code"], "validation_required");
        assert_eq!(
            data["requests"]["1"]["method"]["code"],
            "validation_in_invalid"
        );
        assert!(validate(&[request("GET", "/anything")], 5).is_ok());
    }

    #[test]
    fn inner_headers_override_the_batch_headers() {
        let mut outer = RequestMeta::default();
        Arc::make_mut(&mut outer.headers).insert("x_token".into(), "outer".into());
        Arc::make_mut(&mut outer.headers).insert("user_agent".into(), "ua".into());
        let mut own = Map::new();
        own.insert("X-Token".into(), "inner".into());
        let meta = inner_meta(&outer, "PATCH", "a=1&a=2&b=%20x", &own);
        assert_eq!(&*meta.method, "PATCH");
        assert_eq!(meta.headers["x_token"], "inner");
        assert_eq!(meta.headers["user_agent"], "ua");
        assert_eq!(meta.query["a"], "1");
        assert_eq!(meta.query["b"], " x");
    }
}
