use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // As the sealed image's init (the kernel gives it no arguments), PID 1's whole life.
    if qp_init::is_pid1() {
        qp_node::pid1::main();
    }
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
