//! `cwmp-wire`: the CWMP (TR-069 Issue 1 Amendment 6) SOAP codec.
//!
//! Every method of Annex A in both directions as typed values ([`rpc`]), the envelope with
//! its header elements ([`envelope`]), faults ([`fault`]), the data types ([`types`],
//! [`datetime`]), path names ([`path`]) and protocol versions ([`version`]).
//!
//! Reading is tolerant where the input is unambiguous (any namespace prefix, a default
//! namespace, unqualified children, missing `xsi:type`, odd array counts, the 1999 XSD
//! namespaces, whitespace, unknown elements); writing is exact (schema order, fixed
//! prefixes, exact array types). Input is bounded by [`Limits`]: a hostile body is refused
//! quickly with a [`DecodeError`] that says what and where, never a panic.
//!
//! ```
//! use cwmp_wire::{decode, Envelope, EncodeOptions, Limits, Message, Namespace};
//! use cwmp_wire::rpc::GetParameterNames;
//!
//! let request = Envelope::new(Namespace::Cwmp12, GetParameterNames {
//!     parameter_path: "Device.".into(),
//!     next_level: true,
//! }).with_id("42");
//! let bytes = request.encode(&EncodeOptions::default());
//! let back = decode(&bytes, &Limits::default()).unwrap();
//! assert_eq!(back, request);
//! ```

mod codec;
pub mod datetime;
mod envelope;
mod error;
pub mod fault;
pub mod path;
pub mod rpc;
pub mod types;
pub mod version;
mod xml;

pub use datetime::DateTime;
pub use envelope::{EncodeOptions, Envelope, Header, Limits, decode, decode_all, encode_all};
pub use error::{DecodeError, ErrorDetails, ErrorKind};
pub use fault::{Fault, FaultCode, FaultType, SetParameterValuesFault};
pub use path::{Path, PathError, Segment};
pub use rpc::Message;
pub use types::{Value, XsdType};
pub use version::{Namespace, Version};

#[cfg(test)]
mod roundtrip_tests;
