//! Password hashing: argon2id for every new hash; bcrypt hashes (as PocketBase stores them)
//! still verify, so imported accounts can log in and get re-hashed.
//!
//! Hashing runs on a few threads of its own ([`off_thread`]), one per core, so a burst of
//! logins queues instead of running hundreds of hashes at once on the runtime's blocking
//! pool. New hashes use OWASP's argon2id setting of 46 MiB and one pass rather than 19 MiB
//! and two: as strong, and above glibc's largest dynamic mmap threshold (32 MiB), so the
//! memory goes back to the system after each hash. (With 19 MiB, glibc raised its threshold
//! and kept the memory in its arenas: 40 concurrent sign-ups left 424 MiB behind.)

use std::sync::OnceLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use crossbeam_channel::Sender;
use tokio::sync::oneshot;

use crate::error::AppError;

type Job = Box<dyn FnOnce() + Send>;

/// Run `work` (hashing or verifying passwords) on the hashing threads.
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    static HASHERS: OnceLock<Sender<Job>> = OnceLock::new();
    let jobs = HASHERS.get_or_init(|| {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        for n in 0..threads {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("kb-hasher-{n}"))
                .spawn(move || {
                    while let Ok(job) = queue.recv() {
                        job();
                    }
                });
            if let Err(error) = started {
                tracing::error!(%error, "could not start a password hashing thread");
            }
        }
        jobs
    });
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        // The caller may have gone away.
        let _ = reply.send(work());
    });
    jobs.send(job)
        .map_err(|_| AppError::Internal("the password hashers are gone".into()))?;
    answer
        .await
        .map_err(|_| AppError::Internal("a password hashing job was lost".into()))
}

/// argon2id with 46 MiB of memory, one pass, one lane (OWASP's first alternative).
fn hasher() -> Result<Argon2<'static>, String> {
    let params = Params::new(46 * 1024, 1, 1, None).map_err(|e| e.to_string())?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hash a password with argon2id and a random salt (PHC string format).
pub fn hash(password: &str) -> Result<String, String> {
    hasher()?
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

/// [`hash`] on the hashing threads: argon2 is deliberately slow and must not stall the
/// async workers (or the database writer).
pub async fn hash_off_thread(password: String) -> Result<String, AppError> {
    off_thread(move || hash(&password))
        .await?
        .map_err(AppError::Internal)
}

/// [`verify`] on the hashing threads.
pub async fn verify_off_thread(password: String, stored: String) -> Result<bool, AppError> {
    off_thread(move || verify(&password, &stored)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=47104,t=1,p=1$"), "{h}");
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
