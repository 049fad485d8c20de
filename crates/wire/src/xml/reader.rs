//! A pull reader over quick-xml's raw event reader, shaped for CWMP decoding.
//!
//! It enforces the [`Limits`](crate::Limits) (depth, element count, text length, attribute
//! count), refuses DTDs and unknown entities, resolves namespace prefixes only where the
//! codec asks (elements of the envelope and `xsi:type`), and reports errors with the byte
//! position and the element path.

use std::borrow::Cow;

use memchr::memmem::Finder;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::Limits;
use crate::error::{DecodeError, ErrorKind, clip};

/// A start tag the cursor returned; it must be consumed with [`Cursor::read_text`],
/// [`Cursor::skip`] or by reading its children until [`Cursor::next_child`] gives `None`.
pub(crate) struct Elem<'a> {
    start: BytesStart<'a>,
}

impl Elem<'_> {
    pub fn local_name(&self) -> &str {
        let name = self.start.name();
        let qname = name.0;
        match qname.find(':') {
            Some(i) => &qname[i + 1..],
            None => qname,
        }
    }

    fn prefix(&self) -> Option<&str> {
        let qname = self.start.name().0;
        qname.find(':').map(|i| &qname[..i])
    }
}

struct Binding {
    prefix: String,
    uri: String,
    depth: usize,
}

pub(crate) struct Cursor<'a> {
    src: &'a str,
    reader: Reader<&'a [u8]>,
    limits: &'a Limits,
    /// Names of the open elements, for depth and error paths.
    open: Vec<&'a str>,
    bindings: Vec<Binding>,
    elements: usize,
    /// The element returned last was empty (`<a/>`): its end is still to be reported.
    virtual_end: bool,
    /// Finds `xmlns` in attribute lists (built once: a searcher per element costs more than
    /// the search).
    xmlns: Finder<'static>,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str, limits: &'a Limits) -> Cursor<'a> {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Cursor {
            src: text,
            reader,
            limits,
            open: Vec::new(),
            bindings: Vec::new(),
            elements: 0,
            virtual_end: false,
            xmlns: Finder::new(b"xmlns"),
        }
    }

    pub fn limits(&self) -> &Limits {
        self.limits
    }

    pub fn error(&self, kind: ErrorKind) -> DecodeError {
        DecodeError::new(kind, self.reader.buffer_position(), self.path())
    }

    /// The open elements for error messages, each name clipped.
    fn path(&self) -> String {
        let names: Vec<String> = self.open.iter().map(|name| clip(name)).collect();
        names.join("/")
    }

    fn read(&mut self) -> Result<Event<'a>, DecodeError> {
        match self.reader.read_event() {
            Ok(Event::DocType(_)) => Err(self.error(ErrorKind::DocType)),
            Ok(event) => Ok(event),
            Err(e) => {
                let pos = self.reader.error_position();
                Err(DecodeError::new(ErrorKind::Syntax(e.to_string()), pos, self.path()))
            }
        }
    }

    fn open_element(&mut self, start: &BytesStart<'a>) -> Result<(), DecodeError> {
        if self.open.len() >= self.limits.max_depth {
            return Err(self.error(ErrorKind::TooDeep(self.limits.max_depth)));
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(self.error(ErrorKind::TooManyElements(self.limits.max_elements)));
        }
        self.check_attribute_count(start)?;
        let name = self.in_source(start.name().0);
        self.open.push(name);
        // Bindings are rare below the Envelope: look at attributes only when one is there.
        let raw = start.attributes_raw();
        if !raw.is_empty() && self.xmlns.find(raw.as_bytes()).is_some() {
            self.push_bindings(start)?;
        }
        Ok(())
    }

    /// Refuses an element with more attributes than the limit, whether or not the codec reads
    /// them. An attribute takes at least four bytes (`a=""`), so only long attribute lists
    /// need counting: the common element costs one comparison.
    fn check_attribute_count(&self, start: &BytesStart<'a>) -> Result<(), DecodeError> {
        let max = self.limits.max_attributes;
        if start.attributes_raw().len() < max.saturating_add(1).saturating_mul(4) {
            return Ok(());
        }
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        if attributes.take(max.saturating_add(1)).count() > max {
            return Err(self.error(ErrorKind::TooManyAttributes(max)));
        }
        Ok(())
    }

    /// The same text as a slice of the source, so open element names cost no allocation.
    /// The reader borrows names from the source, so the fallback is never taken in practice.
    fn in_source(&self, s: &str) -> &'a str {
        let start = (s.as_ptr() as usize).wrapping_sub(self.src.as_ptr() as usize);
        self.src.get(start..start.wrapping_add(s.len())).filter(|found| found.as_ptr() == s.as_ptr()).unwrap_or("?")
    }

    fn push_bindings(&mut self, start: &BytesStart<'a>) -> Result<(), DecodeError> {
        let depth = self.open.len();
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        for (n, attr) in attributes.enumerate() {
            if n >= self.limits.max_attributes {
                return Err(self.error(ErrorKind::TooManyAttributes(self.limits.max_attributes)));
            }
            let attr = attr.map_err(|e| self.error(ErrorKind::Syntax(e.to_string())))?;
            let key = attr.key.0;
            let prefix = if key == "xmlns" {
                ""
            } else if let Some(p) = key.strip_prefix("xmlns:") {
                p
            } else {
                continue;
            };
            let uri = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| self.error(ErrorKind::Syntax(e.to_string())))?;
            self.bindings.push(Binding { prefix: prefix.to_owned(), uri: uri.into_owned(), depth });
        }
        Ok(())
    }

    fn close_element(&mut self) {
        let depth = self.open.len();
        while self.bindings.last().is_some_and(|b| b.depth == depth) {
            self.bindings.pop();
        }
        self.open.pop();
    }

    /// The namespace URI a prefix (or the default namespace, for `None`) is bound to.
    pub fn resolve(&self, prefix: Option<&str>) -> Option<&str> {
        let prefix = prefix.unwrap_or("");
        self.bindings.iter().rev().find(|b| b.prefix == prefix).map(|b| b.uri.as_str()).filter(|uri| !uri.is_empty())
    }

    /// The namespace of an element, if it has one.
    pub fn namespace_of(&self, elem: &Elem<'_>) -> Result<Option<&str>, DecodeError> {
        match elem.prefix() {
            Some(prefix) => match self.resolve(Some(prefix)) {
                Some(uri) => Ok(Some(uri)),
                None => Err(self.error(ErrorKind::UnboundPrefix(clip(prefix)))),
            },
            None => Ok(self.resolve(None)),
        }
    }

    /// Every cwmp namespace bound in scope, innermost first.
    pub fn bound_uris(&self) -> impl Iterator<Item = &str> {
        self.bindings.iter().rev().map(|b| b.uri.as_str())
    }

    /// Finds an attribute by local name, optionally requiring its namespace to be one of
    /// `namespaces`. An unprefixed attribute has no namespace; a prefix that is not bound
    /// matches when it equals `fallback_prefix` (peers that forget `xmlns:xsi`).
    /// The value borrows from the source unless it holds references.
    pub fn attribute<'e>(
        &self,
        elem: &'e Elem<'a>,
        local: &str,
        namespaces: &[&str],
        fallback_prefix: &str,
    ) -> Result<Option<Cow<'e, str>>, DecodeError> {
        let wanted = |key: &str| self.key_matches(key, local, namespaces, fallback_prefix);
        if let Some(found) = simple_attribute(elem.start.attributes_raw(), self.limits.max_attributes, wanted) {
            return Ok(found.map(Cow::Borrowed));
        }
        let mut attributes = elem.start.attributes();
        attributes.with_checks(false);
        for (n, attr) in attributes.enumerate() {
            if n >= self.limits.max_attributes {
                return Err(self.error(ErrorKind::TooManyAttributes(self.limits.max_attributes)));
            }
            let attr = attr.map_err(|e| self.error(ErrorKind::Syntax(e.to_string())))?;
            if wanted(attr.key.0) {
                let value = attr
                    .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(|e| self.error(ErrorKind::Syntax(e.to_string())))?;
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    /// Whether an attribute's qualified name is `local` in one of `namespaces` (see
    /// [`Cursor::attribute`]).
    fn key_matches(&self, key: &str, local: &str, namespaces: &[&str], fallback_prefix: &str) -> bool {
        let (prefix, name) = match key.find(':') {
            Some(i) => (Some(&key[..i]), &key[i + 1..]),
            None => (None, key),
        };
        if name != local || prefix == Some("xmlns") {
            return false;
        }
        match prefix {
            None => namespaces.is_empty(),
            Some(p) => match self.resolve(Some(p)) {
                Some(uri) => namespaces.is_empty() || namespaces.contains(&uri),
                None => p == fallback_prefix,
            },
        }
    }

    /// The next child element of the current element, or `None` once its end tag has been
    /// read. Text between children (whitespace, or stray text from sloppy peers), comments
    /// and processing instructions are skipped.
    pub fn next_child(&mut self) -> Result<Option<Elem<'a>>, DecodeError> {
        if self.virtual_end {
            self.virtual_end = false;
            self.close_element();
            return Ok(None);
        }
        loop {
            match self.read()? {
                Event::Start(start) => {
                    self.open_element(&start)?;
                    return Ok(Some(Elem { start }));
                }
                Event::Empty(start) => {
                    self.open_element(&start)?;
                    self.virtual_end = true;
                    return Ok(Some(Elem { start }));
                }
                Event::End(_) => {
                    self.close_element();
                    return Ok(None);
                }
                Event::GeneralRef(r) => {
                    self.resolve_ref(&r.into_inner())?;
                }
                Event::Eof => {
                    if self.open.is_empty() {
                        return Ok(None);
                    }
                    return Err(self.error(ErrorKind::Syntax("unexpected end of document".into())));
                }
                Event::Text(_) | Event::CData(_) | Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
                Event::DocType(_) => return Err(self.error(ErrorKind::DocType)),
            }
        }
    }

    /// Reads the text content of the element just returned and consumes its end tag.
    /// Entity and character references are resolved; CDATA is taken as is.
    pub fn read_text(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        if self.virtual_end {
            self.virtual_end = false;
            self.close_element();
            return Ok(Cow::Borrowed(""));
        }
        let mut text: Cow<'a, str> = Cow::Borrowed("");
        loop {
            match self.read()? {
                Event::Text(t) => append(&mut text, t.xml10_content()),
                Event::CData(c) => append(&mut text, c.xml10_content()),
                Event::GeneralRef(r) => {
                    let ch = self.resolve_ref(&r.into_inner())?;
                    text.to_mut().push(ch);
                }
                Event::End(_) => {
                    self.close_element();
                    return Ok(text);
                }
                Event::Start(start) | Event::Empty(start) => {
                    let name = clip(start.name().0);
                    return Err(self.error(ErrorKind::UnexpectedElement(name)));
                }
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
                Event::Eof => return Err(self.error(ErrorKind::Syntax("unexpected end of document".into()))),
                Event::DocType(_) => return Err(self.error(ErrorKind::DocType)),
            }
            if text.len() > self.limits.max_text_len {
                return Err(self.error(ErrorKind::TextTooLong(self.limits.max_text_len)));
            }
        }
    }

    /// Skips the rest of the element just returned, whatever it contains.
    pub fn skip(&mut self) -> Result<(), DecodeError> {
        while let Some(_child) = self.next_child()? {
            self.skip()?;
        }
        Ok(())
    }

    fn resolve_ref(&self, name: &str) -> Result<char, DecodeError> {
        let ch = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ => {
                let parsed = name.strip_prefix('#').and_then(|num| match num.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                });
                match parsed.and_then(char::from_u32) {
                    Some(c) if c != '\0' => c,
                    _ => return Err(self.error(ErrorKind::UnknownEntity(name.chars().take(32).collect()))),
                }
            }
        };
        Ok(ch)
    }
}

/// The fast path of [`Cursor::attribute`] for the shape nearly every peer writes: at most
/// `max` attributes `name="value"` (or `'value'`) separated by whitespace, with nothing to
/// normalise in the values (no references, tabs or line breaks). Returns the raw value of
/// the first attribute whose name satisfies `wanted`, or `None` when the list has any other
/// shape: then quick-xml's parser decides, and reports what is wrong.
fn simple_attribute(raw: &str, max: usize, wanted: impl Fn(&str) -> bool) -> Option<Option<&str>> {
    let bytes = raw.as_bytes();
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut i = 0;
    for _ in 0..max {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return Some(None);
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !is_space(bytes[i]) {
            i += 1;
        }
        let quote = *bytes.get(i + 1)?;
        if i == key_start || bytes[i] != b'=' || !matches!(quote, b'"' | b'\'') {
            return None;
        }
        let key_end = i;
        let value_start = i + 2;
        i = value_start;
        while *bytes.get(i)? != quote {
            if matches!(bytes[i], b'&' | b'<' | b'\t' | b'\n' | b'\r') {
                return None;
            }
            i += 1;
        }
        // Only ASCII delimiters were skipped, so these are character boundaries.
        if wanted(&raw[key_start..key_end]) {
            return Some(Some(&raw[value_start..i]));
        }
        i += 1;
    }
    // Past the limit, only trailing whitespace may remain; the full parser reports the rest.
    bytes[i..].iter().all(|&b| is_space(b)).then_some(None)
}

fn append<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}

#[cfg(test)]
mod tests {
    use super::simple_attribute;

    #[test]
    fn simple_attribute_fast_path() {
        let find = |raw: &'static str, key: &'static str| simple_attribute(raw, 4, move |k| k == key);
        assert_eq!(find(r#" xsi:type="xsd:int""#, "xsi:type"), Some(Some("xsd:int")));
        assert_eq!(find(" a='1'\n\tb=\"2\" ", "b"), Some(Some("2")));
        assert_eq!(find(r#" a="1""#, "b"), Some(None));
        assert_eq!(find("", "b"), Some(None));
        // Shapes left to the full parser: references, normalised whitespace, spaces around
        // `=`, missing quotes, unterminated values, more attributes than the limit.
        for raw in [
            r#" a="&amp;""#,
            " a=\"x\ty\"",
            r#" a = "1""#,
            " a=1",
            r#" a="1"#,
            " a",
            r#" a="1" b="2" c="3" d="4" e="5""#,
        ] {
            assert_eq!(simple_attribute(raw, 4, |k| k == "z"), None, "{raw:?}");
        }
        assert_eq!(simple_attribute(r#" a="1" b="2" c="3" d="4"  "#, 4, |k| k == "z"), Some(None));
    }
}
