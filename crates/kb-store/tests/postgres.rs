//! The PostgreSQL backend against a real server (127.0.0.1:5432, user `postgres`, or the
//! server URL in `KEELBASE_TEST_PG_URL`): each test creates its own database and drops it afterwards, and
//! runs the same operations on a SQLite backend to check both hand back the same rows.

use std::future::{Future, poll_fn};
use std::sync::{Arc, Mutex, mpsc};
use std::task::Poll;

use kb_core::{Collection, Schema};
use kb_query::{ResolveOptions, resolve_filter, resolve_sort_key};
use kb_store::postgres::{self, PostgresBackend};
use kb_store::sqlite::SqliteBackend;
use kb_store::{
    Change, ChangeObserver, ListQuery, RequestInfo, Row, SortSpec, Store, StoreError, Writer,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The server, without a database (the same variable the API test kit reads).
fn server_url() -> String {
    std::env::var("KEELBASE_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Databases are created and dropped through the `test` database.
fn admin_url() -> String {
    database_url("test")
}

fn database_url(name: &str) -> String {
    format!("{}/{name}", server_url())
}

/// A fresh database, dropped when this goes out of scope.
struct TestDatabase {
    name: String,
}

impl TestDatabase {
    async fn create() -> TestDatabase {
        let name = format!("kb_store_test_{}", kb_core::id::new_record_id());
        postgres::create_database(&admin_url(), &name)
            .await
            .expect("create the test database");
        TestDatabase { name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime: drop the database from a runtime of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(postgres::drop_database(&admin_url(), &name)))
        })
        .join();
        assert!(matches!(dropped, Ok(Ok(Ok(())))), "drop the test database");
    }
}

/// The same store on both backends.
struct Pair {
    pg: Store,
    sqlite: Store,
    database: TestDatabase,
    _dir: tempfile::TempDir,
}

impl Pair {
    async fn open() -> Pair {
        let database = TestDatabase::create().await;
        let pg = PostgresBackend::open(&database_url(&database.name))
            .await
            .expect("open postgres");
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteBackend::open(&dir.path().join("data.db"))
            .await
            .unwrap();
        Pair {
            pg: Store::new(Arc::new(pg)),
            sqlite: Store::new(Arc::new(sqlite)),
            database,
            _dir: dir,
        }
    }

    fn both(&self) -> [&Store; 2] {
        [&self.pg, &self.sqlite]
    }

    async fn save(&self, new: &Collection, old: Option<&Collection>) {
        for store in self.both() {
            let (new, old) = (new.clone(), old.cloned());
            store
                .write(move |w| w.save_collection(&new, old.as_ref()))
                .await
                .unwrap();
        }
    }

    async fn insert(&self, collection: &Collection, record: Value) {
        for store in self.both() {
            let (collection, record) = (collection.clone(), as_row(record.clone()));
            store
                .write(move |w| w.insert(&collection, &record))
                .await
                .unwrap();
        }
    }

    /// Rows of `list` with `filter` and `sort` on PostgreSQL, checked equal to SQLite's.
    async fn list(&self, schema: &Schema, name: &str, filter: &str, sort: &str) -> Vec<Row> {
        let mut results = Vec::new();
        for store in self.both() {
            let schema = schema.clone();
            let label = filter.to_owned();
            let (name, filter, sort) = (name.to_owned(), filter.to_owned(), sort.to_owned());
            let rows = store
                .read(move |r| {
                    let collection = schema.by_name(&name).unwrap();
                    let options = ResolveOptions {
                        allow_hidden: true,
                        allow_request: true,
                        ..Default::default()
                    };
                    let plan = (!filter.is_empty()).then(|| {
                        let expr = kb_filter::parse_filter(&filter).unwrap().unwrap();
                        resolve_filter(&expr, &schema, collection, &options).unwrap()
                    });
                    let keys: Vec<_> = kb_filter::parse_sort(&sort)
                        .unwrap()
                        .iter()
                        .map(|item| {
                            let key = resolve_sort_key(&item.field, &schema, collection, &options)
                                .unwrap();
                            (key, item.descending)
                        })
                        .collect();
                    let query = ListQuery {
                        collection,
                        conditions: plan.iter().collect(),
                        sort: keys
                            .iter()
                            .map(|(key, descending)| SortSpec {
                                key,
                                descending: *descending,
                            })
                            .collect(),
                        limit: Some(100),
                        offset: 0,
                    };
                    let request = RequestInfo {
                        auth: Arc::new(json!({"id": "u1"})),
                        body: Some(Arc::new(json!({"n": 5}).as_object().unwrap().clone())),
                        ..RequestInfo::default()
                    };
                    r.list(&query, &request)
                })
                .await
                .unwrap_or_else(|e: StoreError| panic!("{label}: {e}"));
            results.push(rows);
        }
        let sqlite = results.pop().unwrap();
        let pg = results.pop().unwrap();
        assert_eq!(pg, sqlite, "filter {filter:?}, sort {sort:?}");
        pg
    }
}

fn as_row(value: Value) -> Row {
    value.as_object().cloned().unwrap()
}

fn collection(value: Value) -> Collection {
    serde_json::from_value(value).unwrap()
}

fn users() -> Collection {
    collection(json!({
        "id": "users0000000001", "name": "users", "type": "base",
        "fields": [
            {"id": "f_id", "name": "id", "type": "text", "primaryKey": true},
            {"id": "f_name", "name": "name", "type": "text"}
        ]
    }))
}

fn posts() -> Collection {
    collection(json!({
        "id": "posts0000000001", "name": "posts", "type": "base",
        "fields": [
            {"id": "f_id", "name": "id", "type": "text", "primaryKey": true},
            {"id": "f_title", "name": "title", "type": "text"},
            {"id": "f_views", "name": "views", "type": "number"},
            {"id": "f_draft", "name": "draft", "type": "bool"},
            {"id": "f_author", "name": "author", "type": "relation", "collectionId": "users0000000001", "maxSelect": 1},
            {"id": "f_tags", "name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 3},
            {"id": "f_meta", "name": "meta", "type": "json"},
            {"id": "f_place", "name": "place", "type": "geoPoint"},
            {"id": "f_created", "name": "created", "type": "date"}
        ],
        "indexes": ["CREATE UNIQUE INDEX idx_title ON posts (title COLLATE NOCASE) WHERE title != ''"]
    }))
}

async fn seeded() -> (Pair, Schema) {
    let pair = Pair::open().await;
    let (users, posts) = (users(), posts());
    pair.save(&users, None).await;
    pair.save(&posts, None).await;
    pair.insert(&users, json!({"id": "u1", "name": "Ann"}))
        .await;
    pair.insert(&users, json!({"id": "u2", "name": "Bob"}))
        .await;
    for record in [
        json!({"id": "p1", "title": "Hello", "views": 12, "draft": false, "author": "u1",
               "tags": ["a", "b"], "meta": {"s": "x", "n": 10}, "place": {"lon": 23.32, "lat": 42.69},
               "created": "2024-01-02 03:04:05.678Z"}),
        json!({"id": "p2", "title": "world 100%", "views": 2.5, "draft": true, "author": "u2",
               "tags": [], "meta": null, "place": {"lon": 24.74, "lat": 42.13},
               "created": "2025-06-07 08:09:10.000Z"}),
        json!({"id": "p3", "title": "", "views": 0, "draft": false, "author": "",
               "tags": ["c"], "meta": [1, "two"], "place": {"lon": 0, "lat": 0},
               "created": "2023-12-31 23:59:59.999Z"}),
    ] {
        pair.insert(&posts, record).await;
    }
    (pair, Schema::new(vec![users, posts], 1))
}

fn ids(rows: &[Row]) -> Vec<&str> {
    rows.iter().map(|r| r["id"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_read_back_in_canonical_json() {
    let (pair, schema) = seeded().await;
    let rows = pair.list(&schema, "posts", "", "@rowid").await;
    assert_eq!(ids(&rows), ["p1", "p2", "p3"]);
    let first = &rows[0];
    assert_eq!(first["views"], json!(12));
    assert!(
        first["views"].is_i64(),
        "integral numbers read back as integers"
    );
    assert_eq!(rows[1]["views"], json!(2.5));
    // A JSON field keeps its keys in the order they were written, on both backends.
    assert_eq!(
        serde_json::to_string(&first["meta"]).unwrap(),
        r#"{"s":"x","n":10}"#
    );
    assert_eq!(first["draft"], json!(false));
    assert_eq!(rows[1]["draft"], json!(true));
    assert_eq!(first["tags"], json!(["a", "b"]));
    assert_eq!(first["meta"], json!({"n": 10, "s": "x"}));
    assert_eq!(rows[1]["meta"], Value::Null);
    assert_eq!(rows[2]["meta"], json!([1, "two"]));
    assert_eq!(first["place"], json!({"lon": 23.32, "lat": 42.69}));
    assert_eq!(first["created"], json!("2024-01-02 03:04:05.678Z"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_sorts_match_sqlite() {
    let (pair, schema) = seeded().await;
    let cases: &[(&str, &str, &[&str])] = &[
        ("views > 5", "", &["p1"]),
        ("views >= '2'", "id", &["p1", "p2"]),
        ("views = 2.5", "", &["p2"]),
        ("draft = true", "", &["p2"]),
        ("draft = false", "id", &["p1", "p3"]),
        ("title = ''", "", &["p3"]),
        ("title != null", "id", &["p1", "p2"]),
        ("title ~ 'hel'", "", &["p1"]),
        ("title ~ 'WORLD'", "", &["p2"]),
        ("title !~ 'o'", "id", &["p3"]),
        ("title = 'abc' || views = 'abc'", "", &[]),
        ("author.name = 'Bob'", "", &["p2"]),
        ("author = @request.auth.id", "", &["p1"]),
        ("tags:each ?= 'b'", "", &["p1"]),
        ("tags ~ 'c'", "", &["p3"]),
        ("tags = 'c'", "", &[]),
        ("tags:length > 1", "", &["p1"]),
        ("tags:each != 'x'", "id", &["p1", "p2", "p3"]),
        ("meta.n > 5", "", &["p1"]),
        ("meta.s = 'x'", "", &["p1"]),
        ("created >= '2024-01-01'", "-created", &["p2", "p1"]),
        ("created > @now", "", &[]),
        ("views < @request.body.n", "id", &["p2", "p3"]),
        ("@request.body.n < 10 && views > 1", "id", &["p1", "p2"]),
        (
            "geoDistance(place.lon, place.lat, 24.7453, 42.1354) < 150",
            "id",
            &["p1", "p2"],
        ),
        ("strftime('%Y-%m', created) = '2024-01'", "", &["p1"]),
        (
            "@collection.users.name ?= 'Ann' && @collection.users.id ?= author",
            "",
            &["p1"],
        ),
    ];
    for (filter, sort, expected) in cases {
        let sort = if sort.is_empty() { "@rowid" } else { sort };
        let rows = pair.list(&schema, "posts", filter, sort).await;
        assert_eq!(ids(&rows), *expected, "filter {filter:?}");
    }
    let sorted = pair.list(&schema, "posts", "", "-views,id").await;
    assert_eq!(ids(&sorted), ["p1", "p2", "p3"]);
    let sorted = pair.list(&schema, "posts", "", "author.name,id").await;
    assert_eq!(ids(&sorted), ["p3", "p1", "p2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_get_many_and_referencing() {
    let (pair, _) = seeded().await;
    let posts = posts();
    let author = posts
        .fields
        .iter()
        .find(|f| f.name == "author")
        .unwrap()
        .clone();
    let (count, many, referencing, missing) = pair
        .pg
        .read(move |r| {
            let request = RequestInfo::default();
            let count = r.count(&posts, None, &[], &request)?;
            let ids = vec!["p3".to_owned(), "p1".to_owned(), "nope".to_owned()];
            let mut many: Vec<String> = r
                .get_many(&posts, &ids, &[], &request)?
                .into_iter()
                .map(|row| row["id"].as_str().unwrap().to_owned())
                .collect();
            many.sort();
            let referencing = r.referencing(&posts, &author, "u2", &[], &request, Some(10))?;
            let missing = r.get(&posts, "nope", &[], &request)?;
            Ok::<_, StoreError>((count, many, referencing, missing))
        })
        .await
        .unwrap();
    assert_eq!(count, 3);
    assert_eq!(many, ["p1", "p3"]);
    assert_eq!(ids(&referencing), ["p2"]);
    assert!(missing.is_none());

    // Counting among ids, as the relation and create-rule checks do, on both backends.
    for store in [&pair.pg, &pair.sqlite] {
        let posts = self::posts();
        let counts = store
            .read(move |r| {
                let request = RequestInfo::default();
                let among = |ids: &[&str]| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>();
                let mut counts = Vec::new();
                for ids in [&["p3", "p1", "nope"][..], &["p1"], &["nope"], &[]] {
                    counts.push(r.count(&posts, Some(&among(ids)), &[], &request)?);
                }
                Ok::<_, StoreError>(counts)
            })
            .await
            .unwrap();
        assert_eq!(counts, [2, 1, 0, 0]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_violations_name_the_indexed_columns() {
    let (pair, _) = seeded().await;
    let posts = posts();
    let error = pair
        .pg
        .write(move |w| w.insert(&posts, &as_row(json!({"id": "p9", "title": "HELLO"}))))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Unique { columns } if columns == &["title"]),
        "{error:?}"
    );
    let users = users();
    let error = pair
        .pg
        .write(move |w| w.insert(&users, &as_row(json!({"id": "u1", "name": "again"}))))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, StoreError::Unique { columns } if columns == &["id"]),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_leaves_nothing_behind() {
    let (pair, schema) = seeded().await;
    let users = users();
    let result: Result<(), StoreError> = pair
        .pg
        .write(move |w| {
            w.insert(&users, &as_row(json!({"id": "u3", "name": "Cy"})))?;
            Err(StoreError::Invalid("changed my mind".into()))
        })
        .await;
    assert!(result.is_err());
    let rows = pair.list(&schema, "users", "", "id").await;
    assert_eq!(ids(&rows), ["u1", "u2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_keep_the_data_of_fields_that_stay() {
    let (pair, _) = seeded().await;
    let old = posts();
    let mut value = serde_json::to_value(&old).unwrap();
    let fields = value["fields"].as_array_mut().unwrap();
    // Rename `title` → `headline`, drop `views`, add `score`, make `author` multiple and
    // `tags` single.
    fields[1]["name"] = json!("headline");
    fields.remove(2);
    fields.push(json!({"id": "f_score", "name": "score", "type": "number"}));
    for field in fields.iter_mut() {
        match field["name"].as_str() {
            Some("author") => field["maxSelect"] = json!(5),
            Some("tags") => field["maxSelect"] = json!(1),
            _ => {}
        }
    }
    value["indexes"] = json!(["CREATE INDEX idx_headline ON posts (headline)"]);
    let new: Collection = serde_json::from_value(value).unwrap();
    pair.save(&new, Some(&old)).await;
    let schema = Schema::new(vec![users(), new.clone()], 2);
    let rows = pair.list(&schema, "posts", "", "@rowid").await;
    assert_eq!(rows[0]["headline"], json!("Hello"));
    assert_eq!(rows[0]["author"], json!(["u1"]));
    assert_eq!(rows[2]["author"], json!([]));
    assert_eq!(rows[0]["tags"], json!("b"));
    assert_eq!(rows[1]["tags"], json!(""));
    assert_eq!(rows[0]["score"], json!(0));
    assert!(rows[0].get("views").is_none());
    // The statement cache follows the new column types.
    let rows = pair
        .list(
            &schema,
            "posts",
            "tags = 'c' && author:length = 0",
            "@rowid",
        )
        .await;
    assert_eq!(ids(&rows), ["p3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_describe_their_columns_and_list() {
    let (pair, _) = seeded().await;
    let query = "SELECT posts.id, posts.title, (SELECT count(*) FROM users) AS total FROM posts";
    let columns = pair
        .pg
        .read(move |r| r.describe_view_query(query))
        .await
        .unwrap();
    let names: Vec<_> = columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "title", "total"]);
    assert_eq!(columns[1].origin, Some(("posts".into(), "title".into())));
    assert_eq!(columns[2].origin, None);

    let rejected = pair
        .pg
        .read(|r| r.describe_view_query("DELETE FROM posts RETURNING id"))
        .await;
    assert!(
        matches!(rejected, Err(StoreError::Invalid(_))),
        "{rejected:?}"
    );
    let rejected = pair
        .pg
        .read(|r| r.describe_view_query("SELECT 1 AS id; DROP TABLE posts"))
        .await;
    assert!(
        matches!(rejected, Err(StoreError::Invalid(_))),
        "{rejected:?}"
    );

    let view = collection(json!({
        "id": "view00000000001", "name": "stats", "type": "view",
        "viewQuery": query,
        "fields": [
            {"id": "v_id", "name": "id", "type": "text", "primaryKey": true},
            {"id": "v_title", "name": "title", "type": "text"},
            {"id": "v_total", "name": "total", "type": "number"}
        ]
    }));
    pair.save(&view, None).await;
    let schema = Schema::new(vec![users(), posts(), view], 2);
    let rows = pair.list(&schema, "stats", "total = 2", "id").await;
    assert_eq!(ids(&rows), ["p1", "p2", "p3"]);
    assert_eq!(rows[0]["total"], json!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_settings_and_truncate_persist() {
    let (pair, _) = seeded().await;
    let posts = posts();
    let (loaded, settings) = pair
        .pg
        .write(move |w| {
            let mut settings = kb_core::settings::Settings::default();
            settings.meta.app_name = "Keel on PG".into();
            w.save_settings(&settings)?;
            w.truncate(&posts)?;
            Ok::<_, StoreError>((w.load_collections()?, w.load_settings()?))
        })
        .await
        .unwrap();
    let names: Vec<_> = loaded.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["users", "posts"]);
    assert_eq!(loaded[1], self::posts());
    assert_eq!(settings.unwrap().meta.app_name, "Keel on PG");
    let count = pair
        .pg
        .read(|r| r.count(&self::posts(), None, &[], &RequestInfo::default()))
        .await
        .unwrap();
    assert_eq!(count, 0);
    let users = users();
    pair.pg
        .write(move |w| w.delete_collection(&users))
        .await
        .unwrap();
    let left = pair.pg.read(|r| r.load_collections()).await.unwrap();
    assert_eq!(left.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_rolls_back_and_leaves_the_pool_usable() {
    let (pair, schema) = seeded().await;
    let pg = pair.pg.clone();
    let users = users();
    let panicked = tokio::spawn(async move {
        pg.write(move |w| {
            w.insert(&users, &as_row(json!({"id": "u3", "name": "Cy"})))?;
            if w.count(&users, None, &[], &RequestInfo::default())? == 3 {
                panic!("the job fails half-way");
            }
            Ok::<_, StoreError>(())
        })
        .await
    })
    .await;
    assert!(panicked.is_err_and(|e| e.is_panic()));
    let rows = pair.list(&schema, "users", "", "id").await;
    assert_eq!(ids(&rows), ["u1", "u2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_and_reads_all_land() {
    let (pair, _) = seeded().await;
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (pg, users) = (pair.pg.clone(), users());
            tokio::spawn(async move {
                if i % 2 == 0 {
                    let record = as_row(json!({"id": format!("c{i}"), "name": "n"}));
                    pg.write(move |w| w.insert(&users, &record)).await
                } else {
                    pg.read(move |r| {
                        r.count(&users, None, &[], &RequestInfo::default())
                            .map(|_| ())
                    })
                    .await
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let count = pair
        .pg
        .read(|r| r.count(&users(), None, &[], &RequestInfo::default()))
        .await
        .unwrap();
    assert_eq!(count, 2 + 12);
}

/// Hands the ids of committed records to the test, in the order their hooks ran.
struct HookOrder(Arc<Mutex<Vec<String>>>);

impl ChangeObserver for HookOrder {
    fn watches(&self, _collection: &Collection) -> bool {
        true
    }

    fn committed(&self, changes: Vec<Change>) {
        let mut ids = self.0.lock().unwrap();
        ids.extend(
            changes
                .iter()
                .map(|c| c.record["id"].as_str().unwrap().to_owned()),
        );
    }
}

/// Poll `write` once, which queues its job, then leave it to run on its own.
async fn queue<T: Send + 'static>(
    write: impl Future<Output = T> + Send + 'static,
) -> JoinHandle<T> {
    let mut write = Box::pin(write);
    let waiting = poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx).is_pending())).await;
    assert!(waiting);
    tokio::spawn(write)
}

/// A write, queued now, that holds the writer until told to go on and says when it has
/// started.
async fn gate(
    store: &Store,
) -> (
    JoinHandle<Result<(), StoreError>>,
    oneshot::Receiver<()>,
    mpsc::Sender<()>,
) {
    let (started, has_started) = oneshot::channel();
    let (release, released) = mpsc::channel();
    let store = store.clone();
    let write = queue(async move {
        store
            .write(move |_| {
                started.send(()).unwrap();
                released.recv().unwrap();
                Ok::<_, StoreError>(())
            })
            .await
    })
    .await;
    (write, has_started, release)
}

/// The users another connection sees (only what has committed).
async fn committed_users(database: &TestDatabase) -> Vec<String> {
    let (client, connection) = postgres::tokio_postgres::connect(
        &database_url(&database.name),
        postgres::tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(r#"SELECT "id" FROM "users" ORDER BY "id""#, &[])
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_writes_commit_together_each_with_its_own_answer() {
    let (pair, _) = seeded().await;
    let hooks = Arc::new(Mutex::new(Vec::new()));
    pair.pg.observe(Arc::new(HookOrder(hooks.clone())));
    let insert = |id: &str| {
        let (users, record) = (users(), as_row(json!({"id": id, "name": "n"})));
        move |w: &mut dyn Writer| w.insert(&users, &record)
    };
    // Jobs that keep their changes, between jobs that fail in each way a job can.
    type Job = Box<dyn FnOnce(&mut dyn Writer) -> Result<(), StoreError> + Send>;
    let jobs: Vec<Job> = vec![
        Box::new(insert("u10")),
        Box::new(insert("u1")),
        Box::new({
            let insert = insert("u11");
            move |w| {
                insert(w)?;
                Err(StoreError::Invalid("changed my mind".into()))
            }
        }),
        Box::new(insert("u12")),
        Box::new({
            let insert = insert("u2");
            move |w| {
                let _ignored = insert(w);
                Ok(())
            }
        }),
        Box::new({
            let insert = insert("u13");
            move |w| {
                insert(w)?;
                panic!("the job fails half-way");
            }
        }),
        Box::new(insert("u14")),
    ];

    // While the writer is held, queue the jobs and a last job that holds the writer again:
    // they run as one batch.
    let (first, first_started, release_first) = gate(&pair.pg).await;
    first_started.await.unwrap();
    let mut writes = Vec::new();
    for job in jobs {
        let pg = pair.pg.clone();
        writes.push(queue(async move { pg.write(job).await }).await);
    }
    let (last, last_started, release_last) = gate(&pair.pg).await;
    release_first.send(()).unwrap();
    first.await.unwrap().unwrap();
    last_started.await.unwrap();

    // Every job of the batch has run, but nothing is committed or answered yet.
    assert_eq!(committed_users(&pair.database).await, ["u1", "u2"]);
    assert!(writes.iter().all(|write| !write.is_finished()));
    release_last.send(()).unwrap();
    last.await.unwrap().unwrap();

    let mut answers = Vec::new();
    for write in writes {
        answers.push(write.await);
    }
    let [u10, u1, u11, u12, u2, u13, u14] = &answers[..] else {
        panic!("{answers:?}");
    };
    assert!(matches!(u10, Ok(Ok(()))), "{u10:?}");
    assert!(
        matches!(u1, Ok(Err(StoreError::Unique { columns })) if columns == &["id"]),
        "{u1:?}"
    );
    assert!(matches!(u11, Ok(Err(StoreError::Invalid(_)))), "{u11:?}");
    assert!(matches!(u12, Ok(Ok(()))), "{u12:?}");
    let nothing_committed = |message: &str| message.contains("nothing was committed");
    assert!(
        matches!(u2, Ok(Err(StoreError::Database(message))) if nothing_committed(message)),
        "{u2:?}"
    );
    assert!(matches!(u13, Err(error) if error.is_panic()), "{u13:?}");
    assert!(matches!(u14, Ok(Ok(()))), "{u14:?}");
    assert_eq!(
        committed_users(&pair.database).await,
        ["u1", "u10", "u12", "u14", "u2"]
    );
    assert_eq!(*hooks.lock().unwrap(), ["u10", "u12", "u14"]);
}

#[tokio::test]
async fn sslmode_require_insists_on_a_verified_tls_connection() {
    // The local test server offers TLS with a self-signed certificate (or none at all):
    // either way `sslmode=require` must refuse rather than fall back to plain text.
    let url = format!("{}?sslmode=require", admin_url());
    match PostgresBackend::open(&url).await {
        Err(StoreError::Database(message)) => {
            assert!(
                message.contains("certificate")
                    || message.contains("TLS")
                    || message.contains("tls"),
                "{message}"
            );
        }
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("connected without a verified certificate"),
    }
}
