//! The work of a session: each job turns one or more tasks (or a system action) into RPCs and
//! records what the answers mean, for the device's tree and for the tasks.

use std::collections::{HashMap, VecDeque};

use cwmp_wire::rpc::{self, ParameterValueStruct};
use cwmp_wire::{DateTime, Fault, FaultCode, Message, Value, XsdType};
use serde_json::json;

use super::transfer::{self, Purpose};
use super::{SessionConfig, SessionInputs};
use crate::provision::run::Provisioner;
use crate::store::{
    AuditRecord, Device, DeviceCredentials, Millis, ParamOp, Task, TaskFault, TaskStatus, TaskUpdate, WriteOp,
};
use crate::tasks::{DuOperationSpec, TaskKind, ValueSpec};

pub(crate) struct JobContext<'a> {
    pub device: &'a Device,
    pub config: &'a SessionConfig,
    pub inputs: &'a SessionInputs,
    pub now: Millis,
}

/// What handling an answer produced.
#[derive(Default)]
pub(crate) struct Progress {
    pub writes: Vec<WriteOp>,
    /// Jobs to run right after this one (before the rest of the queue).
    pub follow_ups: Vec<Job>,
    /// Tasks the CPE accepted whose result comes later (TransferComplete, DUStateChangeComplete).
    pub waiting: Vec<Task>,
    /// CommandKeys of transfers the CPE cancelled: no TransferComplete will come for them.
    pub cancelled: Vec<String>,
    pub finished: bool,
}

impl Progress {
    fn done(writes: Vec<WriteOp>) -> Progress {
        Progress { writes, finished: true, ..Progress::default() }
    }
}

/// How a refresh walks the tree.
pub(crate) enum RefreshStage {
    /// GetParameterNames with NextLevel=false on the path.
    Names,
    /// NextLevel=true object by object, after the CPE refused the whole subtree with 9004.
    Walk(VecDeque<String>),
    Values,
}

pub(crate) enum Job {
    /// One task whose RPC is a single request and response.
    Rpc { task: Task, request: Message },
    /// GetParameterValues for one or more tasks (batched).
    Values { tasks: Vec<Task>, names: Vec<String> },
    /// Re-read a subtree: names, then values.
    Refresh { task: Option<Task>, path: String, stage: RefreshStage, started: Millis, sent: bool },
    /// SetParameterValues that completes an AddObject task inside the new instance.
    AddedValues { task: Task, result: serde_json::Value, values: Vec<ParameterValueStruct> },
    /// Give the device Connection Request credentials (3.2.2), without an operator task.
    ConnectionRequestCredentials { username: String, password: String, root: String },
    /// Give the device credentials of its own for this ACS (enrolment, docs/acs.md):
    /// `ManagementServer.Username`/`Password`, stored hashed as `credentials`.
    Enrol { password: String, root: String, credentials: DeviceCredentials, reason: String },
    /// Converge the device on the presets that apply to it.
    Provision(Box<Provisioner>),
}

/// The update that closes (or parks) a task.
pub(crate) fn finish(
    task: &Task,
    status: TaskStatus,
    result: Option<serde_json::Value>,
    fault: Option<TaskFault>,
    now: Millis,
) -> TaskUpdate {
    TaskUpdate { id: task.id, status, attempts: task.attempts, not_before: now, result, fault }
}

fn task_fault(fault: &Fault) -> TaskFault {
    let mut message = format!("{}: {}", fault.code.as_u32(), fault.string);
    for entry in &fault.set_parameter_values_faults {
        message.push_str(&format!("; {} {} {}", entry.parameter_name, entry.fault_code.as_u32(), entry.fault_string));
    }
    TaskFault { code: fault.code.as_u32(), message }
}

/// A CPE fault ends the task unless it says the CPE was busy or broken for the moment
/// (9002 internal error, 9004 resources exceeded): then it is retried with back-off.
fn after_fault(task: &Task, fault: &Fault, config: &SessionConfig, now: Millis) -> TaskUpdate {
    let retryable = matches!(fault.code, FaultCode::InternalError | FaultCode::ResourcesExceeded);
    if retryable && task.attempts < task.max_attempts {
        let backoff = config.retry_base_ms.saturating_mul(1 << task.attempts.min(16).saturating_sub(1));
        TaskUpdate {
            id: task.id,
            status: TaskStatus::Pending,
            attempts: task.attempts,
            not_before: now + backoff,
            result: None,
            fault: Some(task_fault(fault)),
        }
    } else {
        finish(task, TaskStatus::Fault, None, Some(task_fault(fault)), now)
    }
}

/// Marks a task sent (counting the attempt) before its RPC leaves, so a crash or a lost
/// connection leaves a trace the next session reconciles.
fn mark_sent(task: &mut Task, now: Millis) -> Option<WriteOp> {
    task.attempts += 1;
    task.status = TaskStatus::Sent;
    Some(WriteOp::Task(TaskUpdate {
        id: task.id,
        status: TaskStatus::Sent,
        attempts: task.attempts,
        not_before: now,
        result: None,
        fault: None,
    }))
}

/// How a task found open at the start of a session continues.
pub(crate) enum Reconciled {
    Job(Job),
    /// Still waiting for its completion message.
    Waiting(Task),
    /// Closed now (its update is in the writes).
    Closed,
}

/// Decides what to do with an open task at the start of a session. A task left `sent` by an
/// interrupted session is checked against the Inform so it never runs twice: `M Reboot` with
/// its CommandKey, `0 BOOTSTRAP` after a FactoryReset, or ManagementServer.ParameterKey equal
/// to its key after SetParameterValues, AddObject or DeleteObject.
pub(crate) fn reconcile(
    mut task: Task,
    events: &[String],
    inform_commands: &[(String, String)],
    parameter_key: Option<&str>,
    ctx: &JobContext<'_>,
    writes: &mut Vec<WriteOp>,
) -> Reconciled {
    let now = ctx.now;
    let key = task.command_key();
    let has_event = |code: &str| events.iter().any(|e| e == code);
    let has_command = |code: &str| inform_commands.iter().any(|(c, k)| c == code && *k == key);
    match task.status {
        TaskStatus::Waiting => {
            if now > task.updated_at + waiting_limit(&task.kind) {
                writes.push(WriteOp::Task(finish(
                    &task,
                    TaskStatus::Fault,
                    None,
                    Some(TaskFault { code: 0, message: "no completion reported by the device in time".into() }),
                    now,
                )));
                return Reconciled::Closed;
            }
            return Reconciled::Waiting(task);
        }
        TaskStatus::Sent => {
            let applied = match &task.kind {
                TaskKind::Reboot => has_command("M Reboot"),
                TaskKind::FactoryReset => has_event("0 BOOTSTRAP"),
                TaskKind::SetParameterValues { .. } | TaskKind::AddObject { .. } | TaskKind::DeleteObject { .. } => {
                    parameter_key == Some(key.as_str())
                }
                // The CPE may have queued the transfer: wait for its TransferComplete rather
                // than risk running it twice.
                kind if kind.is_asynchronous() => {
                    writes.push(WriteOp::Task(finish(&task, TaskStatus::Waiting, None, None, now)));
                    task.updated_at = now;
                    return Reconciled::Waiting(task);
                }
                _ => false,
            };
            if applied {
                let result = json!({ "reconciled": true });
                writes.push(WriteOp::Task(finish(&task, TaskStatus::Done, Some(result), None, now)));
                if let TaskKind::AddObject { object_name, .. } | TaskKind::DeleteObject { object_name } = &task.kind {
                    // The instance number was lost with the response: re-read the table.
                    let table = table_of(object_name);
                    return Reconciled::Job(Job::refresh(None, table, now));
                }
                return Reconciled::Closed;
            }
        }
        _ => {}
    }
    if task.not_before > now {
        return Reconciled::Closed;
    }
    if task.attempts >= task.max_attempts {
        let fault = TaskFault { code: 0, message: format!("gave up after {} attempts", task.attempts) };
        writes.push(WriteOp::Task(finish(&task, TaskStatus::Fault, None, Some(fault), now)));
        return Reconciled::Closed;
    }
    task.status = TaskStatus::Pending;
    match Job::for_task(task, ctx) {
        Ok(job) => Reconciled::Job(job),
        Err(failed) => {
            let (task, why) = *failed;
            let fault = TaskFault { code: 0, message: why };
            writes.push(WriteOp::Task(finish(&task, TaskStatus::Fault, None, Some(fault), now)));
            Reconciled::Closed
        }
    }
}

/// How long a task accepted by the CPE may wait for its completion message.
fn waiting_limit(kind: &TaskKind) -> Millis {
    const HOUR: Millis = 3_600_000;
    match kind {
        TaskKind::Download { delay_seconds, .. } | TaskKind::Upload { delay_seconds, .. } => {
            *delay_seconds as Millis * 1000 + 2 * HOUR
        }
        TaskKind::ScheduleDownload { time_windows, .. } => {
            time_windows.iter().map(|w| w.window_end as Millis * 1000).max().unwrap_or(0) + 2 * HOUR
        }
        // A.4.1.10: DUStateChangeComplete comes within 24 hours.
        TaskKind::ChangeDuState { .. } => 25 * HOUR,
        _ => 2 * HOUR,
    }
}

/// `Device.NAT.PortMapping.3.` → `Device.NAT.PortMapping.`; a table path stays itself.
fn table_of(object: &str) -> String {
    let trimmed = object.trim_end_matches('.');
    match trimmed.rsplit_once('.') {
        Some((parent, last)) if last.parse::<u32>().is_ok() || last.starts_with('[') => format!("{parent}."),
        _ => object.to_owned(),
    }
}

fn pvs(values: &[ValueSpec], prefix: &str, known: &HashMap<String, String>) -> Vec<ParameterValueStruct> {
    values
        .iter()
        .map(|ValueSpec(name, value, ty)| {
            let full = format!("{prefix}{name}");
            let ty = ty.clone().or_else(|| known.get(&full).cloned()).unwrap_or_else(|| "xsd:string".into());
            let local = ty.rsplit_once(':').map_or(ty.as_str(), |(_, l)| l);
            ParameterValueStruct::new(full, Value::new(XsdType::from_name(local), value.clone()))
        })
        .collect()
}

fn datetime_json(t: &DateTime) -> serde_json::Value {
    json!(t.to_string())
}

/// Where a Download or ScheduleDownload fetches from: a file of the ACS's store (its URL on
/// the file service, its type and size) or any URL.
struct DownloadSource {
    url: String,
    file_type: String,
    file_size: u32,
}

impl DownloadSource {
    fn resolve(
        task: &Task,
        file: &Option<String>,
        url: &Option<String>,
        file_type: &Option<String>,
        ctx: &JobContext<'_>,
    ) -> Result<DownloadSource, String> {
        let meta = file.as_ref().and_then(|f| ctx.inputs.files.get(f));
        let file_type = file_type
            .clone()
            .or_else(|| meta.map(|m| m.file_type.clone()))
            .unwrap_or_else(|| "1 Firmware Upgrade Image".into());
        let url = match (file, url) {
            (_, Some(url)) => url.clone(),
            (Some(name), None) => {
                let url = format!("{}{}", ctx.inputs.file_base_url, percent_path(name));
                // Plain only when both the stored file and the task say it is fleet-wide.
                let public = meta.is_some_and(|m| transfer::is_public(name, &m.file_type))
                    && transfer::is_public(name, &file_type);
                if public {
                    url
                } else {
                    let token = ctx.config.transfer_key.token(Purpose::Download, task.id, &task.device_key);
                    format!("{url}?token={token}")
                }
            }
            (None, None) => return Err("no file or url".into()),
        };
        Ok(DownloadSource { url, file_type, file_size: meta.map(|m| m.size.min(u32::MAX as u64) as u32).unwrap_or(0) })
    }
}

impl Job {
    pub fn refresh(task: Option<Task>, path: String, now: Millis) -> Job {
        Job::Refresh { task, path, stage: RefreshStage::Names, started: now, sent: false }
    }

    pub fn connection_request_credentials(device: &Device, root: &str, rng: &mut impl rand::Rng) -> Job {
        let password = crate::cwmp::auth::new_password(rng);
        Job::ConnectionRequestCredentials { username: device.key.clone(), password, root: root.to_owned() }
    }

    /// Enrolment: the username is the device's key (TR-069 3.4.4's recommended form).
    pub fn enrol(device: &Device, root: &str, realm: &str, reason: &str, rng: &mut impl rand::Rng) -> Job {
        let password = crate::cwmp::auth::new_password(rng);
        let credentials = crate::cwmp::auth::hash_credentials(&device.key, &password, realm, rng, false);
        Job::Enrol { password, root: root.to_owned(), credentials, reason: reason.to_owned() }
    }

    /// The job that carries out a task, or why it cannot run.
    pub fn for_task(task: Task, ctx: &JobContext<'_>) -> Result<Job, Box<(Task, String)>> {
        let key = task.command_key();
        let request: Message = match &task.kind {
            TaskKind::GetParameterValues { parameter_names } => {
                return Ok(Job::Values { names: parameter_names.clone(), tasks: vec![task] });
            }
            TaskKind::RefreshObject { object_name } => {
                let path = object_name.clone();
                return Ok(Job::refresh(Some(task), path, ctx.now));
            }
            TaskKind::SetParameterValues { parameter_values } => rpc::SetParameterValues {
                parameter_list: pvs(parameter_values, "", &ctx.inputs.known_types),
                parameter_key: key,
            }
            .into(),
            TaskKind::AddObject { object_name, .. } => {
                rpc::AddObject { object_name: object_name.clone(), parameter_key: key }.into()
            }
            TaskKind::DeleteObject { object_name } => {
                rpc::DeleteObject { object_name: object_name.clone(), parameter_key: key }.into()
            }
            TaskKind::GetParameterAttributes { parameter_names } => {
                rpc::GetParameterAttributes { parameter_names: parameter_names.clone() }.into()
            }
            TaskKind::SetParameterAttributes { parameters } => rpc::SetParameterAttributes {
                parameter_list: parameters
                    .iter()
                    .map(|p| rpc::SetParameterAttributesStruct {
                        name: p.name.clone(),
                        notification_change: p.notification.is_some(),
                        notification: p.notification.unwrap_or(0),
                        access_list_change: p.access_list.is_some(),
                        access_list: p.access_list.clone().unwrap_or_default(),
                    })
                    .collect(),
            }
            .into(),
            TaskKind::Reboot => rpc::Reboot { command_key: key }.into(),
            TaskKind::FactoryReset => rpc::FactoryReset {}.into(),
            TaskKind::Download { file, url, file_type, target_file_name, delay_seconds, username, password } => {
                let source = match DownloadSource::resolve(&task, file, url, file_type, ctx) {
                    Ok(s) => s,
                    Err(e) => return Err(Box::new((task, e))),
                };
                rpc::Download {
                    command_key: key,
                    file_type: source.file_type,
                    url: source.url,
                    username: username.clone(),
                    password: password.clone(),
                    file_size: source.file_size,
                    target_file_name: target_file_name.clone(),
                    delay_seconds: *delay_seconds,
                    success_url: String::new(),
                    failure_url: String::new(),
                }
                .into()
            }
            TaskKind::Upload { file_type, url, delay_seconds, username, password } => rpc::Upload {
                command_key: key.clone(),
                file_type: file_type.clone(),
                url: url.clone().unwrap_or_else(|| {
                    let token = ctx.config.transfer_key.token(Purpose::Upload, task.id, &task.device_key);
                    format!("{}{token}", ctx.inputs.upload_base_url)
                }),
                username: username.clone(),
                password: password.clone(),
                delay_seconds: *delay_seconds,
            }
            .into(),
            TaskKind::ScheduleInform { delay_seconds } => {
                rpc::ScheduleInform { delay_seconds: *delay_seconds, command_key: key }.into()
            }
            TaskKind::ScheduleDownload { file, url, file_type, target_file_name, time_windows, username, password } => {
                let source = match DownloadSource::resolve(&task, file, url, file_type, ctx) {
                    Ok(s) => s,
                    Err(e) => return Err(Box::new((task, e))),
                };
                rpc::ScheduleDownload {
                    command_key: key,
                    file_type: source.file_type,
                    url: source.url,
                    username: username.clone(),
                    password: password.clone(),
                    file_size: source.file_size,
                    target_file_name: target_file_name.clone(),
                    time_window_list: time_windows
                        .iter()
                        .map(|w| rpc::TimeWindowStruct {
                            window_start: w.window_start,
                            window_end: w.window_end,
                            window_mode: w.window_mode.clone(),
                            user_message: w.user_message.clone(),
                            max_retries: w.max_retries,
                        })
                        .collect(),
                }
                .into()
            }
            TaskKind::CancelTransfer { command_key } => rpc::CancelTransfer { command_key: command_key.clone() }.into(),
            TaskKind::GetAllQueuedTransfers => rpc::GetAllQueuedTransfers {}.into(),
            TaskKind::ChangeDuState { operations } => {
                rpc::ChangeDuState { operations: operations.iter().map(du_operation).collect(), command_key: Some(key) }
                    .into()
            }
            TaskKind::GetRpcMethods => rpc::GetRpcMethods {}.into(),
        };
        Ok(Job::Rpc { task, request })
    }

    /// Merges the GetParameterValues tasks that follow this one into one request.
    pub fn absorb_similar(&mut self, queue: &mut VecDeque<Job>, max_names: usize) {
        let Job::Values { tasks, names } = self else { return };
        if tasks.iter().any(|t| t.status == TaskStatus::Sent) {
            return;
        }
        while let Some(Job::Values { names: next, .. }) = queue.front() {
            if names.len() + next.len() > max_names {
                break;
            }
            let Some(Job::Values { tasks: more, names: more_names }) = queue.pop_front() else { break };
            tasks.extend(more);
            for n in more_names {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }

    /// The next request of this job (`None` when it has nothing left to send), with the
    /// writes that go with it.
    pub fn next_rpc(&mut self, ctx: &JobContext<'_>) -> (Option<Message>, Vec<WriteOp>) {
        match self.next_request(ctx) {
            Some((message, writes)) => (Some(message), writes),
            None => match self {
                Job::Provision(p) => p.next_rpc(ctx.config.extensions.as_deref()),
                _ => (None, Vec::new()),
            },
        }
    }

    fn next_request(&mut self, ctx: &JobContext<'_>) -> Option<(Message, Vec<WriteOp>)> {
        let now = ctx.now;
        match self {
            Job::Provision(_) => None,
            Job::Rpc { task, request } => {
                if task.status == TaskStatus::Sent {
                    return None;
                }
                let writes = mark_sent(task, now).into_iter().collect();
                Some((request.clone(), writes))
            }
            Job::Values { tasks, names } => {
                if tasks.iter().any(|t| t.status == TaskStatus::Sent) {
                    return None;
                }
                let writes = tasks.iter_mut().filter_map(|t| mark_sent(t, now)).collect();
                Some((rpc::GetParameterValues { parameter_names: names.clone() }.into(), writes))
            }
            Job::Refresh { task, path, stage, sent, .. } => {
                let mut writes = Vec::new();
                if !*sent && let Some(t) = task.as_mut() {
                    writes.extend(mark_sent(t, now));
                }
                *sent = true;
                let message: Message = match stage {
                    RefreshStage::Names => {
                        rpc::GetParameterNames { parameter_path: path.clone(), next_level: false }.into()
                    }
                    RefreshStage::Walk(queue) => {
                        let next = queue.front()?.clone();
                        rpc::GetParameterNames { parameter_path: next, next_level: true }.into()
                    }
                    RefreshStage::Values => rpc::GetParameterValues { parameter_names: vec![path.clone()] }.into(),
                };
                Some((message, writes))
            }
            Job::AddedValues { values, .. } => Some((
                rpc::SetParameterValues { parameter_list: values.clone(), parameter_key: String::new() }.into(),
                Vec::new(),
            )),
            Job::ConnectionRequestCredentials { username, password, root } => Some((
                set_credentials(root, "ConnectionRequestUsername", username, "ConnectionRequestPassword", password),
                Vec::new(),
            )),
            // The credentials are stored (unconfirmed) before they leave: if the answer is
            // lost, the device that applied them can still use them (docs/acs.md).
            Job::Enrol { password, root, credentials, reason } => Some((
                set_credentials(root, "Username", &credentials.username, "Password", password),
                vec![
                    WriteOp::Credentials { device_id: ctx.device.id, credentials: Some(credentials.clone()) },
                    audit(ctx, "cpe.enrol", json!({ "admitted": reason, "username": credentials.username })),
                ],
            )),
        }
    }

    pub fn on_fault(&mut self, fault: &Fault, ctx: &JobContext<'_>) -> Progress {
        let now = ctx.now;
        match self {
            Job::Rpc { task, .. } | Job::AddedValues { task, .. } => {
                Progress::done(vec![WriteOp::Task(after_fault(task, fault, ctx.config, now))])
            }
            Job::Values { tasks, .. } => {
                Progress::done(tasks.iter().map(|t| WriteOp::Task(after_fault(t, fault, ctx.config, now))).collect())
            }
            Job::Refresh { task, path, stage, .. } => {
                // A.3.2.3: a CPE may refuse NextLevel=false on a big subtree with 9004; walk
                // it level by level instead (9004 is not allowed with NextLevel=true).
                if matches!(stage, RefreshStage::Names) && fault.code == FaultCode::ResourcesExceeded {
                    *stage = RefreshStage::Walk(VecDeque::from([path.clone()]));
                    return Progress::default();
                }
                let writes = task.iter().map(|t| WriteOp::Task(after_fault(t, fault, ctx.config, now))).collect();
                Progress::done(writes)
            }
            Job::ConnectionRequestCredentials { .. } => {
                tracing::warn!(device = %ctx.device.key, %fault, "device refused connection request credentials");
                Progress::done(Vec::new())
            }
            // Not applied: the device keeps what it had, and has no credentials of its own
            // here (its next session enrols it again).
            Job::Enrol { .. } => {
                tracing::warn!(device = %ctx.device.key, %fault, "device refused its credentials");
                Progress::done(vec![
                    WriteOp::Credentials { device_id: ctx.device.id, credentials: None },
                    audit(ctx, "cpe.enrolment_failed", json!({ "fault": fault.code.as_u32() })),
                ])
            }
            Job::Provision(p) => Progress { writes: p.on_fault(fault), ..Progress::default() },
        }
    }

    pub fn on_response(&mut self, response: &Message, ctx: &JobContext<'_>) -> Progress {
        let now = ctx.now;
        let device_id = ctx.device.id;
        let params = |ops: Vec<ParamOp>| WriteOp::Params { device_id, at: now, ops };
        match self {
            Job::Values { tasks, .. } => {
                let Message::GetParameterValuesResponse(r) = response else { return Progress::done(Vec::new()) };
                let mut writes = vec![params(value_ops(&r.parameter_list))];
                for task in tasks.iter() {
                    let TaskKind::GetParameterValues { parameter_names } = &task.kind else { continue };
                    let mine: Vec<_> = r
                        .parameter_list
                        .iter()
                        .filter(|p| {
                            parameter_names.iter().any(|n| {
                                p.name == *n || (n.ends_with('.') || n.is_empty()) && p.name.starts_with(n.as_str())
                            })
                        })
                        .map(|p| json!([p.name, p.value.text, p.value.ty.xsi_type()]))
                        .collect();
                    writes.push(WriteOp::Task(finish(
                        task,
                        TaskStatus::Done,
                        Some(json!({ "parameters": mine })),
                        None,
                        now,
                    )));
                }
                Progress::done(writes)
            }
            Job::Refresh { task, path, stage, started, .. } => {
                let mut next_stage = None;
                let progress = match (&mut *stage, response) {
                    (RefreshStage::Names, Message::GetParameterNamesResponse(r)) => {
                        let mut ops = info_ops(&r.parameter_list);
                        if path.is_empty() || path.ends_with('.') {
                            ops.push(ParamOp::PruneUnseen { prefix: path.clone(), seen_at: *started });
                        }
                        next_stage = Some(RefreshStage::Values);
                        Progress { writes: vec![params(ops)], ..Progress::default() }
                    }
                    (RefreshStage::Walk(queue), Message::GetParameterNamesResponse(r)) => {
                        let done = queue.pop_front();
                        for p in &r.parameter_list {
                            if p.name.ends_with('.') && Some(&p.name) != done.as_ref() {
                                queue.push_back(p.name.clone());
                            }
                        }
                        let mut ops = info_ops(&r.parameter_list);
                        if let Some(object) = done
                            && !object.is_empty()
                        {
                            ops.push(ParamOp::Info { path: object, object: true, writable: false });
                        }
                        if queue.is_empty() {
                            ops.push(ParamOp::PruneUnseen { prefix: path.clone(), seen_at: *started });
                            next_stage = Some(RefreshStage::Values);
                        }
                        Progress { writes: vec![params(ops)], ..Progress::default() }
                    }
                    (RefreshStage::Values, Message::GetParameterValuesResponse(r)) => {
                        let mut writes = vec![params(value_ops(&r.parameter_list))];
                        if let Some(t) = task {
                            let result = json!({ "parameters": r.parameter_list.len() });
                            writes.push(WriteOp::Task(finish(t, TaskStatus::Done, Some(result), None, now)));
                        }
                        Progress::done(writes)
                    }
                    _ => Progress::done(Vec::new()),
                };
                if let Some(next) = next_stage {
                    *stage = next;
                }
                progress
            }
            Job::AddedValues { task, result, .. } => {
                let writes = vec![WriteOp::Task(finish(task, TaskStatus::Done, Some(result.clone()), None, now))];
                Progress::done(writes)
            }
            Job::ConnectionRequestCredentials { username, password, .. } => {
                let writes = vec![WriteOp::ConnectionRequestCredentials {
                    device_id,
                    username: username.clone(),
                    password: password.clone(),
                }];
                Progress::done(writes)
            }
            // Status 0: applied, the device holds them. 1: they apply later (A.3.2.1); they
            // are confirmed when the device first presents them.
            Job::Enrol { credentials, .. } => {
                let Message::SetParameterValuesResponse(r) = response else { return Progress::done(Vec::new()) };
                let mut writes = vec![audit(ctx, "cpe.enrolled", json!({ "status": r.status }))];
                if r.status == 0 {
                    let confirmed = DeviceCredentials { confirmed: true, ..credentials.clone() };
                    writes.push(WriteOp::Credentials { device_id, credentials: Some(confirmed) });
                }
                Progress::done(writes)
            }
            Job::Rpc { task, request } => rpc_response(task, request, response, ctx),
            Job::Provision(p) => Progress { writes: p.on_response(response), ..Progress::default() },
        }
    }
}

/// SetParameterValues of a ManagementServer username and password pair.
fn set_credentials(root: &str, user_param: &str, username: &str, password_param: &str, password: &str) -> Message {
    let ms = format!("{root}ManagementServer.");
    rpc::SetParameterValues {
        parameter_list: vec![
            ParameterValueStruct::new(format!("{ms}{user_param}"), Value::string(username)),
            ParameterValueStruct::new(format!("{ms}{password_param}"), Value::string(password)),
        ],
        parameter_key: String::new(),
    }
    .into()
}

/// An audit record of a decision about the session's device.
pub(crate) fn audit(ctx: &JobContext<'_>, action: &str, detail: serde_json::Value) -> WriteOp {
    WriteOp::Audit(AuditRecord {
        at: ctx.now,
        actor: "acs".into(),
        action: action.into(),
        target: Some(ctx.device.key.clone()),
        address: ctx.device.remote_addr.clone(),
        detail,
    })
}

/// Parks a task the CPE accepted until its completion message arrives.
fn park(task: &Task, result: Option<serde_json::Value>, now: Millis) -> Progress {
    let mut waiting = task.clone();
    waiting.status = TaskStatus::Waiting;
    waiting.updated_at = now;
    Progress {
        writes: vec![WriteOp::Task(finish(task, TaskStatus::Waiting, result, None, now))],
        waiting: vec![waiting],
        finished: true,
        ..Progress::default()
    }
}

/// Download or Upload response (A.3.2.8, A.4.1.5): status 0 is done, 1 means a
/// TransferComplete will follow.
fn transfer_accepted(task: &Task, status: i32, start: &DateTime, complete: &DateTime, now: Millis) -> Progress {
    let result =
        json!({ "status": status, "startTime": datetime_json(start), "completeTime": datetime_json(complete) });
    if status == 0 {
        Progress::done(vec![WriteOp::Task(finish(task, TaskStatus::Done, Some(result), None, now))])
    } else {
        park(task, Some(result), now)
    }
}

/// Closes the waiting transfer task a successful CancelTransfer named (A.4.1.9: the CPE
/// sends no TransferComplete for it), keeping what its acceptance recorded.
pub(crate) fn transfer_cancelled(
    waiting: &mut HashMap<String, Task>,
    command_key: &str,
    now: Millis,
) -> Option<WriteOp> {
    let transfer = |t: &Task| {
        matches!(t.kind, TaskKind::Download { .. } | TaskKind::Upload { .. } | TaskKind::ScheduleDownload { .. })
    };
    if !waiting.get(command_key).is_some_and(transfer) {
        return None;
    }
    let task = waiting.remove(command_key)?;
    Some(WriteOp::Task(finish(&task, TaskStatus::Cancelled, None, None, now)))
}

/// Closes the waiting task a TransferComplete names (A.3.3.2), matched by CommandKey.
pub(crate) fn transfer_complete(
    waiting: &mut HashMap<String, Task>,
    tc: &rpc::TransferComplete,
    now: Millis,
) -> Option<WriteOp> {
    let task = waiting.remove(&tc.command_key)?;
    let result = json!({
        "faultCode": tc.fault_struct.fault_code,
        "faultString": tc.fault_struct.fault_string,
        "startTime": datetime_json(&tc.start_time),
        "completeTime": datetime_json(&tc.complete_time),
    });
    let (status, fault) = if tc.fault_struct.is_success() {
        (TaskStatus::Done, None)
    } else {
        let fault = TaskFault { code: tc.fault_struct.fault_code, message: tc.fault_struct.fault_string.clone() };
        (TaskStatus::Fault, Some(fault))
    };
    Some(WriteOp::Task(finish(&task, status, Some(result), fault, now)))
}

/// Closes the waiting ChangeDUState task a DUStateChangeComplete names (A.4.2.3).
pub(crate) fn du_state_change_complete(
    waiting: &mut HashMap<String, Task>,
    c: &rpc::DuStateChangeComplete,
    now: Millis,
) -> Option<WriteOp> {
    let task = waiting.remove(c.command_key.as_deref()?)?;
    let results: Vec<_> = c
        .results
        .iter()
        .map(|r| {
            json!({
                "uuid": r.uuid, "deploymentUnitRef": r.deployment_unit_ref, "version": r.version,
                "currentState": r.current_state, "resolved": r.resolved,
                "executionUnitRefList": r.execution_unit_ref_list,
                "startTime": datetime_json(&r.start_time), "completeTime": datetime_json(&r.complete_time),
                "faultCode": r.fault.fault_code, "faultString": r.fault.fault_string,
            })
        })
        .collect();
    let failed = c.results.iter().find(|r| r.fault.fault_code != 0);
    let (status, fault) = match failed {
        None => (TaskStatus::Done, None),
        Some(r) => {
            (TaskStatus::Fault, Some(TaskFault { code: r.fault.fault_code, message: r.fault.fault_string.clone() }))
        }
    };
    Some(WriteOp::Task(finish(&task, status, Some(json!({ "results": results })), fault, now)))
}

fn value_ops(list: &[ParameterValueStruct]) -> Vec<ParamOp> {
    list.iter()
        .map(|p| ParamOp::Value { path: p.name.clone(), value: p.value.text.clone(), ty: p.value.ty.xsi_type().into() })
        .collect()
}

fn info_ops(list: &[rpc::ParameterInfoStruct]) -> Vec<ParamOp> {
    list.iter()
        .map(|p| ParamOp::Info { path: p.name.clone(), object: p.name.ends_with('.'), writable: p.writable })
        .collect()
}

/// Percent-encodes a name for use in a URL path.
fn percent_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn du_operation(op: &DuOperationSpec) -> rpc::OperationStruct {
    match op.clone() {
        DuOperationSpec::Install { url, uuid, username, password, execution_env_ref } => {
            rpc::OperationStruct::Install(rpc::InstallOpStruct { url, uuid, username, password, execution_env_ref })
        }
        DuOperationSpec::Update { uuid, version, url, username, password } => {
            rpc::OperationStruct::Update(rpc::UpdateOpStruct { uuid, version, url, username, password })
        }
        DuOperationSpec::Uninstall { uuid, version, execution_env_ref } => {
            rpc::OperationStruct::Uninstall(rpc::UninstallOpStruct { uuid, version, execution_env_ref })
        }
    }
}

/// Records the answer to a single-RPC task.
fn rpc_response(task: &Task, request: &Message, response: &Message, ctx: &JobContext<'_>) -> Progress {
    let now = ctx.now;
    let device_id = ctx.device.id;
    let params = |ops: Vec<ParamOp>| WriteOp::Params { device_id, at: now, ops };
    let done = |result: serde_json::Value| WriteOp::Task(finish(task, TaskStatus::Done, Some(result), None, now));
    match (request, response) {
        (Message::SetParameterValues(req), Message::SetParameterValuesResponse(r)) => {
            Progress::done(vec![params(value_ops(&req.parameter_list)), done(json!({ "status": r.status }))])
        }
        (Message::AddObject(req), Message::AddObjectResponse(r)) => {
            let instance = format!("{}{}.", req.object_name, r.instance_number);
            let result = json!({ "instanceNumber": r.instance_number, "status": r.status });
            let mut progress = Progress { finished: true, ..Progress::default() };
            progress.follow_ups.push(Job::refresh(None, instance.clone(), now));
            match &task.kind {
                TaskKind::AddObject { parameter_values, .. } if !parameter_values.is_empty() => {
                    let values = pvs(parameter_values, &instance, &ctx.inputs.known_types);
                    progress.follow_ups.insert(0, Job::AddedValues { task: task.clone(), result, values });
                }
                _ => progress.writes.push(done(result)),
            }
            progress
        }
        (Message::DeleteObject(req), Message::DeleteObjectResponse(r)) => Progress::done(vec![
            params(vec![ParamOp::DeleteSubtree { prefix: req.object_name.clone() }]),
            done(json!({ "status": r.status })),
        ]),
        (Message::GetParameterAttributes(_), Message::GetParameterAttributesResponse(r)) => {
            let ops = r
                .parameter_list
                .iter()
                .map(|p| ParamOp::Attributes {
                    path: p.name.clone(),
                    notification: Some(p.notification),
                    access_list: Some(p.access_list.clone()),
                })
                .collect();
            let list: Vec<_> = r
                .parameter_list
                .iter()
                .map(|p| json!({ "name": p.name, "notification": p.notification, "accessList": p.access_list }))
                .collect();
            Progress::done(vec![params(ops), done(json!({ "parameters": list }))])
        }
        (Message::SetParameterAttributes(req), Message::SetParameterAttributesResponse(_)) => {
            let ops = req
                .parameter_list
                .iter()
                .filter(|p| !p.name.ends_with('.') && !p.name.is_empty())
                .map(|p| ParamOp::Attributes {
                    path: p.name.clone(),
                    notification: p.notification_change.then_some(p.notification),
                    access_list: p.access_list_change.then(|| p.access_list.clone()),
                })
                .collect();
            Progress::done(vec![params(ops), done(json!({}))])
        }
        (Message::Download(_), Message::DownloadResponse(r)) => {
            transfer_accepted(task, r.status, &r.start_time, &r.complete_time, now)
        }
        (Message::Upload(_), Message::UploadResponse(r)) => {
            transfer_accepted(task, r.status, &r.start_time, &r.complete_time, now)
        }
        // A.4.1.8, A.4.1.10: the outcome always comes later.
        (Message::ScheduleDownload(_), Message::ScheduleDownloadResponse(_))
        | (Message::ChangeDuState(_), Message::ChangeDuStateResponse(_)) => park(task, None, now),
        // A.4.1.9: the transfers with that key are cancelled and never reported.
        (Message::CancelTransfer(req), Message::CancelTransferResponse(_)) => {
            Progress { cancelled: vec![req.command_key.clone()], ..Progress::done(vec![done(json!({}))]) }
        }
        (Message::GetAllQueuedTransfers(_), Message::GetAllQueuedTransfersResponse(r)) => {
            let list: Vec<_> = r
                .transfer_list
                .iter()
                .map(|t| {
                    json!({ "commandKey": t.command_key, "state": t.state, "isDownload": t.is_download,
                            "fileType": t.file_type, "fileSize": t.file_size, "targetFileName": t.target_file_name })
                })
                .collect();
            Progress::done(vec![done(json!({ "transfers": list }))])
        }
        (Message::GetRpcMethods(_), Message::GetRpcMethodsResponse(r)) => {
            Progress::done(vec![done(json!({ "methods": r.method_list }))])
        }
        _ => Progress::done(vec![done(json!({}))]),
    }
}
