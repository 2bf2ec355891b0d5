//! Uploads through the records API and batches: multipart file parts with `field`,
//! `field+`, `+field`, names as PocketBase normalizes them, the size/type/count limits,
//! files released by an update deleted with their thumbnails, and nothing left in storage
//! by a write that fails. Checked against what PocketBase 0.40.6 answers.

use std::collections::BTreeSet;
use std::path::PathBuf;

use regex::Regex;
use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::*;

/// A `gallery` collection anyone may use: `one` holds one file of at most 1000 bytes,
/// `many` up to three PNG or text files with a declared thumbnail size.
async fn gallery(app: &TestApp, create_rule: &str) -> String {
    let collection = app
        .create_collection(&json!({
            "name": "gallery",
            "type": "base",
            "listRule": "", "viewRule": "", "createRule": create_rule,
            "updateRule": "", "deleteRule": "",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "one", "type": "file", "maxSelect": 1, "maxSize": 1000},
                {"name": "many", "type": "file", "maxSelect": 3,
                 "mimeTypes": ["image/png", "text/plain"], "thumbs": ["10x10"]},
            ],
        }))
        .await;
    id_of(&collection)
}

fn file(name: &str, content: &[u8]) -> Part {
    Part::bytes(content.to_vec()).file_name(name.to_owned())
}

fn png() -> Vec<u8> {
    let image = image::RgbImage::from_pixel(20, 20, image::Rgb([10, 200, 30]));
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a png");
    out.into_inner()
}

async fn send_form(app: &TestApp, method: Method, path: &str, form: Form) -> (u16, Value) {
    app.send_unchecked(app.guest().request(method, path).multipart(form))
        .await
        .pair()
}

async fn create(app: &TestApp, form: Form) -> (u16, Value) {
    send_form(app, Method::POST, "/api/collections/gallery/records", form).await
}

async fn update(app: &TestApp, id: &str, form: Form) -> (u16, Value) {
    let path = format!("/api/collections/gallery/records/{id}");
    send_form(app, Method::PATCH, &path, form).await
}

/// Every file (not directory) under the record's storage directory, by relative path.
fn stored(app: &TestApp, collection: &str, record: &str) -> BTreeSet<String> {
    let root = app
        .data_dir()
        .join(format!("storage/{collection}/{record}"));
    let mut out = BTreeSet::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let relative = path.strip_prefix(&root).unwrap();
                out.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    out
}

fn staging_is_empty(app: &TestApp) -> bool {
    let staging: PathBuf = app.data_dir().join("storage/.staging");
    std::fs::read_dir(staging).map_or(true, |mut d| d.next().is_none())
}

async fn download(app: &TestApp, collection: &str, record: &str, name: &str) -> (u16, Vec<u8>) {
    let url = app.url(&format!("/api/files/{collection}/{record}/{name}"));
    let response = reqwest::get(url).await.expect("the server answers");
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn names(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        Value::String(s) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn uploads_are_named_stored_and_served() {
    let app = TestApp::spawn().await;
    let c = gallery(&app, "").await;
    let image = png();
    let form = Form::new()
        .text("title", "hello")
        .part("one", file("first.txt", b"first"))
        .part("one", file("The Last One.txt", b"last"))
        .part("many", file("Holiday Photo.PNG", &image))
        .part("many", file("notes", b"plain words"));
    let (status, record) = create(&app, form).await;
    assert_eq!(status, 200, "{record}");
    let id = id_of(&record);
    assert_eq!(record["title"], "hello");
    // A single-file field keeps the last file sent.
    let one = record["one"].as_str().unwrap().to_owned();
    assert!(
        Regex::new(r"^the_last_one_[a-z0-9]{10}\.txt$")
            .unwrap()
            .is_match(&one),
        "{one}"
    );
    let many = names(&record["many"]);
    assert_eq!(many.len(), 2, "{record}");
    assert!(
        Regex::new(r"^holiday_photo_[a-z0-9]{10}\.PNG$")
            .unwrap()
            .is_match(&many[0]),
        "{many:?}"
    );
    // No extension: taken from the content.
    assert!(
        Regex::new(r"^notes_[a-z0-9]{10}\.txt$")
            .unwrap()
            .is_match(&many[1]),
        "{many:?}"
    );
    // Only the files the record holds are stored; the replaced `first.txt` is not.
    let expected: BTreeSet<String> = [one.clone(), many[0].clone(), many[1].clone()].into();
    assert_eq!(stored(&app, &c, &id), expected);
    assert!(staging_is_empty(&app));

    assert_eq!(download(&app, &c, &id, &one).await, (200, b"last".to_vec()));
    assert_eq!(download(&app, &c, &id, &many[0]).await, (200, image));
    assert_eq!(app.view_ok("gallery", &id, &[]).await["one"], json!(one));
}

#[tokio::test]
async fn updates_append_prepend_remove_and_replace_files() {
    let app = TestApp::spawn().await;
    let c = gallery(&app, "").await;
    let form = Form::new()
        .part("one", file("xxx.txt", b"x"))
        .part("many", file("aaa.png", &png()));
    let (status, record) = create(&app, form).await;
    assert_eq!(status, 200, "{record}");
    let id = id_of(&record);
    let x = record["one"].as_str().unwrap().to_owned();
    let a = names(&record["many"]).remove(0);
    // A thumbnail, to see it go with its file.
    let thumb = app.url(&format!("/api/files/{c}/{id}/{a}?thumb=10x10"));
    assert_eq!(reqwest::get(thumb).await.unwrap().status(), 200);
    assert!(stored(&app, &c, &id).contains(&format!("thumbs_{a}/10x10_{a}")));

    let form = Form::new()
        .part("many+", file("ccc.txt", b"c"))
        .part("+many", file("ddd.txt", b"d"));
    let (status, record) = update(&app, &id, form).await;
    assert_eq!(status, 200, "{record}");
    let many = names(&record["many"]);
    assert_eq!(many.len(), 3, "{record}");
    let (d, c_name) = (many[0].clone(), many[2].clone());
    assert!(
        d.starts_with("ddd_") && c_name.starts_with("ccc_"),
        "{many:?}"
    );
    assert_eq!(many[1], a);

    // `many-` releases a file: it is deleted with its thumbnails.
    let (status, record) = app
        .try_update("gallery", &id, &json!({"many-": [a.clone()]}))
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(names(&record["many"]), vec![d.clone(), c_name.clone()]);
    let files = stored(&app, &c, &id);
    assert!(!files.iter().any(|f| f.contains(&a)), "{files:?}");
    assert_eq!(download(&app, &c, &id, &a).await.0, 404);

    // A new file in a single-file field replaces (and deletes) the old one.
    let (status, record) = update(&app, &id, Form::new().part("one", file("yyy.txt", b"y"))).await;
    assert_eq!(status, 200, "{record}");
    let y = record["one"].as_str().unwrap().to_owned();
    assert!(y.starts_with("yyy_"), "{y}");
    assert_eq!(download(&app, &c, &id, &x).await.0, 404);
    assert_eq!(download(&app, &c, &id, &y).await, (200, b"y".to_vec()));

    // Names sent with files under the plain key are kept; the others are released.
    let form = Form::new()
        .text("many", d.clone())
        .part("many", file("eee.txt", b"e"));
    let (status, record) = update(&app, &id, form).await;
    assert_eq!(status, 200, "{record}");
    let many = names(&record["many"]);
    assert_eq!(many.len(), 2);
    assert_eq!(many[0], d);
    assert!(many[1].starts_with("eee_"), "{many:?}");
    assert_eq!(download(&app, &c, &id, &c_name).await.0, 404);

    // Clearing the fields deletes every file.
    let (status, record) = app
        .try_update("gallery", &id, &json!({"one": "", "many": []}))
        .await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(stored(&app, &c, &id), BTreeSet::new());
}

#[tokio::test]
async fn invalid_uploads_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let c = gallery(&app, "title != 'forbidden'").await;
    let failed = |status: u16, body: &Value, field: &str| {
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["message"], "Failed to create record.", "{body}");
        body["data"][field].clone()
    };

    let (status, body) = create(&app, Form::new().part("one", file("big.bin", &[7u8; 1001]))).await;
    assert_eq!(
        failed(status, &body, "one"),
        json!({"code": "validation_file_size_limit",
               "message": "Failed to upload big.bin - the maximum allowed file size is 1000 bytes.",
               "params": {"file": "big.bin", "maxSize": 1000}})
    );

    let (status, body) = create(
        &app,
        Form::new().part("many", file("data.json", b"{\"a\": 1}")),
    )
    .await;
    let error = failed(status, &body, "many");
    assert_eq!(error["code"], "validation_invalid_mime_type");
    let message = error["message"].as_str().unwrap();
    assert!(
        Regex::new(
            r#"^"data_[a-z0-9]{10}\.json" mime type must be one of: image/png, text/plain\.$"#
        )
        .unwrap()
        .is_match(message),
        "{message}"
    );

    let mut four = Form::new();
    for n in 0..4 {
        four = four.part("many", file(&format!("f{n}.txt"), b"t"));
    }
    let (status, body) = create(&app, four).await;
    assert_eq!(
        failed(status, &body, "many"),
        json!({"code": "validation_too_many_files", "message": "The maximum allowed files is 3.",
               "params": {"maxSelect": 3}})
    );

    // Valid files, but the create rule refuses the record: the stored files go again.
    let form = Form::new()
        .text("title", "forbidden")
        .part("many", file("ok.txt", b"fine"));
    let (status, body) = create(&app, form).await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!("Failed to create record."))
    );

    assert_eq!(app.count("gallery").await, 0);
    let collection_dir = app.data_dir().join(format!("storage/{c}"));
    let left: Vec<_> = std::fs::read_dir(&collection_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in storage: {left:?}");
    assert!(staging_is_empty(&app));

    // A failed update keeps the record's files and stores none of the new ones.
    let (_, record) = create(&app, Form::new().part("one", file("keep.txt", b"k"))).await;
    let id = id_of(&record);
    let before = stored(&app, &c, &id);
    let (status, body) = update(
        &app,
        &id,
        Form::new().part("one", file("big.bin", &[1u8; 1001])),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["data"]["one"]["code"], "validation_file_size_limit");
    assert_eq!(stored(&app, &c, &id), before);

    // An id that is no plain name can hold no files (nor is it valid).
    let form = Form::new()
        .text("id", "ab/cdefghijklmn")
        .part("one", file("f.txt", b"f"));
    let (status, body) = create(&app, form).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["data"],
        json!({"id": {"code": "validation_invalid_format", "message": "Invalid value format."}})
    );
    let (status, _) = update(&app, "ab%2Fc", Form::new().part("one", file("f.txt", b"f"))).await;
    assert_eq!(status, 404);
    assert!(staging_is_empty(&app));

    // Parts for fields that are not file fields are ignored.
    let form = Form::new()
        .part("title", file("t.txt", b"t"))
        .part("nope", file("n.txt", b"n"));
    let (status, record) = create(&app, form).await;
    assert_eq!(
        (status, record["title"].clone()),
        (200, json!("")),
        "{record}"
    );
    assert_eq!(stored(&app, &c, &id_of(&record)), BTreeSet::new());
}

#[tokio::test]
async fn batches_carry_files_per_request() {
    let app = TestApp::spawn().await;
    let c = gallery(&app, "title != 'forbidden'").await;
    crate::batch::enable(&app, json!({"maxRequests": 10})).await;
    let (_, existing) = create(&app, Form::new().part("one", file("old.txt", b"old"))).await;
    let existing_id = id_of(&existing);
    let old = existing["one"].as_str().unwrap().to_owned();

    let payload = json!({"requests": [
        {"method": "POST", "url": "/api/collections/gallery/records", "body": {"title": "new"}},
        {"method": "PATCH", "url": format!("/api/collections/gallery/records/{existing_id}"), "body": {}},
    ]});
    let form = Form::new()
        .text("@jsonPayload", payload.to_string())
        .part("requests.0.many", file("ppp.png", &png()))
        .part("requests.1.one", file("fresh.txt", b"fresh"));
    let (status, body) = send_form(&app, Method::POST, "/api/batch", form).await;
    assert_eq!(status, 200, "{body}");
    let created = &body[0]["body"];
    let created_id = id_of(created);
    let p = names(&created["many"]).remove(0);
    // Named twice on the way in, as PocketBase names a batch's files.
    assert!(
        Regex::new(r"^ppp_[a-z0-9]{10}_[a-z0-9]{10}\.png$")
            .unwrap()
            .is_match(&p),
        "{created}"
    );
    assert_eq!(stored(&app, &c, &created_id), [p].into());
    let fresh = body[1]["body"]["one"].as_str().unwrap().to_owned();
    assert!(fresh.starts_with("fresh_"), "{body}");
    assert_eq!(stored(&app, &c, &existing_id), [fresh.clone()].into());
    assert_eq!(download(&app, &c, &existing_id, &old).await.0, 404);

    // A batch that fails leaves nothing of its files.
    let payload = json!({"requests": [
        {"method": "PATCH", "url": format!("/api/collections/gallery/records/{existing_id}"), "body": {}},
        {"method": "POST", "url": "/api/collections/gallery/records", "body": {"title": "forbidden"}},
    ]});
    let form = Form::new()
        .text("@jsonPayload", payload.to_string())
        .part("requests.0.one", file("never.txt", b"never"))
        .part("requests.1.many", file("q.txt", b"q"));
    let (status, body) = send_form(&app, Method::POST, "/api/batch", form).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(stored(&app, &c, &existing_id), [fresh].into());
    assert_eq!(app.count("gallery").await, 2);
    assert!(staging_is_empty(&app));
}

/// A 1 GiB upload to the real binary streams through to storage: the server's peak memory
/// grows by a small fraction of the file.
#[tokio::test]
async fn a_one_gib_upload_streams_to_storage() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SIZE: usize = 1 << 30;
    const CHUNK: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    crate::process::run_ok(&["superuser", "upsert", SU_EMAIL, SU_PASSWORD], dir.path());
    let server = crate::process::ServeProcess::start(dir.path());
    let http = reqwest::Client::new();
    let auth: Value = http
        .post(format!(
            "{}/api/collections/_superusers/auth-with-password",
            server.base
        ))
        .json(&json!({"identity": SU_EMAIL, "password": SU_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = auth["token"].as_str().expect("a token").to_owned();
    let created = http
        .post(format!("{}/api/collections", server.base))
        .header("Authorization", &token)
        .json(&json!({"name": "big", "type": "base", "createRule": "",
            "fields": [{"name": "blob", "type": "file", "maxSelect": 1, "maxSize": 2u64 << 30}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let collection_id = id_of(&created.json::<Value>().await.unwrap());
    let before = crate::process::memory_kib(server.pid(), "VmRSS");

    // Sent by hand over a socket, so the client holds one chunk at a time too.
    let head = "--XyZ\r\nContent-Disposition: form-data; name=\"blob\"; filename=\"big.bin\"\r\n\
        Content-Type: application/octet-stream\r\n\r\n";
    let tail = "\r\n--XyZ--\r\n";
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "POST /api/collections/big/records HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{head}",
        server.addr(),
        head.len() + SIZE + tail.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let chunk = vec![b'k'; CHUNK];
    for _ in 0..SIZE / CHUNK {
        stream.write_all(&chunk).await.unwrap();
    }
    stream.write_all(tail.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let peak = crate::process::memory_kib(server.pid(), "VmHWM");
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!("1 GiB upload: RSS {before} KiB before, peak {peak} KiB (+{growth_mib} MiB)");
    assert!(growth_mib < 64, "peak memory grew by {growth_mib} MiB");

    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let record: Value = serde_json::from_str(body.trim()).expect("the record");
    let name = record["blob"].as_str().unwrap();
    let stored = dir
        .path()
        .join(format!("storage/{collection_id}/{}/{name}", id_of(&record)));
    assert_eq!(std::fs::metadata(stored).unwrap().len(), SIZE as u64);
}

/// With S3 configured, uploads go to the bucket and released files leave it.
#[tokio::test]
async fn uploads_go_to_s3_when_configured() {
    let app = TestApp::spawn().await;
    let s3_root = tempfile::TempDir::new().unwrap();
    crate::files::use_s3(&app, s3_root.path()).await;
    let c = gallery(&app, "").await;
    let (status, record) = create(&app, Form::new().part("one", file("first.txt", b"1st"))).await;
    assert_eq!(status, 200, "{record}");
    let id = id_of(&record);
    let first = record["one"].as_str().unwrap().to_owned();
    let bucket = s3_root.path().join("files");
    assert_eq!(
        std::fs::read(bucket.join(format!("{c}/{id}/{first}"))).unwrap(),
        b"1st"
    );
    assert_eq!(
        stored(&app, &c, &id),
        BTreeSet::new(),
        "nothing on local disk"
    );
    assert_eq!(
        download(&app, &c, &id, &first).await,
        (200, b"1st".to_vec())
    );

    let (status, record) = update(
        &app,
        &id,
        Form::new().part("one", file("second.txt", b"2nd")),
    )
    .await;
    assert_eq!(status, 200, "{record}");
    let second = record["one"].as_str().unwrap().to_owned();
    assert!(bucket.join(format!("{c}/{id}/{second}")).is_file());
    assert!(!bucket.join(format!("{c}/{id}/{first}")).exists());
    assert!(staging_is_empty(&app));
}
