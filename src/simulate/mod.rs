//! `pact simulate`: phones moving in a city, reporting contacts.

use std::process::ExitCode;

/// Arguments of `pact simulate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `pact simulate`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
