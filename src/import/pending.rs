//! Imports previewed on the pages and waiting for their confirmation: the rows
//! are kept in Redis for 15 minutes, so the file is not uploaded twice, and the
//! key is known only to the session that previewed them.

use fred::{prelude::*, types::Expiration};
use serde::{Deserialize, Serialize};

use super::SubmittedRow;

/// How long a preview can be confirmed.
pub const PENDING_SECS: i64 = 15 * 60;

#[derive(Debug, Serialize, Deserialize)]
pub struct PendingImport {
    /// The admin who previewed it; nobody else can confirm it.
    pub admin_id: i64,
    /// The file's name, for the audit trail.
    pub source: String,
    /// The previewed plan's digest: confirming applies that plan or nothing.
    pub digest: String,
    pub rows: Vec<SubmittedRow>,
}

pub struct PendingImports {
    redis: Pool,
    prefix: String,
}

impl PendingImports {
    pub fn new(redis: Pool, key_prefix: &str) -> Self {
        Self {
            redis,
            prefix: format!("{key_prefix}import:"),
        }
    }

    /// Keeps `pending` and returns the id it is found by (random, unguessable).
    pub async fn put(&self, pending: &PendingImport) -> Result<String, anyhow::Error> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let value = serde_json::to_vec(pending)?;
        let _: () = self
            .redis
            .set(
                self.key(&id),
                value.as_slice(),
                Some(Expiration::EX(PENDING_SECS)),
                None,
                false,
            )
            .await?;
        Ok(id)
    }

    /// The import kept under `id`, unless it expired.
    pub async fn get(&self, id: &str) -> Result<Option<PendingImport>, anyhow::Error> {
        let value: Option<Vec<u8>> = self.redis.get(self.key(id)).await?;
        Ok(match value {
            Some(bytes) => Some(serde_json::from_slice(&bytes)?),
            None => None,
        })
    }

    pub async fn forget(&self, id: &str) {
        let removed: Result<i64, _> = self.redis.del(self.key(id)).await;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "could not remove a confirmed import from Redis");
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }
}
