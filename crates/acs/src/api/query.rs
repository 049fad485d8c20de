//! Reading query strings strictly: every parameter must be known, so a misspelt filter is a
//! 400 rather than a silently unfiltered listing.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{ApiError, ApiResult};
use crate::store::Millis;

/// The decoded `name=value` pairs of a query string.
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default();
        Query { pairs }
    }

    /// Takes the one value of `name`; 400 when it is given more than once.
    pub fn take(&mut self, name: &str) -> ApiResult<Option<String>> {
        let mut found = None;
        let mut i = 0;
        while i < self.pairs.len() {
            if self.pairs[i].0 == name {
                let (_, value) = self.pairs.remove(i);
                if found.replace(value).is_some() {
                    return Err(ApiError::bad(format!("{name} is given more than once")));
                }
            } else {
                i += 1;
            }
        }
        Ok(found)
    }

    /// Takes and parses `name`.
    pub fn take_parsed<T: FromStr>(&mut self, name: &str) -> ApiResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.take(name)? {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e| ApiError::bad(format!("{name}={v:?}: {e}"))),
        }
    }

    /// A flag: present without a value, or `true`/`1`; `false`/`0` turn it off.
    pub fn take_flag(&mut self, name: &str) -> ApiResult<bool> {
        match self.take(name)?.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("") | Some("true") | Some("1") => Ok(true),
            Some(other) => Err(ApiError::bad(format!("{name}={other:?}: expected true or false"))),
        }
    }

    /// A time: Unix milliseconds or an RFC 3339 timestamp.
    pub fn take_time(&mut self, name: &str) -> ApiResult<Option<Millis>> {
        match self.take(name)? {
            None => Ok(None),
            Some(v) => parse_time(&v).map(Some).map_err(|e| ApiError::bad(format!("{name}: {e}"))),
        }
    }

    /// Takes every pair whose name starts with `prefix`, with the prefix removed.
    pub fn take_prefixed(&mut self, prefix: &str) -> Vec<(String, String)> {
        let (taken, rest) = std::mem::take(&mut self.pairs).into_iter().partition(|(name, _)| name.starts_with(prefix));
        self.pairs = rest;
        taken.into_iter().map(|(name, value)| (name[prefix.len()..].to_owned(), value)).collect()
    }

    /// 400 if anything was not taken.
    pub fn finish(self) -> ApiResult<()> {
        match self.pairs.first() {
            None => Ok(()),
            Some((name, _)) => Err(ApiError::bad(format!("unknown query parameter {name:?}"))),
        }
    }
}

/// Unix milliseconds, or RFC 3339 (`2026-01-02T03:04:05Z`).
pub fn parse_time(text: &str) -> Result<Millis, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| format!("{text:?} is neither Unix milliseconds nor an RFC 3339 time"))
}

/// A time in a JSON body: a number of Unix milliseconds or an RFC 3339 string.
pub fn json_time(value: &serde_json::Value, name: &str) -> ApiResult<Option<Millis>> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => {
            n.as_i64().map(Some).ok_or_else(|| ApiError::bad(format!("{name}: not a whole number of milliseconds")))
        }
        serde_json::Value::String(s) => parse_time(s).map(Some).map_err(|e| ApiError::bad(format!("{name}: {e}"))),
        _ => Err(ApiError::bad(format!("{name}: expected milliseconds or an RFC 3339 string"))),
    }
}

/// A request body (at most axum's 2 MB default) whose rejection is a JSON error: 413 when
/// too large, 400 otherwise.
pub struct BodyBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for BodyBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(request, state).await {
            Ok(b) => Ok(BodyBytes(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::TooLarge(e.body_text())),
            Err(e) => Err(ApiError::bad(e.body_text())),
        }
    }
}

/// Parses a JSON body; 400 with serde's message when it does not fit.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::bad("a JSON body is required"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid JSON body: {e}")))
}

/// Parses a path segment that must be a task id.
pub fn task_id(text: &str) -> ApiResult<i64> {
    text.parse().map_err(|_| ApiError::bad(format!("{text:?} is not a task id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_pairs() {
        let mut q = Query::parse(Some("a=1&b=x%20y&param.Device.X=2&param.Device.Y=a+b&flag"));
        assert_eq!(q.take("b").unwrap().as_deref(), Some("x y"));
        assert_eq!(q.take_parsed::<u32>("a").unwrap(), Some(1));
        assert!(q.take_flag("flag").unwrap());
        let params = q.take_prefixed("param.");
        assert_eq!(params, vec![("Device.X".into(), "2".into()), ("Device.Y".into(), "a b".into())]);
        assert!(q.finish().is_ok());

        let mut q = Query::parse(Some("a=1&a=2"));
        assert!(q.take("a").is_err());
        let mut q = Query::parse(Some("limit=x"));
        assert!(q.take_parsed::<u64>("limit").is_err());
        assert!(Query::parse(Some("typo=1")).finish().is_err());
        assert!(Query::parse(Some("f=maybe")).take_flag("f").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000_000));
        assert!(parse_time("yesterday").is_err());
        assert_eq!(json_time(&serde_json::json!(5), "t").unwrap(), Some(5));
        assert_eq!(json_time(&serde_json::Value::Null, "t").unwrap(), None);
        assert!(json_time(&serde_json::json!(true), "t").is_err());
        assert!(json_time(&serde_json::json!(1.5), "t").is_err());
    }
}
