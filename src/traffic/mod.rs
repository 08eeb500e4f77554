//! Sending contacts to a target: what `pact simulate`, `pact burst` and
//! `pact demo` share.
//!
//! - [`Mode`] and [`Target`]: one vocabulary for where and how contacts go
//!   (`contacts`, `cloudevents`, `csv`; the old spellings of `pact burst`,
//!   `producer` and `cloudevent`, still parse), the mode following the URL's
//!   path unless given, `K_SINK` and `K_CE_OVERRIDES` for a source.
//! - [`body`]: the request bodies, written through `pact_runtime::wire`.
//! - [`progress`]: the progress bar on stderr.
//! - [`client`] and [`problem_text`]: the HTTP client and what a refusal said.
//!
//! Retries (which answers, how long to wait, `Retry-After`) are
//! `pact_runtime::retry`, shared with the functions' emitter and the eventing
//! stand-in; secrets in printed URLs are masked by `pact_runtime::redact`.

pub mod body;
pub mod progress;

use std::time::Duration;

use anyhow::{Context, bail};
use pact_runtime::config::{Env, EnvReader, K_CE_OVERRIDES, K_SINK, RuntimeConfig};
use reqwest::{StatusCode, Url};
use serde::Serialize;

/// The original demo's producer endpoint, `POST /pact/producer?message=…`.
pub const PRODUCER_PATH: &str = "/pact/producer";

/// What the requests carry (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// JSON contacts, each with its `id`, to pact-producer's `…/contacts`,
    /// or the original demo's `POST /pact/producer?message=…` (also spelled
    /// `producer`).
    #[value(alias = "producer")]
    Contacts,
    /// One `dev.pact.contact.untranslated` CloudEvent per POST, binary mode,
    /// JSON data, for any function, broker or sink (also spelled `cloudevent`).
    #[value(alias = "cloudevent")]
    Cloudevents,
    /// The same CloudEvent carrying the original demo's CSV line as `text/csv`.
    Csv,
}

impl Mode {
    /// The mode's name, as `--mode` takes it and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Cloudevents => "cloudevents",
            Self::Csv => "csv",
        }
    }
}

/// The request a target takes, from its mode and URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// JSON contacts with their ids (contacts mode).
    Json,
    /// `?message=mmid1,mmid2,lat,lon` (contacts mode, the URL's path ends in
    /// `/pact/producer`).
    Message,
    /// One binary-mode CloudEvent with JSON data.
    JsonEvent,
    /// One binary-mode CloudEvent with a CSV line as `text/csv` data.
    CsvEvent,
}

/// Where and how contacts are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The URL every request is POSTed to.
    pub url: Url,
    /// How.
    pub mode: Mode,
    /// Extensions set on every event (from `K_CE_OVERRIDES`), winning over
    /// the sender's own.
    pub overrides: Vec<(String, String)>,
}

impl Target {
    /// A URL given by the user; the mode follows its path unless given:
    /// pact-producer's paths (`…/contacts`, `…/pact/producer`) mean
    /// contacts, anything else cloudevents.
    pub fn new(url: &str, mode: Option<Mode>) -> anyhow::Result<Self> {
        let url = Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .with_context(|| format!("{url:?} is not an absolute http:// or https:// URL"))?;
        let path = url.path().trim_end_matches('/');
        let mode = mode.unwrap_or(
            if path.ends_with("/contacts") || path.ends_with(PRODUCER_PATH) {
                Mode::Contacts
            } else {
                Mode::Cloudevents
            },
        );
        Ok(Self {
            url,
            mode,
            overrides: Vec::new(),
        })
    }

    /// In contacts mode, a URL with no path gets `path` (`pact burst` sends
    /// to the original demo's [`PRODUCER_PATH`]).
    pub fn with_default_path(mut self, path: &str) -> Self {
        if self.mode == Mode::Contacts && self.url.path().trim_end_matches('/').is_empty() {
            self.url.set_path(path);
        }
        self
    }

    /// The URL given, or else `K_SINK` (cloudevents mode unless `mode` says
    /// otherwise) with `K_CE_OVERRIDES`, read from `env`.
    pub fn resolve<E: Env + ?Sized>(
        url: Option<&str>,
        mode: Option<Mode>,
        env: &E,
    ) -> anyhow::Result<Self> {
        if let Some(url) = url {
            return Self::new(url, mode);
        }
        let mut reader = EnvReader::new(env);
        let config = RuntimeConfig::read(&mut reader);
        // Only the two variables a source reads matter here.
        if let Err(e) = reader.finish() {
            let ours: Vec<String> =
                e.0.iter()
                    .filter(|bad| bad.name == K_SINK || bad.name == K_CE_OVERRIDES)
                    .map(|bad| format!("{}={:?}: {}", bad.name, bad.value, bad.expected))
                    .collect();
            if !ours.is_empty() {
                bail!("invalid environment: {}", ours.join("; "));
            }
        }
        let Some(url) = config.sink else {
            bail!(
                "no target: give a URL (pact-producer's …/contacts, or a CloudEvents sink), or set K_SINK"
            );
        };
        Ok(Self {
            url,
            mode: mode.unwrap_or(Mode::Cloudevents),
            overrides: config.ce_overrides,
        })
    }

    /// The request this target takes.
    pub fn form(&self) -> Form {
        match self.mode {
            Mode::Contacts
                if self
                    .url
                    .path()
                    .trim_end_matches('/')
                    .ends_with(PRODUCER_PATH) =>
            {
                Form::Message
            }
            Mode::Contacts => Form::Json,
            Mode::Cloudevents => Form::JsonEvent,
            Mode::Csv => Form::CsvEvent,
        }
    }

    /// The URL with any password masked, for reports.
    pub fn shown_url(&self) -> String {
        pact_runtime::redact::parsed_url(&self.url)
    }
}

/// The HTTP client of a command sending to a target (`pact-<command>/<version>`):
/// no redirects (a redirected POST is a wrong URL), a connect timeout, Nagle
/// off for small requests, up to `concurrency` connections kept.
pub fn client(command: &str, concurrency: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(format!("pact-{command}/{}", env!("CARGO_PKG_VERSION")))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(concurrency)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot create the HTTP client")
}

/// Distinct problems a report keeps.
pub const MAX_PROBLEMS: usize = 5;

/// Keeps `problem` in `problems` if it is new and there is room.
pub fn keep_problem(problems: &mut Vec<String>, problem: String) {
    if problems.len() < MAX_PROBLEMS && !problems.contains(&problem) {
        problems.push(problem);
    }
}

/// `HTTP 422 Unprocessable Entity: <detail>` from a problem document (its
/// `detail`, else its `title`), or the start of whatever body came.
pub fn problem_text(status: StatusCode, body: &[u8]) -> String {
    const MAX_CHARS: usize = 300;
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["detail", "title"]
                .iter()
                .find_map(|k| v.get(k).and_then(|d| d.as_str()).map(str::to_owned))
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    let detail: String = detail.chars().take(MAX_CHARS).collect();
    if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use clap::ValueEnum;

    use super::*;

    #[test]
    fn the_mode_follows_the_url_unless_given() {
        let mode = |url: &str, given| Target::new(url, given).expect("valid").mode;
        assert_eq!(mode("http://h/contacts", None), Mode::Contacts);
        assert_eq!(mode("http://h:8080/api/contacts/", None), Mode::Contacts);
        assert_eq!(mode("http://h/pact/producer", None), Mode::Contacts);
        assert_eq!(mode("http://h/", None), Mode::Cloudevents);
        assert_eq!(mode("http://h/contacts-v2", None), Mode::Cloudevents);
        assert_eq!(mode("http://h/", Some(Mode::Contacts)), Mode::Contacts);
        for bad in ["ftp://h/", "/contacts", "127.0.0.1:8180", "http://", ""] {
            assert!(Target::new(bad, None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_form_follows_the_mode_and_the_path() {
        let form = |url: &str, mode| {
            Target::new(url, mode)
                .expect("valid")
                .with_default_path(PRODUCER_PATH)
                .form()
        };
        assert_eq!(form("http://h/contacts/", None), Form::Json);
        assert_eq!(form("http://h/pact/producer", None), Form::Message);
        assert_eq!(form("http://h", Some(Mode::Contacts)), Form::Message);
        assert_eq!(form("http://h/", None), Form::JsonEvent);
        assert_eq!(form("http://h/contacts", Some(Mode::Csv)), Form::CsvEvent);
        let t = Target::new("http://127.0.0.1:8180", Some(Mode::Contacts)).expect("url");
        assert_eq!(
            t.clone().with_default_path(PRODUCER_PATH).url.path(),
            PRODUCER_PATH
        );
        assert_eq!(t.url.path(), "/", "only where asked for");
    }

    #[test]
    fn the_old_spellings_still_parse() {
        for (spelling, mode) in [
            ("producer", Mode::Contacts),
            ("contacts", Mode::Contacts),
            ("cloudevent", Mode::Cloudevents),
            ("cloudevents", Mode::Cloudevents),
            ("csv", Mode::Csv),
        ] {
            assert_eq!(Mode::from_str(spelling, false), Ok(mode), "{spelling}");
        }
        for mode in Mode::value_variants() {
            assert_eq!(Mode::from_str(mode.name(), false), Ok(*mode));
            let json = serde_json::to_value(mode).expect("JSON");
            assert_eq!(json, mode.name());
        }
    }

    #[test]
    fn shown_urls_hide_the_password() {
        let t = Target::new("http://user:s3cret@h/contacts", None).expect("url");
        assert_eq!(t.shown_url(), "http://user:***@h/contacts");
    }

    #[test]
    fn without_a_url_k_sink_and_its_overrides_are_used() {
        let env: HashMap<&str, &str> = [
            ("K_SINK", "http://broker.example/ns/default"),
            ("K_CE_OVERRIDES", r#"{"extensions":{"team":"pact"}}"#),
            ("PORT", "not a port"), // not ours: ignored
        ]
        .into_iter()
        .collect();
        let target = Target::resolve(None, None, &env).expect("K_SINK");
        assert_eq!(target.url.as_str(), "http://broker.example/ns/default");
        assert_eq!(target.mode, Mode::Cloudevents);
        assert_eq!(target.overrides, vec![("team".into(), "pact".into())]);

        // A URL given wins, and overrides are for K_SINK only.
        let target = Target::resolve(Some("http://h/contacts"), None, &env).expect("URL");
        assert_eq!(target.mode, Mode::Contacts);
        assert!(target.overrides.is_empty());

        let none: HashMap<&str, &str> = HashMap::new();
        let e = Target::resolve(None, None, &none).expect_err("no target");
        assert!(e.to_string().contains("K_SINK"), "{e}");
        let bad: HashMap<&str, &str> = [("K_SINK", "ftp://x"), ("K_CE_OVERRIDES", "[1]")]
            .into_iter()
            .collect();
        let e = Target::resolve(None, None, &bad).expect_err("bad");
        assert!(
            e.to_string().contains("K_SINK") && e.to_string().contains("K_CE_OVERRIDES"),
            "{e}"
        );
    }

    #[test]
    fn problems_name_the_detail() {
        let body =
            br#"{"type":"about:blank","title":"x","status":422,"detail":"mmid1 must be positive"}"#;
        assert_eq!(
            problem_text(StatusCode::UNPROCESSABLE_ENTITY, body),
            "HTTP 422 Unprocessable Entity: mmid1 must be positive"
        );
        assert_eq!(
            problem_text(StatusCode::BAD_GATEWAY, b""),
            "HTTP 502 Bad Gateway"
        );
    }
}
