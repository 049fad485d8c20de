//! `cwmp acs …`: run the ACS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use cwmp_acs::config::AcsConfig;

#[derive(Subcommand)]
pub enum AcsCommand {
    /// Start the ACS: the CWMP endpoint (default 0.0.0.0:7547) and the REST API (default
    /// 0.0.0.0:7557) on an embedded SQLite store in the data directory.
    Serve(ServeArgs),
}

#[derive(Args)]
pub struct ServeArgs {
    /// TOML configuration file (settings of `AcsConfig`; flags and CWMP_* variables win).
    #[arg(long, env = "CWMP_ACS_CONFIG")]
    config: Option<PathBuf>,
    /// Where the database, secrets and the first API token are kept.
    #[arg(long, env = "CWMP_ACS_DATA_DIR")]
    data_dir: Option<PathBuf>,
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
    }
}

fn load_config(args: &ServeArgs) -> anyhow::Result<AcsConfig> {
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
    if let Some(v) = args.cwmp_listen {
        config.cwmp_listen = v;
    }
    if let Some(v) = args.api_listen {
        config.api_listen = v;
    }
    if let Some(v) = &args.public_url {
        config.public_url = Some(v.clone());
    }
    Ok(config)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    let data_dir = config.data_dir.clone();
    let running = cwmp_acs::server::start(config).await?;
    say(format_args!("CWMP endpoint listening on {}", running.cwmp_addr));
    say(format_args!("REST API listening on {}", running.api_addr));
    let token_path = data_dir.join("admin-token");
    match &running.admin_token {
        Some(_) => say(format_args!(
            "Created the first admin API token in {} (send it as 'Authorization: Bearer <token>')",
            token_path.display()
        )),
        None => say(format_args!(
            "API tokens are in the store; the first admin token was saved to {}",
            token_path.display()
        )),
    }
    shutdown_signal().await;
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

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
