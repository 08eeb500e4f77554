//! The output: one line per check (`PASS`, `FAIL` or `SKIP`), counted for
//! the summary and the exit code, and [`CheckError`], the text of a `FAIL`.

use std::collections::BTreeMap;
use std::time::Duration;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// The lines printed so far, counted.
#[derive(Debug, Default)]
pub(super) struct Report {
    counts: BTreeMap<&'static str, usize>,
}

impl Report {
    /// Prints one check's line at once (a long check shows what is done).
    pub(super) fn line(&mut self, outcome: Outcome, what: &str, detail: &str) {
        let word = match outcome {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "SKIP",
        };
        *self.counts.entry(word).or_default() += 1;
        println!("{word}  {what}: {detail}");
    }

    /// A check's line: `PASS` with its detail, or `FAIL` with the error.
    pub(super) fn result<E: std::fmt::Display>(&mut self, what: &str, result: Result<String, E>) {
        match result {
            Ok(detail) => self.line(Outcome::Pass, what, &detail),
            Err(e) => self.line(Outcome::Fail, what, &e.to_string()),
        }
    }

    pub(super) fn count(&self, word: &str) -> usize {
        self.counts.get(word).copied().unwrap_or_default()
    }
}

/// Why a check failed; the text is the rest of its `FAIL` line.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No way to talk to the Kubernetes API.
    #[error("{0}")]
    Kubernetes(String),
    /// A list of one kind failed.
    #[error("{0}")]
    List(String),
    /// No URL for a function.
    #[error(
        "no URL for {service}: its Knative Service has no status.url (missing or not Ready, see above); give {flag}"
    )]
    NoUrl {
        /// The Knative Service.
        service: &'static str,
        /// The flag that gives it.
        flag: &'static str,
    },
    /// The token file named could not be read.
    #[error("cannot read the query token {path}: {reason}")]
    Token {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A function refused what was sent, or could not be reached in time.
    #[error("{0}")]
    Http(String),
    /// Not every contact came back in time.
    #[error(
        "{arrived} of {sent} contacts {route} after {waited:.0?} (--arrival-timeout); missing the contacts of persons {missing}{last}"
    )]
    NotArrived {
        /// Seen in pact-query.
        arrived: usize,
        /// Accepted by pact-producer.
        sent: usize,
        /// `sent to <producer> were in pact-query (<query>)`.
        route: String,
        /// How long.
        waited: Duration,
        /// `7-8, 9-10`.
        missing: String,
        /// `; last answer: …` when pact-query did not answer 200.
        last: String,
    },
    /// The burst did not run, or did not show the scaling.
    #[error("{0}")]
    Burst(String),
}
