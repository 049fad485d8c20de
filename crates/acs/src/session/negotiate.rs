//! Accepting an Inform: checks, version negotiation (3.7.4) and what to record.

use cwmp_wire::rpc::Inform;
use cwmp_wire::{Envelope, Fault, FaultCode, Message, Namespace, Version};

use crate::store::{DeviceIdentity, InformRecord, Millis};

/// An Inform the ACS accepts, with the version the session will speak.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub record: InformRecord,
    /// Namespace of every envelope the ACS sends in this session.
    pub namespace: Namespace,
    pub version: Version,
    /// Sent back as `UseCWMPVersion` when the CPE offered `SupportedCWMPVersions`.
    pub use_version: Option<Version>,
    /// The Inform's `cwmp:ID`, echoed in the InformResponse.
    pub id: Option<String>,
    /// `Device.` or `InternetGatewayDevice.`: the root object the CPE reported.
    pub root: String,
    /// Each event with its CommandKey (`M Reboot` carries the Reboot's key).
    pub commands: Vec<(String, String)>,
}

/// Why an Inform is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum InformError {
    /// Answer with this SOAP fault (8003 invalid arguments, 8006 no common version).
    Fault(Box<Envelope>),
    /// Not an Inform at all.
    NotInform,
}

/// Checks an Inform and negotiates the version. `versions` are those the ACS speaks.
pub fn accept_inform(
    envelope: &Envelope,
    versions: &[Version],
    now: Millis,
    remote_addr: Option<String>,
) -> Result<Accepted, InformError> {
    let Message::Inform(inform) = &envelope.message else {
        return Err(InformError::NotInform);
    };
    let fault = |code: FaultCode, why: &str| {
        let mut env = Envelope::new(envelope.namespace, Message::Fault(Fault::with_string(code, why)));
        env.header.id = envelope.header.id.clone();
        InformError::Fault(Box::new(env))
    };
    let identity = identity(inform).map_err(|why| fault(FaultCode::AcsInvalidArguments, &why))?;

    // 3.7.2.1 / 3.7.4: a 1.4 CPE lists its versions; pick the highest common one or refuse
    // with 8006. Otherwise infer from the namespace (Table 9) and send no UseCWMPVersion.
    let (version, use_version) = match &envelope.header.supported_cwmp_versions {
        Some(theirs) => match Version::negotiate(theirs, versions) {
            Some(v) => (v, Some(v)),
            None => return Err(fault(FaultCode::VersionIncompatible, "no common CWMP version")),
        },
        None => {
            let theirs = envelope.detected_version();
            let ours = versions.iter().copied().filter(|v| *v <= theirs).max().unwrap_or(Version::V1_0);
            (ours, None)
        }
    };
    let namespace = if use_version.is_some() { envelope.namespace } else { version.namespace() };
    let root = inform
        .parameter_list
        .iter()
        .find_map(|p| p.name.split_once('.').map(|(root, _)| format!("{root}.")))
        .unwrap_or_else(|| "Device.".into());
    let record = InformRecord {
        identity,
        events: inform.event.iter().map(|e| e.event_code.clone()).collect(),
        params: inform
            .parameter_list
            .iter()
            .map(|p| (p.name.clone(), p.value.text.clone(), p.value.ty.xsi_type().to_owned()))
            .collect(),
        now,
        cwmp_version: version.to_string(),
        remote_addr,
    };
    let commands = inform.event.iter().map(|e| (e.event_code.clone(), e.command_key.clone())).collect();
    Ok(Accepted { record, namespace, version, use_version, id: envelope.header.id.clone(), root, commands })
}

/// The device identity, with the OUI checked (six hex digits; lower case is unambiguous and
/// normalised) and the serial number required.
fn identity(inform: &Inform) -> Result<DeviceIdentity, String> {
    let id = &inform.device_id;
    let oui = id.oui.trim().to_ascii_uppercase();
    if oui.len() != 6 || !oui.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("OUI {:?} is not six hex digits", id.oui));
    }
    if id.serial_number.trim().is_empty() {
        return Err("empty SerialNumber".into());
    }
    Ok(DeviceIdentity {
        manufacturer: id.manufacturer.clone(),
        oui,
        product_class: id.product_class.clone(),
        serial_number: id.serial_number.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cwmp_wire::rpc::DeviceIdStruct;

    fn inform_envelope(oui: &str) -> Envelope {
        Envelope::new(
            Namespace::Cwmp12,
            Inform {
                device_id: DeviceIdStruct {
                    manufacturer: "Acme".into(),
                    oui: oui.into(),
                    product_class: "Box".into(),
                    serial_number: "S1".into(),
                },
                max_envelopes: 1,
                ..Default::default()
            },
        )
    }

    #[test]
    fn negotiates_1_4() {
        let mut env = inform_envelope("00D09E");
        env.header.supported_cwmp_versions = Some(Version::ALL.to_vec());
        let a = accept_inform(&env, &Version::ALL, 0, None).unwrap();
        assert_eq!(a.use_version, Some(Version::V1_4));
        assert_eq!(a.namespace, Namespace::Cwmp12);
    }

    #[test]
    fn refuses_without_common_version() {
        let mut env = inform_envelope("00D09E");
        env.header.supported_cwmp_versions = Some(vec![Version::new(2, 0)]);
        let Err(InformError::Fault(f)) = accept_inform(&env, &Version::ALL, 0, None) else { panic!() };
        let Message::Fault(f) = f.message else { panic!() };
        assert_eq!(f.code, FaultCode::VersionIncompatible);
    }

    #[test]
    fn infers_from_namespace() {
        let mut env = inform_envelope("00D09E");
        env.namespace = Namespace::Cwmp10;
        let a = accept_inform(&env, &Version::ALL, 0, None).unwrap();
        assert_eq!((a.version, a.namespace, a.use_version), (Version::V1_0, Namespace::Cwmp10, None));
        let mut env = inform_envelope("00D09E");
        env.header.session_timeout = Some(60);
        assert_eq!(accept_inform(&env, &Version::ALL, 0, None).unwrap().version, Version::V1_3);
        // An ACS limited to 1.1 answers a 1.2 CPE as 1.1 (Table 11).
        let a = accept_inform(&inform_envelope("00D09E"), &[Version::V1_0, Version::V1_1], 0, None).unwrap();
        assert_eq!((a.version, a.namespace), (Version::V1_1, Namespace::Cwmp11));
    }

    #[test]
    fn checks_the_oui() {
        assert!(matches!(accept_inform(&inform_envelope("0D09E"), &Version::ALL, 0, None), Err(InformError::Fault(_))));
        let a = accept_inform(&inform_envelope("00d09e"), &Version::ALL, 0, None).unwrap();
        assert_eq!(a.record.identity.oui, "00D09E");
    }
}
