//! ACS settings. Every setting has a working default, so `cwmp acs serve` runs with none.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::api::forwarded::{ForwardedHeader, TrustedProxies};
use crate::store::postgres::PostgresConfig;
use crate::store::sqlite::Durability;

/// How CPEs authenticate to the CWMP endpoint (TR-069 3.4.4). Its `Debug` hides the secrets.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CpeAuthConfig {
    /// `auto`: Digest over HTTP, Basic or Digest over TLS; `none`: no HTTP authentication
    /// (for labs, or when a TLS client certificate or the network vouches for devices).
    pub mode: AuthMode,
    pub realm: String,
    /// Credentials every device without its own may use (factory-set shared credentials).
    /// Once a device has credentials of its own, these no longer admit it.
    pub username: Option<String>,
    pub password: Option<String>,
    /// What to do with a device that has no credentials of its own: `enroll` admits it and
    /// gives it its own in the same session (then required); `accept` admits it as it is
    /// (insecure, warned at start); `refuse` refuses it. With shared credentials configured
    /// they are required first in every case.
    pub unknown_devices: UnknownDevices,
    /// A device maker's secret: a device presenting username = its key (3.4.4 form) and
    /// password = [`crate::cwmp::auth::factory_password`] is (re-)enrolled, e.g. after a
    /// factory reset. Keep it out of logs and version control.
    pub factory_secret: Option<String>,
}

impl Default for CpeAuthConfig {
    fn default() -> CpeAuthConfig {
        CpeAuthConfig {
            mode: AuthMode::Auto,
            realm: "cwmp".into(),
            username: None,
            password: None,
            unknown_devices: UnknownDevices::Enroll,
            factory_secret: None,
        }
    }
}

impl std::fmt::Debug for CpeAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "(hidden)");
        f.debug_struct("CpeAuthConfig")
            .field("mode", &self.mode)
            .field("realm", &self.realm)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("unknown_devices", &self.unknown_devices)
            .field("factory_secret", &hidden(&self.factory_secret))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Auto,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownDevices {
    Enroll,
    Accept,
    Refuse,
}

/// TLS for the CWMP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates that sign CPE client certificates (TR-069 3.3). CPEs without a
    /// certificate are still accepted and authenticate over HTTP.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
}

/// TLS for the REST API (`api_tls`): off (`false`, the default), the certificate and key of
/// `[tls]` (`true`), or a `[api_tls]` table with a `cert` and `key` of its own. The API asks
/// for no client certificate; tokens authenticate its clients.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ApiTls {
    #[default]
    Off,
    SameAsCwmp,
    Own(TlsConfig),
}

impl<'de> Deserialize<'de> for ApiTls {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ApiTls, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ApiTls;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, or a table with cert and key")
            }
            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<ApiTls, E> {
                Ok(if on { ApiTls::SameAsCwmp } else { ApiTls::Off })
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, map: M) -> Result<ApiTls, M::Error> {
                TlsConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(ApiTls::Own)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The ACS's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcsConfig {
    /// CWMP endpoint (CPE sessions, file downloads, uploads).
    pub cwmp_listen: SocketAddr,
    /// REST API.
    pub api_listen: SocketAddr,
    /// Database, generated secrets and the first API token live here.
    pub data_dir: PathBuf,
    /// Where the ACS keeps its state: absent for SQLite in `data_dir`, or a PostgreSQL URL
    /// (`postgres://user:password@host:5432/database`), which several nodes can share.
    pub store: Option<String>,
    /// PostgreSQL pool, timeouts and node name (with a `postgres://` store).
    pub postgres: PostgresConfig,
    pub durability: Durability,
    pub tls: Option<TlsConfig>,
    /// Base URL CPEs use to reach this ACS (for file URLs in Download). By default it is
    /// taken from the Host header of the CPE's own requests.
    pub public_url: Option<String>,
    pub cpe_auth: CpeAuthConfig,
    /// Compatibility: a request with neither connection, cookie nor credentials joins the
    /// only live session from its client's address, if that session was admitted without
    /// authentication. Off by default: behind carrier-grade NAT many homes share an address.
    pub session_by_address: bool,
    /// Most concurrent CWMP sessions; beyond it new sessions get 503 with Retry-After.
    pub max_sessions: usize,
    /// A session with no POST for this long is over (TR-069 3.7.2.4 allows >= 30 s).
    #[serde(with = "seconds")]
    pub session_timeout: Duration,
    /// How long a client may take to send a request's headers, and then its body: slow or
    /// stalled clients are cut off after it.
    #[serde(with = "seconds")]
    pub client_timeout: Duration,
    /// Largest request body, after decompression.
    pub max_body_bytes: usize,
    /// Largest file accepted by the upload endpoint.
    pub max_upload_bytes: usize,
    /// Start responses with `<?xml …?>` (off: some CPEs choke on it).
    pub xml_declaration: bool,
    /// Re-read a device's whole tree after `0 BOOTSTRAP`.
    pub bootstrap_refresh: bool,
    /// Give each device its own Connection Request credentials.
    pub set_connection_request_credentials: bool,
    /// Require a token on the REST API (on by default; turn off only behind another guard).
    pub api_auth: bool,
    /// Connection Requests: timeout, wait for the session, attempts.
    pub connection_request: crate::connreq::ConnectionRequestConfig,
    /// Days the audit log keeps a record (at least 1); older ones are pruned.
    pub audit_retention_days: std::num::NonZeroU32,
    /// TLS for the REST API (see [`ApiTls`]).
    pub api_tls: ApiTls,
    /// Reverse proxies in front of the REST API (addresses or CIDR ranges): only a request
    /// from one of them has its client's address taken from `forwarded_header`.
    pub trusted_proxies: TrustedProxies,
    /// The header the trusted proxies write: `x-forwarded-for` (default) or `forwarded`.
    pub forwarded_header: ForwardedHeader,
    /// GenieACS extensions for provision scripts' `ext()` (run with Node.js; off by default).
    pub extensions: Option<crate::provision::ext::ExtensionsConfig>,
}

impl Default for AcsConfig {
    fn default() -> AcsConfig {
        AcsConfig {
            cwmp_listen: "0.0.0.0:7547".parse().expect("address"),
            api_listen: "0.0.0.0:7557".parse().expect("address"),
            data_dir: PathBuf::from("cwmp-data"),
            store: None,
            postgres: PostgresConfig::default(),
            durability: Durability::Full,
            tls: None,
            public_url: None,
            cpe_auth: CpeAuthConfig::default(),
            session_by_address: false,
            max_sessions: 10_000,
            session_timeout: Duration::from_secs(60),
            client_timeout: Duration::from_secs(30),
            max_body_bytes: 16 << 20,
            max_upload_bytes: 256 << 20,
            xml_declaration: false,
            bootstrap_refresh: true,
            set_connection_request_credentials: true,
            api_auth: true,
            connection_request: Default::default(),
            audit_retention_days: std::num::NonZeroU32::new(90).expect("non-zero"),
            api_tls: ApiTls::Off,
            trusted_proxies: TrustedProxies::default(),
            forwarded_header: ForwardedHeader::default(),
            extensions: None,
        }
    }
}

/// Which store a configuration asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// `acs.db` in the data directory.
    Sqlite,
    /// A PostgreSQL URL.
    Postgres(String),
}

impl AcsConfig {
    /// The certificate the REST API serves, if any.
    pub fn api_tls_config(&self) -> Result<Option<TlsConfig>, String> {
        match &self.api_tls {
            ApiTls::Off => Ok(None),
            // The CWMP port's client CA is for CPEs: the API asks for no certificate.
            ApiTls::SameAsCwmp => match &self.tls {
                Some(tls) => Ok(Some(TlsConfig { client_ca: None, ..tls.clone() })),
                None => Err("api_tls = true serves the certificate of [tls], which is not set".into()),
            },
            ApiTls::Own(tls) if tls.client_ca.is_some() => {
                Err("[api_tls]: client_ca is not used: the REST API authenticates clients by token".into())
            }
            ApiTls::Own(tls) => Ok(Some(tls.clone())),
        }
    }

    /// How long the audit log keeps a record.
    pub fn audit_retention(&self) -> Duration {
        Duration::from_secs(u64::from(self.audit_retention_days.get()) * 86_400)
    }

    /// The store `store` names: nothing (or `sqlite`) for SQLite, a `postgres://` or
    /// `postgresql://` URL for PostgreSQL.
    pub fn store_kind(&self) -> Result<StoreKind, String> {
        match self.store.as_deref().map(str::trim) {
            None | Some("") | Some("sqlite") => Ok(StoreKind::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreKind::Postgres(url.to_owned()))
            }
            Some(other) => Err(format!(
                "store {:?}: expected \"sqlite\" or a postgres:// URL",
                other.split('@').next_back().unwrap_or_default()
            )),
        }
    }
}

mod seconds {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_selection() {
        let with = |store: Option<&str>| AcsConfig { store: store.map(String::from), ..AcsConfig::default() };
        assert_eq!(with(None).store_kind(), Ok(StoreKind::Sqlite));
        assert_eq!(with(Some("sqlite")).store_kind(), Ok(StoreKind::Sqlite));
        let url = "postgres://cwmp:secret@db:5432/acs";
        assert_eq!(with(Some(url)).store_kind(), Ok(StoreKind::Postgres(url.into())));
        assert!(matches!(with(Some("postgresql://db/acs")).store_kind(), Ok(StoreKind::Postgres(_))));
        // The error names what was given without its credentials.
        let e = with(Some("mysql://u:pw@db/acs")).store_kind().unwrap_err();
        assert!(!e.contains("pw") && e.contains("db/acs"), "{e}");
    }

    #[test]
    fn api_tls() {
        let tls = TlsConfig { cert: "c.pem".into(), key: "k.pem".into(), client_ca: Some("ca.pem".into()) };
        let parse = |text: &str| serde_json::from_str::<AcsConfig>(text);
        assert_eq!(AcsConfig::default().api_tls_config(), Ok(None));
        assert_eq!(parse(r#"{"api_tls": false}"#).unwrap().api_tls, ApiTls::Off);
        let same = AcsConfig { tls: Some(tls.clone()), ..parse(r#"{"api_tls": true}"#).unwrap() };
        let served = same.api_tls_config().unwrap().unwrap();
        assert_eq!((served.cert, served.key, served.client_ca), (tls.cert, tls.key, None), "no client CA");
        assert!(parse(r#"{"api_tls": true}"#).unwrap().api_tls_config().unwrap_err().contains("[tls]"));
        let own = parse(r#"{"api_tls": {"cert": "api.pem", "key": "api.key"}}"#).unwrap();
        assert_eq!(own.api_tls_config().unwrap().unwrap().cert, std::path::Path::new("api.pem"));
        let with_ca = parse(r#"{"api_tls": {"cert": "a", "key": "b", "client_ca": "c"}}"#).unwrap();
        assert!(with_ca.api_tls_config().unwrap_err().contains("client_ca"));
        assert!(parse(r#"{"api_tls": {"cert": "a"}}"#).is_err(), "a key is required");
        assert!(parse(r#"{"api_tls": "yes"}"#).is_err());
    }

    #[test]
    fn proxies() {
        let config: AcsConfig =
            serde_json::from_str(r#"{"trusted_proxies": ["10.0.0.0/8", "::1"], "forwarded_header": "forwarded"}"#)
                .unwrap();
        assert!(config.trusted_proxies.trusts("10.1.2.3".parse().unwrap()));
        assert_eq!(config.forwarded_header, ForwardedHeader::Forwarded);
        assert_eq!(AcsConfig::default().forwarded_header, ForwardedHeader::XForwardedFor);
        assert!(serde_json::from_str::<AcsConfig>(r#"{"trusted_proxies": ["10.0.0.0/99"]}"#).is_err());
        assert!(serde_json::from_str::<AcsConfig>(r#"{"forwarded_header": "x-real-ip"}"#).is_err());
    }

    #[test]
    fn audit_retention() {
        assert_eq!(AcsConfig::default().audit_retention(), Duration::from_secs(90 * 86_400));
        let config: AcsConfig = serde_json::from_str(r#"{"audit_retention_days": 7}"#).unwrap();
        assert_eq!(config.audit_retention(), Duration::from_secs(7 * 86_400));
        let e = serde_json::from_str::<AcsConfig>(r#"{"audit_retention_days": 0}"#).unwrap_err().to_string();
        assert!(e.contains("nonzero"), "{e}");
    }

    #[test]
    fn cpe_auth_settings_and_their_secrets() {
        let config: AcsConfig = serde_json::from_str(
            r#"{"session_by_address": true,
                "cpe_auth": {"unknown_devices": "refuse", "username": "factory",
                             "password": "pw-of-the-fleet", "factory_secret": "maker-secret"}}"#,
        )
        .unwrap();
        assert!(config.session_by_address);
        assert_eq!(config.cpe_auth.unknown_devices, UnknownDevices::Refuse);
        assert_eq!(AcsConfig::default().cpe_auth.unknown_devices, UnknownDevices::Enroll);
        let shown = format!("{config:?}");
        assert!(!shown.contains("pw-of-the-fleet") && !shown.contains("maker-secret"), "{shown}");
        let e = serde_json::from_str::<AcsConfig>(r#"{"cpe_auth": {"unknown_devices": "maybe"}}"#).unwrap_err();
        assert!(e.to_string().contains("maybe"), "{e}");
    }

    #[test]
    fn postgres_settings() {
        let text = r#"{"store": "postgres://db/acs",
                       "postgres": {"pool_size": 32, "statement_timeout": 2.5, "node_id": "node-1"}}"#;
        let config: AcsConfig = serde_json::from_str(text).unwrap();
        assert_eq!(config.store_kind(), Ok(StoreKind::Postgres("postgres://db/acs".into())));
        assert_eq!(config.postgres.pool_size, 32);
        assert_eq!(config.postgres.statement_timeout, Duration::from_millis(2500));
        assert_eq!(config.postgres.node_id.as_deref(), Some("node-1"));
        assert_eq!(config.postgres.acquire_timeout, Duration::from_secs(3));
        assert!(serde_json::from_str::<AcsConfig>(r#"{"postgres": {"pool": 3}}"#).is_err(), "unknown keys are refused");
    }
}
