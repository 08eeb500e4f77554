//! A Trigger's filter, with Knative's semantics: the `filter.attributes`
//! exact match, and the `filters` dialects (`exact`, `prefix`, `suffix`,
//! `all`, `any`, `not`) of the Subscriptions API.
//!
//! Taken from knative/eventing at knative-v1.23.0: the webhook's checks
//! (`pkg/apis/eventing/v1/trigger_validation.go`) and the evaluation
//! (`pkg/eventfilter/attributes`, `pkg/eventfilter/subscriptionsapi`):
//! - an attribute is read as Knative's `LookupAttribute` reads it: the
//!   context attributes always exist (an unset `subject` is `""`), `time` as
//!   Go writes it (RFC 3339, UTC, no trailing zeros), an extension only when
//!   the event has it;
//! - `exact`/`prefix`/`suffix` fail on a missing attribute; each holds one or
//!   more attributes, all of which must match;
//! - an empty expression passes; so do an empty `all` and an empty `any`;
//! - when `filters` is not empty, `filter.attributes` is ignored.
//!
//! CESQL (`cesql`) is refused: the stand-in does not evaluate it.

use std::collections::BTreeMap;

use pact_runtime::cloudevents::{AttributesReader, Event};
use serde::{Deserialize, Serialize};

/// One expression of `spec.filters`: exactly one dialect is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Every attribute equals its value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exact: BTreeMap<String, String>,
    /// Every attribute starts with its value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefix: BTreeMap<String, String>,
    /// Every attribute ends with its value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub suffix: BTreeMap<String, String>,
    /// Every nested expression passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<Filter>,
    /// At least one nested expression passes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<Filter>,
    /// The nested expression fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Filter>>,
}

/// A Trigger's `spec.filter` and `spec.filters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerFilter {
    /// `spec.filter.attributes`: each attribute equals its value; the value
    /// `""` accepts any non-empty value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// `spec.filters`: every expression passes (as `all`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<Filter>,
}

/// Knative's three-way result: an expression with nothing to check neither
/// passes nor fails, and an event is delivered unless something failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    NoFilter,
}

impl TriggerFilter {
    /// What the webhook would refuse, one line each; empty when valid.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in self.attributes.keys() {
            if !valid_attribute_name(name) {
                out.push(format!(
                    "filter.attributes: invalid attribute name {name:?}"
                ));
            }
        }
        for (i, filter) in self.filters.iter().enumerate() {
            filter.problems(&format!("filters[{i}]"), &mut out);
        }
        out
    }

    /// Whether the Trigger delivers `event`.
    pub fn accepts(&self, event: &Event) -> bool {
        let outcome = if self.filters.is_empty() {
            attributes(&self.attributes, event)
        } else {
            all(&self.filters, event)
        };
        outcome != Outcome::Fail
    }
}

impl Filter {
    fn problems(&self, at: &str, out: &mut Vec<String>) {
        let dialects = [
            !self.exact.is_empty(),
            !self.prefix.is_empty(),
            !self.suffix.is_empty(),
            !self.all.is_empty(),
            !self.any.is_empty(),
            self.not.is_some(),
        ];
        if dialects.iter().filter(|&&set| set).count() > 1 {
            out.push(format!(
                "{at}: multiple dialects found, filters can have only one dialect set"
            ));
        }
        for (dialect, map) in [
            ("exact", &self.exact),
            ("prefix", &self.prefix),
            ("suffix", &self.suffix),
        ] {
            for (name, value) in map {
                if !valid_attribute_name(name) {
                    out.push(format!("{at}.{dialect}: invalid attribute name {name:?}"));
                }
                if value.is_empty() {
                    out.push(format!(
                        "{at}.{dialect}.{name}: the value must not be empty"
                    ));
                }
            }
        }
        for (i, nested) in self.all.iter().enumerate() {
            nested.problems(&format!("{at}.all[{i}]"), out);
        }
        for (i, nested) in self.any.iter().enumerate() {
            nested.problems(&format!("{at}.any[{i}]"), out);
        }
        if let Some(nested) = &self.not {
            nested.problems(&format!("{at}.not"), out);
        }
    }

    fn evaluate(&self, event: &Event) -> Outcome {
        if !self.exact.is_empty() {
            return compare(&self.exact, event, |value, wanted| value == wanted);
        }
        if !self.prefix.is_empty() {
            return compare(&self.prefix, event, |value, prefix| {
                value.starts_with(prefix)
            });
        }
        if !self.suffix.is_empty() {
            return compare(&self.suffix, event, |value, suffix| value.ends_with(suffix));
        }
        if !self.all.is_empty() {
            return all(&self.all, event);
        }
        if !self.any.is_empty() {
            return any(&self.any, event);
        }
        match self.not.as_deref().map(|nested| nested.evaluate(event)) {
            Some(Outcome::Pass) => Outcome::Fail,
            Some(Outcome::Fail) => Outcome::Pass,
            Some(Outcome::NoFilter) | None => Outcome::NoFilter,
        }
    }
}

/// Knative's rule for attribute names: a lowercase letter, then lowercase
/// letters and digits (`^[a-z][a-z0-9]*$`).
fn valid_attribute_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn all(filters: &[Filter], event: &Event) -> Outcome {
    let mut outcome = Outcome::NoFilter;
    for filter in filters {
        outcome = filter.evaluate(event);
        if outcome == Outcome::Fail {
            return Outcome::Fail;
        }
    }
    outcome
}

fn any(filters: &[Filter], event: &Event) -> Outcome {
    let mut outcome = Outcome::NoFilter;
    for filter in filters {
        outcome = filter.evaluate(event);
        if outcome == Outcome::Pass {
            return Outcome::Pass;
        }
    }
    outcome
}

fn compare(
    wanted: &BTreeMap<String, String>,
    event: &Event,
    matches: impl Fn(&str, &str) -> bool,
) -> Outcome {
    for (name, value) in wanted {
        match lookup(event, name) {
            Some(actual) if matches(&actual, value) => {}
            _ => return Outcome::Fail,
        }
    }
    Outcome::Pass
}

/// `filter.attributes`: a missing attribute fails; `""` accepts any value
/// but an empty one.
fn attributes(wanted: &BTreeMap<String, String>, event: &Event) -> Outcome {
    if wanted.is_empty() {
        return Outcome::NoFilter;
    }
    for (name, value) in wanted {
        let Some(actual) = lookup(event, name) else {
            return Outcome::Fail;
        };
        let matched = match value.as_str() {
            "" => !actual.is_empty(),
            value => actual == value,
        };
        if !matched {
            return Outcome::Fail;
        }
    }
    Outcome::Pass
}

/// An attribute's value as Knative's `LookupAttribute` gives it.
fn lookup(event: &Event, name: &str) -> Option<String> {
    let text = |value: Option<&str>| Some(value.unwrap_or_default().to_owned());
    match name {
        "specversion" => Some(event.specversion().to_string()),
        "type" => Some(event.ty().to_owned()),
        "source" => Some(event.source().to_string()),
        "subject" => text(event.subject()),
        "id" => Some(event.id().to_owned()),
        "time" => Some(event.time().map_or_else(
            || "0001-01-01T00:00:00Z".to_owned(),
            |t| go_rfc3339_nano(*t),
        )),
        "dataschema" | "schemaurl" => Some(
            event
                .dataschema()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        "datacontenttype" => text(event.datacontenttype()),
        "datamediatype" => Some(
            event
                .datacontenttype()
                .map(|ct| ct.split(';').next().unwrap_or_default().trim().to_owned())
                .unwrap_or_default(),
        ),
        _ => event.extension(name).map(ToString::to_string),
    }
}

/// A time as Go's `time.Time.MarshalText` writes it in UTC (RFC 3339 with
/// the fraction's trailing zeros dropped): what a `time` filter compares.
fn go_rfc3339_nano(time: chrono::DateTime<chrono::Utc>) -> String {
    let text = time.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}Z")
}

#[cfg(test)]
mod tests {
    use pact_runtime::cloudevents::{EventBuilder, EventBuilderV10};

    use super::*;

    fn event() -> Event {
        EventBuilderV10::new()
            .id("1")
            .source("/apis/v1/namespaces/pact/pingsources/pact-retention")
            .ty("dev.knative.sources.ping")
            .extension("partitionkey", "1-2")
            .build()
            .expect("valid")
    }

    fn parse(json: &str) -> TriggerFilter {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn accepts(json: &str) -> bool {
        parse(json).accepts(&event())
    }

    #[test]
    fn no_filter_accepts_everything() {
        assert!(accepts("{}"));
        assert!(accepts(r#"{"filters":[{}]}"#));
        assert!(accepts(r#"{"filters":[{"not":{}}]}"#), "not of nothing");
    }

    #[test]
    fn attributes_match_exactly_and_the_empty_value_accepts_any() {
        assert!(accepts(
            r#"{"attributes":{"type":"dev.knative.sources.ping"}}"#
        ));
        assert!(!accepts(r#"{"attributes":{"type":"dev.knative.sources"}}"#));
        assert!(accepts(r#"{"attributes":{"partitionkey":""}}"#));
        assert!(!accepts(r#"{"attributes":{"missing":""}}"#));
        assert!(
            !accepts(r#"{"attributes":{"subject":""}}"#),
            "unset = empty"
        );
        assert!(accepts(
            r#"{"attributes":{"type":"dev.knative.sources.ping","partitionkey":"1-2"}}"#
        ));
        assert!(!accepts(
            r#"{"attributes":{"type":"dev.knative.sources.ping","partitionkey":"2-1"}}"#
        ));
    }

    #[test]
    fn the_dialects() {
        assert!(accepts(
            r#"{"filters":[{"exact":{"type":"dev.knative.sources.ping"}}]}"#
        ));
        assert!(!accepts(r#"{"filters":[{"exact":{"Type":"x"}}]}"#));
        assert!(accepts(
            r#"{"filters":[{"prefix":{"type":"dev.knative."}}]}"#
        ));
        assert!(!accepts(r#"{"filters":[{"prefix":{"type":"dev.pact."}}]}"#));
        assert!(accepts(
            r#"{"filters":[{"suffix":{"source":"/pact-retention"}}]}"#
        ));
        assert!(!accepts(r#"{"filters":[{"suffix":{"missing":"x"}}]}"#));
        assert!(accepts(
            r#"{"filters":[{"any":[{"exact":{"type":"a"}},{"prefix":{"type":"dev."}}]}]}"#
        ));
        assert!(!accepts(
            r#"{"filters":[{"any":[{"exact":{"type":"a"}},{"exact":{"type":"b"}}]}]}"#
        ));
        assert!(!accepts(
            r#"{"filters":[{"all":[{"prefix":{"type":"dev."}},{"exact":{"type":"b"}}]}]}"#
        ));
        assert!(accepts(r#"{"filters":[{"not":{"exact":{"type":"b"}}}]}"#));
        assert!(!accepts(
            r#"{"filters":[{"not":{"exact":{"partitionkey":"1-2"}}}]}"#
        ));
        // The list is an `all`.
        assert!(!accepts(
            r#"{"filters":[{"prefix":{"type":"dev."}},{"exact":{"id":"2"}}]}"#
        ));
    }

    #[test]
    fn filters_take_precedence_over_attributes() {
        assert!(accepts(
            r#"{"attributes":{"type":"other"},"filters":[{"exact":{"id":"1"}}]}"#
        ));
    }

    #[test]
    fn time_reads_as_rfc_3339() {
        let event = EventBuilderV10::new()
            .id("1")
            .source("/s")
            .ty("t")
            .time(chrono::DateTime::from_timestamp_millis(1_764_000_000_120).expect("time"))
            .build()
            .expect("valid");
        let filter = parse(r#"{"filters":[{"exact":{"time":"2025-11-24T16:00:00.12Z"}}]}"#);
        assert!(filter.accepts(&event), "as Go writes it");
        let whole = chrono::DateTime::from_timestamp(1_764_000_000, 0).expect("time");
        assert_eq!(go_rfc3339_nano(whole), "2025-11-24T16:00:00Z");
    }

    #[test]
    fn what_the_webhook_refuses_is_refused() {
        let problems = |json: &str| parse(json).problems().join("; ");
        assert_eq!(
            problems(r#"{"filters":[{"any":[{"exact":{"type":"a"}}]}]}"#),
            ""
        );
        assert!(
            problems(r#"{"filters":[{"exact":{"type":"a"},"prefix":{"type":"b"}}]}"#)
                .contains("multiple dialects")
        );
        assert!(problems(r#"{"filters":[{"exact":{"type":""}}]}"#).contains("must not be empty"));
        assert!(
            problems(r#"{"filters":[{"all":[{"suffix":{"Type":"x"}}]}]}"#)
                .contains("filters[0].all[0].suffix: invalid attribute name")
        );
        assert!(problems(r#"{"attributes":{"a-b":"x"}}"#).contains("invalid attribute name"));
        assert!(problems(r#"{"attributes":{"1a":"x"}}"#).contains("invalid attribute name"));
        assert!(
            serde_json::from_str::<TriggerFilter>(r#"{"filters":[{"cesql":"type = 'a'"}]}"#)
                .is_err(),
            "CESQL is refused"
        );
    }
}
