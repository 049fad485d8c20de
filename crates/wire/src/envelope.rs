//! The SOAP envelope (TR-069 3.5): header elements (Table 4), the Body, several envelopes in
//! one HTTP body, namespaces and version detection.

use std::borrow::Cow;

use crate::codec::{Scalar, UInt, XmlStruct};
use crate::error::{DecodeError, ErrorKind, clip};
use crate::fault::Fault;
use crate::rpc::Message;
use crate::types;
use crate::version::{Namespace, Version};
use crate::xml::ns;
use crate::xml::reader::Cursor;
use crate::xml::writer::XmlWriter;

/// Bounds that keep hostile input cheap to refuse.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest body accepted, in bytes (after decompression).
    pub max_body_bytes: usize,
    /// Deepest element nesting. CWMP messages nest about eight deep.
    pub max_depth: usize,
    /// Most elements in one body.
    pub max_elements: usize,
    /// Longest text content of one element, in bytes.
    pub max_text_len: usize,
    /// Most attributes read on one element.
    pub max_attributes: usize,
    /// Most envelopes in one body.
    pub max_envelopes: usize,
    /// Refuse strings longer than Annex A allows (string(32) and so on). A.2.1 lets a
    /// receiver refuse them with 9003; turn off to accept sloppy peers.
    pub enforce_string_lengths: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 16 << 20,
            max_depth: 32,
            max_elements: 1_000_000,
            max_text_len: 1 << 20,
            max_attributes: 64,
            max_envelopes: 64,
            enforce_string_lengths: true,
        }
    }
}

/// The CWMP header elements (3.5 Table 4). Unknown header elements without
/// `mustUnderstand="1"` are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// `cwmp:ID`: echoed in the response to a request that carries it.
    pub id: Option<String>,
    /// `cwmp:HoldRequests` (ACS to CPE, deprecated).
    pub hold_requests: Option<bool>,
    /// `cwmp:SessionTimeout` (CPE to ACS with Inform, 1.3+), seconds.
    pub session_timeout: Option<u32>,
    /// `cwmp:SupportedCWMPVersions` (CPE to ACS with Inform, 1.4+).
    pub supported_cwmp_versions: Option<Vec<Version>>,
    /// `cwmp:UseCWMPVersion` (ACS to CPE with InformResponse, 1.4+).
    pub use_cwmp_version: Option<Version>,
    /// `cwmp:NoMoreRequests` (CWMP 1.0, deprecated): read and otherwise ignored.
    pub no_more_requests: Option<bool>,
}

impl Header {
    fn is_empty(&self) -> bool {
        *self == Header::default()
    }
}

/// One SOAP envelope: header, message and the CWMP namespace it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub namespace: Namespace,
    pub header: Header,
    pub message: Message,
}

/// Output choices.
#[derive(Debug, Clone, Default)]
pub struct EncodeOptions {
    /// Start with `<?xml version="1.0" encoding="UTF-8"?>`. Off by default: some peers choke
    /// on it, and no peer needs it.
    pub xml_declaration: bool,
}

impl Envelope {
    pub fn new(namespace: Namespace, message: impl Into<Message>) -> Envelope {
        Envelope { namespace, header: Header::default(), message: message.into() }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Envelope {
        self.header.id = Some(id.into());
        self
    }

    /// The protocol version the envelope implies without negotiation (3.7.4 Table 9): the
    /// namespace's version, 1.3 when a 1-2 envelope carries SessionTimeout, and the highest
    /// known version of SupportedCWMPVersions or UseCWMPVersion when present.
    pub fn detected_version(&self) -> Version {
        if let Some(v) = self.header.use_cwmp_version {
            return v;
        }
        let known_max = self
            .header
            .supported_cwmp_versions
            .as_ref()
            .and_then(|list| list.iter().copied().filter(|v| v.is_known()).max());
        if let Some(v) = known_max {
            return v;
        }
        match self.namespace {
            Namespace::Cwmp12 if self.header.session_timeout.is_some() => Version::V1_3,
            ns => ns.base_version(),
        }
    }

    /// Writes the envelope with fixed prefixes (`soap-env`, `soap-enc`, `xsd`, `xsi`,
    /// `cwmp`) and no whitespace between elements.
    pub fn encode(&self, options: &EncodeOptions) -> Vec<u8> {
        let mut w = XmlWriter::with_capacity(512);
        if options.xml_declaration {
            w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        }
        self.encode_into(&mut w);
        w.buf.into_bytes()
    }

    fn encode_into(&self, w: &mut XmlWriter) {
        w.open_with(
            "soap-env:Envelope",
            &[
                ("xmlns:soap-env", ns::SOAP_ENV),
                ("xmlns:soap-enc", ns::SOAP_ENC),
                ("xmlns:xsd", ns::XSD),
                ("xmlns:xsi", ns::XSI),
                ("xmlns:cwmp", self.namespace.uri()),
            ],
        );
        if !self.header.is_empty() {
            encode_header(&self.header, w);
        }
        w.open("soap-env:Body");
        if !self.message.encode_method(w)
            && let Message::Fault(fault) = &self.message
        {
            encode_fault(fault, w);
        }
        w.close("soap-env:Body");
        w.close("soap-env:Envelope");
    }
}

/// Writes several envelopes into one body (for a peer that accepts MaxEnvelopes > 1).
pub fn encode_all(envelopes: &[Envelope], options: &EncodeOptions) -> Vec<u8> {
    let mut w = XmlWriter::with_capacity(512 * envelopes.len());
    if options.xml_declaration {
        w.raw("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    for envelope in envelopes {
        envelope.encode_into(&mut w);
    }
    w.buf.into_bytes()
}

fn header_leaf(w: &mut XmlWriter, tag: &str, must_understand: bool, text: &str) {
    w.open_with(tag, &[("soap-env:mustUnderstand", if must_understand { "1" } else { "0" })]);
    w.text(text);
    w.close(tag);
}

fn encode_header(h: &Header, w: &mut XmlWriter) {
    w.open("soap-env:Header");
    if let Some(id) = &h.id {
        header_leaf(w, "cwmp:ID", true, id);
    }
    if let Some(hold) = h.hold_requests {
        header_leaf(w, "cwmp:HoldRequests", true, types::format_bool(hold));
    }
    if let Some(timeout) = h.session_timeout {
        header_leaf(w, "cwmp:SessionTimeout", false, &timeout.to_string());
    }
    if let Some(versions) = &h.supported_cwmp_versions {
        header_leaf(w, "cwmp:SupportedCWMPVersions", false, &Version::format_list(versions));
    }
    if let Some(version) = h.use_cwmp_version {
        header_leaf(w, "cwmp:UseCWMPVersion", true, &version.to_string());
    }
    if let Some(no_more) = h.no_more_requests {
        header_leaf(w, "cwmp:NoMoreRequests", false, types::format_bool(no_more));
    }
    w.close("soap-env:Header");
}

/// 3.5: faultcode from Tables 87/88, faultstring exactly "CWMP fault", the detail a cwmp:Fault.
fn encode_fault(fault: &Fault, w: &mut XmlWriter) {
    w.open("soap-env:Fault");
    w.leaf("faultcode", fault.code.fault_type().as_str());
    w.leaf("faultstring", "CWMP fault");
    w.open("detail");
    w.open("cwmp:Fault");
    fault.encode_fields(w);
    w.close("cwmp:Fault");
    w.close("detail");
    w.close("soap-env:Fault");
}

/// Decodes an HTTP body holding exactly one envelope.
pub fn decode(body: &[u8], limits: &Limits) -> Result<Envelope, DecodeError> {
    let mut envelopes = decode_all(body, limits)?;
    match envelopes.len() {
        1 => Ok(envelopes.pop().expect("one envelope")),
        0 => Err(DecodeError::new(ErrorKind::NotSoap("nothing".into()), 0, String::new())),
        _ => Err(DecodeError::new(ErrorKind::TooManyEnvelopes(1), 0, String::new())),
    }
}

/// Decodes an HTTP body holding one or more envelopes (a CPE may send several when the ACS
/// allowed MaxEnvelopes > 1). An empty body is an empty list.
pub fn decode_all(body: &[u8], limits: &Limits) -> Result<Vec<Envelope>, DecodeError> {
    if body.len() > limits.max_body_bytes {
        return Err(DecodeError::new(ErrorKind::TooLarge(limits.max_body_bytes), 0, String::new()));
    }
    let text = to_text(body)?;
    let mut cur = Cursor::new(&text, limits);
    let mut envelopes = Vec::new();
    while let Some(root) = cur.next_child()? {
        if envelopes.len() >= limits.max_envelopes {
            return Err(cur.error(ErrorKind::TooManyEnvelopes(limits.max_envelopes)));
        }
        if root.local_name() != "Envelope" || !is_soap(cur.namespace_of(&root)?) {
            let name = clip(root.local_name());
            return Err(cur.error(ErrorKind::NotSoap(name)));
        }
        envelopes.push(decode_envelope(&mut cur)?);
    }
    Ok(envelopes)
}

/// UTF-8 (with or without BOM), or ISO-8859-1 when the XML declaration says so. The
/// declaration wins even over bytes that happen to be valid UTF-8 (`0xC3 0xA9` is "Ã©" in
/// Latin-1, not "é").
fn to_text(body: &[u8]) -> Result<Cow<'_, str>, DecodeError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if declares_latin1(body) {
        return Ok(Cow::Owned(body.iter().map(|&b| b as char).collect()));
    }
    std::str::from_utf8(body).map(Cow::Borrowed).map_err(|_| DecodeError::new(ErrorKind::NotUtf8, 0, String::new()))
}

/// Whether the XML declaration names ISO-8859-1 (or its alias latin1) as the encoding.
fn declares_latin1(body: &[u8]) -> bool {
    if !body.starts_with(b"<?xml") {
        return false;
    }
    let head = &body[..body.len().min(100)];
    let decl = memchr::memmem::find(head, b"?>").map_or(head, |end| &head[..end]).to_ascii_lowercase();
    memchr::memmem::find(&decl, b"iso-8859-1").is_some() || memchr::memmem::find(&decl, b"latin1").is_some()
}

/// Whether a SOAP structural element (Envelope, Header, Body, Fault) is in the envelope
/// namespace. Sloppy peers leave them unqualified (the `cwmp` crate writes a bare
/// `<Envelope>`), which is unambiguous; another namespace (SOAP 1.2) is not accepted.
fn is_soap(ns: Option<&str>) -> bool {
    ns.is_none() || ns == Some(ns::SOAP_ENV)
}

fn decode_envelope(cur: &mut Cursor<'_>) -> Result<Envelope, DecodeError> {
    let mut header = Header::default();
    let mut header_ns = None;
    let mut body: Option<(Message, Option<Namespace>)> = None;
    let mut fallback_ns = None;
    while let Some(child) = cur.next_child()? {
        let child_ns = cur.namespace_of(&child)?;
        match child.local_name() {
            "Header" if is_soap(child_ns) => {
                header_ns = decode_header(cur, &mut header)?;
            }
            "Body" if is_soap(child_ns) => {
                if body.is_some() {
                    return Err(with_context(cur.error(ErrorKind::BadBody("more than one Body")), &header, None));
                }
                fallback_ns = cur.bound_uris().find_map(Namespace::from_uri);
                body = Some(decode_body(cur, &header)?);
            }
            _ => cur.skip()?,
        }
    }
    let (message, method_ns) =
        body.ok_or_else(|| with_context(cur.error(ErrorKind::BadBody("no Body")), &header, None))?;
    let namespace = method_ns.or(header_ns).or(fallback_ns).unwrap_or_default();
    Ok(Envelope { namespace, header, message })
}

fn with_context(mut e: DecodeError, header: &Header, method: Option<(&str, Option<Namespace>)>) -> DecodeError {
    e.id = header.id.clone();
    if let Some((name, ns)) = method {
        e.method = Some(name.to_owned());
        e.namespace = ns;
    }
    e
}

/// Reads the header elements; returns the CWMP namespace they were written in.
fn decode_header(cur: &mut Cursor<'_>, header: &mut Header) -> Result<Option<Namespace>, DecodeError> {
    let mut seen_ns = None;
    while let Some(child) = cur.next_child()? {
        let child_ns = cur.namespace_of(&child)?;
        let cwmp_ns = child_ns.and_then(Namespace::from_uri);
        let ours = child_ns.is_none() || cwmp_ns.is_some();
        let must_understand = cur
            .attribute(&child, "mustUnderstand", &[ns::SOAP_ENV], "")?
            .is_some_and(|v| matches!(v.trim(), "1" | "true"));
        let name = child.local_name();
        if !ours {
            if must_understand {
                return Err(cur.error(ErrorKind::MustUnderstand(clip(name))));
            }
            cur.skip()?;
            continue;
        }
        seen_ns = seen_ns.or(cwmp_ns);
        match name {
            "ID" => header.id = Some(cur.read_text()?.into_owned()),
            "HoldRequests" => header.hold_requests = Some(header_bool(cur, "HoldRequests")?),
            "SessionTimeout" => header.session_timeout = Some(UInt::decode(cur, &child, "SessionTimeout")?),
            "SupportedCWMPVersions" => {
                header.supported_cwmp_versions = Some(Version::parse_list(&cur.read_text()?));
            }
            "UseCWMPVersion" => {
                let text = cur.read_text()?;
                let version = Version::parse(&text).ok_or_else(|| {
                    cur.error(ErrorKind::InvalidValue { element: "UseCWMPVersion", reason: format!("{text:?}") })
                })?;
                header.use_cwmp_version = Some(version);
            }
            "NoMoreRequests" => header.no_more_requests = Some(header_bool(cur, "NoMoreRequests")?),
            other => {
                if must_understand {
                    return Err(cur.error(ErrorKind::MustUnderstand(clip(other))));
                }
                cur.skip()?;
            }
        }
    }
    Ok(seen_ns)
}

fn header_bool(cur: &mut Cursor<'_>, element: &'static str) -> Result<bool, DecodeError> {
    let text = cur.read_text()?;
    types::parse_bool(text.trim())
        .ok_or_else(|| cur.error(ErrorKind::InvalidValue { element, reason: format!("{text:?} is not a boolean") }))
}

fn decode_body(cur: &mut Cursor<'_>, header: &Header) -> Result<(Message, Option<Namespace>), DecodeError> {
    let mut found: Option<(Message, Option<Namespace>)> = None;
    while let Some(child) = cur.next_child()? {
        if found.is_some() {
            return Err(with_context(cur.error(ErrorKind::BadBody("more than one element in Body")), header, None));
        }
        let name = child.local_name();
        let child_ns = cur.namespace_of(&child)?;
        if name == "Fault" && child_ns == Some(ns::SOAP_ENV) {
            found = Some(decode_soap_fault(cur).map_err(|e| with_context(e, header, Some(("Fault", None))))?);
            continue;
        }
        let method_ns = match child_ns {
            None => None,
            Some(uri) => match Namespace::from_uri(uri) {
                Some(ns) => Some(ns),
                None => {
                    let e = cur.error(ErrorKind::UnknownNamespace(clip(uri)));
                    return Err(with_context(e, header, None));
                }
            },
        };
        let message =
            Message::decode_method(name, cur).map_err(|e| with_context(e, header, Some((name, method_ns))))?;
        found = Some((message, method_ns));
    }
    found.ok_or_else(|| with_context(cur.error(ErrorKind::BadBody("empty Body")), header, None))
}

/// `soap:Fault` with `faultcode`, `faultstring` and `detail/cwmp:Fault`. A SOAP fault without
/// a cwmp:Fault detail (a plain SOAP error from the peer's stack) becomes code 0 with the
/// faultstring, so the session still sees a fault.
fn decode_soap_fault(cur: &mut Cursor<'_>) -> Result<(Message, Option<Namespace>), DecodeError> {
    let mut faultstring = String::new();
    let mut detail: Option<(Fault, Option<Namespace>)> = None;
    while let Some(child) = cur.next_child()? {
        match child.local_name() {
            "faultstring" => faultstring = cur.read_text()?.into_owned(),
            "detail" => {
                while let Some(inner) = cur.next_child()? {
                    if inner.local_name() == "Fault" && detail.is_none() {
                        let ns = cur.namespace_of(&inner)?.and_then(Namespace::from_uri);
                        detail = Some((Fault::decode_fields(cur)?, ns));
                    } else {
                        cur.skip()?;
                    }
                }
            }
            _ => cur.skip()?,
        }
    }
    let (fault, ns) = detail.unwrap_or_else(|| (Fault::with_string(Default::default(), faultstring), None));
    Ok((Message::Fault(fault), ns))
}
