//! The `pact` command-line tool: PACT on one machine, with no cluster.
//!
//! - `pact dev`: the four functions as processes, joined by a local eventing
//!   stand-in with KafkaSink + KafkaSource semantics ([`eventing`]).
//! - `pact demo`: the main job: the local pipeline on embedded defaults, a
//!   simulated city, a summary, and a check that every contact was stored once.
//! - `pact simulate`: phones moving in a city, reporting contacts.
//! - `pact invoke`: one CloudEvent to a URL, the reply printed.
//! - `pact burst`: a bounded load burst with latency percentiles, and with
//!   `--watch` the Knative services scaling from zero to N and back.
//! - `pact display`: a sink that prints the CloudEvents it receives.
//! - `pact check-cluster`: after deploying to a cluster, check that it works
//!   ([`check_cluster`]).

pub mod burst;
pub mod check_cluster;
pub mod dev;
pub mod eventing;
pub mod invoke;
pub mod simulate;
pub mod topology;
pub mod traffic;

mod demo;
mod display;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// PACT: event-driven contact tracing on Knative, and on your laptop.
#[derive(Debug, Parser)]
#[command(
    version,
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\n\n", include_str!("../NOTICE")),
    after_help = "Examples:
  pact demo                          the whole pipeline, a simulated city, a summary
  pact dev                           the local pipeline, until Ctrl-C
  pact simulate --phones 2000 --duration 30s http://127.0.0.1:8180/contacts
  pact invoke http://127.0.0.1:8181  one contact to pact-translation, reply printed
  pact burst http://127.0.0.1:8180/pact/producer   10 s of load, latency percentiles
  pact check-cluster                 after deploying: resources Ready, contacts flow, scaling
  pact completions bash > /etc/bash_completion.d/pact"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local pipeline, simulate a city through it, check and summarise.
    Demo(demo::Args),
    /// Run the whole pipeline on this machine until Ctrl-C (for development).
    Dev(dev::Args),
    /// Simulate phones moving in a city and send the contacts they report.
    Simulate(simulate::Args),
    /// Send one CloudEvent to a URL and print the reply (like `kn func invoke`).
    Invoke(invoke::Args),
    /// Send a bounded load burst to a URL; with --watch, follow the Knative
    /// services' pods scaling from zero to N and back.
    Burst(burst::Args),
    /// Print every CloudEvent received (a K_SINK for trying functions).
    Display(display::Args),
    /// After deploying to a cluster: check that every Knative resource is
    /// Ready, that contacts flow to pact-query, and that pact-producer
    /// scales from zero and back.
    CheckCluster(check_cluster::Args),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Run one function in this process, as its own binary would (what `pact
    /// dev` starts).
    #[command(hide = true)]
    Function {
        /// Which function.
        name: Function,
        /// Stop (as on SIGTERM) when standard input closes: `pact dev`
        /// holds it open, so its functions never outlive it.
        #[arg(long)]
        exit_with_parent: bool,
    },
}

/// The functions `pact function` runs, by their short names; the same list
/// as pipeline.toml's (a unit test of [`topology`] compares them). This is
/// the one place that links each function's crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Function {
    /// pact-producer.
    Producer,
    /// pact-translation.
    Translation,
    /// pact-contactlog.
    Contactlog,
    /// pact-query.
    Query,
    /// pact-notify.
    Notify,
}

impl Function {
    /// All five, in the order of the flow.
    pub const ALL: [Function; 5] = [
        Function::Producer,
        Function::Translation,
        Function::Contactlog,
        Function::Query,
        Function::Notify,
    ];

    /// The short name (`translation`).
    pub fn name(self) -> &'static str {
        match self {
            Function::Producer => "producer",
            Function::Translation => "translation",
            Function::Contactlog => "contactlog",
            Function::Query => "query",
            Function::Notify => "notify",
        }
    }

    /// The function with this short name (`translation`).
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Serves as the function's own binary does, until SIGTERM.
    fn run(self) -> ExitCode {
        match self {
            Function::Producer => pact_producer::run(),
            Function::Translation => pact_translation::run(),
            Function::Contactlog => pact_contactlog::run(),
            Function::Query => pact_query::run(),
            Function::Notify => pact_notify::run(),
        }
    }
}

/// Raises SIGTERM in this process once standard input reaches its end, so the
/// function drains and exits as it would when Kubernetes stops it.
fn stop_when_stdin_closes() {
    std::thread::spawn(|| {
        use std::io::{ErrorKind, Read};
        let mut stdin = std::io::stdin().lock();
        let mut buffer = [0u8; 64];
        loop {
            match stdin.read(&mut buffer) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The pipe may be non-blocking (set so by the parent's
                // async runtime): poll it.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                Err(_) => break,
            }
        }
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
    });
}

/// Runs the command line; the exit codes are listed in the README.
pub fn main(cli: Cli) -> ExitCode {
    let command = match cli.command {
        // A function builds its own runtime, as its binary does.
        Command::Function {
            name,
            exit_with_parent,
        } => {
            if exit_with_parent {
                stop_when_stdin_closes();
            }
            return name.run();
        }
        Command::Completions { shell } => {
            use std::io::Write;
            // Into a buffer first: clap_complete panics when stdout closes
            // early (`pact completions bash | head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pact", &mut script);
            let _ = std::io::stdout().write_all(&script);
            return ExitCode::SUCCESS;
        }
        command => command,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("pact: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Demo(args) => demo::run(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::Simulate(args) => simulate::run(args).await,
            Command::Invoke(args) => invoke::run(args).await,
            Command::Burst(args) => burst::run(args).await,
            Command::Display(args) => display::run(args).await.map(|()| ExitCode::SUCCESS),
            Command::CheckCluster(args) => check_cluster::run(args).await,
            Command::Function { .. } | Command::Completions { .. } => unreachable!("handled above"),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pact: {e:#}");
            ExitCode::FAILURE
        }
    }
}
