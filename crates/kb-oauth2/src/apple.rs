//! Apple's client secret: Apple takes no fixed secret but a short-lived ES256 JWT signed with
//! the developer's private key (`POST /api/settings/apple/generate-client-secret`).

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: [&'a str; 1],
    exp: i64,
    iat: i64,
}

/// The client secret for `client_id` (the Services ID), from the team `team_id` and the key
/// `key_id` whose PKCS#8 PEM is `private_key`, valid `duration` seconds from `now` (Unix
/// seconds). The error is the signing library's reason (a key that is not a P-256 key...).
pub fn apple_client_secret(
    client_id: &str,
    team_id: &str,
    key_id: &str,
    private_key: &str,
    duration: i64,
    now: i64,
) -> Result<String, String> {
    let key = EncodingKey::from_ec_der(&pkcs8_der(private_key)?);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    let claims = Claims {
        iss: team_id,
        sub: client_id,
        aud: ["https://appleid.apple.com"],
        exp: now.saturating_add(duration),
        iat: now,
    };
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}

/// The DER bytes of a PEM `PRIVATE KEY` block.
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|rest| rest.strip_suffix("-----END PRIVATE KEY-----"))
        .ok_or("the key must be a PEM encoded PKCS#8 private key")?;
    let base64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| format!("the key is not valid base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A P-256 key in PKCS#8, made for this test with `openssl ecparam -name prime256v1`.
    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgC5x14vnjKR/xl20Q
2VWSbtihiO2r6VUkJGP1/q7z2CChRANCAARq9yyoyweE4bVcpBMkIJ9J08QEWNus
Hlkh5VSws3w0ccbhq/r36ItId5rnB0ZPHxS1JriTrdd2Re24LFz/Ug7w
-----END PRIVATE KEY-----";

    #[test]
    fn the_secret_is_an_es256_jwt_for_apple() {
        let secret = apple_client_secret(
            "com.example.app",
            "TEAM123456",
            "KEY1234567",
            KEY,
            3600,
            1_000,
        )
        .expect("a secret");
        let header = jsonwebtoken::decode_header(&secret).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some("KEY1234567"));
        let payload = secret.split('.').nth(1).unwrap();
        use base64::Engine;
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"iss": "TEAM123456", "sub": "com.example.app",
                               "aud": ["https://appleid.apple.com"], "exp": 4600, "iat": 1000})
        );
        assert!(
            apple_client_secret(
                "c",
                "t",
                "k",
                "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----",
                1,
                0
            )
            .is_err()
        );
    }
}
