//! Differential tests against independent implementations from crates.io:
//!
//! - the `cwmp` crate (jdalberg/cwmp, built on xml-rs, its own model and parser): what we
//!   encode, it parses to the value we meant; what it generates (its own prefixes
//!   `SOAP-ENV`/`SOAP-ENC`, pretty-printed, `encodingStyle`, unprefixed `mustUnderstand`), we
//!   decode to the value it meant. Only messages and fields both model are compared.
//! - `roxmltree` (an independent namespace-aware XML parser): every message we encode is
//!   well-formed, every element is in the namespace TR-069 3.5 requires (only the method,
//!   header and `cwmp:Fault` elements qualified), and every array's `soap-enc:arrayType`
//!   count equals its members.
//!
//! See docs/decisions.md ("Wire codec") for why these two.

use chrono::{TimeZone, Utc};
use cwmp::protocol as theirs;
use cwmp_wire::rpc::*;
use cwmp_wire::{
    DateTime, EncodeOptions, Envelope, Fault, FaultCode, Limits, Message, Namespace, Value, XsdType, decode,
};

const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP_ENC: &str = "http://schemas.xmlsoap.org/soap/encoding/";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const CWMP_12: &str = "urn:dslforum-org:cwmp-1-2";

fn s(text: &str) -> String {
    text.to_owned()
}

/// Pairs of (our envelope, their envelope) that mean the same thing.
fn pairs() -> Vec<(Envelope, theirs::Envelope)> {
    let at = |text: &str| DateTime::parse(text).unwrap();
    let v12 = || Some(theirs::CwmpVersion::new(1, 2));
    let id = |text: &str| vec![theirs::HeaderElement::ID(theirs::ID::new(true, s(text)))];
    let one = |ours: Envelope, header: Vec<theirs::HeaderElement>, body: theirs::BodyElement| {
        (ours, theirs::Envelope::new(v12(), header, vec![body]))
    };
    vec![
        one(
            Envelope::new(
                Namespace::Cwmp12,
                Inform {
                    device_id: DeviceIdStruct {
                        manufacturer: s("Acme & Co"),
                        oui: s("00D09E"),
                        product_class: s("Router"),
                        serial_number: s("SN-1"),
                    },
                    event: vec![EventStruct::new("1 BOOT", ""), EventStruct::new("M Reboot", "key <1>")],
                    max_envelopes: 1,
                    current_time: at("2026-03-01T12:00:00Z"),
                    retry_count: 2,
                    parameter_list: vec![
                        ParameterValueStruct::new("Device.DeviceInfo.SoftwareVersion", Value::string("4.2 \"beta\"")),
                        ParameterValueStruct::new("Device.DeviceInfo.UpTime", Value::unsigned_int(3600)),
                    ],
                },
            )
            .with_id("1"),
            id("1"),
            theirs::BodyElement::Inform(theirs::Inform::new(
                theirs::DeviceId::new(s("Acme & Co"), s("00D09E"), s("Router"), s("SN-1")),
                vec![
                    theirs::EventStruct::new(s("1 BOOT"), s("")),
                    theirs::EventStruct::new(s("M Reboot"), s("key <1>")),
                ],
                1,
                Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
                2,
                vec![
                    theirs::ParameterValue::new(
                        s("Device.DeviceInfo.SoftwareVersion"),
                        s("xsd:string"),
                        s("4.2 \"beta\""),
                    ),
                    theirs::ParameterValue::new(s("Device.DeviceInfo.UpTime"), s("xsd:unsignedInt"), s("3600")),
                ],
            )),
        ),
        one(
            Envelope::new(Namespace::Cwmp12, InformResponse { max_envelopes: 1 }).with_id("1"),
            id("1"),
            theirs::BodyElement::InformResponse(theirs::InformResponse::new(1)),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                GetParameterValues { parameter_names: vec![s("Device.DeviceInfo."), s("Device.Time.NTPServer1")] },
            )
            .with_id("2"),
            id("2"),
            theirs::BodyElement::GetParameterValues(theirs::GetParameterValues::new(vec![
                s("Device.DeviceInfo."),
                s("Device.Time.NTPServer1"),
            ])),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                GetParameterValuesResponse {
                    parameter_list: vec![
                        ParameterValueStruct::new("Device.A", Value::new(XsdType::Boolean, "1")),
                        ParameterValueStruct::new("Device.B", Value::string("x < y & z")),
                    ],
                },
            )
            .with_id("2"),
            id("2"),
            theirs::BodyElement::GetParameterValuesResponse(theirs::GetParameterValuesResponse::new(vec![
                theirs::ParameterValue::new(s("Device.A"), s("xsd:boolean"), s("1")),
                theirs::ParameterValue::new(s("Device.B"), s("xsd:string"), s("x < y & z")),
            ])),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                SetParameterValues {
                    parameter_list: vec![ParameterValueStruct::new("Device.C", Value::int(-4))],
                    parameter_key: s("pk"),
                },
            )
            .with_id("3"),
            id("3"),
            theirs::BodyElement::SetParameterValues(theirs::SetParameterValues::new(
                Some(s("pk")),
                vec![theirs::ParameterValue::new(s("Device.C"), s("xsd:int"), s("-4"))],
            )),
        ),
        one(
            Envelope::new(Namespace::Cwmp12, SetParameterValuesResponse { status: 1 }).with_id("3"),
            id("3"),
            theirs::BodyElement::SetParameterValuesResponse(theirs::SetParameterValuesResponse::new(1)),
        ),
        one(
            Envelope::new(Namespace::Cwmp12, GetParameterNames { parameter_path: s("Device."), next_level: true })
                .with_id("4"),
            id("4"),
            theirs::BodyElement::GetParameterNames(theirs::GetParameterNames::new(s("Device."), 1)),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                GetParameterNamesResponse {
                    parameter_list: vec![
                        ParameterInfoStruct { name: s("Device.A"), writable: true },
                        ParameterInfoStruct { name: s("Device.B."), writable: false },
                    ],
                },
            )
            .with_id("4"),
            id("4"),
            theirs::BodyElement::GetParameterNamesResponse(theirs::GetParameterNamesResponse::new(vec![
                theirs::ParameterInfoStruct::new(s("Device.A"), 1),
                theirs::ParameterInfoStruct::new(s("Device.B."), 0),
            ])),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                AddObject { object_name: s("Device.NAT.PortMapping."), parameter_key: s("k1") },
            )
            .with_id("5"),
            id("5"),
            theirs::BodyElement::AddObject(theirs::AddObject::new(s("Device.NAT.PortMapping."), s("k1"))),
        ),
        one(
            Envelope::new(Namespace::Cwmp12, AddObjectResponse { instance_number: 7, status: 0 }).with_id("5"),
            id("5"),
            theirs::BodyElement::AddObjectResponse(theirs::AddObjectResponse::new(7, s("0"))),
        ),
        one(
            Envelope::new(Namespace::Cwmp12, Reboot { command_key: s("r") }).with_id("6"),
            id("6"),
            theirs::BodyElement::Reboot(theirs::Reboot::new(s("r"))),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                Download {
                    command_key: s("dl"),
                    file_type: s("1 Firmware Upgrade Image"),
                    url: s("http://files/fw?a=1&b=2"),
                    username: s("u"),
                    password: s("p"),
                    file_size: 1000,
                    target_file_name: s("fw.bin"),
                    delay_seconds: 5,
                    success_url: s(""),
                    failure_url: s(""),
                },
            )
            .with_id("7"),
            id("7"),
            theirs::BodyElement::Download(theirs::Download::new(
                s("dl"),
                s("1 Firmware Upgrade Image"),
                s("http://files/fw?a=1&b=2"),
                s("u"),
                s("p"),
                1000,
                s("fw.bin"),
                5,
                s(""),
                s(""),
            )),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                TransferComplete {
                    command_key: s("dl"),
                    fault_struct: FaultStruct { fault_code: 9010, fault_string: s("failed") },
                    start_time: at("2026-03-01T12:00:00Z"),
                    complete_time: at("2026-03-01T12:05:00Z"),
                },
            )
            .with_id("8"),
            id("8"),
            theirs::BodyElement::TransferComplete(theirs::TransferComplete::new(
                s("dl"),
                theirs::FaultStruct::new(9010, s("failed")),
                Some(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()),
                Some(Utc.with_ymd_and_hms(2026, 3, 1, 12, 5, 0).unwrap()),
            )),
        ),
        one(
            Envelope::new(
                Namespace::Cwmp12,
                GetRpcMethodsResponse { method_list: vec![s("Inform"), s("GetRPCMethods"), s("TransferComplete")] },
            )
            .with_id("9"),
            id("9"),
            theirs::BodyElement::GetRPCMethodsResponse(theirs::GetRPCMethodsResponse::new(vec![
                s("Inform"),
                s("GetRPCMethods"),
                s("TransferComplete"),
            ])),
        ),
        one(
            Envelope::new(Namespace::Cwmp12, Message::Fault(Fault::with_string(FaultCode::InvalidArguments, "bad")))
                .with_id("10"),
            id("10"),
            theirs::BodyElement::Fault(theirs::Fault::new(s("Client"), s("CWMP fault"), 9003, s("bad"))),
        ),
    ]
}

/// What we encode, the `cwmp` crate parses to the value we meant.
#[test]
fn they_read_what_we_write() {
    for (ours, expected) in pairs() {
        let bytes = ours.encode(&EncodeOptions::default());
        let parsed = cwmp::parse_bytes(&bytes)
            .unwrap_or_else(|e| panic!("cwmp crate failed on {}: {e}", String::from_utf8_lossy(&bytes)));
        assert_eq!(parsed, expected, "{}", String::from_utf8_lossy(&bytes));
    }
}

/// What the `cwmp` crate generates, we decode to the value it meant.
#[test]
fn we_read_what_they_write() {
    for (expected, theirs) in pairs() {
        let xml = cwmp::generate(&theirs).expect("cwmp crate generates");
        let decoded = decode(xml.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert_eq!(decoded, expected, "{xml}");
    }
}

/// Every element name of a parsed document with its resolved namespace.
fn check_structure(xml: &str) {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("not well-formed: {e}\n{xml}"));
    let root = doc.root_element();
    assert_eq!((root.tag_name().namespace(), root.tag_name().name()), (Some(SOAP_ENV), "Envelope"));
    for child in root.children().filter(|n| n.is_element()) {
        assert_eq!(child.tag_name().namespace(), Some(SOAP_ENV), "{xml}");
        match child.tag_name().name() {
            "Header" => {
                for h in child.children().filter(|n| n.is_element()) {
                    assert_eq!(h.tag_name().namespace(), Some(CWMP_12), "header {:?}", h.tag_name());
                    assert!(h.attribute((SOAP_ENV, "mustUnderstand")).is_some(), "{:?}", h.tag_name());
                    assert_unqualified_below(h);
                }
            }
            "Body" => {
                let methods: Vec<_> = child.children().filter(|n| n.is_element()).collect();
                assert_eq!(methods.len(), 1, "{xml}");
                let method = methods[0];
                if method.tag_name().name() == "Fault" {
                    assert_eq!(method.tag_name().namespace(), Some(SOAP_ENV));
                    let detail = method.children().find(|n| n.has_tag_name("detail")).expect("detail");
                    let fault = detail.first_element_child().expect("cwmp:Fault");
                    assert_eq!(fault.tag_name().namespace(), Some(CWMP_12));
                    for plain in method.children().filter(|n| n.is_element()) {
                        assert_eq!(plain.tag_name().namespace(), None, "{:?}", plain.tag_name());
                    }
                    assert_unqualified_below(fault);
                } else {
                    assert_eq!(method.tag_name().namespace(), Some(CWMP_12));
                    assert_unqualified_below(method);
                }
            }
            other => panic!("unexpected <{other}> in Envelope"),
        }
    }
}

/// Below a qualified top-level element everything is unqualified (3.5), arrays carry an exact
/// `soap-enc:arrayType`, and `xsi:type` appears only on Value and Operations.
fn assert_unqualified_below(top: roxmltree::Node<'_, '_>) {
    for node in top.descendants().skip(1).filter(|n| n.is_element()) {
        assert_eq!(node.tag_name().namespace(), None, "<{}> must be unqualified", node.tag_name().name());
        if let Some(array_type) = node.attribute((SOAP_ENC, "arrayType")) {
            let members = node.children().filter(|n| n.is_element()).count();
            let (ty, count) = array_type.trim_end_matches(']').split_once('[').expect("Type[count]");
            assert_eq!(count.parse::<usize>().unwrap(), members, "{array_type}");
            let (prefix, local) = ty.split_once(':').expect("prefixed type");
            assert!(node.lookup_namespace_uri(Some(prefix)).is_some(), "{prefix} bound");
            for member in node.children().filter(|n| n.is_element()) {
                assert_eq!(member.tag_name().name(), local, "member names follow the type");
            }
        }
        if node.attribute((XSI, "type")).is_some() {
            assert!(matches!(node.tag_name().name(), "Value" | "Operations"), "{:?}", node.tag_name());
        }
    }
}

/// Our output, read by an independent namespace-aware parser, has the structure 3.5 requires.
#[test]
fn structure_of_what_we_write() {
    let mut envelopes: Vec<Envelope> = pairs().into_iter().map(|(ours, _)| ours).collect();
    let mut everything = Envelope::new(
        Namespace::Cwmp12,
        ChangeDuState {
            operations: vec![
                OperationStruct::Install(InstallOpStruct { url: s("http://f/a"), ..Default::default() }),
                OperationStruct::Uninstall(UninstallOpStruct { uuid: s("u"), ..Default::default() }),
            ],
            command_key: None,
        },
    )
    .with_id("x");
    everything.header.session_timeout = Some(30);
    everything.header.supported_cwmp_versions = Some(cwmp_wire::Version::ALL.to_vec());
    envelopes.push(everything);
    envelopes.push(Envelope::new(
        Namespace::Cwmp12,
        SetParameterAttributes {
            parameter_list: vec![SetParameterAttributesStruct {
                name: s("Device."),
                notification_change: true,
                notification: 1,
                access_list_change: true,
                access_list: vec![s("Subscriber")],
            }],
        },
    ));
    envelopes.push(Envelope::new(Namespace::Cwmp12, SetVouchers { voucher_list: vec![s("aGVsbG8="), s("aA==")] }));
    let mut spv_fault = Fault::new(FaultCode::InvalidArguments);
    spv_fault.set_parameter_values_faults.push(cwmp_wire::SetParameterValuesFault {
        parameter_name: s("Device.A"),
        fault_code: FaultCode::InvalidParameterValue,
        fault_string: s(""),
    });
    envelopes.push(Envelope::new(Namespace::Cwmp12, Message::Fault(spv_fault)).with_id("f"));
    for env in envelopes {
        let xml = String::from_utf8(env.encode(&EncodeOptions::default())).unwrap();
        check_structure(&xml);
    }
}
