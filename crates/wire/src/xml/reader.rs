//! A pull reader over quick-xml's raw event reader, shaped for CWMP decoding.
//!
//! It enforces the [`Limits`](crate::Limits) (depth, element count, text length, attribute
//! count), refuses DTDs and unknown entities, refuses element and attribute names that are
//! not XML `QName`s and attribute lists that are not well-formed (quick-xml checks neither),
//! resolves namespace prefixes only where the codec asks (elements of the envelope and
//! `xsi:type`), and reports errors with the byte position and the element path.
//!
//! Characters XML 1.0 does not allow in text (most C0 controls, raw or as character
//! references) are read as sent: peers put them in values, and nothing is ambiguous about
//! them. The writer replaces them with U+FFFD, so our output stays XML.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::reader::Reader;

use crate::Limits;
use crate::error::{DecodeError, ErrorKind, clip};
use crate::xml::name::is_qname;
use crate::xml::ns;

/// A start tag the cursor returned; it must be consumed with [`Cursor::read_text`],
/// [`Cursor::skip`] or by reading its children until [`Cursor::next_child`] gives `None`.
pub(crate) struct Elem<'a> {
    /// The qualified name, borrowed from the source.
    qname: &'a str,
    /// The attribute list as written, from the whitespace after the name.
    attributes: &'a str,
    /// The value of the attribute list when it is a sole `xsi:type` (as on every typed value)
    /// that needs no normalisation.
    sole_xsi_type: Option<&'a str>,
}

impl<'a> Elem<'a> {
    /// Where the local part of the name starts: after the first `:`, or 0. Computed when asked
    /// for, since array members are read without looking at their names.
    fn local_start(&self) -> usize {
        find_byte(self.qname.as_bytes(), b':').map_or(0, |i| i + 1)
    }

    pub fn local_name(&self) -> &'a str {
        &self.qname[self.local_start()..]
    }

    fn prefix(&self) -> Option<&'a str> {
        self.local_start().checked_sub(1).map(|colon| &self.qname[..colon])
    }

    /// The start tag for quick-xml's attribute parser (the slow path of attribute lookups).
    fn start(&self) -> BytesStart<'a> {
        let mut content = String::with_capacity(self.qname.len() + self.attributes.len());
        content.push_str(self.qname);
        content.push_str(self.attributes);
        BytesStart::from_content(content, self.qname.len())
    }
}

/// A namespace declaration in scope, borrowed from the source unless its value had to be
/// normalised.
struct Binding<'a> {
    prefix: Cow<'a, str>,
    uri: Cow<'a, str>,
    depth: usize,
}

pub(crate) struct Cursor<'a> {
    src: &'a str,
    reader: Reader<&'a [u8]>,
    limits: &'a Limits,
    /// Names of the open elements, for depth and error paths.
    open: Vec<&'a str>,
    bindings: Vec<Binding<'a>>,
    /// The binding of the `xsi` prefix (an index into `bindings`), kept up to date as bindings
    /// come and go: every typed value asks for it.
    xsi_binding: Option<usize>,
    /// Whether an `xsi:type` attribute is the XML Schema instance `type`: `xsi` is bound to
    /// one of its namespaces, or not bound at all (peers that forget `xmlns:xsi`).
    xsi_prefix_ok: bool,
    elements: usize,
    /// The element returned last was empty (`<a/>`): its end is still to be reported.
    virtual_end: bool,
    /// The document holds a carriage return, so text needs XML 1.0 line-end normalisation
    /// (XML 1.0 2.11); without one, text is taken as is.
    has_cr: bool,
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
            open: Vec::with_capacity(16),
            // The usual five of a CWMP envelope (soap-env, soap-enc, xsd, xsi, cwmp) and more.
            bindings: Vec::with_capacity(8),
            xsi_binding: None,
            xsi_prefix_ok: true,
            elements: 0,
            virtual_end: false,
            has_cr: memchr::memchr(b'\r', text.as_bytes()).is_some(),
        }
    }

    pub fn limits(&self) -> &Limits {
        self.limits
    }

    /// How many bytes of the document are still to be read.
    pub fn remaining_bytes(&self) -> usize {
        self.reader.get_ref().len()
    }

    #[cold]
    #[inline(never)]
    pub fn error(&self, kind: ErrorKind) -> DecodeError {
        DecodeError::new(kind, self.reader.buffer_position(), self.path())
    }

    /// The open elements for error messages, each name clipped.
    fn path(&self) -> String {
        let names: Vec<String> = self.open.iter().map(|name| clip(name)).collect();
        names.join("/")
    }

    /// The next event. A DOCTYPE is refused by the callers, which match every event anyway.
    #[inline]
    fn read(&mut self) -> Result<Event<'a>, DecodeError> {
        self.reader.read_event().map_err(|e| self.syntax_error(e))
    }

    #[cold]
    fn syntax_error(&self, e: quick_xml::Error) -> DecodeError {
        DecodeError::new(ErrorKind::Syntax(e.to_string()), self.reader.error_position(), self.path())
    }

    /// Checks the limits for a new element and records it as open.
    #[inline(always)]
    fn open_element(&mut self, start: &BytesStart<'a>) -> Result<Elem<'a>, DecodeError> {
        if self.open.len() >= self.limits.max_depth || self.elements >= self.limits.max_elements {
            return Err(self.limit_error());
        }
        self.elements += 1;
        let content = self.in_source(start);
        let (qname, attributes) = content.split_at_checked(start.name().0.len()).unwrap_or((content, ""));
        // quick-xml takes whatever precedes the first whitespace as the name.
        if !is_qname(qname) {
            return Err(self.invalid_name(qname));
        }
        self.open.push(qname);
        let sole_xsi_type = if attributes.is_empty() { None } else { self.open_attributes(start, attributes)? };
        Ok(Elem { qname, attributes, sole_xsi_type })
    }

    #[cold]
    fn invalid_name(&self, name: &str) -> DecodeError {
        self.error(ErrorKind::InvalidName(clip(name)))
    }

    #[cold]
    fn limit_error(&self) -> DecodeError {
        if self.open.len() >= self.limits.max_depth {
            self.error(ErrorKind::TooDeep(self.limits.max_depth))
        } else {
            self.error(ErrorKind::TooManyElements(self.limits.max_elements))
        }
    }

    /// The attribute checks of a new element that has attributes: their count, and the
    /// namespace bindings they declare. Returns the value of a sole `xsi:type`. Kept out of
    /// line: most elements have no attributes.
    #[inline(never)]
    fn open_attributes(&mut self, start: &BytesStart<'a>, raw: &'a str) -> Result<Option<&'a str>, DecodeError> {
        self.check_attribute_count(start, raw)?;
        if let Some(value) = sole_xsi_type(raw) {
            return Ok(Some(value));
        }
        check_attributes(raw, self.limits.max_attributes).map_err(|kind| self.error(kind))?;
        // Bindings are rare below the Envelope: parse attributes only when one may be there.
        if may_bind(raw.as_bytes()) {
            self.push_bindings(start, raw)?;
        }
        Ok(None)
    }

    /// Refuses an element with more attributes than the limit, whether or not the codec reads
    /// them. An attribute takes at least four bytes (`a=""`), so only long attribute lists
    /// need counting: the common element costs one comparison.
    fn check_attribute_count(&self, start: &BytesStart<'a>, raw: &str) -> Result<(), DecodeError> {
        let max = self.limits.max_attributes;
        if raw.len() < max.saturating_add(1).saturating_mul(4) { Ok(()) } else { self.count_attributes(start) }
    }

    #[inline(never)]
    fn count_attributes(&self, start: &BytesStart<'a>) -> Result<(), DecodeError> {
        let max = self.limits.max_attributes;
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        if attributes.take(max.saturating_add(1)).count() > max {
            return Err(self.error(ErrorKind::TooManyAttributes(max)));
        }
        Ok(())
    }

    /// The same text as a slice of the source, so open element names cost no allocation.
    /// The reader borrows tags from the source, so the fallback is never taken in practice.
    fn in_source(&self, s: &str) -> &'a str {
        let start = (s.as_ptr() as usize).wrapping_sub(self.src.as_ptr() as usize);
        self.src.get(start..start.wrapping_add(s.len())).filter(|found| found.as_ptr() == s.as_ptr()).unwrap_or("?")
    }

    /// Records the namespace declarations of an element (rare below the Envelope, hence out of
    /// line).
    #[inline(never)]
    fn push_bindings(&mut self, start: &BytesStart<'a>, raw: &'a str) -> Result<(), DecodeError> {
        let depth = self.open.len();
        let before = self.bindings.len();
        let bindings = &mut self.bindings;
        let simple = simple_attributes(raw, self.limits.max_attributes, |key, value| {
            if let Some(prefix) = declared_prefix(key) {
                bindings.push(Binding { prefix: Cow::Borrowed(prefix), uri: Cow::Borrowed(value), depth });
            }
            false
        });
        if simple.is_none() {
            self.bindings.truncate(before);
            self.push_parsed_bindings(start, depth)?;
        }
        self.find_xsi_binding();
        Ok(())
    }

    /// [`Cursor::push_bindings`] for attribute lists of another shape, through quick-xml's
    /// parser (which normalises values and reports what is wrong).
    fn push_parsed_bindings(&mut self, start: &BytesStart<'a>, depth: usize) -> Result<(), DecodeError> {
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        for (n, attr) in attributes.enumerate() {
            if n >= self.limits.max_attributes {
                return Err(self.error(ErrorKind::TooManyAttributes(self.limits.max_attributes)));
            }
            let attr = attr.map_err(|e| self.error(ErrorKind::Syntax(e.to_string())))?;
            let Some(prefix) = declared_prefix(attr.key.0) else {
                continue;
            };
            let uri = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| self.error(ErrorKind::Syntax(e.to_string())))?;
            self.bindings.push(Binding {
                prefix: Cow::Owned(prefix.to_owned()),
                uri: Cow::Owned(uri.into_owned()),
                depth,
            });
        }
        Ok(())
    }

    fn find_xsi_binding(&mut self) {
        self.xsi_binding = self.bindings.iter().rposition(|b| b.prefix == "xsi");
        self.xsi_prefix_ok = self.resolve(Some("xsi")).is_none_or(|uri| XSI_NAMESPACES.contains(&uri));
    }

    #[inline]
    fn close_element(&mut self) {
        let depth = self.open.len();
        if self.bindings.last().is_some_and(|b| b.depth == depth) {
            self.pop_bindings(depth);
        }
        self.open.pop();
    }

    /// Drops the bindings an element being closed declared.
    #[inline(never)]
    fn pop_bindings(&mut self, depth: usize) {
        while self.bindings.last().is_some_and(|b| b.depth == depth) {
            self.bindings.pop();
        }
        self.find_xsi_binding();
    }

    /// The namespace URI a prefix (or the default namespace, for `None`) is bound to.
    pub fn resolve(&self, prefix: Option<&str>) -> Option<&str> {
        let binding = match prefix {
            Some("xsi") => self.xsi_binding.map(|i| &self.bindings[i]),
            _ => {
                let prefix = prefix.unwrap_or("");
                self.bindings.iter().rev().find(|b| b.prefix == prefix)
            }
        };
        binding.map(|b| &*b.uri).filter(|uri| !uri.is_empty())
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
        self.bindings.iter().rev().map(|b| &*b.uri)
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
        self.attribute_where(elem, |key| self.key_matches(key, local, namespaces, fallback_prefix))
    }

    /// The value of the first attribute whose qualified name satisfies `wanted`.
    fn attribute_where<'e>(
        &self,
        elem: &'e Elem<'a>,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Option<Cow<'e, str>>, DecodeError> {
        if let Some(found) = simple_attribute(elem.attributes, self.limits.max_attributes, &wanted) {
            return Ok(found.map(Cow::Borrowed));
        }
        let start = elem.start();
        let mut attributes = start.attributes();
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
                return Ok(Some(Cow::Owned(value.into_owned())));
            }
        }
        Ok(None)
    }

    /// The `xsi:type` attribute of an element, in either XML Schema instance namespace.
    pub fn xsi_type<'e>(&self, elem: &'e Elem<'a>) -> Result<Option<Cow<'e, str>>, DecodeError> {
        if let Some(value) = elem.sole_xsi_type
            && self.xsi_prefix_ok
        {
            return Ok(Some(Cow::Borrowed(value)));
        }
        if elem.attributes.is_empty() {
            return Ok(None);
        }
        self.any_xsi_type(elem)
    }

    /// [`Cursor::xsi_type`] among other attributes.
    #[inline(never)]
    fn any_xsi_type<'e>(&self, elem: &'e Elem<'a>) -> Result<Option<Cow<'e, str>>, DecodeError> {
        self.attribute_where(elem, |key| match key {
            "xsi:type" => self.xsi_prefix_ok,
            _ => self.key_matches(key, "type", &XSI_NAMESPACES, "xsi"),
        })
    }

    /// Whether an attribute's qualified name is `local` in one of `namespaces` (see
    /// [`Cursor::attribute`]).
    fn key_matches(&self, key: &str, local: &str, namespaces: &[&str], fallback_prefix: &str) -> bool {
        // Most keys are some other attribute: compare the end first.
        if !key.ends_with(local) {
            return false;
        }
        let (prefix, name) = match memchr::memchr(b':', key.as_bytes()) {
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
            // The event is matched where the reader put it: moving it out first costs more
            // than it looks (the copy reads back, in wider loads, stores just made).
            let event = self.reader.read_event();
            match event {
                Err(e) => return Err(self.syntax_error(e)),
                Ok(Event::Start(ref start)) => return self.open_element(start).map(Some),
                Ok(Event::Empty(ref start)) => {
                    let elem = self.open_element(start)?;
                    self.virtual_end = true;
                    return Ok(Some(elem));
                }
                Ok(Event::End(_)) => {
                    self.close_element();
                    return Ok(None);
                }
                Ok(Event::GeneralRef(ref r)) => {
                    self.resolve_ref(r)?;
                }
                Ok(Event::Eof) => {
                    if self.open.is_empty() {
                        return Ok(None);
                    }
                    return Err(self.error(ErrorKind::Syntax("unexpected end of document".into())));
                }
                Ok(Event::Text(_) | Event::CData(_) | Event::Comment(_) | Event::PI(_) | Event::Decl(_)) => {}
                Ok(Event::DocType(_)) => return Err(self.error(ErrorKind::DocType)),
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
        // The common shapes first: `<a></a>` and `<a>text</a>`, their events matched where
        // the reader put them (see `Cursor::next_child`).
        let event = self.reader.read_event();
        let text = match &event {
            Ok(Event::Text(t)) if !self.has_cr => t.clone().into_inner(),
            _ => match event {
                Ok(Event::End(_)) => {
                    self.close_element();
                    return Ok(Cow::Borrowed(""));
                }
                Ok(event) => return self.read_text_rest((Cow::Borrowed(""), event)),
                Err(e) => return Err(self.syntax_error(e)),
            },
        };
        self.check_text_len(&text)?;
        let event = self.reader.read_event();
        match event {
            Ok(Event::End(_)) => {
                self.close_element();
                Ok(text)
            }
            Ok(event) => self.read_text_rest((text, event)),
            Err(e) => Err(self.syntax_error(e)),
        }
    }

    /// The rest of [`Cursor::read_text`]: text in pieces (references, CDATA, comments).
    fn read_text_rest(
        &mut self,
        (mut text, mut event): (Cow<'a, str>, Event<'a>),
    ) -> Result<Cow<'a, str>, DecodeError> {
        loop {
            match event {
                Event::Text(t) => {
                    let piece = self.text_content(t);
                    self.owned(&mut text, piece.len()).push_str(&piece);
                }
                Event::CData(c) => {
                    let piece = if self.has_cr { c.xml10_content() } else { c.into_inner() };
                    self.owned(&mut text, piece.len()).push_str(&piece);
                }
                Event::GeneralRef(r) => {
                    let ch = self.resolve_ref(&r.into_inner())?;
                    self.owned(&mut text, ch.len_utf8()).push(ch);
                }
                Event::End(_) => {
                    self.close_element();
                    // The buffer was sized for the raw text; give back what references saved
                    // when that is most of it (`&amp;` repeated is a fifth of its size).
                    if let Cow::Owned(owned) = &mut text
                        && owned.capacity() > 2 * owned.len() + 64
                    {
                        owned.shrink_to_fit();
                    }
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
            self.check_text_len(&text)?;
            event = self.read()?;
        }
    }

    /// A text event's content, line ends normalised when the document has any to normalise.
    fn text_content(&self, t: BytesText<'a>) -> Cow<'a, str> {
        if self.has_cr { t.xml10_content() } else { t.into_inner() }
    }

    fn check_text_len(&self, text: &str) -> Result<(), DecodeError> {
        if text.len() > self.limits.max_text_len {
            return Err(self.error(ErrorKind::TextTooLong(self.limits.max_text_len)));
        }
        Ok(())
    }

    /// The text as an owned buffer, to append a piece of `len` bytes to. Text in pieces gets
    /// one buffer, sized for the piece and the raw text up to the next markup (an upper bound
    /// of what the following pieces add, since references only shrink), capped by the text
    /// limit.
    fn owned<'t>(&self, text: &'t mut Cow<'a, str>, len: usize) -> &'t mut String {
        if let Cow::Borrowed(done) = *text {
            let pos = usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX);
            let rest = self.src.as_bytes().get(pos..).unwrap_or_default();
            let ahead = memchr::memchr(b'<', rest).unwrap_or(rest.len()).min(self.limits.max_text_len);
            let mut owned = String::with_capacity(done.len() + len + ahead);
            owned.push_str(done);
            *text = Cow::Owned(owned);
        }
        text.to_mut()
    }

    /// Skips the rest of the element just returned, whatever it contains.
    pub fn skip(&mut self) -> Result<(), DecodeError> {
        while let Some(_child) = self.next_child()? {
            self.skip()?;
        }
        Ok(())
    }

    fn resolve_ref(&self, name: &str) -> Result<char, DecodeError> {
        reference_char(name).ok_or_else(|| self.error(unknown_entity(name)))
    }
}

/// The character a reference (`&name;`, without `&` and `;`) stands for: one of the five
/// predefined entities, or a character reference. No other entity can be declared, since
/// DTDs are refused.
fn reference_char(name: &str) -> Option<char> {
    match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "apos" => Some('\''),
        "quot" => Some('"'),
        _ => {
            let parsed = name.strip_prefix('#').and_then(|num| match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            });
            parsed.and_then(char::from_u32).filter(|&c| c != '\0')
        }
    }
}

#[cold]
fn unknown_entity(name: &str) -> ErrorKind {
    ErrorKind::UnknownEntity(name.chars().take(32).collect())
}

/// Checks an attribute list (from the whitespace after the element name) against XML 1.0
/// [40]-[41], [10] and the Unique Att Spec constraint: whitespace-separated `name="value"`
/// (or `'value'`, with whitespace allowed around `=`), each name a `QName` given once, each
/// value without `<` and with references only to the predefined entities or to characters.
/// quick-xml checks none of this for attributes nobody asks for, and a name we accepted may
/// end up in our output. The sole `xsi:type` of typed values never gets here (its fast path
/// already rules all of this out).
fn check_attributes(raw: &str, max: usize) -> Result<(), ErrorKind> {
    let bytes = raw.as_bytes();
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let skip_spaces = |mut i: usize| {
        while bytes.get(i).is_some_and(|&b| is_space(b)) {
            i += 1;
        }
        i
    };
    // The names seen: the first few on the stack (elements with attributes other than a sole
    // xsi:type have one to five), the rest in a vector that is rarely allocated.
    let mut first = [""; 8];
    let mut more = Vec::new();
    let mut count = 0;
    let mut i = 0;
    loop {
        let name_start = skip_spaces(i);
        if name_start == bytes.len() {
            return Ok(());
        }
        if name_start == i {
            return Err(ErrorKind::Syntax("attributes not separated by whitespace".into()));
        }
        i = name_start;
        while i < bytes.len() && bytes[i] != b'=' && !is_space(bytes[i]) {
            i += 1;
        }
        // Only ASCII delimiters were skipped, so these are character boundaries.
        let name = &raw[name_start..i];
        if !is_qname(name) {
            return Err(ErrorKind::InvalidName(clip(name)));
        }
        if first[..count.min(first.len())].contains(&name) || more.contains(&name) {
            return Err(ErrorKind::Syntax(format!("attribute {} given twice", clip(name))));
        }
        if count == max {
            return Err(ErrorKind::TooManyAttributes(max));
        }
        match first.get_mut(count) {
            Some(slot) => *slot = name,
            None => more.push(name),
        }
        count += 1;
        i = skip_spaces(i);
        if bytes.get(i) != Some(&b'=') {
            return Err(ErrorKind::Syntax(format!("attribute {} without a value", clip(name))));
        }
        i = skip_spaces(i + 1);
        let quote = bytes.get(i).copied().filter(|&q| q == b'"' || q == b'\'');
        let value_end = quote.and_then(|q| memchr::memchr(q, &bytes[i + 1..]).map(|len| i + 1 + len));
        let Some(value_end) = value_end else {
            return Err(ErrorKind::Syntax(format!("value of attribute {} not quoted", clip(name))));
        };
        check_attribute_value(&raw[i + 1..value_end])?;
        i = value_end + 1;
    }
}

/// XML 1.0 [10]: an attribute value holds no `<`, and each `&` starts a reference.
fn check_attribute_value(value: &str) -> Result<(), ErrorKind> {
    let mut rest = value;
    while let Some(at) = memchr::memchr2(b'<', b'&', rest.as_bytes()) {
        if rest.as_bytes()[at] == b'<' {
            return Err(ErrorKind::Syntax("`<` in an attribute value".into()));
        }
        let after = &rest[at + 1..];
        let Some(end) = memchr::memchr(b';', after.as_bytes()) else {
            return Err(ErrorKind::Syntax("`&` in an attribute value starts no reference".into()));
        };
        if reference_char(&after[..end]).is_none() {
            return Err(unknown_entity(&after[..end]));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

/// The namespaces of `xsi:type`: XML Schema instance, and the 1999 draft old stacks send.
const XSI_NAMESPACES: [&str; 2] = [ns::XSI, ns::XSI_1999];

/// The value of `raw` when it is exactly one `xsi:type` attribute (` xsi:type="value"`, any
/// quote) whose value needs no normalisation.
fn sole_xsi_type(raw: &str) -> Option<&str> {
    let bytes = raw.as_bytes();
    if bytes.first_chunk::<10>() != Some(b" xsi:type=") {
        return None;
    }
    let (&quote, rest) = bytes[10..].split_first()?;
    let (&end, value) = rest.split_last()?;
    if end != quote || !matches!(quote, b'"' | b'\'') || may_need_normalising(value) {
        return None;
    }
    raw.get(11..raw.len() - 1)
}

/// Whether an attribute value may hold quotes, references, markup, or whitespace that
/// attribute-value normalisation would change: any byte below `(` (tab, line ends, space,
/// `"`, `&`, `'` and a few others type names do not use either) or a `<`.
fn may_need_normalising(value: &[u8]) -> bool {
    let flags = |word: u64| {
        (word.wrapping_sub(ONES * u64::from(b'(')) & !word & HIGHS) | has_zero(word ^ (ONES * u64::from(b'<')))
    };
    match value.len() {
        // Whole words, the last one overlapping the one before.
        8.. => {
            let (words, _) = value.as_chunks::<8>();
            let last = value.last_chunk::<8>().map_or(0, |w| flags(u64::from_le_bytes(*w)));
            last != 0 || words.iter().any(|w| flags(u64::from_le_bytes(*w)) != 0)
        }
        _ => value.iter().any(|&b| b < b'(' || b == b'<'),
    }
}

/// The prefix an attribute named `key` declares (`""` for the default namespace), if it is a
/// namespace declaration.
fn declared_prefix(key: &str) -> Option<&str> {
    if key == "xmlns" { Some("") } else { key.strip_prefix("xmlns:") }
}

/// The fast path of [`Cursor::attribute`]: the raw value of the first attribute whose name
/// satisfies `wanted`, or `None` when the list has another shape than the one
/// [`simple_attributes`] reads.
fn simple_attribute<'r>(raw: &'r str, max: usize, wanted: &impl Fn(&str) -> bool) -> Option<Option<&'r str>> {
    let mut found = None;
    simple_attributes(raw, max, |key, value| {
        let hit = wanted(key);
        if hit {
            found = Some(value);
        }
        hit
    })?;
    Some(found)
}

/// Reads an attribute list in the shape nearly every peer writes: at most `max` attributes
/// `name="value"` (or `'value'`) separated by whitespace, with nothing to normalise in the
/// values (no references, tabs or line breaks). Calls `visit` with each name and raw value
/// until it returns true; returns whether one did, or `None` when the list has any other
/// shape (then the calls made tell nothing, and quick-xml's parser decides and reports what
/// is wrong).
fn simple_attributes<'r>(raw: &'r str, max: usize, mut visit: impl FnMut(&'r str, &'r str) -> bool) -> Option<bool> {
    let bytes = raw.as_bytes();
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut i = 0;
    for _ in 0..max {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return Some(false);
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
        let value_len = memchr::memchr(quote, &bytes[value_start..])?;
        if has_markup_or_line_end(&bytes[value_start..value_start + value_len]) {
            return None;
        }
        i = value_start + value_len;
        // Only ASCII delimiters were skipped, so these are character boundaries.
        if visit(&raw[key_start..key_end], &raw[value_start..i]) {
            return Some(true);
        }
        i += 1;
    }
    // Past the limit, only trailing whitespace may remain; the full parser reports the rest.
    bytes[i..].iter().all(|&b| is_space(b)).then_some(false)
}

/// Whether an attribute list may hold a namespace declaration: `xmlns` after whitespace,
/// where attribute names start (perhaps inside a value; then the attributes are parsed for
/// nothing).
fn may_bind(raw: &[u8]) -> bool {
    let mut rest = raw;
    while let Some(i) = find_space(rest) {
        rest = &rest[i + 1..];
        if rest.starts_with(b"xmlns") {
            return true;
        }
    }
    false
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The position of the first `needle` in `haystack`: for element names and attribute lists,
/// which are too short for `memchr`'s set-up to pay off.
fn find_byte(haystack: &[u8], needle: u8) -> Option<usize> {
    let pattern = ONES * u64::from(needle);
    // A zero byte in `word ^ pattern` is a match.
    find_flagged(haystack, |word| has_zero(word ^ pattern), |b| b == needle)
}

/// The position of the first whitespace (or other control) byte in `haystack`.
fn find_space(haystack: &[u8]) -> Option<usize> {
    // Bytes below 0x21, among bytes below 0x80 (`!word` drops the others).
    find_flagged(haystack, |word| word.wrapping_sub(ONES * 0x21) & !word & HIGHS, |b| b <= b' ')
}

/// Whether an attribute value holds a reference, a `<`, or a tab or line end (which
/// attribute-value normalisation would turn into spaces), or another control character
/// (which the full parser should judge).
fn has_markup_or_line_end(value: &[u8]) -> bool {
    let flags = |word: u64| {
        has_zero(word ^ (ONES * u64::from(b'&')))
            | has_zero(word ^ (ONES * u64::from(b'<')))
            | (word.wrapping_sub(ONES * 0x0e) & !word & HIGHS)
    };
    let special = |b: u8| b == b'&' || b == b'<' || b < 0x0e;
    match value.len() {
        // Whole words, the last one overlapping the one before.
        8.. => {
            let (words, _) = value.as_chunks::<8>();
            let last = value.last_chunk::<8>().map_or(0, |w| flags(u64::from_le_bytes(*w)));
            last != 0 || words.iter().any(|w| flags(u64::from_le_bytes(*w)) != 0)
        }
        _ => value.iter().any(|&b| special(b)),
    }
}

/// Flags the zero bytes of `word` (with their high bits; bytes above a zero byte may be
/// flagged too, so only the lowest flag is exact).
fn has_zero(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// Eight bytes at a time: `flags` marks matching bytes of a little-endian word by their high
/// bits (the lowest flag exact), `matches` decides the bytes of the tail.
#[inline(always)]
fn find_flagged(haystack: &[u8], flags: impl Fn(u64) -> u64, matches: impl Fn(u8) -> bool) -> Option<usize> {
    let (words, tail) = haystack.as_chunks::<8>();
    for (n, word) in words.iter().enumerate() {
        let found = flags(u64::from_le_bytes(*word));
        if found != 0 {
            return Some(n * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    tail.iter().position(|&b| matches(b)).map(|i| words.len() * 8 + i)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{
        Cursor, find_byte, find_space, has_markup_or_line_end, may_bind, may_need_normalising, simple_attribute,
        sole_xsi_type,
    };
    use crate::Limits;
    use crate::error::ErrorKind;
    use crate::xml::writer::XmlWriter;

    /// The text of each child of the root element.
    fn child_texts(xml: &str, limits: &Limits) -> Vec<Result<String, ErrorKind>> {
        let mut cur = Cursor::new(xml, limits);
        let _root = cur.next_child().unwrap().unwrap();
        let mut texts = Vec::new();
        while let Some(_child) = cur.next_child().unwrap() {
            match cur.read_text() {
                Ok(text) => texts.push(Ok(text.into_owned())),
                Err(e) => {
                    texts.push(Err(e.kind.clone()));
                    break;
                }
            }
        }
        texts
    }

    #[test]
    fn text_in_one_piece_is_borrowed() {
        let limits = Limits::default();
        let mut cur = Cursor::new("<r><a>plain</a><b></b><c/></r>", &limits);
        let _root = cur.next_child().unwrap().unwrap();
        for expected in ["plain", "", ""] {
            let _child = cur.next_child().unwrap().unwrap();
            let text = cur.read_text().unwrap();
            assert!(matches!(text, Cow::Borrowed(_)), "{text:?}");
            assert_eq!(text, expected);
        }
        assert!(cur.next_child().unwrap().is_none());
    }

    #[test]
    fn text_in_pieces() {
        let xml = concat!(
            "<r><a>x &amp; y</a><b>&#233;&#x20AC;&lt;</b><c>a<!-- c -->b<?pi?>c</c>",
            "<d><![CDATA[<&>]]>&gt;</d><e>&amp;</e><f>&#13;</f></r>"
        );
        let texts: Vec<_> = child_texts(xml, &Limits::default()).into_iter().map(Result::unwrap).collect();
        assert_eq!(texts, ["x & y", "é€<", "abc", "<&>>", "&", "\r"]);
    }

    /// XML 1.0 2.11: CR LF and lone CR read as LF, in text and CDATA (not from `&#13;`).
    #[test]
    fn line_ends_normalised_when_the_document_has_carriage_returns() {
        let xml = "<r>\r\n<a>1\r\n2\r3</a>\r\n<b><![CDATA[4\r\n5]]>&#13;\r\n</b><c>6\n7</c></r>";
        let texts: Vec<_> = child_texts(xml, &Limits::default()).into_iter().map(Result::unwrap).collect();
        assert_eq!(texts, ["1\n2\n3", "4\n5\r\n", "6\n7"]);
    }

    #[test]
    fn text_length_limit_holds_for_text_in_pieces() {
        let limits = Limits { max_text_len: 8, ..Limits::default() };
        let xml = "<r><a>12345678</a><b>1234&amp;5678</b></r>";
        assert_eq!(child_texts(xml, &limits), [Ok("12345678".to_owned()), Err(ErrorKind::TextTooLong(8))]);
    }

    /// The buffer of text in pieces is sized from the raw text, then given back when
    /// references made the text much shorter.
    #[test]
    fn text_in_pieces_keeps_no_large_spare_capacity() {
        let limits = Limits::default();
        let xml = format!("<r><a>{}</a></r>", "&amp;".repeat(1000));
        let mut cur = Cursor::new(&xml, &limits);
        let _root = cur.next_child().unwrap().unwrap();
        let _child = cur.next_child().unwrap().unwrap();
        let text = cur.read_text().unwrap().into_owned();
        assert_eq!(text, "&".repeat(1000));
        assert!(text.capacity() <= 2 * text.len() + 64, "{}", text.capacity());
    }

    #[test]
    fn element_inside_text_refused() {
        let xml = "<r><a>x<b/></a></r>";
        assert_eq!(child_texts(xml, &Limits::default()), [Err(ErrorKind::UnexpectedElement("b".into()))]);
    }

    #[test]
    fn xsi_type_follows_the_binding_of_its_prefix() {
        let limits = Limits::default();
        let xsi = "http://www.w3.org/2001/XMLSchema-instance";
        let cases = [
            // Unbound xsi: tolerated.
            (r#"<r><v xsi:type="xsd:int"/></r>"#.to_owned(), Some("xsd:int")),
            (format!(r#"<r xmlns:xsi="{xsi}"><v xsi:type="xsd:int"/></r>"#), Some("xsd:int")),
            // xsi bound elsewhere: not the schema-instance type; another prefix bound to it is.
            (r#"<r xmlns:xsi="urn:x"><v xsi:type="xsd:int"/></r>"#.to_owned(), None),
            (format!(r#"<r xmlns:i="{xsi}"><v i:type="xsd:int"/></r>"#), Some("xsd:int")),
            // A binding on the element itself counts; so does its end.
            (r#"<r><v xmlns:xsi="urn:x" xsi:type="xsd:int"/></r>"#.to_owned(), None),
            (format!(r#"<r xmlns:xsi="{xsi}"><v xmlns:xsi="urn:x"/><v xsi:type="a"/></r>"#), Some("a")),
            // Other shapes of the attribute list.
            (r#"<r><v a="1"  xsi:type='xsd:int'/></r>"#.to_owned(), Some("xsd:int")),
            (r#"<r><v xsi:type="x&#58;int"/></r>"#.to_owned(), Some("x:int")),
            (r#"<r><v type="xsd:int"/></r>"#.to_owned(), None),
        ];
        for (xml, expected) in cases {
            let mut cur = Cursor::new(&xml, &limits);
            let _root = cur.next_child().unwrap().unwrap();
            let mut found = None;
            while let Some(child) = cur.next_child().unwrap() {
                found = cur.xsi_type(&child).unwrap().map(Cow::into_owned);
                cur.skip().unwrap();
            }
            assert_eq!(found.as_deref(), expected, "{xml}");
        }
    }

    /// What the writer puts in an attribute value, any character included, reads back as it
    /// was: tabs and line ends survive attribute-value normalisation.
    #[test]
    fn attribute_values_the_writer_escapes_read_back_exactly() {
        let limits = Limits::default();
        let value = "a\tb\nc\r\nd \"e\" <f> & 'g' \u{e9}";
        let mut w = XmlWriter::with_capacity(64);
        w.open_with("r", &[("k", value)]);
        w.close("r");
        let mut cur = Cursor::new(&w.buf, &limits);
        let root = cur.next_child().unwrap().unwrap();
        assert_eq!(cur.attribute(&root, "k", &[], "").unwrap().as_deref(), Some(value), "{}", w.buf);
    }

    #[test]
    fn has_markup_or_line_end_agrees_with_a_plain_check() {
        let text = "urn:dslforum-org:cwmp-1-2\u{e9}a b\"c&d'e<f\tg\nh\ri\x0b(j)k=\x0e\x0d";
        for len in 0..=text.len() {
            for start in 0..len {
                let value = &text.as_bytes()[start..len];
                let plain = value.iter().any(|&b| b == b'&' || b == b'<' || b < 0x0e);
                assert_eq!(has_markup_or_line_end(value), plain, "{value:?}");
            }
        }
    }

    #[test]
    fn may_need_normalising_agrees_with_a_plain_check() {
        let text = "xsd:unsignedInt\u{e9}a b\"c&d'e<f\tg\nh\ri(j)k=";
        for len in 0..=text.len() {
            for start in 0..len {
                let value = &text.as_bytes()[start..len];
                let plain = value.iter().any(|&b| b < b'(' || b == b'<');
                assert_eq!(may_need_normalising(value), plain, "{value:?}");
            }
        }
    }

    #[test]
    fn find_byte_agrees_with_a_plain_search() {
        let text = b"soap-env:Envelope\txmlns:a=\"x\" \x80\xff::\r\n\x7f\x20\x21";
        for len in 0..=text.len() {
            for start in 0..len {
                let hay = &text[start..len];
                for needle in [b':', b'x', b'\xff', b'\x80', b'\x00', b'"'] {
                    assert_eq!(find_byte(hay, needle), hay.iter().position(|&b| b == needle), "{hay:?} {needle}");
                }
                assert_eq!(find_space(hay), hay.iter().position(|&b| b <= b' '), "{hay:?}");
            }
        }
    }

    #[test]
    fn may_bind_finds_xmlns() {
        assert!(may_bind(br#" xmlns="urn:x""#));
        assert!(may_bind(br#" xsi:type="x" xmlns:cwmp="urn:x""#));
        assert!(may_bind(b"\r\n\txmlns:cwmp='urn:x'"));
        assert!(!may_bind(br#" xsi:type="xsd:string""#));
        assert!(!may_bind(br#" a="xmlns""#));
        assert!(!may_bind(b" xmln"));
    }

    #[test]
    fn sole_xsi_type_fast_path() {
        assert_eq!(sole_xsi_type(r#" xsi:type="xsd:int""#), Some("xsd:int"));
        assert_eq!(sole_xsi_type(" xsi:type='xsd:int'"), Some("xsd:int"));
        assert_eq!(sole_xsi_type(r#" xsi:type="""#), Some(""));
        // Anything else is left to the general path.
        for raw in [
            r#" xsi:type="xsd:int" a="1""#,
            r#" a="1" xsi:type="xsd:int""#,
            r#" xsi:type = "xsd:int""#,
            r#" xsi:type="xsd:int" "#,
            r#" xsi:type="x&amp;""#,
            " xsi:type=\"x\ty\"",
            r#" xsi:type="xsd:int'"#,
            " xsi:type=\u{e9}x\u{e9}",
            r#" xsi:typo="xsd:int""#,
            r#" xsi:type="a'b""#,
            r#" xsi:type=""#,
            " xsi:type=",
            "\txsi:type=\"xsd:int\"",
        ] {
            assert_eq!(sole_xsi_type(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn simple_attribute_fast_path() {
        let find = |raw: &'static str, key: &'static str| simple_attribute(raw, 4, &move |k: &str| k == key);
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
            assert_eq!(simple_attribute(raw, 4, &|k: &str| k == "z"), None, "{raw:?}");
        }
        assert_eq!(simple_attribute(r#" a="1" b="2" c="3" d="4"  "#, 4, &|k: &str| k == "z"), Some(None));
    }
}
