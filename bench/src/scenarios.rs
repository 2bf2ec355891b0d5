//! The scenarios of issue 6: what each one sends, and what a correct answer looks like.

use anyhow::{Result, ensure};
use bytes::Bytes;
use hyper::Method;
use kb_bench::dataset::{self, MEMBER_USERS, PASSWORD, TAGS};
use serde_json::{Value, json};

use crate::load::Request;
use crate::report::{FLOOR, KEELBASE_POSTGRES};

/// In the order they run. Reads come before creates so the list scenarios of every server
/// see the same rows (the faster server would otherwise have inserted more by then).
/// auth-with-password comes after them: password hashing takes far more memory than
/// anything else, and a process may keep it, which would hide the others' peak RSS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    View,
    ListIndexed,
    ListIndexedNoTotal,
    ListUnindexed,
    ListUnindexedNoTotal,
    AuthRefresh,
    Create,
    AuthPassword,
    Realtime,
    SseMemory,
}

impl Scenario {
    /// The scenario's number in issue 6.
    pub fn number(self) -> u8 {
        match self {
            Scenario::Create => 1,
            Scenario::View => 2,
            Scenario::ListIndexed | Scenario::ListIndexedNoTotal => 3,
            Scenario::ListUnindexed | Scenario::ListUnindexedNoTotal => 4,
            Scenario::AuthPassword | Scenario::AuthRefresh => 5,
            Scenario::Realtime => 6,
            Scenario::SseMemory => 7,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Scenario::Create => "create message (membership createRule)",
            Scenario::View => "view message by id (viewRule on @request.auth.id)",
            Scenario::ListIndexed => "list 20, filter+sort on indexed field, with totals",
            Scenario::ListIndexedNoTotal => "list 20, filter+sort on indexed field, skipTotal",
            Scenario::ListUnindexed => "list 20, filter on unindexed field, with totals",
            Scenario::ListUnindexedNoTotal => "list 20, filter on unindexed field, skipTotal",
            Scenario::AuthPassword => "auth-with-password",
            Scenario::AuthRefresh => "auth-refresh",
            Scenario::Realtime => "realtime: one write to N SSE subscribers",
            Scenario::SseMemory => "memory with idle SSE connections",
        }
    }

    /// Whether the server named `server` takes part. Every scenario runs on Keelbase and
    /// PocketBase; the load scenarios 1–5 also on Keelbase with PostgreSQL; views and
    /// creates also on the raw floor (scenario 8), which answers nothing else.
    pub fn runs_on(self, server: &str) -> bool {
        match server {
            FLOOR => matches!(self, Scenario::View | Scenario::Create),
            KEELBASE_POSTGRES => self.number() <= 5,
            _ => true,
        }
    }

    /// The request worker `worker` sends as its `sent`-th. Worker `w` acts as member user
    /// `w % MEMBER_USERS`, whose token is `tokens[user]` (no tokens: the raw floor).
    pub fn request(self, tokens: &[String], records: usize, worker: usize, sent: u64) -> Request {
        let user = worker % MEMBER_USERS;
        let token = tokens.get(user).cloned();
        // A cheap scramble so workers do not walk the same ids in step.
        let spread = (sent as usize)
            .wrapping_mul(2_654_435_761)
            .wrapping_add(worker.wrapping_mul(40_503));
        let room = dataset::room_id(dataset::user_rooms(user)[sent as usize % 2]);
        let records_uri = "/api/collections/messages/records";
        match self {
            Scenario::View => {
                // Only the author may view a message: pick one of this user's.
                let per_user = records / MEMBER_USERS;
                let index = user + MEMBER_USERS * (spread % per_user);
                get(
                    format!("{records_uri}/{}", dataset::message_id(index)),
                    token,
                )
            }
            Scenario::ListIndexed | Scenario::ListIndexedNoTotal => {
                let filter = format!("room='{room}'");
                let uri = list_uri(&filter, "&sort=-seq", self == Scenario::ListIndexedNoTotal);
                get(uri, token)
            }
            Scenario::ListUnindexed | Scenario::ListUnindexedNoTotal => {
                let filter = format!("tag='{}'", dataset::tag(spread % TAGS));
                let uri = list_uri(&filter, "", self == Scenario::ListUnindexedNoTotal);
                get(uri, token)
            }
            Scenario::AuthPassword => post(
                "/api/collections/users/auth-with-password".to_owned(),
                json!({"identity": dataset::user_email(user), "password": PASSWORD}),
                None,
            ),
            Scenario::AuthRefresh => Request {
                method: Method::POST,
                uri: "/api/collections/users/auth-refresh".to_owned(),
                json_body: None,
                token,
            },
            Scenario::Create | Scenario::Realtime => post(
                records_uri.to_owned(),
                json!({
                    "room": room,
                    "author": dataset::user_id(user),
                    "text": format!("bench message {worker}-{sent}"),
                    "seq": 10_000_000 + sent,
                    "tag": "bench",
                }),
                token,
            ),
            Scenario::SseMemory => unreachable!("scenario 7 sends no request loop"),
        }
    }

    /// Checks that the answer to `request(tokens, records, 0, 0)` (worker 0, so user 0)
    /// means what the scenario is about, not just that its status was right.
    pub fn validate(self, answer: &Value, records: usize) -> Result<()> {
        match self {
            Scenario::View => ensure!(
                answer["author"] == dataset::user_id(0),
                "view answered someone else's message: {answer}"
            ),
            Scenario::ListIndexed
            | Scenario::ListIndexedNoTotal
            | Scenario::ListUnindexed
            | Scenario::ListUnindexedNoTotal => {
                let items = answer["items"].as_array().map_or(0, Vec::len);
                ensure!(items > 0, "the list is empty: {answer}");
                let total = answer["totalItems"].as_i64().unwrap_or_default();
                let skip_total = matches!(
                    self,
                    Scenario::ListIndexedNoTotal | Scenario::ListUnindexedNoTotal
                );
                ensure!(
                    if skip_total { total == -1 } else { total > 0 },
                    "unexpected totalItems {total}"
                );
                // Worker 0's first unindexed filter is `tag='tag-0'`, which matches every
                // TAGS-th seeded message and nothing created later: proof that the server
                // holds the whole seeded data set.
                if self == Scenario::ListUnindexed {
                    let seeded = records.div_ceil(TAGS);
                    ensure!(
                        total == i64::try_from(seeded)?,
                        "tag-0 matches {total} messages, the seeded data set has {seeded}"
                    );
                }
            }
            Scenario::AuthPassword | Scenario::AuthRefresh => ensure!(
                answer["token"]
                    .as_str()
                    .is_some_and(|token| !token.is_empty()),
                "no token in {answer}"
            ),
            Scenario::Create | Scenario::Realtime => ensure!(
                answer["id"].as_str().is_some_and(|id| id.len() == 15)
                    && answer["author"] == dataset::user_id(0),
                "create answered {answer}"
            ),
            Scenario::SseMemory => {}
        }
        Ok(())
    }
}

fn list_uri(filter: &str, sort: &str, skip_total: bool) -> String {
    let filter: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    let skip = if skip_total { "&skipTotal=1" } else { "" };
    format!("/api/collections/messages/records?perPage=20&filter={filter}{sort}{skip}")
}

fn get(uri: String, token: Option<String>) -> Request {
    Request {
        method: Method::GET,
        uri,
        json_body: None,
        token,
    }
}

fn post(uri: String, body: Value, token: Option<String>) -> Request {
    Request {
        method: Method::POST,
        uri,
        json_body: Some(Bytes::from(body.to_string())),
        token,
    }
}
