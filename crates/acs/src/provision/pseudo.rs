//! GenieACS's pseudo-parameters: parts of a device's tree that the ACS keeps itself and never
//! asks the device for.
//!
//! | Root | What | Kept |
//! | --- | --- | --- |
//! | `DeviceID.` | `ID`, `Manufacturer`, `OUI`, `ProductClass`, `SerialNumber` (read-only strings) | made at each session from the device's identity |
//! | `Events.` | `Inform` and each event of the session's Inform (`0_BOOTSTRAP`, `1_BOOT`, `M_Reboot`…), the session time; `1_BOOT`, `0_BOOTSTRAP` and `Registered` also from earlier sessions | made at each session |
//! | `Tags.` | one writable boolean per tag; declaring `false` removes it | made at each session from the device's tags |
//! | `Reboot`, `FactoryReset` | when the ACS last asked for one; declaring a later time asks again | stored with the tree |
//! | `Downloads.` | one instance per declared download: `FileType`, `FileName`, `TargetFileName`, `Download` (when last asked for) | stored with the tree |
//! | `VirtualParameters.` | computed by virtual parameter scripts | stored with the tree |
//!
//! Event codes and tag names are encoded as GenieACS encodes them in paths: spaces of event
//! codes become `_`, and characters other than letters, digits, `-` and `_` become `0x` and
//! two hex digits per UTF-8 byte (`my tag` is `Tags.my0x20tag`).

use crate::provision::snapshot::Node;
use crate::store::{Device, Millis};

/// The roots of pseudo-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pseudo {
    DeviceId,
    Events,
    Tags,
    Reboot,
    FactoryReset,
    Downloads,
    VirtualParameters,
}

impl Pseudo {
    /// The pseudo-root a path is under, if any.
    pub fn of(path: &str) -> Option<Pseudo> {
        let first = path.split(['.', '[']).next().unwrap_or_default();
        Some(match first {
            "DeviceID" => Pseudo::DeviceId,
            "Events" => Pseudo::Events,
            "Tags" => Pseudo::Tags,
            "Reboot" => Pseudo::Reboot,
            "FactoryReset" => Pseudo::FactoryReset,
            "Downloads" => Pseudo::Downloads,
            "VirtualParameters" => Pseudo::VirtualParameters,
            _ => return None,
        })
    }

    /// Made from the device record at each session, never stored as parameters.
    pub fn synthesized(self) -> bool {
        matches!(self, Pseudo::DeviceId | Pseudo::Events | Pseudo::Tags)
    }
}

/// A tag or event name as a path node.
pub fn encode_name(name: &str) -> String {
    // Percent-encode everything but letters, digits, `-` and `_`.
    let mut encoded = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    // A literal `0x` that would read as an escape is escaped itself, then `%` becomes `0x`.
    let escaped = escape_literal_0x(&encoded);
    escaped.replace('%', "0x")
}

/// `0x` followed by two of `0-9A-Z`, in an encoded name: the `x` becomes `%78`.
fn escape_literal_0x(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape_follows = |at: usize| {
            bytes.get(at..at + 2).is_some_and(|h| h.iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()))
        };
        if bytes[i] == b'0' && bytes.get(i + 1) == Some(&b'x') && escape_follows(i + 2) {
            out.push_str("0%78");
            i += 2;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// The name a path node stands for (the inverse of [`encode_name`]); `None` if it is not
/// valid UTF-8 once decoded.
pub fn decode_name(node: &str) -> Option<String> {
    let bytes = node.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 2..i + 4).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], bytes.get(i + 1), hex) {
            (b'0', Some(b'x'), Some(h)) if h.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()) => {
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 4;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The `Events.` node of an Inform event code (`0 BOOTSTRAP` → `0_BOOTSTRAP`).
pub fn event_node(code: &str) -> String {
    encode_name(&code.split_whitespace().collect::<Vec<_>>().join("_"))
}

/// A time as JavaScript's `Date.toISOString()` writes it (how GenieACS sends a dateTime given
/// as a number of ms).
pub fn iso_millis(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => "0001-01-01T00:00:00Z".into(),
    }
}

/// A time given as ms since the epoch (a number, as scripts give it) or as a dateTime.
pub fn time_ms(text: &str) -> Option<Millis> {
    let text = text.trim();
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Some(n.trunc() as Millis),
        _ => cwmp_script::date_time_ms(text),
    }
}

fn node(value: &str, ty: &str, writable: bool, now: Millis) -> Node {
    Node {
        object: false,
        value: Some((value.to_owned(), ty.to_owned())),
        writable: Some(writable),
        value_ts: Some(now),
        path_ts: Some(now),
        seen_ts: Some(now),
        notification: None,
        access_list: None,
    }
}

fn object(writable: bool, now: Millis) -> Node {
    Node { object: true, writable: Some(writable), path_ts: Some(now), seen_ts: Some(now), ..Node::default() }
}

/// The synthesized pseudo-parameters of a session: `DeviceID.`, `Events.` and `Tags.`.
pub fn session_nodes(device: &Device, events: &[String], now: Millis) -> Vec<(String, Node)> {
    let id = &device.identity;
    let mut nodes = vec![("DeviceID.".to_owned(), object(false, now))];
    for (name, value) in [
        ("ID", &device.key),
        ("Manufacturer", &id.manufacturer),
        ("OUI", &id.oui),
        ("ProductClass", &id.product_class),
        ("SerialNumber", &id.serial_number),
    ] {
        nodes.push((format!("DeviceID.{name}"), node(value, "xsd:string", false, now)));
    }
    nodes.push(("Events.".to_owned(), object(false, now)));
    let mut times: Vec<(String, Millis)> = vec![("Inform".into(), now)];
    times.extend(events.iter().map(|e| (event_node(e), now)));
    // GenieACS keeps these three across sessions.
    for (name, at) in
        [("1_BOOT", device.last_boot), ("0_BOOTSTRAP", device.last_bootstrap), ("Registered", Some(device.created_at))]
    {
        if let Some(at) = at
            && !times.iter().any(|(n, _)| n == name)
        {
            times.push((name.to_owned(), at));
        }
    }
    for (name, at) in times {
        nodes.push((format!("Events.{name}"), node(&iso_millis(at), "xsd:dateTime", false, now)));
    }
    nodes.push(("Tags.".to_owned(), object(true, now)));
    for tag in &device.tags {
        nodes.push((format!("Tags.{}", encode_name(tag)), tag_node(now)));
    }
    nodes
}

/// The node of a tag the device has.
pub fn tag_node(now: Millis) -> Node {
    node("true", "xsd:boolean", true, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_as_genieacs_encodes_them() {
        for (name, node) in [
            ("lab", "lab"),
            ("my tag", "my0x20tag"),
            ("a.b", "a0x2Eb"),
            ("x!*'()~", "x0x210x2A0x270x280x290x7E"),
            ("0x41", "00x7841"),
            ("é", "0xC30xA9"),
        ] {
            assert_eq!(encode_name(name), node, "{name}");
            assert_eq!(decode_name(node).as_deref(), Some(name), "{node}");
        }
        assert_eq!(event_node("0 BOOTSTRAP"), "0_BOOTSTRAP");
        assert_eq!(event_node("M Reboot"), "M_Reboot");
        assert_eq!(event_node("X 00D09E Thing"), "X_00D09E_Thing");
        assert_eq!(decode_name("0xFF"), None);
    }

    #[test]
    fn times() {
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_millis(49_384_567), "1970-01-01T13:43:04.567Z");
        assert_eq!(time_ms("1714566896789"), Some(1_714_566_896_789));
        assert_eq!(time_ms("2024-05-01T12:34:56.789Z"), Some(1_714_566_896_789));
        assert_eq!(time_ms("soon"), None);
        assert_eq!(Pseudo::of("Downloads.[FileType:x].Download"), Some(Pseudo::Downloads));
        assert_eq!(Pseudo::of("Reboot"), Some(Pseudo::Reboot));
        assert_eq!(Pseudo::of("Device.Reboot"), None);
        assert_eq!(Pseudo::of("DeviceIDs.X"), None);
    }
}
