//! Export of users as CSV (RFC 4180, with a header row) or NDJSON (one API user
//! object a line), read from one snapshot in keyset batches so memory stays flat
//! whatever the count. The HTTP route streams it; `useradmin export` writes it
//! to standard output.

use bytes::Bytes;

use crate::db::{self, users::Scope};
use crate::domain::{
    ListQuery, UserField,
    user_fields::{EXPORTED, EXPORTED_FIELDS},
};
use crate::views::UserView;

/// Rows per database round trip.
const BATCH: u32 = 1000;

/// The CSV columns, in order (the user's field table's exported fields).
pub const CSV_COLUMNS: [&str; EXPORTED.len()] = EXPORTED;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

impl ExportFormat {
    /// The export a client's `Accept` asks for, if any (an explicit media type,
    /// never a wildcard).
    pub fn from_accept(headers: &axum::http::HeaderMap) -> Option<Self> {
        let accept = headers.get(axum::http::header::ACCEPT)?.to_str().ok()?;
        accept.split(',').find_map(|range| {
            match range
                .split(';')
                .next()?
                .trim()
                .to_ascii_lowercase()
                .as_str()
            {
                "text/csv" => Some(Self::Csv),
                "application/x-ndjson" => Some(Self::Ndjson),
                _ => None,
            }
        })
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }
}

/// Reads the snapshot batch by batch and sends each as one chunk, telling
/// `progress` the rows sent so far. A client that goes away ends it (the send
/// fails); a database error cuts the body, which the client sees as an
/// incomplete download rather than a silently short file.
pub async fn produce(
    mut snapshot: sqlx::Transaction<'static, sqlx::Postgres>,
    mut query: ListQuery,
    format: ExportFormat,
    sender: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    progress: impl Fn(u64) + Send + 'static,
) {
    let mut sent = 0u64;
    query.limit = BATCH;
    query.before = None;
    if format == ExportFormat::Csv {
        let header = csv_chunk(|writer| writer.write_record(CSV_COLUMNS));
        if sender.send(Ok(header)).await.is_err() {
            return;
        }
    }
    loop {
        let page = match db::users::list(&mut *snapshot, &query, Scope::Live).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(error = %e, "export stopped: the database failed");
                let _ = sender
                    .send(Err(std::io::Error::other("export failed")))
                    .await;
                return;
            }
        };
        let chunk = match format {
            ExportFormat::Csv => csv_chunk(|writer| {
                for row in &page.rows {
                    writer.write_record(csv_record(&UserView::from(row.clone())))?;
                }
                Ok(())
            }),
            ExportFormat::Ndjson => {
                let mut lines = Vec::with_capacity(page.rows.len() * 256);
                for row in page.rows.iter().cloned() {
                    if serde_json::to_writer(&mut lines, &UserView::from(row)).is_ok() {
                        lines.push(b'\n');
                    }
                }
                Bytes::from(lines)
            }
        };
        if !chunk.is_empty() && sender.send(Ok(chunk)).await.is_err() {
            return;
        }
        sent += page.rows.len() as u64;
        crate::metrics::transfer_rows(crate::metrics::Direction::Export, page.rows.len() as u64);
        progress(sent);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    let _ = snapshot.commit().await;
}

fn csv_chunk(write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>) -> Bytes {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if let Err(e) = write(&mut writer) {
        tracing::error!(error = %e, "could not write CSV");
    }
    Bytes::from(writer.into_inner().unwrap_or_default())
}

/// One user as a CSV record, every cell guarded against spreadsheet formulas.
pub fn csv_record(user: &UserView) -> [String; CSV_COLUMNS.len()] {
    let time = |at: Option<time::OffsetDateTime>| {
        at.and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
    };
    EXPORTED_FIELDS.map(|field| match field {
        UserField::Id => user.id.to_string(),
        UserField::Name => formula_safe(&user.name),
        UserField::Email => formula_safe(&user.email),
        UserField::IsAdmin => user.is_admin.to_string(),
        UserField::Status => user.status.to_string(),
        UserField::DisabledReason => {
            formula_safe(user.disabled_reason.as_deref().unwrap_or_default())
        }
        UserField::CreatedAt => time(Some(user.created_at)),
        UserField::UpdatedAt => time(Some(user.updated_at)),
        UserField::Version => user.version.to_string(),
        UserField::LastLoginAt => time(user.last_login_at),
        UserField::ExternalId => formula_safe(user.external_id.as_deref().unwrap_or_default()),
        UserField::DisabledAt => time(user.disabled_at),
        // A view has no deletion time (and no export has the column).
        UserField::DeletedAt => String::new(),
    })
}

/// A cell that a spreadsheet would run as a formula (it starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading `'`; import drops it.
/// A cell that starts with the guard before such a character gets one too, so
/// import gives back exactly what was exported.
pub fn formula_safe(cell: &str) -> String {
    crate::import::row::guard(cell).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue, header};

    #[test]
    fn cells_a_spreadsheet_would_run_are_guarded() {
        for hostile in ["=HYPERLINK(\"x\")", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(formula_safe(hostile), format!("'{hostile}"));
        }
        for plain in ["Ada", "a=b", "'quoted", ""] {
            assert_eq!(formula_safe(plain), plain);
        }
    }

    #[test]
    fn the_accept_header_picks_an_export_only_when_named() {
        let mut headers = HeaderMap::new();
        assert_eq!(ExportFormat::from_accept(&headers), None);
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert_eq!(ExportFormat::from_accept(&headers), None);
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/csv"));
        assert_eq!(ExportFormat::from_accept(&headers), Some(ExportFormat::Csv));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/x-ndjson;q=0.9"),
        );
        assert_eq!(
            ExportFormat::from_accept(&headers),
            Some(ExportFormat::Ndjson)
        );
    }
}
