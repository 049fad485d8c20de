//! How each field type of an Annex A structure is read and written.
//!
//! A structure is declared once with [`cwmp_struct!`](crate::cwmp_struct): its fields in
//! schema order, each with its element name and, where the default does not fit, a codec
//! (`Text<32>` for a string(32), `Array<…>` for a SOAP array, `Repeated<…>` for an element
//! that repeats without an array wrapper). The macro writes the struct, its decoder (children
//! matched by local name in any order, unknown ones skipped) and its encoder (schema order).

use std::borrow::Cow;
use std::fmt::Debug;
use std::marker::PhantomData;

#[cfg(test)]
use proptest::prelude::*;

use crate::datetime::DateTime;
use crate::error::{DecodeError, ErrorKind};
use crate::fault::FaultCode;
use crate::types::{self, Value, XsdType};
use crate::xml::name::is_qname;
use crate::xml::reader::{Cursor, Elem};
use crate::xml::writer::XmlWriter;

/// Reads the occurrences of one field's element and writes the field.
pub trait Codec<T: Debug + 'static> {
    type Acc: Default;
    fn accept<'a>(
        acc: &mut Self::Acc,
        cur: &mut Cursor<'a>,
        elem: &Elem<'a>,
        tag: &'static str,
    ) -> Result<(), DecodeError>;
    fn finish(acc: Self::Acc, tag: &'static str, cur: &Cursor<'_>) -> Result<T, DecodeError>;
    fn encode_field(value: &T, w: &mut XmlWriter, tag: &str);
    #[cfg(test)]
    fn field_strategy() -> BoxedStrategy<T>;
}

/// A codec for an element that occurs at most once.
pub trait Scalar<T: Debug + 'static> {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<T, DecodeError>;
    fn encode(value: &T, w: &mut XmlWriter, tag: &str);
    /// The value of an absent element; `None` makes the element required.
    fn absent() -> Option<T> {
        None
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<T>;
}

impl<T: Debug + 'static, S: Scalar<T>> Codec<T> for S {
    type Acc = Option<T>;
    fn accept<'a>(
        acc: &mut Option<T>,
        cur: &mut Cursor<'a>,
        elem: &Elem<'a>,
        tag: &'static str,
    ) -> Result<(), DecodeError> {
        if acc.is_some() {
            return Err(cur.error(ErrorKind::DuplicateElement(tag)));
        }
        *acc = Some(S::decode(cur, elem, tag)?);
        Ok(())
    }
    fn finish(acc: Option<T>, tag: &'static str, cur: &Cursor<'_>) -> Result<T, DecodeError> {
        acc.or_else(S::absent).ok_or_else(|| cur.error(ErrorKind::MissingElement(tag)))
    }
    fn encode_field(value: &T, w: &mut XmlWriter, tag: &str) {
        S::encode(value, w, tag)
    }
    #[cfg(test)]
    fn field_strategy() -> BoxedStrategy<T> {
        S::strategy()
    }
}

/// The codec a field type gets when its declaration names none.
pub trait HasCodec: Sized + Debug + 'static {
    type C: Codec<Self>;
}

/// An Annex A structure: a sequence of named child elements.
pub trait XmlStruct: Sized + Debug + 'static {
    fn decode_fields(cur: &mut Cursor<'_>) -> Result<Self, DecodeError>;
    fn encode_fields(&self, w: &mut XmlWriter);
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<Self>;
}

/// A structure nested as a child element.
pub struct Nested;

impl<T: XmlStruct> Scalar<T> for Nested {
    fn decode<'a>(cur: &mut Cursor<'a>, _elem: &Elem<'a>, _tag: &'static str) -> Result<T, DecodeError> {
        T::decode_fields(cur)
    }
    fn encode(value: &T, w: &mut XmlWriter, tag: &str) {
        w.open(tag);
        value.encode_fields(w);
        w.close(tag);
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<T> {
        T::strategy()
    }
}

fn invalid(cur: &Cursor<'_>, element: &'static str, reason: impl Into<String>) -> DecodeError {
    cur.error(ErrorKind::InvalidValue { element, reason: reason.into() })
}

/// Refuses a string of more than `MAX` characters (0: no limit) when the limits say so.
fn check_length<const MAX: usize>(cur: &Cursor<'_>, text: &str, tag: &'static str) -> Result<(), DecodeError> {
    if MAX > 0 && text.len() > MAX && cur.limits().enforce_string_lengths && text.chars().count() > MAX {
        return Err(cur.error(ErrorKind::StringTooLong { element: tag, max: MAX }));
    }
    Ok(())
}

/// A string with at most `MAX` characters (0: no limit). Annex A lengths count characters,
/// not bytes (A.2.1).
pub struct Text<const MAX: usize>;

impl<const MAX: usize> Scalar<String> for Text<MAX> {
    fn decode<'a>(cur: &mut Cursor<'a>, _elem: &Elem<'a>, tag: &'static str) -> Result<String, DecodeError> {
        let text = cur.read_text()?;
        check_length::<MAX>(cur, &text, tag)?;
        Ok(text.into_owned())
    }
    fn encode(value: &String, w: &mut XmlWriter, tag: &str) {
        w.leaf(tag, value);
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<String> {
        let max = if MAX == 0 { 40 } else { MAX.min(40) };
        proptest::string::string_regex(&format!("[\\PC\t\n\r]{{0,{max}}}")).unwrap().boxed()
    }
}

/// A string(MAX) whose element may be absent (read as empty); always written.
pub struct OptionalText<const MAX: usize>;

impl<const MAX: usize> Scalar<String> for OptionalText<MAX> {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<String, DecodeError> {
        Text::<MAX>::decode(cur, elem, tag)
    }
    fn encode(value: &String, w: &mut XmlWriter, tag: &str) {
        w.leaf(tag, value);
    }
    fn absent() -> Option<String> {
        Some(String::new())
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<String> {
        Text::<MAX>::strategy()
    }
}

/// A path name (string(256)): surrounding whitespace is dropped, since names cannot contain
/// it and pretty-printing peers add it (digest trap 6.4). Validity is the receiver's check.
pub struct Name;

impl Scalar<String> for Name {
    #[inline]
    fn decode<'a>(cur: &mut Cursor<'a>, _elem: &Elem<'a>, tag: &'static str) -> Result<String, DecodeError> {
        let text = cur.read_text()?;
        check_length::<256>(cur, &text, tag)?;
        Ok(trim(&text).to_owned())
    }
    fn encode(value: &String, w: &mut XmlWriter, tag: &str) {
        w.leaf(tag, value);
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<String> {
        proptest::string::string_regex("(Device\\.([A-Za-z][A-Za-z0-9]{0,6}\\.){0,3}([A-Za-z][A-Za-z0-9]{0,8})?)?")
            .unwrap()
            .boxed()
    }
}

macro_rules! number_codec {
    ($codec:ident, $ty:ty) => {
        #[doc = concat!("An `", stringify!($ty), "` element; XSD collapses whitespace around numbers.")]
        pub struct $codec;

        impl Scalar<$ty> for $codec {
            fn decode<'a>(cur: &mut Cursor<'a>, _elem: &Elem<'a>, tag: &'static str) -> Result<$ty, DecodeError> {
                let text = cur.read_text()?;
                types::parse_int(text.trim())
                    .ok_or_else(|| invalid(cur, tag, format!("{:?} is not a valid {}", text, stringify!($ty))))
            }
            fn encode(value: &$ty, w: &mut XmlWriter, tag: &str) {
                w.leaf(tag, &value.to_string());
            }
            #[cfg(test)]
            fn strategy() -> BoxedStrategy<$ty> {
                any::<$ty>().boxed()
            }
        }

        impl HasCodec for $ty {
            type C = $codec;
        }
    };
}

number_codec!(UInt, u32);
number_codec!(Int, i32);

/// An `int` the schema restricts to `MIN..=MAX` (Status 0-1, Notification 0-6, transfer
/// State 1-3, option Mode 0-2). A.2.3: input that does not adhere to the XSD is an error.
pub struct IntIn<const MIN: i32, const MAX: i32>;

impl<const MIN: i32, const MAX: i32> Scalar<i32> for IntIn<MIN, MAX> {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<i32, DecodeError> {
        let value = <Int as Scalar<i32>>::decode(cur, elem, tag)?;
        if (MIN..=MAX).contains(&value) {
            Ok(value)
        } else {
            Err(invalid(cur, tag, format!("{value} is outside {MIN}..={MAX}")))
        }
    }
    fn encode(value: &i32, w: &mut XmlWriter, tag: &str) {
        <Int as Scalar<i32>>::encode(value, w, tag)
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<i32> {
        (MIN..=MAX).boxed()
    }
}

/// An `unsignedInt` of at least `MIN` (AddObjectResponse InstanceNumber, `unsignedInt[1:]`).
pub struct UIntFrom<const MIN: u32>;

impl<const MIN: u32> Scalar<u32> for UIntFrom<MIN> {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<u32, DecodeError> {
        let value = <UInt as Scalar<u32>>::decode(cur, elem, tag)?;
        if value >= MIN { Ok(value) } else { Err(invalid(cur, tag, format!("{value} is below {MIN}"))) }
    }
    fn encode(value: &u32, w: &mut XmlWriter, tag: &str) {
        <UInt as Scalar<u32>>::encode(value, w, tag)
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<u32> {
        (MIN..=u32::MAX).boxed()
    }
}

/// A boolean element: `0`, `1`, `true` or `false`; written `1`/`0`.
pub struct Bool;

impl Scalar<bool> for Bool {
    fn decode<'a>(cur: &mut Cursor<'a>, _elem: &Elem<'a>, tag: &'static str) -> Result<bool, DecodeError> {
        let text = cur.read_text()?;
        types::parse_bool(text.trim()).ok_or_else(|| invalid(cur, tag, format!("{text:?} is not a boolean")))
    }
    fn encode(value: &bool, w: &mut XmlWriter, tag: &str) {
        w.leaf(tag, types::format_bool(*value));
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<bool> {
        any::<bool>().boxed()
    }
}

/// A `dateTime` element.
pub struct Dt;

impl Scalar<DateTime> for Dt {
    fn decode<'a>(cur: &mut Cursor<'a>, _elem: &Elem<'a>, tag: &'static str) -> Result<DateTime, DecodeError> {
        let text = cur.read_text()?;
        DateTime::parse(text.trim()).map_err(|e| invalid(cur, tag, e.to_string()))
    }
    fn encode(value: &DateTime, w: &mut XmlWriter, tag: &str) {
        w.leaf(tag, &value.to_string());
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<DateTime> {
        use std::time::Duration;
        prop_oneof![
            Just(DateTime::Unknown),
            (0u64..(900 * 365 * 86400)).prop_map(|s| DateTime::SinceBoot(Duration::from_secs(s))),
            (0i64..4_000_000_000, 0i32..1_000_000, -50i32..=50).prop_map(|(secs, micros, quarter_hours)| {
                let at = jiff::Timestamp::new(secs, micros * 1000).unwrap();
                let offset = jiff::tz::Offset::from_seconds(quarter_hours * 900).unwrap();
                DateTime::Absolute { at, offset }
            }),
        ]
        .boxed()
    }
}

impl HasCodec for String {
    type C = Text<0>;
}
impl HasCodec for bool {
    type C = Bool;
}
impl HasCodec for DateTime {
    type C = Dt;
}

/// A fault code element (unsignedInt).
pub struct Code;

impl Scalar<FaultCode> for Code {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<FaultCode, DecodeError> {
        <UInt as Scalar<u32>>::decode(cur, elem, tag).map(FaultCode::from_u32)
    }
    fn encode(value: &FaultCode, w: &mut XmlWriter, tag: &str) {
        <UInt as Scalar<u32>>::encode(&value.as_u32(), w, tag)
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<FaultCode> {
        prop_oneof![proptest::sample::select(FaultCode::KNOWN), (0u32..10_000).prop_map(FaultCode::from_u32)].boxed()
    }
}

impl HasCodec for FaultCode {
    type C = Code;
}

/// An optional element (`minOccurs="0"`): absent reads as `None`, `None` is not written.
pub struct Opt<C>(PhantomData<C>);

impl<T: Debug + 'static, C: Scalar<T>> Scalar<Option<T>> for Opt<C> {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<Option<T>, DecodeError> {
        C::decode(cur, elem, tag).map(Some)
    }
    fn encode(value: &Option<T>, w: &mut XmlWriter, tag: &str) {
        if let Some(v) = value {
            C::encode(v, w, tag);
        }
    }
    fn absent() -> Option<Option<T>> {
        Some(None)
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<Option<T>> {
        proptest::option::of(C::strategy()).boxed()
    }
}

impl<T: HasCodec> HasCodec for Option<T>
where
    T::C: Scalar<T>,
{
    type C = Opt<T::C>;
}

/// The members of a SOAP array: their element name and `arrayType` (A.2.2, 3.5).
pub trait Member {
    type Item: Debug + 'static;
    /// The member element's name: the type name without namespace (`ParameterValueStruct`,
    /// `string`, `base64`).
    const TAG: &'static str;
    /// The `soap-enc:arrayType` value without the count (`cwmp:ParameterValueStruct`).
    const ARRAY_TYPE: &'static str;
    type C: Scalar<Self::Item>;
}

/// `string(MAX)` array members (MethodList, AccessList).
pub struct StringMember<const MAX: usize>;
impl<const MAX: usize> Member for StringMember<MAX> {
    type Item = String;
    const TAG: &'static str = "string";
    const ARRAY_TYPE: &'static str = "xsd:string";
    type C = Text<MAX>;
}

/// Path-name array members (ParameterNames).
pub struct NameMember;
impl Member for NameMember {
    type Item = String;
    const TAG: &'static str = "string";
    const ARRAY_TYPE: &'static str = "xsd:string";
    type C = Name;
}

/// base64 array members (VoucherList).
pub struct Base64Member;
impl Member for Base64Member {
    type Item = String;
    const TAG: &'static str = "base64";
    const ARRAY_TYPE: &'static str = "soap-enc:base64";
    type C = Text<0>;
}

/// A SOAP-encoded array. On input the member names and the declared count are not trusted
/// (digest trap 6.27); on output the count is exact.
pub struct Array<M>(PhantomData<M>);

impl<M: Member> Scalar<Vec<M::Item>> for Array<M> {
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, _tag: &'static str) -> Result<Vec<M::Item>, DecodeError> {
        let mut items = Vec::with_capacity(declared_len::<M::Item>(cur, elem));
        while let Some(child) = cur.next_child()? {
            items.push(<M::C as Scalar<M::Item>>::decode(cur, &child, M::TAG)?);
        }
        if items.len() < items.capacity() {
            items.shrink_to_fit();
        }
        Ok(items)
    }
    fn encode(value: &Vec<M::Item>, w: &mut XmlWriter, tag: &str) {
        let array_type = format!("{}[{}]", M::ARRAY_TYPE, value.len());
        w.open_with(tag, &[("soap-enc:arrayType", &array_type)]);
        for item in value {
            <M::C as Scalar<M::Item>>::encode(item, w, M::TAG);
        }
        w.close(tag);
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<Vec<M::Item>> {
        proptest::collection::vec(M::C::strategy(), 0..4).boxed()
    }
}

/// The member count an array declares in `soap-enc:arrayType` (`cwmp:ParameterValueStruct[20]`),
/// as a capacity hint only: it is capped so that a false count cannot reserve more than
/// 1 MiB, nor more members than the rest of the body could hold (each takes at least the 4
/// bytes of `<a/>`). The decoder gives back what an overstated count reserved. Attributes
/// it cannot read give no hint: the count is not the decoder's to check.
fn declared_len<T>(cur: &Cursor<'_>, elem: &Elem<'_>) -> usize {
    const MAX_RESERVE: usize = 1 << 20;
    let Some(array_type) = cur.attribute(elem, "arrayType", &[], "").ok().flatten() else {
        return 0;
    };
    let declared = array_type
        .trim_end()
        .strip_suffix(']')
        .and_then(|s| s.rsplit_once('['))
        .and_then(|(_, count)| count.parse::<usize>().ok())
        .unwrap_or(0);
    declared.min(cur.remaining_bytes() / 4).min(MAX_RESERVE / size_of::<T>().max(1))
}

/// An element that repeats without an array wrapper (ChangeDUState `Operations`,
/// DUStateChangeComplete `Results`, `SetParameterValuesFault`).
pub struct Repeated<C>(PhantomData<C>);

impl<T: Debug + 'static, C: Scalar<T>> Codec<Vec<T>> for Repeated<C> {
    type Acc = Vec<T>;
    fn accept<'a>(
        acc: &mut Vec<T>,
        cur: &mut Cursor<'a>,
        elem: &Elem<'a>,
        tag: &'static str,
    ) -> Result<(), DecodeError> {
        acc.push(C::decode(cur, elem, tag)?);
        Ok(())
    }
    fn finish(acc: Vec<T>, _tag: &'static str, _cur: &Cursor<'_>) -> Result<Vec<T>, DecodeError> {
        Ok(acc)
    }
    fn encode_field(value: &Vec<T>, w: &mut XmlWriter, tag: &str) {
        for item in value {
            C::encode(item, w, tag);
        }
    }
    #[cfg(test)]
    fn field_strategy() -> BoxedStrategy<Vec<T>> {
        proptest::collection::vec(C::strategy(), 0..4).boxed()
    }
}

/// The `xsi:type` of an element, by local name (`xsd:int`, `xs:int` and `soap-enc:base64` all
/// resolve by their local part; an unbound `xsi` prefix is tolerated).
pub(crate) fn xsi_type<'a, 'e>(cur: &Cursor<'a>, elem: &'e Elem<'a>) -> Result<Option<Cow<'e, str>>, DecodeError> {
    Ok(cur.xsi_type(elem)?.map(|v| match v {
        Cow::Borrowed(s) => Cow::Borrowed(local_part(s)),
        Cow::Owned(s) => Cow::Owned(local_part(&s).to_owned()),
    }))
}

/// The local part of a QName, surrounding whitespace dropped.
fn local_part(qname: &str) -> &str {
    let qname = trim(qname);
    match qname.bytes().rposition(|b| b == b':') {
        Some(i) => &qname[i + 1..],
        None => qname,
    }
}

/// `s` without surrounding whitespace, checking the ends before scanning.
fn trim(s: &str) -> &str {
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b.is_ascii());
    let bytes = s.as_bytes();
    if plain(bytes.first()) && plain(bytes.last()) { s } else { s.trim() }
}

/// The type an `xsi:type` value names when it is none we know. It is kept by name
/// ([`XsdType::Other`], which data models and stores show), so it must be what XML Schema
/// requires there, a `QName`; an empty value reads as no type at all (string).
#[cold]
fn other_type(cur: &Cursor<'_>, qname: &str, tag: &'static str) -> Result<XsdType, DecodeError> {
    let qname = trim(qname);
    if qname.is_empty() {
        Ok(XsdType::String)
    } else if is_qname(qname) {
        Ok(XsdType::from_name(local_part(qname)))
    } else {
        Err(invalid(cur, tag, format!("xsi:type {:?} is not a QName", crate::error::clip(qname))))
    }
}

/// A `Value` (anySimpleType): the text exactly as sent, never trimmed, and the type from
/// `xsi:type` (a missing one reads as string, digest trap 6.13).
pub struct ValueCodec;

impl Scalar<Value> for ValueCodec {
    #[inline]
    fn decode<'a>(cur: &mut Cursor<'a>, elem: &Elem<'a>, tag: &'static str) -> Result<Value, DecodeError> {
        let ty = match cur.xsi_type(elem)? {
            Some(qname) => match XsdType::from_name(local_part(&qname)) {
                XsdType::Other(_) => other_type(cur, &qname, tag)?,
                known => known,
            },
            None => XsdType::String,
        };
        let text = cur.read_text()?.into_owned();
        Ok(Value { ty, text })
    }
    fn encode(value: &Value, w: &mut XmlWriter, tag: &str) {
        w.open_with(tag, &[("xsi:type", value.ty.xsi_type())]);
        w.text(&value.text);
        w.close(tag);
    }
    #[cfg(test)]
    fn strategy() -> BoxedStrategy<Value> {
        let ty = prop_oneof![
            Just(XsdType::String),
            Just(XsdType::Int),
            Just(XsdType::UnsignedInt),
            Just(XsdType::Long),
            Just(XsdType::UnsignedLong),
            Just(XsdType::Boolean),
            Just(XsdType::DateTime),
            Just(XsdType::Base64),
            Just(XsdType::HexBinary),
        ];
        (ty, Text::<0>::strategy()).prop_map(|(ty, text)| Value { ty, text }).boxed()
    }
}

impl HasCodec for Value {
    type C = ValueCodec;
}

/// Picks the codec named in a field declaration, or the type's default.
#[doc(hidden)]
#[macro_export]
macro_rules! codec_of {
    ($ty:ty) => {
        <$ty as $crate::codec::HasCodec>::C
    };
    ($ty:ty, $codec:ty) => {
        $codec
    };
}

/// Declares an Annex A structure with its decoder and encoder.
#[doc(hidden)]
#[macro_export]
macro_rules! cwmp_struct {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $tag:literal $(as $codec:ty)? , )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::codec::XmlStruct for $name {
            #[allow(unused_mut)]
            #[inline]
            fn decode_fields(cur: &mut $crate::xml::reader::Cursor<'_>) -> Result<Self, $crate::DecodeError> {
                $( let mut $field = <<$crate::codec_of!($ty $(, $codec)?) as $crate::codec::Codec<$ty>>::Acc as Default>::default(); )*
                while let Some(child) = cur.next_child()? {
                    match child.local_name() {
                        $( $tag => <$crate::codec_of!($ty $(, $codec)?) as $crate::codec::Codec<$ty>>::accept(&mut $field, cur, &child, $tag)?, )*
                        _ => cur.skip()?,
                    }
                }
                Ok($name {
                    $( $field: <$crate::codec_of!($ty $(, $codec)?) as $crate::codec::Codec<$ty>>::finish($field, $tag, cur)?, )*
                })
            }

            #[allow(unused_variables)]
            fn encode_fields(&self, w: &mut $crate::xml::writer::XmlWriter) {
                $( <$crate::codec_of!($ty $(, $codec)?) as $crate::codec::Codec<$ty>>::encode_field(&self.$field, w, $tag); )*
            }

            #[cfg(test)]
            fn strategy() -> proptest::strategy::BoxedStrategy<Self> {
                use proptest::strategy::Strategy;
                let s = proptest::strategy::Just(Self::default()).boxed();
                $(
                    let s = (s, <$crate::codec_of!($ty $(, $codec)?) as $crate::codec::Codec<$ty>>::field_strategy())
                        .prop_map(|(mut v, f)| { v.$field = f; v })
                        .boxed();
                )*
                s
            }
        }

        impl $crate::codec::HasCodec for $name {
            type C = $crate::codec::Nested;
        }
    };
}

/// Makes a structure usable as a SOAP array member named after itself.
#[doc(hidden)]
#[macro_export]
macro_rules! array_member {
    ($name:ident) => {
        impl $crate::codec::Member for $name {
            type Item = $name;
            const TAG: &'static str = stringify!($name);
            const ARRAY_TYPE: &'static str = concat!("cwmp:", stringify!($name));
            type C = $crate::codec::Nested;
        }
    };
}

impl<T: Member<Item = T> + Debug + 'static> HasCodec for Vec<T> {
    type C = Array<T>;
}

#[cfg(test)]
mod tests {
    use crate::rpc::{GetParameterValuesResponse, Message};
    use crate::{Limits, decode};

    fn decode_values(array_type: &str, members: usize) -> GetParameterValuesResponse {
        let member = "<ParameterValueStruct><Name>A</Name><Value>1</Value></ParameterValueStruct>";
        let xml = format!(
            concat!(
                r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/""#,
                r#" xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/"><soap:Body>"#,
                r#"<cwmp:GetParameterValuesResponse xmlns:cwmp="urn:dslforum-org:cwmp-1-2">"#,
                "<ParameterList{}>{}</ParameterList></cwmp:GetParameterValuesResponse></soap:Body></soap:Envelope>"
            ),
            array_type,
            member.repeat(members)
        );
        match decode(xml.as_bytes(), &Limits::default()).unwrap().message {
            Message::GetParameterValuesResponse(m) => m,
            other => panic!("{other:?}"),
        }
    }

    /// The declared count is a capacity hint only: a true one avoids growing the vector, a
    /// false one neither limits the members read nor leaves spare capacity behind.
    #[test]
    fn array_type_count_is_only_a_hint() {
        let exact = decode_values(r#" soap-enc:arrayType="cwmp:ParameterValueStruct[3]""#, 3);
        assert_eq!((exact.parameter_list.len(), exact.parameter_list.capacity()), (3, 3));
        for (attribute, members) in [
            (r#" soap-enc:arrayType="cwmp:ParameterValueStruct[1000000000]""#, 2),
            (r#" soap-enc:arrayType="cwmp:ParameterValueStruct[1]""#, 4),
            (r#" soap-enc:arrayType="cwmp:ParameterValueStruct[x]""#, 2),
            (r#" soap-enc:arrayType="cwmp:ParameterValueStruct[2,3]""#, 2),
            ("", 2),
        ] {
            let list = decode_values(attribute, members).parameter_list;
            assert_eq!(list.len(), members, "{attribute}");
            assert!(list.capacity() <= 2 * members, "{attribute}: {}", list.capacity());
        }
    }
}
