//! File downloads (`/api/files/…`), file tokens and the S3 settings test, against what
//! PocketBase 0.40.6 answers. Files with fixed names are put into storage through
//! `App::files()` and the record's file fields set to those names in the database, so each
//! test knows its names (uploads, which get random names, are tested in `uploads`).

use std::io::Cursor;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::*;

/// A raw answer with the body as bytes.
struct Raw {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn dims(&self) -> (u32, u32) {
        let image = image::load_from_memory(&self.body).expect("an image");
        (image.width(), image.height())
    }
}

async fn fetch(client: &Client, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut request = client.request(Method::GET, path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("read the body").to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 7])
    });
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode a png");
    out.into_inner()
}

const IMG: &str = "img_abcdefghij.png";
const PAGE: &str = "page_abcdefghij.html";
const SVG: &str = "pic_abcdefghij.svg";
const CSS: &str = "style_abcdefghij.css";
const TXT: &str = "notes_abcdefghij.txt";
const BIN: &str = "blob_abcdefghij.bin";
const SECRET: &str = "secret_abcdefghij.png";

/// A `docs` collection with a public file field (thumbs declared) and a protected one, and
/// a record holding files of several kinds. Returns (collection id, record id).
async fn setup(app: &TestApp, view_rule: Value) -> (String, String) {
    let collection = app
        .create_collection(&json!({
            "name": "docs",
            "type": "base",
            "listRule": "",
            "viewRule": view_rule,
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "file", "type": "file", "maxSelect": 10, "maxSize": 10_000_000,
                 "thumbs": ["50x30", "50x30t", "50x30b", "50x30f", "0x20", "20x0"]},
                {"name": "secret", "type": "file", "maxSelect": 1, "protected": true},
            ],
        }))
        .await;
    let collection_id = id_of(&collection);
    let record = app.create_record("docs", &json!({"title": "x"})).await;
    let record_id = id_of(&record);
    set_files(
        app,
        &record_id,
        &json!([IMG, PAGE, SVG, CSS, TXT, BIN]),
        SECRET,
    );
    let record = app.view_ok("docs", &record_id, &[]).await;
    assert_eq!(
        record["file"],
        json!([IMG, PAGE, SVG, CSS, TXT, BIN]),
        "{record}"
    );
    let files = app.app.files();
    let key = |name: &str| kb_files::file_key(&collection_id, &record_id, name);
    let binary: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
    files.put_bytes(&key(IMG), png(200, 100)).await.unwrap();
    files
        .put_bytes(&key(PAGE), "<html><script>alert(1)</script></html>")
        .await
        .unwrap();
    files
        .put_bytes(
            &key(SVG),
            "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
        )
        .await
        .unwrap();
    files.put_bytes(&key(CSS), "body{}").await.unwrap();
    files
        .put_bytes(&key(TXT), "hello world text\n")
        .await
        .unwrap();
    files.put_bytes(&key(BIN), binary).await.unwrap();
    files.put_bytes(&key(SECRET), png(40, 40)).await.unwrap();
    (collection_id, record_id)
}

/// Write the file fields of a `docs` record straight into the database.
fn set_files(app: &TestApp, record_id: &str, files: &Value, secret: &str) {
    let changed = app.db().execute(
        "UPDATE docs SET file = $1, secret = $2 WHERE id = $3",
        &[&files.to_string(), secret, record_id],
    );
    assert_eq!(changed, 1);
}

fn path(collection: &str, record: &str, name: &str) -> String {
    format!("/api/files/{collection}/{record}/{name}")
}

#[tokio::test]
async fn files_are_served_with_safe_headers_and_sniffed_types() {
    let app = TestApp::spawn().await;
    let (c, r) = setup(&app, json!("")).await;
    let guest = app.guest();
    let cases = [
        (IMG, "image/png", "inline"),
        (PAGE, "text/html; charset=utf-8", "attachment"),
        (SVG, "image/svg+xml", "attachment"),
        (CSS, "text/css", "attachment"),
        (TXT, "text/plain; charset=utf-8", "attachment"),
        (BIN, "application/octet-stream", "attachment"),
    ];
    for (name, content_type, disposition) in cases {
        // By collection id and by name alike.
        for collection in [c.as_str(), "docs"] {
            let resp = fetch(&guest, &path(collection, &r, name), &[]).await;
            assert_eq!(resp.status, 200, "{name}");
            assert_eq!(resp.header("content-type"), content_type, "{name}");
            assert_eq!(
                resp.header("content-disposition"),
                format!("{disposition}; filename=\"{name}\""),
                "{name}"
            );
            assert_eq!(
                resp.header("content-security-policy"),
                "default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
            );
            assert_eq!(
                resp.header("cache-control"),
                "max-age=2592000, stale-while-revalidate=86400"
            );
            assert_eq!(resp.header("accept-ranges"), "bytes");
            assert_eq!(resp.header("x-content-type-options"), "nosniff");
            assert!(resp.headers.get("x-frame-options").is_none(), "{name}");
            assert!(resp.header("last-modified").ends_with(" GMT"), "{name}");
            assert!(resp.header("etag").starts_with('"'), "{name}");
            assert_eq!(resp.header("content-length"), resp.body.len().to_string());
        }
    }
    let image = fetch(&guest, &path(&c, &r, IMG), &[]).await;
    assert_eq!(image.body, png(200, 100));
    // download=<any Go truth> forces an attachment; anything else does not.
    for (flag, disposition) in [
        ("1", "attachment"),
        ("t", "attachment"),
        ("true", "attachment"),
        ("0", "inline"),
        ("yes", "inline"),
    ] {
        let resp = fetch(
            &guest,
            &format!("{}?download={flag}", path(&c, &r, IMG)),
            &[],
        )
        .await;
        assert_eq!(
            resp.header("content-disposition"),
            format!("{disposition}; filename=\"{IMG}\""),
            "{flag}"
        );
    }
    // HEAD answers the headers alone.
    let head = guest
        .send(guest.request(Method::HEAD, &path(&c, &r, IMG)))
        .await;
    assert_eq!(
        (head.status, head.header("content-type")),
        (200, Some("image/png"))
    );
    assert!(head.text.is_empty());
}

#[tokio::test]
async fn unknown_collection_record_or_file_is_not_found() {
    let app = TestApp::spawn().await;
    let (c, r) = setup(&app, json!("")).await;
    let guest = app.guest();
    let resp = guest.get(&path("nope", &r, IMG)).await;
    assert_eq!(
        resp,
        (
            404,
            plain_error(404, "Missing or invalid collection context.")
        )
    );
    for wrong in [
        path(&c, "xxxxxxxxxxxxxxx", IMG),
        path(&c, &r, "other_abcdefghij.png"),
        path(&c, &r, "..%2F..%2Fdata.db"),
        path(&c, &r, &format!("x%2F..%2F{IMG}")),
    ] {
        assert_eq!(
            guest.get(&wrong).await,
            (404, plain_error(404, NOT_FOUND)),
            "{wrong}"
        );
    }
    // Dot segments never reach a file (the client or the router resolves them first).
    let dots = fetch(&guest, &path(&c, &r, "%2e%2e"), &[]).await;
    assert_eq!(dots.status, 404);
    // A name the record holds whose file is missing from storage.
    set_files(&app, &r, &json!([IMG, "gone_abcdefghij.png"]), SECRET);
    assert_eq!(
        guest.get(&path(&c, &r, "gone_abcdefghij.png")).await,
        (404, plain_error(404, NOT_FOUND))
    );
}

#[tokio::test]
async fn ranges_etags_and_conditional_requests() {
    let app = TestApp::spawn().await;
    let (c, r) = setup(&app, json!("")).await;
    let guest = app.guest();
    let url = path(&c, &r, BIN);
    let full = fetch(&guest, &url, &[]).await;
    assert_eq!(full.body.len(), 5000);

    let part = fetch(&guest, &url, &[("Range", "bytes=10-19")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), "bytes 10-19/5000");
    assert_eq!(part.header("content-length"), "10");
    assert_eq!(part.body, full.body[10..20]);
    let tail = fetch(&guest, &url, &[("Range", "bytes=-10")]).await;
    assert_eq!(
        (tail.status, tail.header("content-range")),
        (206, "bytes 4990-4999/5000")
    );
    assert_eq!(tail.body, full.body[4990..]);
    let open = fetch(&guest, &url, &[("Range", "bytes=4000-")]).await;
    assert_eq!((open.status, open.body.len()), (206, 1000));

    let beyond = fetch(&guest, &url, &[("Range", "bytes=6000-")]).await;
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), "bytes */5000");
    // Several ranges: the whole file.
    let several = fetch(&guest, &url, &[("Range", "bytes=0-1,5-6")]).await;
    assert_eq!((several.status, several.body.len()), (200, 5000));

    let etag = full.header("etag").to_owned();
    let cached = fetch(&guest, &url, &[("If-None-Match", &etag)]).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag"), etag);
    let changed = fetch(&guest, &url, &[("If-None-Match", "\"other\"")]).await;
    assert_eq!(changed.status, 200);
    let modified = full.header("last-modified").to_owned();
    let since = fetch(&guest, &url, &[("If-Modified-Since", &modified)]).await;
    assert_eq!(since.status, 304);
    let before = fetch(
        &guest,
        &url,
        &[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")],
    )
    .await;
    assert_eq!(before.status, 200);
    // If-Range with a stale validator: the whole file.
    let stale = fetch(
        &guest,
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", "\"stale\"")],
    )
    .await;
    assert_eq!((stale.status, stale.body.len()), (200, 5000));
    let fresh = fetch(&guest, &url, &[("Range", "bytes=0-9"), ("If-Range", &etag)]).await;
    assert_eq!((fresh.status, fresh.body.len()), (206, 10));
}

#[tokio::test]
async fn thumbnails_in_declared_sizes() {
    let app = TestApp::spawn().await;
    let (c, r) = setup(&app, json!("")).await;
    let guest = app.guest();
    // Sizes as PocketBase 0.40.6 makes them from a 200×100 original.
    for (thumb, dims) in [
        ("50x30", (50, 30)),
        ("50x30t", (50, 30)),
        ("50x30b", (50, 30)),
        ("50x30f", (50, 25)),
        ("0x20", (40, 20)),
        ("20x0", (20, 10)),
        ("100x100", (100, 100)),
    ] {
        let resp = fetch(&guest, &format!("{}?thumb={thumb}", path(&c, &r, IMG)), &[]).await;
        assert_eq!(resp.status, 200, "{thumb}");
        assert_eq!(resp.dims(), dims, "{thumb}");
        assert_eq!(resp.header("content-type"), "image/png");
        assert_eq!(
            resp.header("content-disposition"),
            format!("inline; filename=\"{thumb}_{IMG}\"")
        );
        // Stored beside the original, in PocketBase's layout.
        let key = kb_files::thumb_key(&c, &r, IMG, thumb);
        assert!(app.app.files().exists(&key).await.unwrap(), "{key}");
        assert!(
            app.data_dir()
                .join(format!("storage/{c}/{r}/thumbs_{IMG}/{thumb}_{IMG}"))
                .is_file()
        );
    }
    let made = app.app.files().thumbnails_made();
    // Served from storage the second time.
    let again = fetch(&guest, &format!("{}?thumb=50x30", path(&c, &r, IMG)), &[]).await;
    assert_eq!(again.dims(), (50, 30));
    assert_eq!(app.app.files().thumbnails_made(), made);
    // Undeclared or invalid sizes, and non-images: the original, silently.
    for thumb in ["10x10", "abc", "0x0", "50x30x"] {
        let resp = fetch(&guest, &format!("{}?thumb={thumb}", path(&c, &r, IMG)), &[]).await;
        assert_eq!((resp.status, resp.dims()), (200, (200, 100)), "{thumb}");
        assert_eq!(
            resp.header("content-disposition"),
            format!("inline; filename=\"{IMG}\"")
        );
    }
    let page = fetch(
        &guest,
        &format!("{}?thumb=100x100", path(&c, &r, PAGE)),
        &[],
    )
    .await;
    assert_eq!(
        page.header("content-disposition"),
        format!("attachment; filename=\"{PAGE}\"")
    );
    assert_eq!(app.app.files().thumbnails_made(), made);
}

#[tokio::test]
async fn protected_files_need_a_file_token_and_the_view_rule() {
    let app = TestApp::spawn().await;
    let rule = json!("@request.auth.id != \"\" && @request.context = \"protectedFile\"");
    let (c, r) = setup(&app, rule).await;
    let guest = app.guest();
    let secret = path(&c, &r, SECRET);
    // Guests, and even a superuser's Authorization header: not found.
    assert_eq!(guest.get(&secret).await, (404, plain_error(404, NOT_FOUND)));
    assert_eq!(fetch(&app.su, &secret, &[]).await.status, 404);
    // Unprotected files of the same record stay public whatever the view rule says.
    assert_eq!(fetch(&guest, &path(&c, &r, IMG), &[]).await.status, 200);

    assert_eq!(
        guest.post_json("/api/files/token", &json!({})).await,
        (401, plain_error(401, NEEDS_AUTH))
    );
    let (status, body) = app.su.post_json("/api/files/token", &json!({})).await;
    assert_eq!(status, 200, "{body}");
    let su_token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(sorted_keys(&body), ["token"]);
    let claims = jwt_claims(&su_token);
    assert_eq!(claims["type"], "file");
    assert_eq!(claims["collectionId"], SUPERUSERS_ID);
    let lifetime = claims["exp"].as_i64().unwrap() - jiff::Timestamp::now().as_second();
    assert!((170..=180).contains(&lifetime), "{lifetime}");
    assert_eq!(
        fetch(&guest, &format!("{secret}?token={su_token}"), &[])
            .await
            .status,
        200
    );

    // A user's file token passes the rule (context protectedFile); thumbs too.
    app.create_record(
        "users",
        &json!({"email": "u@example.com", "password": "pass123456", "passwordConfirm": "pass123456"}),
    )
    .await;
    let (_, auth) = guest
        .auth_with_password("users", "u@example.com", "pass123456")
        .await;
    let user = app.with_token(auth["token"].as_str().unwrap());
    let (_, body) = user.post_json("/api/files/token", &json!({})).await;
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        fetch(&guest, &format!("{secret}?token={token}"), &[])
            .await
            .status,
        200
    );
    let thumb = fetch(
        &guest,
        &format!("{secret}?token={token}&thumb=100x100"),
        &[],
    )
    .await;
    assert_eq!((thumb.status, thumb.dims()), (200, (100, 100)));
    // The auth token itself, or garbage, is not a file token.
    let auth_token = auth["token"].as_str().unwrap();
    for wrong in [auth_token, "garbage", ""] {
        assert_eq!(
            fetch(&guest, &format!("{secret}?token={wrong}"), &[])
                .await
                .status,
            404,
            "{wrong}"
        );
    }
    // Once the rule shuts users out, their token no longer helps.
    app.update_collection(
        "docs",
        &json!({"viewRule": "@request.auth.collectionName = '_superusers'"}),
    )
    .await;
    assert_eq!(
        fetch(&guest, &format!("{secret}?token={token}"), &[])
            .await
            .status,
        404
    );
    assert_eq!(
        fetch(&guest, &format!("{secret}?token={su_token}"), &[])
            .await
            .status,
        200
    );
}

fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64_url(payload);
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn base64_url(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let Some(value) = ALPHABET.iter().position(|&a| a == c) else {
            continue;
        };
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[tokio::test]
async fn files_go_with_their_record() {
    let app = TestApp::spawn().await;
    let (c, r) = setup(&app, json!("")).await;
    let guest = app.guest();
    assert_eq!(
        fetch(&guest, &format!("{}?thumb=50x30", path(&c, &r, IMG)), &[])
            .await
            .status,
        200
    );
    let dir = app.data_dir().join(format!("storage/{c}/{r}"));
    assert!(dir.join(format!("thumbs_{IMG}")).is_dir());
    assert_eq!(app.delete_record("docs", &r).await.status, 204);
    // Deleted in the background after the commit.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while dir.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{dir:?} still exists"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !app.app
            .files()
            .exists(&kb_files::file_key(&c, &r, IMG))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn files_go_with_their_collection() {
    let app = TestApp::spawn().await;
    let (c, r) = setup(&app, json!("")).await;
    let key = kb_files::file_key(&c, &r, IMG);
    assert!(app.app.files().exists(&key).await.unwrap());
    assert_eq!(app.delete_collection("docs").await.status, 204);
    assert!(!app.app.files().exists(&key).await.unwrap());
    assert!(!app.data_dir().join(format!("storage/{c}")).exists());
}

#[tokio::test]
async fn testing_the_s3_settings() {
    let app = TestApp::spawn().await;
    let url = "/api/settings/test/s3";
    assert_eq!(
        app.guest()
            .post_json(url, &json!({"filesystem": "storage"}))
            .await,
        (401, plain_error(401, NEEDS_AUTH))
    );
    let failed = "Failed to test the S3 filesystem.";
    let (status, body) = app.post_json(url, &json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], failed);
    assert_eq!(body["data"]["filesystem"]["code"], "validation_required");
    let (_, body) = app.post_json(url, &json!({"filesystem": "nope"})).await;
    assert_eq!(body["data"]["filesystem"]["code"], "validation_in_invalid");
    for filesystem in ["storage", "backups"] {
        assert_eq!(
            app.post_json(url, &json!({"filesystem": filesystem})).await,
            (
                400,
                plain_error(
                    400,
                    "Failed to test the S3 filesystem. Raw error: \nS3 storage filesystem is not enabled."
                )
            )
        );
    }
    // An unreachable endpoint: the client's error, after the same prefix.
    let (status, _) = app
        .patch_json(
            "/api/settings",
            &json!({"s3": {"enabled": true, "bucket": "b", "region": "r", "endpoint": "http://127.0.0.1:1",
                           "accessKey": "a", "secret": "s", "forcePathStyle": true}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.post_json(url, &json!({"filesystem": "storage"})).await;
    assert_eq!(status, 400);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Failed to test the S3 filesystem. Raw error: \nfailed to upload a test file"
        ),
        "{message}"
    );
    // Virtual-hosted style on an IP endpoint cannot work (the bucket would be a subdomain
    // of an address): it is addressed by path instead, never a panic and a 500.
    let (status, _) = app
        .patch_json(
            "/api/settings",
            &json!({"backups": {"s3": {"enabled": true, "bucket": "b", "region": "r",
                    "endpoint": "http://127.0.0.1:1", "accessKey": "a", "secret": "s",
                    "forcePathStyle": false}}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app.post_json(url, &json!({"filesystem": "backups"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("failed to upload a test file"),
        "{body}"
    );
}

/// An S3-compatible server (s3s-fs over `root`) on a free port; returns its endpoint.
/// Store the app's files in bucket `files` of a local S3 server keeping its data in `root`.
pub(crate) async fn use_s3(app: &TestApp, root: &std::path::Path) {
    let endpoint = start_s3(root, "files").await;
    let (status, body) = app
        .patch_json(
            "/api/settings",
            &json!({"s3": {"enabled": true, "bucket": "files", "region": "us-east-1",
                           "endpoint": endpoint, "accessKey": "AKIATEST",
                           "secret": "test-secret", "forcePathStyle": true}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

pub(crate) async fn start_s3(root: &std::path::Path, bucket: &str) -> String {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    std::fs::create_dir_all(root.join(bucket)).unwrap();
    let mut builder = s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root).unwrap());
    builder.set_auth(s3s::auth::SimpleAuth::from_single(
        "AKIATEST",
        "test-secret",
    ));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let service = service.clone();
            tokio::spawn(async move {
                let _ = Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn files_on_s3_once_the_settings_say_so() {
    let app = TestApp::spawn().await;
    let s3_root = tempfile::TempDir::new().unwrap();
    use_s3(&app, s3_root.path()).await;
    let (status, body) = app
        .post_json("/api/settings/test/s3", &json!({"filesystem": "storage"}))
        .await;
    assert_eq!(status, 204, "{body}");

    let (c, r) = setup(&app, json!("")).await;
    let bucket = s3_root.path().join("files");
    assert!(bucket.join(format!("{c}/{r}/{IMG}")).is_file());
    assert!(!app.data_dir().join(format!("storage/{c}")).exists());
    let guest = app.guest();
    let image = fetch(&guest, &path(&c, &r, IMG), &[]).await;
    assert_eq!(
        (image.status, image.header("content-type")),
        (200, "image/png")
    );
    assert_eq!(image.body, png(200, 100));
    let part = fetch(&guest, &path(&c, &r, BIN), &[("Range", "bytes=100-199")]).await;
    assert_eq!((part.status, part.body.len()), (206, 100));
    let etag = part.header("etag").to_owned();
    assert_eq!(
        fetch(&guest, &path(&c, &r, BIN), &[("If-None-Match", &etag)])
            .await
            .status,
        304
    );
    let thumb = fetch(&guest, &format!("{}?thumb=50x30f", path(&c, &r, IMG)), &[]).await;
    assert_eq!(thumb.dims(), (50, 25));
    assert!(
        bucket
            .join(format!("{c}/{r}/thumbs_{IMG}/50x30f_{IMG}"))
            .is_file()
    );

    assert_eq!(app.delete_record("docs", &r).await.status, 204);
    // The cleanup runs after the delete's answer: the file first, then its thumbnails.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let key = kb_files::file_key(&c, &r, IMG);
    let thumb_key = kb_files::thumb_key(&c, &r, IMG, "50x30f");
    for key in [key, thumb_key] {
        while app.app.files().exists(&key).await.unwrap() {
            assert!(tokio::time::Instant::now() < deadline, "{key} still on S3");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
