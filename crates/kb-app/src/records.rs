//! The records API: list, view, create, update and delete under the collection's rules.
//! Every write runs as one job in one transaction: the rule check, validation lookups,
//! the write itself and relation cleanup commit together or not at all.

use std::sync::Arc;

use kb_core::field::FieldKind;
use kb_core::record::{self, ApplyOptions};
use kb_core::{Collection, FieldError, Schema, ValidationErrors};
use kb_query::{FilterPlan, ResolveOptions, SortKey, resolve_filter, resolve_sort_key};
use kb_store::{ListQuery, Reader, RequestInfo, Row, SortSpec, StoreError, Writer};
use serde_json::{Map, Value};

use crate::app::{Access, App, RequestMeta, Requester, RuleKind, request_info};
use crate::auth_records::{self, PasswordWork};
use crate::error::{AppError, AppResult};
use crate::expand::{ExpandNode, present_rows};
use crate::uploads::{FileDeletions, RecordBody, Staged, UploadSet, new_record_id};

/// Largest page.
pub const MAX_PER_PAGE: u64 = 1000;
const DEFAULT_PER_PAGE: u64 = 30;
const GENERIC_ERROR: &str = "Something went wrong while processing your request.";

/// Query parameters of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub page: u64,
    pub per_page: u64,
    pub sort: String,
    pub filter: String,
    pub expand: String,
    pub skip_total: bool,
}

impl ListParams {
    /// The page asked for (from 1) and its size (30 when not given, at most
    /// [`MAX_PER_PAGE`]).
    pub(crate) fn page_and_size(&self) -> (u64, u64) {
        let per_page = match self.per_page {
            0 => DEFAULT_PER_PAGE,
            n => n.min(MAX_PER_PAGE),
        };
        (self.page.max(1), per_page)
    }
}

/// Resolved sort keys, each with whether it sorts descending.
pub(crate) type SortKeys = Vec<(SortKey, bool)>;

/// The `filter` and `sort` of a superuser listing (collections, logs), resolved against
/// the pseudo-collection `listing` it lists; anything that does not resolve is the API's
/// generic 400.
pub(crate) fn listing_query(
    schema: &Schema,
    listing: &Collection,
    params: &ListParams,
) -> AppResult<(Option<FilterPlan>, SortKeys)> {
    let filter = listing_filter(schema, listing, &params.filter, GENERIC_ERROR)?;
    let options = ResolveOptions::default();
    let sort = kb_filter::parse_sort(&params.sort)
        .map_err(|_| AppError::bad_request(GENERIC_ERROR))?
        .iter()
        .map(|item| {
            resolve_sort_key(&item.field, schema, listing, &options)
                .map(|key| (key, item.descending))
                .map_err(|_| AppError::bad_request(GENERIC_ERROR))
        })
        .collect::<AppResult<Vec<_>>>()?;
    Ok((filter, sort))
}

/// A superuser's `filter` on the pseudo-collection `listing`; one that does not resolve is
/// a 400 with `message`.
pub(crate) fn listing_filter(
    schema: &Schema,
    listing: &Collection,
    filter: &str,
    message: &str,
) -> AppResult<Option<FilterPlan>> {
    let invalid = || AppError::bad_request(message);
    match kb_filter::parse_filter(filter).map_err(|_| invalid())? {
        Some(expr) => resolve_filter(&expr, schema, listing, &ResolveOptions::default())
            .map(Some)
            .map_err(|_| invalid()),
        None => Ok(None),
    }
}

/// One page of records.
#[derive(Debug, Clone)]
pub struct Page {
    pub page: u64,
    pub per_page: u64,
    pub total_items: i64,
    pub total_pages: i64,
    pub items: Vec<Value>,
}

fn conditions(access: &Access, extra: Option<&FilterPlan>) -> Vec<Arc<FilterPlan>> {
    let mut out = Vec::new();
    if let Access::Rule(plan) = access {
        out.push(plan.clone());
    }
    if let Some(plan) = extra {
        out.push(Arc::new(plan.clone()));
    }
    out
}

fn refs(plans: &[Arc<FilterPlan>]) -> Vec<&FilterPlan> {
    plans.iter().map(Arc::as_ref).collect()
}

/// Everything a job needs to turn stored rows into API JSON.
#[derive(Clone)]
pub(crate) struct Presenter {
    superuser: bool,
    /// The requester's (collection id, record id): owners see their own email.
    owner: Option<(String, String)>,
    /// The manage rule of the presented auth collection: those it lets the requester
    /// manage show their email too.
    manage: Option<Arc<FilterPlan>>,
}

impl Presenter {
    pub(crate) fn new(requester: &Requester) -> Self {
        let owner = match requester {
            Requester::Auth {
                collection, record, ..
            } => record
                .get("id")
                .and_then(Value::as_str)
                .map(|id| (collection.id.clone(), id.to_owned())),
            Requester::Guest => None,
        };
        Presenter {
            superuser: requester.is_superuser(),
            owner,
            manage: None,
        }
    }

    pub(crate) fn managing(mut self, access: Access) -> Self {
        if let Access::Rule(plan) = access {
            self.manage = Some(plan);
        }
        self
    }

    /// The API JSON of a record; an auth record's email only for superusers, its owner, or
    /// when it is marked visible.
    fn json(&self, collection: &Collection, row: Row, managed: bool) -> Map<String, Value> {
        let hide_email = collection.is_auth() && !self.superuser && !managed && {
            let visible = row.get("emailVisibility").and_then(Value::as_bool) == Some(true);
            let own = self.owner.as_ref().is_some_and(|(collection_id, id)| {
                *collection_id == collection.id && row.get("id").and_then(Value::as_str) == Some(id)
            });
            !visible && !own
        };
        let mut json = record::to_api_json(collection, row, self.superuser);
        if hide_email {
            json.remove("email");
        }
        json
    }

    pub(crate) fn present(
        &self,
        reader: &mut dyn Reader,
        collection: &Collection,
        rows: Vec<Row>,
        expand: &[ExpandNode],
        request: &RequestInfo,
    ) -> Result<Vec<Value>, StoreError> {
        let managed: std::collections::HashSet<String> = match &self.manage {
            Some(plan) if collection.is_auth() && !self.superuser => {
                let ids: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect();
                reader
                    .get_many(collection, &ids, &[plan.as_ref()], request)?
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            }
            _ => Default::default(),
        };
        let is_managed = |c: &Collection, r: &Row| {
            let id = r.get("id").and_then(Value::as_str).unwrap_or_default();
            c.id == collection.id && managed.contains(id)
        };
        if expand.is_empty() {
            // Nothing reads the rows after this: their values move into the JSON.
            return Ok(rows
                .into_iter()
                .map(|row| {
                    let managed = is_managed(collection, &row);
                    Value::Object(self.json(collection, row, managed))
                })
                .collect());
        }
        let to_json = |c: &Collection, r: &Row| self.json(c, r.clone(), is_managed(c, r));
        let outputs = present_rows(reader, collection, rows, expand, request, &to_json)?;
        Ok(outputs.into_iter().map(|o| Value::Object(o.json)).collect())
    }
}

impl App {
    /// A client's `filter`, resolved with the requester's reach.
    pub(crate) fn client_filter(
        &self,
        schema: &Schema,
        requester: &Requester,
        collection: &Collection,
        filter: &str,
    ) -> AppResult<Option<FilterPlan>> {
        if filter.trim().is_empty() {
            return Ok(None);
        }
        only_superusers_reach_request_data(requester, filter)?;
        let expr =
            kb_filter::parse_filter(filter).map_err(|_| AppError::bad_request(GENERIC_ERROR))?;
        let Some(expr) = expr else {
            return Ok(None);
        };
        let options = client_options(requester);
        resolve_filter(&expr, schema, collection, &options)
            .map(Some)
            .map_err(|_| AppError::bad_request(GENERIC_ERROR))
    }

    fn sort_keys(
        &self,
        schema: &Schema,
        requester: &Requester,
        collection: &Collection,
        sort: &str,
    ) -> AppResult<SortKeys> {
        only_superusers_reach_request_data(requester, sort)?;
        let items =
            kb_filter::parse_sort(sort).map_err(|_| AppError::bad_request(GENERIC_ERROR))?;
        let options = client_options(requester);
        items
            .iter()
            .map(
                |item| match resolve_sort_key(&item.field, schema, collection, &options) {
                    // A view has no insertion order of its own.
                    Ok(SortKey::RowId) if collection.is_view() => {
                        Err(AppError::bad_request(GENERIC_ERROR))
                    }
                    Ok(key) => Ok((key, item.descending)),
                    Err(_) => Err(AppError::bad_request(GENERIC_ERROR)),
                },
            )
            .collect()
    }

    pub async fn list_records(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: &str,
        params: ListParams,
    ) -> AppResult<Page> {
        let collection = self.collection(collection)?;
        let schema = self.schema();
        let access = self.access(requester, &collection, RuleKind::List);
        if matches!(access, Access::SuperusersOnly) {
            return Err(AppError::superusers_only());
        }
        let filter = self.client_filter(&schema, requester, &collection, &params.filter)?;
        let sort = self.sort_keys(&schema, requester, &collection, &params.sort)?;
        let expand = self.expand_plan(&schema, requester, &collection, &params.expand);
        let (page, per_page) = params.page_and_size();
        let plans = conditions(&access, filter.as_ref());
        let request = self.request_info(requester, meta, None, "default");
        let expand_request = self.request_info(requester, meta, None, "expand");
        let presenter = Presenter::new(requester).managing(self.access(
            requester,
            &collection,
            RuleKind::Manage,
        ));
        let is_view = collection.is_view();
        let skip_total = params.skip_total;
        self.store
            .read(move |reader| {
                let conds = refs(&plans);
                let specs: Vec<SortSpec<'_>> = sort
                    .iter()
                    .map(|(key, descending)| SortSpec {
                        key,
                        descending: *descending,
                    })
                    .collect();
                let query = ListQuery {
                    collection: &collection,
                    conditions: conds.clone(),
                    sort: specs,
                    limit: Some(per_page),
                    offset: (page - 1).saturating_mul(per_page),
                };
                let rows = reader.list(&query, &request)?;
                let (total_items, total_pages) = if skip_total {
                    (-1, -1)
                } else {
                    let total = reader.count(&collection, None, &conds, &request)? as i64;
                    (total, (total + per_page as i64 - 1) / per_page as i64)
                };
                let items =
                    presenter.present(reader, &collection, rows, &expand, &expand_request)?;
                Ok::<_, AppError>(Page {
                    page,
                    per_page,
                    total_items,
                    total_pages,
                    items,
                })
            })
            .await
            .map_err(|e| view_query_error(is_view, e))
    }

    pub async fn view_record(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: &str,
        id: &str,
        expand: &str,
    ) -> AppResult<Value> {
        let collection = self.collection(collection)?;
        let access = self.access(requester, &collection, RuleKind::View);
        if matches!(access, Access::SuperusersOnly) {
            return Err(AppError::superusers_only());
        }
        self.read_one(
            requester,
            meta,
            collection,
            id.to_owned(),
            conditions(&access, None),
            expand,
        )
        .await?
        .ok_or_else(AppError::not_found)
    }

    /// Read one record (under `plans`) and present it with its expansions.
    async fn read_one(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: Arc<Collection>,
        id: String,
        plans: Vec<Arc<FilterPlan>>,
        expand: &str,
    ) -> AppResult<Option<Value>> {
        let schema = self.schema();
        let expand = self.expand_plan(&schema, requester, &collection, expand);
        let request = self.request_info(requester, meta, None, "default");
        let expand_request = self.request_info(requester, meta, None, "expand");
        let presenter = Presenter::new(requester).managing(self.access(
            requester,
            &collection,
            RuleKind::Manage,
        ));
        let is_view = collection.is_view();
        self.store
            .read(move |reader| {
                let Some(row) = reader.get(&collection, &id, &refs(&plans), &request)? else {
                    return Ok(None);
                };
                let mut items =
                    presenter.present(reader, &collection, vec![row], &expand, &expand_request)?;
                Ok::<_, AppError>(items.pop())
            })
            .await
            .map_err(|e| view_query_error(is_view, e))
    }

    /// The collection a create or update writes to, and the requester's access under `kind`.
    pub(crate) fn writable(
        &self,
        requester: &Requester,
        collection: &str,
        kind: RuleKind,
    ) -> AppResult<(Arc<Collection>, Access)> {
        let collection =
            self.schema().get(collection).cloned().ok_or_else(|| {
                AppError::NotFound("Missing or invalid collection context.".into())
            })?;
        if collection.is_view() {
            return Err(AppError::bad_request("Unsupported collection type."));
        }
        let access = self.access(requester, &collection, kind);
        if matches!(access, Access::SuperusersOnly) {
            return Err(AppError::superusers_only());
        }
        Ok((collection, access))
    }

    /// How a written record is read back for the response: `expand` resolved for the
    /// requester, emails shown as the manage rule allows.
    pub(crate) fn presentation(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: Arc<Collection>,
        expand: &str,
    ) -> Presentation {
        let schema = self.schema();
        Presentation {
            expand: self.expand_plan(&schema, requester, &collection, expand),
            request: self.request_info(requester, meta, None, "default"),
            expand_request: self.request_info(requester, meta, None, "expand"),
            presenter: Presenter::new(requester).managing(self.access(
                requester,
                &collection,
                RuleKind::Manage,
            )),
            collection,
        }
    }

    /// Everything a create needs before its write job: the password hashes (computed on a
    /// blocking thread, unless the caller brings them as `work`) and the schema it
    /// validates against. `access` is the requester's create access (never
    /// `SuperusersOnly`).
    pub(crate) async fn prepare_create(
        &self,
        request: WriteRequest<'_>,
        collection: Arc<Collection>,
        access: Access,
        body: Map<String, Value>,
        work: Option<Arc<PasswordWork>>,
    ) -> AppResult<PreparedCreate> {
        let work = match work {
            Some(work) => work,
            None => Arc::new(self.password_work(&collection, &body, None).await?),
        };
        Ok(PreparedCreate {
            collection,
            access,
            body,
            work,
            uploads: UploadSet::default(),
            id: None,
            schema: self.schema(),
            requester: request.requester.clone(),
            meta: request.meta.clone(),
            context: request.context,
        })
    }

    /// Everything an update of record `id` needs before its write job (see
    /// [`prepare_create`](Self::prepare_create)); `work` is given when the caller hashed
    /// the body's passwords already.
    pub(crate) async fn prepare_update(
        &self,
        request: WriteRequest<'_>,
        collection: Arc<Collection>,
        access: Access,
        id: &str,
        body: Map<String, Value>,
        work: Option<Arc<PasswordWork>>,
    ) -> AppResult<PreparedUpdate> {
        let work = match work {
            Some(work) => work,
            None => Arc::new(self.password_work(&collection, &body, Some(id)).await?),
        };
        Ok(PreparedUpdate {
            manage: self.access(request.requester, &collection, RuleKind::Manage),
            collection,
            access,
            id: id.to_owned(),
            body,
            work,
            uploads: UploadSet::default(),
            schema: self.schema(),
            requester: request.requester.clone(),
            meta: request.meta.clone(),
            context: request.context,
        })
    }

    /// Everything a delete of record `id` needs before its write job.
    pub(crate) fn prepare_delete(
        &self,
        request: WriteRequest<'_>,
        collection: Arc<Collection>,
        access: Access,
        id: &str,
    ) -> PreparedDelete {
        PreparedDelete {
            request: self.request_info(request.requester, request.meta, None, request.context),
            collection,
            access,
            id: id.to_owned(),
            schema: self.schema(),
        }
    }

    /// Create a record from `body` and the files uploaded with it.
    pub async fn create_record(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: &str,
        body: RecordBody,
        expand: &str,
    ) -> AppResult<Value> {
        let target = self.writable(requester, collection, RuleKind::Create)?;
        let presentation = self.presentation(requester, meta, target.0.clone(), expand);
        let request = WriteRequest::new(requester, meta, "default");
        self.insert_record(request, target, body, move |w, row| {
            presentation.present_in(w, &row_id(row))
        })
        .await
    }

    /// After a write that stored uploads: on success delete what it left over, on failure
    /// the uploads it stored.
    pub(crate) async fn settle_files<T, E>(
        &self,
        written: Result<(T, FileDeletions), E>,
        stored: FileDeletions,
    ) -> Result<T, E> {
        match written {
            Ok((value, leftovers)) => {
                leftovers.run(self.files()).await;
                Ok(value)
            }
            Err(error) => {
                stored.run(self.files()).await;
                Err(error)
            }
        }
    }

    /// Validate and insert a record (with its uploads) into `target` under the create
    /// rule, then run `then` on the stored row in the same transaction and answer what it
    /// answers.
    pub(crate) async fn insert_record<T, F>(
        &self,
        request: WriteRequest<'_>,
        (collection, access): (Arc<Collection>, Access),
        body: RecordBody,
        then: F,
    ) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Writer, &Row) -> AppResult<T> + Send + 'static,
    {
        let RecordBody {
            values: mut body,
            files,
        } = body;
        let staged = Staged::new(&collection, &mut body, files);
        let id = new_record_id(&collection, &body);
        let create = self
            .prepare_create(request, collection.clone(), access, body, None)
            .await?
            .with_uploads(staged.set(), id.clone());
        let stored = staged.store(self.files(), &collection, &id, true).await?;
        let written = self
            .store
            .write(move |w| {
                let saved = create.create_in(w)?;
                let answer = then(w, &saved.after)?;
                Ok((answer, create.leftovers(&saved)))
            })
            .await;
        self.settle_files(written, stored).await
    }

    /// Update record `id` from `body` and the files uploaded with it.
    pub async fn update_record(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: &str,
        id: &str,
        body: RecordBody,
        expand: &str,
    ) -> AppResult<Value> {
        let (collection, access) = self.writable(requester, collection, RuleKind::Update)?;
        let RecordBody {
            values: mut body,
            files,
        } = body;
        let staged = Staged::new(&collection, &mut body, files);
        let request = WriteRequest::new(requester, meta, "default");
        let presentation = self.presentation(requester, meta, collection.clone(), expand);
        let update = self
            .prepare_update(request, collection.clone(), access, id, body, None)
            .await?
            .with_uploads(staged.set());
        let stored = staged.store(self.files(), &collection, id, false).await?;
        let written = self
            .store
            .write(move |w| {
                let saved = update.update_in(w)?;
                Ok((
                    presentation.present_in(w, &update.id)?,
                    update.leftovers(&saved),
                ))
            })
            .await;
        self.settle_files(written, stored).await
    }

    pub async fn delete_record(
        &self,
        requester: &Requester,
        meta: &RequestMeta,
        collection: &str,
        id: &str,
    ) -> AppResult<()> {
        let collection = self.collection(collection)?;
        if collection.is_view() {
            return Err(AppError::bad_request("Unsupported collection type."));
        }
        let access = self.access(requester, &collection, RuleKind::Delete);
        if matches!(access, Access::SuperusersOnly) {
            return Err(AppError::superusers_only());
        }
        let request = WriteRequest::new(requester, meta, "default");
        let delete = self.prepare_delete(request, collection, access, id);
        self.store.write(move |w| delete.delete_in(w)).await
    }
}

/// Who writes and in which request: what a write's rules read as `@request.*`.
#[derive(Clone, Copy)]
pub(crate) struct WriteRequest<'a> {
    pub requester: &'a Requester,
    pub meta: &'a RequestMeta,
    /// `@request.context`: `default`, `batch`, `oauth2`…
    pub context: &'static str,
}

impl<'a> WriteRequest<'a> {
    pub(crate) fn new(
        requester: &'a Requester,
        meta: &'a RequestMeta,
        context: &'static str,
    ) -> Self {
        WriteRequest {
            requester,
            meta,
            context,
        }
    }
}

/// How to read a written record back as the API shows it to the requester.
pub(crate) struct Presentation {
    collection: Arc<Collection>,
    presenter: Presenter,
    expand: Vec<ExpandNode>,
    request: RequestInfo,
    expand_request: RequestInfo,
}

impl Presentation {
    /// The record `id` with its expansions, read inside the job that wrote it (so the
    /// answer is exactly what was committed, and costs no second job).
    pub(crate) fn present_in(&self, reader: &mut dyn Reader, id: &str) -> AppResult<Value> {
        let row = reader
            .get(&self.collection, id, &[], &self.request)?
            .ok_or_else(AppError::not_found)?;
        let mut items = self.presenter.present(
            reader,
            &self.collection,
            vec![row],
            &self.expand,
            &self.expand_request,
        )?;
        items.pop().ok_or_else(AppError::not_found)
    }
}

/// A create ready to run on a writer: alone in its own job or as one step of a batch.
pub(crate) struct PreparedCreate {
    collection: Arc<Collection>,
    access: Access,
    body: Map<String, Value>,
    work: Arc<PasswordWork>,
    uploads: UploadSet,
    /// The id to give the record when the body names none (its uploads are stored
    /// under it).
    id: Option<String>,
    schema: Arc<Schema>,
    requester: Requester,
    meta: RequestMeta,
    context: &'static str,
}

/// A record as a write job left it, and as it was before (`None` when created).
pub(crate) struct Saved {
    pub before: Option<Row>,
    pub after: Row,
}

impl PreparedCreate {
    /// The files uploaded with this create, and the record id they are stored under.
    pub(crate) fn with_uploads(mut self, uploads: UploadSet, id: String) -> Self {
        self.uploads = uploads;
        self.id = Some(id);
        self
    }

    /// Validate and insert the record, then check the create rule against it (the rule may
    /// read the new record's values); answers the stored row.
    pub(crate) fn create_in(&self, w: &mut dyn Writer) -> AppResult<Saved> {
        let target = &self.collection;
        let body = &self.body;
        let superuser = self.requester.is_superuser();
        let mut data = record::new_record(target);
        let options = ApplyOptions {
            is_new: true,
            is_superuser: superuser,
            uploaded: self.uploads.names(),
        };
        let errors = record::apply_body(target, &mut data, body, &options)
            .err()
            .unwrap_or_default();
        if let Some(id) = &self.id
            && data
                .get("id")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            data.insert("id".into(), Value::String(id.clone()));
        }
        record::fill_autogenerated(target, &mut data);
        let id = ensure_id(&mut data);
        touch_autodates(target, &mut data, true);
        force_system_values(target, &mut data);
        let first = auth_records::enforce(target, body, &mut data, None, superuser, &self.work);
        first.into_result().map_err(failed_create)?;
        check_record(target, &data, errors, &self.uploads).map_err(failed_create)?;
        check_relations(w, &self.schema, target, &data)
            .map_err(|e| with_message(e, "Failed to create record."))?;
        self.work.apply_hashes(&mut data);
        w.insert(target, &data)
            .map_err(|e| unique_error(e, "Failed to create record."))?;
        if let Access::Rule(plan) = &self.access {
            let view = body_view(body, &data);
            let request = request_info(&self.requester, &self.meta, Some(&view), self.context);
            let created = std::slice::from_ref(&id);
            if w.count(target, Some(created), &[plan.as_ref()], &request)? == 0 {
                return Err(AppError::bad_request("Failed to create record."));
            }
        }
        Ok(Saved {
            before: None,
            after: data,
        })
    }

    /// What to delete once the create has committed: uploads the record did not keep.
    pub(crate) fn leftovers(&self, saved: &Saved) -> FileDeletions {
        let id = row_id(&saved.after);
        self.uploads
            .leftovers(&self.collection, &id, None, &saved.after)
    }
}

/// An update ready to run on a writer (see [`PreparedCreate`]).
pub(crate) struct PreparedUpdate {
    collection: Arc<Collection>,
    access: Access,
    manage: Access,
    id: String,
    body: Map<String, Value>,
    work: Arc<PasswordWork>,
    uploads: UploadSet,
    schema: Arc<Schema>,
    requester: Requester,
    meta: RequestMeta,
    context: &'static str,
}

impl PreparedUpdate {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The files uploaded with this update.
    pub(crate) fn with_uploads(mut self, uploads: UploadSet) -> Self {
        self.uploads = uploads;
        self
    }

    /// What to delete once the update has committed: files the record let go of and
    /// uploads it did not keep.
    pub(crate) fn leftovers(&self, saved: &Saved) -> FileDeletions {
        self.uploads.leftovers(
            &self.collection,
            &self.id,
            saved.before.as_ref(),
            &saved.after,
        )
    }

    /// Check the update rule against the stored record and the submitted body, validate
    /// and save.
    pub(crate) fn update_in(&self, w: &mut dyn Writer) -> AppResult<Saved> {
        let target = &self.collection;
        let body = &self.body;
        let record_id = &self.id;
        let superuser = self.requester.is_superuser();
        let mut data = record::new_record(target);
        let options = ApplyOptions {
            is_new: false,
            is_superuser: superuser,
            uploaded: self.uploads.names(),
        };
        let plans = conditions(&self.access, None);
        // The rule sees the stored record and the submitted body (modifiers applied).
        let request_body = {
            let Some(current) = w.get(target, record_id, &[], &RequestInfo::default())? else {
                return Err(AppError::not_found());
            };
            data.clone_from(&current);
            let mut resolved = current.clone();
            // Errors are reported after the rule check, by the real application below.
            let _ = record::apply_body(target, &mut resolved, body, &options);
            body_view(body, &resolved)
        };
        let request = request_info(
            &self.requester,
            &self.meta,
            Some(&request_body),
            self.context,
        );
        if !plans.is_empty() && w.get(target, record_id, &refs(&plans), &request)?.is_none() {
            return Err(AppError::not_found());
        }
        let manager = match &self.manage {
            Access::All => true,
            Access::SuperusersOnly => false,
            Access::Rule(plan) => w
                .get(target, record_id, &[plan.as_ref()], &request)?
                .is_some(),
        };
        let original = data.clone();
        let errors = record::apply_body(target, &mut data, body, &options)
            .err()
            .unwrap_or_default();
        touch_autodates(target, &mut data, false);
        force_system_values(target, &mut data);
        let first = auth_records::enforce(
            target,
            body,
            &mut data,
            Some(&original),
            manager,
            &self.work,
        );
        first.into_result().map_err(failed_update)?;
        check_record(target, &data, errors, &self.uploads).map_err(failed_update)?;
        check_relations(w, &self.schema, target, &data)
            .map_err(|e| with_message(e, "Failed to update record."))?;
        self.work.apply_hashes(&mut data);
        w.update(target, record_id, &data)
            .map_err(|e| unique_error(e, "Failed to update record."))?;
        Ok(Saved {
            before: Some(original),
            after: data,
        })
    }
}

/// A delete ready to run on a writer (see [`PreparedCreate`]).
pub(crate) struct PreparedDelete {
    collection: Arc<Collection>,
    access: Access,
    id: String,
    request: RequestInfo,
    schema: Arc<Schema>,
}

impl PreparedDelete {
    /// Delete the record if the delete rule lets the requester see it, cleaning up the
    /// relations that point at it.
    pub(crate) fn delete_in(&self, w: &mut dyn Writer) -> AppResult<()> {
        let plans = conditions(&self.access, None);
        if w.get(&self.collection, &self.id, &refs(&plans), &self.request)?
            .is_none()
        {
            return Err(AppError::not_found());
        }
        delete_cascading(w, &self.schema, &self.collection, &self.id, 0)
    }
}

/// The id of a stored row.
pub(crate) fn row_id(row: &Row) -> String {
    row.get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// What a client's own filter or sort may reach: everything for superusers; for others no
/// hidden fields, and related records only as their collection's list rule shows them.
fn client_options(requester: &Requester) -> ResolveOptions<'_> {
    let superuser = requester.is_superuser();
    ResolveOptions {
        allow_hidden: superuser,
        allow_request: superuser,
        auth_collection: requester.auth_collection(),
        respect_list_rules: !superuser,
    }
}

/// `@request.*` and `@collection.*` in a client's filter or sort are for superusers only.
fn only_superusers_reach_request_data(requester: &Requester, text: &str) -> AppResult<()> {
    if !requester.is_superuser() {
        for prefix in ["@request.", "@collection."] {
            if text.contains(prefix) {
                return Err(AppError::Forbidden(format!(
                    "Only superusers can filter by {prefix}"
                )));
            }
        }
    }
    Ok(())
}

/// The body keys the client sent, with the values they resolve to after modifiers.
fn body_view(body: &Map<String, Value>, resolved: &Row) -> Map<String, Value> {
    let mut view = Map::new();
    for key in body.keys() {
        let name = key.trim_start_matches('+').trim_end_matches(['+', '-']);
        if let Some(value) = resolved.get(name) {
            view.insert(name.to_owned(), value.clone());
        }
    }
    view
}

/// A view runs a superuser's query, which may fail on the data it meets (a bad cast, a
/// huge blob): that is a bad request about the view, not a server fault.
fn view_query_error(is_view: bool, error: AppError) -> AppError {
    match error {
        AppError::Internal(cause) if is_view => {
            tracing::warn!(%cause, "a view query failed");
            AppError::bad_request(GENERIC_ERROR)
        }
        other => other,
    }
}

/// Values a collection imposes whatever the body says: superusers are always verified.
fn force_system_values(collection: &Collection, data: &mut Row) {
    if collection.id == crate::system::SUPERUSERS_ID {
        data.insert("verified".into(), Value::Bool(true));
    }
}

/// Errors of applying the body, of validating the result and of its uploads, reported
/// together (the first error of a field wins), as PocketBase reports them.
fn check_record(
    collection: &Collection,
    data: &Row,
    mut errors: ValidationErrors,
    uploads: &UploadSet,
) -> Result<(), ValidationErrors> {
    if let Err(invalid) = record::validate_record(collection, data) {
        errors.merge(invalid);
    }
    errors.merge(uploads.validate(collection, data));
    errors.into_result()
}

fn failed_create(errors: ValidationErrors) -> AppError {
    AppError::invalid("Failed to create record.", errors)
}

fn failed_update(errors: ValidationErrors) -> AppError {
    AppError::invalid("Failed to update record.", errors)
}

fn with_message(error: AppError, message: &str) -> AppError {
    match error {
        AppError::BadRequest { data, .. } => AppError::invalid(message, data),
        other => other,
    }
}

/// A unique index violation becomes `validation_not_unique` on the indexed fields.
fn unique_error(error: StoreError, message: &str) -> AppError {
    match error {
        StoreError::Unique { columns } => {
            let mut errors = ValidationErrors::new();
            for column in columns {
                errors.add(
                    column,
                    FieldError::new("validation_not_unique", "Value must be unique."),
                );
            }
            AppError::invalid(message, errors)
        }
        other => other.into(),
    }
}

/// The record's id, generated when the id field has no pattern to generate it from.
fn ensure_id(data: &mut Row) -> String {
    let current = data
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !current.is_empty() {
        return current;
    }
    let id = kb_core::id::new_record_id();
    data.insert("id".into(), Value::String(id.clone()));
    id
}

fn touch_autodates(collection: &Collection, data: &mut Row, is_new: bool) {
    let now = kb_core::datetime::now();
    for field in &collection.fields {
        if let FieldKind::Autodate(options) = &field.kind
            && ((is_new && options.on_create) || (!is_new && options.on_update))
        {
            data.insert(field.name.clone(), Value::String(now.clone()));
        }
    }
}

/// Every related id must exist.
fn check_relations(
    w: &mut dyn Writer,
    schema: &Schema,
    collection: &Collection,
    data: &Row,
) -> AppResult<()> {
    let mut errors = ValidationErrors::new();
    for field in &collection.fields {
        let Some(relation) = field.relation() else {
            continue;
        };
        let ids: Vec<String> = match data.get(&field.name) {
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => continue,
        };
        if ids.is_empty() {
            continue;
        }
        let found = match schema.by_id(&relation.collection_id) {
            Some(target) => w.count(target, Some(&ids), &[], &RequestInfo::default())?,
            None => 0,
        };
        if found != ids.len() as u64 {
            errors.add(
                field.name.clone(),
                FieldError::new(
                    "validation_missing_rel_records",
                    "Failed to find all relation records with the provided ids.",
                ),
            );
        }
    }
    errors.into_result().map_err(|e| AppError::invalid("", e))
}

/// Deepest chain of cascading deletes before we refuse (a cycle of cascades would never end).
const MAX_CASCADE_DEPTH: usize = 32;

/// Delete a record and clean up every relation that points at it: remove the id from the
/// referencing values, delete referencing records whose cascading relation becomes empty,
/// refuse when a required relation would become empty.
pub(crate) fn delete_cascading(
    w: &mut dyn Writer,
    schema: &Schema,
    collection: &Collection,
    id: &str,
    depth: usize,
) -> AppResult<()> {
    if depth > MAX_CASCADE_DEPTH {
        return Err(AppError::bad_request(
            "Failed to delete record: the cascade is too deep.",
        ));
    }
    if collection.id == crate::system::SUPERUSERS_ID
        && w.count(collection, None, &[], &RequestInfo::default())? <= 1
    {
        return Err(AppError::bad_request(
            "You can't delete the only existing superuser.",
        ));
    }
    let blocked = || {
        AppError::bad_request(
            "Failed to delete record. Make sure that the record is not part of a required relation reference.",
        )
    };
    for source in schema.iter().filter(|c| !c.is_view()) {
        for field in source.relations_to(&collection.id) {
            let Some(options) = field.relation() else {
                continue;
            };
            let referencing =
                w.referencing(source, field, id, &[], &RequestInfo::default(), None)?;
            for mut row in referencing {
                let Some(row_id) = row.get("id").and_then(Value::as_str).map(str::to_owned) else {
                    continue;
                };
                if source.id == collection.id && row_id == id {
                    continue;
                }
                let remaining: Value = match row.get(&field.name) {
                    Some(Value::Array(items)) => Value::Array(
                        items
                            .iter()
                            .filter(|v| v.as_str() != Some(id))
                            .cloned()
                            .collect(),
                    ),
                    _ => Value::String(String::new()),
                };
                let empty = match &remaining {
                    Value::Array(items) => items.is_empty(),
                    _ => true,
                };
                if empty && options.cascade_delete {
                    delete_cascading(w, schema, source, &row_id, depth + 1)?;
                } else if empty && options.required {
                    return Err(blocked());
                } else {
                    row.insert(field.name.clone(), remaining);
                    w.update(source, &row_id, &row)?;
                }
            }
        }
    }
    w.delete(collection, id)?;
    Ok(())
}
