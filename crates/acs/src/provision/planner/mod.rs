//! Turns declarations and the snapshot into the fewest RPCs: reads first where the ACS's
//! knowledge is missing or older than declared, then — once nothing needs reading — one
//! SetParameterValues per channel, AddObject/DeleteObject to match instance counts, and
//! SetParameterAttributes. Planning again after every answer makes the loop converge: a
//! device that already matches needs no RPC at all.

use std::collections::BTreeSet;

use cwmp_wire::types::{parse_bool, parse_int};
use cwmp_wire::{DateTime, XsdType};

use super::declare::Declaration;
use super::pseudo::{self, Pseudo};
use super::snapshot::{Snapshot, Step, alias_matches, parse_query};
use crate::store::Millis;

/// The next thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// GetParameterNames.
    Names { object: String, next_level: bool, channels: BTreeSet<String> },
    /// GetParameterValues.
    Values { paths: Vec<String>, channels: BTreeSet<String> },
    /// GetParameterAttributes.
    Attributes { paths: Vec<String>, channels: BTreeSet<String> },
    /// Tags to add and remove (no RPC).
    Tags { add: Vec<String>, remove: Vec<String> },
    /// A pseudo-parameter change of one channel (no RPC; a Reboot, FactoryReset or Download
    /// is queued as a task).
    Pseudo { channel: String, op: PseudoOp },
    /// SetParameterValues of one channel: `(path, value, xsd type)`.
    SetValues { channel: String, values: Vec<(String, String, String)> },
    /// SetParameterAttributes of one channel: `(path, notification, access list)`.
    SetAttributes { channel: String, entries: Vec<(String, Option<i32>, Option<Vec<String>>)> },
    /// AddObject on `table`, then set `keys` inside the new instance.
    Add { channel: String, table: String, keys: Vec<(String, String)> },
    /// DeleteObject of an instance.
    Delete { channel: String, instance: String },
    /// A declared value differs on a parameter the device reports read-only: no RPC can fix
    /// it, so the channel gets a fault at once.
    NotWritable { channel: String, path: String },
}

/// What a declaration of `Reboot`, `FactoryReset` or `Downloads.` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PseudoOp {
    /// The declared `Reboot` time is later than the last one asked for.
    Reboot,
    FactoryReset,
    /// A new `Downloads.` instance with these fields (`FileType`, `FileName`,
    /// `TargetFileName`).
    AddDownload {
        fields: Vec<(String, String)>,
    },
    /// Removes a `Downloads.` instance (`Downloads.3.`).
    DeleteDownload {
        instance: String,
    },
    /// Sets a field of a `Downloads.` instance.
    SetDownloadField {
        path: String,
        value: String,
    },
    /// The declared `Download` time of the instance (`Downloads.3.`) is later than the last
    /// download asked for.
    Download {
        instance: String,
    },
}

#[derive(Default)]
struct Reads {
    names: Vec<(String, bool, BTreeSet<String>)>,
    values: Vec<(String, BTreeSet<String>)>,
    attributes: Vec<(String, BTreeSet<String>)>,
}

impl Reads {
    fn name(&mut self, object: &str, next_level: bool, channel: &str) {
        match self.names.iter_mut().find(|(o, n, _)| o == object && *n == next_level) {
            Some((_, _, c)) => {
                c.insert(channel.to_owned());
            }
            None => self.names.push((object.to_owned(), next_level, BTreeSet::from([channel.to_owned()]))),
        }
    }

    fn push(list: &mut Vec<(String, BTreeSet<String>)>, path: &str, channel: &str) {
        match list.iter_mut().find(|(p, _)| p == path) {
            Some((_, c)) => {
                c.insert(channel.to_owned());
            }
            None => list.push((path.to_owned(), BTreeSet::from([channel.to_owned()]))),
        }
    }
}

/// The object containing `path` (`Device.A.B` → `Device.A.`, `Device.A.` → `Device.`).
fn parent(path: &str) -> String {
    let trimmed = path.strip_suffix('.').unwrap_or(path);
    match trimmed.rfind('.') {
        Some(i) => trimmed[..=i].to_owned(),
        None => String::new(),
    }
}

/// Whether the snapshot's knowledge of `time` is at least as new as `needed`.
fn fresh(time: Option<Millis>, needed: Option<Millis>) -> bool {
    match needed {
        None => true,
        Some(needed) => time.is_some_and(|t| t >= needed),
    }
}

/// Whether a listing of `object`'s children is known (and new enough).
fn listed(snapshot: &Snapshot, object: &str, needed: Millis) -> bool {
    snapshot.node(object).and_then(|n| n.path_ts).is_some_and(|t| t >= needed)
}

/// Expands a declaration's path, scheduling the listings it needs. Returns the concrete
/// paths known now and whether the expansion is complete.
fn expand(
    snapshot: &Snapshot,
    decl: &Declaration,
    steps: &[Step],
    object: bool,
    reads: &mut Reads,
) -> (Vec<String>, bool) {
    let needed = decl.freshness.path.unwrap_or(1);
    let mut complete = true;
    let mut current = vec![String::new()];
    for (i, step) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        let mut next = Vec::new();
        for base in &current {
            match step {
                // An object on the way must be known to exist before anything is asked below
                // it: a device that lacks it would fault the request (9005). Its parent's
                // listing tells, as in GenieACS.
                Step::Name(n) if !last && !base.is_empty() => {
                    let candidate = format!("{base}{n}");
                    if snapshot.exists(&format!("{candidate}.")) {
                        next.push(candidate);
                    } else if !listed(snapshot, base, 1) {
                        reads.name(base, true, &decl.channel);
                        complete = false;
                    }
                }
                Step::Name(n) => next.push(format!("{base}{n}")),
                Step::Any | Step::Filter(_) => {
                    if !listed(snapshot, base, needed) {
                        reads.name(base, true, &decl.channel);
                        complete = false;
                        continue;
                    }
                    for child in snapshot.children(base) {
                        if base.is_empty() && Pseudo::of(&child).is_some() {
                            continue;
                        }
                        let candidate = format!("{base}{child}");
                        if let Step::Filter(pairs) = step {
                            let mut all = true;
                            for (key, expected) in pairs {
                                let key_path = format!("{candidate}.{key}");
                                match snapshot.node(&key_path).and_then(|n| n.value.as_ref()) {
                                    Some((v, ty)) if alias_matches(v, ty, expected) => {}
                                    Some(_) => all = false,
                                    None => {
                                        Reads::push(&mut reads.values, &key_path, &decl.channel);
                                        complete = false;
                                        all = false;
                                    }
                                }
                            }
                            if !all {
                                continue;
                            }
                        }
                        next.push(candidate);
                    }
                }
            }
        }
        current = next.into_iter().map(|p| if last && !object { p } else { format!("{p}.") }).collect();
    }
    (current, complete)
}

/// Whether a stored value equals a desired one, comparing by type (`1` equals `true` for a
/// boolean, `007` equals `7` for a number, instants by time).
pub fn same_value(current: &str, desired: &str, ty: &str) -> bool {
    let local = ty.rsplit_once(':').map_or(ty, |(_, l)| l);
    match XsdType::from_name(local) {
        XsdType::Boolean => parse_bool(current).zip(parse_bool(desired)).is_some_and(|(a, b)| a == b),
        XsdType::Int | XsdType::Long => {
            parse_int::<i64>(current).zip(parse_int::<i64>(desired)).is_some_and(|(a, b)| a == b)
        }
        XsdType::UnsignedInt | XsdType::UnsignedLong => {
            parse_int::<u64>(current).zip(parse_int::<u64>(desired)).is_some_and(|(a, b)| a == b)
        }
        XsdType::DateTime => match (DateTime::parse(current), DateTime::parse(desired)) {
            (Ok(a), Ok(b)) => a == b || a.timestamp().is_some() && a.timestamp() == b.timestamp(),
            _ => current == desired,
        },
        _ => current == desired,
    }
}

/// The value to send for a declared one: GenieACS reads a number given for an
/// `xsd:dateTime` as ms since the epoch, and sends it as `Date.toISOString()` writes it.
fn wire_value(value: &str, ty: &str) -> String {
    let local = ty.rsplit_once(':').map_or(ty, |(_, l)| l);
    if local == "dateTime"
        && let Ok(ms) = value.trim().parse::<f64>()
        && ms.is_finite()
    {
        return pseudo::iso_millis(ms.trunc() as Millis);
    }
    value.to_owned()
}

/// Whether the device has the data model root `root` (`Device`): `Some` once known, from
/// what the ACS holds below it or from a listing of the root (`GetParameterNames ""`).
fn root_present(snapshot: &Snapshot, root: &str) -> Option<bool> {
    if snapshot.exists(&format!("{root}.")) {
        Some(true)
    } else if listed(snapshot, "", 1) {
        Some(false)
    } else {
        None
    }
}

/// Plans the next actions. Reads come alone (they may change what the writes are);
/// writes come once every declaration can be checked. Pseudo-parameters never cause an RPC,
/// and declarations under a data model root the device does not have match nothing.
pub fn plan(declarations: &[Declaration], snapshot: &Snapshot) -> Vec<Action> {
    let mut reads = Reads::default();
    let mut tags_add = Vec::new();
    let mut tags_remove = Vec::new();
    let mut pseudo_ops: Vec<Action> = Vec::new();
    let mut writes: Vec<Action> = Vec::new();
    for decl in declarations {
        match Pseudo::of(&decl.path) {
            Some(Pseudo::Tags) => {
                let (Some(node), Some((v, _))) = (decl.path.strip_prefix("Tags."), &decl.desired.value) else {
                    continue;
                };
                let Some(tag) = pseudo::decode_name(node).filter(|t| !t.is_empty() && !node.contains(['*', '[', '.']))
                else {
                    continue;
                };
                let want = parse_bool(v).unwrap_or(!v.is_empty());
                let has = snapshot.tags().contains(&tag);
                if want && !has && !tags_add.contains(&tag) {
                    tags_add.push(tag);
                } else if !want && has && !tags_remove.contains(&tag) {
                    tags_remove.push(tag);
                }
                continue;
            }
            Some(kind @ (Pseudo::Reboot | Pseudo::FactoryReset | Pseudo::Downloads)) => {
                let ops = match kind {
                    Pseudo::Downloads => downloads(decl, snapshot),
                    _ => reboot(decl, snapshot).into_iter().collect(),
                };
                for op in ops {
                    // Once, whichever channels ask for it: the next round sees it done.
                    if !pseudo_ops.iter().any(|a| matches!(a, Action::Pseudo { op: o, .. } if *o == op)) {
                        pseudo_ops.push(Action::Pseudo { channel: decl.channel.clone(), op });
                    }
                }
                continue;
            }
            // DeviceID and Events are read-only and always known; virtual parameters are
            // computed by their scripts.
            Some(_) => continue,
            None => {}
        }
        let Ok((steps, object)) = parse_query(&decl.path) else { continue };
        if let Some(Step::Name(root)) = steps.first() {
            match root_present(snapshot, root) {
                Some(true) => {}
                // Matches nothing, as in GenieACS: not an error.
                Some(false) => continue,
                None => {
                    reads.name("", true, &decl.channel);
                    continue;
                }
            }
        }
        let (paths, complete) = expand(snapshot, decl, &steps, object, &mut reads);
        // Scripts name objects without the final dot (`Device.DeviceInfo.*`); the tree keeps it.
        let paths: Vec<String> = paths
            .into_iter()
            .map(|p| {
                if !p.ends_with('.') && snapshot.node(&p).is_none() && snapshot.node(&format!("{p}.")).is_some() {
                    format!("{p}.")
                } else {
                    p
                }
            })
            .collect();
        if !complete {
            continue;
        }
        // Instance counts: the last step is a wildcard or filter over a table.
        if let Some((min, max)) = decl.desired.count
            && let Some(Step::Any | Step::Filter(_)) = steps.last()
        {
            let table = decl.table_path();
            if paths.len() < min as usize {
                let keys = match steps.last() {
                    Some(Step::Filter(pairs)) => pairs.clone(),
                    _ => Vec::new(),
                };
                // Only tables the snapshot places concretely can grow.
                if !table.contains('*') && !table.contains('[') {
                    writes.push(Action::Add { channel: decl.channel.clone(), table, keys });
                }
            } else if paths.len() > max as usize {
                let mut doomed = paths.clone();
                doomed.sort_by_key(|p| instance_number(p));
                for instance in doomed.into_iter().rev().take(paths.len() - max as usize) {
                    let instance = if instance.ends_with('.') { instance } else { format!("{instance}.") };
                    writes.push(Action::Delete { channel: decl.channel.clone(), instance });
                }
            }
        }
        for path in &paths {
            let node = snapshot.node(path);
            let exists = node.is_some() || snapshot.exists(path);
            if !exists {
                let parent = parent(path);
                if !listed(snapshot, &parent, 1) && !parent.is_empty() {
                    reads.name(&parent, true, &decl.channel);
                }
                continue;
            }
            let wants_value = decl.desired.value.is_some() || decl.freshness.value.is_some();
            if wants_value {
                let value_ts = if path.ends_with('.') {
                    subtree_value_ts(snapshot, path)
                } else {
                    node.and_then(|n| if n.value.is_some() { n.value_ts } else { None })
                };
                let needed = decl.freshness.value.or(decl.desired.value.as_ref().map(|_| 1));
                if !fresh(value_ts, needed) {
                    if path.ends_with('.') && !fresh(node.and_then(|n| n.path_ts), decl.freshness.path) {
                        reads.name(path, false, &decl.channel);
                    }
                    Reads::push(&mut reads.values, path, &decl.channel);
                    continue;
                }
            }
            let wants_attributes = decl.desired.notification.is_some()
                || decl.desired.access_list.is_some()
                || decl.freshness.attributes.is_some();
            if wants_attributes {
                let needed = decl.freshness.attributes.or(Some(1));
                let known = node.and_then(|n| n.notification.map(|_| n.value_ts.unwrap_or(1)));
                if !fresh(known, needed) {
                    Reads::push(&mut reads.attributes, path, &decl.channel);
                    continue;
                }
            }
            let Some(node) = node else { continue };
            if let Some((value, ty)) = &decl.desired.value
                && !path.ends_with('.')
            {
                let current_ty = node.value.as_ref().map(|(_, t)| t.as_str()).unwrap_or("xsd:string");
                let ty = ty.clone().unwrap_or_else(|| current_ty.to_owned());
                let value = wire_value(value, &ty);
                let differs = node.value.as_ref().is_none_or(|(v, _)| !same_value(v, &value, &ty));
                if differs && node.writable == Some(false) {
                    writes.push(Action::NotWritable { channel: decl.channel.clone(), path: path.clone() });
                } else if differs {
                    match writes
                        .iter_mut()
                        .find(|a| matches!(a, Action::SetValues { channel, .. } if *channel == decl.channel))
                    {
                        Some(Action::SetValues { values, .. }) => {
                            values.retain(|(p, _, _)| p != path);
                            values.push((path.clone(), value, ty));
                        }
                        _ => writes.push(Action::SetValues {
                            channel: decl.channel.clone(),
                            values: vec![(path.clone(), value, ty)],
                        }),
                    }
                }
            }
            let notification = decl.desired.notification.filter(|n| node.notification != Some(*n));
            let access_list = decl.desired.access_list.clone().filter(|a| node.access_list.as_ref() != Some(a));
            if (notification.is_some() || access_list.is_some()) && !path.ends_with('.') {
                let entry = (path.clone(), notification, access_list);
                match writes
                    .iter_mut()
                    .find(|a| matches!(a, Action::SetAttributes { channel, .. } if *channel == decl.channel))
                {
                    Some(Action::SetAttributes { entries, .. }) => entries.push(entry),
                    _ => writes.push(Action::SetAttributes { channel: decl.channel.clone(), entries: vec![entry] }),
                }
            }
        }
    }
    let mut actions = Vec::new();
    if !tags_add.is_empty() || !tags_remove.is_empty() {
        actions.push(Action::Tags { add: tags_add, remove: tags_remove });
    }
    actions.extend(pseudo_ops);
    if !reads.names.is_empty() || !reads.values.is_empty() || !reads.attributes.is_empty() {
        // The root listing comes alone: it decides which declarations mean anything.
        if let Some(i) = reads.names.iter().position(|(o, _, _)| o.is_empty()) {
            let (object, next_level, channels) = reads.names.swap_remove(i);
            actions.push(Action::Names { object, next_level, channels });
            return actions;
        }
        for (object, next_level, channels) in reads.names {
            actions.push(Action::Names { object, next_level, channels });
        }
        // Values below an object being listed are read after the listing.
        let listing: Vec<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Names { object, .. } => Some(object.clone()),
                _ => None,
            })
            .collect();
        let values: Vec<_> = reads
            .values
            .into_iter()
            .filter(|(p, _)| !listing.iter().any(|o| p.starts_with(o.as_str()) && p != o))
            .collect();
        if !values.is_empty() && listing.is_empty() {
            let channels = values.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
            actions.push(Action::Values { paths: values.into_iter().map(|(p, _)| p).collect(), channels });
        }
        if !reads.attributes.is_empty() && listing.is_empty() {
            let channels = reads.attributes.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
            actions
                .push(Action::Attributes { paths: reads.attributes.into_iter().map(|(p, _)| p).collect(), channels });
        }
        return actions;
    }
    actions.extend(writes);
    actions
}

/// A declared time (ms or a dateTime) that is due: after 0 and not after the session.
fn due(value: &str, snapshot: &Snapshot) -> Option<Millis> {
    pseudo::time_ms(value).filter(|t| *t > 0 && *t <= snapshot.now())
}

/// The time stored in a pseudo-parameter (0 when never set).
fn stored_time(snapshot: &Snapshot, path: &str) -> Millis {
    snapshot.node(path).and_then(|n| n.value.as_ref()).and_then(|(v, _)| pseudo::time_ms(v)).unwrap_or(0)
}

/// `Reboot` or `FactoryReset` declared with a time later than the last one asked for
/// (GenieACS: `declare("Reboot", null, {value: Date.now()})`).
fn reboot(decl: &Declaration, snapshot: &Snapshot) -> Option<PseudoOp> {
    let (value, _) = decl.desired.value.as_ref()?;
    let wanted = due(value, snapshot)?;
    if stored_time(snapshot, &decl.path) >= wanted {
        return None;
    }
    match decl.path.as_str() {
        "Reboot" => Some(PseudoOp::Reboot),
        "FactoryReset" => Some(PseudoOp::FactoryReset),
        _ => None,
    }
}

/// Fields of a `Downloads.` instance that a declaration may set.
const DOWNLOAD_FIELDS: [&str; 3] = ["FileType", "FileName", "TargetFileName"];

/// A `Downloads.` declaration: instances to have (`Downloads.[FileType:…,FileName:…]` with
/// `{path: 1}`), fields to set, and `Download` times that ask for a download.
fn downloads(decl: &Declaration, snapshot: &Snapshot) -> Vec<PseudoOp> {
    let Ok((steps, _)) = parse_query(&decl.path) else { return Vec::new() };
    let mut ops = Vec::new();
    match steps.as_slice() {
        [_, last @ (Step::Any | Step::Filter(_) | Step::Name(_))] => {
            let Some((min, max)) = decl.desired.count else { return ops };
            let instances = snapshot.expand(&steps, true);
            if instances.len() < min as usize {
                let fields = match last {
                    Step::Filter(pairs) => {
                        pairs.iter().filter(|(k, _)| DOWNLOAD_FIELDS.contains(&k.as_str())).cloned().collect()
                    }
                    _ => Vec::new(),
                };
                // One at a time: the next round counts again.
                ops.push(PseudoOp::AddDownload { fields });
            } else if instances.len() > max as usize {
                let mut doomed = instances.clone();
                doomed.sort_by_key(|p| instance_number(p));
                ops.extend(
                    doomed
                        .into_iter()
                        .rev()
                        .take(instances.len() - max as usize)
                        .map(|instance| PseudoOp::DeleteDownload { instance }),
                );
            }
        }
        [_, _, Step::Name(field)] => {
            let Some((value, _)) = &decl.desired.value else { return ops };
            for path in snapshot.expand(&steps, false) {
                let instance = parent(&path);
                if field == "Download" {
                    if due(value, snapshot).is_some_and(|t| stored_time(snapshot, &path) < t) {
                        ops.push(PseudoOp::Download { instance });
                    }
                } else if DOWNLOAD_FIELDS.contains(&field.as_str())
                    && snapshot.node(&path).and_then(|n| n.value.as_ref()).is_none_or(|(v, _)| v != value)
                {
                    ops.push(PseudoOp::SetDownloadField { path, value: value.clone() });
                }
            }
        }
        _ => {}
    }
    ops
}

/// The oldest value time below an object, or `None` if a value there is unknown.
fn subtree_value_ts(snapshot: &Snapshot, object: &str) -> Option<Millis> {
    let mut oldest: Option<Millis> = None;
    let mut any = false;
    for child in snapshot.children(object) {
        let path = format!("{object}{child}");
        if let Some(node) = snapshot.node(&path)
            && !node.object
        {
            any = true;
            let ts = node.value.as_ref().and(node.value_ts)?;
            oldest = Some(oldest.map_or(ts, |o: Millis| o.min(ts)));
        } else {
            let ts = subtree_value_ts(snapshot, &format!("{path}."))?;
            any = true;
            oldest = Some(oldest.map_or(ts, |o: Millis| o.min(ts)));
        }
    }
    if any { oldest } else { None }
}

fn instance_number(path: &str) -> u64 {
    path.trim_end_matches('.').rsplit('.').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl Declaration {
    /// The table whose instances the last step selects (`A.B.[k:v]` → `A.B.`, `A.B.*` →
    /// `A.B.`), keeping bracketed filter values (which may hold dots) intact.
    fn table_path(&self) -> String {
        let body = self.path.strip_suffix('.').unwrap_or(&self.path);
        let cut = if body.ends_with(']') { body.rfind('[') } else { body.rfind('.').map(|i| i + 1) };
        cut.map(|i| body[..i].to_owned()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
