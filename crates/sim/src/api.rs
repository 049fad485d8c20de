//! One-shot requests to the ACS's REST API (the devices' own connections are the CPE
//! agent's, `cwmp_cpe::client`).

use bytes::Bytes;
use cwmp_cpe::client::{Connection, SendError};
use cwmp_cpe::http::Origin;
use http_body_util::Full;
use rand::SeedableRng as _;

/// A JSON request to the ACS's REST API on a new connection: status and body.
pub async fn api_call(
    base: &str,
    token: &str,
    method: hyper::Method,
    path_and_query: &str,
    body: Bytes,
    content_type: &str,
) -> Result<(u16, Bytes), String> {
    let url = url::Url::parse(base).map_err(|e| format!("API URL {base:?}: {e}"))?;
    let origin = Origin::of(&url).ok_or_else(|| format!("API URL {base:?}: not http(s)"))?;
    let tls = crate::fleet::tls_config(None)?;
    // One address is as good as another for the API.
    let mut conn = Connection::open(&origin, &tls, &mut rand::rngs::StdRng::seed_from_u64(0)).await?;
    let target = format!("{}{path_and_query}", url.path().trim_end_matches('/'));
    let request = hyper::Request::builder()
        .method(method)
        .uri(target)
        .header(hyper::header::HOST, cwmp_cpe::http::host_header(&url))
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = conn.send_raw(request, 16 << 20).await.map_err(SendError::into_message)?;
    Ok((response.status, Bytes::from(response.body)))
}
