//! Cron expressions as GenieACS reads them, for `Date.now("cron")` in scripts and for the
//! `schedule` of presets: five fields (minute, hour, day of month, month, day of week), or six
//! with seconds first. All times are UTC.
//!
//! A field is `*` (or `?`), a number, a range `a-b`, a step `*/s`, `a-b/s` or `a/s`, or a
//! comma-separated list of these. Months and weekdays may be written as names (`JAN`, `MON`);
//! Sunday is 0 or 7. When both the day of month and the day of week are restricted, a day
//! matching either is a match (as in cron). With five fields every second of a matching
//! minute matches, as in GenieACS (it reads a five-field expression with `*` seconds).

use std::fmt;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Whether the day of month / day of week fields were `*`.
    any_day: bool,
    any_weekday: bool,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError(String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
/// How far back a match is looked for: 28 years hold every weekday of every date.
const SEARCH_DAYS: i64 = 28 * 366;

/// The values one field allows, as a bit set.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<(u64, bool), CronError> {
    let err = |why: String| CronError(format!("{name} field {text:?}: {why}"));
    let number = |s: &str| -> Result<u32, CronError> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if names.len() == 12 { 1 } else { 0 });
        }
        let n: u32 = s.parse().map_err(|_| err(format!("{s:?} is not a number")))?;
        if n < min || n > max {
            return Err(err(format!("{n} is outside {min}-{max}")));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    let mut any = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| err(format!("step {s:?} is not a number")))?;
                if step == 0 {
                    return Err(err("a step of 0".into()));
                }
                (r, Some(step))
            }
            None => (part, None),
        };
        let (lo, hi) = match range {
            "*" | "?" => {
                any = step.is_none() && text.split(',').count() == 1;
                (min, max)
            }
            r => match r.split_once('-') {
                Some((a, b)) => (number(a)?, number(b)?),
                None if step.is_some() => (number(r)?, max),
                None => {
                    let n = number(r)?;
                    (n, n)
                }
            },
        };
        if lo > hi {
            return Err(err(format!("the range {lo}-{hi} is empty")));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step.unwrap_or(1);
        }
    }
    Ok((bits, any))
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let (seconds, rest) = match parts.len() {
            5 => ("*", &parts[..]),
            6 => (parts[0], &parts[1..]),
            n => return Err(CronError(format!("{text:?}: expected 5 or 6 fields, found {n}"))),
        };
        let (seconds, _) = field(seconds, "second", 0, 59, &[])?;
        let (minutes, _) = field(rest[0], "minute", 0, 59, &[])?;
        let (hours, _) = field(rest[1], "hour", 0, 23, &[])?;
        let (days, any_day) = field(rest[2], "day of month", 1, 31, &[])?;
        let (months, _) = field(rest[3], "month", 1, 12, &MONTHS)?;
        let (mut weekdays, any_weekday) = field(rest[4], "day of week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            seconds,
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays & 0x7f) as u8,
            any_day,
            any_weekday,
        })
    }

    fn day_matches(&self, day: i32, month: i32, weekday: i32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let by_day = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        match (self.any_day, self.any_weekday) {
            (false, false) => by_day || by_weekday,
            _ => by_day && by_weekday,
        }
    }

    /// The last matching second at or before `ms` (ms since the epoch, UTC), in ms; `None`
    /// when nothing matched in the 28 years before.
    pub fn prev(&self, ms: i64) -> Option<i64> {
        let secs = ms.div_euclid(1000);
        let today = secs.div_euclid(86_400);
        let mut limit = secs.rem_euclid(86_400);
        for day in (today - SEARCH_DAYS..=today).rev() {
            let (_, m, d) = civil(day);
            // 1970-01-01 was a Thursday (4).
            let weekday = (day + 4).rem_euclid(7) as i32;
            if self.day_matches(d, m, weekday)
                && let Some(second) = self.last_second_of_day(limit)
            {
                return Some((day * 86_400 + second) * 1000);
            }
            limit = 86_399;
        }
        None
    }

    /// The last matching second of a day at or before `limit` (seconds into the day).
    fn last_second_of_day(&self, limit: i64) -> Option<i64> {
        let (lh, lm, ls) = (limit / 3600, limit / 60 % 60, limit % 60);
        for h in (0..=lh).rev() {
            if self.hours & (1 << h) == 0 {
                continue;
            }
            let max_m = if h == lh { lm } else { 59 };
            for m in (0..=max_m).rev() {
                if self.minutes & (1 << m) == 0 {
                    continue;
                }
                let max_s = if h == lh && m == lm { ls } else { 59 };
                if let Some(s) = (0..=max_s).rev().find(|s| self.seconds & (1 << s) != 0) {
                    return Some(h * 3600 + m * 60 + s);
                }
            }
        }
        None
    }
}

/// Year, month (1-12) and day (1-31) of a day number counted from 1970-01-01 (the civil
/// calendar algorithm of Howard Hinnant's date library).
fn civil(days: i64) -> (i64, i32, i32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as i32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as i32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-01T23:30:15Z, a Tuesday.
    const T: i64 = 1_796_167_815_000;

    fn prev(expr: &str, at: i64) -> i64 {
        Cron::parse(expr).unwrap().prev(at).unwrap()
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(T / 86_400_000), (2026, 12, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn previous_matches() {
        // Five fields: every second of the matching minute.
        assert_eq!(prev("30 23 * * *", T), T);
        assert_eq!(prev("0 2 * * *", T), T - (21 * 3600 + 30 * 60 + 15) * 1000 + 59_000);
        // Six fields: seconds first.
        assert_eq!(prev("0 0 2 * * *", T), T - (21 * 3600 + 30 * 60 + 15) * 1000);
        // Steps, lists, names.
        assert_eq!(prev("0 */5 * * * *", T), T - 15_000);
        assert_eq!(prev("0 0 0 * * MON", T), T - (86_400 + 23 * 3600 + 30 * 60 + 15) * 1000);
        assert_eq!(prev("0 0 0 1 JAN *", T), 1_767_225_600_000); // 2026-01-01
        assert_eq!(prev("0 0 0 29 2 *", T), 1_709_164_800_000); // 2024-02-29
        // Day of month or day of week, when both are restricted.
        assert_eq!(prev("0 0 0 15 * 2", T), T - (23 * 3600 + 30 * 60 + 15) * 1000); // Tuesday 1st
        assert_eq!(prev("0 0 0 * * 7", T), prev("0 0 0 * * 0", T));
    }

    #[test]
    fn invalid_expressions_say_why() {
        for (expr, needle) in [
            ("* * * *", "expected 5 or 6 fields"),
            ("61 * * * *", "minute field"),
            ("* 24 * * *", "outside 0-23"),
            ("* * * FOO *", "not a number"),
            ("*/0 * * * *", "step of 0"),
            ("5-1 * * * *", "empty"),
            ("L * * * *", "not a number"),
        ] {
            let e = Cron::parse(expr).unwrap_err().to_string();
            assert!(e.contains(needle), "{expr}: {e}");
        }
        assert_eq!(Cron::parse("0 0 31 2 *").unwrap().prev(T), None);
    }
}
