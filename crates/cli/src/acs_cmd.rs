//! `cwmp acs …`: run the ACS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use cwmp_acs::config::{AcsConfig, StoreKind};
use cwmp_acs::server::Running;
use cwmp_acs::store::postgres::PgStore;
use cwmp_acs::store::sqlite::SqliteStore;
use cwmp_acs::store::{AuditRecord, Store, now_millis};

#[derive(Subcommand)]
pub enum AcsCommand {
    /// Start the ACS: the CWMP endpoint (default 0.0.0.0:7547) and the REST API (default
    /// 0.0.0.0:7557) on an embedded SQLite store in the data directory, or on PostgreSQL
    /// (`--store postgres://…`), which several nodes can share.
    Serve(ServeArgs),
    /// Re-enrol a device: forget the credentials it must present, so that its next contact is
    /// a first contact and it is given new ones (after a factory reset, say). Works on the
    /// store of the configuration given, whether the ACS runs or not.
    Reenrol {
        #[command(flatten)]
        settings: StoreArgs,
        /// The device's id (`OUI-ProductClass-SerialNumber`, as the API shows it).
        device: String,
    },
}

/// Where the configuration and the state are.
#[derive(Args)]
pub struct StoreArgs {
    /// TOML configuration file (settings of `AcsConfig`; flags and CWMP_* variables win).
    #[arg(long, env = "CWMP_ACS_CONFIG")]
    config: Option<PathBuf>,
    /// Where the database, secrets and the first API token are kept.
    #[arg(long, env = "CWMP_ACS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where the state lives: `sqlite` (the default, in the data directory) or
    /// `postgres://user:password@host:5432/database` (several nodes may share it).
    #[arg(long, env = "CWMP_ACS_STORE", hide_env_values = true)]
    store: Option<String>,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    settings: StoreArgs,
    /// CWMP endpoint address.
    #[arg(long, env = "CWMP_ACS_CWMP_LISTEN")]
    cwmp_listen: Option<SocketAddr>,
    /// REST API address.
    #[arg(long, env = "CWMP_ACS_API_LISTEN")]
    api_listen: Option<SocketAddr>,
    /// Base URL CPEs use to reach the ACS (for file URLs).
    #[arg(long, env = "CWMP_ACS_PUBLIC_URL")]
    public_url: Option<String>,
}

pub async fn run(command: AcsCommand) -> anyhow::Result<()> {
    match command {
        AcsCommand::Serve(args) => serve(args).await,
        AcsCommand::Reenrol { settings, device } => reenrol(&settings, &device).await,
    }
}

fn load_config(args: &StoreArgs) -> anyhow::Result<AcsConfig> {
    let mut config: AcsConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => AcsConfig::default(),
    };
    if let Some(v) = &args.data_dir {
        config.data_dir = v.clone();
    }
    if let Some(v) = &args.store {
        config.store = Some(v.clone());
    }
    Ok(config)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(&args.settings)?;
    if let Some(v) = args.cwmp_listen {
        config.cwmp_listen = v;
    }
    if let Some(v) = args.api_listen {
        config.api_listen = v;
    }
    if let Some(v) = &args.public_url {
        config.public_url = Some(v.clone());
    }
    let data_dir = config.data_dir.clone();
    match config.store_kind().map_err(anyhow::Error::msg)? {
        StoreKind::Sqlite => run_until_stopped(cwmp_acs::server::start(config).await?, &data_dir).await,
        StoreKind::Postgres(_) => {
            let running = cwmp_acs::server::start_postgres(config).await?;
            say(format_args!(
                "Store: PostgreSQL, node {}",
                running.endpoint.cluster.as_ref().map_or("", |c| c.node_id())
            ));
            run_until_stopped(running, &data_dir).await
        }
    }
}

async fn reenrol(settings: &StoreArgs, device: &str) -> anyhow::Result<()> {
    let config = load_config(settings)?;
    match config.store_kind().map_err(anyhow::Error::msg)? {
        StoreKind::Sqlite => {
            let path = config.data_dir.join("acs.db");
            anyhow::ensure!(path.exists(), "no store at {} (see --data-dir)", path.display());
            forget_credentials(SqliteStore::open(&path, config.durability).await?, device).await
        }
        StoreKind::Postgres(url) => forget_credentials(PgStore::connect(&url, &config.postgres).await?, device).await,
    }
}

async fn forget_credentials<S: Store>(store: S, device: &str) -> anyhow::Result<()> {
    store.set_credentials(device, None).await.with_context(|| format!("device {device}"))?;
    let record = AuditRecord {
        at: now_millis(),
        actor: "cli".into(),
        action: "device.credentials.clear".into(),
        target: Some(device.to_owned()),
        address: None,
        detail: serde_json::json!({}),
    };
    store.record_audit(record).await?;
    say(format_args!("{device}: credentials forgotten; its next contact enrols it again"));
    Ok(())
}

async fn run_until_stopped<S: Store>(running: Running<S>, data_dir: &std::path::Path) -> anyhow::Result<()> {
    say(format_args!("CWMP endpoint listening on {}", running.cwmp_addr));
    say(format_args!("REST API listening on {}", running.api_addr));
    let token_path = data_dir.join("admin-token");
    match &running.admin_token {
        Some(_) => say(format_args!(
            "Created an admin API token in {} (send it as 'Authorization: Bearer <token>')",
            token_path.display()
        )),
        None => say(format_args!(
            "API tokens are in the store; the last admin token created at start was saved to {}",
            token_path.display()
        )),
    }
    crate::shutdown_signal().await;
    say(format_args!("shutting down"));
    running.stop(Duration::from_secs(10)).await;
    Ok(())
}

/// Prints a status line. A closed standard output (a supervisor that stopped reading) must
/// not stop the server, so write errors are ignored, unlike `println!`.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
