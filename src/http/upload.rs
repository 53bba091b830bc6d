//! An uploaded file, received whole as the chunks it arrived in (at most
//! `IMPORT_MAX_BYTES`, never copied into one buffer) before its rows are read
//! a batch at a time: the transaction that plans it is not held open while a
//! slow client uploads, and a file over the limit is refused as soon as it
//! passes it.

use std::io;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::import::FileError;

/// The refusal of a file over `limit` bytes, naming the setting.
pub fn too_large(limit: u64) -> FileError {
    FileError::TooLarge(format!(
        "the file is larger than the import limit of {} (IMPORT_MAX_BYTES)",
        human_size(limit)
    ))
}

/// `limit` as people write it: 16 MiB, 64 KiB, 1000 bytes.
pub fn human_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Receives `first` and then `rest`, at most `limit` bytes. A chunk error of
/// kind `FileTooLarge` (a body limit further out) is the same refusal.
pub async fn receive_file(
    first: Bytes,
    rest: impl Stream<Item = Result<Bytes, io::Error>>,
    limit: u64,
) -> Result<Vec<Bytes>, FileError> {
    let mut chunks = Vec::new();
    let mut total = first.len() as u64;
    if total > limit {
        return Err(too_large(limit));
    }
    if !first.is_empty() {
        chunks.push(first);
    }
    let mut rest = std::pin::pin!(rest);
    while let Some(chunk) = rest.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => return Err(too_large(limit)),
            Err(e) => return Err(FileError::Io(e.to_string())),
        };
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large(limit));
        }
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
    }
    Ok(chunks)
}

/// Whether a body error comes from a length limit somewhere in its chain.
pub fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static str]) -> impl Stream<Item = Result<Bytes, io::Error>> {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p.as_bytes()))))
    }

    #[tokio::test]
    async fn a_file_is_kept_as_its_chunks() {
        let file = receive_file(
            Bytes::from_static(b"name,em"),
            chunks(&["ail\nAda,ada@", "", "x.com\n"]),
            1000,
        )
        .await
        .unwrap();
        assert_eq!(file.concat(), b"name,email\nAda,ada@x.com\n");
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_refused_naming_it() {
        let error = receive_file(
            Bytes::from_static(b"name,email\n"),
            chunks(&["Ada,ada@x.com\n"; 10]),
            100,
        )
        .await
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the file is larger than the import limit of 100 bytes (IMPORT_MAX_BYTES)"
        );
        let cut = futures::stream::iter([Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            "length limit exceeded",
        ))]);
        let error = receive_file(Bytes::new(), cut, 64).await.unwrap_err();
        assert!(matches!(error, FileError::TooLarge(_)), "{error}");
    }
}
