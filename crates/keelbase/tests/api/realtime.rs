//! Realtime over SSE: the connect event, subscriptions and their errors, auth binding,
//! timeouts, the OAuth2 redirect, and that a client that never reads cannot hold up others.
//! Expected values were measured on PocketBase 0.40.6.

use std::net::IpAddr;
use std::time::Duration;

use kb_app::realtime::{Limits, Message};
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::helpers::*;

const LONG: Duration = Duration::from_secs(10);

/// One parsed SSE event.
#[derive(Debug, PartialEq)]
pub(crate) struct Event {
    pub(crate) id: String,
    pub(crate) event: String,
    pub(crate) data: String,
}

/// A raw SSE reader over the response's byte chunks.
pub(crate) struct Sse {
    response: reqwest::Response,
    buffer: Vec<u8>,
    pub(crate) client_id: String,
    /// The first event exactly as sent.
    connect_frame: String,
}

impl Sse {
    pub(crate) async fn open(app: &TestApp) -> Sse {
        Sse::open_with(&http_client(), app.base()).await
    }

    /// A stream from the server at `base`.
    pub(crate) async fn open_at(base: &str) -> Sse {
        Sse::open_with(&http_client(), base).await
    }

    async fn open_with(http: &reqwest::Client, base: &str) -> Sse {
        let response = http
            .get(format!("{base}/api/realtime"))
            .send()
            .await
            .expect("connect");
        assert_eq!(response.status().as_u16(), 200);
        let mut sse = Sse {
            response,
            buffer: Vec::new(),
            client_id: String::new(),
            connect_frame: String::new(),
        };
        let frame = sse.next_frame(LONG).await.expect("the PB_CONNECT event");
        let event = parse(&frame);
        assert_eq!(event.event, "PB_CONNECT");
        sse.client_id = event.id;
        sse.connect_frame = frame;
        sse
    }

    /// The next raw frame (up to and including its blank line); `None` when the stream
    /// ended or nothing came within `wait`.
    async fn next_frame(&mut self, wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(String::from_utf8(frame).expect("utf-8 frame"));
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.extend_from_slice(&chunk);
        }
    }

    pub(crate) async fn next_event(&mut self, wait: Duration) -> Option<Event> {
        self.next_frame(wait).await.map(|frame| parse(&frame))
    }

    /// True when the server ends the stream within `wait` (no event before that).
    async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(_) => return true,
            }
        }
    }
}

fn parse(frame: &str) -> Event {
    let mut event = Event {
        id: String::new(),
        event: String::new(),
        data: String::new(),
    };
    for line in frame.lines().filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once(':').expect("a field line");
        match key {
            "id" => event.id = value.to_owned(),
            "event" => event.event = value.to_owned(),
            "data" => event.data = value.to_owned(),
            other => panic!("unexpected SSE field {other:?} in {frame:?}"),
        }
    }
    event
}

/// An HTTP client whose connections come from another loopback address.
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .local_address(IpAddr::from(ip))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("build the HTTP client")
}

fn no_redirects() -> reqwest::Client {
    client_from([127, 0, 0, 1])
}

pub(crate) async fn subscribe(client: &Client, client_id: &str, topics: &[&str]) -> (u16, Value) {
    client
        .post_json(
            "/api/realtime",
            &json!({"clientId": client_id, "subscriptions": topics}),
        )
        .await
}

fn topics(app: &TestApp, client_id: &str) -> Vec<String> {
    let client = app.app.realtime.client(client_id).expect("the client");
    let mut topics: Vec<String> = client
        .subscriptions("")
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    topics.sort();
    topics
}

/// Wait (bounded) for a condition the server reaches asynchronously.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn short_limits(app: &TestApp, idle: u64, lifetime: u64) {
    app.app.realtime.set_limits(Limits {
        idle_timeout: Duration::from_millis(idle),
        max_lifetime: Duration::from_millis(lifetime),
        ..Limits::default()
    });
}

#[tokio::test]
async fn connect_sends_pb_connect_with_the_client_id() {
    let app = TestApp::spawn().await;
    let response = http_client()
        .get(format!("{}/api/realtime", app.base()))
        .send()
        .await
        .expect("connect");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(header("x-accel-buffering").as_deref(), Some("no"));
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    drop(response);

    let first = Sse::open(&app).await;
    let id = first.client_id.clone();
    assert_eq!(id.len(), 40);
    assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
    assert_eq!(
        first.connect_frame,
        format!("id:{id}\nevent:PB_CONNECT\ndata:{{\"clientId\":\"{id}\"}}\n\n")
    );
    let second = Sse::open(&app).await;
    assert_ne!(second.client_id, id);
    eventually("two clients", || app.app.realtime.client_count() == 2).await;
    assert_eq!(
        app.app.realtime.client(&id).map(|c| c.ip()),
        Some(IpAddr::from([127, 0, 0, 1]))
    );

    // closing a stream unregisters its client
    drop(first);
    eventually("the closed client is gone", || {
        app.app.realtime.client(&id).is_none()
    })
    .await;
    assert_eq!(app.app.realtime.client_count(), 1);
}

#[tokio::test]
async fn every_event_carries_the_client_id() {
    let app = TestApp::spawn().await;
    let mut sse = Sse::open(&app).await;
    assert_eq!(
        subscribe(&app.guest(), &sse.client_id, &["news", "posts/*"]).await,
        (204, Value::Null)
    );
    app.app
        .realtime
        .publish(Message::new("news", r#"{"hello":"world"}"#));
    app.app.realtime.publish(Message::new("elsewhere", "{}"));
    app.app.realtime.publish(Message::new("posts/*", "{}"));
    let frame = sse.next_frame(LONG).await.expect("an event");
    assert_eq!(
        frame,
        format!(
            "id:{}\nevent:news\ndata:{{\"hello\":\"world\"}}\n\n",
            sse.client_id
        )
    );
    let event = sse.next_event(LONG).await.expect("an event");
    assert_eq!(
        event,
        Event {
            id: sse.client_id.clone(),
            event: "posts/*".into(),
            data: "{}".into()
        }
    );
}

#[tokio::test]
async fn subscriptions_are_replaced_as_a_whole() {
    let app = TestApp::spawn().await;
    let sse = Sse::open(&app).await;
    let guest = app.guest();
    let id = sse.client_id.as_str();
    assert_eq!(subscribe(&guest, id, &["a", "b", ""]).await.0, 204);
    assert_eq!(topics(&app, id), ["a", "b"]);
    assert_eq!(subscribe(&guest, id, &["c"]).await.0, 204);
    assert_eq!(topics(&app, id), ["c"]);
    // an empty list, a missing one and null all unsubscribe from everything
    assert_eq!(subscribe(&guest, id, &[]).await.0, 204);
    assert!(topics(&app, id).is_empty());
    assert_eq!(subscribe(&guest, id, &["c"]).await.0, 204);
    let resp = guest
        .post_json(
            "/api/realtime",
            &json!({"clientId": id, "subscriptions": null}),
        )
        .await;
    assert_eq!(resp.0, 204);
    assert!(topics(&app, id).is_empty());
    assert_eq!(
        guest
            .post_json("/api/realtime", &json!({"clientId": id}))
            .await
            .0,
        204
    );

    // a form body works too; one value is one topic
    let resp = guest
        .raw_body(
            Method::POST,
            "/api/realtime",
            "application/x-www-form-urlencoded",
            format!("clientId={id}&subscriptions=123"),
        )
        .await;
    assert_eq!(resp.status, 204, "{}", resp.text);
    assert_eq!(topics(&app, id), ["123"]);
}

#[tokio::test]
async fn topic_options_are_parsed_for_later_events() {
    let app = TestApp::spawn().await;
    let sse = Sse::open(&app).await;
    let id = sse.client_id.as_str();
    let options = json!({
        "query": {"filter": "title != ''", "expand": "author", "fields": "id,title", "page": 2},
        "headers": {"X-Custom-Token": "abc", "someFlag": true},
    });
    let with_options = format!("posts/*?options={}", enc(&options.to_string()));
    let bad_json = "posts/abc?options=notjson";
    let resp = subscribe(&app.guest(), id, &[&with_options, bad_json, "posts"]).await;
    assert_eq!(resp, (204, Value::Null));
    assert_eq!(topics(&app, id), ["posts", &with_options, bad_json]);

    let client = app.app.realtime.client(id).expect("the client");
    let parsed = client.subscriptions("posts/*?");
    assert_eq!(parsed.len(), 1);
    let (topic, options) = &parsed[0];
    assert_eq!(topic, &with_options);
    assert_eq!(options.filter(), "title != ''");
    assert_eq!(options.expand(), "author");
    assert_eq!(options.fields(), "id,title");
    assert_eq!(
        Value::Object(Map::clone(&options.query)),
        json!({"filter": "title != ''", "expand": "author", "fields": "id,title", "page": "2"})
    );
    assert_eq!(
        Value::Object(Map::clone(&options.headers)),
        json!({"x_custom_token": "abc", "some_flag": "true"})
    );
    let plain = client.subscriptions("posts/abc?");
    assert_eq!(plain.len(), 1);
    assert!(plain[0].1.query.is_empty() && plain[0].1.headers.is_empty());
    // `posts?` matches the bare topic only, not `posts/…`
    assert_eq!(client.subscriptions("posts?").len(), 1);
}

#[tokio::test]
async fn subscription_errors() {
    let app = TestApp::spawn().await;
    let sse = Sse::open(&app).await;
    let id = sse.client_id.as_str();
    let guest = app.guest();

    assert_plain_error(
        &subscribe(&guest, "nope", &["a"]).await,
        404,
        "Missing or invalid client id.",
    );
    // a blank id is a validation error; spaces are an unknown id
    let resp = subscribe(&guest, "", &["a"]).await;
    let data = assert_error(&resp, 400, BAD_REQUEST);
    assert_eq!(
        data,
        json!({"clientId": {"code": "validation_required", "message": "Cannot be blank."}})
    );
    assert_eq!(
        guest.post_json("/api/realtime", &json!({})).await.1["data"],
        data
    );
    assert_eq!(subscribe(&guest, "   ", &[]).await.0, 404);

    // too many topics; topics too long (counted in bytes), each reported by index. The
    // input is checked before the client id.
    let many: Vec<String> = (0..1001).map(|i| format!("t{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let resp = subscribe(&guest, "nope", &many).await;
    let data = assert_error(&resp, 400, BAD_REQUEST);
    assert_eq!(
        data,
        json!({"subscriptions": {
            "code": "validation_length_too_long",
            "message": "The length must be no more than 1000.",
            "params": {"max": 1000, "min": 0},
        }})
    );
    assert_eq!(subscribe(&guest, id, &many[..1000]).await.0, 204);
    let long = "x".repeat(2501);
    let wide = "é".repeat(1251);
    let resp = subscribe(&guest, id, &["ok", &long, &"x".repeat(2500), &wide]).await;
    let too_long = json!({
        "code": "validation_length_too_long",
        "message": "The length must be no more than 2500.",
        "params": {"max": 2500, "min": 0},
    });
    let data = assert_error(&resp, 400, BAD_REQUEST);
    assert_eq!(
        data,
        json!({"subscriptions": {"1": too_long, "3": too_long}})
    );
    assert_eq!(subscribe(&guest, id, &[&"é".repeat(1250)]).await.0, 204);

    // wrong types and unreadable bodies
    for body in [
        json!({"clientId": 1, "subscriptions": []}),
        json!({"clientId": id, "subscriptions": "a"}),
        json!({"clientId": id, "subscriptions": [1]}),
        json!({"clientId": id, "subscriptions": {"a": 1}}),
    ] {
        assert_plain_error(
            &guest.post_json("/api/realtime", &body).await,
            400,
            BAD_REQUEST,
        );
    }
    for (content_type, body) in [("application/json", "garbage"), ("text/plain", "{}")] {
        let resp = guest
            .raw_body(Method::POST, "/api/realtime", content_type, body)
            .await;
        assert_plain_error(&resp.pair(), 400, BAD_REQUEST);
    }

    // the same client id from another address
    let other = Client {
        http: client_from([127, 0, 0, 2]),
        base: app.base().to_owned(),
        token: Some(app.token().to_owned()),
    };
    assert_plain_error(
        &subscribe(&other, id, &["a"]).await,
        400,
        "Invalid realtime client.",
    );
}

#[tokio::test]
async fn auth_is_bound_by_the_first_authenticated_request() {
    let app = TestApp::spawn().await;
    let sse = Sse::open(&app).await;
    let id = sse.client_id.as_str();
    let guest = app.guest();
    let mismatch = "The current and the previous request authorization don't match.";

    // guest, guest again, then a superuser: allowed
    assert_eq!(subscribe(&guest, id, &["a"]).await.0, 204);
    assert_eq!(subscribe(&guest, id, &["a"]).await.0, 204);
    assert!(
        !app.app
            .realtime
            .client(id)
            .expect("client")
            .auth()
            .is_superuser()
    );
    assert_eq!(subscribe(&app.su, id, &["a"]).await.0, 204);
    assert!(
        app.app
            .realtime
            .client(id)
            .expect("client")
            .auth()
            .is_superuser()
    );
    // the same record with a new token (and a `Bearer` prefix) is the same auth
    let (status, login) = guest
        .auth_with_password("_superusers", SU_EMAIL, SU_PASSWORD)
        .await;
    assert_eq!(status, 200);
    let bearer = app.with_token(&format!(
        "Bearer {}",
        login["token"].as_str().expect("token")
    ));
    assert_eq!(subscribe(&bearer, id, &["b"]).await.0, 204);

    // a guest, an invalid token, or another record: refused, and nothing changes
    assert_plain_error(&subscribe(&guest, id, &["c"]).await, 403, mismatch);
    assert_plain_error(
        &subscribe(&app.with_token("garbage"), id, &["c"]).await,
        403,
        mismatch,
    );
    app.app
        .upsert_superuser("second@example.com", SU_PASSWORD)
        .await
        .expect("a second superuser");
    let (status, second) = guest
        .auth_with_password("_superusers", "second@example.com", SU_PASSWORD)
        .await;
    assert_eq!(status, 200);
    let second = app.with_token(second["token"].as_str().expect("token"));
    assert_plain_error(&subscribe(&second, id, &["c"]).await, 403, mismatch);
    assert_eq!(topics(&app, id), ["b"]);

    // the bound auth can be dropped (record deleted or token key changed): a guest again
    app.app.realtime.drop_auth(SUPERUSERS_ID, &app.su_id);
    assert!(
        !app.app
            .realtime
            .client(id)
            .expect("client")
            .auth()
            .is_superuser()
    );
    assert_eq!(subscribe(&second, id, &["d"]).await.0, 204);
}

#[tokio::test]
async fn idle_streams_are_closed() {
    let app = TestApp::spawn().await;
    short_limits(&app, 300, 60_000);
    let mut sse = Sse::open(&app).await;
    let id = sse.client_id.clone();
    assert!(sse.ends_within(LONG).await, "the idle stream is closed");
    assert!(sse.buffer.is_empty(), "no event before closing");
    eventually("the idle client is gone", || {
        app.app.realtime.client(&id).is_none()
    })
    .await;
}

#[tokio::test]
async fn messages_keep_a_stream_alive_until_its_maximum_lifetime() {
    let app = TestApp::spawn().await;
    short_limits(&app, 400, 1500);
    let mut sse = Sse::open(&app).await;
    let started = tokio::time::Instant::now();
    assert_eq!(
        subscribe(&app.guest(), &sse.client_id, &["tick"]).await.0,
        204
    );
    // a message every 150 ms keeps the 400 ms idle timer from firing...
    let mut received = 0;
    loop {
        app.app.realtime.publish(Message::new("tick", "{}"));
        match sse.next_event(Duration::from_millis(150)).await {
            Some(event) => {
                assert_eq!(event.event, "tick");
                received += 1;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            None => break,
        }
        assert!(started.elapsed() < LONG, "the stream outlived its lifetime");
    }
    // ...until the lifetime ends the stream
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert!(
        received >= 4,
        "{received} messages before the lifetime ended"
    );
    assert!(sse.ends_within(LONG).await);
}

#[tokio::test]
async fn oauth2_redirect_delivers_to_the_right_client() {
    let app = TestApp::spawn().await;
    let mut target = Sse::open(&app).await;
    let mut other = Sse::open(&app).await;
    let guest = app.guest();
    for sse in [&target, &other] {
        assert_eq!(
            subscribe(&guest, &sse.client_id, &["@oauth2", "posts"])
                .await
                .0,
            204
        );
    }
    let http = no_redirects();
    let redirect = |query: String| {
        let http = http.clone();
        let url = format!("{}/api/oauth2-redirect?{query}", app.base());
        async move {
            let resp = http.get(url).send().await.expect("redirect");
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            (resp.status().as_u16(), location.unwrap_or_default())
        }
    };
    let success = "../_/#/auth/oauth2-redirect-success".to_owned();
    let failure = "../_/#/auth/oauth2-redirect-failure".to_owned();
    let id = target.client_id.clone();

    assert_eq!(
        redirect(format!("state={id}&code=abc")).await,
        (307, success.clone())
    );
    assert_eq!(
        target.next_frame(LONG).await.expect("the @oauth2 event"),
        format!("id:{id}\nevent:@oauth2\ndata:{{\"state\":\"{id}\",\"code\":\"abc\"}}\n\n")
    );
    // used up: a second redirect finds no subscriber, the other topics remain
    assert_eq!(
        redirect(format!("state={id}&code=again")).await,
        (307, failure.clone())
    );
    assert_eq!(topics(&app, &id), ["posts"]);

    // the other client got nothing: its next event is one sent after all of the above
    app.app.realtime.publish(Message::new("posts", "{}"));
    assert_eq!(other.next_event(LONG).await.expect("event").event, "posts");
    assert_eq!(target.next_event(LONG).await.expect("event").event, "posts");

    // an error is delivered too, but the page is the failure one; code is always present
    let other_id = other.client_id.clone();
    assert_eq!(
        redirect(format!("state={other_id}&error=access_denied")).await,
        (307, failure.clone())
    );
    assert_eq!(
        other.next_event(LONG).await.expect("event").data,
        format!(r#"{{"state":"{other_id}","code":"","error":"access_denied"}}"#)
    );

    // unknown, empty or missing state
    for query in ["state=nope&code=abc", "state=&code=abc", "code=abc", ""] {
        assert_eq!(redirect(query.to_owned()).await, (307, failure.clone()));
    }
}

#[tokio::test]
async fn oauth2_redirect_checks_code_error_and_address() {
    let app = TestApp::spawn().await;
    let guest = app.guest();
    let http = no_redirects();
    let failure = "../_/#/auth/oauth2-redirect-failure";
    let success = "../_/#/auth/oauth2-redirect-success";

    // no code: delivered with an empty code, failure page
    let mut sse = Sse::open(&app).await;
    let id = sse.client_id.clone();
    assert_eq!(subscribe(&guest, &id, &["@oauth2"]).await.0, 204);
    let resp = http
        .get(format!(
            "{}/api/oauth2-redirect?state={id}&code=",
            app.base()
        ))
        .send()
        .await
        .expect("redirect");
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(resp.headers()["location"], failure);
    assert_eq!(
        sse.next_event(LONG).await.expect("event").data,
        format!(r#"{{"state":"{id}","code":""}}"#)
    );

    // a code with an error: failure
    let mut sse = Sse::open(&app).await;
    let id = sse.client_id.clone();
    assert_eq!(subscribe(&guest, &id, &["@oauth2"]).await.0, 204);
    let resp = http
        .get(format!(
            "{}/api/oauth2-redirect?state={id}&code=c&error=boom",
            app.base()
        ))
        .send()
        .await
        .expect("redirect");
    assert_eq!(resp.headers()["location"], failure);
    assert_eq!(
        sse.next_event(LONG).await.expect("event").data,
        format!(r#"{{"state":"{id}","code":"c","error":"boom"}}"#)
    );

    // not subscribed to @oauth2, or subscribed with options: not delivered
    let sse = Sse::open(&app).await;
    assert_eq!(
        subscribe(&guest, &sse.client_id, &["@oauth2?options=%7B%7D"])
            .await
            .0,
        204
    );
    let resp = http
        .get(format!(
            "{}/api/oauth2-redirect?state={}&code=c",
            app.base(),
            sse.client_id
        ))
        .send()
        .await
        .expect("redirect");
    assert_eq!(resp.headers()["location"], failure);

    // from another address: not delivered, and the subscription stays
    let sse = Sse::open(&app).await;
    assert_eq!(subscribe(&guest, &sse.client_id, &["@oauth2"]).await.0, 204);
    let resp = client_from([127, 0, 0, 2])
        .get(format!(
            "{}/api/oauth2-redirect?state={}&code=c",
            app.base(),
            sse.client_id
        ))
        .send()
        .await
        .expect("redirect");
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(resp.headers()["location"], failure);
    assert_eq!(topics(&app, &sse.client_id), ["@oauth2"]);

    // Apple's form POST: 303; `user` is not passed on; the query is not read
    let mut sse = Sse::open(&app).await;
    let id = sse.client_id.clone();
    assert_eq!(subscribe(&guest, &id, &["@oauth2"]).await.0, 204);
    let post = |body: String, content_type: &'static str, query: &'static str| {
        http.post(format!("{}/api/oauth2-redirect{query}", app.base()))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let resp = post(
        format!("state={id}&code=123&user=%7B%22name%22%3A%7B%7D%7D"),
        "application/x-www-form-urlencoded",
        "",
    )
    .await
    .expect("redirect");
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], success);
    assert_eq!(
        sse.next_event(LONG).await.expect("event").data,
        format!(r#"{{"state":"{id}","code":"123"}}"#)
    );
    assert_eq!(subscribe(&guest, &id, &["@oauth2"]).await.0, 204);
    let resp = post(
        String::new(),
        "application/x-www-form-urlencoded",
        "?state=x&code=y",
    )
    .await
    .expect("redirect");
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], failure);
    let resp = post(
        json!({"state": id, "code": "json"}).to_string(),
        "application/json",
        "",
    )
    .await
    .expect("redirect");
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], success);
    assert_eq!(
        sse.next_event(LONG).await.expect("event").data,
        format!(r#"{{"state":"{id}","code":"json"}}"#)
    );
}

#[tokio::test]
async fn a_client_that_never_reads_does_not_block_others() {
    let app = TestApp::spawn().await;
    app.app.realtime.set_limits(Limits {
        queue: 4,
        ..Limits::default()
    });
    let slow = Sse::open(&app).await;
    let mut fast = Sse::open(&app).await;
    let guest = app.guest();
    for sse in [&slow, &fast] {
        assert_eq!(subscribe(&guest, &sse.client_id, &["big"]).await.0, 204);
    }
    // 20 MB in total: more than the socket buffers can hold for the client that never reads
    let payload = format!("\"{}\"", "x".repeat(100_000));
    for i in 0..200 {
        app.app
            .realtime
            .publish(Message::new("big", format!("{i}{payload}")));
        let event = fast
            .next_event(LONG)
            .await
            .expect("the fast client's event");
        assert!(event.data.starts_with(&format!("{i}\"")), "message {i}");
    }
    assert!(
        app.app.realtime.client(&slow.client_id).is_none(),
        "the slow client was dropped"
    );
    assert!(app.app.realtime.client(&fast.client_id).is_some());
    assert_eq!(app.app.realtime.client_count(), 1);
}

#[tokio::test]
async fn stopping_the_server_ends_open_streams() {
    let app = TestApp::spawn().await;
    let mut sse = Sse::open(&app).await;
    let stopped = tokio::time::timeout(LONG, app.stop()).await;
    assert!(stopped.is_ok(), "the server stopped despite an open stream");
    assert!(sse.ends_within(LONG).await);
}

/// A user of the default `users` collection, logged in; answers (id, client).
async fn user(app: &TestApp, email: &str) -> (String, Client) {
    let created = app
        .create_record(
            "users",
            &json!({"email": email, "password": "user-password-1", "passwordConfirm": "user-password-1"}),
        )
        .await;
    let (status, login) = app
        .guest()
        .auth_with_password("users", email, "user-password-1")
        .await;
    assert_eq!(status, 200, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    (
        created["id"].as_str().unwrap().to_owned(),
        app.with_token(&token),
    )
}

/// Events (name and parsed data) that arrive within `wait`.
async fn events_within(sse: &mut Sse, wait: Duration) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    while let Some(event) = sse.next_event(wait).await {
        assert_eq!(event.id, sse.client_id);
        out.push((
            event.event,
            serde_json::from_str(&event.data).expect("JSON data"),
        ));
    }
    out
}

async fn notes_owned_by_their_author(app: &TestApp) -> Value {
    app.create_collection(&json!({
        "name": "notes",
        "type": "base",
        "listRule": "owner = @request.auth.id",
        "viewRule": "owner = @request.auth.id",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "secret", "type": "text", "hidden": true},
            {"name": "owner", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
        ],
    }))
    .await
}

#[tokio::test]
async fn record_events_reach_only_subscribers_the_rules_let_see_them() {
    let app = TestApp::spawn().await;
    let notes = notes_owned_by_their_author(&app).await;
    let (ann_id, ann) = user(&app, "ann@example.com").await;
    let (_, bob) = user(&app, "bob@example.com").await;
    let mut ann_sse = Sse::open(&app).await;
    let mut bob_sse = Sse::open(&app).await;
    let mut guest_sse = Sse::open(&app).await;
    let mut su_sse = Sse::open(&app).await;
    assert_eq!(
        subscribe(&ann, &ann_sse.client_id, &["notes/*"]).await.0,
        204
    );
    assert_eq!(
        subscribe(&bob, &bob_sse.client_id, &["notes/*"]).await.0,
        204
    );
    assert_eq!(
        subscribe(&app.guest(), &guest_sse.client_id, &["notes"])
            .await
            .0,
        204
    );
    let by_id = format!("{}/*", notes["id"].as_str().unwrap());
    assert_eq!(
        subscribe(&app.su, &su_sse.client_id, &[&by_id]).await.0,
        204
    );

    let created = app
        .create_record(
            "notes",
            &json!({"title": "first", "secret": "s", "owner": ann_id}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.update_record("notes", &id, &json!({"title": "second"}))
        .await;
    // a write that fails is rolled back and announces nothing
    let (status, _) = app
        .try_update("notes", &id, &json!({"owner": "nosuchuser1234"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(app.delete_record("notes", &id).await.status, 204);

    let ann_events = events_within(&mut ann_sse, Duration::from_millis(700)).await;
    let summary: Vec<(String, String, String)> = ann_events
        .iter()
        .map(|(name, data)| {
            (
                name.clone(),
                data["action"].as_str().unwrap().to_owned(),
                data["record"]["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = |a: &str, t: &str| ("notes/*".to_owned(), a.to_owned(), t.to_owned());
    assert_eq!(
        summary,
        vec![
            expected("create", "first"),
            expected("update", "second"),
            expected("delete", "second")
        ]
    );
    let record = &ann_events[0].1["record"];
    assert_eq!(record["id"], id.as_str());
    assert_eq!(record["collectionName"], "notes");
    assert!(record.get("secret").is_none(), "hidden fields stay hidden");

    assert!(
        events_within(&mut bob_sse, Duration::from_millis(200))
            .await
            .is_empty()
    );
    assert!(
        events_within(&mut guest_sse, Duration::from_millis(200))
            .await
            .is_empty()
    );
    // superusers see everything, hidden fields included; the event name is the topic as sent
    let su_events = events_within(&mut su_sse, Duration::from_millis(200)).await;
    assert_eq!(su_events.len(), 3);
    assert_eq!(su_events[0].0, by_id);
    assert_eq!(su_events[0].1["record"]["secret"], "s");
}

#[tokio::test]
async fn record_topics_use_the_view_rule_and_subscription_options() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({
        "name": "posts",
        "type": "base",
        "listRule": null,
        "viewRule": "",
        "fields": [
            {"name": "title", "type": "text"},
            {"name": "author", "type": "relation", "collectionId": "_pb_users_auth_", "maxSelect": 1},
        ],
    }))
    .await;
    app.update_collection("users", &json!({"viewRule": ""}))
        .await;
    let (author_id, _) = user(&app, "cy@example.com").await;
    let post = app
        .create_record("posts", &json!({"title": "draft", "author": author_id}))
        .await;
    let post_id = post["id"].as_str().unwrap();
    let mut sse = Sse::open(&app).await;
    let options = json!({"query": {"fields": "id,title,expand.author.id", "expand": "author", "filter": "title != 'hidden'"}});
    let record_topic = format!("posts/{post_id}?options={}", enc(&options.to_string()));
    let resp = subscribe(&app.guest(), &sse.client_id, &["posts/*", &record_topic]).await;
    assert_eq!(resp.0, 204);

    app.update_record("posts", post_id, &json!({"title": "live"}))
        .await;
    app.update_record("posts", post_id, &json!({"title": "hidden"}))
        .await;
    let events = events_within(&mut sse, Duration::from_millis(700)).await;
    // the list rule (superusers only) hides the collection topic; the view rule is open;
    // the filter drops the second update; fields and expand shape the record
    assert_eq!(
        events,
        vec![(
            record_topic.clone(),
            json!({"action": "update", "record": {"id": post_id, "title": "live", "expand": {"author": {"id": author_id}}}})
        )]
    );
}

/// The real binary holds 10,000 idle SSE streams, each of which got its PB_CONNECT, with
/// less than 100 MB more memory than before they connected (about 37 MB measured: streams
/// bypass hyper's per-connection buffers, see kb-http's `serve`).
#[tokio::test]
async fn ten_thousand_idle_streams_fit_in_100_mb() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const STREAMS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let server = crate::process::ServeProcess::start(dir.path());
    let addr = server.addr();
    assert_eq!(server.health(), 200);
    let before = crate::process::memory_kib(server.pid(), "VmRSS");

    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let request = format!("GET /api/realtime HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            stream.write_all(request.as_bytes()).await.expect("send");
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !String::from_utf8_lossy(&seen).contains("PB_CONNECT") {
                let n = tokio::time::timeout(LONG, stream.read(&mut buf))
                    .await
                    .expect("PB_CONNECT in time")
                    .expect("read");
                assert!(n > 0, "the stream ended early");
                seen.extend_from_slice(&buf[..n]);
            }
            drop(permit);
            stream
        }));
    }
    let mut streams = Vec::with_capacity(STREAMS);
    for task in tasks {
        streams.push(task.await.expect("a stream"));
    }
    let after = crate::process::memory_kib(server.pid(), "VmRSS");
    let growth_mib = after.saturating_sub(before) / 1024;
    eprintln!("{STREAMS} idle streams: RSS {before} KiB -> {after} KiB (+{growth_mib} MiB)");
    assert!(growth_mib < 100, "memory grew by {growth_mib} MiB");
    drop(streams);
}

/// A request whose first bytes arrive slowly is not taken by the dedicated stream path; the
/// router serves it the same way.
#[tokio::test]
async fn a_slowly_sent_request_is_served_by_the_router_path_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(b"GET /api/re").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stream
        .write_all(b"altime HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n\r\n")
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("PB_CONNECT") {
        let n = tokio::time::timeout(LONG, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).to_lowercase();
    assert!(text.starts_with("http/1.1 200"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("access-control-allow-origin: *"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    // hyper dates its responses; the dedicated path does not, so this one came via the router
    assert!(text.contains("\r\ndate: "), "{text}");
}

/// The dedicated path answers like the router: default headers, CORS, chunked frames, and
/// an end-of-stream chunk when the server shuts the stream.
#[tokio::test]
async fn the_dedicated_stream_path_speaks_plain_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    short_limits(&app, 300, 10_000);
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(
            b"GET /api/realtime?x=1 HTTP/1.1\r\nHost: x\r\nOrigin: http://app.example\r\n\r\n",
        )
        .await
        .unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(LONG, stream.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&all);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let head = head.to_lowercase();
    for line in [
        "http/1.1 200 ok",
        "content-type: text/event-stream",
        "cache-control: no-store",
        "x-accel-buffering: no",
        "x-content-type-options: nosniff",
        "x-frame-options: sameorigin",
        "access-control-allow-origin: *",
        "transfer-encoding: chunked",
    ] {
        assert!(head.contains(line), "{line} in {head}");
    }
    assert!(
        !head.contains("\r\ndate: "),
        "served by the dedicated path, not hyper: {head}"
    );
    // one chunk with the PB_CONNECT frame, then the last chunk after the idle timeout
    let (size, rest) = body.split_once("\r\n").unwrap();
    let size = usize::from_str_radix(size, 16).unwrap();
    let frame = &rest[..size];
    assert!(
        frame.starts_with("id:") && frame.contains("event:PB_CONNECT\n") && frame.ends_with("\n\n"),
        "{frame}"
    );
    assert_eq!(&rest[size..], "\r\n0\r\n\r\n");
}

/// Events are built inside the transaction, so a record created, updated and deleted in
/// one batch still announces all three, each with the record as that step left it.
#[tokio::test]
async fn each_write_of_a_batch_is_announced_as_it_was() {
    let app = TestApp::spawn().await;
    app.create_collection(&json!({
        "name": "notes", "type": "base", "listRule": "", "viewRule": "",
        "fields": [{"name": "title", "type": "text"}],
    }))
    .await;
    crate::batch::enable(&app, json!({"maxRequests": 10})).await;
    let mut sse = Sse::open(&app).await;
    assert_eq!(
        subscribe(&app.guest(), &sse.client_id, &["notes/*"])
            .await
            .0,
        204
    );
    let (status, body) = app
        .post_json(
            "/api/batch",
            &json!({"requests": [
                {"method": "POST", "url": "/api/collections/notes/records", "body": {"id": "batchnote000001", "title": "a"}},
                {"method": "PATCH", "url": "/api/collections/notes/records/batchnote000001", "body": {"title": "b"}},
                {"method": "DELETE", "url": "/api/collections/notes/records/batchnote000001"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events: Vec<(String, String)> = events_within(&mut sse, Duration::from_millis(700))
        .await
        .into_iter()
        .map(|(_, data)| {
            (
                data["action"].as_str().unwrap().to_owned(),
                data["record"]["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [("create", "a"), ("update", "b"), ("delete", "b")]
        .map(|(a, t)| (a.to_owned(), t.to_owned()));
    assert_eq!(events, expected);
}
