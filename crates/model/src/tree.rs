//! The instance tree of one device: which rows of which tables exist, their instance numbers
//! and aliases, and each table's next instance number.
//!
//! Single-instance objects need no nodes: they exist whenever their nearest row (or the
//! root) exists. A parameter instance is therefore identified by its definition and the
//! node of its nearest row, packed into a [`Key`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::schema::{ObjectId, ParamId};

/// A node of the tree; [`ROOT`] is the root object.
pub type NodeId = u32;
pub const ROOT: NodeId = 0;

/// A parameter instance: the parameter and the node of its nearest row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(u64);

impl Key {
    pub fn new(node: NodeId, param: ParamId) -> Key {
        Key(((node as u64) << 32) | param.0 as u64)
    }
    pub fn node(self) -> NodeId {
        (self.0 >> 32) as NodeId
    }
    pub fn param(self) -> ParamId {
        ParamId(self.0 as u32)
    }
}

/// A fast hasher for the small integer keys of per-device maps (the FxHash mix).
#[derive(Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub object: ObjectId,
    pub number: u32,
    pub parent: NodeId,
    pub alias: Option<Box<str>>,
}

/// The rows of one table under one parent, and the number the next row gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    pub next: u32,
    /// Sorted by instance number.
    pub rows: Vec<NodeId>,
}

/// Why a row could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The instance number is taken.
    Taken,
    /// The 32-bit instance number space is used up.
    Exhausted,
}

#[derive(Debug, Clone)]
pub struct Tree {
    nodes: Vec<Option<Node>>,
    tables: FastMap<(NodeId, ObjectId), Table>,
    /// Nodes below this id came from the template and may have template values.
    template_len: u32,
    free: Vec<NodeId>,
}

impl Tree {
    pub fn new(root: ObjectId) -> Tree {
        Tree {
            nodes: vec![Some(Node { object: root, number: 0, parent: ROOT, alias: None })],
            tables: FastMap::default(),
            template_len: 1,
            free: Vec::new(),
        }
    }

    /// Marks every current node as a template node.
    pub fn freeze_template(&mut self) {
        self.template_len = self.nodes.len() as u32;
        self.free.clear();
    }

    pub fn is_template_node(&self, id: NodeId) -> bool {
        id < self.template_len
    }

    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id as usize).and_then(Option::as_ref)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        self.get(id).expect("live node")
    }

    pub fn rows(&self, parent: NodeId, table: ObjectId) -> &[NodeId] {
        self.tables.get(&(parent, table)).map_or(&[], |t| t.rows.as_slice())
    }

    pub fn tables(&self) -> impl Iterator<Item = (&(NodeId, ObjectId), &Table)> {
        self.tables.iter()
    }

    pub fn find_number(&self, parent: NodeId, table: ObjectId, number: u32) -> Option<NodeId> {
        let rows = self.rows(parent, table);
        rows.binary_search_by_key(&number, |&r| self.node(r).number).ok().map(|i| rows[i])
    }

    pub fn find_alias(&self, parent: NodeId, table: ObjectId, alias: &str) -> Option<NodeId> {
        self.rows(parent, table).iter().copied().find(|&r| self.node(r).alias.as_deref() == Some(alias))
    }

    /// The number the next row of a table will get.
    pub fn next_number(&self, parent: NodeId, table: ObjectId) -> u32 {
        self.tables.get(&(parent, table)).map_or(1, |t| t.next.max(1))
    }

    /// Raises a table's next number (restoring a persisted counter); never lowers it.
    pub fn raise_next(&mut self, parent: NodeId, table: ObjectId, next: u32) {
        let t = self.tables.entry((parent, table)).or_default();
        t.next = t.next.max(next);
    }

    /// Adds a row with the given number, or the table's next number.
    pub fn insert(
        &mut self,
        parent: NodeId,
        table: ObjectId,
        number: Option<u32>,
        alias: Option<Box<str>>,
    ) -> Result<NodeId, InsertError> {
        let next = self.next_number(parent, table);
        let number = match number {
            Some(n) => n,
            None if next == u32::MAX => return Err(InsertError::Exhausted),
            None => next,
        };
        if self.find_number(parent, table, number).is_some() {
            return Err(InsertError::Taken);
        }
        let node = Node { object: table, number, parent, alias };
        let id = match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as NodeId
            }
        };
        let nodes = &self.nodes;
        let t = self.tables.entry((parent, table)).or_default();
        let at = t.rows.partition_point(|&r| nodes[r as usize].as_ref().map_or(0, |n| n.number) < number);
        t.rows.insert(at, id);
        t.next = t.next.max(number.saturating_add(1));
        Ok(id)
    }

    /// Removes a row and everything below it; returns the removed nodes.
    pub fn remove(&mut self, id: NodeId) -> Vec<NodeId> {
        let Some(node) = self.get(id).cloned() else { return Vec::new() };
        if let Some(t) = self.tables.get_mut(&(node.parent, node.object)) {
            t.rows.retain(|&r| r != id);
        }
        let mut removed = vec![id];
        let mut i = 0;
        while i < removed.len() {
            let parent = removed[i];
            let keys: Vec<(NodeId, ObjectId)> = self.tables.keys().filter(|k| k.0 == parent).copied().collect();
            for key in keys {
                if let Some(t) = self.tables.remove(&key) {
                    removed.extend(t.rows);
                }
            }
            i += 1;
        }
        for &r in &removed {
            self.nodes[r as usize] = None;
            if r >= self.template_len {
                self.free.push(r);
            }
        }
        removed
    }

    pub fn set_alias(&mut self, id: NodeId, alias: Option<Box<str>>) {
        if let Some(Some(node)) = self.nodes.get_mut(id as usize) {
            node.alias = alias;
        }
    }

    /// The row at or above `node` whose object is `object`, if any.
    pub fn row_at(&self, mut node: NodeId, object: ObjectId) -> Option<NodeId> {
        loop {
            let n = self.get(node)?;
            if n.object == object {
                return Some(node);
            }
            if node == ROOT {
                return None;
            }
            node = n.parent;
        }
    }

    /// Every live row, parents before children.
    pub fn live_rows(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut stack = vec![ROOT];
        while let Some(parent) = stack.pop() {
            let mut children: Vec<(&(NodeId, ObjectId), &Table)> =
                self.tables.iter().filter(|(k, _)| k.0 == parent).collect();
            children.sort_by_key(|(k, _)| k.1);
            for (_, t) in children.into_iter().rev() {
                for &r in t.rows.iter().rev() {
                    stack.push(r);
                }
            }
            if parent != ROOT {
                out.push(parent);
            }
        }
        out
    }

    /// Approximate heap bytes (for the benchmark's memory report).
    pub fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Option<Node>>()
            + self.nodes.iter().flatten().map(|n| n.alias.as_ref().map_or(0, |a| a.len())).sum::<usize>()
            + self.tables.capacity() * (std::mem::size_of::<((NodeId, ObjectId), Table)>() + 1)
            + self.tables.values().map(|t| t.rows.capacity() * 4).sum::<usize>()
            + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: ObjectId = ObjectId(5);
    const SUB: ObjectId = ObjectId(6);

    #[test]
    fn numbers_are_never_reused_and_rows_stay_sorted() {
        let mut tree = Tree::new(ObjectId(0));
        let a = tree.insert(ROOT, T, None, None).unwrap();
        let b = tree.insert(ROOT, T, None, Some("x".into())).unwrap();
        assert_eq!((tree.node(a).number, tree.node(b).number), (1, 2));
        tree.remove(b);
        let c = tree.insert(ROOT, T, None, None).unwrap();
        assert_eq!(tree.node(c).number, 3);
        assert_eq!(tree.insert(ROOT, T, Some(3), None), Err(InsertError::Taken));
        let early = tree.insert(ROOT, T, Some(2), None).unwrap();
        let numbers: Vec<u32> = tree.rows(ROOT, T).iter().map(|&r| tree.node(r).number).collect();
        assert_eq!(numbers, [1, 2, 3]);
        assert_eq!(tree.find_number(ROOT, T, 2), Some(early));
        assert_eq!(tree.next_number(ROOT, T), 4);
        tree.raise_next(ROOT, T, 10);
        tree.raise_next(ROOT, T, 5);
        assert_eq!(tree.next_number(ROOT, T), 10);
        tree.raise_next(ROOT, T, u32::MAX);
        assert_eq!(tree.insert(ROOT, T, None, None), Err(InsertError::Exhausted));
    }

    #[test]
    fn removal_takes_the_subtree() {
        let mut tree = Tree::new(ObjectId(0));
        let a = tree.insert(ROOT, T, None, Some("a".into())).unwrap();
        let s1 = tree.insert(a, SUB, None, None).unwrap();
        let s2 = tree.insert(a, SUB, None, None).unwrap();
        assert_eq!(tree.find_alias(ROOT, T, "a"), Some(a));
        assert_eq!(tree.row_at(s2, T), Some(a));
        assert_eq!(tree.live_rows(), vec![a, s1, s2]);
        let mut removed = tree.remove(a);
        removed.sort();
        assert_eq!(removed, vec![a, s1, s2]);
        assert!(tree.get(s1).is_none());
        assert!(tree.rows(ROOT, T).is_empty());
        assert_eq!(tree.next_number(ROOT, T), 2, "the counter survives the rows");
        let again = tree.insert(ROOT, T, None, None).unwrap();
        assert_eq!(tree.next_number(again, SUB), 1, "a new row starts its sub-tables afresh");
    }

    #[test]
    fn keys_pack_node_and_param() {
        let k = Key::new(7, ParamId(9));
        assert_eq!((k.node(), k.param()), (7, ParamId(9)));
    }
}
