//! `pact`: parse the command line, call the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = pact::Cli::parse();
    match pact::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pact: {e:#}");
            ExitCode::FAILURE
        }
    }
}
