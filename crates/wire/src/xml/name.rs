//! XML names: the `Name` production of XML 1.0 (5th edition) 2.3, restricted to `NCName`
//! and `QName` by Namespaces in XML 1.0 (3rd edition) 3 and 4.
//!
//! The reader checks every element and attribute name with these, and the writer only writes
//! names that are constants or passed them, so nothing a peer sends can make us write a tag
//! that is not XML.

/// Whether `name` is a `QName`: an `NCName`, or two joined by one `:` (`cwmp:Inform`).
///
/// Every element name of a message passes here, so the common names are checked first
/// eight bytes at a time: those made of ASCII letters only (`ParameterValueStruct`, `Name`,
/// `Value`). Other ASCII names take a byte loop, the rest the character ranges.
#[inline]
pub(crate) fn is_qname(name: &str) -> bool {
    if all_letters(name.as_bytes()) {
        return true;
    }
    ascii_qname(name.as_bytes()).unwrap_or_else(|| qname_chars(name))
}

/// Whether `name` is an `NCName`: an XML `Name` without `:`.
pub(crate) fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_start_char) && chars.all(is_name_char)
}

/// [`is_qname`] by characters.
#[cold]
fn qname_chars(name: &str) -> bool {
    match name.split_once(':') {
        Some((prefix, local)) => is_ncname(prefix) && is_ncname(local),
        None => is_ncname(name),
    }
}

const ONES: u64 = u64::from_le_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// Whether `bytes` is not empty and holds ASCII letters only.
#[inline]
fn all_letters(bytes: &[u8]) -> bool {
    // A byte is a letter when, with bit 5 set (lower case), it is in `a..=z` and below 0x80:
    // adding 0x1F to its low seven bits reaches 0x80 from `a` on, adding 0x05 from `{` on.
    let letters = |word: u64| {
        let lower = word | (ONES * 0x20);
        let low7 = lower & !HIGHS;
        let from_a = low7 + ONES * 0x1F;
        let from_brace = low7 + ONES * 0x05;
        from_a & !from_brace & !lower & HIGHS == HIGHS
    };
    match bytes.len() {
        0 => false,
        1..4 => bytes.iter().all(|&b| (b | 0x20).wrapping_sub(b'a') < 26),
        // The first four bytes and the last four, overlapping, as one word.
        4..8 => {
            let head = bytes.first_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w));
            let tail = bytes.last_chunk::<4>().map_or(0, |w| u32::from_le_bytes(*w));
            letters(u64::from(head) | u64::from(tail) << 32)
        }
        // Whole words, the last one overlapping the one before.
        _ => {
            let (words, _) = bytes.as_chunks::<8>();
            let last = bytes.last_chunk::<8>().is_some_and(|w| letters(u64::from_le_bytes(*w)));
            last && words.iter().all(|w| letters(u64::from_le_bytes(*w)))
        }
    }
}

/// [`is_qname`] for ASCII names, byte by byte; `None` when `name` is not ASCII.
fn ascii_qname(name: &[u8]) -> Option<bool> {
    let mut at_start = true;
    let mut colon = false;
    for &b in name {
        let class = *ASCII.get(usize::from(b))?;
        if b == b':' {
            if at_start || colon {
                return Some(false);
            }
            (at_start, colon) = (true, true);
        } else if class & if at_start { START } else { CONTINUE } == 0 {
            return Some(false);
        } else {
            at_start = false;
        }
    }
    Some(!at_start)
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

    /// The fast paths agree with the character ranges on every one- and two-byte name and on
    /// longer names around the word boundaries.
    #[test]
    fn fast_paths_agree_with_the_character_ranges() {
        let by_chars = |name: &str| super::qname_chars(name);
        let bytes: Vec<u8> = (0..=0x7F).chain([0xC3]).collect();
        for &a in &bytes {
            for &b in &bytes {
                for name in [
                    vec![a],
                    vec![a, b],
                    [b"Paramet".as_slice(), &[a, b]].concat(),
                    [b"ParameterValue".as_slice(), &[a, b]].concat(),
                ] {
                    if let Ok(name) = std::str::from_utf8(&name) {
                        assert_eq!(is_qname(name), by_chars(name), "{name:?}");
                    }
                }
            }
        }
        for name in ["ParameterValueStruct", "ParameterValueStr@ct", "Parameter[alue", "Param\u{e9}terValue"] {
            assert_eq!(is_qname(name), by_chars(name), "{name:?}");
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
