//! Each function as a child process, started again when it dies and stopped
//! with SIGTERM, as Kubernetes does with a container.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::logs::{forward_logs, json_line, text_line};
use super::{Cancelled, Events};
use crate::Function;

/// A function process, started again when it dies.
pub(super) struct Supervised {
    function: Function,
    port: u16,
    pid: Arc<Mutex<Option<u32>>>,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// How long a function may take to listen and to become ready.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a function may drain after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(35);

impl Supervised {
    pub(super) async fn start(
        function: Function,
        port: u16,
        env: Vec<(String, String)>,
        events: Events,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the pact executable")?;
        let pid = Arc::new(Mutex::new(None));
        let stop = CancellationToken::new();
        let (listening_tx, listening_rx) = oneshot::channel();
        let task = tokio::spawn(supervise(
            Spawn {
                exe,
                function,
                env,
                events,
            },
            port,
            pid.clone(),
            stop.clone(),
            listening_tx,
        ));
        let listened = tokio::select! {
            listened = tokio::time::timeout(START_LIMIT, listening_rx) => listened,
            () = cancel.cancelled() => {
                stop.cancel();
                let _ = task.await;
                return Err(Cancelled.into());
            }
        };
        let port = match listened {
            Ok(Ok(port)) => port,
            Ok(Err(_)) => {
                // The supervisor gave up: its error says why.
                return Err(match task.await {
                    Ok(Err(e)) => e,
                    _ => anyhow::anyhow!("it exited before listening"),
                });
            }
            Err(_) => {
                stop.cancel();
                bail!("it did not listen within {} s", START_LIMIT.as_secs());
            }
        };
        let supervised = Self {
            function,
            port,
            pid,
            stop,
            task,
        };
        tokio::select! {
            ready = supervised.wait_ready() => ready.map(|()| supervised),
            () = cancel.cancelled() => {
                let _ = supervised.stop().await;
                Err(Cancelled.into())
            }
        }
    }

    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(super) fn pid(&self) -> Option<u32> {
        *self
            .pid
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/readyz", self.url());
        let deadline = Instant::now() + START_LIMIT;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match client.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    last = format!(
                        "{}: {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    );
                }
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!(
            "pact-{} was not ready within {} s (last /readyz: {last})",
            self.function.name(),
            START_LIMIT.as_secs()
        )
    }

    /// SIGTERM, then wait for the drain (killed after [`STOP_LIMIT`]).
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await.context("supervisor")?
    }
}

struct Spawn {
    exe: PathBuf,
    function: Function,
    env: Vec<(String, String)>,
    events: Events,
}

impl Spawn {
    fn command(&self, port: u16) -> tokio::process::Command {
        let name = format!("pact-{}", self.function.name());
        let mut command = tokio::process::Command::new(&self.exe);
        command
            .args(["function", self.function.name(), "--exit-with-parent"])
            .env("PORT", port.to_string())
            .env("K_SERVICE", &name)
            .env("PACT_LOG_FORMAT", "json")
            // Loopback unless asked otherwise: pact-query serves contact
            // data without a token here.
            .env(
                "PACT_LISTEN_ADDRESS",
                std::env::var("PACT_LISTEN_ADDRESS").unwrap_or_else(|_| "127.0.0.1".into()),
            )
            .env_remove("K_SINK")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            // Its own process group: Ctrl-C in a terminal reaches pact dev
            // only, which stops the functions in order.
            .process_group(0)
            // Closed when pact dev dies, however it dies: the function
            // then stops too (no orphans).
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Says that the function exited and will be started again in `delay`.
    fn announce_exit(&self, status: std::process::ExitStatus, delay: Duration) {
        match self.events {
            Events::Json => json_line(&serde_json::json!({
                "event": "exited",
                "function": self.function.name(),
                "status": status.to_string(),
                "restarting_in_ms": delay.as_millis(),
            })),
            Events::Text => text_line(&format!(
                "pact dev: pact-{} exited ({status}); starting it again",
                self.function.name()
            )),
            Events::Quiet => {}
        }
    }
}

/// Runs a function, restarting it when it dies, until `stop`.
async fn supervise(
    spawn: Spawn,
    mut port: u16,
    pid: Arc<Mutex<Option<u32>>>,
    stop: CancellationToken,
    listening: oneshot::Sender<u16>,
) -> anyhow::Result<()> {
    let name = format!("pact-{}", spawn.function.name());
    let mut listening = Some(listening);
    let mut restarts: u32 = 0;
    loop {
        let mut child = spawn
            .command(port)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        *pid.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = child.id();
        let stderr = child.stderr.take().context("stderr is piped")?;
        // Held until this process ends: `wait` would close it otherwise.
        let _stdin = child.stdin.take();
        let (port_tx, mut port_rx) = watch::channel(None);
        let tail = Arc::new(Mutex::new(Vec::new()));
        let logs = tokio::spawn(forward_logs(
            spawn.function,
            stderr,
            spawn.events,
            port_tx,
            tail.clone(),
        ));
        let started = Instant::now();
        let mut watching = true;
        let exited = loop {
            tokio::select! {
                status = child.wait() => break Some(status?),
                changed = port_rx.changed(), if watching => {
                    watching = changed.is_ok();
                    if let Some(bound) = *port_rx.borrow_and_update() {
                        port = bound;
                        watching = false;
                        if let Some(tx) = listening.take() {
                            let _ = tx.send(bound);
                        }
                    }
                }
                () = stop.cancelled() => break None,
            }
        };
        let Some(status) = exited else {
            terminate(&mut child, &name).await;
            let _ = logs.await;
            *pid.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            return Ok(());
        };
        let _ = logs.await;
        let last_lines = tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .join("\n");
        if listening.is_some() {
            // It never listened: a configuration error or a port in use.
            bail!("{name} exited ({status}) before listening:\n{last_lines}");
        }
        restarts += 1;
        // Quick restarts, slower when it keeps dying right after starting.
        let delay = if started.elapsed() > Duration::from_secs(10) {
            Duration::from_millis(100)
        } else {
            Duration::from_millis(100 * u64::from(restarts.min(50)))
        };
        spawn.announce_exit(status, delay);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => return Ok(()),
        }
        if spawn.events == Events::Json {
            json_line(&serde_json::json!({
                "event": "restarting",
                "function": spawn.function.name(),
                "port": port,
            }));
        }
    }
}

async fn terminate(child: &mut tokio::process::Child, name: &str) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    if let Some(id) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = kill(Pid::from_raw(id), Signal::SIGTERM);
    }
    match tokio::time::timeout(STOP_LIMIT, child.wait()).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => tracing::warn!("{name} stopped with {status}"),
        Ok(Err(e)) => tracing::warn!("{name}: {e}"),
        Err(_) => {
            tracing::warn!(
                "{name} did not stop within {} s; killed",
                STOP_LIMIT.as_secs()
            );
            let _ = child.kill().await;
        }
    }
}
