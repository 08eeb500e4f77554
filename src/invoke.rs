//! `pact invoke`: one CloudEvent to a URL, the reply printed.

use std::process::ExitCode;

/// Arguments of `pact invoke`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `pact invoke`.
pub async fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
