//! Cases and notifications on the wire: the events pact-query emits when
//! health staff report or withdraw a case, and those pact-notify emits to
//! the people exposed to it (docs/privacy.md says what each carries).
//!
//! A case is one person and one onset date: reporting it again, with any
//! reference, is the same case, so its id is derived from those two.

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::contact::PersonId;
use crate::error::{Error, Result};
use crate::identity::NAMESPACE;

/// Type of the event pact-query emits when a case is reported.
pub const CASE_REPORTED: &str = "dev.pact.case.reported";
/// Type of the event pact-query emits when a case is withdrawn.
pub const CASE_WITHDRAWN: &str = "dev.pact.case.withdrawn";
/// Type of the events pact-notify emits, one per exposed person and case.
pub const EXPOSURE_NOTIFIED: &str = "dev.pact.exposure.notified";
/// Type of the events pact-notify emits when a case it notified for is
/// withdrawn, one per notification.
pub const EXPOSURE_WITHDRAWN: &str = "dev.pact.exposure.withdrawn";

/// Most characters of a case's `reference`.
pub const MAX_REFERENCE_CHARS: usize = 100;
/// How far back an onset date may lie: further back, no contact is kept.
pub const MAX_ONSET_AGE_DAYS: i64 = 366;

/// The id of the case of `person` with onset on `onset`.
pub fn case_id(person: PersonId, onset: NaiveDate) -> Uuid {
    Uuid::new_v5(
        &NAMESPACE,
        format!("case\n{}\n{onset}", person.get()).as_bytes(),
    )
}

/// `data` of a `dev.pact.case.reported` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseReported {
    /// [`case_id`] of `mmid` and `onset`.
    pub case_id: Uuid,
    /// The person who tested positive.
    pub mmid: i64,
    /// Date of the positive test or of symptom onset (UTC).
    pub onset: NaiveDate,
    /// The health service's own reference, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl CaseReported {
    /// Checks every field as a report from outside: a positive person id,
    /// an onset date from [`MAX_ONSET_AGE_DAYS`] ago to tomorrow (UTC; a
    /// day's grace for time zones ahead of it), a printable reference of
    /// at most [`MAX_REFERENCE_CHARS`] characters, and the case id that
    /// the person and date give.
    pub fn validate(&self) -> Result<PersonId> {
        let person = PersonId::parse("mmid", self.mmid)?;
        check_onset(self.onset)?;
        if let Some(reference) = &self.reference {
            check_reference(reference)?;
        }
        if self.case_id != case_id(person, self.onset) {
            return Err(Error::invalid(
                "case_id",
                "is not the id of this person and onset date",
            ));
        }
        Ok(person)
    }
}

/// Checks an onset date (see [`CaseReported::validate`]).
pub fn check_onset(onset: NaiveDate) -> Result<()> {
    let today = Utc::now().date_naive();
    let earliest = today - chrono::Days::new(MAX_ONSET_AGE_DAYS.unsigned_abs());
    let latest = today + chrono::Days::new(1);
    if onset > latest {
        return Err(Error::invalid("onset", "must not be in the future"));
    }
    if onset < earliest {
        return Err(Error::invalid(
            "onset",
            format!("must be within the last {MAX_ONSET_AGE_DAYS} days"),
        ));
    }
    Ok(())
}

/// Checks a case reference: 1 to [`MAX_REFERENCE_CHARS`] characters, no
/// control characters, not starting or ending with a space.
pub fn check_reference(reference: &str) -> Result<()> {
    let chars = reference.chars().count();
    if chars == 0 || chars > MAX_REFERENCE_CHARS {
        return Err(Error::invalid(
            "reference",
            format!("must be 1 to {MAX_REFERENCE_CHARS} characters long"),
        ));
    }
    if reference.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reference",
            "must not hold control characters",
        ));
    }
    if reference.starts_with(' ') || reference.ends_with(' ') {
        return Err(Error::invalid(
            "reference",
            "must not start or end with a space",
        ));
    }
    Ok(())
}

/// `data` of a `dev.pact.case.withdrawn` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseWithdrawn {
    /// The case withdrawn.
    pub case_id: Uuid,
}

/// The id of the withdrawal event of a case.
pub fn withdrawal_id(case: Uuid) -> Uuid {
    Uuid::new_v5(&case, b"withdrawn")
}

/// One day and place where a notified person was exposed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExposureSite {
    /// The day of the contact (UTC).
    pub day: NaiveDate,
    /// City, as the geocoder named it.
    pub city: String,
    /// State or region.
    pub state: String,
    /// Postal code.
    pub zipcode: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

/// `data` of a `dev.pact.exposure.notified` event: whom to tell, when and
/// where they were exposed, and how far from the case; nothing that
/// identifies the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposureNotified {
    /// The person to notify.
    pub mmid: i64,
    /// 1: they met the case; 2: they met someone who did.
    pub hops: u32,
    /// The days and places of the contacts that exposed them, in order.
    pub exposures: Vec<ExposureSite>,
}

/// `data` of a `dev.pact.exposure.withdrawn` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposureWithdrawn {
    /// The person notified.
    pub mmid: i64,
    /// The `id` of the `dev.pact.exposure.notified` event withdrawn.
    pub notification: Uuid,
}

/// The id of the notification of `person` for a case whose secret is
/// `secret`: derived from a random value pact-notify keeps per case, so the
/// same case and person always give the same id (no one is notified twice)
/// while the id cannot be traced back to the case by trying person ids and
/// dates.
pub fn notification_id(secret: Uuid, person: i64) -> Uuid {
    Uuid::new_v5(&secret, person.to_string().as_bytes())
}

/// The id of the withdrawal of a notification.
pub fn notification_withdrawal_id(notification: Uuid) -> Uuid {
    Uuid::new_v5(&notification, b"withdrawn")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: i64) -> PersonId {
        PersonId::parse("mmid", id).expect("positive")
    }

    fn report(mmid: i64, onset: NaiveDate) -> CaseReported {
        CaseReported {
            case_id: case_id(person(mmid.max(1)), onset),
            mmid,
            onset,
            reference: None,
        }
    }

    #[test]
    fn a_case_is_one_person_and_one_onset_date() {
        let day = Utc::now().date_naive();
        assert_eq!(case_id(person(7), day), case_id(person(7), day));
        assert_ne!(case_id(person(7), day), case_id(person(8), day));
        assert_ne!(
            case_id(person(7), day),
            case_id(person(7), day - chrono::Days::new(1))
        );
    }

    #[test]
    fn reports_are_checked_field_by_field() {
        let today = Utc::now().date_naive();
        assert!(report(7, today).validate().is_ok());
        assert!(report(7, today + chrono::Days::new(1)).validate().is_ok());
        let field = |r: CaseReported| match r.validate() {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(report(0, today)), "mmid");
        assert_eq!(field(report(7, today + chrono::Days::new(2))), "onset");
        assert_eq!(field(report(7, today - chrono::Days::new(367))), "onset");
        let mut other = report(7, today);
        other.case_id = case_id(person(8), today);
        assert_eq!(field(other), "case_id");
        for bad in ["", " x", "x ", "a\nb", &"x".repeat(101)] {
            let mut r = report(7, today);
            r.reference = Some(bad.to_owned());
            assert_eq!(field(r), "reference", "{bad:?}");
        }
        let mut fine = report(7, today);
        fine.reference = Some("Lab 2026/114 — ünïcode".to_owned());
        assert!(fine.validate().is_ok());
    }

    #[test]
    fn notification_ids_depend_on_the_secret_and_the_person() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(notification_id(a, 5), notification_id(a, 5));
        assert_ne!(notification_id(a, 5), notification_id(a, 6));
        assert_ne!(notification_id(a, 5), notification_id(b, 5));
        assert_ne!(
            notification_withdrawal_id(notification_id(a, 5)),
            notification_id(a, 5)
        );
    }
}
