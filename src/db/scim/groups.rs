//! The members of a page of groups, in one query (a SCIM group list shows
//! each group's members).

use sqlx::PgExecutor;

use crate::db::groups::MemberRef;

/// Each member of these groups, as `(group id, member)`, in id order.
pub async fn members_of(
    db: impl PgExecutor<'_>,
    group_ids: &[i64],
) -> Result<Vec<(i64, MemberRef)>, sqlx::Error> {
    let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "select gm.group_id, u.id, u.email, u.name from group_members gm \
         join users u on u.id = gm.user_id \
         where gm.group_id = any($1) and u.deleted_at is null order by gm.group_id, u.id",
    )
    .bind(group_ids)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(group, id, email, name)| (group, MemberRef { id, email, name }))
        .collect())
}
