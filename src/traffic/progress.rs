//! The progress bar on stderr while traffic is sent or services are
//! watched: one look for `pact simulate`, `pact burst` and `pact demo`.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How often the bar is redrawn.
pub const REDRAW: Duration = Duration::from_millis(200);

/// What the bar counts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// So many things (`unit`: "contacts", "requests").
    Count(u64, &'static str),
    /// Whole seconds of a run this long.
    Seconds(Duration),
    /// No end: a spinner, with `hint` after the message.
    Endless(&'static str),
}

/// A progress bar, or nothing when stderr is not a terminal.
#[derive(Debug, Clone)]
pub struct Bar(Option<ProgressBar>);

impl Bar {
    /// A bar counting to `length`, drawn only when `shown`.
    pub fn new(length: Length, shown: bool) -> Self {
        if !shown {
            return Self(None);
        }
        let (bar, template) = match length {
            Length::Count(total, unit) => (
                ProgressBar::new(total),
                format!(
                    "{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit}  {{msg}}"
                ),
            ),
            Length::Seconds(duration) => (
                ProgressBar::new(duration.as_secs().max(1)),
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} s  {msg}".to_owned(),
            ),
            Length::Endless(hint) => (
                ProgressBar::new_spinner(),
                format!("{{spinner}} [{{elapsed_precise}}] {{msg}}{hint}"),
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        Self(Some(bar))
    }

    /// Whether anything is drawn.
    pub fn is_shown(&self) -> bool {
        self.0.is_some()
    }

    /// Moves the bar to `position` (a spinner ignores it) with `message`.
    pub fn show(&self, position: u64, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_position(position);
            bar.set_message(message);
        }
    }

    /// Clears the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

/// `n` per second over `elapsed` (at least a millisecond).
pub fn per_second(n: u64, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64().max(1e-3)
}
