//! Helpers shared by the integration tests: the exact envelope the encoder must write, and
//! shorthands for decoding with default limits.

#![allow(dead_code)] // each test binary uses a different subset

pub mod hostile;

use cwmp_wire::{DecodeError, Envelope, ErrorKind, Limits, decode, decode_all};

pub const SOAP_ENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const CWMP_10: &str = "urn:dslforum-org:cwmp-1-0";
pub const CWMP_11: &str = "urn:dslforum-org:cwmp-1-1";
pub const CWMP_12: &str = "urn:dslforum-org:cwmp-1-2";

/// The envelope TR-069 3.5 describes, with the fixed prefixes `soap-env`, `soap-enc`, `xsd`,
/// `xsi` and `cwmp`, written by hand from the specification's example (not from our output).
pub fn envelope_xml(cwmp_uri: &str, header: &str, body: &str) -> String {
    format!(
        concat!(
            r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/""#,
            r#" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/""#,
            r#" xmlns:xsd="http://www.w3.org/2001/XMLSchema""#,
            r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#,
            r#" xmlns:cwmp="{}">{}<soap-env:Body>{}</soap-env:Body></soap-env:Envelope>"#
        ),
        cwmp_uri, header, body
    )
}

/// Decodes one envelope with the default limits, panicking with the error and the input.
pub fn ok(xml: &str) -> Envelope {
    match decode(xml.as_bytes(), &Limits::default()) {
        Ok(env) => env,
        Err(e) => panic!("decode failed: {e}\n{xml}"),
    }
}

/// Decodes with the default limits and returns the error, panicking if it succeeds.
pub fn err(xml: impl AsRef<[u8]>) -> DecodeError {
    err_with(xml, &Limits::default())
}

pub fn err_with(xml: impl AsRef<[u8]>, limits: &Limits) -> DecodeError {
    match decode_all(xml.as_ref(), limits) {
        Ok(envs) => panic!("decode unexpectedly succeeded: {envs:?}"),
        Err(e) => e,
    }
}

/// The error kind, for matching.
pub fn kind(e: &DecodeError) -> &ErrorKind {
    &e.kind
}
