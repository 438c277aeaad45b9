use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = qp_node::cli::Cli::parse();
    qp_node::cli::init_logging();
    match qp_node::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the error and its causes.
            eprintln!("qp-node: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
