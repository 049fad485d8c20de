//! `cwmp cpe …`: run the CPE agent.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use cwmp_cpe::config::Config;

#[derive(Subcommand)]
pub enum CpeCommand {
    /// Run the agent of one device: it contacts the ACS of its configuration, answers
    /// Connection Requests and keeps its state in the configured directory.
    Run {
        /// TOML configuration file (see docs/cpe.example.toml).
        #[arg(long, env = "CWMP_CPE_CONFIG")]
        config: PathBuf,
    },
}

pub async fn run(command: CpeCommand) -> anyhow::Result<()> {
    match command {
        CpeCommand::Run { config } => {
            let config = Config::load(&config).with_context(|| format!("configuration {}", config.display()))?;
            cwmp_cpe::shell::run(config, crate::shutdown_signal()).await.context("CPE agent")
        }
    }
}
