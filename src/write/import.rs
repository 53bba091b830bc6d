//! Imports: a file's rows planned and applied in one transaction, all or
//! nothing, one audit event per changed user (`via: import`) and one for the
//! import, and one announcement for the whole file. The rows come and are
//! planned (and, applying, written) a batch at a time, so memory does not grow
//! with the file.

use serde_json::json;
use time::OffsetDateTime;

use super::{Actor, Via, WriteResult, Writer, sql};
use crate::{
    db,
    import::{FileError, Plan, RowBatches, plan},
};

/// Whether to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportMode {
    /// Plan only; nothing is written or locked.
    DryRun,
    /// Plan and, when every row is valid, write. With a digest (a preview's),
    /// only if the plan is still the one previewed.
    Apply { previewed: Option<String> },
}

/// What an import did.
#[derive(Debug)]
pub enum ImportOutcome {
    /// The plan of a dry run, or of a file with invalid rows (nothing written).
    Planned(Plan),
    /// Written: the plan, and the time every audit event of the import carries.
    Applied { plan: Plan, at: OffsetDateTime },
    /// The users changed since the preview; the plan as it is now.
    Stale(Plan),
    /// The file could not be read as its format (nothing written).
    Unreadable(FileError),
}

impl Writer {
    /// Plans the rows of `batches` against the database and, in `Apply` mode,
    /// writes them. `source` names the file in the import's audit event.
    pub async fn import(
        &self,
        actor: &Actor,
        mut batches: RowBatches,
        mode: ImportMode,
        source: &str,
    ) -> WriteResult<ImportOutcome> {
        let actor = Actor {
            via: Via::Import,
            ..actor.clone()
        };
        let mut tx = self.begin(&actor).await?;
        sql::import::prepare(&mut tx).await?;
        let applying = matches!(mode, ImportMode::Apply { .. });
        let mut planner = plan::Planner::new(sql::import::active_admins(&mut tx, applying).await?);
        while let Some(batch) = batches.next().await {
            let rows = match batch {
                Ok(rows) => rows,
                Err(error) => {
                    tx.rollback().await?;
                    return Ok(ImportOutcome::Unreadable(error));
                }
            };
            let emails = plan::lookup_emails(&rows);
            let lookups: Vec<String> = emails.iter().flatten().cloned().collect();
            let stored = sql::import::stored(&mut tx, &lookups, applying).await?;
            let parsed = planner.parse(&rows, &emails, stored);
            drop(rows);
            let owners = db::import::external_id_owners(&mut tx, &parsed.external_ids()).await?;
            let writes = planner.plan(parsed, &owners);
            // Once a row has errors nothing is written; the rest is only planned.
            if applying && planner.is_valid_so_far() {
                sql::import::create(&mut tx, &writes.creations).await?;
                sql::import::alter(&mut tx, &writes.alterations).await?;
            }
        }
        let plan = planner.finish();
        let ImportMode::Apply { previewed } = mode else {
            tx.rollback().await?;
            return Ok(ImportOutcome::Planned(plan));
        };
        if previewed.is_some_and(|digest| digest != plan.digest()) {
            tx.rollback().await?;
            return Ok(ImportOutcome::Stale(plan));
        }
        let rows = plan.counts.create + plan.counts.update + plan.counts.unchanged;
        if !plan.is_valid() || rows == 0 {
            tx.rollback().await?;
            return Ok(ImportOutcome::Planned(plan));
        }
        let summary = json!({
            "created": plan.counts.create,
            "updated": plan.counts.update,
            "unchanged": plan.counts.unchanged,
        });
        let at = sql::import::record_summary(&mut tx, source, &summary).await?;
        self.commit(tx).await?;
        crate::metrics::transfer_rows(crate::metrics::Direction::Import, rows as u64);
        Ok(ImportOutcome::Applied { plan, at })
    }
}
