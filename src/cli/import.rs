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
    import::{Counts, ImportFormat, RowBatches},
    write::{Actor, ImportMode, ImportOutcome},
};

pub async fn run(settings: Settings, path: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let shown = path.display();
    if path.is_dir() {
        anyhow::bail!("{shown} is a directory: name a CSV, NDJSON or JSON file in it");
    }
    let file = std::fs::File::open(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot open {shown}: {}",
            crate::reasons::plain(&e.to_string())
        )
    })?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let start = input.fill_buf().map_err(|e| {
        anyhow::anyhow!(
            "cannot read {shown}: {}",
            crate::reasons::plain(&e.to_string())
        )
    })?;
    let format = ImportFormat::guess(path.to_str(), start);

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
    // The summary below says it all; the last drawn line would run into it.
    progress.finish_and_clear();
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
    eprintln!("{}", summary(&counts, applied, plan.is_valid()));
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

/// The line on standard error after an import: what was done, in the past
/// tense, or what would be.
fn summary(counts: &Counts, applied: bool, valid: bool) -> String {
    let n = crate::domain::thousands;
    if applied {
        return format!(
            "imported: {} created, {} updated, {} unchanged",
            n(counts.create),
            n(counts.update),
            n(counts.unchanged)
        );
    }
    let planned = format!(
        "{} to create, {} to update, {} unchanged",
        n(counts.create),
        n(counts.update),
        n(counts.unchanged)
    );
    if valid {
        format!("dry run, nothing written: {planned}")
    } else {
        let errors = crate::domain::count(counts.error, "row", "rows");
        format!("nothing written: {errors} with errors; {planned}")
    }
}
