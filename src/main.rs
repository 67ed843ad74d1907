//! The `wh` command.

mod cli;
mod dev;

fn main() -> std::process::ExitCode {
    cli::run()
}
