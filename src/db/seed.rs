//! Set-based SQL that fills `users` with demo rows (`useradmin seed-demo`).
//!
//! Rows are generated inside PostgreSQL by `insert … select … from generate_series`,
//! one statement per batch, so a million users cost a few dozen round trips.
//! Names combine a first name, a middle initial and a last name, picked through a
//! permutation of the row number so that consecutive ids do not share a name and
//! the first 1,040,000 names (200 × 26 × 200) are all different; emails carry the row number,
//! so they are unique; `created_at` grows with the id over five years, with jitter.
//!
//! Outside the write path on purpose, and visible to the crate only (for
//! `cli::seed`): a demo load is bulk DDL and set-based inserts on one dedicated
//! connection (secondary indexes dropped and rebuilt, a vacuum afterwards) that
//! no request can reach; the triggers still audit every row, as `act_as` names
//! the operating-system user.

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::config::Settings;

const FIRST_NAMES: &str = "\
    Aaliyah Aaron Abigail Ada Adam Adele Adrian Agnes Aisha Akira Alan Albert \
    Alejandro Alex Alice Alma Amara Amelia Amir Ana Andrea Andrew Angela Anna \
    Anthony Anton Aria Arjun Arthur Astrid Ava Beatriz Ben Benjamin Bianca Boris \
    Brian Bruno Camila Carla Carlos Caroline Catherine Cecilia Charlotte Chen Chloe \
    Chris Clara Daniel Dario David Diana Diego Dmitri Dora Edgar Elena Eli Elif \
    Elijah Elizabeth Ella Emil Emily Emma Eric Erik Esther Ethan Eva Farah Fatima \
    Felix Fernando Filip Fiona Francesca Gabriel Georg Grace Gustav Hana Hannah \
    Harper Hassan Helen Henry Hiroshi Hugo Ibrahim Ines Ingrid Irene Isaac Isabella \
    Ivan Ivy Jack Jacob James Jana Jasper Javier Jean Jessica Joao John Jonas Jorge \
    Jose Joseph Julia Julian Kai Karim Kate Kenji Kevin Kim Kofi Lara Lars Laura \
    Layla Leah Leila Leo Liam Lina Linda Lucas Lucia Luis Luka Magnus Maria Mariam \
    Mark Marta Mateo Maya Mei Mia Michael Miguel Mohammed Nadia Naomi Nathan Nia \
    Nicolas Nina Noah Nora Olga Oliver Olivia Omar Oscar Pablo Paolo Patrick Paul \
    Pedro Peter Priya Rachel Rafael Rahul Rania Raphael Rebecca Ricardo Rosa Ruth \
    Ryan Sakura Samuel Sara Sebastian Sergei Sofia Sophie Stefan Sven Tanya Thomas \
    Tomas Valentina Victor Wei William Yara Yasmin Yuki Yusuf Zara Zoe Zoltan";

const LAST_NAMES: &str = "\
    Abbott Acosta Adeyemi Afolabi Ahmed Akhtar Alvarez Andersen Aydin Bailey Baker \
    Banerjee Barros Bauer Becker Bennett Berg Bianchi Bose Brandt Brown Calvo \
    Campbell Carter Castro Chen Chowdhury Clarke Cohen Cooper Costa Cruz Cunha Dahl \
    Dang Das Davies Delgado Dias Diaz Dogan Duarte Dubois Edwards Ek Engel Eriksson \
    Evans Farouk Fernandes Ferrari Fischer Flores Fonseca Fontaine Fuchs Gallo \
    Garcia Gaur Gomez Gonzalez Gray Green Gupta Haddad Hakimi Hall Hansen Harris \
    Hashemi Hoffmann Horvath Huang Hughes Ibrahim Ito Iyer Jackson Jansen Johansson \
    Johnson Jones Jovanovic Kaur Kaya Keller Khan Kim King Koch Kovacs Kowalski \
    Krause Kumar Lang Larsen Laurent Lee Lewis Li Lindqvist Lopez Lovelace Lund \
    Mahmoud Malik Marino Martin Martinez Mendes Mensah Meyer Miller Mitchell Moreau \
    Moretti Morris Muller Murphy Nair Nakamura Nguyen Nielsen Novak Nowak Okafor \
    Oliveira Olsen Ortiz Ozturk Park Patel Pereira Perez Petrov Phillips Popescu \
    Quinn Quispe Rahman Ramirez Reddy Reyes Ricci Richter Roberts Robinson Rocha \
    Rodriguez Romano Rossi Russo Sahin Salazar Sanchez Sandoval Santos Sato Schmidt \
    Schneider Schulz Scott Shah Silva Singh Smith Sokolov Soto Sousa Strand Suzuki \
    Tanaka Taylor Thomas Thompson Torres Tran Turner Vargas Vogel Volkov Wagner \
    Walker Wang Watanabe Weber White Williams Wilson Wojcik Wong Wright Yadav \
    Yamamoto Yang Yilmaz Young Zhang Zhou Zimmermann";

const DOMAINS: &str = "\
    example.com example.org example.net mail.example corp.example";

/// One batch: rows `$1 ..= $2` of a run of `$6` rows that starts at row `$9`.
/// `$3`, `$4`, `$5` are the first-name, last-name and domain lists, `$7` and `$8`
/// the lengths of the name lists. The multiplier 7919 is prime and divides no
/// number of combinations used here, so `n * 7919 mod combinations` visits each
/// combination once before any repeats. An email someone already uses is skipped.
const INSERT_BATCH: &str = "
insert into users (name, email, created_at, updated_at)
select
    n.first || ' ' || chr(65 + ((p.k / $7) % 26)::int) || '. ' || n.last,
    lower(n.first || '.' || n.last) || '.' || g.i || '@' || $5[1 + g.i % cardinality($5)],
    c.at,
    c.at + (random() * (now() - c.at)) * (random() < 0.3)::int
from generate_series($1::bigint, $2::bigint) as g(i)
cross join lateral (select (g.i * 7919) % ($7 * 26 * $8) as k) as p
cross join lateral (
    select $3[1 + p.k % $7] as first, $4[1 + (p.k / ($7 * 26)) % $8] as last
) as n
cross join lateral (
    select now() - interval '5 years'
           + (g.i - $9)::float8 / greatest($6, 1) * interval '5 years'
           - random() * interval '1 day' as at
) as c
on conflict do nothing
";

/// A connection of its own: no statement timeout (a batch may take seconds on a
/// large table), asynchronous commit (a crash loses demo rows, nothing else) and
/// room for index builds.
pub async fn connect(settings: &Settings) -> Result<PgConnection, sqlx::Error> {
    let options = super::connect_options(settings)?
        .log_slow_statements(tracing::log::LevelFilter::Off, Duration::from_secs(1));
    let mut conn = PgConnection::connect_with(&options).await?;
    sqlx::raw_sql(
        "set statement_timeout = 0; set synchronous_commit = off; \
         set maintenance_work_mem = '256MB'; set gin_pending_list_limit = '64MB'",
    )
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

/// Tells the triggers who adds the rows, for the rest of the transaction.
pub(crate) async fn act_as(conn: &mut PgConnection, actor: &str) -> Result<(), sqlx::Error> {
    sqlx::query("select set_config('useradmin.actor', $1, true)")
        .bind(actor)
        .execute(conn)
        .await
        .map(|_| ())
}

/// How many users there are, and how many of them are not admins (the ones a
/// demo seed could be mixed up with).
pub async fn user_counts(conn: &mut PgConnection) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as("select count(*), count(*) filter (where not is_admin) from users")
        .fetch_one(conn)
        .await
}

/// The first row number of a new run: above every id handed out so far, so the
/// emails of an earlier run (which carry its row numbers, each at most an id it
/// used) are not repeated. On a fresh table row numbers and ids coincide.
pub async fn first_number(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select greatest( \
             coalesce((select max(id) from users), 0), \
             (select case when is_called then last_value else last_value - 1 end \
              from users_id_seq)) + 1",
    )
    .fetch_one(conn)
    .await
}

/// Drops the secondary indexes of `users` (all but the primary key and the unique
/// ones, which the insert needs to skip taken emails) and returns their exact
/// definitions from the catalog, for [`create_indexes`]. Building an index once
/// over a million rows is about three times faster than maintaining it row by
/// row. Run it inside the transaction that inserts and recreates: a failure
/// leaves the indexes as they were. The table is locked until that commits.
pub(crate) async fn drop_secondary_indexes(
    conn: &mut PgConnection,
) -> Result<Vec<String>, sqlx::Error> {
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "select i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) \
         from pg_index i \
         where i.indrelid = 'users'::regclass and not i.indisprimary and not i.indisunique \
         order by 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (name, _) in &indexes {
        // The name comes from the catalog, already quoted by regclass output.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("drop index {name}")))
            .execute(&mut *conn)
            .await?;
    }
    Ok(indexes
        .into_iter()
        .map(|(_, definition)| definition)
        .collect())
}

/// Recreates indexes from the definitions [`drop_secondary_indexes`] returned.
pub(crate) async fn create_indexes(
    conn: &mut PgConnection,
    definitions: &[String],
) -> Result<(), sqlx::Error> {
    for definition in definitions {
        sqlx::raw_sql(sqlx::AssertSqlSafe(definition.clone()))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Inserts rows `from ..= to` of a run of `total` rows that started at `start`.
pub(crate) async fn insert_batch(
    conn: &mut PgConnection,
    start: i64,
    from: i64,
    to: i64,
    total: i64,
) -> Result<u64, sqlx::Error> {
    let first: Vec<&str> = FIRST_NAMES.split_whitespace().collect();
    let last: Vec<&str> = LAST_NAMES.split_whitespace().collect();
    let domains: Vec<&str> = DOMAINS.split_whitespace().collect();
    let done = sqlx::query(INSERT_BATCH)
        .bind(from)
        .bind(to)
        .bind(&first)
        .bind(&last)
        .bind(&domains)
        .bind(total)
        .bind(first.len() as i64)
        .bind(last.len() as i64)
        .bind(start)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Fresh statistics and visibility map, so the planner and index-only scans see
/// the new rows at once rather than after autovacuum. Outside a transaction.
pub(crate) async fn vacuum_analyze(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("vacuum (analyze) users")
        .execute(conn)
        .await?;
    Ok(())
}
