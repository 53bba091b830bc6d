//! The default number of client connections, from the process's file limit.

/// File descriptors kept back from connections when `MAX_CONNECTIONS` is unset:
/// the Redis pool, log files, migrations, TLS roots, the listener itself, and one
/// connection accepted before an idle one is closed to make room for it.
const FD_RESERVE: usize = 64;

/// The floor of the default, so a tiny file limit still serves a few clients.
const MIN_DEFAULT: usize = 16;

/// The default `MAX_CONNECTIONS`: below the soft file limit, keeping
/// [`FD_RESERVE`] plus the database pool for everything else. Past the file
/// limit, `accept` fails with "Too many open files" and new clients (health
/// probes included) wait for someone else to hang up.
pub fn default_max_connections(database_pool: usize) -> usize {
    // Unknown limit: assume the common Linux default.
    soft_file_limit()
        .unwrap_or(1024)
        .saturating_sub(FD_RESERVE.saturating_add(database_pool))
        .max(MIN_DEFAULT)
}

#[cfg(unix)]
pub(crate) fn soft_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass, which outlives the call.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    if status != 0 {
        return None;
    }
    if limit.rlim_cur == libc::RLIM_INFINITY {
        return Some(usize::MAX);
    }
    Some(usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
pub(crate) fn soft_file_limit() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_limit_stays_below_the_file_limit() {
        let files = soft_file_limit().expect("a file limit");
        let default = default_max_connections(16);
        assert!(default >= MIN_DEFAULT);
        if files >= FD_RESERVE + 16 + MIN_DEFAULT {
            assert_eq!(default, files - FD_RESERVE - 16);
        }
    }
}
