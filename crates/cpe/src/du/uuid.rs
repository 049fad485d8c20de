//! Deployment Unit UUIDs (TR-069 Annex H, now TR-181 Issue 2 Annex "Software Module
//! Management UUID Usage"; Appendix VI.3.1.1).
//!
//! A DU's UUID is an RFC 4122 version 5 (SHA-1, name-based) UUID in the DNS namespace over
//! the name `<Name>.<Vendor>.` (with the trailing dot), where every character of `<Name>`
//! outside `0-9 a-z A-Z _ -` is percent-encoded byte by byte with lower-case hex (the
//! spec's example: `sample.1` → `sample%2e1`). ACS and CPE compute the same value, and it
//! stays the same across versions of the DU.

use uuid::Uuid;

/// The UUID of the DU called `name` from `vendor` (the author's domain name).
pub fn du_uuid(name: &str, vendor: &str) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_DNS, du_uuid_name(name, vendor).as_bytes()).to_string()
}

/// The name hashed by [`du_uuid`]: `<escaped Name>.<Vendor>.`.
pub fn du_uuid_name(name: &str, vendor: &str) -> String {
    let mut out = String::with_capacity(name.len() + vendor.len() + 2);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out.push('.');
    out.push_str(vendor);
    out.push('.');
    out
}

/// Whether `uuid` is usable as a DU UUID: the 8-4-4-4-12 hex form of an RFC 4122
/// name-based UUID. Version 5 is what TR-181 specifies; version 3 is accepted too because
/// the 9022 fault text still says "Version 3 (Name-based)" (digest decision D-12). Anything
/// else is fault 9022 (Invalid UUID Format).
pub fn is_valid_du_uuid(uuid: &str) -> bool {
    if uuid.len() != 36 {
        return false;
    }
    match Uuid::try_parse(uuid) {
        Ok(u) => matches!(u.get_version_num(), 3 | 5) && u.get_variant() == uuid::Variant::RFC4122,
        Err(_) => false,
    }
}

/// UUIDs compare case-insensitively.
pub fn same_uuid(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest's test vectors (computed with Python's uuid.uuid5(NAMESPACE_DNS, name)).
    #[test]
    fn annex_h_vectors() {
        assert_eq!(du_uuid("sample1", "broadband-forum.org"), "fe2d23bd-dd02-51b8-af04-f5c18b2b0aa6");
        assert_eq!(du_uuid_name("sample.1", "broadband-forum.org"), "sample%2e1.broadband-forum.org.");
        assert_eq!(du_uuid("sample.1", "broadband-forum.org"), "0fbf4583-efd7-51b6-8483-7b347f4b521d");
        assert_eq!(du_uuid("my app", "example.com"), "7ef16590-f4f9-51a0-aac5-a4a8afbbc2c9");
        // Non-ASCII: each UTF-8 byte is escaped.
        assert_eq!(du_uuid_name("é", "v"), "%c3%a9.v.");
    }

    #[test]
    fn validity() {
        assert!(is_valid_du_uuid("fe2d23bd-dd02-51b8-af04-f5c18b2b0aa6"));
        assert!(is_valid_du_uuid("FE2D23BD-DD02-51B8-AF04-F5C18B2B0AA6"));
        // A version 3 UUID (uuid.uuid3(NAMESPACE_DNS, "python.org")).
        assert!(is_valid_du_uuid("6fa459ea-ee8a-3ca4-894e-db77e160355e"));
        // Version 4 (random), TR-181's broken sample (version 3 nibble, wrong variant), and junk.
        assert!(!is_valid_du_uuid("16fd2706-8baf-433b-82eb-8c7fada847da"));
        assert!(!is_valid_du_uuid("76183ed7-6a38-3890-66ef-a6488efb6690"));
        assert!(!is_valid_du_uuid("fe2d23bddd0251b8af04f5c18b2b0aa6"));
        assert!(!is_valid_du_uuid("{fe2d23bd-dd02-51b8-af04-f5c18b2b0aa6}"));
        assert!(!is_valid_du_uuid(""));
        assert!(same_uuid("ABC", "abc"));
    }
}
