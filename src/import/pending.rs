//! Imports previewed on the pages and waiting for their confirmation: the file
//! itself (not its rows, which take several times its size) is kept in Redis
//! for 15 minutes, so it is not uploaded twice, under a key known only to the
//! session that previewed it. A session keeps one: a new upload replaces it.

use bytes::Bytes;
use fred::{prelude::*, types::Expiration};
use serde::{Deserialize, Serialize};

use super::ImportFormat;

/// How long a preview can be confirmed.
pub const PENDING_SECS: i64 = 15 * 60;

/// What is kept beside the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingImport {
    /// The admin who previewed it; nobody else can confirm it.
    pub admin_id: i64,
    /// The file's name, for the audit trail.
    pub source: String,
    /// The previewed plan's digest: confirming applies that plan or nothing.
    pub digest: String,
    pub format: ImportFormat,
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

    /// Keeps `pending` and its file and returns the id it is found by (random,
    /// unguessable). One value: a length-prefixed JSON head, then the file.
    pub async fn put(
        &self,
        pending: &PendingImport,
        file: &[Bytes],
    ) -> Result<String, anyhow::Error> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let head = serde_json::to_vec(pending)?;
        let size = file.iter().map(Bytes::len).sum::<usize>();
        let mut value = Vec::with_capacity(4 + head.len() + size);
        value.extend_from_slice(&u32::try_from(head.len())?.to_be_bytes());
        value.extend_from_slice(&head);
        for chunk in file {
            value.extend_from_slice(chunk);
        }
        let _: () = self
            .redis
            .set(
                self.key(&id),
                Bytes::from(value),
                Some(Expiration::EX(PENDING_SECS)),
                None,
                false,
            )
            .await?;
        Ok(id)
    }

    /// The import kept under `id` and its file, unless it expired.
    pub async fn get(&self, id: &str) -> Result<Option<(PendingImport, Bytes)>, anyhow::Error> {
        let value: Option<Vec<u8>> = self.redis.get(self.key(id)).await?;
        let Some(value) = value else {
            return Ok(None);
        };
        let mut value = Bytes::from(value);
        if value.len() < 4 {
            anyhow::bail!("a kept import is cut short");
        }
        let head_len = u32::from_be_bytes([value[0], value[1], value[2], value[3]]) as usize;
        let _ = value.split_to(4);
        if value.len() < head_len {
            anyhow::bail!("a kept import is cut short");
        }
        let head = value.split_to(head_len);
        Ok(Some((serde_json::from_slice(&head)?, value)))
    }

    pub async fn forget(&self, id: &str) {
        let removed: Result<i64, _> = self.redis.del(self.key(id)).await;
        if let Err(e) = removed {
            tracing::warn!(error = %e, "could not remove a previewed import from Redis");
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }
}
