//! Files for CPEs (TR-069 3.4.3): downloads with HEAD, ETag and Range, and an upload target
//! for the Upload RPC (HTTP PUT, A.4.1.5).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::store::{FileMeta, Store, now_millis};

type HttpResponse = Response<Full<Bytes>>;

fn status(code: StatusCode) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Parses a single `bytes=` range against a file of `size` bytes (RFC 9110 §14.1.2):
/// `Ok(None)` for no (or an ignorable) Range header, `Err(())` for an unsatisfiable one.
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None); // several ranges: serve the whole file
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.saturating_sub(1))
        }
        (s, "") => (s.parse().map_err(|_| ())?, size.saturating_sub(1)),
        (s, e) => (s.parse().map_err(|_| ())?, e.parse::<u64>().map_err(|_| ())?.min(size.saturating_sub(1))),
    };
    if start >= size || end < start {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// `GET`/`HEAD /files/<name>`.
pub async fn serve<S: Store>(store: &S, req: &Request<Incoming>, name: &str) -> HttpResponse {
    let Some(name) = percent_decode(name) else { return status(StatusCode::BAD_REQUEST) };
    let meta: FileMeta = match store.file(&name).await {
        Ok(Some(m)) => m,
        Ok(None) => return status(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(error = %e, "file lookup failed");
            return status(StatusCode::SERVICE_UNAVAILABLE);
        }
    };
    let etag = format!("\"{}\"", meta.sha256);
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
        let mut r = status(StatusCode::NOT_MODIFIED);
        r.headers_mut().insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
        return r;
    }
    let range_header = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range: only honour the range when the client's copy is current.
    let if_range_ok =
        req.headers().get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v.trim() == etag);
    let range = match byte_range(range_header.filter(|_| if_range_ok), meta.size) {
        Ok(r) => r,
        Err(()) => {
            let mut r = status(StatusCode::RANGE_NOT_SATISFIABLE);
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{}", meta.size)).expect("ascii"),
            );
            return r;
        }
    };
    let (code, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, meta.size),
    };
    let body = if req.method() == Method::HEAD {
        Vec::new()
    } else {
        match store.read_file(meta.id, start, len).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "file read failed");
                return status(StatusCode::SERVICE_UNAVAILABLE);
            }
        }
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex etag"));
    if code == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {}-{}/{}", start, start + len - 1, meta.size);
        h.insert(header::CONTENT_RANGE, HeaderValue::from_str(&value).expect("ascii"));
    }
    r
}

/// `PUT /upload/<device>/<command key>`: stores what a CPE uploads as a file named
/// `upload/<device>/<command key>`.
pub async fn upload<S: Store>(store: &S, req: Request<Incoming>, rest: &str, max: usize) -> HttpResponse {
    let Some(rest) = percent_decode(rest) else { return status(StatusCode::BAD_REQUEST) };
    if rest.is_empty() || rest.contains("..") {
        return status(StatusCode::BAD_REQUEST);
    }
    let body = match Limited::new(req.into_body(), max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
    };
    let meta = FileMeta {
        id: 0,
        name: format!("upload/{rest}"),
        file_type: "upload".into(),
        oui: String::new(),
        product_class: String::new(),
        version: String::new(),
        size: body.len() as u64,
        sha256: String::new(),
        created_at: now_millis(),
    };
    match store.put_file(meta, body.to_vec()).await {
        Ok(_) => status(StatusCode::CREATED),
        Err(e) => {
            tracing::error!(error = %e, "upload store failed");
            status(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(byte_range(None, 10), Ok(None));
        assert_eq!(byte_range(Some("bytes=0-4"), 10), Ok(Some((0, 4))));
        assert_eq!(byte_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(byte_range(Some("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(byte_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        assert_eq!(byte_range(Some("bytes=10-"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=5-2"), 10), Err(()));
        assert_eq!(byte_range(Some("bytes=0-1,3-4"), 10), Ok(None));
        assert_eq!(byte_range(Some("items=0-1"), 10), Ok(None));
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("fw%201.bin").as_deref(), Some("fw 1.bin"));
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
