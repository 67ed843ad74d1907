//! The `wh` command.

mod cli;
mod dev;

/// mimalloc: `wh dev` allocates per webhook (records, images, audit records) and glibc's
/// allocator was its largest cost (docs/testing.md, "Benchmarks").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::run()
}
