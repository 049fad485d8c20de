//! XML names: the `Name` production of XML 1.0 (5th edition) 2.3, restricted to `NCName`
//! and `QName` by Namespaces in XML 1.0 (3rd edition) 3 and 4.
//!
//! The reader checks every element and attribute name with these, and the writer only writes
//! names that are constants or passed them, so nothing a peer sends can make us write a tag
//! that is not XML.

/// Whether `name` is a `QName`: an `NCName`, or two joined by one `:` (`cwmp:Inform`).
pub(crate) fn is_qname(name: &str) -> bool {
    match name.split_once(':') {
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
        None => is_ncname(name),
    }
}

/// Whether `name` is an `NCName`: an XML `Name` without `:`.
pub(crate) fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_start_char) && chars.all(is_name_char)
}

/// ASCII bytes that may start an `NCName` (letters and `_`), then those that may only continue
/// one (digits, `-`, `.`).
const START: u8 = 1;
const CONTINUE: u8 = 2;
const ASCII: [u8; 128] = {
    let mut table = [0; 128];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        table[b] = if c.is_ascii_alphabetic() || c == b'_' {
            START | CONTINUE
        } else if c.is_ascii_digit() || c == b'-' || c == b'.' {
            CONTINUE
        } else {
            0
        };
        b += 1;
    }
    table
};

/// XML 1.0 [4] `NameStartChar`, without `:`.
fn is_start_char(c: char) -> bool {
    match u32::from(c) {
        b @ 0..0x80 => ASCII[b as usize] & START != 0,
        0xC0..=0xD6
        | 0xD8..=0xF6
        | 0xF8..=0x2FF
        | 0x370..=0x37D
        | 0x37F..=0x1FFF
        | 0x200C..=0x200D
        | 0x2070..=0x218F
        | 0x2C00..=0x2FEF
        | 0x3001..=0xD7FF
        | 0xF900..=0xFDCF
        | 0xFDF0..=0xFFFD
        | 0x10000..=0xEFFFF => true,
        _ => false,
    }
}

/// XML 1.0 [4a] `NameChar`, without `:`.
fn is_name_char(c: char) -> bool {
    match u32::from(c) {
        b @ 0..0x80 => ASCII[b as usize] & CONTINUE != 0,
        0xB7 | 0x300..=0x36F | 0x203F..=0x2040 => true,
        _ => is_start_char(c),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_ncname, is_qname};

    #[test]
    fn ncnames() {
        for good in ["a", "_", "Inform", "X_ACME-COM.Foo2", "é", "ab\u{B7}c", "a\u{300}", "\u{10000}x"] {
            assert!(is_ncname(good), "{good:?}");
        }
        for bad in ["", "m|/", "1a", "-a", ".a", "a b", "a:b", "a\"", "a>", "a/", "\u{B7}a", "\u{300}", "a\u{D7}"] {
            assert!(!is_ncname(bad), "{bad:?}");
        }
    }

    #[test]
    fn qnames() {
        for good in ["a", "cwmp:Inform", "soap-env:Envelope", "xsi:type", "é:é"] {
            assert!(is_qname(good), "{good:?}");
        }
        for bad in ["", ":", ":a", "a:", "a:b:c", "a::b", "cwmp:m|/", "1:a", "a:1", "m|"] {
            assert!(!is_qname(bad), "{bad:?}");
        }
    }
}
