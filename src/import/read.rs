//! Reading an import file into rows, as it arrives: CSV (RFC 4180, a header row
//! naming the columns), NDJSON (an object a line) or a JSON array of objects.
//!
//! Only the shape of the file is checked here; a row's values are parsed later
//! (see [`super::row`]), so every bad row can be reported at once. A file that
//! cannot be read as its format stops the import with the line where it broke.

use std::io::{BufRead, BufReader, Read};

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;

use crate::domain::{
    UserField,
    user_fields::{IMPORT_READ_PAST, IMPORT_WRITTEN},
};

/// How an import file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    Csv,
    Ndjson,
    Json,
}

impl ImportFormat {
    /// The format a media type names, if it names one.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "text/csv" | "application/csv" => Some(Self::Csv),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                Some(Self::Ndjson)
            }
            "application/json" => Some(Self::Json),
            _ => None,
        }
    }

    /// The format of an uploaded file, from its name, else from its first
    /// character: browsers label files loosely (a CSV may arrive as
    /// `application/vnd.ms-excel` or `application/octet-stream`).
    pub fn guess(file_name: Option<&str>, start: &[u8]) -> Self {
        let extension = file_name
            .and_then(|name| name.rsplit_once('.'))
            .map(|(_, extension)| extension.to_ascii_lowercase());
        match extension.as_deref() {
            Some("csv") => return Self::Csv,
            Some("ndjson" | "jsonl") => return Self::Ndjson,
            Some("json") => return Self::Json,
            _ => {}
        }
        let first = start
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(start)
            .iter()
            .find(|b| !b.is_ascii_whitespace());
        match first {
            Some(b'[') => Self::Json,
            Some(b'{') => Self::Ndjson,
            _ => Self::Csv,
        }
    }
}

/// A field as the file gave it, before it is parsed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Cell {
    /// An empty CSV cell or a JSON `null`.
    Empty,
    Text(String),
    Bool(bool),
    /// A JSON value of a type no field takes (a number, an array, an object).
    Other,
}

/// The fields an import writes (the user's field table's).
pub const WRITTEN: [&str; IMPORT_WRITTEN.len()] = IMPORT_WRITTEN;

/// Fields an export writes that an import reads past: the database keeps them.
const IGNORED: [&str; IMPORT_READ_PAST.len()] = IMPORT_READ_PAST;

/// One row of the file: its line, and the fields it has (a field it lacks is
/// left as it is).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubmittedRow {
    pub line: u64,
    /// Indexed like [`WRITTEN`]; `None` when the file does not have the field.
    pub cells: [Option<Cell>; WRITTEN.len()],
}

impl SubmittedRow {
    /// The bytes of text the row carries.
    pub fn text_len(&self) -> usize {
        self.cells
            .iter()
            .map(|cell| match cell {
                Some(Cell::Text(text)) => text.len(),
                _ => 0,
            })
            .sum()
    }

    pub fn cell(&self, field: UserField) -> Option<&Cell> {
        let index = field.import_index()?;
        self.cells[index].as_ref()
    }
}

/// Why a file could not be read; nothing was imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("the file could not be read: {0}")]
    Io(String),
}

impl FileError {
    fn at(line: u64, message: impl Into<String>) -> Self {
        Self::Malformed {
            line,
            message: message.into(),
        }
    }

    fn io(error: std::io::Error) -> Self {
        // The upload's reader reports an over-long body as its own error kind.
        if error.kind() == std::io::ErrorKind::FileTooLarge {
            Self::TooLarge(error.to_string())
        } else {
            Self::Io(error.to_string())
        }
    }
}

/// Hands each row to `sink` as it is read, in the file's order; `sink`
/// answers `false` to stop reading (nobody wants the rest). Returns how many
/// rows were read. Nothing of the file is kept: memory does not grow with it.
pub fn for_each_row(
    input: impl Read,
    format: ImportFormat,
    sink: &mut dyn FnMut(SubmittedRow) -> bool,
) -> Result<u64, FileError> {
    let input = BufReader::with_capacity(64 * 1024, input);
    match format {
        ImportFormat::Csv => read_csv(input, sink),
        ImportFormat::Ndjson => read_ndjson(input, sink),
        ImportFormat::Json => read_json_array(input, sink),
    }
}

/// Reads every row into memory: for small files and tests.
pub fn read_rows(input: impl Read, format: ImportFormat) -> Result<Vec<SubmittedRow>, FileError> {
    let mut rows = Vec::new();
    for_each_row(input, format, &mut |row| {
        rows.push(row);
        true
    })?;
    Ok(rows)
}

/// The error a reader returns when its consumer went away.
fn stopped() -> FileError {
    FileError::Io("the import stopped reading the file".into())
}

fn read_csv(
    mut input: impl BufRead,
    sink: &mut dyn FnMut(SubmittedRow) -> bool,
) -> Result<u64, FileError> {
    skip_byte_order_mark(&mut input)?;
    let lines = LineIndex::default();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(lines.counting(input));
    let headers = reader
        .byte_headers()
        .map_err(|e| csv_error(e, 1, &lines))?
        .clone();
    let mut columns = Vec::with_capacity(headers.len());
    if let Some((position, byte)) = control_byte(headers.as_slice()) {
        return Err(FileError::at(
            1,
            format!(
                "the file is not text (byte 0x{byte:02x} at position {position}); \
                 upload a CSV, NDJSON or JSON file"
            ),
        ));
    }
    for header in &headers {
        let name = std::str::from_utf8(header)
            .map_err(|_| FileError::at(1, "the header row is not UTF-8 text"))?
            .trim()
            .to_ascii_lowercase();
        columns.push(column_index(&name).map_err(|message| FileError::at(1, message))?);
    }
    if !columns.contains(&Some(email_index())) {
        return Err(FileError::at(
            1,
            "the header row must name an email column: rows are matched by email",
        ));
    }
    if let Some(twice) = repeated(&columns) {
        return Err(FileError::at(
            1,
            format!("the column {} appears twice", WRITTEN[twice]),
        ));
    }
    let mut count = 0u64;
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(e, line, &lines)),
        }
        let line = record
            .position()
            .map_or(line, |position| lines.line_at(position.byte()));
        // A blank line between records is no row.
        if record.len() == 1 && record[0].is_empty() && columns.len() > 1 {
            continue;
        }
        let mut cells: [Option<Cell>; WRITTEN.len()] = Default::default();
        for (column, value) in columns.iter().zip(record.iter()) {
            let Some(index) = column else { continue };
            let text = std::str::from_utf8(value)
                .map_err(|_| FileError::at(line, "the row is not UTF-8"))?;
            // The export's formula guard comes off: only CSV has one.
            cells[*index] = Some(if text.is_empty() {
                Cell::Empty
            } else {
                Cell::Text(super::row::unguard(text).into_owned())
            });
        }
        count += 1;
        if !sink(SubmittedRow { line, cells }) {
            return Err(stopped());
        }
    }
    Ok(count)
}

/// The line a byte of the input is on. The CSV reader's own line numbers are
/// one short for a record after a CRLF line end: the record is taken to start
/// at the `\n`. Counting that `\n` as the record's own line end gives the
/// line for both kinds of line end.
#[derive(Clone, Default)]
struct LineIndex(std::rc::Rc<std::cell::RefCell<LineEnds>>);

#[derive(Default)]
struct LineEnds {
    /// Offsets of the `\n`s not yet passed by a record.
    ahead: std::collections::VecDeque<u64>,
    /// `\n`s before those.
    passed: u64,
    read: u64,
}

impl LineIndex {
    fn counting<R: Read>(&self, inner: R) -> CountingReader<R> {
        CountingReader {
            inner,
            index: self.clone(),
        }
    }

    /// 1 + the `\n`s at or before `byte`; bytes are asked for in order.
    fn line_at(&self, byte: u64) -> u64 {
        let mut ends = self.0.borrow_mut();
        while ends.ahead.front().is_some_and(|&at| at <= byte) {
            ends.ahead.pop_front();
            ends.passed += 1;
        }
        ends.passed + 1
    }
}

struct CountingReader<R> {
    inner: R,
    index: LineIndex,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut ends = self.index.0.borrow_mut();
        let start = ends.read;
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            ends.ahead.push_back(start + i as u64);
        }
        ends.read += n as u64;
        Ok(n)
    }
}

/// The first byte that no text file holds (a control character other than
/// tab), with its position counted from 1: such a "header" is a binary file.
fn control_byte(header: &[u8]) -> Option<(usize, u8)> {
    header
        .iter()
        .position(|byte| byte.is_ascii_control() && !matches!(byte, b'\t' | b'\r' | b'\n'))
        .map(|index| (index + 1, header[index]))
}

fn csv_error(error: csv::Error, line: u64, lines: &LineIndex) -> FileError {
    let line = error
        .position()
        .map_or(line, |position| lines.line_at(position.byte()));
    match error.into_kind() {
        csv::ErrorKind::Io(e) => FileError::io(e),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => FileError::at(
            line,
            format!(
                "has {len} fields where the header has {expected_len} \
                 (an unbalanced quote joins lines)"
            ),
        ),
        csv::ErrorKind::Utf8 { .. } => FileError::at(line, "the row is not UTF-8"),
        _ => FileError::at(line, "is not valid CSV"),
    }
}

fn read_ndjson(
    mut input: impl BufRead,
    sink: &mut dyn FnMut(SubmittedRow) -> bool,
) -> Result<u64, FileError> {
    skip_byte_order_mark(&mut input)?;
    let mut count = 0u64;
    let mut buffer = Vec::new();
    let mut line = 0;
    loop {
        buffer.clear();
        if input
            .read_until(b'\n', &mut buffer)
            .map_err(FileError::io)?
            == 0
        {
            break;
        }
        line += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: Value = serde_json::from_slice(&buffer)
            .map_err(|e| FileError::at(line, format!("is not valid JSON: {e}")))?;
        count += 1;
        if !sink(object_row(line, value)?) {
            return Err(stopped());
        }
    }
    Ok(count)
}

fn read_json_array(
    mut input: impl BufRead,
    sink: &mut dyn FnMut(SubmittedRow) -> bool,
) -> Result<u64, FileError> {
    skip_byte_order_mark(&mut input)?;
    let mut deserializer = serde_json::Deserializer::from_reader(input);
    let mut count = 0u64;
    let mut stopped_early = false;
    let seed = Elements {
        count: &mut count,
        stopped: &mut stopped_early,
        sink,
    };
    seed.deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|e| {
            if stopped_early {
                stopped()
            } else if e.is_io() {
                FileError::io(std::io::Error::from(e))
            } else {
                // Within the array, the element being read is the line a
                // person fixes; before it, the file's own line.
                match count {
                    0 => FileError::at(
                        e.line() as u64,
                        format!("is not a JSON array of objects: {e}"),
                    ),
                    n => FileError::at(n + 1, format!("is not valid JSON: {e}")),
                }
            }
        })?;
    Ok(count)
}

/// Reads a JSON array one element at a time, so the array is never held as a
/// whole document beside its rows.
struct Elements<'a> {
    count: &'a mut u64,
    stopped: &'a mut bool,
    sink: &'a mut dyn FnMut(SubmittedRow) -> bool,
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an array of user objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<Value>()? {
            let line = *self.count + 1;
            let row = object_row(line, value).map_err(de::Error::custom)?;
            *self.count = line;
            if !(self.sink)(row) {
                *self.stopped = true;
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// A JSON object as a row: the API's user object, or any part of it.
fn object_row(line: u64, value: Value) -> Result<SubmittedRow, FileError> {
    let Value::Object(object) = value else {
        return Err(FileError::at(line, "is not a JSON object"));
    };
    let mut cells: [Option<Cell>; WRITTEN.len()] = Default::default();
    for (key, value) in object {
        let Some(index) = column_index(&key).map_err(|message| FileError::at(line, message))?
        else {
            continue;
        };
        cells[index] = Some(match value {
            Value::Null => Cell::Empty,
            Value::String(text) => Cell::Text(text),
            Value::Bool(flag) => Cell::Bool(flag),
            _ => Cell::Other,
        });
    }
    Ok(SubmittedRow { line, cells })
}

/// Where a column goes: a written field, `None` for a column read past, or a
/// message for a column no user has (a typo would otherwise be dropped silently).
fn column_index(name: &str) -> Result<Option<usize>, String> {
    if let Some(index) = WRITTEN.iter().position(|field| *field == name) {
        return Ok(Some(index));
    }
    // What a user holds is granted on its own (roles, groups), not by a file;
    // an export's JSON carries it, and reads back in without it.
    if IGNORED.contains(&name) || crate::views::ACCESS_KEYS.contains(&name) {
        return Ok(None);
    }
    if name == "password" {
        return Err("passwords are not imported: set them on the user's page".into());
    }
    Err(format!(
        "unknown column “{name}”; columns are {} (and, ignored, {})",
        WRITTEN.join(", "),
        IGNORED.join(", ")
    ))
}

fn email_index() -> usize {
    UserField::Email
        .import_index()
        .unwrap_or_else(|| unreachable!("the import writes the email"))
}

fn repeated(columns: &[Option<usize>]) -> Option<usize> {
    let mut seen = [false; WRITTEN.len()];
    for index in columns.iter().flatten() {
        if std::mem::replace(&mut seen[*index], true) {
            return Some(*index);
        }
    }
    None
}

/// Spreadsheets save UTF-8 with a byte-order mark; it is not part of the data.
fn skip_byte_order_mark(input: &mut impl BufRead) -> Result<(), FileError> {
    let start = input.fill_buf().map_err(FileError::io)?;
    if start.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, format: ImportFormat) -> Result<Vec<SubmittedRow>, FileError> {
        read_rows(text.as_bytes(), format)
    }

    fn text(row: &SubmittedRow, field: UserField) -> Option<String> {
        match row.cell(field)? {
            Cell::Text(text) => Some(text.clone()),
            other => panic!("{field:?}: {other:?}"),
        }
    }

    #[test]
    fn csv_rows_carry_the_line_they_start_on() {
        let rows = read(
            "\u{feff}name,email\r\n\"Ada,\nLovelace\",ada@x.com\r\nBob,bob@x.com\r\n",
            ImportFormat::Csv,
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].line, rows[1].line), (2, 4));
        assert_eq!(text(&rows[0], UserField::Name).unwrap(), "Ada,\nLovelace");
        let rows = read("name,email\n'=1+1,'@x.com\n", ImportFormat::Csv).unwrap();
        assert_eq!(
            text(&rows[0], UserField::Name).unwrap(),
            "=1+1",
            "the export's guard comes off"
        );
        let rows = read(
            "{\"name\":\"'=1\",\"email\":\"a@x.com\"}",
            ImportFormat::Ndjson,
        )
        .unwrap();
        assert_eq!(
            text(&rows[0], UserField::Name).unwrap(),
            "'=1",
            "NDJSON has no guard"
        );
        assert!(
            rows[0].cell(UserField::IsAdmin).is_none(),
            "absent, not empty"
        );
    }

    #[test]
    fn an_unknown_column_or_a_file_without_emails_is_refused_at_line_1() {
        let error = read("name,emial\nAda,a@x.com\n", ImportFormat::Csv).unwrap_err();
        assert!(
            matches!(error, FileError::Malformed { line: 1, .. }),
            "{error}"
        );
        let error = read("name\nAda\n", ImportFormat::Csv).unwrap_err();
        assert!(error.to_string().contains("email"), "{error}");
        let error = read("email,password\na@x.com,secret\n", ImportFormat::Csv).unwrap_err();
        assert!(error.to_string().contains("passwords are not imported"));
    }

    #[test]
    fn a_binary_file_is_refused_in_words_without_escapes() {
        let error = read("\0\u{1}\u{2}email\n", ImportFormat::Csv).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 1: the file is not text (byte 0x00 at position 1); \
             upload a CSV, NDJSON or JSON file"
        );
        let error = read("name,emial\nAda,a@x.com\n", ImportFormat::Csv).unwrap_err();
        assert!(
            error.to_string().contains("unknown column “emial”"),
            "{error}"
        );
    }

    #[test]
    fn an_unbalanced_quote_names_its_line() {
        let error = read(
            "name,email\nAda,ada@x.com\n\"Bob,bob@x.com\nCy,cy@x.com\n",
            ImportFormat::Csv,
        )
        .unwrap_err();
        assert!(
            matches!(error, FileError::Malformed { line: 3, .. }),
            "{error}"
        );
    }

    #[test]
    fn ndjson_counts_lines_from_1_and_skips_blank_ones() {
        let rows = read(
            "{\"email\":\"a@x.com\",\"is_admin\":true}\n\n{\"email\":\"b@x.com\",\"id\":7,\"name\":null}\n",
            ImportFormat::Ndjson,
        )
        .unwrap();
        assert_eq!((rows[0].line, rows[1].line), (1, 3));
        assert_eq!(rows[0].cell(UserField::IsAdmin), Some(&Cell::Bool(true)));
        assert_eq!(rows[1].cell(UserField::Name), Some(&Cell::Empty));
        let error = read("{\"email\":\"a@x.com\"}\n{nope\n", ImportFormat::Ndjson).unwrap_err();
        assert!(
            matches!(error, FileError::Malformed { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn a_json_array_counts_its_elements_from_1() {
        let rows = read(
            "[{\"email\":\"a@x.com\"},\n {\"email\":\"b@x.com\",\"name\":5}]",
            ImportFormat::Json,
        )
        .unwrap();
        assert_eq!((rows[0].line, rows[1].line), (1, 2));
        assert_eq!(rows[1].cell(UserField::Name), Some(&Cell::Other));
        let error = read("[{\"email\":\"a@x.com\"}, 3]", ImportFormat::Json).unwrap_err();
        assert!(
            matches!(error, FileError::Malformed { line: 2, .. }),
            "{error}"
        );
        assert!(read("{\"email\":\"a@x.com\"}", ImportFormat::Json).is_err());
    }

    #[test]
    fn a_file_is_recognised_by_its_name_or_its_first_character() {
        assert_eq!(ImportFormat::guess(Some("u.CSV"), b"["), ImportFormat::Csv);
        assert_eq!(
            ImportFormat::guess(Some("u.jsonl"), b""),
            ImportFormat::Ndjson
        );
        assert_eq!(ImportFormat::guess(None, b"  [{"), ImportFormat::Json);
        assert_eq!(ImportFormat::guess(None, b"{\"a\""), ImportFormat::Ndjson);
        assert_eq!(
            ImportFormat::guess(Some("users"), b"name,email"),
            ImportFormat::Csv
        );
    }
}
