//! Import of Broadband Forum data-model XML (`cwmp-datamodel-1-x.xsd`, TR-106 Annex A) into
//! fact files.
//!
//! Handles the flattened "full" files the BBF publishes as well as vendor documents that
//! import other documents: named data types (resolved through `base` chains to a built-in
//! type, facets merged), components (`<component ref path>`), models derived from a base
//! model (`<model base>`), object and parameter modifications (`<object base>`,
//! `<parameter base>`). Descriptions, profiles, templates and the bibliography are not
//! facts and are skipped. Items whose status is `deleted` are left out.
//!
//! An imported file is looked up beside the importing one. When it is absent, named data
//! types fall back to the TR-106 types built into this crate, and a base model falls back
//! to the shipped fact file of the same model ([`crate::builtin`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use roxmltree::{Document, Node};

use crate::facts::*;

/// TR-106 named data types, used when an imported types file is not available.
const BUILTIN_TYPES: &str = include_str!("tr106_types.xml");

/// Nesting limit for data-type `base` chains and component references.
const MAX_DEPTH: usize = 32;

/// Why a data-model document could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {error}")]
    Io { file: String, error: std::io::Error },
    #[error("{file}: not well-formed XML: {source}")]
    Xml { file: String, source: roxmltree::Error },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// Imports every model defined in a BBF data-model XML file. Files it imports are looked up
/// in the same directory.
pub fn import_file(path: &Path) -> Result<Vec<FactFile>, ImportError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let text = std::fs::read_to_string(path).map_err(|error| ImportError::Io { file: name.clone(), error })?;
    import_text(&text, &name, path.parent())
}

/// Imports every model defined in `text` (named `source` in messages and facts); imported
/// files are looked up in `dir`.
pub fn import_text(text: &str, source: &str, dir: Option<&Path>) -> Result<Vec<FactFile>, ImportError> {
    let mut sources: Vec<(String, String)> =
        vec![("built-in TR-106 types".to_owned(), BUILTIN_TYPES.to_owned()), (source.to_owned(), text.to_owned())];
    let mut seen: HashSet<String> = HashSet::from([source.to_owned()]);
    let mut pending = vec![1];
    while let Some(index) = pending.pop() {
        let (name, text) = &sources[index];
        let doc = parse(name, text)?;
        let mut found = Vec::new();
        for import in doc.root_element().children().filter(|n| n.has_tag_name("import")) {
            let Some(file) = import.attribute("file") else { continue };
            if !seen.insert(file.to_owned()) {
                continue;
            }
            match dir.map(|d| d.join(file)).filter(|p| p.is_file()) {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|error| ImportError::Io { file: file.to_owned(), error })?;
                    found.push((file.to_owned(), text));
                }
                None => tracing::debug!(file, "imported file not found; using built-in facts"),
            }
        }
        for entry in found {
            sources.push(entry);
            pending.push(sources.len() - 1);
        }
    }
    let docs = sources.iter().map(|(name, text)| parse(name, text)).collect::<Result<Vec<_>, _>>()?;
    let ctx = Context::new(&docs, &sources);
    let main = docs[1].root_element();
    let spec = main.attribute("spec").unwrap_or_default();
    let mut files = Vec::new();
    for model in main.children().filter(|n| n.has_tag_name("model")) {
        let name = model.attribute("name").unwrap_or_default();
        let mut builder = Builder::new(source);
        builder.model(&ctx, model, 0)?;
        builder.finish()?;
        files.push(FactFile {
            info: ModelInfo {
                model: name.to_owned(),
                spec: spec.to_owned(),
                source: source.to_owned(),
                format: FORMAT,
            },
            objects: builder.objects,
        });
    }
    if files.is_empty() {
        return Err(ImportError::Invalid { file: source.to_owned(), message: "the document defines no model".into() });
    }
    Ok(files)
}

fn parse<'a>(name: &str, text: &'a str) -> Result<Document<'a>, ImportError> {
    let doc = Document::parse(text).map_err(|source| ImportError::Xml { file: name.to_owned(), source })?;
    if !doc.root_element().has_tag_name("document") {
        return Err(ImportError::Invalid {
            file: name.to_owned(),
            message: format!(
                "the root element is <{}>, not a BBF data-model <document>",
                doc.root_element().tag_name().name()
            ),
        });
    }
    Ok(doc)
}

/// Definitions visible to the models being imported, across all loaded documents.
struct Context<'a, 'input> {
    data_types: HashMap<&'a str, Node<'a, 'input>>,
    components: HashMap<&'a str, Node<'a, 'input>>,
    models: HashMap<&'a str, Node<'a, 'input>>,
    /// Names under which an `<import>` makes a definition of another name visible.
    aliases: HashMap<&'a str, &'a str>,
    file_of: HashMap<roxmltree::NodeId, &'a str>,
}

impl<'a, 'input> Context<'a, 'input> {
    fn new(docs: &'a [Document<'input>], sources: &'a [(String, String)]) -> Self {
        let mut ctx = Context {
            data_types: HashMap::new(),
            components: HashMap::new(),
            models: HashMap::new(),
            aliases: HashMap::new(),
            file_of: HashMap::new(),
        };
        // Later documents (the main one, then its imports) override the built-in types.
        for (doc, (file, _)) in docs.iter().zip(sources) {
            for node in doc.root_element().children().filter(Node::is_element) {
                if node.has_tag_name("import") {
                    for item in node.children().filter(Node::is_element) {
                        if let (Some(local), Some(remote)) = (item.attribute("name"), item.attribute("ref"))
                            && local != remote
                        {
                            ctx.aliases.insert(local, remote);
                        }
                    }
                    continue;
                }
                let Some(name) = node.attribute("name") else { continue };
                match node.tag_name().name() {
                    "dataType" => {
                        ctx.data_types.insert(name, node);
                    }
                    "component" => {
                        ctx.components.insert(name, node);
                    }
                    "model" => {
                        ctx.models.insert(name, node);
                        ctx.file_of.insert(node.id(), file);
                    }
                    _ => {}
                }
            }
        }
        ctx
    }

    fn lookup<T: Copy>(&self, map: &HashMap<&'a str, T>, name: &str) -> Option<T> {
        map.get(name).or_else(|| self.aliases.get(name).and_then(|r| map.get(r))).copied()
    }
}

/// The objects of one model as they are being built.
struct Builder {
    file: String,
    objects: Vec<ObjectFacts>,
    index: HashMap<String, usize>,
    deleted: Vec<String>,
    types: HashMap<String, ParamFacts>,
}

impl Builder {
    fn new(file: &str) -> Builder {
        Builder {
            file: file.to_owned(),
            objects: Vec::new(),
            index: HashMap::new(),
            deleted: Vec::new(),
            types: HashMap::new(),
        }
    }

    fn error(&self, message: impl Into<String>) -> ImportError {
        ImportError::Invalid { file: self.file.clone(), message: message.into() }
    }

    fn root(&self) -> &str {
        self.objects.first().map(|o| o.object.as_str()).unwrap_or("")
    }

    fn model(&mut self, ctx: &Context<'_, '_>, model: Node<'_, '_>, depth: usize) -> Result<(), ImportError> {
        if depth > MAX_DEPTH {
            return Err(self.error("model base chain too deep"));
        }
        if let Some(base) = model.attribute("base") {
            match ctx.lookup(&ctx.models, base) {
                Some(node) if node != model => self.model(ctx, node, depth + 1)?,
                _ => {
                    let facts = crate::builtin::facts_for_model(base)
                        .ok_or_else(|| self.error(format!("base model {base:?} is neither imported nor built in")))?;
                    for object in facts.objects {
                        self.index.insert(object.object.clone(), self.objects.len());
                        self.objects.push(object);
                    }
                }
            }
        }
        self.items(ctx, model, "", depth)
    }

    /// The content of a model, component or object, with paths relative to `prefix`.
    fn items(
        &mut self,
        ctx: &Context<'_, '_>,
        node: Node<'_, '_>,
        prefix: &str,
        depth: usize,
    ) -> Result<(), ImportError> {
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "component" => {
                    if depth > MAX_DEPTH {
                        return Err(self.error("component references nested too deeply"));
                    }
                    let name = child.attribute("ref").unwrap_or_default();
                    let component = ctx
                        .lookup(&ctx.components, name)
                        .ok_or_else(|| self.error(format!("component {name:?} is not defined")))?;
                    let path = format!("{prefix}{}", child.attribute("path").unwrap_or_default());
                    self.items(ctx, component, &path, depth + 1)?;
                }
                "object" => self.object(ctx, child, prefix, depth)?,
                "parameter" if !prefix.is_empty() => self.parameter(ctx, child, prefix)?,
                "parameter" => {
                    let name = child.attribute("name").or(child.attribute("base")).unwrap_or_default();
                    tracing::warn!(name, "parameter outside any object skipped");
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn is_deleted(&self, path: &str) -> bool {
        self.deleted.iter().any(|d| path.starts_with(d.as_str()))
    }

    fn object(
        &mut self,
        ctx: &Context<'_, '_>,
        node: Node<'_, '_>,
        prefix: &str,
        depth: usize,
    ) -> Result<(), ImportError> {
        let (name, defines) = match (node.attribute("name"), node.attribute("base")) {
            (Some(n), _) => (n, true),
            (None, Some(b)) => (b, false),
            (None, None) => return Err(self.error("an object without name or base")),
        };
        let path = format!("{prefix}{name}");
        if !path.ends_with('.') {
            return Err(self.error(format!("object name {path:?} does not end with '.'")));
        }
        if node.attribute("status") == Some("deleted") || self.is_deleted(&path) {
            if let Some(index) = self.index.remove(&path) {
                self.objects.remove(index);
                self.reindex();
            }
            self.deleted.push(path);
            return Ok(());
        }
        let index = match self.index.get(&path) {
            Some(&i) => i,
            None if defines => {
                self.objects.push(ObjectFacts::new(path.clone()));
                self.index.insert(path.clone(), self.objects.len() - 1);
                self.objects.len() - 1
            }
            None => return Err(self.error(format!("object {path:?} modified but never defined"))),
        };
        let number = |attr: &str| -> Result<Option<Option<u32>>, ImportError> {
            match node.attribute(attr) {
                None => Ok(None),
                Some("unbounded") => Ok(Some(None)),
                Some(v) => {
                    v.parse().map(|n| Some(Some(n))).map_err(|_| self.error(format!("{path}: bad {attr} {v:?}")))
                }
            }
        };
        let min = number("minEntries")?;
        let max = number("maxEntries")?;
        let object = &mut self.objects[index];
        if let Some(access) = node.attribute("access") {
            object.access = match access {
                "readWrite" => ObjectAccess::ReadWrite,
                _ => ObjectAccess::ReadOnly,
            };
        }
        if let Some(Some(min)) = min {
            object.min_entries = min;
        }
        if let Some(max) = max {
            object.max_entries = max;
        }
        if let Some(p) = node.attribute("enableParameter") {
            object.enable_parameter = Some(p.to_owned());
        }
        if let Some(p) = node.attribute("numEntriesParameter") {
            object.num_entries_parameter = Some(p.to_owned());
        }
        if let Some(status) = node.attribute("status") {
            object.status = status_of(status);
        }
        for child in node.children().filter(Node::is_element) {
            match child.tag_name().name() {
                "uniqueKey" => {
                    let params: Vec<String> = child
                        .children()
                        .filter(|n| n.has_tag_name("parameter"))
                        .filter_map(|n| n.attribute("ref"))
                        .map(str::to_owned)
                        .collect();
                    let functional = child.attribute("functional") != Some("false");
                    let object = &mut self.objects[index];
                    if !params.is_empty() && !object.unique_keys.iter().any(|k| k.params == params) {
                        object.unique_keys.push(UniqueKey { params, functional });
                    }
                }
                "parameter" => self.parameter(ctx, child, &path)?,
                "component" => {
                    let wrapper = child;
                    let name = wrapper.attribute("ref").unwrap_or_default();
                    let component = ctx
                        .lookup(&ctx.components, name)
                        .ok_or_else(|| self.error(format!("component {name:?} is not defined")))?;
                    let inner = format!("{path}{}", wrapper.attribute("path").unwrap_or_default());
                    self.items(ctx, component, &inner, depth + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn reindex(&mut self) {
        self.index = self.objects.iter().enumerate().map(|(i, o)| (o.object.clone(), i)).collect();
    }

    fn parameter(&mut self, ctx: &Context<'_, '_>, node: Node<'_, '_>, object_path: &str) -> Result<(), ImportError> {
        let (name, defines) = match (node.attribute("name"), node.attribute("base")) {
            (Some(n), _) => (n, true),
            (None, Some(b)) => (b, false),
            (None, None) => return Err(self.error(format!("{object_path}: a parameter without name or base"))),
        };
        if self.is_deleted(object_path) {
            return Ok(());
        }
        let Some(&index) = self.index.get(object_path) else {
            return Err(self.error(format!("parameter {name:?} in undefined object {object_path:?}")));
        };
        let existing = self.objects[index].parameters.iter().position(|p| p.param == name);
        if node.attribute("status") == Some("deleted") {
            if let Some(i) = existing {
                self.objects[index].parameters.remove(i);
            }
            return Ok(());
        }
        let mut param = match existing {
            Some(i) => self.objects[index].parameters[i].clone(),
            None if defines => ParamFacts::new(name, BaseType::String),
            None => return Err(self.error(format!("parameter {object_path}{name} modified but never defined"))),
        };
        if let Some(access) = node.attribute("access") {
            param.access = match access {
                "readWrite" => ParamAccess::ReadWrite,
                "writeOnceReadOnly" => ParamAccess::WriteOnceReadOnly,
                _ => ParamAccess::ReadOnly,
            };
        }
        if let Some(v) = node.attribute("activeNotify") {
            param.active_notify = match v {
                "forceEnabled" => ActiveNotify::ForceEnabled,
                "forceDefaultEnabled" => ActiveNotify::ForceDefaultEnabled,
                "canDeny" => ActiveNotify::CanDeny,
                _ => ActiveNotify::Normal,
            };
        }
        if let Some(v) = node.attribute("forcedInform") {
            param.forced_inform = v == "true" || v == "1";
        }
        if let Some(status) = node.attribute("status") {
            param.status = status_of(status);
        }
        match node.children().find(|n| n.has_tag_name("syntax")) {
            Some(syntax) => self.syntax(ctx, &mut param, syntax, object_path)?,
            None if existing.is_none() => {
                return Err(self.error(format!("parameter {object_path}{name} has no syntax")));
            }
            None => {}
        }
        let object = &mut self.objects[index];
        match existing {
            Some(i) => object.parameters[i] = param,
            None => object.parameters.push(param),
        }
        Ok(())
    }

    /// Applies a `<syntax>` element: the list facet, the type (built-in or named) with its
    /// facets, and the default.
    fn syntax(
        &mut self,
        ctx: &Context<'_, '_>,
        param: &mut ParamFacts,
        syntax: Node<'_, '_>,
        object_path: &str,
    ) -> Result<(), ImportError> {
        let name = std::mem::take(&mut param.param);
        let keep = (param.access, param.active_notify, param.forced_inform, param.status);
        *param = ParamFacts::new(name, BaseType::String);
        (param.access, param.active_notify, param.forced_inform, param.status) = keep;
        param.hidden = syntax.attribute("hidden") == Some("true") || syntax.attribute("secured") == Some("true");
        for child in syntax.children().filter(Node::is_element) {
            let tag = child.tag_name().name();
            match tag {
                "list" => param.list = Some(list_facts(child)),
                "dataType" => {
                    let name = child.attribute("ref").or(child.attribute("base")).unwrap_or_default();
                    let resolved = self.data_type(ctx, name, 0)?;
                    merge_type(param, resolved);
                    self.facets(param, child)?;
                }
                "default" => {
                    if child.attribute("status") != Some("deleted") {
                        let kind = match child.attribute("type") {
                            Some("factory") => DefaultKind::Factory,
                            Some("implementation") => DefaultKind::Implementation,
                            _ => DefaultKind::Object,
                        };
                        let value = child.attribute("value").unwrap_or_default().to_owned();
                        param.default = Some(DefaultFacts { kind, value });
                    }
                }
                _ => {
                    if let Some(base) = BaseType::from_name(tag) {
                        param.base = base;
                        self.facets(param, child)?;
                    }
                }
            }
        }
        resolve_paths(param, object_path, self.root_for(object_path));
        Ok(())
    }

    /// The root object path for relative references: the model's first object, or the first
    /// node of `object_path` while the root itself is being defined.
    fn root_for<'p>(&'p self, object_path: &'p str) -> &'p str {
        match self.root() {
            "" => object_path.find('.').map_or(object_path, |i| &object_path[..=i]),
            root => root,
        }
    }

    /// A named data type resolved to a built-in type with all facets of its `base` chain.
    fn data_type(&mut self, ctx: &Context<'_, '_>, name: &str, depth: usize) -> Result<ParamFacts, ImportError> {
        let name = ctx.aliases.get(name).copied().unwrap_or(name);
        if let Some(done) = self.types.get(name) {
            return Ok(done.clone());
        }
        if depth > MAX_DEPTH {
            return Err(self.error(format!("data type {name:?}: base chain too deep")));
        }
        let def = ctx.lookup(&ctx.data_types, name).ok_or_else(|| self.error(format!("unknown data type {name:?}")))?;
        let mut resolved = match def.attribute("base") {
            Some(base) => self.data_type(ctx, base, depth + 1)?,
            None => ParamFacts::default(),
        };
        for child in def.children().filter(Node::is_element) {
            let tag = child.tag_name().name();
            if tag == "list" {
                resolved.list = Some(list_facts(child));
            } else if let Some(base) = BaseType::from_name(tag) {
                resolved.base = base;
                self.facets(&mut resolved, child)?;
            }
        }
        if def.attribute("base").is_some() {
            self.facets(&mut resolved, def)?;
        }
        if !name.starts_with('_') {
            resolved.data_type = Some(name.to_owned());
        }
        self.types.insert(name.to_owned(), resolved.clone());
        Ok(resolved)
    }

    /// Applies the facet children of `node`. A facet kind present here replaces what a base
    /// type said about that kind; facets with status `deleted` are ignored.
    fn facets(&self, param: &mut ParamFacts, node: Node<'_, '_>) -> Result<(), ImportError> {
        let mut replaced: HashSet<&str> = HashSet::new();
        for facet in node.children().filter(Node::is_element) {
            if facet.attribute("status") == Some("deleted") {
                continue;
            }
            let kind = facet.tag_name().name();
            let first = replaced.insert(kind);
            let int = |attr: &str| -> Result<Option<i128>, ImportError> {
                facet
                    .attribute(attr)
                    .map(|v| v.trim().parse::<i128>().map_err(|_| self.error(format!("bad {attr} {v:?}"))))
                    .transpose()
            };
            match kind {
                "size" => {
                    if first {
                        param.size.clear();
                    }
                    let min = int("minLength")?.unwrap_or(0);
                    let max = int("maxLength")?;
                    param.size.push(Size(clamp_u32(min), max.map(clamp_u32)));
                }
                "range" if param.base == BaseType::Decimal => {
                    if first {
                        param.decimal_range.clear();
                    }
                    param.decimal_range.push(decimal_range(facet));
                }
                "decimalRange" => {
                    if first {
                        param.decimal_range.clear();
                    }
                    param.decimal_range.push(decimal_range(facet));
                }
                "range" => {
                    if first {
                        param.range.clear();
                    }
                    let step = int("step")?.unwrap_or(1).clamp(1, u64::MAX as i128) as u64;
                    param.range.push(Range(int("minInclusive")?, int("maxInclusive")?, step));
                }
                "enumeration" => {
                    if first {
                        param.enumeration.clear();
                        param.read_only_values.clear();
                    }
                    let value = facet.attribute("value").unwrap_or_default().to_owned();
                    if facet.attribute("access") == Some("readOnly") {
                        param.read_only_values.push(value.clone());
                    }
                    param.enumeration.push(value);
                }
                "pattern" => {
                    if first {
                        param.pattern.clear();
                    }
                    param.pattern.push(facet.attribute("value").unwrap_or_default().to_owned());
                }
                "enumerationRef" => {
                    param.enumeration_ref = Some(EnumRefFacts {
                        target_param: raw_with_scope(
                            facet.attribute("targetParam"),
                            facet.attribute("targetParamScope"),
                        ),
                        null_value: facet.attribute("nullValue").map(str::to_owned),
                    });
                }
                "pathRef" => {
                    let target_type = match facet.attribute("targetType") {
                        Some("parameter") => TargetType::Parameter,
                        Some("object") => TargetType::Object,
                        Some("single") => TargetType::Single,
                        Some("table") => TargetType::Table,
                        Some("row") => TargetType::Row,
                        _ => TargetType::Any,
                    };
                    param.path_ref = Some(PathRefFacts {
                        ref_type: ref_type(facet.attribute("refType")),
                        target_type,
                        target_parent: facet
                            .attribute("targetParent")
                            .unwrap_or_default()
                            .split_whitespace()
                            .map(str::to_owned)
                            .collect(),
                        target_parent_scope: scope_of(facet.attribute("targetParentScope")),
                    });
                }
                "instanceRef" => {
                    param.instance_ref = Some(InstanceRefFacts {
                        ref_type: ref_type(facet.attribute("refType")),
                        target_parent: raw_with_scope(
                            facet.attribute("targetParent"),
                            facet.attribute("targetParentScope"),
                        ),
                    });
                }
                "units" => param.units = facet.attribute("value").map(str::to_owned),
                _ => {}
            }
        }
        Ok(())
    }

    /// Final checks: every object's parent exists, row references name tables.
    fn finish(&mut self) -> Result<(), ImportError> {
        let Some(first) = self.objects.first() else {
            return Err(self.error("the model has no objects"));
        };
        let root = first.object.clone();
        if root.matches('.').count() != 1 || root.contains('{') {
            return Err(self.error(format!("the first object {root:?} is not a root object")));
        }
        for object in &self.objects[1..] {
            let parent = parent_path(&object.object);
            if !self.index.contains_key(parent) {
                return Err(self.error(format!("object {} has no parent object {parent:?}", object.object)));
            }
        }
        let tables: HashSet<String> = self
            .objects
            .iter()
            .filter(|o| o.is_multi())
            .map(|o| o.object.trim_end_matches("{i}.").to_owned())
            .collect();
        for object in &mut self.objects {
            for param in &mut object.parameters {
                if let Some(r) = &mut param.path_ref
                    && r.target_type == TargetType::Row
                {
                    r.target_parent.retain(|t| {
                        let keep = tables.contains(t);
                        if !keep {
                            tracing::debug!(object = object.object, param = param.param, target = t, "not a table");
                        }
                        keep
                    });
                }
            }
        }
        Ok(())
    }
}

/// The path of an object's parent object: `Device.IP.Interface.{i}.` → `Device.IP.`.
pub(crate) fn parent_path(path: &str) -> &str {
    let t = path.strip_suffix('.').unwrap_or(path);
    let t = t.strip_suffix(".{i}").unwrap_or(t);
    match t.rfind('.') {
        Some(i) => &path[..=i],
        None => "",
    }
}

/// Resolves a relative reference path against the object that holds the parameter (TR-106
/// A.2.3.4): `Device.…` is absolute, `.X.` is relative to the root, each leading `#` moves
/// up one object level, anything else is relative to the object itself.
fn resolve(raw: &str, scope: PathScope, object: &str, root: &str) -> String {
    if raw.starts_with(root) && !root.is_empty() {
        return raw.to_owned();
    }
    if scope == PathScope::Model {
        return format!("{root}{}", raw.trim_start_matches('.'));
    }
    if let Some(rest) = raw.strip_prefix('.')
        && scope == PathScope::Normal
    {
        return format!("{root}{rest}");
    }
    let hashes = raw.bytes().take_while(|&b| b == b'#').count();
    if hashes > 0 {
        let mut base = object;
        for _ in 0..hashes {
            let up = parent_path(base);
            if up.is_empty() {
                break;
            }
            base = up;
        }
        let rest = raw[hashes..].trim_start_matches('.');
        return format!("{base}{rest}");
    }
    format!("{object}{raw}")
}

/// Resolves the relative paths of a parameter's reference facets to absolute schema paths.
fn resolve_paths(param: &mut ParamFacts, object: &str, root: &str) {
    if let Some(r) = &mut param.path_ref {
        for target in &mut r.target_parent {
            let mut path = resolve(target, r.target_parent_scope, object, root);
            // `#` alone from a row names the containing row; the table of that row is meant.
            if let Some(table) = path.strip_suffix("{i}.") {
                path = table.to_owned();
            }
            *target = path;
        }
    }
    if let Some(r) = &mut param.instance_ref {
        let (scope, raw) = split_scope(&r.target_parent);
        r.target_parent = resolve(raw, scope, object, root);
    }
    if let Some(r) = &mut param.enumeration_ref {
        let (scope, raw) = split_scope(&r.target_param);
        r.target_param = resolve(raw, scope, object, root);
    }
}

/// Relative paths of facets met inside named data types are resolved only when the type is
/// used by a parameter; until then the scope rides along as a `scope:` prefix.
fn raw_with_scope(path: Option<&str>, scope: Option<&str>) -> String {
    let path = path.unwrap_or_default().trim();
    match scope {
        Some("model") => format!("model:{path}"),
        Some("object") => format!("object:{path}"),
        _ => path.to_owned(),
    }
}

fn split_scope(raw: &str) -> (PathScope, &str) {
    if let Some(rest) = raw.strip_prefix("model:") {
        (PathScope::Model, rest)
    } else if let Some(rest) = raw.strip_prefix("object:") {
        (PathScope::Object, rest)
    } else {
        (PathScope::Normal, raw)
    }
}

/// Copies a resolved named type into a parameter (the parameter's own list facet wins).
fn merge_type(param: &mut ParamFacts, t: ParamFacts) {
    param.base = t.base;
    param.data_type = t.data_type;
    if param.list.is_none() {
        param.list = t.list;
    }
    param.size = t.size;
    param.range = t.range;
    param.decimal_range = t.decimal_range;
    param.enumeration = t.enumeration;
    param.read_only_values = t.read_only_values;
    param.enumeration_ref = t.enumeration_ref;
    param.pattern = t.pattern;
    param.path_ref = t.path_ref;
    param.instance_ref = t.instance_ref;
    param.units = t.units;
}

fn list_facts(node: Node<'_, '_>) -> ListFacts {
    let num = |attr: &str| node.attribute(attr).and_then(|v| v.parse::<u32>().ok());
    ListFacts {
        min_items: num("minItems").unwrap_or(0),
        max_items: num("maxItems"),
        size: node
            .children()
            .filter(|n| n.has_tag_name("size") && n.attribute("status") != Some("deleted"))
            .map(|n| {
                let min = n.attribute("minLength").and_then(|v| v.parse().ok()).unwrap_or(0);
                Size(min, n.attribute("maxLength").and_then(|v| v.parse().ok()))
            })
            .collect(),
    }
}

fn decimal_range(node: Node<'_, '_>) -> DecimalRange {
    let num = |attr: &str| node.attribute(attr).and_then(|v| v.trim().parse::<f64>().ok());
    DecimalRange(num("minInclusive"), num("maxInclusive"))
}

fn clamp_u32(v: i128) -> u32 {
    v.clamp(0, u32::MAX as i128) as u32
}

fn status_of(v: &str) -> Status {
    match v {
        "deprecated" => Status::Deprecated,
        "obsoleted" => Status::Obsoleted,
        _ => Status::Current,
    }
}

fn ref_type(v: Option<&str>) -> RefType {
    if v == Some("strong") { RefType::Strong } else { RefType::Weak }
}

fn scope_of(v: Option<&str>) -> PathScope {
    match v {
        Some("model") => PathScope::Model,
        Some("object") => PathScope::Object,
        _ => PathScope::Normal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let obj = "Device.ETSIM2M.SCL.{i}.AreaNwkDeviceInfoInstance.{i}.";
        assert_eq!(
            resolve("#.AreaNwkInstance.", PathScope::Normal, obj, "Device."),
            "Device.ETSIM2M.SCL.{i}.AreaNwkInstance."
        );
        assert_eq!(resolve("###.Hosts.Host.", PathScope::Normal, obj, "Device."), "Device.Hosts.Host.");
        assert_eq!(resolve(".IP.Interface.", PathScope::Normal, obj, "Device."), "Device.IP.Interface.");
        assert_eq!(resolve("Device.WiFi.Radio.", PathScope::Normal, obj, "Device."), "Device.WiFi.Radio.");
        assert_eq!(
            resolve("FirmwareImage.", PathScope::Normal, "Device.DeviceInfo.", "Device."),
            "Device.DeviceInfo.FirmwareImage."
        );
        assert_eq!(resolve("IP.Interface.", PathScope::Model, obj, "Device."), "Device.IP.Interface.");
        assert_eq!(resolve("######.X.", PathScope::Normal, "Device.A.", "Device."), "Device.X.");
        assert_eq!(parent_path("Device.IP.Interface.{i}."), "Device.IP.");
        assert_eq!(parent_path("Device.IP."), "Device.");
        assert_eq!(parent_path("Device."), "");
    }

    const VENDOR: &str = r##"<?xml version="1.0"?>
<dm:document xmlns:dm="urn:broadband-forum-org:cwmp:datamodel-1-15" spec="urn:example-com:acme-1-0">
  <import file="tr-106-types.xml" spec="urn:broadband-forum-org:tr-106">
    <dataType name="IPv4Address"/>
    <dataType name="MyMac" ref="MACAddress"/>
  </import>
  <dataType name="Percent"><unsignedInt><range minInclusive="0" maxInclusive="100"/><units value="%"/></unsignedInt></dataType>
  <dataType name="SmallPercent" base="Percent"><range maxInclusive="10"/></dataType>
  <component name="Stats">
    <parameter name="Load" access="readOnly" activeNotify="canDeny">
      <description>ignored prose</description>
      <syntax><dataType ref="SmallPercent"/></syntax>
    </parameter>
  </component>
  <model name="X_ACME_Box:1.0">
    <object name="Box." access="readOnly" minEntries="1" maxEntries="1" version="1.0">
      <parameter name="Gateway" access="readWrite" forcedInform="true">
        <syntax><list maxItems="4"><size maxLength="64"/></list><dataType ref="IPv4Address"/><default type="object" value=""/></syntax>
      </parameter>
      <parameter name="Mac" access="readOnly"><syntax hidden="true"><dataType ref="MyMac"/></syntax></parameter>
      <parameter name="Old" access="readOnly" status="deleted"><syntax><string/></syntax></parameter>
      <component ref="Stats"/>
    </object>
    <object name="Box.Port.{i}." access="readWrite" minEntries="0" maxEntries="8" numEntriesParameter="PortNumberOfEntries" version="1.0">
      <uniqueKey functional="false"><parameter ref="Alias"/></uniqueKey>
      <parameter name="Alias" access="readWrite"><syntax><dataType ref="Alias"/></syntax></parameter>
      <parameter name="Peer" access="readWrite">
        <syntax><string><pathRef refType="strong" targetParent="#.Port." targetType="row"/></string></syntax>
      </parameter>
    </object>
    <object name="Box.Gone." status="deleted" version="1.0"/>
    <object base="Box." access="readOnly">
      <parameter name="PortNumberOfEntries" access="readOnly"><syntax><unsignedInt/></syntax></parameter>
    </object>
    <profile name="Baseline:1"><object ref="Box." requirement="present"/></profile>
  </model>
</dm:document>"##;

    #[test]
    fn vendor_document_with_types_components_and_modifications() {
        let files = import_text(VENDOR, "acme.xml", None).unwrap();
        assert_eq!(files.len(), 1);
        let file = &files[0];
        assert_eq!(file.info.model, "X_ACME_Box:1.0");
        assert_eq!(file.info.spec, "urn:example-com:acme-1-0");
        assert_eq!(file.counts(), (2, 6));
        let bx = &file.objects[0];
        let names: Vec<&str> = bx.parameters.iter().map(|p| p.param.as_str()).collect();
        assert_eq!(names, ["Gateway", "Mac", "Load", "PortNumberOfEntries"]);
        let gw = &bx.parameters[0];
        assert_eq!(gw.data_type.as_deref(), Some("IPv4Address"));
        assert_eq!(gw.size, vec![Size(0, Some(15))]);
        assert_eq!(gw.pattern.len(), 2);
        assert_eq!(gw.list.as_ref().unwrap().max_items, Some(4));
        assert!(gw.forced_inform);
        assert_eq!(gw.default.as_ref().unwrap().kind, DefaultKind::Object);
        let mac = &bx.parameters[1];
        assert!(mac.hidden);
        assert_eq!(mac.data_type.as_deref(), Some("MACAddress"));
        let load = &bx.parameters[2];
        assert_eq!(load.base, BaseType::UnsignedInt);
        assert_eq!(load.range, vec![Range(None, Some(10), 1)]);
        assert_eq!(load.units.as_deref(), Some("%"));
        assert_eq!(load.active_notify, ActiveNotify::CanDeny);
        let port = &file.objects[1];
        assert!(port.is_multi());
        assert_eq!((port.min_entries, port.max_entries), (0, Some(8)));
        assert_eq!(port.access, ObjectAccess::ReadWrite);
        assert!(!port.unique_keys[0].functional);
        assert_eq!(port.parameters[0].size, vec![Size(0, Some(64))]);
        let peer = port.parameters[1].path_ref.as_ref().unwrap();
        assert_eq!(peer.target_parent, vec!["Box.Port.".to_owned()]);
        assert_eq!(peer.ref_type, RefType::Strong);
    }

    #[test]
    fn errors_say_where() {
        let bad = VENDOR.replace("ref=\"SmallPercent\"", "ref=\"Nope\"");
        let err = import_text(&bad, "acme.xml", None).unwrap_err().to_string();
        assert!(err.contains("unknown data type \"Nope\""), "{err}");
        let orphan = VENDOR.replace("name=\"Box.Port.{i}.\"", "name=\"Cage.Port.{i}.\"");
        let err = import_text(&orphan, "acme.xml", None).unwrap_err().to_string();
        assert!(err.contains("no parent object"), "{err}");
        assert!(matches!(import_text("<x/>", "x.xml", None), Err(ImportError::Invalid { .. })));
        assert!(matches!(import_text("<x", "x.xml", None), Err(ImportError::Xml { .. })));
    }
}
