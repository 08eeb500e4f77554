//! The running pipeline: its start-up from the topology table, and its stop
//! in the order that loses nothing.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::logs::json_line;
use super::ping::ping_loop;
use super::supervise::Supervised;
use super::{Cancelled, Events, Settings, Urls};
use crate::Function;
use crate::eventing::{DeliverySpec, Eventing, Retention, Subscription};
use crate::topology::{Stage, TOPOLOGY, Wiring};

/// The running pipeline.
pub struct Pipeline {
    urls: Urls,
    database_url: String,
    eventing: Eventing,
    server: JoinHandle<std::io::Result<()>>,
    server_stop: CancellationToken,
    ping: JoinHandle<()>,
    functions: HashMap<&'static str, Supervised>,
    events: Events,
}

impl Pipeline {
    /// Starts everything; fails, saying which part and why, if a part does
    /// not start, and with [`Cancelled`] (after stopping what started) when
    /// `cancel` fires first.
    pub async fn start(
        settings: &Settings,
        events: Events,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.dir)
            .with_context(|| format!("cannot create {}", settings.dir.display()))?;
        let dir = settings.dir.canonicalize()?;
        let topics = TOPOLOGY.log_topics(settings.topology);
        let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
        let mut eventing =
            Eventing::open(&dir.join("topics.db"), &topics, settings.partitions).await?;
        let (eventing_url, server, server_stop) = serve_eventing(&eventing, settings).await?;
        let database_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}", dir.join("pact.db").display()));
        let functions =
            start_functions(settings, &eventing_url, &database_url, events, cancel).await?;
        let urls = Urls {
            functions: functions
                .iter()
                .map(|(name, f)| ((*name).to_owned(), f.url()))
                .collect(),
            eventing: eventing_url.clone(),
        };
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .build()?;
        subscribe(&mut eventing, &functions, settings, &eventing_url, &client).await?;
        // After the subscriptions: their groups hold what they have not
        // committed.
        eventing.retain(Retention {
            default: settings.retention,
            topics: HashMap::from([(
                TOPOLOGY.dead_letter_topic.clone(),
                settings.dead_letter_retention,
            )]),
            check_every: settings.retention_check_interval,
        });
        let ping = tokio::spawn(ping_loop(
            client,
            ping_targets(&functions, settings.topology, &eventing_url),
            settings.ping_every,
        ));
        Ok(Self {
            urls,
            database_url,
            eventing,
            server,
            server_stop,
            ping,
            functions,
            events,
        })
    }

    /// Where each part listens.
    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    /// The database pact-contactlog writes and pact-query reads.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Offsets, lag and counters of the topics and subscriptions.
    pub fn status(&self) -> crate::eventing::Status {
        self.eventing.status()
    }

    /// The process id of a function's current process.
    pub fn pid(&self, function: &str) -> Option<u32> {
        self.functions.get(function).and_then(Supervised::pid)
    }

    /// Stops everything in the order that loses nothing: the producer (its
    /// acknowledged events are in the topic), the deliveries (offsets
    /// committed), then the other functions, then the topic log.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.ping.abort();
        let mut failures = Vec::new();
        let ingress: Vec<_> = TOPOLOGY
            .ingress()
            .filter_map(|stage| self.functions.remove(stage.name.as_str()))
            .map(Supervised::stop)
            .collect();
        for result in futures_util::future::join_all(ingress).await {
            failures.extend(result.err());
        }
        self.eventing.stop_delivery().await;
        let rest: Vec<_> = self.functions.drain().map(|(_, f)| f.stop()).collect();
        for result in futures_util::future::join_all(rest).await {
            failures.extend(result.err());
        }
        self.server_stop.cancel();
        let _ = self.server.await;
        if self.events == Events::Json {
            json_line(&serde_json::json!({"event": "stopped"}));
        }
        match failures.is_empty() {
            true => Ok(()),
            false => bail!(
                "{}",
                failures
                    .iter()
                    .map(|e| format!("{e:#}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    }
}

/// A function's environment under `pact dev`, as in the cluster: its
/// `K_SINK` (the stand-in's endpoint of the topic it emits to, the Broker's
/// with `--topology broker`), the database, and what pipeline.toml adds on
/// this machine.
fn environment(
    stage: &Stage,
    wiring: Wiring,
    eventing_url: &str,
    database_url: &str,
) -> Vec<(String, String)> {
    let mut env = Vec::new();
    if let Some(topic) = TOPOLOGY.sink_topic(stage, wiring) {
        env.push((
            "K_SINK".to_owned(),
            format!("{eventing_url}/topics/{topic}"),
        ));
    }
    if stage.database.is_some() {
        env.push(("DATABASE_URL".to_owned(), database_url.to_owned()));
    }
    env.extend(stage.dev_env(|name| std::env::var_os(name).is_some()));
    env
}

/// The port of the part at `offset` in pipeline.toml (0, the OS picks, when
/// `--port 0`).
fn port(settings: &Settings, offset: u16) -> u16 {
    if settings.port == 0 {
        0
    } else {
        settings.port.saturating_add(offset)
    }
}

/// Serves the stand-in's HTTP endpoints: its URL, the server task, and the
/// token that stops it.
async fn serve_eventing(
    eventing: &Eventing,
    settings: &Settings,
) -> anyhow::Result<(String, JoinHandle<std::io::Result<()>>, CancellationToken)> {
    let eventing_port = port(settings, TOPOLOGY.eventing_port_offset);
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, eventing_port)))
            .await
            .with_context(|| format!("eventing: cannot listen on port {eventing_port}"))?;
    let eventing_url = format!("http://{}", listener.local_addr()?);
    let server_stop = CancellationToken::new();
    let server = tokio::spawn({
        let router = eventing.router(settings.max_record_bytes);
        let stop = server_stop.clone();
        async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await
        }
    });
    Ok((eventing_url, server, server_stop))
}

/// Starts the functions in pipeline.toml's start order, each ready before
/// the next; if one does not start, stops those that did.
async fn start_functions(
    settings: &Settings,
    eventing_url: &str,
    database_url: &str,
    events: Events,
    cancel: &CancellationToken,
) -> anyhow::Result<HashMap<&'static str, Supervised>> {
    let mut functions = HashMap::new();
    for stage in TOPOLOGY.start_order() {
        let env = environment(stage, settings.topology, eventing_url, database_url);
        let Some(function) = Function::named(&stage.name) else {
            bail!(
                "pipeline.toml lists {}, which `pact function` cannot run",
                stage.name
            );
        };
        let port = port(settings, stage.port_offset);
        match Supervised::start(function, port, env, events, cancel).await {
            Ok(supervised) => functions.insert(stage.name.as_str(), supervised),
            Err(e) => {
                for (_, started) in functions.drain() {
                    let _ = started.stop().await;
                }
                if e.is::<Cancelled>() {
                    return Err(e);
                }
                return Err(e.context(format!("{} did not start", stage.service())));
            }
        };
    }
    Ok(functions)
}

/// Subscribes the functions as the cluster does: with `explicit` wiring, a
/// KafkaSource per function that reads a topic; with a Broker, a Trigger per
/// such function on the Broker's topic, and the KafkaSource that feeds the
/// Broker from the topic of raw contacts.
async fn subscribe(
    eventing: &mut Eventing,
    functions: &HashMap<&'static str, Supervised>,
    settings: &Settings,
    eventing_url: &str,
    client: &reqwest::Client,
) -> anyhow::Result<()> {
    let delivery = DeliverySpec {
        retry: settings.retry,
        backoff_delay: settings.backoff_delay,
        timeout: settings.delivery_timeout,
        max_in_flight: settings.max_in_flight,
        deliveries: settings.deliveries,
        max_reply_bytes: settings.max_record_bytes,
    };
    let broker = &TOPOLOGY.broker;
    let mut subscriptions = Vec::new();
    // Downstream first, as the functions started.
    for stage in TOPOLOGY.functions.iter().rev() {
        let Some(topic) = &stage.reads else { continue };
        let subscriber = format!("{}/", functions[stage.name.as_str()].url()).parse()?;
        subscriptions.push(match settings.topology {
            Wiring::Explicit => Subscription {
                group: stage.consumer_group(),
                topic: topic.clone(),
                subscriber,
                ordering: settings.ordering,
                dead_letter_topic: TOPOLOGY.dead_letter_topic.clone(),
                filter: None,
                reply_to: None,
            },
            Wiring::Broker => Subscription {
                group: broker.trigger_group(&stage.service()),
                topic: broker.topic(),
                subscriber,
                ordering: settings.ordering,
                dead_letter_topic: TOPOLOGY.dead_letter_topic.clone(),
                filter: Some(stage.trigger_filter()),
                reply_to: Some(broker.topic()),
            },
        });
    }
    if settings.topology == Wiring::Broker {
        // The consumer group of the KafkaSource that read the topic in the
        // explicit wiring, as in the cluster: a switch goes on from its
        // offsets.
        let group = TOPOLOGY
            .functions
            .iter()
            .find(|stage| stage.reads.as_ref() == Some(&broker.raw_topic))
            .map_or_else(|| broker.raw_topic.clone(), Stage::consumer_group);
        subscriptions.push(Subscription {
            group,
            topic: broker.raw_topic.clone(),
            subscriber: format!("{eventing_url}/topics/{}", broker.topic()).parse()?,
            ordering: settings.ordering,
            dead_letter_topic: TOPOLOGY.dead_letter_topic.clone(),
            filter: None,
            reply_to: None,
        });
    }
    // The user's own subscribers (`--subscribe`), as a KafkaSource each.
    for (n, (topic, url)) in settings.subscribe.iter().enumerate() {
        subscriptions.push(Subscription {
            group: format!("pact-dev-{topic}-{}", n + 1),
            topic: topic.clone(),
            subscriber: url.clone(),
            ordering: settings.ordering,
            dead_letter_topic: TOPOLOGY.dead_letter_topic.clone(),
            filter: None,
            reply_to: None,
        });
    }
    for subscription in subscriptions {
        eventing
            .subscribe(subscription, delivery.clone(), client.clone())
            .await?;
    }
    Ok(())
}

/// The `(url, ping source)` of each PingSource: it sends to its function,
/// or to the Broker (whose Trigger passes it on) with `--topology broker`.
fn ping_targets(
    functions: &HashMap<&'static str, Supervised>,
    wiring: Wiring,
    eventing_url: &str,
) -> Vec<(String, String)> {
    TOPOLOGY
        .functions
        .iter()
        .filter_map(|stage| {
            let source = stage.ping_source.clone()?;
            let url = match wiring {
                Wiring::Explicit => format!("{}/", functions[stage.name.as_str()].url()),
                Wiring::Broker => format!("{eventing_url}/topics/{}", TOPOLOGY.broker.topic()),
            };
            Some((url, source))
        })
        .collect()
}
