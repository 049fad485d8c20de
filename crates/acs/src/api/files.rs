//! `/files`: the files CPEs download (served to them on the CWMP port, see
//! [`crate::session::transfer`] for which need a task's token) and, under `upload/`, what
//! they uploaded, which only this API serves. Uploads carry the raw bytes; metadata comes
//! from the query or `X-File-*` headers.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::devices::{paging, total_count_header};
use super::query::Query;
use super::{ApiError, ApiResult, PathArg, St};
use crate::session::transfer::UPLOAD_PREFIX;
use crate::store::{FileMeta, Store, now_millis};

/// Bytes read from the store per chunk of a download.
const CHUNK: u64 = 1 << 20;

/// A file name: 1 to 255 bytes, no control characters, no `..` or empty segments, no
/// backslash. Names under `upload/` belong to what CPEs upload.
fn checked_name(name: &str) -> ApiResult<&str> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.chars().any(|c| c.is_control() || c == '\\')
        || name.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad {
        return Err(ApiError::bad(
            "a file name is 1 to 255 bytes of printable characters, with no empty, '.' or '..' segments",
        ));
    }
    Ok(name)
}

/// TR-069 A.3.2.8 FileType: `1 Firmware Upgrade Image`, `3 Vendor Configuration File`, …,
/// or `X <OUI> <vendor type>`.
fn checked_file_type(file_type: &str) -> ApiResult<String> {
    let ok = file_type.len() <= 64
        && match file_type.split_once(' ') {
            Some((n, rest)) => {
                !rest.trim().is_empty() && (n == "X" || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())))
            }
            None => false,
        };
    if !ok {
        return Err(ApiError::bad(format!(
            "fileType {file_type:?} is not a TR-069 file type such as \"1 Firmware Upgrade Image\" or \"X 00D09E Vendor\""
        )));
    }
    Ok(file_type.to_owned())
}

fn checked_oui(oui: &str) -> ApiResult<String> {
    if !oui.is_empty() && (oui.len() != 6 || !oui.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(ApiError::bad(format!("oui {oui:?} is not six hex digits")));
    }
    Ok(oui.to_ascii_uppercase())
}

fn checked_text(name: &str, value: String) -> ApiResult<String> {
    if value.len() > 64 || value.chars().any(char::is_control) {
        return Err(ApiError::bad(format!("{name} is at most 64 printable characters")));
    }
    Ok(value)
}

/// A metadata value from the query (`fileType`) or else the header (`X-File-Type`).
fn meta_value(q: &mut Query, headers: &HeaderMap, param: &str, header_name: &str) -> ApiResult<Option<String>> {
    if let Some(v) = q.take(param)? {
        return Ok(Some(v));
    }
    match headers.get(header_name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|_| ApiError::bad(format!("{header_name} is not ASCII"))),
    }
}

fn meta_json(meta: &FileMeta) -> Value {
    serde_json::to_value(meta).unwrap_or(Value::Null)
}

/// `PUT /files/{name}?fileType=&oui=&productClass=&version=`: 201 when new, 200 when it
/// replaces a file of that name.
pub async fn upload<S: Store>(
    State(state): St<S>,
    PathArg(name): PathArg<String>,
    RawQuery(raw): RawQuery,
    request: Request,
) -> ApiResult<Response> {
    let name = checked_name(&name)?.to_owned();
    if name.starts_with(UPLOAD_PREFIX) {
        return Err(ApiError::bad("names under upload/ are kept for what CPEs upload"));
    }
    let mut q = Query::parse(raw.as_deref());
    let headers = request.headers().clone();
    let file_type = meta_value(&mut q, &headers, "fileType", "x-file-type")?
        .ok_or_else(|| ApiError::bad("fileType is required (query parameter or X-File-Type header)"))?;
    let meta = FileMeta {
        id: 0,
        name: name.clone(),
        file_type: checked_file_type(&file_type)?,
        oui: checked_oui(&meta_value(&mut q, &headers, "oui", "x-file-oui")?.unwrap_or_default())?,
        product_class: checked_text(
            "productClass",
            meta_value(&mut q, &headers, "productClass", "x-file-product-class")?.unwrap_or_default(),
        )?,
        version: checked_text(
            "version",
            meta_value(&mut q, &headers, "version", "x-file-version")?.unwrap_or_default(),
        )?,
        size: 0,
        sha256: String::new(),
        created_at: now_millis(),
    };
    q.finish()?;
    let max = state.endpoint.config.max_upload_bytes;
    let too_large = || ApiError::TooLarge(format!("files are limited to {max} bytes"));
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let body = match axum::body::to_bytes(request.into_body(), max).await {
        Ok(b) => b,
        Err(e) if is_length_limit(&e) => return Err(too_large()),
        Err(e) => return Err(ApiError::bad(format!("reading the body: {e}"))),
    };
    let existed = state.store().file(&name).await?.is_some();
    let stored = state.store().put_file(meta, body.to_vec()).await?;
    tracing::info!(file = %stored.name, size = stored.size, sha256 = %stored.sha256, "file stored");
    let status = if existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(meta_json(&stored))).into_response())
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// `GET /files?fileType=&oui=&productClass=&version=&offset=&limit=`.
pub async fn list<S: Store>(State(state): St<S>, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref());
    let file_type = q.take("fileType")?;
    let oui = q.take("oui")?.map(|o| o.to_ascii_uppercase());
    let product_class = q.take("productClass")?;
    let version = q.take("version")?;
    let (offset, limit) = paging(&mut q)?;
    q.finish()?;
    let matches = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
    let files: Vec<FileMeta> = state
        .store()
        .list_files()
        .await?
        .into_iter()
        .filter(|f| {
            matches(&file_type, &f.file_type)
                && matches(&oui, &f.oui)
                && matches(&product_class, &f.product_class)
                && matches(&version, &f.version)
        })
        .collect();
    let total = files.len() as u64;
    let items: Vec<Value> = files.iter().skip(offset as usize).take(limit as usize).map(meta_json).collect();
    Ok(([total_count_header(total)], Json(items)).into_response())
}

/// `GET /files/{name}`: the metadata; with `?download`, the content.
pub async fn get_one<S: Store>(
    State(state): St<S>,
    PathArg(name): PathArg<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    let mut q = Query::parse(raw.as_deref());
    let download = q.take_flag("download")?;
    q.finish()?;
    let meta = state.store().file(&name).await?.ok_or_else(|| ApiError::NotFound(format!("file {name} not found")))?;
    if !download {
        return Ok(Json(meta_json(&meta)).into_response());
    }
    let store = state.store().clone();
    let (id, size) = (meta.id, meta.size);
    let chunks = futures_util::stream::unfold(0u64, move |offset| {
        let store = store.clone();
        async move {
            if offset >= size {
                return None;
            }
            let len = CHUNK.min(size - offset);
            match store.read_file(id, offset, len).await {
                Ok(bytes) if !bytes.is_empty() => Some((Ok(Bytes::from(bytes)), offset + len)),
                Ok(_) => Some((Err(std::io::Error::other("file shorter than recorded")), size)),
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), size)),
            }
        }
    });
    let mut response = Body::from_stream(chunks).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", meta.sha256)) {
        h.insert(header::ETAG, etag);
    }
    let base = meta.name.rsplit('/').next().unwrap_or(&meta.name).replace(['"', '\\'], "_");
    if let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{base}\"")) {
        h.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// `DELETE /files/{name}`.
pub async fn delete_one<S: Store>(State(state): St<S>, PathArg(name): PathArg<String>) -> ApiResult<StatusCode> {
    if !state.store().delete_file(&name).await? {
        return Err(ApiError::NotFound(format!("file {name} not found")));
    }
    tracing::info!(file = %name, "file deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert!(checked_name("fw/v1.2.bin").is_ok());
        for bad in ["", "a//b", "../x", "a/./b", "a\\b", "x\n"] {
            assert!(checked_name(bad).is_err(), "{bad:?}");
        }
        assert!(checked_name(&"x".repeat(256)).is_err());
        for good in ["1 Firmware Upgrade Image", "3 Vendor Configuration File", "X 00D09E Special"] {
            assert!(checked_file_type(good).is_ok(), "{good}");
        }
        for bad in ["firmware", "1", "1 ", "Y 00D09E x", "12a x"] {
            assert!(checked_file_type(bad).is_err(), "{bad}");
        }
        assert_eq!(checked_oui("00d09e").unwrap(), "00D09E");
        assert_eq!(checked_oui("").unwrap(), "");
        assert!(checked_oui("00D09").is_err());
    }
}
