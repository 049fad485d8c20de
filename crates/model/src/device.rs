//! One device's state over a shared [`Schema`] and [`Template`]: the instance tree (shared
//! with the template until the first AddObject or DeleteObject), the values and attributes
//! that differ from the template, the ParameterKey, and the parameters changed by the device
//! since the last Inform.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use crate::backend::{Backend, BackendError};
use crate::facts::{ActiveNotify, ParamAccess};
use crate::persist::StateStore;
use crate::schema::{Child, ObjectId, ParamId, Schema};
use crate::syntax::{self, ValueError, Writer};
use crate::template::Template;
use crate::tree::{FastMap, InsertError, Key, KeyHasher, NodeId, ROOT, Tree};

/// Optional protocol features of the device (TR-069 3.6.1, 3.6.2, Annex K lightweight
/// notifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// Alias-Based Addressing (`[alias]` in paths, InstanceMode, AutoCreateInstances).
    pub alias_addressing: bool,
    /// Instance wildcards (`*`) in GetParameterValues/Names/Attributes.
    pub instance_wildcards: bool,
    /// Notification values 3-6 (UDP lightweight notifications).
    pub lightweight_notification: bool,
}

impl Default for Features {
    fn default() -> Features {
        Features { alias_addressing: true, instance_wildcards: true, lightweight_notification: false }
    }
}

/// Errors of the device-side (non-RPC) API.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{0}: no such parameter or object")]
    NotFound(String),
    #[error("{path}: {error}")]
    Value { path: String, error: ValueError },
    #[error("{0}: write access denied")]
    Denied(String),
    #[error("{0}: no more instances allowed")]
    Full(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("state store: {0}")]
    Store(#[from] std::io::Error),
    #[error("persisted state: {0}")]
    State(String),
}

/// The attributes of one parameter (A.3.2.4): its Notification value and whether the
/// `Subscriber` entity may write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    /// 0 off, 1 passive, 2 active, 3-6 lightweight variants.
    pub notification: u8,
    pub subscriber_access: bool,
}

impl Attributes {
    pub(crate) fn pack(self) -> u8 {
        (self.notification & 7) | if self.subscriber_access { 0 } else { 8 }
    }
    pub(crate) fn unpack(bits: u8) -> Attributes {
        Attributes { notification: bits & 7, subscriber_access: bits & 8 == 0 }
    }
    /// The AccessList as it travels on the wire.
    pub fn access_list(self) -> Vec<String> {
        if self.subscriber_access { vec!["Subscriber".to_owned()] } else { Vec::new() }
    }
}

pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<KeyHasher>>;

/// What a mutating operation changed, so that it can be undone if a later step fails.
#[derive(Default)]
pub(crate) struct Undo {
    tree: Option<Arc<Tree>>,
    values: Vec<(Key, Option<Box<str>>)>,
    attrs: Vec<(Key, Option<u8>)>,
    forms: Vec<(Key, Option<Box<[u64]>>)>,
    changed: Vec<Key>,
    written: Vec<Key>,
    /// Pending changes and written-once marks dropped with deleted rows.
    dropped_changes: Vec<Key>,
    dropped_written: Vec<Key>,
    parameter_key: Option<Box<str>>,
}

/// The state of one device.
pub struct Device {
    pub(crate) schema: Arc<Schema>,
    pub(crate) template: Arc<Template>,
    pub(crate) tree: Arc<Tree>,
    /// Values that differ from the template.
    pub(crate) values: FastMap<Key, Box<str>>,
    /// Attributes that differ from the data model's defaults.
    pub(crate) attrs: FastMap<Key, u8>,
    /// For strong references the ACS set: per list item, which instance levels it wrote as
    /// aliases (bit i = i-th instance level). Present only for values the ACS set.
    pub(crate) forms: FastMap<Key, Box<[u64]>>,
    /// writeOnceReadOnly parameters that have been written.
    pub(crate) written: FastSet<Key>,
    pub(crate) parameter_key: Box<str>,
    /// Parameters changed by someone other than the ACS since the last Inform.
    pub(crate) changed: FastSet<Key>,
    pub(crate) features: Features,
    pub(crate) backend: Option<Box<dyn Backend>>,
    pub(crate) store: Option<Box<dyn StateStore>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("model", &self.schema.info().model)
            .field("values", &self.values.len())
            .field("parameter_key", &self.parameter_key)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A device in the template's state.
    pub fn new(template: Arc<Template>) -> Device {
        Device {
            schema: template.schema.clone(),
            tree: template.tree.clone(),
            parameter_key: template.parameter_key.clone(),
            template,
            values: FastMap::default(),
            attrs: FastMap::default(),
            forms: FastMap::default(),
            written: FastSet::default(),
            changed: FastSet::default(),
            features: Features::default(),
            backend: None,
            store: None,
        }
    }

    pub fn with_features(mut self, features: Features) -> Device {
        self.features = features;
        self
    }

    /// Values of the parameters the backend handles come from it, and sets of them go to it.
    pub fn with_backend(mut self, backend: Box<dyn Backend>) -> Device {
        self.backend = Some(backend);
        self
    }

    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    pub fn features(&self) -> Features {
        self.features
    }

    pub fn parameter_key(&self) -> &str {
        &self.parameter_key
    }

    // ---- reading -------------------------------------------------------------------

    /// The stored value of a parameter instance (override, template or initial value).
    pub(crate) fn stored(&self, node: NodeId, param: ParamId) -> &str {
        let key = Key::new(node, param);
        if let Some(v) = self.values.get(&key) {
            return v;
        }
        if self.tree.is_template_node(node)
            && let Some(v) = self.template.values.get(&key)
        {
            return v;
        }
        self.schema.param(param).initial()
    }

    /// The current value of a parameter instance, hidden values included.
    pub(crate) fn value(&self, node: NodeId, param: ParamId) -> Result<Cow<'_, str>, BackendError> {
        let p = self.schema.param(param);
        if let Some(table) = p.counts {
            return Ok(Cow::Owned(self.tree.rows(node, table).len().to_string()));
        }
        let wk = self.schema.well_known();
        if Some(param) == wk.parameter_key {
            return Ok(Cow::Borrowed(&self.parameter_key));
        }
        if Some(param) == wk.alias_based_addressing {
            return Ok(Cow::Borrowed(bool_text(self.features.alias_addressing)));
        }
        if Some(param) == wk.instance_wildcards_supported {
            return Ok(Cow::Borrowed(bool_text(self.features.instance_wildcards)));
        }
        let object = self.schema.object(p.object);
        if object.alias == Some(param) {
            return Ok(Cow::Borrowed(self.tree.node(node).alias.as_deref().unwrap_or("")));
        }
        if let Some(backend) = &self.backend {
            let path = self.numeric_path(node, param);
            if let Some(v) = backend.get(&path)? {
                return Ok(Cow::Owned(v));
            }
        }
        Ok(Cow::Borrowed(self.stored(node, param)))
    }

    /// The value as the ACS sees it: hidden (and secured) parameters read as empty strings.
    pub(crate) fn value_for_acs(&self, node: NodeId, param: ParamId) -> Result<Cow<'_, str>, BackendError> {
        if self.schema.param(param).facts.hidden {
            return Ok(Cow::Borrowed(""));
        }
        self.value(node, param)
    }

    /// Reads a parameter by path (numbers or aliases). Hidden values are returned too: this
    /// is the device's own view.
    pub fn get(&self, path: &str) -> Result<String, ModelError> {
        let (node, param) = self.param_at(path)?;
        Ok(self.value(node, param)?.into_owned())
    }

    /// The node and parameter a full parameter path names.
    pub(crate) fn param_at(&self, path: &str) -> Result<(NodeId, ParamId), ModelError> {
        let not_found = || ModelError::NotFound(path.to_owned());
        let parsed = cwmp_wire::Path::parse(path).map_err(|_| not_found())?;
        match self.resolve(&parsed, self.addressing(false)) {
            Ok(m) if m.len() == 1 => match m[0].target {
                crate::address::Target::Param(node, param) => Ok((node, param)),
                _ => Err(not_found()),
            },
            _ => Err(not_found()),
        }
    }

    /// The path of a parameter instance with instance numbers.
    pub(crate) fn numeric_path(&self, node: NodeId, param: ParamId) -> String {
        self.param_path(node, param, false)
    }

    /// The path of a parameter instance, with aliases where `alias_mode` asks (InstanceMode,
    /// TR-069 3.6.1 item 9).
    pub(crate) fn param_path(&self, node: NodeId, param: ParamId, alias_mode: bool) -> String {
        let mut out = self.row_path(node, alias_mode);
        let p = self.schema.param(param);
        self.append_objects(&mut out, self.tree.node(node).object, p.object);
        out.push_str(p.name());
        out
    }

    /// The path of a row (or the root) ending in `.`, with aliases where `alias_mode` asks.
    pub(crate) fn row_path(&self, node: NodeId, alias_mode: bool) -> String {
        let mut chain = Vec::new();
        let mut n = node;
        while n != ROOT {
            chain.push(n);
            n = self.tree.node(n).parent;
        }
        let mut out = String::with_capacity(64);
        let root = self.schema.root();
        out.push_str(&self.schema.object(root).path);
        let mut at = root;
        for &row in chain.iter().rev() {
            let node = self.tree.node(row);
            self.append_objects(&mut out, at, node.object);
            self.push_row_id(&mut out, row, alias_mode);
            at = node.object;
        }
        out
    }

    /// Appends the names of the single objects (and the final table name) leading from
    /// `from` down to `to`.
    pub(crate) fn append_objects(&self, out: &mut String, from: ObjectId, to: ObjectId) {
        let mut names = Vec::new();
        let mut o = to;
        while o != from {
            let object = self.schema.object(o);
            names.push(&object.name);
            match object.parent {
                Some(p) => o = p,
                None => break,
            }
        }
        for name in names.iter().rev() {
            out.push_str(name);
            out.push('.');
        }
    }

    /// Appends `3.` or `[alias].` for a row.
    pub(crate) fn push_row_id(&self, out: &mut String, row: NodeId, alias_mode: bool) {
        let node = self.tree.node(row);
        match (&node.alias, alias_mode) {
            (Some(alias), true) => {
                out.push('[');
                out.push_str(alias);
                out.push(']');
            }
            _ => {
                use std::fmt::Write as _;
                let _ = write!(out, "{}", node.number);
            }
        }
        out.push('.');
    }

    /// Whether output paths below the requested depth use aliases
    /// (`ManagementServer.InstanceMode` = `InstanceAlias`, TR-069 3.6.1).
    pub(crate) fn alias_mode(&self) -> bool {
        self.features.alias_addressing
            && self.schema.well_known().instance_mode.is_some_and(|p| self.stored(ROOT, p) == "InstanceAlias")
    }

    /// Whether `ManagementServer.AutoCreateInstances` is on.
    pub(crate) fn auto_create(&self) -> bool {
        self.features.alias_addressing
            && self
                .schema
                .well_known()
                .auto_create_instances
                .is_some_and(|p| cwmp_wire::types::parse_bool(self.stored(ROOT, p)) == Some(true))
    }

    // ---- attributes -----------------------------------------------------------------

    /// The data model's default attributes of a parameter.
    pub(crate) fn default_attributes(&self, param: ParamId) -> Attributes {
        let notification = match self.schema.param(param).facts.active_notify {
            ActiveNotify::ForceEnabled | ActiveNotify::ForceDefaultEnabled => 2,
            ActiveNotify::Normal | ActiveNotify::CanDeny => 0,
        };
        Attributes { notification, subscriber_access: true }
    }

    pub(crate) fn attributes_of(&self, key: Key) -> Attributes {
        if self.schema.param(key.param()).facts.active_notify == ActiveNotify::ForceEnabled {
            // Forced Active Notification: always 2 (A.3.2.4).
            let a = self.attrs.get(&key).map_or(self.default_attributes(key.param()), |&b| Attributes::unpack(b));
            return Attributes { notification: 2, ..a };
        }
        self.attrs.get(&key).map_or(self.default_attributes(key.param()), |&b| Attributes::unpack(b))
    }

    /// The attributes of a parameter.
    pub fn attributes(&self, path: &str) -> Result<Attributes, ModelError> {
        let (node, param) = self.param_at(path)?;
        Ok(self.attributes_of(Key::new(node, param)))
    }

    /// Sets a parameter's attributes as the device's own configuration (no ACS rules
    /// applied except that forced active notification stays 2).
    pub fn set_attributes(&mut self, path: &str, attributes: Attributes) -> Result<(), ModelError> {
        let (node, param) = self.param_at(path)?;
        let mut undo = Undo::default();
        self.put_attr(Key::new(node, param), attributes, &mut undo);
        self.persist_or_undo(undo)
    }

    // ---- device-side writes -----------------------------------------------------------

    /// Sets a value as the device itself (a status change, a local configuration change):
    /// not an ACS change, so a parameter with notification on is reported in the next
    /// Inform. Read-only parameters may be set; the value must still fit the data model.
    pub fn set_local(&mut self, path: &str, value: &str) -> Result<(), ModelError> {
        self.set_as(path, value, false, true)
    }

    /// Sets a value on behalf of the `Subscriber` entity (LAN-side management): refused for
    /// read-only parameters and those whose AccessList excludes `Subscriber`.
    pub fn set_by_subscriber(&mut self, path: &str, value: &str) -> Result<(), ModelError> {
        self.set_as(path, value, true, true)
    }

    /// `note`: whether the change counts for notifications (a new row's first values do
    /// not: creating an object is no value change).
    fn set_as(&mut self, path: &str, value: &str, subscriber: bool, note: bool) -> Result<(), ModelError> {
        let (node, param) = self.param_at(path)?;
        let key = Key::new(node, param);
        let p = self.schema.param(param);
        if subscriber && (p.facts.access == ParamAccess::ReadOnly || !self.attributes_of(key).subscriber_access) {
            return Err(ModelError::Denied(path.to_owned()));
        }
        let canonical = syntax::check(p, value, Writer::Device)
            .map_err(|error| ModelError::Value { path: path.to_owned(), error })?;
        let persistent = p.facts.access != ParamAccess::ReadOnly;
        let mut undo = Undo::default();
        if self.schema.object(p.object).alias == Some(param) {
            let row = self.tree.node(node);
            if let Some(other) = self.tree.find_alias(row.parent, row.object, &canonical)
                && other != node
            {
                return Err(ModelError::Value { path: path.to_owned(), error: ValueError::NotUnique });
            }
            self.tree_mut(&mut undo).set_alias(node, (!canonical.is_empty()).then(|| canonical.clone().into()));
        } else {
            // References are kept with instance numbers, as the ACS's are; one the engine
            // cannot resolve is the device's business and kept as it is.
            let stored = match self.check_references(node, param, &canonical) {
                Ok(checked) => checked.text,
                Err(_) => canonical,
            };
            self.put_value(key, Some(stored.into()), &mut undo);
            if self.forms.contains_key(&key) {
                self.put_form(key, None, &mut undo);
            }
        }
        if note {
            self.note_change(key, &mut undo);
        }
        if persistent { self.persist_or_undo(undo) } else { Ok(()) }
    }

    /// Adds a row as the device itself (e.g. a newly seen LAN host); it gets a `cpe-` alias.
    /// Returns the instance number.
    pub fn add_local(&mut self, table_path: &str) -> Result<u32, ModelError> {
        self.add_local_row(table_path, None)
    }

    /// Adds a row with the instance number the device gave it (a table whose rows mirror
    /// something numbered elsewhere, e.g. `SoftwareModules.DeploymentUnit.{i}`), with the
    /// values of its parameters (`(name, value)`, names relative to the row). They are the
    /// new object's, not value changes: no notification. A number in use is refused as
    /// [`ModelError::Full`].
    pub fn add_local_at(
        &mut self,
        table_path: &str,
        number: u32,
        values: &[(String, String)],
    ) -> Result<(), ModelError> {
        self.add_local_row(table_path, Some(number))?;
        for (name, value) in values {
            self.set_as(&format!("{table_path}{number}.{name}"), value, false, false)?;
        }
        Ok(())
    }

    /// The instance numbers of a table's rows, in order.
    pub fn instance_numbers(&self, table_path: &str) -> Result<Vec<u32>, ModelError> {
        let (parent, table) = self.table_at(table_path).ok_or_else(|| ModelError::NotFound(table_path.to_owned()))?;
        Ok(self.tree.rows(parent, table).iter().map(|&row| self.tree.node(row).number).collect())
    }

    fn add_local_row(&mut self, table_path: &str, number: Option<u32>) -> Result<u32, ModelError> {
        let (parent, table) = self.table_at(table_path).ok_or_else(|| ModelError::NotFound(table_path.to_owned()))?;
        if self.schema.object(table).max_entries.is_some_and(|m| self.tree.rows(parent, table).len() as u32 >= m) {
            return Err(ModelError::Full(table_path.to_owned()));
        }
        let mut undo = Undo::default();
        let row = self
            .insert_row(parent, table, number, None, &mut undo)
            .map_err(|_| ModelError::Full(table_path.to_owned()))?;
        let number = self.tree.node(row).number;
        self.persist_or_undo(undo)?;
        Ok(number)
    }

    /// Deletes a row as the device itself (e.g. a LAN host that left).
    pub fn delete_local(&mut self, row_path: &str) -> Result<(), ModelError> {
        let not_found = || ModelError::NotFound(row_path.to_owned());
        let path = cwmp_wire::Path::parse(row_path).map_err(|_| not_found())?;
        let matches = self.resolve(&path, self.addressing(false)).map_err(|_| not_found())?;
        let [crate::address::Match { target: crate::address::Target::Object(row, object), .. }] = matches.as_slice()
        else {
            return Err(not_found());
        };
        if !self.schema.object(*object).multi || *row == ROOT {
            return Err(not_found());
        }
        let mut undo = Undo::default();
        self.remove_row(*row, &mut undo);
        self.persist_or_undo(undo)
    }

    /// Records a non-ACS change of a parameter that has notification on or is forced-inform.
    pub(crate) fn note_change(&mut self, key: Key, undo: &mut Undo) {
        let p = self.schema.param(key.param());
        if (p.facts.forced_inform || self.attributes_of(key).notification != 0) && self.changed.insert(key) {
            undo.changed.push(key);
        }
    }

    // ---- mutation primitives with undo ------------------------------------------------

    pub(crate) fn tree_mut(&mut self, undo: &mut Undo) -> &mut Tree {
        if undo.tree.is_none() {
            undo.tree = Some(self.tree.clone());
        }
        Arc::make_mut(&mut self.tree)
    }

    pub(crate) fn put_value(&mut self, key: Key, value: Option<Box<str>>, undo: &mut Undo) {
        let old = match value {
            Some(v) => self.values.insert(key, v),
            None => self.values.remove(&key),
        };
        undo.values.push((key, old));
    }

    pub(crate) fn put_attr(&mut self, key: Key, attributes: Attributes, undo: &mut Undo) {
        let old = if attributes == self.default_attributes(key.param()) {
            self.attrs.remove(&key)
        } else {
            self.attrs.insert(key, attributes.pack())
        };
        undo.attrs.push((key, old));
    }

    pub(crate) fn put_form(&mut self, key: Key, form: Option<Box<[u64]>>, undo: &mut Undo) {
        let old = match form {
            Some(f) => self.forms.insert(key, f),
            None => self.forms.remove(&key),
        };
        undo.forms.push((key, old));
    }

    pub(crate) fn mark_written(&mut self, key: Key, undo: &mut Undo) {
        if self.written.insert(key) {
            undo.written.push(key);
        }
    }

    pub(crate) fn put_parameter_key(&mut self, key: &str, undo: &mut Undo) {
        let old = std::mem::replace(&mut self.parameter_key, key.into());
        undo.parameter_key.get_or_insert(old);
    }

    /// Adds a row (with the next number, a `cpe-` alias if none is given and the table has
    /// an Alias parameter) and the minimum number of rows of its sub-tables.
    pub(crate) fn insert_row(
        &mut self,
        parent: NodeId,
        table: ObjectId,
        number: Option<u32>,
        alias: Option<Box<str>>,
        undo: &mut Undo,
    ) -> Result<NodeId, InsertError> {
        let has_alias = self.schema.object(table).alias.is_some();
        let row = self.tree_mut(undo).insert(parent, table, number, None)?;
        let alias = match alias {
            Some(a) => Some(a),
            None if has_alias => Some(self.cpe_alias(parent, table, self.tree.node(row).number)),
            None => None,
        };
        self.tree_mut(undo).set_alias(row, alias);
        let schema = self.schema.clone();
        self.fill_minimum(&schema, row, table, undo)?;
        Ok(row)
    }

    /// Creates the minimum number of rows of every table below `object` in `row`.
    pub(crate) fn fill_minimum(
        &mut self,
        schema: &Schema,
        row: NodeId,
        object: ObjectId,
        undo: &mut Undo,
    ) -> Result<(), InsertError> {
        for &child in &schema.object(object).children {
            let c = schema.object(child);
            if c.multi {
                while (self.tree.rows(row, child).len() as u32) < c.min_entries {
                    self.insert_row(row, child, None, None, undo)?;
                }
            } else {
                self.fill_minimum(schema, row, child, undo)?;
            }
        }
        Ok(())
    }

    /// A unique CPE-generated alias (`cpe-<number>`, TR-069 3.6.1).
    fn cpe_alias(&self, parent: NodeId, table: ObjectId, number: u32) -> Box<str> {
        let mut alias = format!("cpe-{number}");
        let mut k = 1;
        while self.tree.find_alias(parent, table, &alias).is_some() {
            k += 1;
            alias = format!("cpe-{number}-{k}");
        }
        alias.into()
    }

    /// Removes a row and its subtree with their values, attributes and pending changes.
    pub(crate) fn remove_row(&mut self, row: NodeId, undo: &mut Undo) -> Vec<NodeId> {
        let removed = self.tree_mut(undo).remove(row);
        let gone: FastSet<NodeId> = removed.iter().copied().collect();
        let keys: Vec<Key> = self.values.keys().filter(|k| gone.contains(&k.node())).copied().collect();
        for key in keys {
            self.put_value(key, None, undo);
        }
        let keys: Vec<Key> = self.attrs.keys().filter(|k| gone.contains(&k.node())).copied().collect();
        for key in keys {
            let old = self.attrs.remove(&key);
            undo.attrs.push((key, old));
        }
        let keys: Vec<Key> = self.forms.keys().filter(|k| gone.contains(&k.node())).copied().collect();
        for key in keys {
            self.put_form(key, None, undo);
        }
        let keys: Vec<Key> = self.written.iter().filter(|k| gone.contains(&k.node())).copied().collect();
        for key in keys {
            self.written.remove(&key);
            undo.dropped_written.push(key);
        }
        let keys: Vec<Key> = self.changed.iter().filter(|k| gone.contains(&k.node())).copied().collect();
        for key in keys {
            self.changed.remove(&key);
            undo.dropped_changes.push(key);
        }
        removed
    }

    pub(crate) fn rollback(&mut self, undo: Undo) {
        if let Some(tree) = undo.tree {
            self.tree = tree;
        }
        for (key, old) in undo.values.into_iter().rev() {
            match old {
                Some(v) => self.values.insert(key, v),
                None => self.values.remove(&key),
            };
        }
        for (key, old) in undo.attrs.into_iter().rev() {
            match old {
                Some(v) => self.attrs.insert(key, v),
                None => self.attrs.remove(&key),
            };
        }
        for (key, old) in undo.forms.into_iter().rev() {
            match old {
                Some(v) => self.forms.insert(key, v),
                None => self.forms.remove(&key),
            };
        }
        for key in undo.changed {
            self.changed.remove(&key);
        }
        for key in undo.written {
            self.written.remove(&key);
        }
        self.written.extend(undo.dropped_written);
        self.changed.extend(undo.dropped_changes);
        if let Some(old) = undo.parameter_key {
            self.parameter_key = old;
        }
    }

    /// Persists the state; on failure undoes the change and reports the error.
    pub(crate) fn persist_or_undo(&mut self, undo: Undo) -> Result<(), ModelError> {
        if let Err(e) = self.persist() {
            self.rollback(undo);
            return Err(e.into());
        }
        Ok(())
    }

    /// The object or table a schema path names, for callers that know only schema paths.
    pub fn lookup(&self, schema_path: &str) -> Option<Child> {
        self.schema.lookup(schema_path)
    }

    /// Approximate heap bytes this device holds beyond what it shares with its template.
    pub fn heap_size(&self) -> usize {
        let map = |cap: usize, entry: usize| cap * (entry + 1);
        let tree = if Arc::ptr_eq(&self.tree, &self.template.tree) { 0 } else { self.tree.heap_size() };
        std::mem::size_of::<Device>()
            + tree
            + map(self.values.capacity(), std::mem::size_of::<(Key, Box<str>)>())
            + self.values.values().map(|v| v.len()).sum::<usize>()
            + map(self.attrs.capacity(), std::mem::size_of::<(Key, u8)>())
            + map(self.forms.capacity(), std::mem::size_of::<(Key, Box<[u64]>)>())
            + self.forms.values().map(|f| f.len() * 8).sum::<usize>()
            + map(self.written.capacity(), 8)
            + map(self.changed.capacity(), 8)
            + self.parameter_key.len()
    }
}

pub(crate) fn bool_text(v: bool) -> &'static str {
    if v { "1" } else { "0" }
}
