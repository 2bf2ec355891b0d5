//! Backups: `/api/backups` lists, creates, uploads, downloads (with a superuser's file
//! token), deletes and restores archives of the data directory, as PocketBase 0.40.6
//! answers; a restore restarts the server (in place, for the real binary) and brings back
//! the records and files of the archive. On PostgreSQL every endpoint says why there are no
//! backups.

use std::io::Read;
use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::ServeProcess;

async fn backups(client: &Client) -> Vec<Value> {
    let (status, body) = client.get("/api/backups").await;
    assert_eq!(status, 200, "{body}");
    body.as_array().expect("a list").clone()
}

fn keys(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|b| b["key"].as_str().expect("key").to_owned())
        .collect()
}

async fn upload(client: &Client, name: &str, content: Vec<u8>) -> (u16, Value) {
    let form = Form::new().part("file", Part::bytes(content).file_name(name.to_owned()));
    client
        .send_unchecked(
            client
                .request(Method::POST, "/api/backups/upload")
                .multipart(form),
        )
        .await
        .pair()
}

async fn file_token(client: &Client) -> String {
    let (status, body) = client.post_json("/api/files/token", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

/// A download's status, headers and raw bytes.
struct Download {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Download {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn fetch(client: &Client, path: &str) -> Download {
    let response = client
        .request(Method::GET, path)
        .send()
        .await
        .expect("send");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    Download {
        status,
        headers,
        bytes,
    }
}

/// The names of the entries of a zip archive.
fn entries(archive: &[u8]) -> Vec<String> {
    let zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).expect("a zip archive");
    zip.file_names()
        .map(|name| name.expect("a UTF-8 name").into_owned())
        .collect()
}

fn entry(archive: &[u8], name: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).expect("a zip archive");
    let mut file = zip.by_name(name).expect("the entry");
    let mut out = Vec::new();
    file.read_to_end(&mut out).expect("read the entry");
    out
}

/// A `notes` collection with a title and one file field, and one note with a file.
async fn notes_with_a_file(app: &TestApp, title: &str) -> (String, Value) {
    if app.su.collection("notes").await.0 != 200 {
        app.create_collection(&json!({
            "name": "notes", "type": "base",
            "fields": [{"name": "title", "type": "text"}, {"name": "doc", "type": "file", "maxSelect": 1}],
        }))
        .await;
    }
    let form = Form::new().text("title", title.to_owned()).part(
        "doc",
        Part::bytes(format!("content of {title}").into_bytes()).file_name("doc.txt"),
    );
    let (status, record) = app
        .su
        .send_unchecked(
            app.su
                .request(Method::POST, "/api/collections/notes/records")
                .multipart(form),
        )
        .await
        .pair();
    assert_eq!(status, 200, "{record}");
    (id_of(&record), record)
}

#[tokio::test]
async fn backups_are_created_listed_downloaded_and_deleted() {
    let app = TestApp::spawn().await;
    if app.backend() == Backend::Postgres {
        return;
    }
    let (note_id, note) = notes_with_a_file(&app, "kept").await;
    assert!(backups(&app.su).await.is_empty());

    // Default name: pb_backup_<app name>_<UTC time>.zip.
    let (status, body) = app.su.post_json("/api/backups", &json!({})).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app
        .su
        .post_json("/api/backups", &json!({"name": "my_bk-1.zip"}))
        .await;
    assert_eq!(status, 204, "{body}");
    let list = backups(&app.su).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let names = keys(&list);
    assert!(names.contains(&"my_bk-1.zip".to_owned()), "{names:?}");
    let default = names
        .iter()
        .find(|n| n.as_str() != "my_bk-1.zip")
        .expect("the default");
    let pattern = regex::Regex::new(r"^pb_backup_acme_\d{14}\.zip$").expect("regex");
    assert!(pattern.is_match(default), "{default}");
    for backup in &list {
        assert!(backup["size"].as_u64().expect("size") > 1000, "{backup}");
        assert_eq!(
            backup["modified"].as_str().expect("modified").len(),
            24,
            "{backup}"
        );
    }

    // Name rules, as PocketBase answers.
    let (status, body) = app
        .su
        .post_json("/api/backups", &json!({"name": "my_bk-1.zip"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["name"]["code"], "validation_backup_name_exists",
        "{body}"
    );
    for bad in ["Bad Name.zip", "x.tar", "../x.zip"] {
        let (status, body) = app
            .su
            .post_json("/api/backups", &json!({"name": bad}))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(
            body["data"]["name"]["code"], "validation_match_invalid",
            "{body}"
        );
    }
    let (status, body) = app.su.post_json("/api/backups", &json!({"name": 5})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("An error occurred while loading the submitted data.")
        )
    );

    // Superusers only.
    assert_eq!(app.guest().get("/api/backups").await.0, 401);
    app.su
        .create_record("users", &json!({"email": "u@example.com", "password": "1234567890", "passwordConfirm": "1234567890"}))
        .await;
    let (_, auth) = app
        .guest()
        .auth_with_password("users", "u@example.com", "1234567890")
        .await;
    let user_client = app.with_token(auth["token"].as_str().expect("token"));
    assert_eq!(user_client.get("/api/backups").await.0, 403);
    assert_eq!(
        user_client.post_json("/api/backups", &json!({})).await.0,
        403
    );
    assert_eq!(user_client.delete("/api/backups/my_bk-1.zip").await.0, 403);

    // Downloads need a superuser's file token in the query.
    let guest = app.guest();
    let denied = fetch(&guest, "/api/backups/my_bk-1.zip").await;
    assert_eq!(denied.status, 403);
    let user_token = file_token(&user_client).await;
    let denied = fetch(
        &guest,
        &format!("/api/backups/my_bk-1.zip?token={user_token}"),
    )
    .await;
    assert_eq!(denied.status, 403, "a user's file token is not enough");
    let token = file_token(&app.su).await;
    let missing = fetch(&guest, &format!("/api/backups/nope.zip?token={token}")).await;
    assert_eq!(missing.status, 404);
    let sneaky = fetch(&guest, &format!("/api/backups/..%2Fdata.db?token={token}")).await;
    assert_eq!(sneaky.status, 404);
    let download = fetch(&guest, &format!("/api/backups/my_bk-1.zip?token={token}")).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.header("content-type"), Some("application/zip"));
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=\"my_bk-1.zip\"")
    );
    let archive = download.bytes.clone();
    let names = entries(&archive);
    let stored = format!(
        "storage/{}/{note_id}/{}",
        note["collectionId"].as_str().expect("collection id"),
        note["doc"].as_str().expect("file name")
    );
    for expected in ["data.db", "auxiliary.db", stored.as_str()] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    assert!(entry(&archive, "data.db").starts_with(b"SQLite format 3\0"));
    assert_eq!(entry(&archive, &stored), b"content of kept");
    assert!(!names.iter().any(|n| n.contains(".staging")), "{names:?}");

    // Delete.
    let (status, _) = app.su.delete("/api/backups/my_bk-1.zip").await;
    assert_eq!(status, 204);
    let (status, body) = app.su.delete("/api/backups/my_bk-1.zip").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Invalid or already deleted backup file.");
    assert_eq!(keys(&backups(&app.su).await), vec![default.clone()]);
}

#[tokio::test]
async fn uploads_must_be_zip_archives_with_new_names() {
    let app = TestApp::spawn().await;
    if app.backend() == Backend::Postgres {
        return;
    }
    app.su
        .post_json("/api/backups", &json!({"name": "source.zip"}))
        .await;
    let token = file_token(&app.su).await;
    let archive = fetch(
        &app.guest(),
        &format!("/api/backups/source.zip?token={token}"),
    )
    .await
    .bytes;

    let (status, body) = upload(&app.su, "notes.txt", b"hello".to_vec()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["file"]["code"], "validation_invalid_mime_type",
        "{body}"
    );
    assert_eq!(
        body["data"]["file"]["message"],
        "\"notes.txt\" mime type must be one of: application/zip."
    );
    let form = Form::new().text("other", "1");
    let (status, body) = app
        .su
        .send_unchecked(
            app.su
                .request(Method::POST, "/api/backups/upload")
                .multipart(form),
        )
        .await
        .pair();
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["file"]["code"], "validation_required",
        "{body}"
    );

    let (status, body) = upload(&app.su, "Uploaded Copy.zip", archive.clone()).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = upload(&app.su, "Uploaded Copy.zip", archive.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["file"]["code"], "validation_backup_name_exists",
        "{body}"
    );
    assert_eq!(upload(&app.guest(), "x.zip", archive).await.0, 401);

    let mut names = keys(&backups(&app.su).await);
    names.sort();
    assert_eq!(names, ["Uploaded Copy.zip", "source.zip"]);
    let copy = fetch(
        &app.guest(),
        &format!("/api/backups/Uploaded%20Copy.zip?token={token}"),
    )
    .await;
    assert_eq!(copy.status, 200);
}

#[tokio::test]
async fn a_restore_brings_back_the_records_and_files_of_the_archive() {
    let app = TestApp::spawn().await;
    if app.backend() == Backend::Postgres {
        return;
    }
    let (kept_id, kept) = notes_with_a_file(&app, "before the backup").await;
    app.su
        .post_json("/api/backups", &json!({"name": "snapshot.zip"}))
        .await;
    let (later_id, _) = notes_with_a_file(&app, "after the backup").await;
    assert_eq!(app.su.delete_record("notes", &kept_id).await.status, 204);

    // Archives that cannot be restored are refused before anything happens.
    let (status, body) = app
        .su
        .post_json("/api/backups/nope.zip/restore", &json!({}))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Missing or invalid backup file."))
    );
    let mut no_data = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    no_data
        .start_file("readme.txt", zip::write::SimpleFileOptions::default())
        .expect("entry");
    std::io::Write::write_all(&mut no_data, b"no database here").expect("write");
    let no_data = no_data.finish().expect("zip").into_inner();
    assert_eq!(upload(&app.su, "empty.zip", no_data).await.0, 204);
    let (status, body) = app
        .su
        .post_json("/api/backups/empty.zip/restore", &json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "Missing or invalid backup file. The archive cannot be restored: it has no data.db."
    );
    assert_eq!(app.su.get("/api/health").await.1["data"]["canBackup"], true);

    let (status, body) = app
        .su
        .post_json("/api/backups/snapshot.zip/restore", &json!({}))
        .await;
    assert_eq!(status, 204, "{body}");
    // The server stops by itself shortly after answering; started again, it runs on the
    // restored data.
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir).await;
    let notes = app.su.list_ok("notes", &[]).await;
    let ids: Vec<&str> = notes["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [kept_id.as_str()],
        "the note deleted after the backup is back, the later one gone"
    );
    assert_eq!(app.su.view("notes", &later_id, &[]).await.0, 404);
    let file = fetch(
        &app.guest(),
        &format!(
            "/api/files/notes/{kept_id}/{}",
            kept["doc"].as_str().expect("doc")
        ),
    )
    .await;
    assert_eq!(file.status, 200);
    assert_eq!(&file.bytes[..], b"content of before the backup");
    // The replaced data is kept beside the restored data.
    let replaced: Vec<_> = std::fs::read_dir(app.data_dir())
        .expect("data dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".kb_replaced_by_restore_")
        })
        .collect();
    assert_eq!(replaced.len(), 1);
    assert!(replaced[0].path().join("data.db").is_file());
}

#[tokio::test]
async fn the_binary_restarts_itself_to_apply_a_restore() {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::process::run_ok(
        &["superuser", "upsert", "root@example.com", "1234567890"],
        dir.path(),
    );
    let mut server = ServeProcess::start(dir.path());
    let guest = Client::new(&server.base, None);
    let (_, auth) = guest
        .auth_with_password("_superusers", "root@example.com", "1234567890")
        .await;
    let su = Client::new(
        &server.base,
        Some(auth["token"].as_str().expect("token").to_owned()),
    );
    su.post_json(
        "/api/collections",
        &json!({"name": "marks", "type": "base", "fields": [{"name": "n", "type": "number"}]}),
    )
    .await;
    su.post_json("/api/collections/marks/records", &json!({"n": 1}))
        .await;
    assert_eq!(
        su.post_json("/api/backups", &json!({"name": "one.zip"}))
            .await
            .0,
        204
    );
    su.post_json("/api/collections/marks/records", &json!({"n": 2}))
        .await;
    let pid = server.pid();

    assert_eq!(
        su.post_json("/api/backups/one.zip/restore", &json!({}))
            .await
            .0,
        204
    );
    let line = server
        .line_containing("Keelbase is serving", Duration::from_secs(20))
        .expect("the server starts again");
    assert_eq!(server.pid(), pid, "restarted in place");
    let base = line[line.find("http://").expect("url")..]
        .split_whitespace()
        .next()
        .expect("url")
        .to_owned();
    let guest = Client::new(&base, None);
    let (_, auth) = guest
        .auth_with_password("_superusers", "root@example.com", "1234567890")
        .await;
    let su = Client::new(
        &base,
        Some(auth["token"].as_str().expect("token").to_owned()),
    );
    let (status, list) = su.get("/api/collections/marks/records").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["totalItems"], 1, "{list}");
    assert_eq!(list["items"][0]["n"], 1);
    let _ = server.terminate();
}

#[tokio::test]
async fn postgresql_servers_explain_that_backups_are_the_databases_job() {
    let app = TestApp::spawn().await;
    if app.backend() != Backend::Postgres {
        return;
    }
    let (status, body) = app.su.get("/api/backups").await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("pg_dump"),
        "{body}"
    );
    assert_eq!(app.su.post_json("/api/backups", &json!({})).await.0, 400);
    assert_eq!(
        app.su.get("/api/health").await.1["data"]["canBackup"],
        false
    );
}

#[tokio::test]
async fn scheduled_backups_run_from_the_crons_api_and_only_the_newest_are_kept() {
    let app = TestApp::spawn().await;
    if app.backend() == Backend::Postgres {
        return;
    }
    let (status, body) = app
        .su
        .patch_json("/api/settings", &json!({"backups": {"cron": "61 * * * *"}}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["backups"]["cron"]["code"], "validation_invalid_cron",
        "{body}"
    );
    assert_eq!(
        body["data"]["backups"]["cron"]["message"],
        "Invalid segment value - must be between the min and max of the segment."
    );
    assert_eq!(app.su.get("/api/crons").await, (200, json!([])));
    let (status, body) = app
        .su
        .post_json("/api/crons/__pbAutoBackup__", &json!({}))
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Missing or invalid cron job."))
    );

    let (status, body) = app
        .su
        .patch_json(
            "/api/settings",
            &json!({"backups": {"cron": "0 3 * * *", "cronMaxKeep": 2}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.su.get("/api/crons").await,
        (
            200,
            json!([{"id": "__pbAutoBackup__", "expression": "0 3 * * *"}])
        )
    );
    assert_eq!(app.guest().get("/api/crons").await.0, 401);
    app.su
        .post_json("/api/backups", &json!({"name": "by_hand.zip"}))
        .await;

    let automatic = |list: &[Value]| {
        let mut names: Vec<String> = keys(list)
            .into_iter()
            .filter(|k| k.starts_with("@auto_pb_backup_acme_"))
            .collect();
        names.sort();
        names
    };
    let mut made = Vec::new();
    for run in 1..=3 {
        // Automatic backups are named to the second.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(
            app.su
                .post_json("/api/crons/__pbAutoBackup__", &json!({}))
                .await
                .0,
            204
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let names = automatic(&backups(&app.su).await);
            if let Some(newest) = names.last().filter(|n| !made.contains(*n)) {
                made.push(newest.clone());
                assert_eq!(names.len(), run.min(2), "{names:?}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run {run} made no backup: {names:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let list = backups(&app.su).await;
    assert_eq!(
        automatic(&list),
        made[1..].to_vec(),
        "the oldest automatic backup was deleted"
    );
    assert!(
        keys(&list).contains(&"by_hand.zip".to_owned()),
        "backups made by hand stay"
    );
}

#[tokio::test]
async fn backups_can_be_kept_in_an_s3_bucket() {
    let app = TestApp::spawn().await;
    if app.backend() == Backend::Postgres {
        return;
    }
    let s3_root = tempfile::tempdir().expect("temp dir");
    let endpoint = crate::files::start_s3(s3_root.path(), "kept-backups").await;
    // forcePathStyle false on an IP endpoint: addressed by path all the same.
    let (status, body) = app
        .su
        .patch_json(
            "/api/settings",
            &json!({"backups": {"s3": {"enabled": true, "bucket": "kept-backups", "region": "us-east-1",
                    "endpoint": endpoint, "accessKey": "AKIATEST", "secret": "test-secret",
                    "forcePathStyle": false}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .su
        .post_json("/api/settings/test/s3", &json!({"filesystem": "backups"}))
        .await;
    assert_eq!(status, 204, "{body}");

    assert_eq!(
        app.su
            .post_json("/api/backups", &json!({"name": "in_s3.zip"}))
            .await
            .0,
        204
    );
    assert_eq!(keys(&backups(&app.su).await), ["in_s3.zip"]);
    assert!(
        s3_root.path().join("kept-backups/in_s3.zip").is_file(),
        "stored in the bucket"
    );
    assert!(
        !app.data_dir().join("backups/in_s3.zip").exists(),
        "not on local disk"
    );
    let token = file_token(&app.su).await;
    let download = fetch(
        &app.guest(),
        &format!("/api/backups/in_s3.zip?token={token}"),
    )
    .await;
    assert_eq!(download.status, 200);
    assert!(entries(&download.bytes).contains(&"data.db".to_owned()));

    // A restore from the bucket: fetched, checked, applied at the next start.
    let (note_id, _) = notes_with_a_file(&app, "made after the backup").await;
    let (status, body) = app
        .su
        .post_json("/api/backups/in_s3.zip/restore", &json!({}))
        .await;
    assert_eq!(status, 204, "{body}");
    let app = TestApp::spawn_in(app.stop().await).await;
    assert_eq!(
        app.su.collection("notes").await.0,
        404,
        "{note_id}'s collection came later"
    );

    assert_eq!(app.su.delete("/api/backups/in_s3.zip").await.0, 204);
    assert!(!s3_root.path().join("kept-backups/in_s3.zip").exists());
}
