//! Log output: human-readable or JSON lines, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// The log filter when `RUST_LOG` is unset (docker-compose.yml defaults to it too).
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_http=warn,fred=warn";

/// The log filter `RUST_LOG` asks for ([`DEFAULT_FILTER`] when it is unset or
/// empty), or why it is malformed: a typo would otherwise silence the log.
pub fn filter_from_env() -> Result<EnvFilter, String> {
    match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => parse_filter(&text),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(EnvFilter::new(DEFAULT_FILTER)),
        Err(std::env::VarError::NotUnicode(_)) => Err("RUST_LOG is not valid UTF-8".into()),
    }
}

fn parse_filter(text: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(text)
        .map_err(|e| format!("RUST_LOG={text:?} is not a log filter ({e}); e.g. {DEFAULT_FILTER}"))
}

/// Installs the global subscriber. Logs go to stderr so commands that print a
/// result (such as `token create`) keep stdout clean. Colours only on a terminal
/// (and not when `NO_COLOR` is set): a file, pipe or log collector gets plain text.
pub fn init(format: LogFormat) {
    let filter = filter_from_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    init_with(format, filter);
}

/// [`init`] with a filter already read (the command line stops on a malformed one).
pub fn init_with(format: LogFormat, filter: EnvFilter) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_filter_is_refused_with_its_name() {
        assert!(parse_filter(DEFAULT_FILTER).is_ok());
        assert!(parse_filter("debug").is_ok());
        let error = parse_filter("info,sqlx=loud").expect_err("no such level");
        assert!(error.starts_with("RUST_LOG="), "{error}");
    }
}
