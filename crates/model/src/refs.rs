//! Reference parameters (TR-069 3.6.3, TR-106 A.2.3.6): validation of strong references,
//! `enumerationRef` values, clean-up when a referenced row is deleted, and the alias form
//! in which reference values are shown (3.6.1 item 10).

use std::borrow::Cow;

use cwmp_wire::{Path, Segment};

use crate::address::{Addressing, Target};
use crate::device::{Device, Undo};
use crate::facts::{RefType, TargetType};
use crate::schema::ParamId;
use crate::syntax::ValueError;
use crate::tree::{Key, NodeId, ROOT};

/// A reference value ready to store: instance numbers only, plus the alias form the ACS
/// wrote each item in.
pub(crate) struct Checked {
    pub text: String,
    pub form: Option<Box<[u64]>>,
}

impl Device {
    /// Checks the reference facets of a value the ACS sets (already canonical for its type).
    pub(crate) fn check_references(&self, node: NodeId, param: ParamId, value: &str) -> Result<Checked, ValueError> {
        let p = self.schema.param(param);
        if let Some(target) = p.enumeration_ref {
            let allowed = self.enumeration_values(node, target);
            let null = p.facts.enumeration_ref.as_ref().and_then(|r| r.null_value.as_deref());
            for item in items(value, p.is_list()) {
                if Some(item) != null && !allowed.iter().any(|a| a == item) {
                    return Err(ValueError::Enumeration);
                }
            }
        }
        if let Some((RefType::Strong, table)) = p.instance_ref {
            let number: i64 = value.parse().map_err(|_| ValueError::Reference)?;
            if number > 0 {
                let parent = self.schema.object(table).parent.and_then(|o| self.schema.row_of(o));
                let context = parent.and_then(|o| self.tree.row_at(node, o)).unwrap_or(ROOT);
                if u32::try_from(number).ok().and_then(|n| self.tree.find_number(context, table, n)).is_none() {
                    return Err(ValueError::Reference);
                }
            }
        }
        let Some(r) = p.path_ref.as_ref().filter(|r| r.ref_type == RefType::Strong) else {
            return Ok(Checked { text: value.to_owned(), form: None });
        };
        // 3.6.3 item 1: a strong reference to something that does not exist is rejected.
        let addr = Addressing { aliases: self.features.alias_addressing, wildcards: false, alias_mode: false };
        let mut text = String::with_capacity(value.len());
        let mut form = Vec::new();
        for (i, item) in items(value, p.is_list()).enumerate() {
            if i > 0 {
                text.push(',');
            }
            if item.is_empty() {
                form.push(0);
                continue;
            }
            let (target, dot) = self.resolve_reference(item, addr).ok_or(ValueError::Reference)?;
            let (object, row) = match target {
                Target::Param(n, q) => (self.schema.param(q).object, n),
                Target::Object(n, o) | Target::Table(n, o) => (o, n),
            };
            let kind_ok = match (r.target_type, target) {
                (TargetType::Any, _) => true,
                (TargetType::Parameter, Target::Param(..)) => true,
                (TargetType::Object, Target::Object(..)) => true,
                (TargetType::Single, Target::Object(_, o)) => !self.schema.object(o).multi,
                (TargetType::Row, Target::Object(_, o)) => self.schema.object(o).multi,
                (TargetType::Table, Target::Table(..)) => true,
                _ => false,
            };
            if !kind_ok {
                return Err(ValueError::Reference);
            }
            if !r.target_parents.is_empty() {
                // The target must be an immediate child of one of the target parents; a
                // row's "parent" here is its table (the `{i}` object).
                let parent = match target {
                    Target::Object(_, o) if self.schema.object(o).multi => Some(o),
                    Target::Param(_, q) => Some(self.schema.param(q).object),
                    _ => self.schema.object(object).parent,
                };
                if !parent.is_some_and(|pp| r.target_parents.contains(&pp)) {
                    return Err(ValueError::Reference);
                }
                // Relative target parents (`#.Port.`) bind the shared `{i}` levels: the
                // target must lie in the same rows as the referencing parameter.
                let mut at = node;
                while at != ROOT {
                    let ancestor = self.tree.node(at);
                    if self.schema.is_ancestor(ancestor.object, object)
                        && self.tree.row_at(row, ancestor.object) != Some(at)
                    {
                        return Err(ValueError::Reference);
                    }
                    at = ancestor.parent;
                }
            }
            let mut numeric = self.target_path(target);
            if !dot && numeric.ends_with('.') {
                numeric.pop();
            }
            text.push_str(&numeric);
            form.push(alias_levels(item));
        }
        let form = self.features.alias_addressing.then(|| form.into_boxed_slice());
        Ok(Checked { text, form })
    }

    /// Resolves one reference item to a single target. Object references are commonly
    /// written without the trailing dot (`Device.IP.Interface.1`); both forms are accepted.
    fn resolve_reference(&self, item: &str, addr: Addressing) -> Option<(Target, bool)> {
        let one = |text: &str| -> Option<Target> {
            let path = Path::parse(text).ok()?;
            if path.is_root() || path.has_wildcard() {
                return None;
            }
            match self.resolve(&path, addr).ok()?.as_slice() {
                [m] => Some(m.target),
                _ => None,
            }
        };
        if item.ends_with('.') {
            return one(item).map(|t| (t, true));
        }
        one(item).map(|t| (t, false)).or_else(|| one(&format!("{item}.")).map(|t| (t, false)))
    }

    /// The path of a target with instance numbers.
    pub(crate) fn target_path(&self, target: Target) -> String {
        match target {
            Target::Param(node, p) => self.numeric_path(node, p),
            Target::Object(node, object) | Target::Table(node, object) => {
                let mut out = self.row_path(node, false);
                let from = self.tree.node(node).object;
                if from != object {
                    self.append_objects(&mut out, from, object);
                }
                out
            }
        }
    }

    /// The values of the list parameter an `enumerationRef` points at, in the rows the
    /// referencing parameter is in.
    fn enumeration_values(&self, node: NodeId, target: ParamId) -> Vec<String> {
        let context = self
            .schema
            .row_of(self.schema.param(target).object)
            .and_then(|o| self.tree.row_at(node, o))
            .unwrap_or(ROOT);
        match self.value(context, target) {
            Ok(v) => v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// TR-069 3.6.3 items 3-5: after the row at `deleted` (its numeric path, ending in `.`)
    /// is deleted, scalar strong references to it or below it become empty and list-valued
    /// ones lose those items. Weak references are left alone.
    pub(crate) fn clean_references(
        &mut self,
        deleted: &str,
        deleted_row: (NodeId, u32, crate::schema::ObjectId),
        undo: &mut Undo,
    ) {
        let bare = deleted.trim_end_matches('.');
        let affected = |item: &str| item == bare || item.starts_with(deleted);
        let mut keys: Vec<Key> = Vec::new();
        for &param in self.schema.strong_refs() {
            let object = self.schema.param(param).object;
            keys.extend(self.instances_of(object).into_iter().map(|n| Key::new(n, param)));
        }
        for key in keys {
            let p = self.schema.param(key.param());
            let current = self.stored(key.node(), key.param()).to_owned();
            if let Some((RefType::Strong, table)) = p.instance_ref {
                let (parent, number, object) = deleted_row;
                let parent_object = self.schema.object(table).parent.and_then(|o| self.schema.row_of(o));
                let context = parent_object.and_then(|o| self.tree.row_at(key.node(), o)).unwrap_or(ROOT);
                if object == table && context == parent && current == number.to_string() {
                    let initial = p.initial().into();
                    self.put_value(key, Some(initial), undo);
                }
                continue;
            }
            if current.is_empty() {
                continue;
            }
            let form = self.forms.get(&key).cloned();
            let list = p.is_list();
            let old: Vec<&str> = items(&current, list).collect();
            if !old.iter().any(|i| affected(i)) {
                continue;
            }
            let mut kept = Vec::new();
            let mut kept_form = Vec::new();
            for (i, item) in old.iter().enumerate() {
                if !affected(item) {
                    kept.push(*item);
                    kept_form.push(form.as_ref().and_then(|f| f.get(i).copied()).unwrap_or(0));
                }
            }
            let text = if list { kept.join(",") } else { String::new() };
            self.put_value(key, Some(text.into()), undo);
            if form.is_some() {
                self.put_form(key, Some(kept_form.into_boxed_slice()), undo);
            }
        }
    }

    /// Every node (row or root) in which instances of `object` exist.
    pub(crate) fn instances_of(&self, object: crate::schema::ObjectId) -> Vec<NodeId> {
        match self.schema.row_of(object) {
            None => vec![ROOT],
            Some(table) => {
                let parent_object = self.schema.object(table).parent;
                let parents = match parent_object {
                    Some(p) => self.instances_of(p),
                    None => vec![ROOT],
                };
                parents.into_iter().flat_map(|parent| self.tree.rows(parent, table).to_vec()).collect()
            }
        }
    }

    /// A stored value as the ACS sees it: strong references in InstanceAlias mode name rows
    /// by alias where the ACS did (or everywhere, for values the CPE set), 3.6.1 item 10.
    pub(crate) fn render<'a>(&self, key: Key, text: Cow<'a, str>, alias_mode: bool) -> Cow<'a, str> {
        if !alias_mode || text.is_empty() {
            return text;
        }
        let p = self.schema.param(key.param());
        if !p.path_ref.as_ref().is_some_and(|r| r.ref_type == RefType::Strong) {
            return text;
        }
        let form = self.forms.get(&key);
        let mut out = String::with_capacity(text.len() + 16);
        for (i, item) in items(&text, p.is_list()).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mask = form.map_or(u64::MAX, |f| f.get(i).copied().unwrap_or(0));
            out.push_str(&self.alias_form(item, mask));
        }
        Cow::Owned(out)
    }

    /// Rewrites a numeric path so that the instance levels in `mask` use aliases (where the
    /// row has one).
    fn alias_form(&self, numeric: &str, mask: u64) -> String {
        let Ok(path) = Path::parse(numeric) else { return numeric.to_owned() };
        let mut out = String::with_capacity(numeric.len() + 16);
        let mut node = ROOT;
        let mut object = self.schema.root();
        let mut level = 0;
        for (i, segment) in path.segments().enumerate() {
            if i > 0 {
                out.push('.');
            }
            match segment {
                Segment::Name(name) if i == 0 => out.push_str(name),
                Segment::Name(name) => {
                    out.push_str(name);
                    if let Some(crate::schema::Child::Object(c)) = self.schema.object(object).child(name) {
                        object = c;
                    }
                }
                Segment::Instance(n) => {
                    let row = self.tree.find_number(node, object, n);
                    match row.and_then(|r| self.tree.node(r).alias.as_deref()) {
                        Some(alias) if mask & (1 << level.min(63)) != 0 => {
                            out.push('[');
                            out.push_str(alias);
                            out.push(']');
                        }
                        _ => out.push_str(&n.to_string()),
                    }
                    if let Some(r) = row {
                        node = r;
                    }
                    level += 1;
                }
                other => out.push_str(&other.to_string()),
            }
        }
        if numeric.ends_with('.') {
            out.push('.');
        }
        out
    }
}

/// The items of a (list) value.
fn items(value: &str, list: bool) -> impl Iterator<Item = &str> {
    let parts: Vec<&str> = if !list {
        vec![value]
    } else if value.trim().is_empty() {
        Vec::new()
    } else {
        value.split(',').map(str::trim).collect()
    };
    parts.into_iter()
}

/// Bit i set when the i-th instance level of a path is an alias.
fn alias_levels(item: &str) -> u64 {
    let Ok(path) = Path::parse(item) else { return 0 };
    let mut mask = 0;
    for (level, segment) in path.segments().filter(|s| s.is_instance()).enumerate() {
        if matches!(segment, Segment::Alias(_)) && level < 64 {
            mask |= 1 << level;
        }
    }
    mask
}
