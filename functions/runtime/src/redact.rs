//! Secrets out of what is printed or logged: one rule for every URL PACT
//! shows (database URLs, a sink, the target of `pact simulate`/`burst`).

use reqwest::Url;

/// `raw` with every password replaced by `***`: the one in the userinfo and
/// any query parameter naming one (`?password=`, which the PostgreSQL driver
/// reads too, `sslpassword=`). A URL that does not parse is not shown at all.
pub fn url(raw: &str) -> String {
    Url::parse(raw).map_or_else(|_| "***".into(), |url| parsed_url(&url))
}

/// [`url`] for a URL already parsed.
pub fn parsed_url(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    let secret = |key: &str| key.to_ascii_lowercase().contains("password");
    if url.query_pairs().any(|(key, _)| secret(&key)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if secret(&key) {
                    "***".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_masked_wherever_they_stand() {
        assert_eq!(
            super::url("postgres://pact:s3cret@db:5432/pact?sslpassword=x&sslmode=require"),
            "postgres://pact:***@db:5432/pact?sslpassword=***&sslmode=require"
        );
        assert_eq!(super::url("http://h/contacts"), "http://h/contacts");
        assert_eq!(super::url("http://user@h/"), "http://user@h/");
        assert_eq!(super::url("not a url"), "***");
    }
}
