//! Imports: a file's rows planned and applied in one transaction, all or
//! nothing, one audit event per changed user (`via: import`) and one for the
//! import, and one announcement for the whole file.

use serde_json::json;
use time::OffsetDateTime;

use super::{Actor, Via, WriteResult, Writer};
use crate::{
    db,
    import::{Plan, SubmittedRow, plan},
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
}

impl Writer {
    /// Plans `rows` against the database and, in `Apply` mode, writes them.
    /// `source` names the file in the import's audit event.
    pub async fn import(
        &self,
        actor: &Actor,
        rows: &[SubmittedRow],
        mode: ImportMode,
        source: &str,
    ) -> WriteResult<ImportOutcome> {
        let actor = Actor {
            via: Via::Import,
            ..actor.clone()
        };
        let mut tx = self.begin(&actor).await?;
        db::import::allow_long_statements(&mut tx).await?;
        let emails = plan::lookup_emails(rows);
        let lookups: Vec<String> = emails.iter().flatten().cloned().collect();
        let external_ids = plan::external_ids(rows);
        let applying = matches!(mode, ImportMode::Apply { .. });
        let stored = db::import::stored(&mut tx, &lookups, &external_ids, applying).await?;
        let plan = Plan::build(rows, &emails, stored);
        let ImportMode::Apply { previewed } = mode else {
            tx.rollback().await?;
            return Ok(ImportOutcome::Planned(plan));
        };
        if previewed.is_some_and(|digest| digest != plan.digest()) {
            tx.rollback().await?;
            return Ok(ImportOutcome::Stale(plan));
        }
        if !plan.is_valid() {
            tx.rollback().await?;
            return Ok(ImportOutcome::Planned(plan));
        }
        db::import::create(&mut tx, &plan.creations).await?;
        db::import::alter(&mut tx, &plan.alterations).await?;
        let summary = json!({
            "created": plan.counts.create,
            "updated": plan.counts.update,
            "unchanged": plan.counts.unchanged,
        });
        let at = db::import::record_summary(&mut tx, source, &summary).await?;
        self.commit(tx).await?;
        Ok(ImportOutcome::Applied { plan, at })
    }
}
