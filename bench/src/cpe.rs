//! The benchmark's CPE side on the wire: who device `n` is, its Inform (realistic events
//! and 15 parameters of a TR-181 home gateway), the HTTP requests that carry it, and the
//! answers to the ACS's GetParameterValues and SetParameterValues.

use cwmp_wire::rpc::{
    DeviceIdStruct, EventStruct, GetParameterValuesResponse, Inform, ParameterValueStruct, SetParameterValuesResponse,
};
use cwmp_wire::{DateTime, EncodeOptions, Envelope, Fault, FaultCode, Message, Value, Version, XsdType};

pub const OUI: &str = "00C0FF";
pub const PRODUCT_CLASS: &str = "BenchCPE";
pub const MANUFACTURER: &str = "cwmp-bench";

pub fn serial(n: u64) -> String {
    format!("BENCH{n:08}")
}

/// The ACS's key of device `n` (TR-069 3.4.4 form; nothing to escape here).
pub fn key(n: u64) -> String {
    format!("{OUI}-{PRODUCT_CLASS}-{}", serial(n))
}

/// One device in a hundred runs the newer firmware: the REST query benchmark looks for it.
pub fn software_version(n: u64) -> &'static str {
    if n.is_multiple_of(100) { "2.0" } else { "1.0" }
}

/// The ConnectionRequestURL of device `n`: unique, so a query by it finds one device.
pub fn connection_request_url(n: u64) -> String {
    format!("http://10.{}.{}.{}:7547/cr/{n}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// The Inform's parameters: the forced-inform parameters of TR-181 plus the WAN address,
/// an SSID and a link status, as home gateways commonly send.
pub const INFORM_PARAMS: [&str; 15] = [
    "Device.RootDataModelVersion",
    "Device.DeviceInfo.HardwareVersion",
    "Device.DeviceInfo.SoftwareVersion",
    "Device.DeviceInfo.ProvisioningCode",
    "Device.DeviceInfo.ModelName",
    "Device.DeviceInfo.UpTime",
    "Device.ManagementServer.ParameterKey",
    "Device.ManagementServer.ConnectionRequestURL",
    "Device.ManagementServer.PeriodicInformInterval",
    "Device.GatewayInfo.ManufacturerOUI",
    "Device.GatewayInfo.ProductClass",
    "Device.GatewayInfo.SerialNumber",
    "Device.IP.Interface.1.IPv4Address.1.IPAddress",
    "Device.WiFi.SSID.1.SSID",
    "Device.Ethernet.Interface.1.Status",
];

/// Value and type of an Inform parameter of device `n`.
pub fn inform_value(path: &str, n: u64, uptime: u64) -> (String, XsdType) {
    let s = |v: &str| (v.to_owned(), XsdType::String);
    match path {
        "Device.RootDataModelVersion" => s("2.17"),
        "Device.DeviceInfo.HardwareVersion" => s("HW-A1"),
        "Device.DeviceInfo.SoftwareVersion" => s(software_version(n)),
        "Device.DeviceInfo.ModelName" => s("Bench Gateway 1"),
        "Device.DeviceInfo.UpTime" => (uptime.to_string(), XsdType::UnsignedInt),
        "Device.ManagementServer.ConnectionRequestURL" => (connection_request_url(n), XsdType::String),
        "Device.ManagementServer.PeriodicInformInterval" => ("3600".to_owned(), XsdType::UnsignedInt),
        "Device.IP.Interface.1.IPv4Address.1.IPAddress" => {
            (format!("100.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255), XsdType::String)
        }
        "Device.WiFi.SSID.1.SSID" => (format!("home-{n}"), XsdType::String),
        "Device.Ethernet.Interface.1.Status" => s("Up"),
        _ => s(""),
    }
}

/// 50 parameters a GetParameterValues task reads: ten LAN hosts.
pub fn gpv_paths() -> Vec<String> {
    let fields = ["IPAddress", "HostName", "PhysAddress", "Active", "Layer1Interface"];
    (1..=10).flat_map(|i| fields.iter().map(move |f| format!("Device.Hosts.Host.{i}.{f}"))).collect()
}

/// 10 parameters a SetParameterValues task writes: two port mappings.
pub fn spv_values(n: u64) -> Vec<(String, String)> {
    (1..=2)
        .flat_map(|i| {
            [
                ("Enable", "true".to_owned()),
                ("ExternalPort", (8000 + i).to_string()),
                ("InternalPort", "80".to_owned()),
                ("InternalClient", format!("192.168.1.{}", 10 + i)),
                ("Description", format!("bench {n} rule {i}")),
            ]
            .map(|(f, v)| (format!("Device.NAT.PortMapping.{i}.{f}"), v))
        })
        .collect()
}

/// The Inform of device `n` (events `2 PERIODIC`, and `1 BOOT` for one in twenty).
pub fn inform(n: u64, uptime: u64) -> Vec<u8> {
    let mut event = vec![EventStruct::new("2 PERIODIC", "")];
    if n.is_multiple_of(20) {
        event.insert(0, EventStruct::new("1 BOOT", ""));
    }
    let parameter_list = INFORM_PARAMS
        .iter()
        .map(|path| {
            let (text, ty) = inform_value(path, n, uptime);
            ParameterValueStruct::new(*path, Value::new(ty, text))
        })
        .collect();
    let inform = Inform {
        device_id: DeviceIdStruct {
            manufacturer: MANUFACTURER.into(),
            oui: OUI.into(),
            product_class: PRODUCT_CLASS.into(),
            serial_number: serial(n),
        },
        event,
        max_envelopes: 1,
        current_time: DateTime::utc(jiff::Timestamp::now()),
        retry_count: 0,
        parameter_list,
    };
    Envelope::new(Version::V1_2.namespace(), inform).with_id("1").encode(&EncodeOptions::default())
}

/// An HTTP/1.1 POST carrying `body` (empty: the empty POST, TR-069 3.4.1).
pub fn post(host: &str, body: &[u8], cookie: Option<&str>) -> Vec<u8> {
    let mut head = format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("Content-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"\"\r\n");
    }
    if let Some(cookie) = cookie {
        head.push_str("Cookie: ");
        head.push_str(cookie);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// The CPE's answer to an ACS request, as an envelope (the request's cwmp:ID echoed).
pub fn answer(request: &Envelope) -> Vec<u8> {
    let message: Message = match &request.message {
        Message::GetParameterValues(gpv) => GetParameterValuesResponse {
            parameter_list: gpv
                .parameter_names
                .iter()
                .map(|name| ParameterValueStruct::new(name.clone(), Value::string(format!("value of {name}"))))
                .collect(),
        }
        .into(),
        Message::SetParameterValues(_) => SetParameterValuesResponse { status: 0 }.into(),
        _ => Message::Fault(Fault::new(FaultCode::MethodNotSupported)),
    };
    let mut reply = Envelope::new(request.namespace, message);
    reply.header.id = request.header.id.clone();
    reply.encode(&EncodeOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_decode() {
        let body = inform(40, 1234);
        let env = cwmp_wire::decode(&body, &cwmp_wire::Limits::default()).unwrap();
        let Message::Inform(i) = env.message else { panic!("not an Inform") };
        assert_eq!(i.parameter_list.len(), 15);
        assert_eq!(i.event.len(), 2, "device 40 reports a boot");
        assert_eq!(i.device_id.serial_number, "BENCH00000040");
        assert_eq!(gpv_paths().len(), 50);
        assert_eq!(spv_values(1).len(), 10);
        let request = post("h", &body, Some("c=1"));
        assert!(request.starts_with(b"POST / HTTP/1.1\r\nHost: h\r\n"));
        let gpv = Envelope::new(
            Version::V1_2.namespace(),
            cwmp_wire::rpc::GetParameterValues { parameter_names: vec!["Device.X".into()] },
        )
        .with_id("7");
        let reply = cwmp_wire::decode(&answer(&gpv), &cwmp_wire::Limits::default()).unwrap();
        assert_eq!(reply.header.id.as_deref(), Some("7"));
        assert!(matches!(reply.message, Message::GetParameterValuesResponse(r) if r.parameter_list.len() == 1));
    }
}
