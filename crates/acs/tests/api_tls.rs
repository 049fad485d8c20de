//! The REST API over TLS (`api_tls`): with the CWMP port's certificate or one of its own,
//! checked by a real TLS client; plain HTTP is not served there.

mod api_support;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use api_support::{Acs, Resp};
use bytes::Bytes;
use cwmp_acs::config::{ApiTls, TlsConfig};
use http_body_util::{BodyExt, Full};
use hyper::Method;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A CA, and server certificates it signs for localhost.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "API test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki { dir: tempfile::tempdir().unwrap(), ca }
    }

    /// A certificate for localhost, written as `<name>.pem` and `<name>.key`.
    fn server(&self, name: &str) -> TlsConfig {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned()]).unwrap().signed_by(&key, &self.ca).unwrap();
        let path = |ext: &str| self.dir.path().join(format!("{name}.{ext}"));
        std::fs::write(path("pem"), cert.pem()).unwrap();
        std::fs::write(path("key"), key.serialize_pem()).unwrap();
        TlsConfig { cert: path("pem"), key: path("key"), client_ca: None }
    }

    fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

/// One request over TLS, the server's certificate checked for `localhost`; also returns the
/// certificate the server presented.
async fn https(pki: &Pki, addr: SocketAddr, method: Method, path: &str, token: &str) -> (Resp, Vec<u8>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = pki.connector().connect(name, tcp).await.expect("TLS handshake");
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (Resp { status, headers, body }, presented)
}

fn der_of(pem_file: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::from_pem_file(pem_file).unwrap().to_vec()
}

/// A request in plain HTTP gets no HTTP answer from a TLS port.
async fn plain_http_is_refused(addr: SocketAddr) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let request = hyper::Request::get("/health").header("host", "localhost").body(Full::new(Bytes::new())).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request)).await;
    assert!(matches!(answer, Ok(Err(_))), "plain HTTP answered on the TLS port: {answer:?}");
}

#[tokio::test]
async fn the_api_serves_the_cwmp_certificate() {
    let pki = Pki::new();
    let cwmp = pki.server("cwmp");
    let acs = Acs::start_with(|c| {
        c.tls = Some(TlsConfig { client_ca: Some(cwmp.cert.clone()), ..cwmp.clone() });
        c.api_tls = ApiTls::SameAsCwmp;
    })
    .await;
    let (health, presented) = https(&pki, acs.api(), Method::GET, "/health", "").await;
    assert_eq!(health.status, 200);
    assert_eq!(presented, der_of(&cwmp.cert), "the CWMP port's certificate");
    let (devices, _) = https(&pki, acs.api(), Method::GET, "/devices", &acs.token).await;
    assert_eq!(devices.status, 200);
    let (refused, _) = https(&pki, acs.api(), Method::GET, "/devices", "wrong").await;
    assert_eq!(refused.status, 401);
    // Writes are audited with the client's address over TLS too.
    let (missing, _) = https(&pki, acs.api(), Method::DELETE, "/tasks/1", &acs.token).await;
    assert_eq!(missing.status, 404);
    let (audit, _) = https(&pki, acs.api(), Method::GET, "/audit?action=task.cancel", &acs.token).await;
    assert_eq!(audit.status, 200);
    assert_eq!(audit.json()[0]["address"], "127.0.0.1", "{}", audit.json());
    plain_http_is_refused(acs.api()).await;
    acs.running.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn the_api_serves_a_certificate_of_its_own() {
    let pki = Pki::new();
    let api = pki.server("api");
    // The CWMP port stays plain HTTP.
    let acs = Acs::start_with(|c| c.api_tls = ApiTls::Own(api.clone())).await;
    let (devices, presented) = https(&pki, acs.api(), Method::GET, "/devices", &acs.token).await;
    assert_eq!((devices.status, presented), (200, der_of(&api.cert)));
    plain_http_is_refused(acs.api()).await;
    let cpe = acs.cpe("Box", "T1", "1.0");
    cpe.bootstrap().await;
    acs.running.stop(Duration::from_secs(1)).await;

    // A client CA means nothing to the API: refused rather than ignored.
    let dir = tempfile::tempdir().unwrap();
    let config = cwmp_acs::config::AcsConfig {
        cwmp_listen: "127.0.0.1:0".parse().unwrap(),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        api_tls: ApiTls::Own(TlsConfig { client_ca: Some(api.cert.clone()), ..api }),
        ..Default::default()
    };
    let e = cwmp_acs::server::start(config).await.err().expect("refused");
    assert!(e.to_string().contains("client_ca"), "{e}");
}
