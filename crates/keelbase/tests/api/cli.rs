//! The `keelbase` binary: `superuser upsert|delete`, `serve` with flags or environment,
//! its log line, and SIGTERM with a request in flight.

use std::net::TcpStream;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::*;

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("keelbase-cli-")
        .tempdir()
        .expect("temp dir")
}

async fn login(base: &str, email: &str, password: &str) -> (u16, Value) {
    Client::new(base, None)
        .auth_with_password("_superusers", email, password)
        .await
}

#[tokio::test]
async fn superuser_upsert_creates_a_superuser_that_can_log_in() {
    let dir = temp_dir();
    let out = run_ok(
        &[
            "superuser",
            "upsert",
            "root@example.com",
            "first-password-1",
        ],
        dir.path(),
    );
    assert!(
        out.contains("Superuser root@example.com saved."),
        "stdout: {out}"
    );
    assert!(dir.path().join("data.db").exists());

    let mut server = ServeProcess::start(dir.path());
    let (status, auth) = login(&server.base, "root@example.com", "first-password-1").await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["record"]["email"], "root@example.com");
    assert_eq!(auth["record"]["collectionId"], SUPERUSERS_ID);
    let token = auth["token"].as_str().unwrap();
    let (status, _) = Client::new(&server.base, Some(token.into()))
        .get("/api/settings")
        .await;
    assert_eq!(status, 200);
    assert!(server.terminate().success());
}

#[tokio::test]
async fn superuser_upsert_again_changes_the_password_and_revokes_old_tokens() {
    let dir = temp_dir();
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
    let (status, auth) = login(&server.base, "root@example.com", "first-password-1").await;
    assert_eq!(status, 200, "{auth}");
    let old_token = auth["token"].as_str().unwrap().to_owned();
    let id = auth["record"]["id"].clone();
    let old = Client::new(&server.base, Some(old_token));
    // Used once, so the server holds it as verified.
    assert_eq!(old.get("/api/settings").await.0, 200);

    // while the server runs, another process changes the password
    let out = run_ok(
        &[
            "superuser",
            "upsert",
            "root@example.com",
            "second-password-2",
        ],
        dir.path(),
    );
    assert!(out.contains("Superuser root@example.com saved."), "{out}");

    // The server did not see that write; it reads the record again within 2 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while old.get("/api/settings").await.0 == 200 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_plain_error(&old.get("/api/settings").await, 401, NEEDS_AUTH);
    assert_plain_error(
        &login(&server.base, "root@example.com", "first-password-1").await,
        400,
        "Failed to authenticate.",
    );
    let (status, auth) = login(&server.base, "root@example.com", "second-password-2").await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["record"]["id"], id, "the same superuser was updated");
    let fresh = Client::new(&server.base, auth["token"].as_str().map(str::to_owned));
    let list = fresh.list_ok("_superusers", &[]).await;
    assert_eq!(
        list["totalItems"], 1,
        "upsert did not add a second superuser"
    );
    assert!(server.terminate().success());
}

#[tokio::test]
async fn superuser_delete_removes_only_that_superuser() {
    let dir = temp_dir();
    run_ok(
        &["superuser", "upsert", "a@example.com", "password-of-a"],
        dir.path(),
    );
    run_ok(
        &["superuser", "upsert", "b@example.com", "password-of-b"],
        dir.path(),
    );
    let out = run_ok(&["superuser", "delete", "a@example.com"], dir.path());
    assert!(out.contains("Superuser a@example.com deleted."), "{out}");
    let out = run_ok(&["superuser", "delete", "a@example.com"], dir.path());
    assert!(out.contains("No superuser a@example.com."), "{out}");

    let mut server = ServeProcess::start(dir.path());
    assert_plain_error(
        &login(&server.base, "a@example.com", "password-of-a").await,
        400,
        "Failed to authenticate.",
    );
    let (status, auth) = login(&server.base, "b@example.com", "password-of-b").await;
    assert_eq!(status, 200, "{auth}");
    let b = Client::new(&server.base, auth["token"].as_str().map(str::to_owned));
    let list = b.list_ok("_superusers", &[]).await;
    assert_eq!(pluck(&list, "email"), [json!("b@example.com")]);
    assert!(server.terminate().success());
}

#[test]
fn superuser_upsert_rejects_invalid_input() {
    let dir = temp_dir();
    let out = run(
        &["superuser", "upsert", "not-an-email", "password-123456"],
        dir.path(),
    );
    assert!(!out.status.success(), "an invalid email is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("email"),
        "the error names the field: {stderr}"
    );

    // a password that is too short
    let out = run(&["superuser", "upsert", "x@example.com", "abc"], dir.path());
    assert!(!out.status.success(), "a 3-character password is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("password"),
        "the error names the field: {stderr}"
    );

    // a missing password is a usage error
    let out = run(&["superuser", "upsert", "x@example.com"], dir.path());
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit with 2");
}

#[tokio::test]
async fn serve_with_flags_logs_its_url_and_exits_cleanly_on_sigterm() {
    let dir = temp_dir();
    let data = dir.path().join("nested").join("pb_data");
    let mut server = ServeProcess::start(&data);
    assert!(
        server.serving_line.contains(&server.base),
        "{}",
        server.serving_line
    );
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "{}",
        server.base
    );
    assert_ne!(server.addr().port(), 0, "the real port is logged, not 0");
    let (status, health) = Client::new(&server.base, None).get("/api/health").await;
    assert_eq!(status, 200, "{health}");
    assert!(
        data.join("data.db").exists(),
        "the data dir was created and holds the database"
    );
    let status = server.terminate();
    assert!(status.success(), "exit status {status}");
    let rest = server.rest_of_output();
    assert!(
        rest.iter().any(|l| l.contains("shutting down")),
        "the shutdown is logged: {rest:#?}"
    );
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "nothing listens any more"
    );
}

#[tokio::test]
async fn serve_reads_keelbase_http_and_keelbase_dir_from_the_environment() {
    let dir = temp_dir();
    let data = dir.path().join("from-env");
    let mut cmd = command();
    cmd.arg("serve")
        .env("KEELBASE_HTTP", "127.0.0.1:0")
        .env("KEELBASE_DIR", &data);
    let mut server = ServeProcess::spawn(cmd);
    assert!(server.serving_line.contains(&server.base));
    assert_eq!(
        Client::new(&server.base, None).get("/api/health").await.0,
        200
    );
    assert!(data.join("data.db").exists(), "KEELBASE_DIR was used");
    assert!(server.terminate().success());

    // a flag wins over the environment
    let flagged = dir.path().join("from-flag");
    let mut cmd = command();
    cmd.args(["serve", "--dir"])
        .arg(&flagged)
        .env("KEELBASE_HTTP", "127.0.0.1:0")
        .env("KEELBASE_DIR", dir.path().join("ignored"));
    let mut server = ServeProcess::spawn(cmd);
    assert!(flagged.join("data.db").exists());
    assert!(!dir.path().join("ignored").exists());
    assert_eq!(server.health(), 200);
    assert!(server.terminate().success());
}

/// The "serving" line is the readiness signal; a SIGTERM sent right after it must already be
/// handled gracefully (exit 0), not kill the process by the default signal action.
#[test]
fn sigterm_right_after_the_serving_line_exits_cleanly() {
    // a race by nature: a few attempts make a regression show up reliably
    for _ in 0..20 {
        let dir = temp_dir();
        let mut server = ServeProcess::start(dir.path());
        let status = server.terminate();
        assert!(
            status.success(),
            "exit status {status} (SIGTERM arrived before the handler was installed)"
        );
    }
}

#[tokio::test]
async fn data_written_through_serve_survives_a_restart() {
    let dir = temp_dir();
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
    let (_, auth) = login(&server.base, "root@example.com", "first-password-1").await;
    let su = Client::new(&server.base, auth["token"].as_str().map(str::to_owned));
    su.create_collection(&json!({"name": "notes", "fields": [{"name": "title", "type": "text"}]}))
        .await;
    let rec = su.create_record("notes", &json!({"title": "kept"})).await;
    let (status, _) = su
        .patch_json("/api/settings", &json!({"meta": {"appName": "Restarted"}}))
        .await;
    assert_eq!(status, 200);
    assert!(server.terminate().success());

    let mut server = ServeProcess::start(dir.path());
    let (_, auth) = login(&server.base, "root@example.com", "first-password-1").await;
    let su = Client::new(&server.base, auth["token"].as_str().map(str::to_owned));
    let got = su.view_ok("notes", rec["id"].as_str().unwrap(), &[]).await;
    assert_eq!(got, rec);
    let (_, settings) = su.get("/api/settings").await;
    assert_eq!(settings["meta"]["appName"], "Restarted");
    assert!(server.terminate().success());
}

/// SIGTERM while a request body is still arriving: the server stops accepting, finishes
/// that request (200, record stored), then exits with success.
#[tokio::test]
async fn sigterm_lets_an_in_flight_request_complete() {
    let dir = temp_dir();
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
    let (_, auth) = login(&server.base, "root@example.com", "first-password-1").await;
    let token = auth["token"].as_str().unwrap().to_owned();
    let su = Client::new(&server.base, Some(token.clone()));
    su.create_collection(&json!({"name": "notes", "fields": [{"name": "title", "type": "text"}]}))
        .await;

    // A JSON body padded with whitespace: 24 MiB, under the 32 MiB limit.
    const TOTAL: usize = 24 << 20;
    const FIRST: usize = 16 << 20;
    let head = br#"{"title":"in flight""#;
    let mut body = Vec::with_capacity(TOTAL);
    body.extend_from_slice(head);
    body.resize(TOTAL - 1, b' ');
    body.push(b'}');

    let mut stream = TcpStream::connect(server.addr()).expect("connect");
    let request = format!(
        "POST /api/collections/notes/records HTTP/1.1\r\nHost: {}\r\nAuthorization: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {TOTAL}\r\n\r\n",
        server.addr()
    );
    write_all(&mut stream, request.as_bytes());
    // Writing 16 MiB only returns once the server has read most of it (socket buffers are a
    // few MiB), so the handler is now reading the body: the request is in flight.
    write_all(&mut stream, &body[..FIRST]);
    server.send_term();
    write_all(&mut stream, &body[FIRST..]);
    let (status, text) = read_response(&mut stream);
    assert_eq!(status, 200, "{text}");
    let created: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(created["title"], "in flight");

    let exit = server.wait();
    assert!(exit.success(), "exit status {exit}");

    // the record was committed
    let mut server = ServeProcess::start(dir.path());
    let su = Client::new(&server.base, Some(token));
    let got = su
        .view_ok("notes", created["id"].as_str().unwrap(), &[])
        .await;
    assert_eq!(got["title"], "in flight");
    assert!(server.terminate().success());
}

#[test]
fn serve_fails_fast_on_bad_addresses_and_directories() {
    let dir = temp_dir();
    // not an address: a usage error
    let out = command()
        .args(["serve", "--http", "nonsense", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    // a port that is already taken: a start-up error, not a hang
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().unwrap().to_string();
    let out = command()
        .args(["serve", "--http", &addr, "--dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success(), "{out:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&addr), "the error names the address: {text}");

    // a data "directory" that is a file
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let out = command()
        .args(["serve", "--http", "127.0.0.1:0", "--dir"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"not a directory",
        "the file is untouched"
    );
}

#[tokio::test]
async fn superuser_delete_refuses_to_remove_the_last_superuser() {
    let dir = temp_dir();
    run_ok(
        &["superuser", "upsert", "only@example.com", "only-password-1"],
        dir.path(),
    );
    let out = run(&["superuser", "delete", "only@example.com"], dir.path());
    assert!(
        !out.status.success(),
        "deleting the only superuser must fail: {out:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("only existing superuser"), "{stderr}");
    let mut server = ServeProcess::start(dir.path());
    let (status, _) = login(&server.base, "only@example.com", "only-password-1").await;
    assert_eq!(status, 200, "the superuser is still there");
    assert!(server.terminate().success());
}
