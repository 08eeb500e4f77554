//! The reply, sorted into an event, a problem, nothing or text, and printed
//! as `kn func invoke` does (or as one JSON object).

use std::fmt::Write as _;

use chrono::SecondsFormat;
use cloudevents::{AttributesReader, Data, Event};
use pact_runtime::binary::event_from_http;
use pact_runtime::emit::json_data_inline;
use pact_runtime::wire::is_json;
use serde_json::Value;

use super::send::Reply;
use super::{MAX_REPLY_BYTES, SHOWN_BODY_CHARS};

/// What the target answered, sorted into what `pact invoke` prints.
pub(super) struct Outcome {
    pub(super) status: http::StatusCode,
    pub(super) kind: ReplyKind,
}

pub(super) enum ReplyKind {
    /// A CloudEvent (binary or structured mode).
    Event(Box<Event>),
    /// An RFC 9457 problem document.
    Problem(serde_json::Map<String, Value>),
    /// No body at all.
    Empty,
    /// Anything else, as text.
    Other {
        content_type: Option<String>,
        text: String,
        truncated: bool,
    },
}

impl Outcome {
    pub(super) fn read(reply: Reply) -> Self {
        let content_type = reply
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let essence = content_type
            .as_deref()
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let kind = if essence == "application/problem+json"
            && let Ok(Value::Object(problem)) = serde_json::from_slice(&reply.body)
        {
            ReplyKind::Problem(problem)
        } else if let Some(event) = as_event(&reply.headers, &essence, &reply.body) {
            ReplyKind::Event(Box::new(event))
        } else if reply.body.is_empty() {
            ReplyKind::Empty
        } else {
            ReplyKind::Other {
                content_type,
                text: String::from_utf8_lossy(&reply.body).into_owned(),
                truncated: reply.truncated,
            }
        };
        Self {
            status: reply.status,
            kind,
        }
    }

    /// `{"status", "event", "problem", "body"}`.
    pub(super) fn to_json(&self) -> Value {
        let mut outcome = serde_json::json!({
            "status": self.status.as_u16(),
            "event": null,
            "problem": null,
            "body": null,
        });
        match &self.kind {
            ReplyKind::Event(event) => {
                outcome["event"] = serde_json::to_value(json_data_inline((**event).clone()))
                    .unwrap_or(Value::Null);
            }
            ReplyKind::Problem(problem) => outcome["problem"] = Value::Object(problem.clone()),
            ReplyKind::Empty => {}
            ReplyKind::Other { text, .. } => outcome["body"] = Value::String(text.clone()),
        }
        outcome
    }

    /// What a person reads: a status line, then the event, the problem, or
    /// the body.
    pub(super) fn to_text(&self) -> String {
        let mut text = format!("HTTP {}\n", status_line(self.status));
        match &self.kind {
            ReplyKind::Event(event) => text.push_str(&event_text(event)),
            ReplyKind::Problem(problem) => text.push_str(&problem_text(problem)),
            ReplyKind::Empty if self.status.is_success() => text.push_str(
                "Accepted, no reply event: the function took the event and sent its output to its \
                 K_SINK (sink mode), or stored it.\n",
            ),
            ReplyKind::Empty => text.push_str("(no body)\n"),
            ReplyKind::Other {
                content_type,
                text: body,
                truncated,
            } => {
                if let Some(ct) = content_type {
                    let _ = writeln!(text, "Content-Type: {ct}");
                }
                let pretty = pretty_as_written(body);
                text.push_str(&shown(pretty.as_deref().unwrap_or(body)));
                text.push('\n');
                if *truncated {
                    let _ = writeln!(text, "(the reply was cut at {MAX_REPLY_BYTES} bytes)");
                }
            }
        }
        text
    }
}

/// The reply as a CloudEvent, when it is one.
pub(super) fn as_event(headers: &http::HeaderMap, essence: &str, body: &[u8]) -> Option<Event> {
    let binary = headers.contains_key("ce-specversion");
    let structured = essence == "application/cloudevents+json";
    if !(binary || structured) {
        return None;
    }
    event_from_http(headers, body.to_vec()).ok()
}

pub(super) fn status_line(status: http::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// At most [`SHOWN_BODY_CHARS`] characters, saying how much was left out.
pub(super) fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_BODY_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!(
            "{}\n… ({} more bytes; --json prints all)",
            &text[..cut],
            text.len() - cut
        ),
    }
}

/// An event as `kn func invoke` prints it (the Go SDK's layout).
pub(super) fn event_text(event: &Event) -> String {
    let mut text = String::from("Context Attributes,\n");
    let mut attribute = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            let _ = writeln!(text, "  {name}: {value}");
        }
    };
    attribute("specversion", Some(event.specversion().to_string()));
    attribute("type", Some(event.ty().to_owned()));
    attribute("source", Some(event.source().to_string()));
    attribute("subject", event.subject().map(str::to_owned));
    attribute("id", Some(event.id().to_owned()));
    attribute(
        "time",
        event
            .time()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
    );
    attribute("dataschema", event.dataschema().map(ToString::to_string));
    attribute(
        "datacontenttype",
        event.datacontenttype().map(str::to_owned),
    );
    let mut extensions: Vec<(&str, String)> = event
        .iter_extensions()
        .map(|(name, value)| (name, value.to_string()))
        .collect();
    extensions.sort();
    if !extensions.is_empty() {
        text.push_str("Extensions,\n");
        for (name, value) in extensions {
            let _ = writeln!(text, "  {name}: {value}");
        }
    }
    let data = match event.data() {
        None => None,
        Some(Data::Json(value)) => Some(pretty(value)),
        Some(Data::String(s)) => Some(s.clone()),
        Some(Data::Binary(bytes)) => {
            let text = String::from_utf8_lossy(bytes);
            Some(
                Some(&text)
                    .filter(|_| event.datacontenttype().is_some_and(is_json))
                    .and_then(|text| pretty_as_written(text))
                    .unwrap_or_else(|| text.into_owned()),
            )
        }
    };
    if let Some(data) = data {
        text.push_str("Data,\n");
        for line in shown(&data).lines() {
            let _ = writeln!(text, "  {line}");
        }
    }
    text
}

/// A problem document: the standard members first, then the others (such as
/// `field`, or `errors` with the problem of each event of a batch).
pub(super) fn problem_text(problem: &serde_json::Map<String, Value>) -> String {
    let mut text = String::from("Problem,\n");
    let standard = ["title", "status", "detail", "type", "instance"];
    for name in standard {
        if let Some(value) = problem.get(name) {
            let _ = writeln!(text, "  {name}: {}", scalar(value));
        }
    }
    for (name, value) in problem {
        if standard.contains(&name.as_str()) {
            continue;
        }
        match value {
            Value::Array(items) => {
                let _ = writeln!(text, "  {name}:");
                for item in items {
                    let _ = writeln!(text, "    - {}", item_text(item));
                }
            }
            value => {
                let _ = writeln!(text, "  {name}: {}", scalar(value));
            }
        }
    }
    text
}

/// One item of a problem's list: `index 3: mmid2: must differ (field mmid2, status 422)`.
pub(super) fn item_text(item: &Value) -> String {
    let Value::Object(members) = item else {
        return scalar(item);
    };
    let mut text = String::new();
    if let Some(index) = members.get("index") {
        let _ = write!(text, "index {}: ", scalar(index));
    }
    let detail = members
        .get("detail")
        .or_else(|| members.get("title"))
        .map(scalar);
    text.push_str(detail.as_deref().unwrap_or("(no detail)"));
    let rest: Vec<String> = members
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "index" | "detail" | "title"))
        .map(|(name, value)| format!("{name} {}", scalar(value)))
        .collect();
    if !rest.is_empty() {
        let _ = write!(text, " ({})", rest.join(", "));
    }
    text
}

pub(super) fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(super) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Valid JSON text indented as `serde_json` would, but with its members in
/// the order the sender wrote them and its numbers as written; `None` when
/// the text is not JSON.
pub(super) fn pretty_as_written(raw: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(raw).ok()?;
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = raw.trim().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                // Skip the whitespace inside, to see whether it is empty.
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if matches!(chars.peek(), Some('}' | ']')) {
                    if let Some(close) = chars.next() {
                        out.push(close);
                    }
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}
