//! Every CWMP method of Annex A, request and response, as one [`Message`] enum.

pub mod acs_methods;
pub mod cpe_methods;
pub mod operations;
pub mod structs;

pub use acs_methods::*;
pub use cpe_methods::*;
pub use operations::OperationStruct;
pub use structs::*;

use crate::codec::XmlStruct;
use crate::error::DecodeError;
use crate::fault::Fault;
use crate::xml::reader::Cursor;
use crate::xml::writer::XmlWriter;

/// Who answers a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Responder {
    Cpe,
    Acs,
    /// GetRPCMethods is answered by both.
    Both,
}

macro_rules! messages {
    ($( $variant:ident $tag:literal $responder:ident $(=> $response:ident)? ; )*) => {
        /// The content of a SOAP Body: one method request or response, or a fault.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Message {
            $( $variant($variant), )*
            /// A SOAP fault carrying a `cwmp:Fault`.
            Fault(Fault),
            /// A method this codec does not know: answer 9000 (CPE) or 8000 (ACS).
            Unknown(String),
        }

        impl Message {
            /// The element name of the method (`GetRPCMethods`, `InformResponse`, `Fault`).
            pub fn name(&self) -> &str {
                match self {
                    $( Message::$variant(_) => $tag, )*
                    Message::Fault(_) => "Fault",
                    Message::Unknown(name) => name,
                }
            }

            /// Every method element name this codec knows.
            pub const NAMES: &'static [&'static str] = &[$($tag,)*];

            pub(crate) fn decode_method(name: &str, cur: &mut Cursor<'_>) -> Result<Message, DecodeError> {
                Ok(match name {
                    $( $tag => Message::$variant($variant::decode_fields(cur)?), )*
                    other => {
                        cur.skip()?;
                        Message::Unknown(other.to_owned())
                    }
                })
            }

            pub(crate) fn encode_method(&self, w: &mut XmlWriter) -> bool {
                match self {
                    $( Message::$variant(m) => {
                        w.open(concat!("cwmp:", $tag));
                        m.encode_fields(w);
                        w.close(concat!("cwmp:", $tag));
                    } )*
                    Message::Fault(_) => return false,
                    Message::Unknown(name) => {
                        let tag = format!("cwmp:{name}");
                        w.open(&tag);
                        w.close(&tag);
                    }
                }
                true
            }

            #[cfg(test)]
            pub(crate) fn strategy() -> proptest::strategy::BoxedStrategy<Message> {
                use proptest::strategy::Strategy;
                proptest::strategy::Union::new(vec![
                    $( $variant::strategy().prop_map(Message::$variant).boxed(), )*
                    Fault::strategy().prop_map(Message::Fault).boxed(),
                ])
                .boxed()
            }
        }

        $(
            impl From<$variant> for Message {
                fn from(m: $variant) -> Message {
                    Message::$variant(m)
                }
            }
        )*

        /// Who answers the request named `name`, or `None` for responses and unknown names.
        pub fn responder(name: &str) -> Option<Responder> {
            match name {
                $( $tag => messages!(@responder $responder $(, $response)?), )*
                _ => None,
            }
        }
    };
    (@responder $r:ident, $response:ident) => { Some(Responder::$r) };
    (@responder $r:ident) => { None };
}

messages! {
    GetRpcMethods "GetRPCMethods" Both => GetRpcMethodsResponse;
    GetRpcMethodsResponse "GetRPCMethodsResponse" Both;
    SetParameterValues "SetParameterValues" Cpe => SetParameterValuesResponse;
    SetParameterValuesResponse "SetParameterValuesResponse" Cpe;
    GetParameterValues "GetParameterValues" Cpe => GetParameterValuesResponse;
    GetParameterValuesResponse "GetParameterValuesResponse" Cpe;
    GetParameterNames "GetParameterNames" Cpe => GetParameterNamesResponse;
    GetParameterNamesResponse "GetParameterNamesResponse" Cpe;
    SetParameterAttributes "SetParameterAttributes" Cpe => SetParameterAttributesResponse;
    SetParameterAttributesResponse "SetParameterAttributesResponse" Cpe;
    GetParameterAttributes "GetParameterAttributes" Cpe => GetParameterAttributesResponse;
    GetParameterAttributesResponse "GetParameterAttributesResponse" Cpe;
    AddObject "AddObject" Cpe => AddObjectResponse;
    AddObjectResponse "AddObjectResponse" Cpe;
    DeleteObject "DeleteObject" Cpe => DeleteObjectResponse;
    DeleteObjectResponse "DeleteObjectResponse" Cpe;
    Download "Download" Cpe => DownloadResponse;
    DownloadResponse "DownloadResponse" Cpe;
    Reboot "Reboot" Cpe => RebootResponse;
    RebootResponse "RebootResponse" Cpe;
    GetQueuedTransfers "GetQueuedTransfers" Cpe => GetQueuedTransfersResponse;
    GetQueuedTransfersResponse "GetQueuedTransfersResponse" Cpe;
    ScheduleInform "ScheduleInform" Cpe => ScheduleInformResponse;
    ScheduleInformResponse "ScheduleInformResponse" Cpe;
    SetVouchers "SetVouchers" Cpe => SetVouchersResponse;
    SetVouchersResponse "SetVouchersResponse" Cpe;
    GetOptions "GetOptions" Cpe => GetOptionsResponse;
    GetOptionsResponse "GetOptionsResponse" Cpe;
    Upload "Upload" Cpe => UploadResponse;
    UploadResponse "UploadResponse" Cpe;
    FactoryReset "FactoryReset" Cpe => FactoryResetResponse;
    FactoryResetResponse "FactoryResetResponse" Cpe;
    GetAllQueuedTransfers "GetAllQueuedTransfers" Cpe => GetAllQueuedTransfersResponse;
    GetAllQueuedTransfersResponse "GetAllQueuedTransfersResponse" Cpe;
    ScheduleDownload "ScheduleDownload" Cpe => ScheduleDownloadResponse;
    ScheduleDownloadResponse "ScheduleDownloadResponse" Cpe;
    CancelTransfer "CancelTransfer" Cpe => CancelTransferResponse;
    CancelTransferResponse "CancelTransferResponse" Cpe;
    ChangeDuState "ChangeDUState" Cpe => ChangeDuStateResponse;
    ChangeDuStateResponse "ChangeDUStateResponse" Cpe;
    Inform "Inform" Acs => InformResponse;
    InformResponse "InformResponse" Acs;
    TransferComplete "TransferComplete" Acs => TransferCompleteResponse;
    TransferCompleteResponse "TransferCompleteResponse" Acs;
    AutonomousTransferComplete "AutonomousTransferComplete" Acs => AutonomousTransferCompleteResponse;
    AutonomousTransferCompleteResponse "AutonomousTransferCompleteResponse" Acs;
    Kicked "Kicked" Acs => KickedResponse;
    KickedResponse "KickedResponse" Acs;
    RequestDownload "RequestDownload" Acs => RequestDownloadResponse;
    RequestDownloadResponse "RequestDownloadResponse" Acs;
    DuStateChangeComplete "DUStateChangeComplete" Acs => DuStateChangeCompleteResponse;
    DuStateChangeCompleteResponse "DUStateChangeCompleteResponse" Acs;
    AutonomousDuStateChangeComplete "AutonomousDUStateChangeComplete" Acs => AutonomousDuStateChangeCompleteResponse;
    AutonomousDuStateChangeCompleteResponse "AutonomousDUStateChangeCompleteResponse" Acs;
}

impl Message {
    /// Whether the message is a request (a method call), as opposed to a response or fault.
    pub fn is_request(&self) -> bool {
        match self {
            Message::Fault(_) => false,
            Message::Unknown(name) => !name.ends_with("Response"),
            other => responder(other.name()).is_some(),
        }
    }
}
