//! The file service of the CWMP port (TR-069 3.4.3): downloads with HEAD, ETag and Range,
//! and the targets of the Upload RPC (HTTP PUT, A.4.1.5).
//!
//! `GET /files/<name>` serves a public file (firmware and the like) to anyone;
//! `GET /files/<name>?token=<token>` serves the file of an open Download task, and
//! `PUT /upload/<token>` takes the file of an open Upload task ([`crate::session::transfer`]
//! says which files are public and what a token is). Anything else is 404, whether the file,
//! the task or the token is what is missing, so a prober learns nothing. What CPEs upload is
//! readable only through the REST API.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::Endpoint;
use crate::session::transfer::{Purpose, TransferToken, UPLOAD_PREFIX, is_public};
use crate::store::{FileMeta, Store, Task, TaskStatus, now_millis};
use crate::tasks::TaskKind;

type HttpResponse = Response<Full<Bytes>>;

fn status(code: StatusCode) -> HttpResponse {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}

/// The one answer to every request the file service refuses.
fn not_found() -> HttpResponse {
    status(StatusCode::NOT_FOUND)
}

fn unavailable(e: &crate::store::StoreError) -> HttpResponse {
    tracing::error!(error = %e, "file service: store unavailable");
    let mut r = status(StatusCode::SERVICE_UNAVAILABLE);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    r
}

/// A request for the file service.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET`/`HEAD /files/<name>[?token=…]` (name still percent-encoded).
    Download { name: String, token: Option<String> },
    /// `PUT /upload/<token>`.
    Upload { token: String },
}

impl Route {
    /// The file-service request `req` is, or `None` for a CWMP request.
    pub fn of<B>(req: &Request<B>) -> Option<Route> {
        let path = req.uri().path();
        if let Some(name) = path.strip_prefix("/files/")
            && matches!(*req.method(), Method::GET | Method::HEAD)
        {
            let token = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned());
            return Some(Route::Download { name: name.to_owned(), token });
        }
        if let Some(token) = path.strip_prefix("/upload/")
            && *req.method() == Method::PUT
        {
            return Some(Route::Upload { token: token.to_owned() });
        }
        None
    }

    pub async fn serve<S: Store>(self, endpoint: &Endpoint<S>, req: Request<Incoming>) -> HttpResponse {
        match self {
            Route::Download { name, token } => download(endpoint, &req, &name, token.as_deref()).await,
            Route::Upload { token } => upload(endpoint, req, &token).await,
        }
    }
}

/// The task a token opens for `purpose`: it must be genuine, its task open (the RPC went out
/// and no TransferComplete closed it) and of the kind the purpose needs.
async fn open_task<S: Store>(
    endpoint: &Endpoint<S>,
    purpose: Purpose,
    token: &str,
) -> crate::store::Result<Option<Task>> {
    let Some(token) = TransferToken::parse(token) else { return Ok(None) };
    let task = endpoint.store.task(token.task_id).await?;
    // The MAC is checked whether or not the task exists: both refusals cost the same.
    let device_key = task.as_ref().map_or("", |t| t.device_key.as_str());
    let genuine = endpoint.session_config.transfer_key.verify(purpose, &token, device_key);
    Ok(task.filter(|t| {
        let kind_fits = match purpose {
            Purpose::Upload => matches!(t.kind, TaskKind::Upload { url: None, .. }),
            Purpose::Download => served_file(&t.kind).is_some(),
        };
        genuine && kind_fits && matches!(t.status, TaskStatus::Sent | TaskStatus::Waiting)
    }))
}

/// The stored file a Download or ScheduleDownload task has the CPE fetch from this service.
fn served_file(kind: &TaskKind) -> Option<&str> {
    match kind {
        TaskKind::Download { file: Some(file), url: None, .. }
        | TaskKind::ScheduleDownload { file: Some(file), url: None, .. } => Some(file),
        _ => None,
    }
}

/// `GET`/`HEAD /files/<name>`: a public file, or with a token the file of its task.
async fn download<S: Store>(
    endpoint: &Endpoint<S>,
    req: &Request<Incoming>,
    name: &str,
    token: Option<&str>,
) -> HttpResponse {
    let Some(name) = percent_decode(name) else { return not_found() };
    let meta = match endpoint.store.file(&name).await {
        Ok(Some(m)) => m,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(&e),
    };
    let allowed = match token {
        None => is_public(&meta.name, &meta.file_type),
        Some(token) => match open_task(endpoint, Purpose::Download, token).await {
            Ok(task) => task.is_some_and(|t| served_file(&t.kind) == Some(meta.name.as_str())),
            Err(e) => return unavailable(&e),
        },
    };
    if !allowed {
        tracing::debug!(file = %name, with_token = token.is_some(), "file service: download refused");
        return not_found();
    }
    serve(&endpoint.store, req, &meta).await
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

/// Sends a file (or, with `Range`, part of it; with `If-None-Match`, 304).
async fn serve<S: Store>(store: &S, req: &Request<Incoming>, meta: &FileMeta) -> HttpResponse {
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

/// `PUT /upload/<token>`: what a CPE uploads for an open Upload task, stored as the file
/// `upload/<device>/<command key>`. Nothing is read before the token is checked; the body is
/// bounded by `max_upload_bytes` and must arrive within `client_timeout`.
async fn upload<S: Store>(endpoint: &Endpoint<S>, req: Request<Incoming>, token: &str) -> HttpResponse {
    let task = match open_task(endpoint, Purpose::Upload, token).await {
        Ok(Some(task)) => task,
        Ok(None) => {
            tracing::debug!("file service: upload refused");
            return not_found();
        }
        Err(e) => return unavailable(&e),
    };
    let max = endpoint.config.max_upload_bytes;
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return status(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let read = tokio::time::timeout(endpoint.config.client_timeout, Limited::new(req.into_body(), max).collect());
    let body = match read.await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return status(StatusCode::PAYLOAD_TOO_LARGE),
        Err(_) => return status(StatusCode::REQUEST_TIMEOUT),
    };
    let meta = FileMeta {
        id: 0,
        name: format!("{UPLOAD_PREFIX}{}/{}", task.device_key, task.command_key()),
        file_type: "upload".into(),
        oui: String::new(),
        product_class: String::new(),
        version: String::new(),
        size: body.len() as u64,
        sha256: String::new(),
        created_at: now_millis(),
    };
    match endpoint.store.put_file(meta, body.to_vec()).await {
        Ok(stored) => {
            tracing::info!(device = %task.device_key, task = task.id, file = %stored.name, size = stored.size, "upload stored");
            status(StatusCode::CREATED)
        }
        Err(e) => unavailable(&e),
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
    fn routes() {
        let route = |method: &str, uri: &str| Route::of(&Request::builder().method(method).uri(uri).body(()).unwrap());
        let download = |name: &str, token: Option<&str>| {
            Some(Route::Download { name: name.into(), token: token.map(str::to_owned) })
        };
        assert_eq!(route("GET", "/files/fw%2F1.bin"), download("fw%2F1.bin", None));
        assert_eq!(route("HEAD", "/files/a/b.xml?x=1&token=7.ab"), download("a/b.xml", Some("7.ab")));
        assert_eq!(route("PUT", "/upload/7.ab"), Some(Route::Upload { token: "7.ab".into() }));
        for (method, uri) in [("POST", "/files/x"), ("PUT", "/files/x"), ("GET", "/upload/7.ab"), ("POST", "/")] {
            assert_eq!(route(method, uri), None, "{method} {uri}");
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("fw%201.bin").as_deref(), Some("fw 1.bin"));
        assert_eq!(percent_decode("bad%zz"), None);
    }
}
