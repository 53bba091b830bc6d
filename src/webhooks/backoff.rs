//! When a failed delivery is tried again: after about 5 s, then about 30 s,
//! then waits that double from a minute, each with ±20 % jitter so that the
//! deliveries of an endpoint that was down do not all come back at once. The
//! database caps the next attempt at 24 hours after the delivery was created,
//! and marks it failed when an attempt fails after that
//! ([`crate::db::deliveries::bookkeeping::record_failure`]).

use std::time::Duration;

/// The waits before the second and third attempts; the waits double from the
/// last one on.
const FIRST_WAITS: [Duration; 3] = [
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(60),
];

/// No single wait is longer than this (the 24-hour window ends sooner anyway).
const LONGEST_WAIT: Duration = Duration::from_secs(12 * 60 * 60);

/// How much a wait may be shortened or lengthened at random.
const JITTER: f64 = 0.2;

/// The wait after attempt number `attempts` (1 for the first) failed, before
/// jitter.
pub fn base_wait(attempts: i32) -> Duration {
    let index = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
    match FIRST_WAITS.get(index) {
        Some(wait) => *wait,
        None => {
            let doublings = u32::try_from(index + 1 - FIRST_WAITS.len()).unwrap_or(u32::MAX);
            let last = FIRST_WAITS[FIRST_WAITS.len() - 1];
            last.checked_mul(2u32.saturating_pow(doublings.min(16)))
                .unwrap_or(LONGEST_WAIT)
                .min(LONGEST_WAIT)
        }
    }
}

/// The wait after attempt number `attempts` failed, with jitter.
pub fn wait_after(attempts: i32) -> Duration {
    base_wait(attempts).mul_f64(rand::random_range(1.0 - JITTER..=1.0 + JITTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_retries_come_within_a_minute_then_waits_double() {
        let secs: Vec<u64> = (1..=8).map(|n| base_wait(n).as_secs()).collect();
        assert_eq!(secs, [5, 30, 60, 120, 240, 480, 960, 1920]);
        assert_eq!(base_wait(0), Duration::from_secs(5));
        assert_eq!(base_wait(40), LONGEST_WAIT);
        assert_eq!(base_wait(i32::MAX), LONGEST_WAIT);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for attempts in 1..20 {
            let base = base_wait(attempts).as_secs_f64();
            let wait = wait_after(attempts).as_secs_f64();
            assert!(
                wait >= base * 0.8 - 1e-9 && wait <= base * 1.2 + 1e-9,
                "{attempts}: {wait}"
            );
        }
    }

    #[test]
    fn a_day_of_failures_takes_a_bounded_number_of_attempts() {
        let mut total = Duration::ZERO;
        let mut attempts = 0;
        while total < Duration::from_secs(24 * 60 * 60) {
            attempts += 1;
            total += base_wait(attempts);
        }
        assert!(
            (10..=20).contains(&attempts),
            "{attempts} attempts in a day"
        );
    }
}
