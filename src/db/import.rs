//! What an import plans with (its rows and matches) and the reads it looks
//! users up with; its statements that lock and write are `write::sql::import`,
//! each one statement for
//! the whole file (arrays bound as parameters), so 100,000 rows cost a handful
//! of round trips.

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;

use super::users::UserRow;
use crate::domain::UserStatus;

/// A user the import creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Creation {
    pub name: String,
    pub email: String,
    pub is_admin: bool,
    pub status: UserStatus,
    pub disabled_reason: Option<String>,
    pub external_id: Option<String>,
}

/// The fields the import changes on a user (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alteration {
    pub id: i64,
    pub name: Option<String>,
    pub is_admin: Option<bool>,
    pub status: Option<UserStatus>,
    pub disabled_reason: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
}

/// What the database holds for the rows of one batch.
#[derive(Debug, Default)]
pub struct Stored {
    /// Per lookup email: the database's own case folding of it (the unique
    /// index's), and the live user that has it.
    pub matches: Vec<(String, Option<UserRow>)>,
    /// The matched users that have a password (who can log in).
    pub with_password: HashSet<i64>,
}

/// The live users holding any of `external_ids` (valid ones: they were parsed),
/// each looked up through the unique index, for the reason `stored` gives.
pub async fn external_id_owners(
    tx: &mut PgConnection,
    external_ids: &[String],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    if external_ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(sqlx::query_as::<_, (String, i64)>(
        "select e.id, u.id from unnest($1::text[]) as e(id) \
         cross join lateral ( \
             select id from users where external_id = e.id and deleted_at is null limit 1 \
         ) u",
    )
    .bind(external_ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect())
}
