//! `keelbase migrate-data`: a SQLite Keelbase copied into PostgreSQL answers every API
//! request as the original did (same records, ids, file names, settings, logins), and the
//! source still answers the same afterwards.

use reqwest::multipart::{Form, Part};
use serde_json::json;

use crate::cluster::Database;
use crate::helpers::*;
use crate::process::{ServeProcess, command, run_ok};

/// What the API shows of the app, as text (so key order counts too).
async fn snapshot(base: &str) -> Vec<String> {
    let su = login(base, "_superusers", SU_EMAIL, SU_PASSWORD).await;
    let mut out = Vec::new();
    for path in [
        "/api/collections?perPage=100&sort=name",
        "/api/collections/users/records?perPage=500&sort=id",
        "/api/collections/posts/records?perPage=500&sort=id&expand=author",
        "/api/collections/stats/records?perPage=500&sort=id",
        "/api/settings",
    ] {
        let (status, body) = su.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        out.push(format!("{path} {body}"));
    }
    out
}

async fn login(base: &str, collection: &str, identity: &str, password: &str) -> Client {
    let guest = Client::new(base, None);
    let (status, auth) = guest
        .post_json(
            &format!("/api/collections/{collection}/auth-with-password"),
            &json!({"identity": identity, "password": password}),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    Client::new(base, Some(auth["token"].as_str().unwrap().to_owned()))
}

/// Collections of every kind, users with passwords, records with JSON, relations and an
/// uploaded file, and changed settings.
async fn fill(base: &str) -> String {
    let su = login(base, "_superusers", SU_EMAIL, SU_PASSWORD).await;
    let (status, body) = su
        .post_json(
            "/api/collections",
            &json!({"name": "posts", "type": "base", "listRule": "", "viewRule": "",
                "fields": [
                    {"name": "title", "type": "text"},
                    {"name": "views", "type": "number"},
                    {"name": "meta", "type": "json"},
                    {"name": "author", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
                    {"name": "cover", "type": "file", "maxSelect": 1}
                ],
                "indexes": ["CREATE INDEX idx_views ON posts (views)"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = su
        .post_json(
            "/api/collections",
            &json!({"name": "stats", "type": "view",
                "viewQuery": "SELECT author AS id, COUNT(*) AS total FROM posts GROUP BY author"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut authors = Vec::new();
    for n in 0..3 {
        let (status, user) = su
            .post_json(
                "/api/collections/users/records",
                &json!({"email": format!("u{n}@example.com"), "password": "a-long-password-1",
                        "passwordConfirm": "a-long-password-1", "name": format!("User {n}")}),
            )
            .await;
        assert_eq!(status, 200, "{user}");
        authors.push(id_of(&user));
    }
    for n in 0..600 {
        let (status, post) = su
            .post_json(
                "/api/collections/posts/records",
                &json!({"title": format!("post {n}"), "views": n, "author": authors[n % 3],
                        "meta": {"z": n, "a": [n, "x"], "nested": {"b": true, "a": null}}}),
            )
            .await;
        assert_eq!(status, 200, "{post}");
    }
    let form = Form::new().text("title", "with a cover").part(
        "cover",
        Part::bytes(b"cover bytes".to_vec()).file_name("cover.txt"),
    );
    let response = su
        .send_unchecked(
            su.request(reqwest::Method::POST, "/api/collections/posts/records")
                .multipart(form),
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.text);
    let (status, body) = su
        .patch_json("/api/settings", &json!({"meta": {"appName": "Migrated"}}))
        .await;
    assert_eq!(status, 200, "{body}");
    format!(
        "/api/files/{}/{}/{}",
        response.body["collectionId"].as_str().unwrap(),
        id_of(&response.body),
        response.body["cover"].as_str().unwrap()
    )
}

#[tokio::test]
async fn a_sqlite_keelbase_moves_to_postgres_whole() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(&["superuser", "upsert", SU_EMAIL, SU_PASSWORD], dir.path());
    let mut source = ServeProcess::start(dir.path());
    let file = fill(&source.base).await;
    let before = snapshot(&source.base).await;
    source.terminate();

    let database = Database::create().await;
    let out = command()
        .args(["migrate-data", "--to", &database.url(), "--from"])
        .arg(dir.path())
        .output()
        .expect("run migrate-data");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("posts: 601 records"), "{stdout}");
    assert!(stdout.contains("users: 3 records"), "{stdout}");

    // The copy answers exactly as the original did, logins and files included.
    let mut copy = ServeProcess::start_on(&database.url(), dir.path());
    assert_eq!(snapshot(&copy.base).await, before);
    login(&copy.base, "users", "u1@example.com", "a-long-password-1").await;
    let served = reqwest::get(format!("{}{file}", copy.base)).await.unwrap();
    assert_eq!(served.text().await.unwrap(), "cover bytes");
    let (status, _) = Client::new(&copy.base, None)
        .get("/api/collections/posts/records?filter=(views>590)&perPage=1")
        .await;
    assert_eq!(status, 200);
    copy.terminate();

    // The source is as it was, and a second run into the full database is refused.
    let mut again = ServeProcess::start(dir.path());
    assert_eq!(snapshot(&again.base).await, before);
    again.terminate();
    let refused = command()
        .args(["migrate-data", "--to", &database.url(), "--from"])
        .arg(dir.path())
        .output()
        .expect("run migrate-data");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("already holds collections"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
