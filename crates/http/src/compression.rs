//! HTTP content codings: `gzip`, `deflate` and `identity` (TR-069 3.4.7).
//!
//! The CPE compresses its POST bodies with the coding named by
//! `ManagementServer.HTTPCompression`; an ACS that cannot decode a coding answers 415.
//! Decoding is capped: a small body that inflates past the cap is refused, so a zip bomb
//! costs at most the cap in memory.
//!
//! `deflate` is meant to be the zlib format (RFC 9110 §8.4.1.2), but some peers send raw
//! deflate; both are accepted.

use std::io::Read;

use flate2::Compression;
use flate2::read::{DeflateDecoder, GzEncoder, MultiGzDecoder, ZlibDecoder, ZlibEncoder};

/// A content coding this crate can decode and encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    Deflate,
}

impl ContentEncoding {
    /// Reads one coding name, case-insensitively (`x-gzip` is gzip, RFC 9110 §8.4.1.3).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            Some(Self::Gzip)
        } else if name.eq_ignore_ascii_case("deflate") {
            Some(Self::Deflate)
        } else if name.eq_ignore_ascii_case("identity") {
            Some(Self::Identity)
        } else {
            None
        }
    }

    /// The coding named by `ManagementServer.HTTPCompression` (TR-181: `Disabled`, `GZIP`,
    /// `Compress`, `Deflate`). `None` means send uncompressed: `Disabled`, or a value this
    /// crate cannot produce (`Compress`, vendor extensions).
    pub fn from_http_compression(value: &str) -> Option<Self> {
        match Self::from_name(value) {
            Some(Self::Identity) | None => None,
            coding => coding,
        }
    }

    /// The name for `Content-Encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Answer 415 (TR-069 3.4.7).
    #[error("unsupported content coding `{0}`")]
    Unsupported(String),
    #[error("the decoded body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    #[error("corrupt {coding} data: {message}")]
    Corrupt { coding: &'static str, message: String },
}

/// Reads a `Content-Encoding` header value: the codings in the order they were applied.
/// `identity` entries are dropped; an empty value means no coding.
pub fn parse_content_encoding(value: &str) -> Result<Vec<ContentEncoding>, DecodeError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| ContentEncoding::from_name(name).ok_or_else(|| DecodeError::Unsupported(name.to_owned())))
        .filter(|coding| *coding != Ok(ContentEncoding::Identity))
        .collect()
}

/// Decodes a body according to its `Content-Encoding` header value (`None` when absent),
/// refusing to produce more than `max_len` bytes at any stage.
pub fn decode_body(content_encoding: Option<&str>, body: &[u8], max_len: usize) -> Result<Vec<u8>, DecodeError> {
    let codings = match content_encoding {
        Some(value) => parse_content_encoding(value)?,
        None => Vec::new(),
    };
    let Some((&last, earlier)) = codings.split_last() else {
        return decode(ContentEncoding::Identity, body, max_len);
    };
    let mut data = decode(last, body, max_len)?;
    for &coding in earlier.iter().rev() {
        data = decode(coding, &data, max_len)?;
    }
    Ok(data)
}

/// Decodes one coding, refusing to produce more than `max_len` bytes.
pub fn decode(coding: ContentEncoding, data: &[u8], max_len: usize) -> Result<Vec<u8>, DecodeError> {
    match coding {
        ContentEncoding::Identity if data.len() > max_len => Err(DecodeError::TooLarge { limit: max_len }),
        ContentEncoding::Identity => Ok(data.to_vec()),
        ContentEncoding::Gzip => read_capped(MultiGzDecoder::new(data), "gzip", max_len),
        ContentEncoding::Deflate if looks_like_zlib(data) => {
            match read_capped(ZlibDecoder::new(data), "deflate", max_len) {
                // A raw stream can begin with bytes that pass the zlib header check.
                Err(DecodeError::Corrupt { .. }) => read_capped(DeflateDecoder::new(data), "deflate", max_len),
                other => other,
            }
        }
        ContentEncoding::Deflate => read_capped(DeflateDecoder::new(data), "deflate", max_len),
    }
}

/// Encodes a body (zlib format for `deflate`).
pub fn encode(coding: ContentEncoding, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 + 32);
    let result = match coding {
        ContentEncoding::Identity => return data.to_vec(),
        ContentEncoding::Gzip => GzEncoder::new(data, Compression::default()).read_to_end(&mut out),
        ContentEncoding::Deflate => ZlibEncoder::new(data, Compression::default()).read_to_end(&mut out),
    };
    // Compressing from a byte slice into a Vec cannot fail.
    result.expect("in-memory compression");
    out
}

/// The coding to use for a response, from the request's `Accept-Encoding` (RFC 9110
/// §12.5.3): gzip, then deflate, if the peer accepts them with a non-zero q-value
/// (explicitly or through `*`), otherwise identity.
pub fn choose_response_encoding(accept_encoding: Option<&str>) -> ContentEncoding {
    let Some(header) = accept_encoding else { return ContentEncoding::Identity };
    let mut wildcard = None;
    let mut explicit = Vec::new();
    for element in header.split(',') {
        let mut parts = element.split(';');
        let name = parts.next().unwrap_or_default().trim();
        if name.is_empty() {
            continue;
        }
        let accepted = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .is_none_or(|(_, q)| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
        if name == "*" {
            wildcard = Some(accepted);
        } else if let Some(coding) = ContentEncoding::from_name(name) {
            explicit.push((coding, accepted));
        }
    }
    let accepts = |coding| explicit.iter().find(|(c, _)| *c == coding).map(|&(_, ok)| ok).or(wildcard).unwrap_or(false);
    [ContentEncoding::Gzip, ContentEncoding::Deflate]
        .into_iter()
        .find(|&c| accepts(c))
        .unwrap_or(ContentEncoding::Identity)
}

/// RFC 1950 §2.2: CM = 8, CINFO ≤ 7, and the two header bytes are a multiple of 31.
fn looks_like_zlib(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

fn read_capped(reader: impl Read, coding: &'static str, max_len: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(limit).read_to_end(&mut out).map_err(|e| DecodeError::Corrupt { coding, message: e.to_string() })?;
    if out.len() > max_len {
        return Err(DecodeError::TooLarge { limit: max_len });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::DeflateEncoder;
    use proptest::prelude::*;
    use std::io::Write;

    const BODY: &[u8] = b"<soap:Envelope><soap:Body><cwmp:Inform>...</cwmp:Inform></soap:Body></soap:Envelope>";

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(ContentEncoding::from_name(" GZIP "), Some(ContentEncoding::Gzip));
        assert_eq!(ContentEncoding::from_name("x-gzip"), Some(ContentEncoding::Gzip));
        assert_eq!(ContentEncoding::from_name("Deflate"), Some(ContentEncoding::Deflate));
        assert_eq!(ContentEncoding::from_name("br"), None);
        assert_eq!(ContentEncoding::from_http_compression("GZIP"), Some(ContentEncoding::Gzip));
        assert_eq!(ContentEncoding::from_http_compression("Deflate"), Some(ContentEncoding::Deflate));
        assert_eq!(ContentEncoding::from_http_compression("Disabled"), None);
        assert_eq!(ContentEncoding::from_http_compression("Compress"), None);
    }

    #[test]
    fn round_trips() {
        for coding in [ContentEncoding::Identity, ContentEncoding::Gzip, ContentEncoding::Deflate] {
            let encoded = encode(coding, BODY);
            assert_eq!(decode(coding, &encoded, 1 << 20).unwrap(), BODY, "{coding:?}");
            assert_eq!(decode_body(Some(coding.name()), &encoded, 1 << 20).unwrap(), BODY);
        }
        assert_eq!(&encode(ContentEncoding::Gzip, BODY)[..2], [0x1f, 0x8b]);
        assert!(looks_like_zlib(&encode(ContentEncoding::Deflate, BODY)));
    }

    #[test]
    fn raw_deflate_is_accepted() {
        let raw = raw_deflate(BODY);
        assert!(!looks_like_zlib(&raw));
        assert_eq!(decode(ContentEncoding::Deflate, &raw, 1 << 20).unwrap(), BODY);
    }

    #[test]
    fn concatenated_gzip_members() {
        let mut two = encode(ContentEncoding::Gzip, b"abc");
        two.extend(encode(ContentEncoding::Gzip, b"def"));
        assert_eq!(decode(ContentEncoding::Gzip, &two, 100).unwrap(), b"abcdef");
    }

    #[test]
    fn stacked_codings_are_undone_in_reverse() {
        let inner = encode(ContentEncoding::Deflate, BODY);
        let outer = encode(ContentEncoding::Gzip, &inner);
        assert_eq!(decode_body(Some("deflate, identity, gzip"), &outer, 1 << 20).unwrap(), BODY);
        assert_eq!(decode_body(None, BODY, 1 << 20).unwrap(), BODY);
        assert_eq!(decode_body(Some(""), BODY, 1 << 20).unwrap(), BODY);
    }

    #[test]
    fn zip_bomb_is_capped() {
        let zeros = vec![0u8; 4 << 20];
        for coding in [ContentEncoding::Gzip, ContentEncoding::Deflate] {
            let bomb = encode(coding, &zeros);
            assert!(bomb.len() < 32 << 10, "{}", bomb.len());
            assert_eq!(decode(coding, &bomb, 1 << 20), Err(DecodeError::TooLarge { limit: 1 << 20 }));
            assert_eq!(decode(coding, &bomb, 4 << 20).unwrap().len(), 4 << 20);
        }
        assert_eq!(decode(ContentEncoding::Identity, &zeros, 100), Err(DecodeError::TooLarge { limit: 100 }));
        // Each stage of a stacked coding is capped.
        let inner = encode(ContentEncoding::Gzip, &zeros);
        let outer = encode(ContentEncoding::Gzip, &inner);
        assert_eq!(decode_body(Some("gzip, gzip"), &outer, 1 << 20), Err(DecodeError::TooLarge { limit: 1 << 20 }));
    }

    #[test]
    fn errors() {
        assert_eq!(decode_body(Some("br"), BODY, 100), Err(DecodeError::Unsupported("br".into())));
        assert_eq!(decode_body(Some("gzip, compress"), BODY, 100), Err(DecodeError::Unsupported("compress".into())));
        assert!(matches!(decode(ContentEncoding::Gzip, BODY, 1000), Err(DecodeError::Corrupt { coding: "gzip", .. })));
        let gz = encode(ContentEncoding::Gzip, BODY);
        assert!(matches!(decode(ContentEncoding::Gzip, &gz[..gz.len() - 4], 1000), Err(DecodeError::Corrupt { .. })));
        let z = encode(ContentEncoding::Deflate, BODY);
        assert!(matches!(
            decode(ContentEncoding::Deflate, &z[..z.len() / 2], 1000),
            Err(DecodeError::Corrupt { coding: "deflate", .. })
        ));
    }

    #[test]
    fn accept_encoding() {
        use ContentEncoding::*;
        assert_eq!(choose_response_encoding(None), Identity);
        assert_eq!(choose_response_encoding(Some("gzip, deflate")), Gzip);
        assert_eq!(choose_response_encoding(Some("deflate")), Deflate);
        assert_eq!(choose_response_encoding(Some("gzip;q=0, deflate;q=0.5")), Deflate);
        assert_eq!(choose_response_encoding(Some("GZIP ; Q=0.1")), Gzip);
        assert_eq!(choose_response_encoding(Some("*")), Gzip);
        assert_eq!(choose_response_encoding(Some("*;q=0, identity")), Identity);
        assert_eq!(choose_response_encoding(Some("br, identity")), Identity);
        assert_eq!(choose_response_encoding(Some("gzip;q=0, *")), Deflate);
        assert_eq!(choose_response_encoding(Some("")), Identity);
    }

    proptest! {
        #[test]
        fn round_trip_any(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            for coding in [ContentEncoding::Gzip, ContentEncoding::Deflate] {
                prop_assert_eq!(decode(coding, &encode(coding, &data), 4096), Ok(data.clone()));
            }
        }

        #[test]
        fn decoding_garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512), header in "\\PC{0,20}") {
            for coding in [ContentEncoding::Gzip, ContentEncoding::Deflate, ContentEncoding::Identity] {
                let _ = decode(coding, &data, 4096);
            }
            let _ = decode_body(Some(&header), &data, 4096);
            let _ = choose_response_encoding(Some(&header));
        }
    }
}
