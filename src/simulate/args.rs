//! The arguments of `pact simulate` (the city, how contacts are sent, the
//! target), also taken by `pact demo` and `pact burst`, and their checks.

use std::time::Duration;

use anyhow::bail;

use super::geo::{BBox, City};
use super::world::WorldConfig;
use crate::traffic::Mode;

/// Arguments of `pact simulate`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  pact simulate --contacts 5000 http://127.0.0.1:8180/contacts     to pact-producer, in batches
  pact simulate --city paris --rate 300 --duration 1m http://127.0.0.1:8181/   as CloudEvents
  K_SINK=http://broker pact simulate --duration 0                  as a Knative ContainerSource

Exit code: 0 when every contact sent was accepted, 1 otherwise, 2 for a usage error.")]
pub struct Args {
    /// The simulated city.
    #[command(flatten)]
    pub world: WorldArgs,
    /// How long, how fast, and how contacts are sent.
    #[command(flatten)]
    pub send: SendArgs,
    /// Where to send: pact-producer's `…/contacts` (batches of contacts), or
    /// any CloudEvents sink. Default: $K_SINK (Knative SinkBinding or
    /// ContainerSource), in cloudevents mode, with $K_CE_OVERRIDES applied.
    pub url: Option<String>,
    /// `contacts` (JSON batches for pact-producer's `POST /contacts`; one
    /// `message` per POST to `/pact/producer`), `cloudevents` (one
    /// binary-mode event per POST) or `csv` (the same event with the CSV
    /// line) [default: contacts when the URL's path ends in /contacts or
    /// /pact/producer, otherwise cloudevents]. `pact burst`'s spellings
    /// `producer` and `cloudevent` are taken too.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// The simulated city: where, how many phones, what counts as a contact.
#[derive(Debug, Clone, clap::Args)]
pub struct WorldArgs {
    /// A city to simulate [default: minneapolis].
    #[arg(long, value_enum, conflicts_with = "bbox")]
    pub city: Option<City>,
    /// Any other area: south,west,north,east in degrees (at most 5 a side).
    #[arg(long, value_name = "S,W,N,E", allow_hyphen_values = true)]
    pub bbox: Option<BBox>,
    /// How many phones move around.
    #[arg(long, default_value_t = 2000)]
    pub phones: usize,
    /// Two phones this close (metres) are in contact.
    #[arg(long, default_value_t = 2.0)]
    pub radius: f64,
    /// Simulated time before the same pair is reported again.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub cooldown: Duration,
    /// Seed of everything random, to repeat a run [default: a random one,
    /// printed in the summary].
    #[arg(long)]
    pub seed: Option<u64>,
}

impl Default for WorldArgs {
    fn default() -> Self {
        Self {
            city: None,
            bbox: None,
            phones: 2000,
            radius: 2.0,
            cooldown: Duration::from_secs(15 * 60),
            seed: None,
        }
    }
}

impl WorldArgs {
    /// The area and the name to show for it.
    pub fn area(&self) -> anyhow::Result<(BBox, String)> {
        match (self.city, self.bbox) {
            (Some(_), Some(_)) => bail!("give --city or --bbox, not both"),
            (None, Some(bbox)) => Ok((bbox, format!("bbox {bbox}"))),
            (city, None) => {
                let city = city.unwrap_or(City::Minneapolis);
                Ok((city.bbox(), city.name().to_owned()))
            }
        }
    }

    /// The model's configuration, with the seed drawn if none was given,
    /// and the area's name.
    pub(crate) fn config(&self) -> anyhow::Result<(WorldConfig, String)> {
        const MAX_PHONES: usize = 1_000_000;
        let (bbox, name) = self.area()?;
        if !(2..=MAX_PHONES).contains(&self.phones) {
            bail!("--phones must be from 2 to {MAX_PHONES}");
        }
        if !(self.radius.is_finite() && (0.1..=1000.0).contains(&self.radius)) {
            bail!("--radius must be from 0.1 to 1000 metres");
        }
        let config = WorldConfig {
            bbox,
            phones: self.phones,
            radius: self.radius,
            cooldown: self.cooldown,
            seed: self.seed.unwrap_or_else(rand::random),
        };
        Ok((config, name))
    }
}

/// How long, how fast, and how contacts are sent.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    /// Wall-clock time to run, e.g. 20s or 5m; 0 runs until Ctrl-C/SIGTERM
    /// (as a ContainerSource) [default: 20s, unless --contacts is given].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after exactly this many contacts.
    #[arg(long)]
    pub contacts: Option<u64>,
    /// At most this many contacts per second [default: as fast as the
    /// target accepts].
    #[arg(long)]
    pub rate: Option<f64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Contacts per `POST /contacts` request (contacts mode).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
}

impl Default for SendArgs {
    fn default() -> Self {
        Self {
            duration: None,
            contacts: None,
            rate: None,
            concurrency: 8,
            batch: 100,
        }
    }
}

/// Refuses arguments that make no sense, naming the option.
pub(crate) fn check(world: &WorldArgs, send: &SendArgs) -> anyhow::Result<()> {
    world.config()?;
    if send.contacts == Some(0) {
        bail!("--contacts must be at least 1");
    }
    if let Some(rate) = send.rate
        && !(rate.is_finite() && rate >= 0.001)
    {
        bail!("--rate must be a number of contacts per second, at least 0.001");
    }
    if !(1..=1024).contains(&send.concurrency) {
        bail!("--concurrency must be from 1 to 1024");
    }
    let most = pact_producer::MAX_CONTACTS_PER_REQUEST;
    if !(1..=most).contains(&send.batch) {
        bail!("--batch must be from 1 to {most} (what pact-producer takes in one request)");
    }
    Ok(())
}
