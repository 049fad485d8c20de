//! Presets: what every device matching a precondition should look like.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use cwmp_script::cron::Cron;

use super::declare::{Declaration, Desired, Freshness};
use super::expr::Expr;
use super::pseudo;
use crate::store::Millis;

/// A daily time window (UTC) during which a preset applies, optionally on some weekdays only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Window {
    /// `HH:MM`, inclusive.
    pub start: String,
    /// `HH:MM`, exclusive; before `start` means the window crosses midnight.
    pub end: String,
    /// ISO weekdays (1 = Monday … 7 = Sunday); empty = every day.
    #[serde(default)]
    pub weekdays: Vec<u8>,
}

fn minutes(text: &str) -> Result<u32, String> {
    let (h, m) = text.split_once(':').ok_or_else(|| format!("{text:?} is not HH:MM"))?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| format!("{text:?} is not HH:MM"))?,
        m.parse().map_err(|_| format!("{text:?} is not HH:MM"))?,
    );
    if h > 23 || m > 59 {
        return Err(format!("{text:?} is not a time of day"));
    }
    Ok(h * 60 + m)
}

impl Window {
    fn validate(&self) -> Result<(), String> {
        minutes(&self.start)?;
        minutes(&self.end)?;
        if self.weekdays.iter().any(|d| !(1..=7).contains(d)) {
            return Err("weekdays are 1 (Monday) to 7 (Sunday)".into());
        }
        Ok(())
    }

    /// Whether `now` (Unix ms) falls in the window.
    pub fn contains(&self, now: Millis) -> bool {
        let (Ok(start), Ok(end)) = (minutes(&self.start), minutes(&self.end)) else { return false };
        let secs = now.div_euclid(1000);
        let minute = (secs.rem_euclid(86_400) / 60) as u32;
        // 1970-01-01 was a Thursday (ISO 4).
        let weekday = ((secs.div_euclid(86_400) + 3).rem_euclid(7) + 1) as u8;
        let (in_window, day) = if start <= end {
            (minute >= start && minute < end, weekday)
        } else if minute >= start {
            (true, weekday)
        } else {
            // After midnight in a window that began the day before.
            (minute < end, if weekday == 1 { 7 } else { weekday - 1 })
        };
        in_window && (self.weekdays.is_empty() || self.weekdays.contains(&day))
    }
}

/// When a preset applies: a daily window of ours, or GenieACS's `"<seconds> <cron>"` (the
/// preset applies for `seconds` after each time the cron expression matches, UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Window(Window),
    Cron(String),
}

impl Schedule {
    /// GenieACS's form: the duration in seconds and the cron expression.
    fn cron(text: &str) -> Result<(u64, Cron), String> {
        let text = text.trim();
        let (duration, expression) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let duration: u64 = duration
            .parse()
            .map_err(|_| format!("schedule {text:?}: expected \"<duration in seconds> <cron expression>\""))?;
        let cron = Cron::parse(expression).map_err(|e| format!("schedule {text:?}: {e}"))?;
        Ok((duration, cron))
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Schedule::Window(w) => w.validate(),
            Schedule::Cron(text) => Schedule::cron(text).map(|_| ()),
        }
    }

    /// Whether `now` (Unix ms) falls in the schedule.
    pub fn contains(&self, now: Millis) -> bool {
        match self {
            Schedule::Window(w) => w.contains(now),
            Schedule::Cron(text) => Schedule::cron(text)
                .ok()
                .and_then(|(duration, cron)| Some(cron.prev(now)? + (duration as Millis) * 1000))
                .is_some_and(|end| end > now),
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Schedule::Window(w) => w.serialize(s),
            Schedule::Cron(text) => s.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Schedule, D::Error> {
        use serde::de::Error;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(text) => Ok(Schedule::Cron(text)),
            v @ serde_json::Value::Object(_) => {
                serde_json::from_value(v).map(Schedule::Window).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom(
                "a schedule is {\"start\", \"end\", \"weekdays\"} or GenieACS's \"<seconds> <cron expression>\"",
            )),
        }
    }
}

/// Which sessions a preset applies to, by the events of their Inform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Events {
    /// Every session.
    #[default]
    Any,
    /// Ours (`["0 BOOTSTRAP", "1 BOOT"]`): sessions with at least one of these.
    OneOf(Vec<String>),
    /// GenieACS's (`{"0 BOOTSTRAP": true, "1 BOOT": false}`): sessions with every event
    /// marked `true` and none marked `false`.
    Match(BTreeMap<String, bool>),
}

impl Events {
    /// GenieACS's older text form: `"0 BOOTSTRAP, -1 BOOT"` (a `-` excludes the event).
    fn from_text(text: &str) -> Events {
        let mut map = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match item.strip_prefix('-') {
                Some(code) => map.insert(code.trim().to_owned(), false),
                None => map.insert(item.to_owned(), true),
            };
        }
        if map.is_empty() { Events::Any } else { Events::Match(map) }
    }

    /// Whether a session whose Inform carries `events` matches. Codes compare as GenieACS
    /// compares them, by their `Events.` node (`0 BOOTSTRAP` is `0_BOOTSTRAP`).
    pub fn matches(&self, events: &[String]) -> bool {
        let has = |code: &str| events.iter().any(|e| pseudo::event_node(e) == pseudo::event_node(code));
        match self {
            Events::Any => true,
            Events::OneOf(codes) => codes.iter().any(|c| has(c)),
            Events::Match(map) => map.iter().all(|(code, wanted)| has(code) == *wanted),
        }
    }

    fn is_any(&self) -> bool {
        *self == Events::Any
    }
}

impl Serialize for Events {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Events::Any => Vec::<String>::new().serialize(s),
            Events::OneOf(codes) => codes.serialize(s),
            Events::Match(map) => map.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Events {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Events, D::Error> {
        use serde::de::Error;
        let invalid =
            || D::Error::custom("events are a list of event codes, an object of codes to true/false, or text");
        Ok(match serde_json::Value::deserialize(d)? {
            serde_json::Value::Null => Events::Any,
            serde_json::Value::String(text) => Events::from_text(&text),
            serde_json::Value::Array(items) => {
                let codes: Vec<String> = items
                    .into_iter()
                    .map(|i| i.as_str().map(String::from))
                    .collect::<Option<_>>()
                    .ok_or_else(invalid)?;
                if codes.is_empty() { Events::Any } else { Events::OneOf(codes) }
            }
            serde_json::Value::Object(map) => {
                let map: BTreeMap<String, bool> = map
                    .into_iter()
                    .map(|(k, v)| v.as_bool().map(|b| (k, b)))
                    .collect::<Option<_>>()
                    .ok_or_else(invalid)?;
                if map.is_empty() { Events::Any } else { Events::Match(map) }
            }
            _ => return Err(invalid()),
        })
    }
}

/// One thing a preset asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum Configuration {
    /// A parameter value (type from the device's tree unless given).
    #[serde(rename_all = "camelCase")]
    Value {
        path: String,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value_type: Option<String>,
    },
    AddTag {
        tag: String,
    },
    DeleteTag {
        tag: String,
    },
    /// Re-read a subtree or parameter when the ACS's copy is older than `age` seconds.
    Refresh {
        path: String,
        age: u64,
    },
    /// `count` instances of `path` (a table, ending in `.`) whose `keys` have these values,
    /// with `values` set inside them; extra matching instances are deleted.
    #[serde(rename_all = "camelCase")]
    Instances {
        path: String,
        keys: BTreeMap<String, String>,
        #[serde(default = "one")]
        count: u32,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        values: BTreeMap<String, String>,
    },
    /// Download `file` (from the ACS's files) when `versionParameter` (default
    /// `<root>DeviceInfo.SoftwareVersion`) differs from `version`.
    #[serde(rename_all = "camelCase")]
    Firmware {
        version: String,
        file: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version_parameter: Option<String>,
    },
    /// Run a provision script with arguments.
    Provision {
        name: String,
        #[serde(default)]
        args: Vec<serde_json::Value>,
    },
}

fn one() -> u32 {
    1
}

fn default_channel() -> String {
    "default".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    /// Faults are recorded, retried and cleared per channel; a failing channel never blocks
    /// the others.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// Presets apply in weight order; on a conflict the heavier one wins.
    #[serde(default)]
    pub weight: i32,
    /// See [`Expr`]; empty = every device.
    #[serde(default)]
    pub precondition: String,
    /// Which sessions it applies to, by the events of their Inform.
    #[serde(default, skip_serializing_if = "Events::is_any")]
    pub events: Events,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    pub configurations: Vec<Configuration>,
}

/// A firmware goal of a matching preset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareGoal {
    pub channel: String,
    pub version: String,
    pub file: String,
    pub version_parameter: String,
}

/// A provision script to run with arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptCall {
    pub channel: String,
    pub name: String,
    pub args: Vec<serde_json::Value>,
}

impl Preset {
    /// Checks the preset and returns its parsed precondition.
    pub fn validate(&self) -> Result<Expr, String> {
        if self.name.is_empty() || self.name.len() > 128 {
            return Err("name must be 1 to 128 characters".into());
        }
        if self.channel.is_empty() {
            return Err("channel must not be empty".into());
        }
        if let Some(s) = &self.schedule {
            s.validate()?;
        }
        for c in &self.configurations {
            match c {
                Configuration::Value { path, .. } if path.ends_with('.') => {
                    return Err(format!("{path:?}: a value goes on a parameter, not an object"));
                }
                Configuration::Instances { path, keys, .. } => {
                    if !path.ends_with('.') {
                        return Err(format!("{path:?}: instances need a table path ending in '.'"));
                    }
                    if keys.is_empty() {
                        return Err(format!("{path:?}: instances need at least one key"));
                    }
                }
                Configuration::AddTag { tag } | Configuration::DeleteTag { tag } if tag.is_empty() => {
                    return Err("empty tag".into());
                }
                _ => {}
            }
        }
        Expr::parse(&self.precondition).map_err(|e| format!("precondition: {e}"))
    }

    /// Whether the session's events and time allow the preset (its precondition aside).
    pub fn may_apply(&self, events: &[String], now: Millis) -> bool {
        self.events.matches(events) && self.schedule.as_ref().is_none_or(|s| s.contains(now))
    }

    /// Whether applying the preset runs scripts (provisions, virtual parameters).
    pub fn may_run_scripts(&self) -> bool {
        self.configurations.iter().any(|c| match c {
            Configuration::Provision { .. } => true,
            Configuration::Value { path, .. } | Configuration::Refresh { path, .. } => {
                path.starts_with("VirtualParameters.")
            }
            _ => false,
        })
    }

    /// The declarations, firmware goals and script calls of the preset.
    pub fn expand(&self, root: &str, now: Millis) -> (Vec<Declaration>, Vec<FirmwareGoal>, Vec<ScriptCall>) {
        let channel = &self.channel;
        let mut decls = Vec::new();
        let mut firmware = Vec::new();
        let mut scripts = Vec::new();
        for c in &self.configurations {
            match c {
                Configuration::Value { path, value, value_type } => {
                    decls.push(Declaration::value(channel, path, value, value_type.as_deref()))
                }
                Configuration::AddTag { tag } => {
                    decls.push(Declaration::value(channel, &format!("Tags.{tag}"), "true", None))
                }
                Configuration::DeleteTag { tag } => {
                    decls.push(Declaration::value(channel, &format!("Tags.{tag}"), "false", None))
                }
                Configuration::Refresh { path, age } => {
                    decls.push(Declaration::refresh(channel, path, now - (*age as Millis) * 1000));
                }
                Configuration::Instances { path, keys, count, values } => {
                    let filter: Vec<String> = keys.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    let selector = format!("{path}[{}]", filter.join(","));
                    decls.push(Declaration::instances(channel, &selector, *count, *count));
                    for (name, value) in values {
                        decls.push(Declaration {
                            channel: channel.clone(),
                            path: format!("{selector}.{name}"),
                            freshness: Freshness::default(),
                            desired: Desired { value: Some((value.clone(), None)), ..Desired::default() },
                            batch: 0,
                        });
                    }
                }
                Configuration::Firmware { version, file, version_parameter } => {
                    let version_parameter =
                        version_parameter.clone().unwrap_or_else(|| format!("{root}DeviceInfo.SoftwareVersion"));
                    decls.push(Declaration::refresh(channel, &version_parameter, 1));
                    firmware.push(FirmwareGoal {
                        channel: channel.clone(),
                        version: version.clone(),
                        file: file.clone(),
                        version_parameter,
                    });
                }
                Configuration::Provision { name, args } => {
                    scripts.push(ScriptCall { channel: channel.clone(), name: name.clone(), args: args.clone() })
                }
            }
        }
        (decls, firmware, scripts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape() {
        let p: Preset = serde_json::from_str(
            r#"{"name": "inform", "precondition": "DeviceID.ProductClass = \"Box\"", "configurations": [
                {"type": "value", "path": "Device.ManagementServer.PeriodicInformInterval", "value": "300"},
                {"type": "addTag", "tag": "managed"},
                {"type": "refresh", "path": "Device.DeviceInfo.", "age": 3600},
                {"type": "instances", "path": "Device.NAT.PortMapping.", "keys": {"ExternalPort": "8080"}, "values": {"Enable": "true"}},
                {"type": "firmware", "version": "2.0", "file": "fw-2.0.bin"},
                {"type": "provision", "name": "wifi", "args": ["guest"]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(p.channel, "default");
        p.validate().unwrap();
        let (decls, firmware, scripts) = p.expand("Device.", 10_000_000);
        assert_eq!(decls.len(), 6);
        assert_eq!(decls[4].path, "Device.NAT.PortMapping.[ExternalPort:8080].Enable");
        assert_eq!(firmware[0].version_parameter, "Device.DeviceInfo.SoftwareVersion");
        assert_eq!(scripts[0].args, vec![serde_json::json!("guest")]);
        assert!(serde_json::from_str::<Preset>(r#"{"name":"x","configurations":[{"type":"bogus"}]}"#).is_err());
    }

    #[test]
    fn validation_errors_are_clear() {
        let mut p: Preset =
            serde_json::from_str(r#"{"name": "x", "precondition": "Device.A = ", "configurations": []}"#).unwrap();
        assert_eq!(p.validate().unwrap_err(), "precondition: expected a value at position 11");
        p.precondition.clear();
        p.schedule = Some(Schedule::Window(Window { start: "25:00".into(), end: "01:00".into(), weekdays: vec![] }));
        assert!(p.validate().unwrap_err().contains("time of day"));
    }

    #[test]
    fn schedules() {
        // 2026-12-01T23:30:00Z is a Tuesday.
        let tue_2330 = 1_796_167_800_000;
        let night = Window { start: "23:00".into(), end: "02:00".into(), weekdays: vec![] };
        assert!(night.contains(tue_2330));
        assert!(night.contains(tue_2330 + 2 * 3_600_000));
        assert!(!night.contains(tue_2330 + 3 * 3_600_000));
        let tuesday_only = Window { start: "23:00".into(), end: "02:00".into(), weekdays: vec![2] };
        // 01:30 on Wednesday still belongs to Tuesday's window.
        assert!(tuesday_only.contains(tue_2330 + 2 * 3_600_000));
        let day = Window { start: "09:00".into(), end: "17:00".into(), weekdays: vec![] };
        assert!(!day.contains(tue_2330));
    }
}
