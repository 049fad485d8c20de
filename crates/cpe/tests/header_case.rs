//! Header names on the wire, as the agent writes them: `Host`, `Content-Type`,
//! `Authorization`, not lower-cased. Header names are case-insensitive in HTTP, but
//! embedded peers often match them byte for byte. Each test plays the server over raw TCP
//! and reads the request heads exactly as they arrived.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use cwmp_cpe::config::Config;
use cwmp_cpe::transfer::{Fetcher, TransferConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// One request as read off the wire: its head (request line and headers) and body.
struct RawRequest {
    head: String,
    body: Vec<u8>,
}

impl RawRequest {
    /// The header lines, as sent.
    fn lines(&self) -> Vec<&str> {
        self.head.lines().skip(1).filter(|l| !l.is_empty()).collect()
    }

    fn has_line_starting(&self, prefix: &str) -> bool {
        self.lines().iter().any(|l| l.starts_with(prefix))
    }
}

async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> RawRequest {
    let read = async {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the connection closed before a whole request head");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("a text head");
        let length: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")))
            .map_or(0, |(_, v)| v.trim().parse().expect("a length"));
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "the connection closed before a whole body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        RawRequest { head, body }
    };
    tokio::time::timeout(Duration::from_secs(10), read).await.expect("a request within 10 s")
}

const CHALLENGE: &[u8] = b"HTTP/1.1 401 Unauthorized\r\n\
    WWW-Authenticate: Digest realm=\"acs\", nonce=\"0a4f113b\", qop=\"auth\"\r\n\
    Content-Length: 0\r\n\r\n";

/// Every header line starts with a capital letter.
fn assert_title_case(request: &RawRequest) {
    for line in request.lines() {
        assert!(line.starts_with(|c: char| c.is_ascii_uppercase()), "{line:?} in\n{}", request.head);
    }
}

#[tokio::test]
async fn the_agent_writes_header_names_as_usual() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(&format!(
        r#"
[acs]
url = "http://{addr}/cwmp"
username = "cpe"
password = "secret"
[device]
manufacturer = "ACME"
oui = "00D09E"
product_class = "STB"
serial_number = "SN1"
[cwmp]
periodic_inform = false
[state]
dir = "{}"
[connection_request]
enable = false
"#,
        dir.path().display()
    ))
    .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let agent = tokio::spawn(cwmp_cpe::shell::run(config, async {
        let _ = stopped.await;
    }));

    let (mut tcp, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept()).await.unwrap().unwrap();
    let mut buf = Vec::new();
    let inform = read_request(&mut tcp, &mut buf).await;
    assert!(String::from_utf8_lossy(&inform.body).contains("Inform"));
    tcp.write_all(CHALLENGE).await.unwrap();
    let answered = read_request(&mut tcp, &mut buf).await;
    tcp.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await.unwrap();

    for request in [&inform, &answered] {
        assert!(request.has_line_starting(&format!("Host: {addr}")), "{}", request.head);
        assert!(request.has_line_starting("Content-Type: text/xml"), "{}", request.head);
        assert!(request.has_line_starting("Content-Length: "), "{}", request.head);
        assert_title_case(request);
    }
    assert!(answered.has_line_starting("Authorization: Digest username=\"cpe\""), "{}", answered.head);
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), agent).await.expect("the agent stops").unwrap().unwrap();
}

#[tokio::test]
async fn uploads_write_header_names_as_usual() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let first = read_request(&mut tcp, &mut buf).await;
        tcp.write_all(CHALLENGE).await.unwrap();
        let second = read_request(&mut tcp, &mut buf).await;
        tcp.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n").await.unwrap();
        (first, second)
    });
    let dir = tempfile::tempdir().unwrap();
    let fetcher =
        Fetcher::new(TransferConfig { download_dir: dir.path().to_owned(), ..TransferConfig::default() }).unwrap();
    fetcher.put(&format!("http://{addr}/upload/log"), "u", "p", Bytes::from_static(b"log")).await.unwrap();
    let (first, second) = server.await.unwrap();
    for request in [&first, &second] {
        assert!(request.has_line_starting(&format!("Host: {addr}")), "{}", request.head);
        assert!(request.has_line_starting("Content-Type: application/octet-stream"), "{}", request.head);
        assert!(request.has_line_starting("User-Agent: "), "{}", request.head);
        assert_title_case(request);
    }
    assert!(second.has_line_starting("Authorization: Digest username=\"u\""), "{}", second.head);
    assert_eq!(second.body, b"log");
}
