//! The CWMP endpoint over TLS: server certificate, optional client certificates whose CN
//! identifies the device (TR-069 3.3), and Basic credentials sent before any challenge.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{inform, start_acs};
use cwmp_acs::config::{TlsConfig, UnknownDevices};
use cwmp_wire::EncodeOptions;
use http_body_util::{BodyExt, Full};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }

    fn tls(&self) -> TlsConfig {
        TlsConfig {
            cert: self.dir.path().join("server.pem"),
            key: self.dir.path().join("server.key"),
            client_ca: Some(self.dir.path().join("ca.pem")),
        }
    }

    /// A client certificate with this subject CN.
    fn client(
        &self,
        cn: &str,
    ) -> (rustls::pki_types::CertificateDer<'static>, rustls::pki_types::PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.ca).unwrap();
        (cert.der().clone(), rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
    }

    fn connector(&self, client: Option<&str>) -> tokio_rustls::TlsConnector {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der().clone()).unwrap();
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match client {
            Some(cn) => {
                let (cert, key) = self.client(cn);
                builder.with_client_auth_cert(vec![cert], key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

async fn post_inform(
    addr: std::net::SocketAddr,
    connector: &tokio_rustls::TlsConnector,
    serial: &str,
    authorization: Option<&str>,
) -> u16 {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.unwrap();
    tokio::spawn(conn);
    let body = inform(serial, &[], &[]).encode(&EncodeOptions::default());
    let mut req = hyper::Request::post("/").header("host", "localhost");
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let response = sender.send_request(req.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

#[tokio::test]
async fn client_certificates_and_basic_over_tls() {
    let pki = Pki::new();
    let (acs, _dir) = start_acs(|c| {
        c.tls = Some(pki.tls());
        c.cpe_auth.unknown_devices = UnknownDevices::Refuse;
        c.cpe_auth.username = Some("shared".into());
        c.cpe_auth.password = Some("secret".into());
    })
    .await;
    let addr = acs.cwmp_addr;
    // The certificate's CN is the device's identity: no HTTP authentication needed.
    assert_eq!(post_inform(addr, &pki.connector(Some("00D09E-Box-T1")), "T1", None).await, 200);
    // Another device's certificate does not vouch for this one.
    assert_eq!(post_inform(addr, &pki.connector(Some("00D09E-Box-T1")), "T2", None).await, 401);
    // No certificate: HTTP authentication, here Basic sent before any challenge (3.4.4).
    assert_eq!(post_inform(addr, &pki.connector(None), "T3", None).await, 401);
    let basic = cwmp_http::basic::Credentials::new("shared", "secret").to_string();
    assert_eq!(post_inform(addr, &pki.connector(None), "T3", Some(&basic)).await, 200);
    let wrong = cwmp_http::basic::Credentials::new("shared", "nope").to_string();
    assert_eq!(post_inform(addr, &pki.connector(None), "T4", Some(&wrong)).await, 401);
}
