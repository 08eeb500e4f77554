//! The `pact` command-line tool: tries the PACT functions on one machine.
//!
//! - `pact demo`: producer → translation → an event display, in one process
//!   over real HTTP on 127.0.0.1, with contacts from a few cities.
//! - `pact display`: a sink that prints every CloudEvent it receives (like
//!   Knative's `event_display`), to point a function's `K_SINK` at.

mod demo;
mod display;

use clap::{Parser, Subcommand};

/// PACT: event-driven contact tracing on Knative, and on your laptop.
#[derive(Debug, Parser)]
#[command(version, long_version = concat!(env!("CARGO_PKG_VERSION"), "\n\n", include_str!("../NOTICE")))]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run producer and translation on 127.0.0.1 and send contacts through them.
    Demo(demo::Args),
    /// Print every CloudEvent received (a K_SINK for trying functions).
    Display(display::Args),
}

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args).await,
        Command::Display(args) => display::run(args).await,
    }
}
