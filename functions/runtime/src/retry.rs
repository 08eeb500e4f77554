//! Retrying an HTTP request, the same way for every client in PACT (the
//! runtime's emitter, `pact simulate`, the eventing stand-in's dispatcher):
//!
//! - which answers may succeed when tried again ([`is_retryable`], Knative's
//!   rule for deliveries; [`is_transient`], a client's stricter one);
//! - how long to wait before retry `n` ([`exponential`], [`equal_jitter`],
//!   [`backoff`]) and how a peer's `Retry-After` combines with it ([`wait`]);
//! - `Retry-After` itself (RFC 9110 section 10.2.3): delta-seconds or an
//!   HTTP-date, always capped by the caller, never a panic and never an
//!   overflow. A peer's number is hostile input: `Retry-After:
//!   18446744073709551615` once overflowed an `Instant + Duration` in
//!   pact-translation's circuit breaker.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use http::header::RETRY_AFTER;
use http::{HeaderMap, StatusCode};
use rand::Rng;

/// Knative's retry rule for deliveries: 404, 408, 409, 429 and every 5xx may
/// succeed later (a subscriber that is starting, scaling or overloaded).
pub fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error() || matches!(status.as_u16(), 404 | 408 | 409 | 429)
}

/// A client's rule: only overload, a restarting or scaling target, or a
/// gateway between (408, 429, 502, 503, 504). A plain 500 is a bug and a
/// 404 a wrong URL: resending will not help.
pub fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 502 | 503 | 504)
}

/// The wait before retry `retry` (1 for the first retry): `base` doubled per
/// retry after the first, at most `max`; never an overflow.
pub fn exponential(base: Duration, retry: u32, max: Duration) -> Duration {
    base.saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(max)
}

/// "Equal jitter": half of `step` fixed, half random, so retries of many
/// clients spread out but never fire at once.
pub fn equal_jitter(step: Duration) -> Duration {
    let half = step / 2;
    half.saturating_add(rand::rng().random_range(Duration::ZERO..=half))
}

/// [`exponential`] with [`equal_jitter`]: what PACT's own clients wait.
pub fn backoff(base: Duration, retry: u32, max: Duration) -> Duration {
    equal_jitter(exponential(base, retry, max))
}

/// The backoff, or the peer's `Retry-After` (`asked`, already capped by
/// [`retry_after`]) when that is longer.
pub fn wait(backoff: Duration, asked: Option<Duration>) -> Duration {
    asked.map_or(backoff, |asked| asked.max(backoff))
}

/// How long `headers` ask the client to wait, at most `cap`; `None` when
/// there is no `Retry-After` or it cannot be read. A date in the past means
/// now (`Duration::ZERO`); a number too large for any clock means `cap`.
pub fn retry_after(headers: &HeaderMap, cap: Duration) -> Option<Duration> {
    retry_after_at(headers, Utc::now(), cap)
}

/// [`retry_after`] with the current time given, for HTTP-dates.
pub fn retry_after_at(headers: &HeaderMap, now: DateTime<Utc>, cap: Duration) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits, so a parse failure is a number beyond u64: "very long".
        value.parse::<u64>().map_or(cap, Duration::from_secs)
    } else {
        let at = http_date(value)?;
        // chrono's difference of two dates cannot overflow; a past date fails
        // `to_std` and means "now".
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(cap))
}

/// The preferred IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), and the two
/// obsolete forms a recipient must still read (RFC 9110 section 5.6.7).
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc2822(value) {
        return Some(at.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(300);

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let (base, max) = (Duration::from_millis(100), Duration::from_secs(1));
        for retry in 1..40 {
            let full = base.saturating_mul(1 << (retry - 1).min(20)).min(max);
            assert_eq!(exponential(base, retry, max), full);
            let step = backoff(base, retry, max);
            assert!(step >= full / 2 && step <= full, "retry {retry}: {step:?}");
        }
        assert_eq!(exponential(base, 0, max), base);
        let huge = exponential(Duration::from_secs(3600), 40, Duration::MAX);
        assert_eq!(huge, Duration::from_secs(3600 << 20));
        assert_eq!(wait(base, None), base);
        assert_eq!(wait(base, Some(Duration::ZERO)), base);
        assert_eq!(wait(base, Some(max)), max);
    }

    #[test]
    fn the_two_retry_rules() {
        for code in [404, 408, 409, 429, 500, 502, 503, 504] {
            assert!(is_retryable(StatusCode::from_u16(code).expect("code")));
        }
        for code in [400, 401, 403, 413, 415, 422] {
            assert!(!is_retryable(StatusCode::from_u16(code).expect("code")));
        }
        for code in [408, 429, 502, 503, 504] {
            assert!(is_transient(StatusCode::from_u16(code).expect("code")));
        }
        for code in [200, 301, 400, 404, 409, 413, 422, 500, 501] {
            assert!(!is_transient(StatusCode::from_u16(code).expect("code")));
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn read(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, value.parse().expect("a header value"));
        retry_after_at(&headers, now(), CAP)
    }

    #[test]
    fn reads_seconds_and_the_three_date_forms() {
        assert_eq!(retry_after_at(&HeaderMap::new(), now(), CAP), None);
        assert_eq!(read("3"), Some(Duration::from_secs(3)));
        assert_eq!(read(" 0 "), Some(Duration::ZERO));
        let seven = Some(Duration::from_secs(7));
        assert_eq!(read("Tue, 24 Nov 2026 10:00:07 GMT"), seven);
        assert_eq!(read("Tuesday, 24-Nov-26 10:00:07 GMT"), seven);
        assert_eq!(read("Tue Nov 24 10:00:07 2026"), seven);
        assert_eq!(read("Tue Nov  3 10:00:00 2026"), Some(Duration::ZERO));
    }

    #[test]
    fn hostile_values_are_capped_or_ignored_never_a_panic() {
        assert_eq!(read("18446744073709551615"), Some(CAP));
        assert_eq!(read("99999999999999999999999999999999"), Some(CAP));
        assert_eq!(read("301"), Some(CAP));
        assert_eq!(read("Fri, 31 Dec 9999 23:59:59 GMT"), Some(CAP));
        assert_eq!(read("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Duration::ZERO));
        for bad in [
            "soon",
            "-1",
            "1.5",
            "+3",
            "0x10",
            "",
            "Tue, 99 Nov 2026 10:00:07 GMT",
        ] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            http::HeaderValue::from_bytes(b"\xff\xfe").expect("opaque bytes"),
        );
        assert_eq!(retry_after(&headers, CAP), None);
        headers.insert(RETRY_AFTER, http::HeaderValue::from_static("5"));
        assert_eq!(retry_after(&headers, Duration::ZERO), Some(Duration::ZERO));
    }
}
