//! Token files: the emit token sent to `K_SINK`, re-read as the kubelet
//! renews it, and the one way a token file is read.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{EMIT_TOKEN_REREAD, MAX_TOKEN_BYTES};

/// A token file's content: trimmed, printable, bounded; `None` when the file
/// is missing, empty or odd.
pub(super) async fn read_token(path: &Path) -> Option<String> {
    // A small file on a tmpfs mount (a projected volume): blocking is brief.
    let text = std::fs::read_to_string(path).ok()?;
    let token = text.trim();
    (!token.is_empty()
        && token.len() <= MAX_TOKEN_BYTES
        && token.bytes().all(|b| b.is_ascii_graphic()))
    .then(|| token.to_owned())
}

/// The bearer token sent to `K_SINK`, read from [`PACT_EMIT_TOKEN_FILE`]
/// again every [`EMIT_TOKEN_REREAD`]: the SinkBinding's token Secret is
/// renewed before it expires and the kubelet updates the mounted file.
#[derive(Debug)]
pub struct EmitToken {
    path: PathBuf,
    cached: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

impl EmitToken {
    /// A token read from `path` on first use.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// The current token; `None` when the file is absent (the sink has no
    /// audience, so a SinkBinding mounts none, and none is needed).
    pub async fn current(&self) -> Option<String> {
        let mut cached = self.cached.lock().await;
        if let Some((read_at, token)) = cached.as_ref()
            && read_at.elapsed() < EMIT_TOKEN_REREAD
        {
            return token.clone();
        }
        let token = read_token(&self.path).await;
        if token.is_none() {
            tracing::debug!(path = %self.path.display(), "no emit token; sending to K_SINK without one");
        }
        *cached = Some((Instant::now(), token.clone()));
        token
    }
}
