//! The login-session store: tower-sessions records in Redis, on the one shared
//! pool, bound to their deployment.
//!
//! tower-sessions-redis-store keys a record by its bare id, so two deployments
//! sharing one Redis would share sessions. Here every key carries
//! `REDIS_KEY_PREFIX`, and every record carries the deployment's id (kept in its
//! database): a cookie made by a deployment with another prefix finds no record,
//! and one made by a deployment with another database finds a record it refuses.

use async_trait::async_trait;
use fred::{
    prelude::*,
    types::{Expiration, SetOptions},
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tower_sessions::{
    SessionStore,
    session::{Id, Record},
    session_store,
};

#[derive(Clone)]
pub struct DeploymentSessionStore {
    redis: Pool,
    key_prefix: String,
    deployment: String,
}

impl std::fmt::Debug for DeploymentSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentSessionStore")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

/// What is kept in Redis for one session.
#[derive(Serialize, Deserialize)]
struct Stored {
    /// The deployment that made the record.
    #[serde(rename = "d")]
    deployment: String,
    #[serde(rename = "v")]
    data: std::collections::HashMap<String, serde_json::Value>,
    #[serde(rename = "e", with = "time::serde::timestamp")]
    expiry_date: OffsetDateTime,
}

impl DeploymentSessionStore {
    /// `deployment` names this deployment (see `db::secrets`).
    pub fn new(redis: Pool, key_prefix: &str, deployment: &[u8]) -> Self {
        Self {
            redis,
            key_prefix: format!("{key_prefix}session:"),
            deployment: hex::encode(deployment),
        }
    }

    fn key(&self, id: &Id) -> String {
        format!("{}{id}", self.key_prefix)
    }

    /// Writes the record; false when the condition (`NX`/`XX`) did not hold.
    async fn write(&self, record: &Record, condition: SetOptions) -> session_store::Result<bool> {
        let stored = Stored {
            deployment: self.deployment.clone(),
            data: record.data.clone(),
            expiry_date: record.expiry_date,
        };
        let value =
            serde_json::to_vec(&stored).map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let written: Option<String> = self
            .redis
            .set(
                self.key(&record.id),
                value.as_slice(),
                Some(Expiration::EXAT(record.expiry_date.unix_timestamp())),
                Some(condition),
                false,
            )
            .await
            .map_err(backend)?;
        Ok(written.is_some())
    }
}

fn backend(error: fred::error::Error) -> session_store::Error {
    session_store::Error::Backend(error.to_string())
}

#[async_trait]
impl SessionStore for DeploymentSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A new id that happens to be taken gets another one, never the old record.
        while !self.write(record, SetOptions::NX).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // XX: a request still in flight after logout must not bring the record back.
        self.write(record, SetOptions::XX).await.map(|_| ())
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        let found: Option<Vec<u8>> = self
            .redis
            .get(self.key(session_id))
            .await
            .map_err(backend)?;
        let Some(bytes) = found else {
            return Ok(None);
        };
        // A record that does not parse, or that another deployment made, is no
        // session of ours: the client is simply not logged in.
        let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) else {
            return Ok(None);
        };
        if stored.deployment != self.deployment {
            tracing::warn!("a session cookie of another deployment was refused");
            return Ok(None);
        }
        Ok(Some(Record {
            id: *session_id,
            data: stored.data,
            expiry_date: stored.expiry_date,
        }))
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let _: i64 = self
            .redis
            .del(self.key(session_id))
            .await
            .map_err(backend)?;
        Ok(())
    }
}
