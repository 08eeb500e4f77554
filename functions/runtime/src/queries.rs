//! SQL that more than one function runs, written once (feature
//! `database`): pact-query answers `GET /contacts/{mmid}` with
//! [`CONTACTS_OF`], and pact-notify walks the same query to find who met a
//! case, so the two cannot disagree on who met whom.

/// The columns of a `contactlist` row (pact-query's `ContactRecord`), in a
/// `SELECT` list, each after `$prefix` (a table alias such as `"c."`).
#[macro_export]
macro_rules! contact_columns {
    ($prefix:literal) => {
        concat!(
            $prefix,
            "id, ",
            $prefix,
            "mmid1, ",
            $prefix,
            "mmid2, ",
            $prefix,
            "street, ",
            $prefix,
            "city, ",
            $prefix,
            "state, ",
            $prefix,
            "zipcode, ",
            $prefix,
            "country, ",
            $prefix,
            "lat, ",
            $prefix,
            "lon, ",
            $prefix,
            "observed_at, ",
            $prefix,
            "recorded_at, ",
            $prefix,
            "geocoder"
        )
    };
}

/// The contacts of one person ($1) from ($2, id $4) on, before $3. Each side
/// of the pair is read through its own index, already in time order, and
/// the two short lists are merged: no sort of a busy person's whole history.
pub const CONTACTS_OF: &str = concat!(
    "SELECT ",
    crate::contact_columns!(""),
    " FROM (",
    " SELECT * FROM (SELECT ",
    crate::contact_columns!(""),
    " FROM contactlist WHERE mmid1 = $1 AND observed_at >= $2 AND observed_at < $3",
    " AND (observed_at, id) > ($2, $4) ORDER BY observed_at, id LIMIT $5) AS first_side",
    " UNION ALL",
    " SELECT * FROM (SELECT ",
    crate::contact_columns!(""),
    " FROM contactlist WHERE mmid2 = $1 AND observed_at >= $2 AND observed_at < $3",
    " AND (observed_at, id) > ($2, $4) ORDER BY observed_at, id LIMIT $5) AS second_side",
    ") AS met ORDER BY observed_at, id LIMIT $5"
);
