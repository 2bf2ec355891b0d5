//! id_token checks: the claims (as PocketBase's JWT validator does them) and, when a JWKS
//! URL is known, the signature against the provider's published keys.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, jwk::Jwk};
use serde_json::{Map, Value};

use crate::http;

/// Clock skew tolerated on `exp`, `iat` and `nbf` (PocketBase's default).
const LEEWAY_SECS: i64 = 5 * 60;

/// What to require of an id_token.
pub(crate) struct Expect<'a> {
    /// `aud` must contain this (the client id) when set.
    pub audience: Option<&'a str>,
    /// `iss` must be one of these when non-empty.
    pub issuers: &'a [String],
    /// `exp` must be present.
    pub require_exp: bool,
    /// Verify the signature against this JWKS when set.
    pub jwks_url: Option<&'a str>,
}

/// A JSON object (a JWT header or claims set).
type Object = Map<String, Value>;

/// The id_token's header and claims, unverified.
fn split(token: &str) -> Result<(Object, Object), String> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the id_token is not a JWS compact token".to_owned());
    };
    let decode = |part: &str| -> Result<Map<String, Value>, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| "the id_token is not valid base64url".to_owned())?;
        serde_json::from_slice(&bytes).map_err(|_| "the id_token is not a JSON object".to_owned())
    };
    Ok((decode(header)?, decode(claims)?))
}

/// Checks the id_token and returns its claims.
pub(crate) async fn verify(
    client: &reqwest::Client,
    token: &str,
    expect: &Expect<'_>,
) -> Result<Map<String, Value>, String> {
    if token.is_empty() {
        return Err("empty id_token".to_owned());
    }
    let (header, claims) = split(token)?;
    check_claims(&claims, expect, jiff::Timestamp::now().as_second())?;
    if let Some(jwks_url) = expect.jwks_url {
        verify_signature(client, token, &header, jwks_url).await?;
    }
    Ok(claims)
}

/// The claims only (for tokens trusted through TLS, as Microsoft's extra email claims).
pub(crate) fn unverified_claims(token: &str) -> Result<Map<String, Value>, String> {
    let (_, claims) = split(token)?;
    let expect = Expect {
        audience: None,
        issuers: &[],
        require_exp: false,
        jwks_url: None,
    };
    check_claims(&claims, &expect, jiff::Timestamp::now().as_second())?;
    Ok(claims)
}

fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|f| Some(f as i64))
            .ok_or_else(|| format!("invalid {name} claim")),
        Some(_) => Err(format!("invalid {name} claim")),
    }
}

fn check_claims(claims: &Map<String, Value>, expect: &Expect<'_>, now: i64) -> Result<(), String> {
    match numeric(claims, "exp")? {
        Some(exp) if now - LEEWAY_SECS >= exp => return Err("the id_token is expired".to_owned()),
        None if expect.require_exp => return Err("the id_token has no exp claim".to_owned()),
        _ => {}
    }
    if numeric(claims, "iat")?.is_some_and(|iat| now + LEEWAY_SECS < iat) {
        return Err("the id_token was issued in the future".to_owned());
    }
    if numeric(claims, "nbf")?.is_some_and(|nbf| now + LEEWAY_SECS < nbf) {
        return Err("the id_token is not valid yet".to_owned());
    }
    if let Some(audience) = expect.audience {
        let matches = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !matches {
            return Err("the id_token's audience is not the client id".to_owned());
        }
    }
    if !expect.issuers.is_empty() {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !expect.issuers.iter().any(|i| i == iss) {
            return Err(format!("the id_token's issuer {iss:?} is not allowed"));
        }
    }
    Ok(())
}

async fn verify_signature(
    client: &reqwest::Client,
    token: &str,
    header: &Map<String, Value>,
    jwks_url: &str,
) -> Result<(), String> {
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or("the id_token has no kid header")?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let alg: Algorithm = alg_name
        .parse()
        .map_err(|_| format!("unsupported id_token algorithm {alg_name:?}"))?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err("symmetric id_token algorithms are not accepted".to_owned());
    }

    let body = http::send(client.get(jwks_url))
        .await
        .map_err(|e| format!("fetching the JWKS: {e}"))?;
    if body.status >= 400 {
        return Err(format!("fetching the JWKS: status {}", body.status));
    }
    let set: Value =
        serde_json::from_slice(&body.bytes).map_err(|_| "the JWKS is not JSON".to_owned())?;
    let key = set
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        .ok_or_else(|| format!("no JWK with kid {kid:?}"))?;
    if let Some(key_alg) = key.get("alg").and_then(Value::as_str)
        && !key_alg.is_empty()
        && key_alg != alg_name
    {
        return Err(format!(
            "the id_token's algorithm {alg_name} is not the key's {key_alg}"
        ));
    }
    let jwk: Jwk = serde_json::from_value(key.clone()).map_err(|_| "unsupported JWK".to_owned())?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "unsupported JWK".to_owned())?;
    let (message, signature) = token
        .rsplit_once('.')
        .ok_or("the id_token is not a JWS compact token")?;
    match jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg) {
        Ok(true) => Ok(()),
        Ok(false) => Err("invalid id_token signature".to_owned()),
        Err(_) => Err("the id_token signature could not be checked".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn time_claims_have_five_minutes_of_leeway() {
        let loose = Expect {
            audience: None,
            issuers: &[],
            require_exp: true,
            jwks_url: None,
        };
        assert!(check_claims(&claims(json!({"exp": NOW - 299})), &loose, NOW).is_ok());
        assert_eq!(
            check_claims(&claims(json!({"exp": NOW - 300})), &loose, NOW).unwrap_err(),
            "the id_token is expired"
        );
        assert_eq!(
            check_claims(&claims(json!({})), &loose, NOW).unwrap_err(),
            "the id_token has no exp claim"
        );
        assert!(
            check_claims(
                &claims(json!({"exp": NOW + 60, "iat": NOW + 300})),
                &loose,
                NOW
            )
            .is_ok()
        );
        assert_eq!(
            check_claims(
                &claims(json!({"exp": NOW + 60, "iat": NOW + 301})),
                &loose,
                NOW
            )
            .unwrap_err(),
            "the id_token was issued in the future"
        );
        assert!(check_claims(&claims(json!({"exp": "soon"})), &loose, NOW).is_err());
    }

    #[test]
    fn audience_and_issuers() {
        let issuers = ["https://a".to_owned(), "https://b".to_owned()];
        let expect = Expect {
            audience: Some("client"),
            issuers: &issuers,
            require_exp: false,
            jwks_url: None,
        };
        assert!(
            check_claims(
                &claims(json!({"aud": "client", "iss": "https://b"})),
                &expect,
                NOW
            )
            .is_ok()
        );
        assert!(
            check_claims(
                &claims(json!({"aud": ["x", "client"], "iss": "https://a"})),
                &expect,
                NOW
            )
            .is_ok()
        );
        assert!(check_claims(&claims(json!({"iss": "https://a"})), &expect, NOW).is_err());
        assert!(
            check_claims(
                &claims(json!({"aud": "other", "iss": "https://a"})),
                &expect,
                NOW
            )
            .is_err()
        );
        assert!(
            check_claims(
                &claims(json!({"aud": "client", "iss": "https://c"})),
                &expect,
                NOW
            )
            .is_err()
        );
    }
}
