//! The load generator: CWMP sessions over raw HTTP/1.1, one new TCP connection per session
//! (Inform, then empty POSTs answering whatever the ACS asks, until 204), in a closed loop
//! (a fixed number of devices at work, as fast as the server goes) or an open loop (sessions
//! started at a fixed rate, latency counted from the planned start so a slow server cannot
//! hide its queue).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cwmp_sim::histogram::{Histogram, Summary};
use cwmp_sim::identity::mix;
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::cpe;

struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

struct Reply {
    status: u16,
    cookie: Option<String>,
    body: Vec<u8>,
}

impl Http {
    async fn connect(addr: SocketAddr) -> Result<Http, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        Ok(Http { stream, buf: Vec::with_capacity(8192) })
    }

    async fn round_trip(&mut self, request: &[u8]) -> Result<Reply, String> {
        self.stream.write_all(request).await.map_err(|e| format!("write: {e}"))?;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(head)) => {
                    let status = response.code.unwrap_or(0);
                    let mut length = 0usize;
                    let mut cookie = None;
                    for h in response.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            length = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0);
                        } else if h.name.eq_ignore_ascii_case("set-cookie") {
                            cookie =
                                std::str::from_utf8(h.value).ok().and_then(|v| v.split(';').next()).map(str::to_owned);
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            return Err("chunked responses are not expected".into());
                        }
                    }
                    while self.buf.len() < head + length {
                        self.fill().await?;
                    }
                    let body = self.buf[head..head + length].to_vec();
                    self.buf.drain(..head + length);
                    return Ok(Reply { status, cookie, body });
                }
                Ok(httparse::Status::Partial) => self.fill().await?,
                Err(e) => return Err(format!("bad response: {e}")),
            }
        }
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 16384];
        let n = self.stream.read(&mut chunk).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// Timings of one session.
pub struct Timing {
    /// From connect to the InformResponse.
    pub inform: Duration,
    pub total: Duration,
    /// ACS requests answered (GetParameterValues, SetParameterValues …).
    pub rpcs: u32,
}

/// One session of device `n`: connect, Inform, then empty POST and answers until 204.
pub async fn session(addr: SocketAddr, n: u64, started: Instant) -> Result<Timing, String> {
    let host = addr.to_string();
    let mut http = Http::connect(addr).await?;
    let uptime = started.elapsed().as_secs() + n % 100_000;
    let informed = http.round_trip(&cpe::post(&host, &cpe::inform(n, uptime), None)).await?;
    if informed.status != 200 {
        return Err(format!("Inform answered {}", informed.status));
    }
    let inform = started.elapsed();
    let cookie = informed.cookie;
    let mut next = cpe::post(&host, b"", cookie.as_deref());
    let mut rpcs = 0;
    loop {
        let reply = http.round_trip(&next).await?;
        match reply.status {
            204 => break,
            200 => {
                let request = cwmp_wire::decode(&reply.body, &cwmp_wire::Limits::default())
                    .map_err(|e| format!("undecodable ACS request: {e}"))?;
                rpcs += 1;
                if rpcs > 20 {
                    return Err("more than 20 ACS requests in one session".into());
                }
                next = cpe::post(&host, &cpe::answer(&request), cookie.as_deref());
            }
            other => return Err(format!("HTTP {other} in the session")),
        }
    }
    Ok(Timing { inform, total: started.elapsed(), rpcs })
}

/// What a run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunResult {
    pub sessions: u64,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub elapsed_s: f64,
    pub sessions_per_s: f64,
    /// Connect to InformResponse (µs).
    pub inform_latency: Summary,
    /// Connect to the final 204 (µs).
    pub session_latency: Summary,
    pub rpcs: u64,
}

#[derive(Default)]
struct Collector {
    sessions: u64,
    errors: u64,
    error_kinds: BTreeMap<String, u64>,
    inform: Histogram,
    total: Histogram,
    rpcs: u64,
}

impl Collector {
    fn note(&mut self, result: Result<Timing, String>) {
        match result {
            Ok(t) => {
                self.sessions += 1;
                self.rpcs += u64::from(t.rpcs);
                self.inform.record(t.inform.as_micros() as u64);
                self.total.record(t.total.as_micros() as u64);
            }
            Err(e) => {
                self.errors += 1;
                let kind: String = e.split(':').next().unwrap_or_default().chars().take(60).collect();
                *self.error_kinds.entry(kind).or_default() += 1;
            }
        }
    }

    fn result(&self, elapsed: Duration) -> RunResult {
        RunResult {
            sessions: self.sessions,
            errors: self.errors,
            error_kinds: self.error_kinds.clone(),
            elapsed_s: elapsed.as_secs_f64(),
            sessions_per_s: self.sessions as f64 / elapsed.as_secs_f64().max(1e-9),
            inform_latency: self.inform.summary(),
            session_latency: self.total.summary(),
            rpcs: self.rpcs,
        }
    }
}

fn finish(collector: &Mutex<Collector>, elapsed: Duration) -> RunResult {
    collector.lock().unwrap_or_else(|p| p.into_inner()).result(elapsed)
}

/// `workers` devices at work for `duration`, each picking a random device of `1..=devices`
/// for every session.
pub async fn closed_loop(addr: SocketAddr, devices: u64, workers: usize, duration: Duration, seed: u64) -> RunResult {
    let collector = Arc::new(Mutex::new(Collector::default()));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let collector = collector.clone();
        tasks.spawn(async move {
            let mut i = 0u64;
            while Instant::now() < deadline {
                i += 1;
                let n = 1 + mix(seed ^ ((w as u64) << 40) ^ i) % devices;
                let result = session(addr, n, Instant::now()).await;
                collector.lock().unwrap_or_else(|p| p.into_inner()).note(result);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    finish(&collector, start.elapsed())
}

/// Sessions started at `rate` per second for `duration` (random devices of `1..=devices`);
/// at most `max_in_flight` at once, beyond which a planned session counts as an error.
pub async fn open_loop(
    addr: SocketAddr,
    devices: u64,
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    seed: u64,
) -> RunResult {
    let collector = Arc::new(Mutex::new(Collector::default()));
    let limit = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let total = (rate * duration.as_secs_f64()) as u64;
    for i in 0..total {
        let planned = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(planned.into()).await;
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            collector
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .note(Err("overload: too many sessions in flight".into()));
            continue;
        };
        let collector = collector.clone();
        let n = 1 + mix(seed ^ i) % devices;
        tasks.spawn(async move {
            let result = session(addr, n, planned).await;
            collector.lock().unwrap_or_else(|p| p.into_inner()).note(result);
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    finish(&collector, start.elapsed())
}

/// One session for each of `devices`, `workers` at a time.
pub async fn each_once(addr: SocketAddr, devices: Vec<u64>, workers: usize) -> RunResult {
    let collector = Arc::new(Mutex::new(Collector::default()));
    let queue = Arc::new(Mutex::new(devices));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (collector, queue) = (collector.clone(), queue.clone());
        tasks.spawn(async move {
            loop {
                let Some(n) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else { break };
                let result = session(addr, n, Instant::now()).await;
                collector.lock().unwrap_or_else(|p| p.into_inner()).note(result);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    finish(&collector, start.elapsed())
}

/// One raw HTTP/1.1 request on a new connection: status and body.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let mut http = Http::connect(addr).await?;
    let reply = http.round_trip(request).await?;
    Ok((reply.status, reply.body))
}
