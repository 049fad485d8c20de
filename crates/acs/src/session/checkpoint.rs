//! A session's state as JSON, so another ACS node can continue it when the CPE reconnects
//! there mid-session (docs/operations.md): [`AcsSession::checkpoint`] after each step,
//! [`AcsSession::resume`] on the node the CPE came back to. The node's [`SessionConfig`] is
//! not saved; the resuming node uses its own.
//!
//! Requests built but not yet answered are kept as the SOAP envelope the CPE would see, so a
//! resumed session sends exactly what the first node would have sent.

use std::collections::{BTreeMap, BTreeSet};

use cwmp_wire::rpc::ParameterValueStruct;
use cwmp_wire::{EncodeOptions, Envelope, Limits, Message, Namespace, Value, Version, XsdType};
use serde::{Deserialize, Serialize};

use super::jobs::{Job, RefreshStage};
use super::{AcsSession, Outstanding, SessionConfig, SessionInputs};
use crate::store::{
    ConnectionRequestInfo, Device, DeviceCredentials, DeviceIdentity, FileMeta, Millis, Task, TaskFault, TaskStatus,
};
use crate::tasks::TaskKind;

/// Bumped when the saved shape changes; a node refuses a checkpoint of another format.
const FORMAT: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("checkpoint: {0}")]
    Invalid(String),
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct State {
    format: u32,
    device: DeviceState,
    namespace: String,
    version: String,
    inputs: InputsState,
    jobs: Vec<JobState>,
    waiting: BTreeMap<String, TaskState>,
    /// `(cwmp:ID, method)` of the request the CPE has not answered yet.
    outstanding: Option<(String, String)>,
    next_id: u64,
    seen: BTreeSet<i64>,
    done: bool,
    last_activity: Millis,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeviceState {
    id: i64,
    key: String,
    identity: DeviceIdentity,
    created_at: Millis,
    last_inform: Option<Millis>,
    last_boot: Option<Millis>,
    last_bootstrap: Option<Millis>,
    last_events: Vec<String>,
    cwmp_version: Option<String>,
    remote_addr: Option<String>,
    cr_url: Option<String>,
    cr_username: Option<String>,
    cr_password: Option<String>,
    tags: Vec<String>,
    /// `(username, ha1, password_hash, confirmed)`.
    credentials: Option<(String, String, String, bool)>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileState {
    id: i64,
    name: String,
    file_type: String,
    oui: String,
    product_class: String,
    version: String,
    size: u64,
    sha256: String,
    created_at: Millis,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InputsState {
    known_types: BTreeMap<String, String>,
    files: BTreeMap<String, FileState>,
    file_base_url: String,
    upload_base_url: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TaskState {
    id: i64,
    device_key: String,
    device_id: i64,
    kind: TaskKind,
    status: TaskStatus,
    created_at: Millis,
    updated_at: Millis,
    not_before: Millis,
    expires_at: Option<Millis>,
    attempts: u32,
    max_attempts: u32,
    result: Option<serde_json::Value>,
    fault: Option<(u32, String)>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "camelCase", deny_unknown_fields)]
enum JobState {
    Rpc {
        task: TaskState,
        /// The request as a SOAP envelope.
        request: String,
    },
    Values {
        tasks: Vec<TaskState>,
        names: Vec<String>,
    },
    Refresh {
        task: Option<TaskState>,
        path: String,
        stage: StageState,
        started: Millis,
        sent: bool,
    },
    AddedValues {
        task: TaskState,
        result: serde_json::Value,
        /// `(name, type, value)`.
        values: Vec<(String, String, String)>,
    },
    ConnectionRequestCredentials {
        username: String,
        password: String,
        root: String,
    },
    Enrol {
        password: String,
        root: String,
        /// `(username, ha1, password_hash)`.
        credentials: (String, String, String),
        reason: String,
    },
    /// The provisioning planner's whole state.
    Provision {
        provisioner: serde_json::Value,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
enum StageState {
    Names,
    Walk(Vec<String>),
    Values,
}

fn save_task(t: &Task) -> TaskState {
    TaskState {
        id: t.id,
        device_key: t.device_key.clone(),
        device_id: t.device_id,
        kind: t.kind.clone(),
        status: t.status,
        created_at: t.created_at,
        updated_at: t.updated_at,
        not_before: t.not_before,
        expires_at: t.expires_at,
        attempts: t.attempts,
        max_attempts: t.max_attempts,
        result: t.result.clone(),
        fault: t.fault.as_ref().map(|f| (f.code, f.message.clone())),
    }
}

fn load_task(t: TaskState) -> Task {
    Task {
        id: t.id,
        device_key: t.device_key,
        device_id: t.device_id,
        kind: t.kind,
        status: t.status,
        created_at: t.created_at,
        updated_at: t.updated_at,
        not_before: t.not_before,
        expires_at: t.expires_at,
        attempts: t.attempts,
        max_attempts: t.max_attempts,
        result: t.result,
        fault: t.fault.map(|(code, message)| TaskFault { code, message }),
    }
}

fn save_device(d: &Device) -> DeviceState {
    DeviceState {
        id: d.id,
        key: d.key.clone(),
        identity: d.identity.clone(),
        created_at: d.created_at,
        last_inform: d.last_inform,
        last_boot: d.last_boot,
        last_bootstrap: d.last_bootstrap,
        last_events: d.last_events.clone(),
        cwmp_version: d.cwmp_version.clone(),
        remote_addr: d.remote_addr.clone(),
        cr_url: d.connection_request.url.clone(),
        cr_username: d.connection_request.username.clone(),
        cr_password: d.connection_request.password.clone(),
        tags: d.tags.clone(),
        credentials: d
            .credentials
            .as_ref()
            .map(|c| (c.username.clone(), c.ha1.clone(), c.password_hash.clone(), c.confirmed)),
    }
}

fn load_device(d: DeviceState) -> Device {
    Device {
        id: d.id,
        key: d.key,
        identity: d.identity,
        created_at: d.created_at,
        last_inform: d.last_inform,
        last_boot: d.last_boot,
        last_bootstrap: d.last_bootstrap,
        last_events: d.last_events,
        cwmp_version: d.cwmp_version,
        remote_addr: d.remote_addr,
        connection_request: ConnectionRequestInfo { url: d.cr_url, username: d.cr_username, password: d.cr_password },
        tags: d.tags,
        credentials: d.credentials.map(|(username, ha1, password_hash, confirmed)| DeviceCredentials {
            username,
            ha1,
            password_hash,
            confirmed,
        }),
    }
}

fn save_file(f: &FileMeta) -> FileState {
    FileState {
        id: f.id,
        name: f.name.clone(),
        file_type: f.file_type.clone(),
        oui: f.oui.clone(),
        product_class: f.product_class.clone(),
        version: f.version.clone(),
        size: f.size,
        sha256: f.sha256.clone(),
        created_at: f.created_at,
    }
}

fn load_file(f: FileState) -> FileMeta {
    FileMeta {
        id: f.id,
        name: f.name,
        file_type: f.file_type,
        oui: f.oui,
        product_class: f.product_class,
        version: f.version,
        size: f.size,
        sha256: f.sha256,
        created_at: f.created_at,
    }
}

/// A request kept as the envelope the CPE would get (namespace 1.2: every method exists there).
fn save_message(message: &Message) -> String {
    let bytes = Envelope::new(Namespace::Cwmp12, message.clone()).encode(&EncodeOptions::default());
    String::from_utf8_lossy(&bytes).into_owned()
}

fn load_message(text: &str) -> Result<Message, CheckpointError> {
    cwmp_wire::decode(text.as_bytes(), &Limits::default())
        .map(|env| env.message)
        .map_err(|e| CheckpointError::Invalid(format!("saved request: {e}")))
}

fn save_job(job: &Job) -> Result<JobState, CheckpointError> {
    Ok(match job {
        Job::Rpc { task, request } => JobState::Rpc { task: save_task(task), request: save_message(request) },
        Job::Values { tasks, names } => {
            JobState::Values { tasks: tasks.iter().map(save_task).collect(), names: names.clone() }
        }
        Job::Refresh { task, path, stage, started, sent } => JobState::Refresh {
            task: task.as_ref().map(save_task),
            path: path.clone(),
            stage: match stage {
                RefreshStage::Names => StageState::Names,
                RefreshStage::Walk(queue) => StageState::Walk(queue.iter().cloned().collect()),
                RefreshStage::Values => StageState::Values,
            },
            started: *started,
            sent: *sent,
        },
        Job::AddedValues { task, result, values } => JobState::AddedValues {
            task: save_task(task),
            result: result.clone(),
            values: values
                .iter()
                .map(|p| (p.name.clone(), p.value.ty.name().to_owned(), p.value.text.clone()))
                .collect(),
        },
        Job::ConnectionRequestCredentials { username, password, root } => JobState::ConnectionRequestCredentials {
            username: username.clone(),
            password: password.clone(),
            root: root.clone(),
        },
        Job::Enrol { password, root, credentials: c, reason } => JobState::Enrol {
            password: password.clone(),
            root: root.clone(),
            credentials: (c.username.clone(), c.ha1.clone(), c.password_hash.clone()),
            reason: reason.clone(),
        },
        Job::Provision(p) => JobState::Provision { provisioner: serde_json::to_value(&**p)? },
    })
}

fn load_job(job: JobState) -> Result<Job, CheckpointError> {
    Ok(match job {
        JobState::Rpc { task, request } => Job::Rpc { task: load_task(task), request: load_message(&request)? },
        JobState::Values { tasks, names } => Job::Values { tasks: tasks.into_iter().map(load_task).collect(), names },
        JobState::Refresh { task, path, stage, started, sent } => Job::Refresh {
            task: task.map(load_task),
            path,
            stage: match stage {
                StageState::Names => RefreshStage::Names,
                StageState::Walk(queue) => RefreshStage::Walk(queue.into()),
                StageState::Values => RefreshStage::Values,
            },
            started,
            sent,
        },
        JobState::AddedValues { task, result, values } => Job::AddedValues {
            task: load_task(task),
            result,
            values: values
                .into_iter()
                .map(|(name, ty, text)| ParameterValueStruct::new(name, Value::new(XsdType::from_name(&ty), text)))
                .collect(),
        },
        JobState::ConnectionRequestCredentials { username, password, root } => {
            Job::ConnectionRequestCredentials { username, password, root }
        }
        JobState::Enrol { password, root, credentials: (username, ha1, password_hash), reason } => Job::Enrol {
            password,
            root,
            credentials: DeviceCredentials { username, ha1, password_hash, confirmed: false },
            reason,
        },
        JobState::Provision { provisioner } => Job::Provision(Box::new(serde_json::from_value(provisioner)?)),
    })
}

impl AcsSession {
    /// The session's state as JSON, for [`AcsSession::resume`] on any node.
    pub fn checkpoint(&self) -> Result<String, CheckpointError> {
        // Every field is listed, so a new one cannot be forgotten here.
        let AcsSession {
            device,
            namespace,
            version,
            config: _,
            inputs,
            jobs,
            waiting,
            outstanding,
            next_id,
            seen,
            done,
            last_activity,
        } = self;
        // Provisioning inputs are turned into the planner when the session starts.
        if inputs.provisioning.is_some() {
            return Err(CheckpointError::Invalid("provisioning inputs not taken by the session".into()));
        }
        let state = State {
            format: FORMAT,
            device: save_device(device),
            namespace: namespace.uri().to_owned(),
            version: version.to_string(),
            inputs: InputsState {
                known_types: inputs.known_types.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                files: inputs.files.iter().map(|(k, f)| (k.clone(), save_file(f))).collect(),
                file_base_url: inputs.file_base_url.clone(),
                upload_base_url: inputs.upload_base_url.clone(),
            },
            jobs: jobs.iter().map(save_job).collect::<Result<_, _>>()?,
            waiting: waiting.iter().map(|(k, t)| (k.clone(), save_task(t))).collect(),
            outstanding: outstanding.as_ref().map(|o| (o.id.clone(), o.method.clone())),
            next_id: *next_id,
            seen: seen.iter().copied().collect(),
            done: *done,
            last_activity: *last_activity,
        };
        Ok(serde_json::to_string(&state)?)
    }

    /// Rebuilds a session from [`AcsSession::checkpoint`], with this node's settings.
    pub fn resume(checkpoint: &str, config: SessionConfig) -> Result<AcsSession, CheckpointError> {
        let state: State = serde_json::from_str(checkpoint)?;
        if state.format != FORMAT {
            return Err(CheckpointError::Invalid(format!("format {} (this node reads {FORMAT})", state.format)));
        }
        let namespace = Namespace::from_uri(&state.namespace)
            .ok_or_else(|| CheckpointError::Invalid(format!("namespace {:?}", state.namespace)))?;
        let version = Version::parse(&state.version)
            .ok_or_else(|| CheckpointError::Invalid(format!("version {:?}", state.version)))?;
        let inputs = SessionInputs {
            known_types: state.inputs.known_types.into_iter().collect(),
            files: state.inputs.files.into_iter().map(|(k, f)| (k, load_file(f))).collect(),
            file_base_url: state.inputs.file_base_url,
            upload_base_url: state.inputs.upload_base_url,
            provisioning: None,
            // Used when the session starts only.
            admission: Default::default(),
        };
        Ok(AcsSession {
            device: load_device(state.device),
            namespace,
            version,
            config,
            inputs,
            jobs: state.jobs.into_iter().map(load_job).collect::<Result<_, _>>()?,
            waiting: state.waiting.into_iter().map(|(k, t)| (k, load_task(t))).collect(),
            outstanding: state.outstanding.map(|(id, method)| Outstanding { id, method }),
            next_id: state.next_id,
            seen: state.seen.into_iter().collect(),
            done: state.done,
            last_activity: state.last_activity,
        })
    }
}

#[cfg(test)]
mod tests {
    use cwmp_wire::rpc::*;
    use cwmp_wire::{Fault, FaultCode};

    use super::*;
    use crate::session::{Reply, Step, accept_inform};
    use crate::store::fixtures::{self, task};
    use crate::tasks::ValueSpec;

    fn device() -> Device {
        Device {
            created_at: 5,
            last_inform: Some(6),
            last_bootstrap: Some(4),
            last_events: vec!["0 BOOTSTRAP".into()],
            cwmp_version: Some("1.4".into()),
            remote_addr: Some("10.0.0.1".into()),
            connection_request: ConnectionRequestInfo {
                url: Some("http://cpe/".into()),
                username: None,
                password: None,
            },
            tags: vec!["lab".into()],
            credentials: Some(DeviceCredentials {
                username: "u".into(),
                ha1: "h".into(),
                password_hash: "p".into(),
                confirmed: true,
            }),
            ..fixtures::device()
        }
    }

    fn soap(step: &Step) -> &Envelope {
        match &step.reply {
            Reply::Soap(env) => env,
            other => panic!("expected SOAP, got {other:?}"),
        }
    }

    /// What a CPE answers to each request in this scenario.
    fn answer(request: &Envelope) -> Envelope {
        let message: Message = match &request.message {
            Message::SetParameterValues(_) => SetParameterValuesResponse { status: 0 }.into(),
            // The whole tree at once is too much: the ACS walks it level by level.
            Message::GetParameterNames(gpn) if !gpn.next_level => {
                Message::Fault(Fault::new(FaultCode::ResourcesExceeded))
            }
            Message::GetParameterNames(gpn) if gpn.parameter_path == "Device." => GetParameterNamesResponse {
                parameter_list: vec![ParameterInfoStruct { name: "Device.DeviceInfo.".into(), writable: false }],
            }
            .into(),
            Message::GetParameterNames(_) => GetParameterNamesResponse {
                parameter_list: vec![ParameterInfoStruct {
                    name: "Device.DeviceInfo.SerialNumber".into(),
                    writable: false,
                }],
            }
            .into(),
            Message::GetParameterValues(gpv) => GetParameterValuesResponse {
                parameter_list: gpv
                    .parameter_names
                    .iter()
                    .map(|n| ParameterValueStruct::new(format!("{n}X"), Value::new(XsdType::UnsignedInt, "1")))
                    .collect(),
            }
            .into(),
            Message::AddObject(_) => AddObjectResponse { instance_number: 4, status: 0 }.into(),
            Message::Download(_) => DownloadResponse { status: 1, ..Default::default() }.into(),
            Message::Reboot(_) => RebootResponse {}.into(),
            other => panic!("unexpected request {}", other.name()),
        };
        let mut env = Envelope::new(Namespace::Cwmp12, message);
        env.header.id = request.header.id.clone();
        env
    }

    /// Runs a long session twice: once on one node, once handed to a "new node" (checkpoint
    /// and resume) before every step. Both must send and write exactly the same things.
    #[test]
    fn a_resumed_session_continues_exactly_where_it_stopped() {
        let mut inform = Envelope::new(
            Namespace::Cwmp12,
            Inform {
                device_id: DeviceIdStruct {
                    manufacturer: "Acme".into(),
                    oui: "00D09E".into(),
                    product_class: "Box".into(),
                    serial_number: "S1".into(),
                },
                event: vec![EventStruct::new("0 BOOTSTRAP", "")],
                max_envelopes: 1,
                current_time: cwmp_wire::DateTime::Unknown,
                retry_count: 0,
                parameter_list: vec![],
            },
        );
        inform.header.id = Some("i".into());
        let accepted = accept_inform(&inform, &Version::ALL, 1000, None).unwrap();
        let download = TaskKind::Download {
            file: Some("fw.bin".into()),
            url: None,
            file_type: None,
            target_file_name: String::new(),
            delay_seconds: 0,
            username: String::new(),
            password: "secret".into(),
        };
        let tasks = vec![
            task(1, TaskKind::GetParameterValues { parameter_names: vec!["Device.A.".into()] }),
            task(2, TaskKind::GetParameterValues { parameter_names: vec!["Device.B.".into()] }),
            task(
                3,
                TaskKind::AddObject {
                    object_name: "Device.NAT.PortMapping.".into(),
                    parameter_values: vec![ValueSpec(
                        "ExternalPort".into(),
                        "8080".into(),
                        Some("xsd:unsignedInt".into()),
                    )],
                },
            ),
            task(4, download),
            task(
                5,
                TaskKind::SetParameterValues { parameter_values: vec![ValueSpec("Device.X".into(), "1".into(), None)] },
            ),
            task(6, TaskKind::Reboot),
        ];
        let mut inputs = SessionInputs {
            file_base_url: "http://acs/files/".into(),
            upload_base_url: "http://acs/upload/".into(),
            ..SessionInputs::default()
        };
        inputs.known_types.insert("Device.X".into(), "xsd:boolean".into());
        inputs.files.insert(
            "fw.bin".into(),
            FileMeta {
                id: 3,
                name: "fw.bin".into(),
                file_type: "1 Firmware Upgrade Image".into(),
                oui: String::new(),
                product_class: String::new(),
                version: "2".into(),
                size: 1234,
                sha256: "ab".into(),
                created_at: 1,
            },
        );
        let (one_node, first) = AcsSession::start(&accepted, device(), tasks, inputs, SessionConfig::default(), 1000);
        let mut one_node = one_node;
        let mut moving = AcsSession::resume(&one_node.checkpoint().unwrap(), SessionConfig::default()).unwrap();
        let mut request = soap(&first).clone();
        let mut methods = Vec::new();
        for now in 1001.. {
            // Hand the session to another node; the copy must be the same session.
            let saved = moving.checkpoint().unwrap();
            moving = AcsSession::resume(&saved, SessionConfig::default()).unwrap();
            assert_eq!(moving.checkpoint().unwrap(), saved);
            let input = match &request.message {
                Message::InformResponse(_) => None,
                _ => Some(answer(&request)),
            };
            let a = one_node.handle(input.clone(), now);
            let b = moving.handle(input, now);
            assert_eq!(a, b, "step at {now}");
            assert_eq!(one_node.checkpoint().unwrap(), moving.checkpoint().unwrap());
            if a.done {
                assert_eq!(a.reply, Reply::NoContent);
                break;
            }
            request = soap(&a).clone();
            methods.push(request.message.name().to_owned());
        }
        assert_eq!(
            methods,
            [
                "SetParameterValues", // connection request credentials
                "GetParameterNames",
                "GetParameterNames",
                "GetParameterNames",
                "GetParameterValues", // the bootstrap refresh
                "GetParameterValues", // tasks 1 and 2, batched
                "AddObject",
                "SetParameterValues",
                "GetParameterNames",
                "GetParameterNames",
                "GetParameterValues",
                "Download",
                "SetParameterValues",
                "Reboot",
            ]
        );
        // The Download waits for its TransferComplete, which the resumed copy still knows.
        assert!(moving.waiting.contains_key("task-4"));
        assert_eq!(moving.device().credentials, device().credentials);
    }

    /// Provisioning state (the planner's snapshot, declarations, the RPC in flight, keys of an
    /// instance just added) survives the move too: a session moved before every step converges
    /// the device exactly as one that stayed put.
    #[test]
    fn provisioning_moves_with_the_session() {
        use crate::provision::preset::{Configuration, Preset};
        use crate::provision::run::ProvisioningInputs;
        use cwmp_model::{Device as ModelDevice, Template, tr181};

        let preset = Preset {
            name: "lan".into(),
            channel: "lan".into(),
            weight: 0,
            precondition: String::new(),
            events: Default::default(),
            schedule: None,
            configurations: vec![
                Configuration::Value {
                    path: "Device.ManagementServer.PeriodicInformInterval".into(),
                    value: "300".into(),
                    value_type: None,
                },
                Configuration::AddTag { tag: "managed".into() },
                Configuration::Instances {
                    path: "Device.NAT.PortMapping.".into(),
                    keys: BTreeMap::from([("ExternalPort".into(), "8080".into())]),
                    count: 1,
                    values: BTreeMap::from([("Description".into(), "web".into())]),
                },
            ],
        };
        let mut inform = Envelope::new(
            Namespace::Cwmp12,
            Inform {
                device_id: DeviceIdStruct {
                    manufacturer: "Acme".into(),
                    oui: "00D09E".into(),
                    product_class: "Box".into(),
                    serial_number: "S1".into(),
                },
                event: vec![EventStruct::new("2 PERIODIC", "")],
                max_envelopes: 1,
                current_time: cwmp_wire::DateTime::Unknown,
                retry_count: 0,
                parameter_list: vec![],
            },
        );
        inform.header.id = Some("i".into());
        let accepted = accept_inform(&inform, &Version::ALL, 1000, None).unwrap();
        let inputs = SessionInputs {
            provisioning: Some(ProvisioningInputs { presets: vec![preset], ..ProvisioningInputs::default() }),
            ..SessionInputs::default()
        };
        let mut d = device();
        d.connection_request.username = Some("set".into());
        let (mut one_node, first) = AcsSession::start(&accepted, d, vec![], inputs, SessionConfig::default(), 1000);
        let mut moving = AcsSession::resume(&one_node.checkpoint().unwrap(), SessionConfig::default()).unwrap();
        let mut cpe_a = ModelDevice::new(Template::new(tr181()));
        let mut cpe_b = ModelDevice::new(Template::new(tr181()));
        let answer = |cpe: &mut ModelDevice, request: &Envelope| -> Envelope {
            let result: Result<Message, Fault> = match &request.message {
                Message::GetParameterNames(r) => cpe.get_parameter_names(r).map(Into::into),
                Message::GetParameterValues(r) => cpe.get_parameter_values(r).map(Into::into),
                Message::SetParameterValues(r) => cpe.set_parameter_values(r).map(Into::into),
                Message::AddObject(r) => cpe.add_object(r).map(Into::into),
                Message::DeleteObject(r) => cpe.delete_object(r).map(Into::into),
                other => panic!("unexpected request {}", other.name()),
            };
            let mut env = Envelope::new(Namespace::Cwmp12, result.unwrap_or_else(Message::Fault));
            env.header.id = request.header.id.clone();
            env
        };
        let mut request = soap(&first).clone();
        let mut methods = Vec::new();
        for now in 1001..1100 {
            moving = AcsSession::resume(&moving.checkpoint().unwrap(), SessionConfig::default()).unwrap();
            let (a_in, b_in) = match &request.message {
                Message::InformResponse(_) => (None, None),
                _ => (Some(answer(&mut cpe_a, &request)), Some(answer(&mut cpe_b, &request))),
            };
            let a = one_node.handle(a_in, now);
            let b = moving.handle(b_in, now);
            assert_eq!(a, b, "step at {now}");
            if a.done {
                break;
            }
            request = soap(&a).clone();
            methods.push(request.message.name().to_owned());
        }
        assert!(methods.contains(&"AddObject".to_owned()), "{methods:?}");
        let get = |cpe: &mut ModelDevice, path: &str| {
            let r = cpe.get_parameter_values(&GetParameterValues { parameter_names: vec![path.into()] }).unwrap();
            r.parameter_list.into_iter().map(|p| p.value.text).collect::<Vec<_>>()
        };
        assert_eq!(get(&mut cpe_b, "Device.NAT.PortMapping.1.ExternalPort"), vec!["8080"]);
        assert_eq!(get(&mut cpe_b, "Device.NAT.PortMapping.1.Description"), vec!["web"]);
        assert_eq!(get(&mut cpe_b, "Device.ManagementServer.PeriodicInformInterval"), vec!["300"]);
    }

    #[test]
    fn unreadable_checkpoints_are_refused() {
        assert!(AcsSession::resume("{", SessionConfig::default()).is_err());
        assert!(AcsSession::resume(r#"{"format": 99}"#, SessionConfig::default()).is_err());
    }
}
