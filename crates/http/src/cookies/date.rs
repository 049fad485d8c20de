//! The cookie-date algorithm of RFC 6265 §5.1.1, which also reads Netscape-style dates
//! (`Wednesday, 09-Nov-99 23:12:40 GMT`) that older ACSs send (TR-069 3.4.2).

/// Unix seconds for a cookie date, or `None` if it is not one. Dates before 1970 give
/// negative values.
pub(super) fn parse_cookie_date(input: &str) -> Option<i64> {
    let mut time = None;
    let mut day = None;
    let mut month = None;
    let mut year = None;
    for token in input.split(is_delimiter).filter(|t| !t.is_empty()) {
        if time.is_none()
            && let Some(t) = parse_time(token)
        {
            time = Some(t);
        } else if day.is_none()
            && let Some(d) = leading_digits(token, 1, 2)
        {
            day = Some(d);
        } else if month.is_none()
            && let Some(m) = parse_month(token)
        {
            month = Some(m);
        } else if year.is_none()
            && let Some(y) = leading_digits(token, 2, 4)
        {
            year = Some(y);
        }
    }
    let (hour, minute, second) = time?;
    let (day, month, mut year) = (day?, month?, year?);
    if (70..=99).contains(&year) {
        year += 1900;
    } else if year <= 69 {
        year += 2000;
    }
    if !(1..=31).contains(&day) || year < 1601 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    Some(days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
}

fn is_delimiter(c: char) -> bool {
    matches!(c, '\t' | ' '..='/' | ';'..='@' | '['..='`' | '{'..='~')
}

/// `min..=max` digits at the start of `token`, followed by nothing or a non-digit.
fn leading_digits(token: &str, min: usize, max: usize) -> Option<u32> {
    let n = token.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max {
        return None;
    }
    token[..n].parse().ok()
}

/// `hms-time = time-field ":" time-field ":" time-field` with 1–2 digit fields, followed by
/// nothing or a non-digit.
fn parse_time(token: &str) -> Option<(u32, u32, u32)> {
    let mut fields = token.splitn(3, ':');
    let h = fields.next()?;
    let m = fields.next()?;
    let s = fields.next()?;
    let whole = |f: &str| (1..=2).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit());
    if !whole(h) || !whole(m) {
        return None;
    }
    Some((h.parse().ok()?, m.parse().ok()?, leading_digits(s, 1, 2)?))
}

fn parse_month(token: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let prefix = token.get(..3)?;
    MONTHS.iter().position(|m| m.eq_ignore_ascii_case(prefix)).and_then(|i| u32::try_from(i + 1).ok())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_formats() {
        // RFC 1123, RFC 850 (Netscape), asctime.
        assert_eq!(parse_cookie_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_cookie_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_cookie_date("Sun Nov  6 08:49:37 1994"), Some(784_111_777));
        assert_eq!(parse_cookie_date("Wed, 09 Jun 2021 10:18:14 GMT"), Some(1_623_233_894));
        assert_eq!(parse_cookie_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_cookie_date("Wednesday, 31-Dec-69 23:59:59 GMT"), Some(3_155_759_999));
        assert_eq!(parse_cookie_date("Tue, 29 Feb 2000 12:00:00 GMT"), Some(951_825_600));
        assert_eq!(parse_cookie_date("Fri, 01 Jan 1960 00:00:00 GMT"), Some(-315_619_200));
    }

    #[test]
    fn invalid_dates() {
        for bad in [
            "",
            "garbage",
            "Sun, 06 Nov 1994",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Thu, 29 Feb 2001 00:00:00 GMT",
            "Sun, 06 Nov 1500 08:49:37 GMT",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:377 GMT",
        ] {
            assert_eq!(parse_cookie_date(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_cookie_date(&s);
        }
    }
}
