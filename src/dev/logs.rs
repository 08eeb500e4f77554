//! The functions' log lines, forwarded to the terminal, and the lines
//! `pact dev` prints itself.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;

use super::Events;
use crate::Function;

/// A JSON line on stdout. Write errors are ignored: a reader that went away
/// (`pact dev --json | head -1`) must not stop the pipeline.
pub(super) fn json_line(value: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// A line on stderr, write errors ignored, as for [`json_line`].
pub(super) fn text_line(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// Reads a function's JSON log lines: reports the port it listens on, keeps
/// the last lines (to explain a failed start), and prints the lines as
/// `name | LEVEL message key=value`.
pub(super) async fn forward_logs(
    function: Function,
    stderr: tokio::process::ChildStderr,
    events: Events,
    port: watch::Sender<Option<u16>>,
    tail: Arc<Mutex<Vec<String>>>,
) {
    let raw_json = std::env::var("PACT_LOG_FORMAT").is_ok_and(|f| f == "json");
    let color = std::io::stderr().is_terminal();
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let entry: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(&line).ok();
        if let Some(entry) = &entry
            && entry.get("message").and_then(|m| m.as_str()) == Some("listening")
            && let Some(bound) = entry
                .get("address")
                .and_then(|a| a.as_str())
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
        {
            port.send_replace(Some(bound));
        }
        let text = match (&entry, raw_json) {
            (Some(_), true) | (None, _) => line,
            (Some(entry), false) => render(entry),
        };
        {
            let mut tail = tail
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if tail.len() == 20 {
                tail.remove(0);
            }
            tail.push(text.clone());
        }
        if events != Events::Quiet {
            let name = function.name();
            if color {
                text_line(&format!("\x1b[36m{name:>11}\x1b[0m │ {text}"));
            } else {
                text_line(&format!("{name:>11} │ {text}"));
            }
        }
    }
}

/// One JSON log entry as a short human line.
fn render(entry: &serde_json::Map<String, serde_json::Value>) -> String {
    let level = entry.get("level").and_then(|l| l.as_str()).unwrap_or("");
    let message = entry.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let mut text = format!("{level:<5} {message}");
    for (key, value) in entry {
        if matches!(
            key.as_str(),
            "timestamp" | "level" | "message" | "target" | "span" | "spans" | "threadId"
        ) {
            continue;
        }
        match value {
            serde_json::Value::String(s) => text.push_str(&format!(" {key}={s}")),
            other => text.push_str(&format!(" {key}={other}")),
        }
    }
    text
}
