//! A session's view of one device's tree: what the store knew at the Inform, updated by
//! every answer in the session. Presets and provision scripts read it with GenieACS-style
//! paths: `*` for any instance, `[Key:value,...]` for the instances whose child parameters
//! have those values, and the pseudo-roots `Tags.`, `DeviceID.` and `Events.`.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::store::{Device, Millis, Param};

/// One node as the ACS knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub object: bool,
    /// Value and xsd type.
    pub value: Option<(String, String)>,
    pub writable: Option<bool>,
    /// When the value was last read or written.
    pub value_ts: Option<Millis>,
    /// When GetParameterNames last listed this node (for objects: their children).
    pub path_ts: Option<Millis>,
    pub notification: Option<i32>,
    pub access_list: Option<Vec<String>>,
}

/// A node matched by a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match<'a> {
    pub path: String,
    pub node: Option<&'a Node>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    nodes: BTreeMap<String, Node>,
    tags: Vec<String>,
    #[serde(deserialize_with = "identity_fields")]
    identity: Vec<(&'static str, String)>,
    events: Vec<String>,
}

/// The identity fields a snapshot holds (a session checkpoint carries them as text).
const IDENTITY_FIELDS: [&str; 5] = ["ID", "Manufacturer", "OUI", "ProductClass", "SerialNumber"];

fn identity_fields<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(&'static str, String)>, D::Error> {
    let pairs: Vec<(String, String)> = Vec::deserialize(d)?;
    pairs
        .into_iter()
        .map(|(name, value)| match IDENTITY_FIELDS.iter().find(|f| **f == name) {
            Some(f) => Ok((*f, value)),
            None => Err(serde::de::Error::custom(format!("unknown identity field {name:?}"))),
        })
        .collect()
}

/// One step of a query path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Name(String),
    Any,
    /// `[Key:value,...]`
    Filter(Vec<(String, String)>),
}

/// Splits a query path into steps. `[...]` may contain dots (values such as IP addresses).
pub fn parse_query(path: &str) -> Result<(Vec<Step>, bool), String> {
    let object = path.ends_with('.');
    let body = path.strip_suffix('.').unwrap_or(path);
    let mut steps = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (node, tail) = if let Some(inner) = rest.strip_prefix('[') {
            let close = inner.find(']').ok_or_else(|| format!("unclosed '[' in {path:?}"))?;
            let filter = &inner[..close];
            let tail = &inner[close + 1..];
            let tail = match tail.strip_prefix('.') {
                Some(t) => t,
                None if tail.is_empty() => tail,
                None => return Err(format!("expected '.' after ']' in {path:?}")),
            };
            let mut pairs = Vec::new();
            for pair in filter.split(',').filter(|p| !p.trim().is_empty()) {
                let (k, v) = pair.split_once(':').ok_or_else(|| format!("expected Key:value in {path:?}"))?;
                pairs.push((k.trim().to_owned(), v.to_owned()));
            }
            steps.push(Step::Filter(pairs));
            rest = tail;
            continue;
        } else {
            match rest.find('.') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            }
        };
        if node.is_empty() {
            return Err(format!("empty node in {path:?}"));
        }
        steps.push(if node == "*" { Step::Any } else { Step::Name(node.to_owned()) });
        rest = tail;
    }
    Ok((steps, object))
}

impl Snapshot {
    pub fn new(device: &Device, params: Vec<Param>, events: &[String]) -> Snapshot {
        let mut nodes = BTreeMap::new();
        for p in params {
            nodes.insert(
                p.path,
                Node {
                    object: p.object,
                    value: p.value.map(|v| (v, p.ty.unwrap_or_else(|| "xsd:string".into()))),
                    writable: p.writable,
                    value_ts: p.value_ts,
                    path_ts: p.names_ts,
                    notification: p.notification,
                    access_list: p.access_list,
                },
            );
        }
        let id = &device.identity;
        Snapshot {
            nodes,
            tags: device.tags.clone(),
            identity: vec![
                ("ID", device.key.clone()),
                ("Manufacturer", id.manufacturer.clone()),
                ("OUI", id.oui.clone()),
                ("ProductClass", id.product_class.clone()),
                ("SerialNumber", id.serial_number.clone()),
            ],
            events: events.to_vec(),
        }
    }

    pub fn node(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn node_mut(&mut self, path: &str) -> &mut Node {
        self.nodes.entry(path.to_owned()).or_default()
    }

    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    pub fn set_tag(&mut self, tag: &str, on: bool) {
        self.tags.retain(|t| t != tag);
        if on {
            self.tags.push(tag.to_owned());
        }
    }

    /// Whether the snapshot knows anything at or below `path`.
    pub fn exists(&self, path: &str) -> bool {
        if self.nodes.contains_key(path) {
            return true;
        }
        let prefix = if path.ends_with('.') { path.to_owned() } else { format!("{path}.") };
        self.below(&prefix).next().is_some()
    }

    fn below<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        self.nodes
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// The names one level below an object path (`Device.IP.Interface.` → `1`, `2`, …).
    pub fn children(&self, object: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, _) in self.below(object) {
            let rest = &k[object.len()..];
            let child = rest.split('.').next().unwrap_or_default();
            if !child.is_empty() && out.last().is_none_or(|last| last != child) {
                out.push(child.to_owned());
            }
        }
        out.dedup();
        out
    }

    /// A script's `clear(path, before)`: forgets what was read before `before` at or below
    /// `path` (a GenieACS path; wildcards widen it to their prefix), so it is read again.
    pub fn forget(&mut self, path: &str, before: Millis) {
        let cut = path.find(['*', '[']).unwrap_or(path.len());
        let prefix = &path[..cut];
        for (k, node) in self.nodes.iter_mut() {
            if k.starts_with(prefix) {
                if node.value_ts.is_some_and(|t| t < before) {
                    node.value_ts = None;
                }
                if node.path_ts.is_some_and(|t| t < before) {
                    node.path_ts = None;
                }
            }
        }
    }

    /// Removes `prefix` and everything below it.
    pub fn remove_subtree(&mut self, prefix: &str) {
        let doomed: Vec<String> = self.below(prefix).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// The concrete paths a query path stands for, as far as the snapshot knows them.
    pub fn expand(&self, steps: &[Step], object: bool) -> Vec<String> {
        let mut current = vec![String::new()];
        for (i, step) in steps.iter().enumerate() {
            let last = i + 1 == steps.len();
            let mut next = Vec::new();
            for base in &current {
                match step {
                    Step::Name(n) => next.push(format!("{base}{n}")),
                    Step::Any | Step::Filter(_) => {
                        for child in self.children(base) {
                            let candidate = format!("{base}{child}");
                            if let Step::Filter(pairs) = step
                                && !pairs.iter().all(|(k, v)| {
                                    self.node(&format!("{candidate}.{k}"))
                                        .and_then(|n| n.value.as_ref())
                                        .is_some_and(|(value, _)| value == v)
                                })
                            {
                                continue;
                            }
                            next.push(candidate);
                        }
                    }
                }
            }
            current = next.into_iter().map(|p| if last { p } else { format!("{p}.") }).collect();
        }
        if object {
            current.iter_mut().for_each(|p| {
                if !p.ends_with('.') {
                    p.push('.');
                }
            });
        }
        current
    }

    /// The values of a path for preconditions and scripts (several with wildcards).
    pub fn values(&self, path: &str) -> Vec<String> {
        if let Some(tag) = path.strip_prefix("Tags.") {
            return if self.tags.iter().any(|t| t == tag) { vec!["true".into()] } else { vec![] };
        }
        if let Some(field) = path.strip_prefix("DeviceID.") {
            return self.identity.iter().filter(|(k, _)| *k == field).map(|(_, v)| v.clone()).collect();
        }
        if let Some(code) = path.strip_prefix("Events.") {
            let code = code.replace('_', " ");
            return if self.events.contains(&code) { vec!["true".into()] } else { vec![] };
        }
        let Ok((steps, object)) = parse_query(path) else { return vec![] };
        self.expand(&steps, object)
            .iter()
            .filter_map(|p| self.node(p).and_then(|n| n.value.as_ref()).map(|(v, _)| v.clone()))
            .collect()
    }
}

impl crate::provision::expr::Facts for Snapshot {
    fn values(&self, path: &str) -> Vec<String> {
        Snapshot::values(self, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn device() -> Device {
        Device { id: 1, tags: vec!["lab".into()], ..crate::store::fixtures::device() }
    }

    pub(crate) fn param(path: &str, value: Option<&str>) -> Param {
        Param {
            path: path.into(),
            value: value.map(String::from),
            ty: value.map(|_| "xsd:string".into()),
            object: path.ends_with('.'),
            writable: Some(true),
            value_ts: value.map(|_| 10),
            names_ts: None,
            notification: None,
            access_list: None,
        }
    }

    fn snapshot() -> Snapshot {
        let params = vec![
            param("Device.NAT.PortMapping.1.ExternalPort", Some("80")),
            param("Device.NAT.PortMapping.1.Protocol", Some("TCP")),
            param("Device.NAT.PortMapping.2.ExternalPort", Some("443")),
            param("Device.NAT.PortMapping.2.Protocol", Some("TCP")),
            param("Device.NAT.PortMapping.10.ExternalPort", Some("80")),
            param("Device.NAT.PortMapping.10.Protocol", Some("UDP")),
            param("Device.WiFi.SSID.1.SSID", Some("home")),
        ];
        Snapshot::new(&device(), params, &["0 BOOTSTRAP".into()])
    }

    #[test]
    fn queries() {
        let s = snapshot();
        let q = |p: &str| {
            let (steps, object) = parse_query(p).unwrap();
            s.expand(&steps, object)
        };
        assert_eq!(
            q("Device.NAT.PortMapping.*.ExternalPort"),
            vec![
                "Device.NAT.PortMapping.1.ExternalPort",
                "Device.NAT.PortMapping.10.ExternalPort",
                "Device.NAT.PortMapping.2.ExternalPort"
            ]
        );
        assert_eq!(q("Device.NAT.PortMapping.[ExternalPort:80,Protocol:TCP]."), vec!["Device.NAT.PortMapping.1."]);
        assert_eq!(
            q("Device.NAT.PortMapping.[ExternalPort:80]"),
            vec!["Device.NAT.PortMapping.1", "Device.NAT.PortMapping.10"]
        );
        assert!(q("Device.NAT.PortMapping.[ExternalPort:8080].Protocol").is_empty());
        assert_eq!(s.values("Device.WiFi.SSID.*.SSID"), vec!["home"]);
        assert_eq!(s.values("Tags.lab"), vec!["true"]);
        assert_eq!(s.values("DeviceID.SerialNumber"), vec!["S1"]);
        assert_eq!(s.values("Events.0_BOOTSTRAP"), vec!["true"]);
        assert!(s.exists("Device.NAT.PortMapping.2."));
        assert!(!s.exists("Device.NAT.PortMapping.3."));
        assert_eq!(s.children("Device.NAT.PortMapping."), vec!["1", "10", "2"]);
    }

    #[test]
    fn filter_values_may_hold_dots() {
        let (steps, _) = parse_query("Device.Hosts.Host.[IPAddress:10.0.0.2].HostName").unwrap();
        assert_eq!(steps[3], Step::Filter(vec![("IPAddress".into(), "10.0.0.2".into())]));
        assert_eq!(steps[4], Step::Name("HostName".into()));
        assert!(parse_query("Device.[a:b").is_err());
        assert!(parse_query("Device..X").is_err());
    }
}
