//! The schema: an immutable, indexed form of a fact file, shared (`Arc<Schema>`) by every
//! device that implements the model.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cwmp_wire::XsdType;
use regex::Regex;

use crate::facts::*;
use crate::import::bbf::parent_path;

/// Index of an object definition in its [`Schema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub(crate) u32);

/// Index of a parameter definition in its [`Schema`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParamId(pub(crate) u32);

/// A child of an object, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Child {
    Object(ObjectId),
    Param(ParamId),
}

/// One object definition.
#[derive(Debug)]
pub struct Object {
    /// Schema path, e.g. `Device.IP.Interface.{i}.`.
    pub path: Box<str>,
    /// The last name node (`Interface`).
    pub name: Box<str>,
    pub parent: Option<ObjectId>,
    /// A multi-instance object (table row).
    pub multi: bool,
    pub access: ObjectAccess,
    pub min_entries: u32,
    /// `None` = unbounded.
    pub max_entries: Option<u32>,
    /// Unique keys as parameter ids, with the `functional` flag.
    pub unique_keys: Vec<(Vec<ParamId>, bool)>,
    pub enable: Option<ParamId>,
    /// The `Alias` parameter of a table row, if the model defines one.
    pub alias: Option<ParamId>,
    pub status: Status,
    /// Child objects and parameters in definition order.
    pub children: Vec<ObjectId>,
    pub params: Vec<ParamId>,
    by_name: Vec<(Box<str>, Child)>,
}

impl Object {
    /// A child object or parameter by name.
    pub fn child(&self, name: &str) -> Option<Child> {
        self.by_name.binary_search_by(|(n, _)| n.as_ref().cmp(name)).ok().map(|i| self.by_name[i].1)
    }
}

/// A compiled path reference.
#[derive(Debug)]
pub struct PathRef {
    pub ref_type: RefType,
    pub target_type: TargetType,
    /// Objects (tables for row targets) whose immediate children may be referenced; empty =
    /// any target of the right type.
    pub target_parents: Vec<ObjectId>,
}

/// One parameter definition.
#[derive(Debug)]
pub struct Param {
    pub object: ObjectId,
    /// Everything the fact file says about the parameter.
    pub facts: ParamFacts,
    /// The table whose instances this `…NumberOfEntries` parameter counts.
    pub counts: Option<ObjectId>,
    pub path_ref: Option<PathRef>,
    /// `instanceRef`: the table whose instance numbers the value holds.
    pub instance_ref: Option<(RefType, ObjectId)>,
    /// `enumerationRef`: the list parameter holding the allowed values.
    pub enumeration_ref: Option<ParamId>,
    pattern: OnceLock<Option<Regex>>,
    initial: Box<str>,
}

impl Param {
    pub fn name(&self) -> &str {
        &self.facts.param
    }
    pub fn base(&self) -> BaseType {
        self.facts.base
    }
    pub fn is_list(&self) -> bool {
        self.facts.list.is_some()
    }
    /// The `xsi:type` of the parameter's values on the wire (lists and decimals are strings).
    pub fn xsd_type(&self) -> XsdType {
        if self.is_list() {
            return XsdType::String;
        }
        match self.facts.base {
            BaseType::String | BaseType::Decimal => XsdType::String,
            BaseType::Int => XsdType::Int,
            BaseType::UnsignedInt => XsdType::UnsignedInt,
            BaseType::Long => XsdType::Long,
            BaseType::UnsignedLong => XsdType::UnsignedLong,
            BaseType::Boolean => XsdType::Boolean,
            BaseType::DateTime => XsdType::DateTime,
            BaseType::Base64 => XsdType::Base64,
            BaseType::HexBinary => XsdType::HexBinary,
        }
    }
    /// The data model's patterns as one anchored regular expression; `None` when there is
    /// no pattern (or none could be translated from XML Schema syntax).
    pub fn pattern(&self) -> Option<&Regex> {
        self.pattern.get_or_init(|| compile_patterns(&self.facts.pattern)).as_ref()
    }
    /// The value the parameter has when nothing set it (see [`crate::syntax::initial`]).
    pub fn initial(&self) -> &str {
        &self.initial
    }
    pub fn is_strong_ref(&self) -> bool {
        self.path_ref.as_ref().is_some_and(|r| r.ref_type == RefType::Strong)
            || self.instance_ref.is_some_and(|(t, _)| t == RefType::Strong)
    }
}

/// Parameters of `ManagementServer` that the engine itself interprets.
#[derive(Debug, Default, Clone, Copy)]
pub struct WellKnown {
    pub parameter_key: Option<ParamId>,
    pub instance_mode: Option<ParamId>,
    pub auto_create_instances: Option<ParamId>,
    pub alias_based_addressing: Option<ParamId>,
    pub instance_wildcards_supported: Option<ParamId>,
}

/// A schema that could not be built from a fact file.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("the model has no objects")]
    Empty,
    #[error("{0:?} is not a root object")]
    BadRoot(String),
    #[error("object {0:?} is defined twice")]
    Duplicate(String),
    #[error("object {0:?} has no parent object")]
    Orphan(String),
    #[error(transparent)]
    Facts(#[from] FactsError),
}

/// An immutable, indexed data model.
#[derive(Debug)]
pub struct Schema {
    info: ModelInfo,
    objects: Vec<Object>,
    params: Vec<Param>,
    index: HashMap<Box<str>, Child>,
    forced_inform: Vec<ParamId>,
    strong_refs: Vec<ParamId>,
    well_known: WellKnown,
}

impl Schema {
    /// Parses a fact file and builds its schema.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        Schema::from_facts(FactFile::parse(text)?)
    }

    /// Builds the schema of a fact file.
    pub fn from_facts(file: FactFile) -> Result<Schema, SchemaError> {
        let first = file.objects.first().ok_or(SchemaError::Empty)?;
        if first.object.matches('.').count() != 1 || first.is_multi() {
            return Err(SchemaError::BadRoot(first.object.clone()));
        }
        let mut schema = Schema {
            info: file.info,
            objects: Vec::with_capacity(file.objects.len()),
            params: Vec::new(),
            index: HashMap::new(),
            forced_inform: Vec::new(),
            strong_refs: Vec::new(),
            well_known: WellKnown::default(),
        };
        let mut pending = Vec::new();
        for facts in file.objects {
            let id = ObjectId(schema.objects.len() as u32);
            let parent = match parent_path(&facts.object) {
                "" if id.0 == 0 => None,
                "" => return Err(SchemaError::BadRoot(facts.object)),
                p => match schema.index.get(p) {
                    Some(Child::Object(o)) => Some(*o),
                    _ => return Err(SchemaError::Orphan(facts.object)),
                },
            };
            if schema.index.contains_key(facts.object.as_str()) {
                return Err(SchemaError::Duplicate(facts.object));
            }
            let multi = facts.is_multi();
            let stem = facts.object.trim_end_matches('.').trim_end_matches("{i}").trim_end_matches('.');
            let name = stem.rsplit('.').next().unwrap_or(stem);
            let mut object = Object {
                path: facts.object.as_str().into(),
                name: name.into(),
                parent,
                multi,
                access: facts.access,
                min_entries: facts.min_entries,
                max_entries: facts.max_entries,
                unique_keys: Vec::new(),
                enable: None,
                alias: None,
                status: facts.status,
                children: Vec::new(),
                params: Vec::new(),
                by_name: Vec::new(),
            };
            for param in facts.parameters {
                let pid = ParamId(schema.params.len() as u32);
                let path = format!("{}{}", facts.object, param.param);
                object.by_name.push((param.param.as_str().into(), Child::Param(pid)));
                object.params.push(pid);
                schema.index.insert(path.into(), Child::Param(pid));
                schema.params.push(Param {
                    object: id,
                    facts: param,
                    counts: None,
                    path_ref: None,
                    instance_ref: None,
                    enumeration_ref: None,
                    pattern: OnceLock::new(),
                    initial: Box::default(),
                });
                let last = schema.params.len() - 1;
                schema.params[last].initial = crate::syntax::initial(&schema.params[last]).into();
            }
            if let Some(p) = parent {
                let parent = &mut schema.objects[p.0 as usize];
                parent.children.push(id);
                parent.by_name.push((name.into(), Child::Object(id)));
            }
            schema.index.insert(facts.object.as_str().into(), Child::Object(id));
            pending.push((facts.unique_keys, facts.enable_parameter, facts.num_entries_parameter));
            schema.objects.push(object);
        }
        for object in &mut schema.objects {
            object.by_name.sort_by(|a, b| a.0.cmp(&b.0));
        }
        for (index, (keys, enable, num_entries)) in pending.into_iter().enumerate() {
            let id = ObjectId(index as u32);
            let own = |name: &str| match schema.objects[index].child(name) {
                Some(Child::Param(p)) => Some(p),
                _ => None,
            };
            let unique_keys: Vec<(Vec<ParamId>, bool)> = keys
                .iter()
                .filter_map(|k| Some((k.params.iter().map(|n| own(n)).collect::<Option<Vec<_>>>()?, k.functional)))
                .collect();
            let enable = enable.as_deref().and_then(own);
            let alias = if schema.objects[index].multi { own("Alias") } else { None };
            let counter = num_entries.as_deref().and_then(|n| {
                let parent = schema.objects[index].parent?;
                match schema.objects[parent.0 as usize].child(n) {
                    Some(Child::Param(p)) => Some(p),
                    _ => None,
                }
            });
            let object = &mut schema.objects[index];
            object.unique_keys = unique_keys;
            object.enable = enable;
            object.alias = alias;
            if let Some(p) = counter {
                schema.params[p.0 as usize].counts = Some(id);
            }
        }
        for index in 0..schema.params.len() {
            let facts = &schema.params[index].facts;
            let table_of = |path: &str| match schema.index.get(format!("{path}{{i}}.").as_str()) {
                Some(Child::Object(o)) => Some(*o),
                _ => None,
            };
            let path_ref = facts.path_ref.as_ref().map(|r| PathRef {
                ref_type: r.ref_type,
                target_type: r.target_type,
                target_parents: r
                    .target_parent
                    .iter()
                    .filter_map(|t| {
                        table_of(t).or(match schema.index.get(t.as_str()) {
                            Some(Child::Object(o)) => Some(*o),
                            _ => None,
                        })
                    })
                    .collect(),
            });
            let instance_ref =
                facts.instance_ref.as_ref().and_then(|r| Some((r.ref_type, table_of(&r.target_parent)?)));
            let enumeration_ref =
                facts.enumeration_ref.as_ref().and_then(|r| match schema.index.get(r.target_param.as_str()) {
                    Some(Child::Param(p)) => Some(*p),
                    _ => None,
                });
            let forced = facts.forced_inform;
            let param = &mut schema.params[index];
            param.path_ref = path_ref;
            param.instance_ref = instance_ref;
            param.enumeration_ref = enumeration_ref;
            if forced {
                schema.forced_inform.push(ParamId(index as u32));
            }
            if param.is_strong_ref() {
                schema.strong_refs.push(ParamId(index as u32));
            }
        }
        let root = schema.objects[0].path.clone();
        let find = |name: &str| match schema.index.get(format!("{root}ManagementServer.{name}").as_str()) {
            Some(Child::Param(p)) => Some(*p),
            _ => None,
        };
        schema.well_known = WellKnown {
            parameter_key: find("ParameterKey"),
            instance_mode: find("InstanceMode"),
            auto_create_instances: find("AutoCreateInstances"),
            alias_based_addressing: find("AliasBasedAddressing"),
            instance_wildcards_supported: find("InstanceWildcardsSupported"),
        };
        Ok(schema)
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }
    /// The root object (`Device.` or `InternetGatewayDevice.`).
    pub fn root(&self) -> ObjectId {
        ObjectId(0)
    }
    pub fn object(&self, id: ObjectId) -> &Object {
        &self.objects[id.0 as usize]
    }
    pub fn param(&self, id: ParamId) -> &Param {
        &self.params[id.0 as usize]
    }
    pub fn objects(&self) -> impl ExactSizeIterator<Item = (ObjectId, &Object)> {
        self.objects.iter().enumerate().map(|(i, o)| (ObjectId(i as u32), o))
    }
    pub fn params(&self) -> impl ExactSizeIterator<Item = (ParamId, &Param)> {
        self.params.iter().enumerate().map(|(i, p)| (ParamId(i as u32), p))
    }
    /// An object or parameter by schema path (`Device.IP.Interface.{i}.Name`).
    pub fn lookup(&self, schema_path: &str) -> Option<Child> {
        self.index.get(schema_path).copied()
    }
    /// The full schema path of a parameter.
    pub fn param_path(&self, id: ParamId) -> String {
        let p = self.param(id);
        format!("{}{}", self.object(p.object).path, p.name())
    }
    /// Parameters the data model requires in every Inform.
    pub fn forced_inform(&self) -> &[ParamId] {
        &self.forced_inform
    }
    /// Parameters holding strong references (cleaned up when their target is deleted).
    pub fn strong_refs(&self) -> &[ParamId] {
        &self.strong_refs
    }
    pub fn well_known(&self) -> WellKnown {
        self.well_known
    }
    /// Whether `ancestor` is `object` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: ObjectId, mut object: ObjectId) -> bool {
        loop {
            if object == ancestor {
                return true;
            }
            match self.object(object).parent {
                Some(p) => object = p,
                None => return false,
            }
        }
    }
    /// The nearest multi-instance object at or above `object`.
    pub fn row_of(&self, mut object: ObjectId) -> Option<ObjectId> {
        loop {
            let o = self.object(object);
            if o.multi {
                return Some(object);
            }
            object = o.parent?;
        }
    }
    /// Approximate heap bytes held by the schema (for the benchmark's memory report).
    pub fn heap_size(&self) -> usize {
        let strings = |v: &[String]| v.iter().map(|s| s.capacity() + 24).sum::<usize>();
        let objects: usize = self
            .objects
            .iter()
            .map(|o| {
                std::mem::size_of::<Object>()
                    + o.path.len()
                    + o.name.len()
                    + o.children.capacity() * 4
                    + o.params.capacity() * 4
                    + o.by_name.iter().map(|(n, _)| n.len() + 24).sum::<usize>()
            })
            .sum();
        let params: usize = self
            .params
            .iter()
            .map(|p| {
                let f = &p.facts;
                std::mem::size_of::<Param>()
                    + f.param.capacity()
                    + strings(&f.enumeration)
                    + strings(&f.read_only_values)
                    + strings(&f.pattern)
                    + f.size.capacity() * 12
                    + f.range.capacity() * 40
            })
            .sum();
        let index: usize = self.index.keys().map(|k| k.len() + 32).sum();
        objects + params + index
    }
}

/// Translates XML Schema regular expressions (implicitly anchored, `^`/`$` literal, `\i`/`\c`
/// name classes) into one anchored Rust expression matching any of them.
fn compile_patterns(patterns: &[String]) -> Option<Regex> {
    if patterns.is_empty() {
        return None;
    }
    let alternatives: Vec<String> = patterns.iter().map(|p| format!("(?:{})", translate_xsd_regex(p))).collect();
    let source = format!("^(?:{})$", alternatives.join("|"));
    match Regex::new(&source) {
        Ok(re) => Some(re),
        Err(e) => {
            tracing::warn!(%e, ?patterns, "data-model pattern not usable; values are not checked against it");
            None
        }
    }
}

fn translate_xsd_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut in_class = false;
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('i') => out.push_str(if in_class { "_:A-Za-z" } else { "[_:A-Za-z]" }),
                Some('c') => out.push_str(if in_class { "\\-._:A-Za-z0-9" } else { "[\\-._:A-Za-z0-9]" }),
                Some('I') => out.push_str("[^_:A-Za-z]"),
                Some('C') => out.push_str("[^\\-._:A-Za-z0-9]"),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push_str("\\\\"),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '^' | '$' if !in_class => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// The shipped TR-181 `Device:2.17` schema, parsed once per process.
pub fn tr181() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| Arc::new(Schema::parse(crate::builtin::TR181_FACTS).expect("shipped TR-181 facts"))).clone()
}

/// The shipped TR-098 `InternetGatewayDevice:1.14` schema, parsed once per process.
pub fn tr098() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| Arc::new(Schema::parse(crate::builtin::TR098_FACTS).expect("shipped TR-098 facts"))).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_schemas_index_everything() {
        let s = tr181();
        assert_eq!(s.object(s.root()).path.as_ref(), "Device.");
        let Some(Child::Object(pm)) = s.lookup("Device.NAT.PortMapping.{i}.") else { panic!() };
        let table = s.object(pm);
        assert!(table.multi);
        assert_eq!(table.name.as_ref(), "PortMapping");
        assert!(table.alias.is_some() && table.enable.is_some());
        assert_eq!(table.unique_keys.len(), 2);
        let Some(Child::Param(count)) = s.lookup("Device.NAT.PortMappingNumberOfEntries") else { panic!() };
        assert_eq!(s.param(count).counts, Some(pm));
        let nat = s.object(table.parent.unwrap());
        assert_eq!(nat.child("PortMapping"), Some(Child::Object(pm)));
        assert_eq!(nat.child("PortMappingNumberOfEntries"), Some(Child::Param(count)));
        assert_eq!(s.forced_inform().len(), 7);
        let wk = s.well_known();
        assert!(wk.parameter_key.is_some() && wk.instance_mode.is_some() && wk.auto_create_instances.is_some());
        let Some(Child::Param(iface)) = s.lookup("Device.NAT.PortMapping.{i}.Interface") else { panic!() };
        let r = s.param(iface).path_ref.as_ref().unwrap();
        assert_eq!(r.ref_type, RefType::Strong);
        assert_eq!(s.object(r.target_parents[0]).path.as_ref(), "Device.IP.Interface.{i}.");
        assert!(s.strong_refs().contains(&iface));
        let Some(Child::Param(comp)) = s.lookup("Device.ManagementServer.HTTPCompression") else { panic!() };
        assert!(s.param(comp).enumeration_ref.is_some());
        assert_eq!(tr098().object(ObjectId(0)).path.as_ref(), "InternetGatewayDevice.");
        assert_eq!(tr098().forced_inform().len(), 10);
    }

    #[test]
    fn every_shipped_pattern_compiles_and_every_reference_resolves() {
        for schema in [tr181(), tr098()] {
            for (id, p) in schema.params() {
                if !p.facts.pattern.is_empty() {
                    assert!(p.pattern().is_some(), "{}", schema.param_path(id));
                }
                if p.facts.enumeration_ref.is_some() {
                    assert!(p.enumeration_ref.is_some(), "{}", schema.param_path(id));
                }
                if let Some(r) = &p.facts.path_ref {
                    let resolved = p.path_ref.as_ref().unwrap();
                    assert_eq!(r.target_parent.len(), resolved.target_parents.len(), "{}", schema.param_path(id));
                }
            }
        }
    }

    #[test]
    fn xsd_regex_translation() {
        let re = compile_patterns(&["".into(), "([0-9A-Fa-f][0-9A-Fa-f]:){5}([0-9A-Fa-f][0-9A-Fa-f])".into()]).unwrap();
        assert!(re.is_match(""));
        assert!(re.is_match("00:11:22:aa:BB:cc"));
        assert!(!re.is_match("00:11:22:aa:BB:cc:"));
        assert!(!re.is_match("x00:11:22:aa:BB:cc"));
        let literal = compile_patterns(&["a$b^".into()]).unwrap();
        assert!(literal.is_match("a$b^"));
        let names = compile_patterns(&["\\i\\c*".into()]).unwrap();
        assert!(names.is_match("x-1") && !names.is_match("1x"));
    }
}
