//! CWMP fault codes (TR-069 A.5, Tables 87 and 88) and the SOAP fault body (3.5).

use std::fmt;

/// Who is at fault, written as the SOAP `faultcode` (`Client` or `Server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultType {
    /// The requester sent something wrong.
    Client,
    /// The responder could not carry out a valid request.
    Server,
}

impl FaultType {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultType::Client => "Client",
            FaultType::Server => "Server",
        }
    }
}

macro_rules! fault_codes {
    ($( $code:literal $name:ident $ty:ident $desc:literal, )*) => {
        /// A CWMP fault code: the CPE codes 9000-9032, the ACS codes 8000-8006, and any other
        /// number (vendor ranges 9800-9899 and 8800-8899, or codes this version does not know).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FaultCode {
            $( #[doc = $desc] $name, )*
            /// A code outside the tables: vendor-defined or reserved.
            Other(u32),
        }

        impl FaultCode {
            /// Every code of Tables 87 and 88.
            pub const KNOWN: &'static [FaultCode] = &[$(FaultCode::$name,)*];

            pub fn from_u32(code: u32) -> FaultCode {
                match code {
                    $( $code => FaultCode::$name, )*
                    other => FaultCode::Other(other),
                }
            }

            pub fn as_u32(self) -> u32 {
                match self {
                    $( FaultCode::$name => $code, )*
                    FaultCode::Other(code) => code,
                }
            }

            /// The description the specification gives the code.
            pub fn description(self) -> &'static str {
                match self {
                    $( FaultCode::$name => $desc, )*
                    FaultCode::Other(code) if (9800..=9899).contains(&code) || (8800..=8899).contains(&code) => "Vendor defined fault",
                    FaultCode::Other(_) => "Unknown fault",
                }
            }

            /// The SOAP `faultcode` the tables give the code; other codes are `Server`.
            pub fn fault_type(self) -> FaultType {
                match self {
                    $( FaultCode::$name => FaultType::$ty, )*
                    FaultCode::Other(_) => FaultType::Server,
                }
            }
        }
    };
}

fault_codes! {
    9000 MethodNotSupported Server "Method not supported",
    9001 RequestDenied Server "Request denied (no reason specified)",
    9002 InternalError Server "Internal error",
    9003 InvalidArguments Client "Invalid arguments",
    9004 ResourcesExceeded Server "Resources exceeded",
    9005 InvalidParameterName Client "Invalid parameter name",
    9006 InvalidParameterType Client "Invalid parameter type",
    9007 InvalidParameterValue Client "Invalid parameter value",
    9008 NonWritableParameter Client "Attempt to set a non-writable parameter",
    9009 NotificationRequestRejected Server "Notification request rejected",
    9010 DownloadFailure Server "File transfer failure",
    9011 UploadFailure Server "Upload failure",
    9012 FileTransferServerAuthenticationFailure Server "File transfer server authentication failure",
    9013 UnsupportedProtocol Server "Unsupported protocol for file transfer",
    9014 MulticastJoinFailure Server "File transfer failure: unable to join multicast group",
    9015 FileServerUnreachable Server "File transfer failure: unable to contact file server",
    9016 FileAccessFailure Server "File transfer failure: unable to access file",
    9017 DownloadIncomplete Server "File transfer failure: unable to complete download",
    9018 FileCorrupted Server "File transfer failure: file corrupted or otherwise unusable",
    9019 FileAuthenticationFailure Server "File transfer failure: file authentication failure",
    9020 WindowExpired Client "File transfer failure: unable to complete download within specified time windows",
    9021 CancelNotPermitted Client "Cancelation of file transfer not permitted in current transfer state",
    9022 InvalidUuidFormat Server "Invalid UUID format",
    9023 UnknownExecutionEnvironment Server "Unknown execution environment",
    9024 DisabledExecutionEnvironment Server "Disabled execution environment",
    9025 DeploymentUnitMismatch Server "Deployment unit to execution environment mismatch",
    9026 DuplicateDeploymentUnit Server "Duplicate deployment unit",
    9027 SystemResourcesExceeded Server "System resources exceeded",
    9028 UnknownDeploymentUnit Server "Unknown deployment unit",
    9029 InvalidDeploymentUnitState Server "Invalid deployment unit state",
    9030 DowngradeNotPermitted Server "Invalid deployment unit update: downgrade not permitted",
    9031 VersionNotSpecified Server "Invalid deployment unit update: version not specified",
    9032 VersionAlreadyExists Server "Invalid deployment unit update: version already exists",
    8000 AcsMethodNotSupported Server "Method not supported",
    8001 AcsRequestDenied Server "Request denied (no reason specified)",
    8002 AcsInternalError Server "Internal error",
    8003 AcsInvalidArguments Client "Invalid arguments",
    8004 AcsResourcesExceeded Server "Resources exceeded",
    8005 RetryRequest Server "Retry request",
    8006 VersionIncompatible Server "ACS version incompatible with CPE",
}

impl FaultCode {
    /// Whether a CPE sends this code (9000-9899).
    pub fn is_cpe(self) -> bool {
        (9000..=9899).contains(&self.as_u32())
    }

    /// Whether an ACS sends this code (8000-8899).
    pub fn is_acs(self) -> bool {
        (8000..=8899).contains(&self.as_u32())
    }

    /// How an ACS reads a code from a CPE: an unrecognised code in 9000-9799 counts as 9001
    /// (TR-069 A.5.1).
    pub fn as_seen_by_acs(self) -> FaultCode {
        match self {
            FaultCode::Other(code) if (9000..=9799).contains(&code) => FaultCode::RequestDenied,
            known => known,
        }
    }
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.as_u32(), self.description())
    }
}

/// Code 0: "no fault", as TransferComplete's FaultStruct uses it.
impl Default for FaultCode {
    fn default() -> FaultCode {
        FaultCode::Other(0)
    }
}

crate::cwmp_struct! {
    /// One entry of the `SetParameterValuesFault` list of a SetParameterValues fault.
    SetParameterValuesFault {
        parameter_name: String = "ParameterName" as crate::codec::Name,
        fault_code: FaultCode = "FaultCode",
        /// Optional in the schema; absent reads as empty.
        fault_string: String = "FaultString" as crate::codec::OptionalText<256>,
    }
}

crate::cwmp_struct! {
    /// The `cwmp:Fault` detail of a SOAP fault (3.5), fields in schema order.
    Fault {
        code: FaultCode = "FaultCode",
        /// Optional in the schema; absent reads as empty.
        string: String = "FaultString" as crate::codec::OptionalText<256>,
        /// Only in a response to SetParameterValues (A.3.2.1).
        set_parameter_values_faults: Vec<SetParameterValuesFault> = "SetParameterValuesFault" as crate::codec::Repeated<crate::codec::Nested>,
    }
}

impl Fault {
    /// A fault with the description of the table as its FaultString.
    pub fn new(code: FaultCode) -> Fault {
        Fault::with_string(code, code.description())
    }

    pub fn with_string(code: FaultCode, string: impl Into<String>) -> Fault {
        Fault { code, string: string.into(), set_parameter_values_faults: Vec::new() }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CWMP fault {}: {}", self.code.as_u32(), self.string)?;
        for entry in &self.set_parameter_values_faults {
            write!(f, "; {} {} {}", entry.parameter_name, entry.fault_code.as_u32(), entry.fault_string)?;
        }
        Ok(())
    }
}

impl std::error::Error for Fault {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        assert_eq!(FaultCode::KNOWN.len(), 33 + 7);
        for code in FaultCode::KNOWN {
            assert_eq!(FaultCode::from_u32(code.as_u32()), *code);
        }
        for n in 9000..=9032 {
            assert!(!matches!(FaultCode::from_u32(n), FaultCode::Other(_)), "{n}");
        }
        for n in 8000..=8006 {
            assert!(!matches!(FaultCode::from_u32(n), FaultCode::Other(_)), "{n}");
        }
    }

    #[test]
    fn types_follow_the_tables() {
        let client: Vec<u32> =
            FaultCode::KNOWN.iter().filter(|c| c.fault_type() == FaultType::Client).map(|c| c.as_u32()).collect();
        assert_eq!(client, vec![9003, 9005, 9006, 9007, 9008, 9020, 9021, 8003]);
        // 3.5's example says Client for 9000; Table 87 says Server and wins.
        assert_eq!(FaultCode::MethodNotSupported.fault_type(), FaultType::Server);
    }

    #[test]
    fn acs_maps_unknown_cpe_codes_to_9001() {
        assert_eq!(FaultCode::from_u32(9500).as_seen_by_acs(), FaultCode::RequestDenied);
        assert_eq!(FaultCode::from_u32(9850).as_seen_by_acs(), FaultCode::Other(9850));
        assert_eq!(FaultCode::from_u32(9850).description(), "Vendor defined fault");
    }
}
