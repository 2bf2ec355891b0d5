//! What the dashboard needs from the server: its page and assets under `/_/` (strict CSP,
//! cache headers), the first-run install link, and collection checks that save nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Client, TestApp};
use crate::process::ServeProcess;

/// The asset prefix `/_/assets/<version>` that the shell page names.
fn asset_prefix(html: &str) -> String {
    const ASSETS: &str = "/_/assets/";
    let start = html.find(ASSETS).expect("an asset URL in the page") + ASSETS.len();
    let version: String = html[start..].chars().take_while(|c| *c != '/').collect();
    assert_eq!(version.len(), 16, "{html}");
    format!("{ASSETS}{version}")
}

#[tokio::test]
async fn the_dashboard_page_and_assets_are_served_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let guest = app.guest();

    let page = guest.raw(Method::GET, "/_/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let csp = page.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let prefix = asset_prefix(&page.text);
    assert!(page.text.contains(&format!("{prefix}/app.js")));
    assert!(page.text.contains(&format!("{prefix}/app.css")));

    // A deep link of the single-page app gets the same page.
    let deep = guest.raw(Method::GET, "/_/anything/else").await;
    assert_eq!(deep.status, 200);
    assert_eq!(asset_prefix(&deep.text), prefix);

    let script = guest.raw(Method::GET, &format!("{prefix}/app.js")).await;
    assert_eq!(script.status, 200);
    assert_eq!(script.header("content-type"), Some("text/javascript"));
    assert_eq!(
        script.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(script.text.contains("import"), "an ES module");
    let module = guest
        .raw(Method::GET, &format!("{prefix}/views/records.js"))
        .await;
    assert_eq!(module.status, 200);

    // Another version's URL, a missing file and a way out of the folder are all 404.
    for path in [
        "/_/assets/0000000000000000/app.js".to_owned(),
        format!("{prefix}/missing.js"),
        format!("{prefix}/index.html"),
        format!("{prefix}/..%2F..%2FCargo.toml"),
        format!("{prefix}/..%2F..%2F..%2F..%2FCargo.toml"),
    ] {
        let resp = guest.raw(Method::GET, &path).await;
        assert_eq!(resp.status, 404, "{path}: {}", resp.text);
    }
    // Dot segments are resolved before routing: this is the page path /_/Cargo.toml.
    let dotted = guest
        .raw(Method::GET, &format!("{prefix}/%2e%2e/%2e%2e/Cargo.toml"))
        .await;
    assert!(!dotted.text.contains("[package]"), "{}", dotted.text);

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client");
    let bare = no_redirects
        .get(format!("{}/_", app.base()))
        .send()
        .await
        .expect("answer");
    assert_eq!(bare.status().as_u16(), 308);
    assert_eq!(bare.headers()["location"], "/_/");
}

fn install_token(server: &ServeProcess) -> String {
    let line = server
        .line_containing("/_/#/install/", Duration::from_secs(10))
        .expect("serve prints an install link while no superuser exists");
    let start = line.find("/_/#/install/").expect("link") + "/_/#/install/".len();
    line[start..].trim().to_owned()
}

#[tokio::test]
async fn serve_prints_a_one_time_install_link_for_the_first_superuser() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = ServeProcess::start(dir.path());
    let token = install_token(&server);
    assert_eq!(token.len(), 40, "{token}");
    let guest = Client::new(&server.base, None);
    let install = |body: Value| {
        let guest = guest.clone();
        async move { guest.post_json("/api/install", &body).await }
    };
    let good = json!({
        "token": token,
        "email": "first@example.com",
        "password": "1234567890",
        "passwordConfirm": "1234567890",
    });

    let (status, body) = install(json!({"token": "wrong", "email": "a@example.com"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["data"]["token"]["code"],
        "validation_invalid_install_token"
    );

    // A mistake in the form does not use the link up.
    let mut mismatch = good.clone();
    mismatch["passwordConfirm"] = json!("something else");
    let (status, body) = install(mismatch).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["data"]["passwordConfirm"]["code"],
        "validation_values_mismatch"
    );

    let (status, auth) = install(good.clone()).await;
    assert_eq!(status, 200, "{auth}");
    assert_eq!(auth["record"]["email"], "first@example.com");
    assert_eq!(auth["record"]["collectionName"], "_superusers");
    let superuser = Client::new(
        &server.base,
        Some(auth["token"].as_str().expect("token").to_owned()),
    );
    let (status, collections) = superuser.get("/api/collections").await;
    assert_eq!(status, 200, "{collections}");

    let (status, again) = install(good.clone()).await;
    assert_eq!(status, 400, "the link works once: {again}");
    let (status, _) = guest
        .auth_with_password("_superusers", "first@example.com", "1234567890")
        .await;
    assert_eq!(status, 200);

    // With a superuser in place, a restart prints no link and the API has no token to take.
    server.terminate();
    let mut server = ServeProcess::start(dir.path());
    assert_eq!(server.health(), 200);
    assert!(
        server
            .line_containing("/install/", Duration::from_millis(300))
            .is_none()
    );
    let guest = Client::new(&server.base, None);
    let (status, _) = guest.post_json("/api/install", &good).await;
    assert_eq!(status, 400);
    server.terminate();
}

#[tokio::test]
async fn a_dry_run_checks_a_collection_and_saves_nothing() {
    let app = TestApp::spawn().await;
    let draft = json!({
        "name": "drafts",
        "type": "base",
        "fields": [{"name": "title", "type": "text"}],
        "listRule": "title != ''",
        "indexes": ["CREATE INDEX idx_drafts_title ON drafts (title)"],
    });
    let (status, checked) = app.post_json("/api/collections?dryRun=true", &draft).await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["name"], "drafts");
    assert_eq!(checked["listRule"], "title != ''");
    assert_eq!(app.collection("drafts").await.0, 404, "nothing saved");

    let mut broken = draft.clone();
    broken["listRule"] = json!("nope = 1");
    broken["viewRule"] = json!("title ~");
    let (status, errors) = app.post_json("/api/collections?dryRun=1", &broken).await;
    assert_eq!(status, 400, "{errors}");
    assert_eq!(
        errors["data"]["listRule"]["code"],
        "validation_invalid_rule"
    );
    assert_eq!(
        errors["data"]["viewRule"]["code"],
        "validation_invalid_rule"
    );

    let created = app.create_collection(&draft).await;
    let (status, checked) = app
        .patch_json(
            &format!(
                "/api/collections/{}?dryRun=true",
                created["id"].as_str().unwrap()
            ),
            &json!({"listRule": null}),
        )
        .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["listRule"], Value::Null);
    assert_eq!(
        app.collection_ok("drafts").await["listRule"],
        "title != ''",
        "the saved rule is unchanged"
    );

    let (status, _) = app.post_json("/api/collections?dryRun=maybe", &draft).await;
    assert_eq!(status, 400);
    let (status, _) = app
        .guest()
        .post_json("/api/collections?dryRun=true", &draft)
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_scaffold_s_indexes_get_the_new_collection_s_table_name() {
    let app = TestApp::spawn().await;
    let (status, scaffolds) = app.get("/api/collections/meta/scaffolds").await;
    assert_eq!(status, 200);
    let mut auth = scaffolds["auth"].clone();
    let indexes: Vec<String> = auth["indexes"]
        .as_array()
        .expect("indexes")
        .iter()
        .map(|i| i.as_str().expect("text").to_owned())
        .collect();
    assert!(indexes.iter().all(|i| i.contains("ON `` (")), "{indexes:?}");
    auth["name"] = json!("members");
    auth.as_object_mut().expect("object").remove("id");
    let created = app.create_collection(&auth).await;
    let saved: Vec<&str> = created["indexes"]
        .as_array()
        .expect("indexes")
        .iter()
        .map(|i| i.as_str().expect("text"))
        .collect();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert!(
        saved.iter().all(|i| i.contains("ON `members` (")),
        "{saved:?}"
    );
    let (status, _) = app
        .post_json(
            "/api/collections/members/records",
            &json!({"email": "a@example.com", "password": "1234567890", "passwordConfirm": "1234567890"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, duplicate) = app
        .post_json(
            "/api/collections/members/records",
            &json!({"email": "a@example.com", "password": "1234567890", "passwordConfirm": "1234567890"}),
        )
        .await;
    assert_eq!(status, 400, "the unique email index holds: {duplicate}");
}
