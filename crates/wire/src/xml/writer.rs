//! Writes CWMP XML with fixed prefixes and no whitespace between elements.
//!
//! Tags and attribute names are our constants, or a [`UnknownMethod`](crate::rpc::UnknownMethod)
//! checked when it was made; debug builds assert it, so the round-trip tests would catch a
//! name that slipped through.

use crate::xml::name::is_qname;

/// An output buffer with helpers for CWMP's element shapes.
pub(crate) struct XmlWriter {
    pub buf: String,
}

impl XmlWriter {
    pub fn with_capacity(capacity: usize) -> XmlWriter {
        XmlWriter { buf: String::with_capacity(capacity) }
    }

    pub fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    pub fn open(&mut self, tag: &str) {
        debug_assert!(is_qname(tag), "{tag:?}");
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
    }

    /// `<tag name="value" …>`; attribute values are escaped.
    pub fn open_with(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        debug_assert!(is_qname(tag), "{tag:?}");
        self.buf.push('<');
        self.buf.push_str(tag);
        for (name, value) in attrs {
            debug_assert!(is_qname(name), "{name:?}");
            self.buf.push(' ');
            self.buf.push_str(name);
            self.buf.push_str("=\"");
            escape_into(&mut self.buf, value, true);
            self.buf.push('"');
        }
        self.buf.push('>');
    }

    pub fn close(&mut self, tag: &str) {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
    }

    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.buf, text, false);
    }

    /// `<tag>text</tag>`
    pub fn leaf(&mut self, tag: &str, text: &str) {
        self.open(tag);
        self.text(text);
        self.close(tag);
    }
}

/// Escapes markup characters. Characters XML 1.0 cannot carry at all (most C0 controls,
/// U+FFFE, U+FFFF) are replaced with U+FFFD so the output always parses. In attribute values,
/// tabs and line feeds are written as references too: attribute-value normalisation (XML 1.0
/// 3.3.3) would read them back as spaces.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    let needs = |c: char| {
        matches!(c, '<' | '>' | '&' | '\r')
            || (attribute && matches!(c, '"' | '\t' | '\n'))
            || (c < ' ' && !matches!(c, '\t' | '\n'))
            || c == '\u{FFFE}'
            || c == '\u{FFFF}'
    };
    let mut rest = text;
    while let Some(pos) = rest.find(needs) {
        out.push_str(&rest[..pos]);
        let c = rest[pos..].chars().next().expect("found char");
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            // A literal carriage return would be normalised away by the reader.
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            _ => out.push('\u{FFFD}'),
        }
        rest = &rest[pos + c.len_utf8()..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut w = XmlWriter::with_capacity(64);
        w.leaf("a", "x<y&z]]>\u{1}\t\r");
        w.open_with("b", &[("k", "\"q\"\t\n\r")]);
        assert_eq!(w.buf, "<a>x&lt;y&amp;z]]&gt;\u{FFFD}\t&#13;</a><b k=\"&quot;q&quot;&#9;&#10;&#13;\">");
    }
}
