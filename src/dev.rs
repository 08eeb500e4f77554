//! `pact dev`: the whole pipeline on one machine.

use std::process::ExitCode;

/// Arguments of `pact dev`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `pact dev`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
