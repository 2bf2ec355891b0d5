//! Three Keelbase processes (the real binary) on one PostgreSQL database, as behind a load
//! balancer: a realtime subscriber on one node hears writes made on another, schema and
//! settings changes reach every node, an OAuth2 redirect finds the node holding the popup's
//! stream, rate limits hold across nodes, and a node killed with
//! SIGKILL loses no acknowledged write while the others keep serving. Always runs (the
//! PostgreSQL server at 127.0.0.1:5432, or `KEELBASE_TEST_PG_URL`), on a database of its own.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::{ServeProcess, run_ok};
use crate::realtime::{Sse, subscribe};

const WITHIN: Duration = Duration::from_secs(1);

/// A fresh database for one test, dropped afterwards (with the nodes' connections).
pub(crate) struct Database {
    name: String,
}

impl Database {
    pub(crate) async fn create() -> Database {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("kb_cluster_{}_{nanos}", std::process::id());
        kb_store::postgres::create_database(&format!("{}/test", pg_server_url()), &name)
            .await
            .expect("create the test database");
        Database { name }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/{}", pg_server_url(), self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        drop_pg_database(self.name.clone());
    }
}

/// One node: `keelbase serve --db URL` with a data directory of its own.
struct Node {
    process: ServeProcess,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(database: &Database) -> Node {
        let dir = tempfile::tempdir().unwrap();
        Node {
            process: ServeProcess::start_on(&database.url(), dir.path()),
            _dir: dir,
        }
    }

    fn guest(&self) -> Client {
        Client::new(&self.process.base, None)
    }
}

/// Three nodes on a fresh database (the first creates the schema), and a superuser token
/// every node accepts.
async fn cluster() -> (Database, Vec<Node>, String) {
    let database = Database::create().await;
    let setup = tempfile::tempdir().unwrap();
    run_ok(
        &[
            "superuser",
            "upsert",
            SU_EMAIL,
            SU_PASSWORD,
            "--db",
            &database.url(),
        ],
        setup.path(),
    );
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(&database)).collect();
    let (status, auth) = nodes[1]
        .guest()
        .post_json(
            "/api/collections/_superusers/auth-with-password",
            &json!({"identity": SU_EMAIL, "password": SU_PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    let token = auth["token"].as_str().unwrap().to_owned();
    (database, nodes, token)
}

fn superuser(node: &Node, token: &str) -> Client {
    Client::new(&node.process.base, Some(token.to_owned()))
}

/// Retry `attempt` until it gives `Some` or `WITHIN` passes; answers the value and how
/// long it took.
async fn within<T, F, Fut>(mut attempt: F) -> (Option<T>, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = attempt().await {
            return (Some(value), started.elapsed());
        }
        if started.elapsed() > WITHIN {
            return (None, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn three_nodes_share_schema_realtime_and_limits() {
    let (_database, nodes, token) = cluster().await;
    // Each keeps files in a directory of its own: the later ones say so.
    let warning = "other Keelbase nodes serve this database";
    assert!(
        nodes[2]
            .process
            .startup_lines
            .iter()
            .any(|l| l.contains(warning)),
        "{:#?}",
        nodes[2].process.startup_lines
    );

    // A collection made on node 2 is usable on node 1.
    let (status, body) = superuser(&nodes[1], &token)
        .post_json(
            "/api/collections",
            &json!({"name": "notes", "type": "base", "listRule": "", "viewRule": "",
                    "createRule": "", "deleteRule": "",
                    "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "text", "max": 30000}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let node1 = nodes[0].guest();
    let (first, took) = within(|| {
        let node1 = node1.clone();
        async move {
            let (status, record) = node1
                .post_json("/api/collections/notes/records", &json!({"title": "first"}))
                .await;
            (status == 200).then_some(record)
        }
    })
    .await;
    let first = first.expect("node 1 sees the collection node 2 made");
    eprintln!("schema change on node 2 seen on node 1 after {took:?}");

    // A subscriber on node 3 hears creates and deletes made on nodes 1 and 2.
    let mut stream = Sse::open_at(&nodes[2].process.base).await;
    let (status, body) = subscribe(&nodes[2].guest(), &stream.client_id, &["notes"]).await;
    assert_eq!(status, 204, "{body}");
    let started = Instant::now();
    let (status, created) = node1
        .post_json("/api/collections/notes/records", &json!({"title": "hello"}))
        .await;
    assert_eq!(status, 200, "{created}");
    let event = stream
        .next_event(WITHIN)
        .await
        .expect("the create, on node 3");
    eprintln!(
        "create on node 1 heard on node 3 after {:?}",
        started.elapsed()
    );
    assert_eq!(event.event, "notes");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["action"], "create");
    assert_eq!(data["record"], created);

    // Bigger than a notification can carry: it goes through the announcements table.
    let long = "x".repeat(20_000);
    let (status, big) = node1
        .post_json(
            "/api/collections/notes/records",
            &json!({"title": "big", "body": long}),
        )
        .await;
    assert_eq!(status, 200, "{big}");
    let event = stream.next_event(WITHIN).await.expect("the big create");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data["record"]["body"].as_str().map(str::len), Some(20_000));

    let gone = id_of(&first);
    let deleted = nodes[1]
        .guest()
        .send_unchecked(nodes[1].guest().request(
            reqwest::Method::DELETE,
            &format!("/api/collections/notes/records/{gone}"),
        ))
        .await;
    assert_eq!(deleted.status, 204);
    let event = stream
        .next_event(WITHIN)
        .await
        .expect("the delete, on node 3");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(
        (data["action"].clone(), data["record"]["id"].clone()),
        (json!("delete"), json!(gone))
    );

    // An OAuth2 redirect that reaches node 1 is delivered to the popup's stream on node 3.
    let mut popup = Sse::open_at(&nodes[2].process.base).await;
    let (status, body) = subscribe(&nodes[2].guest(), &popup.client_id, &["@oauth2"]).await;
    assert_eq!(status, 204, "{body}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirect = |state: String| {
        let url = format!(
            "{}/api/oauth2-redirect?state={state}&code=the-code",
            nodes[0].process.base
        );
        let browser = browser.clone();
        async move {
            let response = browser.get(url).send().await.unwrap();
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            (response.status().as_u16(), location)
        }
    };
    let (status, location) = redirect(popup.client_id.clone()).await;
    assert_eq!(status, 307);
    assert!(location.ends_with("oauth2-redirect-success"), "{location}");
    let event = popup.next_event(WITHIN).await.expect("the code, on node 3");
    assert_eq!(event.event, "@oauth2");
    let data: Value = serde_json::from_str(&event.data).unwrap();
    assert_eq!(data, json!({"state": popup.client_id, "code": "the-code"}));
    let (_, location) = redirect("nobody".into()).await;
    assert!(location.ends_with("oauth2-redirect-failure"), "{location}");

    // A token node 3 has verified (and keeps in its cache) stops working there soon after
    // node 2 deletes its record: the announcement reaches node 3 long before the cache's
    // 2 s freshness would run out.
    let (status, body) = superuser(&nodes[0], &token)
        .post_json(
            "/api/collections/_superusers/records",
            &json!({"email": "second@example.com", "password": SU_PASSWORD, "passwordConfirm": SU_PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second_id = id_of(&body);
    let (status, auth) = nodes[2]
        .guest()
        .post_json(
            "/api/collections/_superusers/auth-with-password",
            &json!({"identity": "second@example.com", "password": SU_PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    let second = superuser(&nodes[2], auth["token"].as_str().unwrap());
    assert_eq!(second.get("/api/settings").await.0, 200);
    let deleted = superuser(&nodes[1], &token)
        .send_unchecked(superuser(&nodes[1], &token).request(
            reqwest::Method::DELETE,
            &format!("/api/collections/_superusers/records/{second_id}"),
        ))
        .await;
    assert_eq!(deleted.status, 204);
    let (refused, took) = within(|| {
        let second = second.clone();
        async move { (second.get("/api/settings").await.0 == 401).then_some(()) }
    })
    .await;
    refused.expect("node 3 refuses the token of a record node 2 deleted");
    eprintln!("delete on node 2 revoked node 3's cached token after {took:?}");

    // Rate limits set on node 1 hold across nodes: two guest creates in all, then 429.
    let (status, body) = superuser(&nodes[0], &token)
        .patch_json(
            "/api/settings",
            &json!({"rateLimits": {"enabled": true, "rules": [
                {"label": "notes:create", "audience": "@guest", "duration": 60, "maxRequests": 2}]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let create = |node: &Node| {
        let client = node.guest();
        async move {
            client
                .post_json(
                    "/api/collections/notes/records",
                    &json!({"title": "limited"}),
                )
                .await
                .0
        }
    };
    // The other nodes hear of the new settings first.
    let (limited, _) = within(|| async {
        let status = create(&nodes[1]).await;
        (status == 200).then_some(())
    })
    .await;
    limited.expect("a first create under the new limit");
    assert_eq!(create(&nodes[2]).await, 200);
    assert_eq!(create(&nodes[0]).await, 429);
    assert_eq!(create(&nodes[1]).await, 429);
}

#[tokio::test]
async fn a_killed_node_loses_no_acknowledged_write() {
    let (_database, mut nodes, token) = cluster().await;
    let (status, body) = superuser(&nodes[0], &token)
        .post_json(
            "/api/collections",
            &json!({"name": "ledger", "type": "base", "listRule": "", "viewRule": "",
                    "createRule": "", "fields": [{"name": "n", "type": "number"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Writes stream into node 1 while it is killed; every write it acknowledged must stay.
    let writer = nodes[0].guest();
    let writes = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for n in 0..10_000 {
            let result = writer
                .http
                .post(writer.url("/api/collections/ledger/records"))
                .json(&json!({"n": n}))
                .send()
                .await;
            match result {
                Ok(response) if response.status() == 200 => {
                    let record: Value = response.json().await.unwrap_or(Value::Null);
                    if let Some(id) = record["id"].as_str() {
                        acknowledged.push(id.to_owned());
                    }
                }
                _ => break,
            }
        }
        acknowledged
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    nodes[0].process.kill9();
    let acknowledged = writes.await.unwrap();
    assert!(acknowledged.len() > 5, "writes landed before the kill");

    let survivor = superuser(&nodes[1], &token);
    let (status, page) = survivor
        .get("/api/collections/ledger/records?perPage=1000&fields=id&skipTotal=1")
        .await;
    assert_eq!(status, 200, "{page}");
    let stored: std::collections::HashSet<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");

    // The others keep serving, reads and writes.
    let (status, body) = nodes[2]
        .guest()
        .post_json("/api/collections/ledger/records", &json!({"n": -1}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(nodes[1].process.health(), 200);
}
