//! Calendar dates without a time zone (ETAs are days, not instants), and the conversions from the
//! Unix milliseconds the platform hands us.

use crate::DomainError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Milliseconds in one day.
pub const DAY_MS: i64 = 86_400_000;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A proleptic Gregorian calendar date. Built by [`Date::parse`] or [`Date::from_days`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// Parses `YYYY-MM-DD` (years 2000–2999: an ETA outside them is a typo).
    pub fn parse(s: &str) -> Result<Date, DomainError> {
        let err = || DomainError::InvalidDate(s.chars().take(32).collect());
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(err());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, DomainError> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(err());
            }
            part.parse().map_err(|_| err())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(2000..=2999).contains(&year) || !(1..=12).contains(&month) {
            return Err(err());
        }
        if day < 1 || day > days_in_month(year as i32, month as u8) as u32 {
            return Err(err());
        }
        Ok(Date { year: year as i32, month: month as u8, day: day as u8 })
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }

    /// The UTC date of a Unix timestamp in milliseconds.
    pub fn from_unix_ms(ms: i64) -> Date {
        Date::from_days(ms.div_euclid(DAY_MS))
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Midnight UTC at the start of this date, in Unix milliseconds.
    pub fn unix_ms(self) -> i64 {
        self.days() * DAY_MS
    }

    /// The Monday of this date's week.
    pub fn week_start(self) -> Date {
        // 1970-01-01 was a Thursday: (days + 3) mod 7 is 0 on Mondays.
        let d = self.days();
        Date::from_days(d - (d + 3).rem_euclid(7))
    }

    pub fn year(self) -> i32 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }

    /// "December 7", with the year appended when it differs from `this_year`.
    pub fn long_text(self, this_year: i32) -> String {
        let month = MONTHS[usize::from(self.month - 1)];
        if self.year == this_year {
            format!("{month} {}", self.day)
        } else {
            format!("{month} {}, {}", self.day, self.year)
        }
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let s = String::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_table() {
        for (s, ok) in [
            ("2026-12-07", true),
            ("2028-02-29", true),
            ("2026-02-29", false),
            ("2026-13-01", false),
            ("2026-00-10", false),
            ("2026-1-01", false),
            ("26-12-07", false),
            ("+026-12-07", false),
            ("1999-12-31", false),
            ("2026-12-07T00:00", false),
        ] {
            assert_eq!(Date::parse(s).is_ok(), ok, "{s}");
        }
    }

    #[test]
    fn week_start_is_monday() {
        let d = Date::parse("2026-12-10").unwrap(); // a Thursday
        assert_eq!(d.week_start().to_string(), "2026-12-07");
        let mon = Date::parse("2026-12-07").unwrap();
        assert_eq!(mon.week_start(), mon);
        let sun = Date::parse("2026-12-13").unwrap();
        assert_eq!(sun.week_start(), mon);
    }

    #[test]
    fn unix_ms_round_trip() {
        // 2026-11-29T12:00:00Z
        let d = Date::from_unix_ms(1_795_953_600_000);
        assert_eq!(d.to_string(), "2026-11-29");
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -100_000i64..400_000) {
            prop_assert_eq!(Date::from_days(days).days(), days);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,16}") {
            let _ = Date::parse(&s);
        }
    }
}

/// Parses an RFC 3339 timestamp (`2026-11-29T10:00:00-05:00`, `…Z`, optional fraction) to Unix
/// milliseconds. Inventory systems send these as `updated_at`; we order updates by them.
pub fn parse_timestamp_ms(s: &str) -> Result<i64, DomainError> {
    let err = || {
        DomainError::InvalidField(format!(
            "invalid timestamp {:?}: expected RFC 3339",
            s.chars().take(40).collect::<String>()
        ))
    };
    if s.len() < 20 || s.len() > 40 || !s.is_ascii() {
        return Err(err());
    }
    let date = Date::parse(&s[..10]).map_err(|_| err())?;
    let b = s.as_bytes();
    if !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(err());
    }
    let two = |i: usize| -> Result<i64, DomainError> {
        let p = &s[i..i + 2];
        if p.bytes().all(|c| c.is_ascii_digit()) {
            Ok(p.parse::<i64>().map_err(|_| err())?)
        } else {
            Err(err())
        }
    };
    let (h, m, sec) = (two(11)?, two(14)?, two(17)?);
    if h > 23 || m > 59 || sec > 60 {
        return Err(err());
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse().map_err(|_| err())?;
        rest = &frac[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let oh = two_at(rest, 1).ok_or_else(err)?;
            let om = two_at(rest, 4).ok_or_else(err)?;
            if oh > 23 || om > 59 {
                return Err(err());
            }
            let v = oh * 60 + om;
            if rest.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err(err()),
    };
    Ok(date.unix_ms() + ((h * 60 + m - offset_min) * 60 + sec) * 1000 + millis)
}

fn two_at(s: &str, i: usize) -> Option<i64> {
    let p = s.get(i..i + 2)?;
    if p.bytes().all(|c| c.is_ascii_digit()) {
        p.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod timestamp_tests {
    use super::parse_timestamp_ms;

    #[test]
    fn timestamp_table() {
        let base = 1_795_953_600_000; // 2026-11-29T12:00:00Z
        let cases: &[(&str, Option<i64>)] = &[
            ("2026-11-29T12:00:00Z", Some(base)),
            ("2026-11-29T07:00:00-05:00", Some(base)),
            ("2026-11-29T13:30:00+01:30", Some(base)),
            ("2026-11-29T12:00:00.250Z", Some(base + 250)),
            ("2026-11-29T12:00:00.5Z", Some(base + 500)),
            ("2026-11-29T12:00:00", None),
            ("2026-11-29T25:00:00Z", None),
            ("2026-11-29T12:00:00+0500", None),
            ("yesterday at noon please", None),
            ("2026-11-29T12:00:00.Z", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_timestamp_ms(s).ok(), *want, "{s}");
        }
    }
}

/// Unix milliseconds as an RFC 3339 UTC timestamp (`2026-11-29T15:04:05.123Z`), the form our
/// outgoing events and exports use.
pub fn format_timestamp_ms(ms: i64) -> String {
    let d = Date::from_unix_ms(ms);
    let in_day = ms.rem_euclid(DAY_MS);
    let (h, m, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z", d.year(), d.month(), d.day())
}

#[cfg(test)]
mod format_tests {
    use super::*;

    #[test]
    fn formats_and_parses_back() {
        for ms in [1_796_140_800_123, 1_796_140_800_000 - 1, 1_709_164_800_000] {
            assert_eq!(parse_timestamp_ms(&format_timestamp_ms(ms)), Ok(ms), "{}", format_timestamp_ms(ms));
        }
        assert_eq!(format_timestamp_ms(1_796_140_800_123), "2026-12-01T16:00:00.123Z");
    }
}
