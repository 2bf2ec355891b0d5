//! Server-Sent Events clients for scenarios 6 and 7: many `GET /api/realtime` streams, each
//! read until `PB_CONNECT` names its client id, optionally subscribed to `messages`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, StatusCode};
use reqwest::Method as ApiMethod;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::api::Api;
use crate::load::{self, Request};

/// Streams being opened at once: enough to open 10,000 in seconds, few enough to stay far
/// below the listen backlog.
const OPENING_AT_ONCE: usize = 64;
/// How long one write may take to reach every subscriber before the scenario fails.
const DELIVERY_LIMIT: Duration = Duration::from_secs(30);

pub struct SseStream {
    pub client_id: String,
    body: Incoming,
    buffer: Vec<u8>,
    /// Keeps the connection open as long as the stream lives.
    _connection: SendRequest<Full<Bytes>>,
}

pub struct Event {
    pub name: String,
    pub data: String,
}

impl SseStream {
    pub async fn open(addr: SocketAddr) -> Result<SseStream> {
        let mut connection = load::connect(addr).await?;
        let request = Request {
            method: Method::GET,
            uri: "/api/realtime".to_owned(),
            json_body: None,
            token: None,
        };
        let response = connection
            .send_request(load::build(addr, &request)?)
            .await?;
        ensure!(
            response.status() == StatusCode::OK,
            "GET /api/realtime answered {}",
            response.status()
        );
        let mut stream = SseStream {
            client_id: String::new(),
            body: response.into_body(),
            buffer: Vec::new(),
            _connection: connection,
        };
        let first = stream
            .next_event()
            .await?
            .context("the stream closed before PB_CONNECT")?;
        ensure!(first.name == "PB_CONNECT", "first event was {}", first.name);
        let connect: Value = serde_json::from_str(&first.data)?;
        stream.client_id = connect["clientId"]
            .as_str()
            .context("PB_CONNECT without clientId")?
            .to_owned();
        Ok(stream)
    }

    /// The next complete event, or `None` once the server closed the stream.
    pub async fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|pair| pair == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Ok(Some(parse_event(&String::from_utf8_lossy(&frame))));
            }
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            if let Ok(data) = frame?.into_data() {
                self.buffer
                    .extend(data.iter().copied().filter(|&byte| byte != b'\r'));
            }
        }
    }
}

fn parse_event(frame: &str) -> Event {
    let mut event = Event {
        name: "message".to_owned(),
        data: String::new(),
    };
    for line in frame.lines() {
        let field = |name: &str| line.strip_prefix(name).map(|v| v.trim_start().to_owned());
        if let Some(name) = field("event:") {
            event.name = name;
        } else if let Some(data) = field("data:") {
            event.data.push_str(&data);
        }
    }
    event
}

/// Opens `count` streams, `OPENING_AT_ONCE` at a time. With `subscribe`, each one is then
/// subscribed to `messages` as the user whose token it is given (round robin).
pub async fn open_many(
    addr: SocketAddr,
    count: usize,
    subscribe: Option<(&Api, &[String])>,
) -> Result<Vec<SseStream>> {
    let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
    let mut opening = JoinSet::new();
    for index in 0..count {
        let gate = gate.clone();
        let subscriber =
            subscribe.map(|(api, tokens)| (api.clone(), tokens[index % tokens.len()].clone()));
        opening.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let stream = SseStream::open(addr).await?;
            if let Some((api, token)) = subscriber {
                let body = json!({"clientId": stream.client_id, "subscriptions": ["messages"]});
                let (status, answer) = api
                    .send_raw(ApiMethod::POST, "/api/realtime", body, Some(&token))
                    .await?;
                ensure!(
                    status == StatusCode::NO_CONTENT,
                    "subscribing answered {status}: {answer}"
                );
            }
            anyhow::Ok(stream)
        });
    }
    let mut streams = Vec::with_capacity(count);
    while let Some(opened) = opening.join_next().await {
        streams.push(opened?.with_context(|| format!("opening {count} SSE streams"))?);
    }
    Ok(streams)
}

/// A message event as one subscriber received it.
struct Delivery {
    subscriber: usize,
    record_id: String,
    at: Instant,
}

/// Subscribers whose events are timestamped as they arrive, to time a write's fan-out.
pub struct Fanout {
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    subscribers: usize,
    readers: JoinSet<()>,
}

impl Fanout {
    pub fn listen(streams: Vec<SseStream>) -> Fanout {
        let (sender, deliveries) = mpsc::unbounded_channel();
        let subscribers = streams.len();
        let mut readers = JoinSet::new();
        for (subscriber, mut stream) in streams.into_iter().enumerate() {
            let sender = sender.clone();
            readers.spawn(async move {
                // A stream that ends or fails simply stops delivering; the write that then
                // misses this subscriber fails the scenario with the count.
                while let Ok(Some(event)) = stream.next_event().await {
                    if event.name != "messages" {
                        continue;
                    }
                    let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
                        continue;
                    };
                    let record_id = data["record"]["id"].as_str().unwrap_or_default();
                    let delivery = Delivery {
                        subscriber,
                        record_id: record_id.to_owned(),
                        at: Instant::now(),
                    };
                    if sender.send(delivery).is_err() {
                        break;
                    }
                }
            });
        }
        Fanout {
            deliveries,
            subscribers,
            readers,
        }
    }

    /// Sends `create` through `api` and returns the time from sending it to the moment
    /// the last subscriber received its event.
    pub async fn time_write(&mut self, api: &Api, create: &Request) -> Result<Duration> {
        let body: Value = serde_json::from_slice(create.json_body.as_deref().unwrap_or(b"{}"))?;
        let started = Instant::now();
        let created = api
            .send(ApiMethod::POST, &create.uri, body, create.token.as_deref())
            .await?;
        let id = created["id"].as_str().context("create answered no id")?;
        let mut received = vec![false; self.subscribers];
        let mut missing = self.subscribers;
        let mut last = started;
        while missing > 0 {
            let left = DELIVERY_LIMIT.saturating_sub(started.elapsed());
            let Ok(Some(delivery)) = tokio::time::timeout(left, self.deliveries.recv()).await
            else {
                bail!(
                    "{missing} of {} subscribers got no event for {id} within {DELIVERY_LIMIT:?}",
                    self.subscribers
                );
            };
            if delivery.record_id == id && !received[delivery.subscriber] {
                received[delivery.subscriber] = true;
                missing -= 1;
                last = last.max(delivery.at);
            }
        }
        Ok(last - started)
    }

    pub async fn close(mut self) {
        self.readers.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pocketbase_frames_with_and_without_spaces() {
        let event = parse_event("id:abc\nevent:PB_CONNECT\ndata:{\"clientId\":\"abc\"}\n\n");
        assert_eq!(event.name, "PB_CONNECT");
        assert_eq!(event.data, r#"{"clientId":"abc"}"#);
        let event = parse_event("event: messages\ndata: {}\n\n");
        assert_eq!(
            (event.name.as_str(), event.data.as_str()),
            ("messages", "{}")
        );
    }

    #[test]
    fn an_event_without_a_name_is_a_message() {
        assert_eq!(parse_event("data:x\n\n").name, "message");
    }
}
