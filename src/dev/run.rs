//! `pact dev` itself: start the pipeline, print where it listens, stop it on
//! a signal.

use std::collections::HashMap;
use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use super::logs::{json_line, text_line};
use super::{Args, Cancelled, Events, Pipeline, Urls};
use crate::topology::{TOPOLOGY, Wiring};

/// Runs `pact dev`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    init_logs();
    let events = if args.json {
        Events::Json
    } else {
        Events::Text
    };
    // Listening from the start: a signal during start-up stops what started.
    let shutdown = CancellationToken::new();
    let signal = pact_runtime::server::shutdown_signal();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            signal.await;
            shutdown.cancel();
        }
    });
    let pipeline = match Pipeline::start(&args.settings, events, &shutdown).await {
        Ok(pipeline) => pipeline,
        Err(e) if e.is::<Cancelled>() => {
            if args.json {
                json_line(&serde_json::json!({"event": "stopped"}));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => return Err(e),
    };
    let urls = pipeline.urls().clone();
    if args.json {
        let pids: HashMap<&str, Option<u32>> = TOPOLOGY
            .functions
            .iter()
            .map(|f| (f.name.as_str(), pipeline.pid(&f.name)))
            .collect();
        json_line(&serde_json::json!({
            "event": "ready",
            "urls": urls,
            "pids": pids,
            "database_url": pact_runtime::redact::url(pipeline.database_url()),
            "dir": args.settings.dir,
            "topology": args.settings.topology,
        }));
    } else {
        text_line(&banner(
            &urls,
            args.settings.topology,
            &args.settings.dir,
            &pact_runtime::redact::url(pipeline.database_url()),
        ));
    }
    shutdown.cancelled().await;
    if !args.json {
        text_line("pact dev: stopping");
    }
    pipeline.stop().await?;
    Ok(ExitCode::SUCCESS)
}

/// What `pact dev` prints once everything is ready.
fn banner(urls: &Urls, wiring: Wiring, dir: &std::path::Path, database_url: &str) -> String {
    let mut lines = vec![
        "pact dev: the whole pipeline on this machine (for development; clusters use Knative and Kafka)"
            .to_owned(),
        String::new(),
    ];
    for stage in &TOPOLOGY.functions {
        let url = urls.functions.get(&stage.name).map_or("", String::as_str);
        let feed = match (wiring, &stage.reads, stage.trigger()) {
            (Wiring::Broker, _, Some(trigger)) => Some(format!(
                "Trigger {trigger} on Broker {}",
                TOPOLOGY.broker.name
            )),
            (_, Some(topic), _) => Some(format!("fed from {topic}")),
            _ => None,
        };
        let what = match (feed, stage.endpoints.strip_suffix(')')) {
            (Some(feed), Some(open)) => format!("{open}; {feed})"),
            (Some(feed), None) => format!("{} ({feed})", stage.endpoints),
            (None, _) => stage.endpoints.clone(),
        };
        lines.push(format!("  {:<12} {url}   {what}", stage.name));
    }
    lines.push(format!(
        "  {:<12} {}   POST /topics/{{topic}}, GET /topics, GET /topics/{}/records",
        "eventing", urls.eventing, TOPOLOGY.dead_letter_topic
    ));
    if wiring == Wiring::Broker {
        lines.push(format!(
            "  {:<12} {}/topics/{}   (ingress; raw contacts from topic {})",
            "broker",
            urls.eventing,
            TOPOLOGY.broker.topic(),
            TOPOLOGY.broker.raw_topic
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "  state        {} (topics, offsets{})",
        dir.display(),
        if std::env::var_os("DATABASE_URL").is_none() {
            ", pact.db"
        } else {
            ""
        }
    ));
    lines.push(format!("  database     {database_url}"));
    lines.push(String::new());
    lines.push("Ctrl-C stops everything.".to_owned());
    lines.join("\n")
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PACT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .compact()
        .try_init();
}
