//! Password hashing: argon2id for every new hash; bcrypt hashes (as PocketBase stores them)
//! still verify, so imported accounts can log in and get re-hashed.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Hash a password with argon2id and a random salt (PHC string format).
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| e.to_string())
}

/// Check a password against a stored argon2id or bcrypt hash, in constant time for a given
/// hash. An empty or unknown hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    if stored.starts_with("$argon2") {
        Argon2::default()
            .verify_password(password.as_bytes(), stored)
            .is_ok()
    } else if stored.starts_with("$2") {
        bcrypt::verify(password, stored).unwrap_or(false)
    } else {
        false
    }
}

/// A stored hash that should be replaced by an argon2id one at the next successful login.
pub fn needs_rehash(stored: &str) -> bool {
    !stored.starts_with("$argon2id")
}

/// [`hash`] on a blocking thread: argon2 is deliberately slow and must not stall the
/// async workers (or the database writer).
pub async fn hash_off_thread(password: String) -> Result<String, crate::AppError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| crate::AppError::Internal(e.to_string()))?
        .map_err(crate::AppError::Internal)
}

/// [`verify`] on a blocking thread.
pub async fn verify_off_thread(password: String, stored: String) -> Result<bool, crate::AppError> {
    tokio::task::spawn_blocking(move || verify(&password, &stored))
        .await
        .map_err(|e| crate::AppError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!needs_rehash(&h));
    }

    #[test]
    fn bcrypt_hashes_still_verify() {
        let h = bcrypt::hash("1234567890", 4).unwrap();
        assert!(verify("1234567890", &h));
        assert!(!verify("123456789", &h));
        assert!(needs_rehash(&h));
    }

    #[test]
    fn garbage_never_matches() {
        assert!(!verify("", ""));
        assert!(!verify("x", "plain-text"));
    }
}
