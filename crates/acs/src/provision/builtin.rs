//! GenieACS's built-in provisions, which a preset names like a provision script
//! (`{"type": "provision", "name": "refresh", "args": ["Device.DeviceInfo.", 3600]}`) and which
//! run when no provision script of that name exists:
//!
//! | Name and arguments | Declares |
//! | --- | --- |
//! | `refresh(path[, seconds])` | `path` and everything below it read again every `seconds` (default 1), at a per-device offset |
//! | `value(path, value)`, `value(path, attribute, value)` | the value (or `notification`, `accessList` as comma-separated text) of `path` |
//! | `tag(tag, bool)` | the device has, or has not, the tag |
//! | `reboot()`, `reset()` | a Reboot or FactoryReset in every session the preset applies to |
//! | `download(fileType, fileName[, targetFileName])` | a `Downloads.` instance for the file, downloaded in this session |
//! | `instances(path, count)` | exactly `count` instances match `path` |

use serde_json::Value as Json;

use super::declare::{Declaration, Desired, Freshness};
use crate::store::Millis;

/// The names of the built-in provisions.
pub const NAMES: [&str; 7] = ["refresh", "value", "tag", "reboot", "reset", "download", "instances"];

/// An argument as the text a declaration holds.
fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn string_arg<'a>(args: &'a [Json], i: usize, name: &str, what: &str) -> Result<&'a str, String> {
    match args.get(i) {
        Some(Json::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(format!("{name}: argument {} must be {what}", i + 1)),
    }
}

/// GenieACS's interval start: `trunc((now + offset) / every) * every - offset`.
fn interval(now: Millis, every: Millis, offset: Millis) -> Millis {
    (now + offset).div_euclid(every) * every - offset
}

/// A quoted alias value for `Downloads.[...]`.
fn quoted(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// The declarations of built-in provision `name`, or why its arguments are wrong.
/// `device_offset` is the device's number behind per-device offsets
/// ([`cwmp_script::device_offset_base`]).
pub fn declarations(
    name: &str,
    args: &[Json],
    channel: &str,
    device_offset: u32,
    now: Millis,
) -> Result<Vec<Declaration>, String> {
    let count = |n: usize| {
        if args.len() == n { Ok(()) } else { Err(format!("{name} takes {n} argument(s), not {}", args.len())) }
    };
    let decl = |path: String, freshness: Freshness, desired: Desired| Declaration {
        channel: channel.to_owned(),
        path,
        freshness,
        desired,
        batch: 0,
    };
    let value = |v: &Json| Desired { value: Some((text(v), None)), ..Desired::default() };
    Ok(match name {
        "refresh" => {
            let path = string_arg(args, 0, name, "a path")?;
            let seconds = match args.get(1) {
                None => 1.0,
                Some(Json::Number(n)) if n.as_f64().is_some_and(|s| s >= 0.0) => n.as_f64().unwrap_or(1.0),
                Some(_) => return Err("refresh: argument 2 must be a number of seconds".into()),
            };
            if args.len() > 2 {
                return Err("refresh: only a path and an interval are supported".into());
            }
            let every = ((seconds * 1000.0) as Millis).max(1000);
            let since = interval(now, every, Millis::from(device_offset) % every);
            vec![Declaration::refresh(channel, path, since)]
        }
        "value" => {
            let path = string_arg(args, 0, name, "a path")?.to_owned();
            match args.len() {
                2 => vec![decl(path, Freshness::default(), value(&args[1]))],
                3 => {
                    let attribute = string_arg(args, 1, name, "value, notification or accessList")?;
                    let desired = match attribute {
                        "value" => value(&args[2]),
                        "notification" => {
                            let n = args[2]
                                .as_i64()
                                .or_else(|| text(&args[2]).parse().ok())
                                .filter(|n| (0..=6).contains(n));
                            let n = n.ok_or("value: a notification is 0 to 6")?;
                            Desired { notification: Some(n as i32), ..Desired::default() }
                        }
                        "accessList" => Desired {
                            access_list: Some(
                                text(&args[2])
                                    .split(',')
                                    .map(str::trim)
                                    .filter(|s| !s.is_empty())
                                    .map(String::from)
                                    .collect(),
                            ),
                            ..Desired::default()
                        },
                        other => return Err(format!("value: cannot set the attribute {other:?}")),
                    };
                    vec![decl(path, Freshness::default(), desired)]
                }
                n => return Err(format!("value takes 2 or 3 arguments, not {n}")),
            }
        }
        "tag" => {
            count(2)?;
            let tag = string_arg(args, 0, name, "a tag")?;
            let Json::Bool(on) = args[1] else { return Err("tag: argument 2 must be true or false".into()) };
            vec![Declaration::value(
                channel,
                &format!("Tags.{}", super::pseudo::encode_name(tag)),
                &on.to_string(),
                None,
            )]
        }
        "reboot" | "reset" => {
            count(0)?;
            let path = if name == "reboot" { "Reboot" } else { "FactoryReset" };
            vec![Declaration::value(channel, path, &now.to_string(), None)]
        }
        "download" => {
            if !(2..=3).contains(&args.len()) {
                return Err(format!("download takes 2 or 3 arguments, not {}", args.len()));
            }
            let file_type = string_arg(args, 0, name, "a file type")?;
            let file_name = string_arg(args, 1, name, "a file name")?;
            let target = match args.get(2) {
                None => "",
                Some(Json::String(s)) => s,
                Some(_) => return Err("download: argument 3 must be a file name".into()),
            };
            let alias = format!(
                "Downloads.[FileType:{},FileName:{},TargetFileName:{}]",
                quoted(file_type),
                quoted(file_name),
                quoted(target)
            );
            vec![
                decl(alias.clone(), Freshness::default(), Desired { count: Some((1, 1)), ..Desired::default() }),
                Declaration::value(channel, &format!("{alias}.Download"), &now.to_string(), None),
            ]
        }
        "instances" => {
            count(2)?;
            let path = string_arg(args, 0, name, "a path")?;
            let n = match &args[1] {
                Json::Number(n) => n.as_u64(),
                Json::String(s) if !s.starts_with(['+', '-']) => s.parse().ok(),
                Json::String(_) => return Err("instances: relative counts (\"+1\", \"-1\") are not supported".into()),
                _ => None,
            };
            let n = n.and_then(|n| u32::try_from(n).ok()).ok_or("instances: argument 2 must be a count")?;
            vec![Declaration::instances(channel, path, n, n)]
        }
        other => return Err(format!("{other} is not a built-in provision")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decls(name: &str, args: Json) -> Result<Vec<Declaration>, String> {
        declarations(name, args.as_array().unwrap(), "c", 1_000_123, 10_000_000_000)
    }

    #[test]
    fn each_builtin() {
        let r = decls("refresh", json!(["Device.DeviceInfo.", 3600])).unwrap();
        // The hourly interval started at a per-device offset (1_000_123 ms % 1 h).
        let since = r[0].freshness.value.unwrap();
        assert_eq!((since + 1_000_123) % 3_600_000, 0);
        assert!(since <= 10_000_000_000 && 10_000_000_000 - since < 3_600_000);
        let v = decls("value", json!(["Device.X", 300])).unwrap();
        assert_eq!(v[0].desired.value, Some(("300".into(), None)));
        let a = decls("value", json!(["Device.X", "accessList", "Subscriber, "])).unwrap();
        assert_eq!(a[0].desired.access_list, Some(vec!["Subscriber".to_string()]));
        let t = decls("tag", json!(["my tag", false])).unwrap();
        assert_eq!((t[0].path.as_str(), t[0].desired.value.clone()), ("Tags.my0x20tag", Some(("false".into(), None))));
        assert_eq!(decls("reboot", json!([])).unwrap()[0].path, "Reboot");
        assert_eq!(decls("reset", json!([])).unwrap()[0].path, "FactoryReset");
        let d = decls("download", json!(["1 Firmware Upgrade Image", "fw, \"2\".bin"])).unwrap();
        assert_eq!(
            d[0].path,
            r#"Downloads.[FileType:"1 Firmware Upgrade Image",FileName:"fw, \"2\".bin",TargetFileName:""]"#
        );
        assert!(crate::provision::snapshot::parse_query(&d[1].path).is_ok());
        assert_eq!(decls("instances", json!(["Device.X.*", "2"])).unwrap()[0].desired.count, Some((2, 2)));
    }

    #[test]
    fn wrong_arguments_say_what() {
        for (name, args, needle) in [
            ("refresh", json!([]), "argument 1 must be a path"),
            ("refresh", json!(["A", "x"]), "seconds"),
            ("value", json!(["A"]), "2 or 3"),
            ("value", json!(["A", "notification", 9]), "0 to 6"),
            ("tag", json!(["x", "yes"]), "true or false"),
            ("reboot", json!([1]), "0 argument"),
            ("instances", json!(["A.*", "+1"]), "relative"),
            ("nope", json!([]), "not a built-in"),
        ] {
            let e = decls(name, args).unwrap_err();
            assert!(e.contains(needle), "{name}: {e}");
        }
    }
}
