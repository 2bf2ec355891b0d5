//! Request logs and the logs API, as PocketBase 0.40.6 keeps them: every API request logged
//! after its response (errors at level 8 with their message and details), the `logs`
//! settings honoured, logs in `auxiliary.db` beside `data.db`, superusers only.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const NOT_ALLOWED: &str = "The authorized record is not allowed to perform this action.";

/// The logs matching `filter` (oldest first), once there are at least `n` of them. Logs are
/// written in the background, so this polls, for at most 10 s.
async fn wait_for_logs(app: &TestApp, filter: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let path = format!(
            "/api/logs{}",
            qs(&[
                ("filter", filter),
                ("sort", "created,id"),
                ("perPage", "1000")
            ])
        );
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let found = items(&page).clone();
        if found.len() >= n {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} logs for {filter}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_log(app: &TestApp, filter: &str) -> Value {
    wait_for_logs(app, filter, 1).await.remove(0)
}

/// How many logs match `filter` now.
async fn count(app: &TestApp, filter: &str) -> i64 {
    let (status, page) = app
        .get(&format!(
            "/api/logs{}",
            qs(&[("filter", filter), ("perPage", "1")])
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    page["totalItems"].as_i64().expect("totalItems")
}

async fn user_token(app: &TestApp) -> (String, String) {
    let user = app
        .create_record(
            "users",
            &json!({"email": "lu@example.com", "password": "pass123456", "passwordConfirm": "pass123456"}),
        )
        .await;
    let (status, auth) = app
        .auth_with_password("users", "lu@example.com", "pass123456")
        .await;
    assert_eq!(status, 200, "{auth}");
    (
        auth["token"].as_str().expect("token").to_owned(),
        id_of(&user),
    )
}

async fn set_logs(app: &TestApp, logs: Value) {
    let (status, body) = app
        .patch_json("/api/settings", &json!({"logs": logs}))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_request_is_logged_with_pocketbase_fields() {
    let app = TestApp::spawn().await;
    let resp = app
        .send(
            app.request(Method::GET, "/api/settings?probe=1")
                .header("Referer", "http://ref.example/page")
                .header("User-Agent", "logs-test/1.0"),
        )
        .await;
    assert_eq!(resp.status, 200);

    let log = wait_for_log(&app, "data.url = '/api/settings?probe=1'").await;
    assert_eq!(
        sorted_keys(&log),
        ["created", "data", "id", "level", "message"]
    );
    assert!(is_record_id(log["id"].as_str().unwrap()), "{log}");
    assert!(is_datetime(log["created"].as_str().unwrap()), "{log}");
    assert_eq!(log["level"], 0);
    assert_eq!(log["message"], "GET /api/settings?probe=1");
    let data = &log["data"];
    assert_eq!(
        sorted_keys(data),
        [
            "auth",
            "execTime",
            "method",
            "referer",
            "remoteIP",
            "status",
            "type",
            "url",
            "userAgent",
            "userIP"
        ]
    );
    assert_eq!(data["type"], "request");
    assert_eq!(data["auth"], "_superusers");
    assert_eq!(data["method"], "GET");
    assert_eq!(data["url"], "/api/settings?probe=1");
    assert_eq!(data["status"], 200);
    assert_eq!(data["referer"], "http://ref.example/page");
    assert_eq!(data["userAgent"], "logs-test/1.0");
    assert_eq!(data["remoteIP"], "127.0.0.1");
    assert_eq!(data["userIP"], "127.0.0.1");
    let exec = data["execTime"].as_f64().expect("execTime is a number");
    assert!((0.0..10_000.0).contains(&exec), "{exec}");

    // The same log through GET /api/logs/{id}, with the fields picker.
    let id = log["id"].as_str().unwrap();
    let (status, one) = app.get(&format!("/api/logs/{id}")).await;
    assert_eq!((status, &one), (200, &log));
    let (status, picked) = app.get(&format!("/api/logs/{id}?fields=id,level")).await;
    assert_eq!((status, picked), (200, json!({"id": id, "level": 0})));

    // A guest's request names no auth collection; the login itself is logged as a guest's.
    app.guest().get("/api/health?who=guest").await;
    let log = wait_for_log(&app, "data.url = '/api/health?who=guest'").await;
    assert_eq!(log["data"]["auth"], "");
    let login = wait_for_log(
        &app,
        "data.url = '/api/collections/_superusers/auth-with-password'",
    )
    .await;
    assert_eq!(login["data"]["auth"], "");
    assert_eq!(login["data"]["method"], "POST");
}

#[tokio::test]
async fn error_responses_are_logged_at_error_level_with_their_reason() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    let (status, _) = guest
        .post_json("/api/collections/users/records", &json!({"email": "bad"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(guest.get("/api/collections/nope/records").await.0, 404);
    assert_eq!(guest.get("/api/settings?who=guest").await.0, 401);
    let (status, _) = guest
        .get("/api/collections/users/records?filter=%28%28")
        .await;
    assert_eq!(status, 400);

    let create = wait_for_log(
        &app,
        "data.url = '/api/collections/users/records' && data.method = 'POST'",
    )
    .await;
    assert_eq!(create["level"], 8);
    assert_eq!(create["data"]["status"], 400);
    assert_eq!(create["data"]["error"], "Failed to create record.");
    assert_eq!(
        create["data"]["details"]["password"], "cannot be blank",
        "{create}"
    );

    let missing = wait_for_log(&app, "data.url = '/api/collections/nope/records'").await;
    assert_eq!(missing["level"], 8);
    assert_eq!(missing["data"]["status"], 404);
    assert_eq!(missing["data"]["error"], "Missing collection context.");
    assert_eq!(missing["data"]["details"], Value::Null);

    let unauthorized = wait_for_log(&app, "data.url = '/api/settings?who=guest'").await;
    assert_eq!(unauthorized["level"], 8);
    assert_eq!(unauthorized["data"]["status"], 401);
    assert_eq!(unauthorized["data"]["error"], NEEDS_AUTH);

    // The message shows the path unescaped; data.url keeps it as received.
    // (`~` with a `%` of its own is a whole-string pattern, as in PocketBase: not used here.)
    let bad_filter = wait_for_log(&app, "data.url ~ 'users/records?filter='").await;
    assert_eq!(
        bad_filter["message"],
        "GET /api/collections/users/records?filter=(("
    );
    assert_eq!(
        bad_filter["data"]["url"],
        "/api/collections/users/records?filter=%28%28"
    );
    assert_eq!(bad_filter["data"]["error"], BAD_REQUEST);

    // Successful requests have neither key.
    let (_, ok) = app.get("/api/health?ok=1").await;
    assert_eq!(ok["code"], 200);
    let ok = wait_for_log(&app, "data.url = '/api/health?ok=1'").await;
    assert!(ok["data"].get("error").is_none() && ok["data"].get("details").is_none());
}

#[tokio::test]
async fn logs_filter_and_sort_like_records() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    for path in [
        "/api/health?s=a",
        "/api/nope?s=b",
        "/api/collections/x/records?s=c",
    ] {
        guest.send_unchecked(guest.request(Method::GET, path)).await;
    }
    wait_for_logs(&app, "data.url ~ 's='", 3).await;

    let (status, page) = app
        .get(&format!(
            "/api/logs{}",
            qs(&[
                ("filter", "data.url ~ 's=' && data.status >= 400"),
                ("sort", "-data.url"),
                ("fields", "data.url,data.status,level"),
            ])
        ))
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["items"],
        json!([
            {"data": {"url": "/api/nope?s=b", "status": 404}, "level": 8},
            {"data": {"url": "/api/collections/x/records?s=c", "status": 404}, "level": 8},
        ])
    );
    assert_eq!(page["totalItems"], 2);
    assert_eq!(page["totalPages"], 1);
    assert_eq!(page["perPage"], 30);

    let (_, page) = app
        .get(&format!(
            "/api/logs{}",
            qs(&[
                ("filter", "data.url ~ 's=' && level = 0"),
                ("skipTotal", "1"),
                ("perPage", "1")
            ])
        ))
        .await;
    assert_eq!(page["totalItems"], -1);
    assert_eq!(page["totalPages"], -1);
    assert_eq!(pluck(&page, "message"), [json!("GET /api/health?s=a")]);

    // The same errors as a records list: syntax, unknown fields, @request, bad paging.
    for query in [
        ("filter", "(("),
        ("filter", "foo = 1"),
        ("filter", "@request.auth.id != ''"),
        ("filter", "updated != ''"),
        ("sort", "rowid"),
        ("sort", "updated"),
        ("perPage", "abc"),
        ("skipTotal", "maybe"),
    ] {
        let resp = app.get(&format!("/api/logs{}", qs(&[query]))).await;
        assert_error(&resp, 400, BAD_REQUEST);
    }
}

#[tokio::test]
async fn stats_count_logs_per_hour() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    for i in 0..3 {
        guest.get(&format!("/api/health?stats={i}")).await;
    }
    guest.get("/api/nope?stats=x").await;
    let logs = wait_for_logs(&app, "data.url ~ 'stats='", 4).await;
    let hour = format!("{}:00:00.000Z", &logs[0]["created"].as_str().unwrap()[..13]);

    let (status, stats) = app
        .get(&format!(
            "/api/logs/stats{}",
            qs(&[("filter", "data.url ~ 'stats='")])
        ))
        .await;
    assert_eq!(status, 200);
    // All four within one hour, unless the test straddled an hour boundary.
    let total: i64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["total"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 4);
    assert_eq!(stats[0]["date"], hour.as_str());
    assert_eq!(sorted_keys(&stats[0]), ["date", "total"]);

    let (_, errors) = app
        .get(&format!(
            "/api/logs/stats{}",
            qs(&[("filter", "data.url ~ 'stats=' && level = 8")])
        ))
        .await;
    assert_eq!(errors, json!([{"date": hour, "total": 1}]));

    for filter in ["((", "foo = 1"] {
        let resp = app
            .get(&format!("/api/logs/stats{}", qs(&[("filter", filter)])))
            .await;
        assert_error(&resp, 400, "Invalid filter format.");
    }
}

#[tokio::test]
async fn log_ip_off_leaves_addresses_out_and_log_auth_id_adds_the_id() {
    let app = TestApp::spawn().await;
    set_logs(&app, json!({"logIP": false, "logAuthId": true})).await;
    app.get("/api/health?ip=off").await;
    let log = wait_for_log(&app, "data.url = '/api/health?ip=off'").await;
    let data = &log["data"];
    assert!(data.get("remoteIP").is_none(), "{data}");
    assert!(data.get("userIP").is_none(), "{data}");
    assert_eq!(data["auth"], "_superusers");
    assert_eq!(data["authId"], app.su_id.as_str());

    // A guest has no id to log.
    app.guest().get("/api/health?ip=guest").await;
    let log = wait_for_log(&app, "data.url = '/api/health?ip=guest'").await;
    assert!(log["data"].get("authId").is_none(), "{log}");
}

#[tokio::test]
async fn max_days_zero_disables_logging_and_min_level_drops_lower_levels() {
    let app = TestApp::spawn().await;
    set_logs(&app, json!({"maxDays": 0})).await;
    let guest = app.guest();
    guest.get("/api/health?phase=off").await;
    guest.get("/api/nope?phase=off").await;
    set_logs(&app, json!({"maxDays": 5, "minLevel": 5})).await;
    guest.get("/api/health?phase=min").await;
    guest.get("/api/nope?phase=min").await;
    set_logs(&app, json!({"minLevel": 0})).await;
    guest.get("/api/health?phase=on").await;

    // Logs are written in order, so once the last one is there the others would be too.
    wait_for_log(&app, "data.url = '/api/health?phase=on'").await;
    assert_eq!(count(&app, "data.url ~ 'phase=off'").await, 0);
    assert_eq!(count(&app, "data.url = '/api/health?phase=min'").await, 0);
    assert_eq!(count(&app, "data.url = '/api/nope?phase=min'").await, 1);
}

#[tokio::test]
async fn oversized_data_is_truncated_to_max_data_size() {
    let app = TestApp::spawn().await;
    set_logs(&app, json!({"maxDataSize": 300})).await;
    let long = "a".repeat(2500);
    app.send(
        app.guest()
            .request(Method::GET, "/api/health?big=1")
            .header("Referer", format!("http://x/{long}")),
    )
    .await;
    let log = wait_for_log(&app, "data.__pb_truncated__ = true").await;
    // Keys in order while they fit; the referer is too long, so it and the rest go.
    assert_eq!(log["data"]["referer"], Value::Null);
    assert_eq!(log["data"]["method"], "GET");
    assert!(log["data"].get("url").is_none(), "{log}");
    assert_eq!(log["message"], "GET /api/health?big=1");
}

#[tokio::test]
async fn delete_removes_every_log() {
    let app = TestApp::spawn().await;
    app.get("/api/health?before=delete").await;
    wait_for_log(&app, "data.url = '/api/health?before=delete'").await;
    let resp = app.raw(Method::DELETE, "/api/logs").await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.text, "");
    assert_eq!(count(&app, "").await, 0);
    // A new request is logged again afterwards.
    app.get("/api/health?after=delete").await;
    wait_for_log(&app, "data.url = '/api/health?after=delete'").await;
    assert_eq!(count(&app, "").await, 1);
}

#[tokio::test]
async fn the_logs_api_is_for_superusers_only() {
    let app = TestApp::spawn().await;
    let (token, user_id) = user_token(&app).await;
    let guest = app.guest();
    let user = app.with_token(&token);
    for (method, path) in [
        (Method::GET, "/api/logs"),
        (Method::GET, "/api/logs/stats"),
        (Method::GET, "/api/logs/abc"),
        (Method::DELETE, "/api/logs"),
    ] {
        let resp = guest.raw(method.clone(), path).await.pair();
        assert_error(&resp, 401, NEEDS_AUTH);
        let resp = user.raw(method, path).await.pair();
        assert_error(&resp, 403, NOT_ALLOWED);
    }
    assert_error(&app.get("/api/logs/missing").await, 404, NOT_FOUND);

    // Those refusals are logged, with who asked.
    let refused = wait_for_logs(&app, "data.status = 403", 4).await;
    assert!(refused.iter().all(|l| l["data"]["auth"] == "users"));
    assert!(refused.iter().all(|l| l["data"]["error"] == NOT_ALLOWED));
    set_logs(&app, json!({"logAuthId": true})).await;
    user.get("/api/logs?again=1").await;
    let again = wait_for_log(&app, "data.url = '/api/logs?again=1'").await;
    assert_eq!(again["data"]["authId"], user_id.as_str());
}

#[tokio::test]
async fn reading_the_logs_and_realtime_connections_are_not_logged() {
    let app = TestApp::spawn().await;
    app.get("/api/logs?read=1").await;
    app.get("/api/logs/stats?read=1").await;
    let realtime = app
        .http
        .get(app.url("/api/realtime?read=1"))
        .send()
        .await
        .expect("connect");
    assert_eq!(realtime.status(), 200);
    drop(realtime);
    app.get("/api/health?read=marker").await;
    wait_for_log(&app, "data.url = '/api/health?read=marker'").await;
    assert_eq!(count(&app, "data.url ~ 'read=1'").await, 0);
    // A failed read is logged.
    app.get("/api/logs?read=2&filter=%28%28").await;
    let failed = wait_for_log(&app, "data.url ~ 'read=2'").await;
    assert_eq!(failed["data"]["status"], 400);
}

#[tokio::test]
async fn a_burst_of_requests_is_logged_completely_without_waiting_for_the_log_writes() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..20 {
        let guest = guest.clone();
        workers.spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..100 {
                let sent = Instant::now();
                let (status, _) = guest.get(&format!("/api/health?burst={worker}-{i}")).await;
                assert_eq!(status, 200);
                slowest = slowest.max(sent.elapsed());
            }
            slowest
        });
    }
    let mut slowest = Duration::ZERO;
    while let Some(result) = workers.join_next().await {
        slowest = slowest.max(result.expect("worker"));
    }
    let burst = started.elapsed();
    // Generous bounds for a debug build on a small machine: a request never waits for a
    // batch of log inserts (up to 200 ms of batching) plus their commit.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest request {slowest:?}"
    );
    assert!(burst < Duration::from_secs(60), "burst took {burst:?}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logged = count(&app, "data.url ~ 'burst='").await;
        if logged == 2000 {
            break;
        }
        assert!(Instant::now() < deadline, "only {logged} of 2000 logged");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.app.logs.dropped(), 0);
}

#[tokio::test]
async fn logs_live_in_auxiliary_db_and_queued_ones_survive_shutdown() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.guest().get(&format!("/api/health?shutdown={i}")).await;
    }
    let dir = app.data_dir().to_owned();
    // Stopped at once: the logs still queued are written before the database closes.
    let kept = app.stop().await;
    let aux = open_db_read_only(&dir.join("auxiliary.db"));
    let logged: i64 = aux
        .query_row(
            "SELECT count(*) FROM _logs WHERE json_extract(data, '$.url') LIKE '%shutdown=%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(logged, 5);
    let journal: String = aux
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let data = TestDb::open(&dir);
    assert!(!table_exists(&data, "_logs"));
    assert!(table_exists(&aux, "_logs"));
    drop((aux, data));

    // Old logs go in the cleanup, recent ones stay.
    let app = TestApp::spawn_in(kept).await;
    {
        let aux = rusqlite::Connection::open(app.data_dir().join("auxiliary.db")).unwrap();
        aux.execute(
            "INSERT INTO _logs (id, created, level, message, data)
             VALUES ('oldlog000000001', '2020-01-01 00:00:00.000Z', 0, 'GET /old', '{}')",
            [],
        )
        .unwrap();
    }
    assert_eq!(count(&app, "message = 'GET /old'").await, 1);
    assert_eq!(app.app.delete_old_logs().await.unwrap(), 1);
    assert_eq!(count(&app, "message = 'GET /old'").await, 0);
    assert_eq!(count(&app, "data.url ~ 'shutdown='").await, 5);
}
