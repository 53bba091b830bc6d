//! `useradmin seed-demo --count N [--force]`: fills `users` with demo rows, fast.

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use crate::{config::Settings, db};

/// Rows per statement: big enough that round trips do not matter, small enough
/// that progress shows and one statement stays within a few seconds.
const BATCH: i64 = 100_000;

pub async fn run(settings: Settings, count: u64, force: bool) -> anyhow::Result<ExitCode> {
    let count = i64::try_from(count).map_err(|_| anyhow::anyhow!("--count is too large"))?;
    db::prepare(&settings).await?;
    let mut conn = db::seed::connect(&settings).await?;
    let existing = db::seed::non_admin_users(&mut conn).await?;
    if existing > 0 && !force {
        eprintln!(
            "useradmin: refusing to seed: the database already holds {existing} users who \
             are not admins; pass --force to add {count} demo users anyway"
        );
        return Ok(ExitCode::FAILURE);
    }
    let started = Instant::now();
    let start = db::seed::first_number(&mut conn).await?;
    let end = start + count - 1;
    let mut inserted = 0u64;
    let mut from = start;
    while from <= end {
        let to = (from + BATCH - 1).min(end);
        inserted += db::seed::insert_batch(&mut conn, start, from, to, count).await?;
        eprintln!(
            "seed-demo: {inserted} of {count} users ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        from = to + 1;
    }
    let inserting = started.elapsed();
    db::seed::analyze(&mut conn).await?;
    super::invalidate_user_cache(&settings).await;
    // Seeding never runs on a request path: let the cache bump settle before exit.
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!(
        "seeded {inserted} demo users in {:.1} s (insert {:.1} s, vacuum analyze {:.1} s)",
        started.elapsed().as_secs_f64(),
        inserting.as_secs_f64(),
        (started.elapsed() - inserting).as_secs_f64()
    );
    if inserted < count as u64 {
        println!(
            "{} rows skipped: their email was already taken",
            count as u64 - inserted
        );
    }
    Ok(ExitCode::SUCCESS)
}
