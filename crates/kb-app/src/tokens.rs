//! PocketBase-compatible JWTs (HS256). The signing key of a token is the record's `tokenKey`
//! plus the collection's secret for that token kind, so rotating either revokes tokens.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub id: String,
    #[serde(rename = "collectionId")]
    pub collection_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refreshable: Option<bool>,
    /// The address a verification, password-reset or email-change token was issued for.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    /// The address an email-change token moves the record to.
    #[serde(rename = "newEmail", skip_serializing_if = "Option::is_none", default)]
    pub new_email: Option<String>,
    pub exp: i64,
}

pub const AUTH: &str = "auth";
pub const VERIFICATION: &str = "verification";
pub const PASSWORD_RESET: &str = "passwordReset";
pub const EMAIL_CHANGE: &str = "emailChange";

pub fn sign(claims: &Claims, key: &str) -> Result<String, String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(key.as_bytes()),
    )
    .map_err(|e| e.to_string())
}

/// The claims of a token whose signature is not checked yet: they name the record whose
/// key verifies it.
pub fn unverified(token: &str) -> Option<Claims> {
    jsonwebtoken::dangerous::insecure_decode::<Claims>(token)
        .ok()
        .map(|data| data.claims)
}

/// The claims, if the signature matches `key` and the token has not expired.
pub fn verify(token: &str, key: &str) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .ok()
    .map(|data| data.claims)
}

/// Seconds since the epoch, `duration` from now.
pub fn expiry(duration_secs: u64) -> i64 {
    jiff::Timestamp::now().as_second() + duration_secs as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            id: "abc".into(),
            collection_id: "pbc_1".into(),
            kind: AUTH.into(),
            refreshable: Some(true),
            email: None,
            new_email: None,
            exp,
        }
    }

    #[test]
    fn signs_and_verifies() {
        let token = sign(&claims(expiry(60)), "key1").unwrap();
        assert_eq!(unverified(&token).unwrap().id, "abc");
        assert_eq!(verify(&token, "key1").unwrap().collection_id, "pbc_1");
        assert!(verify(&token, "key2").is_none());
    }

    #[test]
    fn expired_tokens_fail() {
        let token = sign(&claims(expiry(0) - 10), "k").unwrap();
        assert!(verify(&token, "k").is_none());
        assert!(unverified("not a token").is_none());
    }
}
