//! Scaling from zero: `pact burst --watch` against pact-producer, run as a
//! child process of this binary, and its `--json` report judged.

use std::time::Duration;

use serde_json::Value;

use super::{Args, CheckError, PRODUCER, base};

/// How much longer than `--burst-duration` + `--burst-settle` the child may
/// take (its start, the first lists, the chart) before it is stopped.
const BURST_SLACK: Duration = Duration::from_secs(60);

/// `pact burst --watch` against pact-producer, as a child process of this
/// binary; passes when pact-producer was seen ready and then back to zero.
pub(super) async fn check_burst(args: &Args, producer: &str) -> Result<String, CheckError> {
    let exe = std::env::current_exe().map_err(|e| {
        CheckError::Burst(format!("cannot find this program to run pact burst: {e}"))
    })?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("burst")
        .arg("--watch")
        .args(["--namespace", &args.namespace])
        .args([
            "--duration",
            &humantime::format_duration(args.burst_duration).to_string(),
        ])
        .args(["--concurrency", &args.burst_concurrency.to_string()])
        .args([
            "--settle",
            &humantime::format_duration(args.burst_settle).to_string(),
        ])
        .arg("--json")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = &args.kubeconfig {
        command.arg("--kubeconfig").arg(path);
    }
    if let Some(context) = &args.context {
        command.args(["--context", context]);
    }
    if let Some(chart) = &args.chart {
        command.arg("--chart").arg(chart);
    }
    command.arg(format!("{}/contacts", base(producer)));
    let limit = args.burst_duration + args.burst_settle + BURST_SLACK;
    eprintln!(
        "pact check-cluster: pact burst --watch: {} of load, then up to {} until every service is back to zero",
        humantime::format_duration(args.burst_duration),
        humantime::format_duration(args.burst_settle)
    );
    let child = command
        .spawn()
        .map_err(|e| CheckError::Burst(format!("cannot start pact burst: {e}")))?;
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .map_err(|_| {
            CheckError::Burst(format!("pact burst did not end within {limit:?}; stopped"))
        })?
        .map_err(|e| CheckError::Burst(format!("pact burst: {e}")))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said = stderr
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let Ok(result) = serde_json::from_slice::<Value>(&output.stdout) else {
        return Err(CheckError::Burst(format!(
            "pact burst failed ({}): {said}",
            output.status
        )));
    };
    judge_burst(&result, args)
}

/// `pact-producer 0 → 3 → 0 (…)` from `pact burst --json`'s report.
fn judge_burst(result: &Value, args: &Args) -> Result<String, CheckError> {
    let scaling = result["watch"]["scaling"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let shape = |s: &Value| {
        let to_zero = if s["to_zero_s"].is_number() {
            "0"
        } else {
            "not 0"
        };
        format!(
            "{} {} → {} → {to_zero}",
            s["service"].as_str().unwrap_or_default(),
            s["ready_at_start"],
            s["peak_ready"]
        )
    };
    let others: Vec<String> = scaling
        .iter()
        .filter(|s| s["service"] != PRODUCER)
        .map(shape)
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!("; also {}", others.join(", "))
    };
    let chart = result["watch"]["chart"]
        .as_str()
        .map(|c| format!("; chart {c}"))
        .unwrap_or_default();
    let load = format!(
        "{} requests, {} answered 2xx",
        result["requests"], result["ok"]
    );
    let Some(producer) = scaling.iter().find(|s| s["service"] == PRODUCER) else {
        return Err(CheckError::Burst(format!(
            "no pod of {PRODUCER} was seen during the burst ({load}){others}"
        )));
    };
    let shape = shape(producer);
    if producer["peak_ready"].as_u64().unwrap_or_default() == 0 {
        return Err(CheckError::Burst(format!(
            "{shape}: no pod of {PRODUCER} became ready under load ({load}){others}"
        )));
    }
    let Some(to_zero) = producer["to_zero_s"].as_f64() else {
        return Err(CheckError::Burst(format!(
            "{shape}: not back to zero within --burst-settle {} ({load}){others}",
            humantime::format_duration(args.burst_settle)
        )));
    };
    if result["ok"] != result["requests"] {
        let problems = result["problems"].to_string();
        return Err(CheckError::Burst(format!(
            "{shape}, but not every request was answered 2xx ({load}; {problems}){others}"
        )));
    }
    let up = producer["scale_up_delay_s"]
        .as_f64()
        .map(|d| format!("scale-up after {d:.1} s, "))
        .unwrap_or_default();
    Ok(format!(
        "{shape} ({up}back to zero {to_zero:.0} s after the load; {load}){others}{chart}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_burst_passes_only_when_the_producer_went_up_and_back_to_zero() {
        let args = <crate::Cli as clap::Parser>::try_parse_from(["pact", "check-cluster"])
            .map(|cli| match cli.command {
                crate::Command::CheckCluster(args) => args,
                _ => unreachable!("check-cluster parsed"),
            })
            .expect("the defaults parse");
        let report = |producer: Value, ok: u64| {
            json!({"requests": 10, "ok": ok, "problems": [], "watch": {"chart": "c.svg", "scaling": [
                producer,
                {"service": "pact-translation", "ready_at_start": 0, "peak_ready": 1, "to_zero_s": 5.0}
            ]}})
        };
        let went = json!({"service": PRODUCER, "ready_at_start": 0, "peak_ready": 3,
            "scale_up_delay_s": 1.5, "to_zero_s": 70.0});
        let line = judge_burst(&report(went.clone(), 10), &args).expect("a pass");
        assert!(
            line.starts_with("pact-producer 0 → 3 → 0 (scale-up after 1.5 s, back to zero 70 s")
                && line.contains("also pact-translation 0 → 1 → 0")
                && line.ends_with("chart c.svg"),
            "{line}"
        );
        let stayed = json!({"service": PRODUCER, "ready_at_start": 0, "peak_ready": 3});
        let never = json!({"service": PRODUCER, "ready_at_start": 0, "peak_ready": 0});
        let other = json!({"service": "pact-query", "ready_at_start": 0, "peak_ready": 1});
        for (result, wanted) in [
            (
                report(stayed, 10),
                "not back to zero within --burst-settle 3m",
            ),
            (report(never, 10), "no pod of pact-producer became ready"),
            (report(other, 10), "no pod of pact-producer was seen"),
            (report(went, 9), "not every request was answered 2xx"),
        ] {
            let error = judge_burst(&result, &args)
                .expect_err("a failure")
                .to_string();
            assert!(error.contains(wanted), "{wanted:?} missing from {error}");
        }
    }
}
