//! `pact`: parse the command line, call the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    pact::main(pact::Cli::parse())
}
