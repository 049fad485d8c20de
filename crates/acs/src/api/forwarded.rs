//! The client's address behind reverse proxies. The proxy's header (`X-Forwarded-For`, or
//! `Forwarded` of RFC 7239, as configured) is believed only when the peer is a trusted proxy,
//! and only as far as the chain of trusted proxies reaches: the client is the right-most
//! address that is not itself a trusted proxy. Everything to its left was written by the
//! client and may be forged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use axum::http::{HeaderMap, HeaderName, header};
use serde::Deserialize;

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AddressRange {
    network: IpAddr,
    prefix: u8,
}

impl AddressRange {
    /// Whether `addr` is in the range; an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what
    /// a dual-stack socket reports) counts as its IPv4 address.
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(_), a @ IpAddr::V4(_)) | (IpAddr::V6(_), a @ IpAddr::V6(_)) => {
                masked(a, self.prefix) == self.network
            }
            _ => false,
        }
    }
}

/// `addr` with every bit past the first `prefix` cleared.
fn masked(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)))
        }
        IpAddr::V6(a) => {
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)))
        }
    }
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(text: &str) -> Result<AddressRange, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{text:?} is not an address or address/prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(AddressRange { network: masked(addr, prefix), prefix })
    }
}

impl TryFrom<String> for AddressRange {
    type Error = String;
    fn try_from(text: String) -> Result<AddressRange, String> {
        text.parse()
    }
}

/// The proxies whose forwarding header is believed (`trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct TrustedProxies(pub Vec<AddressRange>);

impl TrustedProxies {
    pub fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(addr))
    }
}

/// Which header the trusted proxies write (`forwarded_header`). Only one is read: a proxy
/// passes the other through as the client sent it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded`: its `for=` parameters.
    Forwarded,
}

/// The client's address: the peer's, or, when the peer is a trusted proxy, the right-most
/// address of the forwarding header that is not a trusted proxy. A hop the header does not
/// name as an address (`unknown`, an obfuscated name, garbage) ends the walk: the last
/// address known stands.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies, from: ForwardedHeader) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.trusts(client) {
        return client;
    }
    let hops = match from {
        ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
        ForwardedHeader::Forwarded => forwarded(headers),
    };
    for hop in hops.into_iter().rev() {
        let Some(hop) = hop else { break };
        client = hop.to_canonical();
        if !trusted.trusts(client) {
            break;
        }
    }
    client
}

/// The header's fields in order, `None` for one that is not text.
fn fields<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = Option<&'h str>> {
    headers.get_all(name).iter().map(|v| v.to_str().ok())
}

/// `X-Forwarded-For: client, proxy1, proxy2`.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for field in fields(headers, &HeaderName::from_static("x-forwarded-for")) {
        match field {
            Some(text) => hops.extend(text.split(',').map(str::trim).filter(|h| !h.is_empty()).map(node)),
            None => hops.push(None),
        }
    }
    hops
}

/// RFC 7239 4: `Forwarded: for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https`.
fn forwarded(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for field in fields(headers, &header::FORWARDED) {
        let Some(text) = field else {
            hops.push(None);
            continue;
        };
        for element in split_outside_quotes(text, b',').into_iter().filter(|e| !e.trim().is_empty()) {
            let node_name = split_outside_quotes(element, b';').into_iter().find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| unquote(value.trim()))
            });
            hops.push(node_name.and_then(|n| node(&n)));
        }
    }
    hops
}

/// An address, with or without a port: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`.
fn node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// `text` split at every `separator` outside a quoted string (RFC 9110 5.6.4).
fn split_outside_quotes(text: &str, separator: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in text.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token, or a quoted string without its quotes and escapes.
fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next().unwrap_or(c) } else { c });
            }
            out
        }
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn ranges() {
        let range: AddressRange = "10.0.0.0/8".parse().unwrap();
        assert!(range.contains(ip("10.255.0.1")) && !range.contains(ip("11.0.0.1")));
        assert!(range.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        assert!(!range.contains(ip("::1")));
        let one: AddressRange = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: AddressRange = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")));
        assert!("::1".parse::<AddressRange>().unwrap().contains(ip("::1")));
        let all: AddressRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")) && !all.contains(ip("2001:db8::1")));
        // Host bits are cleared: the range is the network.
        assert_eq!("10.1.2.3/8".parse::<AddressRange>().unwrap(), range);
        for bad in ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "host.example", ""] {
            let e = bad.parse::<AddressRange>().unwrap_err();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        let parsed: TrustedProxies = serde_json::from_str(r#"["10.0.0.0/8", "::1"]"#).unwrap();
        assert_eq!(parsed, trusted(&["10.0.0.0/8", "::1"]));
        assert!(serde_json::from_str::<TrustedProxies>(r#"["10.0.0.0/40"]"#).is_err());
    }

    #[test]
    fn untrusted_peers_are_their_own_address() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.1"), ("forwarded", "for=198.51.100.1")]);
        for from in [ForwardedHeader::XForwardedFor, ForwardedHeader::Forwarded] {
            assert_eq!(client_address(ip("203.0.113.5"), &h, &proxies, from), ip("203.0.113.5"));
        }
        assert_eq!(client_address(ip("10.0.0.1"), &h, &TrustedProxies::default(), from_xff()), ip("10.0.0.1"));
        assert_eq!(client_address(ip("::ffff:203.0.113.5"), &h, &proxies, from_xff()), ip("203.0.113.5"));
    }

    fn from_xff() -> ForwardedHeader {
        ForwardedHeader::XForwardedFor
    }

    #[test]
    fn x_forwarded_for_right_most_untrusted() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let client = |values: &[&str]| {
            let pairs: Vec<(&'static str, &str)> = values.iter().map(|v| ("x-forwarded-for", *v)).collect();
            client_address(peer, &headers(&pairs), &proxies, from_xff())
        };
        assert_eq!(client(&["203.0.113.9"]), ip("203.0.113.9"));
        // The client wrote the left part itself.
        assert_eq!(client(&["198.51.100.1, 203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(client(&["198.51.100.1", "203.0.113.9"]), ip("203.0.113.9"), "fields in order");
        // Trusted proxies in the chain are skipped.
        assert_eq!(client(&["198.51.100.1, 203.0.113.9, 10.1.1.1"]), ip("203.0.113.9"));
        assert_eq!(client(&["10.0.0.3, 10.0.0.2"]), ip("10.0.0.3"), "all trusted: the farthest");
        assert_eq!(client(&["203.0.113.9:4711"]), ip("203.0.113.9"));
        assert_eq!(client(&["[2001:db8::7]:80"]), ip("2001:db8::7"));
        assert_eq!(client(&["2001:db8::7"]), ip("2001:db8::7"));
        // What the proxy could not name ends the walk at the last address known.
        assert_eq!(client(&["203.0.113.9, unknown"]), peer);
        assert_eq!(client(&["203.0.113.9, 10.0.0.2, garbage"]), peer);
        assert_eq!(client(&["garbage, 10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(client(&[]), peer);
        assert_eq!(client(&["203.0.113.9, ,"]), ip("203.0.113.9"), "empty entries are no hops");
    }

    #[test]
    fn forwarded_for_parameters() {
        let proxies = trusted(&["10.0.0.0/8", "2001:db8:ff::/48"]);
        let client = |values: &[&str]| {
            let pairs: Vec<(&'static str, &str)> = values.iter().map(|v| ("forwarded", *v)).collect();
            client_address(ip("10.0.0.1"), &headers(&pairs), &proxies, ForwardedHeader::Forwarded)
        };
        assert_eq!(client(&["for=192.0.2.43"]), ip("192.0.2.43"));
        assert_eq!(client(&[r#"for=192.0.2.43, for="[2001:db8:cafe::17]:4711""#]), ip("2001:db8:cafe::17"));
        assert_eq!(client(&["proto=https;For=192.0.2.60;by=203.0.113.43"]), ip("192.0.2.60"), "any order, any case");
        assert_eq!(client(&["for=198.51.100.1", r#"for=192.0.2.60, for="[2001:db8:ff::1]""#]), ip("192.0.2.60"));
        assert_eq!(client(&[r#"for=192.0.2.60;by="a,b", for=10.2.2.2"#]), ip("192.0.2.60"), "a comma in quotes");
        assert_eq!(client(&[r#"for="192.0.2.\61""#]), ip("192.0.2.61"), "escapes");
        assert_eq!(client(&["for=192.0.2.60, for=unknown"]), ip("10.0.0.1"));
        assert_eq!(client(&["for=192.0.2.60, for=_hidden"]), ip("10.0.0.1"));
        assert_eq!(client(&["for=192.0.2.60, proto=http"]), ip("10.0.0.1"), "an element without for=");
    }

    /// A proxy that writes one header passes the other through as the client sent it.
    #[test]
    fn only_the_configured_header_counts() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9"), ("forwarded", "for=198.51.100.66")]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &proxies, from_xff()), ip("203.0.113.9"));
        assert_eq!(client_address(ip("10.0.0.1"), &h, &proxies, ForwardedHeader::Forwarded), ip("198.51.100.66"));
        let only_forwarded = headers(&[("forwarded", "for=198.51.100.66")]);
        assert_eq!(client_address(ip("10.0.0.1"), &only_forwarded, &proxies, from_xff()), ip("10.0.0.1"));
    }
}
