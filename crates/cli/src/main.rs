//! `cwmp`: one binary for the ACS, the CPE agent, the simulator and the tools.

mod acs_cmd;
mod cpe_cmd;
mod model_cmd;
mod sim_cmd;
mod wire_cmd;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "cwmp", version, about = "CWMP (TR-069) ACS, CPE agent and simulator")]
struct Cli {
    /// Log format on standard error (level from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CWMP_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// The auto-configuration server.
    #[command(subcommand)]
    Acs(acs_cmd::AcsCommand),
    /// The CPE agent: connects a device to its ACS.
    #[command(subcommand)]
    Cpe(cpe_cmd::CpeCommand),
    /// Data-model tools: import Broadband Forum XML or device dumps into fact files.
    #[command(subcommand)]
    Model(model_cmd::ModelCommand),
    /// A fleet of simulated CPEs in one process, against an ACS (docs/sim.md).
    Sim(Box<sim_cmd::SimArgs>),
    /// Tools for CWMP SOAP messages.
    #[command(subcommand)]
    Wire(wire_cmd::WireCommand),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves on Ctrl-C or SIGTERM: the servers and the agent stop gracefully.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Acs(cmd) => tokio::runtime::Runtime::new()?.block_on(acs_cmd::run(cmd)),
        Command::Cpe(cmd) => tokio::runtime::Runtime::new()?.block_on(cpe_cmd::run(cmd)),
        Command::Model(cmd) => model_cmd::run(cmd),
        Command::Sim(args) => tokio::runtime::Runtime::new()?.block_on(sim_cmd::run(*args)),
        Command::Wire(cmd) => wire_cmd::run(cmd),
    }
}
