//! Methods the ACS answers (A.3.3, A.4.2), requests and responses, fields in schema order.
//! GetRPCMethods, which both sides answer, is in `cpe_methods`.

use crate::codec::{Nested, Opt, Repeated, Text};
use crate::cwmp_struct;
use crate::datetime::DateTime;
use crate::rpc::structs::*;

cwmp_struct! {
    /// A.3.3.1
    Inform {
        device_id: DeviceIdStruct = "DeviceId",
        /// At most 64 events; may be empty.
        event: Vec<EventStruct> = "Event",
        /// Always sent as 1 and ignored on receipt.
        max_envelopes: u32 = "MaxEnvelopes",
        /// Local time with its UTC offset.
        current_time: DateTime = "CurrentTime",
        retry_count: u32 = "RetryCount",
        parameter_list: Vec<ParameterValueStruct> = "ParameterList",
    }
}
cwmp_struct! {
    InformResponse {
        max_envelopes: u32 = "MaxEnvelopes",
    }
}

cwmp_struct! {
    /// A.3.3.2
    TransferComplete {
        command_key: String = "CommandKey" as Text<32>,
        fault_struct: FaultStruct = "FaultStruct",
        start_time: DateTime = "StartTime",
        complete_time: DateTime = "CompleteTime",
    }
}
cwmp_struct! {
    TransferCompleteResponse {}
}

cwmp_struct! {
    /// A.3.3.3
    AutonomousTransferComplete {
        announce_url: String = "AnnounceURL" as Text<1024>,
        transfer_url: String = "TransferURL" as Text<1024>,
        is_download: bool = "IsDownload",
        file_type: String = "FileType" as Text<64>,
        file_size: u32 = "FileSize",
        target_file_name: String = "TargetFileName" as Text<256>,
        fault_struct: FaultStruct = "FaultStruct",
        start_time: DateTime = "StartTime",
        complete_time: DateTime = "CompleteTime",
    }
}
cwmp_struct! {
    AutonomousTransferCompleteResponse {}
}

cwmp_struct! {
    /// A.4.2.1 (deprecated)
    Kicked {
        command: String = "Command" as Text<32>,
        referer: String = "Referer" as Text<64>,
        arg: String = "Arg" as Text<256>,
        next: String = "Next" as Text<1024>,
    }
}
cwmp_struct! {
    KickedResponse {
        next_url: String = "NextURL" as Text<1024>,
    }
}

cwmp_struct! {
    /// A.4.2.2
    RequestDownload {
        file_type: String = "FileType" as Text<64>,
        file_type_arg: Vec<ArgStruct> = "FileTypeArg",
    }
}
cwmp_struct! {
    RequestDownloadResponse {}
}

cwmp_struct! {
    /// A.4.2.3: one result per operation, in request order.
    DuStateChangeComplete {
        results: Vec<OpResultStruct> = "Results" as Repeated<Nested>,
        command_key: Option<String> = "CommandKey" as Opt<Text<32>>,
    }
}
cwmp_struct! {
    DuStateChangeCompleteResponse {}
}

cwmp_struct! {
    /// A.4.2.4
    AutonomousDuStateChangeComplete {
        results: Vec<AutonOpResultStruct> = "Results" as Repeated<Nested>,
    }
}
cwmp_struct! {
    AutonomousDuStateChangeCompleteResponse {}
}
