//! Streaming multipart bodies with files: text parts become the JSON body (as in `JsonBody`),
//! file parts are written to temporary files as they arrive, so an upload of any size costs
//! a small, fixed amount of memory. The application validates the files and moves them into
//! storage; a temporary file nobody kept is deleted when its `UploadedFile` is dropped.

use std::path::Path;

use axum::body::Bytes;
use futures_util::Stream;
use kb_app::UploadedFile;
use kb_files::SNIFF_BYTES;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use crate::request::{BodyError, infer_form_value, push_form_value};

/// A multipart body: the values (with `@jsonPayload` objects merged in) and the files.
#[derive(Debug, Default)]
pub struct Multipart {
    pub values: Map<String, Value>,
    pub files: Vec<UploadedFile>,
}

/// What to do with file parts.
#[derive(Debug, Clone, Copy)]
pub enum FileParts<'a> {
    /// Endpoints that take no files: read past them.
    Skip,
    /// Write each one to a temporary file in this directory (created if missing).
    Store(&'a Path),
}

/// Read a multipart body from `stream`; the whole body may hold at most `max_bytes`.
pub async fn read_multipart<S, E>(
    stream: S,
    boundary: &str,
    files: FileParts<'_>,
    max_bytes: u64,
) -> Result<Multipart, BodyError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(max_bytes));
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let mut body = Multipart::default();
    let mut payloads = Vec::new();
    while let Some(mut part) = multipart.next_field().await.map_err(part_error)? {
        let Some(name) = part.name().map(str::to_owned) else {
            continue;
        };
        let Some(original_name) = part.file_name().map(str::to_owned) else {
            let text = part.text().await.map_err(part_error)?;
            if name == "@jsonPayload" {
                payloads.push(text);
            } else {
                push_form_value(&mut body.values, name, infer_form_value(&text));
            }
            continue;
        };
        let FileParts::Store(temp_dir) = files else {
            continue;
        };
        let path = kb_app::new_staging_file(temp_dir)
            .await
            .map_err(|_| BodyError::Storage)?;
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(|_| BodyError::Storage)?;
        let (mut size, mut head) = (0u64, Vec::new());
        while let Some(chunk) = part.chunk().await.map_err(part_error)? {
            if head.len() < SNIFF_BYTES {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|_| BodyError::Storage)?;
        }
        file.flush().await.map_err(|_| BodyError::Storage)?;
        body.files.push(UploadedFile {
            key: name,
            original_name,
            size,
            head,
            path,
        });
    }
    for payload in payloads {
        match serde_json::from_str::<Value>(&payload) {
            Ok(Value::Object(object)) => body.values.extend(object),
            _ => return Err(BodyError::Malformed),
        }
    }
    Ok(body)
}

fn part_error(error: multer::Error) -> BodyError {
    match error {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            BodyError::TooLarge
        }
        _ => BodyError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, file, content) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            match file {
                Some(file) => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        out
    }

    fn stream(
        bytes: Vec<u8>,
    ) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
        // Small chunks, as a network delivers them.
        let chunks: Vec<_> = bytes
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures_util::stream::iter(chunks)
    }

    #[tokio::test]
    async fn files_go_to_disk_and_values_to_the_body() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        let raw = body(&[
            ("title", None, b"hello"),
            ("count", None, b"3"),
            ("images+", Some("a b.png"), &content),
            ("@jsonPayload", None, br#"{"meta":{"x":1}}"#),
        ]);
        let parsed = read_multipart(stream(raw), "XyZ", FileParts::Store(dir.path()), 1 << 20)
            .await
            .unwrap();
        assert_eq!(
            Value::Object(parsed.values.clone()),
            serde_json::json!({"title": "hello", "count": 3, "meta": {"x": 1}})
        );
        assert_eq!(parsed.files.len(), 1);
        let file = &parsed.files[0];
        assert_eq!(
            (file.key.as_str(), file.original_name.as_str()),
            ("images+", "a b.png")
        );
        assert_eq!(file.size, 20_000);
        assert_eq!(file.head, content[..SNIFF_BYTES]);
        assert_eq!(std::fs::read(&file.path).unwrap(), content);
        let path = file.path.to_path_buf();
        drop(parsed);
        assert!(!path.exists(), "an unkept upload is removed");
    }

    #[tokio::test]
    async fn oversized_and_broken_bodies_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let raw = body(&[("f", Some("x.bin"), &[7u8; 5000])]);
        let too_big = read_multipart(stream(raw), "XyZ", FileParts::Store(dir.path()), 1000).await;
        assert!(matches!(too_big, Err(BodyError::TooLarge)));
        let broken = read_multipart(
            stream(b"--XyZ\r\nnot a part".to_vec()),
            "XyZ",
            FileParts::Store(dir.path()),
            1000,
        )
        .await;
        assert!(matches!(broken, Err(BodyError::Malformed)));
        let payload = body(&[("@jsonPayload", None, b"[1]")]);
        let not_object =
            read_multipart(stream(payload), "XyZ", FileParts::Store(dir.path()), 1000).await;
        assert!(matches!(not_object, Err(BodyError::Malformed)));
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no temp file left"
        );
    }
}
