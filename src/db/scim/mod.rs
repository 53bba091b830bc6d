//! SQL for SCIM's list and search: a filter turned into bound SQL, offset paging.

use sqlx::{PgPool, Postgres, QueryBuilder};

pub mod filter_sql;
pub mod groups;

use filter_sql::{push_filter, sort_column};

use super::users::{UserRow, columns};
use crate::domain::scim_filter::{Attribute, Filter};

fn push_where(sql: &mut QueryBuilder<Postgres>, filter: Option<&Filter>) {
    sql.push(" from users where deleted_at is null");
    if let Some(filter) = filter {
        sql.push(" and ");
        push_filter(sql, filter);
    }
}

/// One page of the users `filter` matches, and how many match in all.
pub async fn page(
    db: &PgPool,
    filter: Option<&Filter>,
    sort: Option<(Attribute, bool)>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<UserRow>, i64), sqlx::Error> {
    let mut count = QueryBuilder::<Postgres>::new("select count(*)");
    push_where(&mut count, filter);
    let total: i64 = count.build_query_scalar().fetch_one(db).await?;
    if limit == 0 || offset >= total {
        return Ok((Vec::new(), total));
    }
    let mut sql = QueryBuilder::<Postgres>::new(concat!("select ", columns!()));
    push_where(&mut sql, filter);
    let (column, descending) = sort.map_or(("id".to_owned(), false), |(attribute, descending)| {
        (sort_column(attribute), descending)
    });
    let direction = if descending { "desc" } else { "asc" };
    sql.push(format!(
        " order by {column} {direction} nulls last, id {direction} limit "
    ));
    sql.push_bind(limit);
    sql.push(" offset ");
    sql.push_bind(offset);
    let rows = sql.build_query_as::<UserRow>().fetch_all(db).await?;
    Ok((rows, total))
}
