//! Health, default headers, CORS, routing fallbacks and graceful shutdown of the library server.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn health_as_guest_has_empty_data() {
    let app = TestApp::spawn().await;
    let resp = app.guest().get("/api/health").await;
    assert_eq!(
        resp,
        (
            200,
            json!({"message": "API is healthy.", "code": 200, "data": {}})
        )
    );
    // an invalid token is silently ignored on a public endpoint: still the guest shape
    let resp = app
        .with_token("garbage.token.value")
        .get("/api/health")
        .await;
    assert_eq!(resp.0, 200);
    assert_eq!(resp.1["data"], json!({}));
}

#[tokio::test]
async fn health_as_superuser_reports_backup_and_ip() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/health").await;
    assert_eq!(status, 200);
    // Backups copy SQLite files; a PostgreSQL server has none (see backups.rs).
    let can_backup = app.backend() == Backend::Sqlite;
    assert_eq!(
        body,
        json!({
            "message": "API is healthy.",
            "code": 200,
            "data": {"canBackup": can_backup, "realIP": "127.0.0.1", "possibleProxyHeader": ""},
        })
    );
}

#[tokio::test]
async fn head_health_is_200_with_an_empty_body() {
    let app = TestApp::spawn().await;
    let resp = app.guest().raw(Method::HEAD, "/api/health").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text, "");
}

#[tokio::test]
async fn default_headers_on_every_api_response() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    for (path, status) in [
        ("/api/health", 200),
        ("/api/collections/_superusers/records", 403),
        ("/api/settings", 401),
        ("/api/nope", 404),
    ] {
        let resp = guest.raw(Method::GET, path).await;
        assert_eq!(resp.status, status, "{path}");
        assert_eq!(
            resp.header("content-type"),
            Some("application/json"),
            "{path}"
        );
        assert_eq!(
            resp.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(resp.header("x-frame-options"), Some("SAMEORIGIN"), "{path}");
        assert_eq!(
            resp.header("x-xss-protection"),
            Some("1; mode=block"),
            "{path}"
        );
        assert_eq!(
            resp.header("cross-origin-opener-policy"),
            Some("same-origin"),
            "{path}"
        );
        assert!(
            resp.header_all("vary").iter().any(|v| v.contains("Origin")),
            "{path}: vary {:?}",
            resp.header_all("vary")
        );
        assert_eq!(
            resp.header("access-control-allow-origin"),
            None,
            "{path}: no CORS header without Origin"
        );
    }
}

#[tokio::test]
async fn simple_cors_request_gets_allow_origin_only_with_origin() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    let with = guest
        .send(
            guest
                .request(Method::GET, "/api/health")
                .header("Origin", "http://example.test"),
        )
        .await;
    assert_eq!(with.status, 200);
    assert_eq!(with.header("access-control-allow-origin"), Some("*"));
    let without = guest.raw(Method::GET, "/api/health").await;
    assert_eq!(without.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn cors_preflight_answers_204_with_allow_headers() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    let resp = guest
        .send(
            guest
                .request(Method::OPTIONS, "/api/collections/anything/records")
                .header("Origin", "http://example.test")
                .header("Access-Control-Request-Method", "PATCH")
                .header(
                    "Access-Control-Request-Headers",
                    "content-type,authorization",
                ),
        )
        .await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.text, "");
    assert_eq!(resp.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        resp.header("access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE")
    );
    assert_eq!(
        resp.header("access-control-allow-headers"),
        Some("content-type,authorization")
    );
    let mut vary = resp.header_all("vary");
    vary.sort();
    assert_eq!(
        vary,
        [
            "Access-Control-Request-Headers",
            "Access-Control-Request-Method",
            "Origin"
        ]
    );
    // a preflight carries none of the security headers
    assert_eq!(resp.header("x-frame-options"), None);
    assert_eq!(resp.header("x-content-type-options"), None);

    // without Access-Control-Request-Headers there is no Allow-Headers
    let resp = guest
        .send(
            guest
                .request(Method::OPTIONS, "/api/health")
                .header("Origin", "http://example.test")
                .header("Access-Control-Request-Method", "GET"),
        )
        .await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.header("access-control-allow-headers"), None);
}

#[tokio::test]
async fn options_without_origin_is_a_bare_204() {
    let app = TestApp::spawn().await;
    let resp = app.guest().raw(Method::OPTIONS, "/api/health").await;
    assert_eq!(resp.status, 204);
    assert_eq!(resp.text, "");
    assert_eq!(resp.header("access-control-allow-origin"), None);
    assert_eq!(resp.header("access-control-allow-methods"), None);
    assert_eq!(resp.header_all("vary"), ["Origin"]);
}

#[tokio::test]
async fn unknown_get_paths_fall_through_to_file_not_found() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/definitely-not-a-route",
        "/api/collections/",
        "/api/settings/",
        "/api/collections/posts/records/abc/extra",
        "/nothing-here.txt",
    ] {
        let resp = app.get(path).await;
        assert_plain_error(&resp, 404, "File not found.");
    }
}

#[tokio::test]
async fn wrong_method_on_a_known_path_is_404_not_405() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::POST, "/api/health"),
        (Method::PUT, "/api/settings"),
        (Method::DELETE, "/api/collections"),
        (Method::PUT, "/api/collections/_superusers/records"),
        (Method::GET, "/api/collections/import"),
    ] {
        let resp = app.raw(method.clone(), path).await.pair();
        if method == Method::GET {
            // GET on a non-GET route is an unknown GET path: the static fallback answers
            assert_eq!(resp.0, 404, "{method} {path}: {}", resp.1);
            continue;
        }
        assert_plain_error(&resp, 404, NOT_FOUND);
    }
}

#[tokio::test]
async fn graceful_shutdown_stops_the_listener() {
    let app = TestApp::spawn().await;
    let base = app.base().to_owned();
    assert_eq!(app.get("/api/health").await.0, 200);
    let addr = app.addr;
    let dir = app.stop().await;
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed"
    );
    let err = http_client()
        .get(format!("{base}/api/health"))
        .send()
        .await
        .expect_err("nothing listens after shutdown");
    assert!(err.is_connect() || err.is_request(), "{err}");
    // the database was closed cleanly: a new server starts on the same directory
    let again = TestApp::spawn_in(dir).await;
    assert_eq!(again.get("/api/health").await.0, 200);
}
