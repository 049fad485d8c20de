//! Parameter values as scripts see them: typed as GenieACS types them.
//!
//! `xsd:boolean` values are booleans, the integer types numbers and `xsd:dateTime` a number of
//! milliseconds since the epoch (GenieACS stores them so, and scripts compare them with
//! `Date.now()`). A value that does not parse as its type stays a string.

use cwmp_wire::DateTime;
use cwmp_wire::types::{parse_bool, parse_int};
use rquickjs::{Ctx, IntoJs, Value};

/// `0001-01-01T00:00:00Z`, TR-069's Unknown Time, in ms since the epoch.
const UNKNOWN_TIME_MS: i64 = -62_135_596_800_000;

/// The JavaScript value of a parameter value of type `kind` (`xsd:boolean` or `boolean`).
pub(crate) fn typed<'js>(ctx: &Ctx<'js>, text: &str, kind: &str) -> rquickjs::Result<Value<'js>> {
    let local = kind.rsplit(':').next().unwrap_or(kind);
    let converted = match local {
        "boolean" => parse_bool(text).map(|b| Value::new_bool(ctx.clone(), b)),
        "int" | "unsignedInt" | "long" => parse_int::<i64>(text).map(|n| Value::new_number(ctx.clone(), n as f64)),
        "unsignedLong" => parse_int::<u64>(text).map(|n| Value::new_number(ctx.clone(), n as f64)),
        "dateTime" => date_time_ms(text).map(|ms| Value::new_number(ctx.clone(), ms as f64)),
        _ => None,
    };
    match converted {
        Some(v) => Ok(v),
        None => text.into_js(ctx),
    }
}

/// A TR-069 dateTime in ms since the epoch, as scripts see it. Untimezoned values are read as
/// UTC; times since boot count from the Unknown Time, as a JavaScript `Date.parse` of them
/// would.
pub fn date_time_ms(text: &str) -> Option<i64> {
    Some(match DateTime::parse(text).ok()? {
        DateTime::Unknown => UNKNOWN_TIME_MS,
        DateTime::SinceBoot(d) => UNKNOWN_TIME_MS + i64::try_from(d.as_millis()).ok()?,
        DateTime::Absolute { at, .. } => at.as_millisecond(),
        DateTime::Floating(civil) => jiff::tz::TimeZone::UTC.to_timestamp(civil).ok()?.as_millisecond(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        assert_eq!(date_time_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(date_time_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(date_time_ms("1970-01-01T00:00:00.250"), Some(250));
        assert_eq!(date_time_ms("0001-01-01T00:00:00Z"), Some(UNKNOWN_TIME_MS));
        assert_eq!(date_time_ms("0001-01-01T00:01:00"), Some(UNKNOWN_TIME_MS + 60_000));
        assert_eq!(date_time_ms("yesterday"), None);
    }
}
