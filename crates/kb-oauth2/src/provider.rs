//! A provider as configured: the authorization URL and the code exchange.
//!
//! The exchange is written here rather than with the `oauth2` crate: `oauth2` 5 is built on
//! reqwest 0.12 (a second HTTP stack next to our 0.13), and what we need of it is one form
//! POST. Writing it also lets us match PocketBase's Go client where clients can see it: the
//! authorization URL's parameter order and escaping, and client authentication tried first
//! with HTTP Basic and then, if the provider refuses, with `client_id`/`client_secret` in
//! the form (Go's "auto-detect" style).

use std::fmt;

use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{Map, Value};

use crate::catalogue::{APPLE_ISSUER, APPLE_JWKS_URL, ProviderInfo, provider_info};
use crate::http::{self, encode_sorted, query_escape};
use crate::id_token::{self, Expect};
use crate::mapping::{self, family, looks_like_email, text};
use crate::{AuthUser, OAuth2Error, ProviderConfig, redacted};

/// One provider with its configuration resolved over the catalogue's defaults.
#[derive(Clone)]
pub struct Provider {
    info: &'static ProviderInfo,
    display_name: String,
    client_id: String,
    client_secret: String,
    auth_url: String,
    token_url: String,
    user_info_url: String,
    scopes: Vec<String>,
    pkce: bool,
    extra: Map<String, Value>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.info.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &redacted(&self.client_secret))
            .field("auth_url", &self.auth_url)
            .field("token_url", &self.token_url)
            .field("user_info_url", &self.user_info_url)
            .field("scopes", &self.scopes)
            .field("pkce", &self.pkce)
            .finish_non_exhaustive()
    }
}

/// A token response.
struct Token {
    access_token: String,
    token_type: String,
    refresh_token: String,
    expiry: Option<jiff::Timestamp>,
    /// The whole response (id_token, VK's email, Instagram's permissions, …).
    raw: Map<String, Value>,
}

impl Token {
    /// The Authorization scheme, normalised as Go's oauth2 does.
    fn authorization(&self) -> String {
        let scheme = match self.token_type.to_ascii_lowercase().as_str() {
            "" | "bearer" => "Bearer".to_owned(),
            "mac" => "MAC".to_owned(),
            "basic" => "Basic".to_owned(),
            _ => self.token_type.clone(),
        };
        format!("{scheme} {}", self.access_token)
    }

    fn id_token(&self) -> &str {
        self.raw
            .get("id_token")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// How one token request failed: a provider's refusal (worth retrying with the other
/// client-authentication style) or a transport failure (not).
enum Refusal {
    Rejected(String),
    Transport(String),
}

impl Provider {
    /// Resolves `config` over the built-in defaults (non-empty config values win).
    pub fn new(config: &ProviderConfig) -> Result<Provider, OAuth2Error> {
        let info = provider_info(&config.name)
            .ok_or_else(|| OAuth2Error::UnknownProvider(config.name.clone()))?;
        let or_default =
            |value: &str, default: &str| if value.is_empty() { default } else { value }.to_owned();
        let mut scopes: Vec<String> = info.scopes.iter().map(|s| (*s).to_owned()).collect();
        // Microsoft's id_token (needed for `extra.idTokenEmailClaim`) comes with `openid`.
        if info.name == "microsoft"
            && config
                .extra
                .get("idTokenEmailClaim")
                .and_then(Value::as_str)
                .is_some_and(|c| !c.is_empty())
            && !scopes.iter().any(|s| s == "openid")
        {
            scopes.push("openid".to_owned());
        }
        Ok(Provider {
            info,
            display_name: or_default(&config.display_name, info.display_name),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            auth_url: or_default(&config.auth_url, info.auth_url),
            token_url: or_default(&config.token_url, info.token_url),
            user_info_url: or_default(&config.user_info_url, info.user_info_url),
            scopes,
            pkce: config.pkce.unwrap_or(info.pkce),
            extra: config.extra.clone(),
        })
    }

    pub fn name(&self) -> &str {
        self.info.name
    }

    /// The config's `displayName`, else the catalogue's.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    pub fn logo(&self) -> &str {
        self.info.logo
    }

    /// Whether auth-methods hands out a PKCE pair and the exchange sends `code_verifier`.
    pub fn pkce(&self) -> bool {
        self.pkce
    }

    /// The scopes requested (the catalogue's, plus `openid` for Microsoft with
    /// `extra.idTokenEmailClaim`).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The authorization URL as PocketBase's auth-methods shows it: the configured URL,
    /// `?` (or `&` when it already has a query), then `client_id`, `code_challenge` and
    /// `code_challenge_method=S256` (when PKCE is on and a challenge is given),
    /// `response_mode=form_post` (Apple), `response_type=code`, `scope` (space-separated,
    /// omitted when there are none), `state`, sorted by name and escaped like Go's
    /// `url.QueryEscape`; always ending with `&redirect_uri=` for the client to complete.
    pub fn auth_url(&self, state: &str, code_challenge: Option<&str>) -> String {
        let scope = self.scopes.join(" ");
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", self.client_id.as_str()),
        ];
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        if !state.is_empty() {
            pairs.push(("state", state));
        }
        if self.info.name == "apple" {
            pairs.push(("response_mode", "form_post"));
        }
        if let Some(challenge) = code_challenge.filter(|_| self.pkce) {
            pairs.push(("code_challenge", challenge));
            pairs.push(("code_challenge_method", "S256"));
        }
        let separator = if self.auth_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{separator}{}&redirect_uri=",
            self.auth_url,
            encode_sorted(&mut pairs)
        )
    }

    /// Exchanges `code` at the token endpoint (form POST with `grant_type`, `code`,
    /// `redirect_uri`, `code_verifier` when PKCE is on, and the client credentials), then
    /// fetches and maps the user. Token-step failures are [`OAuth2Error::Token`], everything
    /// after is [`OAuth2Error::User`]. Every request has a 15 s timeout and a 1 MiB
    /// response limit.
    pub async fn authenticate(
        &self,
        client: &reqwest::Client,
        code: &str,
        code_verifier: &str,
        redirect_url: &str,
    ) -> Result<AuthUser, OAuth2Error> {
        let token = self
            .exchange(client, code, code_verifier, redirect_url)
            .await
            .map_err(OAuth2Error::Token)?;
        self.fetch_user(client, &token)
            .await
            .map_err(OAuth2Error::User)
    }

    async fn exchange(
        &self,
        client: &reqwest::Client,
        code: &str,
        code_verifier: &str,
        redirect_url: &str,
    ) -> Result<Token, String> {
        if self.token_url.is_empty() {
            return Err("no token URL is configured".to_owned());
        }
        let mut form = vec![("grant_type", "authorization_code"), ("code", code)];
        if !redirect_url.is_empty() {
            form.push(("redirect_uri", redirect_url));
        }
        if self.pkce && !code_verifier.is_empty() {
            form.push(("code_verifier", code_verifier));
        }
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                query_escape(&self.client_id),
                query_escape(&self.client_secret)
            ))
        );
        let first = self
            .token_request(client, encode_sorted(&mut form.clone()), Some(basic))
            .await;
        match first {
            Ok(token) => Ok(token),
            Err(Refusal::Transport(e)) => Err(e),
            Err(Refusal::Rejected(_)) => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", &self.client_secret));
                match self
                    .token_request(client, encode_sorted(&mut form), None)
                    .await
                {
                    Ok(token) => Ok(token),
                    Err(Refusal::Rejected(e) | Refusal::Transport(e)) => Err(e),
                }
            }
        }
    }

    async fn token_request(
        &self,
        client: &reqwest::Client,
        body: String,
        authorization: Option<String>,
    ) -> Result<Token, Refusal> {
        let mut request = client
            .post(&self.token_url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(body);
        if let Some(authorization) = authorization {
            request = request.header(AUTHORIZATION, authorization);
        }
        let body = http::send(request).await.map_err(Refusal::Transport)?;
        let raw = if body
            .content_type
            .starts_with("application/x-www-form-urlencoded")
            || body.content_type.starts_with("text/plain")
        {
            Some(http::parse_form(&body.bytes))
        } else {
            serde_json::from_slice::<Map<String, Value>>(&body.bytes).ok()
        };
        let error_code = raw
            .as_ref()
            .and_then(|r| r.get("error"))
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty())
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        if !(200..300).contains(&body.status) {
            return Err(Refusal::Rejected(format!(
                "the token endpoint answered {}{error_code}",
                body.status
            )));
        }
        let raw = raw.ok_or_else(|| {
            Refusal::Rejected("the token endpoint's answer is not JSON".to_owned())
        })?;
        if !error_code.is_empty() {
            return Err(Refusal::Rejected(format!(
                "the token endpoint refused{error_code}"
            )));
        }
        let access_token = text_of(&raw, "access_token");
        if access_token.is_empty() {
            return Err(Refusal::Rejected(
                "the token response has no access_token".to_owned(),
            ));
        }
        let expires_in = match raw.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64().map(|f| f as i64),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        let expiry = expires_in.filter(|s| *s > 0).and_then(|s| {
            jiff::Timestamp::now()
                .checked_add(jiff::SignedDuration::from_secs(s))
                .ok()
        });
        Ok(Token {
            access_token,
            token_type: text_of(&raw, "token_type"),
            refresh_token: text_of(&raw, "refresh_token"),
            expiry,
            raw,
        })
    }

    /// GET (or the given request) with the token; the JSON answer.
    async fn user_json(
        &self,
        token: &Token,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, String> {
        let body = http::send(request.header(AUTHORIZATION, token.authorization())).await?;
        if body.status >= 400 {
            return Err(format!("the user endpoint answered {}", body.status));
        }
        serde_json::from_slice(&body.bytes)
            .map_err(|_| "the user endpoint's answer is not JSON".to_owned())
    }

    fn extra_str(&self, key: &str) -> &str {
        self.extra
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `extra.issuers`: a list of strings, or one string of space-separated issuers.
    fn issuers(&self) -> Vec<String> {
        match self.extra.get("issuers") {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    async fn raw_user(&self, client: &reqwest::Client, token: &Token) -> Result<Value, String> {
        let name = family(self.info.name);
        if name == "apple" {
            let issuers = [APPLE_ISSUER.to_owned()];
            let jwks = match self.extra_str("jwksURL") {
                "" => APPLE_JWKS_URL,
                url => url,
            };
            let expect = Expect {
                audience: Some(&self.client_id),
                issuers: &issuers,
                require_exp: true,
                jwks_url: Some(jwks),
            };
            return Ok(Value::Object(
                id_token::verify(client, token.id_token(), &expect).await?,
            ));
        }
        if name == "oidc" && self.user_info_url.is_empty() {
            let issuers = self.issuers();
            let jwks = self.extra_str("jwksURL");
            let expect = Expect {
                audience: Some(&self.client_id),
                issuers: &issuers,
                require_exp: false,
                jwks_url: (!jwks.is_empty()).then_some(jwks),
            };
            return Ok(Value::Object(
                id_token::verify(client, token.id_token(), &expect).await?,
            ));
        }
        if self.user_info_url.is_empty() {
            return Err("no user info URL is configured".to_owned());
        }
        let url = self.user_info_url.as_str();
        let request = match name {
            "linear" => graphql(
                client,
                url,
                "query Me { viewer { id displayName name email avatarUrl active } }",
            ),
            "monday" => graphql(
                client,
                url,
                "query { me { id enabled name email is_verified photo_small }}",
            ),
            "notion" => client.get(url).header("Notion-Version", "2022-06-28"),
            "trakt" => client
                .get(url)
                .header(CONTENT_TYPE, "application/json")
                .header("trakt-api-key", &self.client_id)
                .header("trakt-api-version", "2"),
            "twitch" => client.get(url).header("Client-Id", &self.client_id),
            _ => client.get(url),
        };
        self.user_json(token, request).await
    }

    async fn fetch_user(
        &self,
        client: &reqwest::Client,
        token: &Token,
    ) -> Result<AuthUser, String> {
        let mut raw = self.raw_user(client, token).await?;
        let name = family(self.info.name);
        if name == "instagram2"
            && let Value::Object(map) = &mut raw
            && !map.contains_key("permissions")
            && let Some(permissions) = token.raw.get("permissions")
        {
            map.insert("permissions".to_owned(), permissions.clone());
        }
        let mut user = mapping::map_user(name, &raw, &token.raw)?;
        match name {
            "github" | "gitea" => {
                user.email = self.primary_email(client, token).await?;
            }
            "bitbucket" => user.email = self.bitbucket_email(client, token).await?,
            "gitee" => {
                let own = text(&raw, "email");
                user.email = if looks_like_email(&own) {
                    own
                } else {
                    self.gitee_email(client, token).await?
                };
            }
            "microsoft" => {
                if let Some(email) = self.microsoft_id_token_email(token) {
                    user.email = email;
                }
            }
            _ => {}
        }
        Ok(AuthUser {
            id: user.id,
            name: user.name,
            username: user.username,
            email: user.email,
            avatar_url: user.avatar_url,
            access_token: token.access_token.clone(),
            refresh_token: token.refresh_token.clone(),
            expiry: token.expiry,
            raw_user: raw,
        })
    }

    /// GitHub / Gitea: the primary verified address from `{userInfoURL}/emails` (none when
    /// the token may not read it).
    async fn primary_email(
        &self,
        client: &reqwest::Client,
        token: &Token,
    ) -> Result<String, String> {
        let url = format!("{}/emails", self.user_info_url);
        let body = http::send(client.get(url).header(AUTHORIZATION, token.authorization())).await?;
        if matches!(body.status, 401 | 403 | 404) {
            return Ok(String::new());
        }
        if body.status >= 400 {
            return Err(format!("the e-mail endpoint answered {}", body.status));
        }
        let emails: Vec<Value> = serde_json::from_slice(&body.bytes)
            .map_err(|_| "the e-mail endpoint's answer is not a list".to_owned())?;
        Ok(emails
            .iter()
            .find(|e| mapping::flag(e, "verified") && mapping::flag(e, "primary"))
            .map(|e| text(e, "email"))
            .unwrap_or_default())
    }

    /// Bitbucket: the primary confirmed address from `{userInfoURL}/emails`.
    async fn bitbucket_email(
        &self,
        client: &reqwest::Client,
        token: &Token,
    ) -> Result<String, String> {
        let url = format!("{}/emails", self.user_info_url);
        let body = http::send(client.get(url).header(AUTHORIZATION, token.authorization())).await?;
        if body.status >= 400 {
            return Ok(String::new());
        }
        let list: Value = serde_json::from_slice(&body.bytes)
            .map_err(|_| "the e-mail endpoint's answer is not JSON".to_owned())?;
        Ok(list
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|e| mapping::flag(e, "is_primary") && mapping::flag(e, "is_confirmed"))
            .map(|e| text(e, "email"))
            .unwrap_or_default())
    }

    /// Gitee: the confirmed primary address from its e-mail list (next to the user URL).
    async fn gitee_email(&self, client: &reqwest::Client, token: &Token) -> Result<String, String> {
        let base = self
            .user_info_url
            .strip_suffix("/user")
            .unwrap_or(&self.user_info_url);
        let url = format!("{base}/emails");
        let body = http::send(client.get(url).header(AUTHORIZATION, token.authorization())).await?;
        if body.status >= 400 {
            return Ok(String::new());
        }
        let Ok(emails) = serde_json::from_slice::<Vec<Value>>(&body.bytes) else {
            return Ok(String::new());
        };
        Ok(emails
            .iter()
            .find(|e| {
                text(e, "state") == "confirmed"
                    && e.get("scope")
                        .and_then(Value::as_array)
                        .is_some_and(|s| s.iter().any(|s| s == "primary"))
                    && looks_like_email(&text(e, "email"))
            })
            .map(|e| text(e, "email"))
            .unwrap_or_default())
    }

    /// Microsoft with `extra.idTokenEmailClaim`: the address from the id_token's claims
    /// (`None` keeps Graph's `mail`). The token came straight from Microsoft over TLS, so
    /// only its time claims are checked.
    fn microsoft_id_token_email(&self, token: &Token) -> Option<String> {
        let mode = self.extra_str("idTokenEmailClaim");
        if mode.is_empty() {
            return None;
        }
        let claims =
            Value::Object(id_token::unverified_claims(token.id_token()).unwrap_or_default());
        let primary = || match claims.get("verified_primary_email") {
            Some(Value::Array(list)) => list
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            _ => text(&claims, "verified_primary_email"),
        };
        let edov = || {
            if mapping::loose_flag(&claims, "xms_edov") {
                text(&claims, "email")
            } else {
                String::new()
            }
        };
        Some(match mode {
            "any_verified" => {
                let email = primary();
                if email.is_empty() { edov() } else { email }
            }
            "verified_primary_email" => primary(),
            "email_and_xms_edov" => edov(),
            "email" => text(&claims, "email"),
            _ => return None,
        })
    }
}

fn text_of(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn graphql(client: &reqwest::Client, url: &str, query: &str) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header(CONTENT_TYPE, "application/json")
        .body(serde_json::json!({ "query": query }).to_string())
}
