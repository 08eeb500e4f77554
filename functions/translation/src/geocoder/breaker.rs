//! A small circuit breaker: after `threshold` consecutive failures the
//! provider is not called for `open_for`; then one probe is let through,
//! and its result closes the circuit or opens it again.
//!
//! Every wait is capped at [`MAX_OPEN`] and added with `checked_add`: a
//! provider's `Retry-After` is hostile input, and one of 2^64 - 1 seconds
//! once overflowed `Instant + Duration` here and panicked every request.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is out; others wait until `until` (a probe whose request was
    /// dropped must not keep the circuit shut for ever).
    Probing {
        until: Instant,
    },
}

/// The longest the circuit stays open, whatever the settings or a provider
/// ask: then one probe goes out (the offline geocoder answers meanwhile).
pub const MAX_OPEN: Duration = Duration::from_secs(3_600);

/// `now + wait`, with `wait` capped; never a panic. A time beyond the clock
/// cannot happen after the cap; if it did, the answer is "now" (one probe).
fn after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait.min(MAX_OPEN)).unwrap_or(now)
}

/// Stops calling a failing provider for a while.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

/// What a call to [`Breaker::failure`] or [`Breaker::success`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing worth a log line.
    None,
    /// The circuit just opened.
    Opened,
    /// The circuit just closed after a successful probe.
    Closed,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Ok` when a request may go out, else how long until one may.
    pub fn admit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } | State::Probing { until } if now < until => {
                Err(until.saturating_duration_since(now))
            }
            State::Open { .. } | State::Probing { .. } => {
                *state = State::Probing {
                    until: after(now, self.open_for),
                };
                Ok(())
            }
        }
    }

    /// The provider answered (an address or "no result").
    pub fn success(&self) -> Transition {
        let mut state = self.state();
        let was = *state;
        *state = State::Closed { failures: 0 };
        match was {
            State::Closed { .. } => Transition::None,
            _ => Transition::Closed,
        }
    }

    /// The provider failed; `at_least` is how long it asked us to wait
    /// (`Retry-After` of a 429). The circuit opens for the longer of that and
    /// `open_for`, at most [`MAX_OPEN`].
    pub fn failure(&self, at_least: Option<Duration>) -> Transition {
        let now = Instant::now();
        let mut state = self.state();
        match *state {
            State::Closed { failures } if failures.saturating_add(1) < self.threshold => {
                *state = State::Closed {
                    failures: failures.saturating_add(1),
                };
                Transition::None
            }
            State::Open { .. } => Transition::None,
            _ => {
                *state = State::Open {
                    until: after(now, self.open_for(at_least)),
                };
                Transition::Opened
            }
        }
    }

    /// How long a failure with this `Retry-After` opens the circuit.
    pub fn open_for(&self, at_least: Option<Duration>) -> Duration {
        self.open_for
            .max(at_least.unwrap_or_default())
            .min(MAX_OPEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_once() {
        let b = Breaker::new(2, Duration::ZERO);
        assert!(b.admit().is_ok());
        assert_eq!(b.failure(None), Transition::None);
        assert_eq!(b.failure(None), Transition::Opened);
        // Open for zero time: the next caller is the probe...
        assert!(b.admit().is_ok());
        assert_eq!(b.success(), Transition::Closed);
        assert_eq!(b.success(), Transition::None);

        let b = Breaker::new(1, Duration::from_secs(60));
        assert_eq!(b.failure(None), Transition::Opened);
        let wait = b.admit().expect_err("open");
        assert!(wait > Duration::from_secs(59), "{wait:?}");
    }

    #[test]
    fn hostile_waits_are_capped_never_a_panic() {
        let b = Breaker::new(1, Duration::MAX);
        assert_eq!(b.failure(Some(Duration::MAX)), Transition::Opened);
        let wait = b.admit().expect_err("open");
        assert!(
            wait <= MAX_OPEN && wait > MAX_OPEN - Duration::from_secs(1),
            "{wait:?}"
        );
        assert_eq!(b.open_for(Some(Duration::MAX)), MAX_OPEN);

        let b = Breaker::new(1, Duration::ZERO);
        assert_eq!(
            b.failure(Some(Duration::from_secs(u64::MAX))),
            Transition::Opened
        );
        assert!(b.admit().expect_err("open") <= MAX_OPEN);
        let b = Breaker::new(u32::MAX, Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(b.failure(None), Transition::None);
        }
    }

    #[test]
    fn a_failed_probe_opens_again_and_retry_after_extends_it() {
        let b = Breaker::new(1, Duration::ZERO);
        assert_eq!(b.failure(None), Transition::Opened);
        assert!(b.admit().is_ok(), "probe");
        assert_eq!(b.failure(Some(Duration::from_secs(30))), Transition::Opened);
        assert!(b.admit().expect_err("open") > Duration::from_secs(29));
    }
}
