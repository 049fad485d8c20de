//! Provisioning inside a session: the presets that apply, their declarations, and the RPCs
//! the planner asks for, until the device matches (or a channel fails and is set aside).

use std::collections::{BTreeSet, HashMap};

use cwmp_wire::rpc::{self, ParameterValueStruct};
use cwmp_wire::{Fault, Message, Value, XsdType};
use serde::{Deserialize, Serialize};

mod scripts;

use super::builtin;
use super::declare::Declaration;
use super::expr::Expr;
use super::ext::Extensions;
use super::planner::{Action, PseudoOp, plan};
use super::preset::{FirmwareGoal, Preset};
use super::pseudo::{self, Pseudo};
use super::snapshot::{ClearAttributes, Snapshot};
use crate::store::{ChannelFault, Device, Millis, Param, ParamOp, WriteOp};
use crate::tasks::TaskKind;
use scripts::ScriptRun;

/// Most planning rounds in one session before provisioning is declared stuck.
const MAX_ROUNDS: u32 = 64;
/// Most runs of one script in one session.
const MAX_SCRIPT_RUNS: u32 = 16;
/// Most evaluations of the presets after the first, in one session (GenieACS: a few).
const MAX_PRESET_CYCLES: u32 = 4;

/// What the shell loads for provisioning when presets exist.
#[derive(Debug, Clone, Default)]
pub struct ProvisioningInputs {
    pub presets: Vec<Preset>,
    /// Provision scripts by name.
    pub provisions: HashMap<String, String>,
    /// Virtual parameter scripts by name.
    pub virtual_parameters: HashMap<String, String>,
    /// The device's stored tree.
    pub params: Vec<Param>,
    /// The device's channel faults.
    pub faults: Vec<ChannelFault>,
    /// Files of the device's open Download tasks (so firmware is not queued twice).
    pub open_downloads: Vec<String>,
}

/// The RPC in flight and what it was for.
#[derive(Serialize, Deserialize)]
enum Pending {
    Names { object: String, next_level: bool, channels: BTreeSet<String> },
    Values { channels: BTreeSet<String> },
    Attributes { channels: BTreeSet<String> },
    SetValues { channel: String, values: Vec<(String, String, String)> },
    SetAttributes { channel: String, entries: Vec<(String, Option<i32>, Option<Vec<String>>)> },
    Add { channel: String, table: String, keys: Vec<(String, String)> },
    Delete { channel: String, instance: String },
}

impl Pending {
    fn channels(&self) -> BTreeSet<String> {
        match self {
            Pending::Names { channels, .. } | Pending::Values { channels } | Pending::Attributes { channels } => {
                channels.clone()
            }
            Pending::SetValues { channel, .. }
            | Pending::SetAttributes { channel, .. }
            | Pending::Add { channel, .. }
            | Pending::Delete { channel, .. } => BTreeSet::from([channel.clone()]),
        }
    }
}

/// An instance provisioning just added, whose keys still have to be set.
#[derive(Serialize, Deserialize)]
struct AddedInstance {
    channel: String,
    instance: String,
    keys: Vec<(String, String)>,
}

/// Plain data, so a session checkpoint can carry it to another node.
#[derive(Serialize, Deserialize)]
pub struct Provisioner {
    device_id: i64,
    now: Millis,
    snapshot: Snapshot,
    /// The presets that may apply to the session (events, schedule and faults allow them),
    /// in weight order; `applied` names those whose precondition held.
    candidates: Vec<Preset>,
    applied: BTreeSet<String>,
    /// Reads of the parameters the candidates' preconditions name.
    precondition_reads: Vec<Declaration>,
    /// The data model root of the Inform.
    root: String,
    /// Times the presets were evaluated again after the session had nothing left to do.
    cycles: u32,
    declarations: Vec<Declaration>,
    firmware: Vec<FirmwareGoal>,
    scripts: Vec<ScriptRun>,
    provisions: HashMap<String, String>,
    virtual_parameters: HashMap<String, String>,
    /// Paths whose knowledge changed in this session, in order (scripts that read them run
    /// again).
    changes: Vec<String>,
    /// The device id, which seeds scripts' `Math.random()` and interval offsets.
    device_key: String,
    /// The Connection Request credentials the ACS holds for the device: provisioning that
    /// sets them on the device updates them (`username`, `password`).
    connection_request: (Option<String>, Option<String>),
    /// Results of the extension calls of this session, by call (JSON text of its arguments).
    extension_results: HashMap<String, serde_json::Value>,
    #[serde(skip)]
    limits: cwmp_script::Limits,
    channels: BTreeSet<String>,
    faulted_before: BTreeSet<String>,
    failed: BTreeSet<String>,
    open_downloads: Vec<String>,
    pending: Option<Pending>,
    /// Keys to set in an instance just added, before planning again.
    add_keys: Option<AddedInstance>,
    rounds: u32,
    /// Channels that failed without an RPC (a built-in provision with wrong arguments), with
    /// why: recorded by the next `next_rpc`.
    early_faults: Vec<(String, String)>,
}

impl Provisioner {
    /// The provisioning of one session, or `None` when no preset can apply (by its events,
    /// schedule and channel faults). Preconditions are evaluated here and again each time
    /// the session has nothing left to do, after reading the parameters they name.
    pub fn new(
        inputs: ProvisioningInputs,
        device: &Device,
        events: &[String],
        root: &str,
        now: Millis,
    ) -> Option<Provisioner> {
        let mut snapshot = Snapshot::new(device, inputs.params, events, now);
        // The Inform's parameters say the device has this root, whatever the store holds.
        snapshot.has_root(root);
        // A channel whose fault is waiting for its retry time sits this session out.
        let waiting: BTreeSet<&str> =
            inputs.faults.iter().filter(|f| f.retry_at > now).map(|f| f.channel.as_str()).collect();
        let mut candidates: Vec<Preset> = inputs
            .presets
            .into_iter()
            .filter(|p| !waiting.contains(p.channel.as_str()) && p.may_apply(events, now))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        candidates.sort_by(|a, b| a.weight.cmp(&b.weight).then_with(|| a.name.cmp(&b.name)));
        // GenieACS reads the parameters preconditions name, so that they can be evaluated.
        let mut precondition_reads = Vec::new();
        for preset in &candidates {
            let Ok(expr) = Expr::parse(&preset.precondition) else { continue };
            for path in expr.parameter_paths().into_iter().filter(|p| Pseudo::of(p).is_none()) {
                if !precondition_reads.iter().any(|d: &Declaration| d.path == path && d.channel == preset.channel) {
                    let mut read = Declaration::refresh(&preset.channel, path, 1);
                    read.freshness.path = None;
                    precondition_reads.push(read);
                }
            }
        }
        let mut provisioner = Provisioner {
            device_id: device.id,
            now,
            snapshot,
            declarations: precondition_reads.clone(),
            precondition_reads,
            candidates,
            applied: BTreeSet::new(),
            root: root.to_owned(),
            cycles: 0,
            firmware: Vec::new(),
            scripts: Vec::new(),
            provisions: inputs.provisions,
            virtual_parameters: inputs.virtual_parameters,
            changes: Vec::new(),
            device_key: device.key.clone(),
            connection_request: (
                device.connection_request.username.clone(),
                device.connection_request.password.clone(),
            ),
            extension_results: HashMap::new(),
            limits: cwmp_script::Limits::default(),
            channels: BTreeSet::new(),
            faulted_before: inputs.faults.iter().map(|f| f.channel.clone()).collect(),
            failed: BTreeSet::new(),
            open_downloads: inputs.open_downloads,
            pending: None,
            add_keys: None,
            rounds: 0,
            early_faults: Vec::new(),
        };
        provisioner.select();
        Some(provisioner)
    }

    /// Applies the presets whose precondition holds now and did not before; false when there
    /// is none. What presets declare is rebuilt in weight order, so a heavier preset still wins
    /// a conflict; scripts already running keep their state.
    fn select(&mut self) -> bool {
        let newly: Vec<String> = self
            .candidates
            .iter()
            .filter(|p| !self.applied.contains(&p.name) && !self.failed.contains(&p.channel))
            .filter(|p| Expr::parse(&p.precondition).is_ok_and(|e| e.matches(&self.snapshot)))
            .map(|p| p.name.clone())
            .collect();
        if newly.is_empty() {
            return false;
        }
        self.applied.extend(newly);
        let offset = cwmp_script::device_offset_base(&self.device_key);
        let mut declarations = self.precondition_reads.clone();
        let mut firmware = Vec::new();
        for preset in self.candidates.iter().filter(|p| self.applied.contains(&p.name)) {
            self.channels.insert(preset.channel.clone());
            let (d, f, calls) = preset.expand(&self.root, self.now);
            declarations.extend(d);
            firmware.extend(f);
            for call in calls {
                // GenieACS runs its built-in provisions when no script has the name.
                if !self.provisions.contains_key(&call.name) && builtin::NAMES.contains(&call.name.as_str()) {
                    match builtin::declarations(&call.name, &call.args, &call.channel, offset, self.now) {
                        Ok(d) => declarations.extend(d),
                        Err(e) => self.early_faults.push((call.channel, e)),
                    }
                    continue;
                }
                let known = self.scripts.iter().any(|s| {
                    s.virtual_parameter.is_none()
                        && s.channel == call.channel
                        && s.name == call.name
                        && s.args == call.args
                });
                if !known {
                    self.scripts.push(ScriptRun {
                        channel: call.channel,
                        name: call.name,
                        args: call.args,
                        virtual_parameter: None,
                        declarations: Vec::new(),
                        reads: Vec::new(),
                        suspended: false,
                        ran_at: None,
                        runs: 0,
                    });
                }
            }
        }
        let failed = &self.failed;
        declarations.retain(|d| !failed.contains(&d.channel));
        firmware.retain(|f: &FirmwareGoal| !failed.contains(&f.channel));
        self.declarations = without_overridden_values(declarations);
        self.firmware = firmware;
        true
    }

    /// Applies what other jobs of the session wrote to the device's tree, so provisioning
    /// plans on the tree as the store now holds it (e.g. after the bootstrap refresh).
    pub fn observe(&mut self, writes: &[WriteOp]) {
        for w in writes {
            if let WriteOp::ConnectionRequestCredentials { username, password, .. } = w {
                self.connection_request = (Some(username.clone()), Some(password.clone()));
                continue;
            }
            let WriteOp::Params { device_id, at, ops } = w else { continue };
            if *device_id != self.device_id {
                continue;
            }
            for op in ops {
                match op {
                    ParamOp::Value { path, value, ty } => {
                        let node = self.snapshot.node_mut(path);
                        node.value = Some((value.clone(), ty.clone()));
                        node.value_ts = Some(*at);
                        node.seen(*at);
                    }
                    ParamOp::Info { path, object, writable } => {
                        let node = self.snapshot.node_mut(path);
                        node.object = *object;
                        node.writable = Some(*writable);
                        node.path_ts = Some(*at);
                        node.seen(*at);
                    }
                    ParamOp::Attributes { path, notification, access_list } => {
                        let node = self.snapshot.node_mut(path);
                        if notification.is_some() {
                            node.notification = *notification;
                        }
                        if access_list.is_some() {
                            node.access_list = access_list.clone();
                        }
                    }
                    ParamOp::DeleteSubtree { prefix } => {
                        self.snapshot.remove_subtree(prefix);
                    }
                    ParamOp::PruneUnseen { prefix, seen_at } => {
                        self.snapshot.prune_unseen(prefix, *seen_at);
                    }
                }
                self.changes.push(match op {
                    ParamOp::Value { path, .. } | ParamOp::Info { path, .. } | ParamOp::Attributes { path, .. } => {
                        path.clone()
                    }
                    ParamOp::DeleteSubtree { prefix } | ParamOp::PruneUnseen { prefix, .. } => prefix.clone(),
                });
            }
        }
    }

    /// Whether provision or virtual parameter scripts may run.
    pub fn has_scripts(&self) -> bool {
        !self.scripts.is_empty()
            || self.declarations.iter().any(|d| d.path.starts_with("VirtualParameters."))
            || self.candidates.iter().any(Preset::may_run_scripts)
    }

    fn params(&self, ops: Vec<ParamOp>) -> WriteOp {
        WriteOp::Params { device_id: self.device_id, at: self.now, ops }
    }

    fn fail(&mut self, channels: &BTreeSet<String>, code: &str, message: &str, writes: &mut Vec<WriteOp>) {
        for channel in channels {
            if self.failed.insert(channel.clone()) {
                tracing::info!(channel, code, message, "provisioning channel failed");
                writes.push(WriteOp::ChannelFault {
                    device_id: self.device_id,
                    channel: channel.clone(),
                    code: code.to_owned(),
                    message: message.to_owned(),
                    at: self.now,
                });
            }
        }
        let failed = &self.failed;
        self.declarations.retain(|d| !failed.contains(&d.channel));
        self.firmware.retain(|f| !failed.contains(&f.channel));
        self.scripts.retain(|s| !failed.contains(&s.channel));
    }

    /// Every declaration in force: the presets' and the scripts' latest.
    fn all_declarations(&self) -> Vec<Declaration> {
        let mut all = self.declarations.clone();
        for s in &self.scripts {
            all.extend(s.declarations.iter().cloned());
        }
        all
    }

    /// Adds a run for every virtual parameter declared and not yet scripted.
    fn discover_virtual_parameters(&mut self) {
        for d in self.all_declarations() {
            let Some(name) = d.path.strip_prefix("VirtualParameters.") else { continue };
            if self.scripts.iter().any(|s| s.virtual_parameter.as_deref() == Some(d.path.as_str())) {
                continue;
            }
            self.scripts.push(ScriptRun {
                channel: d.channel.clone(),
                name: name.to_owned(),
                args: scripts::virtual_parameter_args(&d, self.snapshot.node(&d.path)),
                virtual_parameter: Some(d.path.clone()),
                declarations: Vec::new(),
                reads: Vec::new(),
                suspended: false,
                ran_at: None,
                runs: 0,
            });
        }
    }

    /// Runs the scripts whose last run is stale (GenieACS re-runs every script on every
    /// change; we re-run only those that stopped on missing data or read what changed).
    /// A run that stops at an extension call makes the call (blocking, within the
    /// extension's time limit) and runs again.
    fn run_scripts(&mut self, extensions: Option<&Extensions>, writes: &mut Vec<WriteOp>) {
        self.discover_virtual_parameters();
        let mut i = 0;
        while i < self.scripts.len() {
            if !self.scripts[i].needs_run(&self.changes) {
                i += 1;
                continue;
            }
            let channel = BTreeSet::from([self.scripts[i].channel.clone()]);
            let (name, virtual_parameter) = (self.scripts[i].name.clone(), self.scripts[i].virtual_parameter.clone());
            let source = match &virtual_parameter {
                Some(_) => self.virtual_parameters.get(&name),
                None => self.provisions.get(&name),
            };
            let Some(source) = source.cloned() else {
                self.fail(&channel, "script", &format!("no script named {name:?}"), writes);
                continue;
            };
            if self.scripts[i].runs >= MAX_SCRIPT_RUNS {
                self.fail(&channel, "loop", &format!("script {name:?} kept asking for more"), writes);
                continue;
            }
            let changes = self.changes.len();
            let data = scripts::SnapshotData { snapshot: &self.snapshot, extensions: &self.extension_results };
            let outcome = self.scripts[i].run(&source, data, self.now, &self.device_key, &self.limits, changes);
            match outcome {
                Ok(output) => {
                    for line in &output.logs {
                        tracing::info!(script = %name, "{line}");
                    }
                    self.clear(&output.clears, writes);
                    if let (Some(path), Some(result)) = (virtual_parameter, output.result) {
                        writes.push(self.virtual_parameter_result(&path, &result));
                    }
                    if let Some(call) = output.extension_call {
                        match self.extension(extensions, &call) {
                            // Runs again with the result.
                            Ok(()) => continue,
                            Err((code, message)) => self.fail(&channel, &code, &format!("{name}: {message}"), writes),
                        }
                        continue;
                    }
                    i += 1;
                }
                Err(e) => {
                    self.fail(&channel, "script", &format!("{name}: {e}"), writes);
                }
            }
        }
    }

    /// Makes an extension call a script is waiting for and keeps its result for the session.
    fn extension(&mut self, extensions: Option<&Extensions>, call: &[String]) -> Result<(), (String, String)> {
        let Some(extensions) = extensions else {
            return Err(("ext".into(), "ext() needs extensions, which are not configured ([extensions] dir)".into()));
        };
        match extensions.call(call) {
            Ok(value) => {
                let key = scripts::extension_key(call);
                self.changes.push(format!("ext:{key}"));
                self.extension_results.insert(key, value);
                Ok(())
            }
            Err(fault) => Err((fault.code, format!("ext({}): {}", call.join(", "), fault.message))),
        }
    }

    /// Applies a run's `clear()` calls to the snapshot and the store; scripts that read what
    /// was forgotten run again.
    fn clear(&mut self, clears: &[cwmp_script::Clear], writes: &mut Vec<WriteOp>) {
        let mut removed = Vec::new();
        for c in clears {
            let a = c.attributes.unwrap_or_default();
            let attributes = ClearAttributes {
                object: a.object,
                value: a.value,
                writable: a.writable,
                notification: a.notification,
                access_list: a.access_list,
            };
            let forgotten = self.snapshot.clear(&c.path, c.timestamp, attributes);
            self.changes.extend(forgotten.attributes);
            removed.extend(forgotten.removed);
        }
        if removed.is_empty() {
            return;
        }
        let ops: Vec<ParamOp> =
            self.snapshot.deletions(&removed).into_iter().map(|prefix| ParamOp::DeleteSubtree { prefix }).collect();
        self.changes.extend(removed);
        if !ops.is_empty() {
            writes.push(self.params(ops));
        }
    }

    /// Stores what a virtual parameter script computed (`{writable, value: [v, type]}`).
    fn virtual_parameter_result(&mut self, path: &str, result: &serde_json::Value) -> WriteOp {
        let value = &result["value"];
        let (text, ty) = match value {
            serde_json::Value::Array(pair) => (
                pair.first().map(json_text).unwrap_or_default(),
                pair.get(1).and_then(|t| t.as_str()).unwrap_or("xsd:string").to_owned(),
            ),
            other => (json_text(other), "xsd:string".to_owned()),
        };
        let writable = result["writable"].as_bool().unwrap_or(false);
        let node = self.snapshot.node_mut(path);
        node.value = Some((text.clone(), ty.clone()));
        node.value_ts = Some(self.now);
        node.writable = Some(writable);
        self.params(vec![
            ParamOp::Value { path: path.to_owned(), value: text, ty },
            ParamOp::Info { path: path.to_owned(), object: false, writable },
        ])
    }

    /// Firmware goals whose version is known to differ: queue a Download task once.
    fn firmware_tasks(&mut self, writes: &mut Vec<WriteOp>) {
        for goal in &self.firmware {
            let current = self.snapshot.node(&goal.version_parameter).and_then(|n| n.value.as_ref());
            let Some((current, _)) = current else { continue };
            if *current != goal.version && !self.open_downloads.contains(&goal.file) {
                self.open_downloads.push(goal.file.clone());
                writes.push(WriteOp::CreateTask {
                    device_id: self.device_id,
                    kind: TaskKind::Download {
                        file: Some(goal.file.clone()),
                        url: None,
                        file_type: None,
                        target_file_name: String::new(),
                        delay_seconds: 0,
                        username: String::new(),
                        password: String::new(),
                    },
                    at: self.now,
                });
            }
        }
    }

    /// Applies a change to a pseudo-parameter: `Reboot`, `FactoryReset` and `Download`
    /// become tasks of the device, which run when provisioning is done, and the time they
    /// were asked for is kept in the tree (GenieACS keeps it so too).
    fn pseudo(&mut self, channel: &str, op: PseudoOp, writes: &mut Vec<WriteOp>) {
        let now = self.now;
        let stamp = pseudo::iso_millis(now);
        let mut ops = Vec::new();
        let set = |snapshot: &mut Snapshot, ops: &mut Vec<ParamOp>, path: &str, value: &str, ty: &str| {
            let node = snapshot.node_mut(path);
            node.value = Some((value.to_owned(), ty.to_owned()));
            node.value_ts = Some(now);
            node.writable = Some(true);
            node.seen(now);
            ops.push(ParamOp::Value { path: path.to_owned(), value: value.to_owned(), ty: ty.to_owned() });
            ops.push(ParamOp::Info { path: path.to_owned(), object: false, writable: true });
        };
        match op {
            PseudoOp::Reboot | PseudoOp::FactoryReset => {
                let (path, kind) = match op {
                    PseudoOp::Reboot => ("Reboot", TaskKind::Reboot),
                    _ => ("FactoryReset", TaskKind::FactoryReset),
                };
                set(&mut self.snapshot, &mut ops, path, &stamp, "xsd:dateTime");
                tracing::info!(channel, "provisioning asks for {path}");
                writes.push(WriteOp::CreateTask { device_id: self.device_id, kind, at: now });
            }
            PseudoOp::AddDownload { fields } => {
                let index = self.snapshot.children("Downloads.").iter().filter_map(|c| c.parse::<u64>().ok()).max();
                let instance = format!("Downloads.{}.", index.unwrap_or(0) + 1);
                for object in ["Downloads.", instance.as_str()] {
                    let node = self.snapshot.node_mut(object);
                    node.object = true;
                    node.writable = Some(true);
                    node.path_ts = Some(now);
                    node.seen(now);
                    ops.push(ParamOp::Info { path: object.to_owned(), object: true, writable: true });
                }
                for field in ["FileType", "FileName", "TargetFileName"] {
                    let value = fields.iter().find(|(k, _)| k == field).map_or("", |(_, v)| v.as_str());
                    set(&mut self.snapshot, &mut ops, &format!("{instance}{field}"), value, "xsd:string");
                }
                set(
                    &mut self.snapshot,
                    &mut ops,
                    &format!("{instance}Download"),
                    &pseudo::iso_millis(0),
                    "xsd:dateTime",
                );
                self.changes.push(instance);
            }
            PseudoOp::DeleteDownload { instance } => {
                self.snapshot.remove_subtree(&instance);
                ops.push(ParamOp::DeleteSubtree { prefix: instance.clone() });
                self.changes.push(instance);
            }
            PseudoOp::SetDownloadField { path, value } => {
                set(&mut self.snapshot, &mut ops, &path, &value, "xsd:string");
                self.changes.push(path);
            }
            PseudoOp::Download { instance } => {
                let field = |name: &str| {
                    self.snapshot
                        .node(&format!("{instance}{name}"))
                        .and_then(|n| n.value.as_ref())
                        .map(|(v, _)| v.clone())
                        .unwrap_or_default()
                };
                let (file_type, file_name, target) = (field("FileType"), field("FileName"), field("TargetFileName"));
                if file_name.is_empty() {
                    let message = format!("{instance}FileName is empty: nothing to download");
                    self.fail(&BTreeSet::from([channel.to_owned()]), "download", &message, writes);
                    return;
                }
                set(&mut self.snapshot, &mut ops, &format!("{instance}Download"), &stamp, "xsd:dateTime");
                tracing::info!(channel, file = %file_name, "provisioning asks for a download");
                writes.push(WriteOp::CreateTask {
                    device_id: self.device_id,
                    kind: TaskKind::Download {
                        file: Some(file_name),
                        url: None,
                        file_type: (!file_type.is_empty()).then_some(file_type),
                        target_file_name: target,
                        delay_seconds: 0,
                        username: String::new(),
                        password: String::new(),
                    },
                    at: now,
                });
            }
        }
        if !ops.is_empty() {
            writes.push(self.params(ops));
        }
    }

    /// The Connection Request credentials a SetParameterValues of provisioning gave the
    /// device, which the ACS needs to wake it from now on.
    fn connection_request_credentials(&mut self, values: &[(String, String, String)]) -> Option<WriteOp> {
        let mut changed = false;
        for (path, value, _) in values {
            let mut segments = path.split('.');
            let (Some(root), Some("ManagementServer"), Some(name), None) =
                (segments.next(), segments.next(), segments.next(), segments.next())
            else {
                continue;
            };
            match name {
                "ConnectionRequestUsername" => self.connection_request.0 = Some(value.clone()),
                "ConnectionRequestPassword" => self.connection_request.1 = Some(value.clone()),
                _ => continue,
            }
            changed = true;
            // A username the ACS does not hold yet is the one the device reports.
            if self.connection_request.0.is_none() {
                let username = format!("{root}.ManagementServer.ConnectionRequestUsername");
                self.connection_request.0 =
                    self.snapshot.node(&username).and_then(|n| n.value.as_ref()).map(|(v, _)| v.clone());
            }
        }
        match (&self.connection_request, changed) {
            ((Some(username), Some(password)), true) => Some(WriteOp::ConnectionRequestCredentials {
                device_id: self.device_id,
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }

    /// The next RPC, with writes that need no RPC (tags, queued tasks, cleared faults).
    /// `None` when provisioning is done for this session.
    pub fn next_rpc(&mut self, extensions: Option<&Extensions>) -> (Option<Message>, Vec<WriteOp>) {
        let mut writes = Vec::new();
        if let Some(AddedInstance { channel, instance, keys }) = self.add_keys.take() {
            let values: Vec<(String, String, String)> =
                keys.into_iter().map(|(k, v)| (format!("{instance}{k}"), v, "xsd:string".to_owned())).collect();
            let message = set_values_message(&values);
            self.pending = Some(Pending::SetValues { channel, values });
            return (Some(message), writes);
        }
        loop {
            for (channel, message) in std::mem::take(&mut self.early_faults) {
                self.fail(&BTreeSet::from([channel]), "script", &message, &mut writes);
            }
            self.rounds += 1;
            if self.rounds > MAX_ROUNDS {
                let channels = self.channels.clone();
                self.fail(&channels, "loop", "provisioning did not converge", &mut writes);
                return (None, writes);
            }
            self.firmware_tasks(&mut writes);
            self.run_scripts(extensions, &mut writes);
            let actions = self.plan_batches();
            let mut rpc = None;
            let mut replan = false;
            for action in actions {
                match action {
                    Action::NotWritable { channel, path } => {
                        let message = format!("{path} is not writable");
                        self.fail(&BTreeSet::from([channel]), "9008", &message, &mut writes);
                        replan = true;
                    }
                    Action::Tags { add, remove } => {
                        for t in &add {
                            self.snapshot.set_tag(t, true);
                        }
                        for t in &remove {
                            self.snapshot.set_tag(t, false);
                        }
                        writes.push(WriteOp::Tags { device_id: self.device_id, add, remove });
                        replan = true;
                    }
                    Action::Pseudo { channel, op } => {
                        self.pseudo(&channel, op, &mut writes);
                        replan = true;
                    }
                    other if rpc.is_none() => rpc = Some(other),
                    _ => {}
                }
            }
            if replan {
                // Tags or pseudo-parameters applied, or a failed channel set aside: plan the
                // rest again.
                continue;
            }
            let Some(action) = rpc else {
                // What was read or set may make more presets apply (GenieACS evaluates them
                // again, a few times).
                if self.cycles < MAX_PRESET_CYCLES && self.select() {
                    self.cycles += 1;
                    continue;
                }
                for channel in self.channels.difference(&self.failed) {
                    if self.faulted_before.contains(channel) {
                        writes.push(WriteOp::ClearChannelFault { device_id: self.device_id, channel: channel.clone() });
                    }
                }
                return (None, writes);
            };
            let (message, pending) = match action {
                Action::Names { object, next_level, channels } => (
                    rpc::GetParameterNames { parameter_path: object.clone(), next_level }.into(),
                    Pending::Names { object, next_level, channels },
                ),
                Action::Values { paths, channels } => {
                    (rpc::GetParameterValues { parameter_names: paths }.into(), Pending::Values { channels })
                }
                Action::Attributes { paths, channels } => {
                    (rpc::GetParameterAttributes { parameter_names: paths }.into(), Pending::Attributes { channels })
                }
                Action::SetValues { channel, values } => {
                    (set_values_message(&values), Pending::SetValues { channel, values })
                }
                Action::SetAttributes { channel, entries } => (
                    rpc::SetParameterAttributes {
                        parameter_list: entries
                            .iter()
                            .map(|(name, notification, acl)| rpc::SetParameterAttributesStruct {
                                name: name.clone(),
                                notification_change: notification.is_some(),
                                notification: notification.unwrap_or(0),
                                access_list_change: acl.is_some(),
                                access_list: acl.clone().unwrap_or_default(),
                            })
                            .collect(),
                    }
                    .into(),
                    Pending::SetAttributes { channel, entries },
                ),
                Action::Add { channel, table, keys } => (
                    rpc::AddObject { object_name: table.clone(), parameter_key: String::new() }.into(),
                    Pending::Add { channel, table, keys },
                ),
                Action::Delete { channel, instance } => (
                    rpc::DeleteObject { object_name: instance.clone(), parameter_key: String::new() }.into(),
                    Pending::Delete { channel, instance },
                ),
                Action::Tags { .. } | Action::Pseudo { .. } | Action::NotWritable { .. } => {
                    unreachable!("handled above")
                }
            };
            self.pending = Some(pending);
            return (Some(message), writes);
        }
    }

    /// Plans the lowest script batch (`commit()`) that still needs work, with everything
    /// before it.
    fn plan_batches(&self) -> Vec<Action> {
        let all = self.all_declarations();
        let last = all.iter().map(|d| d.batch).max().unwrap_or(0);
        for batch in 0..=last {
            let upto: Vec<Declaration> = all.iter().filter(|d| d.batch <= batch).cloned().collect();
            let actions = plan(&upto, &self.snapshot);
            if !actions.is_empty() || batch == last {
                return actions;
            }
        }
        Vec::new()
    }

    /// Records the answer to the RPC in flight.
    pub fn on_response(&mut self, response: &Message) -> Vec<WriteOp> {
        let now = self.now;
        let Some(pending) = self.pending.take() else { return Vec::new() };
        let mut extra = Vec::new();
        let ops = match (pending, response) {
            (Pending::Names { object, next_level, .. }, Message::GetParameterNamesResponse(r)) => {
                self.changes.push(object.clone());
                self.names(&object, next_level, &r.parameter_list)
            }
            (Pending::Values { .. }, Message::GetParameterValuesResponse(r)) => {
                let mut ops = Vec::with_capacity(r.parameter_list.len());
                self.changes.extend(r.parameter_list.iter().map(|p| p.name.clone()));
                for p in &r.parameter_list {
                    let ty = p.value.ty.xsi_type().to_owned();
                    let node = self.snapshot.node_mut(&p.name);
                    node.value = Some((p.value.text.clone(), ty.clone()));
                    node.value_ts = Some(now);
                    node.seen(now);
                    ops.push(ParamOp::Value { path: p.name.clone(), value: p.value.text.clone(), ty });
                }
                ops
            }
            (Pending::Attributes { .. }, Message::GetParameterAttributesResponse(r)) => r
                .parameter_list
                .iter()
                .map(|p| {
                    let node = self.snapshot.node_mut(&p.name);
                    node.notification = Some(p.notification);
                    node.access_list = Some(p.access_list.clone());
                    node.seen(now);
                    ParamOp::Attributes {
                        path: p.name.clone(),
                        notification: Some(p.notification),
                        access_list: Some(p.access_list.clone()),
                    }
                })
                .collect(),
            (Pending::SetValues { values, .. }, Message::SetParameterValuesResponse(_)) => {
                extra.extend(self.connection_request_credentials(&values));
                values
                    .into_iter()
                    .map(|(path, value, ty)| {
                        let node = self.snapshot.node_mut(&path);
                        node.value = Some((value.clone(), ty.clone()));
                        node.value_ts = Some(now);
                        node.seen(now);
                        ParamOp::Value { path, value, ty }
                    })
                    .collect()
            }
            (Pending::SetAttributes { entries, .. }, Message::SetParameterAttributesResponse(_)) => entries
                .into_iter()
                .map(|(path, notification, access_list)| {
                    let node = self.snapshot.node_mut(&path);
                    if notification.is_some() {
                        node.notification = notification;
                    }
                    if access_list.is_some() {
                        node.access_list = access_list.clone();
                    }
                    ParamOp::Attributes { path, notification, access_list }
                })
                .collect(),
            (Pending::Add { channel, table, keys }, Message::AddObjectResponse(r)) => {
                let instance = format!("{table}{}.", r.instance_number);
                self.changes.push(instance.clone());
                let node = self.snapshot.node_mut(&instance);
                node.object = true;
                node.path_ts = None;
                node.seen(now);
                if !keys.is_empty() {
                    self.add_keys = Some(AddedInstance { channel, instance: instance.clone(), keys });
                }
                vec![ParamOp::Info { path: instance, object: true, writable: true }]
            }
            (Pending::Delete { instance, .. }, Message::DeleteObjectResponse(_)) => {
                self.changes.push(instance.clone());
                self.snapshot.remove_subtree(&instance);
                vec![ParamOp::DeleteSubtree { prefix: instance }]
            }
            _ => Vec::new(),
        };
        if !ops.is_empty() {
            extra.insert(0, self.params(ops));
        }
        extra
    }

    /// A GetParameterNames answer: nodes seen, listings fresh, vanished nodes removed.
    fn names(&mut self, object: &str, next_level: bool, list: &[rpc::ParameterInfoStruct]) -> Vec<ParamOp> {
        let now = self.now;
        let mut ops = Vec::new();
        let seen: BTreeSet<&str> = list.iter().map(|p| p.name.as_str()).collect();
        if next_level {
            for child in self.snapshot.children(object) {
                // The root's listing says nothing of pseudo-parameters.
                if object.is_empty() && Pseudo::of(&child).is_some() {
                    continue;
                }
                let with_dot = format!("{object}{child}.");
                let plain = format!("{object}{child}");
                if !seen.contains(with_dot.as_str()) && !seen.contains(plain.as_str()) {
                    self.snapshot.remove_subtree(&with_dot);
                    self.snapshot.remove_subtree(&plain);
                    ops.push(ParamOp::DeleteSubtree { prefix: with_dot });
                    ops.push(ParamOp::DeleteSubtree { prefix: plain });
                }
            }
        } else {
            ops.push(ParamOp::PruneUnseen { prefix: object.to_owned(), seen_at: now });
        }
        for p in list {
            let is_object = p.name.ends_with('.');
            let node = self.snapshot.node_mut(&p.name);
            node.object = is_object;
            node.writable = Some(p.writable);
            node.seen(now);
            if is_object && !next_level {
                node.path_ts = Some(now);
            }
            ops.push(ParamOp::Info { path: p.name.clone(), object: is_object, writable: p.writable });
        }
        if !next_level {
            // Nodes below the object that the listing did not mention are gone.
            let stale: Vec<String> = self
                .snapshot
                .children(object)
                .into_iter()
                .map(|c| format!("{object}{c}"))
                .filter(|p| !seen.contains(p.as_str()) && !seen.contains(format!("{p}.").as_str()))
                .collect();
            for p in stale {
                self.snapshot.remove_subtree(&format!("{p}."));
                self.snapshot.remove_subtree(&p);
            }
        }
        let listed = self.snapshot.node_mut(object);
        listed.object = true;
        listed.path_ts = Some(now);
        listed.seen(now);
        ops.push(ParamOp::Info { path: object.to_owned(), object: true, writable: listed.writable.unwrap_or(false) });
        ops
    }

    /// Records a fault to the RPC in flight against the channels it served.
    pub fn on_fault(&mut self, fault: &Fault) -> Vec<WriteOp> {
        let Some(pending) = self.pending.take() else { return Vec::new() };
        if let Pending::Names { object, .. } = &pending
            && object.is_empty()
        {
            // Some devices refuse to list the root (GenieACS has `cwmp.skipRootGpn` for them):
            // the roots the ACS knows of are then taken as all there are, and no channel
            // fails for it.
            tracing::info!(code = fault.code.as_u32(), "the device does not list its roots; using the known ones");
            let node = self.snapshot.node_mut("");
            node.object = true;
            node.path_ts = Some(self.now);
            self.changes.push(String::new());
            return vec![self.params(vec![ParamOp::Info { path: String::new(), object: true, writable: false }])];
        }
        let mut writes = Vec::new();
        let channels = pending.channels();
        let message = format!("{}: {}", fault.code.as_u32(), fault.string);
        self.fail(&channels, &fault.code.as_u32().to_string(), &message, &mut writes);
        writes
    }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn set_values_message(values: &[(String, String, String)]) -> Message {
    rpc::SetParameterValues {
        parameter_list: values
            .iter()
            .map(|(path, value, ty)| {
                let local = ty.rsplit_once(':').map_or(ty.as_str(), |(_, l)| l);
                ParameterValueStruct::new(path.clone(), Value::new(XsdType::from_name(local), value.clone()))
            })
            .collect(),
        parameter_key: String::new(),
    }
    .into()
}

/// When presets of different weights set the same path, the heavier (later) one wins: the
/// earlier value desires are dropped so the device is not toggled between them.
fn without_overridden_values(mut declarations: Vec<Declaration>) -> Vec<Declaration> {
    let mut seen = BTreeSet::new();
    for d in declarations.iter_mut().rev() {
        if d.desired.value.is_some() && !seen.insert(d.path.clone()) {
            d.desired.value = None;
        }
    }
    declarations
}

#[cfg(test)]
mod tests;
