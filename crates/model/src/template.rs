//! Templates: the initial instances and values shared by many devices of one kind (a device
//! model's factory state, or a real device's parameter dump). A [`Device`] starts from a
//! template and stores only what differs from it, so a simulator can hold many thousands of
//! devices over one template.

use std::sync::Arc;

use crate::device::{Device, ModelError, Undo};
use crate::schema::Schema;
use crate::tree::{FastMap, Key, ROOT, Tree};

/// Initial instances and values over a schema.
pub struct Template {
    pub(crate) schema: Arc<Schema>,
    pub(crate) tree: Arc<Tree>,
    pub(crate) values: FastMap<Key, Box<str>>,
    pub(crate) parameter_key: Box<str>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("model", &self.schema.info().model)
            .field("values", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Template {
    /// The factory state of a schema: every single-instance object, and in each table the
    /// minimum number of rows the data model requires; all values at their defaults.
    pub fn new(schema: Arc<Schema>) -> Arc<Template> {
        TemplateBuilder::new(schema).build()
    }

    pub fn schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    /// Approximate heap bytes held by the template (its schema not included).
    pub fn heap_size(&self) -> usize {
        self.tree.heap_size()
            + self.values.capacity() * (std::mem::size_of::<(Key, Box<str>)>() + 1)
            + self.values.values().map(|v| v.len()).sum::<usize>()
    }
}

/// Builds a template by adding rows and setting values as the device would.
pub struct TemplateBuilder {
    device: Device,
}

impl TemplateBuilder {
    /// Starts from the factory state of a schema (see [`Template::new`]).
    pub fn new(schema: Arc<Schema>) -> TemplateBuilder {
        let bare = Arc::new(Template {
            tree: Arc::new(Tree::new(schema.root())),
            schema: schema.clone(),
            values: FastMap::default(),
            parameter_key: Box::default(),
        });
        let mut device = Device::new(bare);
        let mut undo = Undo::default();
        // A fresh tree cannot run out of instance numbers.
        let _ = device.fill_minimum(&schema, ROOT, schema.root(), &mut undo);
        TemplateBuilder { device }
    }

    /// Starts from an existing template, to extend it.
    pub fn from_template(template: Arc<Template>) -> TemplateBuilder {
        TemplateBuilder { device: Device::new(template) }
    }

    /// Adds a row to a table (`Device.Hosts.Host.`) with the next instance number.
    pub fn add(&mut self, table_path: &str) -> Result<u32, ModelError> {
        self.device.add_local(table_path)
    }

    /// Adds a row with a given instance number (`Device.Hosts.Host.7.`), as a dump shows it.
    pub fn add_numbered(&mut self, row_path: &str) -> Result<(), ModelError> {
        let not_found = || ModelError::NotFound(row_path.to_owned());
        let trimmed = row_path.strip_suffix('.').unwrap_or(row_path);
        let (table_path, number) = trimmed.rsplit_once('.').ok_or_else(not_found)?;
        let number: u32 = number.parse().ok().filter(|&n| n > 0).ok_or_else(not_found)?;
        let path = cwmp_wire::Path::parse(&format!("{table_path}.")).map_err(|_| not_found())?;
        let device = &mut self.device;
        let matches = device.resolve(&path, device.addressing(false)).map_err(|_| not_found())?;
        let [crate::address::Match { target: crate::address::Target::Table(parent, table), .. }] = matches.as_slice()
        else {
            return Err(not_found());
        };
        let (parent, table) = (*parent, *table);
        let mut undo = Undo::default();
        let row = device
            .tree_mut(&mut undo)
            .insert(parent, table, Some(number), None)
            .map_err(|_| ModelError::State(format!("{row_path}: instance number taken")))?;
        if device.schema.object(table).alias.is_some() {
            device.tree_mut(&mut undo).set_alias(row, Some(format!("cpe-{number}").into()));
        }
        Ok(())
    }

    /// Sets a value (read-only parameters included).
    pub fn set(&mut self, path: &str, value: &str) -> Result<(), ModelError> {
        self.device.set_local(path, value)
    }

    /// Sets a value exactly as a device dump shows it (a simulated device answers what the
    /// real one said). Counters computed from the rows are skipped.
    pub(crate) fn set_unchecked(&mut self, path: &str, value: &str) -> Result<(), ModelError> {
        let device = &mut self.device;
        let (node, param) = device.param_at(path)?;
        let p = device.schema.param(param);
        if p.counts.is_some() {
            return Ok(());
        }
        let text = value.to_owned();
        let mut undo = Undo::default();
        if device.schema.object(p.object).alias == Some(param) {
            let row = device.tree.node(node);
            if !text.is_empty() && device.tree.find_alias(row.parent, row.object, &text).is_none() {
                device.tree_mut(&mut undo).set_alias(node, Some(text.into()));
            }
        } else {
            device.put_value(Key::new(node, param), Some(text.into()), &mut undo);
        }
        Ok(())
    }

    /// The ParameterKey devices start with.
    pub fn parameter_key(&mut self, key: &str) {
        self.device.parameter_key = key.into();
    }

    pub fn build(self) -> Arc<Template> {
        let device = self.device;
        let old = &device.template;
        let mut tree = Arc::unwrap_or_clone(device.tree);
        let mut values: FastMap<Key, Box<str>> = old
            .values
            .iter()
            .filter(|(k, _)| tree.is_template_node(k.node()) && tree.get(k.node()).is_some())
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        values.extend(device.values);
        tree.freeze_template();
        values.shrink_to_fit();
        Arc::new(Template { schema: device.schema, tree: Arc::new(tree), values, parameter_key: device.parameter_key })
    }
}
