//! `pact demo`, the README's main command, as a user runs it.

use std::process::Command;

fn demo(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pact"));
    command.arg("demo").args(args).env_remove("DATABASE_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("run pact demo")
}

#[test]
fn the_demo_stores_every_contact_once_and_says_so() {
    let output = demo(&["--contacts", "400", "--seed", "3", "--json"], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pact demo failed:\n{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON summary on stdout");
    assert_eq!(report["accepted"], 400, "{report}");
    assert_eq!(report["stored"], 400, "{report}");
    assert_eq!(report["missing"], 0, "{report}");
    assert_eq!(report["stored_twice"], 0, "{report}");
    assert_eq!(report["dead_letters"], 0, "{report}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    let places = report["by_place"].as_array().expect("places");
    assert_eq!(places[0]["place"], "US MN", "{report}");
    assert!(report["latency_ms"]["p99"].as_f64().expect("p99") > 0.0);
    let direct = report["exposure_sample"]["direct"]
        .as_u64()
        .expect("exposures");
    assert!(direct > 0, "{report}");
    // The last step: that person reported as a case, and everyone they met
    // notified once.
    let notify = &report["notify"];
    assert_eq!(
        notify["mmid"], report["exposure_sample"]["mmid"],
        "{report}"
    );
    assert_eq!(notify["exposed"], direct, "{report}");
    assert_eq!(notify["people"], direct, "{report}");
    assert_eq!(notify["notifications"], direct, "{report}");
    assert_eq!(notify["each_once"], true, "{report}");
    assert!(notify["within_ms"].as_i64() >= Some(0), "{report}");
}

#[test]
fn the_demo_fails_clearly_when_a_part_does_not_start() {
    let output = demo(&["--contacts", "10"], &[("PACT_COMMIT_MAX_ROWS", "zero")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pact-contactlog did not start") && stderr.contains("PACT_COMMIT_MAX_ROWS"),
        "{stderr}"
    );
}
