//! The pipeline's topology: which functions there are, the topics between
//! them and what each is given, read from `pipeline.toml` at the root of
//! the repository (embedded at build time).
//!
//! It is the one list of the stages: `pact dev` starts, wires and stops
//! them from it, `pact demo` and `pact check-cluster` name them from it,
//! and tests check every file that cannot read it (the Dockerfile,
//! `scripts/images.sh`, Tekton, `knative/base`) against it.
//! docs/architecture.md explains each field and the naming rule.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::eventing::filter::{Filter, TriggerFilter};

/// The table, as written in the repository.
pub const SOURCE: &str = include_str!("../pipeline.toml");

/// The table, parsed once. A unit test parses and checks it, so it cannot
/// fail at run time.
pub static TOPOLOGY: LazyLock<Topology> = LazyLock::new(|| {
    Topology::parse(SOURCE).expect("pipeline.toml is checked by the tests of src/topology.rs")
});

/// The whole table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Where a KafkaSource puts what its subscriber refused for good.
    pub dead_letter_topic: String,
    /// Port of the eventing stand-in under `pact dev`, after `--port`.
    pub eventing_port_offset: u16,
    /// The Broker of the broker topology.
    pub broker: Broker,
    /// Every function, in the order of the flow.
    pub functions: Vec<Stage>,
}

/// How the stages are wired (`--topology`; docs/topologies.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wiring {
    /// A topic per hop: each stage emits to a KafkaSink, and a KafkaSource
    /// per stage delivers its topic to the next one.
    #[default]
    Explicit,
    /// One Knative Broker: every stage sends to it, and a Trigger per
    /// stage delivers the events its filter accepts; replies go back to it.
    Broker,
}

/// The Knative Broker of the broker topology (docs/topologies.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// Its name.
    pub name: String,
    /// Its namespace (the pipeline's).
    pub namespace: String,
    /// The topic of raw contacts other systems write, which a KafkaSource
    /// of that name feeds into the Broker.
    pub raw_topic: String,
}

impl Broker {
    /// Its Kafka topic, as the Kafka Broker names it
    /// (`brokers-topic-template`).
    pub fn topic(&self) -> String {
        format!("knative-broker-{}-{}", self.namespace, self.name)
    }

    /// The consumer group of a Trigger (`triggers-consumergroup-template`).
    pub fn trigger_group(&self, trigger: &str) -> String {
        format!("knative-trigger-{}-{trigger}", self.namespace)
    }
}

/// One function of the pipeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Short name (`translation`); everything else is named `pact-<name>`.
    pub name: String,
    /// Its port under `pact dev`: `--port` plus this.
    pub port_offset: u16,
    /// The topic a KafkaSource delivers to it.
    #[serde(default)]
    pub reads: Option<String>,
    /// The topic its `K_SINK` points at.
    #[serde(default)]
    pub emits_to: Option<String>,
    /// Whether it gets `DATABASE_URL`, and what it does with it.
    #[serde(default)]
    pub database: Option<DatabaseUse>,
    /// Its Trigger's `spec.filters` in the broker topology; functions that
    /// read a topic have a Trigger.
    #[serde(default)]
    pub trigger_filters: Vec<Filter>,
    /// The PingSource that sends it a daily retention ping.
    #[serde(default)]
    pub ping_source: Option<String>,
    /// Reachable from outside the cluster.
    #[serde(default)]
    pub public: bool,
    /// What `pact dev` prints beside its URL.
    pub endpoints: String,
    /// Environment `pact dev` adds, unless one of `dev_env_unless_set` is
    /// in its own environment.
    #[serde(default)]
    pub dev_env: BTreeMap<String, String>,
    /// See `dev_env`.
    #[serde(default)]
    pub dev_env_unless_set: Vec<String>,
}

/// What a function does with its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseUse {
    /// Writes, and migrates the schema: started before the readers.
    Writes,
    /// Only reads.
    Reads,
}

impl Stage {
    /// `pact-<name>`: its crate, binary, Knative Service, image and
    /// `K_SERVICE`.
    pub fn service(&self) -> String {
        format!("pact-{}", self.name)
    }

    /// The consumer group of the KafkaSource that feeds it (`pact-<name>`).
    pub fn consumer_group(&self) -> String {
        self.service()
    }

    /// Its Trigger in the broker topology (`pact-<name>`), when it reads a
    /// topic.
    pub fn trigger(&self) -> Option<String> {
        self.reads.as_ref().map(|_| self.service())
    }

    /// Its Trigger's filter.
    pub fn trigger_filter(&self) -> TriggerFilter {
        TriggerFilter {
            attributes: BTreeMap::new(),
            filters: self.trigger_filters.clone(),
        }
    }

    /// Its SinkBinding, when it emits (`pact-<name>-sink`).
    pub fn sink_binding(&self) -> Option<String> {
        self.emits_to
            .as_ref()
            .map(|_| format!("{}-sink", self.service()))
    }

    /// The environment `pact dev` adds on this machine: [`Stage::dev_env`],
    /// unless a variable of `dev_env_unless_set` is in `present`'s view.
    pub fn dev_env(&self, present: impl Fn(&str) -> bool) -> Vec<(String, String)> {
        if self.dev_env_unless_set.iter().any(|name| present(name)) {
            return Vec::new();
        }
        self.dev_env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Topology {
    /// Parses and checks a table.
    pub fn parse(text: &str) -> Result<Self, String> {
        let topology: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        let problems = topology.problems();
        if problems.is_empty() {
            Ok(topology)
        } else {
            Err(problems.join("; "))
        }
    }

    /// What is wrong with a table that parsed.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut names = Vec::new();
        let mut ports = vec![self.eventing_port_offset];
        for stage in &self.functions {
            if stage.name.is_empty()
                || !stage
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            {
                out.push(format!(
                    "function name {:?}: lowercase letters and digits only",
                    stage.name
                ));
            }
            if names.contains(&&stage.name) {
                out.push(format!("function {} is listed twice", stage.name));
            }
            names.push(&stage.name);
            if ports.contains(&stage.port_offset) {
                out.push(format!(
                    "{}: port_offset {} is taken",
                    stage.name, stage.port_offset
                ));
            }
            ports.push(stage.port_offset);
            if let Some(topic) = &stage.reads
                && !self
                    .functions
                    .iter()
                    .any(|f| f.emits_to.as_ref() == Some(topic))
            {
                out.push(format!(
                    "{}: reads {topic}, which no function emits to",
                    stage.name
                ));
            }
            if stage.reads.is_some() && stage.reads == stage.emits_to {
                out.push(format!("{}: reads the topic it emits to", stage.name));
            }
            // Without filters a Trigger would take every event, its own
            // replies too: a loop.
            if stage.reads.is_some() && stage.trigger_filters.is_empty() {
                out.push(format!("{}: a Trigger needs trigger_filters", stage.name));
            }
            if stage.reads.is_none() && !stage.trigger_filters.is_empty() {
                out.push(format!(
                    "{}: trigger_filters without a topic it reads (no Trigger)",
                    stage.name
                ));
            }
            for problem in stage.trigger_filter().problems() {
                out.push(format!("{}: {problem}", stage.name));
            }
        }
        if ports.iter().any(|&p| p > 100) {
            out.push("port offsets above 100: keep `pact dev`'s ports together".to_owned());
        }
        if !self.topics().contains(&self.broker.raw_topic.as_str()) {
            out.push(format!(
                "broker.raw_topic {} is not a topic between functions",
                self.broker.raw_topic
            ));
        }
        if self.topics().contains(&self.dead_letter_topic.as_str()) {
            out.push(format!(
                "{} is both a topic between functions and the dead-letter topic",
                self.dead_letter_topic
            ));
        }
        out
    }

    /// The function named `name`.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The topics between functions, in the order of the flow.
    pub fn topics(&self) -> Vec<&str> {
        let mut topics = Vec::new();
        for stage in &self.functions {
            for topic in [&stage.reads, &stage.emits_to].into_iter().flatten() {
                if !topics.contains(&topic.as_str()) {
                    topics.push(topic.as_str());
                }
            }
        }
        topics
    }

    /// Every topic, the dead-letter topic last.
    pub fn all_topics(&self) -> Vec<&str> {
        let mut topics = self.topics();
        topics.push(&self.dead_letter_topic);
        topics
    }

    /// The order `pact dev` starts them in: downstream first, so that what
    /// a function emits to is listening when it starts, and the database's
    /// writer (which migrates the schema) before its readers.
    pub fn start_order(&self) -> Vec<&Stage> {
        let rank = |stage: &Stage| match stage.database {
            Some(DatabaseUse::Writes) => 0,
            Some(DatabaseUse::Reads) => 1,
            None => 2,
        };
        let mut order: Vec<&Stage> = self.functions.iter().rev().collect();
        order.sort_by_key(|stage| rank(stage));
        order
    }

    /// The pipeline's outputs: topics a function emits to and none reads
    /// (what systems outside it consume). They keep their own topic, and
    /// KafkaSink, in both topologies.
    pub fn outputs(&self) -> Vec<&str> {
        self.topics()
            .into_iter()
            .filter(|topic| {
                !self
                    .functions
                    .iter()
                    .any(|f| f.reads.as_deref() == Some(*topic))
            })
            .collect()
    }

    /// The topics of the log under `wiring`, the dead-letter topic last.
    pub fn log_topics(&self, wiring: Wiring) -> Vec<String> {
        match wiring {
            Wiring::Explicit => self.all_topics().into_iter().map(str::to_owned).collect(),
            Wiring::Broker => [self.broker.raw_topic.clone(), self.broker.topic()]
                .into_iter()
                .chain(self.outputs().into_iter().map(str::to_owned))
                .chain([self.dead_letter_topic.clone()])
                .collect(),
        }
    }

    /// The topic a stage's `K_SINK` points at under `wiring`. With a
    /// Broker, a stage a Trigger feeds has none: it replies, and the Trigger
    /// appends its reply to the Broker; but a stage that emits to an output
    /// keeps that topic (a case makes many notifications, a reply holds one).
    pub fn sink_topic(&self, stage: &Stage, wiring: Wiring) -> Option<String> {
        let emits_to = stage.emits_to.as_deref()?;
        match wiring {
            Wiring::Explicit => Some(emits_to.to_owned()),
            Wiring::Broker if self.outputs().contains(&emits_to) => Some(emits_to.to_owned()),
            Wiring::Broker if stage.trigger().is_some() => None,
            Wiring::Broker => Some(self.broker.topic()),
        }
    }

    /// The entry points: functions that emit but are fed by no topic (what
    /// clients send to). `pact dev` stops them first, so that what they
    /// acknowledged is in a topic before the deliveries stop.
    pub fn ingress(&self) -> impl Iterator<Item = &Stage> {
        self.functions
            .iter()
            .filter(|f| f.reads.is_none() && f.emits_to.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_holds_together() {
        let topology = Topology::parse(SOURCE).unwrap_or_else(|e| panic!("pipeline.toml: {e}"));
        assert!(!topology.functions.is_empty());
        assert_eq!(TOPOLOGY.functions.len(), topology.functions.len());
    }

    #[test]
    fn the_cli_runs_every_function_of_the_table() {
        let names: Vec<&str> = crate::Function::ALL.iter().map(|f| f.name()).collect();
        let table: Vec<&str> = TOPOLOGY.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names, table,
            "pact function's list (src/lib.rs Function) is not pipeline.toml's"
        );
    }

    #[test]
    fn the_workspace_builds_every_function_of_the_table() {
        let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .unwrap_or_else(|e| panic!("Cargo.toml: {e}"));
        let manifest: toml::Table =
            toml::from_str(&manifest).unwrap_or_else(|e| panic!("Cargo.toml: {e}"));
        let listed = |path: &[&str]| -> Vec<String> {
            let mut value = Some(&manifest["workspace"]);
            for key in path {
                value = value.and_then(|v| v.get(*key));
            }
            match value {
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                Some(toml::Value::Table(table)) => table.keys().cloned().collect(),
                _ => Vec::new(),
            }
        };
        let dependencies: Vec<String> = manifest["dependencies"]
            .as_table()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        for stage in &TOPOLOGY.functions {
            let path = format!("functions/{}", stage.name);
            assert!(
                listed(&["members"]).contains(&path),
                "{path} in workspace.members"
            );
            assert!(
                listed(&["default-members"]).contains(&path),
                "{path} in workspace.default-members"
            );
            assert!(
                listed(&["dependencies"]).contains(&stage.service()),
                "{} in workspace.dependencies",
                stage.service()
            );
            assert!(
                dependencies.contains(&stage.service()),
                "{} in the dependencies of pact (it runs as `pact function {}`)",
                stage.service(),
                stage.name
            );
        }
    }

    #[test]
    fn the_start_order_is_the_one_pact_dev_always_had() {
        let order: Vec<&str> = TOPOLOGY
            .start_order()
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            order,
            ["notify", "contactlog", "query", "translation", "producer"]
        );
        let ingress: Vec<&str> = TOPOLOGY.ingress().map(|f| f.name.as_str()).collect();
        assert_eq!(ingress, ["producer", "query"]);
        assert_eq!(
            TOPOLOGY.all_topics(),
            [
                "pact-untranslated",
                "pact-translated",
                "pact-cases",
                "pact-notifications",
                "pact-deadletter"
            ]
        );
        assert_eq!(TOPOLOGY.outputs(), ["pact-notifications"]);
    }

    #[test]
    fn a_broken_table_is_refused() {
        let broken = [
            (
                SOURCE.replace("port_offset = 1", "port_offset = 0"),
                "is taken",
            ),
            (
                SOURCE.replace("reads = \"pact-translated\"", "reads = \"pact-translatd\""),
                "no function emits to",
            ),
            (
                SOURCE.replace("public = true", "publik = true"),
                "unknown field",
            ),
            (
                SOURCE.replace("name = \"query\"", "name = \"producer\""),
                "listed twice",
            ),
            (
                SOURCE.replace(
                    "{ exact = { type = \"dev.pact.contact.translated\" } }",
                    "{ exact = { type = \"\" } }",
                ),
                "must not be empty",
            ),
            (
                SOURCE.replace(
                    "[[functions.trigger_filters]]\nany",
                    "[[functions.trigger_filtres]]\nany",
                ),
                "unknown field",
            ),
            (
                SOURCE.replace("raw_topic = \"pact-untranslated\"", "raw_topic = \"raw\""),
                "is not a topic between functions",
            ),
        ];
        for (text, expected) in broken {
            assert_ne!(text, SOURCE);
            let error = Topology::parse(&text).err().unwrap_or_default();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }

    #[test]
    fn the_broker_wiring_replaces_the_topics_between_functions() {
        assert_eq!(
            TOPOLOGY.log_topics(Wiring::Broker),
            [
                "pact-untranslated",
                "knative-broker-pact-pact",
                "pact-notifications",
                "pact-deadletter"
            ]
        );
        let sinks: Vec<Option<String>> = TOPOLOGY
            .functions
            .iter()
            .map(|stage| TOPOLOGY.sink_topic(stage, Wiring::Broker))
            .collect();
        assert_eq!(
            sinks,
            [
                Some("knative-broker-pact-pact".to_owned()),
                None,
                None,
                Some("knative-broker-pact-pact".to_owned()),
                Some("pact-notifications".to_owned()),
            ],
            "the producer and pact-query send to the Broker; translation replies; \
             notify keeps its output"
        );
        let triggers: Vec<String> = TOPOLOGY
            .functions
            .iter()
            .filter_map(Stage::trigger)
            .collect();
        assert_eq!(
            triggers,
            ["pact-translation", "pact-contactlog", "pact-notify"]
        );
        assert_eq!(
            TOPOLOGY.broker.trigger_group("pact-contactlog"),
            "knative-trigger-pact-pact-contactlog"
        );
    }

    #[test]
    fn each_trigger_takes_what_its_stage_reads_and_not_its_own_replies() {
        use pact_runtime::cloudevents::{EventBuilder, EventBuilderV10};
        let event = |ty: &str, source: &str| {
            EventBuilderV10::new()
                .id("1")
                .source(source)
                .ty(ty)
                .build()
                .expect("valid")
        };
        let filter = |name: &str| {
            TOPOLOGY
                .stage(name)
                .map(Stage::trigger_filter)
                .unwrap_or_default()
        };
        let (translation, contactlog) = (filter("translation"), filter("contactlog"));
        let untranslated = event(pact_runtime::wire::UNTRANSLATED, "/phone");
        let raw = event(pact_runtime::wire::KAFKA_EVENT, "/kafkasources/x");
        let translated = event(pact_runtime::wire::TRANSLATED, "/translation");
        let ping = event(
            pact_runtime::wire::PING,
            "/apis/v1/namespaces/pact/pingsources/pact-retention",
        );
        let other_ping = event(
            pact_runtime::wire::PING,
            "/apis/v1/namespaces/pact/pingsources/x",
        );
        assert!(translation.accepts(&untranslated) && translation.accepts(&raw));
        assert!(!translation.accepts(&translated) && !translation.accepts(&ping));
        assert!(contactlog.accepts(&translated) && contactlog.accepts(&ping));
        assert!(!contactlog.accepts(&untranslated) && !contactlog.accepts(&other_ping));
        let notify = filter("notify");
        let reported = event(pact_runtime::case::CASE_REPORTED, "/pact/query");
        let withdrawn = event(pact_runtime::case::CASE_WITHDRAWN, "/pact/query");
        let notified = event(pact_runtime::case::EXPOSURE_NOTIFIED, "/pact/notify");
        assert!(notify.accepts(&reported) && notify.accepts(&withdrawn));
        for other in [&untranslated, &raw, &translated, &ping, &notified] {
            assert!(!notify.accepts(other), "{other}");
        }
        for case in [&reported, &withdrawn] {
            assert!(!translation.accepts(case) && !contactlog.accepts(case));
        }
    }

    #[test]
    fn dev_env_yields_to_the_environment() {
        let query = TOPOLOGY.stage("query").map(|q| q.dev_env(|_| false));
        assert_eq!(
            query,
            Some(vec![("PACT_QUERY_AUTH".to_owned(), "none".to_owned())])
        );
        let tokens = TOPOLOGY
            .stage("query")
            .map(|q| q.dev_env(|name| name == "PACT_QUERY_TOKENS_FILE"));
        assert_eq!(tokens, Some(vec![]));
    }
}
