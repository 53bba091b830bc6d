//! Log output: human-readable or JSON lines, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// The log filter when `RUST_LOG` is unset (docker-compose.yml defaults to it too).
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=warn,fred=warn";

/// Installs the global subscriber. Logs go to stderr so commands that print a
/// result (such as `token create`) keep stdout clean. Colours only on a terminal
/// (and not when `NO_COLOR` is set): a file, pipe or log collector gets plain text.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let layer = fmt::layer().with_writer(std::io::stderr);
    // Left at its default on a terminal, which honours NO_COLOR.
    let layer = if std::io::stderr().is_terminal() {
        layer
    } else {
        layer.with_ansi(false)
    };
    match format {
        LogFormat::Json => registry.with(layer.json().with_current_span(true)).init(),
        LogFormat::Pretty => registry.with(layer).init(),
    }
}
