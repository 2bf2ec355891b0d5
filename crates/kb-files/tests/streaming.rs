//! Uploads stream: a large generated body goes to storage without being held in memory.
//! Its own test binary, so no other test's allocations show up in the measurements.

mod common;

use std::time::Instant;

use bytes::Bytes;
use futures::stream;
use kb_files::FileStorage;
use tempfile::TempDir;

const MIB: u64 = 1 << 20;
/// Allowed growth of the resident set during an upload: the few parts in flight, not the file.
const MAX_GROWTH: u64 = 64 * MIB;

/// `total` bytes in 256 KiB pieces, made as they are consumed (one shared buffer).
fn generated(total: u64) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let piece: Bytes = (0..256 * 1024u32)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<_>>()
        .into();
    let count = total / piece.len() as u64;
    stream::iter((0..count).map(move |_| Ok(piece.clone())))
}

async fn upload_and_measure(storage: &FileStorage, key: &str, total: u64) {
    let baseline = common::rss_bytes();
    let sampler = common::RssSampler::start();
    let started = Instant::now();
    let size = storage.put(key, generated(total)).await.unwrap();
    let elapsed = started.elapsed();
    let growth = sampler.peak().saturating_sub(baseline);
    drop(sampler);
    assert_eq!(size, total);
    assert_eq!(storage.head(key).await.unwrap().size, total);
    eprintln!(
        "{key}: {} MiB in {elapsed:.1?}, resident set grew by {:.1} MiB at most",
        total / MIB,
        growth as f64 / MIB as f64
    );
    assert!(
        growth < MAX_GROWTH,
        "uploading {} MiB grew the resident set by {} MiB",
        total / MIB,
        growth / MIB
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_gib_to_local_disk_and_to_s3_in_bounded_memory() {
    let dir = TempDir::new().unwrap();
    let storage = FileStorage::open_local(dir.path().join("storage")).unwrap();
    upload_and_measure(&storage, "c/r/big_local.bin", 1024 * MIB).await;
    storage.delete("c/r/big_local.bin").await.unwrap();

    // The S3 server runs in this process too, so its memory counts against the limit.
    let settings = common::start_s3(&dir.path().join("s3")).await;
    storage.configure(&settings).unwrap();
    upload_and_measure(&storage, "c/r/big_s3.bin", 1024 * MIB).await;
}
