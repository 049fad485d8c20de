//! Path resolution (instance numbers, `[alias]`, `*`; TR-069 3.6.1, 3.6.2, A.2.2) and the
//! walk over everything below a resolved path, naming each item the way the response must
//! show it.

use cwmp_wire::{Path, Segment};

use crate::device::Device;
use crate::schema::{Child, ObjectId, ParamId};
use crate::tree::{NodeId, ROOT};

/// What a path names. Nodes are those of the nearest row (or the root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Param(NodeId, ParamId),
    /// A single-instance object, or a row (then the node is the row itself).
    Object(NodeId, ObjectId),
    /// A multi-instance object without an instance: the table under `NodeId`.
    Table(NodeId, ObjectId),
}

/// One resolved item with its name as the response shows it: each level down to the
/// requested depth keeps the identifier type of the request (3.6.1 item 7).
#[derive(Debug, Clone)]
pub(crate) struct Match {
    pub target: Target,
    pub name: String,
}

/// Why a path names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Miss {
    Invalid,
    /// The path is valid but names a row by an alias that no row has: the only case the
    /// Auto-Create Instance mechanism can fix.
    UnknownAlias {
        parent: NodeId,
        table: ObjectId,
        alias: String,
    },
}

/// Which optional addressing forms a request may use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Addressing {
    pub aliases: bool,
    pub wildcards: bool,
    /// Rows reached through a wildcard or below the request are named by alias.
    pub alias_mode: bool,
}

/// An item met while walking below a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Visit {
    Param(NodeId, ParamId),
    /// A single-instance object.
    Object(ObjectId),
    /// A table (multi-instance object without instance).
    Table(NodeId, ObjectId),
    /// A row of a table.
    Row(NodeId, ObjectId),
}

impl Device {
    pub(crate) fn addressing(&self, wildcards_allowed: bool) -> Addressing {
        Addressing {
            aliases: self.features.alias_addressing,
            wildcards: wildcards_allowed && self.features.instance_wildcards,
            alias_mode: self.alias_mode(),
        }
    }

    /// Resolves a path; wildcards can give several matches (or none).
    pub(crate) fn resolve(&self, path: &Path, addr: Addressing) -> Result<Vec<Match>, Miss> {
        #[derive(Clone, Copy)]
        enum At {
            Top,
            Object(ObjectId),
            Table(ObjectId),
            Param(ParamId),
        }
        let schema = &*self.schema;
        if path.is_root() {
            let name = schema.object(schema.root()).path.to_string();
            return Ok(vec![Match { target: Target::Object(ROOT, schema.root()), name }]);
        }
        let partial = path.is_partial();
        let depth = path.depth();
        let mut at = At::Top;
        let mut states: Vec<(NodeId, String)> = vec![(ROOT, String::with_capacity(path.as_str().len() + 16))];
        let mut wild = false;
        for (i, segment) in path.segments().enumerate() {
            let last = i + 1 == depth;
            at = match (at, segment) {
                (At::Top, Segment::Name(name)) => {
                    let root = schema.object(schema.root());
                    if *root.name != *name || (last && !partial) {
                        return Err(Miss::Invalid);
                    }
                    push_all(&mut states, name, true);
                    At::Object(schema.root())
                }
                (At::Object(o), Segment::Name(name)) => match schema.object(o).child(name) {
                    Some(Child::Object(c)) => {
                        if last && !partial {
                            return Err(Miss::Invalid);
                        }
                        push_all(&mut states, name, true);
                        if schema.object(c).multi { At::Table(c) } else { At::Object(c) }
                    }
                    Some(Child::Param(p)) if last && !partial => {
                        push_all(&mut states, name, false);
                        At::Param(p)
                    }
                    _ => return Err(Miss::Invalid),
                },
                (At::Table(t), Segment::Instance(number)) => {
                    states = states
                        .into_iter()
                        .filter_map(|(node, mut name)| {
                            let row = self.tree.find_number(node, t, number)?;
                            name.push_str(&number.to_string());
                            name.push('.');
                            Some((row, name))
                        })
                        .collect();
                    if states.is_empty() && !wild {
                        return Err(Miss::Invalid);
                    }
                    At::Object(t)
                }
                (At::Table(t), Segment::Alias(alias)) => {
                    if !addr.aliases {
                        return Err(Miss::Invalid);
                    }
                    if !wild
                        && let [(node, _)] = states.as_slice()
                        && self.tree.find_alias(*node, t, alias).is_none()
                    {
                        return Err(Miss::UnknownAlias { parent: *node, table: t, alias: alias.to_owned() });
                    }
                    states = states
                        .into_iter()
                        .filter_map(|(node, mut name)| {
                            let row = self.tree.find_alias(node, t, alias)?;
                            name.push('[');
                            name.push_str(alias);
                            name.push_str("].");
                            Some((row, name))
                        })
                        .collect();
                    At::Object(t)
                }
                (At::Table(t), Segment::Wildcard) => {
                    if !addr.wildcards {
                        return Err(Miss::Invalid);
                    }
                    wild = true;
                    let mut next = Vec::new();
                    for (node, name) in states {
                        for &row in self.tree.rows(node, t) {
                            let mut name = name.clone();
                            self.push_row_id(&mut name, row, addr.alias_mode);
                            next.push((row, name));
                        }
                    }
                    states = next;
                    At::Object(t)
                }
                _ => return Err(Miss::Invalid),
            };
        }
        if !partial && !matches!(at, At::Param(_)) {
            return Err(Miss::Invalid);
        }
        let target = |node: NodeId| match at {
            At::Object(o) => Target::Object(node, o),
            At::Table(t) => Target::Table(node, t),
            At::Param(p) => Target::Param(node, p),
            At::Top => Target::Object(ROOT, schema.root()),
        };
        Ok(states.into_iter().map(|(node, name)| Match { target: target(node), name }).collect())
    }

    /// Calls `f` for every item below `target` (not for the target itself), with its name
    /// (`name` holds the target's name on entry and is restored on return).
    pub(crate) fn walk<E>(
        &self,
        target: Target,
        name: &mut String,
        alias_mode: bool,
        f: &mut dyn FnMut(Visit, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        match target {
            Target::Param(..) => Ok(()),
            Target::Object(node, object) => self.walk_object(node, object, name, alias_mode, f),
            Target::Table(parent, table) => self.walk_rows(parent, table, name, alias_mode, f),
        }
    }

    fn walk_object<E>(
        &self,
        node: NodeId,
        object: ObjectId,
        name: &mut String,
        alias_mode: bool,
        f: &mut dyn FnMut(Visit, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let o = self.schema.object(object);
        let len = name.len();
        for &p in &o.params {
            name.push_str(self.schema.param(p).name());
            f(Visit::Param(node, p), name)?;
            name.truncate(len);
        }
        for &c in &o.children {
            let child = self.schema.object(c);
            name.push_str(&child.name);
            name.push('.');
            if child.multi {
                f(Visit::Table(node, c), name)?;
                self.walk_rows(node, c, name, alias_mode, f)?;
            } else {
                f(Visit::Object(c), name)?;
                self.walk_object(node, c, name, alias_mode, f)?;
            }
            name.truncate(len);
        }
        Ok(())
    }

    fn walk_rows<E>(
        &self,
        parent: NodeId,
        table: ObjectId,
        name: &mut String,
        alias_mode: bool,
        f: &mut dyn FnMut(Visit, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let len = name.len();
        for &row in self.tree.rows(parent, table) {
            self.push_row_id(name, row, alias_mode);
            f(Visit::Row(row, table), name)?;
            self.walk_object(row, table, name, alias_mode, f)?;
            name.truncate(len);
        }
        Ok(())
    }

    /// The immediate children of a target, as GetParameterNames with NextLevel=true lists
    /// them.
    pub(crate) fn children<E>(
        &self,
        target: Target,
        name: &mut String,
        alias_mode: bool,
        f: &mut dyn FnMut(Visit, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let len = name.len();
        match target {
            Target::Param(..) => {}
            Target::Object(node, object) => {
                let o = self.schema.object(object);
                for &p in &o.params {
                    name.push_str(self.schema.param(p).name());
                    f(Visit::Param(node, p), name)?;
                    name.truncate(len);
                }
                for &c in &o.children {
                    let child = self.schema.object(c);
                    name.push_str(&child.name);
                    name.push('.');
                    f(if child.multi { Visit::Table(node, c) } else { Visit::Object(c) }, name)?;
                    name.truncate(len);
                }
            }
            Target::Table(parent, table) => {
                for &row in self.tree.rows(parent, table) {
                    self.push_row_id(name, row, alias_mode);
                    f(Visit::Row(row, table), name)?;
                    name.truncate(len);
                }
            }
        }
        Ok(())
    }
}

fn push_all(states: &mut [(NodeId, String)], name: &str, dot: bool) {
    for (_, s) in states {
        s.push_str(name);
        if dot {
            s.push('.');
        }
    }
}
