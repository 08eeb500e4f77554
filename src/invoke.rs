//! `pact invoke`: one CloudEvent to a URL, the reply printed (like `kn func
//! invoke`).
//!
//! With no options it sends a valid `dev.pact.contact.untranslated` contact in
//! binary mode to `http://127.0.0.1:8080` (a function's default port), so
//! `pact invoke http://127.0.0.1:PORT` tries a running pact-translation at
//! once. The reply is printed as a CloudEvent (context attributes, extensions,
//! data), as a problem document, as "accepted" when the function answered 2xx
//! with no body (it emitted to its `K_SINK`), or as plain text.
//!
//! Exit status: 0 when the reply is 2xx; 1 when it is not, or when the URL
//! could not be reached; 2 for a usage error (including an unreadable
//! `--data-file`).

use std::fmt::Write as _;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use cloudevents::binding::reqwest::RequestBuilderExt;
use cloudevents::{AttributesReader, Data, Event, EventBuilder, EventBuilderV10};
use pact_runtime::binary::{event_from_http, for_binary_mode};
use pact_runtime::emit::json_data_inline;
use pact_runtime::wire::{self, TranslatedData, UntranslatedData, is_json};
use reqwest::Url;
use serde_json::Value;

/// Where `pact invoke` sends when no URL is given: a function's default port.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";
/// The `source` of invoked events.
pub const DEFAULT_SOURCE: &str = "/pact/invoke";
/// Most characters of a reply body printed as text (all of it with `--json`).
pub const SHOWN_BODY_CHARS: usize = 4096;
/// Most bytes of a reply read at all.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// The length the CloudEvents spec recommends extension names not to exceed.
pub const RECOMMENDED_EXTENSION_NAME_CHARS: usize = 20;

/// Context attribute names that are not extensions (with their option).
const RESERVED: &[(&str, &str)] = &[
    ("specversion", "it is always 1.0"),
    ("id", "use --id"),
    ("source", "use --source"),
    ("type", "use --type"),
    ("datacontenttype", "use --content-type"),
    ("dataschema", "it is not an extension"),
    ("subject", "it is not an extension"),
    ("time", "it is not an extension"),
    ("data", "use --data"),
    ("data_base64", "use --data"),
];

/// How the event travels over HTTP (CloudEvents HTTP binding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Attributes in `ce-` headers (percent-encoded), data as the body.
    Binary,
    /// The whole event as an `application/cloudevents+json` body.
    Structured,
}

/// Arguments of `pact invoke`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pact invoke http://127.0.0.1:8181
      a valid contact to pact-translation (its port under `pact dev`): the translated
      event is printed, or \"accepted\" when the function has a K_SINK (as under pact dev)
  pact invoke http://127.0.0.1:8182 --type dev.pact.contact.translated --id c-1
      a translated contact to pact-contactlog; run it twice to see the duplicate counted
  pact invoke http://127.0.0.1:8181 --mode structured --data '{\"mmid1\":7,\"mmid2\":9,\"lat\":48.86,\"lon\":2.35}'
      structured mode, own data
  pact invoke http://127.0.0.1:8181 --data '1,2,44.98,-93.25' --content-type text/csv
      the original demo's CSV line
  pact invoke http://127.0.0.1:8080 -e team=blue --json | jq .status
      an extension attribute, the outcome as one JSON object

Exit status: 0 when the reply is 2xx, 1 when it is not or the URL cannot be
reached, 2 for a usage error.")]
pub struct Args {
    /// Where to send the event (a function's `POST /`); `http://` is added
    /// when no scheme is given.
    #[arg(default_value = DEFAULT_URL, value_parser = parse_url)]
    url: Url,

    /// Binary mode (`ce-` headers) or structured mode (`application/cloudevents+json`).
    #[arg(long, value_enum, default_value_t = Mode::Binary)]
    mode: Mode,

    /// The event `type`.
    #[arg(long = "type", default_value = wire::UNTRANSLATED, value_parser = non_empty("--type"))]
    event_type: String,

    /// The event `source` (a URI reference).
    #[arg(long, default_value = DEFAULT_SOURCE, value_parser = non_empty("--source"))]
    source: String,

    /// The event `id` [default: a new UUIDv7]. Send the same id twice to see
    /// a function's duplicate handling.
    #[arg(long, value_parser = parse_id)]
    id: Option<String>,

    /// The event data, as given (JSON or text) [default: a valid contact of
    /// the event's type, observed now].
    #[arg(long, conflicts_with = "data_file")]
    data: Option<String>,

    /// Read the event data from a file (`-` reads standard input).
    #[arg(long, value_name = "PATH")]
    data_file: Option<PathBuf>,

    /// The data's media type (`datacontenttype`) [default: application/json,
    /// or text/plain for given data that is not JSON].
    #[arg(long, value_name = "MEDIA_TYPE", value_parser = non_empty("--content-type"))]
    content_type: Option<String>,

    /// An extension attribute `name=value` (repeatable). Names are lowercase
    /// letters and digits. The default data comes with `partitionkey`
    /// (`1-2`); given data with integer `mmid1` and `mmid2` gets theirs.
    #[arg(short = 'e', long = "extension", value_name = "NAME=VALUE", value_parser = parse_extension)]
    extensions: Vec<(String, String)>,

    /// How long to wait for the reply.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,

    /// Print one JSON object on stdout: `{"status", "event", "problem", "body"}`.
    #[arg(long)]
    json: bool,

    /// Also print the request sent and the reply's headers (on stderr).
    #[arg(short, long)]
    verbose: bool,
}

/// Runs `pact invoke`.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let data = match read_data(&args) {
        Ok(data) => data,
        Err(message) => {
            eprintln!("pact invoke: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let event = match build_event(&args, data, Utc::now()) {
        Ok(event) => event,
        Err(message) => {
            eprintln!("pact invoke: {message}");
            return Ok(ExitCode::from(2));
        }
    };
    let client = reqwest::Client::builder()
        .timeout(args.timeout)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot create the HTTP client: {e}"))?;
    let request = encode(&client, &args.url, args.mode, event)?;
    if args.verbose {
        eprint!("{}", describe_request(&request));
    }
    let reply = match send(&client, request, args.timeout).await {
        Ok(reply) => reply,
        Err(message) => {
            let message = format!("cannot invoke {}: {message}", args.url);
            eprintln!("pact invoke: {message}");
            if args.json {
                let outcome = serde_json::json!({
                    "status": null, "event": null, "problem": null, "body": null,
                    "error": message,
                });
                println!("{outcome}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.verbose {
        eprint!("{}", describe_reply_headers(&reply));
    }
    let outcome = Outcome::read(reply);
    if args.json {
        println!("{}", outcome.to_json());
    } else {
        print!("{}", outcome.to_text());
    }
    Ok(if outcome.status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

// ---------------------------------------------------------------------------
// Arguments

fn parse_url(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| format!("not a URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some() => Ok(url),
        "http" | "https" => Err("the URL names no host".into()),
        scheme => Err(format!("the scheme must be http or https, not {scheme:?}")),
    }
}

fn non_empty(option: &'static str) -> impl Fn(&str) -> Result<String, String> + Clone {
    move |raw: &str| {
        if raw.trim().is_empty() {
            Err(format!("{option} must not be empty"))
        } else if raw.chars().any(char::is_control) {
            Err(format!("{option} must not contain control characters"))
        } else {
            Ok(raw.to_owned())
        }
    }
}

/// The id rule of the functions themselves, checked before sending.
fn parse_id(raw: &str) -> Result<String, String> {
    pact_runtime::identity::event_id("--id", raw).map_err(|e| e.to_string())
}

/// `name=value`, with a name the CloudEvents spec allows for an extension.
fn parse_extension(raw: &str) -> Result<(String, String), String> {
    let Some((name, value)) = raw.split_once('=') else {
        return Err(format!("{raw:?} is not NAME=VALUE"));
    };
    if name.is_empty() {
        return Err("the extension name is empty".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
    {
        return Err(format!(
            "extension name {name:?} holds {bad:?}: CloudEvents attribute names are lowercase letters a-z and digits 0-9 only"
        ));
    }
    if let Some((_, hint)) = RESERVED.iter().find(|(reserved, _)| *reserved == name) {
        return Err(format!(
            "{name:?} is a context attribute, not an extension: {hint}"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "the value of extension {name:?} must not contain control characters"
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// The data given, or `None` for the default contact.
fn read_data(args: &Args) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = &args.data {
        return Ok(Some(data.clone().into_bytes()));
    }
    let Some(path) = &args.data_file else {
        return Ok(None);
    };
    if path.as_os_str() == "-" {
        let mut stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("pact invoke: reading the event data from standard input (end with Ctrl-D)");
        }
        let mut data = Vec::new();
        stdin
            .read_to_end(&mut data)
            .map_err(|e| format!("cannot read the event data from standard input: {e}"))?;
        return Ok(Some(data));
    }
    std::fs::read(path)
        .map(Some)
        .map_err(|e| format!("cannot read --data-file {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// The event

/// The default data of an event of `event_type`, observed at `now`: a
/// translated contact for `dev.pact.contact.translated`, an untranslated one
/// for any other type.
pub fn default_data(event_type: &str, now: DateTime<Utc>) -> Vec<u8> {
    let observed_at = Some(now.to_rfc3339_opts(SecondsFormat::Secs, true));
    let encoded = if event_type == wire::TRANSLATED {
        serde_json::to_vec(&TranslatedData {
            mmid1: 1,
            mmid2: 2,
            lat: Some(44.9778),
            lon: Some(-93.265),
            observed_at,
            street: String::new(),
            city: "Minneapolis".into(),
            state: "MN".into(),
            zipcode: "55415".into(),
            country: "US".into(),
            geocoder: "offline".into(),
        })
    } else {
        serde_json::to_vec(&UntranslatedData {
            mmid1: 1,
            mmid2: 2,
            lat: 44.9778,
            lon: -93.265,
            observed_at,
        })
    };
    // Serializing plain numbers and strings cannot fail.
    encoded.unwrap_or_default()
}

fn build_event(args: &Args, data: Option<Vec<u8>>, now: DateTime<Utc>) -> Result<Event, String> {
    let given = data.is_some();
    let bytes = data.unwrap_or_else(|| default_data(&args.event_type, now));
    let parsed = serde_json::from_slice::<Value>(&bytes).ok();
    let content_type = match (&args.content_type, &parsed) {
        (Some(ct), _) => ct.clone(),
        (None, Some(_)) => "application/json".to_owned(),
        (None, None) => {
            eprintln!(
                "pact invoke: note: the data is not JSON; sending it as text/plain (choose with --content-type)"
            );
            "text/plain".to_owned()
        }
    };
    let json_value = parsed.as_ref().filter(|_| is_json(&content_type));
    // The contact's own time and pair, when the data has them.
    let time = json_value
        .and_then(|v| v.get("observed_at"))
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map_or(now, |t| t.with_timezone(&Utc));
    let partition_key = json_value.and_then(|v| {
        let first = v.get("mmid1")?.as_i64()?;
        let second = v.get("mmid2")?.as_i64()?;
        Some(format!("{}-{}", first.min(second), first.max(second)))
    });

    let data = match (args.mode, json_value) {
        // Binary mode sends the bytes exactly as given.
        (Mode::Binary, _) => Data::Binary(bytes),
        // Structured mode embeds JSON as JSON, text as a string, the rest
        // as `data_base64`.
        (Mode::Structured, Some(value)) => Data::Json(value.clone()),
        (Mode::Structured, None) => {
            if content_type
                .trim()
                .to_ascii_lowercase()
                .starts_with("text/")
            {
                match String::from_utf8(bytes) {
                    Ok(text) => Data::String(text),
                    Err(e) => Data::Binary(e.into_bytes()),
                }
            } else {
                Data::Binary(bytes)
            }
        }
    };
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let mut builder = EventBuilderV10::new()
        .id(id)
        .source(args.source.as_str())
        .ty(args.event_type.as_str())
        .time(time)
        .data(content_type, data);
    if let Some(key) = partition_key {
        builder = builder.extension("partitionkey", key);
    }
    for (name, value) in &args.extensions {
        builder = builder.extension(name, value.as_str());
    }
    let event = builder
        .build()
        .map_err(|e| format!("cannot build the event: {e}"))?;
    for (name, _) in &args.extensions {
        if name.len() > RECOMMENDED_EXTENSION_NAME_CHARS {
            eprintln!(
                "pact invoke: note: extension name {name:?} is longer than the {RECOMMENDED_EXTENSION_NAME_CHARS} characters the CloudEvents spec recommends"
            );
        }
    }
    if !given && args.event_type != wire::UNTRANSLATED && args.event_type != wire::TRANSLATED {
        eprintln!(
            "pact invoke: note: no --data given; sending an untranslated contact as the data of a {} event",
            args.event_type
        );
    }
    Ok(event)
}

fn encode(
    client: &reqwest::Client,
    url: &Url,
    mode: Mode,
    event: Event,
) -> anyhow::Result<reqwest::Request> {
    let builder = client.post(url.clone());
    let builder = match mode {
        Mode::Binary => builder
            .event(for_binary_mode(event))
            .map_err(|e| anyhow::anyhow!("cannot encode the event in binary mode: {e}"))?,
        Mode::Structured => builder
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents+json; charset=utf-8",
            )
            .body(
                serde_json::to_vec(&event)
                    .map_err(|e| anyhow::anyhow!("cannot encode the event: {e}"))?,
            ),
    };
    builder
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the request: {e}"))
}

// ---------------------------------------------------------------------------
// Sending

struct Reply {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
    truncated: bool,
}

async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
    timeout: Duration,
) -> Result<Reply, String> {
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| transport_problem(&e, timeout))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_problem(&e, timeout))?
    {
        let room = MAX_REPLY_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
        truncated,
    })
}

fn transport_problem(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!(
            "no reply within {} (raise --timeout)",
            humantime::format_duration(timeout)
        );
    }
    let chain = pact_runtime::error::chain(e);
    if e.is_connect() {
        let lower = chain.to_ascii_lowercase();
        if lower.contains("connection refused") {
            return "connection refused: nothing listens there (is the function running? `pact dev` starts them all)".into();
        }
        return format!("cannot connect ({chain})");
    }
    format!("the request failed ({chain})")
}

fn describe_request(request: &reqwest::Request) -> String {
    let mut text = format!("> {} {}\n", request.method(), request.url());
    for (name, value) in request.headers() {
        let _ = writeln!(
            text,
            "> {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    if let Some(body) = request.body().and_then(reqwest::Body::as_bytes) {
        let _ = writeln!(text, ">\n{}", shown(&String::from_utf8_lossy(body)));
    }
    text.push('\n');
    text
}

fn describe_reply_headers(reply: &Reply) -> String {
    let mut text = format!("< {}\n", status_line(reply.status));
    for (name, value) in &reply.headers {
        let _ = writeln!(
            text,
            "< {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------
// The reply

/// What the target answered, sorted into what `pact invoke` prints.
struct Outcome {
    status: http::StatusCode,
    kind: ReplyKind,
}

enum ReplyKind {
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
    fn read(reply: Reply) -> Self {
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
    fn to_json(&self) -> Value {
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
    fn to_text(&self) -> String {
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
fn as_event(headers: &http::HeaderMap, essence: &str, body: &[u8]) -> Option<Event> {
    let binary = headers.contains_key("ce-specversion");
    let structured = essence == "application/cloudevents+json";
    if !(binary || structured) {
        return None;
    }
    event_from_http(headers, body.to_vec()).ok()
}

fn status_line(status: http::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// At most [`SHOWN_BODY_CHARS`] characters, saying how much was left out.
fn shown(text: &str) -> String {
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
fn event_text(event: &Event) -> String {
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
fn problem_text(problem: &serde_json::Map<String, Value>) -> String {
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
fn item_text(item: &Value) -> String {
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

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Valid JSON text indented as `serde_json` would, but with its members in
/// the order the sender wrote them and its numbers as written; `None` when
/// the text is not JSON.
fn pretty_as_written(raw: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(argv: &[&str]) -> Args {
        Cli::try_parse_from(std::iter::once("pact-invoke").chain(argv.iter().copied()))
            .expect("valid arguments")
            .args
    }

    fn extension(event: &Event, name: &str) -> Option<String> {
        event.extension(name).map(ToString::to_string)
    }

    #[test]
    fn extension_names_follow_the_spec() {
        assert_eq!(
            parse_extension("foo=bar=baz").expect("valid"),
            ("foo".into(), "bar=baz".into())
        );
        assert!(parse_extension("k8s1=").is_ok());
        for bad in [
            "Foo=x",
            "foo-bar=x",
            "foo_bar=x",
            "=x",
            "foo",
            "id=x",
            "time=1",
        ] {
            assert!(parse_extension(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn urls_get_a_scheme_when_they_have_none() {
        assert_eq!(
            parse_url("127.0.0.1:8181").expect("valid").as_str(),
            "http://127.0.0.1:8181/"
        );
        assert_eq!(
            parse_url("localhost:8080/x").expect("valid").as_str(),
            "http://localhost:8080/x"
        );
        assert!(parse_url("ftp://host/").is_err());
        assert!(parse_url("").is_err());
    }

    #[test]
    fn the_default_event_is_a_valid_untranslated_contact() {
        let now = Utc::now();
        let event = build_event(&args(&["--id", "x"]), None, now).expect("valid");
        assert_eq!(event.ty(), wire::UNTRANSLATED);
        assert_eq!(event.id(), "x");
        assert_eq!(event.source().to_string(), DEFAULT_SOURCE);
        assert_eq!(event.datacontenttype(), Some("application/json"));
        assert_eq!(extension(&event, "partitionkey").as_deref(), Some("1-2"));
        let Some(Data::Binary(bytes)) = event.data() else {
            panic!("binary data");
        };
        let data: UntranslatedData = serde_json::from_slice(bytes).expect("untranslated data");
        data.into_contact(None, Utc::now())
            .expect("a valid contact");
    }

    #[test]
    fn the_default_translated_event_is_valid() {
        let event = build_event(
            &args(&["--type", wire::TRANSLATED, "--mode", "structured"]),
            None,
            Utc::now(),
        )
        .expect("valid");
        let Some(Data::Json(value)) = event.data() else {
            panic!("JSON data");
        };
        assert_eq!(value["city"], "Minneapolis");
        let data: TranslatedData = serde_json::from_value(value.clone()).expect("translated");
        data.into_contact(None, Utc::now())
            .expect("a valid contact");
    }

    #[test]
    fn given_data_sets_the_partition_key_and_time_and_extensions_win() {
        let event = build_event(
            &args(&["-e", "team=blue"]),
            Some(br#"{"mmid1":9,"mmid2":3,"observed_at":"2026-01-02T03:04:05Z"}"#.to_vec()),
            Utc::now(),
        )
        .expect("valid");
        assert_eq!(extension(&event, "partitionkey").as_deref(), Some("3-9"));
        assert_eq!(extension(&event, "team").as_deref(), Some("blue"));
        assert_eq!(
            event.time().map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-01-02T03:04:05+00:00")
        );
        let overridden = build_event(
            &args(&["-e", "partitionkey=p"]),
            Some(br#"{"mmid1":9,"mmid2":3}"#.to_vec()),
            Utc::now(),
        )
        .expect("valid");
        assert_eq!(extension(&overridden, "partitionkey").as_deref(), Some("p"));
    }

    #[test]
    fn text_data_goes_as_text() {
        let event = build_event(
            &args(&["--mode", "structured"]),
            Some(b"1,2,44.98,-93.25".to_vec()),
            Utc::now(),
        )
        .expect("valid");
        assert_eq!(event.datacontenttype(), Some("text/plain"));
        assert_eq!(event.data(), Some(&Data::String("1,2,44.98,-93.25".into())));
        assert_eq!(extension(&event, "partitionkey"), None);
    }

    #[test]
    fn problems_print_every_member() {
        let problem = serde_json::json!({
            "type": "/problems/batch", "title": "Unprocessable Entity", "status": 422,
            "detail": "1 of the events in this request are not acceptable",
            "errors": [{"index": 3, "detail": "mmid2: must differ", "field": "mmid2", "status": 422}],
        });
        let Value::Object(problem) = problem else {
            panic!("object");
        };
        let text = problem_text(&problem);
        assert!(text.contains("  title: Unprocessable Entity\n"), "{text}");
        assert!(text.contains("  status: 422\n"), "{text}");
        assert!(
            text.contains("    - index 3: mmid2: must differ (field mmid2, status 422)"),
            "{text}"
        );
    }

    #[test]
    fn json_is_indented_in_the_order_written() {
        let raw = r#" {"z":1, "a":[1,2.50,{}], "s":"x,{\\\":y", "e":[ ],"o":{"k":null}} "#;
        let text = pretty_as_written(raw).expect("JSON");
        let value: Value = serde_json::from_str(raw).expect("JSON");
        assert_eq!(
            serde_json::from_str::<Value>(&text).expect("still JSON"),
            value
        );
        assert_eq!(
            text,
            "{\n  \"z\": 1,\n  \"a\": [\n    1,\n    2.50,\n    {}\n  ],\n  \"s\": \"x,{\\\\\\\":y\",\n  \"e\": [],\n  \"o\": {\n    \"k\": null\n  }\n}"
        );
        assert_eq!(pretty_as_written("{\"a\":"), None);
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let body = "ü".repeat(SHOWN_BODY_CHARS + 10);
        let text = shown(&body);
        assert!(text.starts_with(&"ü".repeat(SHOWN_BODY_CHARS)));
        assert!(
            text.ends_with("(20 more bytes; --json prints all)"),
            "{text}"
        );
    }
}
