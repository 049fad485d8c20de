//! The scalar data types of CWMP (TR-069 A.2.1 Table 12, TR-106 types carried in `xsi:type`).

use std::fmt;

use base64::Engine as _;

use crate::datetime::DateTime;

/// The type of a parameter value, as written in its `xsi:type` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum XsdType {
    #[default]
    String,
    Int,
    UnsignedInt,
    Long,
    UnsignedLong,
    Boolean,
    DateTime,
    Base64,
    HexBinary,
    /// A type this codec does not know (a vendor or an odd peer's name), kept by local name.
    Other(String),
}

impl XsdType {
    /// The `xsi:type` value written for this type, with our fixed `xsd:` prefix.
    pub fn xsi_type(&self) -> &str {
        match self {
            XsdType::String => "xsd:string",
            XsdType::Int => "xsd:int",
            XsdType::UnsignedInt => "xsd:unsignedInt",
            XsdType::Long => "xsd:long",
            XsdType::UnsignedLong => "xsd:unsignedLong",
            XsdType::Boolean => "xsd:boolean",
            XsdType::DateTime => "xsd:dateTime",
            XsdType::Base64 => "xsd:base64Binary",
            XsdType::HexBinary => "xsd:hexBinary",
            XsdType::Other(_) => "xsd:string",
        }
    }

    /// The type name without prefix, as data models and stores write it.
    pub fn name(&self) -> &str {
        match self {
            XsdType::String => "string",
            XsdType::Int => "int",
            XsdType::UnsignedInt => "unsignedInt",
            XsdType::Long => "long",
            XsdType::UnsignedLong => "unsignedLong",
            XsdType::Boolean => "boolean",
            XsdType::DateTime => "dateTime",
            XsdType::Base64 => "base64",
            XsdType::HexBinary => "hexBinary",
            XsdType::Other(name) => name,
        }
    }

    /// Reads the local part of an `xsi:type` QName or a data-model type name. `base64`,
    /// `base64Binary` (XSD) and SOAP-ENC `base64` all mean base64 (digest trap 6.14).
    pub fn from_name(local: &str) -> XsdType {
        match local {
            "string" => XsdType::String,
            "int" => XsdType::Int,
            "unsignedInt" => XsdType::UnsignedInt,
            "long" => XsdType::Long,
            "unsignedLong" => XsdType::UnsignedLong,
            "boolean" => XsdType::Boolean,
            "dateTime" => XsdType::DateTime,
            "base64" | "base64Binary" => XsdType::Base64,
            "hexBinary" => XsdType::HexBinary,
            other => XsdType::Other(other.to_owned()),
        }
    }

    /// Checks that `text` is a valid lexical value of this type.
    pub fn check(&self, text: &str) -> Result<(), TypeError> {
        let ok = match self {
            XsdType::String | XsdType::Other(_) => true,
            XsdType::Int => parse_int::<i32>(text).is_some(),
            XsdType::UnsignedInt => parse_int::<u32>(text).is_some(),
            XsdType::Long => parse_int::<i64>(text).is_some(),
            XsdType::UnsignedLong => parse_int::<u64>(text).is_some(),
            XsdType::Boolean => parse_bool(text).is_some(),
            XsdType::DateTime => DateTime::parse(text).is_ok(),
            XsdType::Base64 => decode_base64(text).is_some(),
            XsdType::HexBinary => decode_hex(text).is_some(),
        };
        if ok { Ok(()) } else { Err(TypeError { ty: self.clone(), text: truncate(text) }) }
    }
}

impl fmt::Display for XsdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A lexical value that does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {ty}")]
pub struct TypeError {
    pub ty: XsdType,
    pub text: String,
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

/// A parameter value as it travels in a `ParameterValueStruct`: its lexical form and type.
/// The text is kept exactly as received (values are never trimmed, trap 6.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Value {
    pub ty: XsdType,
    pub text: String,
}

impl Value {
    pub fn new(ty: XsdType, text: impl Into<String>) -> Value {
        Value { ty, text: text.into() }
    }
    pub fn string(text: impl Into<String>) -> Value {
        Value::new(XsdType::String, text)
    }
    pub fn int(v: i32) -> Value {
        Value::new(XsdType::Int, v.to_string())
    }
    pub fn unsigned_int(v: u32) -> Value {
        Value::new(XsdType::UnsignedInt, v.to_string())
    }
    pub fn long(v: i64) -> Value {
        Value::new(XsdType::Long, v.to_string())
    }
    pub fn unsigned_long(v: u64) -> Value {
        Value::new(XsdType::UnsignedLong, v.to_string())
    }
    /// Booleans are written `1`/`0`, the form old ACSs read best (trap 6.26).
    pub fn boolean(v: bool) -> Value {
        Value::new(XsdType::Boolean, format_bool(v))
    }
    pub fn date_time(v: &DateTime) -> Value {
        Value::new(XsdType::DateTime, v.to_string())
    }
    pub fn base64(bytes: &[u8]) -> Value {
        Value::new(XsdType::Base64, base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Checks the text against the declared type.
    pub fn check(&self) -> Result<(), TypeError> {
        self.ty.check(&self.text)
    }

    pub fn as_bool(&self) -> Option<bool> {
        parse_bool(&self.text)
    }
    pub fn as_u32(&self) -> Option<u32> {
        parse_int(&self.text)
    }
    pub fn as_i64(&self) -> Option<i64> {
        parse_int(&self.text)
    }
    pub fn as_u64(&self) -> Option<u64> {
        parse_int(&self.text)
    }
}

/// Parses a CWMP boolean: exactly `0`, `1`, `true` or `false` (A.2.1; `True` is invalid).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

pub fn format_bool(v: bool) -> &'static str {
    if v { "1" } else { "0" }
}

/// Parses an XSD integer lexical form: optional sign, decimal digits, nothing else.
/// `+5` is accepted (XSD allows it); whitespace and empty text are not.
pub fn parse_int<T: std::str::FromStr>(text: &str) -> Option<T> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.strip_prefix('+').unwrap_or(text).parse().ok()
}

/// Decodes base64, ignoring the whitespace XSD allows inside the lexical form.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).ok()
}

/// Decodes hexBinary: an even number of hex digits of either case.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        for (t, v) in [("0", false), ("1", true), ("true", true), ("false", false)] {
            assert_eq!(parse_bool(t), Some(v));
        }
        for bad in ["True", "yes", "", " 1", "1 "] {
            assert_eq!(parse_bool(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn integer_ranges() {
        assert_eq!(parse_int::<i32>("2147483647"), Some(i32::MAX));
        assert_eq!(parse_int::<i32>("2147483648"), None);
        assert_eq!(parse_int::<u32>("-1"), None);
        assert_eq!(parse_int::<u32>("4294967296"), None);
        assert_eq!(parse_int::<u32>("4294967295"), Some(u32::MAX));
        assert_eq!(parse_int::<i64>("+7"), Some(7));
        assert_eq!(parse_int::<i64>(" 7"), None);
        assert_eq!(parse_int::<i64>("-"), None);
        assert!(XsdType::UnsignedLong.check("18446744073709551615").is_ok());
        assert!(XsdType::Long.check("-9223372036854775808").is_ok());
    }

    #[test]
    fn binary_types() {
        assert_eq!(decode_hex("0aFF"), Some(vec![10, 255]));
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_base64("aGVs\nbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("!!"), None);
        assert_eq!(Value::base64(b"hello").text, "aGVsbG8=");
    }

    #[test]
    fn type_names() {
        assert_eq!(XsdType::from_name("base64Binary"), XsdType::Base64);
        assert_eq!(XsdType::from_name("base64"), XsdType::Base64);
        assert_eq!(XsdType::Base64.xsi_type(), "xsd:base64Binary");
        assert_eq!(XsdType::from_name("IPAddress"), XsdType::Other("IPAddress".into()));
        assert!(XsdType::Boolean.check("abc").is_err());
    }
}
