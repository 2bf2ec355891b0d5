//! Setting a server up through its HTTP API, the same calls for every PocketBase-compatible
//! server: collections with their rules and indexes, users, rooms, memberships, seeded
//! messages (through `POST /api/batch`), and a token per user.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use kb_bench::dataset::{self, MEMBER_USERS, OUTSIDER, PASSWORD, ROOMS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::servers::{SUPERUSER_EMAIL, SUPERUSER_PASSWORD, Server};

/// Seeded messages per batch request (the batch limit is raised to this).
const BATCH_SIZE: usize = 1000;

/// Anyone signed in may list messages; only the author may view one by id; only a member
/// of the room may post in it, and only as themself. The two `@collection.room_members`
/// conditions share one join, so they must hold for the same membership row.
const MESSAGES_LIST_RULE: &str = "@request.auth.id != ''";
const MESSAGES_VIEW_RULE: &str = "author = @request.auth.id";
const MESSAGES_CREATE_RULE: &str = "@request.auth.id != '' && \
     @request.body.author = @request.auth.id && \
     @collection.room_members.room ?= @request.body.room && \
     @collection.room_members.user ?= @request.auth.id";

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    superuser_token: String,
}

/// What setting up one server produced: a token per user, in user order, and how long the
/// seeding took.
pub struct Session {
    pub user_tokens: Vec<String>,
    pub seed_time: Duration,
}

impl Api {
    pub async fn connect(server: &Server) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()?;
        let mut api = Api {
            http,
            base: server.base_url(),
            superuser_token: String::new(),
        };
        api.superuser_token = api
            .auth_with_password("_superusers", SUPERUSER_EMAIL, SUPERUSER_PASSWORD)
            .await?;
        Ok(api)
    }

    /// Creates the schema, users, rooms and memberships, seeds `records` messages and signs
    /// every user in. Without `request_logs` the server keeps no request log (`maxDays: 0`).
    pub async fn set_up(&self, records: usize, request_logs: bool) -> Result<Session> {
        let mut settings =
            json!({"batch": {"enabled": true, "maxRequests": BATCH_SIZE, "timeout": 120}});
        if !request_logs {
            settings["logs"] = json!({"maxDays": 0});
        }
        self.superuser(Method::PATCH, "/api/settings", settings)
            .await?;
        self.create_collections().await?;
        for user in 0..=OUTSIDER {
            let body = json!({
                "id": dataset::user_id(user),
                "email": dataset::user_email(user),
                "password": PASSWORD,
                "passwordConfirm": PASSWORD,
                "verified": true,
            });
            self.superuser(Method::POST, "/api/collections/users/records", body)
                .await?;
        }
        for room in 0..ROOMS {
            let body = json!({"id": dataset::room_id(room), "name": format!("room {room}")});
            self.superuser(Method::POST, "/api/collections/rooms/records", body)
                .await?;
        }
        for user in 0..MEMBER_USERS {
            for room in dataset::user_rooms(user) {
                let body = json!({"room": dataset::room_id(room), "user": dataset::user_id(user)});
                self.superuser(Method::POST, "/api/collections/room_members/records", body)
                    .await?;
            }
        }
        let started = Instant::now();
        self.seed_messages(records).await?;
        let seed_time = started.elapsed();
        let mut user_tokens = Vec::new();
        for user in 0..=OUTSIDER {
            let token = self
                .auth_with_password("users", &dataset::user_email(user), PASSWORD)
                .await?;
            user_tokens.push(token);
        }
        Ok(Session {
            user_tokens,
            seed_time,
        })
    }

    async fn create_collections(&self) -> Result<()> {
        let users = self
            .superuser(Method::GET, "/api/collections/users", Value::Null)
            .await?;
        let users_id = id_of(&users)?;
        let rooms = self
            .superuser(
                Method::POST,
                "/api/collections",
                json!({
                    "name": "rooms",
                    "type": "base",
                    "listRule": "@request.auth.id != ''",
                    "viewRule": "@request.auth.id != ''",
                    "fields": [{"name": "name", "type": "text", "required": true}],
                }),
            )
            .await?;
        let rooms_id = id_of(&rooms)?;
        self.superuser(
            Method::POST,
            "/api/collections",
            json!({
                "name": "room_members",
                "type": "base",
                "listRule": "user = @request.auth.id",
                "viewRule": "user = @request.auth.id",
                "fields": [
                    relation("room", &rooms_id),
                    relation("user", &users_id),
                ],
                "indexes": [
                    "CREATE UNIQUE INDEX idx_room_members_room_user ON room_members (room, user)"
                ],
            }),
        )
        .await?;
        self.superuser(
            Method::POST,
            "/api/collections",
            json!({
                "name": "messages",
                "type": "base",
                "listRule": MESSAGES_LIST_RULE,
                "viewRule": MESSAGES_VIEW_RULE,
                "createRule": MESSAGES_CREATE_RULE,
                "fields": [
                    relation("room", &rooms_id),
                    relation("author", &users_id),
                    {"name": "text", "type": "text", "required": true},
                    {"name": "seq", "type": "number", "onlyInt": true},
                    // Deliberately without an index: scenario 4 filters on it.
                    {"name": "tag", "type": "text"},
                ],
                "indexes": ["CREATE INDEX idx_messages_room_seq ON messages (room, seq)"],
            }),
        )
        .await?;
        Ok(())
    }

    async fn seed_messages(&self, records: usize) -> Result<()> {
        let mut next = 0;
        while next < records {
            let end = (next + BATCH_SIZE).min(records);
            let requests: Vec<Value> = (next..end)
                .map(|index| {
                    json!({
                        "method": "POST",
                        "url": "/api/collections/messages/records?fields=id",
                        "body": dataset::seed_message(index),
                    })
                })
                .collect();
            let answers = self
                .superuser(Method::POST, "/api/batch", json!({"requests": requests}))
                .await
                .with_context(|| format!("seeding messages {next}..{end}"))?;
            let created = answers.as_array().map_or(0, Vec::len);
            if created != end - next {
                bail!("batch seeding {next}..{end} answered {created} results");
            }
            next = end;
        }
        Ok(())
    }

    async fn auth_with_password(
        &self,
        collection: &str,
        identity: &str,
        password: &str,
    ) -> Result<String> {
        let answer = self
            .send(
                Method::POST,
                &format!("/api/collections/{collection}/auth-with-password"),
                json!({"identity": identity, "password": password}),
                None,
            )
            .await?;
        answer["token"]
            .as_str()
            .map(str::to_owned)
            .context("auth-with-password answered without a token")
    }

    async fn superuser(&self, method: Method, path: &str, body: Value) -> Result<Value> {
        self.send(method, path, body, Some(&self.superuser_token))
            .await
    }

    /// Sends one JSON request (no body for `Value::Null`) and returns the JSON answer,
    /// failing on any status other than 2xx.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> Result<Value> {
        let (status, answer) = self.send_raw(method.clone(), path, body, token).await?;
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {answer}");
        }
        Ok(answer)
    }

    /// Like [`Api::send`], but returns whatever status came back.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Value,
        token: Option<&str>,
    ) -> Result<(StatusCode, Value)> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if !body.is_null() {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        let answer = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok((status, answer))
    }
}

fn relation(name: &str, collection_id: &str) -> Value {
    json!({
        "name": name,
        "type": "relation",
        "collectionId": collection_id,
        "maxSelect": 1,
        "required": true,
    })
}

fn id_of(collection: &Value) -> Result<String> {
    collection["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {collection}"))
}
