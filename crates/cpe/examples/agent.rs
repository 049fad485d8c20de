//! The CPE agent alone, without the ACS and the other tools of the `cwmp` binary: what a
//! device maker ships. `cargo run --release -p cwmp-cpe --example agent -- cpe.toml`
//! (the same as `cwmp cpe run --config cpe.toml`).

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: agent CONFIG.toml");
        std::process::exit(2);
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let config = cwmp_cpe::config::Config::load(&path)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(cwmp_cpe::shell::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    }))?;
    Ok(())
}
