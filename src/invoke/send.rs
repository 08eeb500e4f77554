//! Sending the request and reading the reply, at most [`MAX_REPLY_BYTES`];
//! what `--verbose` shows of both.

use std::fmt::Write as _;
use std::time::Duration;

use super::MAX_REPLY_BYTES;
use super::reply::{shown, status_line};

pub(super) struct Reply {
    pub(super) status: http::StatusCode,
    pub(super) headers: http::HeaderMap,
    pub(super) body: Vec<u8>,
    pub(super) truncated: bool,
}

pub(super) async fn send(
    client: &reqwest::Client,
    request: reqwest::Request,
    timeout: Duration,
) -> Result<Reply, String> {
    let mut response = client
        .execute(request)
        .await
        .map_err(|e| transport_problem(&e, timeout))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_problem(&e, timeout))?
    {
        let room = MAX_REPLY_BYTES - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
        truncated,
    })
}

pub(super) fn transport_problem(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!(
            "no reply within {} (raise --timeout)",
            humantime::format_duration(timeout)
        );
    }
    let chain = pact_runtime::error::chain(e);
    if e.is_connect() {
        let lower = chain.to_ascii_lowercase();
        if lower.contains("connection refused") {
            return "connection refused: nothing listens there (is the function running? `pact dev` starts them all)".into();
        }
        return format!("cannot connect ({chain})");
    }
    format!("the request failed ({chain})")
}

pub(super) fn describe_request(request: &reqwest::Request) -> String {
    let mut text = format!("> {} {}\n", request.method(), request.url());
    for (name, value) in request.headers() {
        let _ = writeln!(
            text,
            "> {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    if let Some(body) = request.body().and_then(reqwest::Body::as_bytes) {
        let _ = writeln!(text, ">\n{}", shown(&String::from_utf8_lossy(body)));
    }
    text.push('\n');
    text
}

pub(super) fn describe_reply_headers(reply: &Reply) -> String {
    let mut text = format!("< {}\n", status_line(reply.status));
    for (name, value) in &reply.headers {
        let _ = writeln!(
            text,
            "< {name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        );
    }
    text.push('\n');
    text
}
