//! Structures shared by several methods (TR-069 A.3, A.4), fields in schema order.

use crate::codec::{Array, IntIn, Name, Nested, Opt, OptionalText, StringMember, Text};
use crate::datetime::DateTime;
use crate::types::Value;
use crate::{array_member, cwmp_struct};

cwmp_struct! {
    /// A parameter and its value (A.3.2.1 Table 17).
    ParameterValueStruct {
        name: String = "Name" as Name,
        value: Value = "Value",
    }
}
array_member!(ParameterValueStruct);

impl ParameterValueStruct {
    pub fn new(name: impl Into<String>, value: Value) -> ParameterValueStruct {
        ParameterValueStruct { name: name.into(), value }
    }
}

cwmp_struct! {
    /// A GetParameterNames result entry (A.3.2.3 Table 22).
    ParameterInfoStruct {
        name: String = "Name" as Name,
        writable: bool = "Writable",
    }
}
array_member!(ParameterInfoStruct);

cwmp_struct! {
    /// One SetParameterAttributes entry (A.3.2.4 Table 24).
    SetParameterAttributesStruct {
        name: String = "Name" as Name,
        notification_change: bool = "NotificationChange",
        notification: i32 = "Notification" as IntIn<0, 6>,
        access_list_change: bool = "AccessListChange",
        access_list: Vec<String> = "AccessList" as Array<StringMember<64>>,
    }
}
array_member!(SetParameterAttributesStruct);

cwmp_struct! {
    /// A GetParameterAttributes result entry (A.3.2.5 Table 28).
    ParameterAttributeStruct {
        name: String = "Name" as Name,
        notification: i32 = "Notification" as IntIn<0, 6>,
        access_list: Vec<String> = "AccessList" as Array<StringMember<64>>,
    }
}
array_member!(ParameterAttributeStruct);

cwmp_struct! {
    /// The identity of a CPE (A.3.3.1 Table 36). OUI, ProductClass and SerialNumber never
    /// change for the life of the device.
    DeviceIdStruct {
        manufacturer: String = "Manufacturer" as Text<64>,
        /// Six upper-case hex digits.
        oui: String = "OUI" as Text<6>,
        product_class: String = "ProductClass" as Text<64>,
        serial_number: String = "SerialNumber" as Text<64>,
    }
}

impl DeviceIdStruct {
    /// Whether the OUI is six upper-case hex digits, as the schema requires.
    pub fn oui_is_valid(&self) -> bool {
        self.oui.len() == 6 && self.oui.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    }
}

cwmp_struct! {
    /// An Inform event (A.3.3.1 Table 37).
    EventStruct {
        event_code: String = "EventCode" as Text<64>,
        command_key: String = "CommandKey" as Text<32>,
    }
}
array_member!(EventStruct);

impl EventStruct {
    pub fn new(event_code: impl Into<String>, command_key: impl Into<String>) -> EventStruct {
        EventStruct { event_code: event_code.into(), command_key: command_key.into() }
    }
}

cwmp_struct! {
    /// The outcome of a transfer (A.3.3.2 Table 39): code 0 is success.
    FaultStruct {
        fault_code: u32 = "FaultCode",
        /// Required in the schema even when empty.
        fault_string: String = "FaultString" as Text<256>,
    }
}

impl FaultStruct {
    pub fn success() -> FaultStruct {
        FaultStruct::default()
    }
    pub fn is_success(&self) -> bool {
        self.fault_code == 0
    }
}

cwmp_struct! {
    /// A ScheduleDownload time window (A.4.1.8 Table 63). Times are seconds after the
    /// request was received.
    TimeWindowStruct {
        window_start: u32 = "WindowStart",
        window_end: u32 = "WindowEnd",
        window_mode: String = "WindowMode" as Text<64>,
        user_message: String = "UserMessage" as Text<256>,
        /// 0: no retries; -1: the CPE's own policy.
        max_retries: i32 = "MaxRetries",
    }
}
array_member!(TimeWindowStruct);

cwmp_struct! {
    /// A GetQueuedTransfers entry (A.4.1.1 Table 51).
    QueuedTransferStruct {
        command_key: String = "CommandKey" as Text<32>,
        /// 1 not started, 2 in progress, 3 completed and finishing.
        state: i32 = "State" as IntIn<1, 3>,
    }
}
array_member!(QueuedTransferStruct);

cwmp_struct! {
    /// A GetAllQueuedTransfers entry (A.4.1.7 Table 61).
    AllQueuedTransferStruct {
        command_key: String = "CommandKey" as Text<32>,
        state: i32 = "State" as IntIn<1, 3>,
        is_download: bool = "IsDownload",
        file_type: String = "FileType" as Text<64>,
        file_size: u32 = "FileSize",
        target_file_name: String = "TargetFileName" as Text<256>,
    }
}
array_member!(AllQueuedTransferStruct);

cwmp_struct! {
    /// A GetOptions entry (A.4.1.4 Table 56).
    OptionStruct {
        option_name: String = "OptionName" as Text<64>,
        voucher_sn: u32 = "VoucherSN",
        /// Bit 0 enabled, bit 1 setup.
        state: u32 = "State",
        /// 0 disabled, 1 enabled with expiration, 2 enabled without expiration.
        mode: i32 = "Mode" as IntIn<0, 2>,
        start_date: DateTime = "StartDate",
        expiration_date: Option<DateTime> = "ExpirationDate",
        /// The schema types this as an int 0/1, which the boolean codec reads and writes.
        is_transferable: bool = "IsTransferable",
    }
}
array_member!(OptionStruct);

cwmp_struct! {
    /// A RequestDownload argument (A.4.2.2 Table 77).
    ArgStruct {
        name: String = "Name" as Text<64>,
        value: String = "Value" as Text<256>,
    }
}
array_member!(ArgStruct);

cwmp_struct! {
    /// The fault of one deployment-unit operation; code 0 is success.
    DeploymentUnitFaultStruct {
        fault_code: u32 = "FaultCode",
        fault_string: String = "FaultString" as OptionalText<256>,
    }
}

cwmp_struct! {
    /// ChangeDUState Install operation (A.4.1.10 Table 69).
    InstallOpStruct {
        url: String = "URL" as Text<1024>,
        /// Absent or empty: the CPE generates it (Annex H).
        uuid: Option<String> = "UUID" as Opt<Text<36>>,
        username: Option<String> = "Username" as Opt<Text<256>>,
        password: Option<String> = "Password" as Opt<Text<256>>,
        execution_env_ref: Option<String> = "ExecutionEnvRef" as Opt<Text<256>>,
    }
}

cwmp_struct! {
    /// ChangeDUState Update operation (A.4.1.10 Table 70).
    UpdateOpStruct {
        uuid: Option<String> = "UUID" as Opt<Text<36>>,
        version: Option<String> = "Version" as Opt<Text<32>>,
        url: Option<String> = "URL" as Opt<Text<1024>>,
        username: Option<String> = "Username" as Opt<Text<256>>,
        password: Option<String> = "Password" as Opt<Text<256>>,
    }
}

cwmp_struct! {
    /// ChangeDUState Uninstall operation (A.4.1.10 Table 71).
    UninstallOpStruct {
        uuid: String = "UUID" as Text<36>,
        version: Option<String> = "Version" as Opt<Text<32>>,
        execution_env_ref: Option<String> = "ExecutionEnvRef" as Opt<Text<256>>,
    }
}

cwmp_struct! {
    /// The result of one deployment-unit operation (A.4.2.3 Table 80).
    OpResultStruct {
        uuid: String = "UUID" as Text<36>,
        deployment_unit_ref: String = "DeploymentUnitRef",
        version: String = "Version" as Text<32>,
        /// `Installed`, `Uninstalled` or `Failed`.
        current_state: String = "CurrentState",
        resolved: bool = "Resolved",
        /// Comma-separated ExecutionUnit paths.
        execution_unit_ref_list: String = "ExecutionUnitRefList",
        start_time: DateTime = "StartTime",
        complete_time: DateTime = "CompleteTime",
        fault: DeploymentUnitFaultStruct = "Fault" as Nested,
    }
}

cwmp_struct! {
    /// The result of an autonomous deployment-unit change (A.4.2.4 Table 82): an
    /// OpResultStruct followed by the operation performed.
    AutonOpResultStruct {
        uuid: String = "UUID" as Text<36>,
        deployment_unit_ref: String = "DeploymentUnitRef",
        version: String = "Version" as Text<32>,
        current_state: String = "CurrentState",
        resolved: bool = "Resolved",
        execution_unit_ref_list: String = "ExecutionUnitRefList",
        start_time: DateTime = "StartTime",
        complete_time: DateTime = "CompleteTime",
        fault: DeploymentUnitFaultStruct = "Fault" as Nested,
        /// `Install`, `Update`, `Uninstall` or a vendor string.
        operation_performed: String = "OperationPerformed",
    }
}
