//! The ceiling: a minimal hyper HTTP/1.1 server that answers a CWMP session with canned
//! bytes (an InformResponse with a cookie to a POST with a body, 204 to the empty POST),
//! reading every body, doing nothing else. It is what HTTP alone costs on this machine.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue, SET_COOKIE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const INFORM_RESPONSE: &str = concat!(
    r#"<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/" "#,
    r#"xmlns:soap-enc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
    r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:cwmp="urn:dslforum-org:cwmp-1-2">"#,
    r#"<soap-env:Header><cwmp:ID soap-env:mustUnderstand="1">1</cwmp:ID></soap-env:Header>"#,
    r#"<soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body>"#,
    r#"</soap-env:Envelope>"#
);

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::new()));
    if body.is_empty() {
        *response.status_mut() = StatusCode::NO_CONTENT;
    } else {
        *response.body_mut() = Full::new(Bytes::from_static(INFORM_RESPONSE.as_bytes()));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/xml; charset=\"utf-8\""));
        headers.insert(SET_COOKIE, HeaderValue::from_static("session=canned; Path=/"));
    }
    Ok(response)
}

/// Serves until the process ends.
pub async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                .await;
        });
    }
}
