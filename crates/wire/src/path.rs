//! Parameter path names (TR-069 3.6, 3.6.1 alias-based addressing, 3.6.2 instance wildcards).
//!
//! One type covers every form that travels in `Name`, `ParameterPath` and `ObjectName`:
//! full parameter names (`Device.DeviceInfo.SerialNumber`), partial paths that end in `.`
//! (`Device.DeviceInfo.`), the empty path (the top of the tree), instance numbers
//! (`Device.IP.Interface.1.`), instance aliases (`Device.IP.Interface.[wan].`) and instance
//! wildcards (`Device.IP.Interface.*.Status`).

use std::fmt;

/// Longest path name the protocol carries: Name, ParameterPath and ObjectName are string(256).
pub const MAX_PATH_LEN: usize = 256;

/// A validated path name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path {
    text: String,
}

/// One node of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Segment<'a> {
    /// An object or parameter name.
    Name(&'a str),
    /// An instance number (always >= 1).
    Instance(u32),
    /// An instance alias, written `[alias]`.
    Alias(&'a str),
    /// The instance wildcard `*`.
    Wildcard,
}

impl Segment<'_> {
    /// Whether the segment stands for an instance (number, alias or wildcard).
    pub fn is_instance(&self) -> bool {
        !matches!(self, Segment::Name(_))
    }
}

impl fmt::Display for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Name(n) => f.write_str(n),
            Segment::Instance(i) => write!(f, "{i}"),
            Segment::Alias(a) => write!(f, "[{a}]"),
            Segment::Wildcard => f.write_str("*"),
        }
    }
}

/// Why a path name is invalid. The RPC layer turns this into fault 9005 (or 9003 where the
/// method requires it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is longer than {MAX_PATH_LEN} characters")]
    TooLong,
    #[error("empty node in path")]
    EmptyNode,
    #[error("invalid name {0:?} in path")]
    InvalidName(String),
    #[error("invalid instance number {0:?} in path")]
    InvalidInstance(String),
    #[error("invalid instance alias in path")]
    InvalidAlias,
    #[error("an instance identifier must follow an object name")]
    MisplacedInstance,
    #[error("the instance wildcard must not be the last node")]
    TrailingWildcard,
    #[error("path must start with an object name")]
    BadRoot,
}

/// Iterates the nodes of a path text that is known to be valid.
struct Nodes<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Nodes<'a> {
    /// The raw node text, and whether it was followed by a `.`.
    type Item = (&'a str, bool);
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        // An alias may itself contain dots: it runs to its closing bracket.
        let end = if self.rest.starts_with('[') {
            match self.rest.find(']') {
                Some(close) => self.rest[close..].find('.').map(|d| close + d),
                None => self.rest.find('.'),
            }
        } else {
            self.rest.find('.')
        };
        Some(match end {
            Some(dot) => {
                let node = &self.rest[..dot];
                self.rest = &self.rest[dot + 1..];
                (node, true)
            }
            None => {
                let node = self.rest;
                self.rest = "";
                (node, false)
            }
        })
    }
}

fn classify(node: &str) -> Result<Segment<'_>, PathError> {
    if node.is_empty() {
        return Err(PathError::EmptyNode);
    }
    if node == "*" {
        return Ok(Segment::Wildcard);
    }
    if let Some(inner) = node.strip_prefix('[') {
        let alias = inner.strip_suffix(']').ok_or(PathError::InvalidAlias)?;
        if alias.is_empty() || alias.contains(['[', ']']) {
            return Err(PathError::InvalidAlias);
        }
        return Ok(Segment::Alias(alias));
    }
    let first = node.as_bytes()[0];
    if first.is_ascii_digit() {
        if first == b'0' || !node.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PathError::InvalidInstance(node.to_owned()));
        }
        return node.parse().map(Segment::Instance).map_err(|_| PathError::InvalidInstance(node.to_owned()));
    }
    // TR-106 names: a letter or underscore, then letters, digits, `_` or `-`.
    let valid_start = first.is_ascii_alphabetic() || first == b'_';
    if !valid_start || !node.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(PathError::InvalidName(node.chars().take(64).collect()));
    }
    Ok(Segment::Name(node))
}

impl Path {
    /// The empty path: the top of the hierarchy.
    pub fn root() -> Path {
        Path { text: String::new() }
    }

    /// Validates a path name. Surrounding whitespace is removed first: names cannot contain
    /// it, and pretty-printed peers add it (digest trap 6.4).
    pub fn parse(text: &str) -> Result<Path, PathError> {
        let text = text.trim();
        if text.chars().count() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        let mut previous: Option<Segment<'_>> = None;
        for (node, _) in (Nodes { rest: text }) {
            let seg = classify(node)?;
            match (&previous, &seg) {
                (None, Segment::Name(_)) => {}
                (None, _) => return Err(PathError::BadRoot),
                (Some(Segment::Name(_)), _) => {}
                (Some(_), Segment::Name(_)) => {}
                (Some(_), _) => return Err(PathError::MisplacedInstance),
            }
            previous = Some(seg);
        }
        if previous == Some(Segment::Wildcard) {
            return Err(PathError::TrailingWildcard);
        }
        Ok(Path { text: text.to_owned() })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }

    /// The empty path.
    pub fn is_root(&self) -> bool {
        self.text.is_empty()
    }

    /// An object path: empty or ending in `.`.
    pub fn is_partial(&self) -> bool {
        self.text.is_empty() || self.text.ends_with('.')
    }

    /// A full parameter name: not empty, no trailing `.`.
    pub fn is_parameter(&self) -> bool {
        !self.is_partial()
    }

    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        Nodes { rest: &self.text }.map(|(node, _)| classify(node).expect("validated path"))
    }

    /// Number of nodes (`Device.IP.` has 2).
    pub fn depth(&self) -> usize {
        Nodes { rest: &self.text }.count()
    }

    pub fn last(&self) -> Option<Segment<'_>> {
        self.segments().last()
    }

    pub fn has_wildcard(&self) -> bool {
        self.segments().any(|s| s == Segment::Wildcard)
    }

    pub fn has_alias(&self) -> bool {
        self.segments().any(|s| matches!(s, Segment::Alias(_)))
    }

    /// The object that contains this node: `Device.IP.Interface.1.` → `Device.IP.Interface.`,
    /// `Device.DeviceInfo.SerialNumber` → `Device.DeviceInfo.`. The root has no parent.
    pub fn parent(&self) -> Option<Path> {
        if self.is_root() {
            return None;
        }
        let nodes: Vec<(&str, bool)> = Nodes { rest: &self.text }.collect();
        let keep = &nodes[..nodes.len() - 1];
        let mut text = String::with_capacity(self.text.len());
        for (node, _) in keep {
            text.push_str(node);
            text.push('.');
        }
        Some(Path { text })
    }

    /// Whether `self` is `prefix` or lies below it (`prefix` must be a partial path).
    pub fn starts_with(&self, prefix: &Path) -> bool {
        prefix.is_partial() && self.text.starts_with(&prefix.text)
    }

    /// Appends one node to an object path. The node is validated as in [`Path::parse`];
    /// `object` makes the result an object path (trailing dot).
    pub fn join(&self, node: &str, object: bool) -> Result<Path, PathError> {
        debug_assert!(self.is_partial());
        let mut text = String::with_capacity(self.text.len() + node.len() + 1);
        text.push_str(&self.text);
        text.push_str(node);
        if object {
            text.push('.');
        }
        Path::parse(&text)
    }

    /// The schema form of the path, with every instance identifier replaced by `{i}`:
    /// `Device.IP.Interface.[wan].Status` → `Device.IP.Interface.{i}.Status`.
    pub fn schema_path(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        for (node, dotted) in (Nodes { rest: &self.text }) {
            match classify(node) {
                Ok(Segment::Name(n)) => out.push_str(n),
                _ => out.push_str("{i}"),
            }
            if dotted {
                out.push('.');
            }
        }
        out
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Path {
    type Err = PathError;
    fn from_str(s: &str) -> Result<Path, PathError> {
        Path::parse(s)
    }
}

impl AsRef<str> for Path {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Path {
        Path::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn accepts_every_form() {
        assert!(ok("").is_root());
        assert!(ok("Device.").is_partial());
        assert!(ok("Device.DeviceInfo.SerialNumber").is_parameter());
        assert!(ok("Device.IP.Interface.1.").is_partial());
        assert!(ok("Device.Services.ABCService.[a].").has_alias());
        assert!(ok("Top.L1.1.L2.[b].").has_alias());
        assert!(ok("Device.IP.Interface.*.Status").has_wildcard());
        ok("Device.IP.Interface.*.IPv4Address.");
        ok("Device.IP.Interface.*.IPv4Address.*.IPAddress");
        ok("InternetGatewayDevice.X_00D09E_Foo.Bar-baz");
        ok("Device.Hosts.Host.[cpe-1.home].IPAddress");
        assert_eq!(ok("  Device.DeviceInfo.  ").as_str(), "Device.DeviceInfo.");
    }

    #[test]
    fn rejects_invalid_forms() {
        for (bad, why) in [
            ("Device.IP.Interface.*.", PathError::TrailingWildcard),
            ("Device.IP.Interface.*", PathError::TrailingWildcard),
            ("Device..IP", PathError::EmptyNode),
            (".Device", PathError::EmptyNode),
            ("Device.IP.Interface.0.", PathError::InvalidInstance("0".into())),
            ("Device.IP.Interface.01.", PathError::InvalidInstance("01".into())),
            ("Device.IP.Interface.99999999999.", PathError::InvalidInstance("99999999999".into())),
            ("Device.IP.Interface.[].", PathError::InvalidAlias),
            ("Device.IP.Interface.[a.", PathError::InvalidAlias),
            ("Device.IP.Interface.1.2.", PathError::MisplacedInstance),
            ("1.Device.", PathError::BadRoot),
            ("Device.Some Name", PathError::InvalidName("Some Name".into())),
        ] {
            assert_eq!(Path::parse(bad), Err(why), "{bad:?}");
        }
        assert_eq!(Path::parse(&"A.".repeat(129)), Err(PathError::TooLong));
    }

    #[test]
    fn navigation() {
        let p = ok("Device.IP.Interface.[wan].IPv4Address.2.IPAddress");
        assert_eq!(p.depth(), 7);
        assert_eq!(p.schema_path(), "Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress");
        assert_eq!(p.parent().unwrap().as_str(), "Device.IP.Interface.[wan].IPv4Address.2.");
        assert_eq!(ok("Device.IP.Interface.1.").parent().unwrap().as_str(), "Device.IP.Interface.");
        assert_eq!(ok("Device.").parent().unwrap(), Path::root());
        assert_eq!(Path::root().parent(), None);
        let segs: Vec<Segment<'_>> = p.segments().collect();
        assert_eq!(segs[3], Segment::Alias("wan"));
        assert_eq!(segs[5], Segment::Instance(2));
        assert!(p.starts_with(&ok("Device.IP.")));
        assert!(!p.starts_with(&ok("Device.IPX.")));
        assert_eq!(ok("Device.").join("IP", true).unwrap().as_str(), "Device.IP.");
    }
}
