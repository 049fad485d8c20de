//! Hostile documents: each is refused with a typed error, never a panic, and without reading
//! more than it must. Timings are not asserted (the benchmark prints them, see
//! docs/performance.md); the limits that make each case cheap are.

mod common;

use common::hostile::*;
use common::{err, err_with};
use cwmp_wire::{ErrorKind, Limits, decode};

#[test]
fn billion_laughs_refused_at_the_doctype() {
    let e = err(billion_laughs());
    assert_eq!(e.kind, ErrorKind::DocType);
    assert!(e.is_malformed());
}

#[test]
fn external_entity_refused_at_the_doctype() {
    assert_eq!(err(external_entity()).kind, ErrorKind::DocType);
}

#[test]
fn unknown_entity_refused() {
    let e = err(unknown_entity());
    assert_eq!(e.kind, ErrorKind::UnknownEntity("lol".into()));
    assert!(e.is_malformed());
}

#[test]
fn unknown_entity_in_an_attribute_refused() {
    let xml = format!(
        "{ENVELOPE_OPEN}<soap:Body><cwmp:GetParameterValuesResponse><ParameterList><ParameterValueStruct><Name>A</Name>\
         <Value xsi:type=\"&lol;\">1</Value></ParameterValueStruct></ParameterList></cwmp:GetParameterValuesResponse>\
         </soap:Body>{ENVELOPE_CLOSE}"
    );
    let e = err(xml);
    assert_eq!(e.kind, ErrorKind::UnknownEntity("lol".into()));
    assert!(e.is_malformed());
}

#[test]
fn deep_nesting_refused_at_the_depth_limit() {
    for depth in [100_000, 1_000_000] {
        let e = err(deep_nesting(depth));
        assert_eq!(e.kind, ErrorKind::TooDeep(Limits::default().max_depth), "{depth}");
        // Refused where the limit was crossed, long before the end of the document.
        assert!(e.position < 1_000, "{depth}: {}", e.position);
        assert!(e.is_limit());
    }
}

#[test]
fn body_over_the_size_limit_refused_before_parsing() {
    let body = huge_text(100 << 20);
    let e = err(&body);
    assert_eq!(e.kind, ErrorKind::TooLarge(Limits::default().max_body_bytes));
    assert_eq!(e.position, 0);
    // Not even the encoding is looked at.
    let mut garbage = vec![0xFFu8; 100 << 20];
    garbage[0] = b'<';
    assert_eq!(err(&garbage).kind, ErrorKind::TooLarge(Limits::default().max_body_bytes));
}

/// With the body limit raised above 100 MB, one huge text is still refused by max_text_len.
#[test]
fn huge_text_under_a_raised_body_limit_refused_by_text_length() {
    let limits = Limits { max_body_bytes: 128 << 20, ..Limits::default() };
    let e = err_with(huge_text(100 << 20), &limits);
    assert_eq!(e.kind, ErrorKind::TextTooLong(limits.max_text_len));
    assert!(e.is_limit());
}

/// Text assembled from many references grows only up to the limit.
#[test]
fn text_from_many_references_refused_by_text_length() {
    let limits = Limits::default();
    let e = err(many_references(limits.max_text_len + 10));
    assert_eq!(e.kind, ErrorKind::TextTooLong(limits.max_text_len));
}

#[test]
fn many_attributes_refused() {
    let max = Limits::default().max_attributes;
    assert_eq!(err(many_attributes(200_000)).kind, ErrorKind::TooManyAttributes(max));
    // Also on an element whose attributes the codec never reads.
    assert_eq!(err(many_attributes_inside(200_000)).kind, ErrorKind::TooManyAttributes(max));
    // Up to the limit is fine.
    let env = decode(&many_attributes_inside(max), &Limits::default()).unwrap();
    assert_eq!(env.message.name(), "Reboot");
}

#[test]
fn many_namespace_bindings_refused() {
    assert_eq!(err(many_xmlns(200_000)).kind, ErrorKind::TooManyAttributes(Limits::default().max_attributes));
}

#[test]
fn many_elements_refused_at_the_element_limit() {
    let limits = Limits::default();
    let e = err(many_elements(limits.max_elements + 1));
    assert_eq!(e.kind, ErrorKind::TooManyElements(limits.max_elements));
    // A lower limit is honoured, and a message under it decodes.
    let small = Limits { max_elements: 1_000, ..Limits::default() };
    assert_eq!(err_with(many_elements(1_000), &small).kind, ErrorKind::TooManyElements(1_000));
    assert!(decode(&many_elements(990), &small).is_ok());
}

#[test]
fn invalid_utf8_refused() {
    let e = err(invalid_utf8());
    assert_eq!(e.kind, ErrorKind::NotUtf8);
    assert!(e.is_malformed());
}

#[test]
fn too_many_envelopes_refused() {
    let one = format!("{ENVELOPE_OPEN}<soap:Body><cwmp:GetRPCMethods/></soap:Body>{ENVELOPE_CLOSE}");
    let limits = Limits::default();
    let e = err(one.repeat(limits.max_envelopes + 1));
    assert_eq!(e.kind, ErrorKind::TooManyEnvelopes(limits.max_envelopes));
}

/// Error messages stay short even when the offending names are huge.
#[test]
fn error_paths_are_bounded() {
    let name = "n".repeat(1 << 20);
    let xml = format!(
        "{ENVELOPE_OPEN}<soap:Body><cwmp:Reboot><{name}>&bad;</{name}></cwmp:Reboot></soap:Body>{ENVELOPE_CLOSE}"
    );
    let e = err(xml);
    assert_eq!(e.kind, ErrorKind::UnknownEntity("bad".into()));
    assert!(e.element.len() < 1_000, "{}", e.element.len());
    assert!(e.to_string().len() < 1_000);
}

/// Truncated and malformed documents are syntax errors.
#[test]
fn malformed_documents() {
    let full = format!(
        "{ENVELOPE_OPEN}<soap:Body><cwmp:Reboot><CommandKey>k</CommandKey></cwmp:Reboot></soap:Body>{ENVELOPE_CLOSE}"
    );
    for cut in [10, 50, full.len() / 2, full.len() - 1] {
        let e = err(&full[..cut]);
        assert!(matches!(e.kind, ErrorKind::Syntax(_)), "cut at {cut}: {e}");
    }
    let mismatched = full.replace("</CommandKey>", "</Commandkey>");
    assert!(matches!(err(mismatched).kind, ErrorKind::Syntax(_)));
    assert!(matches!(err("<a").kind, ErrorKind::Syntax(_)));
}

/// E-SIZE: envelopes of 32768 bytes and more must be accepted (3.5).
#[test]
fn a_large_legal_envelope_is_accepted() {
    let params: String = (0..400)
        .map(|i| {
            format!(
                "<ParameterValueStruct><Name>Device.X.{i}.Value</Name><Value xsi:type=\"xsd:string\">value-{i}</Value></ParameterValueStruct>"
            )
        })
        .collect();
    let xml = format!(
        "{ENVELOPE_OPEN}<soap:Body><cwmp:SetParameterValues><ParameterList>{params}</ParameterList>\
         <ParameterKey/></cwmp:SetParameterValues></soap:Body>{ENVELOPE_CLOSE}"
    );
    assert!(xml.len() > 32_768);
    let env = decode(xml.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(env.message.name(), "SetParameterValues");
}
