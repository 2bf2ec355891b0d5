//! OAuth2 / OpenID Connect providers for PocketBase's auth-with-oauth2.
//!
//! * [`providers`] / [`provider_info`]: the built-in catalogue (PocketBase's 32 names, their
//!   endpoints, scopes, PKCE defaults, and logos of our own).
//! * [`ProviderConfig`]: one `oauth2.providers[]` entry of a collection, with
//!   [`ProviderConfig::validate`] / [`validate_providers`] giving PocketBase's error codes.
//! * [`Provider`]: a config resolved over the catalogue; builds the authorization URL that
//!   auth-methods shows and runs the code exchange ([`Provider::authenticate`]), mapping the
//!   provider's user to an [`AuthUser`].
//! * [`pkce_pair`], [`random_state`], [`apple_redirect_name`]: the small helpers around it.
//! * `testing::TestProvider` (cargo feature `testing`): a real OAuth2 + OIDC server on a free
//!   local port for tests.
//!
//! **Invariant:** no storage and no axum outside `testing`; the only I/O is the outbound
//! HTTP of one sign-in, through the caller's `reqwest::Client`, each request with a
//! timeout and a bounded response. Secrets and tokens never appear in errors, logs or
//! `Debug` output.

mod apple;
mod catalogue;
mod config;
mod http;
mod id_token;
mod mapping;
mod provider;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;

pub use apple::apple_client_secret;
pub use catalogue::{ProviderInfo, provider_info, providers};
pub use config::{ProviderConfig, validate_providers};
pub use provider::Provider;

/// Why a sign-in failed. The API maps `Token` to 400 "Failed to fetch OAuth2 token." and
/// `User` to 400 "Failed to fetch OAuth2 user."; the text is for the server log only and
/// never holds a secret or token.
#[derive(thiserror::Error, Debug)]
pub enum OAuth2Error {
    #[error("unknown OAuth2 provider {0:?}")]
    UnknownProvider(String),
    #[error("failed to fetch the OAuth2 token: {0}")]
    Token(String),
    #[error("failed to fetch the OAuth2 user: {0}")]
    User(String),
}

/// The provider's user, mapped to PocketBase's fields.
#[derive(Clone, PartialEq, Default)]
pub struct AuthUser {
    pub id: String,
    pub name: String,
    pub username: String,
    /// Only an address the provider says is verified (or, for the few providers that only
    /// hand out verified addresses, the one it gives); otherwise empty.
    pub email: String,
    pub avatar_url: String,
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires (`None` when the provider did not say).
    pub expiry: Option<jiff::Timestamp>,
    /// The provider's user object as received (for Apple and id_token-based OIDC: the
    /// id_token's claims).
    pub raw_user: serde_json::Value,
}

impl AuthUser {
    /// PocketBase's `meta` object of an OAuth2 auth response, without `isNew` (the caller
    /// adds it): `id, name, username, email, avatarURL, accessToken, refreshToken, expiry,
    /// rawUser, avatarUrl` (the last one is PocketBase's legacy copy of `avatarURL`);
    /// `expiry` is PocketBase's datetime text or `""`.
    pub fn meta_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut meta = serde_json::Map::new();
        let mut put = |key: &str, value: serde_json::Value| {
            meta.insert(key.to_owned(), value);
        };
        put("id", self.id.clone().into());
        put("name", self.name.clone().into());
        put("username", self.username.clone().into());
        put("email", self.email.clone().into());
        put("avatarURL", self.avatar_url.clone().into());
        put("accessToken", self.access_token.clone().into());
        put("refreshToken", self.refresh_token.clone().into());
        put(
            "expiry",
            self.expiry
                .map(kb_core::datetime::format)
                .unwrap_or_default()
                .into(),
        );
        put("rawUser", self.raw_user.clone());
        put("avatarUrl", self.avatar_url.clone().into());
        meta
    }
}

impl fmt::Debug for AuthUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthUser")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("avatar_url", &self.avatar_url)
            .field("access_token", &redacted(&self.access_token))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("expiry", &self.expiry)
            .field("raw_user", &self.raw_user)
            .finish()
    }
}

pub(crate) fn redacted(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "<redacted>" }
}

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A fresh PKCE pair: a 43-character alphanumeric verifier and its S256 challenge
/// (base64url of its SHA-256, no padding), as auth-methods hands them out.
pub fn pkce_pair() -> (String, String) {
    let verifier = kb_core::id::random_string(43, ALPHANUMERIC);
    let challenge = s256_challenge(&verifier);
    (verifier, challenge)
}

/// The S256 code challenge of a PKCE verifier.
pub fn s256_challenge(verifier: &str) -> String {
    let hash = digest::digest(&digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.as_ref())
}

/// A fresh OAuth2 `state`: 30 random alphanumerics.
pub fn random_state() -> String {
    kb_core::id::random_string(30, ALPHANUMERIC)
}

/// The name Apple sends once, on the first sign-in, in the redirect's `user` form field
/// (`{"name":{"firstName":"…","lastName":"…"},"email":"…"}`): "first last", trimmed, at
/// most 150 bytes; `None` when absent, empty or not that JSON. PocketBase keeps it for a
/// minute keyed by the code, and uses it for `AuthUser::name` when Apple's id_token (which
/// never carries a name) left it empty.
pub fn apple_redirect_name(user_field: &str) -> Option<String> {
    #[derive(serde::Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Name {
        first_name: String,
        last_name: String,
    }
    #[derive(serde::Deserialize)]
    struct User {
        #[serde(default)]
        name: Option<Name>,
    }
    if user_field.is_empty() || user_field.len() > 64 * 1024 {
        return None;
    }
    let user: User = serde_json::from_str(user_field).ok()?;
    let name = user.name.unwrap_or_default();
    let mut full = format!("{} {}", name.first_name, name.last_name);
    if full.len() > 150 {
        let mut end = 150;
        while !full.is_char_boundary(end) {
            end -= 1;
        }
        full.truncate(end);
    }
    let full = full.trim();
    (!full.is_empty()).then(|| full.to_owned())
}
