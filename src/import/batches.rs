//! A file's rows in batches: read on a blocking thread while the planner works
//! on the batch before, so an import holds a batch or two of rows at a time,
//! never the whole file as rows.

use std::{
    collections::VecDeque,
    io::{self, Read},
};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc;

use super::read::{FileError, ImportFormat, SubmittedRow, for_each_row};

/// Rows planned (and written) together: one lookup and one write per batch.
pub const BATCH_ROWS: usize = 2_000;

/// Text a batch carries at most, so that long rows make smaller batches and a
/// batch's memory stays small whatever the file holds.
pub const BATCH_TEXT_BYTES: usize = 256 * 1024;

/// Batches read ahead of the planner.
const READ_AHEAD: usize = 2;

/// The rows of one file, a batch at a time, in the file's order; a file that
/// cannot be read ends with its error.
pub struct RowBatches {
    receiver: mpsc::Receiver<Result<Vec<SubmittedRow>, FileError>>,
}

impl RowBatches {
    /// Reads `input` as `format` on a thread of its own; `progress` hears the
    /// rows read so far after each batch.
    pub fn read(
        input: impl Read + Send + 'static,
        format: ImportFormat,
        progress: impl Fn(u64) + Send + 'static,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(READ_AHEAD);
        tokio::task::spawn_blocking(move || {
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            let mut text = 0;
            let mut read = 0u64;
            let outcome = for_each_row(input, format, &mut |row| {
                text += row.text_len();
                batch.push(row);
                if batch.len() < BATCH_ROWS && text < BATCH_TEXT_BYTES {
                    return true;
                }
                text = 0;
                read += batch.len() as u64;
                progress(read);
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                // Nobody listening: the import ended early (an error, a timeout).
                sender.blocking_send(Ok(full)).is_ok()
            });
            let last = match outcome {
                Ok(_) if batch.is_empty() => return,
                Ok(_) => {
                    progress(read + batch.len() as u64);
                    Ok(batch)
                }
                Err(error) => Err(error),
            };
            let _ = sender.blocking_send(last);
        });
        Self { receiver }
    }

    /// A file already in memory, as the chunks it arrived in.
    pub fn from_chunks(chunks: Vec<Bytes>, format: ImportFormat) -> Self {
        Self::read(ChunksReader::new(chunks), format, |_| {})
    }

    /// The next batch; `None` once the file is read.
    pub async fn next(&mut self) -> Option<Result<Vec<SubmittedRow>, FileError>> {
        self.receiver.recv().await
    }
}

/// A reader over a file's chunks, without joining them.
pub struct ChunksReader {
    chunks: VecDeque<Bytes>,
}

impl ChunksReader {
    pub fn new(chunks: Vec<Bytes>) -> Self {
        Self {
            chunks: chunks.into(),
        }
    }
}

impl Read for ChunksReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunks.front().is_some_and(Bytes::is_empty) {
            self.chunks.pop_front();
        }
        let Some(chunk) = self.chunks.front_mut() else {
            return Ok(0);
        };
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rows_arrive_in_order_in_batches_and_an_error_ends_them() {
        let mut csv = String::from("email,name\n");
        for i in 0..(4 * BATCH_ROWS + 10) {
            csv.push_str(&format!("u{i}@example.com,U {i}\n"));
        }
        let halves = csv.split_at(csv.len() / 2);
        let chunks = vec![
            Bytes::from(halves.0.to_owned()),
            Bytes::new(),
            Bytes::from(halves.1.to_owned()),
        ];
        let mut batches = RowBatches::from_chunks(chunks, ImportFormat::Csv);
        let mut sizes = Vec::new();
        let mut last_line = 1;
        while let Some(batch) = batches.next().await {
            let batch = batch.unwrap();
            assert_eq!(batch[0].line, last_line + 1, "in order, none lost");
            last_line = batch.last().unwrap().line;
            sizes.push(batch.len());
        }
        assert_eq!(sizes, [BATCH_ROWS, BATCH_ROWS, BATCH_ROWS, BATCH_ROWS, 10]);

        // Long rows make smaller batches.
        let mut csv = String::from("email,name\n");
        for i in 0..BATCH_ROWS {
            csv.push_str(&format!("u{i}@example.com,{}\n", "n".repeat(200)));
        }
        let mut batches = RowBatches::from_chunks(vec![Bytes::from(csv)], ImportFormat::Csv);
        let first = batches.next().await.unwrap().unwrap();
        assert!(first.len() < BATCH_ROWS, "{}", first.len());

        let broken = Bytes::from_static(b"{\"email\": \"a@example.com\"}\nnot json\n");
        let mut batches = RowBatches::from_chunks(vec![broken], ImportFormat::Ndjson);
        assert!(matches!(
            batches.next().await,
            Some(Err(FileError::Malformed { line: 2, .. }))
        ));
    }
}
