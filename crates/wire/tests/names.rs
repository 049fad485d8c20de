//! XML names and attribute lists (XML 1.0 2.3, 3.1; Namespaces in XML 1.0 4): what XML does
//! not allow is refused with a clear error, so nothing we decode can make the encoder write a
//! tag that is not XML. Inputs the fuzzer found are kept here as regression tests (and in
//! `fuzz/seeds/`).

mod common;

use common::hostile::{ENVELOPE_CLOSE, ENVELOPE_OPEN};
use common::{err, ok};
use cwmp_wire::rpc::UnknownMethod;
use cwmp_wire::{EncodeOptions, Envelope, ErrorKind, Message, Namespace, encode_all};

fn in_body(method: &str) -> String {
    format!("{ENVELOPE_OPEN}<soap:Body>{method}</soap:Body>{ENVELOPE_CLOSE}")
}

/// Found by a 4-minute run of the `roundtrip` fuzz target (issue 11): the decoder took
/// `m|/` for the name of an unknown method, and the encoder then wrote `<cwmp:m|/></cwmp:m|/>`.
#[test]
fn fuzz_unknown_method_named_m_bar_slash() {
    let body = include_bytes!("../../../fuzz/seeds/regress-method-name.xml");
    let e = err(body);
    assert_eq!(e.kind, ErrorKind::InvalidName("m|/".into()), "{e}");
    assert!(e.is_malformed());
    assert_eq!(e.element, "soap-env:Envelope/soap-env:Body");
    assert!(e.to_string().starts_with(r#"malformed XML: "m|/" is not a valid XML name at byte "#), "{e}");
}

#[test]
fn element_names_that_are_not_qnames_are_refused_wherever_they_are() {
    let bad = ["m|", "1a", "-a", "a:b:c", ":a", "a:", "a&b", "a=b", "a;", "a\u{D7}"];
    for name in bad {
        let cases = [
            // The method, an argument, an unknown element that is skipped, a header element,
            // the root.
            in_body(&format!("<{name}/>")),
            in_body(&format!("<cwmp:GetRPCMethods><{name}></{name}></cwmp:GetRPCMethods>")),
            in_body(&format!("<cwmp:X_Foo><a><{name}/></a></cwmp:X_Foo>")),
            format!("{ENVELOPE_OPEN}<soap:Header><{name}/></soap:Header><soap:Body/>{ENVELOPE_CLOSE}"),
            format!("<{name}/>"),
        ];
        for xml in cases {
            let e = err(&xml);
            assert_eq!(e.kind, ErrorKind::InvalidName(name.into()), "{xml}: {e}");
            assert!(e.is_malformed());
        }
    }
    // Names XML allows, ASCII or not, still read.
    let env = ok(&in_body("<cwmp:X_ACME-COM.Foo_2><é\u{B7}1/></cwmp:X_ACME-COM.Foo_2>"));
    assert_eq!(env.message.name(), "X_ACME-COM.Foo_2");
}

#[test]
fn attribute_lists_xml_does_not_allow_are_refused() {
    // Each case and what its error says.
    let cases = [
        // The attribute of the fuzz input: a name with no value.
        (r#"<m n/>"#, "attribute n without a value"),
        (r#"<m b|c="1"/>"#, r#""b|c" is not a valid XML name"#),
        (r#"<m 1b="1"/>"#, r#""1b" is not a valid XML name"#),
        (r#"<m a:b:c="1"/>"#, r#""a:b:c" is not a valid XML name"#),
        (r#"<m a=1/>"#, "value of attribute a not quoted"),
        (r#"<m a="1"b="2"/>"#, "attributes not separated by whitespace"),
        (r#"<m a="1" a='2'/>"#, "attribute a given twice"),
        (r#"<m a="x<y"/>"#, "`<` in an attribute value"),
        (r#"<m a="x&y"/>"#, "`&` in an attribute value starts no reference"),
        (r#"<m a="&lol;"/>"#, "unknown entity &lol;"),
    ];
    for (element, expected) in cases {
        // On an element nobody reads the attributes of, and on a method argument.
        for xml in [
            in_body(&element.replace('m', "cwmp:X_Foo")),
            in_body(&format!("<cwmp:Reboot><CommandKey/>{element}</cwmp:Reboot>")),
        ] {
            let e = err(&xml);
            assert!(e.kind.to_string().contains(expected), "{xml}: {e}");
            assert!(e.is_malformed(), "{xml}");
        }
    }
    // What XML allows: whitespace around `=`, either quote, references, `>` in a value.
    let env = ok(&in_body("<cwmp:X_Foo a = '1'\n\tb=\"&amp;&#233;&#x20AC;>'\" xmlns:z=\"urn:z\" z:c=\"\" d=\"x\" />"));
    assert_eq!(env.message.name(), "X_Foo");
}

/// A typed value's `xsi:type` of a type we do not know is kept by name, so it must be a
/// QName; an empty one reads as no type.
#[test]
fn xsi_type_of_an_unknown_type_must_be_a_qname() {
    let value = |ty: &str| {
        in_body(&format!(
            "<cwmp:SetParameterValues><ParameterList><ParameterValueStruct><Name>A</Name>\
             <Value xsi:type=\"{ty}\">1</Value></ParameterValueStruct></ParameterList>\
             <ParameterKey/></cwmp:SetParameterValues>"
        ))
    };
    let ty = |xml: &str| match ok(xml).message {
        Message::SetParameterValues(m) => m.parameter_list[0].value.ty.name().to_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ty(&value("tr106:IPAddress")), "IPAddress");
    assert_eq!(ty(&value(" xsd:int ")), "int");
    assert_eq!(ty(&value("")), "string");
    for bad in ["a b", "x:y:z", "1x", "x|y"] {
        let e = err(value(bad));
        assert!(
            matches!(&e.kind, ErrorKind::InvalidValue { element: "Value", reason } if reason.contains("QName")),
            "{bad}: {e}"
        );
        assert!(!e.is_malformed(), "a bad argument of a well-formed request (9003)");
    }
}

/// Whatever name an unknown method has, the message can be built only with an NCName, and
/// then encodes to XML that reads back the same.
#[test]
fn unknown_methods_round_trip_and_bad_names_cannot_be_built() {
    let name = UnknownMethod::new("X_ACME-COM.Foo\u{E9}").unwrap();
    let env = Envelope::new(Namespace::Cwmp12, Message::Unknown(name));
    let bytes = encode_all(std::slice::from_ref(&env), &EncodeOptions::default());
    assert_eq!(ok(std::str::from_utf8(&bytes).unwrap()), env);
    assert!(UnknownMethod::new("m|/").is_err());
    assert!(UnknownMethod::new("cwmp:X").is_err());
}
