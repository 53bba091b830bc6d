use std::process::ExitCode;

use clap::Parser;
use useradmin::cli::{Cli, run};

/// mimalloc rather than the C library's allocator: a request makes many small,
/// short-lived allocations on two worker threads, and this spends less CPU on
/// each (bench/FINDINGS.md §11).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("useradmin: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}
