//! CWMP protocol versions and their XML namespaces (TR-069 A.6 Table 89, 3.7.4).

use std::fmt;

/// A CWMP protocol version `major.minor`.
///
/// Versions 1.2, 1.3 and 1.4 share the namespace `urn:dslforum-org:cwmp-1-2`; a version
/// outside 1.0-1.4 can appear in a peer's `SupportedCWMPVersions` list and is kept so the
/// negotiation can skip it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

impl Version {
    pub const V1_0: Version = Version::new(1, 0);
    pub const V1_1: Version = Version::new(1, 1);
    pub const V1_2: Version = Version::new(1, 2);
    pub const V1_3: Version = Version::new(1, 3);
    pub const V1_4: Version = Version::new(1, 4);
    /// Every version this implementation speaks, oldest first.
    pub const ALL: [Version; 5] = [Self::V1_0, Self::V1_1, Self::V1_2, Self::V1_3, Self::V1_4];

    pub const fn new(major: u8, minor: u8) -> Version {
        Version { major, minor }
    }

    /// Whether this implementation speaks the version.
    pub fn is_known(self) -> bool {
        Self::ALL.contains(&self)
    }

    /// The namespace messages of this version are written in.
    pub fn namespace(self) -> Namespace {
        match (self.major, self.minor) {
            (1, 0) => Namespace::Cwmp10,
            (1, 1) => Namespace::Cwmp11,
            _ => Namespace::Cwmp12,
        }
    }

    /// Parses `"1.4"`. Whitespace around the text is ignored.
    pub fn parse(text: &str) -> Option<Version> {
        let (major, minor) = text.trim().split_once('.')?;
        Some(Version::new(major.parse().ok()?, minor.parse().ok()?))
    }

    /// Parses a `SupportedCWMPVersions` list such as `"1.0,1.1,1.2,1.3,1.4"`.
    /// Entries that are not `major.minor` are skipped.
    pub fn parse_list(text: &str) -> Vec<Version> {
        text.split(',').filter_map(Version::parse).collect()
    }

    /// Formats a list as `SupportedCWMPVersions` wants it.
    pub fn format_list(versions: &[Version]) -> String {
        let parts: Vec<String> = versions.iter().map(Version::to_string).collect();
        parts.join(",")
    }

    /// The version an ACS that supports `ours` picks from a CPE's list (3.7.4): the highest
    /// common one, or `None` (fault 8006).
    pub fn negotiate(theirs: &[Version], ours: &[Version]) -> Option<Version> {
        theirs.iter().copied().filter(|v| ours.contains(v)).max()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The CWMP XML namespace of a message (TR-069 Table 89).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Namespace {
    /// `urn:dslforum-org:cwmp-1-0`
    Cwmp10,
    /// `urn:dslforum-org:cwmp-1-1`
    Cwmp11,
    /// `urn:dslforum-org:cwmp-1-2`, shared by versions 1.2, 1.3 and 1.4.
    #[default]
    Cwmp12,
}

impl Namespace {
    pub fn uri(self) -> &'static str {
        match self {
            Namespace::Cwmp10 => "urn:dslforum-org:cwmp-1-0",
            Namespace::Cwmp11 => "urn:dslforum-org:cwmp-1-1",
            Namespace::Cwmp12 => "urn:dslforum-org:cwmp-1-2",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Namespace> {
        match uri {
            "urn:dslforum-org:cwmp-1-0" => Some(Namespace::Cwmp10),
            "urn:dslforum-org:cwmp-1-1" => Some(Namespace::Cwmp11),
            "urn:dslforum-org:cwmp-1-2" => Some(Namespace::Cwmp12),
            _ => None,
        }
    }

    /// The lowest version written in this namespace.
    pub fn base_version(self) -> Version {
        match self {
            Namespace::Cwmp10 => Version::V1_0,
            Namespace::Cwmp11 => Version::V1_1,
            Namespace::Cwmp12 => Version::V1_2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format_lists() {
        let list = Version::parse_list("1.0,1.1, 1.2,1.3,1.4,x,2.0");
        assert_eq!(list.len(), 6);
        assert_eq!(list[5], Version::new(2, 0));
        assert!(!list[5].is_known());
        assert_eq!(Version::format_list(&Version::ALL), "1.0,1.1,1.2,1.3,1.4");
    }

    #[test]
    fn negotiation_picks_highest_common() {
        let theirs = Version::parse_list("1.0,1.2,1.4");
        assert_eq!(Version::negotiate(&theirs, &Version::ALL), Some(Version::V1_4));
        assert_eq!(Version::negotiate(&theirs, &[Version::V1_1]), None);
    }

    #[test]
    fn namespaces() {
        assert_eq!(Version::V1_3.namespace(), Namespace::Cwmp12);
        assert_eq!(Version::V1_4.namespace().uri(), "urn:dslforum-org:cwmp-1-2");
        assert_eq!(Namespace::from_uri("urn:dslforum-org:cwmp-1-0"), Some(Namespace::Cwmp10));
        assert_eq!(Namespace::from_uri("urn:dslforum-org:cwmp-1-5"), None);
    }
}
