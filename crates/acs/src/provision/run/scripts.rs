//! Provision and virtual parameter scripts in a session: running them against the snapshot,
//! turning what they declare into planner declarations, and deciding when a run is stale.

use std::collections::HashMap;

use cwmp_script::{Input, Limits, Node, ScriptData};
use serde_json::{Value as Json, json};

use crate::provision::declare::{Declaration, Desired, Freshness};
use crate::provision::planner::plan;
use crate::provision::snapshot::{Snapshot, parse_query};

/// The snapshot as scripts see it, with the session's extension results.
#[derive(Clone, Copy)]
pub(super) struct SnapshotData<'a> {
    pub snapshot: &'a Snapshot,
    pub extensions: &'a HashMap<String, Json>,
}

/// How an extension call is kept: the JSON text of its arguments.
pub(super) fn extension_key(call: &[String]) -> String {
    serde_json::to_string(call).unwrap_or_default()
}

impl ScriptData for SnapshotData<'_> {
    fn query(&self, path: &str) -> Vec<Node> {
        let Ok((steps, object)) = parse_query(path) else { return Vec::new() };
        let snapshot = self.snapshot;
        snapshot
            .expand(&steps, object)
            .into_iter()
            .filter_map(|p| {
                let bare = p.trim_end_matches('.').to_owned();
                let node = snapshot.node(&bare).or_else(|| snapshot.node(&format!("{bare}.")));
                if node.is_none() && !snapshot.exists(&bare) {
                    return None;
                }
                let node = node.cloned().unwrap_or_default();
                Some(Node {
                    path: bare,
                    object: node.object
                        || node.value.is_none() && snapshot.exists(&format!("{}.", p.trim_end_matches('.'))),
                    value: node.value,
                    writable: node.writable,
                    value_ts: node.value_ts,
                    path_ts: node.path_ts.or(node.value_ts),
                    notification: node.notification,
                    access_list: node.access_list,
                })
            })
            .collect()
    }

    fn satisfies(&self, declaration: &cwmp_script::Declaration) -> bool {
        let ours = convert(declaration, "");
        ours.path.starts_with("VirtualParameters.") || plan(std::slice::from_ref(&ours), self.snapshot).is_empty()
    }

    fn extension(&self, call: &[String]) -> Option<Json> {
        self.extensions.get(&extension_key(call)).cloned()
    }
}

/// A script value as the text the device gets.
fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.to_string(),
            (_, Some(u)) => u.to_string(),
            _ => n.to_string(),
        },
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// A script's declaration as a planner declaration of `channel`.
pub(super) fn convert(d: &cwmp_script::Declaration, channel: &str) -> Declaration {
    let t = &d.timestamps;
    let v = &d.values;
    Declaration {
        channel: channel.to_owned(),
        path: d.path.clone(),
        freshness: Freshness {
            // GenieACS: `path` defaults to 1 (the node must be known to exist).
            path: Some(t.path.unwrap_or(1)),
            value: t.value,
            attributes: t.notification.or(t.access_list),
        },
        desired: Desired {
            value: v.value.as_ref().map(|(value, ty)| (text(value), ty.clone())),
            count: v.path,
            notification: v.notification,
            access_list: v.access_list.clone(),
        },
        batch: d.batch,
    }
}

/// A stored value as GenieACS hands it to scripts in `args`: booleans, numbers and dates
/// (ms since the epoch) typed, anything else text.
fn typed(value: &str, ty: &str) -> Json {
    let local = ty.rsplit_once(':').map_or(ty, |(_, l)| l);
    let typed = match local {
        "boolean" => cwmp_wire::types::parse_bool(value).map(Json::Bool),
        "int" | "long" => cwmp_wire::types::parse_int::<i64>(value).map(Json::from),
        "unsignedInt" | "unsignedLong" => cwmp_wire::types::parse_int::<u64>(value).map(Json::from),
        "dateTime" => crate::provision::pseudo::time_ms(value).map(Json::from),
        _ => None,
    };
    typed.unwrap_or_else(|| Json::String(value.to_owned()))
}

/// The arguments a virtual parameter script receives, as GenieACS passes them: the declared
/// timestamps and values, then the current ones (what the ACS holds of the parameter).
pub(super) fn virtual_parameter_args(d: &Declaration, current: Option<&crate::provision::snapshot::Node>) -> Vec<Json> {
    let timestamps = json!({ "value": d.freshness.value, "path": d.freshness.path });
    let values = match &d.desired.value {
        Some((v, Some(ty))) => json!({ "value": [v, ty] }),
        Some((v, None)) => json!({ "value": [v] }),
        None => json!({}),
    };
    let (mut current_timestamps, mut current_values) = (json!({}), json!({}));
    if let Some(node) = current {
        if let Some(ts) = node.seen_ts {
            current_timestamps["path"] = ts.into();
        }
        if let (Some((v, ty)), Some(ts)) = (&node.value, node.value_ts) {
            current_timestamps["value"] = ts.into();
            current_values["value"] = json!([typed(v, ty), ty]);
        }
        if let Some(w) = node.writable {
            current_values["writable"] = w.into();
        }
    }
    vec![timestamps, values, current_timestamps, current_values]
}

/// One script the session runs, with its last outcome.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct ScriptRun {
    pub channel: String,
    pub name: String,
    pub args: Vec<Json>,
    /// For a virtual parameter: its path (`VirtualParameters.<name>`).
    pub virtual_parameter: Option<String>,
    pub declarations: Vec<Declaration>,
    pub reads: Vec<String>,
    pub suspended: bool,
    /// How many snapshot changes had happened at the last run.
    pub ran_at: Option<usize>,
    pub runs: u32,
}

fn prefix(pattern: &str) -> &str {
    let cut = pattern.find(['*', '[']).unwrap_or(pattern.len());
    &pattern[..cut]
}

impl ScriptRun {
    /// Whether the last run is stale: it never ran, or it stopped on missing data and data
    /// arrived, or data it read changed. Scripts run as few times as that allows.
    pub fn needs_run(&self, changes: &[String]) -> bool {
        let Some(at) = self.ran_at else { return true };
        let new = &changes[at.min(changes.len())..];
        if new.is_empty() {
            return false;
        }
        self.suspended
            || new.iter().any(|c| {
                self.reads.iter().any(|r| {
                    let p = prefix(r);
                    c.starts_with(p) || p.starts_with(c.as_str())
                })
            })
    }

    pub fn run(
        &mut self,
        source: &str,
        data: SnapshotData<'_>,
        now: i64,
        device_id: &str,
        limits: &Limits,
        changes: usize,
    ) -> Result<cwmp_script::Output, cwmp_script::ScriptError> {
        self.runs += 1;
        let input = Input { source, name: &self.name, args: &self.args, now, device_id, data: &data, limits };
        let output = cwmp_script::run(&input)?;
        // A run stopped at an extension call declared only part of what it will: keep the
        // last complete declarations until it runs again.
        if output.extension_call.is_none() {
            self.declarations = output.declarations.iter().map(|d| convert(d, &self.channel)).collect();
        }
        self.reads = output.reads.clone();
        self.suspended = output.suspended_at.is_some() || output.extension_call.is_some();
        self.ran_at = Some(changes);
        Ok(output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_become_text() {
        assert_eq!(text(&json!(true)), "true");
        assert_eq!(text(&json!(300)), "300");
        assert_eq!(text(&json!(1.5)), "1.5");
        assert_eq!(text(&json!("x")), "x");
    }

    #[test]
    fn staleness() {
        let mut run = ScriptRun {
            channel: "c".into(),
            name: "n".into(),
            args: vec![],
            virtual_parameter: None,
            declarations: vec![],
            reads: vec!["Device.WiFi.SSID.*.SSID".into()],
            suspended: false,
            ran_at: None,
            runs: 0,
        };
        assert!(run.needs_run(&[]));
        run.ran_at = Some(0);
        assert!(!run.needs_run(&[]));
        assert!(!run.needs_run(&["Device.Time.NTPServer1".into()]));
        assert!(run.needs_run(&["Device.WiFi.SSID.2.SSID".into()]));
        run.suspended = true;
        assert!(run.needs_run(&["Device.Time.NTPServer1".into()]));
    }
}
