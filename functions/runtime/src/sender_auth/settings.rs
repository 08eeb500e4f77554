//! The sender authentication settings: `PACT_SENDER_AUTH` and the
//! `PACT_OIDC_*` variables, read and checked with the rest of the
//! configuration.

use std::path::PathBuf;

use reqwest::Url;

use super::{
    MAX_SUBJECTS, PACT_EMIT_TOKEN_FILE, PACT_OIDC_AUDIENCE, PACT_OIDC_CA_FILE, PACT_OIDC_ISSUER,
    PACT_OIDC_JWKS_URL, PACT_OIDC_SUBJECTS, PACT_OIDC_TOKEN_FILE, PACT_SENDER_AUTH,
};
use crate::config::{Env, EnvReader};

/// Who may `POST /`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SenderAuth {
    /// Anyone who can reach the function (the default: `pact dev`, tests).
    #[default]
    None,
    /// Only bearers of a valid OIDC token of an allowed subject.
    Oidc(Box<OidcSettings>),
}

/// What a token must satisfy, and where the keys are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// Expected `iss`.
    pub issuer: String,
    /// The JWKS; `None`: found by OIDC discovery from the issuer.
    pub jwks_url: Option<Url>,
    /// Expected `aud` (one of).
    pub audience: String,
    /// Allowed `sub` values.
    pub subjects: Vec<String>,
    /// CA bundle for the key requests.
    pub ca_file: Option<PathBuf>,
    /// Bearer token for the key requests.
    pub token_file: Option<PathBuf>,
}

impl SenderAuth {
    /// Reads [`PACT_SENDER_AUTH`] and, when it is `oidc`, the `PACT_OIDC_*`
    /// settings (with `none` they are reported as set but unread).
    pub fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Self {
        let oidc = r
            .parse_with(PACT_SENDER_AUTH, "none or oidc", |v| {
                match v.trim().to_ascii_lowercase().as_str() {
                    "none" => Some(false),
                    "oidc" => Some(true),
                    _ => None,
                }
            })
            .unwrap_or(false);
        if !oidc {
            return Self::None;
        }
        let required = "required with PACT_SENDER_AUTH=oidc";
        let url_rule = "an https:// URL (http:// only for a loopback address)";
        let issuer = match r.raw(PACT_OIDC_ISSUER) {
            None => {
                r.reject(
                    PACT_OIDC_ISSUER,
                    String::new(),
                    format!("{required}: the issuer of the cluster's service account tokens, e.g. https://kubernetes.default.svc.cluster.local"),
                );
                String::new()
            }
            Some(raw) => {
                let issuer = raw.trim().to_owned();
                if acceptable_url(&issuer).is_none() {
                    r.reject(PACT_OIDC_ISSUER, raw, url_rule);
                }
                issuer
            }
        };
        let jwks_url = r.parse_with(PACT_OIDC_JWKS_URL, url_rule, |v| acceptable_url(v.trim()));
        let audience = match r.raw(PACT_OIDC_AUDIENCE) {
            Some(raw) if is_claim_text(raw.trim()) => raw.trim().to_owned(),
            other => {
                r.reject(
                    PACT_OIDC_AUDIENCE,
                    other.unwrap_or_default(),
                    format!("{required}: the audience the sources' spec.sink.audience names, printable text without spaces"),
                );
                String::new()
            }
        };
        let subjects = match r.raw(PACT_OIDC_SUBJECTS) {
            None => {
                r.reject(
                    PACT_OIDC_SUBJECTS,
                    String::new(),
                    format!("{required}: comma-separated subjects such as system:serviceaccount:pact:<name>"),
                );
                Vec::new()
            }
            Some(raw) => match parse_subjects(&raw) {
                Some(subjects) => subjects,
                None => {
                    r.reject(
                        PACT_OIDC_SUBJECTS,
                        raw,
                        format!("1 to {MAX_SUBJECTS} comma-separated subjects, printable text without spaces"),
                    );
                    Vec::new()
                }
            },
        };
        Self::Oidc(Box::new(OidcSettings {
            issuer,
            jwks_url,
            audience,
            subjects,
            ca_file: r.raw(PACT_OIDC_CA_FILE).map(|v| PathBuf::from(v.trim())),
            token_file: r.raw(PACT_OIDC_TOKEN_FILE).map(|v| PathBuf::from(v.trim())),
        }))
    }
}

/// Reads [`PACT_EMIT_TOKEN_FILE`], for functions that emit to `K_SINK`.
pub fn read_emit_token_file<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> Option<PathBuf> {
    r.raw(PACT_EMIT_TOKEN_FILE).map(|v| PathBuf::from(v.trim()))
}

pub(super) fn acceptable_url(raw: &str) -> Option<Url> {
    let url = Url::parse(raw).ok()?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    (url.scheme() == "https" || (url.scheme() == "http" && loopback)).then_some(url)
}

fn is_claim_text(v: &str) -> bool {
    !v.is_empty() && v.len() <= 512 && v.chars().all(|c| c.is_ascii_graphic())
}

fn parse_subjects(raw: &str) -> Option<Vec<String>> {
    let subjects: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let valid = !subjects.is_empty()
        && subjects.len() <= MAX_SUBJECTS
        && subjects.iter().all(|s| is_claim_text(s));
    valid.then_some(subjects)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;

    fn read(
        pairs: &[(&'static str, &'static str)],
    ) -> Result<SenderAuth, crate::config::ConfigError> {
        let env: HashMap<&str, &str> = pairs.iter().copied().collect();
        let mut r = EnvReader::new(&env);
        let auth = SenderAuth::read(&mut r);
        r.finish().map(|_| auth)
    }

    #[test]
    fn off_by_default() {
        assert_eq!(read(&[]).expect("valid"), SenderAuth::None);
        assert_eq!(
            read(&[(PACT_SENDER_AUTH, "none")]).expect("valid"),
            SenderAuth::None
        );
    }

    #[test]
    fn oidc_needs_issuer_audience_and_subjects() {
        let err = read(&[(PACT_SENDER_AUTH, "oidc")]).expect_err("incomplete");
        let names: Vec<_> = err.0.iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            [PACT_OIDC_ISSUER, PACT_OIDC_AUDIENCE, PACT_OIDC_SUBJECTS]
        );
    }

    #[test]
    fn reads_every_oidc_setting() {
        let auth = read(&[
            (PACT_SENDER_AUTH, "OIDC"),
            (
                PACT_OIDC_ISSUER,
                "https://kubernetes.default.svc.cluster.local",
            ),
            (
                PACT_OIDC_JWKS_URL,
                "https://kubernetes.default.svc/openid/v1/jwks",
            ),
            (PACT_OIDC_AUDIENCE, "pact-translation"),
            (
                PACT_OIDC_SUBJECTS,
                " system:serviceaccount:pact:a , system:serviceaccount:pact:b,",
            ),
            (PACT_OIDC_CA_FILE, "/ca.crt"),
            (PACT_OIDC_TOKEN_FILE, "/token"),
        ])
        .expect("valid");
        let SenderAuth::Oidc(s) = auth else {
            panic!("oidc expected")
        };
        assert_eq!(s.issuer, "https://kubernetes.default.svc.cluster.local");
        assert_eq!(
            s.jwks_url.map(String::from).as_deref(),
            Some("https://kubernetes.default.svc/openid/v1/jwks")
        );
        assert_eq!(
            s.subjects,
            [
                "system:serviceaccount:pact:a",
                "system:serviceaccount:pact:b"
            ]
        );
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/ca.crt")));
    }

    #[test]
    fn refuses_plain_http_keys_off_loopback_and_bad_values() {
        let err = read(&[(PACT_SENDER_AUTH, "jwt")]).expect_err("unknown mode");
        assert_eq!(err.0[0].name, PACT_SENDER_AUTH);
        let err = read(&[
            (PACT_SENDER_AUTH, "oidc"),
            (PACT_OIDC_ISSUER, "http://issuer.example"),
            (PACT_OIDC_JWKS_URL, "http://keys.example/jwks"),
            (PACT_OIDC_AUDIENCE, "two words"),
            (PACT_OIDC_SUBJECTS, " , "),
        ])
        .expect_err("invalid");
        let names: Vec<_> = err.0.iter().map(|b| b.name).collect();
        assert_eq!(
            names,
            [
                PACT_OIDC_ISSUER,
                PACT_OIDC_JWKS_URL,
                PACT_OIDC_AUDIENCE,
                PACT_OIDC_SUBJECTS
            ]
        );
        read(&[
            (PACT_SENDER_AUTH, "oidc"),
            (PACT_OIDC_ISSUER, "http://127.0.0.1:9/"),
            (PACT_OIDC_AUDIENCE, "a"),
            (PACT_OIDC_SUBJECTS, "s"),
        ])
        .expect("loopback http is fine for tests");
    }

    #[test]
    fn oidc_settings_are_unread_when_off() {
        let env: HashMap<&str, &str> = [(PACT_OIDC_AUDIENCE, "x")].into_iter().collect();
        let mut r = EnvReader::new(&env);
        assert_eq!(SenderAuth::read(&mut r), SenderAuth::None);
        let warnings = r.finish().expect("valid");
        assert!(warnings[0].contains(PACT_OIDC_AUDIENCE), "{warnings:?}");
    }
}
