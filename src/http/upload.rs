//! An uploaded file, read as it arrives: its chunks go through a small channel
//! to the import reader on a blocking thread, so a 16 MiB file is never held
//! whole beside the rows made from it, and a file over the limit is refused as
//! soon as it passes it.

use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

use crate::import::{FileError, ImportFormat, SubmittedRow, read_rows};

/// Chunks in flight between the connection and the reader.
const IN_FLIGHT: usize = 8;

/// Reads `first` and then `rest` as a file of `format`, at most `limit` bytes.
pub async fn read_upload<E: std::fmt::Display>(
    first: Bytes,
    rest: impl Stream<Item = Result<Bytes, E>>,
    format: ImportFormat,
    limit: u64,
) -> Result<Vec<SubmittedRow>, FileError> {
    let (sender, receiver) = mpsc::channel(IN_FLIGHT);
    let reader = tokio::task::spawn_blocking(move || {
        read_rows(ChannelReader::new(receiver), format, &mut |_| {})
    });
    let chunks = futures::stream::once(async { Ok(first) }).chain(rest);
    let mut chunks = std::pin::pin!(chunks);
    let mut total = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = sender.send(Err(io::Error::other(e.to_string()))).await;
                break;
            }
        };
        total += chunk.len() as u64;
        if total > limit {
            let too_large = io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("the file is larger than {limit} bytes (IMPORT_MAX_BYTES)"),
            );
            let _ = sender.send(Err(too_large)).await;
            break;
        }
        // The reader stops at the first malformed line; then nothing listens.
        if sender.send(Ok(chunk)).await.is_err() {
            break;
        }
    }
    drop(sender);
    reader
        .await
        .map_err(|e| FileError::Io(format!("the reader stopped: {e}")))?
}

/// A blocking reader over the channel's chunks.
struct ChannelReader {
    receiver: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    fn new(receiver: mpsc::Receiver<io::Result<Bytes>>) -> Self {
        Self {
            receiver,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static str]) -> impl Stream<Item = Result<Bytes, String>> {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p.as_bytes()))))
    }

    #[tokio::test]
    async fn rows_split_across_chunks_are_read_whole() {
        let rows = read_upload(
            Bytes::from_static(b"name,em"),
            chunks(&["ail\nAda,ada@", "x.com\n"]),
            ImportFormat::Csv,
            1000,
        )
        .await
        .unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[tokio::test]
    async fn a_file_over_the_limit_is_refused() {
        let error = read_upload(
            Bytes::from_static(b"name,email\n"),
            chunks(&["Ada,ada@x.com\n"; 10]),
            ImportFormat::Csv,
            64,
        )
        .await
        .unwrap_err();
        assert!(matches!(error, FileError::TooLarge(_)), "{error}");
    }
}
