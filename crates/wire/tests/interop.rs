//! Tolerant reading: the variants real peers send (digest-annex-a-rpcs.md sections 5 and 6,
//! issue 2 item 7), each decoded from hand-written XML.

mod common;

use std::time::Duration;

use common::{err, err_with, ok};
use cwmp_wire::rpc::*;
use cwmp_wire::{
    DateTime, EncodeOptions, Envelope, ErrorKind, FaultCode, Limits, Message, Namespace, Version, XsdType, decode,
    decode_all,
};

/// An envelope with `prefix` for SOAP and `cwmp` for CWMP, around `body`.
fn soap(header: &str, body: &str) -> String {
    format!(
        r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap:Header>{header}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"#
    )
}

fn body(body: &str) -> Envelope {
    ok(&soap("", body))
}

fn gpvr_values(env: &Envelope) -> Vec<(String, XsdType, String)> {
    match &env.message {
        Message::GetParameterValuesResponse(r) => {
            r.parameter_list.iter().map(|p| (p.name.clone(), p.value.ty.clone(), p.value.text.clone())).collect()
        }
        other => panic!("expected GetParameterValuesResponse, got {other:?}"),
    }
}

// ---- The specification's own examples (3.5) ----

#[test]
fn spec_get_parameter_names_example() {
    let xml = r#"<soap-env:Envelope xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"
                   xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"
                   xmlns:xsd="http://www.w3.org/2001/XMLSchema"
                   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                   xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
 <soap-env:Header>
  <cwmp:ID soap-env:mustUnderstand="1">0</cwmp:ID>
 </soap-env:Header>
 <soap-env:Body>
  <cwmp:GetParameterNames>
   <ParameterPath>Object.</ParameterPath>
   <NextLevel>0</NextLevel>
  </cwmp:GetParameterNames>
 </soap-env:Body>
</soap-env:Envelope>
"#;
    let env = ok(xml);
    assert_eq!(env.namespace, Namespace::Cwmp10);
    assert_eq!(env.header.id.as_deref(), Some("0"));
    assert_eq!(
        env.message,
        Message::GetParameterNames(GetParameterNames { parameter_path: "Object.".into(), next_level: false })
    );
}

/// E-FAULT-PARSE: the 3.5 SetParameterValues fault example, pretty-printed, with `soap` as the
/// prefix and the parameter names on their own lines (trap 6.4: names are trimmed).
#[test]
fn spec_set_parameter_values_fault_example() {
    let xml = r#"<soap:Envelope
  xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:cwmp="urn:dslforum-org:cwmp-1-0">
    <soap:Header>
        <cwmp:ID soap:mustUnderstand="1">1234</cwmp:ID>
    </soap:Header>
    <soap:Body>
        <soap:Fault>
            <faultcode>Client</faultcode>
            <faultstring>CWMP fault</faultstring>
            <detail>
                <cwmp:Fault>
                    <FaultCode>9003</FaultCode>
                    <FaultString>Invalid arguments</FaultString>
                    <SetParameterValuesFault>
                        <ParameterName>
                            Device.Time.NTPServer1
                        </ParameterName>
                        <FaultCode>9007</FaultCode>
                        <FaultString>Invalid IP Address</FaultString>
                    </SetParameterValuesFault>
                    <SetParameterValuesFault>
                        <ParameterName>
                            Device.Time.LocalTimeZoneName
                        </ParameterName>
                        <FaultCode>9007</FaultCode>
                        <FaultString>String too long</FaultString>
                    </SetParameterValuesFault>
                </cwmp:Fault>
            </detail>
        </soap:Fault>
    </soap:Body>
</soap:Envelope>"#;
    let env = ok(xml);
    assert_eq!(env.namespace, Namespace::Cwmp10);
    assert_eq!(env.header.id.as_deref(), Some("1234"));
    let Message::Fault(fault) = env.message else { panic!("expected a fault") };
    assert_eq!(fault.code, FaultCode::InvalidArguments);
    assert_eq!(fault.string, "Invalid arguments");
    let names: Vec<&str> = fault.set_parameter_values_faults.iter().map(|f| f.parameter_name.as_str()).collect();
    assert_eq!(names, ["Device.Time.NTPServer1", "Device.Time.LocalTimeZoneName"]);
    assert!(fault.set_parameter_values_faults.iter().all(|f| f.fault_code == FaultCode::InvalidParameterValue));
}

/// Trap 6.3: faultcode is never relied on (`soap:Client`, `Server`, or a wrong one for 9000);
/// a missing FaultString is empty.
#[test]
fn fault_code_text_is_ignored_and_fault_string_optional() {
    for faultcode in ["soap:Client", "Client", "Server", "soap:Server"] {
        let env = body(&format!(
            "<soap:Fault><faultcode>{faultcode}</faultcode><faultstring>CWMP fault</faultstring>\
             <detail><cwmp:Fault><FaultCode>9000</FaultCode></cwmp:Fault></detail></soap:Fault>"
        ));
        let Message::Fault(fault) = env.message else { panic!("expected a fault") };
        assert_eq!(fault.code, FaultCode::MethodNotSupported);
        assert_eq!(fault.string, "");
    }
}

/// A plain SOAP fault from the peer's stack (no cwmp:Fault) still reads as a fault.
#[test]
fn soap_fault_without_cwmp_detail() {
    let env = body("<soap:Fault><faultcode>Server</faultcode><faultstring>out of memory</faultstring></soap:Fault>");
    let Message::Fault(fault) = env.message else { panic!("expected a fault") };
    assert_eq!(fault.code.as_u32(), 0);
    assert_eq!(fault.string, "out of memory");
}

// ---- Prefixes and namespaces ----

/// Namespaces are matched by URI whatever the prefix: SOAP-ENV, soapenv, s/c, and a cwmp
/// prefix other than `cwmp`.
#[test]
fn any_prefix() {
    let expected = Message::Reboot(Reboot { command_key: "k".into() });
    for (soap, cwmp) in [("SOAP-ENV", "cwmp"), ("soapenv", "cwmp12"), ("s", "c"), ("env", "tr069")] {
        let xml = format!(
            r#"<{soap}:Envelope xmlns:{soap}="http://schemas.xmlsoap.org/soap/envelope/" xmlns:{cwmp}="urn:dslforum-org:cwmp-1-2"><{soap}:Header><{cwmp}:ID {soap}:mustUnderstand="1">7</{cwmp}:ID></{soap}:Header><{soap}:Body><{cwmp}:Reboot><CommandKey>k</CommandKey></{cwmp}:Reboot></{soap}:Body></{soap}:Envelope>"#
        );
        let env = ok(&xml);
        assert_eq!(env.message, expected, "{soap}/{cwmp}");
        assert_eq!(env.header.id.as_deref(), Some("7"));
        assert_eq!(env.namespace, Namespace::Cwmp12);
    }
}

/// A default namespace on the method element puts its children into the cwmp namespace;
/// children are matched by local name, so this reads the same.
#[test]
fn default_namespace_on_the_method() {
    let env = body(concat!(
        r#"<GetParameterValuesResponse xmlns="urn:dslforum-org:cwmp-1-2">"#,
        r#"<ParameterList soapenc:arrayType="cwmp:ParameterValueStruct[1]">"#,
        r#"<ParameterValueStruct><Name>Device.A</Name><Value xsi:type="xsd:int">5</Value></ParameterValueStruct>"#,
        "</ParameterList></GetParameterValuesResponse>"
    ));
    assert_eq!(env.namespace, Namespace::Cwmp12);
    assert_eq!(gpvr_values(&env), [("Device.A".to_owned(), XsdType::Int, "5".to_owned())]);
}

/// A default namespace on the Envelope itself (everything unprefixed).
#[test]
fn default_namespace_everywhere() {
    let xml = concat!(
        r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>"#,
        r#"<Reboot xmlns="urn:dslforum-org:cwmp-1-1"><CommandKey>k</CommandKey></Reboot>"#,
        "</Body></Envelope>"
    );
    let env = ok(xml);
    assert_eq!(env.namespace, Namespace::Cwmp11);
    assert_eq!(env.message, Message::Reboot(Reboot { command_key: "k".into() }));
}

/// E-NS: children wrongly qualified with the cwmp prefix are still read.
#[test]
fn qualified_children_are_read() {
    let env = body(
        "<cwmp:GetParameterNames><cwmp:ParameterPath>Device.</cwmp:ParameterPath>\
         <cwmp:NextLevel>true</cwmp:NextLevel></cwmp:GetParameterNames>",
    );
    assert_eq!(
        env.message,
        Message::GetParameterNames(GetParameterNames { parameter_path: "Device.".into(), next_level: true })
    );
}

/// E-NSVER: each CWMP namespace is detected and a response built for the request is written
/// in the same namespace.
#[test]
fn answered_in_the_request_namespace() {
    for (uri, ns) in [
        ("urn:dslforum-org:cwmp-1-0", Namespace::Cwmp10),
        ("urn:dslforum-org:cwmp-1-1", Namespace::Cwmp11),
        ("urn:dslforum-org:cwmp-1-2", Namespace::Cwmp12),
    ] {
        let xml = format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="{uri}"><s:Header><c:ID s:mustUnderstand="1">9</c:ID></s:Header><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"#
        );
        let request = ok(&xml);
        assert_eq!(request.namespace, ns);
        let response = Envelope::new(request.namespace, GetRpcMethodsResponse { method_list: vec!["Inform".into()] })
            .with_id(request.header.id.clone().unwrap());
        let out = String::from_utf8(response.encode(&EncodeOptions::default())).unwrap();
        assert!(out.contains(&format!(r#"xmlns:cwmp="{uri}""#)), "{out}");
        assert_eq!(ok(&out).namespace, ns);
    }
}

/// An unknown CWMP namespace on the method is refused.
#[test]
fn unknown_cwmp_namespace() {
    let xml = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-5"><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"#;
    assert!(matches!(&err(xml).kind, ErrorKind::UnknownNamespace(ns) if ns == "urn:dslforum-org:cwmp-1-5"));
}

#[test]
fn unbound_prefix_is_an_error() {
    let xml = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"#;
    assert!(matches!(&err(xml).kind, ErrorKind::UnboundPrefix(p) if p == "c"));
}

#[test]
fn not_a_soap_envelope() {
    assert!(matches!(&err("<html><body/></html>").kind, ErrorKind::NotSoap(n) if n == "html"));
    // Right local name, wrong namespace.
    let xml = r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body/></Envelope>"#;
    assert!(matches!(err(xml).kind, ErrorKind::NotSoap(_)));
}

/// An unqualified Envelope (as the `cwmp` crate writes it) is read; its children are still
/// matched by namespace.
#[test]
fn unqualified_envelope() {
    let xml = r#"<Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-2"><s:Body><c:RebootResponse/></s:Body></Envelope>"#;
    assert_eq!(ok(xml).message, Message::RebootResponse(RebootResponse {}));
}

/// Sloppy peers leave Header and Body unqualified inside a qualified Envelope.
#[test]
fn unqualified_header_and_body() {
    let xml = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><Header><cwmp:ID>3</cwmp:ID></Header><Body><cwmp:RebootResponse/></Body></s:Envelope>"#;
    let env = ok(xml);
    assert_eq!(env.header.id.as_deref(), Some("3"));
    assert_eq!(env.message, Message::RebootResponse(RebootResponse {}));
}

// ---- xsi:type ----

/// Trap 6.13: a Value without xsi:type reads as a string.
#[test]
fn missing_xsi_type_reads_as_string() {
    let env = body(concat!(
        "<cwmp:GetParameterValuesResponse><ParameterList>",
        "<ParameterValueStruct><Name>Device.A</Name><Value>42</Value></ParameterValueStruct>",
        "</ParameterList></cwmp:GetParameterValuesResponse>"
    ));
    assert_eq!(gpvr_values(&env), [("Device.A".to_owned(), XsdType::String, "42".to_owned())]);
}

/// E-XSITYPE: the type resolves by local name whatever the XSD prefix (`xs:`, `xsd1:`).
#[test]
fn xsi_type_with_other_prefixes() {
    for prefix in ["xs", "xsd1", "xsd"] {
        let xml = format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:{prefix}="http://www.w3.org/2001/XMLSchema" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><soap:Body><cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>Device.A</Name><Value i:type="{prefix}:unsignedInt">7</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse></soap:Body></soap:Envelope>"#
        );
        assert_eq!(gpvr_values(&ok(&xml)), [("Device.A".to_owned(), XsdType::UnsignedInt, "7".to_owned())]);
    }
}

/// The 1999 XSD namespaces of old stacks; an unbound `xsi` prefix is tolerated too.
#[test]
fn xsd_1999_and_unbound_xsi() {
    let xml = r#"<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/1999/XMLSchema-instance" xmlns:xsd="http://www.w3.org/1999/XMLSchema" xmlns:cwmp="urn:dslforum-org:cwmp-1-0"><SOAP-ENV:Body><cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>Device.A</Name><Value xsi:type="xsd:boolean">true</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>"#;
    assert_eq!(gpvr_values(&ok(xml)), [("Device.A".to_owned(), XsdType::Boolean, "true".to_owned())]);
    let unbound = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:cwmp="urn:dslforum-org:cwmp-1-2"><s:Body><cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>Device.A</Name><Value xsi:type="xsd:int">1</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse></s:Body></s:Envelope>"#;
    assert_eq!(gpvr_values(&ok(unbound)), [("Device.A".to_owned(), XsdType::Int, "1".to_owned())]);
}

/// Trap 6.14: `soap-enc:base64`, `xsd:base64Binary` and `xsd:base64` all mean base64; an
/// unknown type is kept by name.
#[test]
fn base64_aliases_and_unknown_types() {
    let env = body(concat!(
        "<cwmp:GetParameterValuesResponse><ParameterList>",
        r#"<ParameterValueStruct><Name>A</Name><Value xsi:type="soapenc:base64">aA==</Value></ParameterValueStruct>"#,
        r#"<ParameterValueStruct><Name>B</Name><Value xsi:type="xsd:base64Binary">aA==</Value></ParameterValueStruct>"#,
        r#"<ParameterValueStruct><Name>C</Name><Value xsi:type="xsd:base64">aA==</Value></ParameterValueStruct>"#,
        r#"<ParameterValueStruct><Name>D</Name><Value xsi:type="cwmp:IPAddress">10.0.0.1</Value></ParameterValueStruct>"#,
        "</ParameterList></cwmp:GetParameterValuesResponse>"
    ));
    let types: Vec<XsdType> = gpvr_values(&env).into_iter().map(|(_, t, _)| t).collect();
    assert_eq!(types, [XsdType::Base64, XsdType::Base64, XsdType::Base64, XsdType::Other("IPAddress".into())]);
}

// ---- Whitespace, text and arrays ----

/// A pretty-printed Inform as a CPE sends it, with an XML declaration and comments.
#[test]
fn pretty_printed_inform() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- sent by a CPE -->
<SOAP-ENV:Envelope
    xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:SOAP-ENC="http://schemas.xmlsoap.org/soap/encoding/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:cwmp="urn:dslforum-org:cwmp-1-2">
  <SOAP-ENV:Header>
    <cwmp:ID SOAP-ENV:mustUnderstand="1">100</cwmp:ID>
    <cwmp:SessionTimeout SOAP-ENV:mustUnderstand="0">60</cwmp:SessionTimeout>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body SOAP-ENV:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
    <cwmp:Inform>
      <DeviceId>
        <Manufacturer>Acme</Manufacturer>
        <OUI>00D09E</OUI>
        <ProductClass>Router</ProductClass>
        <SerialNumber>SN1</SerialNumber>
      </DeviceId>
      <Event SOAP-ENC:arrayType="cwmp:EventStruct[2]">
        <EventStruct>
          <EventCode>1 BOOT</EventCode>
          <CommandKey></CommandKey>
        </EventStruct>
        <EventStruct>
          <EventCode>X 00D09E Custom</EventCode>
          <CommandKey/>
        </EventStruct>
      </Event>
      <MaxEnvelopes>1</MaxEnvelopes>
      <CurrentTime>2018-03-01T13:00:00+01:00</CurrentTime>
      <RetryCount>0</RetryCount>
      <ParameterList SOAP-ENC:arrayType="cwmp:ParameterValueStruct[1]">
        <ParameterValueStruct>
          <Name>Device.DeviceInfo.HardwareVersion</Name>
          <Value xsi:type="xsd:string">  v1 </Value>
        </ParameterValueStruct>
      </ParameterList>
    </cwmp:Inform>
  </SOAP-ENV:Body>
</SOAP-ENV:Envelope>
"#;
    let env = ok(xml);
    assert_eq!(env.header.session_timeout, Some(60));
    assert_eq!(env.detected_version(), Version::V1_3);
    let Message::Inform(inform) = env.message else { panic!("expected Inform") };
    assert_eq!(inform.device_id.serial_number, "SN1");
    assert_eq!(inform.event, [EventStruct::new("1 BOOT", ""), EventStruct::new("X 00D09E Custom", "")]);
    assert_eq!(inform.current_time.to_string(), "2018-03-01T13:00:00+01:00");
    // Trap 6.4: the value is kept exactly, spaces included.
    assert_eq!(inform.parameter_list[0].value.text, "  v1 ");
}

/// Trap 6.4: names are trimmed, values never are.
#[test]
fn names_trimmed_values_not() {
    let env = body(concat!(
        "<cwmp:SetParameterValues><ParameterList>",
        "<ParameterValueStruct><Name>\n   Device.A \t</Name><Value xsi:type=\"xsd:string\"> \n padded \t</Value></ParameterValueStruct>",
        "</ParameterList><ParameterKey> k </ParameterKey></cwmp:SetParameterValues>",
    ));
    let Message::SetParameterValues(spv) = env.message else { panic!("expected SPV") };
    assert_eq!(spv.parameter_list[0].name, "Device.A");
    assert_eq!(spv.parameter_list[0].value.text, " \n padded \t");
    // ParameterKey is a string, not a name: kept as sent.
    assert_eq!(spv.parameter_key, " k ");
    let gpv = body(
        "<cwmp:GetParameterValues><ParameterNames><string> Device.A. </string><string>\n</string></ParameterNames></cwmp:GetParameterValues>",
    );
    assert_eq!(
        gpv.message,
        Message::GetParameterValues(GetParameterValues { parameter_names: vec!["Device.A.".into(), String::new()] })
    );
}

/// E-ESCAPE: CDATA, entity and character references, and their mix.
#[test]
fn cdata_and_references() {
    let env = body(concat!(
        "<cwmp:GetParameterValuesResponse><ParameterList>",
        "<ParameterValueStruct><Name>A</Name><Value><![CDATA[a<b&c]]></Value></ParameterValueStruct>",
        "<ParameterValueStruct><Name>B</Name><Value>x&lt;<![CDATA[]]]]><![CDATA[>]]>&#233;&#x20AC;&amp;&quot;&apos;&gt;</Value></ParameterValueStruct>",
        "</ParameterList></cwmp:GetParameterValuesResponse>"
    ));
    let texts: Vec<String> = gpvr_values(&env).into_iter().map(|(_, _, t)| t).collect();
    assert_eq!(texts, ["a<b&c", "x<]]>é€&\"'>"]);
}

/// `<ParameterKey/>` is the empty string, as is `<ParameterKey></ParameterKey>`.
#[test]
fn empty_elements() {
    for key in ["<ParameterKey/>", "<ParameterKey></ParameterKey>"] {
        let env =
            body(&format!("<cwmp:AddObject><ObjectName>Device.NAT.PortMapping.</ObjectName>{key}</cwmp:AddObject>"));
        assert_eq!(
            env.message,
            Message::AddObject(AddObject {
                object_name: "Device.NAT.PortMapping.".into(),
                parameter_key: String::new()
            })
        );
    }
}

/// The Event array may be empty in any of its spellings.
#[test]
fn empty_event_array() {
    for event in ["<Event/>", r#"<Event soapenc:arrayType="cwmp:EventStruct[0]"></Event>"#, "<Event>\n  </Event>"] {
        let env = body(&format!(
            "<cwmp:Inform><DeviceId><Manufacturer>A</Manufacturer><OUI>00D09E</OUI><ProductClass>P</ProductClass>\
             <SerialNumber>S</SerialNumber></DeviceId>{event}<MaxEnvelopes>1</MaxEnvelopes>\
             <CurrentTime>0001-01-01T00:00:00Z</CurrentTime><RetryCount>3</RetryCount><ParameterList/></cwmp:Inform>"
        ));
        let Message::Inform(inform) = env.message else { panic!("expected Inform") };
        assert!(inform.event.is_empty(), "{event}");
        assert_eq!(inform.retry_count, 3);
    }
}

/// E-ARRAYTYPE / trap 6.27: the declared count, the prefix and the member names are not
/// trusted; a missing arrayType is accepted.
#[test]
fn array_type_count_not_trusted() {
    for open in [
        r#"<ParameterNames soapenc:arrayType="xsd:string[5]">"#,
        r#"<ParameterNames soapenc:arrayType="xsd:string[0]">"#,
        r#"<ParameterNames soapenc:arrayType="xsd:string[]">"#,
        r#"<ParameterNames soapenc:arrayType="string[2]">"#,
        r#"<ParameterNames xsi:type="soapenc:Array">"#,
        "<ParameterNames>",
    ] {
        let env = body(&format!(
            "<cwmp:GetParameterValues>{open}<string>Device.A</string><item>Device.B</item></ParameterNames></cwmp:GetParameterValues>"
        ));
        assert_eq!(
            env.message,
            Message::GetParameterValues(GetParameterValues {
                parameter_names: vec!["Device.A".into(), "Device.B".into()]
            }),
            "{open}"
        );
    }
}

/// Trap 6.28: unknown elements, attributes, comments and processing instructions are ignored.
#[test]
fn unknown_elements_and_attributes_ignored() {
    let env = body(concat!(
        r#"<cwmp:Reboot vendor="x"><!-- c --><?pi data?><X_ACME_Extra><deep>1</deep></X_ACME_Extra>"#,
        r#"<CommandKey foo="bar">k</CommandKey></cwmp:Reboot>"#
    ));
    assert_eq!(env.message, Message::Reboot(Reboot { command_key: "k".into() }));
}

#[test]
fn missing_and_duplicate_elements() {
    assert!(matches!(err(soap("", "<cwmp:Reboot/>")).kind, ErrorKind::MissingElement("CommandKey")));
    assert!(matches!(
        err(soap("", "<cwmp:Reboot><CommandKey>a</CommandKey><CommandKey>b</CommandKey></cwmp:Reboot>")).kind,
        ErrorKind::DuplicateElement("CommandKey")
    ));
    // An element where text is expected.
    assert!(matches!(
        err(soap("", "<cwmp:Reboot><CommandKey><b>x</b></CommandKey></cwmp:Reboot>")).kind,
        ErrorKind::UnexpectedElement(_)
    ));
}

// ---- Headers ----

/// Unknown header elements are ignored without mustUnderstand="1" and refused with it.
#[test]
fn unknown_headers() {
    let reboot = "<cwmp:RebootResponse/>";
    for ignored in [
        r#"<v:Trace xmlns:v="urn:vendor">abc</v:Trace>"#,
        r#"<v:Trace xmlns:v="urn:vendor" soap:mustUnderstand="0"><nested/></v:Trace>"#,
        r#"<cwmp:X_ACME_Hint soap:mustUnderstand="0">1</cwmp:X_ACME_Hint>"#,
    ] {
        let env = ok(&soap(&format!(r#"<cwmp:ID soap:mustUnderstand="1">1</cwmp:ID>{ignored}"#), reboot));
        assert_eq!(env.header.id.as_deref(), Some("1"), "{ignored}");
    }
    for refused in [
        r#"<v:Trace xmlns:v="urn:vendor" soap:mustUnderstand="1">abc</v:Trace>"#,
        r#"<v:Trace xmlns:v="urn:vendor" soap:mustUnderstand="true">abc</v:Trace>"#,
        r#"<cwmp:X_ACME_Hint soap:mustUnderstand="1">1</cwmp:X_ACME_Hint>"#,
    ] {
        let e = err(soap(refused, reboot));
        assert!(matches!(&e.kind, ErrorKind::MustUnderstand(n) if n == "Trace" || n == "X_ACME_Hint"), "{refused}");
    }
}

/// The deprecated 1.0 NoMoreRequests header is accepted (and carries no meaning).
#[test]
fn no_more_requests_accepted() {
    let env = ok(&soap(r#"<cwmp:NoMoreRequests>1</cwmp:NoMoreRequests>"#, "<cwmp:GetRPCMethods/>"));
    assert_eq!(env.header.no_more_requests, Some(true));
    assert_eq!(env.message, Message::GetRpcMethods(GetRpcMethods {}));
}

#[test]
fn hold_requests_and_use_cwmp_version() {
    let env = ok(&soap(
        r#"<cwmp:HoldRequests soap:mustUnderstand="1">true</cwmp:HoldRequests><cwmp:UseCWMPVersion soap:mustUnderstand="1"> 1.4 </cwmp:UseCWMPVersion>"#,
        "<cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse>",
    ));
    assert_eq!(env.header.hold_requests, Some(true));
    assert_eq!(env.header.use_cwmp_version, Some(Version::V1_4));
    let bad = err(soap(r#"<cwmp:UseCWMPVersion>one</cwmp:UseCWMPVersion>"#, "<cwmp:GetRPCMethods/>"));
    assert!(matches!(bad.kind, ErrorKind::InvalidValue { element: "UseCWMPVersion", .. }));
}

/// Trap 6.23 / 3.7.4 Table 9: the version a message implies.
#[test]
fn version_detection() {
    let with = |uri: &str, header: &str| {
        ok(&format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="{uri}"><s:Header>{header}</s:Header><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"#
        ))
        .detected_version()
    };
    assert_eq!(with("urn:dslforum-org:cwmp-1-0", ""), Version::V1_0);
    assert_eq!(with("urn:dslforum-org:cwmp-1-1", ""), Version::V1_1);
    assert_eq!(with("urn:dslforum-org:cwmp-1-2", ""), Version::V1_2);
    assert_eq!(with("urn:dslforum-org:cwmp-1-2", "<c:SessionTimeout>30</c:SessionTimeout>"), Version::V1_3);
    assert_eq!(
        with(
            "urn:dslforum-org:cwmp-1-2",
            "<c:SessionTimeout>30</c:SessionTimeout><c:SupportedCWMPVersions>1.0,1.1,1.2,1.3,1.4</c:SupportedCWMPVersions>"
        ),
        Version::V1_4
    );
    // Unknown versions in the list are skipped.
    assert_eq!(
        with("urn:dslforum-org:cwmp-1-2", "<c:SupportedCWMPVersions>1.2,1.3,2.0</c:SupportedCWMPVersions>"),
        Version::V1_3
    );
    assert_eq!(with("urn:dslforum-org:cwmp-1-2", "<c:UseCWMPVersion>1.3</c:UseCWMPVersion>"), Version::V1_3);
}

/// E-ID: an envelope whose arguments are invalid still reports its ID and method, so the
/// receiver can answer a fault that echoes the ID.
#[test]
fn decode_error_keeps_the_id() {
    let e = err(soap(r#"<cwmp:ID soap:mustUnderstand="1">77</cwmp:ID>"#, "<cwmp:Reboot/>"));
    assert_eq!(e.id.as_deref(), Some("77"));
    assert_eq!(e.method.as_deref(), Some("Reboot"));
    assert_eq!(e.namespace, Some(Namespace::Cwmp12));
    assert!(!e.is_malformed());
    assert_eq!(e.cpe_fault_code(), FaultCode::InvalidArguments);
    assert_eq!(e.acs_fault_code(), FaultCode::AcsInvalidArguments);
    assert!(e.to_string().contains("CommandKey"), "{e}");
}

// ---- Body shape ----

/// Several envelopes in one HTTP body (MaxEnvelopes > 1).
#[test]
fn several_envelopes_in_one_body() {
    let one = soap(r#"<cwmp:ID>1</cwmp:ID>"#, "<cwmp:TransferCompleteResponse/>");
    let two = soap(r#"<cwmp:ID>2</cwmp:ID>"#, "<cwmp:RebootResponse/>");
    let both = format!("{one}\n{two}\n");
    let envs = decode_all(both.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(envs.len(), 2);
    assert_eq!(envs[1].header.id.as_deref(), Some("2"));
    assert!(matches!(decode(both.as_bytes(), &Limits::default()).unwrap_err().kind, ErrorKind::TooManyEnvelopes(1)));
    let limits = Limits { max_envelopes: 1, ..Limits::default() };
    assert!(matches!(err_with(&both, &limits).kind, ErrorKind::TooManyEnvelopes(1)));
    // An empty body (the CPE's empty POST) holds no envelope.
    assert!(decode_all(b"", &Limits::default()).unwrap().is_empty());
    assert!(decode_all(b"  \r\n", &Limits::default()).unwrap().is_empty());
}

/// E-UNKNOWN-METHOD: a method this codec does not know is returned by name (the receiver
/// answers 9000 or 8000); its content is skipped.
#[test]
fn unknown_method() {
    let env = body("<cwmp:X_ACME_COM_Foo><Arg><Deep>1</Deep></Arg></cwmp:X_ACME_COM_Foo>");
    assert_eq!(env.message, Message::Unknown("X_ACME_COM_Foo".parse().unwrap()));
    assert!(env.message.is_request());
    assert!(!Message::Unknown("X_ACME_COM_FooResponse".parse().unwrap()).is_request());
}

/// E-ONEBODY: zero Body elements, two Body elements, an empty Body or two methods are refused.
#[test]
fn body_count() {
    let env_open =
        r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:c="urn:dslforum-org:cwmp-1-2">"#;
    let cases = [
        (format!("{env_open}<s:Header/></s:Envelope>"), "no Body"),
        (
            format!("{env_open}<s:Body><c:GetRPCMethods/></s:Body><s:Body><c:GetRPCMethods/></s:Body></s:Envelope>"),
            "more than one Body",
        ),
        (format!("{env_open}<s:Body></s:Body></s:Envelope>"), "empty Body"),
        (
            format!("{env_open}<s:Body><c:GetRPCMethods/><c:GetRPCMethods/></s:Body></s:Envelope>"),
            "more than one element in Body",
        ),
    ];
    for (xml, why) in cases {
        assert!(matches!(err(&xml).kind, ErrorKind::BadBody(w) if w == why), "{why}");
    }
}

// ---- ChangeDUState (E-CDUS, trap 6.15) ----

#[test]
fn change_du_state_typed_and_wrapped() {
    let expected = vec![
        OperationStruct::Install(InstallOpStruct { url: "http://f/a".into(), ..Default::default() }),
        OperationStruct::Uninstall(UninstallOpStruct { uuid: "u-1".into(), ..Default::default() }),
    ];
    let typed = body(concat!(
        r#"<cwmp:ChangeDUState><Operations xsi:type="cwmp:InstallOpStruct"><URL>http://f/a</URL></Operations>"#,
        r#"<Operations xsi:type="UninstallOpStruct"><UUID>u-1</UUID></Operations></cwmp:ChangeDUState>"#
    ));
    assert_eq!(
        typed.message,
        Message::ChangeDuState(ChangeDuState { operations: expected.clone(), command_key: None })
    );
    let wrapped = body(concat!(
        "<cwmp:ChangeDUState><Operations><InstallOpStruct><URL>http://f/a</URL></InstallOpStruct></Operations>",
        "<Operations><UninstallOpStruct><UUID>u-1</UUID></UninstallOpStruct></Operations>",
        "<CommandKey>k</CommandKey></cwmp:ChangeDUState>"
    ));
    assert_eq!(
        wrapped.message,
        Message::ChangeDuState(ChangeDuState { operations: expected, command_key: Some("k".into()) })
    );
}

/// Trap 6.17: an operation without xsi:type (and without the wrapper) is an error, as is an
/// unknown operation type.
#[test]
fn change_du_state_without_type() {
    let e = err(soap("", "<cwmp:ChangeDUState><Operations><URL>http://f/a</URL></Operations></cwmp:ChangeDUState>"));
    assert!(matches!(e.kind, ErrorKind::InvalidValue { element: "Operations", .. }), "{e}");
    assert_eq!(e.cpe_fault_code(), FaultCode::InvalidArguments);
    let e = err(soap(
        "",
        r#"<cwmp:ChangeDUState><Operations xsi:type="cwmp:RebootOpStruct"><URL>x</URL></Operations></cwmp:ChangeDUState>"#,
    ));
    assert!(matches!(e.kind, ErrorKind::InvalidValue { element: "Operations", .. }), "{e}");
    // Uninstall without its required UUID.
    let e = err(soap(
        "",
        r#"<cwmp:ChangeDUState><Operations xsi:type="cwmp:UninstallOpStruct"></Operations></cwmp:ChangeDUState>"#,
    ));
    assert!(matches!(e.kind, ErrorKind::MissingElement("UUID")), "{e}");
}

// ---- Data types (E-STRLEN, E-BOOL, E-INT, E-DT-*) ----

/// E-STRLEN: lengths count characters; 32 two-byte characters fit a string(32), 33 do not
/// when lengths are enforced, and pass when they are not.
#[test]
fn string_lengths_in_characters() {
    let reboot = |key: &str| soap("", &format!("<cwmp:Reboot><CommandKey>{key}</CommandKey></cwmp:Reboot>"));
    let k32 = "é".repeat(32);
    let k33 = "é".repeat(33);
    assert_eq!(ok(&reboot(&k32)).message, Message::Reboot(Reboot { command_key: k32.clone() }));
    let e = err(reboot(&k33));
    assert!(matches!(e.kind, ErrorKind::StringTooLong { element: "CommandKey", max: 32 }), "{e}");
    assert_eq!(e.cpe_fault_code(), FaultCode::InvalidArguments);
    let lax = Limits { enforce_string_lengths: false, ..Limits::default() };
    let env = decode(reboot(&k33).as_bytes(), &lax).unwrap();
    assert_eq!(env.message, Message::Reboot(Reboot { command_key: k33 }));
    // 4-byte characters: 32 of them are 128 bytes and still fit.
    let emoji = "😀".repeat(32);
    assert_eq!(ok(&reboot(&emoji)).message, Message::Reboot(Reboot { command_key: emoji }));
    // Path names are string(256).
    let long_name = format!("Device.{}", "a".repeat(250));
    let gpn = |p: &str| {
        soap(
            "",
            &format!(
                "<cwmp:GetParameterNames><ParameterPath>{p}</ParameterPath><NextLevel>0</NextLevel></cwmp:GetParameterNames>"
            ),
        )
    };
    assert!(matches!(err(gpn(&long_name)).kind, ErrorKind::StringTooLong { element: "ParameterPath", max: 256 }));
    assert!(ok(&gpn(&long_name[..256])).message.name() == "GetParameterNames");
}

/// E-BOOL: `0 1 true false` only. Typed boolean elements collapse surrounding whitespace as
/// XSD prescribes; a Value's text is never touched, so `Value::as_bool` refuses ` 1`.
#[test]
fn booleans() {
    let gpn = |v: &str| {
        soap(
            "",
            &format!(
                "<cwmp:GetParameterNames><ParameterPath></ParameterPath><NextLevel>{v}</NextLevel></cwmp:GetParameterNames>"
            ),
        )
    };
    for (text, value) in [("0", false), ("1", true), ("true", true), ("false", false), (" 1\n", true)] {
        assert_eq!(
            ok(&gpn(text)).message,
            Message::GetParameterNames(GetParameterNames { parameter_path: String::new(), next_level: value }),
            "{text:?}"
        );
    }
    for bad in ["True", "yes", "", "2", "FALSE"] {
        let e = err(gpn(bad));
        assert!(matches!(e.kind, ErrorKind::InvalidValue { element: "NextLevel", .. }), "{bad:?}: {e}");
    }
    assert_eq!(cwmp_wire::Value::new(XsdType::Boolean, " 1").as_bool(), None);
    assert!(cwmp_wire::Value::new(XsdType::Boolean, "True").check().is_err());
}

/// E-INT: ranges of int and unsignedInt, and the schema's restrictions (InstanceNumber >= 1,
/// Status 0 or 1, Notification 0..6).
#[test]
fn integers() {
    let si = |d: &str| {
        soap("", &format!("<cwmp:ScheduleInform><DelaySeconds>{d}</DelaySeconds><CommandKey/></cwmp:ScheduleInform>"))
    };
    assert_eq!(
        ok(&si("4294967295")).message,
        Message::ScheduleInform(ScheduleInform { delay_seconds: u32::MAX, command_key: String::new() })
    );
    assert_eq!(
        ok(&si(" +7 ")).message,
        Message::ScheduleInform(ScheduleInform { delay_seconds: 7, command_key: String::new() })
    );
    for bad in ["-1", "4294967296", "", "1.0", "0x10", "1 2"] {
        let e = err(si(bad));
        assert!(matches!(e.kind, ErrorKind::InvalidValue { element: "DelaySeconds", .. }), "{bad:?}: {e}");
    }
    let tw = |r: &str| {
        soap(
            "",
            &format!(
                "<cwmp:ScheduleDownload><CommandKey/><FileType>1 Firmware Upgrade Image</FileType><URL>u</URL>\
                 <Username/><Password/><FileSize>0</FileSize><TargetFileName/><TimeWindowList><TimeWindowStruct>\
                 <WindowStart>0</WindowStart><WindowEnd>1</WindowEnd><WindowMode>1 At Any Time</WindowMode>\
                 <UserMessage/><MaxRetries>{r}</MaxRetries></TimeWindowStruct></TimeWindowList></cwmp:ScheduleDownload>"
            ),
        )
    };
    assert!(ok(&tw("-2147483648")).message.name() == "ScheduleDownload");
    assert!(matches!(err(tw("2147483648")).kind, ErrorKind::InvalidValue { element: "MaxRetries", .. }));

    let add = |n: &str, s: &str| {
        soap(
            "",
            &format!(
                "<cwmp:AddObjectResponse><InstanceNumber>{n}</InstanceNumber><Status>{s}</Status></cwmp:AddObjectResponse>"
            ),
        )
    };
    assert_eq!(
        ok(&add("1", "1")).message,
        Message::AddObjectResponse(AddObjectResponse { instance_number: 1, status: 1 })
    );
    assert!(matches!(err(add("0", "0")).kind, ErrorKind::InvalidValue { element: "InstanceNumber", .. }));
    assert!(matches!(err(add("1", "2")).kind, ErrorKind::InvalidValue { element: "Status", .. }));
    assert!(matches!(err(add("1", "-1")).kind, ErrorKind::InvalidValue { element: "Status", .. }));

    let spa = |n: &str| {
        soap(
            "",
            &format!(
                "<cwmp:SetParameterAttributes><ParameterList><SetParameterAttributesStruct><Name>Device.</Name>\
                 <NotificationChange>1</NotificationChange><Notification>{n}</Notification>\
                 <AccessListChange>0</AccessListChange><AccessList/></SetParameterAttributesStruct></ParameterList>\
                 </cwmp:SetParameterAttributes>"
            ),
        )
    };
    assert!(ok(&spa("6")).message.name() == "SetParameterAttributes");
    assert!(matches!(err(spa("7")).kind, ErrorKind::InvalidValue { element: "Notification", .. }));
}

fn transfer_complete(start: &str) -> String {
    soap(
        "",
        &format!(
            "<cwmp:TransferComplete><CommandKey/><FaultStruct><FaultCode>0</FaultCode><FaultString/></FaultStruct>\
             <StartTime>{start}</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:TransferComplete>"
        ),
    )
}

fn start_time(text: &str) -> DateTime {
    match ok(&transfer_complete(text)).message {
        Message::TransferComplete(tc) => tc.start_time,
        other => panic!("expected TransferComplete, got {other:?}"),
    }
}

/// E-DT-UTC, E-DT-UNKNOWN, E-DT-BOOT (trap 6.25).
#[test]
fn date_times() {
    let utc = start_time("2018-03-01T12:00:00Z");
    assert!(matches!(utc, DateTime::Absolute { .. }));
    for same in ["2018-03-01T12:00:00+00:00", "2018-03-01T12:00:00-00:00", " 2018-03-01T12:00:00Z "] {
        assert_eq!(start_time(same), utc, "{same}");
    }
    assert_eq!(start_time("2018-03-01T12:00:00.123Z").to_string(), "2018-03-01T12:00:00.123Z");
    // Written back with Z.
    assert_eq!(start_time("2018-03-01T12:00:00+00:00").to_string(), "2018-03-01T12:00:00Z");

    assert_eq!(start_time("0001-01-01T00:00:00Z"), DateTime::Unknown);
    assert_eq!(start_time("0001-01-01T00:00:00"), DateTime::SinceBoot(Duration::ZERO));
    assert_ne!(start_time("0001-01-01T00:00:00"), DateTime::Unknown);
    assert_eq!(
        start_time("0001-01-03T03:04:05"),
        DateTime::SinceBoot(Duration::from_secs(2 * 86400 + 3 * 3600 + 4 * 60 + 5))
    );
    assert!(matches!(start_time("0999-12-31T23:59:59"), DateTime::SinceBoot(_)));
    // An untimezoned real date in a UTC field is kept, but flagged as Floating.
    assert!(matches!(start_time("2018-03-01T12:00:00"), DateTime::Floating(_)));

    for bad in ["2018-03-01", "2018-03-01 12:00:00Z", "2018-02-30T12:00:00Z", "yesterday", ""] {
        let e = err(transfer_complete(bad));
        assert!(matches!(e.kind, ErrorKind::InvalidValue { element: "StartTime", .. }), "{bad:?}: {e}");
    }
}

// ---- Encodings ----

/// A body declared ISO-8859-1 is read as Latin-1, even where its bytes happen to be valid
/// UTF-8; a UTF-8 BOM is skipped; other non-UTF-8 bodies are refused.
#[test]
fn character_encodings() {
    let with_value = |decl: &str, value: &[u8]| {
        let s = soap("", "<cwmp:Reboot><CommandKey>@@</CommandKey></cwmp:Reboot>");
        let (head, tail) = s.split_once("@@").unwrap();
        let mut xml = decl.as_bytes().to_vec();
        xml.extend_from_slice(head.as_bytes());
        xml.extend_from_slice(value);
        xml.extend_from_slice(tail.as_bytes());
        xml
    };
    let latin1 = |value: &[u8]| {
        let xml = with_value(r#"<?xml version="1.0" encoding="ISO-8859-1"?>"#, value);
        decode(&xml, &Limits::default()).map(|e| e.message)
    };
    assert_eq!(latin1(b"caf\xE9").unwrap(), Message::Reboot(Reboot { command_key: "café".into() }));
    // 0xC3 0xA9 is "é" in UTF-8 but "Ã©" in the declared Latin-1.
    assert_eq!(latin1(b"\xC3\xA9").unwrap(), Message::Reboot(Reboot { command_key: "Ã©".into() }));

    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice(soap("", "<cwmp:GetRPCMethods/>").as_bytes());
    assert_eq!(decode(&bom, &Limits::default()).unwrap().message, Message::GetRpcMethods(GetRpcMethods {}));

    let bad = with_value("", b"caf\xE9");
    assert!(matches!(err(&bad).kind, ErrorKind::NotUtf8));
}
