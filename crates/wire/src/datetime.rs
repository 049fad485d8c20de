//! The CWMP `dateTime` type (TR-069 A.2.1 Table 12, and its notes on unknown and relative
//! times).
//!
//! Four shapes travel on the wire, and two of them differ only by a trailing `Z`:
//! `0001-01-01T00:00:00Z` is the Unknown Time, while `0001-01-01T00:00:00` is the boot
//! instant of a CPE that has no absolute time. Generic time libraries merge them, so the
//! type is an enum (digest trap 6.25).

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil;
use jiff::tz::Offset;

/// A CWMP `dateTime` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateTime {
    /// `0001-01-01T00:00:00Z`: the time is unknown or does not apply.
    Unknown,
    /// An untimezoned value whose year is below 1000: time since the CPE booted, where
    /// `0001-01-01T00:00:00` is the boot instant.
    SinceBoot(Duration),
    /// A timezoned instant, with the offset it was written in (Inform's CurrentTime is local
    /// time with its offset; every other field is UTC).
    Absolute { at: Timestamp, offset: Offset },
    /// An untimezoned value with a real year: not valid where the spec asks for UTC, but
    /// sent by sloppy peers. Kept so it can be flagged and round-trips.
    Floating(civil::DateTime),
}

/// Text that is not a CWMP `dateTime`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid dateTime {0:?}")]
pub struct DateTimeError(pub String);

/// The Unknown Time.
impl Default for DateTime {
    fn default() -> DateTime {
        DateTime::Unknown
    }
}

impl DateTime {
    /// A UTC instant.
    pub fn utc(at: Timestamp) -> DateTime {
        DateTime::Absolute { at, offset: Offset::UTC }
    }

    /// The current UTC time.
    pub fn now_utc() -> DateTime {
        DateTime::utc(Timestamp::now())
    }

    /// The instant, if the value is absolute (timezoned).
    pub fn timestamp(&self) -> Option<Timestamp> {
        match self {
            DateTime::Absolute { at, .. } => Some(*at),
            _ => None,
        }
    }

    /// Parses `YYYY-MM-DDThh:mm:ss[.fraction][Z|(+|-)hh:mm]`.
    pub fn parse(text: &str) -> Result<DateTime, DateTimeError> {
        parse(text).ok_or_else(|| DateTimeError(text.chars().take(64).collect()))
    }
}

fn parse(text: &str) -> Option<DateTime> {
    let b = text.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i32> {
        let s = &b[range];
        s.iter().all(u8::is_ascii_digit).then(|| s.iter().fold(0, |n, d| n * 10 + i32::from(d - b'0')))
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos = 0i32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, d) in frac[..digits].bytes().enumerate().take(9) {
            nanos += i32::from(d - b'0') * 10i32.pow(8 - i as u32);
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" => None,
        "Z" => Some(0),
        tz => {
            let t = tz.as_bytes();
            if t.len() != 6 || t[3] != b':' || !matches!(t[0], b'+' | b'-') {
                return None;
            }
            let h: i32 = tz[1..3].parse().ok()?;
            let m: i32 = tz[4..6].parse().ok()?;
            if h > 14 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            Some(if t[0] == b'-' { -secs } else { secs })
        }
    };
    // XSD allows 24:00:00 for midnight at the end of a day; CWMP peers do not use it.
    let civil = civil::DateTime::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
        i8::try_from(hour).ok()?,
        i8::try_from(minute).ok()?,
        i8::try_from(second).ok()?,
        nanos,
    )
    .ok()?;
    Some(match offset {
        Some(0) if civil == unknown_civil() => DateTime::Unknown,
        Some(secs) => {
            let offset = Offset::from_seconds(secs).ok()?;
            DateTime::Absolute { at: offset.to_timestamp(civil).ok()?, offset }
        }
        None if year < 1000 => {
            let since = civil.duration_since(unknown_civil());
            DateTime::SinceBoot(Duration::try_from(since).ok()?)
        }
        None => DateTime::Floating(civil),
    })
}

fn unknown_civil() -> civil::DateTime {
    civil::date(1, 1, 1).at(0, 0, 0, 0)
}

fn write_civil(f: &mut fmt::Formatter<'_>, dt: civil::DateTime) -> fmt::Result {
    write!(
        f,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )?;
    let nanos = dt.subsec_nanosecond();
    if nanos != 0 {
        let digits = format!("{nanos:09}");
        write!(f, ".{}", digits.trim_end_matches('0'))?;
    }
    Ok(())
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DateTime::Unknown => f.write_str("0001-01-01T00:00:00Z"),
            DateTime::SinceBoot(since) => {
                let since = jiff::SignedDuration::try_from(since).map_err(|_| fmt::Error)?;
                let civil = unknown_civil().checked_add(since).map_err(|_| fmt::Error)?;
                write_civil(f, civil)
            }
            DateTime::Absolute { at, offset } => {
                write_civil(f, offset.to_datetime(at))?;
                let secs = offset.seconds();
                if secs == 0 {
                    f.write_str("Z")
                } else {
                    let sign = if secs < 0 { '-' } else { '+' };
                    let abs = secs.unsigned_abs();
                    write!(f, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
                }
            }
            DateTime::Floating(civil) => write_civil(f, civil),
        }
    }
}

impl std::str::FromStr for DateTime {
    type Err = DateTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(text: &str) -> String {
        DateTime::parse(text).unwrap().to_string()
    }

    #[test]
    fn utc_forms() {
        let z = DateTime::parse("2018-03-01T12:00:00Z").unwrap();
        assert_eq!(DateTime::parse("2018-03-01T12:00:00+00:00").unwrap(), z);
        assert_eq!(DateTime::parse("2018-03-01T12:00:00-00:00").unwrap(), z);
        assert_eq!(z.to_string(), "2018-03-01T12:00:00Z");
        assert_eq!(rt("2018-03-01T12:00:00.123Z"), "2018-03-01T12:00:00.123Z");
    }

    #[test]
    fn unknown_versus_boot() {
        assert_eq!(DateTime::parse("0001-01-01T00:00:00Z").unwrap(), DateTime::Unknown);
        assert_eq!(DateTime::parse("0001-01-01T00:00:00").unwrap(), DateTime::SinceBoot(Duration::ZERO));
        assert_eq!(DateTime::Unknown.to_string(), "0001-01-01T00:00:00Z");
        assert_eq!(DateTime::SinceBoot(Duration::ZERO).to_string(), "0001-01-01T00:00:00");
    }

    #[test]
    fn relative_times() {
        let d = DateTime::parse("0001-01-03T03:04:05").unwrap();
        assert_eq!(d, DateTime::SinceBoot(Duration::from_secs(2 * 86400 + 3 * 3600 + 4 * 60 + 5)));
        assert_eq!(d.to_string(), "0001-01-03T03:04:05");
        assert!(matches!(DateTime::parse("0999-01-01T00:00:00").unwrap(), DateTime::SinceBoot(_)));
        assert!(matches!(DateTime::parse("2018-01-01T00:00:00").unwrap(), DateTime::Floating(_)));
    }

    #[test]
    fn local_time_keeps_its_offset() {
        assert_eq!(rt("2018-03-01T13:00:00+01:00"), "2018-03-01T13:00:00+01:00");
        assert_eq!(rt("2018-03-01T13:00:00-05:30"), "2018-03-01T13:00:00-05:30");
        let a = DateTime::parse("2018-03-01T13:00:00+01:00").unwrap();
        let b = DateTime::parse("2018-03-01T12:00:00Z").unwrap();
        assert_eq!(a.timestamp(), b.timestamp());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2018-03-01",
            "2018-03-01 12:00:00Z",
            "2018-13-01T12:00:00Z",
            "2018-02-30T12:00:00Z",
            "2018-03-01T12:00:00.Z",
            "2018-03-01T12:00:00+1:00",
            "2018-03-01T12:00:00Zjunk",
            "2018-03-01T25:00:00Z",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad:?}");
        }
    }
}
