//! The `pact` command line as a whole: help, version, completions, usage errors.

use std::process::{Command, Output};

fn pact(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(args)
        .output()
        .expect("run pact")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_every_command_with_examples() {
    let output = pact(&["--help"]);
    assert!(output.status.success());
    let text = stdout(&output);
    for command in [
        "demo",
        "dev",
        "simulate",
        "invoke",
        "display",
        "completions",
    ] {
        assert!(
            text.contains(&format!("  {command} ")),
            "{command} missing:\n{text}"
        );
    }
    assert!(text.contains("Examples:"), "{text}");
    assert!(
        !text.contains("  function "),
        "the internal command stays hidden:\n{text}"
    );
}

#[test]
fn version_carries_the_data_attribution() {
    let output = pact(&["--version"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.starts_with("pact "), "{text}");
    assert!(text.contains("GeoNames"), "{text}");
}

#[test]
fn completions_name_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let output = pact(&["completions", shell]);
        assert!(output.status.success(), "{shell}");
        let script = stdout(&output);
        assert!(
            script.contains("simulate") && script.contains("invoke"),
            "{shell}"
        );
    }
}

#[test]
fn completions_survive_a_reader_that_stops_early() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pact"))
        .args(["completions", "zsh"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run pact");
    // Close the pipe before pact writes, as a reader that stopped does.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(pact(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(
        pact(&["dev", "--partitions", "many"]).status.code(),
        Some(2)
    );
}

/// Every numeric and time option of `pact dev` out of its range: a clap
/// usage error naming the option (exit 2), before anything starts, never a
/// panic. `--dir` points nowhere usable, so a value wrongly accepted would
/// fail differently.
#[test]
fn dev_options_out_of_range_are_usage_errors() {
    let cases: [(&str, &str); 17] = [
        ("--partitions", "0"),
        ("--partitions", "65"),
        ("--partitions", "-1"),
        ("--port", "65535"),
        ("--max-in-flight", "0"),
        ("--max-in-flight", "100000"),
        ("--retry", "101"),
        ("--backoff-delay", "0s"),
        ("--backoff-delay", "99999999999999999999s"),
        ("--delivery-timeout", "2h"),
        ("--max-record-bytes", "0"),
        ("--max-record-bytes", "18446744073709551615"),
        ("--ping-every", "0s"),
        ("--ping-every", "500y"),
        ("--retention", "1000000d"),
        ("--dead-letter-retention", "soon"),
        ("--retention-check-interval", "0s"),
    ];
    for (option, value) in cases {
        // `--option=value`: `-1` on its own would read as a flag.
        let output = pact(&[
            "dev",
            "--dir",
            "/dev/null/pact",
            &format!("{option}={value}"),
        ]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{option} {value}: {stderr}");
        assert!(
            stderr.contains("error: invalid value") && stderr.contains(option),
            "{option} {value}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{option} {value}: {stderr}");
    }
    let output = pact(&["dev", "--retention", "1000000d"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("must be from 0s to 3650d"), "{stderr}");
}
