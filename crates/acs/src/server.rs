//! Starting and stopping the ACS: the store, the CWMP listener (HTTP or HTTPS), the REST API
//! listener, the idle-session sweep, task expiry, audit pruning, and graceful shutdown. On
//! PostgreSQL a node also follows the other nodes' session take-overs (LISTEN).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{AcsConfig, StoreKind};
use crate::cwmp::{Clock, Endpoint, Transport};
use crate::store::postgres::PgStore;
use crate::store::postgres::cluster::Cluster;
use crate::store::sqlite::SqliteStore;
use crate::store::{Role, Store, StoreError, now_millis};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

/// A running ACS.
pub struct Running<S> {
    pub cwmp_addr: SocketAddr,
    pub api_addr: SocketAddr,
    /// Set when this start created an admin token (the store had none that had not
    /// expired); it is also written to `admin-token` in the data directory (mode 0600).
    pub admin_token: Option<String>,
    pub endpoint: Arc<Endpoint<S>>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl<S: Store> Running<S> {
    /// Stops accepting, lets requests in flight finish (up to `grace`), and returns.
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(grace, async { while self.tasks.join_next().await.is_some() {} }).await;
        self.tasks.abort_all();
    }
}

/// Reads the secret that signs Digest nonces, creating it on first start. Nodes that share
/// a data directory (or copy this file) verify each other's nonces.
fn load_secret(dir: &Path) -> Result<Vec<u8>, StartError> {
    let path = dir.join("secret");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => Ok(bytes),
        _ => {
            use rand::RngExt as _;
            let secret: [u8; 32] = rand::rng().random();
            write_private(&path, &secret).map_err(|e| StartError::DataDir(path.display().to_string(), e))?;
            Ok(secret.to_vec())
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn tls_acceptor(config: &crate::config::TlsConfig) -> Result<tokio_rustls::TlsAcceptor, StartError> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let read_certs = |path: &Path| {
        CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| StartError::Tls(format!("{}: {e}", path.display())))
    };
    let certs = read_certs(&config.cert)?;
    let key = PrivateKeyDer::from_pem_file(&config.key)
        .map_err(|e| StartError::Tls(format!("{}: {e}", config.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| StartError::Tls(e.to_string()))?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(path)? {
                roots.add(cert).map_err(|e| StartError::Tls(format!("{}: {e}", path.display())))?;
            }
            // 3.3: client certificates are optional; CPEs without one authenticate over HTTP.
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| StartError::Tls(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server = builder.with_single_cert(certs, key).map_err(|e| StartError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// Opens the embedded store in the data directory and starts the ACS. A configuration that
/// names PostgreSQL goes to [`start_postgres`].
pub async fn start(config: AcsConfig) -> Result<Running<SqliteStore>, StartError> {
    if config.store_kind().map_err(StoreError::Invalid)? != StoreKind::Sqlite {
        return Err(StartError::Store(StoreError::Invalid(
            "the configuration names PostgreSQL: use start_postgres".into(),
        )));
    }
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| StartError::DataDir(dir.display().to_string(), e))?;
    let store = SqliteStore::open(&dir.join("acs.db"), config.durability).await?;
    start_with_store(config, store).await
}

/// Connects to the PostgreSQL store the configuration names and starts a node of the ACS;
/// any number of nodes may share the database.
pub async fn start_postgres(config: AcsConfig) -> Result<Running<PgStore>, StartError> {
    let StoreKind::Postgres(url) = config.store_kind().map_err(StoreError::Invalid)? else {
        return Err(StartError::Store(StoreError::Invalid("the configuration names no PostgreSQL store".into())));
    };
    let store = PgStore::connect(&url, &config.postgres).await?;
    start_with_postgres(config, store).await
}

/// Starts a node on a PostgreSQL store shared with other nodes: sessions run under leases,
/// are checkpointed at every step and can move between nodes.
pub async fn start_with_postgres(config: AcsConfig, store: PgStore) -> Result<Running<PgStore>, StartError> {
    let cluster = Arc::new(Cluster::new(store.clone(), config.postgres.node_id.clone(), config.session_timeout));
    // Every node verifies the Digest nonces of the others.
    let secret = cluster.shared_secret("digest-nonce").await?;
    tracing::info!(node = cluster.node_id(), schema = store.schema(), "ACS node on PostgreSQL");
    start_node(config, store, secret, Some(cluster)).await
}

/// Starts the ACS on a given store, as the only node.
pub async fn start_with_store<S: Store>(config: AcsConfig, store: S) -> Result<Running<S>, StartError> {
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| StartError::DataDir(dir.display().to_string(), e))?;
    let secret = load_secret(&dir)?;
    start_node(config, store, secret, None).await
}

async fn start_node<S: Store>(
    config: AcsConfig,
    store: S,
    secret: Vec<u8>,
    cluster: Option<Arc<Cluster>>,
) -> Result<Running<S>, StartError> {
    let dir = config.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|e| StartError::DataDir(dir.display().to_string(), e))?;
    let admin_token = first_admin_token(&store, &dir, &config).await?;
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let api_tls = config.api_tls_config().map_err(StartError::Tls)?.as_ref().map(tls_acceptor).transpose()?;
    let cwmp = TcpListener::bind(config.cwmp_listen).await.map_err(|e| StartError::Bind(config.cwmp_listen, e))?;
    let api = TcpListener::bind(config.api_listen).await.map_err(|e| StartError::Bind(config.api_listen, e))?;
    let cwmp_addr = cwmp.local_addr().map_err(|e| StartError::Bind(config.cwmp_listen, e))?;
    let api_addr = api.local_addr().map_err(|e| StartError::Bind(config.api_listen, e))?;
    warn_insecure(&config);
    let seed = {
        use rand::RngExt as _;
        rand::rng().random()
    };
    let endpoint = Arc::new(Endpoint::new(config, store.clone(), secret, cluster.clone(), Clock::System, seed));
    let (shutdown, watch_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    if let Some(cluster) = cluster {
        tasks.spawn(follow_take_overs(endpoint.clone(), cluster, watch_rx.clone()));
    }
    tasks.spawn(accept_loop(cwmp, tls, endpoint.clone(), watch_rx.clone()));
    tasks.spawn(crate::api::serve(api, api_tls, crate::api::ApiState::new(endpoint.clone()), watch_rx.clone()));
    tasks.spawn(housekeeping(endpoint.clone(), watch_rx));
    tracing::info!(%cwmp_addr, %api_addr, "ACS started");
    Ok(Running { cwmp_addr, api_addr, admin_token, endpoint, shutdown, tasks })
}

/// Says at start which settings leave CPEs unauthenticated or exposed.
fn warn_insecure(config: &AcsConfig) {
    use crate::config::{AuthMode, UnknownDevices};
    if config.cpe_auth.mode == AuthMode::None {
        tracing::warn!("cpe_auth.mode = \"none\": CPEs are not authenticated; any client can speak for any device");
    } else if config.cpe_auth.unknown_devices == UnknownDevices::Accept {
        tracing::warn!(
            "cpe_auth.unknown_devices = \"accept\": devices without credentials of their own are let in unauthenticated"
        );
    }
    if config.session_by_address {
        tracing::warn!(
            "session_by_address = true: requests without cookie or credentials join the unauthenticated session from their address"
        );
    }
    if !config.api_auth {
        tracing::warn!("api_auth = false: the REST API answers anyone who reaches it");
    }
}

/// Creates an admin API token when the store has none that has not expired (the first
/// start, or every admin token expired), and saves it in the data directory: the API is
/// never open by accident, and whoever holds the data directory can always get back in.
async fn first_admin_token<S: Store>(store: &S, dir: &Path, config: &AcsConfig) -> Result<Option<String>, StartError> {
    if !config.api_auth {
        return Ok(None);
    }
    let now = now_millis();
    let tokens = store.list_tokens().await?;
    if tokens.iter().any(|t| t.role == Role::Admin && !t.expired(now)) {
        return Ok(None);
    }
    let name = if tokens.iter().any(|t| t.name == "admin") { format!("admin-{}", now / 1000) } else { "admin".into() };
    let token = match store.create_token(&name, Role::Admin, None, now).await {
        Ok(token) => token,
        // Another node starting on the same database made it.
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let path = dir.join("admin-token");
    write_private(&path, format!("{token}\n").as_bytes())
        .map_err(|e| StartError::DataDir(path.display().to_string(), e))?;
    tracing::info!(name, "admin API token created");
    Ok(Some(token))
}

async fn accept_loop<S: Store>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    endpoint: Arc<Endpoint<S>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let endpoint = endpoint.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    match tls {
                        None => endpoint.serve_connection(stream, peer, Transport::Plain).await,
                        Some(acceptor) => match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                let client_identity = stream
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|chain| chain.first())
                                    .and_then(|cert| crate::cwmp::auth::certificate_identity(cert));
                                endpoint.serve_connection(stream, peer, Transport::Tls { client_identity }).await
                            }
                            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        },
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Let connections in flight finish; the caller bounds how long.
    while connections.join_next().await.is_some() {}
}

async fn housekeeping<S: Store>(endpoint: Arc<Endpoint<S>>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = tick.tick() => {
                endpoint.sweep_idle().await;
                match endpoint.store.expire_tasks(now_millis()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "tasks expired"),
                    Err(e) => tracing::warn!(error = %e, "task expiry failed"),
                }
                let oldest = now_millis() - endpoint.config.audit_retention().as_millis() as i64;
                match endpoint.store.prune_audit(oldest).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(count = n, "audit records past their retention pruned"),
                    Err(e) => tracing::warn!(error = %e, "audit pruning failed"),
                }
                if let Some(cluster) = &endpoint.cluster {
                    // Rows of sessions abandoned mid-way (a finished session deletes its own).
                    match cluster.purge_expired(Duration::from_secs(3600)).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(count = n, "expired session leases purged"),
                        Err(e) => tracing::warn!(error = %e, "session lease purge failed"),
                    }
                }
            }
        }
    }
}

/// LISTEN: drops this node's copy of each session another node took over. A notice lost
/// while the listener reconnects costs nothing but a retried step: the fencing token refuses
/// the stale copy's writes anyway.
async fn follow_take_overs<S: Store>(
    endpoint: Arc<Endpoint<S>>,
    cluster: Arc<Cluster>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut moved = cluster.moved_sessions();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            notice = moved.recv() => match notice {
                Ok((owner, session)) => endpoint.forget_moved(&owner, &session),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "session take-over notices missed");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}
