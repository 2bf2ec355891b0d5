//! Test helpers, behind the `testing` cargo feature.
//!
//! [`TestProvider`] is a real OAuth2 + OpenID Connect server on `127.0.0.1:0` (axum), so
//! tests can run the whole sign-in of any built-in provider against it: point the
//! provider's URLs at it with [`TestProvider::config`], open the authorization URL with
//! [`TestProvider::authorize`] (or let a browser-like client follow it), and exchange the
//! code.
//!
//! ```no_run
//! # async fn demo() {
//! use kb_oauth2::{Provider, pkce_pair, testing::TestProvider};
//! use serde_json::json;
//!
//! let idp = TestProvider::start().await;
//! idp.set_next_user(json!({"sub": "u1", "email": "a@example.com", "email_verified": true}));
//! let provider = Provider::new(&idp.config("google")).unwrap();
//! let (verifier, challenge) = pkce_pair();
//! let redirect = "http://127.0.0.1:8090/api/oauth2-redirect";
//! let url = provider.auth_url("state123", Some(&challenge)) + redirect;
//! let (code, _state) = idp.authorize(&url).await.unwrap();
//! let user = provider
//!     .authenticate(&reqwest::Client::new(), &code, &verifier, redirect)
//!     .await
//!     .unwrap();
//! assert_eq!(user.id, "u1");
//! # }
//! ```
//!
//! Endpoints:
//! * `GET /authorize`: checks `client_id` and `response_type=code`, remembers
//!   `redirect_uri`, `scope` and the PKCE challenge with the user set by
//!   [`TestProvider::set_next_user`], and redirects (302) to `redirect_uri` with `code` and
//!   `state` at once (no login page).
//! * `POST /token`: client authentication by HTTP Basic or form fields, single-use codes,
//!   `redirect_uri` equal to the one given to `/authorize`, the PKCE verifier (S256 or
//!   plain) against the challenge; answers `access_token`, `token_type`, `refresh_token`,
//!   `expires_in` (3600), `scope` and an RS256 `id_token` (plus
//!   [`TestProvider::set_token_extra`]). Errors are RFC 6749 JSON (`invalid_client` 401,
//!   `invalid_grant` / `invalid_request` / `unsupported_grant_type` 400).
//! * `GET|POST /userinfo` and `/user` (Bearer token): the user's JSON.
//! * `GET /user/emails`, `/userinfo/emails`, `/emails`: the list set with
//!   [`TestProvider::set_emails`] (GitHub-, Gitea-, Bitbucket- and Gitee-like).
//! * `GET /jwks`: the public signing key (`kid` [`TestProvider::KEY_ID`], `alg` RS256).

mod keys;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::ProviderConfig;

/// A token request as the test provider received it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenRequest {
    /// Whether the client authenticated with HTTP Basic.
    pub basic_auth: bool,
    /// The form fields (`client_secret` included when sent in the form).
    pub form: Map<String, Value>,
}

struct Grant {
    user: Value,
    emails: Value,
    client_id: String,
    redirect_uri: Option<String>,
    challenge: Option<(String, String)>,
    scope: String,
}

struct Inner {
    next_user: Value,
    emails: Value,
    token_extra: Map<String, Value>,
    id_token_claims: Map<String, Value>,
    untrusted_key: bool,
    grants: HashMap<String, Grant>,
    tokens: HashMap<String, (Value, Value)>,
    token_requests: Vec<TokenRequest>,
}

struct Shared {
    base_url: String,
    client_id: String,
    client_secret: String,
    signing_key: EncodingKey,
    untrusted_key: EncodingKey,
    jwks: Value,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A local OAuth2 / OIDC provider for tests. Stops when dropped.
pub struct TestProvider {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestProvider {
    /// The `kid` of the published signing key.
    pub const KEY_ID: &'static str = "kb-test-key";
    /// The client credentials [`TestProvider::start`] accepts.
    pub const CLIENT_ID: &'static str = "test-client";
    pub const CLIENT_SECRET: &'static str = "test-secret";

    /// Starts a provider accepting [`Self::CLIENT_ID`] / [`Self::CLIENT_SECRET`].
    pub async fn start() -> TestProvider {
        Self::start_with_client(Self::CLIENT_ID, Self::CLIENT_SECRET).await
    }

    /// Starts a provider accepting these client credentials.
    pub async fn start_with_client(client_id: &str, client_secret: &str) -> TestProvider {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .expect("bind the test OAuth2 provider");
        let addr = listener.local_addr().expect("local address");
        let der = |b64: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("test key base64")
        };
        let signing_key = EncodingKey::from_rsa_der(&der(keys::SIGNING_KEY));
        let untrusted_key = EncodingKey::from_rsa_der(&der(keys::UNTRUSTED_KEY));
        let mut jwk = Jwk::from_encoding_key(&signing_key, Algorithm::RS256).expect("test JWK");
        jwk.common.key_id = Some(Self::KEY_ID.to_owned());
        let shared = Arc::new(Shared {
            base_url: format!("http://{addr}"),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            signing_key,
            untrusted_key,
            jwks: json!({ "keys": [jwk] }),
            inner: Mutex::new(Inner {
                next_user: json!({"sub": "test-user", "id": "test-user"}),
                emails: json!([]),
                token_extra: Map::new(),
                id_token_claims: Map::new(),
                untrusted_key: false,
                grants: HashMap::new(),
                tokens: HashMap::new(),
                token_requests: Vec::new(),
            }),
        });
        let router = Router::new()
            .route("/authorize", get(authorize))
            .route("/token", axum::routing::post(token))
            .route("/userinfo", get(userinfo).post(userinfo))
            .route("/user", get(userinfo).post(userinfo))
            .route("/user/emails", get(emails))
            .route("/userinfo/emails", get(emails))
            .route("/emails", get(emails))
            .route("/jwks", get(jwks))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        TestProvider { shared, task }
    }

    /// `http://127.0.0.1:PORT`, also the `iss` of its id_tokens.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// `{base_url}/jwks`.
    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.shared.base_url)
    }

    /// The user the next `/authorize` logs in: the JSON `/userinfo` answers, also merged
    /// into the id_token's claims (after `iss`, `sub`, `aud`, `iat`, `exp`). Give it in the
    /// shape of the provider under test (GitHub's, Google's, …).
    pub fn set_next_user(&self, user: Value) {
        self.shared.lock().next_user = user;
    }

    /// The e-mail list the `…/emails` endpoints answer for the next login.
    pub fn set_emails(&self, emails: Value) {
        self.shared.lock().emails = emails;
    }

    /// Fields added to every later token response (e.g. VK's `email`).
    pub fn set_token_extra(&self, extra: Value) {
        self.shared.lock().token_extra = extra.as_object().cloned().unwrap_or_default();
    }

    /// Claims set on every later id_token, over everything else (`null` removes a claim),
    /// e.g. `{"aud": "someone-else"}`.
    pub fn set_id_token_claims(&self, claims: Value) {
        self.shared.lock().id_token_claims = claims.as_object().cloned().unwrap_or_default();
    }

    /// Signs later id_tokens with a key the JWKS does not hold (same `kid`).
    pub fn sign_with_untrusted_key(&self, untrusted: bool) {
        self.shared.lock().untrusted_key = untrusted;
    }

    /// The token requests received so far.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().token_requests.clone()
    }

    /// An RS256 id_token with exactly these claims, signed with the published key.
    pub fn sign_id_token(&self, claims: &Value) -> String {
        sign(&self.shared.signing_key, claims)
    }

    /// A config for the built-in provider `name` pointing at this server, with its client
    /// credentials: `authURL` `/authorize`, `tokenURL` `/token`, and
    /// * `apple`: no `userInfoURL` (the user is the id_token), `extra.jwksURL`;
    /// * `oidc`, `oidc2`, `oidc3`: no `userInfoURL`, `extra.jwksURL` and
    ///   `extra.issuers: [base_url]`;
    /// * `github`, `gitea`, `gitee`, `bitbucket`: `userInfoURL` `/user` (e-mails at
    ///   `/user/emails`, Gitee's at `/emails`);
    /// * any other: `userInfoURL` `/userinfo`.
    pub fn config(&self, name: &str) -> ProviderConfig {
        let base = &self.shared.base_url;
        let mut config = ProviderConfig {
            name: name.to_owned(),
            client_id: self.shared.client_id.clone(),
            client_secret: self.shared.client_secret.clone(),
            auth_url: format!("{base}/authorize"),
            token_url: format!("{base}/token"),
            ..ProviderConfig::default()
        };
        match name {
            "apple" => {
                config
                    .extra
                    .insert("jwksURL".into(), self.jwks_url().into());
            }
            "oidc" | "oidc2" | "oidc3" => {
                config
                    .extra
                    .insert("jwksURL".into(), self.jwks_url().into());
                config.extra.insert("issuers".into(), json!([base]));
            }
            "github" | "gitea" | "gitee" | "bitbucket" => {
                config.user_info_url = format!("{base}/user");
            }
            _ => config.user_info_url = format!("{base}/userinfo"),
        }
        config
    }

    /// Opens an authorization URL like a browser whose user consents at once: returns the
    /// `code` and `state` of the redirect, or the redirect's `error` / the failure.
    pub async fn authorize(&self, auth_url: &str) -> Result<(String, String), String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        let response = client
            .get(auth_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("no redirect (status {})", response.status()))?;
        let query = location.split_once('?').map_or("", |(_, q)| q);
        let params = crate::http::parse_form(query.as_bytes());
        let get = |k: &str| {
            params
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        if !get("error").is_empty() {
            return Err(get("error"));
        }
        Ok((get("code"), get("state")))
    }
}

fn sign(key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(TestProvider::KEY_ID.to_owned());
    jsonwebtoken::encode(&header, claims, key).expect("sign a test id_token")
}

fn random(len: usize) -> String {
    kb_core::id::random_string(len, b"abcdefghijklmnopqrstuvwxyz0123456789")
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(json!({"error": code}))).into_response()
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| query.get(k).cloned().unwrap_or_default();
    if get("client_id") != shared.client_id {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    let redirect_uri = get("redirect_uri");
    if redirect_uri.is_empty() {
        return (StatusCode::BAD_REQUEST, "missing redirect_uri").into_response();
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let state = crate::http::query_escape(&get("state"));
    if get("response_type") != "code" {
        let location =
            format!("{redirect_uri}{separator}error=unsupported_response_type&state={state}");
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let challenge = query
        .get("code_challenge")
        .filter(|c| !c.is_empty())
        .map(|c| {
            let method = query
                .get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".to_owned());
            (c.clone(), method)
        });
    let code = random(24);
    {
        let mut inner = shared.lock();
        let grant = Grant {
            user: inner.next_user.clone(),
            emails: inner.emails.clone(),
            client_id: get("client_id"),
            redirect_uri: Some(redirect_uri.clone()),
            challenge,
            scope: get("scope"),
        };
        inner.grants.insert(code.clone(), grant);
    }
    let location = format!("{redirect_uri}{separator}code={code}&state={state}");
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `(client_id, client_secret)` from HTTP Basic (URL-encoded parts, RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let parsed = crate::http::parse_form(format!("i={id}&s={secret}").as_bytes());
    let part = |k: &str| {
        parsed
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Some((part("i"), part("s")))
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let form = crate::http::parse_form(body.as_bytes());
    let field = |k: &str| {
        form.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let basic = basic_credentials(&headers);
    let mut inner = shared.lock();
    inner.token_requests.push(TokenRequest {
        basic_auth: basic.is_some(),
        form: form.clone(),
    });
    let (client_id, client_secret) =
        basic.unwrap_or_else(|| (field("client_id"), field("client_secret")));
    if client_id != shared.client_id || client_secret != shared.client_secret {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if field("grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let Some(grant) = inner.grants.remove(&field("code")) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if grant.client_id != client_id {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    if let Some(expected) = &grant.redirect_uri
        && field("redirect_uri") != *expected
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    if let Some((challenge, method)) = &grant.challenge {
        let verifier = field("code_verifier");
        let computed = match method.as_str() {
            "S256" => crate::s256_challenge(&verifier),
            "plain" => verifier.clone(),
            _ => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
        };
        if verifier.is_empty() || computed != *challenge {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
    }

    let now = jiff::Timestamp::now().as_second();
    let mut claims = Map::new();
    claims.insert("iss".into(), shared.base_url.clone().into());
    let subject = match (grant.user.get("sub"), grant.user.get("id")) {
        (Some(sub), _) | (None, Some(sub)) => sub.clone(),
        (None, None) => Value::String("test-user".into()),
    };
    claims.insert("sub".into(), subject);
    claims.insert("aud".into(), client_id.clone().into());
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + 3600).into());
    if let Value::Object(user) = &grant.user {
        claims.extend(user.clone());
    }
    for (k, v) in &inner.id_token_claims {
        if v.is_null() {
            claims.remove(k);
        } else {
            claims.insert(k.clone(), v.clone());
        }
    }
    let key = if inner.untrusted_key {
        &shared.untrusted_key
    } else {
        &shared.signing_key
    };
    let id_token = sign(key, &Value::Object(claims));
    let access_token = format!("at-{}", random(24));
    let mut response = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "refresh_token": format!("rt-{}", random(24)),
        "expires_in": 3600,
        "scope": grant.scope,
        "id_token": id_token,
    });
    if let Value::Object(map) = &mut response {
        map.extend(inner.token_extra.clone());
    }
    inner
        .tokens
        .insert(access_token, (grant.user.clone(), grant.emails.clone()));
    (StatusCode::OK, axum::Json(response)).into_response()
}

/// The user and e-mails of the request's Bearer token.
fn bearer(shared: &Shared, headers: &HeaderMap) -> Option<(Value, Value)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    shared.lock().tokens.get(token).cloned()
}

async fn userinfo(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match bearer(&shared, &headers) {
        Some((user, _)) => axum::Json(user).into_response(),
        None => oauth_error(StatusCode::UNAUTHORIZED, "invalid_token"),
    }
}

async fn emails(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match bearer(&shared, &headers) {
        Some((_, emails)) => axum::Json(emails).into_response(),
        None => oauth_error(StatusCode::UNAUTHORIZED, "invalid_token"),
    }
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.jwks.clone()).into_response()
}
