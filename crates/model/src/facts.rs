//! Fact files: the machine-readable content of one data model (every object and parameter
//! with its type, facets, access and notification policy), without any description prose.
//!
//! The format is JSON Lines, one record per line, so that a regenerated file diffs line by
//! line: the first line describes the model ([`ModelInfo`]), then each object
//! ([`ObjectFacts`], key `object`) is followed by its parameters ([`ParamFacts`], key `param`).
//! The first key of a line names the kind of record. Fields that hold their default value
//! are left out.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// The version of this format, written in every file's first line.
pub const FORMAT: u32 = 1;

/// A whole data model: what the importer writes and what [`crate::Schema`] is built from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FactFile {
    pub info: ModelInfo,
    pub objects: Vec<ObjectFacts>,
}

/// The first line of a fact file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// `Device:2.17`, `InternetGatewayDevice:1.14`, or a vendor model name.
    pub model: String,
    /// The spec URN of the source document, when it has one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spec: String,
    /// The file the facts were imported from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    pub format: u32,
}

/// Who may create and delete instances of an object (TR-106 A.2.7; `create`/`delete` also
/// describe device dumps whose tables allow only one of the two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ObjectAccess {
    #[default]
    ReadOnly,
    /// AddObject and DeleteObject.
    ReadWrite,
    /// AddObject only.
    Create,
    /// DeleteObject only.
    Delete,
}

impl ObjectAccess {
    pub fn can_add(self) -> bool {
        matches!(self, ObjectAccess::ReadWrite | ObjectAccess::Create)
    }
    pub fn can_delete(self) -> bool {
        matches!(self, ObjectAccess::ReadWrite | ObjectAccess::Delete)
    }
}

/// Parameter access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ParamAccess {
    #[default]
    ReadOnly,
    ReadWrite,
    /// Writable until a value has been written once (after creation), then read-only.
    WriteOnceReadOnly,
}

/// Life-cycle status of a definition. `deleted` items are not imported at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Status {
    #[default]
    Current,
    Deprecated,
    Obsoleted,
}

/// The TR-106 base types a parameter can resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BaseType {
    #[default]
    String,
    Int,
    UnsignedInt,
    Long,
    UnsignedLong,
    Boolean,
    DateTime,
    Base64,
    HexBinary,
    /// TR-106 `decimal`; CWMP has no xsd type for it, so it travels as `xsd:string`.
    Decimal,
}

impl BaseType {
    /// The name used in BBF XML and in fact files.
    pub fn name(self) -> &'static str {
        match self {
            BaseType::String => "string",
            BaseType::Int => "int",
            BaseType::UnsignedInt => "unsignedInt",
            BaseType::Long => "long",
            BaseType::UnsignedLong => "unsignedLong",
            BaseType::Boolean => "boolean",
            BaseType::DateTime => "dateTime",
            BaseType::Base64 => "base64",
            BaseType::HexBinary => "hexBinary",
            BaseType::Decimal => "decimal",
        }
    }

    /// The built-in type of a BBF syntax element name (`integer` is TR-106's alias for `long`).
    pub fn from_name(name: &str) -> Option<BaseType> {
        Some(match name {
            "string" | "any" => BaseType::String,
            "int" => BaseType::Int,
            "unsignedInt" => BaseType::UnsignedInt,
            "long" | "integer" => BaseType::Long,
            "unsignedLong" => BaseType::UnsignedLong,
            "boolean" => BaseType::Boolean,
            "dateTime" => BaseType::DateTime,
            "base64" => BaseType::Base64,
            "hexBinary" => BaseType::HexBinary,
            "decimal" => BaseType::Decimal,
            _ => return None,
        })
    }

    pub fn is_integer(self) -> bool {
        matches!(self, BaseType::Int | BaseType::UnsignedInt | BaseType::Long | BaseType::UnsignedLong)
    }
}

/// A length limit `[min, max]` (max `null` = unbounded), in characters for strings and in
/// bytes for base64 and hexBinary (TR-106 A.2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Size(pub u32, pub Option<u32>);

/// An inclusive integer range `[min, max, step]` (`null` = unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range(pub Option<i128>, pub Option<i128>, pub u64);

/// An inclusive decimal range `[min, max]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecimalRange(pub Option<f64>, pub Option<f64>);

/// A list-valued parameter: comma-separated items of the parameter's type.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListFacts {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_items: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u32>,
    /// Limits on the length of the whole list string.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub size: Vec<Size>,
}

/// Strong or weak reference (TR-069 3.6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RefType {
    Strong,
    Weak,
}

/// What a path reference may point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetType {
    #[default]
    Any,
    Parameter,
    Object,
    Single,
    Table,
    Row,
}

/// The scope a relative path was written in (TR-106 A.2.3.4). Fact files hold paths already
/// resolved to absolute schema paths; the scope is kept as a record of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PathScope {
    #[default]
    Normal,
    Model,
    Object,
}

/// A path-name reference (`pathRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PathRefFacts {
    pub ref_type: RefType,
    #[serde(default, skip_serializing_if = "is_default")]
    pub target_type: TargetType,
    /// Absolute schema paths of the tables (or objects) whose immediate children may be
    /// referenced; empty = anything of the target type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_parent: Vec<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub target_parent_scope: PathScope,
}

/// An instance-number reference (`instanceRef`): the value is an instance number of the
/// target table (0 or negative = none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRefFacts {
    pub ref_type: RefType,
    pub target_parent: String,
}

/// An enumeration taken at run time from a list-valued parameter (`enumerationRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnumRefFacts {
    /// Absolute schema path of the list parameter.
    pub target_param: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_value: Option<String>,
}

/// When a default applies (TR-106 A.2.3.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DefaultKind {
    /// From a standard; also on creation.
    Factory,
    /// On object creation.
    Object,
    /// Informational: a likely value after reset.
    Implementation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultFacts {
    #[serde(rename = "type")]
    pub kind: DefaultKind,
    pub value: String,
}

/// The data model's active-notification policy for a parameter (TR-106 A.2.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActiveNotify {
    #[default]
    Normal,
    /// Forced Active Notification: always 2, SetParameterAttributes cannot change it.
    ForceEnabled,
    /// Active notification (2) by default; the ACS may change it.
    ForceDefaultEnabled,
    /// The CPE may reject requests for active notification (9009).
    CanDeny,
}

/// A set of parameters whose values together identify a row (TR-106 A.2.10.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UniqueKey {
    pub params: Vec<String>,
    /// A functional key need only be unique among enabled rows; a non-functional one
    /// (such as `Alias`) always.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub functional: bool,
}

/// One object definition. `{i}` marks a multi-instance object (a table row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFacts {
    /// Full schema path ending in `.`, e.g. `Device.IP.Interface.{i}.`.
    pub object: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub access: ObjectAccess,
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub min_entries: u32,
    /// `None` = unbounded.
    #[serde(default = "some_one", skip_serializing_if = "is_some_one")]
    pub max_entries: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique_keys: Vec<UniqueKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_parameter: Option<String>,
    /// The parameter of the parent object that counts this table's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_entries_parameter: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: Status,
    /// Written as the lines that follow the object.
    #[serde(skip)]
    pub parameters: Vec<ParamFacts>,
}

impl ObjectFacts {
    pub fn new(path: impl Into<String>) -> ObjectFacts {
        ObjectFacts {
            object: path.into(),
            access: ObjectAccess::ReadOnly,
            min_entries: 1,
            max_entries: Some(1),
            unique_keys: Vec::new(),
            enable_parameter: None,
            num_entries_parameter: None,
            status: Status::Current,
            parameters: Vec::new(),
        }
    }

    /// A multi-instance object: its path ends in `{i}.`.
    pub fn is_multi(&self) -> bool {
        self.object.ends_with("{i}.")
    }
}

/// One parameter definition, with its type resolved to a base type and every facet of the
/// named data types it uses merged in.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamFacts {
    /// The parameter name within its object.
    pub param: String,
    #[serde(rename = "type")]
    pub base: BaseType,
    /// The named data type the parameter used (`IPAddress`, `MACAddress`, ...), informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub access: ParamAccess,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<ListFacts>,
    /// Alternative length limits (a value must satisfy one), per item for lists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub size: Vec<Size>,
    /// Alternative ranges (a value must lie in one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub range: Vec<Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decimal_range: Vec<DecimalRange>,
    /// Allowed values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enumeration: Vec<String>,
    /// Values of `enumeration` that only the CPE may report (an ACS may not set them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only_values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enumeration_ref: Option<EnumRefFacts>,
    /// XML Schema regular expressions; a value must match one in full.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pattern: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_ref: Option<PathRefFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ref: Option<InstanceRefFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultFacts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub forced_inform: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub active_notify: ActiveNotify,
    /// `hidden` or `secured`: reads return an empty string.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hidden: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: Status,
}

impl ParamFacts {
    pub fn new(name: impl Into<String>, base: BaseType) -> ParamFacts {
        ParamFacts { param: name.into(), base, ..ParamFacts::default() }
    }
}

/// A fact file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("the file is empty")]
    Empty,
    #[error("format version {0} is not supported (expected {FORMAT})")]
    Format(u32),
    #[error("line {0}: a parameter before any object")]
    Orphan(usize),
}

/// The key a record line starts with: it names the kind of record.
fn first_key(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix('{')?.trim_start().strip_prefix('"')?;
    rest.split('"').next()
}

impl FactFile {
    /// Reads a fact file.
    pub fn parse(text: &str) -> Result<FactFile, FactsError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (_, first) = lines.next().ok_or(FactsError::Empty)?;
        let info: ModelInfo =
            serde_json::from_str(first).map_err(|e| FactsError::Syntax { line: 1, message: e.to_string() })?;
        if info.format != FORMAT {
            return Err(FactsError::Format(info.format));
        }
        let mut objects: Vec<ObjectFacts> = Vec::new();
        for (index, line) in lines {
            let syntax = |e: serde_json::Error| FactsError::Syntax { line: index + 1, message: e.to_string() };
            match first_key(line) {
                Some("param") => {
                    let param: ParamFacts = serde_json::from_str(line).map_err(syntax)?;
                    objects.last_mut().ok_or(FactsError::Orphan(index + 1))?.parameters.push(param);
                }
                Some("object") => objects.push(serde_json::from_str(line).map_err(syntax)?),
                _ => {
                    return Err(FactsError::Syntax {
                        line: index + 1,
                        message: "expected a record starting with \"object\" or \"param\"".into(),
                    });
                }
            }
        }
        Ok(FactFile { info, objects })
    }

    /// Writes the fact file.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, json: Result<String, serde_json::Error>| {
            // Serializing these plain structs cannot fail (no maps with non-string keys).
            let _ = writeln!(out, "{}", json.unwrap_or_default());
        };
        line(&mut out, serde_json::to_string(&self.info));
        for object in &self.objects {
            line(&mut out, serde_json::to_string(object));
            for param in &object.parameters {
                line(&mut out, serde_json::to_string(param));
            }
        }
        out
    }

    /// Number of objects and parameters.
    pub fn counts(&self) -> (usize, usize) {
        (self.objects.len(), self.objects.iter().map(|o| o.parameters.len()).sum())
    }

    /// The root object name (`Device`, `InternetGatewayDevice`).
    pub fn root(&self) -> Option<&str> {
        self.objects.first().map(|o| o.object.trim_end_matches('.'))
    }
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}
fn is_true(v: &bool) -> bool {
    *v
}
fn yes() -> bool {
    true
}
fn is_false(v: &bool) -> bool {
    !*v
}
fn is_zero(v: &u32) -> bool {
    *v == 0
}
fn one() -> u32 {
    1
}
fn is_one(v: &u32) -> bool {
    *v == 1
}
fn some_one() -> Option<u32> {
    Some(1)
}
fn is_some_one(v: &Option<u32>) -> bool {
    *v == Some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FactFile {
        let mut table = ObjectFacts::new("Device.NAT.PortMapping.{i}.");
        table.access = ObjectAccess::ReadWrite;
        table.min_entries = 0;
        table.max_entries = None;
        table.unique_keys = vec![UniqueKey { params: vec!["Alias".into()], functional: false }];
        table.num_entries_parameter = Some("PortMappingNumberOfEntries".into());
        let mut port = ParamFacts::new("ExternalPort", BaseType::UnsignedInt);
        port.access = ParamAccess::ReadWrite;
        port.range = vec![Range(Some(0), Some(65535), 1)];
        port.default = Some(DefaultFacts { kind: DefaultKind::Object, value: "0".into() });
        let mut iface = ParamFacts::new("Interface", BaseType::String);
        iface.path_ref = Some(PathRefFacts {
            ref_type: RefType::Strong,
            target_type: TargetType::Row,
            target_parent: vec!["Device.IP.Interface.".into()],
            target_parent_scope: PathScope::Normal,
        });
        iface.size = vec![Size(0, Some(256))];
        iface.list = Some(ListFacts { min_items: 0, max_items: Some(4), size: vec![] });
        table.parameters = vec![port, iface];
        FactFile {
            info: ModelInfo {
                model: "Device:2.17".into(),
                spec: "urn:x".into(),
                source: "x.xml".into(),
                format: FORMAT,
            },
            objects: vec![ObjectFacts::new("Device."), table],
        }
    }

    #[test]
    fn round_trips_and_omits_defaults() {
        let file = sample();
        let text = file.to_text();
        assert_eq!(text.lines().count(), 5);
        assert!(text.lines().nth(1).unwrap() == r#"{"object":"Device."}"#, "{text}");
        assert!(text.contains(r#""maxEntries":null"#));
        assert!(text.contains(r#""range":[[0,65535,1]]"#));
        assert_eq!(FactFile::parse(&text).unwrap(), file);
        assert_eq!(file.counts(), (2, 2));
        assert_eq!(file.root(), Some("Device"));
    }

    #[test]
    fn rejects_bad_files() {
        assert!(matches!(FactFile::parse(""), Err(FactsError::Empty)));
        assert!(matches!(FactFile::parse(r#"{"model":"x","format":99}"#), Err(FactsError::Format(99))));
        let orphan = "{\"model\":\"x\",\"format\":1}\n{\"param\":\"A\",\"type\":\"int\"}\n";
        assert!(matches!(FactFile::parse(orphan), Err(FactsError::Orphan(2))));
        let junk = "{\"model\":\"x\",\"format\":1}\n{\"what\":1}\n";
        assert!(matches!(FactFile::parse(junk), Err(FactsError::Syntax { line: 2, .. })));
    }
}
