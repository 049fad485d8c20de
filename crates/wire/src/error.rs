//! Decoding errors: what went wrong and where.

use std::fmt;

use crate::fault::FaultCode;
use crate::version::Namespace;

/// Names and URIs quoted in errors are cut to this many characters, so a hostile name cannot
/// make an error (or the log line that prints it) as large as the body.
const QUOTE_MAX: usize = 64;

/// `s`, cut to [`QUOTE_MAX`] characters.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// What made a message undecodable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The body is larger than [`Limits::max_body_bytes`](crate::Limits).
    TooLarge(usize),
    TooDeep(usize),
    TooManyElements(usize),
    TextTooLong(usize),
    TooManyAttributes(usize),
    TooManyEnvelopes(usize),
    /// Not UTF-8, and not declared as ISO-8859-1.
    NotUtf8,
    /// Not well-formed XML.
    Syntax(String),
    /// An element or attribute name that is not an XML `QName` (XML 1.0 2.3, Namespaces in
    /// XML 1.0 4), such as `m|/`.
    InvalidName(String),
    /// DTDs (and with them entity declarations) are refused.
    DocType,
    /// A reference to an entity other than the five predefined ones.
    UnknownEntity(String),
    /// The body holds no SOAP envelope.
    NotSoap(String),
    UnboundPrefix(String),
    /// The method element is in a namespace that is not a CWMP one.
    UnknownNamespace(String),
    /// A header element we do not know carries `mustUnderstand="1"`.
    MustUnderstand(String),
    /// The Body is missing, repeated, empty, or holds more than one method.
    BadBody(&'static str),
    MissingElement(&'static str),
    DuplicateElement(&'static str),
    UnexpectedElement(String),
    /// An element's text does not fit its type or constraints.
    InvalidValue {
        element: &'static str,
        reason: String,
    },
    /// A string longer than Annex A allows.
    StringTooLong {
        element: &'static str,
        max: usize,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::TooLarge(max) => write!(f, "message larger than {max} bytes"),
            ErrorKind::TooDeep(max) => write!(f, "elements nested deeper than {max}"),
            ErrorKind::TooManyElements(max) => write!(f, "more than {max} elements"),
            ErrorKind::TextTooLong(max) => write!(f, "text longer than {max} bytes"),
            ErrorKind::TooManyAttributes(max) => write!(f, "more than {max} attributes on one element"),
            ErrorKind::TooManyEnvelopes(max) => write!(f, "more than {max} envelopes"),
            ErrorKind::NotUtf8 => f.write_str("body is neither UTF-8 nor declared ISO-8859-1"),
            ErrorKind::Syntax(e) => write!(f, "malformed XML: {e}"),
            ErrorKind::InvalidName(name) => write!(f, "malformed XML: {name:?} is not a valid XML name"),
            ErrorKind::DocType => f.write_str("DOCTYPE declarations are not allowed"),
            ErrorKind::UnknownEntity(name) => write!(f, "unknown entity &{name};"),
            ErrorKind::NotSoap(name) => write!(f, "expected a SOAP Envelope, found <{name}>"),
            ErrorKind::UnboundPrefix(p) => write!(f, "namespace prefix {p:?} is not declared"),
            ErrorKind::UnknownNamespace(ns) => write!(f, "unknown namespace {ns:?}"),
            ErrorKind::MustUnderstand(name) => write!(f, "header <{name}> must be understood but is unknown"),
            ErrorKind::BadBody(why) => write!(f, "invalid SOAP Body: {why}"),
            ErrorKind::MissingElement(name) => write!(f, "missing element <{name}>"),
            ErrorKind::DuplicateElement(name) => write!(f, "element <{name}> given more than once"),
            ErrorKind::UnexpectedElement(name) => write!(f, "unexpected element <{name}>"),
            ErrorKind::InvalidValue { element, reason } => write!(f, "invalid <{element}>: {reason}"),
            ErrorKind::StringTooLong { element, max } => write!(f, "<{element}> longer than {max} characters"),
        }
    }
}

/// A message that could not be decoded (boxed, so results stay small; the details are
/// reached through `Deref`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(Box<ErrorDetails>);

/// What went wrong, where, and what was learnt of the envelope before, so a receiver can
/// still answer with a fault that echoes the `cwmp:ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDetails {
    pub kind: ErrorKind,
    /// Byte offset in the body.
    pub position: u64,
    /// The open elements, outermost first (`soap:Envelope/soap:Body/cwmp:Inform/DeviceId`).
    pub element: String,
    /// The `cwmp:ID` header, if it was read before the error.
    pub id: Option<String>,
    /// The method element's local name, if it was reached.
    pub method: Option<String>,
    pub namespace: Option<Namespace>,
}

impl DecodeError {
    pub(crate) fn new(kind: ErrorKind, position: u64, element: String) -> DecodeError {
        DecodeError(Box::new(ErrorDetails { kind, position, element, id: None, method: None, namespace: None }))
    }

    /// Whether the body is not a usable SOAP envelope at all (answer HTTP 400), as opposed to
    /// a well-formed request with invalid arguments (answer a CWMP fault).
    pub fn is_malformed(&self) -> bool {
        self.method.is_none()
            || matches!(
                self.kind,
                ErrorKind::Syntax(_)
                    | ErrorKind::InvalidName(_)
                    | ErrorKind::DocType
                    | ErrorKind::UnknownEntity(_)
                    | ErrorKind::NotUtf8
            )
    }

    /// Whether a resource limit was hit.
    pub fn is_limit(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::TooLarge(_)
                | ErrorKind::TooDeep(_)
                | ErrorKind::TooManyElements(_)
                | ErrorKind::TextTooLong(_)
                | ErrorKind::TooManyAttributes(_)
                | ErrorKind::TooManyEnvelopes(_)
        )
    }

    /// The fault a CPE answers a request it could not decode with: 9004 for limits, 9003
    /// otherwise. An ACS uses [`DecodeError::acs_fault_code`].
    pub fn cpe_fault_code(&self) -> FaultCode {
        if self.is_limit() { FaultCode::ResourcesExceeded } else { FaultCode::InvalidArguments }
    }

    /// 8004 for limits, 8003 otherwise.
    pub fn acs_fault_code(&self) -> FaultCode {
        if self.is_limit() { FaultCode::AcsResourcesExceeded } else { FaultCode::AcsInvalidArguments }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.position)?;
        if !self.element.is_empty() {
            write!(f, " in {}", self.element)?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

impl std::ops::Deref for DecodeError {
    type Target = ErrorDetails;
    fn deref(&self) -> &ErrorDetails {
        &self.0
    }
}

impl std::ops::DerefMut for DecodeError {
    fn deref_mut(&mut self) -> &mut ErrorDetails {
        &mut self.0
    }
}
