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

    /// Checks what can be checked before the device sees the task. The error starts with the
    /// name of the JSON field at fault.
    pub fn validate(&self) -> Result<(), String> {
        let path =
            |field: &str, p: &str| cwmp_wire::Path::parse(p).map(|_| ()).map_err(|e| format!("{field}: {p:?}: {e}"));
        match self {
            TaskKind::GetParameterValues { parameter_names } | TaskKind::GetParameterAttributes { parameter_names } => {
                if parameter_names.is_empty() {
                    return Err("parameterNames must not be empty".into());
                }
                parameter_names.iter().try_for_each(|p| path("parameterNames", p))
            }
            TaskKind::SetParameterValues { parameter_values } => {
                if parameter_values.is_empty() {
                    return Err("parameterValues must not be empty".into());
                }
                for ValueSpec(name, value, ty) in parameter_values {
                    path("parameterValues", name)?;
                    if name.ends_with('.') {
                        return Err(format!("parameterValues: {name:?} is an object, not a parameter"));
                    }
                    if let Some(ty) = ty {
                        cwmp_wire::XsdType::from_name(ty)
                            .check(value)
                            .map_err(|e| format!("parameterValues: {name:?}: {e}"))?;
                    }
                }
                Ok(())
            }
            TaskKind::RefreshObject { object_name } => path("objectName", object_name),
            TaskKind::AddObject { object_name, .. } | TaskKind::DeleteObject { object_name } => {
                path("objectName", object_name)?;
                if !object_name.ends_with('.') {
                    return Err(format!("objectName {object_name:?} must end with '.'"));
                }
                Ok(())
            }
            TaskKind::SetParameterAttributes { parameters } => {
                if parameters.is_empty() {
                    return Err("parameters must not be empty".into());
                }
                for p in parameters {
                    path("parameters", &p.name)?;
                    if let Some(n) = p.notification
                        && !(0..=6).contains(&n)
                    {
                        return Err(format!("parameters: the notification {n} of {:?} is outside 0-6", p.name));
                    }
                }
                Ok(())
            }
            TaskKind::Download { file, url, .. } | TaskKind::ScheduleDownload { file, url, .. } => {
                if file.is_some() == url.is_some() {
                    return Err("file and url: give exactly one of them".into());
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
        return Err("timeWindows: a window ends before it starts".into());
    }
    if windows.len() == 2 && windows[1].window_start < windows[0].window_end {
        return Err("timeWindows: the windows overlap".into());
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

    /// Each invalid task is refused with an error that starts with the field at fault.
    #[test]
    fn validation_errors_name_the_field() {
        let cases = [
            (serde_json::json!({"name": "getParameterValues", "parameterNames": []}), "parameterNames"),
            (serde_json::json!({"name": "getParameterAttributes", "parameterNames": ["Device..X"]}), "parameterNames"),
            (serde_json::json!({"name": "setParameterValues", "parameterValues": []}), "parameterValues"),
            (
                serde_json::json!({"name": "setParameterValues", "parameterValues": [["Device.X", "abc", "unsignedInt"]]}),
                "parameterValues",
            ),
            (
                serde_json::json!({"name": "setParameterValues", "parameterValues": [["Device.X.", "1"]]}),
                "parameterValues",
            ),
            (serde_json::json!({"name": "refreshObject", "objectName": "Device..X."}), "objectName"),
            (serde_json::json!({"name": "deleteObject", "objectName": "Device.X.1"}), "objectName"),
            (serde_json::json!({"name": "addObject", "objectName": "Device.X"}), "objectName"),
            (serde_json::json!({"name": "setParameterAttributes", "parameters": []}), "parameters"),
            (
                serde_json::json!({"name": "setParameterAttributes", "parameters": [{"name": "Device.X", "notification": 7}]}),
                "parameters",
            ),
            (serde_json::json!({"name": "download", "fileType": "1 Firmware Upgrade Image"}), "file and url"),
            (serde_json::json!({"name": "scheduleInform", "delaySeconds": 0}), "delaySeconds"),
            (serde_json::json!({"name": "changeDuState", "operations": []}), "operations"),
        ];
        for (json, field) in cases {
            let task: TaskKind = serde_json::from_value(json.clone()).unwrap();
            let e = task.validate().unwrap_err();
            assert!(e.starts_with(field), "{json}: {e}");
        }
        let w = |s, e| WindowSpec {
            window_start: s,
            window_end: e,
            window_mode: default_window_mode(),
            user_message: String::new(),
            max_retries: -1,
        };
        assert!(check_windows(&[w(0, 10), w(10, 20)]).is_ok());
        for windows in [vec![w(0, 10), w(5, 20)], vec![], vec![w(10, 5)], vec![w(0, 1), w(2, 3), w(4, 5)]] {
            let e = check_windows(&windows).unwrap_err();
            assert!(e.starts_with("timeWindows"), "{windows:?}: {e}");
        }
    }
}
