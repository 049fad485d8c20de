//! `declare()` and `clear()` arguments, checked and converted from JavaScript.
//!
//! GenieACS's forms are accepted: `attrTimestamps` and `attrValues` may be `null` or
//! `undefined`; a value is a scalar or `[value, type]`; an instance count is `n` or
//! `[min, max]`; timestamps are numbers (ms since the epoch) or `Date`s. Anything else
//! (an unknown attribute, an object as a value, a negative count...) is refused, because
//! GenieACS would silently ignore it and the operator would never know.

use rquickjs::function::This;
use rquickjs::{Ctx, Exception, Function, Object, Value};
use serde_json::{Number, Value as Json};

/// One `declare(path, attrTimestamps, attrValues)` call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Declaration {
    /// The path as the script wrote it (wildcards and alias filters included).
    pub path: String,
    /// How fresh each attribute must be (`attrTimestamps`).
    pub timestamps: AttrTimestamps,
    /// What each attribute should be (`attrValues`).
    pub values: AttrValues,
    /// Number of `commit()` calls before this declaration: the planner applies the
    /// declarations of batch 0 before those of batch 1, and so on.
    pub batch: u32,
}

/// `attrTimestamps`: the attribute must have been refreshed from the device at or after this
/// time (ms since the epoch). `None` where the script gave none; GenieACS treats a missing
/// `path` as 1 (known at all) and the attributes that have a declared value as 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttrTimestamps {
    /// Presence of the matching nodes (instance discovery).
    pub path: Option<i64>,
    /// Whether the node is an object.
    pub object: Option<i64>,
    /// Writable attribute.
    pub writable: Option<i64>,
    /// Value.
    pub value: Option<i64>,
    /// Notification attribute.
    pub notification: Option<i64>,
    /// AccessList attribute.
    pub access_list: Option<i64>,
}

/// `attrValues`: what the attributes of every matching node should be.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttrValues {
    /// The value (string, number or boolean; a `Date` becomes its ISO 8601 UTC text with the
    /// type `xsd:dateTime`) and the type, when the script gave `[value, type]`. Without a type
    /// the planner converts the value to the parameter's type.
    pub value: Option<(Json, Option<String>)>,
    /// Number of instances matching the path, `min..=max` (a number `n` means `n..=n`): the
    /// planner adds or deletes instances to get within the range.
    pub path: Option<(u32, u32)>,
    /// Notification attribute, 0-6.
    pub notification: Option<i32>,
    /// AccessList attribute.
    pub access_list: Option<Vec<String>>,
    /// Writable (only meaningful for virtual parameters and the ACS's own trees).
    pub writable: Option<bool>,
}

impl Declaration {
    /// Approximate host memory the declaration holds, for the run's memory budget.
    pub(crate) fn host_bytes(&self) -> usize {
        let value = self.values.value.as_ref().map_or(0, |(v, t)| json_bytes(v) + t.as_ref().map_or(0, String::len));
        let access_list = self.values.access_list.as_ref().map_or(0, |l| l.iter().map(|s| s.len() + 24).sum());
        std::mem::size_of::<Declaration>() + self.path.len() + value + access_list
    }
}

/// Heap bytes of a scalar JSON value (strings are the only ones with a heap part).
fn json_bytes(value: &Json) -> usize {
    match value {
        Json::String(s) => s.len(),
        _ => 0,
    }
}

/// Longest path accepted, in bytes (TR-069 paths are at most 256 characters; alias filters
/// make GenieACS paths longer).
const MAX_PATH: usize = 4096;
/// Longest `xsd` type name accepted.
const MAX_TYPE: usize = 64;
/// Largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Why arguments were refused.
#[derive(Debug)]
pub(crate) enum ArgError {
    /// They mean nothing: the run fails with [`ScriptError::InvalidDeclaration`](crate::ScriptError).
    Invalid(String),
    /// Reading them ran JavaScript (a getter, `getTime`) that threw, or was interrupted: the
    /// exception is pending and goes on to the script, like any other.
    Js(rquickjs::Error),
}

impl From<rquickjs::Error> for ArgError {
    fn from(error: rquickjs::Error) -> ArgError {
        ArgError::Js(error)
    }
}

impl From<String> for ArgError {
    fn from(message: String) -> ArgError {
        ArgError::Invalid(message)
    }
}

impl From<&str> for ArgError {
    fn from(message: &str) -> ArgError {
        ArgError::Invalid(message.into())
    }
}

impl ArgError {
    /// Prefixes the message of an invalid argument.
    fn within(self, prefix: impl std::fmt::Display) -> ArgError {
        match self {
            ArgError::Invalid(message) => ArgError::Invalid(format!("{prefix}{message}")),
            js => js,
        }
    }
}

/// Converts the arguments of `declare()`. `date` is the sandbox's original `Date` constructor.
pub(crate) fn declaration<'js>(
    ctx: &Ctx<'js>,
    date: &Value<'js>,
    path: &Value<'js>,
    timestamps: &Value<'js>,
    values: &Value<'js>,
    batch: u32,
) -> Result<Declaration, ArgError> {
    let path = path_argument(path, "declare")?;
    let prefix = format!("declare({path:?}): ");
    let timestamps = attr_timestamps(ctx, date, timestamps).map_err(|e| e.within(&prefix))?;
    let values = attr_values(ctx, date, values).map_err(|e| e.within(&prefix))?;
    Ok(Declaration { path, timestamps, values, batch })
}

/// One `clear(path, timestamp, attrTimestamps)` call: the ACS forgets what it knows at and
/// below `path` (its existence, and so everything about it) that was learnt before
/// `timestamp`, and, for the nodes at `path` itself, each attribute named in `attributes`
/// that was read before the time given for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clear {
    pub path: String,
    /// 0 when the script gave none (only `attributes` then apply).
    pub timestamp: i64,
    pub attributes: Option<AttrTimestamps>,
}

/// Converts the arguments of `clear(path, timestamp, attrTimestamps)`.
pub(crate) fn clear<'js>(
    ctx: &Ctx<'js>,
    date: &Value<'js>,
    path: &Value<'js>,
    timestamp: &Value<'js>,
    attributes: &Value<'js>,
) -> Result<Clear, ArgError> {
    let path = path_argument(path, "clear")?;
    let prefix = format!("clear({path:?}): ");
    let timestamp = if timestamp.is_undefined() || timestamp.is_null() {
        0
    } else {
        timestamp_of(ctx, date, timestamp).map_err(|e| e.within(format!("{prefix}timestamp ")))?
    };
    let attributes = if attributes.is_undefined() || attributes.is_null() {
        None
    } else {
        Some(attr_timestamps(ctx, date, attributes).map_err(|e| e.within(&prefix))?)
    };
    if timestamp == 0 && attributes.is_none() {
        return Err(format!("{prefix}give a timestamp, attribute timestamps or both").into());
    }
    Ok(Clear { path, timestamp, attributes })
}

/// The path argument of `function` (`declare` or `clear`).
fn path_argument(path: &Value<'_>, function: &str) -> Result<String, ArgError> {
    let Some(text) = path.as_string() else {
        return Err(format!("{function}(): the path must be a string, not {}", type_name(path)).into());
    };
    let text = text.to_string()?;
    if text.trim().is_empty() {
        return Err(format!("{function}(): the path is empty").into());
    }
    if text.len() > MAX_PATH {
        return Err(format!("{function}(): the path is longer than {MAX_PATH} bytes").into());
    }
    Ok(text)
}

/// `null`/`undefined` as "no attributes"; otherwise a plain object, iterated by own keys.
fn attributes<'js>(value: &Value<'js>, what: &str) -> Result<Vec<(String, Value<'js>)>, ArgError> {
    if value.is_null() || value.is_undefined() {
        return Ok(Vec::new());
    }
    let Some(object) = value.as_object().filter(|_| !value.is_array() && !value.is_function()) else {
        return Err(format!("{what} must be an object, null or undefined, not {}", type_name(value)).into());
    };
    let mut out = Vec::new();
    for prop in object.props::<String, Value>() {
        let (key, v) = prop?;
        // `{value: undefined}` is how scripts often write "nothing to declare".
        if !v.is_undefined() {
            out.push((key, v));
        }
    }
    Ok(out)
}

fn attr_timestamps<'js>(ctx: &Ctx<'js>, date: &Value<'js>, value: &Value<'js>) -> Result<AttrTimestamps, ArgError> {
    let mut t = AttrTimestamps::default();
    for (key, v) in attributes(value, "attrTimestamps")? {
        let slot = match key.as_str() {
            "path" => &mut t.path,
            "object" => &mut t.object,
            "writable" => &mut t.writable,
            "value" => &mut t.value,
            "notification" => &mut t.notification,
            "accessList" => &mut t.access_list,
            _ => return Err(format!("unknown attribute {key:?} in attrTimestamps").into()),
        };
        *slot = Some(timestamp_of(ctx, date, &v).map_err(|e| e.within(format!("attrTimestamps.{key} ")))?);
    }
    Ok(t)
}

fn attr_values<'js>(ctx: &Ctx<'js>, date: &Value<'js>, value: &Value<'js>) -> Result<AttrValues, ArgError> {
    let mut out = AttrValues::default();
    for (key, v) in attributes(value, "attrValues")? {
        let within = |e: ArgError| e.within(format!("attrValues.{key} "));
        match key.as_str() {
            "value" => out.value = Some(typed_value(ctx, date, &v).map_err(within)?),
            "path" => out.path = Some(instance_count(&v).map_err(within)?),
            "notification" => {
                let n = integer(&v).filter(|n| (0.0..=6.0).contains(n));
                out.notification = Some(n.ok_or_else(|| within("must be an integer from 0 to 6".into()))? as i32);
            }
            "accessList" => out.access_list = Some(access_list(&v).map_err(within)?),
            "writable" => {
                let b = v.as_bool().ok_or_else(|| format!("must be a boolean, not {}", type_name(&v)));
                out.writable = Some(b.map_err(|e| within(e.into()))?);
            }
            "object" => return Err("attrValues.object cannot be declared: it is read-only".into()),
            _ => return Err(format!("unknown attribute {key:?} in attrValues").into()),
        }
    }
    Ok(out)
}

/// A timestamp: a finite number (truncated to whole ms) or a valid `Date`.
fn timestamp_of<'js>(ctx: &Ctx<'js>, date: &Value<'js>, value: &Value<'js>) -> Result<i64, ArgError> {
    let ms = match date_millis(ctx, date, value)? {
        Some(ms) => ms,
        None => value.as_number().ok_or_else(|| format!("must be a number or a Date, not {}", type_name(value)))?,
    };
    if !ms.is_finite() {
        return Err("must be a finite number".into());
    }
    Ok(ms.trunc() as i64)
}

/// The `getTime()` of a `Date`, `None` if `value` is not a `Date`.
fn date_millis<'js>(ctx: &Ctx<'js>, date: &Value<'js>, value: &Value<'js>) -> Result<Option<f64>, ArgError> {
    let Some(object) = value.as_object() else { return Ok(None) };
    if !object.is_instance_of(date) {
        return Ok(None);
    }
    let constructor = date.as_object().ok_or_else(|| Exception::throw_internal(ctx, "Date is not an object"))?;
    let prototype: Object = constructor.get("prototype")?;
    let get_time: Function = prototype.get("getTime")?;
    Ok(Some(get_time.call::<_, f64>((This(value.clone()),))?))
}

/// `value` or `[value]` or `[value, type]`.
fn typed_value<'js>(ctx: &Ctx<'js>, date: &Value<'js>, value: &Value<'js>) -> Result<(Json, Option<String>), ArgError> {
    let Some(array) = value.as_array() else {
        return scalar(ctx, date, value);
    };
    if !(1..=2).contains(&array.len()) {
        return Err(format!("must be a value or [value, type], not an array of {}", array.len()).into());
    }
    let (v, date_type) = scalar(ctx, date, &array.get(0)?)?;
    let kind: Value = array.get(1)?;
    if kind.is_undefined() || kind.is_null() {
        return Ok((v, date_type));
    }
    let Some(kind) = kind.as_string() else {
        return Err(format!("type must be a string like \"xsd:string\", not {}", type_name(&kind)).into());
    };
    let kind = kind.to_string()?;
    if kind.is_empty() || kind.len() > MAX_TYPE || kind.contains(char::is_whitespace) {
        return Err(format!("type {kind:?} is not a type name like \"xsd:string\"").into());
    }
    Ok((v, Some(kind)))
}

/// A string, boolean, finite number or `Date` (which brings the type `xsd:dateTime`).
fn scalar<'js>(ctx: &Ctx<'js>, date: &Value<'js>, value: &Value<'js>) -> Result<(Json, Option<String>), ArgError> {
    if let Some(s) = value.as_string() {
        return Ok((Json::String(s.to_string()?), None));
    }
    if let Some(b) = value.as_bool() {
        return Ok((Json::Bool(b), None));
    }
    if let Some(n) = value.as_number() {
        return Ok((number(n).ok_or("must be a finite number")?, None));
    }
    if let Some(ms) = date_millis(ctx, date, value)? {
        return Ok((Json::String(iso_date_time(ms).ok_or("is an invalid Date")?), Some("xsd:dateTime".into())));
    }
    Err(format!("must be a string, number, boolean, Date or [value, type], not {}", type_name(value)).into())
}

/// A JSON number: integral values within the safe range as integers, others as floats.
fn number(n: f64) -> Option<Json> {
    if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER {
        Some(Json::Number(Number::from(n as i64)))
    } else {
        Number::from_f64(n).map(Json::Number)
    }
}

/// `ms` since the epoch as `YYYY-MM-DDThh:mm:ss[.fff]Z` (no fraction when it is zero).
fn iso_date_time(ms: f64) -> Option<String> {
    if !ms.is_finite() {
        return None;
    }
    let at = jiff::Timestamp::from_millisecond(ms.trunc() as i64).ok()?;
    Some(at.to_string())
}

fn integer(value: &Value<'_>) -> Option<f64> {
    value.as_number().filter(|n| n.is_finite() && n.fract() == 0.0)
}

fn count(value: &Value<'_>) -> Result<u32, ArgError> {
    integer(value)
        .filter(|n| (0.0..=f64::from(u32::MAX)).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| format!("must be a non-negative integer, not {}", describe(value)).into())
}

/// `n` or `[min, max]`.
fn instance_count(value: &Value<'_>) -> Result<(u32, u32), ArgError> {
    let Some(array) = value.as_array() else {
        let n = count(value)?;
        return Ok((n, n));
    };
    if array.len() != 2 {
        return Err(format!("must be a count or [min, max], not an array of {}", array.len()).into());
    }
    let (min, max) = (count(&array.get(0)?)?, count(&array.get(1)?)?);
    if min > max {
        return Err(format!("[{min}, {max}]: min is above max").into());
    }
    Ok((min, max))
}

fn access_list(value: &Value<'_>) -> Result<Vec<String>, ArgError> {
    let Some(array) = value.as_array() else {
        return Err(format!("must be an array of strings, not {}", type_name(value)).into());
    };
    let mut out = Vec::with_capacity(array.len());
    for item in array.iter::<Value>() {
        let item = item?;
        match item.as_string() {
            Some(s) => out.push(s.to_string()?),
            None => return Err(format!("must be an array of strings, not of {}", type_name(&item)).into()),
        }
    }
    Ok(out)
}

fn type_name(value: &Value<'_>) -> &'static str {
    if value.is_array() { "an array" } else { value.type_name() }
}

fn describe(value: &Value<'_>) -> String {
    match value.as_number() {
        Some(n) => n.to_string(),
        None => type_name(value).to_string(),
    }
}
