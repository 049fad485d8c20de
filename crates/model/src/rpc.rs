//! The parameter RPCs of TR-069 A.3.2 answered from the device state, with exactly the
//! faults the specification assigns to each case.

use std::collections::HashMap;

use cwmp_wire::rpc::{
    AddObject, AddObjectResponse, DeleteObject, DeleteObjectResponse, GetParameterAttributes,
    GetParameterAttributesResponse, GetParameterNames, GetParameterNamesResponse, GetParameterValues,
    GetParameterValuesResponse, ParameterAttributeStruct, ParameterInfoStruct, ParameterValueStruct,
    SetParameterAttributes, SetParameterAttributesResponse, SetParameterValues, SetParameterValuesResponse,
};
use cwmp_wire::types::parse_bool;
use cwmp_wire::{Fault, FaultCode, Path, Segment, SetParameterValuesFault, XsdType};

use crate::address::{Miss, Target, Visit};
use crate::backend::{Applied, BackendError};
use crate::device::{Attributes, Device, Undo};
use crate::facts::{ActiveNotify, BaseType, ParamAccess};
use crate::schema::{ObjectId, ParamId};
use crate::syntax::{self, ValueError, Writer};
use crate::tree::{FastMap, Key, NodeId, ROOT};

fn fault(code: FaultCode, message: impl Into<String>) -> Fault {
    Fault::with_string(code, message)
}

fn invalid_name(name: &str) -> Fault {
    fault(FaultCode::InvalidParameterName, format!("invalid parameter name {name:?}"))
}

fn backend_fault(e: BackendError) -> Fault {
    fault(FaultCode::InternalError, e.to_string())
}

/// One validated write of a SetParameterValues.
struct Write {
    node: NodeId,
    param: ParamId,
    name: String,
    value: String,
    form: Option<Box<[u64]>>,
}

impl Device {
    /// GetParameterValues (A.3.2.2).
    pub fn get_parameter_values(&self, req: &GetParameterValues) -> Result<GetParameterValuesResponse, Fault> {
        // The schema requires at least one name (digest trap 6.5).
        if req.parameter_names.is_empty() {
            return Err(fault(FaultCode::InvalidArguments, "ParameterNames is empty"));
        }
        let addr = self.addressing(true);
        let mut list = Vec::new();
        for name in &req.parameter_names {
            let path = Path::parse(name).map_err(|_| invalid_name(name))?;
            let matches = self.resolve(&path, addr).map_err(|_| invalid_name(name))?;
            for m in matches {
                let mut name = m.name;
                if let Target::Param(node, p) = m.target {
                    list.push(self.value_struct(node, p, name, addr.alias_mode)?);
                    continue;
                }
                self.walk(m.target, &mut name, addr.alias_mode, &mut |visit, name| {
                    if let Visit::Param(node, p) = visit {
                        list.push(self.value_struct(node, p, name.to_owned(), addr.alias_mode)?);
                    }
                    Ok::<(), Fault>(())
                })?;
            }
        }
        Ok(GetParameterValuesResponse { parameter_list: list })
    }

    fn value_struct(
        &self,
        node: NodeId,
        param: ParamId,
        name: String,
        alias_mode: bool,
    ) -> Result<ParameterValueStruct, Fault> {
        let text = self.value_for_acs(node, param).map_err(backend_fault)?;
        let text = self.render(Key::new(node, param), text, alias_mode);
        Ok(ParameterValueStruct {
            name,
            value: cwmp_wire::Value { ty: self.schema.param(param).xsd_type(), text: text.into_owned() },
        })
    }

    /// GetParameterNames (A.3.2.3).
    pub fn get_parameter_names(&self, req: &GetParameterNames) -> Result<GetParameterNamesResponse, Fault> {
        let name = req.parameter_path.as_str();
        let path = Path::parse(name).map_err(|_| invalid_name(name))?;
        let addr = self.addressing(true);
        let matches = self.resolve(&path, addr).map_err(|_| invalid_name(name))?;
        if path.is_parameter() && req.next_level {
            return Err(fault(FaultCode::InvalidArguments, "NextLevel is true for a parameter name"));
        }
        let mut list = Vec::new();
        let mut push = |visit: Visit, name: &str| {
            list.push(ParameterInfoStruct { name: name.to_owned(), writable: self.writable(visit) });
            Ok::<(), Fault>(())
        };
        if path.is_root() {
            // "" names the top of the hierarchy: the root object, and with NextLevel=false
            // everything below it too.
            let root = self.schema.root();
            let mut name = self.schema.object(root).path.to_string();
            push(Visit::Object(root), &name)?;
            if !req.next_level {
                self.walk(Target::Object(ROOT, root), &mut name, addr.alias_mode, &mut push)?;
            }
            return Ok(GetParameterNamesResponse { parameter_list: list });
        }
        for m in matches {
            let mut name = m.name;
            let visit = match m.target {
                Target::Param(node, p) => Visit::Param(node, p),
                Target::Object(node, o) if self.schema.object(o).multi => Visit::Row(node, o),
                Target::Object(_, o) => Visit::Object(o),
                Target::Table(node, o) => Visit::Table(node, o),
            };
            if req.next_level {
                self.children(m.target, &mut name, addr.alias_mode, &mut push)?;
            } else {
                push(visit, &name)?;
                self.walk(m.target, &mut name, addr.alias_mode, &mut push)?;
            }
        }
        Ok(GetParameterNamesResponse { parameter_list: list })
    }

    /// The Writable flag of GetParameterNames: SetParameterValues for a parameter,
    /// AddObject for a table, DeleteObject for a row.
    fn writable(&self, visit: Visit) -> bool {
        match visit {
            Visit::Param(node, p) => self.param_writable(node, p),
            Visit::Object(_) => false,
            Visit::Table(_, o) => self.schema.object(o).access.can_add(),
            Visit::Row(_, o) => self.schema.object(o).access.can_delete(),
        }
    }

    fn param_writable(&self, node: NodeId, param: ParamId) -> bool {
        match self.schema.param(param).facts.access {
            ParamAccess::ReadWrite => true,
            ParamAccess::WriteOnceReadOnly => !self.written.contains(&Key::new(node, param)),
            ParamAccess::ReadOnly => false,
        }
    }

    /// SetParameterValues (A.3.2.1): all or nothing; every parameter in error is reported
    /// under one 9003 fault.
    pub fn set_parameter_values(&mut self, req: &SetParameterValues) -> Result<SetParameterValuesResponse, Fault> {
        let mut faults = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for pv in &req.parameter_list {
            *seen.entry(pv.name.trim()).or_default() += 1;
        }
        let mut duplicates: Vec<&str> = seen.iter().filter(|(_, n)| **n > 1).map(|(name, _)| *name).collect();
        if !duplicates.is_empty() {
            duplicates.sort_unstable();
            for name in duplicates {
                faults.push(spv_fault(name, FaultCode::InvalidArguments, "parameter listed more than once"));
            }
            return Err(spv_faults(faults));
        }
        let mut undo = Undo::default();
        let mut writes = Vec::with_capacity(req.parameter_list.len());
        for pv in &req.parameter_list {
            match self.prepare_write(pv, &mut undo) {
                Ok(w) => writes.push(w),
                Err((code, message)) => faults.push(spv_fault(pv.name.trim(), code, message)),
            }
        }
        if faults.is_empty() {
            self.check_uniqueness(&writes, &mut faults);
        }
        if !faults.is_empty() {
            self.abort(undo);
            return Err(spv_faults(faults));
        }
        for w in writes {
            let key = Key::new(w.node, w.param);
            if self.backend.is_some() {
                let path = self.numeric_path(w.node, w.param);
                if let Some(backend) = self.backend.as_mut()
                    && let Err(e) = backend.set(&path, &w.value)
                {
                    let code = match e {
                        BackendError::Rejected(_) => FaultCode::InvalidParameterValue,
                        BackendError::Failed(_) => FaultCode::InternalError,
                    };
                    faults.push(spv_fault(&w.name, code, e.to_string()));
                    continue;
                }
            }
            let object = self.schema.object(self.schema.param(w.param).object);
            if object.alias == Some(w.param) {
                let alias = (!w.value.is_empty()).then(|| w.value.into_boxed_str());
                self.tree_mut(&mut undo).set_alias(w.node, alias);
            } else {
                self.put_value(key, Some(w.value.into_boxed_str()), &mut undo);
            }
            if self.forms.contains_key(&key) || w.form.is_some() {
                self.put_form(key, w.form, &mut undo);
            }
            if self.schema.param(w.param).facts.access == ParamAccess::WriteOnceReadOnly {
                self.mark_written(key, &mut undo);
            }
        }
        if !faults.is_empty() {
            self.abort(undo);
            return Err(spv_faults(faults));
        }
        self.put_parameter_key(&req.parameter_key, &mut undo);
        let status = self.commit(undo)?;
        Ok(SetParameterValuesResponse { status })
    }

    /// Resolves and validates one SetParameterValues entry; creates rows named by unknown
    /// aliases when AutoCreateInstances is on (A.3.2.1).
    fn prepare_write(&mut self, pv: &ParameterValueStruct, undo: &mut Undo) -> Result<Write, (FaultCode, String)> {
        let name = pv.name.trim();
        let bad_name = || (FaultCode::InvalidParameterName, "no such parameter".to_owned());
        let path = Path::parse(name).map_err(|_| bad_name())?;
        if path.is_partial() || path.has_wildcard() {
            return Err(bad_name());
        }
        let addr = self.addressing(false);
        let (node, param) = loop {
            match self.resolve(&path, addr) {
                Ok(m) => match m.as_slice() {
                    [m] => match m.target {
                        Target::Param(node, p) => break (node, p),
                        _ => return Err(bad_name()),
                    },
                    _ => return Err(bad_name()),
                },
                Err(Miss::UnknownAlias { parent, table, alias }) if self.auto_create() => {
                    self.auto_create_row(parent, table, &alias, undo)
                        .map_err(|m| (FaultCode::InvalidParameterName, m))?;
                }
                Err(_) => return Err(bad_name()),
            }
        };
        let p = self.schema.param(param);
        if !self.param_writable(node, param) {
            return Err((FaultCode::NonWritableParameter, "parameter is not writable".into()));
        }
        let declared = &pv.value.ty;
        let compatible = *declared == XsdType::String
            || *declared == p.xsd_type()
            || (p.base() == BaseType::Decimal && declared.name() == "decimal");
        if !compatible {
            return Err((FaultCode::InvalidParameterType, format!("expected {}, got {}", p.xsd_type(), declared)));
        }
        let invalid = |e: ValueError| (FaultCode::InvalidParameterValue, e.to_string());
        let canonical = syntax::check(p, &pv.value.text, Writer::Acs).map_err(invalid)?;
        let checked = self.check_references(node, param, &canonical).map_err(invalid)?;
        if self.schema.object(p.object).alias == Some(param) {
            self.check_alias(&canonical).map_err(invalid)?;
        }
        Ok(Write { node, param, name: name.to_owned(), value: checked.text, form: checked.form })
    }

    /// An alias must be non-empty and start with a letter (TR-181 `_AliasCWMP`); its
    /// uniqueness is checked with all writes applied ([`Device::check_uniqueness`]).
    fn check_alias(&self, alias: &str) -> Result<(), ValueError> {
        if self.features.alias_addressing && !alias.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(ValueError::Pattern);
        }
        Ok(())
    }

    fn auto_create_row(&mut self, parent: NodeId, table: ObjectId, alias: &str, undo: &mut Undo) -> Result<(), String> {
        let object = self.schema.object(table);
        let Some(alias_param) = object.alias else { return Err("the table has no Alias parameter".into()) };
        if !object.access.can_add() {
            return Err("instances of this table cannot be created".into());
        }
        if object.max_entries.is_some_and(|m| self.tree.rows(parent, table).len() as u32 >= m) {
            return Err("the table is full".into());
        }
        let valid = syntax::check(self.schema.param(alias_param), alias, Writer::Acs).is_ok()
            && alias.starts_with(|c: char| c.is_ascii_alphabetic());
        if !valid {
            return Err(format!("{alias:?} is not a valid alias"));
        }
        self.insert_row(parent, table, None, Some(alias.into()), undo)
            .map_err(|_| "no instance number left".to_owned())?;
        if self.backend.is_some() {
            let row = self.tree.find_alias(parent, table, alias).unwrap_or(ROOT);
            let path = self.row_path(row, false);
            if let Some(backend) = self.backend.as_mut() {
                backend.add_object(&path).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Aliases and unique keys must stay unique once all writes are applied (TR-106
    /// A.2.10.1); functional keys only among enabled rows, keys with an empty value not at
    /// all (new rows start with empty keys).
    fn check_uniqueness(&self, writes: &[Write], faults: &mut Vec<SetParameterValuesFault>) {
        let overlay: FastMap<Key, &str> =
            writes.iter().map(|w| (Key::new(w.node, w.param), w.value.as_str())).collect();
        let value = |node: NodeId, param: ParamId| -> String {
            match overlay.get(&Key::new(node, param)) {
                Some(v) => (*v).to_owned(),
                None => self.value(node, param).map(|v| v.into_owned()).unwrap_or_default(),
            }
        };
        let mut touched: Vec<NodeId> = writes.iter().map(|w| w.node).collect();
        touched.sort_unstable();
        touched.dedup();
        let mut bad: Vec<usize> = Vec::new();
        for &row in &touched {
            if row == ROOT {
                continue;
            }
            let node = self.tree.node(row);
            let object = self.schema.object(node.object);
            let siblings = self.tree.rows(node.parent, node.object);
            let enabled = |r: NodeId| object.enable.is_none_or(|e| parse_bool(&value(r, e)) == Some(true));
            let mut keys: Vec<(Vec<ParamId>, bool)> = object.unique_keys.clone();
            if let Some(alias) = object.alias
                && !keys.iter().any(|(k, _)| k == &[alias])
            {
                keys.push((vec![alias], false));
            }
            for (key, functional) in keys {
                if functional && !enabled(row) {
                    continue;
                }
                let mine: Vec<String> = key.iter().map(|&p| value(row, p)).collect();
                if mine.iter().any(String::is_empty) {
                    continue;
                }
                let clash = siblings.iter().any(|&other| {
                    other != row
                        && (!functional || enabled(other))
                        && key.iter().zip(&mine).all(|(&p, v)| value(other, p) == *v)
                });
                if clash {
                    for (i, w) in writes.iter().enumerate() {
                        if w.node == row && (key.contains(&w.param) || object.enable == Some(w.param)) {
                            bad.push(i);
                        }
                    }
                }
            }
        }
        bad.sort_unstable();
        bad.dedup();
        for i in bad {
            faults.push(spv_fault(
                &writes[i].name,
                FaultCode::InvalidParameterValue,
                ValueError::NotUnique.to_string(),
            ));
        }
    }

    /// Undoes a failed operation in the engine and in the backend.
    fn abort(&mut self, undo: Undo) {
        if let Some(b) = self.backend.as_mut() {
            b.rollback();
        }
        self.rollback(undo);
    }

    /// Persists the new state, then lets the backend apply it. Returns the RPC Status.
    fn commit(&mut self, undo: Undo) -> Result<i32, Fault> {
        if let Err(e) = self.persist() {
            self.abort(undo);
            return Err(fault(FaultCode::InternalError, format!("the new state could not be saved: {e}")));
        }
        let applied = match self.backend.as_mut().map(|b| b.commit()) {
            None => Applied::Now,
            Some(Ok(applied)) => applied,
            Some(Err(e)) => {
                self.rollback(undo);
                if let Err(e) = self.persist() {
                    tracing::error!(%e, "the restored state could not be saved");
                }
                return Err(backend_fault(e));
            }
        };
        Ok(match applied {
            Applied::Now => 0,
            Applied::Later => 1,
        })
    }

    /// SetParameterAttributes (A.3.2.4): entries apply in order, later ones win; the whole
    /// request fails if any entry is invalid.
    pub fn set_parameter_attributes(
        &mut self,
        req: &SetParameterAttributes,
    ) -> Result<SetParameterAttributesResponse, Fault> {
        if req.parameter_list.is_empty() {
            return Err(fault(FaultCode::InvalidArguments, "ParameterList is empty"));
        }
        let addr = self.addressing(false);
        let mut plan: FastMap<Key, Attributes> = FastMap::default();
        let mut order: Vec<Key> = Vec::new();
        for entry in &req.parameter_list {
            let name = entry.name.trim();
            let path = Path::parse(name).map_err(|_| invalid_name(name))?;
            // Wildcards are only for GPV, GPN and GPA (digest trap 6.31).
            if path.has_wildcard() {
                return Err(invalid_name(name));
            }
            let matches = self.resolve(&path, addr).map_err(|_| invalid_name(name))?;
            let n = entry.notification;
            if entry.notification_change {
                if !(0..=6).contains(&n) {
                    return Err(fault(FaultCode::InvalidArguments, format!("Notification {n} is out of range")));
                }
                if n >= 3 && !self.features.lightweight_notification {
                    return Err(fault(FaultCode::InvalidArguments, "lightweight notification is not supported"));
                }
            }
            let mut keys = Vec::new();
            for m in matches {
                let mut name = m.name;
                match m.target {
                    Target::Param(node, p) => keys.push(Key::new(node, p)),
                    target => self.walk(target, &mut name, false, &mut |visit, _| {
                        if let Visit::Param(node, p) = visit {
                            keys.push(Key::new(node, p));
                        }
                        Ok::<(), Fault>(())
                    })?,
                }
            }
            for key in keys {
                let p = self.schema.param(key.param());
                let mut attributes = plan.get(&key).copied().unwrap_or_else(|| self.attributes_of(key));
                if entry.notification_change {
                    match p.facts.active_notify {
                        // Forced Active Notification: other values are silently ignored.
                        ActiveNotify::ForceEnabled => {}
                        ActiveNotify::CanDeny if matches!(n, 2 | 5 | 6) => {
                            return Err(fault(
                                FaultCode::NotificationRequestRejected,
                                format!(
                                    "active notification is not available for {}",
                                    self.numeric_path(key.node(), key.param())
                                ),
                            ));
                        }
                        _ => attributes.notification = n as u8,
                    }
                }
                if entry.access_list_change {
                    // Only "Subscriber" is defined; other entities are ignored (A.3.2.4).
                    attributes.subscriber_access = entry.access_list.iter().any(|e| e == "Subscriber");
                }
                if plan.insert(key, attributes).is_none() {
                    order.push(key);
                }
            }
        }
        let mut undo = Undo::default();
        for key in order {
            self.put_attr(key, plan[&key], &mut undo);
        }
        if let Err(e) = self.persist() {
            self.rollback(undo);
            return Err(fault(FaultCode::InternalError, format!("the new attributes could not be saved: {e}")));
        }
        Ok(SetParameterAttributesResponse {})
    }

    /// GetParameterAttributes (A.3.2.5).
    pub fn get_parameter_attributes(
        &self,
        req: &GetParameterAttributes,
    ) -> Result<GetParameterAttributesResponse, Fault> {
        if req.parameter_names.is_empty() {
            return Err(fault(FaultCode::InvalidArguments, "ParameterNames is empty"));
        }
        let addr = self.addressing(true);
        let mut list = Vec::new();
        for name in &req.parameter_names {
            let path = Path::parse(name).map_err(|_| invalid_name(name))?;
            let matches = self.resolve(&path, addr).map_err(|_| invalid_name(name))?;
            let mut push = |node: NodeId, p: ParamId, name: &str| {
                let a = self.attributes_of(Key::new(node, p));
                list.push(ParameterAttributeStruct {
                    name: name.to_owned(),
                    notification: a.notification as i32,
                    access_list: a.access_list(),
                });
            };
            for m in matches {
                let mut name = m.name;
                match m.target {
                    Target::Param(node, p) => push(node, p, &name),
                    target => self.walk(target, &mut name, addr.alias_mode, &mut |visit, name| {
                        if let Visit::Param(node, p) = visit {
                            push(node, p, name);
                        }
                        Ok::<(), Fault>(())
                    })?,
                }
            }
        }
        Ok(GetParameterAttributesResponse { parameter_list: list })
    }

    /// AddObject (A.3.2.6), with `Table.[alias].` when Alias-Based Addressing is on.
    pub fn add_object(&mut self, req: &AddObject) -> Result<AddObjectResponse, Fault> {
        let name = req.object_name.trim();
        let path = Path::parse(name).map_err(|_| invalid_name(name))?;
        if !path.is_partial() || path.is_root() || path.has_wildcard() {
            return Err(invalid_name(name));
        }
        let addr = self.addressing(false);
        let table_of = |device: &Device, path: &Path| match device.resolve(path, addr).as_deref() {
            Ok([m]) => match m.target {
                Target::Table(parent, table) => Some((parent, table)),
                _ => None,
            },
            _ => None,
        };
        let (parent, table, alias) = match path.last() {
            Some(Segment::Alias(alias)) => {
                let table_path = path.parent().ok_or_else(|| invalid_name(name))?;
                let (parent, table) =
                    table_of(self, &table_path).filter(|_| addr.aliases).ok_or_else(|| invalid_name(name))?;
                let alias_param = self.schema.object(table).alias.ok_or_else(|| invalid_name(name))?;
                let valid = syntax::check(self.schema.param(alias_param), alias, Writer::Acs).is_ok()
                    && alias.starts_with(|c: char| c.is_ascii_alphabetic());
                if !valid || self.tree.find_alias(parent, table, alias).is_some() {
                    return Err(invalid_name(name));
                }
                (parent, table, Some(alias.to_owned()))
            }
            _ => {
                let (parent, table) = table_of(self, &path).ok_or_else(|| invalid_name(name))?;
                (parent, table, None)
            }
        };
        let object = self.schema.object(table);
        if !object.access.can_add() {
            return Err(fault(FaultCode::InvalidParameterName, format!("{name} does not allow AddObject")));
        }
        if object.max_entries.is_some_and(|m| self.tree.rows(parent, table).len() as u32 >= m) {
            return Err(fault(FaultCode::ResourcesExceeded, "the maximum number of instances exists"));
        }
        let mut undo = Undo::default();
        let row = self
            .insert_row(parent, table, None, alias.map(Into::into), &mut undo)
            .map_err(|_| fault(FaultCode::ResourcesExceeded, "no instance number left"))?;
        if self.backend.is_some() {
            let path = self.row_path(row, false);
            if let Some(backend) = self.backend.as_mut()
                && let Err(e) = backend.add_object(&path)
            {
                self.abort(undo);
                return Err(backend_fault(e));
            }
        }
        let instance_number = self.tree.node(row).number;
        self.put_parameter_key(&req.parameter_key, &mut undo);
        let status = self.commit(undo)?;
        Ok(AddObjectResponse { instance_number, status })
    }

    /// DeleteObject (A.3.2.7): the name must be exactly one existing row.
    pub fn delete_object(&mut self, req: &DeleteObject) -> Result<DeleteObjectResponse, Fault> {
        let name = req.object_name.trim();
        let path = Path::parse(name).map_err(|_| invalid_name(name))?;
        let row_named = matches!(path.last(), Some(Segment::Instance(_) | Segment::Alias(_)));
        if !path.is_partial() || !row_named {
            return Err(invalid_name(name));
        }
        let (row, table) = match self.resolve(&path, self.addressing(false)).as_deref() {
            Ok([m]) => match m.target {
                Target::Object(row, o) if row != ROOT && self.schema.object(o).multi => (row, o),
                _ => return Err(invalid_name(name)),
            },
            _ => return Err(invalid_name(name)),
        };
        let object = self.schema.object(table);
        if !object.access.can_delete() {
            return Err(fault(FaultCode::InvalidParameterName, format!("{name} does not allow DeleteObject")));
        }
        let node = self.tree.node(row).clone();
        if self.tree.rows(node.parent, table).len() as u32 <= object.min_entries {
            return Err(fault(FaultCode::RequestDenied, "the data model requires this many instances"));
        }
        let numeric = self.row_path(row, false);
        let mut undo = Undo::default();
        if let Some(backend) = self.backend.as_mut()
            && let Err(e) = backend.delete_object(&numeric)
        {
            backend.rollback();
            return Err(backend_fault(e));
        }
        self.remove_row(row, &mut undo);
        self.clean_references(&numeric, (node.parent, node.number, table), &mut undo);
        self.put_parameter_key(&req.parameter_key, &mut undo);
        let status = self.commit(undo)?;
        Ok(DeleteObjectResponse { status })
    }
}

fn spv_fault(name: &str, code: FaultCode, message: impl Into<String>) -> SetParameterValuesFault {
    SetParameterValuesFault { parameter_name: name.to_owned(), fault_code: code, fault_string: message.into() }
}

/// The SetParameterValues fault: 9003 with one entry per parameter in error (A.3.2.1).
fn spv_faults(entries: Vec<SetParameterValuesFault>) -> Fault {
    let mut f = Fault::new(FaultCode::InvalidArguments);
    f.set_parameter_values_faults = entries;
    f
}
