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
