//! pact-query's configuration: the runtime's variables, the database's, and
//! who may read (bearer tokens, or open access stated explicitly).
//!
//! Contact data is personal data, so the safe default is to refuse to start:
//! with neither [`PACT_QUERY_TOKENS_FILE`] nor [`PACT_QUERY_TOKENS`] set, the
//! process starts only when [`PACT_QUERY_AUTH`]`=none` says that open access
//! is meant. Every bad variable is reported at once (one `EnvReader` for the
//! runtime, the database and this crate), and tokens never appear in errors,
//! warnings or `Debug` output: they print as `***`.

use std::fmt;
use std::time::Duration;

use pact_runtime::config::{BadVar, ConfigError, Env, EnvReader, RuntimeConfig};
use pact_runtime::database::DatabaseConfig;
use subtle::{Choice, ConstantTimeEq};

/// A file holding the accepted bearer tokens, one per line (a mounted
/// Kubernetes Secret). Blank lines and lines starting with `#` are skipped.
pub const PACT_QUERY_TOKENS_FILE: &str = "PACT_QUERY_TOKENS_FILE";
/// Accepted bearer tokens, comma-separated (for a Secret exposed as env).
pub const PACT_QUERY_TOKENS: &str = "PACT_QUERY_TOKENS";
/// `none` serves contact data without authentication; `bearer` (the meaning
/// whenever tokens are set) requires a token. Unset with no tokens: refuse.
pub const PACT_QUERY_AUTH: &str = "PACT_QUERY_AUTH";

/// Milliseconds a data endpoint waits for the database before answering 504
/// with `Retry-After`; default [`DEFAULT_READ_TIMEOUT_MS`].
pub const PACT_QUERY_READ_TIMEOUT_MS: &str = "PACT_QUERY_READ_TIMEOUT_MS";
/// Default of [`PACT_QUERY_READ_TIMEOUT_MS`]: about 100 times the slowest
/// p99 measured (docs/performance.md), well under the request timeout.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 5_000;
/// Largest [`PACT_QUERY_READ_TIMEOUT_MS`]: longer waits are the request
/// timeout's business.
pub const MAX_READ_TIMEOUT_MS: u64 = 300_000;

/// Longest token accepted, in bytes. Tokens are compared in a fixed-size
/// buffer of this length, so the time a comparison takes reveals nothing
/// about the length or the content of the tokens (see [`Tokens::accepts`]).
pub const MAX_TOKEN_BYTES: usize = 256;
/// Tokens shorter than this start the server with a warning: a short token
/// can be guessed.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Everything pact-query reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The function contract (port, logs, shutdown, timeouts).
    pub runtime: RuntimeConfig,
    /// `DATABASE_URL` and the pool size.
    pub database: DatabaseConfig,
    /// Who may read the data endpoints.
    pub auth: Auth,
    /// How long one request waits for the database's answer.
    pub read_timeout: Duration,
    /// `PACT_EMIT_TOKEN_FILE`: the bearer token sent to `K_SINK` with the
    /// case events.
    pub emit_token_file: Option<std::path::PathBuf>,
}

// `Config::from_env` and its `runtime` field, for `pact_runtime::server::run`.
pact_runtime::settings!(Config);

impl Config {
    /// Reads every variable, reporting all bad ones together. The warnings
    /// (unknown `PACT_*` names, open access, short tokens) are for the log.
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Result<(Self, Vec<String>), ConfigError> {
        let mut reader = EnvReader::new(env);
        let runtime = RuntimeConfig::read(&mut reader);
        let database = DatabaseConfig::read(&mut reader);
        let (auth, mut auth_warnings) = Auth::read(&mut reader);
        let read_timeout = reader.millis(
            PACT_QUERY_READ_TIMEOUT_MS,
            Duration::from_millis(DEFAULT_READ_TIMEOUT_MS),
            1..=MAX_READ_TIMEOUT_MS,
        );
        let emit_token_file = pact_runtime::sender_auth::read_emit_token_file(&mut reader);
        let mut warnings = reader.finish()?;
        warnings.append(&mut auth_warnings);
        // `read` reports every `None` to the reader, so `finish` has failed
        // already; fail closed all the same.
        let Some(auth) = auth else {
            return Err(ConfigError(vec![BadVar {
                name: PACT_QUERY_AUTH,
                value: String::new(),
                expected: "a valid authentication setting".into(),
            }]));
        };
        Ok((
            Self {
                runtime,
                database,
                auth,
                read_timeout,
                emit_token_file,
            },
            warnings,
        ))
    }
}

/// Who may read the data endpoints.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>` with one of these tokens.
    Bearer(Tokens),
    /// Anyone (`PACT_QUERY_AUTH=none`).
    Open,
}

impl Auth {
    /// Reads the three variables. `None` when they are bad (already
    /// reported to the reader), plus warnings for the log.
    fn read<E: Env + ?Sized>(r: &mut EnvReader<'_, E>) -> (Option<Self>, Vec<String>) {
        let mut warnings = Vec::new();
        let mode = r.parse_with(PACT_QUERY_AUTH, "none or bearer", |v| {
            match v.trim().to_ascii_lowercase().as_str() {
                "none" => Some(Mode::None),
                "bearer" => Some(Mode::Bearer),
                _ => None,
            }
        });
        let mut tokens = Vec::new();
        let mut readable = true;
        if let Some(path) = r.raw(PACT_QUERY_TOKENS_FILE) {
            match std::fs::read_to_string(path.trim()) {
                Ok(text) => {
                    let lines = text
                        .lines()
                        .map(str::trim)
                        .filter(|line| !line.is_empty() && !line.starts_with('#'));
                    readable &= collect(r, PACT_QUERY_TOKENS_FILE, lines, &mut tokens);
                    if readable && tokens.is_empty() {
                        readable = false;
                        r.reject(
                            PACT_QUERY_TOKENS_FILE,
                            path,
                            "a file with one token per line; this one holds none",
                        );
                    }
                }
                Err(e) => {
                    readable = false;
                    // The path is not secret; the file's content is.
                    r.reject(
                        PACT_QUERY_TOKENS_FILE,
                        path,
                        format!("a readable file with one token per line ({e})"),
                    );
                }
            }
        }
        if let Some(list) = r.raw(PACT_QUERY_TOKENS) {
            let before = tokens.len();
            let items = list.split(',').map(str::trim).filter(|t| !t.is_empty());
            readable &= collect(r, PACT_QUERY_TOKENS, items, &mut tokens);
            if readable && tokens.len() == before {
                readable = false;
                r.reject(
                    PACT_QUERY_TOKENS,
                    "***".into(),
                    "comma-separated bearer tokens; none was given",
                );
            }
        }
        if !readable {
            return (None, warnings);
        }
        let auth = match (mode, tokens.is_empty()) {
            (Some(Mode::None), false) => {
                r.reject(
                    PACT_QUERY_AUTH,
                    "none".into(),
                    format!(
                        "unset, or bearer: open access contradicts the tokens in \
                         {PACT_QUERY_TOKENS_FILE}/{PACT_QUERY_TOKENS}; remove one or the other"
                    ),
                );
                None
            }
            (Some(Mode::None), true) => {
                warnings.push(format!(
                    "{PACT_QUERY_AUTH}=none: contact data is served to anyone without \
                     authentication; set {PACT_QUERY_TOKENS_FILE} or {PACT_QUERY_TOKENS} \
                     outside development"
                ));
                Some(Self::Open)
            }
            (_, true) => {
                let value = match mode {
                    Some(Mode::Bearer) => "bearer",
                    _ => "",
                };
                r.reject(
                    PACT_QUERY_AUTH,
                    value.into(),
                    format!(
                        "no bearer tokens are configured: set {PACT_QUERY_TOKENS_FILE} (a file, \
                         one token per line) or {PACT_QUERY_TOKENS} (comma-separated), or set \
                         {PACT_QUERY_AUTH}=none to serve contact data without authentication"
                    ),
                );
                None
            }
            (_, false) => {
                if tokens.iter().any(|t| t.len < MIN_TOKEN_CHARS) {
                    warnings.push(format!(
                        "a bearer token is shorter than {MIN_TOKEN_CHARS} characters; \
                         use long random tokens (openssl rand -hex 32)"
                    ));
                }
                Some(Self::Bearer(Tokens(tokens)))
            }
        };
        (auth, warnings)
    }

    /// Whether the data endpoints need a token.
    pub fn is_required(&self) -> bool {
        matches!(self, Self::Bearer(_))
    }
}

#[derive(Clone, Copy)]
enum Mode {
    None,
    Bearer,
}

/// Adds the well-formed tokens to `into` and reports the others by position
/// (never by value). `false` when one was bad.
fn collect<'t, E: Env + ?Sized>(
    r: &mut EnvReader<'_, E>,
    name: &'static str,
    items: impl Iterator<Item = &'t str>,
    into: &mut Vec<Token>,
) -> bool {
    let mut good = true;
    for (index, item) in items.enumerate() {
        match Token::parse(item) {
            Ok(token) => into.push(token),
            Err(why) => {
                good = false;
                r.reject(name, "***".into(), format!("token {}: {why}", index + 1));
            }
        }
    }
    good
}

/// The accepted tokens. `Debug` shows only how many there are.
#[derive(Clone)]
pub struct Tokens(Vec<Token>);

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tokens(*** × {})", self.0.len())
    }
}

impl Tokens {
    /// Builds a token set (for tests and for embedding the function).
    pub fn new<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        tokens
            .into_iter()
            .map(Token::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `presented` is one of the tokens. Every token is compared in
    /// full, each in a buffer of [`MAX_TOKEN_BYTES`] with the length
    /// compared in constant time too, and the results are combined without
    /// branching: the time taken does not depend on which token matched,
    /// how many bytes of it did, or how long the tokens are.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let Some(presented) = Token::padded(presented) else {
            // Longer than any token can be: reveals nothing about them.
            return false;
        };
        let mut found = Choice::from(0);
        for token in &self.0 {
            found |= token.bytes.ct_eq(&presented.bytes) & token.len.ct_eq(&presented.len);
        }
        found.into()
    }
}

/// One token in a fixed-size buffer.
#[derive(Clone)]
struct Token {
    bytes: [u8; MAX_TOKEN_BYTES],
    len: usize,
}

impl Token {
    /// RFC 6750 section 2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." /
    /// "_" / "~" / "+" / "/" ) *"="`, at most [`MAX_TOKEN_BYTES`] long.
    fn parse(text: &str) -> Result<Self, String> {
        let body = text.trim_end_matches('=');
        let valid = !body.is_empty()
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
        if !valid {
            return Err(
                "a token is letters, digits and - . _ ~ + / (RFC 6750 b64token), \
                 optionally ending in ="
                    .into(),
            );
        }
        Self::padded(text.as_bytes())
            .ok_or_else(|| format!("a token is at most {MAX_TOKEN_BYTES} bytes long"))
    }

    fn padded(text: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; MAX_TOKEN_BYTES];
        bytes.get_mut(..text.len())?.copy_from_slice(text);
        Some(Self {
            bytes,
            len: text.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&'static str, &'static str)]) -> HashMap<&'static str, &'static str> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn tokens_match_exactly() {
        let tokens = Tokens::new(["first-token-0123456789", "second"]).expect("valid");
        assert!(tokens.accepts(b"first-token-0123456789"));
        assert!(tokens.accepts(b"second"));
        assert!(!tokens.accepts(b"second "));
        assert!(!tokens.accepts(b"secon"));
        assert!(!tokens.accepts(b"first-token-012345678"));
        assert!(!tokens.accepts(b""));
        assert!(!tokens.accepts(&[b'a'; MAX_TOKEN_BYTES + 1]));
    }

    #[test]
    fn bad_tokens_are_reported_without_their_value() {
        let err = Config::from_env(&env(&[(
            PACT_QUERY_TOKENS,
            "good-token-123456789,bad token",
        )]))
        .expect_err("invalid");
        let text = err.to_string();
        assert!(
            text.contains("PACT_QUERY_TOKENS=\"***\": token 2"),
            "{text}"
        );
        assert!(!text.contains("bad token"), "{text}");
        assert!(!text.contains("good-token"), "{text}");
    }

    #[test]
    fn open_access_must_be_stated_and_is_warned_about() {
        let (config, warnings) =
            Config::from_env(&env(&[(PACT_QUERY_AUTH, "none")])).expect("valid");
        assert!(!config.auth.is_required());
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("without authentication"))
        );
    }

    #[test]
    fn the_read_timeout_is_bounded() {
        let open = (PACT_QUERY_AUTH, "none");
        let (config, _) = Config::from_env(&env(&[open])).expect("default");
        assert_eq!(
            config.read_timeout,
            Duration::from_millis(DEFAULT_READ_TIMEOUT_MS)
        );
        let (config, _) =
            Config::from_env(&env(&[open, (PACT_QUERY_READ_TIMEOUT_MS, "250")])).expect("set");
        assert_eq!(config.read_timeout, Duration::from_millis(250));
        for bad in ["0", "-1", "300001", "18446744073709551616", "5s"] {
            let err =
                Config::from_env(&env(&[open, (PACT_QUERY_READ_TIMEOUT_MS, bad)])).expect_err(bad);
            assert!(
                err.to_string().contains(PACT_QUERY_READ_TIMEOUT_MS),
                "{err}"
            );
        }
    }

    #[test]
    fn a_debug_print_shows_no_token() {
        let (config, _) =
            Config::from_env(&env(&[(PACT_QUERY_TOKENS, "s3cret-s3cret-s3cret")])).expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(config.auth.is_required());
    }
}
