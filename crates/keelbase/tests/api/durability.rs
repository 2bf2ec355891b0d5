//! Crash safety: every acknowledged write survives `kill -9`, and the database file stays
//! consistent (`PRAGMA integrity_check`). Plus restarts of the in-process server.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use crate::helpers::*;
use crate::process::*;

const WORKERS: usize = 8;
/// Kill the server once this many creates were acknowledged.
const KILL_AFTER: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::Builder::new()
        .prefix("keelbase-durability-")
        .tempdir()
        .expect("temp dir");
    run_ok(
        &[
            "superuser",
            "upsert",
            "root@example.com",
            "first-password-1",
        ],
        dir.path(),
    );
    let mut server = ServeProcess::start(dir.path());
    let (status, auth) = Client::new(&server.base, None)
        .auth_with_password("_superusers", "root@example.com", "first-password-1")
        .await;
    assert_eq!(status, 200, "{auth}");
    let token = auth["token"].as_str().unwrap().to_owned();
    let su = Client::new(&server.base, Some(token.clone()));
    su.create_collection(&json!({
        "name": "items",
        "fields": [
            {"name": "n", "type": "number"},
            {"name": "payload", "type": "text"},
        ],
        "indexes": ["CREATE INDEX idx_items_n ON items (n)"],
    }))
    .await;

    let acked = Arc::new(std::sync::Mutex::new(Vec::<(String, i64)>::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let reached = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..WORKERS {
        let su = su.clone();
        let acked = acked.clone();
        let count = count.clone();
        let reached = reached.clone();
        let stop = stop.clone();
        workers.spawn(async move {
            let mut i = 0usize;
            let mut errors = 0usize;
            while !stop.load(Ordering::SeqCst) {
                // a custom id, so an unacknowledged write is recognisable too
                let id = format!("w{w:02}i{i:010}x");
                let n = (w * 1_000_000 + i) as i64;
                let body = json!({"id": id, "n": n, "payload": "x".repeat(200)});
                let sent = su
                    .http
                    .post(su.url("/api/collections/items/records"))
                    .header("Authorization", su.token.as_deref().unwrap())
                    .json(&body)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status().as_u16() == 200 => {
                        let Ok(text) = resp.text().await else {
                            errors += 1;
                            continue;
                        };
                        let created: serde_json::Value =
                            serde_json::from_str(&text).expect("a JSON record");
                        assert_eq!(created["id"], id.as_str());
                        acked.lock().unwrap().push((id, n));
                        if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            reached.notify_one();
                        }
                    }
                    Ok(resp) => panic!(
                        "unexpected status {} while the server was up",
                        resp.status()
                    ),
                    // the server was killed under us
                    Err(_) => {
                        errors += 1;
                        if errors > 3 {
                            break;
                        }
                    }
                }
                i += 1;
            }
        });
    }
    tokio::time::timeout(Duration::from_secs(120), reached.notified())
        .await
        .expect("the server acknowledged enough writes");
    // SIGKILL while the workers are still firing requests
    server.kill9();
    stop.store(true, Ordering::SeqCst);
    while let Some(result) = workers.join_next().await {
        result.expect("a worker panicked");
    }
    let acked: Vec<(String, i64)> = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILL_AFTER, "{} acknowledged", acked.len());

    // restart on the same directory: every acknowledged record is there, with its value
    let mut server = ServeProcess::start(dir.path());
    let su = Client::new(&server.base, Some(token));
    let mut stored = BTreeSet::new();
    let mut page = 1;
    loop {
        let list = su
            .list_ok(
                "items",
                &[
                    ("page", &page.to_string()),
                    ("perPage", "1000"),
                    ("fields", "id,n"),
                ],
            )
            .await;
        for item in items(&list) {
            stored.insert((
                item["id"].as_str().unwrap().to_owned(),
                item["n"].as_i64().unwrap(),
            ));
        }
        if items(&list).len() < 1000 {
            break;
        }
        page += 1;
    }
    let missing: Vec<&(String, i64)> = acked.iter().filter(|a| !stored.contains(a)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records lost, e.g. {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    // the server is fully usable after the crash
    su.create_record("items", &json!({"n": -1})).await;
    let status = server.terminate();
    assert!(status.success(), "{status}");

    // the closed database is consistent
    let db = open_db_read_only(&dir.path().join("data.db"));
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
    let rows = row_count(&db, "items");
    assert_eq!(rows as usize, stored.len() + 1);
    assert!(index_names(&db, "items").contains(&"idx_items_n".to_owned()));
}

#[tokio::test]
async fn schema_records_and_superusers_survive_an_in_process_restart() {
    let app = TestApp::spawn().await;
    let c = app
        .create_collection(&json!({
            "name": "kept", "listRule": "",
            "fields": [{"name": "t", "type": "text"}, {"name": "n", "type": "number"}],
            "indexes": ["CREATE UNIQUE INDEX idx_kept_t ON kept (t)"],
        }))
        .await;
    let r = app.create_record("kept", &json!({"t": "a", "n": 1})).await;
    let token = app.token().to_owned();
    let app = app.restart().await;
    assert_eq!(app.collection_ok("kept").await, c);
    assert_eq!(app.view_ok("kept", &id_of(&r), &[]).await, r);
    // tokens issued before the restart stay valid (the signing secrets are persisted)
    assert_eq!(app.with_token(&token).get("/api/settings").await.0, 200);
    // the unique index still holds
    let data = assert_error(
        &app.try_create("kept", &json!({"t": "a"})).await,
        400,
        "Failed to create record.",
    );
    assert_eq!(codes(&data), code_map(&[("t", "validation_not_unique")]));
    let dir = app.stop().await;
    assert_eq!(
        TestDb::open(dir.path()).integrity_problems(),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_through_one_server_are_all_applied() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "counter", "fields": [{"name": "n", "type": "number"}]}))
        .await;
    let r = app.create_record("counter", &json!({"n": 0})).await;
    let id = id_of(&r);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let su = app.su.clone();
        let id = id.clone();
        tasks.spawn(async move {
            let (status, body) = su.try_update("counter", &id, &json!({"n+": 1})).await;
            assert_eq!(status, 200, "{body}");
            let (status, body) = su.try_create("counter", &json!({"n": 1})).await;
            assert_eq!(status, 200, "{body}");
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task");
    }
    assert_eq!(
        app.view_ok("counter", &id, &[]).await["n"],
        40,
        "no lost update"
    );
    assert_eq!(app.count("counter").await, 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_while_records_are_written() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({"name": "busy", "fields": [{"name": "t", "type": "text"}]}))
        .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let su = app.su.clone();
        tasks.spawn(async move {
            let (status, body) = su
                .try_create("busy", &json!({"t": format!("row {i}")}))
                .await;
            assert_eq!(status, 200, "{body}");
        });
    }
    // add five fields one by one while the creates run
    let mut fields = vec![json!({"name": "t", "type": "text"})];
    for n in 0..5 {
        fields.push(json!({"name": format!("extra{n}"), "type": "number"}));
        let (status, body) = app
            .try_update_collection("busy", &json!({"fields": fields}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task");
    }
    assert_eq!(app.count("busy").await, 30);
    let list = app.list_ok("busy", &[("perPage", "100")]).await;
    for item in items(&list) {
        assert_eq!(item["extra4"], 0, "{item}");
    }
    assert_eq!(
        column_names(&app.db(), "busy"),
        ["id", "t", "extra0", "extra1", "extra2", "extra3", "extra4"]
    );
}
