//! Real transfers against local HTTP and HTTPS servers (TR-069 3.4.3): credentials, errors
//! and the TransferComplete fault code each gives.

mod transfer_support;

use std::time::Duration;

use bytes::Bytes;
use cwmp_cpe::transfer::{Fetch, Fetcher, TransferConfig, TransferError};
use cwmp_wire::FaultCode;
use transfer_support::{Misbehaviour, PASS, TestServer, USER, raw_server, test_pki};

fn fetcher(dir: &tempfile::TempDir) -> Fetcher {
    Fetcher::new(TransferConfig {
        download_dir: dir.path().join("dl"),
        max_size: 1024 * 1024,
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_millis(500),
        ..TransferConfig::default()
    })
    .unwrap()
}

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Only finished downloads stay in the download directory.
fn files_in(dir: &tempfile::TempDir) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.path().join("dl")) else { return Vec::new() };
    let mut names: Vec<String> = entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn plain_download_with_wrong_size_hint() {
    let server = TestServer::start().await;
    server.add_file("/fw.bin", content(100_000));
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    // FileSize 5 is wrong: a hint, never a reason to fail (A.3.2.8).
    let fetched = fetcher.fetch(&server.url("/fw.bin"), "", "", 5).await.unwrap();
    assert_eq!(fetched.size, 100_000);
    assert_eq!(std::fs::read(&fetched.path).unwrap(), content(100_000));
    assert!(fetched.path.starts_with(dir.path().join("dl")));
    assert!(fetched.start_time <= fetched.complete_time);
    assert_eq!(fetched.final_url, server.url("/fw.bin"));
    assert_eq!(files_in(&dir).len(), 1);
}

#[tokio::test]
async fn basic_and_digest_credentials() {
    let server = TestServer::start().await;
    server.add_file("/fw.bin", content(1000));
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    for area in ["/basic", "/digest", "/digest-close"] {
        let url = server.url(&format!("{area}/fw.bin"));
        let fetched = fetcher.fetch(&url, USER, PASS, 0).await.unwrap_or_else(|e| panic!("{area}: {e}"));
        assert_eq!(std::fs::read(&fetched.path).unwrap(), content(1000), "{area}");

        let wrong = fetcher.fetch(&url, USER, "wrong", 0).await.unwrap_err();
        assert_eq!(wrong, TransferError::AuthenticationFailed, "{area}");
        assert_eq!(wrong.download_fault(), FaultCode::FileTransferServerAuthenticationFailure);
        let none = fetcher.fetch(&url, "", "", 0).await.unwrap_err();
        assert_eq!(none.download_fault(), FaultCode::FileTransferServerAuthenticationFailure, "{area}");
    }
}

#[tokio::test]
async fn digest_challenge_is_answered_on_the_same_connection() {
    let server = TestServer::start().await;
    server.add_file("/fw.bin", content(10));
    let dir = tempfile::tempdir().unwrap();
    let before = server.connections();
    fetcher(&dir).fetch(&server.url("/digest/fw.bin"), USER, PASS, 0).await.unwrap();
    assert_eq!(server.connections() - before, 1, "3.4.2: the 401 round trip stays on one connection");
    // When the server closes after the 401, a second connection is used.
    let before = server.connections();
    fetcher(&dir).fetch(&server.url("/digest-close/fw.bin"), USER, PASS, 0).await.unwrap();
    assert_eq!(server.connections() - before, 2);
}

#[tokio::test]
async fn http_errors_map_to_9016() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    for (path, status) in [("/missing", 404), ("/forbidden", 403), ("/error", 500)] {
        let e = fetcher.fetch(&server.url(path), "", "", 0).await.unwrap_err();
        assert_eq!(e, TransferError::Status(status));
        assert_eq!(e.download_fault(), FaultCode::FileAccessFailure);
        assert_eq!(e.du_fault(), FaultCode::FileAccessFailure);
    }
    assert!(files_in(&dir).is_empty());
}

#[tokio::test]
async fn redirects() {
    let server = TestServer::start().await;
    server.add_file("/dir/fw.bin", content(64));
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let fetched = fetcher.fetch(&server.url("/redirect/dir/fw.bin"), "", "", 0).await.unwrap();
    assert_eq!(fetched.final_url, server.url("/dir/fw.bin"));
    // 307 with a relative Location inside a protected area keeps the credentials.
    server.add_file("/temporary/fw.bin", content(64));
    let url = server.url("/digest/temporary/moved-fw.bin");
    assert_eq!(fetcher.fetch(&url, USER, PASS, 0).await.unwrap().size, 64);

    let e = fetcher.fetch(&server.url("/loop"), "", "", 0).await.unwrap_err();
    assert_eq!(e, TransferError::TooManyRedirects);
    assert_eq!(e.download_fault(), FaultCode::FileAccessFailure);
    let e = fetcher.fetch(&server.url("/no-location"), "", "", 0).await.unwrap_err();
    assert!(matches!(e, TransferError::BadRedirect(_)), "{e}");
}

#[tokio::test]
async fn connection_refused_is_9015() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let e = fetcher(&dir).fetch(&format!("http://127.0.0.1:{port}/f"), "", "", 0).await.unwrap_err();
    assert!(matches!(e, TransferError::Unreachable(_)), "{e}");
    assert_eq!(e.download_fault(), FaultCode::FileServerUnreachable);
    let e = fetcher(&dir).fetch("http://no-such-host.invalid/f", "", "", 0).await.unwrap_err();
    assert_eq!(e.download_fault(), FaultCode::FileServerUnreachable);
}

#[tokio::test]
async fn misbehaving_servers() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let url = |addr: std::net::SocketAddr| format!("http://{addr}/f");

    // Truncated body: 9017.
    let e = fetcher.fetch(&url(raw_server(Misbehaviour::Truncated).await), "", "", 0).await.unwrap_err();
    assert!(matches!(e, TransferError::Incomplete(_)), "{e}");
    assert_eq!(e.download_fault(), FaultCode::DownloadIncomplete);
    // Stalls in the middle of the body: 9017 after the idle timeout.
    let e = fetcher.fetch(&url(raw_server(Misbehaviour::Stall).await), "", "", 0).await.unwrap_err();
    assert!(matches!(e, TransferError::Incomplete(_)), "{e}");
    assert_eq!(e.download_fault(), FaultCode::DownloadIncomplete);
    // Never answers: 9015 after the idle timeout (no response is no contact).
    let e = fetcher.fetch(&url(raw_server(Misbehaviour::Silent).await), "", "", 0).await.unwrap_err();
    assert!(matches!(e, TransferError::Unreachable(_)), "{e}");
    // Closes at once: 9015.
    let e = fetcher.fetch(&url(raw_server(Misbehaviour::Hangup).await), "", "", 0).await.unwrap_err();
    assert_eq!(e.download_fault(), FaultCode::FileServerUnreachable, "{e}");
    // A chunked body under the limit is fine; over it fails with 9010.
    let ok = fetcher.fetch(&url(raw_server(Misbehaviour::Chunked(100_000)).await), "", "", 0).await.unwrap();
    assert_eq!(ok.size, 100_000);
    let e = fetcher.fetch(&url(raw_server(Misbehaviour::Chunked(3_000_000)).await), "", "", 0).await.unwrap_err();
    assert_eq!(e, TransferError::TooLarge { limit: 1024 * 1024 });
    assert_eq!(e.download_fault(), FaultCode::DownloadFailure);
    assert_eq!(e.du_fault(), FaultCode::SystemResourcesExceeded);
    // No partial file is left behind.
    assert_eq!(files_in(&dir).len(), 1);
}

#[tokio::test]
async fn size_limits() {
    let server = TestServer::start().await;
    server.add_file("/big.bin", content(2 * 1024 * 1024));
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    // Content-Length over the limit: refused before reading.
    let e = fetcher.fetch(&server.url("/big.bin"), "", "", 0).await.unwrap_err();
    assert_eq!(e, TransferError::TooLarge { limit: 1024 * 1024 });
    // A FileSize over the free space: 9010 (A.3.2.8), before any connection.
    let e = fetcher.fetch(&server.url("/big.bin"), "", "", u64::MAX).await.unwrap_err();
    assert!(matches!(e, TransferError::InsufficientSpace { .. }), "{e}");
    assert_eq!(e.download_fault(), FaultCode::DownloadFailure);
    assert_eq!(fetcher.check_free_space(u64::MAX).unwrap_err().download_fault(), FaultCode::DownloadFailure);
    assert!(fetcher.check_free_space(0).is_ok());
    assert!(fetcher.check_free_space(1).is_ok());
    assert!(files_in(&dir).is_empty());
}

#[tokio::test]
async fn urls_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let e = fetcher.fetch("ftp://127.0.0.1/f", "", "", 0).await.unwrap_err();
    assert_eq!(e.download_fault(), FaultCode::UnsupportedProtocol);
    let e = fetcher.fetch("http://u:p@127.0.0.1/f", "", "", 0).await.unwrap_err();
    assert_eq!(e.download_fault(), FaultCode::InvalidArguments);
    let e = fetcher.put("tftp://127.0.0.1/f", "", "", Bytes::new()).await.unwrap_err();
    assert_eq!(e.upload_fault(), FaultCode::UnsupportedProtocol);
}

#[tokio::test]
async fn uploads_use_put() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    let data = Bytes::from_static(b"<config>1</config>");
    fetcher.put(&server.url("/up/config.xml"), "", "", data.clone()).await.unwrap();
    fetcher.put(&server.url("/digest/up/log.txt"), USER, PASS, Bytes::from_static(b"log")).await.unwrap();
    fetcher.put(&server.url("/basic/up/b.txt"), USER, PASS, Bytes::from_static(b"b")).await.unwrap();
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 3);
    assert_eq!(uploads[0], ("/up/config.xml".into(), data.to_vec(), Some("application/octet-stream".into())));
    assert_eq!(uploads[1].1, b"log");

    let e = fetcher.put(&server.url("/digest/up/x"), USER, "wrong", data.clone()).await.unwrap_err();
    assert_eq!(e.upload_fault(), FaultCode::FileTransferServerAuthenticationFailure);
    let e = fetcher.put(&server.url("/reject"), "", "", data.clone()).await.unwrap_err();
    assert_eq!(e, TransferError::UploadRejected(500));
    assert_eq!(e.upload_fault(), FaultCode::UploadFailure);
    let e = fetcher.put("http://127.0.0.1:1/x", "", "", data).await.unwrap_err();
    assert_eq!(e.upload_fault(), FaultCode::UploadFailure);
}

#[tokio::test]
async fn https_with_a_configured_ca() {
    let pki = test_pki();
    let server = TestServer::start_tls(pki.server_config.clone()).await;
    server.add_file("/fw.bin", content(5000));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let config = TransferConfig {
        download_dir: dir.path().join("dl"),
        ca_file: Some(ca_file),
        idle_timeout: Duration::from_secs(5),
        ..TransferConfig::default()
    };
    let trusting = Fetcher::new(config).unwrap();
    let fetched = trusting.fetch(&server.url("/digest/fw.bin"), USER, PASS, 0).await.unwrap();
    assert_eq!(std::fs::read(&fetched.path).unwrap(), content(5000));
    // Through the trait object as the software-module code uses it.
    let as_trait: &dyn Fetch = &trusting;
    assert_eq!(as_trait.fetch(&server.url("/fw.bin"), "", "", 0).await.unwrap().size, 5000);
    trusting.put(&server.url("/up/x"), "", "", Bytes::from_static(b"x")).await.unwrap();

    // The default (webpki) roots do not know the test CA: the server is not authenticated.
    let e = fetcher(&dir).fetch(&server.url("/fw.bin"), "", "", 0).await.unwrap_err();
    assert!(matches!(e, TransferError::ServerCertificate(_)), "{e}");
    assert_eq!(e.download_fault(), FaultCode::FileTransferServerAuthenticationFailure);
    // The name must match too: "localhost" is in the certificate, "127.0.0.2" is not.
    let wrong_name = format!("https://127.0.0.2:{}/fw.bin", server.addr.port());
    let e = trusting.fetch(&wrong_name, "", "", 0).await;
    assert!(matches!(e, Err(TransferError::ServerCertificate(_) | TransferError::Unreachable(_))), "{e:?}");
    let by_name = format!("https://localhost:{}/fw.bin", server.addr.port());
    assert_eq!(trusting.fetch(&by_name, "", "", 0).await.unwrap().size, 5000);
}

#[tokio::test]
async fn leftover_partial_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = fetcher(&dir);
    assert_eq!(fetcher.remove_partial_downloads().unwrap(), 0);
    std::fs::create_dir_all(dir.path().join("dl")).unwrap();
    std::fs::write(dir.path().join("dl/download-1.part"), b"x").unwrap();
    std::fs::write(dir.path().join("dl/download-2"), b"x").unwrap();
    assert_eq!(fetcher.remove_partial_downloads().unwrap(), 1);
    assert_eq!(files_in(&dir), ["download-2"]);
}
