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

mod event;
mod reply;
mod send;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use pact_runtime::wire;
use reqwest::Url;

pub use event::default_data;
use event::{build_event, encode};
use reply::Outcome;
use send::{describe_reply_headers, describe_request, send};

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

#[cfg(test)]
mod tests {
    use cloudevents::{AttributesReader, Data, Event};
    use pact_runtime::wire::{TranslatedData, UntranslatedData};
    use serde_json::Value;

    use super::event::*;
    use super::reply::*;
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
