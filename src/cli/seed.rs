//! `useradmin seed-demo --count N [--force]`: fills `users` with demo rows, fast.

use std::{process::ExitCode, time::Instant};

use sqlx::Connection;

use crate::{config::Settings, db, write::Actor};

/// Rows per statement: big enough that round trips do not matter, small enough
/// that progress shows.
const BATCH: i64 = 100_000;

pub async fn run(settings: Settings, count: u64, force: bool) -> anyhow::Result<ExitCode> {
    let count = i64::try_from(count).map_err(|_| anyhow::anyhow!("--count is too large"))?;
    // The write path's writer only to announce the rows afterwards, as every
    // other command that writes does (the rows themselves go in set-based).
    let (_, writer) = super::writer(&settings).await?;
    let mut conn = db::seed::connect(&settings).await?;
    let (existing, not_admins) = db::seed::user_counts(&mut conn).await?;
    if not_admins > 0 && !force {
        eprintln!(
            "useradmin: refusing to seed: the database already holds {} other than admins; \
             pass --force to add {} anyway",
            plural(not_admins, "user", "users"),
            plural(count, "demo user", "demo users"),
        );
        return Ok(ExitCode::FAILURE);
    }
    let started = Instant::now();
    // One transaction: all rows or none. When the new rows outnumber the old
    // ones, the secondary indexes are rebuilt once at the end instead of being
    // maintained row by row (the table is locked meanwhile).
    let mut tx = conn.begin().await?;
    // The audit trail records the rows as the command line's, not as raw SQL.
    db::seed::act_as(&mut tx, &Actor::cli_user().to_json()).await?;
    let rebuild = count >= 10_000 && count >= existing;
    let indexes = if rebuild {
        db::seed::drop_secondary_indexes(&mut tx).await?
    } else {
        Vec::new()
    };
    let start = db::seed::first_number(&mut tx).await?;
    let end = start + count - 1;
    let mut inserted = 0u64;
    let mut from = start;
    while from <= end {
        let to = (from + BATCH - 1).min(end);
        inserted += db::seed::insert_batch(&mut tx, start, from, to, count).await?;
        eprintln!(
            "seed-demo: {} of {} ({:.1} s)",
            crate::domain::thousands(inserted),
            plural(count, "user", "users"),
            started.elapsed().as_secs_f64()
        );
        from = to + 1;
    }
    if rebuild {
        eprintln!("seed-demo: rebuilding {} indexes", indexes.len());
        db::seed::create_indexes(&mut tx, &indexes).await?;
    }
    tx.commit().await?;
    // With an actor the triggers leave telling the instances to the writer.
    writer.announce().await;
    let loaded = started.elapsed();
    db::seed::vacuum_analyze(&mut conn).await?;
    conn.close().await?;
    println!(
        "seeded {} in {:.1} s (load {:.1} s, vacuum analyze {:.1} s)",
        plural(inserted, "demo user", "demo users"),
        started.elapsed().as_secs_f64(),
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64()
    );
    let skipped = count.unsigned_abs() - inserted;
    if skipped == 1 {
        println!("1 row skipped: its email was already taken");
    } else if skipped > 1 {
        println!(
            "{} rows skipped: their email was already taken",
            crate::domain::thousands(skipped)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `1 user`, `2 users`, `0 users`.
/// `1 user`, `12,345 users` (a count is never negative here).
fn plural(n: impl Into<i128>, one: &str, many: &str) -> String {
    let n = u64::try_from(n.into()).unwrap_or(0);
    crate::domain::count(n, one, many)
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(plural(1_i64, "user", "users"), "1 user");
        assert_eq!(plural(0_u64, "user", "users"), "0 users");
        assert_eq!(plural(2_i64, "demo user", "demo users"), "2 demo users");
        assert_eq!(
            plural(12_345_u64, "demo user", "demo users"),
            "12,345 demo users"
        );
    }
}
