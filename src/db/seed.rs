//! Set-based SQL that fills `users` with demo rows (`useradmin seed-demo`).
//!
//! Rows are generated inside PostgreSQL by `insert … select … from generate_series`,
//! one statement per batch, so a million users cost a few dozen round trips.
//! Names combine a first name, a middle initial and a last name, picked through a
//! permutation of the row number so that consecutive ids do not share a name and
//! the first ~1.04 million names are all different; emails carry the row number,
//! so they are unique; `created_at` grows with the id over five years, with jitter.

use sqlx::{Connection, PgConnection};

use crate::config::Settings;

const FIRST_NAMES: &[&str] = &[
    "Aaliyah",
    "Aaron",
    "Abigail",
    "Ada",
    "Adam",
    "Adrian",
    "Aisha",
    "Alan",
    "Albert",
    "Alejandro",
    "Alex",
    "Alice",
    "Amara",
    "Amelia",
    "Amir",
    "Ana",
    "Andrea",
    "Andrew",
    "Angela",
    "Anna",
    "Anthony",
    "Arjun",
    "Astrid",
    "Ava",
    "Beatriz",
    "Ben",
    "Bianca",
    "Boris",
    "Brian",
    "Bruno",
    "Carla",
    "Carlos",
    "Caroline",
    "Catherine",
    "Chen",
    "Chloe",
    "Chris",
    "Clara",
    "Daniel",
    "David",
    "Diana",
    "Diego",
    "Dmitri",
    "Elena",
    "Eli",
    "Elif",
    "Elijah",
    "Elizabeth",
    "Ella",
    "Emily",
    "Emma",
    "Eric",
    "Ethan",
    "Eva",
    "Fatima",
    "Felix",
    "Fernando",
    "Fiona",
    "Francesca",
    "Gabriel",
    "Grace",
    "Hana",
    "Hannah",
    "Harper",
    "Hassan",
    "Helen",
    "Henry",
    "Hiroshi",
    "Ibrahim",
    "Ines",
    "Ingrid",
    "Isaac",
    "Isabella",
    "Ivan",
    "Jack",
    "Jacob",
    "James",
    "Jana",
    "Javier",
    "Jean",
    "Jessica",
    "Joao",
    "John",
    "Jonas",
    "Jorge",
    "Jose",
    "Joseph",
    "Julia",
    "Julian",
    "Kai",
    "Karim",
    "Kate",
    "Kenji",
    "Kevin",
    "Kim",
    "Lara",
    "Laura",
    "Layla",
    "Leah",
    "Leila",
    "Leo",
    "Liam",
    "Lina",
    "Linda",
    "Lucas",
    "Lucia",
    "Luis",
    "Luka",
    "Maria",
    "Mariam",
    "Mark",
    "Marta",
    "Mateo",
    "Maya",
    "Mei",
    "Mia",
    "Michael",
    "Miguel",
    "Mohammed",
    "Nadia",
    "Naomi",
    "Nathan",
    "Nia",
    "Nicolas",
    "Nina",
    "Noah",
    "Nora",
    "Olga",
    "Oliver",
    "Olivia",
    "Omar",
    "Oscar",
    "Pablo",
    "Paolo",
    "Patrick",
    "Paul",
    "Pedro",
    "Peter",
    "Priya",
    "Rachel",
    "Rafael",
    "Rahul",
    "Rania",
    "Raphael",
    "Rebecca",
    "Ricardo",
    "Rosa",
    "Ruth",
    "Ryan",
    "Sakura",
    "Samuel",
    "Sara",
    "Sebastian",
    "Sergei",
    "Sofia",
    "Sophie",
    "Stefan",
    "Sven",
    "Tanya",
    "Thomas",
    "Tomas",
    "Valentina",
    "Victor",
    "Wei",
    "William",
    "Yara",
    "Yasmin",
    "Yuki",
    "Yusuf",
    "Zara",
    "Zoe",
    "Zoltan",
];

const LAST_NAMES: &[&str] = &[
    "Abbott",
    "Adeyemi",
    "Ahmed",
    "Alvarez",
    "Andersen",
    "Bailey",
    "Baker",
    "Banerjee",
    "Becker",
    "Bennett",
    "Bianchi",
    "Brown",
    "Campbell",
    "Carter",
    "Castro",
    "Chen",
    "Clarke",
    "Cohen",
    "Costa",
    "Cruz",
    "Dang",
    "Davies",
    "Diaz",
    "Dubois",
    "Edwards",
    "Eriksson",
    "Evans",
    "Fernandes",
    "Fischer",
    "Fontaine",
    "Garcia",
    "Gomez",
    "Gonzalez",
    "Gray",
    "Green",
    "Gupta",
    "Hall",
    "Hansen",
    "Harris",
    "Hashemi",
    "Hoffmann",
    "Hughes",
    "Ibrahim",
    "Ito",
    "Jackson",
    "Jansen",
    "Johansson",
    "Johnson",
    "Jones",
    "Kaur",
    "Khan",
    "Kim",
    "King",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Laurent",
    "Lee",
    "Lewis",
    "Li",
    "Lopez",
    "Lovelace",
    "Martin",
    "Martinez",
    "Meyer",
    "Miller",
    "Mitchell",
    "Moreau",
    "Morris",
    "Muller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Nielsen",
    "Novak",
    "Okafor",
    "Oliveira",
    "Olsen",
    "Ortiz",
    "Park",
    "Patel",
    "Perez",
    "Petrov",
    "Phillips",
    "Popescu",
    "Quinn",
    "Ramirez",
    "Reyes",
    "Ricci",
    "Roberts",
    "Robinson",
    "Rodriguez",
    "Romano",
    "Rossi",
    "Russo",
    "Sanchez",
    "Santos",
    "Sato",
    "Schmidt",
    "Schneider",
    "Scott",
    "Shah",
    "Silva",
    "Singh",
    "Smith",
    "Sousa",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Thompson",
    "Torres",
    "Turner",
    "Vargas",
    "Volkov",
    "Wagner",
    "Walker",
    "Wang",
    "Watanabe",
    "Weber",
    "White",
    "Williams",
    "Wilson",
    "Wong",
    "Wright",
    "Yamamoto",
    "Yilmaz",
    "Young",
    "Zhang",
    "Zhou",
    "Zimmermann",
];

const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "corp.example",
];

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
/// large table) and asynchronous commit (a crash loses demo rows, nothing else).
pub async fn connect(settings: &Settings) -> Result<PgConnection, sqlx::Error> {
    let mut conn = PgConnection::connect_with(&super::connect_options(settings)?).await?;
    sqlx::raw_sql(
        "set statement_timeout = 0; set synchronous_commit = off; \
         set gin_pending_list_limit = '64MB'",
    )
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

/// How many users are not admins (the ones a demo seed could be mixed up with).
pub async fn non_admin_users(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("select count(*) from users where not is_admin")
        .fetch_one(conn)
        .await
}

/// The first row number of a new run: above every id, so emails of an earlier
/// run (which carry its row numbers, all at most its ids) are not repeated.
pub async fn first_number(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "select greatest(coalesce((select max(id) from users), 0), \
                         coalesce((select last_value from users_id_seq), 0)) + 1",
    )
    .fetch_one(conn)
    .await
}

/// Inserts rows `from ..= to` of a run of `total` rows that started at `start`.
pub async fn insert_batch(
    conn: &mut PgConnection,
    start: i64,
    from: i64,
    to: i64,
    total: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(INSERT_BATCH)
        .bind(from)
        .bind(to)
        .bind(FIRST_NAMES)
        .bind(LAST_NAMES)
        .bind(DOMAINS)
        .bind(total)
        .bind(FIRST_NAMES.len() as i64)
        .bind(LAST_NAMES.len() as i64)
        .bind(start)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Fresh statistics and visibility map, so the planner and index-only scans see
/// the new rows at once rather than after autovacuum.
pub async fn analyze(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("vacuum (analyze) users")
        .execute(conn)
        .await?;
    Ok(())
}
