//! `useradmin export`: the same export as `GET /users/export`, to standard
//! output, with no size limit.

use std::{io::Write, process::ExitCode};

use crate::{
    config::Settings,
    db,
    domain::{ListQuery, RawListQuery},
    transfer::export::{ExportFormat, produce},
};

pub async fn run(settings: Settings, format: &str, raw: RawListQuery) -> anyhow::Result<ExitCode> {
    let format = match format {
        "csv" => ExportFormat::Csv,
        "ndjson" => ExportFormat::Ndjson,
        other => anyhow::bail!("--format must be csv or ndjson, not {other:?}"),
    };
    let query = ListQuery::parse(raw).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pool = super::database(&settings).await?;
    let snapshot = db::users::snapshot(&pool).await?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel(4);
    let progress = super::rows_progress("written");
    let shown = progress.clone();
    let producer = tokio::spawn(produce(snapshot, query, format, sender, move |rows| {
        shown.set_position(rows);
    }));
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = receiver.recv().await {
        out.write_all(&chunk?)?;
    }
    out.flush()?;
    producer.await?;
    progress.finish();
    Ok(ExitCode::SUCCESS)
}
