//! Operator tasks: work queued for one device and carried out in its next session
//! (issue "ACS core" §4). Each kind maps onto one CWMP method (or, for `refreshObject`, a
//! GetParameterNames followed by GetParameterValues).
//!
//! The JSON shape follows GenieACS's task API (`{"name": "getParameterValues",
//! "parameterNames": [...]}`) so existing operator tooling carries over.

use serde::{Deserialize, Serialize};

/// One parameter value to set: `[path, value]` or `[path, value, xsdType]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueSpec(
    pub String,
    pub String,
    #[serde(default, skip_serializing_if = "Option::is_none")] pub Option<String>,
);

/// An attribute change for setParameterAttributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributeSpec {
    pub name: String,
    /// New notification (0-6), or unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<i32>,
    /// New access list, or unchanged when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_list: Option<Vec<String>>,
}

/// A ScheduleDownload window (A.4.1.8), offsets in seconds from the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowSpec {
    pub window_start: u32,
    pub window_end: u32,
    #[serde(default = "default_window_mode")]
    pub window_mode: String,
    #[serde(default)]
    pub user_message: String,
    #[serde(default = "minus_one")]
    pub max_retries: i32,
}

fn default_window_mode() -> String {
    "1 At Any Time".into()
}
fn minus_one() -> i32 {
    -1
}

/// A ChangeDUState operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum DuOperationSpec {
    #[serde(rename_all = "camelCase")]
    Install {
        url: String,
        #[serde(default)]
        uuid: Option<String>,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
        #[serde(default)]
        execution_env_ref: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Update {
        #[serde(default)]
        uuid: Option<String>,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        username: Option<String>,
        #[serde(default)]
        password: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Uninstall {
        uuid: String,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        execution_env_ref: Option<String>,
    },
}

/// What a task does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "camelCase")]
pub enum TaskKind {
    #[serde(rename_all = "camelCase")]
    GetParameterValues {
        parameter_names: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    SetParameterValues {
        parameter_values: Vec<ValueSpec>,
    },
    /// Re-read an object's subtree: names (GetParameterNames) then values.
    #[serde(rename_all = "camelCase")]
    RefreshObject {
        object_name: String,
    },
    /// Create an instance, then optionally set values inside it (paths relative to it).
    #[serde(rename_all = "camelCase")]
    AddObject {
        object_name: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        parameter_values: Vec<ValueSpec>,
    },
    #[serde(rename_all = "camelCase")]
    DeleteObject {
        object_name: String,
    },
    #[serde(rename_all = "camelCase")]
    GetParameterAttributes {
        parameter_names: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    SetParameterAttributes {
        parameters: Vec<AttributeSpec>,
    },
    Reboot,
    FactoryReset,
    /// A file from the ACS's store (`file`) or any URL (`url`).
    #[serde(rename_all = "camelCase")]
    Download {
        #[serde(default)]
        file: Option<String>,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        file_type: Option<String>,
        #[serde(default)]
        target_file_name: String,
        #[serde(default)]
        delay_seconds: u32,
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
    },
    /// Upload to `url`, or to the ACS's own upload endpoint when absent.
    #[serde(rename_all = "camelCase")]
    Upload {
        file_type: String,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        delay_seconds: u32,
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
    },
    #[serde(rename_all = "camelCase")]
    ScheduleInform {
        delay_seconds: u32,
    },
    #[serde(rename_all = "camelCase")]
    ScheduleDownload {
        #[serde(default)]
        file: Option<String>,
        #[serde(default)]
        url: Option<String>,
        #[serde(default)]
        file_type: Option<String>,
        #[serde(default)]
        target_file_name: String,
        time_windows: Vec<WindowSpec>,
        #[serde(default)]
        username: String,
        #[serde(default)]
        password: String,
    },
    #[serde(rename_all = "camelCase")]
    CancelTransfer {
        command_key: String,
    },
    GetAllQueuedTransfers,
    #[serde(rename_all = "camelCase")]
    ChangeDuState {
        operations: Vec<DuOperationSpec>,
    },
    GetRpcMethods,
}

impl TaskKind {
    /// Whether completion is reported later by TransferComplete or DUStateChangeComplete.
    pub fn is_asynchronous(&self) -> bool {
        matches!(
            self,
            TaskKind::Download { .. }
                | TaskKind::Upload { .. }
                | TaskKind::ScheduleDownload { .. }
                | TaskKind::ChangeDuState { .. }
        )
    }

    /// Checks what can be checked before the device sees the task.
    pub fn validate(&self) -> Result<(), String> {
        let path = |p: &str| cwmp_wire::Path::parse(p).map(|_| ()).map_err(|e| format!("{p:?}: {e}"));
        match self {
            TaskKind::GetParameterValues { parameter_names } | TaskKind::GetParameterAttributes { parameter_names } => {
                if parameter_names.is_empty() {
                    return Err("parameterNames must not be empty".into());
                }
                parameter_names.iter().try_for_each(|p| path(p))
            }
            TaskKind::SetParameterValues { parameter_values } => {
                if parameter_values.is_empty() {
                    return Err("parameterValues must not be empty".into());
                }
                for ValueSpec(name, value, ty) in parameter_values {
                    path(name)?;
                    if name.ends_with('.') {
                        return Err(format!("{name:?} is an object, not a parameter"));
                    }
                    if let Some(ty) = ty {
                        cwmp_wire::XsdType::from_name(ty).check(value).map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }
            TaskKind::RefreshObject { object_name } => path(object_name),
            TaskKind::AddObject { object_name, .. } | TaskKind::DeleteObject { object_name } => {
                path(object_name)?;
                if !object_name.ends_with('.') {
                    return Err(format!("{object_name:?} must end with '.'"));
                }
                Ok(())
            }
            TaskKind::SetParameterAttributes { parameters } => {
                if parameters.is_empty() {
                    return Err("parameters must not be empty".into());
                }
                for p in parameters {
                    path(&p.name)?;
                    if let Some(n) = p.notification
                        && !(0..=6).contains(&n)
                    {
                        return Err(format!("notification {n} is outside 0-6"));
                    }
                }
                Ok(())
            }
            TaskKind::Download { file, url, .. } | TaskKind::ScheduleDownload { file, url, .. } => {
                if file.is_some() == url.is_some() {
                    return Err("give exactly one of file and url".into());
                }
                if let TaskKind::ScheduleDownload { time_windows, .. } = self {
                    check_windows(time_windows)?;
                }
                Ok(())
            }
            TaskKind::ScheduleInform { delay_seconds } if *delay_seconds == 0 => {
                Err("delaySeconds must be greater than 0".into())
            }
            TaskKind::ChangeDuState { operations } if operations.is_empty() => {
                Err("operations must not be empty".into())
            }
            _ => Ok(()),
        }
    }
}

/// TR-069 A.4.1.8: one or two windows, each with start <= end, not overlapping.
fn check_windows(windows: &[WindowSpec]) -> Result<(), String> {
    if windows.is_empty() || windows.len() > 2 {
        return Err("timeWindows must hold one or two windows".into());
    }
    if windows.iter().any(|w| w.window_end < w.window_start) {
        return Err("a window ends before it starts".into());
    }
    if windows.len() == 2 && windows[1].window_start < windows[0].window_end {
        return Err("windows overlap".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_follows_genieacs() {
        let t: TaskKind =
            serde_json::from_str(r#"{"name":"getParameterValues","parameterNames":["Device.DeviceInfo."]}"#).unwrap();
        assert_eq!(t, TaskKind::GetParameterValues { parameter_names: vec!["Device.DeviceInfo.".into()] });
        let t: TaskKind = serde_json::from_str(
            r#"{"name":"setParameterValues","parameterValues":[["Device.X","1","xsd:boolean"],["Device.Y","a"]]}"#,
        )
        .unwrap();
        let TaskKind::SetParameterValues { parameter_values } = &t else { panic!() };
        assert_eq!(parameter_values[0].2.as_deref(), Some("xsd:boolean"));
        assert_eq!(serde_json::to_value(TaskKind::Reboot).unwrap(), serde_json::json!({"name": "reboot"}));
    }

    #[test]
    fn validation() {
        assert!(TaskKind::GetParameterValues { parameter_names: vec![] }.validate().is_err());
        assert!(TaskKind::DeleteObject { object_name: "Device.X.1".into() }.validate().is_err());
        assert!(TaskKind::ScheduleInform { delay_seconds: 0 }.validate().is_err());
        let bad = TaskKind::SetParameterValues {
            parameter_values: vec![ValueSpec("Device.X".into(), "abc".into(), Some("unsignedInt".into()))],
        };
        assert!(bad.validate().is_err());
        let w = |s, e| WindowSpec {
            window_start: s,
            window_end: e,
            window_mode: default_window_mode(),
            user_message: String::new(),
            max_retries: -1,
        };
        assert!(check_windows(&[w(0, 10), w(10, 20)]).is_ok());
        assert!(check_windows(&[w(0, 10), w(5, 20)]).is_err());
        assert!(check_windows(&[]).is_err());
        assert!(check_windows(&[w(10, 5)]).is_err());
    }
}
