//! The same storage behaviour on local disk and on a real S3-compatible server.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt, stream};
use kb_core::file_name::ThumbSize;
use kb_core::settings::S3Settings;
use kb_files::{BackendKind, FileError, FileStorage, file_key, record_prefix, thumb_key};
use tempfile::TempDir;

async fn local() -> (TempDir, FileStorage) {
    let dir = TempDir::new().unwrap();
    let storage = FileStorage::open_local(dir.path().join("storage")).unwrap();
    (dir, storage)
}

async fn s3() -> (TempDir, FileStorage, S3Settings) {
    let dir = TempDir::new().unwrap();
    let settings = common::start_s3(&dir.path().join("s3")).await;
    let storage = FileStorage::open_local(dir.path().join("storage")).unwrap();
    storage.configure(&settings).unwrap();
    assert_eq!(storage.backend_kind(), BackendKind::S3);
    (dir, storage, settings)
}

async fn collect(storage: &FileStorage, key: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let download = storage.get(key, range).await.unwrap();
    let parts: Vec<Bytes> = download.body.try_collect().await.unwrap();
    parts.concat()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 9]));
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Everything a backend must do.
async fn conformance(storage: &FileStorage) {
    let key = file_key("pbc_1", "rec1", "hello_abc.txt");
    assert!(!storage.exists(&key).await.unwrap());
    assert!(matches!(
        storage.get(&key, None).await,
        Err(FileError::NotFound)
    ));
    assert!(matches!(storage.head(&key).await, Err(FileError::NotFound)));

    assert_eq!(storage.put_bytes(&key, "hello world").await.unwrap(), 11);
    assert!(storage.exists(&key).await.unwrap());
    let info = storage.head(&key).await.unwrap();
    assert_eq!(info.size, 11);
    assert!(info.etag.is_some());
    assert_eq!(collect(storage, &key, None).await, b"hello world");
    assert_eq!(collect(storage, &key, Some(6..11)).await, b"world");
    // A range past the end is clamped; one starting past it is refused.
    assert_eq!(collect(storage, &key, Some(6..100)).await, b"world");
    let ranged = storage.get(&key, Some(2..4)).await.unwrap();
    assert_eq!((ranged.range, ranged.info.size), (2..4, 11));
    assert!(matches!(
        storage.get(&key, Some(20..30)).await,
        Err(FileError::InvalidRange)
    ));

    let (info, head) = storage.peek(&key, 5).await.unwrap();
    assert_eq!((info.size, &head[..]), (11, &b"hello"[..]));
    let empty = file_key("pbc_1", "rec1", "empty_abc.txt");
    storage.put_bytes(&empty, Bytes::new()).await.unwrap();
    let (info, head) = storage.peek(&empty, 5).await.unwrap();
    assert_eq!((info.size, head.len()), (0, 0));

    // Streaming across several parts (a multipart upload), then read back whole.
    let big = file_key("pbc_1", "rec1", "big_abc.bin");
    let piece: Bytes = (0..65_536u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let pieces = 12 * 16 + 3; // 12 MiB + 192 KiB: three parts
    let body = stream::iter((0..pieces).map(|_| Ok::<_, std::io::Error>(piece.clone())));
    let size = storage.put(&big, body).await.unwrap();
    assert_eq!(size, pieces as u64 * 65_536);
    assert_eq!(storage.head(&big).await.unwrap().size, size);
    let back = collect(storage, &big, None).await;
    assert_eq!(back.len() as u64, size);
    assert!(back.chunks(65_536).all(|chunk| chunk == &piece[..]));
    let middle = collect(storage, &big, Some(5_000_000..5_000_010)).await;
    let expected: Vec<u8> = (5_000_000u64..5_000_010)
        .map(|i| ((i % 65_536) % 251) as u8)
        .collect();
    assert_eq!(middle, expected);

    // A failing stream stores nothing, small or large.
    let failed = file_key("pbc_1", "rec1", "failed_abc.bin");
    for pieces_before_error in [1usize, 100] {
        let body = stream::iter((0..pieces_before_error).map(|_| Ok(piece.clone()))).chain(
            stream::once(async { Err(std::io::Error::other("client went away")) }),
        );
        assert!(matches!(
            storage.put(&failed, body).await,
            Err(FileError::Source(_))
        ));
        assert!(!storage.exists(&failed).await.unwrap());
    }

    // Keys that could leave their directory never reach the backend.
    for bad in ["../x", "pbc_1/../../x", "pbc_1//x", "pbc_1/r/a\\b", ""] {
        assert!(
            matches!(
                storage.put_bytes(bad, "x").await,
                Err(FileError::InvalidKey(_))
            ),
            "{bad}"
        );
        assert!(
            matches!(storage.get(bad, None).await, Err(FileError::InvalidKey(_))),
            "{bad}"
        );
    }

    // Thumbnails: made once under concurrent requests, stored beside the original.
    let image = file_key("pbc_1", "rec1", "img_abc.png");
    storage.put_bytes(&image, png(200, 100)).await.unwrap();
    let thumb = thumb_key("pbc_1", "rec1", "img_abc.png", "50x30");
    let size = ThumbSize::parse("50x30").unwrap();
    let before = storage.thumbnails_made();
    let calls = (0..8).map(|_| storage.thumbnail(&image, &thumb, size));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(storage.thumbnails_made() - before, 1);
    let made = image::load_from_memory(&collect(storage, &thumb, None).await).unwrap();
    assert_eq!((made.width(), made.height()), (50, 30));
    storage.thumbnail(&image, &thumb, size).await.unwrap();
    assert_eq!(
        storage.thumbnails_made() - before,
        1,
        "an existing thumbnail is kept"
    );
    assert!(matches!(
        storage
            .thumbnail(
                &key,
                &thumb_key("pbc_1", "rec1", "hello_abc.txt", "5x5"),
                size
            )
            .await,
        Err(FileError::Image(_))
    ));

    // Deleting: one file, then a record's directory with its thumbnails.
    let other = file_key("pbc_1", "rec2", "keep_abc.txt");
    storage.put_bytes(&other, "keep").await.unwrap();
    storage.delete(&key).await.unwrap();
    storage.delete(&key).await.unwrap(); // already gone: fine
    assert!(!storage.exists(&key).await.unwrap());
    storage
        .delete_prefix(&record_prefix("pbc_1", "rec1"))
        .await
        .unwrap();
    for gone in [&big, &image, &thumb, &empty] {
        assert!(!storage.exists(gone).await.unwrap(), "{gone}");
    }
    assert!(storage.exists(&other).await.unwrap());
    storage.delete_prefix("pbc_1").await.unwrap();
    assert!(!storage.exists(&other).await.unwrap());
    storage.delete_prefix("pbc_none").await.unwrap();
}

#[tokio::test]
async fn local_storage() {
    let (dir, storage) = local().await;
    assert_eq!(storage.backend_kind(), BackendKind::Local);
    conformance(&storage).await;
    // PocketBase's layout on disk, and nothing left of a deleted record.
    storage
        .put_bytes("pbc_9/rec9/a_abc.txt", "x")
        .await
        .unwrap();
    assert!(dir.path().join("storage/pbc_9/rec9/a_abc.txt").is_file());
    storage.delete_prefix("pbc_9/rec9").await.unwrap();
    assert!(!dir.path().join("storage/pbc_9/rec9").exists());
}

#[tokio::test]
async fn s3_storage() {
    let (dir, storage, _) = s3().await;
    conformance(&storage).await;
    storage
        .put_bytes("pbc_9/rec9/a_abc.txt", "x")
        .await
        .unwrap();
    // On S3, not on local disk.
    assert!(!dir.path().join("storage/pbc_9").exists());
    assert!(
        dir.path()
            .join("s3")
            .join(common::BUCKET)
            .join("pbc_9/rec9/a_abc.txt")
            .is_file()
    );
}

#[tokio::test]
async fn settings_switch_the_backend() {
    let (_dir, storage, settings) = s3().await;
    storage.put_bytes("c/r/on_s3.txt", "s3").await.unwrap();
    storage.configure(&S3Settings::default()).unwrap();
    assert_eq!(storage.backend_kind(), BackendKind::Local);
    assert!(!storage.exists("c/r/on_s3.txt").await.unwrap());
    storage.put_bytes("c/r/on_disk.txt", "disk").await.unwrap();
    storage.configure(&settings).unwrap();
    assert!(storage.exists("c/r/on_s3.txt").await.unwrap());
    assert!(!storage.exists("c/r/on_disk.txt").await.unwrap());
}

#[tokio::test]
async fn a_download_keeps_its_backend_when_settings_change() {
    let (_dir, storage, _) = s3().await;
    let storage = Arc::new(storage);
    storage.put_bytes("c/r/file.txt", "from s3").await.unwrap();
    let download = storage.get("c/r/file.txt", None).await.unwrap();
    storage.configure(&S3Settings::default()).unwrap();
    let parts: Vec<Bytes> = download.body.try_collect().await.unwrap();
    assert_eq!(parts.concat(), b"from s3");
}

#[tokio::test]
async fn testing_s3_settings() {
    let dir = TempDir::new().unwrap();
    let settings = common::start_s3(&dir.path().join("s3")).await;
    FileStorage::test_s3(&settings).await.unwrap();
    // The test file is removed again.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("s3").join(common::BUCKET))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        left.iter().all(|e| std::fs::read_dir(e.path())
            .map(|d| d.count() == 0)
            .unwrap_or(false)),
        "{left:?}"
    );

    let wrong = S3Settings {
        secret: "wrong".into(),
        ..settings.clone()
    };
    let error = FileStorage::test_s3(&wrong).await.unwrap_err().to_string();
    assert!(error.starts_with("failed to upload a test file"), "{error}");
    let unreachable = S3Settings {
        endpoint: "http://127.0.0.1:1".into(),
        ..settings
    };
    assert!(FileStorage::test_s3(&unreachable).await.is_err());
}
