//! Device parameter dumps as models: a CSV export of a real device's parameter tree
//! (`Parameter,Object,Writable,Value,Value type`, as GenieACS writes it) becomes a schema
//! inferred from the dump and a template holding its rows and values, so that a simulator can
//! impersonate that device.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use cwmp_wire::XsdType;
use cwmp_wire::rpc::DeviceIdStruct;

use crate::facts::*;
use crate::schema::{Child, Schema, SchemaError};
use crate::template::{Template, TemplateBuilder};

/// Why a dump could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {message}")]
    Csv { line: usize, message: String },
    #[error("the header lacks a {0:?} column")]
    Column(&'static str),
    #[error("the dump holds no parameter tree")]
    Empty,
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("{path}: {message}")]
    Row { path: String, message: String },
}

/// A parsed dump.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixture {
    /// The schema inferred from the dump.
    pub facts: FactFile,
    /// Every row of every table, parents first (`InternetGatewayDevice.LANDevice.1.`).
    pub rows: Vec<String>,
    /// Every parameter's value, by full path.
    pub values: Vec<(String, String)>,
    /// The identity the dump was taken from (`DeviceID.*` entries), if present.
    pub device_id: Option<DeviceIdStruct>,
}

/// Reads a dump file. See [`parse`].
pub fn load(path: &Path, reference: Option<&Schema>) -> Result<Fixture, FixtureError> {
    let text = std::fs::read_to_string(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    parse(&text, &name, reference)
}

/// Parses a dump. Where a `reference` schema (the standard model the device implements)
/// has the same parameter, its forced-inform and active-notification facts are taken over;
/// types and access come from the dump, which shows what the device really does.
pub fn parse(text: &str, source: &str, reference: Option<&Schema>) -> Result<Fixture, FixtureError> {
    let records = parse_csv(text)?;
    let header = records.first().ok_or(FixtureError::Empty)?;
    let column = |name: &'static str| {
        header.iter().position(|h| h.trim().eq_ignore_ascii_case(name)).ok_or(FixtureError::Column(name))
    };
    let (c_name, c_object, c_writable, c_value) =
        (column("Parameter")?, column("Object")?, column("Writable")?, column("Value")?);
    let c_type = column("Value type").ok();
    let entries: Vec<Entry> = records[1..]
        .iter()
        .filter(|r| r.len() > c_name && !r[c_name].trim().is_empty())
        .map(|r| {
            let field = |i: usize| r.get(i).map(String::as_str).unwrap_or_default();
            Entry {
                name: field(c_name).trim().trim_end_matches('.').to_owned(),
                object: field(c_object).trim() == "true",
                writable: field(c_writable).trim() == "true",
                value: field(c_value).to_owned(),
                ty: c_type.map(field).unwrap_or_default().trim().to_owned(),
            }
        })
        .collect();
    let root = entries
        .iter()
        .find(|e| e.object && !e.name.contains('.'))
        .or_else(|| entries.iter().find(|e| e.object))
        .map(|e| e.name.split('.').next().unwrap_or_default().to_owned())
        .ok_or(FixtureError::Empty)?;
    let mut builder = Inferred::default();
    builder.object(&format!("{root}."));
    let mut rows = Vec::new();
    let mut values = Vec::new();
    let mut id = DeviceIdStruct::default();
    let mut has_id = false;
    for e in &entries {
        if let Some(field) = e.name.strip_prefix("DeviceID.") {
            has_id = true;
            match field {
                "Manufacturer" => id.manufacturer = e.value.clone(),
                "OUI" => id.oui = e.value.clone(),
                "ProductClass" => id.product_class = e.value.clone(),
                "SerialNumber" => id.serial_number = e.value.clone(),
                _ => {}
            }
            continue;
        }
        if e.name != root && !e.name.starts_with(&format!("{root}.")) {
            continue;
        }
        let schema_path = schema_path(&e.name);
        if e.object {
            let last_is_instance = e.name.rsplit('.').next().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
            builder.object(&format!("{schema_path}."));
            if last_is_instance {
                rows.push(format!("{}.", e.name));
                if e.writable {
                    builder.grant(&format!("{schema_path}."), ObjectAccess::Delete);
                }
            } else {
                // A table with no rows in the dump shows as a plain object; the standard
                // model tells which objects are tables.
                let table = format!("{schema_path}.{{i}}.");
                if reference.is_some_and(|r| r.lookup(&table).is_some()) {
                    builder.object(&table);
                }
                if e.writable {
                    builder.grant(&table, ObjectAccess::Create);
                }
            }
        } else {
            let (object, name) = schema_path.rsplit_once('.').unwrap_or((&root, &schema_path));
            builder.object(&format!("{object}."));
            builder.param(&format!("{object}."), name, base_type(&e.ty), e.writable);
            values.push((e.name.clone(), e.value.clone()));
        }
    }
    let mut facts = builder.finish();
    if let Some(reference) = reference {
        overlay(&mut facts, reference);
    }
    facts.info =
        ModelInfo { model: format!("{root}:dump"), spec: String::new(), source: source.to_owned(), format: FORMAT };
    Ok(Fixture { facts, rows, values, device_id: has_id.then_some(id) })
}

impl Fixture {
    /// The schema and a template holding the dump's rows and values.
    pub fn template(&self) -> Result<Arc<Template>, FixtureError> {
        let schema = Arc::new(Schema::from_facts(self.facts.clone())?);
        let key_param = schema.well_known().parameter_key;
        let mut builder = TemplateBuilder::new(schema.clone());
        for row in &self.rows {
            builder.add_numbered(row).map_err(|e| FixtureError::Row { path: row.clone(), message: e.to_string() })?;
        }
        for (path, value) in &self.values {
            if let Some(Child::Param(p)) = schema.lookup(&schema_path(path))
                && Some(p) == key_param
            {
                builder.parameter_key(value);
                continue;
            }
            // A dump shows what the device says, even where that breaks its own data model.
            builder
                .set_unchecked(path, value)
                .map_err(|e| FixtureError::Row { path: path.clone(), message: e.to_string() })?;
        }
        Ok(builder.build())
    }
}

struct Entry {
    name: String,
    object: bool,
    writable: bool,
    value: String,
    ty: String,
}

/// The schema as it is being inferred.
#[derive(Default)]
struct Inferred {
    objects: Vec<ObjectFacts>,
    index: HashMap<String, usize>,
    grants: HashMap<String, (bool, bool)>,
}

impl Inferred {
    /// Makes sure an object and all its ancestors exist (parents first).
    fn object(&mut self, path: &str) {
        if self.index.contains_key(path) {
            return;
        }
        let parent = crate::import::bbf::parent_path(path);
        if !parent.is_empty() {
            self.object(parent);
        }
        let mut facts = ObjectFacts::new(path);
        if facts.is_multi() {
            facts.min_entries = 0;
            facts.max_entries = None;
        }
        self.index.insert(path.to_owned(), self.objects.len());
        self.objects.push(facts);
    }

    fn grant(&mut self, path: &str, access: ObjectAccess) {
        let g = self.grants.entry(path.to_owned()).or_default();
        match access {
            ObjectAccess::Create => g.0 = true,
            ObjectAccess::Delete => g.1 = true,
            _ => {}
        }
    }

    fn param(&mut self, object: &str, name: &str, base: BaseType, writable: bool) {
        let o = &mut self.objects[self.index[object]];
        match o.parameters.iter_mut().find(|p| p.param == name) {
            Some(p) => {
                if writable {
                    p.access = ParamAccess::ReadWrite;
                }
            }
            None => {
                let mut p = ParamFacts::new(name, base);
                if writable {
                    p.access = ParamAccess::ReadWrite;
                }
                o.parameters.push(p);
            }
        }
    }

    fn finish(mut self) -> FactFile {
        for object in &mut self.objects {
            if let Some(&(create, delete)) = self.grants.get(&object.object) {
                object.access = match (create, delete) {
                    (true, true) => ObjectAccess::ReadWrite,
                    (true, false) => ObjectAccess::Create,
                    (false, true) => ObjectAccess::Delete,
                    (false, false) => ObjectAccess::ReadOnly,
                };
            }
        }
        // A table row `X.{i}.` replaces the single object `X.` a dump lists for the table.
        let tables: Vec<String> = self
            .objects
            .iter()
            .filter(|o| o.is_multi())
            .map(|o| o.object.trim_end_matches("{i}.").to_owned())
            .collect();
        self.objects.retain(|o| !tables.contains(&o.object));
        // `…NumberOfEntries` parameters count the table of the same name.
        let names: HashMap<String, usize> =
            self.objects.iter().enumerate().map(|(i, o)| (o.object.clone(), i)).collect();
        let mut counters = Vec::new();
        for o in &self.objects {
            for p in &o.parameters {
                if let Some(table) = p.param.strip_suffix("NumberOfEntries")
                    && let Some(&i) = names.get(&format!("{}{table}.{{i}}.", o.object))
                {
                    counters.push((i, p.param.clone()));
                }
            }
        }
        for (i, param) in counters {
            self.objects[i].num_entries_parameter = Some(param);
        }
        FactFile { info: ModelInfo::default(), objects: self.objects }
    }
}

/// Takes over what the standard model says about notification, Informs and which
/// parameter counts which table (TR-098 names some counters unlike their tables).
fn overlay(facts: &mut FactFile, reference: &Schema) {
    let mut counters = Vec::new();
    for object in &mut facts.objects {
        for p in &mut object.parameters {
            if let Some(Child::Param(id)) = reference.lookup(&format!("{}{}", object.object, p.param)) {
                let r = reference.param(id);
                p.forced_inform = r.facts.forced_inform;
                p.active_notify = r.facts.active_notify;
                if let Some(table) = r.counts {
                    counters.push((reference.object(table).path.to_string(), p.param.clone()));
                }
            }
        }
    }
    for (table, param) in counters {
        if let Some(object) = facts.objects.iter_mut().find(|o| o.object == table) {
            object.num_entries_parameter = Some(param);
        }
    }
}

/// `A.B.3.C` → `A.B.{i}.C`.
fn schema_path(path: &str) -> String {
    path.split('.')
        .map(|n| if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) { "{i}" } else { n })
        .collect::<Vec<_>>()
        .join(".")
}

fn base_type(xsi: &str) -> BaseType {
    let local = xsi.rsplit(':').next().unwrap_or(xsi);
    match XsdType::from_name(local) {
        XsdType::Int => BaseType::Int,
        XsdType::UnsignedInt => BaseType::UnsignedInt,
        XsdType::Long => BaseType::Long,
        XsdType::UnsignedLong => BaseType::UnsignedLong,
        XsdType::Boolean => BaseType::Boolean,
        XsdType::DateTime => BaseType::DateTime,
        XsdType::Base64 => BaseType::Base64,
        XsdType::HexBinary => BaseType::HexBinary,
        XsdType::String | XsdType::Other(_) => BaseType::String,
    }
}

/// RFC 4180 CSV: quoted fields may hold commas, quotes (doubled) and line breaks.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, FixtureError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut quoted = false;
    let mut started = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            '"' => return Err(FixtureError::Csv { line, message: "a quote inside an unquoted field".into() }),
            ',' => record.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                line += 1;
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                started = false;
                continue;
            }
            _ => field.push(c),
        }
        started = true;
    }
    if quoted {
        return Err(FixtureError::Csv { line, message: "unterminated quoted field".into() });
    }
    if started || !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_commas_and_newlines() {
        let text = "a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\"multi\nline\",\r\n";
        let records = parse_csv(text).unwrap();
        assert_eq!(records, vec![vec!["a", "b"], vec!["x, y", "say \"hi\""], vec!["multi\nline", ""]]);
        assert!(parse_csv("\"open").is_err());
        assert!(parse_csv("a\"b").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(
            schema_path("IGD.LANDevice.1.Hosts.Host.12.IPAddress"),
            "IGD.LANDevice.{i}.Hosts.Host.{i}.IPAddress"
        );
        assert_eq!(base_type("xsd:unsignedInt"), BaseType::UnsignedInt);
        assert_eq!(base_type(""), BaseType::String);
    }
}
