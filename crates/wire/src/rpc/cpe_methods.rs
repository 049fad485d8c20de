//! Methods the CPE answers (A.3.1, A.3.2, A.4.1), requests and responses, fields in schema
//! order.

use crate::codec::{Array, Base64Member, IntIn, Name, NameMember, Opt, Repeated, StringMember, Text, UIntFrom};
use crate::cwmp_struct;
use crate::datetime::DateTime;
use crate::rpc::operations::{OperationCodec, OperationStruct};
use crate::rpc::structs::*;

cwmp_struct! {
    /// A.3.1.1: the methods the receiver supports (both directions).
    GetRpcMethods {}
}
cwmp_struct! {
    GetRpcMethodsResponse {
        method_list: Vec<String> = "MethodList" as Array<StringMember<64>>,
    }
}

cwmp_struct! {
    /// A.3.2.1
    SetParameterValues {
        parameter_list: Vec<ParameterValueStruct> = "ParameterList",
        parameter_key: String = "ParameterKey" as Text<32>,
    }
}
cwmp_struct! {
    SetParameterValuesResponse {
        /// 0: applied; 1: committed, applied later.
        status: i32 = "Status" as IntIn<0, 1>,
    }
}

cwmp_struct! {
    /// A.3.2.2
    GetParameterValues {
        parameter_names: Vec<String> = "ParameterNames" as Array<NameMember>,
    }
}
cwmp_struct! {
    GetParameterValuesResponse {
        parameter_list: Vec<ParameterValueStruct> = "ParameterList",
    }
}

cwmp_struct! {
    /// A.3.2.3
    GetParameterNames {
        parameter_path: String = "ParameterPath" as Name,
        next_level: bool = "NextLevel",
    }
}
cwmp_struct! {
    GetParameterNamesResponse {
        parameter_list: Vec<ParameterInfoStruct> = "ParameterList",
    }
}

cwmp_struct! {
    /// A.3.2.4
    SetParameterAttributes {
        parameter_list: Vec<SetParameterAttributesStruct> = "ParameterList",
    }
}
cwmp_struct! {
    SetParameterAttributesResponse {}
}

cwmp_struct! {
    /// A.3.2.5
    GetParameterAttributes {
        parameter_names: Vec<String> = "ParameterNames" as Array<NameMember>,
    }
}
cwmp_struct! {
    GetParameterAttributesResponse {
        parameter_list: Vec<ParameterAttributeStruct> = "ParameterList",
    }
}

cwmp_struct! {
    /// A.3.2.6
    AddObject {
        object_name: String = "ObjectName" as Name,
        parameter_key: String = "ParameterKey" as Text<32>,
    }
}
cwmp_struct! {
    AddObjectResponse {
        instance_number: u32 = "InstanceNumber" as UIntFrom<1>,
        status: i32 = "Status" as IntIn<0, 1>,
    }
}

cwmp_struct! {
    /// A.3.2.7
    DeleteObject {
        object_name: String = "ObjectName" as Name,
        parameter_key: String = "ParameterKey" as Text<32>,
    }
}
cwmp_struct! {
    DeleteObjectResponse {
        status: i32 = "Status" as IntIn<0, 1>,
    }
}

cwmp_struct! {
    /// A.3.2.8
    Download {
        command_key: String = "CommandKey" as Text<32>,
        file_type: String = "FileType" as Text<64>,
        url: String = "URL" as Text<256>,
        username: String = "Username" as Text<256>,
        password: String = "Password" as Text<256>,
        /// A hint; 0 when unknown.
        file_size: u32 = "FileSize",
        target_file_name: String = "TargetFileName" as Text<256>,
        delay_seconds: u32 = "DelaySeconds",
        success_url: String = "SuccessURL" as Text<256>,
        failure_url: String = "FailureURL" as Text<256>,
    }
}
cwmp_struct! {
    DownloadResponse {
        /// 0: done and applied; 1: a TransferComplete will follow.
        status: i32 = "Status" as IntIn<0, 1>,
        start_time: DateTime = "StartTime",
        complete_time: DateTime = "CompleteTime",
    }
}

cwmp_struct! {
    /// A.3.2.9
    Reboot {
        command_key: String = "CommandKey" as Text<32>,
    }
}
cwmp_struct! {
    RebootResponse {}
}

cwmp_struct! {
    /// A.4.1.1 (deprecated)
    GetQueuedTransfers {}
}
cwmp_struct! {
    GetQueuedTransfersResponse {
        transfer_list: Vec<QueuedTransferStruct> = "TransferList",
    }
}

cwmp_struct! {
    /// A.4.1.2
    ScheduleInform {
        delay_seconds: u32 = "DelaySeconds",
        command_key: String = "CommandKey" as Text<32>,
    }
}
cwmp_struct! {
    ScheduleInformResponse {}
}

cwmp_struct! {
    /// A.4.1.3 (deprecated)
    SetVouchers {
        voucher_list: Vec<String> = "VoucherList" as Array<Base64Member>,
    }
}
cwmp_struct! {
    SetVouchersResponse {}
}

cwmp_struct! {
    /// A.4.1.4 (deprecated)
    GetOptions {
        option_name: String = "OptionName" as Text<64>,
    }
}
cwmp_struct! {
    GetOptionsResponse {
        option_list: Vec<OptionStruct> = "OptionList",
    }
}

cwmp_struct! {
    /// A.4.1.5
    Upload {
        command_key: String = "CommandKey" as Text<32>,
        file_type: String = "FileType" as Text<64>,
        url: String = "URL" as Text<256>,
        username: String = "Username" as Text<256>,
        password: String = "Password" as Text<256>,
        delay_seconds: u32 = "DelaySeconds",
    }
}
cwmp_struct! {
    UploadResponse {
        status: i32 = "Status" as IntIn<0, 1>,
        start_time: DateTime = "StartTime",
        complete_time: DateTime = "CompleteTime",
    }
}

cwmp_struct! {
    /// A.4.1.6
    FactoryReset {}
}
cwmp_struct! {
    FactoryResetResponse {}
}

cwmp_struct! {
    /// A.4.1.7
    GetAllQueuedTransfers {}
}
cwmp_struct! {
    GetAllQueuedTransfersResponse {
        transfer_list: Vec<AllQueuedTransferStruct> = "TransferList",
    }
}

cwmp_struct! {
    /// A.4.1.8
    ScheduleDownload {
        command_key: String = "CommandKey" as Text<32>,
        file_type: String = "FileType" as Text<64>,
        url: String = "URL" as Text<256>,
        username: String = "Username" as Text<256>,
        password: String = "Password" as Text<256>,
        file_size: u32 = "FileSize",
        target_file_name: String = "TargetFileName" as Text<256>,
        time_window_list: Vec<TimeWindowStruct> = "TimeWindowList",
    }
}
cwmp_struct! {
    ScheduleDownloadResponse {}
}

cwmp_struct! {
    /// A.4.1.9
    CancelTransfer {
        command_key: String = "CommandKey" as Text<32>,
    }
}
cwmp_struct! {
    CancelTransferResponse {}
}

cwmp_struct! {
    /// A.4.1.10
    ChangeDuState {
        operations: Vec<OperationStruct> = "Operations" as Repeated<OperationCodec>,
        command_key: Option<String> = "CommandKey" as Opt<Text<32>>,
    }
}
cwmp_struct! {
    ChangeDuStateResponse {}
}
