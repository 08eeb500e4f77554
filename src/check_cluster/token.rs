//! pact-query's bearer token: the file `--query-token-file` names, or the
//! one scripts/kind-up.sh writes, read with a bound and the way pact-query
//! reads its tokens file (`PACT_QUERY_TOKENS_FILE`).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Args, CheckError};

/// Largest token file read, in bytes. A token is one line (pact-query takes
/// none over 256 bytes), so a bigger file is not a token file, and reading
/// it whole could take all the memory there is.
pub const MAX_TOKEN_FILE_BYTES: u64 = 64 * 1024;

/// Where scripts/kind-up.sh writes pact-query's token.
pub fn default_token_file() -> Option<PathBuf> {
    let state = match std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        Some(state) => PathBuf::from(state),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(state.join("pact/query-token"))
}

/// The bearer token (none when the default file does not exist) and where
/// it came from, for messages.
pub(super) fn query_token(args: &Args) -> Result<(Option<String>, String), CheckError> {
    let (path, explicit) = match &args.query_token_file {
        Some(path) => (path.clone(), true),
        None => match default_token_file() {
            Some(path) => (path, false),
            None => return Ok((None, "no --query-token-file".to_owned())),
        },
    };
    let shown = path.display().to_string();
    let text = match read_bounded(&path) {
        Ok(text) => text,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((
                None,
                format!("no token ({shown} does not exist; give --query-token-file)"),
            ));
        }
        Err(e) => {
            return Err(CheckError::Token {
                path: shown,
                reason: e.to_string(),
            });
        }
    };
    match first_token(&text) {
        Some(token) => Ok((Some(token.to_owned()), format!("the token in {shown}"))),
        None => Err(CheckError::Token {
            path: shown,
            reason: if text.trim().is_empty() {
                "it is empty".to_owned()
            } else {
                "it holds no token, only blank lines and lines starting with #".to_owned()
            },
        }),
    }
}

/// The file's text, refused when it is larger than [`MAX_TOKEN_FILE_BYTES`]
/// (one byte more is read to tell) or not UTF-8.
fn read_bounded(path: &Path) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is larger than {} KiB, too large for a token file (one token on a line)",
                MAX_TOKEN_FILE_BYTES / 1024
            ),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// The token in a token file's text as pact-query reads its tokens file:
/// lines trimmed, blank lines and lines starting with `#` skipped; the
/// first line left is the token.
fn first_token(text: &str) -> Option<&str> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pact check-cluster --query-token-file <path>`'s arguments.
    fn args_with(path: &Path) -> Args {
        let path = path.to_str().expect("a UTF-8 path");
        let cli = <crate::Cli as clap::Parser>::try_parse_from([
            "pact",
            "check-cluster",
            "--query-token-file",
            path,
        ])
        .expect("the arguments parse");
        match cli.command {
            crate::Command::CheckCluster(args) => args,
            _ => unreachable!("check-cluster parsed"),
        }
    }

    /// What `query_token` makes of a file holding `content`.
    fn token_of(content: &[u8]) -> Result<(Option<String>, String), String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("query-token");
        std::fs::write(&path, content).expect("write the token file");
        query_token(&args_with(&path)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_token_is_the_first_line_that_is_not_blank_or_a_comment() {
        let (token, source) =
            token_of(b"# written by scripts/kind-up.sh\n\n  0123456789abcdef  \nsecond\n")
                .expect("a token");
        assert_eq!(token.as_deref(), Some("0123456789abcdef"));
        assert!(source.starts_with("the token in "), "{source}");
        let (token, _) = token_of(b"just-the-token").expect("a token");
        assert_eq!(token.as_deref(), Some("just-the-token"));
    }

    #[test]
    fn an_empty_file_or_one_of_comments_only_is_refused() {
        for content in [&b""[..], b" \n\n\t\n"] {
            let error = token_of(content).expect_err("no token");
            assert!(
                error.starts_with("cannot read the query token ")
                    && error.contains("query-token")
                    && error.ends_with(": it is empty"),
                "{error}"
            );
        }
        let error = token_of(b"# no token yet\n\n#another\n").expect_err("no token");
        assert!(error.contains("it holds no token"), "{error}");
    }

    #[test]
    fn a_file_over_the_bound_is_refused_naming_it() {
        let bound = usize::try_from(MAX_TOKEN_FILE_BYTES).expect("a small bound");
        let mut content = vec![b'#'; bound - 6];
        content.extend_from_slice(b"\ntoken");
        let (token, _) = token_of(&content).expect("a file of exactly the bound is read");
        assert_eq!(token.as_deref(), Some("token"));
        content.push(b'\n');
        let error = token_of(&content).expect_err("one byte over the bound");
        assert!(
            error.contains("query-token") && error.contains("larger than 64 KiB"),
            "{error}"
        );
    }

    #[test]
    fn a_named_file_that_does_not_exist_is_an_error() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let error = query_token(&args_with(&dir.path().join("absent")))
            .expect_err("a named file that does not exist")
            .to_string();
        assert!(error.contains("absent"), "{error}");
    }
}
