//! The XML layer under the SOAP codec: a bounded pull reader and a small writer.

pub(crate) mod name;
pub(crate) mod reader;
pub(crate) mod writer;

/// XML namespaces CWMP messages use.
pub(crate) mod ns {
    pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
    pub const SOAP_ENC: &str = "http://schemas.xmlsoap.org/soap/encoding/";
    pub const XSD: &str = "http://www.w3.org/2001/XMLSchema";
    pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    /// The 1999 drafts, still sent by old stacks.
    pub const XSI_1999: &str = "http://www.w3.org/1999/XMLSchema-instance";
}
