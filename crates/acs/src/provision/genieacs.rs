//! Presets in GenieACS's JSON, turned into ours (`PUT /presets/{name}` accepts both).
//!
//! | GenieACS | Ours |
//! | --- | --- |
//! | `_id` | ignored (the URL names the preset, as in GenieACS) |
//! | `weight` (number or numeric text) | `weight` |
//! | `channel` (empty = `default`) | `channel` |
//! | `precondition`: 1.2 expression text | the same text ([`super::expr`]) |
//! | `precondition`: MongoDB query as JSON text (`{"_tags": "test"}`) | translated to an expression |
//! | `events`: `{"0 BOOTSTRAP": true, "1 BOOT": false}` or `"0 BOOTSTRAP, -1 BOOT"` | [`Events::Match`] |
//! | `schedule`: `"<seconds> <cron>"` | [`Schedule::Cron`] |
//! | `configurations`: `value` with `name`, `age`, `add_tag`, `delete_tag`, `provision` | `value` with `path`, `refresh`, `addTag`, `deleteTag`, `provision` |
//! | `provision` and `provisionArgs` (the UI's form) | one `provision` configuration |
//! | `provisions`: `[["name", ...args]]` | `provision` configurations |
//!
//! What has no translation is refused with the reason: `add_object` and `delete_object` name
//! entries of GenieACS's `objects` collection, which this ACS does not keep; precondition
//! operators such as `$regex`; provision arguments that are expressions rather than values.
//!
//! [`Events::Match`]: super::preset::Events::Match
//! [`Schedule::Cron`]: super::preset::Schedule::Cron

use serde_json::{Map, Value};

use super::expr::{Expr, Literal, Op};
use super::pseudo;

/// Rewrites the GenieACS fields of a preset body into ours, in place. A body already in our
/// form is left as it is.
pub fn normalize_preset(body: &mut Map<String, Value>) -> Result<(), String> {
    body.remove("_id");
    if let Some(weight) = body.get_mut("weight") {
        *weight = Value::from(weight_of(weight)?);
    }
    if body.get("channel").is_some_and(|c| c.is_null() || c.as_str() == Some("")) {
        body.remove("channel");
    }
    match body.get("precondition") {
        Some(Value::Null) => {
            body.remove("precondition");
        }
        Some(Value::String(text)) if text.trim_start().starts_with('{') => {
            let query: Value =
                serde_json::from_str(text).map_err(|e| format!("precondition: not a MongoDB query: {e}"))?;
            let expr = mongo_precondition(&query).map_err(|e| format!("precondition: {e}"))?;
            body.insert("precondition".into(), Value::String(expr.to_string()));
        }
        Some(query @ Value::Object(_)) => {
            let expr = mongo_precondition(query).map_err(|e| format!("precondition: {e}"))?;
            body.insert("precondition".into(), Value::String(expr.to_string()));
        }
        _ => {}
    }
    let mut configurations = match body.remove("configurations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => return Err("configurations must be a list".into()),
    };
    if let Some(provision) = body.remove("provision") {
        let Value::String(name) = provision else { return Err("provision must be a provision name".into()) };
        let args = match body.remove("provisionArgs") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(text)) => super::expr::literal_list(&text).map_err(|e| format!("provisionArgs: {e}"))?,
            Some(_) => return Err("provisionArgs must be text like `\"Device.X\", 300`".into()),
        };
        configurations.push(serde_json::json!({"type": "provision", "name": name, "args": args}));
    }
    if let Some(provisions) = body.remove("provisions") {
        let Value::Array(items) = provisions else { return Err("provisions must be a list of [name, ...args]".into()) };
        for item in items {
            match item.as_array().map(Vec::as_slice) {
                Some([Value::String(name), args @ ..]) => {
                    configurations.push(serde_json::json!({"type": "provision", "name": name, "args": args}))
                }
                _ => return Err("provisions must be a list of [name, ...args]".into()),
            }
        }
    }
    for (i, c) in configurations.iter_mut().enumerate() {
        if let Value::Object(c) = c {
            configuration(c).map_err(|e| format!("configurations[{i}]: {e}"))?;
        }
    }
    body.insert("configurations".into(), Value::Array(configurations));
    Ok(())
}

fn weight_of(weight: &Value) -> Result<i32, String> {
    let invalid = || format!("weight {weight}: a whole number is needed");
    let n = match weight {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        Value::Null => Some(0),
        _ => None,
    };
    n.and_then(|n| i32::try_from(n).ok()).ok_or_else(invalid)
}

/// The text a value configuration holds.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One configuration of GenieACS's older forms, rewritten into ours.
fn configuration(c: &mut Map<String, Value>) -> Result<(), String> {
    let kind = c.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    match kind.as_str() {
        "value" if !c.contains_key("path") && c.contains_key("name") => {
            let path = c.remove("name").unwrap_or_default();
            let value = c.remove("value").ok_or("a value configuration needs a value")?;
            c.insert("path".into(), path);
            c.insert("value".into(), Value::String(text(&value)));
        }
        "value" => {
            if let Some(v) = c.get_mut("value").filter(|v| !v.is_string()) {
                *v = Value::String(text(v));
            }
        }
        "age" => {
            let path = c.remove("name").ok_or("an age configuration needs a name")?;
            let age = c.remove("age").ok_or("an age configuration needs an age")?;
            let seconds = age
                .as_u64()
                .or_else(|| age.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| format!("age {age}: a number of seconds is needed"))?;
            c.insert("type".into(), "refresh".into());
            c.insert("path".into(), path);
            c.insert("age".into(), seconds.into());
        }
        "add_tag" => {
            c.insert("type".into(), "addTag".into());
        }
        "delete_tag" => {
            c.insert("type".into(), "deleteTag".into());
        }
        "add_object" | "delete_object" => {
            return Err(format!(
                "{kind} names an entry of GenieACS's `objects` collection, which this ACS does not keep; \
                 write it as an `instances` configuration with the object's key parameters"
            ));
        }
        "provision" => match c.get("args") {
            None | Some(Value::Null) => {
                c.insert("args".into(), Value::Array(Vec::new()));
            }
            Some(Value::Array(args)) => {
                if let Some(a) = args.iter().find(|a| a.is_array() || a.is_object()) {
                    return Err(format!(
                        "provision argument {a} is an expression; only values (text, numbers, booleans) are supported"
                    ));
                }
            }
            Some(_) => return Err("provision args must be a list".into()),
        },
        _ => {}
    }
    Ok(())
}

/// A precondition in GenieACS's older form, a MongoDB query on the device document, as an
/// expression: parameter paths (with or without `._value`), `_tags`, `Tags.<tag>`, `_id`,
/// `_deviceId._<Field>`, `_lastInform`, `_lastBoot`, `_lastBootstrap`, `_registered`; values
/// compared with `$eq`, `$ne`, `$lt`, `$lte`, `$gt`, `$gte`, `$in`, `$nin`, `$exists`; and
/// `$and`, `$or`, `$nor`. Anything else is refused with what it is.
pub fn mongo_precondition(query: &Value) -> Result<Expr, String> {
    let Value::Object(fields) = query else { return Err(format!("{query}: a query is a JSON object")) };
    let mut parts = Vec::new();
    for (key, value) in fields {
        parts.push(match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let Value::Array(items) = value else { return Err(format!("{key} takes a list of queries")) };
                let exprs = items.iter().map(mongo_precondition).collect::<Result<Vec<_>, _>>()?;
                match key.as_str() {
                    "$and" => all(exprs),
                    "$or" => any(exprs),
                    _ => Expr::Not(Box::new(any(exprs))),
                }
            }
            k if k.starts_with('$') => return Err(format!("operator {k} is not supported at the top of a query")),
            "_tags" => tags(value)?,
            k if k.starts_with("Tags.") => {
                let exists = match value {
                    Value::Bool(b) => *b,
                    Value::Object(ops) => match ops.iter().next() {
                        Some((op, v)) if ops.len() == 1 => match (op.as_str(), v.as_bool()) {
                            ("$eq" | "$exists", Some(b)) => b,
                            ("$ne", Some(b)) => !b,
                            _ => return Err(format!("{k}: only true/false with $eq, $ne or $exists")),
                        },
                        _ => return Err(format!("{k}: only true/false with $eq, $ne or $exists")),
                    },
                    _ => return Err(format!("{k}: only true/false with $eq, $ne or $exists")),
                };
                Expr::IsNull { value: Box::new(Expr::Path(k.to_owned())), negated: exists }
            }
            k => field(&path_of(k)?, value)?,
        });
    }
    Ok(all(parts))
}

fn all(exprs: Vec<Expr>) -> Expr {
    exprs.into_iter().reduce(|a, b| Expr::And(Box::new(a), Box::new(b))).unwrap_or(Expr::Literal(Literal::Bool(true)))
}

fn any(exprs: Vec<Expr>) -> Expr {
    exprs.into_iter().reduce(|a, b| Expr::Or(Box::new(a), Box::new(b))).unwrap_or(Expr::Literal(Literal::Bool(false)))
}

/// The expression path of a device document field.
fn path_of(key: &str) -> Result<String, String> {
    let key = key.strip_suffix("._value").unwrap_or(key);
    let path = match key {
        "_id" => "DeviceID.ID".to_owned(),
        "_deviceId._Manufacturer" => "DeviceID.Manufacturer".to_owned(),
        "_deviceId._OUI" => "DeviceID.OUI".to_owned(),
        "_deviceId._ProductClass" => "DeviceID.ProductClass".to_owned(),
        "_deviceId._SerialNumber" => "DeviceID.SerialNumber".to_owned(),
        "_lastInform" => "Events.Inform".to_owned(),
        "_lastBoot" => "Events.1_BOOT".to_owned(),
        "_lastBootstrap" => "Events.0_BOOTSTRAP".to_owned(),
        "_registered" => "Events.Registered".to_owned(),
        k if k.starts_with('_') || k.contains("._") => {
            return Err(format!("{k:?}: this device document field has no precondition equivalent"));
        }
        k => k.to_owned(),
    };
    let valid = !path.is_empty()
        && !path.starts_with('.')
        && !path.ends_with('.')
        && !path.contains("..")
        && path.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '*' | '.'));
    if !valid {
        return Err(format!("{key:?} is not a parameter path"));
    }
    Ok(path)
}

fn literal(v: &Value) -> Result<Expr, String> {
    Ok(Expr::Literal(match v {
        Value::String(s) => Literal::Str(s.clone()),
        Value::Number(n) => Literal::Num(n.as_f64().ok_or("number out of range")?),
        Value::Bool(b) => Literal::Bool(*b),
        other => return Err(format!("{other}: only text, numbers and booleans can be compared")),
    }))
}

fn compare(path: &str, op: Op, v: &Value) -> Result<Expr, String> {
    Ok(Expr::Compare(Box::new(Expr::Path(path.to_owned())), op, Box::new(literal(v)?)))
}

fn is_null(path: &str, negated: bool) -> Expr {
    Expr::IsNull { value: Box::new(Expr::Path(path.to_owned())), negated }
}

/// `<>`, as MongoDB's `$ne` means it: also true when the field is missing.
fn not_equal(path: &str, v: &Value) -> Result<Expr, String> {
    Ok(Expr::Or(Box::new(compare(path, Op::Ne, v)?), Box::new(is_null(path, false))))
}

fn field(path: &str, value: &Value) -> Result<Expr, String> {
    let Value::Object(ops) = value else {
        return match value {
            Value::Null => Ok(is_null(path, false)),
            v => compare(path, Op::Eq, v),
        };
    };
    let mut parts = Vec::new();
    for (op, v) in ops {
        let list = || v.as_array().ok_or_else(|| format!("{path}: {op} takes a list"));
        parts.push(match op.as_str() {
            "$eq" if v.is_null() => is_null(path, false),
            "$eq" => compare(path, Op::Eq, v)?,
            "$ne" if v.is_null() => is_null(path, true),
            "$ne" => not_equal(path, v)?,
            "$lt" => compare(path, Op::Lt, v)?,
            "$lte" => compare(path, Op::Le, v)?,
            "$gt" => compare(path, Op::Gt, v)?,
            "$gte" => compare(path, Op::Ge, v)?,
            "$in" => any(list()?.iter().map(|v| compare(path, Op::Eq, v)).collect::<Result<_, _>>()?),
            "$nin" => all(list()?.iter().map(|v| not_equal(path, v)).collect::<Result<_, _>>()?),
            "$exists" => is_null(path, v.as_bool().ok_or_else(|| format!("{path}: $exists takes true or false"))?),
            other => {
                return Err(format!(
                    "{path}: operator {other} cannot be translated (supported: $eq, $ne, $lt, $lte, $gt, $gte, $in, $nin, $exists)"
                ));
            }
        });
    }
    Ok(all(parts))
}

/// `_tags` conditions: a tag, `{$eq|$ne: tag}`, `{$in|$nin|$all: [tags]}`.
fn tags(value: &Value) -> Result<Expr, String> {
    let has = |tag: &Value| -> Result<Expr, String> {
        let tag = tag.as_str().ok_or("_tags: tags are text")?;
        Ok(is_null(&format!("Tags.{}", pseudo::encode_name(tag)), true))
    };
    let lacks = |tag: &Value| -> Result<Expr, String> { Ok(Expr::Not(Box::new(has(tag)?))) };
    match value {
        Value::String(_) => has(value),
        Value::Object(ops) => {
            let mut parts = Vec::new();
            for (op, v) in ops {
                let list = || v.as_array().ok_or_else(|| format!("_tags: {op} takes a list"));
                parts.push(match op.as_str() {
                    "$eq" => has(v)?,
                    "$ne" => lacks(v)?,
                    "$in" => any(list()?.iter().map(has).collect::<Result<_, _>>()?),
                    "$nin" => all(list()?.iter().map(lacks).collect::<Result<_, _>>()?),
                    "$all" => all(list()?.iter().map(has).collect::<Result<_, _>>()?),
                    other => return Err(format!("_tags: operator {other} cannot be translated")),
                });
            }
            Ok(all(parts))
        }
        other => Err(format!("_tags: {other} is not a tag or a tag condition")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::expr::Facts;
    use crate::provision::preset::{Configuration, Events, Preset, Schedule};
    use serde_json::json;
    use std::collections::{BTreeMap, HashMap};

    struct Device(HashMap<&'static str, &'static str>);
    impl Facts for Device {
        fn values(&self, path: &str) -> Vec<String> {
            self.0.get(path).map(|v| vec![v.to_string()]).unwrap_or_default()
        }
        fn now(&self) -> i64 {
            0
        }
    }

    fn device() -> Device {
        Device(HashMap::from([
            ("Tags.test", "true"),
            ("Tags.a0x20b", "true"),
            ("DeviceID.ProductClass", "HG"),
            ("DeviceID.ID", "00D09E-HG-1"),
            ("InternetGatewayDevice.DeviceInfo.SoftwareVersion", "1.2"),
            ("Device.X", "5"),
        ]))
    }

    fn holds(query: Value) -> bool {
        let expr = mongo_precondition(&query).unwrap_or_else(|e| panic!("{query}: {e}"));
        // What is stored is the text; it must parse back to the same meaning.
        let reparsed = Expr::parse(&expr.to_string()).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(reparsed.matches(&device()), expr.matches(&device()), "{expr}");
        expr.matches(&device())
    }

    #[test]
    fn mongo_queries() {
        assert!(holds(json!({})));
        assert!(holds(json!({"_tags": "test"})));
        assert!(holds(json!({"_tags": "a b"})));
        assert!(!holds(json!({"_tags": "prod"})));
        assert!(holds(json!({"_tags": {"$ne": "prod"}})));
        assert!(holds(json!({"_tags": {"$in": ["prod", "test"]}})));
        assert!(!holds(json!({"_tags": {"$all": ["prod", "test"]}})));
        assert!(holds(json!({"Tags.test": true, "Tags.prod": {"$exists": false}})));
        assert!(holds(json!({"_deviceId._ProductClass": "HG", "_id": "00D09E-HG-1"})));
        assert!(holds(json!({"InternetGatewayDevice.DeviceInfo.SoftwareVersion._value": {"$ne": "2.0"}})));
        assert!(holds(json!({"InternetGatewayDevice.DeviceInfo.SoftwareVersion": {"$in": ["1.1", "1.2"]}})));
        assert!(holds(json!({"Device.X": {"$gt": 4, "$lte": 5}})));
        assert!(!holds(json!({"Device.X": {"$nin": [5, 6]}})));
        assert!(holds(json!({"Device.Missing": {"$ne": "x"}})), "$ne holds for a missing field");
        assert!(holds(json!({"Device.Missing": null, "Device.X": {"$exists": true}})));
        assert!(holds(json!({"$or": [{"_tags": "prod"}, {"Device.X": 5}]})));
        assert!(!holds(json!({"$nor": [{"_tags": "prod"}, {"Device.X": 5}]})));
        assert!(holds(json!({"$and": [{"_tags": "test"}, {"Device.X": "5"}]})));
    }

    #[test]
    fn untranslatable_queries_say_why() {
        for (query, needle) in [
            (json!({"Device.X": {"$regex": "^a"}}), "operator $regex cannot be translated"),
            (json!({"$where": "x"}), "$where is not supported"),
            (json!({"_lastInformX": 1}), "no precondition equivalent"),
            (json!({"Device.X": [1, 2]}), "only text, numbers and booleans"),
            (json!({"Device X": 1}), "not a parameter path"),
            (json!({"_tags": {"$size": 1}}), "$size cannot be translated"),
            (json!({"Tags.x": "yes"}), "only true/false"),
        ] {
            let e = mongo_precondition(&query).unwrap_err();
            assert!(e.contains(needle), "{query}: {e}");
        }
    }

    fn preset(body: Value) -> Result<Preset, String> {
        let Value::Object(mut body) = body else { panic!() };
        normalize_preset(&mut body)?;
        body.insert("name".into(), "p".into());
        let preset: Preset = serde_json::from_value(Value::Object(body)).map_err(|e| e.to_string())?;
        preset.validate()?;
        Ok(preset)
    }

    #[test]
    fn genieacs_presets() {
        // The form of GenieACS's API reference.
        let p = preset(json!({"weight": 0, "precondition": "{\"_tags\": \"test\"}",
            "configurations": [{"type": "value", "name": "Device.ManagementServer.PeriodicInformInterval", "value": "300"},
                               {"type": "age", "name": "Device.DeviceInfo.", "age": "3600"},
                               {"type": "add_tag", "tag": "a"}, {"type": "delete_tag", "tag": "b"},
                               {"type": "value", "name": "Device.X", "value": true},
                               {"type": "provision", "name": "inform", "args": null}]}))
        .unwrap();
        assert_eq!(p.channel, "default");
        assert_eq!(p.precondition, "Tags.test IS NOT NULL");
        assert_eq!(
            p.configurations,
            vec![
                Configuration::Value {
                    path: "Device.ManagementServer.PeriodicInformInterval".into(),
                    value: "300".into(),
                    value_type: None
                },
                Configuration::Refresh { path: "Device.DeviceInfo.".into(), age: 3600 },
                Configuration::AddTag { tag: "a".into() },
                Configuration::DeleteTag { tag: "b".into() },
                Configuration::Value { path: "Device.X".into(), value: "true".into(), value_type: None },
                Configuration::Provision { name: "inform".into(), args: vec![] },
            ]
        );
        // GenieACS's seeds, as its setup writes them, and the UI's form.
        let p = preset(json!({"_id": "bootstrap", "weight": "10", "channel": "bootstrap",
            "events": {"0 BOOTSTRAP": true}, "configurations": [{"type": "provision", "name": "bootstrap"}]}))
        .unwrap();
        assert_eq!((p.weight, p.channel.as_str()), (10, "bootstrap"));
        assert_eq!(p.events, Events::Match(BTreeMap::from([("0 BOOTSTRAP".into(), true)])));
        let p = preset(json!({"channel": "", "events": "0 BOOTSTRAP, -1 BOOT", "provision": "fw",
            "provisionArgs": "\"1.2\", 3, true", "schedule": "3600 0 2 * * *",
            "precondition": "DeviceID.ProductClass = \"HG\" AND Tags.lab IS NULL"}))
        .unwrap();
        assert_eq!(p.channel, "default");
        assert_eq!(p.events, Events::Match(BTreeMap::from([("0 BOOTSTRAP".into(), true), ("1 BOOT".into(), false)])));
        assert_eq!(p.schedule, Some(Schedule::Cron("3600 0 2 * * *".into())));
        assert_eq!(
            p.configurations,
            vec![Configuration::Provision { name: "fw".into(), args: vec![json!("1.2"), json!(3), json!(true)] }]
        );
        let p = preset(json!({"provisions": [["refresh", "Device.DeviceInfo.", 60], ["inform"]]})).unwrap();
        assert_eq!(p.configurations.len(), 2);
        // Ours pass unchanged.
        let p = preset(
            json!({"events": ["1 BOOT"], "configurations": [{"type": "value", "path": "Device.X", "value": "1"}]}),
        )
        .unwrap();
        assert_eq!(p.events, Events::OneOf(vec!["1 BOOT".into()]));
    }

    #[test]
    fn untranslatable_presets_say_why() {
        for (body, needle) in [
            (
                json!({"configurations": [{"type": "add_object", "name": "Device.X", "object": "o"}]}),
                "`objects` collection",
            ),
            (
                json!({"configurations": [{"type": "provision", "name": "x", "args": [["PARAM", "Device.X"]]}]}),
                "is an expression",
            ),
            (json!({"weight": "heavy", "configurations": []}), "whole number"),
            (json!({"weight": 1.5, "configurations": []}), "whole number"),
            (json!({"precondition": "{\"Device.X\": {\"$regex\": \"a\"}}"}), "$regex"),
            (json!({"precondition": "{not json"}), "not a MongoDB query"),
            (json!({"precondition": "Device.X = "}), "expected a value"),
            (json!({"schedule": "soon 0 2 * * *"}), "duration in seconds"),
            (json!({"schedule": "60 0 99 * * *"}), "hour field"),
            (json!({"events": {"0 BOOTSTRAP": "yes"}}), "events are"),
            (json!({"provision": "x", "provisionArgs": "Device.X"}), "only values"),
            (json!({"configurations": [{"type": "age", "name": "Device.X", "age": "soon"}]}), "number of seconds"),
            (json!({"bogus": 1}), "unknown field `bogus`"),
        ] {
            let e = preset(body.clone()).unwrap_err();
            assert!(e.contains(needle), "{body}: {e}");
        }
    }

    #[test]
    fn events_and_schedules_apply_as_in_genieacs() {
        let e = |v: Value| serde_json::from_value::<Events>(v).unwrap();
        let session = ["0 BOOTSTRAP".to_string(), "1 BOOT".to_string()];
        assert!(e(json!({"0 BOOTSTRAP": true})).matches(&session));
        assert!(!e(json!({"0 BOOTSTRAP": true, "1 BOOT": false})).matches(&session));
        assert!(!e(json!({"0 BOOTSTRAP": true, "2 PERIODIC": true})).matches(&session), "every true event");
        assert!(e(json!({"2 PERIODIC": false})).matches(&session));
        assert!(e(json!({"0_BOOTSTRAP": true})).matches(&session), "codes compare as Events nodes");
        assert!(e(json!(["2 PERIODIC", "1 BOOT"])).matches(&session), "ours: any of");
        assert!(e(json!([])).matches(&session));
        // 2026-12-01T02:30:00Z: in the hour after 02:00, not in the minute after.
        let at = 1_796_092_200_000;
        assert!(Schedule::Cron("3600 0 0 2 * * *".into()).contains(at));
        assert!(!Schedule::Cron("60 0 0 2 * * *".into()).contains(at));
    }
}
