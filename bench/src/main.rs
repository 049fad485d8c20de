//! `cwmp-bench`: the load benchmark of issue 8 (docs/performance.md, "Load benchmark").
//!
//! `cargo run --release -p cwmp-bench -- run` measures, in one run on this machine:
//! a minimal hyper server's CWMP sessions per second (the ceiling of HTTP here); the ACS's
//! Inform sessions per second and latencies at each registered-device count (SQLite,
//! durability Full), closed loop and at a fixed rate; a REST query by parameter value;
//! sessions with a 50-parameter GetParameterValues and a 10-parameter SetParameterValues;
//! Connection Requests per second from the ACS to simulated devices; one setting a second
//! on the project's agent through the REST API while the ACS runs at half its capacity; the
//! ACS's memory and store size; the simulator's memory per device.

mod ceiling;
mod child;
mod cpe;
mod loadgen;
mod populate;
mod run;
mod setting;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cwmp-bench", about = "Load benchmark of the CWMP ACS and simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the benchmark and prints its figures.
    Run(run::Options),
    /// (internal) The ACS on a data directory; prints its addresses, stops when stdin closes.
    ServeAcs {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// (internal) The minimal hyper server; prints its address, stops when stdin closes.
    ServeCeiling,
    /// (internal) The project's CPE agent with a fresh state directory; stops when stdin
    /// closes.
    ServeCpe {
        #[arg(long)]
        acs_url: String,
        #[arg(long)]
        dir: PathBuf,
        /// Credentials for the ACS (none by default).
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: Option<String>,
    },
    /// Inform sessions against a running server for a while (to profile it): prints the
    /// figures of a closed-loop run.
    Load {
        /// The server's CWMP address.
        #[arg(long)]
        addr: std::net::SocketAddr,
        /// Registered devices to pick from (1..=N).
        #[arg(long, default_value_t = 10_000)]
        devices: u64,
        #[arg(long, default_value_t = 32)]
        workers: usize,
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
    },
    /// (internal) A simulated fleet against an ACS until every device has informed;
    /// prints its memory.
    SimMemory {
        #[arg(long)]
        count: u32,
        #[arg(long)]
        acs_url: String,
    },
}

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = tokio::runtime::Runtime::new()?;
    match Cli::parse().command {
        Command::Run(options) => runtime.block_on(run::run(options)),
        Command::ServeAcs { data_dir } => runtime.block_on(serve_acs(data_dir)),
        Command::ServeCeiling => runtime.block_on(serve_ceiling()),
        Command::ServeCpe { acs_url, dir, username, password } => {
            runtime.block_on(setting::serve_cpe(acs_url, &dir, username, password))
        }
        Command::SimMemory { count, acs_url } => runtime.block_on(sim_memory(count, acs_url)),
        Command::Load { addr, devices, workers, seconds } => runtime.block_on(async {
            let result = loadgen::closed_loop(addr, devices, workers, Duration::from_secs_f64(seconds), 1).await;
            println!("{}", serde_json::to_string_pretty(&result)?);
            Ok(())
        }),
    }
}

async fn serve_acs(data_dir: PathBuf) -> anyhow::Result<()> {
    use cwmp_acs::config::{AcsConfig, AuthMode, CpeAuthConfig};
    let config = AcsConfig {
        cwmp_listen: "127.0.0.1:0".parse()?,
        api_listen: "127.0.0.1:0".parse()?,
        data_dir: data_dir.clone(),
        durability: cwmp_acs::store::sqlite::Durability::Full,
        // Sessions are measured without HTTP authentication (one more round trip per
        // session with Digest); docs/performance.md says so.
        cpe_auth: CpeAuthConfig { mode: AuthMode::None, ..CpeAuthConfig::default() },
        max_sessions: 100_000,
        bootstrap_refresh: false,
        ..AcsConfig::default()
    };
    let cpe_auth = config.cpe_auth.clone();
    let running = cwmp_acs::server::start(config).await?;
    let token = match &running.admin_token {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(data_dir.join("admin-token"))?.trim().to_owned(),
    };
    // Shared device credentials, for a client that must authenticate (none here).
    let ready = serde_json::json!({
        "cwmp": running.cwmp_addr.to_string(),
        "api": running.api_addr.to_string(),
        "token": token,
        "cpe_username": cpe_auth.username,
        "cpe_password": cpe_auth.password,
    });
    println!("{ready}");
    child::wait_for_parent().await;
    running.stop(Duration::from_secs(5)).await;
    Ok(())
}

async fn serve_ceiling() -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", serde_json::json!({ "addr": listener.local_addr()?.to_string() }));
    tokio::select! {
        () = ceiling::serve(listener) => {}
        () = child::wait_for_parent() => {}
    }
    Ok(())
}

async fn sim_memory(count: u32, acs_url: String) -> anyhow::Result<()> {
    use cwmp_sim::config::SimConfig;
    let before = child::proc_rss(std::process::id()).map_or(0, |r| r.0);
    let config = SimConfig {
        count,
        acs_url,
        inform_interval: Duration::from_secs(3600),
        arrival_rate: Some(5000.0),
        cr_listen: Some("127.0.0.1:0".parse()?),
        max_sessions: 256,
        ..SimConfig::default()
    };
    let fleet = cwmp_sim::Fleet::start(config).await?;
    let start = std::time::Instant::now();
    while fleet.snapshot_counters().devices_informed < u64::from(count) && start.elapsed() < Duration::from_secs(1200) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let booted_in = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss, peak) = child::proc_rss(std::process::id()).unwrap_or_default();
    let informed = fleet.snapshot_counters().devices_informed;
    let report = fleet.stop().await;
    let result = serde_json::json!({
        "devices": count,
        "informed": informed,
        "booted_in_s": booted_in,
        "rss_before_bytes": before,
        "rss_bytes": rss,
        "peak_rss_bytes": peak,
        "rss_per_device_bytes": rss / u64::from(count.max(1)),
        "added_per_device_bytes": rss.saturating_sub(before) / u64::from(count.max(1)),
        "sessions_per_s": report.sessions_per_s,
        "sessions_failed": report.counters.sessions_failed,
    });
    println!("{result}");
    Ok(())
}
