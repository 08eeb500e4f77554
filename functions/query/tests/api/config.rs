//! Configuration: no start without tokens unless open access is stated;
//! every bad variable reported at once; tokens never printed.

use std::collections::HashMap;
use std::process::Command;

use pact_query::{Auth, Config};

fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
    pairs.iter().copied().collect()
}

#[test]
fn refuses_to_start_without_tokens_unless_open_access_is_stated() {
    let err = Config::from_env(&env(&[])).expect_err("no tokens, no PACT_QUERY_AUTH");
    let text = err.to_string();
    for name in [
        "PACT_QUERY_TOKENS_FILE",
        "PACT_QUERY_TOKENS",
        "PACT_QUERY_AUTH=none",
    ] {
        assert!(text.contains(name), "{name} missing from: {text}");
    }
    assert!(Config::from_env(&env(&[("PACT_QUERY_AUTH", "bearer")])).is_err());
    let (config, warnings) = Config::from_env(&env(&[("PACT_QUERY_AUTH", "none")])).expect("open");
    assert!(matches!(config.auth, Auth::Open));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("without authentication")),
        "{warnings:?}"
    );
    let (config, warnings) =
        Config::from_env(&env(&[("PACT_QUERY_TOKENS", "a-long-random-token-123")]))
            .expect("bearer");
    assert!(matches!(config.auth, Auth::Bearer(_)));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn open_access_and_tokens_contradict_each_other() {
    let err = Config::from_env(&env(&[
        ("PACT_QUERY_AUTH", "none"),
        ("PACT_QUERY_TOKENS", "a-long-random-token-123"),
    ]))
    .expect_err("contradiction");
    assert!(err.to_string().contains("PACT_QUERY_AUTH"), "{err}");
    assert!(
        !err.to_string().contains("a-long-random-token-123"),
        "{err}"
    );
}

#[test]
fn every_bad_variable_is_reported_together() {
    let err = Config::from_env(&env(&[
        ("PORT", "eighty"),
        ("DATABASE_URL", "mysql://root:hunter2@db/pact"),
        ("PACT_DB_MAX_CONNECTIONS", "0"),
        ("PACT_QUERY_TOKENS_FILE", "/nonexistent/pact-query/tokens"),
        ("PACT_QUERY_AUTH", "maybe"),
    ]))
    .expect_err("invalid");
    let names: Vec<&str> = err.0.iter().map(|bad| bad.name).collect();
    for name in [
        "PORT",
        "DATABASE_URL",
        "PACT_DB_MAX_CONNECTIONS",
        "PACT_QUERY_TOKENS_FILE",
        "PACT_QUERY_AUTH",
    ] {
        assert!(names.contains(&name), "{name} not reported: {err}");
    }
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/pact-query/tokens"),
        "{err}"
    );
}

#[test]
fn short_tokens_start_with_a_warning() {
    let (_, warnings) = Config::from_env(&env(&[("PACT_QUERY_TOKENS", "short")])).expect("valid");
    assert!(
        warnings.iter().any(|w| w.contains("shorter than 16")),
        "{warnings:?}"
    );
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("short,") || w.contains("\"short\""))
    );
}

#[test]
fn the_binary_exits_2_naming_the_variables() {
    let output = Command::new(env!("CARGO_BIN_EXE_pact-query"))
        .env_clear()
        .env("PORT", "0")
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .expect("run pact-query");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for name in [
        "PACT_QUERY_TOKENS_FILE",
        "PACT_QUERY_TOKENS",
        "PACT_QUERY_AUTH",
    ] {
        assert!(stderr.contains(name), "{name} missing from: {stderr}");
    }

    // A malformed token is reported as ***, never echoed.
    let output = Command::new(env!("CARGO_BIN_EXE_pact-query"))
        .env_clear()
        .env(
            "PACT_QUERY_TOKENS",
            "good-token-0123456789,s3cret with spaces",
        )
        .output()
        .expect("run pact-query");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PACT_QUERY_TOKENS=\"***\""), "{stderr}");
    assert!(
        !stderr.contains("s3cret") && !stderr.contains("good-token"),
        "{stderr}"
    );
}
