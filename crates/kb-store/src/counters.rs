//! Fixed-window counters: how often something may happen in a window of time (rate limits,
//! one-time-password attempts, the account mail resend guard). One node keeps them in
//! memory; nodes that share a database keep them there, so a limit holds across nodes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::{BoxFuture, StoreError};

pub trait Counters: Send + Sync + 'static {
    /// Count one hit on `key` unless its current window, `window` long from its first hit,
    /// already holds `limit` hits; whether the hit was counted.
    fn hit<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        limit: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Forget every key that starts with `prefix` (their windows start afresh).
    fn forget<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Counters of this process only.
#[derive(Default)]
pub struct MemoryCounters {
    windows: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    /// key → (when its window ends, hits in it)
    by_key: HashMap<String, (Instant, u64)>,
    /// Keys added since ended windows were last swept out.
    added: usize,
}

/// How many new keys trigger a sweep of ended windows (keeps memory bounded by the keys
/// of live windows, whatever the number of clients over time).
const SWEEP_EVERY: usize = 1024;

impl MemoryCounters {
    fn hit_now(&self, key: &str, window: Duration, limit: u64, now: Instant) -> bool {
        let mut windows = self.windows.lock();
        if windows.added >= SWEEP_EVERY {
            windows.by_key.retain(|_, (ends, _)| *ends > now);
            windows.added = 0;
        }
        let entry = match windows.by_key.get_mut(key) {
            Some(entry) => entry,
            None => {
                windows.added += 1;
                windows.by_key.entry(key.to_owned()).or_insert((now, 0))
            }
        };
        if entry.0 <= now {
            *entry = (now + window, 0);
        }
        if entry.1 >= limit {
            return false;
        }
        entry.1 += 1;
        true
    }
}

impl Counters for MemoryCounters {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        limit: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let counted = self.hit_now(key, window, limit, Instant::now());
        Box::pin(async move { Ok(counted) })
    }

    fn forget<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.windows
            .lock()
            .by_key
            .retain(|key, _| !key.starts_with(prefix));
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_holds_its_limit_then_starts_afresh() {
        let counters = MemoryCounters::default();
        let start = Instant::now();
        let window = Duration::from_secs(10);
        assert!(counters.hit_now("a", window, 2, start));
        assert!(counters.hit_now("a", window, 2, start + Duration::from_secs(1)));
        assert!(!counters.hit_now("a", window, 2, start + Duration::from_secs(2)));
        assert!(counters.hit_now("b", window, 2, start), "keys count apart");
        assert!(
            counters.hit_now("a", window, 2, start + window),
            "a new window"
        );
        assert!(
            !counters.hit_now("z", window, 0, start),
            "a limit of 0 allows nothing"
        );
    }

    #[test]
    fn ended_windows_are_swept_and_prefixes_forgotten() {
        let counters = MemoryCounters::default();
        let start = Instant::now();
        let short = Duration::from_secs(1);
        for n in 0..SWEEP_EVERY {
            counters.hit_now(&format!("ip{n}"), short, 5, start);
        }
        counters.hit_now("rate|late", short, 5, start + Duration::from_secs(2));
        assert_eq!(
            counters.windows.lock().by_key.len(),
            1,
            "ended windows are gone"
        );
        counters.hit_now("otp|x", short, 5, start + Duration::from_secs(2));
        block_on(counters.forget("rate|")).unwrap();
        let keys: Vec<String> = counters.windows.lock().by_key.keys().cloned().collect();
        assert_eq!(keys, ["otp|x"]);
    }

    fn block_on<T>(future: BoxFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }
}
