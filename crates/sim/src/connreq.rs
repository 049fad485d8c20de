//! One Connection Request listener for the whole fleet (TR-069 3.2.2): the device is the
//! one its URL path names (`/<index>/<token>`, the token unique per device), and each device
//! authenticates the ACS with HTTP Digest against its own
//! `ConnectionRequestUsername`/`Password` (3.2.2.2 item 5: Digest only, Basic refused).
//! An authenticated request is answered 200 at once, with an empty body, before the
//! session starts (item 6); the device then starts a session with `6 CONNECTION REQUEST`,
//! or right after the one it is in (item 8 option b).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cwmp_http::auth::Authorization;
use cwmp_http::digest::{NONCE_RANDOM_LEN, NonceCountGuard, Secret, VerifyError};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use rand::Rng as _;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};

use crate::fleet::Ctx;
use crate::identity::parse_connection_request_path;
use crate::shard::ShardMsg;

/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 4096;

pub(crate) async fn serve(listener: TcpListener, ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, _peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "connection request accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
        let _ = stream.set_nodelay(true);
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let nonces = Arc::new(Mutex::new(NonceCountGuard::new(16)));
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (ctx, nonces) = (ctx.clone(), nonces.clone());
                async move { Ok::<_, Infallible>(answer(&ctx, &nonces, req).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .title_case_headers(true)
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(Duration::from_secs(60), served).await;
            drop(permit);
        });
    }
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut r = Response::new(Empty::new());
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

async fn answer(ctx: &Ctx, nonces: &Mutex<NonceCountGuard>, req: Request<Incoming>) -> Response<Empty<Bytes>> {
    let stats = &ctx.stats;
    stats.cr_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let not_found = || {
        stats.cr_not_found.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        status(StatusCode::NOT_FOUND)
    };
    // 3.2.2.2: GET on the device's path; nothing else is served.
    let global = parse_connection_request_path(ctx.config.seed, req.uri().path()).filter(|g| *g < ctx.config.count);
    let (Some(global), &Method::GET) = (global, req.method()) else { return not_found() };
    let (shard, local) = ctx.locate(global);
    let (tx, rx) = oneshot::channel();
    if ctx.shards[shard].send(ShardMsg::Credentials { local, reply: tx }).is_err() {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    }
    // A device that is down (not booted yet, rebooting) does not answer.
    let Ok(Some((username, password))) = rx.await else { return not_found() };
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let authorization = req.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let verdict = match authorization.map(Authorization::parse) {
        Some(Ok(Authorization::Digest(credentials))) if credentials.username == username => {
            let mut guard = nonces.lock().unwrap_or_else(|p| p.into_inner());
            ctx.verifier.verify(&credentials, "GET", target, Secret::Password(&password), now, Some(&mut guard))
        }
        _ => Err(VerifyError::WrongResponse),
    };
    match verdict {
        Ok(()) => {
            stats.cr_accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = ctx.shards[shard].send(ShardMsg::ConnectionRequest { local });
            status(StatusCode::OK)
        }
        Err(e) => {
            stats.cr_challenged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut random = [0u8; NONCE_RANDOM_LEN];
            rand::rng().fill_bytes(&mut random);
            let mut r = status(StatusCode::UNAUTHORIZED);
            for challenge in ctx.verifier.challenges(now, random, e.is_stale()) {
                if let Ok(v) = HeaderValue::from_str(&challenge.to_string()) {
                    r.headers_mut().append(WWW_AUTHENTICATE, v);
                }
            }
            r
        }
    }
}
