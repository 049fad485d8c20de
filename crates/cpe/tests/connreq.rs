//! The Connection Request listener over real sockets (TR-069 3.2.2): the 401 round trip on
//! one connection, bursts, busy and rate-limit answers, closing and reopening the port, and
//! floods of bad requests.

use std::net::SocketAddr;
use std::time::Duration;

use cwmp_cpe::connreq::{BusyPolicy, ConnReqConfig, ConnReqServer, ConnectionRequest, RateLimit};
use cwmp_http::digest::Client;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const USER: &str = "acs-user";
const PASS: &str = "acs-pass";

fn config() -> ConnReqConfig {
    ConnReqConfig { listen: SocketAddr::from(([127, 0, 0, 1], 0)), ..ConnReqConfig::default() }
}

async fn started(config: ConnReqConfig) -> (ConnReqServer, mpsc::Receiver<ConnectionRequest>, SocketAddr) {
    let mut rng = StdRng::seed_from_u64(42);
    let (server, rx) = ConnReqServer::new(config, USER, PASS, &mut rng);
    let addr = server.start().await.unwrap();
    (server, rx, addr)
}

/// One HTTP response as read off the wire.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Conn {
        Conn { stream: TcpStream::connect(addr).await.unwrap(), buf: Vec::new() }
    }

    /// A connection from another loopback address (all of 127/8 reaches the host).
    async fn open_from(local: [u8; 4], addr: SocketAddr) -> Conn {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((local, 0))).unwrap();
        Conn { stream: socket.connect(addr).await.unwrap(), buf: Vec::new() }
    }

    async fn get(&mut self, path: &str, authorization: Option<&str>) -> Option<RawResponse> {
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: cpe\r\n");
        if let Some(a) = authorization {
            request.push_str(&format!("Authorization: {a}\r\n"));
        }
        request.push_str("\r\n");
        self.send(request.as_bytes()).await;
        self.read_response().await
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The server may already have closed the connection; the read then says so.
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next response, or `None` if the connection closed first.
    async fn read_response(&mut self) -> Option<RawResponse> {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        self.buf.drain(..head_end);
        let status = head.split(' ').nth(1)?.parse().ok()?;
        let mut response = RawResponse { status, head, body: Vec::new() };
        let length: usize = response.header("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        while self.buf.len() < length {
            if !self.fill().await {
                return None;
            }
        }
        response.body = self.buf.drain(..length).collect();
        Some(response)
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }
}

/// The ACS side: GET, answer the 401 on the same connection, return the final response.
async fn connection_request(addr: SocketAddr, path: &str, user: &str, password: &str) -> RawResponse {
    connection_request_on(Conn::open(addr).await, path, user, password).await
}

async fn connection_request_on(mut conn: Conn, path: &str, user: &str, password: &str) -> RawResponse {
    let challenge = conn.get(path, None).await.expect("an answer");
    if challenge.status != 401 {
        return challenge;
    }
    let header = challenge.header("www-authenticate").expect("a challenge");
    let mut client = Client::new(user, password, header.parse().unwrap(), "5ca1ab1e").unwrap();
    let authorization = client.authorization("GET", path).to_string();
    conn.get(path, Some(&authorization)).await.expect("an answer on the same connection")
}

#[tokio::test]
async fn happy_path_on_one_connection() {
    let (server, mut rx, addr) = started(config()).await;
    let url = server.url().unwrap();
    assert_eq!(url, format!("http://127.0.0.1:{}{}", addr.port(), server.path()));

    let response = connection_request(addr, server.path(), USER, PASS).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length").as_deref(), Some("0"));
    assert!(response.body.is_empty());
    assert!(response.header("retry-after").is_none());
    let request = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert!(request.peer.ip().is_loopback());
}

/// Header names go out as usually written: some ACSs match them byte for byte.
#[tokio::test]
async fn header_names_in_their_usual_capitalisation() {
    let (server, _rx, addr) = started(config()).await;
    let mut conn = Conn::open(addr).await;
    let challenge = conn.get(server.path(), None).await.unwrap();
    assert_eq!(challenge.status, 401);
    assert!(challenge.head.contains("\r\nWww-Authenticate: Digest realm="), "{}", challenge.head);
    assert!(challenge.head.contains("\r\nContent-Length: 0\r\n"), "{}", challenge.head);
    let ok = connection_request(addr, server.path(), USER, PASS).await;
    assert!(ok.head.contains("\r\nContent-Length: 0\r\n") && ok.head.contains("\r\nConnection: close\r\n"));
    assert!(ok.head.lines().skip(1).all(|l| !l.starts_with(|c: char| c.is_ascii_lowercase())), "{}", ok.head);
}

/// 3.2.2.1 item 2: requests that do not authenticate are limited per source: a source that
/// spent its budget gets 503 (even with the right password), and another source, such as
/// the ACS, is not affected.
#[tokio::test]
async fn unauthenticated_requests_are_limited_per_source() {
    let limit = RateLimit { burst: 4, refill_interval: Duration::from_secs(3600) };
    let (server, mut rx, addr) = started(ConnReqConfig { unauthenticated_limit: limit, ..config() }).await;
    let path = server.path().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(connection_request(addr, &path, USER, "guess").await.status);
    }
    assert_eq!(statuses, [401, 401, 503], "two rounds of challenge and guess, then the budget is spent");
    assert_eq!(connection_request(addr, &path, USER, PASS).await.status, 503);
    assert!(rx.try_recv().is_err());
    let from_elsewhere = Conn::open_from([127, 0, 0, 2], addr).await;
    assert_eq!(connection_request_on(from_elsewhere, &path, USER, PASS).await.status, 200);
    assert!(rx.recv().await.is_some());
    let stats = server.stats();
    assert_eq!((stats.unauthorized, stats.unauthenticated_limited), (5, 2), "{stats:?}: 4, then the other's challenge");
}

#[tokio::test]
async fn wrong_password_and_basic_get_401_and_no_session() {
    let (server, mut rx, addr) = started(config()).await;
    let response = connection_request(addr, server.path(), USER, "wrong").await;
    assert_eq!(response.status, 401);
    let mut conn = Conn::open(addr).await;
    let basic = cwmp_http::basic::Credentials::new(USER, PASS).to_string();
    assert_eq!(conn.get(server.path(), Some(&basic)).await.unwrap().status, 401);
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn burst_gives_one_notification() {
    let (server, mut rx, addr) = started(config()).await;
    for _ in 0..3 {
        assert_eq!(connection_request(addr, server.path(), USER, PASS).await.status, 200);
    }
    assert!(rx.recv().await.is_some());
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn busy_and_rate_limited_answers() {
    let (server, mut rx, addr) = started(ConnReqConfig { busy_policy: BusyPolicy::Reject, ..config() }).await;
    server.set_session_active(true);
    let busy = connection_request(addr, server.path(), USER, PASS).await;
    assert_eq!(busy.status, 503);
    assert!(busy.header("retry-after").is_none());
    server.set_session_active(false);
    assert!(rx.try_recv().is_err());

    let limit = RateLimit { burst: 1, refill_interval: Duration::from_secs(3600) };
    let (server, _rx, addr) = started(ConnReqConfig { rate_limit: limit, ..config() }).await;
    assert_eq!(connection_request(addr, server.path(), USER, PASS).await.status, 200);
    let limited = connection_request(addr, server.path(), USER, PASS).await;
    assert_eq!(limited.status, 503);
    assert!(limited.header("retry-after").is_none());
}

#[tokio::test]
async fn stop_closes_the_port_and_start_reopens_it() {
    let (server, mut rx, addr) = started(config()).await;
    // An idle connection is open when the port closes: it is closed too.
    let mut idle = Conn::open(addr).await;
    server.stop().await;
    assert!(!server.is_listening());
    assert!(server.url().is_none());
    assert!(TcpStream::connect(addr).await.is_err(), "the port is closed");
    assert!(idle.get(server.path(), None).await.is_none());

    server.set_enabled(true).await.unwrap();
    assert_eq!(server.local_addr(), Some(addr), "same port after a restart");
    assert_eq!(connection_request(addr, server.path(), USER, PASS).await.status, 200);
    assert!(rx.recv().await.is_some());
}

#[tokio::test]
async fn advertised_host() {
    let mut rng = StdRng::seed_from_u64(1);
    let cfg = ConnReqConfig { listen: SocketAddr::from(([0, 0, 0, 0], 0)), ..ConnReqConfig::default() };
    let (server, _rx) = ConnReqServer::new(cfg, USER, PASS, &mut rng);
    let addr = server.start().await.unwrap();
    assert_eq!(server.url(), None, "0.0.0.0 is no address for the ACS");
    server.set_advertised_host(Some("2001:db8::7".into()));
    assert_eq!(server.url().unwrap(), format!("http://[2001:db8::7]:{}{}", addr.port(), server.path()));
    server.stop().await;
}

/// Thousands of bad requests of every kind, then a good one: every answer is the right one,
/// no session is started by the bad ones, the connection count stays bounded and the
/// listener still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood() {
    let max_connections = 16;
    let cfg = ConnReqConfig {
        max_connections,
        header_read_timeout: Duration::from_millis(300),
        connection_timeout: Duration::from_secs(2),
        ..config()
    };
    let (server, mut rx, addr) = started(cfg).await;
    let path = server.path().to_owned();

    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..32u32 {
        let path = path.clone();
        tasks.spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..100u32 {
                let kind = (worker + i) % 6;
                let mut conn = Conn::open(addr).await;
                let got = match kind {
                    0 => conn.get("/", None).await.map(|r| r.status),
                    1 => conn.get(&path, None).await.map(|r| r.status),
                    2 => conn
                        .get(&path, Some(r#"Digest username="acs-user", realm="x", nonce="y", uri="/", response="z""#))
                        .await
                        .map(|r| r.status),
                    3 => {
                        conn.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n").await;
                        conn.read_response().await.map(|r| r.status)
                    }
                    4 => {
                        let basic = cwmp_http::basic::Credentials::new(USER, PASS).to_string();
                        conn.get(&path, Some(&basic)).await.map(|r| r.status)
                    }
                    _ => {
                        let long = "a".repeat(20_000);
                        conn.get(&format!("/{long}"), None).await.map(|r| r.status)
                    }
                };
                outcomes.push((kind, got));
            }
            outcomes
        });
    }
    let (mut answered, mut limited) = (0, 0);
    while let Some(outcomes) = tasks.join_next().await {
        for (kind, got) in outcomes.unwrap() {
            // A connection over the limit is closed without an answer (`None`).
            let Some(status) = got else { continue };
            answered += 1;
            limited += u64::from(status == 503);
            let expected: &[u16] = match kind {
                0 => &[404],
                // 503 once this source has spent its budget of unauthenticated requests.
                1 | 2 | 4 => &[401, 503],
                3 => &[400],
                _ => &[431, 414, 400],
            };
            assert!(expected.contains(&status), "kind {kind}: {status}");
        }
    }
    assert!(answered > 1000, "most requests are answered: {answered}");
    let stats = server.stats();
    assert!(stats.peak_connections <= max_connections as u64, "{stats:?}");
    assert_eq!(stats.notified, 0);
    // The budget of the flood's one source: 10 (and one more checked at zero), plus a
    // refill if the flood outlasted 6 s.
    assert!(stats.unauthorized <= 13 && stats.unauthenticated_limited == limited && limited > 0, "{stats:?}");
    assert!(rx.try_recv().is_err(), "no session from bad requests");

    // Slow clients that never finish their request are cut off by the header timeout.
    let mut slow = Vec::new();
    for _ in 0..max_connections {
        let mut conn = Conn::open(addr).await;
        conn.send(b"GET / HTTP/1.1\r\n").await;
        slow.push(conn);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    for conn in &mut slow {
        assert!(conn.read_response().await.is_none_or(|r| r.status == 408), "slow client closed");
    }

    // Still listening and still honest, for a source that did not flood it.
    let from_elsewhere = Conn::open_from([127, 0, 0, 2], addr).await;
    assert_eq!(connection_request_on(from_elsewhere, &path, USER, PASS).await.status, 200);
    assert!(rx.recv().await.is_some());
}
