//! A pull reader over quick-xml's raw event reader, shaped for CWMP decoding.
//!
//! It enforces the [`Limits`](crate::Limits) (depth, element count, text length, attribute
//! count), refuses DTDs and unknown entities, resolves namespace prefixes only where the
//! codec asks (elements of the envelope and `xsi:type`), and reports errors with the byte
//! position and the element path.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::reader::Reader;

use crate::Limits;
use crate::error::{DecodeError, ErrorKind, clip};
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
            bindings: Vec::new(),
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
        let content = self.in_source(start).unwrap_or("?");
        let (qname, attributes) = content.split_at_checked(start.name().0.len()).unwrap_or((content, ""));
        self.open.push(qname);
        let sole_xsi_type = if attributes.is_empty() { None } else { self.open_attributes(start, attributes)? };
        Ok(Elem { qname, attributes, sole_xsi_type })
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
        // Bindings are rare below the Envelope: parse attributes only when one may be there.
        if may_bind(raw.as_bytes()) {
            self.push_bindings(start)?;
        }
        Ok(None)
    }

    /// Refuses an element with more attributes than the limit, whether or not the codec reads
    /// them. An attribute takes at least four bytes (`a=""`), so only long attribute lists
    /// need counting: the common element costs one comparison.
    fn check_attribute_count(&self, start: &BytesStart<'a>, raw: &str) -> Result<(), DecodeError> {
        let max = self.limits.max_attributes;
        if raw.len() < max.saturating_add(1).saturating_mul(4) {
            return Ok(());
        }
        let mut attributes = start.attributes();
        attributes.with_checks(false);
        if attributes.take(max.saturating_add(1)).count() > max {
            return Err(self.error(ErrorKind::TooManyAttributes(max)));
        }
        Ok(())
    }

    /// The same text as a slice of the source, so open element names and text cost no
    /// allocation, and events are read in place rather than moved out (moving them is slower
    /// than it looks: the copy reads back stores the reader has just made). The reader
    /// borrows everything from the source, so `None` is never seen in practice.
    fn in_source(&self, s: &str) -> Option<&'a str> {
        let start = (s.as_ptr() as usize).wrapping_sub(self.src.as_ptr() as usize);
        self.src.get(start..start.wrapping_add(s.len())).filter(|found| found.as_ptr() == s.as_ptr())
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
        self.find_xsi_binding();
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
        binding.map(|b| b.uri.as_str()).filter(|uri| !uri.is_empty())
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
        // The common shapes first: `<a></a>` and `<a>text</a>`.
        let first = match self.read()? {
            Event::End(_) => {
                self.close_element();
                return Ok(Cow::Borrowed(""));
            }
            Event::Text(t) => {
                let text = self.text_content(t);
                self.check_text_len(&text)?;
                match self.read()? {
                    Event::End(_) => {
                        self.close_element();
                        return Ok(text);
                    }
                    event => (text, event),
                }
            }
            event => (Cow::Borrowed(""), event),
        };
        self.read_text_rest(first)
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

/// The fast path of [`Cursor::attribute`] for the shape nearly every peer writes: at most
/// `max` attributes `name="value"` (or `'value'`) separated by whitespace, with nothing to
/// normalise in the values (no references, tabs or line breaks). Returns the raw value of
/// the first attribute whose name satisfies `wanted`, or `None` when the list has any other
/// shape: then quick-xml's parser decides, and reports what is wrong.
fn simple_attribute<'r>(raw: &'r str, max: usize, wanted: &impl Fn(&str) -> bool) -> Option<Option<&'r str>> {
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
    use super::{find_byte, find_space, may_bind, may_need_normalising, simple_attribute, sole_xsi_type};

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
