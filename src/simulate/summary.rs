//! What a run of `pact simulate` did, as text or one line of JSON.

use std::time::Duration;

use serde::Serialize;

use super::geo::BBox;
use crate::traffic::Mode;

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The seed: the same seed, city and phones give the same contacts.
    pub seed: u64,
    /// The city's name, or `bbox s,w,n,e`.
    pub city: String,
    /// The area.
    pub bbox: BBox,
    /// Phones simulated.
    pub phones: u64,
    /// How contacts were sent.
    pub mode: Mode,
    /// Where (any password masked).
    pub url: String,
    /// Contacts the model reported and the simulator gave an id.
    pub generated: u64,
    /// Contacts in requests that were sent (at least attempted).
    pub sent: u64,
    /// Contacts the target accepted (2xx).
    pub accepted: u64,
    /// Their event ids, for checking they were stored once: those the
    /// producer's `POST /contacts` answered with, else the ids sent. Kept up
    /// to a million, and not on endless runs (`--duration 0` without
    /// `--contacts`).
    #[serde(skip)]
    pub accepted_ids: Vec<String>,
    /// Contacts the target refused (3xx, or 4xx other than 408/429).
    pub rejected: u64,
    /// Contacts not delivered: retries exhausted, 5xx, or stopped in flight.
    pub failed: u64,
    /// The first few distinct problems, e.g. the `detail` of a problem document.
    pub problems: Vec<String>,
    /// Wall-clock seconds from the start to the last answer.
    pub elapsed_s: f64,
    /// Simulated seconds the contacts sent span.
    pub simulated_s: u64,
    /// Whether Ctrl-C/SIGTERM (or the caller's stop) ended the run.
    pub interrupted: bool,
}

impl Summary {
    /// Every contact sent was accepted.
    pub fn success(&self) -> bool {
        self.accepted == self.sent && self.rejected == 0 && self.failed == 0
    }

    /// Accepted contacts per second of the run.
    pub fn rate(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.accepted as f64 / self.elapsed_s
        } else {
            0.0
        }
    }

    /// The summary as one line of JSON, with the rate (`accepted_per_s`).
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct WithRate<'a> {
            #[serde(flatten)]
            summary: &'a Summary,
            accepted_per_s: f64,
        }
        serde_json::to_string(&WithRate {
            summary: self,
            accepted_per_s: self.rate(),
        })
        .unwrap_or_default()
    }

    pub(crate) fn print_text(&self) {
        println!(
            "pact simulate: {} phones in {}, seed {}, {} simulated",
            self.phones,
            self.city,
            self.seed,
            humantime::format_duration(Duration::from_secs(self.simulated_s))
        );
        println!("  to {} ({})", self.url, self.mode.name());
        println!(
            "  generated {}, sent {}, accepted {}, rejected {}, failed {}",
            self.generated, self.sent, self.accepted, self.rejected, self.failed
        );
        println!(
            "  {:.2} s elapsed, {:.1} accepted/s{}",
            self.elapsed_s,
            self.rate(),
            if self.interrupted {
                ", interrupted"
            } else {
                ""
            }
        );
        for problem in &self.problems {
            println!("  problem: {problem}");
        }
    }
}
