//! The realtime hub: connected SSE clients, their subscriptions and bound auth, and the
//! delivery of messages to them.
//!
//! Each client has a bounded queue. Delivery never waits: a client whose queue is full is
//! dropped (its stream closes, the SDK reconnects and re-subscribes), so one slow or dead
//! connection cannot hold up the others. A message's name and data are shared (`Arc`), so
//! fanning one payload out to many clients copies no bytes.
//!
//! Fan-out goes through a [`Broadcaster`]: the default delivers to this process's clients;
//! a PostgreSQL LISTEN/NOTIFY one will publish to every node, whose listeners then call
//! [`Realtime::deliver`] on their own hub.
//!
//! Record events (create/update/delete per subscriber, under list/view rules) will be built
//! on [`Realtime::clients`], [`Client::subscriptions`] and [`Realtime::send`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kb_core::file_name::snake_case;
use kb_core::{Collection, FieldError, ValidationErrors, id};
use kb_store::Row;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc};

use crate::app::{RequestMeta, Requester};
use crate::error::{AppError, AppResult};

/// The topic the OAuth2 redirect is delivered on.
pub const OAUTH2_TOPIC: &str = "@oauth2";
/// The name of the first event of every stream.
pub const CONNECT_EVENT: &str = "PB_CONNECT";
/// Most topics one client may hold.
pub const MAX_TOPICS: usize = 1000;
/// Longest topic, in bytes (PocketBase measures the string's byte length).
pub const MAX_TOPIC_LEN: usize = 2500;

const CLIENT_ID_LEN: usize = 40;
const CLIENT_ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// One event for clients: its SSE event name (the topic, exactly as subscribed) and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub name: Arc<str>,
    pub data: Arc<str>,
}

impl Message {
    pub fn new(name: impl Into<Arc<str>>, data: impl Into<Arc<str>>) -> Message {
        Message {
            name: name.into(),
            data: data.into(),
        }
    }

    /// A message whose data is `value` as JSON.
    pub fn json(name: impl Into<Arc<str>>, value: &Value) -> Message {
        Message::new(name, value.to_string())
    }
}

/// Time and size limits of connections. PocketBase closes a stream after 5 minutes without a
/// message and after 30 minutes in any case; the SDK reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    /// Messages queued per client before it counts as too slow and is dropped.
    pub queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            idle_timeout: Duration::from_secs(5 * 60),
            max_lifetime: Duration::from_secs(30 * 60),
            queue: 256,
        }
    }
}

/// The request options a topic carries in `?options=` (JSON `{"query":{…},"headers":{…}}`):
/// what record events will read as `@request.query.*` / `@request.headers.*`, and the
/// `filter`, `expand` and `fields` of each event. Values are strings, header names
/// snake_cased, as for ordinary requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriptionOptions {
    pub query: Arc<Map<String, Value>>,
    pub headers: Arc<Map<String, Value>>,
}

impl SubscriptionOptions {
    /// The options of a topic; malformed or absent options are empty (PocketBase accepts the
    /// topic all the same).
    pub fn of_topic(topic: &str) -> SubscriptionOptions {
        let mut options = SubscriptionOptions::default();
        let Some(raw) = options_param(topic) else {
            return options;
        };
        let Ok(Value::Object(parsed)) = serde_json::from_str::<Value>(&raw) else {
            return options;
        };
        if let Some(Value::Object(query)) = parsed.get("query") {
            options.query = Arc::new(
                query
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(stringify(v))))
                    .collect(),
            );
        }
        if let Some(Value::Object(headers)) = parsed.get("headers") {
            options.headers = Arc::new(
                headers
                    .iter()
                    .map(|(k, v)| (snake_case(k), Value::String(stringify(v))))
                    .collect(),
            );
        }
        options
    }

    fn query_value(&self, key: &str) -> &str {
        self.query
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    pub fn filter(&self) -> &str {
        self.query_value("filter")
    }

    pub fn expand(&self) -> &str {
        self.query_value("expand")
    }

    pub fn fields(&self) -> &str {
        self.query_value("fields")
    }

    /// The request meta rules see for an event of this subscription.
    pub fn meta(&self) -> RequestMeta {
        RequestMeta {
            method: "GET".into(),
            query: self.query.clone(),
            headers: self.headers.clone(),
        }
    }
}

/// The first `options` query parameter of a topic (`name?options=…`), percent-decoded.
fn options_param(topic: &str) -> Option<String> {
    let without_fragment = topic.split('#').next().unwrap_or_default();
    let (_, query) = without_fragment.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "options")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

/// A JSON value as the single string PocketBase keeps: text as is, numbers in their shortest
/// plain form, booleans as words, and nothing for null, arrays and objects.
fn stringify(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        // Rust writes floats in plain decimal, never with an exponent, as Go's 'f' format.
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => f.to_string(),
            _ => String::new(),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => String::new(),
    }
}

struct ClientState {
    /// Bound by the subscription requests: a guest until one carries auth.
    auth: Requester,
    subscriptions: HashMap<String, Arc<SubscriptionOptions>>,
}

/// One connected SSE stream.
pub struct Client {
    id: String,
    ip: IpAddr,
    state: Mutex<ClientState>,
    queue: mpsc::Sender<Message>,
    /// Signalled when the hub drops the client, so its stream ends at once instead of first
    /// draining a full queue.
    closed: Arc<Notify>,
}

impl Client {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The auth bound to the client (a guest when none).
    pub fn auth(&self) -> Requester {
        self.state.lock().auth.clone()
    }

    pub fn has_subscription(&self, topic: &str) -> bool {
        self.state.lock().subscriptions.contains_key(topic)
    }

    /// The client's topics starting with `prefix`, with their options; every topic when
    /// `prefix` is empty. A topic is matched as if it always ended in `?`, so the prefix
    /// `posts/*?` finds both `posts/*` and `posts/*?options=…` but not `posts/*x`.
    pub fn subscriptions(&self, prefix: &str) -> Vec<(String, Arc<SubscriptionOptions>)> {
        self.state
            .lock()
            .subscriptions
            .iter()
            .filter(|(topic, _)| format!("{topic}?").starts_with(prefix))
            .map(|(topic, options)| (topic.clone(), options.clone()))
            .collect()
    }
}

/// How messages reach the clients of every node.
pub trait Broadcaster: Send + Sync + 'static {
    /// Hand `message` to the clients subscribed to its topic, on every node. A single-node
    /// implementation calls `hub.deliver`; a multi-node one publishes, and each node's
    /// listener calls `deliver` on its own hub.
    fn publish(&self, hub: &Realtime, message: Message);
}

/// Delivery to this process's clients only.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalBroadcaster;

impl Broadcaster for LocalBroadcaster {
    fn publish(&self, hub: &Realtime, message: Message) {
        hub.deliver(&message);
    }
}

/// The realtime hub.
pub struct Realtime {
    clients: RwLock<HashMap<String, Arc<Client>>>,
    /// Clients by what their topics name first (`posts` of `posts/*?options=…`), so a record
    /// change looks only at the clients that asked about its collection.
    by_subject: RwLock<HashMap<String, HashMap<String, Arc<Client>>>>,
    limits: RwLock<Limits>,
    broadcaster: Box<dyn Broadcaster>,
    shut_down: AtomicBool,
}

impl Default for Realtime {
    fn default() -> Self {
        Realtime::new(Limits::default(), Box::new(LocalBroadcaster))
    }
}

/// A registered client's stream side: its queue and close signal. Dropping it (the HTTP
/// response ended, or the peer went away) unregisters the client.
pub struct Connection {
    hub: Arc<Realtime>,
    client: Arc<Client>,
    queue: mpsc::Receiver<Message>,
    limits: Limits,
    ended: bool,
}

impl Connection {
    pub fn client_id(&self) -> &str {
        &self.client.id
    }

    /// The limits in force when the client connected.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The next message, or `None` (from then on) once the hub dropped the client.
    pub async fn next(&mut self) -> Option<Message> {
        if self.ended {
            return None;
        }
        let closed = self.client.closed.clone();
        let message = tokio::select! {
            biased;
            _ = closed.notified() => None,
            message = self.queue.recv() => message,
        };
        self.ended = message.is_none();
        message
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.hub.remove_exact(&self.client);
    }
}

impl Realtime {
    pub fn new(limits: Limits, broadcaster: Box<dyn Broadcaster>) -> Realtime {
        Realtime {
            clients: RwLock::new(HashMap::new()),
            by_subject: RwLock::new(HashMap::new()),
            limits: RwLock::new(limits),
            broadcaster,
            shut_down: AtomicBool::new(false),
        }
    }

    pub fn limits(&self) -> Limits {
        *self.limits.read()
    }

    /// Change the limits of connections made from now on (tests shorten the timeouts).
    pub fn set_limits(&self, limits: Limits) {
        *self.limits.write() = limits;
    }

    /// Register a new client connecting from `ip`, with a fresh 40-character id.
    pub fn connect(self: &Arc<Self>, ip: IpAddr) -> Connection {
        let limits = self.limits();
        let (sender, receiver) = mpsc::channel(limits.queue.max(1));
        let mut clients = self.clients.write();
        let id = loop {
            let id = id::random_string(CLIENT_ID_LEN, CLIENT_ID_ALPHABET);
            if !clients.contains_key(&id) {
                break id;
            }
        };
        let client = Arc::new(Client {
            id: id.clone(),
            ip,
            state: Mutex::new(ClientState {
                auth: Requester::Guest,
                subscriptions: HashMap::new(),
            }),
            queue: sender,
            closed: Arc::new(Notify::new()),
        });
        if self.shut_down.load(Ordering::SeqCst) {
            client.closed.notify_one();
        } else {
            clients.insert(id, client.clone());
        }
        Connection {
            hub: self.clone(),
            client,
            queue: receiver,
            limits,
            ended: false,
        }
    }

    pub fn client(&self, id: &str) -> Option<Arc<Client>> {
        self.clients.read().get(id).cloned()
    }

    /// A snapshot of the connected clients.
    pub fn clients(&self) -> Vec<Arc<Client>> {
        self.clients.read().values().cloned().collect()
    }

    pub fn client_count(&self) -> usize {
        self.clients.read().len()
    }

    /// Replace a client's subscriptions (`POST /api/realtime`) and bind the request's auth.
    /// Checked in PocketBase's order: the input, the client id, the IP the client connected
    /// from, then the auth (a client bound to a record stays bound to it; a guest may bind).
    pub fn set_subscriptions(
        &self,
        client_id: &str,
        ip: IpAddr,
        requester: &Requester,
        topics: Vec<String>,
    ) -> AppResult<()> {
        let mut errors = ValidationErrors::new();
        if client_id.is_empty() {
            errors.add("clientId", FieldError::required());
        }
        let too_long = |max: usize| {
            FieldError::new(
                "validation_length_too_long",
                format!("The length must be no more than {max}."),
            )
            .with_param("max", max as u64)
            .with_param("min", 0)
        };
        if topics.len() > MAX_TOPICS {
            errors.add("subscriptions", too_long(MAX_TOPICS));
        } else {
            let mut per_topic = ValidationErrors::new();
            for (index, topic) in topics.iter().enumerate() {
                if topic.len() > MAX_TOPIC_LEN {
                    per_topic.add(index.to_string(), too_long(MAX_TOPIC_LEN));
                }
            }
            errors.add_group("subscriptions", per_topic);
        }
        if !errors.is_empty() {
            return Err(AppError::invalid("", errors));
        }
        let client = self
            .client(client_id)
            .ok_or_else(|| AppError::NotFound("Missing or invalid client id.".into()))?;
        if client.ip != ip {
            return Err(AppError::bad_request("Invalid realtime client."));
        }
        let subscriptions = topics
            .into_iter()
            .filter(|topic| !topic.is_empty())
            .map(|topic| {
                let options = Arc::new(SubscriptionOptions::of_topic(&topic));
                (topic, options)
            })
            .collect();
        let mut state = client.state.lock();
        if let Some(bound) = auth_key(&state.auth)
            && auth_key(requester) != Some(bound)
        {
            return Err(AppError::Forbidden(
                "The current and the previous request authorization don't match.".into(),
            ));
        }
        state.auth = requester.clone();
        let old = std::mem::replace(&mut state.subscriptions, subscriptions);
        // Still under the client's lock, so concurrent calls cannot interleave here.
        self.unindex(&client, old.keys());
        let mut index = self.by_subject.write();
        for topic in state.subscriptions.keys() {
            index
                .entry(subject(topic).to_owned())
                .or_default()
                .insert(client.id.clone(), client.clone());
        }
        Ok(())
    }

    /// The clients with a topic about any of `subjects` (collection names or ids).
    pub fn subscribers(&self, subjects: &[&str]) -> Vec<Arc<Client>> {
        let index = self.by_subject.read();
        let mut found: HashMap<&str, &Arc<Client>> = HashMap::new();
        for subject in subjects {
            for (id, client) in index.get(*subject).into_iter().flatten() {
                found.insert(id, client);
            }
        }
        found.into_values().cloned().collect()
    }

    /// Whether any client has a topic about one of `subjects`.
    pub fn has_subscribers(&self, subjects: &[&str]) -> bool {
        let index = self.by_subject.read();
        subjects.iter().any(|s| index.contains_key(*s))
    }

    fn unindex<'a>(&self, client: &Client, topics: impl Iterator<Item = &'a String>) {
        let mut index = self.by_subject.write();
        for topic in topics {
            let subject = subject(topic);
            if let Some(clients) = index.get_mut(subject) {
                clients.remove(&client.id);
                if clients.is_empty() {
                    index.remove(subject);
                }
            }
        }
    }

    /// Send `message` to one client without waiting. A client whose queue is full or whose
    /// stream is gone is dropped; `false` then.
    pub fn send(&self, client: &Client, message: Message) -> bool {
        match client.queue.try_send(message) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!(client = %client.id, "realtime client too slow, dropped");
                self.remove_exact(client);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.remove_exact(client);
                false
            }
        }
    }

    /// Publish `message` to the clients subscribed to its topic, through the broadcaster
    /// (on every node when there are several).
    pub fn publish(&self, message: Message) {
        self.broadcaster.publish(self, message);
    }

    /// Deliver `message` to this node's clients subscribed to its topic (exactly).
    pub fn deliver(&self, message: &Message) {
        for client in self.clients() {
            if client.has_subscription(&message.name) {
                self.send(&client, message.clone());
            }
        }
    }

    /// The OAuth2 redirect: hand `data` to the client `client_id` on topic `@oauth2`, if it
    /// is subscribed to it and connected from `ip`. The subscription is used up, as each one
    /// belongs to one sign-in attempt. `true` when the client got the message.
    pub fn send_oauth2(&self, client_id: &str, ip: &IpAddr, data: Value) -> bool {
        let Some(client) = self.client(client_id) else {
            return false;
        };
        if client.ip != *ip {
            return false;
        }
        if client
            .state
            .lock()
            .subscriptions
            .remove(OAUTH2_TOPIC)
            .is_none()
        {
            return false;
        }
        self.send(&client, Message::json(OAUTH2_TOPIC, &data))
    }

    /// `/api/oauth2-redirect`: pass the provider's answer to the client whose id is `state`
    /// (as `{"state","code"}`, plus `"error"` when there is one). Succeeds only when the client
    /// got it, there is a code and no error.
    pub fn oauth2_redirect(&self, ip: &IpAddr, state: &str, code: &str, error: &str) -> bool {
        if state.is_empty() {
            return false;
        }
        let mut data = Map::new();
        data.insert("state".into(), state.into());
        data.insert("code".into(), code.into());
        if !error.is_empty() {
            data.insert("error".into(), error.into());
        }
        self.send_oauth2(state, ip, Value::Object(data)) && error.is_empty() && !code.is_empty()
    }

    /// End every stream and refuse new ones: a graceful shutdown waits for open responses,
    /// and a realtime response would otherwise stay open for up to the maximum lifetime.
    pub fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
        let clients: Vec<_> = self.clients.write().drain().map(|(_, c)| c).collect();
        self.by_subject.write().clear();
        for client in clients {
            client.closed.notify_one();
        }
    }

    /// The auth record `record_id` of collection `collection_id` was deleted, or its
    /// `tokenKey` changed: clients bound to it become guests (their streams stay open).
    ///
    /// Must be called after the commit of every auth-record delete (records API, collection
    /// truncate/delete, cascades) and of every update that changes `tokenKey` (password
    /// change, email change, explicit token reset).
    pub fn drop_auth(&self, collection_id: &str, record_id: &str) {
        for client in self.clients() {
            let mut state = client.state.lock();
            if auth_key(&state.auth) == Some((collection_id, record_id)) {
                state.auth = Requester::Guest;
            }
        }
    }

    /// An auth record was updated: clients bound to it see the new values, or become guests
    /// when its `tokenKey` changed (so old tokens no longer act through a stream). Call after
    /// the commit of every auth-record update.
    pub fn auth_record_updated(&self, collection: &Arc<Collection>, record: &Row) {
        let id = record.get("id").and_then(Value::as_str).unwrap_or_default();
        let token_key = record.get("tokenKey");
        let mut updated = None;
        for client in self.clients() {
            let mut state = client.state.lock();
            let Requester::Auth {
                collection: bound_collection,
                record: bound,
                ..
            } = &state.auth
            else {
                continue;
            };
            if bound_collection.id != collection.id
                || bound.get("id").and_then(Value::as_str) != Some(id)
            {
                continue;
            }
            state.auth = if bound.get("tokenKey") == token_key {
                updated
                    .get_or_insert_with(|| Requester::auth(collection.clone(), record.clone()))
                    .clone()
            } else {
                Requester::Guest
            };
        }
    }

    /// Drop a client (and end its stream) unless the id now names another client.
    fn remove_exact(&self, client: &Client) {
        let removed = {
            let mut clients = self.clients.write();
            match clients.get(&client.id) {
                Some(current) if std::ptr::eq(Arc::as_ptr(current), client) => {
                    clients.remove(&client.id)
                }
                _ => None,
            }
        };
        if removed.is_some() {
            let state = client.state.lock();
            self.unindex(client, state.subscriptions.keys());
            drop(state);
            client.closed.notify_one();
        }
    }
}

/// What a topic is about: the part before its first `/` or `?`.
fn subject(topic: &str) -> &str {
    topic.split(['/', '?']).next().unwrap_or(topic)
}

/// `(collection id, record id)` of an authenticated requester.
fn auth_key(requester: &Requester) -> Option<(&str, &str)> {
    match requester {
        Requester::Guest => None,
        Requester::Auth {
            collection, record, ..
        } => Some((
            collection.id.as_str(),
            record.get("id").and_then(Value::as_str).unwrap_or_default(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn local() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    #[test]
    fn clients_are_indexed_by_what_their_topics_name() {
        let hub = Arc::new(Realtime::default());
        let a = hub.connect(local());
        let b = hub.connect(local());
        let subscribe = |id: &str, topics: &[&str]| {
            hub.set_subscriptions(
                id,
                local(),
                &Requester::Guest,
                topics.iter().map(|t| (*t).to_owned()).collect(),
            )
            .unwrap()
        };
        subscribe(
            a.client_id(),
            &["posts/*", "posts/abc?options=%7B%7D", "pbc_1/*"],
        );
        subscribe(b.client_id(), &["posts?options=%7B%7D", "@oauth2"]);
        let ids = |subjects: &[&str]| {
            let mut ids: Vec<String> = hub
                .subscribers(subjects)
                .iter()
                .map(|c| c.id().to_owned())
                .collect();
            ids.sort();
            ids
        };
        let mut both = vec![a.client_id().to_owned(), b.client_id().to_owned()];
        both.sort();
        assert_eq!(ids(&["posts", "pbc_1"]), both);
        assert_eq!(ids(&["pbc_1"]), vec![a.client_id().to_owned()]);
        assert!(hub.has_subscribers(&["nosuch", "@oauth2"]));
        assert!(!hub.has_subscribers(&["comments"]));
        // replacing the topics and dropping a client both update the index
        subscribe(a.client_id(), &["comments"]);
        assert!(!hub.has_subscribers(&["pbc_1"]));
        assert_eq!(ids(&["posts"]), vec![b.client_id().to_owned()]);
        drop(b);
        assert!(!hub.has_subscribers(&["posts", "@oauth2"]));
        assert!(hub.has_subscribers(&["comments"]));
    }

    #[test]
    fn snake_case_like_pocketbase() {
        assert_eq!(snake_case("X-Token"), "x_token");
        assert_eq!(snake_case("myTestDB"), "my_test_db");
        assert_eq!(snake_case("content-type"), "content_type");
        assert_eq!(snake_case("__a--b__"), "a_b");
        assert_eq!(snake_case("ABC"), "abc");
        assert_eq!(snake_case("héader"), "h_ader");
    }

    #[test]
    fn options_are_parsed_stringified_and_snake_cased() {
        let raw = json!({
            "query": {"filter": "a>1", "n": 2, "f": 1.5, "e": 1e21, "b": true, "x": null, "arr": [1]},
            "headers": {"X-Token": "abc", "myHeader": 3},
        });
        let topic = format!(
            "posts/*?options={}",
            form_urlencoded::byte_serialize(raw.to_string().as_bytes()).collect::<String>()
        );
        let options = SubscriptionOptions::of_topic(&topic);
        assert_eq!(
            Value::Object(Map::clone(&options.query)),
            json!({"filter": "a>1", "n": "2", "f": "1.5", "e": "1000000000000000000000", "b": "true", "x": "", "arr": ""})
        );
        assert_eq!(
            Value::Object(Map::clone(&options.headers)),
            json!({"x_token": "abc", "my_header": "3"})
        );
        assert_eq!(options.filter(), "a>1");
        assert_eq!(&*options.meta().method, "GET");
        for bad in [
            "posts?options=notjson",
            "posts?options=%7B%22query%22%3A1%7D",
            "posts",
        ] {
            assert_eq!(
                SubscriptionOptions::of_topic(bad),
                SubscriptionOptions::default()
            );
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_only_that_client() {
        let hub = Arc::new(Realtime::default());
        hub.set_limits(Limits {
            queue: 2,
            ..Limits::default()
        });
        let mut slow = hub.connect(local());
        let mut fast = hub.connect(local());
        for conn in [&slow, &fast] {
            hub.set_subscriptions(
                conn.client_id(),
                local(),
                &Requester::Guest,
                vec!["t".into()],
            )
            .unwrap();
        }
        for i in 0..5 {
            hub.publish(Message::new("t", i.to_string()));
            assert_eq!(fast.next().await.unwrap().data.as_ref(), i.to_string());
        }
        assert_eq!(hub.client_count(), 1);
        assert!(hub.client(slow.client_id()).is_none());
        assert_eq!(slow.next().await, None);
        drop(fast);
        assert_eq!(hub.client_count(), 0);
    }

    #[tokio::test]
    async fn oauth2_is_delivered_once_to_the_same_ip() {
        let hub = Arc::new(Realtime::default());
        let mut conn = hub.connect(local());
        let id = conn.client_id().to_owned();
        hub.set_subscriptions(&id, local(), &Requester::Guest, vec![OAUTH2_TOPIC.into()])
            .unwrap();
        let other = IpAddr::from([127, 0, 0, 2]);
        assert!(!hub.send_oauth2(&id, &other, json!({})));
        assert!(hub.send_oauth2(&id, &local(), json!({"state": id, "code": "c"})));
        let message = conn.next().await.unwrap();
        assert_eq!(message.name.as_ref(), OAUTH2_TOPIC);
        assert_eq!(
            message.data.as_ref(),
            format!(r#"{{"state":"{id}","code":"c"}}"#)
        );
        assert!(!hub.send_oauth2(&id, &local(), json!({})));
    }
}
