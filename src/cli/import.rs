//! `useradmin import FILE [--dry-run]`: the same import as `POST /users/import`,
//! from a file of any size, with progress on a terminal. The report (as the API
//! answers it) goes to standard output; the summary and each bad row's errors to
//! standard error.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::ExitCode,
};

use serde_json::json;

use crate::{
    config::Settings,
    import::{ImportFormat, RowBatches},
    write::{Actor, ImportMode, ImportOutcome},
};

pub async fn run(settings: Settings, path: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let format = ImportFormat::guess(path.to_str(), input.fill_buf()?);

    let (_pool, writer) = super::writer(&settings).await?;
    let progress = super::rows_progress(if dry_run {
        "planned"
    } else {
        "planned and written"
    });
    let reading = progress.clone();
    let batches = RowBatches::read(input, format, move |rows| reading.set_position(rows));
    let mode = if dry_run {
        ImportMode::DryRun
    } else {
        ImportMode::Apply { previewed: None }
    };
    let source = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let outcome = writer
        .import(&Actor::cli_user(), batches, mode, &source)
        .await?;
    progress.finish();
    let (plan, applied) = match outcome {
        ImportOutcome::Applied { plan, .. } => (plan, true),
        ImportOutcome::Planned(plan) | ImportOutcome::Stale(plan) => (plan, false),
        ImportOutcome::Unreadable(error) => anyhow::bail!("{}: {error}", path.display()),
    };
    let counts = plan.counts;
    if counts.create + counts.update + counts.unchanged + counts.error == 0 {
        anyhow::bail!("{} holds no users", path.display());
    }
    for row in plan.errors() {
        for (field, messages) in row.errors.iter() {
            for message in messages {
                eprintln!("line {}: {field}: {message}", row.line);
            }
        }
    }
    eprintln!(
        "{}: {} to create, {} to update, {} unchanged, {} with errors",
        if applied {
            "imported"
        } else if plan.is_valid() {
            "dry run, nothing written"
        } else {
            "nothing written"
        },
        counts.create,
        counts.update,
        counts.unchanged,
        counts.error
    );
    let report = json!({
        "dry_run": dry_run,
        "applied": applied,
        "counts": counts,
        "rows": plan.rows,
        "omitted_rows": plan.omitted,
    });
    println!("{report}");
    Ok(if plan.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
