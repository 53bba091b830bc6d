//! `useradmin import FILE [--dry-run]`: the same import as `POST /users/import`,
//! from a file of any size, with progress on a terminal. The report (as the API
//! answers it) goes to standard output; the summary and each bad row's errors to
//! standard error.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::ExitCode,
    time::Duration,
};

use indicatif::ProgressBar;
use serde_json::json;

use crate::{
    config::Settings,
    import::{ImportFormat, read_rows},
    write::{Actor, ImportMode, ImportOutcome},
};

pub async fn run(settings: Settings, path: &Path, dry_run: bool) -> anyhow::Result<ExitCode> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let format = ImportFormat::guess(path.to_str(), input.fill_buf()?);
    let progress = super::rows_progress("read");
    let reading = progress.clone();
    let rows = tokio::task::spawn_blocking(move || {
        read_rows(input, format, &mut |rows| reading.set_position(rows))
    })
    .await??;
    progress.finish();
    if rows.is_empty() {
        anyhow::bail!("{} holds no users", path.display());
    }

    let (_pool, writer) = super::writer(&settings).await?;
    let working = ProgressBar::new_spinner().with_message(if dry_run {
        "planning"
    } else {
        "planning and writing"
    });
    working.enable_steady_tick(Duration::from_millis(120));
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
        .import(&Actor::cli_user(), &rows, mode, &source)
        .await?;
    working.finish_and_clear();
    let (plan, applied) = match outcome {
        ImportOutcome::Applied { plan, .. } => (plan, true),
        ImportOutcome::Planned(plan) | ImportOutcome::Stale(plan) => (plan, false),
    };
    for row in plan.errors() {
        for (field, messages) in row.errors.iter() {
            for message in messages {
                eprintln!("line {}: {field}: {message}", row.line);
            }
        }
    }
    let counts = plan.counts;
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
    });
    println!("{report}");
    Ok(if plan.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
