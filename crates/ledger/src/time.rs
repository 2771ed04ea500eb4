//! Times and dates. Instants are stored as RFC 3339 UTC text of fixed width (microseconds), so
//! that text comparison in SQL is time comparison on both backends. Calendar dates (a notice's
//! date, a 届出 date) are Japanese dates: their day starts at 00:00 JST (UTC+9; Japan has no
//! daylight saving time).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::{Error, Result};

/// Japan Standard Time.
pub const JST: FixedOffset = match FixedOffset::east_opt(9 * 3600) {
    Some(o) => o,
    None => panic!("UTC+9 is a valid offset"),
};

/// 00:00 JST of a date, as an instant.
pub fn start_of_day_jst(d: NaiveDate) -> DateTime<Utc> {
    match JST
        .from_local_datetime(&d.and_time(NaiveTime::MIN))
        .single()
    {
        Some(t) => t.with_timezone(&Utc),
        // A fixed offset maps every local time to exactly one instant.
        None => DateTime::<Utc>::MIN_UTC,
    }
}

/// Parse an instant given as RFC 3339, or a date `YYYY-MM-DD` meaning 00:00 JST of that day.
pub fn parse_instant(what: &str, s: &str) -> Result<DateTime<Utc>> {
    let t = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(start_of_day_jst(d));
    }
    Err(Error::input(
        what,
        "must be an RFC 3339 time (2026-04-01T09:00:00+09:00) or a date (2026-04-01)",
    ))
}

/// Parse a calendar date `YYYY-MM-DD` (an impossible date such as 2026-02-30 is refused).
pub fn parse_date(what: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::input(what, "must be a real date written YYYY-MM-DD"))
}

/// The storage form of an instant.
pub(crate) fn fmt_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Read back the storage form.
pub(crate) fn read_instant(what: &str, s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| Error::Verify(format!("stored {what} is not a valid time")))
}

/// Read back a stored date.
pub(crate) fn read_date(what: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| Error::Verify(format!("stored {what} is not a valid date")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_form_sorts_as_time() {
        let a = parse_instant("t", "2026-01-01T00:00:00+09:00").unwrap();
        let b = parse_instant("t", "2025-12-31T15:00:00.000001Z").unwrap();
        assert!(fmt_instant(a) < fmt_instant(b));
        assert_eq!(fmt_instant(a), "2025-12-31T15:00:00.000000Z");
        assert_eq!(parse_instant("t", "2026-01-01").unwrap(), a);
        assert!(parse_date("d", "2026-02-30").is_err());
    }
}
