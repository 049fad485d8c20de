//! A session's view of one device's tree: what the store knew at the Inform, updated by
//! every answer in the session, with GenieACS's pseudo-parameters ([`super::pseudo`]).
//! Presets and provision scripts read it with GenieACS-style paths: `*` for any instance and
//! `[Key:value,...]` for the instances whose child parameters have those values.
//!
//! Objects are kept with their final dot (`Device.WiFi.`); the empty path is the root, whose
//! listing (`GetParameterNames ""`) tells which data model roots the device has.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::pseudo::{self, Pseudo};
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
    /// For objects: when GetParameterNames last listed their children.
    pub path_ts: Option<Millis>,
    /// When the device last showed the node exists (any answer naming it).
    #[serde(default)]
    pub seen_ts: Option<Millis>,
    pub notification: Option<i32>,
    pub access_list: Option<Vec<String>>,
}

impl Node {
    /// The node was named by an answer at `at`.
    pub fn seen(&mut self, at: Millis) {
        self.seen_ts = Some(self.seen_ts.map_or(at, |t| t.max(at)));
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    nodes: BTreeMap<String, Node>,
    tags: Vec<String>,
    /// The session's time: pseudo-parameters are as fresh as this.
    now: Millis,
}

/// One step of a query path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Name(String),
    Any,
    /// `[Key:value,...]`
    Filter(Vec<(String, String)>),
}

/// Splits a query path into steps. Alias values may be bare (trimmed), `"double-quoted"`
/// (JSON escapes) or `'single-quoted'`; they may contain dots.
pub fn parse_query(path: &str) -> Result<(Vec<Step>, bool), String> {
    let object = path.ends_with('.');
    let body = path.strip_suffix('.').unwrap_or(path);
    let mut steps = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let (pairs, tail) = alias(inner).map_err(|e| format!("{e} in {path:?}"))?;
            rest = match tail.strip_prefix('.') {
                Some(t) => t,
                None if tail.is_empty() => tail,
                None => return Err(format!("expected '.' after ']' in {path:?}")),
            };
            steps.push(Step::Filter(pairs));
            continue;
        }
        let (node, tail) = match rest.find('.') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        if node.is_empty() {
            return Err(format!("empty node in {path:?}"));
        }
        steps.push(if node == "*" { Step::Any } else { Step::Name(node.to_owned()) });
        rest = tail;
    }
    Ok((steps, object))
}

/// The `Key:value` pairs of an alias filter.
type Pairs = Vec<(String, String)>;

/// The `Key:value,...` pairs of an alias filter up to its `]`, and what follows it.
fn alias(text: &str) -> Result<(Pairs, &str), String> {
    let mut pairs = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if let Some(tail) = rest.strip_prefix(']') {
            return Ok((pairs, tail));
        }
        let colon = rest.find(':').ok_or("expected Key:value")?;
        let key = rest[..colon].trim();
        if key.is_empty() || key.contains([',', ']']) {
            return Err("expected Key:value".into());
        }
        rest = rest[colon + 1..].trim_start();
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let end = closing_quote(quoted).ok_or("unterminated string")?;
            let value: String = serde_json::from_str(&rest[..end + 2]).map_err(|e| format!("bad string: {e}"))?;
            rest = &quoted[end + 1..];
            value
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').ok_or("unterminated string")?;
            rest = &quoted[end + 1..];
            quoted[..end].to_owned()
        } else {
            let end = rest.find([',', ']']).ok_or("unclosed '['")?;
            let value = rest[..end].trim().to_owned();
            rest = &rest[end..];
            value
        };
        pairs.push((key.to_owned(), value));
        rest = rest.trim_start();
        if let Some(tail) = rest.strip_prefix(',') {
            rest = tail;
        } else if !rest.starts_with(']') {
            return Err("expected ',' or ']'".into());
        }
    }
}

/// The index of the `"` closing a JSON string whose opening quote was just before `text`.
fn closing_quote(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// What a `clear()` made the snapshot forget.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Nodes removed, each only once (not those below a removed object).
    pub removed: Vec<String>,
    /// Nodes that lost an attribute.
    pub attributes: Vec<String>,
}

/// The attribute thresholds of a `clear()` (GenieACS's `attrTimestamps`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClearAttributes {
    /// Also removes descendants not seen since.
    pub object: Option<Millis>,
    pub value: Option<Millis>,
    pub writable: Option<Millis>,
    pub notification: Option<Millis>,
    pub access_list: Option<Millis>,
}

impl Snapshot {
    pub fn new(device: &Device, params: Vec<Param>, events: &[String], now: Millis) -> Snapshot {
        let mut nodes = BTreeMap::new();
        for p in params {
            // The store never holds the synthesized pseudo-parameters; ignore any that came in.
            if Pseudo::of(&p.path).is_some_and(Pseudo::synthesized) {
                continue;
            }
            let seen_ts = p.names_ts.max(p.value_ts);
            nodes.insert(
                p.path,
                Node {
                    object: p.object,
                    value: p.value.map(|v| (v, p.ty.unwrap_or_else(|| "xsd:string".into()))),
                    writable: p.writable,
                    value_ts: p.value_ts,
                    path_ts: p.names_ts,
                    seen_ts,
                    notification: p.notification,
                    access_list: p.access_list,
                },
            );
        }
        nodes.extend(pseudo::session_nodes(device, events, now));
        Snapshot { nodes, tags: device.tags.clone(), now }
    }

    /// The session's time.
    pub fn now(&self) -> Millis {
        self.now
    }

    /// Records that the device has the data model root `root` (`Device.`), as its Inform
    /// says, without claiming anything about its children.
    pub fn has_root(&mut self, root: &str) {
        if !root.is_empty() {
            self.nodes.entry(root.to_owned()).or_insert_with(|| Node { object: true, ..Node::default() });
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
        let path = format!("Tags.{}", pseudo::encode_name(tag));
        if on {
            self.tags.push(tag.to_owned());
            self.nodes.insert(path, pseudo::tag_node(self.now));
        } else {
            self.nodes.remove(&path);
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

    /// The names one level below an object path (`Device.IP.Interface.` → `1`, `2`, …; `""`
    /// → the roots).
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

    /// A script's `clear(path, timestamp, attributes)`, as GenieACS clears: each node matching
    /// `path`, and each node below it, that the device has not shown since `timestamp` is
    /// forgotten, so it is discovered again when something needs it; `attributes.object`
    /// does the same for the descendants alone; the other attributes are forgotten on the
    /// matching nodes when read before the time given. The session's own pseudo-parameters
    /// are never cleared, nor what this session read (times are capped at the session's). A
    /// removed node's parent no longer counts as listed, so a removed root is looked for
    /// again.
    pub fn clear(&mut self, path: &str, timestamp: Millis, attributes: ClearAttributes) -> Forgotten {
        let mut forgotten = Forgotten::default();
        let Ok((steps, _)) = parse_query(path) else { return forgotten };
        if Pseudo::of(path).is_some_and(Pseudo::synthesized) {
            return forgotten;
        }
        let timestamp = timestamp.min(self.now);
        let descendants = timestamp.max(attributes.object.unwrap_or(0)).min(self.now);
        let older = |n: &Node, than: Millis| n.seen_ts.unwrap_or(0) < than;
        for base in self.expand(&steps, false) {
            let bare = base.trim_end_matches('.').to_owned();
            let object = format!("{bare}.");
            let mut doomed: Vec<String> = [&bare, &object]
                .into_iter()
                .filter(|k| self.nodes.get(k.as_str()).is_some_and(|n| timestamp > 0 && older(n, timestamp)))
                .cloned()
                .collect();
            if descendants > 0 {
                doomed.extend(self.below(&object).filter(|(_, n)| older(n, descendants)).map(|(k, _)| k.clone()));
            }
            for key in doomed {
                if self.nodes.remove(&key).is_some() {
                    self.unlist_parent(&key);
                    forgotten.removed.push(key);
                }
            }
            for key in [bare, object] {
                let Some(node) = self.nodes.get_mut(&key) else { continue };
                let before = node.clone();
                if attributes.value.is_some_and(|t| node.value_ts.unwrap_or(0) < t) {
                    node.value = None;
                    node.value_ts = None;
                }
                if attributes.writable.is_some_and(|t| node.seen_ts.unwrap_or(0) < t) {
                    node.writable = None;
                }
                // Attributes are read with the value (GetParameterAttributes stamps both).
                let attributes_ts = node.value_ts.unwrap_or(0);
                if attributes.notification.is_some_and(|t| attributes_ts < t) {
                    node.notification = None;
                }
                if attributes.access_list.is_some_and(|t| attributes_ts < t) {
                    node.access_list = None;
                }
                if *node != before {
                    forgotten.attributes.push(key);
                }
            }
        }
        forgotten
    }

    /// Prefixes whose deletion from the store removes exactly `removed` nodes (and what
    /// was below them) and nothing the snapshot still holds. A removed node that shares its
    /// prefix with one still held stays in the store, stale, which costs nothing but space.
    pub fn deletions(&self, removed: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut sorted: Vec<&String> = removed.iter().collect();
        sorted.sort();
        for path in sorted {
            if out.iter().any(|p| p.ends_with('.') && path.starts_with(p.as_str())) {
                continue;
            }
            if path.is_empty() || self.below(path).next().is_some() {
                continue;
            }
            out.push(path.clone());
        }
        out
    }

    /// Marks the object containing `path` as not listed.
    fn unlist_parent(&mut self, path: &str) {
        let trimmed = path.strip_suffix('.').unwrap_or(path);
        let parent = trimmed.rfind('.').map_or("", |i| &trimmed[..=i]);
        if let Some(node) = self.nodes.get_mut(parent) {
            node.path_ts = None;
        }
    }

    /// What a refresh that listed all of `prefix` at `seen_at` implies: nodes below it it did
    /// not list are gone (as the store prunes them).
    pub fn prune_unseen(&mut self, prefix: &str, seen_at: Millis) {
        let doomed: Vec<String> =
            self.below(prefix).filter(|(_, n)| n.path_ts.is_none_or(|t| t < seen_at)).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    /// Removes everything strictly below `prefix` (an object path ending in `.`), or, for a
    /// parameter path, the parameter and what starts with it.
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
                                        .is_some_and(|(value, ty)| alias_matches(value, ty, v))
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

    /// The values of a path for preconditions (several with wildcards): dateTime values as ms
    /// since the epoch, so they compare with `NOW()` and numbers.
    pub fn values(&self, path: &str) -> Vec<String> {
        let Ok((steps, object)) = parse_query(path) else { return vec![] };
        self.expand(&steps, object)
            .iter()
            .filter_map(|p| self.node(p).and_then(|n| n.value.as_ref()))
            .map(|(v, ty)| match ty.as_str() {
                "xsd:dateTime" | "dateTime" => pseudo::time_ms(v).map_or_else(|| v.clone(), |ms| ms.to_string()),
                _ => v.clone(),
            })
            .collect()
    }
}

/// Whether a child's value satisfies an alias filter's value (`[Enable:true]` matches `1`).
pub fn alias_matches(value: &str, ty: &str, wanted: &str) -> bool {
    value == wanted || super::planner::same_value(value, wanted, ty)
}

impl crate::provision::expr::Facts for Snapshot {
    fn values(&self, path: &str) -> Vec<String> {
        Snapshot::values(self, path)
    }

    fn now(&self) -> Millis {
        self.now
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn device() -> Device {
        Device { id: 1, tags: vec!["lab".into(), "my tag".into()], ..crate::store::fixtures::device() }
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

    const NOW: Millis = 1_000_000;

    fn snapshot() -> Snapshot {
        let params = vec![
            param("Device.NAT.PortMapping.1.ExternalPort", Some("80")),
            param("Device.NAT.PortMapping.1.Protocol", Some("TCP")),
            param("Device.NAT.PortMapping.2.ExternalPort", Some("443")),
            param("Device.NAT.PortMapping.2.Protocol", Some("TCP")),
            param("Device.NAT.PortMapping.10.ExternalPort", Some("80")),
            param("Device.NAT.PortMapping.10.Protocol", Some("UDP")),
            param("Device.WiFi.SSID.1.SSID", Some("home")),
            param("Device.Hosts.Host.1.IPAddress", Some("10.0.0.2")),
            // Never trusted from the store.
            param("DeviceID.SerialNumber", Some("forged")),
        ];
        Snapshot::new(&device(), params, &["0 BOOTSTRAP".into()], NOW)
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
            q(r#"Device.NAT.PortMapping.[ ExternalPort: 80 , Protocol:"TCP"]."#),
            vec!["Device.NAT.PortMapping.1."]
        );
        assert_eq!(
            q("Device.NAT.PortMapping.[ExternalPort:80]"),
            vec!["Device.NAT.PortMapping.1", "Device.NAT.PortMapping.10"]
        );
        assert!(q("Device.NAT.PortMapping.[ExternalPort:8080].Protocol").is_empty());
        assert_eq!(q("Device.Hosts.Host.['IPAddress':'10.0.0.2']").len(), 0, "quoted keys are not keys");
        assert_eq!(q("Device.Hosts.Host.[IPAddress:'10.0.0.2']"), vec!["Device.Hosts.Host.1"]);
        assert_eq!(s.values("Device.WiFi.SSID.*.SSID"), vec!["home"]);
        assert!(s.exists("Device.NAT.PortMapping.2."));
        assert!(!s.exists("Device.NAT.PortMapping.3."));
        assert_eq!(s.children("Device.NAT.PortMapping."), vec!["1", "10", "2"]);
    }

    #[test]
    fn pseudo_parameters() {
        let s = snapshot();
        assert_eq!(s.values("Tags.lab"), vec!["true"]);
        assert_eq!(s.values("Tags.my0x20tag"), vec!["true"]);
        assert_eq!(s.values("Tags.*").len(), 2);
        assert_eq!(s.values("DeviceID.SerialNumber"), vec!["S1"]);
        assert_eq!(s.values("DeviceID.ID"), vec![device().key]);
        assert_eq!(s.values("Events.0_BOOTSTRAP"), vec![NOW.to_string()]);
        assert_eq!(s.values("Events.Inform"), vec![NOW.to_string()]);
        assert!(s.values("Events.2_PERIODIC").is_empty());
        let mut s = s;
        s.set_tag("new one", true);
        assert_eq!(s.values("Tags.new0x20one"), vec!["true"]);
        s.set_tag("lab", false);
        assert!(s.values("Tags.lab").is_empty());
        assert!(s.tags().contains(&"new one".to_string()));
    }

    #[test]
    fn filter_values_may_hold_dots_commas_and_brackets() {
        let (steps, _) = parse_query("Device.Hosts.Host.[IPAddress:10.0.0.2].HostName").unwrap();
        assert_eq!(steps[3], Step::Filter(vec![("IPAddress".into(), "10.0.0.2".into())]));
        assert_eq!(steps[4], Step::Name("HostName".into()));
        let (steps, _) = parse_query(r#"Downloads.[FileType:"1 Firmware, \"new\"",FileName:'a]b'].Download"#).unwrap();
        assert_eq!(
            steps[1],
            Step::Filter(vec![("FileType".into(), "1 Firmware, \"new\"".into()), ("FileName".into(), "a]b".into())])
        );
        for bad in ["Device.[a:b", "Device..X", "Device.[a:\"b].X", "Device.[ab]", "Device.[a:b]X"] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn clear_forgets_what_was_not_seen_since() {
        let params = vec![
            Param { names_ts: Some(NOW), ..param("", None) },
            Param { names_ts: Some(5), ..param("Device.", None) },
            Param { names_ts: Some(5), ..param("Device.A.", None) },
            param("Device.A.X", Some("1")),
            Param { value_ts: Some(NOW), ..param("Device.A.Y", Some("2")) },
            param("Device.B", Some("3")),
            param("Device.BC", Some("4")),
            Param { names_ts: Some(NOW), ..param("Device.C.", None) },
            Param { names_ts: Some(NOW), ..param("Device.C.Z", None) },
        ];
        let mut s = Snapshot::new(&device(), params.clone(), &[], NOW);
        // Everything under Device not seen since NOW goes, one node at a time: not A.Y, read
        // now, nor C, listed now. Times after the session's count as the session's.
        let f = s.clear("Device", NOW + 1, ClearAttributes::default());
        assert_eq!(f.removed, ["Device.", "Device.A.", "Device.A.X", "Device.B", "Device.BC"]);
        assert!(s.node("Device.A.Y").is_some() && s.node("Device.C.Z").is_some());
        assert!(s.exists("Device.A."), "known through what is below it");
        assert_eq!(s.node("").unwrap().path_ts, None, "the root listing is forgotten");
        // The store deletes what it can without touching what stays.
        assert_eq!(s.deletions(&f.removed), ["Device.A.X", "Device.B", "Device.BC"]);
        // A leaf whose name prefixes a node that stays is left in the store.
        let mut s = Snapshot::new(&device(), params.clone(), &[], NOW);
        let f = s.clear("Device.B", NOW, ClearAttributes::default());
        assert_eq!(f.removed, ["Device.B"]);
        assert!(s.deletions(&f.removed).is_empty());
        // Pseudo-parameters of the session are never cleared.
        assert!(s.clear("Tags", NOW, ClearAttributes::default()).removed.is_empty());
        assert_eq!(s.values("Tags.lab"), vec!["true"]);
        // Attributes only.
        let mut s = Snapshot::new(&device(), params, &[], NOW);
        let f = s.clear("Device.A.X", 0, ClearAttributes { value: Some(11), ..ClearAttributes::default() });
        assert_eq!(f.attributes, vec!["Device.A.X"]);
        assert!(f.removed.is_empty());
        assert_eq!(s.node("Device.A.X").unwrap().value, None);
        assert_eq!(s.node("Device.A.Y").unwrap().value.as_ref().unwrap().0, "2");
        // Wildcards clear every match; what is fresher than asked stays.
        let f = s.clear("Device.*.Y", 0, ClearAttributes { value: Some(NOW), ..ClearAttributes::default() });
        assert!(f.attributes.is_empty());
        let f =
            s.clear("Device.*.X", 0, ClearAttributes { object: None, value: Some(NOW), ..ClearAttributes::default() });
        assert!(f.attributes.is_empty(), "already forgotten");
    }
}
