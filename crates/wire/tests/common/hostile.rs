//! Hostile documents, shared by `tests/hostile.rs` (which checks each is refused with the right
//! error) and `benches/codec.rs` (which measures time and peak memory of refusing them).

/// The SOAP envelope start with the usual bindings, for documents that need to get past the
/// envelope check.
pub const ENVELOPE_OPEN: &str = concat!(
    r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#,
    r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
    r#" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">"#
);
pub const ENVELOPE_CLOSE: &str = "</soap:Envelope>";

fn in_body(method: &str) -> String {
    format!("{ENVELOPE_OPEN}<soap:Body>{method}</soap:Body>{ENVELOPE_CLOSE}")
}

/// The classic exponential entity expansion, declared in a DTD.
pub fn billion_laughs() -> Vec<u8> {
    let mut dtd = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 { "lol".to_owned() } else { format!("lol{}", i - 1) };
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
    }
    dtd.push_str("]>\n");
    dtd.push_str(&in_body("<cwmp:Reboot><CommandKey>&lol9;</CommandKey></cwmp:Reboot>"));
    dtd.into_bytes()
}

/// An external entity (XXE) pointing at a local file.
pub fn external_entity() -> Vec<u8> {
    let mut xml = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n");
    xml.push_str(&in_body("<cwmp:Reboot><CommandKey>&xxe;</CommandKey></cwmp:Reboot>"));
    xml.into_bytes()
}

/// A reference to an entity that was never declared (and cannot be, without a DTD).
pub fn unknown_entity() -> Vec<u8> {
    in_body("<cwmp:Reboot><CommandKey>&lol;</CommandKey></cwmp:Reboot>").into_bytes()
}

/// `depth` nested elements inside the Body.
pub fn deep_nesting(depth: usize) -> Vec<u8> {
    let mut xml = String::with_capacity(depth * 7 + 400);
    xml.push_str(ENVELOPE_OPEN);
    xml.push_str("<soap:Body>");
    for _ in 0..depth {
        xml.push_str("<a>");
    }
    for _ in 0..depth {
        xml.push_str("</a>");
    }
    xml.push_str("</soap:Body>");
    xml.push_str(ENVELOPE_CLOSE);
    xml.into_bytes()
}

/// A Reboot whose CommandKey holds `len` bytes of text (a body of about `len` bytes).
pub fn huge_text(len: usize) -> Vec<u8> {
    let head = format!("{ENVELOPE_OPEN}<soap:Body><cwmp:Reboot><CommandKey>");
    let tail = format!("</CommandKey></cwmp:Reboot></soap:Body>{ENVELOPE_CLOSE}");
    let mut xml = Vec::with_capacity(head.len() + len + tail.len());
    xml.extend_from_slice(head.as_bytes());
    xml.resize(head.len() + len, b'x');
    xml.extend_from_slice(tail.as_bytes());
    xml
}

/// A CommandKey made of `count` character references, each one byte of text.
pub fn many_references(count: usize) -> Vec<u8> {
    in_body(&format!("<cwmp:Reboot><CommandKey>{}</CommandKey></cwmp:Reboot>", "&amp;".repeat(count))).into_bytes()
}

/// `count` plain attributes on the Envelope element.
pub fn many_attributes(count: usize) -> Vec<u8> {
    let mut xml = String::with_capacity(count * 12 + 400);
    xml.push_str(r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#);
    for i in 0..count {
        xml.push_str(&format!(" a{i}=\"\""));
    }
    xml.push_str("><soap:Body><cwmp:GetRPCMethods xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"/></soap:Body>");
    xml.push_str(ENVELOPE_CLOSE);
    xml.into_bytes()
}

/// `count` attributes on an element deep inside the method, which the codec otherwise never
/// looks at (a CommandKey).
pub fn many_attributes_inside(count: usize) -> Vec<u8> {
    let mut attrs = String::with_capacity(count * 12);
    for i in 0..count {
        attrs.push_str(&format!(" a{i}=\"\""));
    }
    in_body(&format!("<cwmp:Reboot><CommandKey{attrs}>k</CommandKey></cwmp:Reboot>")).into_bytes()
}

/// `count` namespace bindings on the Envelope element.
pub fn many_xmlns(count: usize) -> Vec<u8> {
    let mut xml = String::with_capacity(count * 40 + 400);
    xml.push_str(r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#);
    for i in 0..count {
        xml.push_str(&format!(" xmlns:p{i}=\"urn:x:{i}\""));
    }
    xml.push_str("><soap:Body><cwmp:GetRPCMethods xmlns:cwmp=\"urn:dslforum-org:cwmp-1-2\"/></soap:Body>");
    xml.push_str(ENVELOPE_CLOSE);
    xml.into_bytes()
}

/// A GetParameterValues with `count` (empty) names.
pub fn many_elements(count: usize) -> Vec<u8> {
    in_body(&format!(
        "<cwmp:GetParameterValues><ParameterNames>{}</ParameterNames></cwmp:GetParameterValues>",
        "<string/>".repeat(count)
    ))
    .into_bytes()
}

/// A body that is not UTF-8 and does not declare another encoding.
pub fn invalid_utf8() -> Vec<u8> {
    let mut xml = in_body("<cwmp:Reboot><CommandKey>@</CommandKey></cwmp:Reboot>").into_bytes();
    let at = xml.iter().position(|&b| b == b'@').expect("placeholder");
    xml.splice(at..=at, [0xFF, 0xFE, 0xC0, 0x80]);
    xml
}
