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
use crate::xml::name::is_ncname;
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
            Unknown(UnknownMethod),
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
                        // The local part of a name the reader checked is an NCName.
                        Message::Unknown(UnknownMethod(other.to_owned()))
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
                        let tag = format!("cwmp:{}", name.as_str());
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
            other => is_request(other.name()),
        }
    }
}

/// Whether the method element named `name` is a request: a known request, or an unknown
/// method whose name does not end in `Response`.
pub fn is_request(name: &str) -> bool {
    responder(name).is_some() || !(Message::NAMES.contains(&name) || name.ends_with("Response"))
}

/// The name of a method this codec does not know (`X_ACME_COM_Foo`), as carried by
/// [`Message::Unknown`].
///
/// The encoder writes it as the tag `cwmp:{name}`, so it must be an XML `NCName` (Namespaces
/// in XML 1.0 4): the name is checked when the value is made, and a message with a name XML
/// does not allow cannot be built, hence neither encoded nor sent. The decoder refuses such a
/// name in its input ([`ErrorKind::InvalidName`](crate::ErrorKind::InvalidName)). The name of
/// a method the codec knows is refused too: it would be written as an empty, invalid request
/// of that method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnknownMethod(String);

/// Why a name cannot be an [`UnknownMethod`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownMethodError {
    #[error("{0:?} is not an XML NCName")]
    NotNcName(String),
    #[error("{0} is a method the codec knows")]
    Known(String),
}

impl UnknownMethod {
    pub fn new(name: impl Into<String>) -> Result<UnknownMethod, UnknownMethodError> {
        let name = name.into();
        if !is_ncname(&name) {
            Err(UnknownMethodError::NotNcName(crate::error::clip(&name)))
        } else if Message::NAMES.contains(&name.as_str()) {
            Err(UnknownMethodError::Known(name))
        } else {
            Ok(UnknownMethod(name))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for UnknownMethod {
    type Err = UnknownMethodError;
    fn from_str(name: &str) -> Result<UnknownMethod, UnknownMethodError> {
        UnknownMethod::new(name)
    }
}

impl std::ops::Deref for UnknownMethod {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UnknownMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::{Message, UnknownMethod, UnknownMethodError, is_request};

    #[test]
    fn unknown_method_names_are_checked() {
        assert_eq!(UnknownMethod::new("X_ACME_COM_Foo").unwrap().as_str(), "X_ACME_COM_Foo");
        for bad in ["m|/", "", "cwmp:Foo", "a b", "1Foo", "Foo>"] {
            assert!(matches!(UnknownMethod::new(bad), Err(UnknownMethodError::NotNcName(_))), "{bad:?}");
        }
        assert_eq!("Inform".parse::<UnknownMethod>(), Err(UnknownMethodError::Known("Inform".into())));
    }

    #[test]
    fn requests_by_name() {
        assert!(is_request("Inform") && is_request("GetRPCMethods") && is_request("X_ACME_Foo"));
        assert!(!is_request("InformResponse") && !is_request("X_ACME_FooResponse"));
        let unknown = |name: &str| Message::Unknown(name.parse().unwrap());
        assert!(unknown("X_ACME_Foo").is_request());
        assert!(!unknown("X_ACME_FooResponse").is_request());
    }
}
