//! A small in-memory device tree for the tests, with GenieACS path matching: `*` matches any
//! one segment, `[Key:value,...]` an instance whose children have those values.

#![allow(dead_code)] // each test file uses part of it

use std::sync::OnceLock;

use cwmp_script::{Declaration, Input, Limits, Node, Output, ScriptData, ScriptError};

/// When the snapshot answers a declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Always: the script runs to its end against what is there.
    Always,
    /// GenieACS's rule for reads: something matches, and every match is at least as fresh as
    /// each timestamp given for `value` and `path`.
    Timestamps,
}

pub struct Tree {
    pub nodes: Vec<Node>,
    pub freshness: Freshness,
}

impl Tree {
    pub fn new(nodes: Vec<Node>) -> Tree {
        Tree { nodes, freshness: Freshness::Always }
    }

    pub fn strict(mut self) -> Tree {
        self.freshness = Freshness::Timestamps;
        self
    }

    fn value_of(&self, path: &str) -> Option<&str> {
        self.nodes.iter().find(|n| n.path == path).and_then(|n| n.value.as_ref()).map(|(v, _)| v.as_str())
    }

    fn matches(&self, pattern: &str, path: &str) -> bool {
        let pattern: Vec<&str> = split(pattern);
        let path_segments: Vec<&str> = path.split('.').collect();
        if pattern.len() != path_segments.len() {
            return false;
        }
        for (i, (want, have)) in pattern.iter().zip(&path_segments).enumerate() {
            if *want == "*" {
                continue;
            }
            if let Some(filter) = want.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
                let instance = path_segments[..=i].join(".");
                let ok = filter.split(',').filter(|kv| !kv.is_empty()).all(|kv| {
                    let (k, v) = kv.split_once(':').unwrap_or((kv, ""));
                    self.value_of(&format!("{instance}.{k}")) == Some(v)
                });
                if !ok || have.parse::<u32>().is_err() {
                    return false;
                }
                continue;
            }
            if want != have {
                return false;
            }
        }
        true
    }
}

/// Splits on dots outside brackets.
fn split(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            '.' if depth == 0 => {
                out.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&pattern[start..]);
    out
}

impl ScriptData for Tree {
    fn query(&self, path: &str) -> Vec<Node> {
        self.nodes.iter().filter(|n| self.matches(path, &n.path)).cloned().collect()
    }

    fn satisfies(&self, d: &Declaration) -> bool {
        match self.freshness {
            Freshness::Always => true,
            Freshness::Timestamps => {
                let matches = self.query(&d.path);
                let wanted = [d.timestamps.value, d.timestamps.path];
                if wanted.iter().all(Option::is_none) {
                    return true;
                }
                !matches.is_empty()
                    && matches.iter().all(|n| {
                        d.timestamps.value.is_none_or(|t| n.value_ts.is_some_and(|ts| ts >= t))
                            && d.timestamps.path.is_none_or(|t| n.path_ts.is_some_and(|ts| ts >= t))
                    })
            }
        }
    }
}

pub fn param(path: &str, value: &str, kind: &str) -> Node {
    Node {
        path: path.into(),
        object: false,
        value: Some((value.into(), kind.into())),
        writable: Some(true),
        value_ts: Some(1_000),
        path_ts: Some(1_000),
        notification: Some(0),
        access_list: Some(vec![]),
    }
}

pub fn object(path: &str) -> Node {
    Node {
        path: path.into(),
        object: true,
        value: None,
        writable: Some(true),
        value_ts: None,
        path_ts: Some(1_000),
        notification: None,
        access_list: None,
    }
}

/// 2024-05-01T12:34:56.789Z
pub const NOW: i64 = 1_714_566_896_789;

pub fn limits() -> &'static Limits {
    static LIMITS: OnceLock<Limits> = OnceLock::new();
    LIMITS.get_or_init(Limits::default)
}

pub fn run_with(
    source: &str,
    args: &[serde_json::Value],
    seed: u64,
    data: &dyn ScriptData,
) -> Result<Output, ScriptError> {
    let id = device_id(seed);
    cwmp_script::run(&Input { source, name: "test.js", args, now: NOW, device_id: &id, data, limits: limits() })
}

/// A device id for a test device number.
pub fn device_id(n: u64) -> String {
    format!("00D09E-HG-{n}")
}

pub fn run_on(source: &str, data: &dyn ScriptData) -> Result<Output, ScriptError> {
    run_with(source, &[], 7, data)
}

pub fn run(source: &str) -> Result<Output, ScriptError> {
    run_on(source, &Tree::new(vec![]))
}

/// The script's return value, which must exist.
pub fn eval(source: &str) -> serde_json::Value {
    match run(source) {
        Ok(out) => out.result.unwrap_or_else(|| panic!("no result from {source}")),
        Err(e) => panic!("{source}: {e:?}"),
    }
}
