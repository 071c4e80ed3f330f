//! Thin entry point: parse the command line and call the library.

use clap::Parser;
use std::process::ExitCode;

// glibc's malloc contends on its arena locks under many small, short-lived allocations per
// request; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    sandbank::commands::run(sandbank::cli::Cli::parse())
}
