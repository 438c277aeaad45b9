use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = qpctl::cli::Cli::parse();
    match qpctl::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("qpctl: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
