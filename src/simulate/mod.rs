//! `pact simulate`: phones moving in a city, reporting contacts.
//!
//! - [`world`]: the movement model (places, phones, trips) and the contacts
//!   it reports; [`grid`]: the proximity search; [`geo`]: cities, boxes, and
//!   the metric frame.
//! - `args`: the options (also `pact demo`'s and `pact burst`'s);
//!   `summary`: what a run did, printed.
//! - `send`: requests to the producer's `POST /contacts` (batches) or to any
//!   CloudEvents sink (one binary-mode event per POST), with a rate limit,
//!   bounded concurrency and retries that cannot double a contact; the
//!   target, its modes and the bodies are [`crate::traffic`]'s.
//!
//! The model runs on its own thread and feeds the sender through a small
//! channel: it runs only as far ahead as the target accepts.

mod args;
pub mod geo;
pub mod grid;
mod send;
mod summary;
pub mod world;

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use pact_runtime::config::ProcessEnv;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use args::check;
pub use args::{Args, SendArgs, WorldArgs};
pub use geo::{BBox, City};
pub use send::SOURCE;
pub use summary::Summary;

use crate::traffic::Form;
use crate::traffic::progress::{self, Bar, Length};
pub use crate::traffic::{Mode, Target};
use send::{Plan, Tally, lock};
use world::{SimContact, World, WorldConfig};

/// How long a run lasts when neither `--duration` nor `--contacts` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(20);
/// Contacts the model may run ahead of the sender.
const CHANNEL_CONTACTS: usize = 4096;
/// With `--rate`, a request carries at most this much time's worth of
/// contacts, so a low rate sends small requests often rather than big ones rarely.
const RATE_BATCH_WINDOW_S: f64 = 0.02;

/// Runs `pact simulate`: exit code 0 when every contact sent was accepted,
/// 1 otherwise, 2 for a usage error (no target, an argument out of range).
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let usage = Target::resolve(args.url.as_deref(), args.mode, &ProcessEnv).and_then(|target| {
        args.world.area()?;
        check(&args.world, &args.send)?;
        Ok(target)
    });
    let target = match usage {
        Ok(target) => target,
        Err(e) => {
            eprintln!("pact simulate: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let progress = std::io::stderr().is_terminal();
    let summary = simulate(&args.world, &args.send, &target, progress).await?;
    if args.json {
        println!("{}", summary.to_json());
    } else {
        summary.print_text();
    }
    Ok(if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Simulates and sends until `--contacts`, `--duration`, or Ctrl-C/SIGTERM
/// (which stops generating and gives requests in flight 10 s; a second one
/// ends them). `progress` draws a bar on stderr.
pub async fn simulate(
    world: &WorldArgs,
    send: &SendArgs,
    target: &Target,
    progress: bool,
) -> anyhow::Result<Summary> {
    let (stops, stop) = watch::channel(0u32);
    // Counts Ctrl-C and SIGTERM until the run is over.
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = pact_runtime::server::shutdown_signal() => stops.send_modify(|n| *n += 1),
                () = stops.closed() => break,
            }
        }
    });
    run_world(world, send, target, progress, stop).await
}

/// As [`simulate`], but stopped by `stop` instead of signals (for callers
/// with their own shutdown, such as `pact demo`).
pub async fn simulate_until(
    world: &WorldArgs,
    send: &SendArgs,
    target: &Target,
    progress: bool,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Summary> {
    let (stops, receiver) = watch::channel(0u32);
    tokio::spawn(async move {
        tokio::select! {
            () = stop => stops.send_modify(|n| *n += 1),
            () = stops.closed() => {}
        }
    });
    run_world(world, send, target, progress, receiver).await
}

async fn run_world(
    world: &WorldArgs,
    send: &SendArgs,
    target: &Target,
    progress: bool,
    stop: watch::Receiver<u32>,
) -> anyhow::Result<Summary> {
    check(world, send)?;
    let (config, city) = world.config()?;
    let (bbox, seed) = (config.bbox, config.seed);

    let started = Instant::now();
    let deadline = match (send.duration, send.contacts) {
        (Some(Duration::ZERO), _) | (None, Some(_)) => None,
        (Some(duration), _) => Some(started + duration),
        (None, None) => Some(started + DEFAULT_DURATION),
    };
    let per_request = match (target.form(), send.rate) {
        (Form::Json, None) => send.batch,
        (Form::Json, Some(rate)) => {
            ((rate * RATE_BATCH_WINDOW_S).ceil() as usize).clamp(1, send.batch)
        }
        (Form::Message | Form::JsonEvent | Form::CsvEvent, _) => 1,
    };
    let plan = Plan {
        limit: send.contacts,
        deadline,
        rate: send.rate,
        per_request,
        concurrency: send.concurrency,
        keep_ids: deadline.is_some() || send.contacts.is_some(),
    };

    let mut contacts = spawn_world(config, CHANNEL_CONTACTS)?;

    let tally = Arc::new(Mutex::new(Tally::default()));
    let bar = progress_bar(send, &plan, progress);
    let drawing = bar.is_shown().then(|| {
        let (bar, tally) = (bar.clone(), tally.clone());
        let counts_contacts = plan.limit.is_some();
        tokio::spawn(async move {
            loop {
                draw(&bar, &lock(&tally), started, counts_contacts);
                tokio::time::sleep(progress::REDRAW).await;
            }
        })
    });
    let ended = send::drive(&mut contacts, target, &plan, &tally, stop).await;
    if let Some(drawing) = drawing {
        drawing.abort();
    }
    bar.finish();
    let ended = ended?;
    let elapsed = started.elapsed().as_secs_f64();

    let tally = std::mem::take(&mut *lock(&tally));
    Ok(Summary {
        seed,
        city,
        bbox,
        phones: world.phones as u64,
        mode: target.mode,
        url: target.shown_url(),
        generated: ended.generated,
        sent: tally.sent,
        accepted: tally.accepted,
        accepted_ids: tally.accepted_ids,
        rejected: tally.rejected,
        failed: tally.failed,
        problems: tally.problems,
        elapsed_s: elapsed,
        simulated_s: ended.last_tick,
        interrupted: ended.interrupted,
    })
}

/// Runs the model on its own thread, which hands over its contacts through a
/// channel of `capacity` and ends when the receiver is dropped or closed.
pub(crate) fn spawn_world(
    config: WorldConfig,
    capacity: usize,
) -> anyhow::Result<mpsc::Receiver<SimContact>> {
    let (contacts_out, contacts) = mpsc::channel(capacity);
    std::thread::Builder::new()
        .name("pact-simulate-world".into())
        .spawn(move || generate(&config, &contacts_out))
        .context("cannot start the simulation thread")?;
    Ok(contacts)
}

/// The model's thread: ticks and hands over contacts until the receiver is gone.
fn generate(config: &WorldConfig, out: &mpsc::Sender<SimContact>) {
    let mut world = World::new(config);
    let mut contacts = Vec::new();
    loop {
        world.tick(&mut contacts);
        for contact in contacts.drain(..) {
            if out.blocking_send(contact).is_err() {
                return;
            }
        }
        // A world with no contacts for a long while must still notice the end.
        if world.now().is_multiple_of(256) && out.is_closed() {
            return;
        }
    }
}

fn progress_bar(send: &SendArgs, plan: &Plan, shown: bool) -> Bar {
    let length = match (plan.limit, plan.deadline) {
        (Some(limit), _) => Length::Count(limit, "contacts"),
        (None, Some(_)) => Length::Seconds(send.duration.unwrap_or(DEFAULT_DURATION)),
        (None, None) => Length::Endless("  (Ctrl-C to stop)"),
    };
    Bar::new(length, shown)
}

fn draw(bar: &Bar, tally: &Tally, started: Instant, counts_contacts: bool) {
    let elapsed = started.elapsed();
    let position = if counts_contacts {
        tally.accepted + tally.rejected + tally.failed
    } else {
        elapsed.as_secs()
    };
    let rate = progress::per_second(tally.accepted, elapsed);
    bar.show(
        position,
        format!(
            "accepted {} ({rate:.0}/s), rejected {}, failed {}",
            tally.accepted, tally.rejected, tally.failed
        ),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use clap::Parser;
    use pact_runtime::testing::{CaptureSink, Reply};

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("simulate").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn parses_the_documented_options_with_their_defaults() {
        let args = parse(&["http://127.0.0.1:8080/contacts"]).expect("valid");
        let defaults = WorldArgs::default();
        assert_eq!(args.world.phones, defaults.phones);
        assert_eq!(args.world.radius, defaults.radius);
        assert_eq!(args.world.cooldown, defaults.cooldown);
        assert_eq!(args.send.concurrency, SendArgs::default().concurrency);
        assert_eq!(args.send.batch, SendArgs::default().batch);
        assert_eq!(args.world.area().expect("area").1, "Minneapolis");

        let args = parse(&[
            "--city",
            "sao-paulo",
            "--phones",
            "10",
            "--radius",
            "1.5",
            "--cooldown",
            "1m",
            "--seed",
            "9",
            "--duration",
            "0",
            "--contacts",
            "5",
            "--rate",
            "2.5",
            "--concurrency",
            "3",
            "--batch",
            "7",
            "--mode",
            "cloudevents",
            "--json",
        ])
        .expect("valid");
        assert_eq!(args.world.city, Some(City::SaoPaulo));
        assert_eq!(args.world.cooldown, Duration::from_secs(60));
        assert_eq!(args.send.duration, Some(Duration::ZERO));
        assert_eq!(args.send.rate, Some(2.5));
        assert_eq!(args.mode, Some(Mode::Cloudevents));
        assert!(args.json && args.url.is_none());

        let args = parse(&["--bbox", "-33.91,151.17,-33.85,151.24"]).expect("negative numbers");
        assert_eq!(args.world.area().expect("area").0, City::Sydney.bbox());
        assert!(parse(&["--bbox", "1,2,3,4", "--city", "paris"]).is_err());
        assert!(parse(&["--bbox", "1,2,3"]).is_err());
        assert!(parse(&["--duration", "soon"]).is_err());
    }

    #[test]
    fn refuses_arguments_that_make_no_sense() {
        let world = WorldArgs::default();
        let send = SendArgs::default();
        assert!(check(&world, &send).is_ok());
        for bad in [
            WorldArgs {
                phones: 1,
                ..world.clone()
            },
            WorldArgs {
                radius: 0.0,
                ..world.clone()
            },
            WorldArgs {
                radius: f64::NAN,
                ..world.clone()
            },
        ] {
            assert!(check(&bad, &send).is_err(), "{bad:?}");
        }
        for bad in [
            SendArgs {
                contacts: Some(0),
                ..send.clone()
            },
            SendArgs {
                rate: Some(0.0),
                ..send.clone()
            },
            SendArgs {
                rate: Some(f64::INFINITY),
                ..send.clone()
            },
            SendArgs {
                concurrency: 0,
                ..send.clone()
            },
            SendArgs {
                batch: 0,
                ..send.clone()
            },
            SendArgs {
                batch: pact_producer::MAX_CONTACTS_PER_REQUEST + 1,
                ..send.clone()
            },
        ] {
            assert!(check(&world, &bad).is_err(), "{bad:?}");
        }
        let both = WorldArgs {
            city: Some(City::Paris),
            bbox: Some(City::Tokyo.bbox()),
            ..world
        };
        assert!(both.area().is_err());
    }

    fn seeded(seed: u64) -> WorldArgs {
        WorldArgs {
            seed: Some(seed),
            ..WorldArgs::default()
        }
    }

    fn exactly(contacts: u64) -> SendArgs {
        SendArgs {
            contacts: Some(contacts),
            ..SendArgs::default()
        }
    }

    #[tokio::test]
    async fn stops_at_exactly_the_contacts_asked_for() {
        let sink = CaptureSink::start(Reply::Status(202)).await;
        let target = Target::new(&sink.url, Some(Mode::Contacts)).expect("target");
        // 250 with batches of 100: two full requests and one of 50.
        let summary = simulate(&seeded(1), &exactly(250), &target, false)
            .await
            .expect("ran");
        assert_eq!(
            (summary.generated, summary.sent, summary.accepted),
            (250, 250, 250)
        );
        assert!(summary.success() && !summary.interrupted);
        assert_eq!(summary.accepted_ids.len(), 250);
        let sizes: Vec<usize> = sink
            .received()
            .iter()
            .map(|r| {
                serde_json::from_slice::<Vec<serde_json::Value>>(&r.body)
                    .expect("a JSON array")
                    .len()
            })
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 250);
        assert_eq!(sizes.len(), 3, "{sizes:?}");
    }

    #[tokio::test]
    async fn the_same_seed_sends_the_same_contacts() {
        let pairs = |sink: &CaptureSink| {
            let mut pairs: Vec<(i64, i64, String)> = sink
                .received()
                .iter()
                .filter_map(|r| r.event.clone())
                .map(|e| {
                    let Some(cloudevents::Data::Binary(data)) = e.data() else {
                        panic!("binary data");
                    };
                    let v: serde_json::Value = serde_json::from_slice(data).expect("JSON");
                    (
                        v["mmid1"].as_i64().expect("mmid1"),
                        v["mmid2"].as_i64().expect("mmid2"),
                        format!("{},{}", v["lat"], v["lon"]),
                    )
                })
                .collect();
            pairs.sort();
            pairs
        };
        let mut runs = Vec::new();
        for seed in [11, 11, 12] {
            let sink = CaptureSink::start(Reply::Status(202)).await;
            let target = Target::new(&sink.url, None).expect("target");
            let summary = simulate(&seeded(seed), &exactly(40), &target, false)
                .await
                .expect("ran");
            assert_eq!(summary.accepted, 40);
            runs.push(pairs(&sink));
        }
        assert_eq!(runs[0].len(), 40);
        assert_eq!(runs[0], runs[1]);
        assert_ne!(runs[0], runs[2]);
        let ids: HashSet<_> = runs[0].iter().collect();
        assert!(ids.len() > 1);
    }

    #[tokio::test]
    async fn a_stop_ends_an_endless_run_with_a_summary() {
        let sink = CaptureSink::start(Reply::Status(202)).await;
        let target = Target::new(&sink.url, None).expect("target");
        let send = SendArgs {
            duration: Some(Duration::ZERO),
            ..SendArgs::default()
        };
        let stop = sink.wait_for_requests(20, Duration::from_secs(20));
        // The stop fires once the sink has 20 requests.
        let (stopped, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let world = seeded(5);
        let summary = tokio::join!(
            async {
                stop.await;
                let _ = stopped.send(());
            },
            simulate_until(&world, &send, &target, false, async move {
                let _ = stop_rx.await;
            })
        )
        .1
        .expect("ran");
        assert!(summary.interrupted);
        assert!(summary.accepted >= 20, "{summary:?}");
        assert_eq!(summary.sent, summary.accepted);
        assert!(summary.accepted_ids.is_empty(), "endless runs keep no ids");
    }
}
