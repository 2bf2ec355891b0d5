//! The settings API: shape and defaults, partial updates applied at once, write-only
//! secrets, nested validation errors, access control, persistence.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn settings_shape_and_fresh_defaults() {
    let app = TestApp::spawn().await;
    let (status, s) = app.get("/api/settings").await;
    assert_eq!(status, 200);
    assert_eq!(
        sorted_keys(&s),
        [
            "backups",
            "batch",
            "logs",
            "meta",
            "rateLimits",
            "s3",
            "smtp",
            "superuserIPs",
            "trustedProxy"
        ]
    );
    assert_eq!(
        s["meta"],
        json!({
            "appName": "Acme", "appURL": "http://localhost:8090", "senderName": "Support",
            "senderAddress": "support@example.com", "accentColor": "#1055c9", "hideControls": false,
        })
    );
    assert_eq!(
        s["batch"],
        json!({"enabled": false, "maxRequests": 50, "timeout": 3, "maxBodySize": 0})
    );
    assert_eq!(
        s["rateLimits"],
        json!({
            "rules": [
                {"label": "*:auth", "audience": "", "duration": 3, "maxRequests": 2},
                {"label": "*:create", "audience": "", "duration": 5, "maxRequests": 20},
                {"label": "/api/batch", "audience": "", "duration": 1, "maxRequests": 3},
                {"label": "/api/", "audience": "", "duration": 10, "maxRequests": 300},
            ],
            "excludedIPs": [],
            "enabled": false,
        })
    );
    assert_eq!(
        s["logs"],
        json!({"maxDataSize": 0, "maxDays": 5, "minLevel": 0, "logIP": true, "logAuthId": false})
    );
    assert_eq!(
        sorted_keys(&s["smtp"]),
        [
            "authMethod",
            "enabled",
            "host",
            "localName",
            "port",
            "tls",
            "username"
        ]
    );
    assert_eq!(
        (&s["smtp"]["enabled"], &s["smtp"]["port"]),
        (&json!(false), &json!(587))
    );
    assert_eq!(
        sorted_keys(&s["s3"]),
        [
            "accessKey",
            "bucket",
            "enabled",
            "endpoint",
            "forcePathStyle",
            "region"
        ]
    );
    assert_eq!(s["s3"]["enabled"], false);
    assert_eq!(sorted_keys(&s["backups"]), ["cron", "cronMaxKeep", "s3"]);
    assert_eq!(s["backups"]["cronMaxKeep"], 3);
    assert!(s["backups"]["s3"].get("secret").is_none());
    assert_eq!(
        s["trustedProxy"],
        json!({"headers": [], "useLeftmostIP": false})
    );
    assert_eq!(s["superuserIPs"], json!([]));
}

#[tokio::test]
async fn patch_is_a_partial_merge_applied_at_once() {
    let app = TestApp::spawn().await;
    let (_, original) = app.get("/api/settings").await;
    let (status, res) = app
        .patch_json(
            "/api/settings",
            &json!({"meta": {"appName": "Keelbase test"}, "batch": {"enabled": true}}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(
        sorted_keys(&res),
        sorted_keys(&original),
        "PATCH answers with the full settings"
    );
    assert_eq!(res["meta"]["appName"], "Keelbase test");
    assert_eq!(
        res["meta"]["appURL"], original["meta"]["appURL"],
        "other keys untouched"
    );
    assert_eq!(
        res["meta"]["senderAddress"],
        original["meta"]["senderAddress"]
    );
    assert_eq!(
        res["batch"],
        json!({"enabled": true, "maxRequests": 50, "timeout": 3, "maxBodySize": 0})
    );
    let (_, again) = app.get("/api/settings").await;
    assert_eq!(again, res, "read back at once");
    assert_eq!(again["rateLimits"], original["rateLimits"]);
    // unknown top-level keys are ignored; maxRequests 0 is accepted
    let (status, res) = app
        .patch_json(
            "/api/settings",
            &json!({"nosuch": {"x": 1}, "batch": {"maxRequests": 0}}),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    assert!(res.get("nosuch").is_none());
    assert_eq!(res["batch"]["maxRequests"], 0);
    assert_eq!(res["batch"]["enabled"], true);
}

#[tokio::test]
async fn secrets_are_write_only() {
    let app = TestApp::spawn().await;
    let (status, res) = app
        .patch_json(
            "/api/settings",
            &json!({
                "smtp": {"host": "smtp.test.local", "password": "super-secret-pw"},
                "s3": {"bucket": "b1", "secret": "s3-secret-value"},
                "backups": {"s3": {"secret": "backup-secret-value"}},
            }),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["smtp"]["host"], "smtp.test.local");
    assert_eq!(res["s3"]["bucket"], "b1");
    for resp in [
        app.raw(Method::GET, "/api/settings").await,
        app.raw_body(Method::PATCH, "/api/settings", "application/json", "{}")
            .await,
    ] {
        assert_eq!(resp.status, 200);
        assert!(resp.body["smtp"].get("password").is_none(), "{}", resp.text);
        assert!(resp.body["s3"].get("secret").is_none(), "{}", resp.text);
        assert!(
            resp.body["backups"]["s3"].get("secret").is_none(),
            "{}",
            resp.text
        );
        for secret in ["super-secret-pw", "s3-secret-value", "backup-secret-value"] {
            assert!(
                !resp.text.contains(secret),
                "{secret} leaked: {}",
                resp.text
            );
        }
    }
    // fields cannot reveal them either
    let (_, picked) = app
        .get("/api/settings?fields=smtp.password,s3.secret")
        .await;
    assert!(!picked.to_string().contains("secret-"), "{picked}");
}

#[tokio::test]
async fn fields_picker_applies_to_settings() {
    let app = TestApp::spawn().await;
    let (status, s) = app
        .get("/api/settings?fields=meta.appName,batch.enabled")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        s,
        json!({"meta": {"appName": "Acme"}, "batch": {"enabled": false}})
    );
}

#[tokio::test]
async fn validation_errors_are_nested_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let (_, before) = app.get("/api/settings").await;
    let msg = "An error occurred while saving the new settings.";
    let data = assert_error(
        &app.patch_json("/api/settings", &json!({"meta": {"appName": ""}}))
            .await,
        400,
        msg,
    );
    assert_eq!(
        data,
        json!({"meta": {"appName": {"code": "validation_required", "message": "Cannot be blank."}}})
    );
    let data = assert_error(
        &app.patch_json("/api/settings", &json!({"meta": {"appURL": "not a url"}}))
            .await,
        400,
        msg,
    );
    assert_eq!(
        data,
        json!({"meta": {"appURL": {"code": "validation_is_url", "message": "Must be a valid URL."}}})
    );
    let data = assert_error(
        &app.patch_json(
            "/api/settings",
            &json!({"smtp": {"enabled": true, "host": "", "port": 0}}),
        )
        .await,
        400,
        msg,
    );
    assert_eq!(
        data,
        json!({"smtp": {
            "host": {"code": "validation_required", "message": "Cannot be blank."},
            "port": {"code": "validation_required", "message": "Cannot be blank."},
        }})
    );
    // a valid change together with an invalid one: neither is saved
    let resp = app
        .patch_json(
            "/api/settings",
            &json!({"meta": {"appName": "Changed", "appURL": "nope"}}),
        )
        .await;
    assert_eq!(resp.0, 400);
    let (_, after) = app.get("/api/settings").await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn malformed_or_wrongly_typed_settings_bodies() {
    let app = TestApp::spawn().await;
    let msg = "An error occurred while loading the submitted data.";
    assert_plain_error(
        &app.patch_json("/api/settings", &json!({"meta": "x"})).await,
        400,
        msg,
    );
    assert_plain_error(
        &app.patch_json("/api/settings", &json!({"batch": {"maxRequests": "many"}}))
            .await,
        400,
        msg,
    );
    for body in [
        "{bad",
        "[1]",
        "{\"meta\":{\"appName\":\"a\",\"appName\":\"b\"}}",
    ] {
        let resp = app
            .raw_body(Method::PATCH, "/api/settings", "application/json", body)
            .await
            .pair();
        assert_plain_error(&resp, 400, msg);
    }
    let (_, s) = app.get("/api/settings").await;
    assert_eq!(s["meta"]["appName"], "Acme");
}

#[tokio::test]
async fn guests_cannot_read_or_change_settings() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    assert_plain_error(&guest.get("/api/settings").await, 401, NEEDS_AUTH);
    assert_plain_error(
        &guest
            .patch_json("/api/settings", &json!({"meta": {"appName": "hacked"}}))
            .await,
        401,
        NEEDS_AUTH,
    );
    let (_, s) = app.get("/api/settings").await;
    assert_eq!(s["meta"]["appName"], "Acme");
}

#[tokio::test]
async fn settings_survive_a_restart() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .patch_json(
            "/api/settings",
            &json!({"meta": {"appName": "Persisted"}, "smtp": {"password": "kept-secret"}}),
        )
        .await;
    assert_eq!(status, 200);
    let app = app.restart().await;
    let (_, s) = app.get("/api/settings").await;
    assert_eq!(s["meta"]["appName"], "Persisted");
    assert!(s["smtp"].get("password").is_none());
}

#[tokio::test]
async fn superuser_ips_close_superuser_access_to_other_addresses() {
    let app = TestApp::spawn().await;
    const NOT_ALLOWED: &str = "You are not allowed to perform this request.";
    let (status, body) = app
        .patch_json(
            "/api/settings",
            &json!({"superuserIPs": ["10.0.0.1", "nonsense"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["superuserIPs"],
        json!({"1": {"code": "validation_invlaid_ip_or_subnet", "message": "Invalid IP or CIDR subnet."}})
    );

    // The tests connect from 127.0.0.1: inside this subnet nothing changes.
    let (status, body) = app
        .patch_json(
            "/api/settings",
            &json!({"superuserIPs": ["127.0.0.0/8", "10.0.0.1"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.get("/api/settings").await.0, 200);
    app.create_record(
        "users",
        &json!({"email": "member@example.com", "password": "1234567890", "passwordConfirm": "1234567890"}),
    )
    .await;

    let (status, _) = app
        .patch_json("/api/settings", &json!({"superuserIPs": ["10.0.0.0/8"]}))
        .await;
    assert_eq!(status, 200);
    for path in ["/api/settings", "/api/collections", "/api/health"] {
        assert_eq!(
            app.get(path).await,
            (403, plain_error(403, NOT_ALLOWED)),
            "{path}"
        );
    }
    let (status, body) = app
        .guest()
        .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
        .await;
    assert_eq!((status, body["message"].as_str()), (403, Some(NOT_ALLOWED)));
    // Everyone else is unaffected.
    assert_eq!(app.guest().get("/api/health").await.0, 200);
    let (status, _) = app
        .guest()
        .auth_with_password("users", "member@example.com", "1234567890")
        .await;
    assert_eq!(status, 200);
}
