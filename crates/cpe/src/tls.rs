//! TLS towards the ACS and file servers (TR-069 3.3, 3.4.3 item 2): rustls with the ring
//! provider and TLS 1.2 or later; the server certificate validated against a configured CA
//! file or the webpki (Mozilla) roots, with the URL's host as the reference identity; an
//! optional client certificate.
//!
//! 3.3: "If a CPE chooses to contact the ACS before it has accurate absolute time (or if it
//! does not support absolute time), it MUST ignore those components of the ACS certificate
//! that involve absolute time". The chain, signatures and name are checked all the same:
//! without absolute time a certificate is verified as of a moment inside the validity of
//! every certificate the server presented.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

/// Whether the device knows the absolute time (its clock is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AbsoluteTime {
    /// The system clock is trusted once it reads later than [`CLOCK_SET_AFTER`]: a device
    /// whose clock restarts at 1970 (no battery, no NTP answer yet) has no absolute time.
    #[default]
    Auto,
    /// The system clock is always right (NTP before the agent starts).
    Known,
    /// The device has no absolute time: validity periods are never checked.
    Unknown,
}

/// A system clock reading earlier than this (2026-01-01T00:00:00Z) was not set.
pub const CLOCK_SET_AFTER: Duration = Duration::from_secs(1_767_225_600);

impl AbsoluteTime {
    fn known(self, now: UnixTime) -> bool {
        match self {
            AbsoluteTime::Auto => now.as_secs() >= CLOCK_SET_AFTER.as_secs(),
            AbsoluteTime::Known => true,
            AbsoluteTime::Unknown => false,
        }
    }
}

/// A client configuration trusting the certificates of `ca_file` (PEM), or the webpki roots
/// when there is none, presenting `client_auth` (certificate chain and key, PEM) if given.
pub fn client_config(
    ca_file: Option<&Path>,
    client_auth: Option<(&Path, &Path)>,
    time: AbsoluteTime,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier(ca_file, time)?);
    let config = match client_auth {
        Some((cert, key)) => {
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder.with_client_auth_cert(read_certificates(cert)?, key).map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

fn verifier(ca_file: Option<&Path>, time: AbsoluteTime) -> Result<Arc<Verifier>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let (added, _ignored) = roots.add_parsable_certificates(read_certificates(path)?);
            if added == 0 {
                return Err(format!("{}: no usable CA certificate", path.display()));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().map_err(|e| e.to_string())?;
    Ok(Arc::new(Verifier { inner, time }))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The webpki verifier, told the time only when the device knows it.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    time: AbsoluteTime,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let at =
            if self.time.known(now) { now } else { moment_valid_for_all(end_entity, intermediates).unwrap_or(now) };
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, at)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The start of the span in which every presented certificate is valid; `None` when a
/// certificate does not parse or the spans do not meet (webpki then judges at the real time).
fn moment_valid_for_all(end_entity: &CertificateDer<'_>, intermediates: &[CertificateDer<'_>]) -> Option<UnixTime> {
    let (mut from, mut until) = (i64::MIN, i64::MAX);
    for der in std::iter::once(end_entity).chain(intermediates) {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let validity = cert.validity();
        from = from.max(validity.not_before.timestamp());
        until = until.min(validity.not_after.timestamp());
    }
    let from = u64::try_from(from).ok()?;
    (i64::try_from(from).ok()? <= until).then(|| UnixTime::since_unix_epoch(Duration::from_secs(from)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, date_time_ymd};

    #[test]
    fn default_roots_and_bad_ca_files() {
        assert!(client_config(None, None, AbsoluteTime::Auto).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(client_config(Some(&empty), None, AbsoluteTime::Auto).unwrap_err().contains("no usable CA"));
        assert!(client_config(Some(&dir.path().join("missing.pem")), None, AbsoluteTime::Auto).is_err());
    }

    /// A CA and a server certificate for `localhost` valid in 2020 only.
    fn expired_pki(dir: &Path) -> (std::path::PathBuf, CertificateDer<'static>) {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.not_before = date_time_ymd(2019, 1, 1);
        ca_params.not_after = date_time_ymd(2040, 1, 1);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
        let server = params.signed_by(&KeyPair::generate().unwrap(), &ca).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        (ca_file, server.der().clone())
    }

    fn verify(
        ca_file: &Path,
        time: AbsoluteTime,
        cert: &CertificateDer<'_>,
        host: &str,
        now: u64,
    ) -> Result<(), String> {
        let verifier = verifier(Some(ca_file), time).unwrap();
        let name = ServerName::try_from(host.to_owned()).unwrap();
        let now = UnixTime::since_unix_epoch(Duration::from_secs(now));
        verifier.verify_server_cert(cert, &[], &name, &[], now).map(drop).map_err(|e| e.to_string())
    }

    #[test]
    fn validity_is_checked_only_with_absolute_time() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert) = expired_pki(dir.path());
        let today = 1_796_000_000; // 2026-12
        let expired = verify(&ca, AbsoluteTime::Known, &cert, "localhost", today).unwrap_err();
        assert!(expired.to_lowercase().contains("expired"), "{expired}");
        assert!(verify(&ca, AbsoluteTime::Auto, &cert, "localhost", today).is_err(), "a set clock is trusted");
        // 3.3: without absolute time the validity period is ignored...
        verify(&ca, AbsoluteTime::Unknown, &cert, "localhost", today).unwrap();
        verify(&ca, AbsoluteTime::Auto, &cert, "localhost", 86_400).unwrap();
        // ...but not the name, nor the chain.
        assert!(verify(&ca, AbsoluteTime::Unknown, &cert, "acs.example.com", today).is_err());
        let other = tempfile::tempdir().unwrap();
        let (other_ca, _) = expired_pki(other.path());
        assert!(verify(&other_ca, AbsoluteTime::Unknown, &cert, "localhost", today).is_err());
    }
}
