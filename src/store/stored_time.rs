//! Stored times read without chrono's format machinery. SQLite keeps a timestamp as text,
//! which diesel parses by trying chrono formats in turn; that parse was about a seventh of
//! a verification pass, which reads one time per event. The text the store writes
//! (`YYYY-MM-DD HH:MM:SS` and an optional fraction) is read digit by digit here, and any
//! other spelling goes to diesel's own parser, so the value read is always diesel's.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// A `Timestamp` column read as a `NaiveDateTime` (`#[diesel(deserialize_as = StoredTime)]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct StoredTime(pub NaiveDateTime);

impl From<StoredTime> for NaiveDateTime {
    fn from(t: StoredTime) -> Self {
        t.0
    }
}

/// `YYYY-MM-DD HH:MM:SS`, optionally followed by `.` and one to nine digits, as diesel writes
/// a `NaiveDateTime` into SQLite; `None` for anything else (a valid time in another spelling
/// included: the caller then asks diesel).
pub fn parse_plain(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0_u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let nanos = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let n = num(20, b.len())?;
            n * 10_u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let (second, minute, hour) = (num(17, 19)?, num(14, 16)?, num(11, 13)?);
    // A leap second (60) is chrono's to spell; diesel's parser gets it.
    if second > 59 {
        return None;
    }
    let year = i32::try_from(num(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5, 7)?, num(8, 10)?)?
        .and_hms_nano_opt(hour, minute, second, nanos)
}

impl FromSql<Timestamp, Sqlite> for StoredTime {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if let Some(t) = parse_plain(value.read_text()) {
            return Ok(Self(t));
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(Self)
    }
}

impl FromSql<Timestamp, Pg> for StoredTime {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_reads(text: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(text, "%F %T%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%F %T"))
            .ok()
    }

    #[test]
    fn the_plain_form_reads_as_chrono_reads_it() {
        for text in [
            "2026-12-04 23:42:18",
            "2026-12-04 23:42:18.1",
            "2026-12-04 23:42:18.123",
            "2026-12-04 23:42:18.123456",
            "2026-12-04 23:42:18.123456789",
            "2026-12-04 23:42:18.000",
            "0001-01-01 00:00:00",
            "9999-12-31 23:59:59.999999999",
            "2024-02-29 12:00:00.5",
        ] {
            assert_eq!(parse_plain(text), chrono_reads(text), "{text}");
            assert!(parse_plain(text).is_some(), "{text}");
        }
        let now = chrono::Utc::now().naive_utc();
        let written = now.format("%F %T%.f").to_string();
        assert_eq!(parse_plain(&written), Some(now));
    }

    #[test]
    fn any_other_spelling_is_left_to_diesel() {
        for text in [
            "2026-12-04T23:42:18",
            "2026-12-04 23:42:18Z",
            "2026-12-04 23:42:18.",
            "2026-12-04 23:42:18.1234567890",
            "2026-12-04 23:42:60",
            "2026-02-30 00:00:00",
            "2026-12-04 24:00:00",
            "2026-12-04 23:42",
            "+2026-12-04 23:42:18",
            "2026-12-04 23:42:18+08:00",
            "２０２６-12-04 23:42:18",
            "",
        ] {
            assert_eq!(parse_plain(text), None, "{text}");
        }
    }
}
