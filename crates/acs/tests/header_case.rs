//! Header names on the wire, as the ACS's CWMP endpoint writes them: `Content-Type`,
//! `Content-Length`, not lower-cased. Header names are case-insensitive in HTTP, but
//! embedded CPEs often match them byte for byte.

mod api_support;

use std::time::Duration;

use api_support::Acs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn the_cwmp_endpoint_writes_header_names_as_usual() {
    let acs = Acs::start().await;
    let mut tcp = tokio::net::TcpStream::connect(acs.running.cwmp_addr).await.unwrap();
    // An empty POST outside any session: a plain-text 400.
    tcp.write_all(b"POST / HTTP/1.1\r\nHost: acs\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut byte)).await.unwrap().unwrap();
        assert_eq!(n, 1, "the connection closed in the head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(head.contains("\r\nContent-Type: text/plain"), "{head}");
    assert!(head.contains("\r\nContent-Length: "), "{head}");
    for line in head.lines().skip(1).filter(|l| !l.is_empty()) {
        assert!(line.starts_with(|c: char| c.is_ascii_uppercase()), "{line:?} in\n{head}");
    }
    acs.running.stop(Duration::from_secs(1)).await;
}
